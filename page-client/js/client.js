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

// A value the page watches: `on_(f)` calls `f` with it now and at each change. The page
// gets its own copy.
class Watched {
  fns_ = [];
  constructor(value) { this.value_ = value; }
  get_() { return structuredClone(this.value_); }
  on_(f) { guard(f, this.get_()); return add(this.fns_, f); }
  off_(f) { drop(this.fns_, (g) => g === f); }
  set_(value) {
    this.value_ = value;
    notifyAll(this.fns_, this.get_());
  }
}

// The core's STATUS report as `statusDetail`: the status `a`; its sid or reason `b`; a
// reconnection's attempt `n` and delay `m`.
const statusOf = (n, m, a, b) => {
  const status = text(a), detail = { status };
  if (status == 'connected') detail.sid = text(b);
  if (status == 'disconnected' || status == 'failed') detail.reason = text(b);
  if (status == 'reconnecting') Object.assign(detail, { attempt: n, delay: m, reason: text(b) });
  return detail;
};

// The ITEMs of an AUTH report are user, error, signedOut, expiresAt, refreshes, lastMs,
// maxMs, totalMs, then name/count pairs: `failures` of them failures, then sign-outs.
const authOf = ([user, error, signedOut, expiresAt, refreshes, lastMs, maxMs, totalMs, ...counts], failures) => {
  const byName = [{}, {}];
  for (let i = 0; i < counts.length; i += 2) byName[+(i >= 2 * failures)][counts[i]] = counts[i + 1];
  const meanMs = refreshes ? totalMs / refreshes : 0;
  return {
    user, error, signedOut, expiresAt: expiresAt === expiresAt ? expiresAt : null,
    telemetry: { refreshes, lastMs, maxMs, meanMs, failures: byName[0], signOuts: byName[1] },
  };
};

// The page's event handlers by event name; `onAny` handlers under `ANY_EVENT`. The hub
// sends this tab an event once a handler wants it (`subscribe_(kind, event)` asks for it,
// or stops asking).
class Listeners extends Map {
  constructor(subscribe) {
    super();
    this.subscribe_ = subscribe;
  }
  // Returns the function that removes this one registration.
  on_(event, f) {
    const list = this.get(event);
    if (list) list.push(f);
    else {
      this.set(event, [f]);
      this.subscribe_(OP_SUBSCRIBE, event);
    }
    let on = 1;
    return () => on && (on = 0, this.off_(event, f));
  }
  // One registration of `f`, or (no `f`) every handler of the event.
  off_(event, f) {
    const list = this.get(event) ?? [];
    if (f) drop(list, (g) => g === f);
    if (f && list.length) return;
    if (this.delete(event)) this.subscribe_(OP_UNSUBSCRIBE, event);
  }
  // `onAny` handlers first, and only for the server's events, not the hub's own (`sb:`).
  call_(name, args) {
    const any = name.startsWith('sb:') ? [] : this.get(ANY_EVENT) ?? [];
    for (const f of any.map((g) => g.bind(null, name)).concat(this.get(name) ?? [])) {
      guard((v) => f(...v), args);
    }
  }
}

// Calls waiting for the hub's answer, by id: `[resolve, reject, room]` (a join's room), or
// `[f]` for an emit's ack callback.
class Requests extends Map {
  settle_(id, f) {
    const call = this.get(id);
    if (call) {
      this.delete(id);
      guard(f, call);
    }
  }
  fail_(id, reason) {
    this.settle_(id, (call) => (call[1] ? call[1](new Error(reason)) : warn('ack failed: ', reason)));
  }
  failAll_(reason) {
    for (const id of [...this.keys()]) this.fail_(id, reason);
  }
  // Whether a join of `room` still waits.
  joining_(room) { return [...this.values()].some((call) => call[2] === room); }
}

// The tab's link to the hub: the port (a SharedWorker's, or reach.js's `transport`), the
// Hello once the tab's Web Lock is held, the tab's lifecycle (pagehide, back/forward cache)
// and its priority for leader election, and a new hub when the old one died.
class HubLink {
  constructor(client, workerUrl, transport, setup, scope) {
    this.c_ = client;
    this.url_ = workerUrl;
    this.transport_ = transport;
    this.setup_ = setup;
    this.scope_ = scope; // added to the priority level (src/lib.rs)
    this.listening_ = new AbortController(); // the page's events, until close
  }

  // `first`: the port `hubPort` opened while the wasm loaded (see connect.js).
  start_(first) {
    const c = this.c_;
    const port = this.transport_ ? this.transport_(c, this.url_, () => this.reattach_()) : first ?? hubPort(this.url_);
    // A string from the worker: the hub could not start (its wasm did not load).
    port.onmessage = (e) => (e.data instanceof Uint8Array ? core.recv(c.core_, e.data) : c.noHub_(String(e.data)));
    port.onfail_ = () => c.noHub_('the worker script did not load');
    this.port_ = port;
    if (port.failed_) port.onfail_();
  }

  // Listens to the page's lifecycle, then attaches once the tab's Web Lock is held: a lock
  // held for the tab's whole life lets the hub notice a tab that vanished without a word.
  open_() {
    const signal = this.listening_.signal;
    const on = (target, types, f) => types.map((type) => target.addEventListener(type, f, { signal }));
    // pagehide: say goodbye (the tab lock covers tabs that die without it); pageshow after
    // a back/forward-cache restore: attach again.
    on(window, ['pagehide', 'pageshow'], (e) => (e.type == 'pagehide' ? this.c_.op_(OP_BYE) : e.persisted && this.attach_()));
    // The tab's priority for leader election follows the Page Lifecycle.
    const priority = (e) => this.report_(e.type == 'freeze');
    on(window, ['focus', 'blur'], priority);
    on(document, ['visibilitychange', 'freeze', 'resume'], priority);
    if (!navigator.locks) return this.attach_();
    navigator.locks
      .request(TAB_LOCK_PREFIX + this.c_.id, () => new Promise((release) => {
        this.releaseLock_ = release;
        this.attach_();
      }))
      .catch((e) => warn('tab lock failed', e));
  }

  // `options.setup(client)` runs once, as the Hello goes out: what it subscribes follows the
  // Hello at once, so no event the server sends on connection is missed.
  attach_(kind = OP_ATTACH) {
    this.c_.op_(kind);
    this.attached_ = true;
    this.setup_?.(this.c_);
    this.setup_ = null;
    this.report_();
  }

  // Active (visible, focused) 3 > passive (visible) 2 > hidden 1 > frozen 0.
  report_(frozen) {
    if (!this.attached_) return; // Hello goes first
    const level = frozen ? 0 : document.hidden ? 1 : document.hasFocus() ? 3 : 2;
    this.c_.op_(OP_PRIORITY, '' + (this.c_.leader_.value_?.term ?? 0), '', level + this.scope_);
  }

  post_(bytes) {
    const copy = bytes.slice();
    this.port_.postMessage(copy, [copy.buffer]);
  }

  // Waits on the hub's lifetime lock: granted means the hub (the SharedWorker) died.
  watch_() {
    if (this.watching_ || !navigator.locks || this.transport_) return;
    this.watching_ = true;
    navigator.locks.request(HUB_LOCK, () => {
      this.watching_ = false;
      this.died_();
    });
  }

  // Start a new hub, then attach to it.
  died_() {
    if (this.c_.closed_) return;
    warn('hub died, restarting');
    this.stop_();
    try {
      this.start_();
    } catch {
      return warn('no new hub');
    }
    this.reattach_();
  }

  // A new hub: attach again and resend every emit the old one had not confirmed; calls
  // that waited on the old hub fail.
  reattach_() {
    this.c_.requests_.failAll_('hub restarted');
    this.attach_(OP_RESTART);
    this.c_.setStatus_({ status: 'connecting' });
  }

  stop_() {
    this.port_.onmessage = null;
    this.port_.close();
  }

  close_() {
    this.stop_();
    this.listening_.abort();
    this.releaseLock_?.();
  }
}

// A new core for `connect`'s options (its endpoint strings and option numbers), or why the
// options name no endpoint.
function endpoint(o, id) {
  let base;
  try {
    base = new URL(string(o.url, location.origin), location.href);
  } catch {
    return 'invalid url';
  }
  const strs = [
    id, base.protocol + '//' + base.host, string(o.path, '/socket.io'),
    string(o.namespace, '') || (base.pathname.length > 1 ? base.pathname : '/'), base.search.slice(1),
    o.auth && typeof o.auth == 'object' ? JSON.stringify(o.auth) : '',
  ];
  if (strs.some((s) => s.includes('\0'))) return 'invalid path or namespace';
  return core.create(
    utf8(strs.join('\0') + '\0'),
    // The Options fields in table order, then the ack timeout.
    [o.reconnection, o.reconnectionDelay, o.reconnectionDelayMax, o.randomizationFactor, o.timeout, o.maxQueue,
      o.maxQueueBytes, o.maxQueueAge, o.authMode == 'bearer', o.reconnectionAttempts, o.ackTimeout].map(number),
  );
}

// The client a page uses: the API below, over small parts that each own their fields (status,
// tabs, auth and leader are `Watched` values; `Listeners`, `Requests`, `HubLink`).
export class Client {
  constructor(o, workerUrl, resolve, reject, reach, port) {
    const fail = (m) => reject(new Error('switchboard: ' + m));
    if (typeof window == 'undefined') return fail('connect() must run in a page');
    this.id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b + 256).toString(16).slice(1)).join('');
    Object.assign(this, {
      mode: reach?.mode ?? 'shared-worker', ready_: [resolve, reject], workerUrl_: workerUrl,
      status_: new Watched({ status: 'connecting' }), tabs_: new Watched([]), auth_: new Watched(null),
      leader_: new Watched(null),
      assigned_: [], joined_: [], members_: new Map(), memberFns_: [], listeners_: new Listeners((kind, event) => this.op_(kind, event)),
      requests_: new Requests(), bins_: [], items_: [], closed_: false,
      link_: new HubLink(this, workerUrl, reach?.port, o.setup, o.leaderScope == 'user' ? 4 : 0),
    });
    const made = endpoint(o, this.id);
    if (typeof made == 'string') return fail(made);
    clients[this.core_ = made] = this;
    try {
      this.link_.start_(port);
    } catch {
      return fail('SharedWorker unavailable');
    }
    // connect() settles within `loadTimeout`: a hub that never answers is an error that says
    // what did not load, not a promise pending forever.
    const ms = number(o.loadTimeout ?? 10000);
    this.loadTimer_ = setTimeout(() => this.noHub_(`no answer from the hub within ${ms} ms`), ms);
    this.link_.open_();
  }

  // Asks the core; returns the id the answer will carry (see `op` in src/lib.rs).
  op_(kind, a = '', b = '', token = 0) { return core.op(this.core_, kind, token, utf8(a), utf8(b)); }

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
    return new Promise((resolve, reject) => this.requests_.set(this.op_(kind, a, b), [resolve, reject, room]));
  }

  // What the core reports (see `to_js` in src/lib.rs).
  host_(kind, n, m, a, b) {
    const requests = this.requests_;
    switch (kind) {
      case REPORT_POST:
        if (!this.closed_) this.link_.post_(a);
        break;
      case REPORT_BIN:
        this.bins_.push(a.slice().buffer);
        break;
      case REPORT_EVENT:
        this.event_(n, text(a), this.decode_(text(b)));
        break;
      case REPORT_ACK: {
        const args = this.decode_(text(a));
        requests.settle_(n, (call) => (call[1] ? call[0](args[0]) : call[0](...args)));
        break;
      }
      case REPORT_FAIL: {
        const room = requests.get(n)?.[2];
        requests.fail_(n, text(a));
        // The hub refused a join: the core leaves the room, so it is neither listed nor
        // joined again on a new hub (unless another join of it is still waiting).
        if (room !== undefined && !requests.joining_(room)) this.op_(OP_LEAVE, room);
        break;
      }
      case REPORT_OK:
        requests.settle_(n, (call) => call[0](m ? text(a) : undefined));
        break;
      case REPORT_STATUS:
        // A verdict is for one reconnection: the next one waits for its own.
        this.setStatus_(statusOf(n, m, a, b), text(a) != 'connected');
        break;
      case REPORT_WELCOME: {
        clearTimeout(this.loadTimer_);
        const ready = this.ready_;
        this.ready_ = null;
        ready?.[0](this);
        this.link_.watch_();
        break;
      }
      case REPORT_ITEM:
        this.items_.push(m ? (m == 1 ? text(a) : null) : n);
        break;
      case REPORT_TABS:
        this.tabs_.set_(this.items_.splice(0));
        break;
      case REPORT_ROOMS:
        this.joined_ = this.items_.splice(0);
        break;
      case REPORT_AUTH:
        this.auth_.set_(authOf(this.items_.splice(0), n));
        break;
      case REPORT_CLOCK:
        this.clockOffset = n;
        break;
      case REPORT_RECOVERED:
        this.status_.set_({ ...this.status_.value_, recovered: !!n });
        break;
      case REPORT_WARN:
        warn(text(a) + text(b));
        break;
      case REPORT_ERROR:
        this.hubError_(n, text(a));
    }
  }

  // A new status; the last reconnection's verdict (`recovered`) stays unless `fresh`.
  setStatus_(detail, fresh) {
    const { recovered } = this.status_.value_;
    this.status_.set_(fresh || recovered === undefined ? detail : { ...detail, recovered });
  }

  // A server event (`token`: the reply token of one that asks for an ack); the hub's own
  // events update what the client shows before the handlers run.
  event_(token, name, args) {
    // The handler's last argument answers the server: `callback(...values)`.
    if (token === token) args.push((...v) => this.answer_(token, v));
    if (name == LEADER_EVENT) {
      const [leader, term, scope] = args;
      this.leader_.set_({ isLeader: leader == this.id, leader, term, scope });
    }
    if (name == ASSIGNED) this.assigned_ = args[0];
    if (name == MEMBERS) {
      const { room, members } = args[0];
      this.members_.set(room, members);
      this.memberFns_.forEach(([r, f]) => r == room && guard(f, this.members(room)));
    }
    this.listeners_.call_(name, args);
  }

  // NotAttached: a new hub under this tab (a tab it never welcomed ignores it). Any other
  // error from the hub fails a pending connect().
  hubError_(code, message) {
    if (code == ERROR_NOT_ATTACHED) return this.ready_ || this.link_.reattach_();
    const e = 'switchboard hub: ' + message, ready = this.ready_;
    warn(e);
    this.ready_ = null;
    ready?.[1](new Error(e));
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

  // The public API.
  get status() { return this.status_.value_.status; }
  get statusDetail() { return this.status_.get_(); }
  onStatus(f) { return this.status_.on_(f); }
  offStatus(f) { this.status_.off_(f); }
  get tabs() { return this.tabs_.get_(); }
  onTabs(f) { return this.tabs_.on_(f); }
  offTabs(f) { this.tabs_.off_(f); }
  // Hierarchy rooms (user:, session:, device:, this tab's tab:) and the rooms it joined.
  get rooms() { return [...this.assigned_, ...this.joined_]; }
  // `[{ user, device, tabs }]` in a room this tab is in (from a server that keeps presence).
  members(room) { return structuredClone(this.members_.get(room) ?? []); }
  onMembers(room, f) { guard(f, this.members(room)); return add(this.memberFns_, [room, f]); }
  offMembers(room, f) { drop(this.memberFns_, ([r, g]) => r == room && g === f); }
  get recovered() { return this.status_.value_.recovered; }
  get auth() { return this.auth_.get_(); }
  onAuth(f) { return this.auth_.on_(f); }
  offAuth(f) { this.auth_.off_(f); }
  // `{ isLeader, leader, term, scope }`: which tab leads (decided by the server, or by the
  // hub among its own tabs when the server takes no part).
  get leader() { return this.leader_.get_(); }
  onLeader(f) { return this.leader_.on_(f); }
  offLeader(f) { this.leader_.off_(f); }
  get unconfirmed() { return this.op_(OP_COUNT); }

  // Each `on*` returns the function that removes that one registration; `off(event, f)`
  // removes one registration of `f`, `off(event)` every handler of the event.
  on(event, f) { return this.listeners_.on_(String(event), f); }
  off(event, f) { this.listeners_.off_(String(event), f); }
  // Every event of the namespace: `f(event, ...args)`, before the event's own handlers.
  onAny(f) { return this.listeners_.on_(ANY_EVENT, f); }
  offAny(f) { this.listeners_.off_(ANY_EVENT, f); }
  // A function as the last argument is called with the server's ack arguments.
  emit(event, ...args) {
    const f = typeof args[args.length - 1] == 'function' && args.pop();
    const json = this.encode_(args);
    if (f) this.requests_.set(this.op_(OP_EMIT_ACK, String(event), json), [f]);
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
  emitAsLeader(event, ...args) { return this.emitWithAck(LEAD, this.leader_.value_?.term, String(event), ...args); }
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
    this.link_.close_();
    this.requests_.failAll_('client closed');
    this.setStatus_({ status: 'disconnected', reason: 'client closed' });
  }
}
