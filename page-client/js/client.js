// The JS half of the Switchboard page client (see src/lib.rs): the `Client` pages use and
// the platform plumbing around the Rust core, which owns the protocol state (request ids,
// subscriptions and rooms to replay, the durable outbox) and the codec. The Rust entry
// points (`create`, `op`, `bin`, `recv`) come through `use`; Rust reports through
// `h(client, kind, n, m, a, b)`, which never throws (an exception would unwind through
// wasm), so user callbacks run inside `guard`. Strings cross as UTF-8 bytes and clients as
// numbers: no wasm-bindgen string or object glue. Private members end in `_`: the bundler
// shortens them (esbuild --mangle-props), the public API keeps its names.

// Kinds and names from the protocol table (shared/src/protocol.rs), generated.
import {
  ANY_EVENT, ASSIGNED, HUB_LOCK, LEAD, LEADER_EVENT, MEMBERS, TAB_LOCK_PREFIX, WORKER_NAME, ERROR_NOT_ATTACHED,
  OP_LOGIN, OP_LOGOUT, OP_REFRESH, OP_TOKEN, OP_BYE, OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_JOIN, OP_LEAVE, OP_ATTACH,
  OP_RESTART, OP_REPLY, OP_EMIT, OP_EMIT_VOLATILE, OP_EMIT_ACK, OP_COUNT, OP_PRIORITY, OP_EMIT_TO,
  REPORT_POST, REPORT_BIN, REPORT_EVENT, REPORT_ACK, REPORT_FAIL, REPORT_OK, REPORT_STATUS, REPORT_WELCOME,
  REPORT_TABS, REPORT_AUTH, REPORT_CLOCK, REPORT_RECOVERED, REPORT_WARN, REPORT_ERROR, REPORT_ITEM, REPORT_ROOMS,
  enc, dec,
} from './protocol.js';

export const warn = (what, detail = '') => console.warn('switchboard: ' + what, detail);
const guard = (f, v) => { try { f(v); } catch (e) { warn('a callback threw', e); } };
const notifyAll = (list, v) => [...list].forEach((f) => guard(f, v));
// Removes the last registration in `list` that `match`es (one per call, as socket.io's off).
const drop = (list, match) => { const i = list.findLastIndex(match); if (i >= 0) list.splice(i, 1); return i >= 0; };
// Adds `item` to `list`; returns the function that removes exactly that registration, once.
const add = (list, item) => (list.push(item), () => drop(list, (e) => e === item) && (item = {}));
const number = (v) => (typeof v == 'number' || typeof v == 'boolean' ? +v : NaN);
const string = (v, fallback) => (typeof v == 'string' ? v : fallback);
// Text from the core: a string (the JS core decodes it) or UTF-8 bytes (the wasm core's).
const utf8 = (s) => enc.encode(s), text = (b) => (b.substr ? b : dec.decode(b));
const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

let core;
const clients = [];
export function use(entry) {
  core = entry;
}
export function h(c, kind, n, m, a, b) {
  try {
    clients[c].host_(kind, n, m, a, b);
  } catch (e) {
    warn('internal error', e);
  }
}
// `connect(options)` once `use` was called; `workerUrl`: the hub bootstrap script; `reach`:
// the mode and transport where the hub is not a SharedWorker (see reach.js); `port`: the
// hub's port if `hubPort` opened it already (while the wasm loaded).
export function open(options, workerUrl, reach, port) {
  return new Promise((resolve, reject) => new Client(options ?? {}, workerUrl, resolve, reject, reach, port));
}

// A port to the hub's SharedWorker. The literal `new SharedWorker(new URL('./…',
// import.meta.url), …)` lets Vite and webpack bundle the worker and its wasm (`url` overrides).
// A script that does not load fires the worker's `error`: kept on the port for the client.
export const hubPort = (url) => {
  const w = url
    ? new SharedWorker(url, { type: 'module', name: WORKER_NAME })
    : new SharedWorker(new URL('./switchboard-worker.js', import.meta.url), { type: 'module', name: 'switchboard-v5' }); // WORKER_NAME, spelled out for Vite
  w.onerror = () => (w.port.failed_ = 1, w.port.onfail_?.());
  return w.port;
};

export class Client {
  constructor(o, workerUrl, resolve, reject, reach, port) {
    const fail = (m) => reject(new Error('switchboard: ' + m));
    if (typeof window == 'undefined') return fail('connect() must run in a page');
    let base;
    try {
      base = new URL(string(o.url, location.origin), location.href);
    } catch {
      return fail('invalid url');
    }
    this.id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b + 256).toString(16).slice(1)).join('');
    this.workerUrl_ = workerUrl;
    this.mode = reach?.mode ?? 'shared-worker';
    this.transport_ = reach?.port;
    this.ready_ = [resolve, reject];
    // connect() settles within `loadTimeout`: a hub that never answers is an error that says
    // what did not load, not a promise pending forever.
    const ms = number(o.loadTimeout ?? 10000);
    this.loadTimer_ = setTimeout(() => this.noHub_(`no answer from the hub within ${ms} ms`), ms);
    this.handlers_ = new Map();
    this.anyFns_ = [];
    this.calls_ = new Map();
    this.bins_ = [];
    this.items_ = [];
    this.detail_ = { status: 'connecting' };
    this.statusFns_ = [];
    this.tabList_ = [];
    this.tabFns_ = [];
    this.roomList_ = [];
    this.assigned_ = [];
    this.members_ = new Map();
    this.memberFns_ = [];
    this.authState_ = null;
    this.authFns_ = [];
    this.leader_ = null;
    this.leaderFns_ = [];
    this.scope_ = o.leaderScope == 'user' ? 4 : 0; // added to the priority level (src/lib.rs)
    this.closed_ = false;
    this.setup_ = o.setup;
    const strs = [
      this.id, base.protocol + '//' + base.host, string(o.path, '/socket.io'),
      string(o.namespace, '') || (base.pathname.length > 1 ? base.pathname : '/'), base.search.slice(1),
      o.auth && typeof o.auth == 'object' ? JSON.stringify(o.auth) : '',
    ];
    if (strs.some((s) => s.includes('\0'))) return fail('invalid path or namespace');
    this.core_ = core.create(
      utf8(strs.join('\0') + '\0'),
      // The Options fields in table order, then the ack timeout.
      [o.reconnection, o.reconnectionDelay, o.reconnectionDelayMax, o.randomizationFactor, o.timeout, o.maxQueue,
        o.maxQueueBytes, o.maxQueueAge, o.authMode == 'bearer', o.reconnectionAttempts, o.ackTimeout].map(number),
    );
    clients[this.core_] = this;
    try {
      this.port_ = this.startWorker_(port);
    } catch {
      return fail('SharedWorker unavailable');
    }
    // pagehide: say goodbye (the tab lock covers tabs that die without it); pageshow after
    // a back/forward-cache restore: attach again.
    this.lifecycle_ = (e) => (e.type == 'pagehide' ? this.op_(OP_BYE) : e.persisted && this.attach_());
    addEventListener('pagehide', this.lifecycle_);
    addEventListener('pageshow', this.lifecycle_);
    // The tab's priority for leader election follows the Page Lifecycle.
    this.priority_ = (e) => this.report_(e.type == 'freeze');
    this.listen_(addEventListener);
    // A Web Lock held for the tab's whole life lets the hub notice a tab that vanished
    // without a word; Hello goes out once it is held.
    if (!navigator.locks) return this.attach_();
    navigator.locks
      .request(TAB_LOCK_PREFIX + this.id, () => new Promise((release) => {
        this.releaseLock_ = release;
        this.attach_();
      }))
      .catch((e) => warn('tab lock failed', e));
  }

  // `options.setup(client)` runs once, as the Hello goes out: what it subscribes follows the
  // Hello at once, so no event the server sends on connection is missed.
  attach_(kind = OP_ATTACH) {
    this.op_(kind);
    this.attached_ = true;
    this.setup_?.(this);
    this.setup_ = null;
    this.report_();
  }

  listen_(add) {
    for (const type of ['focus', 'blur']) add.call(window, type, this.priority_);
    for (const type of ['visibilitychange', 'freeze', 'resume']) add.call(document, type, this.priority_);
  }

  // Active (visible, focused) 3 > passive (visible) 2 > hidden 1 > frozen 0.
  report_(frozen) {
    if (!this.attached_) return; // Hello goes first
    const level = frozen ? 0 : document.hidden ? 1 : document.hasFocus() ? 3 : 2;
    this.op_(OP_PRIORITY, '' + (this.leader_?.term ?? 0), '', level + this.scope_);
  }

  // Asks the core; returns the id the answer will carry (see `op` in src/lib.rs).
  op_(kind, a = '', b = '', token = 0) { return core.op(this.core_, kind, token, utf8(a), utf8(b)); }

  // `first`: the port `hubPort` opened while the wasm loaded (see connect.js).
  startWorker_(first) {
    const port = this.transport_ ? this.transport_(this, this.workerUrl_, () => this.reattach_()) : first ?? hubPort(this.workerUrl_);
    // A string from the worker: the hub could not start (its wasm did not load).
    port.onmessage = (e) => (e.data instanceof Uint8Array ? core.recv(this.core_, e.data) : this.noHub_(String(e.data)));
    port.onfail_ = () => this.noHub_('the worker script did not load');
    if (port.failed_) port.onfail_();
    return port;
  }

  // connect() fails (once) with what did not load: the worker's URL and its HTTP status.
  async noHub_(what) {
    if (!this.ready_) return;
    const url = this.workerUrl_ && new URL(this.workerUrl_, location.href).href, reject = this.ready_[1];
    this.ready_ = null;
    let status = '';
    if (url) {
      status = await fetch(url, { cache: 'no-store' }).then(
        (r) => ` (${url} answered HTTP ${r.status}${r.ok ? '' : ' ' + r.statusText})`,
        (e) => ` (${url}: ${e.message})`,
      );
    } else status = ' (switchboard-worker.js beside the bundle; a dev server may refuse it: see Vite\'s server.fs.allow, or pass workerUrl)';
    this.close();
    reject(new Error('switchboard: ' + what + status));
  }

  // JSON args with binary parts moved out as Socket.IO attachments (staged in the core).
  encode_(args) {
    const bins = [];
    const json = JSON.stringify(args, (k, v) => (isBinary(v) ? (bins.push(v), { _placeholder: true, num: bins.length - 1 }) : v));
    for (const b of bins) {
      core.bin(this.core_, b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    }
    return json;
  }

  decode_(json) {
    const bins = this.bins_;
    this.bins_ = [];
    try {
      const args = JSON.parse(json, bins.length ? (k, v) => (v && v._placeholder === true && bins[v.num]) || v : undefined);
      return Array.isArray(args) ? args : [];
    } catch {
      return [];
    }
  }

  // Sends a request and returns a promise of its answer (`room`: the room a join is for).
  request_(kind, a, b, room) {
    if (this.closed_) return Promise.reject(new Error('client closed'));
    return new Promise((resolve, reject) => this.calls_.set(this.op_(kind, a, b), [resolve, reject, room]));
  }

  settle_(id, f) {
    const call = this.calls_.get(id);
    if (call) {
      this.calls_.delete(id);
      guard(f, call);
    }
  }

  fail_(id, reason) {
    this.settle_(id, (call) => (call[1] ? call[1](new Error(reason)) : warn('ack failed: ', reason)));
  }

  // What the core reports (see `to_js` in src/lib.rs).
  host_(kind, n, m, a, b) {
    switch (kind) {
      case REPORT_POST:
        if (!this.closed_) {
          const copy = a.slice();
          this.port_.postMessage(copy, [copy.buffer]);
        }
        break;
      case REPORT_BIN:
        this.bins_.push(a.slice().buffer);
        break;
      case REPORT_EVENT: {
        const args = this.decode_(text(b));
        // The handler's last argument answers the server: `callback(...values)`.
        if (n === n) args.push((...v) => this.answer_(n, v));
        const name = text(a);
        if (name == LEADER_EVENT) {
          const [leader, term, scope] = args;
          this.leader_ = { isLeader: leader == this.id, leader, term, scope };
          notifyAll(this.leaderFns_, this.leader);
        }
        if (name == ASSIGNED) this.assigned_ = args[0];
        if (name == MEMBERS) {
          const { room, members } = args[0];
          this.members_.set(room, members);
          this.memberFns_.forEach(([r, f]) => r == room && guard(f, this.members(room)));
        }
        // `onAny` handlers get the server's events, not the hub's own (`sb:`).
        const any = name.startsWith('sb:') ? [] : this.anyFns_;
        for (const f of any.map((g) => g.bind(null, name)).concat(this.handlers_.get(name) ?? [])) {
          guard((v) => f(...v), args);
        }
        break;
      }
      case REPORT_ACK: {
        const args = this.decode_(text(a));
        this.settle_(n, (call) => (call[1] ? call[0](args[0]) : call[0](...args)));
        break;
      }
      case REPORT_FAIL: {
        const room = this.calls_.get(n)?.[2];
        this.fail_(n, text(a));
        // The hub refused a join: the core leaves the room, so it is neither listed nor
        // joined again on a new hub (unless another join of it is still waiting).
        if (room !== undefined && ![...this.calls_.values()].some((call) => call[2] === room)) this.op_(OP_LEAVE, room);
        break;
      }
      case REPORT_OK:
        this.settle_(n, (call) => call[0](m ? text(a) : undefined));
        break;
      case REPORT_STATUS: {
        const status = text(a), detail = { status };
        // A verdict is for one reconnection: the next one waits for its own.
        if (status == 'connected') detail.sid = text(b);
        else this.recovered_ = undefined;
        if (status == 'disconnected' || status == 'failed') detail.reason = text(b);
        if (status == 'reconnecting') Object.assign(detail, { attempt: n, delay: m, reason: text(b) });
        this.setStatus_(detail);
        break;
      }
      case REPORT_WELCOME: {
        clearTimeout(this.loadTimer_);
        const ready = this.ready_;
        this.ready_ = null;
        ready?.[0](this);
        this.watchHub_();
        break;
      }
      case REPORT_ITEM:
        this.items_.push(m ? (m == 1 ? text(a) : null) : n);
        break;
      case REPORT_TABS:
        this.tabList_ = this.items_.splice(0);
        notifyAll(this.tabFns_, this.tabs);
        break;
      case REPORT_ROOMS:
        this.roomList_ = this.items_.splice(0);
        break;
      case REPORT_AUTH:
        this.setAuth_(n);
        break;
      case REPORT_CLOCK:
        this.clockOffset = n;
        break;
      case REPORT_RECOVERED:
        this.recovered_ = !!n;
        this.setStatus_(this.detail_);
        break;
      case REPORT_WARN:
        warn(text(a) + text(b));
        break;
      case REPORT_ERROR: {
        // NotAttached: a new hub under this tab; a tab it never welcomed ignores it.
        if (n == ERROR_NOT_ATTACHED) {
          if (!this.ready_) this.reattach_();
          break;
        }
        const e = 'switchboard hub: ' + text(a), ready = this.ready_;
        warn(e);
        this.ready_ = null;
        ready?.[1](new Error(e));
      }
    }
  }

  // The ITEMs are user, error, signedOut, expiresAt, refreshes, lastMs, maxMs, totalMs, then
  // name/count pairs: `failures` of them failures, then sign-outs.
  setAuth_(failures) {
    const [user, error, signedOut, expiresAt, refreshes, lastMs, maxMs, totalMs, ...counts] = this.items_.splice(0);
    const byName = [{}, {}];
    for (let i = 0; i < counts.length; i += 2) byName[+(i >= 2 * failures)][counts[i]] = counts[i + 1];
    const meanMs = refreshes ? totalMs / refreshes : 0;
    this.authState_ = {
      user, error, signedOut, expiresAt: expiresAt === expiresAt ? expiresAt : null,
      telemetry: { refreshes, lastMs, maxMs, meanMs, failures: byName[0], signOuts: byName[1] },
    };
    notifyAll(this.authFns_, this.auth);
  }

  setStatus_(detail) {
    this.detail_ = detail;
    notifyAll(this.statusFns_, this.statusDetail);
  }

  answer_(token, args) {
    let json;
    try {
      json = this.encode_(args);
    } catch {
      json = '[]';
    }
    this.op_(OP_REPLY, json, '', token);
  }

  // Waits on the hub's lifetime lock: granted means the hub (the SharedWorker) died.
  watchHub_() {
    if (this.watching_ || !navigator.locks || this.transport_) return;
    this.watching_ = true;
    navigator.locks.request(HUB_LOCK, () => {
      this.watching_ = false;
      this.hubDied_();
    });
  }

  // Start a new hub, then attach to it.
  hubDied_() {
    if (this.closed_) return;
    warn('hub died, restarting');
    this.port_.onmessage = null;
    this.port_.close();
    try {
      this.port_ = this.startWorker_();
    } catch {
      return warn('no new hub');
    }
    this.reattach_();
  }

  // A new hub: attach again and resend every emit the old one had not confirmed; calls
  // that waited on the old hub fail.
  reattach_() {
    for (const id of [...this.calls_.keys()]) this.fail_(id, 'hub restarted');
    this.attach_(OP_RESTART);
    this.setStatus_({ status: 'connecting' });
  }

  // The public API.
  get status() { return this.detail_.status; }
  get statusDetail() {
    const detail = { ...this.detail_ };
    if (this.recovered_ !== undefined) detail.recovered = this.recovered_;
    return detail;
  }
  onStatus(f) { guard(f, this.statusDetail); return add(this.statusFns_, f); }
  offStatus(f) { drop(this.statusFns_, (g) => g === f); }
  get tabs() { return [...this.tabList_]; }
  onTabs(f) { guard(f, this.tabs); return add(this.tabFns_, f); }
  offTabs(f) { drop(this.tabFns_, (g) => g === f); }
  // Hierarchy rooms (user:, session:, device:, this tab's tab:) and the rooms it joined.
  get rooms() { return [...this.assigned_, ...this.roomList_]; }
  // `[{ user, device, tabs }]` in a room this tab is in (from a server that keeps presence).
  members(room) { return structuredClone(this.members_.get(room) ?? []); }
  onMembers(room, f) { guard(f, this.members(room)); return add(this.memberFns_, [room, f]); }
  offMembers(room, f) { drop(this.memberFns_, ([r, g]) => r == room && g === f); }
  get recovered() { return this.recovered_; }
  get auth() { return this.authState_ && structuredClone(this.authState_); }
  // `{ isLeader, leader, term, scope }`: which tab leads (decided by the server, or by the
  // hub among its own tabs when the server takes no part).
  get leader() { return this.leader_ && { ...this.leader_ }; }
  onLeader(f) { guard(f, this.leader); return add(this.leaderFns_, f); }
  offLeader(f) { drop(this.leaderFns_, (g) => g === f); }
  onAuth(f) { guard(f, this.auth); return add(this.authFns_, f); }
  offAuth(f) { drop(this.authFns_, (g) => g === f); }
  get unconfirmed() { return this.op_(OP_COUNT); }

  // Each `on*` returns the function that removes that one registration; `off(event, f)`
  // removes one registration of `f`, `off(event)` every handler of the event.
  on(event, f) {
    event = String(event);
    const list = this.handlers_.get(event);
    if (list) list.push(f);
    else {
      this.handlers_.set(event, [f]);
      this.op_(OP_SUBSCRIBE, event);
    }
    let on = 1;
    return () => on && (on = 0, this.off(event, f));
  }
  off(event, f) {
    event = String(event);
    const list = this.handlers_.get(event) ?? [];
    if (f) drop(list, (g) => g === f);
    if (f && list.length) return;
    if (this.handlers_.delete(event)) this.op_(OP_UNSUBSCRIBE, event);
  }
  // Every event of the namespace: `f(event, ...args)`, before the event's own handlers.
  onAny(f) {
    if (this.anyFns_.push(f) == 1) this.op_(OP_SUBSCRIBE, ANY_EVENT);
    let on = 1;
    return () => on && (on = 0, this.offAny(f));
  }
  offAny(f) {
    const had = this.anyFns_.length;
    if (f) drop(this.anyFns_, (g) => g === f);
    else this.anyFns_.length = 0;
    if (had && !this.anyFns_.length) this.op_(OP_UNSUBSCRIBE, ANY_EVENT);
  }
  // A function as the last argument is called with the server's ack arguments.
  emit(event, ...args) {
    const f = typeof args[args.length - 1] == 'function' && args.pop();
    const json = this.encode_(args);
    if (f) this.calls_.set(this.op_(OP_EMIT_ACK, String(event), json), [f]);
    else this.op_(OP_EMIT, String(event), json);
  }
  emitVolatile(event, ...args) { this.op_(OP_EMIT_VOLATILE, String(event), this.encode_(args)); }
  // `client.to(room).emit(event, ...args)`: to the other members of a room this tab is in,
  // through the server; durable like `emit`.
  to(room) {
    return { emit: (event, ...args) => this.op_(OP_EMIT_TO, room + '\0' + event, this.encode_(args)) };
  }
  emitWithAck(event, ...args) { return this.request_(OP_EMIT_ACK, String(event), this.encode_(args)); }
  // Only while this tab leads, carrying its term; JSON arguments only. Rejects a stale term
  // or a tab that does not lead (the hub checks, and a server that takes part checks again).
  emitAsLeader(event, ...args) { return this.emitWithAck(LEAD, this.leader_?.term, String(event), ...args); }
  join(room) {
    room = String(room);
    return this.request_(OP_JOIN, room, '', room);
  }
  leave(room) {
    this.members_.delete(room = String(room));
    return this.request_(OP_LEAVE, room);
  }
  login(user, password) { return this.request_(OP_LOGIN, String(user), String(password)); }
  logout() { return this.request_(OP_LOGOUT); }
  refresh() { return this.request_(OP_REFRESH); }
  token() { return this.request_(OP_TOKEN); }
  close() {
    if (this.closed_) return;
    clearTimeout(this.loadTimer_);
    this.op_(OP_BYE);
    this.closed_ = true;
    this.port_.onmessage = null;
    this.port_.close();
    removeEventListener('pagehide', this.lifecycle_);
    removeEventListener('pageshow', this.lifecycle_);
    this.listen_(removeEventListener);
    this.releaseLock_?.();
    for (const id of [...this.calls_.keys()]) this.fail_(id, 'client closed');
    this.setStatus_({ status: 'disconnected', reason: 'client closed' });
  }
}
