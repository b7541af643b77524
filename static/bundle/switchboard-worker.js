// Switchboard hub bootstrap (SharedWorker). `connect` is registered synchronously: a
// listener added after the async wasm init misses the first tab (wasm-bindgen#4536).
import init, { attach } from './switchboard_hub.js';
let queue = [];
self.onconnect = (e) => (queue ? queue.push(e.ports[0]) : attach(e.ports[0]));
init().then(() => { queue.forEach(attach); queue = null; });
