// Switchboard hub bootstrap. As a SharedWorker: `connect` is registered synchronously (a
// listener added after the async wasm init misses the first tab, wasm-bindgen#4536). As a
// dedicated worker (no SharedWorker in this browser, see page-client/js/reach.js) the first
// message says how: `per-tab` hands one port; `leader-tab` serves every tab of the origin
// over a BroadcastChannel, one MessageChannel per tab into the hub.
import init, { attach, setMode, renewLease, debugState, simulateRerun, advanceClock, useDatabase, useEarlySocket } from './switchboard_hub.js';
import {
  LEADER_CHANNEL as CHANNEL, EPOCH_DB, DB_NAME as DB, DB_STORE as STORE, LEADER_BEAT_MS as BEAT, LEADER_LEASE_MS as LEASE,
  decodeHelloHead,
} from './protocol.js';
let queue = [], mode, failed, early;
// A hub that cannot start (its wasm did not load or compile) tells every tab why, in a
// string (the page client's connect() rejects with it).
const take = (port) => (failed ? port.postMessage(failed) : queue ? hold(port) : attach(port));
// While the wasm loads, a SharedWorker keeps what each port says (for the hub, in order)
// and opens the WebSocket of the first tab's Hello: the handshake runs while the wasm
// compiles, and the hub takes that socket (`takeEarly`) when it opens the same URL.
const hold = (port) => {
  queue.push(port);
  port.onmessage = ({ data }) => (port.held ??= []).push(data) == 1 && 'onconnect' in self && !early && openEarly(data);
};
const openEarly = (data) => {
  try {
    const [, , [url, path, nsp, query], auth] = decodeHelloHead(ArrayBuffer.isView(data) ? data : new Uint8Array(data));
    const [, scheme, host] = /^(\w+):\/\/([^/?# ]+)$/.exec(url) ?? [];
    const ws = { http: 'ws', ws: 'ws', https: 'wss', wss: 'wss' }[scheme?.toLowerCase()];
    if (!ws) return;
    // engineio::websocket_url; a difference only costs the early socket (the hub opens its own).
    const href = `${ws}://${host}${path[0] == '/' ? '' : '/'}${path.replace(/\/+$/, '')}/?EIO=4&transport=websocket${query ? '&' + query.replace(/^[?&]+/, '') : ''}`;
    const socket = new WebSocket(href), heard = [];
    socket.binaryType = 'arraybuffer';
    // The namespace's CONNECT, as a new hub sends it (socketio::encode: the namespace unless
    // it is the main one, the Hello's auth); the hub sends its own instead of taking one
    // that differs. Sent when the Engine.IO handshake arrives, it is what the hub finds
    // on the socket (`sbConnect`).
    const connect = `40${nsp && nsp != '/' ? nsp + ',' : ''}${auth ?? ''}`;
    // Engine.IO pings are answered here until the hub has the socket (a server with a short
    // ping timeout would close it otherwise); everything else is kept for the hub.
    socket.onopen = socket.onclose = socket.onmessage = (e) =>
      e.data == '2' ? socket.send('3') : (heard.push(e), e.data?.[0] == '0' && socket.send((socket.sbConnect = connect)));
    early = { href, socket, heard };
    // Not taken by then (the hub wanted another URL, or no socket): closed.
    setTimeout(takeEarly, 10e3);
  } catch {}
};
const takeEarly = (href) => {
  const e = early;
  early = 0; // one early socket per hub
  if (e && e.href === href) {
    // The hub sets its handlers before this turn ends; then they hear what this one kept.
    queueMicrotask(() => e.heard.forEach((event) => e.socket.dispatchEvent(event)));
    self.switchboard.early = e.socket.sbConnect ? 'taken with CONNECT' : 'taken';
    return e.socket;
  }
  e?.socket.close();
  if (e) self.switchboard.early = 'closed';
};
// The mode is set before the first port reaches the hub (it decides how the hub starts).
// A SharedWorker's queue database opens while the wasm loads (a dedicated worker's mode
// decides which database it uses).
const db = 'onconnect' in self && new Promise((resolve) => {
  const open = indexedDB.open(DB, 1);
  open.onupgradeneeded = () => open.result.objectStoreNames.contains(STORE) || open.result.createObjectStore(STORE);
  open.onsuccess = () => resolve(open.result);
  open.onerror = () => resolve(null);
});
const ready = init().then(() => {
  if (db) useDatabase(db.catch(() => null));
  useEarlySocket(takeEarly);
  if (mode) setMode(mode);
  // Each held port's messages reach the hub's handler, in order, once it is attached.
  queue.forEach((port) => (attach(port), port.held?.forEach((data) => port.dispatchEvent(new MessageEvent('message', { data })))));
  queue = null;
}, (e) => {
  failed = `the hub's wasm (switchboard_hub_bg.wasm beside the worker) did not load: ${e?.message ?? e}`;
  console.error('switchboard:', failed);
  queue.forEach(take);
  queue = [];
});
self.onconnect = (e) => take(e.ports[0]);
// For DevTools and tests, in this worker's own scope: its state, a re-run of the hub under
// its open ports (what WebKit does when the tab that created it closes), and its clock moved
// ahead (tests wait out the hub's own windows without sleeping).
self.switchboard = { debugState, simulateRerun, advanceClock, early: '' };
self.onmessage = (e) => {
  self.onmessage = null;
  mode = String(e.data?.mode);
  if (!queue) setMode(mode);
  if (mode == 'per-tab') take(e.ports[0]);
  if (mode == 'leader-tab') nextEpoch().then(serve);
};

// The fencing number: one more than any hub before (an IndexedDB transaction is atomic).
function nextEpoch() {
  return new Promise((resolve) => {
    const open = indexedDB.open(EPOCH_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('epoch');
    open.onerror = () => resolve(Date.now());
    open.onsuccess = () => {
      const db = open.result, tx = db.transaction('epoch', 'readwrite'), store = tx.objectStore('epoch');
      let epoch = Date.now();
      store.get(0).onsuccess = (g) => store.put((epoch = (g.target.result ?? 0) + 1), 0);
      tx.oncomplete = () => { db.close(); resolve(epoch); };
      tx.onerror = () => resolve(Date.now());
    };
  });
}

function serve(epoch) {
  const bc = new BroadcastChannel(CHANNEL), ports = new Map();
  const beat = () => bc.postMessage({ epoch });
  const stepDown = () => { bc.close(); self.close(); };
  // A wake long after the last one means this tab was frozen (another may lead by now):
  // step down before acting. A busy hub is always awake; an idle one wakes with each beat.
  let last = performance.now();
  const awake = () => {
    const now = performance.now();
    if (now - last > LEASE) return stepDown(), false;
    last = now;
    return true;
  };
  bc.onmessage = ({ data: m }) => {
    if (!awake() || m.epoch > epoch) return stepDown(); // frozen, or a newer hub took over
    if (m.from === undefined) return;
    if (m.epoch !== epoch) return beat(); // a tab that does not know this hub yet
    let port = ports.get(m.from);
    if (!port) {
      const c = new MessageChannel();
      take(c.port1);
      port = c.port2;
      port.onmessage = (e) => awake() && bc.postMessage({ epoch, to: m.from, data: e.data });
      ports.set(m.from, port);
    }
    port.postMessage(m.data);
  };
  // The heartbeat: the tabs hear the hub, and the hub's lease (checked by the wasm on every
  // wake, see worker/src/lease.rs) is renewed.
  ready.then(() => {
    renewLease(LEASE);
    beat();
    setInterval(() => awake() && (renewLease(LEASE), beat()), BEAT);
  });
}
