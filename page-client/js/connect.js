// The page client's bootstrap, shared by the bundle's entries (`switchboard.js`,
// `switchboard-state.js`, `switchboard-compat.js`): load the wasm once, then `connect`.
import { initSync, create, op, bin, recv } from './switchboard_page.js';
import { use, open, hubPort } from './switchboard_page_client.js';
let ready;
// The wasm is compiled while it downloads, then instantiated (a small module: the glue's
// general-purpose loader would cost more bytes than the whole leader API). A failed load is
// tried again by the next call.
export function load() {
  return (ready ??= (async () => {
    const url = new URL('./switchboard_page_bg.wasm', import.meta.url);
    const module = await WebAssembly.compileStreaming(fetch(url))
      .catch(() => fetch(url).then((r) => r.arrayBuffer()).then(WebAssembly.compile));
    initSync({ module });
    use({ create, op, bin, recv });
  })().catch((e) => { ready = null; throw e; }));
}
// A client for this tab, attached to the hub (`switchboard-worker.js` beside the bundle, or
// `options.workerUrl`), in the best mode the browser has (or `options.mode`): a SharedWorker,
// else a leader tab's worker (Web Locks), else one per tab; the last two load
// `switchboard-reach.js`.
export async function attach(options = {}) {
  const { mode, workerUrl } = options, other = mode ? mode != 'shared-worker' : !self.SharedWorker;
  // The hub's worker starts while this tab's wasm loads (its port keeps what the hub says);
  // a tab that does not connect closes it.
  let port;
  try {
    if (!other) port = hubPort(workerUrl);
  } catch {}
  try {
    await load();
    return await open(options, workerUrl, other && (await import('./switchboard-reach.js')).transport(mode), port);
  } catch (e) {
    port?.close();
    throw e;
  }
}
export async function connect(options = {}) {
  const client = await attach(options);
  if (options.serviceWorker) register(options.serviceWorker, client);
  return client;
}
// Opt-in background work: ask for a `sync` whenever the connection is down (the service
// worker delivers the stored queue if every tab is gone by then) and a periodic refresh.
function register(url, client) {
  navigator.serviceWorker?.register(url, { type: 'module' }).then((reg) => {
    reg.periodicSync?.register('switchboard-refresh', { minInterval: 15 * 60e3 }).catch(() => {});
    client.onStatus((s) => s.status !== 'connected' && reg.sync?.register('switchboard-flush').catch(() => {}));
  }, (e) => console.warn('switchboard: no service worker:', e));
}
