// socket.io-client 4.8's API over Switchboard clients (`switchboard-compat.js`): change the
// import, keep the code. A `Manager` is the hub's shared connection as this tab sees it: its
// options, its events (from the hub's status) and `engine`; each `Socket` wraps one
// Switchboard client, one namespace of that connection. Buffers, acks, retries and the
// packets reported to `engine`'s `packetCreate` follow socket.io-client's Socket. What differs
// because tabs share one connection is in docs/compat.md ("Intended differences").
// Private members end in `_` (shortened by the bundler); `_queue`, `_readyState`, ... are
// socket.io-client's own names.

const RESERVED = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];
// The hub's own events (switchboard_shared::contract::HUB_PING, HUB_LOST, HUB_DROP).
import { HUB_PING, HUB_LOST, HUB_DROP } from './protocol.js';
const TIMED_OUT = 'operation has timed out';
const values = Object.values, nativeSetTimeout = setTimeout;

// socket.io-client's emitter (component-emitter): on/once/off/listeners, `this` bound.
class Emitter {
  constructor() {
    this.listeners_ = new Map();
  }
  on(event, fn) {
    if (!this.listeners_.has(event)) this.listeners_.set(event, []);
    this.listeners_.get(event).push(fn);
    return this;
  }
  once(event, fn) {
    const once = (...args) => {
      this.off(event, once);
      fn.apply(this, args);
    };
    once.fn = fn;
    return this.on(event, once);
  }
  off(event, fn) {
    if (event === undefined) this.listeners_.clear();
    else if (fn === undefined) this.listeners_.delete(event);
    else {
      const list = this.listeners_.get(event) ?? [];
      const i = list.findIndex((g) => g === fn || g.fn === fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }
  listeners(event) {
    return [...(this.listeners_.get(event) ?? [])];
  }
  hasListeners(event) {
    return this.listeners(event).length > 0;
  }
  emitReserved_(event, ...args) {
    for (const f of this.listeners(event)) f.apply(this, args);
    return this;
  }
}
for (const [alias, name] of [['addEventListener', 'on'], ['removeListener', 'off'], ['removeAllListeners', 'off'], ['removeEventListener', 'off']]) {
  Emitter.prototype[alias] = function (...args) { return this[name](...args); };
}

// Engine.IO's socket, as far as a tab sees the hub's: `close()` ends the connection for every
// tab (the hub reconnects, as after a transport loss); `packetCreate` reports this tab's
// Socket.IO packets; `_pingTimeoutTime` in the past (a throttled timer) counts as expired.
class Engine extends Emitter {
  constructor(io) {
    super();
    this.io_ = io;
    this.transport = { name: 'websocket' };
  }
  close() {
    values(this.io_.nsps).find((s) => s.client_)?.client_.emit(HUB_DROP);
    return this;
  }
  _hasPingExpired() {
    const expired = this._pingTimeoutTime < Date.now();
    if (expired) (this._pingTimeoutTime = undefined), queueMicrotask(() => this.close());
    return expired;
  }
}

// socket.io-client's Manager: options (getters and setters), `socket(nsp)`, `open()`, its
// events (`open`, `close`, `error`, `ping`, `reconnect_attempt`, `reconnect`,
// `reconnect_error`, `reconnect_failed`), from the status every socket's client reports.
export class Manager extends Emitter {
  constructor(uri, opts) {
    super();
    if (uri && typeof uri == 'object') [uri, opts] = [undefined, uri];
    opts = this.opts = { path: '/socket.io', ...opts };
    this.uri = new URL(uri ?? location.href, location.href);
    this.nsps = {};
    this.reconnection(opts.reconnection !== false);
    this.reconnectionAttempts(opts.reconnectionAttempts || Infinity);
    this.reconnectionDelay(opts.reconnectionDelay || 1000);
    this.reconnectionDelayMax(opts.reconnectionDelayMax || 5000);
    this.randomizationFactor(opts.randomizationFactor ?? 0.5);
    this.timeout(opts.timeout ?? 20000);
    this._readyState = 'closed';
    this.attempt_ = 0;
    this._autoConnect = opts.autoConnect !== false;
    if (this._autoConnect) this.open();
  }

  reconnection(v) {
    if (!arguments.length) return this._reconnection;
    if (!(this._reconnection = !!v)) this.skipReconnect = true;
    return this;
  }

  open(fn) {
    if (this._readyState.includes('open')) return this;
    this.engine = new Engine(this);
    this._readyState = 'opening';
    this.skipReconnect = false;
    this.openFn_ = fn;
    return this;
  }
  connect(fn) { return this.open(fn); }

  socket(nsp, opts) {
    let socket = this.nsps[nsp];
    if (!socket) this.nsps[nsp] = socket = new Socket(this, nsp, opts ?? {});
    else if (this._autoConnect && !socket.active) socket.connect();
    return socket;
  }

  // A socket was disconnected: without active sockets the manager closes.
  _destroy() {
    if (!values(this.nsps).some((s) => s.active)) this._close();
  }
  _close() {
    this.skipReconnect = true;
    this._reconnecting = false;
    for (const s of values(this.nsps)) s.pause_();
    this.onclose_('forced close');
  }
  disconnect() { return this._close(); }

  onclose_(reason) {
    this._readyState = 'closed';
    this.emitReserved_('close', reason);
    for (const s of values(this.nsps)) if (s.active) s.onclose_(reason);
  }

  fail_(reason) {
    const err = new Error(reason == 'connect timeout' ? 'timeout' : reason || 'websocket error');
    this._readyState = 'closed';
    this.emitReserved_('error', err);
    for (const s of values(this.nsps)) if (s.active && !s.connected) s.emitReserved_('connect_error', err);
    const fn = this.openFn_;
    this.openFn_ = null;
    fn?.(err);
    if (this._reconnecting) this.emitReserved_('reconnect_error', err);
  }

  attempting_(n) {
    if (this._reconnecting && !this.skipReconnect && this._readyState == 'closed' && this.attempt_ == n) {
      this._readyState = 'opening';
      this.emitReserved_('reconnect_attempt', n);
    }
  }

  // The connection's status, as every socket's client reports it: each change once.
  // `byServer`: the server refused or ended this socket's namespace (the connection is up).
  status_(d, byServer) {
    const s = d.status, reason = d.reason ?? '';
    if (this.skipReconnect) return;
    if (s == 'connected') {
      if (this._readyState == 'open') return;
      // Connected before this page's (throttled) timer fired: the attempt is reported first.
      this.attempting_(this.attempt_);
      this._readyState = 'open';
      this.emitReserved_('open');
      const fn = this.openFn_;
      this.openFn_ = null;
      fn?.();
      if (this._reconnecting) {
        this._reconnecting = false;
        this.emitReserved_('reconnect', this.attempt_);
      }
      this.attempt_ = 0;
    } else if (s == 'connecting') {
      // The hub's attempt began (before this page's timer fired, when the page is throttled).
      this.attempting_(this.attempt_);
    } else if (s != 'disconnected' || !byServer) {
      // Down: the connection was lost, an attempt failed, or the hub stopped trying.
      if (this._readyState == 'open') this.onclose_(this.lost_ == 'ping timeout' ? 'ping timeout' : 'transport close');
      else if (this._readyState == 'opening') this.fail_(reason);
      // A listener of those events may have closed the manager.
      if (this.skipReconnect) return;
      if (s == 'reconnecting' && this._reconnection) {
        this._reconnecting = true;
        const n = (this.attempt_ = d.attempt);
        // `reconnect_attempt` on this page's timer, as socket.io-client's (the page's
        // `setTimeout`, or the one it loaded with under `useNativeTimers`), or when the hub
        // starts the attempt (its own timer), whichever comes first.
        (this.opts.useNativeTimers ? nativeSetTimeout : setTimeout)(() => this.attempting_(n), d.delay);
      }
      if (s == 'failed' && this._reconnecting) {
        this._reconnecting = false;
        this.emitReserved_('reconnect_failed');
      }
    }
  }
}
for (const name of ['reconnectionAttempts', 'reconnectionDelay', 'reconnectionDelayMax', 'randomizationFactor', 'timeout']) {
  Manager.prototype[name] = function (v) {
    if (!arguments.length) return this['_' + name];
    this['_' + name] = v;
    return this;
  };
}

const isBlob = (v) => typeof Blob != 'undefined' && v instanceof Blob;
const hasBlob = (v) => isBlob(v) || (v && typeof v == 'object' && !ArrayBuffer.isView(v) && values(v).some(hasBlob));
// Blobs read into ArrayBuffers (the hub sends bytes), arrays and plain objects walked.
const readBlobs = async (v) => {
  if (isBlob(v)) return v.arrayBuffer();
  if (!hasBlob(v)) return v;
  const out = Array.isArray(v) ? [] : {};
  for (const k of Object.keys(v)) out[k] = await readBlobs(v[k]);
  return out;
};

export class Socket extends Emitter {
  constructor(io, nsp, opts) {
    super();
    this.io = io;
    this.nsp = nsp;
    this._opts = { ...opts };
    this.auth = opts.auth;
    this.connected = false;
    this.recovered = false;
    this.id = undefined;
    this.flags = {};
    this.ids = 0;
    this.acks = {};
    this.sendBuffer = [];
    this._queue = [];
    this.client_ = null;
    this.subscribed_ = new Map(); // event -> the client handler that dispatches it
    this.anyIn_ = [];
    this.anyOut_ = [];
    if (io._autoConnect) this.open();
  }

  get disconnected() { return !this.connected; }
  // Whether the socket connects (or tries to): true until `disconnect()` or a refusal.
  get active() { return !!this.want_; }

  connect() {
    if (this.connected) return this;
    this.want_ = true;
    if (!this.io._reconnecting) this.io.open();
    // The hub stopped trying (attempts used up, or no reconnection): a new client starts it.
    if (this.down_) this.pause_();
    if (this.client_ || this.starting_) return this;
    const io = this.io, o = io.opts, token = (this.starting_ = {});
    const auth = typeof this.auth == 'function' ? new Promise((resolve) => this.auth(resolve)) : Promise.resolve(this.auth);
    const query = new URLSearchParams(io.uri.search);
    new URLSearchParams(o.query).forEach((v, k) => query.set(k, v));
    auth
      .then((auth) => (this.authData_ = auth, start({
        url: io.uri.origin + '/?' + query, path: o.path, namespace: this.nsp, auth, reconnection: io._reconnection, reconnectionDelay: io._reconnectionDelay,
        reconnectionDelayMax: io._reconnectionDelayMax, randomizationFactor: io._randomizationFactor,
        timeout: io._timeout, ackTimeout: 0, reconnectionAttempts: io._reconnectionAttempts, loadTimeout: o.loadTimeout,
        // Subscribed as the Hello goes out: an event the server sends on connection is not missed.
        setup: (client) => {
          if (this.starting_ !== token) return;
          client.on(HUB_LOST, (reason) => (io.lost_ = reason));
          client.on(HUB_PING, () => io.emitReserved_('ping'));
          for (const [event, fn] of this.subscribed_) client.on(event, fn);
          if (this.anyIn_.length) client.onAny(this.anyDispatch_ ??= (...a) => this.any_(a));
          this.subscriber_ = client;
        },
      })))
      .then((client) => {
        if (this.starting_ !== token) return client.close();
        this.starting_ = null;
        this.client_ = client;
        this.packet_('0', this.authData_ != null ? JSON.stringify(this.authData_) : '');
        client.onStatus((d) => client === this.client_ && this.status_(d));
      }, (err) => {
        if (this.starting_ !== token) return;
        this.starting_ = null;
        this.emitReserved_('connect_error', err);
      });
    return this;
  }

  open() { return this.connect(); }

  disconnect() {
    if (this.connected) this.packet_('1');
    this.stop_();
    if (this.connected) this.onclose_('io client disconnect');
    this.io._destroy(this);
    return this;
  }

  close() { return this.disconnect(); }

  // This socket's client is closed (the socket no longer connects).
  stop_() {
    this.want_ = false;
    this.pause_();
  }
  pause_() {
    this.starting_ = null;
    this.down_ = false;
    this.subscriber_ = null;
    const client = this.client_;
    this.client_ = null;
    client?.close();
  }

  onclose_(reason) {
    this.connected = false;
    this.id = undefined;
    // socket.io-client's _clearAcks: acks of emits that went out fail (those that take an
    // error), acks of emits still buffered wait for the next connection.
    for (const id of Object.keys(this.acks)) {
      const ack = this.acks[id];
      if (ack.sent && !this.sendBuffer.some((p) => p.id == id)) {
        delete this.acks[id];
        if (ack.withError) ack.call(this, new Error('socket has been disconnected'));
      }
    }
    this.emitReserved_('disconnect', reason);
  }

  // socket.io-client's check of a CONNECT packet: a v2 server sends no sid.
  onpacket(p) {
    if (p.type == 0 && !p.data?.sid) this.emitReserved_('connect_error', new Error('It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client, but they are not compatible'));
  }

  // The hub's status for this socket's namespace; the connection's goes to the manager first.
  status_(d) {
    const s = d.status, reason = d.reason ?? '';
    const own = /^(connect_error: |io server disconnect)/.test(reason);
    this.down_ = s == 'failed' || (s == 'disconnected' && !own);
    this.io.status_(d, own);
    if (s == 'connected' && !this.connected) {
      this.id = d.sid;
      this.recovered = d.recovered === true;
      this.connected = true;
      this.flush_();
      this.emitReserved_('connect');
      this.drain_(true);
    } else if (s == 'connected') {
      // The replay's verdict, a round trip after the CONNECT on a contract server.
      if (d.recovered !== undefined) this.recovered = d.recovered;
    } else if (s == 'disconnected' && own) {
      // Refused or ended by the server: no automatic reconnection; `connect()` tries again.
      const connected = this.connected;
      this.stop_();
      if (reason[0] == 'c') this.emitReserved_('connect_error', new Error(reason.slice(15)));
      else if (connected) this.onclose_(reason);
      this.io._destroy(this);
    }
  }

  // --- Listening. ---

  on(event, fn) {
    super.on(event, fn);
    if (!RESERVED.includes(event) && !this.subscribed_.has(event)) {
      const dispatch = (...args) => this.dispatch_(event, args);
      this.subscribed_.set(event, dispatch);
      this.subscriber_?.on(event, dispatch);
    }
    return this;
  }

  off(event, fn) {
    super.off(event, fn);
    for (const [name, dispatch] of this.subscribed_) {
      if (!this.hasListeners(name)) {
        this.subscribed_.delete(name);
        this.subscriber_?.off(name, dispatch);
      }
    }
    return this;
  }

  dispatch_(event, args) {
    for (const f of this.listeners(event)) f.apply(this, args);
  }

  any_(args) {
    for (const f of [...this.anyIn_]) f.apply(this, args);
  }

  onAny(fn) { return this.addAny_(fn, false); }
  prependAny(fn) { return this.addAny_(fn, true); }
  addAny_(fn, first) {
    if (first) this.anyIn_.unshift(fn);
    else this.anyIn_.push(fn);
    if (this.anyIn_.length == 1) this.subscriber_?.onAny(this.anyDispatch_ ??= (...a) => this.any_(a));
    return this;
  }
  offAny(fn) {
    this.anyIn_ = fn ? this.anyIn_.filter((g) => g !== fn) : [];
    if (!this.anyIn_.length && this.anyDispatch_) this.subscriber_?.offAny(this.anyDispatch_);
    return this;
  }
  listenersAny() { return [...this.anyIn_]; }

  onAnyOutgoing(fn) { this.anyOut_.push(fn); return this; }
  prependAnyOutgoing(fn) { this.anyOut_.unshift(fn); return this; }
  offAnyOutgoing(fn) {
    this.anyOut_ = fn ? this.anyOut_.filter((g) => g !== fn) : [];
    return this;
  }
  listenersAnyOutgoing() { return [...this.anyOut_]; }

  // --- Emitting. ---

  get volatile() {
    this.flags.volatile = true;
    return this;
  }

  timeout(ms) {
    this.flags.timeout = ms;
    return this;
  }

  compress(v) {
    this.flags.compress = v;
    return this;
  }

  send(...args) { return this.emit('message', ...args); }
  write(...args) { return this.emit('message', ...args); }

  // The packet socket.io-client's encoder writes, reported to `engine`'s `packetCreate`.
  packet_(type, data = '', id = '', compress) {
    const prefix = this.nsp == '/' ? '' : this.nsp + ',';
    this.io.engine?.emitReserved_('packetCreate', { type: 'message', data: type + prefix + id + data, options: { compress: compress !== false } });
  }

  emit(event, ...args) {
    if (RESERVED.includes(event)) throw new Error('"' + String(event) + '" is a reserved event name');
    const flags = this.flags;
    this.flags = {};
    if (this.chain_ || hasBlob(args)) {
      // Blobs are read first; what is emitted meanwhile waits behind them, in order.
      const chain = (this.chain_ = (this.chain_ ?? Promise.resolve())
        .then(() => readBlobs(args))
        .then((read) => {
          if (this.chain_ === chain) this.chain_ = null;
          this.emit_(event, read, flags);
        }));
      return this;
    }
    return this.emit_(event, args, flags);
  }

  emit_(event, args, flags) {
    if (this._opts.retries && !flags.fromQueue && !flags.volatile) {
      this.enqueue_([event, ...args], flags);
      return this;
    }
    const packet = { event, args, flags };
    if (typeof args[args.length - 1] == 'function') this.ack_((packet.id = this.ids++), args.pop(), flags);
    const writable = this.connected && this.client_ && !this.io.engine?._hasPingExpired();
    if (flags.volatile && (!writable || this.busy_)) {
      delete this.acks[packet.id];
    } else if (writable) {
      this.send_(packet);
    } else {
      this.sendBuffer.push(packet);
    }
    return this;
  }

  // Hands an emit to the hub (which queues it while the connection is down).
  send_(packet) {
    const { event, args, flags, id } = packet, ack = this.acks[id], client = this.client_;
    // Disconnected from within a handler of this very send: buffered for the next client.
    if (!client) return this.sendBuffer.push(packet);
    for (const f of [...this.anyOut_]) f.call(this, event, ...args);
    this.packet_('2', JSON.stringify([event, ...args]), id ?? '', flags.compress);
    if (!this.busy_) queueMicrotask(() => (this.busy_ = false));
    this.busy_ = true;
    if (ack) {
      ack.sent = true;
      client.emit(event, ...args, (...res) => this.onack_(id, res));
    } else if (flags.volatile) client.emitVolatile(event, ...args);
    else client.emit(event, ...args);
  }

  // Buffered emits go to the hub once this socket has a client, in order.
  flush_() {
    const buffer = this.sendBuffer;
    this.sendBuffer = [];
    buffer.forEach((p) => this.send_(p));
  }

  onack_(id, args) {
    const ack = this.acks[id];
    if (!ack) return;
    delete this.acks[id];
    if (ack.withError) args.unshift(null);
    ack.apply(this, args);
  }

  // socket.io-client's _registerAckCallback: with a timeout (the flag or `ackTimeout`) the
  // callback takes an error first.
  ack_(id, ack, flags) {
    const timeout = flags.timeout ?? this._opts.ackTimeout;
    if (timeout === undefined) return (this.acks[id] = ack);
    const timer = setTimeout(() => {
      delete this.acks[id];
      this.sendBuffer = this.sendBuffer.filter((p) => p.id !== id);
      ack.call(this, new Error(TIMED_OUT));
    }, timeout);
    const fn = (...args) => {
      clearTimeout(timer);
      ack.apply(this, args);
    };
    fn.withError = true;
    this.acks[id] = fn;
  }

  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      const fn = (err, value) => (err ? reject(err) : resolve(value));
      fn.withError = true;
      this.emit(event, ...args, fn);
    });
  }

  // `retries`: emits go one at a time, each acknowledged (or retried) before the next, as
  // socket.io-client's queue does.
  enqueue_(args, flags) {
    const ack = typeof args[args.length - 1] == 'function' ? args.pop() : null;
    const packet = { args, flags: { ...flags, fromQueue: true }, tries: 0, pending: false };
    args.push((err, ...res) => {
      if (packet !== this._queue[0]) return;
      if (err === null) {
        this._queue.shift();
        ack?.call(this, null, ...res);
      } else if (packet.tries > this._opts.retries) {
        this._queue.shift();
        ack?.call(this, err);
      }
      packet.pending = false;
      this.drain_();
    });
    this._queue.push(packet);
    this.drain_();
  }

  drain_(force) {
    const packet = this._queue[0];
    if (!this.connected || !packet || (packet.pending && !force)) return;
    packet.pending = true;
    packet.tries++;
    this.flags = packet.flags;
    this.emit(...packet.args);
  }
}

// `io(uri, opts)`: a socket of the manager of that server (one per server unless
// `forceNew`, `multiplex: false` or a namespace it already has), as socket.io-client's.
const cache = {};
let start;
export function makeIo(attach) {
  start = attach;
  const io = (uri, opts) => {
    if (typeof uri == 'object') [uri, opts] = [undefined, uri];
    opts = { ...opts };
    const url = new URL(uri ?? location.href, location.href), id = url.origin, nsp = url.pathname;
    const same = cache[id] && nsp in cache[id].nsps;
    const manager = opts.forceNew || opts['force new connection'] || opts.multiplex === false || same
      ? new Manager(uri, opts)
      : (cache[id] ??= new Manager(uri, opts));
    return manager.socket(opts.forceBase ? '/' : nsp, opts);
  };
  return Object.assign(io, { Manager, Socket, io, connect: io, protocol: 5 });
}
