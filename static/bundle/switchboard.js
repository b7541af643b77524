// Switchboard page client: `connect(options)` returns a client shared with every tab;
// `load()` fetches and compiles the page's wasm ahead of it (connect does it too).
export { connect, load } from './connect.js';
