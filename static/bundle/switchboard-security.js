// Switchboard with the security API: `connect(options)` as in switchboard.js, plus
// `client.security`, `onSecurity`, `sessions`, `revokeSession`, `changePassword`, `verifyDevice`.
import { connect as open } from './connect.js';
import { attachSecurity } from './security.js';
export async function connect(options = {}) {
  const client = await open(options);
  await attachSecurity(client);
  return client;
}
// For a client from `switchboard.js` (it uses only the client's public API).
export { attachSecurity };
