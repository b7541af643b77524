// Debugging: importing this module gives every client `connect` makes `client.debug`,
// `debugLog`, `onDebug`, `inspect`, `retryNow` and the hub's log lines in this tab's console.
// `connect({ debug: true })` or `localStorage['switchboard:debug'] = '1'` turns debug mode on.
// One core (`switchboard.js`).
import { connect, load, feature } from './switchboard.js';
import { attachDebug } from './debug.js';
feature(attachDebug);
export { connect, load, attachDebug };
