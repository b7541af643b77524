// Switchboard page client: `connect(options)` returns a client shared with every tab.
export { connect } from './connect.js';
