// The page's protocol core in JS, for the JS bundle: what `Core` in src/lib.rs does for Rust
// front ends, with the same entry points (`create`, `op`, `bin`, `recv`) and the same reports
// through `h`. It keeps what a tab must tell a hub to attach (again) — Hello, subscriptions,
// rooms, the durable emits the hub has not confirmed (switchboard_shared::page) — and turns
// ops into messages and messages into reports. The messages' codec and every kind number
// come from protocol.js, generated from the protocol table (shared/src/protocol.rs). A tab
// loads no wasm. page-client/tests/js_core.rs holds it to the Rust core, both ways.
import {
  ACK_TIMEOUT_MS, OPTIONS_FIELDS, PROTOCOL_VERSION, STATUS_NAMES, STATUS_RECONNECTING,
  OP_LOGIN, OP_LOGOUT, OP_REFRESH, OP_TOKEN, OP_BYE, OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_JOIN, OP_LEAVE, OP_ATTACH,
  OP_RESTART, OP_REPLY, OP_EMIT, OP_EMIT_VOLATILE, OP_EMIT_ACK, OP_PRIORITY, OP_EMIT_TO,
  REPORT_POST, REPORT_BIN, REPORT_EVENT, REPORT_ACK, REPORT_FAIL, REPORT_OK, REPORT_STATUS, REPORT_WELCOME,
  REPORT_TABS, REPORT_AUTH, REPORT_CLOCK, REPORT_RECOVERED, REPORT_WARN, REPORT_ERROR, REPORT_ITEM, REPORT_ROOMS,
  FROM_HUB_WELCOME, FROM_HUB_STATUS, FROM_HUB_EVENT, FROM_HUB_ACK, FROM_HUB_ACK_FAILED, FROM_HUB_DONE, FROM_HUB_TABS,
  FROM_HUB_STORED, FROM_HUB_REFUSED, FROM_HUB_CLOCK, FROM_HUB_RECOVERED, FROM_HUB_AUTH, FROM_HUB_TOKEN,
  FROM_HUB_ERROR,
  TO_HUB_HELLO, TO_HUB_SUBSCRIBE, TO_HUB_UNSUBSCRIBE, TO_HUB_EMIT, TO_HUB_REPLY, TO_HUB_JOIN, TO_HUB_LEAVE, TO_HUB_BYE,
  TO_HUB_LOGIN, TO_HUB_LOGOUT, TO_HUB_REFRESH, TO_HUB_TOKEN, TO_HUB_PRIORITY, TO_HUB_EMIT_TO,
  encode, decodeFromHub, optionsOf, whole, dec,
} from './protocol.js';

// Where reports go: the client's `h` (connect.js sets it).
let h;
export const host = (f) => (h = f);

const MALFORMED = 'malformed message from the hub';
const text = (bytes) => dec.decode(bytes); // the client's own UTF-8
const cores = [];
// The ops whose answer the page waits for: they get a request id.
const ASKS = [OP_LOGIN, OP_LOGOUT, OP_REFRESH, OP_TOKEN, OP_JOIN, OP_LEAVE, OP_EMIT_ACK];

// `n`: the Options fields in table order, then the ack timeout (NaN: the default).
export function create(strs, n) {
  const [tab, url, path, namespace, query, auth] = text(strs).split('\0');
  const hello = encode(TO_HUB_HELLO, PROTOCOL_VERSION, tab, [url, path, namespace, query], auth || null, optionsOf(n));
  const ackTimeout = whole(n[OPTIONS_FIELDS], ACK_TIMEOUT_MS);
  cores.push({ hello_: hello, subs_: [], rooms_: [], seq_: 0, req_: 0, outbox_: [], bins_: [], ackTimeout_: ackTimeout });
  return cores.length - 1;
}

export function bin(c, bytes) {
  cores[c]?.bins_.push(bytes.slice());
}

// Adds `name` (UTF-8 bytes) to `list` (`on`) or removes it.
const remember = (list, name, on) => {
  const s = text(name), i = list.indexOf(s);
  if (i >= 0) list.splice(i, 1);
  if (on) list.push(s);
};

export function op(c, kind, token, a, b) {
  const k = cores[c];
  if (!k) return 0;
  const bins = k.bins_;
  k.bins_ = [];
  // The client copies what it posts (a transfer detaches it), so stored bytes stay whole.
  const post = (bytes) => h(c, REPORT_POST, 0, 0, bytes, '');
  const req = ASKS.includes(kind) ? (k.req_ = (k.req_ % 4294967295) + 1) : 0; // 1..=u32::MAX
  const seq = (s = k.seq_) => ((k.seq_ = (s + 1) % 4294967296), s);
  let bytes, durable;
  switch (kind) {
    case OP_LOGIN: bytes = encode(TO_HUB_LOGIN, req, a, b); break;
    case OP_LOGOUT: bytes = encode(TO_HUB_LOGOUT, req); break;
    case OP_REFRESH: bytes = encode(TO_HUB_REFRESH, req); break;
    case OP_TOKEN: bytes = encode(TO_HUB_TOKEN, req); break;
    case OP_BYE: bytes = encode(TO_HUB_BYE); break;
    case OP_SUBSCRIBE: remember(k.subs_, a, 1); bytes = encode(TO_HUB_SUBSCRIBE, a); break;
    case OP_UNSUBSCRIBE: remember(k.subs_, a, 0); bytes = encode(TO_HUB_UNSUBSCRIBE, a); break;
    case OP_JOIN: remember(k.rooms_, a, 1); bytes = encode(TO_HUB_JOIN, req, a); break;
    case OP_LEAVE: remember(k.rooms_, a, 0); bytes = encode(TO_HUB_LEAVE, req, a); break;
    case OP_REPLY: bytes = encode(TO_HUB_REPLY, token, a, bins); break;
    // Level and scope in `token`; the term in decimal digits from our own JS.
    case OP_PRIORITY: bytes = encode(TO_HUB_PRIORITY, token & 3, (token >> 2) & 1, +text(a) || 0); break;
    case OP_EMIT_TO: {
      const [room, event] = text(a).split('\0');
      bytes = encode(TO_HUB_EMIT_TO, (durable = seq()), room, event ?? '', b, bins);
      break;
    }
    case OP_EMIT: case OP_EMIT_VOLATILE: case OP_EMIT_ACK: { // durable: no ack, not volatile
      const s = seq();
      if (kind == OP_EMIT) durable = s;
      bytes = encode(TO_HUB_EMIT, s, a, b, bins, kind == OP_EMIT_ACK ? [req, k.ackTimeout_] : null, kind == OP_EMIT_VOLATILE);
      break;
    }
    case OP_ATTACH: case OP_RESTART: // Hello, subscriptions, rooms; a restart: then unconfirmed emits
      post(k.hello_);
      k.subs_.forEach((e) => post(encode(TO_HUB_SUBSCRIBE, e)));
      k.rooms_.forEach((r) => post(encode(TO_HUB_JOIN, 0, r)));
      if (kind == OP_RESTART) k.outbox_.forEach(([, bytes]) => post(bytes));
      return 0;
    default: return k.outbox_.length; // OP_COUNT
  }
  if (durable !== undefined) k.outbox_.push([durable, bytes]);
  post(bytes);
  if (kind == OP_JOIN || kind == OP_LEAVE) {
    k.rooms_.forEach((r) => h(c, REPORT_ITEM, 0, 1, r, ''));
    h(c, REPORT_ROOMS, 0, 0, '', '');
  }
  return req;
}

export function recv(c, data) {
  const k = cores[c];
  if (!k) return;
  const call = (kind, n, m, a = '', b = '') => h(c, kind, n, m, a, b);
  // Each message is read whole before it is delivered, as the Rust core does (a handler may
  // call back into the core).
  for (let at = 0, msg; at < data.length; deliver(k, call, msg)) {
    try {
      [msg, at] = decodeFromHub(data, at);
    } catch {
      return call(REPORT_WARN, 0, 0, MALFORMED);
    }
  }
}

// One message from the hub (`[kind, ...fields]`, see protocol.js) as reports.
function deliver(k, call, [kind, x, y, z, w, v]) {
  const item = (s) => call(REPORT_ITEM, 0, s == null ? 2 : 1, s ?? '');
  const number = (n) => call(REPORT_ITEM, n ?? NaN, 0);
  const bins = (list) => list.forEach((b) => call(REPORT_BIN, 0, 0, b));
  switch (kind) {
    case FROM_HUB_WELCOME: case FROM_HUB_STATUS: { // Welcome { version, status }, Status(status)
      // Reconnecting { attempt, delay, reason }; Connected { sid }; Disconnected, Failed { reason }
      const [s, sid, delay, reason] = kind == FROM_HUB_WELCOME ? y : x, again = s == STATUS_RECONNECTING;
      call(REPORT_STATUS, again ? sid : 0, again ? delay : 0, STATUS_NAMES[s], (again ? reason : sid) ?? '');
      if (kind == FROM_HUB_WELCOME) call(REPORT_WELCOME, 0, 0);
      break;
    }
    case FROM_HUB_EVENT: // event, room, args, bins, reply
      bins(w);
      call(REPORT_EVENT, v ?? NaN, 0, x, z);
      break;
    case FROM_HUB_ACK: // id, args, bins
      bins(z);
      call(REPORT_ACK, x, 0, y);
      break;
    case FROM_HUB_DONE: // req, error
      if (y == null) {
        call(REPORT_OK, x, 0);
        break;
      }
    // falls through: a refusal
    case FROM_HUB_ACK_FAILED: call(REPORT_FAIL, x, 0, y); break; // id, reason
    case FROM_HUB_TABS: x.forEach(item); call(REPORT_TABS, 0, 0); break;
    case FROM_HUB_STORED: case FROM_HUB_REFUSED: // seq (, reason)
      k.outbox_ = k.outbox_.filter(([s]) => s != x);
      if (kind == FROM_HUB_REFUSED) call(REPORT_WARN, 0, 0, 'emit refused: ', y);
      break;
    case FROM_HUB_CLOCK: call(REPORT_CLOCK, x, 0); break; // offset, rtt
    case FROM_HUB_RECOVERED: call(REPORT_RECOVERED, x, 0); break;
    case FROM_HUB_AUTH: { // AuthState: user, expiresAt, error, signedOut, telemetry
      const [user, expires, error, out, [refreshes, last, max, total, failures, signOuts]] = x;
      [user, error, out].forEach(item);
      [expires, refreshes, last, max, total].forEach(number);
      [...failures, ...signOuts].forEach(([name, n]) => (item(name), number(n)));
      call(REPORT_AUTH, failures.length, 0);
      break;
    }
    case FROM_HUB_TOKEN: // req, token, error
      y != null ? call(REPORT_OK, x, 1, y) : call(REPORT_FAIL, x, 0, z ?? 'no token');
      break;
    case FROM_HUB_ERROR: call(REPORT_ERROR, x[0], 0, y); // [code], message
  }
}
