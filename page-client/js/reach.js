// Where SharedWorker is missing (Android WebView, Samsung Internet, old Chrome for Android,
// WKWebView builds that crash on it): the same hub in a dedicated worker. Loaded by
// `connect()` only in those browsers, so a tab with SharedWorker never downloads it.
//
// `leader-tab` (Web Locks exist): the tab holding LEADER_LOCK runs the hub; it serves every
// tab over a BroadcastChannel with the same postcard messages, tab-addressed. Each hub takes
// a new fencing number (`epoch`) and beats every second; tabs follow the highest epoch they
// hear and attach to a new one again (re-sending what it had not confirmed). A tab that hears
// no hub for LEADER_SILENCE_MS takes the lock with `steal` (a frozen hub tab cannot release
// it); a thawed old hub finds its lease run out, or hears a higher epoch, and steps down.
// `per-tab` (no Web Locks either): each tab runs its own hub.

import { LEADER_CHANNEL as CHANNEL, AUTH_CHANNEL, LEADER_LOCK, LEADER_BEAT_MS as BEAT, LEADER_SILENCE_MS as SILENCE } from './protocol.js';
// The literal `new Worker(new URL('./…', import.meta.url), …)` lets bundlers bundle it.
const spawn = (url) =>
  url ? new Worker(url, { type: 'module' }) : new Worker(new URL('./switchboard-worker.js', import.meta.url), { type: 'module' });

/** `{ mode, port }` for `mode` (default: `leader-tab` where Web Locks exist, else
 * `per-tab`), where `port(client, workerUrl, onNewHub)` returns what the client needs
 * of a MessagePort (`postMessage`, `onmessage`, `close`). */
export function transport(mode = navigator.locks ? 'leader-tab' : 'per-tab') {
  if (mode != 'leader-tab' && mode != 'per-tab') throw new Error(`switchboard: unknown mode ${mode}`);
  return { mode, port: mode == 'per-tab' ? perTab : leaderTab };
}

// Each tab's own hub. The cookies are the browser's, so a sign-in or sign-out in one tab is
// told to the others (`in`: their hubs refresh with the new cookies; `out`: they sign out);
// their refreshes may race, which a server's reuse grace for one device allows.
function perTab(client, url) {
  const worker = spawn(url), { port1, port2 } = new MessageChannel();
  const bc = new BroadcastChannel(AUTH_CHANNEL), { login, logout } = client;
  worker.postMessage({ mode: 'per-tab' }, [port2]);
  const tell = (what) => (r) => (bc.postMessage(what), r);
  client.login = (...a) => login.apply(client, a).then(tell('in'));
  client.logout = () => logout.call(client).then(tell('out'));
  bc.onmessage = ({ data }) => (data == 'in' ? client.refresh() : logout.call(client)).catch(() => {});
  return {
    postMessage: (data, transfer) => port1.postMessage(data, transfer),
    set onmessage(f) { port1.onmessage = f; },
    close() { port1.close(); bc.close(); worker.terminate(); },
  };
}

function leaderTab(client, url, onNewHub) {
  const { id } = client;
  const bc = new BroadcastChannel(CHANNEL);
  let epoch = 0, heard = performance.now(), worker = null, closed = false, deliver = null, sent = false;
  // The hub runs here while this tab holds the lock (for the tab's life, or until stolen).
  const lead = (steal) =>
    navigator.locks.request(LEADER_LOCK, { steal }, () => {
      if (closed || worker) return;
      worker = spawn(url);
      worker.postMessage({ mode: 'leader-tab' });
      return new Promise(() => {});
    }).catch(() => {
      // Stolen while this tab was frozen: its hub steps down; this tab waits its turn again.
      worker?.terminate();
      worker = null;
      if (!closed) lead(false);
    });
  bc.onmessage = ({ data: m }) => {
    if (m.from !== undefined || !(m.epoch >= epoch)) return; // a tab's message, or an old hub's
    heard = performance.now();
    if (m.epoch > epoch) {
      epoch = m.epoch;
      // A tab that has sent nothing yet attaches with its first message (which carries the
      // new epoch); one that has attaches again (its earlier messages were dropped).
      if (sent) onNewHub();
    } else if (m.to === id) deliver?.({ data: m.data });
  };
  const watch = setInterval(() => {
    if (!worker && performance.now() - heard > SILENCE) {
      heard = performance.now();
      lead(true);
    }
  }, BEAT);
  lead(false);
  // Until it knows a hub, a tab's messages carry epoch 0: a hub drops them and beats.
  return {
    postMessage(data) {
      sent = true;
      bc.postMessage({ from: id, epoch, data });
    },
    set onmessage(f) { deliver = f; },
    close() {
      closed = true;
      clearInterval(watch);
      bc.close();
      worker?.terminate();
    },
  };
}
