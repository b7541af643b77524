// Switchboard page client: `connect(options)` returns a client shared with every tab.
import { initSync, create, op, bin, recv } from './switchboard_page.js';
import { use, open } from './switchboard_page_client.js';
let ready;
// The wasm is compiled while it downloads, then instantiated (a small module: the glue's
// general-purpose loader would cost more bytes than the whole leader API).
async function load() {
  const url = new URL('switchboard_page_bg.wasm', import.meta.url);
  const module = await WebAssembly.compileStreaming(fetch(url))
    .catch(() => fetch(url).then((r) => r.arrayBuffer()).then(WebAssembly.compile));
  initSync({ module });
  use({ create, op, bin, recv });
}
export async function connect(options = {}) {
  // A failed load is tried again by the next connect().
  await (ready ??= load().catch((e) => { ready = null; throw e; }));
  const client = await open(options, new URL('./switchboard-worker.js', import.meta.url).href);
  if (options.serviceWorker) register(options.serviceWorker, client);
  return client;
}
// Opt-in background work: ask for a `sync` whenever the connection is down (the service
// worker delivers the stored queue if every tab is gone by then) and a periodic refresh.
function register(url, client) {
  navigator.serviceWorker?.register(url, { type: 'module' }).then((reg) => {
    reg.periodicSync?.register('switchboard-refresh', { minInterval: 15 * 60e3 }).catch(() => {});
    client.onStatus((s) => s.status !== 'connected' && reg.sync?.register('switchboard-flush').catch(() => {}));
  }, (e) => console.warn('switchboard: service worker not registered:', e));
}
