// The JS half of the Switchboard page client (see src/lib.rs): the `Client` pages use and
// the platform plumbing around the Rust `Core`, which owns the protocol state and codec.
// The Rust entry points (`create`, `op`, `bin`, `recv`) come through `use`; Rust reports
// through `h(client, kind, n, m, a, b)` (kinds: `to_js` in src/lib.rs), which never throws
// (an exception would unwind through wasm), so user callbacks run inside `guard`. Strings
// cross as UTF-8 bytes and clients as numbers: no wasm-bindgen string or object glue.
const WORKER = 'switchboard-v1'; // carries the protocol version: a deploy that changes it gets a new hub
const HUB_LOCK = 'switchboard-hub-v1'; // held by the hub for its whole life
const warn = (what, detail = '') => console.warn('switchboard: ' + what, detail);
const guard = (f, v) => { try { f(v); } catch (e) { warn('a callback threw', e); } };
const each = (list, v) => [...list].forEach((f) => guard(f, v));
const num = (v) => (typeof v == 'number' || typeof v == 'boolean' ? +v : NaN);
// Core.op kinds (page-client/src/lib.rs, mod op).
const LOGIN = 0, LOGOUT = 1, REFRESH = 2, TOKEN = 3, BYE = 4, SUB = 5, UNSUB = 6, JOIN = 7, LEAVE = 8, ATTACH = 9;
const RESTART = 10, REPLY = 11, EMIT = 12, VOLATILE = 13, EMIT_ACK = 14, COUNT = 15;
const str = (v, d) => (typeof v == 'string' ? v : d);
const te = new TextEncoder(), td = new TextDecoder();
const u8 = (s) => te.encode(s), text = (b) => td.decode(b);
const isBin = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

let core;
const clients = [];
export function use(entry) {
  core = entry;
}
export function h(c, k, n, m, a, b) {
  try {
    clients[c].host(k, n, m, a, b);
  } catch (e) {
    warn('internal error', e);
  }
}
// `connect(options)` once `use` was called; `workerUrl`: the hub bootstrap script.
export function open(o, workerUrl) {
  return new Promise((resolve, reject) => new Client(o ?? {}, workerUrl, resolve, reject));
}

export class Client {
  constructor(o, workerUrl, resolve, reject) {
    const fail = (m) => reject(new Error('switchboard: ' + m));
    if (typeof window == 'undefined') return fail('connect() must run in a page');
    let base;
    try {
      base = new URL(str(o.url, location.origin), location.href);
    } catch {
      return fail('invalid url');
    }
    Object.assign(this, {
      wurl: workerUrl, ready: [resolve, reject],
      id: Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b + 256).toString(16).slice(1)).join(''),
      h: new Map(), calls: new Map(), n: 0, bins: [], q: [], st: { status: 'connecting' }, sf: [], tl: [], tf: [],
      rs: new Set(), au: null, af: [], closed: false,
    });
    const strs = [
      this.id, base.protocol + '//' + base.host, str(o.path, '/socket.io'),
      str(o.namespace, '') || (base.pathname.length > 1 ? base.pathname : '/'), base.search.slice(1),
      o.auth && typeof o.auth == 'object' ? JSON.stringify(o.auth) : '',
    ];
    if (strs.some((s) => s.includes('\0'))) return fail('invalid path or namespace');
    this.c = core.create(
      u8(strs.join('\0') + '\0'),
      [o.reconnection, o.reconnectionDelay, o.reconnectionDelayMax, o.timeout, o.maxQueue, o.maxQueueBytes,
        o.authMode == 'bearer', o.ackTimeout, o.randomizationFactor, o.maxQueueAge].map(num),
    );
    clients[this.c] = this;
    try {
      this.port = this.worker();
    } catch {
      return fail('SharedWorker is not available in this browser');
    }
    // pagehide: say goodbye (the tab lock covers tabs that die without it); pageshow after
    // a back/forward-cache restore: attach again.
    this.lh = (e) => (e.type == 'pagehide' ? this.op(BYE) : e.persisted && this.op(ATTACH));
    addEventListener('pagehide', this.lh);
    addEventListener('pageshow', this.lh);
    // A Web Lock held for the tab's whole life lets the hub notice a tab that vanished
    // without a word; Hello goes out once it is held.
    if (!navigator.locks) return this.op(ATTACH);
    navigator.locks
      .request('switchboard-tab-' + this.id, () => new Promise((release) => { this.release = release; this.op(ATTACH); }))
      .catch((e) => warn('tab lock failed', e));
  }

  op(kind, id = 0, a = '', b = '') { return core.op(this.c, kind, id, u8(a), u8(b)); }

  worker() {
    const port = new SharedWorker(this.wurl, { type: 'module', name: WORKER }).port;
    port.onmessage = (e) => e.data instanceof Uint8Array && core.recv(this.c, e.data);
    return port;
  }

  // JSON args with binary parts moved out as Socket.IO attachments (staged in Core).
  enc(args) {
    const bins = [];
    const json = JSON.stringify(args, (k, v) => (isBin(v) ? (bins.push(v), { _placeholder: true, num: bins.length - 1 }) : v));
    for (const b of bins) core.bin(this.c, b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    return json;
  }

  dec(json) {
    const bins = this.bins;
    this.bins = [];
    try {
      const a = JSON.parse(json, bins.length ? (k, v) => (v && v._placeholder === true && bins[v.num]) || v : undefined);
      return Array.isArray(a) ? a : [];
    } catch {
      return [];
    }
  }

  call(entry) {
    const id = (this.n = (this.n + 1) >>> 0);
    this.calls.set(id, entry);
    return id;
  }

  req(send) {
    return this.closed ? Promise.reject(new Error('client closed')) : new Promise((res, rej) => send(this.call([res, rej])));
  }

  settle(id, f) {
    const c = this.calls.get(id);
    if (c) {
      this.calls.delete(id);
      guard(f, c);
    }
  }

  // What Rust reports (see `to_js` in src/lib.rs).
  host(k, n, m, a, b) {
    if (k == 0 && !this.closed) {
      const copy = a.slice();
      this.port.postMessage(copy, [copy.buffer]);
    }
    if (k == 1) this.bins.push(a.slice().buffer);
    if (k == 2) {
      const args = this.dec(text(b)), list = this.h.get(text(a));
      // The handler's last argument answers the server: `callback(value)`.
      if (n === n) args.push((v) => this.answer(n, v === undefined ? [] : [v]));
      for (const f of [...(list ?? [])]) try { f(...args); } catch (x) { warn('an event handler threw', x); }
    }
    if (k == 3) {
      const args = this.dec(text(a));
      this.settle(n, (c) => (c[1] ? c[0](args[0]) : c[0](...args)));
    }
    if (k == 4) this.fail(n, text(a));
    if (k == 5) this.settle(n, (c) => c[0](m ? text(a) : undefined));
    if (k == 6) {
      const s = text(a), d = { status: s };
      if (s == 'connected') d.sid = text(b);
      if (s == 'disconnected') d.reason = text(b);
      if (s == 'reconnecting') Object.assign(d, { attempt: n, delay: m });
      this.set(d);
    }
    if (k == 7) {
      const r = this.ready;
      this.ready = null;
      r?.[0](this);
      this.watch();
    }
    if (k == 14) this.q.push(m ? (m == 1 ? text(a) : null) : n);
    if (k == 8) {
      this.tl = this.q.splice(0);
      each(this.tf, this.tabs);
    }
    if (k == 9) {
      const [user, error, signedOut, expiresAt, refreshes, lastMs, maxMs, totalMs, ...kv] = this.q.splice(0);
      const counts = [{}, {}];
      for (let i = 0; i < kv.length; i += 2) counts[+(i >= 2 * n)][kv[i]] = kv[i + 1];
      const meanMs = refreshes ? totalMs / refreshes : 0;
      this.au = {
        user, error, signedOut, expiresAt: expiresAt === expiresAt ? expiresAt : null,
        telemetry: { refreshes, lastMs, maxMs, meanMs, failures: counts[0], signOuts: counts[1] },
      };
      each(this.af, this.auth);
    }
    if (k == 10) this.clockOffset = n;
    if (k == 11) {
      this.rec = !!n;
      this.set(this.st);
    }
    if (k == 12) warn(text(a) + text(b));
    if (k == 13) {
      const e = 'switchboard hub: ' + text(a), r = this.ready;
      warn(e);
      this.ready = null;
      r?.[1](new Error(e));
    }
  }

  fail(id, reason) { this.settle(id, (c) => (c[1] ? c[1](new Error(reason)) : warn('ack failed: ', reason))); }

  set(d) {
    this.st = d;
    each(this.sf, this.statusDetail);
  }

  answer(token, args) {
    let json;
    try {
      json = this.enc(args);
    } catch {
      json = '[]';
    }
    this.op(REPLY, token, json);
  }

  // Waits on the hub's lifetime lock: granted means the hub (the SharedWorker) died.
  watch() {
    if (this.watching || !navigator.locks) return;
    this.watching = true;
    navigator.locks.request(HUB_LOCK, () => { this.watching = false; this.died(); });
  }

  // Start a new hub, attach again and resend every emit the old one had not confirmed;
  // calls that waited on the old hub fail.
  died() {
    if (this.closed) return;
    warn('the hub stopped; starting a new one');
    this.port.onmessage = null;
    this.port.close();
    try {
      this.port = this.worker();
    } catch {
      return warn('cannot start a new hub');
    }
    this.op(RESTART);
    for (const id of [...this.calls.keys()]) this.fail(id, 'the hub restarted before answering');
    this.set({ status: 'connecting' });
  }

  // The public API.
  get status() { return this.st.status; }
  get statusDetail() {
    const d = { ...this.st };
    if (this.rec !== undefined) d.recovered = this.rec;
    return d;
  }
  onStatus(f) { guard(f, this.statusDetail); this.sf.push(f); }
  get tabs() { return [...this.tl]; }
  onTabs(f) { guard(f, this.tabs); this.tf.push(f); }
  get rooms() { return [...this.rs]; }
  get recovered() { return this.rec; }
  get auth() { return this.au && structuredClone(this.au); }
  onAuth(f) { guard(f, this.auth); this.af.push(f); }
  get unconfirmed() { return this.op(COUNT); }

  on(e, f) {
    e = String(e);
    const list = this.h.get(e);
    if (list) list.push(f);
    else {
      this.h.set(e, [f]);
      this.op(SUB, 0, e);
    }
  }
  off(e, f) {
    e = String(e);
    const list = (this.h.get(e) ?? []).filter((g) => f && g !== f);
    if (list.length) this.h.set(e, list);
    else if (this.h.delete(e)) this.op(UNSUB, 0, e);
  }
  // A function as the last argument is called with the server's ack arguments.
  emit(e, ...args) {
    const f = typeof args[args.length - 1] == 'function' && args.pop();
    const json = this.enc(args);
    this.op(f ? EMIT_ACK : EMIT, f ? this.call([f]) : 0, String(e), json);
  }
  emitVolatile(e, ...args) { this.op(VOLATILE, 0, String(e), this.enc(args)); }
  emitWithAck(e, ...args) {
    const json = this.enc(args);
    return this.req((id) => this.op(EMIT_ACK, id, String(e), json));
  }
  join(room) {
    room = String(room);
    this.rs.add(room);
    return this.req((id) => this.op(JOIN, id, room));
  }
  leave(room) {
    room = String(room);
    this.rs.delete(room);
    return this.req((id) => this.op(LEAVE, id, room));
  }
  login(user, password) { return this.req((id) => this.op(LOGIN, id, String(user), String(password))); }
  logout() { return this.req((id) => this.op(LOGOUT, id)); }
  refresh() { return this.req((id) => this.op(REFRESH, id)); }
  token() { return this.req((id) => this.op(TOKEN, id)); }
  close() {
    if (this.closed) return;
    this.op(BYE);
    this.closed = true;
    this.port.onmessage = null;
    this.port.close();
    removeEventListener('pagehide', this.lh);
    removeEventListener('pageshow', this.lh);
    this.release?.();
    for (const id of [...this.calls.keys()]) this.fail(id, 'client closed');
    this.set({ status: 'disconnected', reason: 'client closed' });
  }
}
