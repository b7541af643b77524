// The page client's bootstrap, shared by the bundle's entries (`switchboard.js`,
// `switchboard-state.js`, `switchboard-compat.js`): the JS protocol core (core.js; a tab
// loads no wasm), then `connect`.
import { use, open, hubPort, h, warn } from './switchboard_page_client.js';
import { host, create, op, bin, recv } from './core.js';
host(h);
use({ create, op, bin, recv });
// Kept for pages that call it: nothing to fetch ahead any more (the hub's worker starts with
// `connect`).
export const load = () => Promise.resolve();
// A client for this tab, attached to the hub (`switchboard-worker.js` beside the bundle, or
// `options.workerUrl`), in the best mode the browser has (or `options.mode`): a SharedWorker,
// else a leader tab's worker (Web Locks), else one per tab; the last two load
// `switchboard-reach.js`.
export async function attach(options = {}) {
  const { mode, workerUrl } = options, other = mode ? mode != 'shared-worker' : !self.SharedWorker;
  // The hub's port opens first (it keeps what the hub says until the client listens); a tab
  // that does not connect closes it.
  let port;
  try {
    if (!other) port = hubPort(workerUrl);
  } catch {}
  try {
    return await open(options, workerUrl, other && (await import('./switchboard-reach.js')).transport(mode), port);
  } catch (e) {
    port?.close();
    throw e;
  }
}
// Feature modules (`switchboard-state.js`, `-security.js`, `-debug.js`) import this core and
// register here: every client `connect` makes gets every feature imported, a client made
// before a feature was imported gets it on import. `clients`: each open one, its options.
const features = [], clients = new Map();
export function feature(attachFeature) {
  if (features.includes(attachFeature)) return;
  features.push(attachFeature);
  clients.forEach((o, c) => attachFeature(c, o));
}
export async function connect(options = {}) {
  const client = await attach(options);
  if (options.serviceWorker) register(options.serviceWorker, client);
  clients.set(client, options);
  const close = client.close;
  client.close = function () { clients.delete(client); return close.apply(this, arguments); };
  try {
    await Promise.all(features.map((f) => f(client, options)));
  } catch (e) {
    client.close();
    throw e;
  }
  return client;
}
// Opt-in background work: ask for a `sync` whenever the connection is down (the service
// worker delivers the stored queue if every tab is gone by then) and a periodic refresh.
function register(url, client) {
  navigator.serviceWorker?.register(url, { type: 'module' }).then((reg) => {
    reg.periodicSync?.register('switchboard-refresh', { minInterval: 15 * 60e3 }).catch(() => {});
    client.onStatus((s) => s.status !== 'connected' && reg.sync?.register('switchboard-flush').catch(() => {}));
  }, (e) => warn('no service worker:', e));
}
