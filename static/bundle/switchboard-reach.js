// Loaded by `connect()` only where SharedWorker is missing (or `connect({ mode })` asks):
// the `leader-tab` and `per-tab` transports (page-client/js/reach.js).
export { transport } from './reach.js';
