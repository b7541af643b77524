// Switchboard page client, the core every entry shares: `connect(options)` returns a client
// shared with every tab. Feature entries (`switchboard-state.js`, `-security.js`,
// `-debug.js`, `-compat.js`, `-react.js`) import this file and add to the clients it makes.
export { connect, load, attach, feature } from './connect.js';
