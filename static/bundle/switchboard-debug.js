// Switchboard for development: `connect(options)` as in switchboard.js, plus `client.debug`,
// `debugLog`, `onDebug`, `inspect` and the hub's log lines in this tab's console.
// `connect({ debug: true })` or `localStorage['switchboard:debug'] = '1'` turns debug mode on.
import { connect as open } from './connect.js';
import { attachDebug } from './debug.js';
export async function connect(options = {}) {
  return attachDebug(await open(options), options);
}
export { attachDebug };
