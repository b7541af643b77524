// Shared state: importing this module gives every client `connect` makes its `client.state`
// (get, set, delete, keys, subscribe, pending) once the hub's snapshot is in. One core
// (`switchboard.js`) whichever entries a page imports.
import { connect, load, feature } from './switchboard.js';
import { attachState } from './state.js';
feature(attachState);
export { connect, load, attachState };
