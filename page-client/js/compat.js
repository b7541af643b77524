// socket.io-client 4.8's API over a Switchboard client (`switchboard-compat.js`): change the
// import, keep the code. A `Socket` wraps one Switchboard client (one tab's view of the hub's
// shared connection); `socket.io` stands for socket.io-client's Manager and fires its
// reconnection events from the hub's status. What differs because tabs share one
// connection is listed in the README ("Migrating from socket.io-client").
// Private members end in `_` (shortened by the bundler).

const RESERVED = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];
// The hub's own events (switchboard_shared::contract::HUB_PING, HUB_LOST).
const HUB_PING = 'sb:ping', HUB_LOST = 'sb:lost';
const TIMED_OUT = 'operation has timed out';

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

// socket.io-client's Manager, as far as a tab can see it: its options and its events
// (`reconnect_attempt`, `reconnect`, `reconnect_error`, `reconnect_failed`, `error`).
class Manager extends Emitter {
  constructor(opts) {
    super();
    this.opts = opts;
  }
  reconnection(v) {
    if (v === undefined) return this.opts.reconnection !== false;
    this.opts.reconnection = !!v;
    return this;
  }
}

export class Socket extends Emitter {
  constructor(start, uri, opts) {
    super();
    this.start_ = start;
    const url = new URL(uri ?? location.href, location.href);
    this.nsp = url.pathname.length > 1 && !opts.forceBase ? url.pathname : '/';
    this.url_ = url.protocol + '//' + url.host;
    this.opts_ = opts;
    this.io = new Manager(opts);
    this.auth = opts.auth;
    this.connected = false;
    this.recovered = false;
    this.id = undefined;
    this.flags = {};
    this.client_ = null;
    this.subscribed_ = new Map(); // event -> the client handler that dispatches it
    this.anyIn_ = [];
    this.anyOut_ = [];
    this.queue_ = [];
    this.reconnecting_ = 0;
    if (opts.autoConnect !== false) this.connect();
  }

  get disconnected() { return !this.connected; }
  // Whether the socket connects (or tries to): true until `disconnect()` or a refusal.
  get active() { return !!this.client_; }

  connect() {
    if (this.client_ || this.starting_) return this;
    this.starting_ = true;
    const o = this.opts_;
    const auth = typeof this.auth == 'function' ? new Promise((resolve) => this.auth(resolve)) : Promise.resolve(this.auth);
    auth
      .then((auth) => this.start_({
        url: this.url_, path: o.path, namespace: this.nsp, auth,
        query: o.query && new URLSearchParams(o.query).toString(),
        reconnection: o.reconnection, reconnectionDelay: o.reconnectionDelay,
        reconnectionDelayMax: o.reconnectionDelayMax, randomizationFactor: o.randomizationFactor,
        timeout: o.timeout, ackTimeout: 0, reconnectionAttempts: o.reconnectionAttempts, loadTimeout: o.loadTimeout,
      }))
      .then((client) => {
        this.starting_ = false;
        if (this.closing_) return client.close();
        this.client_ = client;
        client.on(HUB_LOST, (reason) => (this.lost_ = reason));
        client.on(HUB_PING, () => this.io.emitReserved_('ping'));
        for (const [event, fn] of this.subscribed_) client.on(event, fn);
        if (this.anyIn_.length) client.onAny(this.anyDispatch_ ??= (...a) => this.any_(a));
        client.onStatus((detail) => this.status_(detail));
      }, (err) => {
        this.starting_ = false;
        this.emitReserved_('connect_error', err);
      });
    this.closing_ = false;
    return this;
  }

  open() { return this.connect(); }

  disconnect() {
    this.closing_ = this.starting_;
    const client = this.client_;
    this.client_ = null;
    if (client) client.close();
    if (this.connected) this.closed_('io client disconnect');
    return this;
  }

  close() { return this.disconnect(); }

  closed_(reason) {
    this.connected = false;
    this.id = undefined;
    this.emitReserved_('disconnect', reason);
  }

  // The hub's status, as socket.io-client's Socket and Manager events.
  status_(d) {
    const s = d.status;
    if (s == 'connected' && !this.connected) {
      this.id = d.sid;
      this.recovered = d.recovered === true;
      this.connected = true;
      if (this.reconnecting_) this.io.emitReserved_('reconnect', this.reconnecting_);
      this.reconnecting_ = 0;
      this.emitReserved_('connect');
      this.drain_(true);
    } else if (s == 'connected') {
      // The replay's verdict, a round trip after the CONNECT on a contract server.
      if (d.recovered !== undefined) this.recovered = d.recovered;
    } else if (s == 'reconnecting' || s == 'offline') {
      if (this.connected) this.closed_(this.lost_ == 'ping timeout' ? 'ping timeout' : 'transport close');
      else if (s == 'reconnecting') {
        // The hub's reason for the failed attempt (an HTTP status, a refused origin, ...).
        const err = new Error(d.reason || 'websocket error');
        this.io.emitReserved_('error', err);
        if (this.reconnecting_) this.io.emitReserved_('reconnect_error', err);
        this.emitReserved_('connect_error', err);
      }
      if (s == 'reconnecting') this.io.emitReserved_('reconnect_attempt', (this.reconnecting_ = d.attempt));
    } else if (s == 'failed') {
      // `reconnectionAttempts` attempts failed: socket.io-client's Manager gives up too.
      this.client_?.close();
      this.client_ = null;
      this.io.emitReserved_('reconnect_failed');
    } else if (s == 'disconnected' && d.reason != 'client closed') {
      const reason = d.reason ?? '';
      // Refused or ended by the server: no automatic reconnection; `connect()` tries again.
      this.client_?.close();
      this.client_ = null;
      if (reason.startsWith('connect_error: ')) this.emitReserved_('connect_error', new Error(reason.slice(15)));
      else if (this.connected) this.closed_(reason == 'io server disconnect' ? reason : 'transport close');
      if (this.reconnecting_) this.io.emitReserved_('reconnect_failed');
    }
  }

  // --- Listening. ---

  on(event, fn) {
    super.on(event, fn);
    if (!RESERVED.includes(event) && !this.subscribed_.has(event)) {
      const dispatch = (...args) => this.dispatch_(event, args);
      this.subscribed_.set(event, dispatch);
      this.client_?.on(event, dispatch);
    }
    return this;
  }

  off(event, fn) {
    super.off(event, fn);
    for (const [name, dispatch] of this.subscribed_) {
      if (!this.hasListeners(name)) {
        this.subscribed_.delete(name);
        this.client_?.off(name, dispatch);
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
    if (this.anyIn_.length == 1) this.client_?.onAny(this.anyDispatch_ ??= (...a) => this.any_(a));
    return this;
  }
  offAny(fn) {
    this.anyIn_ = fn ? this.anyIn_.filter((g) => g !== fn) : [];
    if (!this.anyIn_.length && this.anyDispatch_) this.client_?.offAny(this.anyDispatch_);
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

  compress() { return this; }

  send(...args) { return this.emit('message', ...args); }
  write(...args) { return this.emit('message', ...args); }

  emit(event, ...args) {
    if (RESERVED.includes(event)) throw new Error('"' + String(event) + '" is a reserved event name');
    const flags = this.flags;
    this.flags = {};
    if (this.opts_.retries && !flags.fromQueue && !flags.volatile) {
      this.enqueue_(event, args, flags);
      return this;
    }
    const ack = typeof args[args.length - 1] == 'function' ? args.pop() : null;
    if (!flags.volatile || this.connected) {
      for (const f of [...this.anyOut_]) f.call(this, event, ...args);
    }
    if (flags.volatile) {
      if (this.connected) this.client_?.emitVolatile(event, ...args);
      return this;
    }
    if (!ack) {
      this.withClient_((c) => c.emit(event, ...args));
      return this;
    }
    const timeout = flags.timeout ?? this.opts_.ackTimeout;
    if (timeout === undefined) {
      this.withClient_((c) => c.emit(event, ...args, (...res) => ack.apply(this, res)));
      return this;
    }
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      ack.call(this, new Error(TIMED_OUT));
    }, timeout);
    this.withClient_((c) => c.emit(event, ...args, (...res) => {
      if (done) return;
      clearTimeout(timer);
      ack.call(this, null, ...res);
    }));
    return this;
  }

  emitWithAck(event, ...args) {
    const withError = this.flags.timeout !== undefined || this.opts_.ackTimeout !== undefined;
    return new Promise((resolve, reject) => {
      const fn = withError ? (err, value) => (err ? reject(err) : resolve(value)) : (value) => resolve(value);
      this.emit(event, ...args, fn);
    });
  }

  // Before the first connection the client may not exist yet: calls wait for it.
  withClient_(f) {
    if (this.client_) return f(this.client_);
    (this.waiting_ ??= []).push(f);
    if (this.waiting_.length == 1) {
      this.once('connect', () => {
        const waiting = this.waiting_;
        this.waiting_ = null;
        waiting.forEach((g) => this.client_ && g(this.client_));
      });
    }
  }

  // `retries`: emits go one at a time, each acknowledged (or retried) before the next, as
  // socket.io-client's queue does.
  enqueue_(event, args, flags) {
    const ack = typeof args[args.length - 1] == 'function' ? args.pop() : null;
    const packet = { event, args, flags: { ...flags, fromQueue: true }, tries: 0, pending: false };
    packet.args.push((err, ...res) => {
      if (packet !== this.queue_[0]) return;
      if (err === null) {
        this.queue_.shift();
        ack?.call(this, null, ...res);
      } else if (packet.tries > this.opts_.retries) {
        this.queue_.shift();
        ack?.call(this, err);
      }
      packet.pending = false;
      this.drain_();
    });
    this.queue_.push(packet);
    this.drain_();
  }

  drain_(force) {
    const packet = this.queue_[0];
    if (!this.connected || !packet || (packet.pending && !force)) return;
    packet.pending = true;
    packet.tries++;
    this.flags = { ...packet.flags, timeout: packet.flags.timeout ?? this.opts_.ackTimeout ?? 10000 };
    this.emit(packet.event, ...packet.args);
  }
}

// `io(uri, opts)`: `start(options)` connects a Switchboard client.
export function makeIo(start) {
  return (uri, opts) => {
    if (typeof uri == 'object') [uri, opts] = [undefined, uri];
    return new Socket(start, uri, { ...(opts ?? {}) });
  };
}
