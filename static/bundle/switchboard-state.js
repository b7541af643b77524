// Switchboard with shared state: `connect(options)` as in switchboard.js, and `client.state`
// (get, set, delete, keys, subscribe, pending) once the hub's snapshot is in.
import { connect as open } from './connect.js';
import { attachState } from './state.js';
export async function connect(options = {}) {
  const client = await open(options);
  await attachState(client);
  return client;
}
// For a client from `switchboard.js`: the same state (it uses only the client's public API).
export { attachState };
