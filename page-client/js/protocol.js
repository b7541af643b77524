// Generated from shared/src/protocol.rs (the page⇄hub protocol table) by shared/codegen.rs: do not edit.
// The constants come first: a bundler inlines them only above the first statement with
// effects.
export const PROTOCOL_VERSION = 5, MAX_PORT_MESSAGE = 16777216, ACK_TIMEOUT_MS = 10000, LEADER_BEAT_MS = 1000, LEADER_LEASE_MS = 3000, LEADER_SILENCE_MS = 5000;
export const WORKER_NAME = 'switchboard-v5',
  HUB_LOCK = 'switchboard-hub-v5',
  TAB_LOCK_PREFIX = 'switchboard-tab-',
  LEADER_LOCK = 'switchboard-leader-v5',
  LEADER_CHANNEL = 'switchboard-v5',
  EPOCH_DB = 'switchboard-epoch',
  AUTH_CHANNEL = 'switchboard-auth-v5',
  PER_TAB_DB_PREFIX = 'switchboard-queue-',
  DB_NAME = 'switchboard',
  DB_STORE = 'queue',
  ANY_EVENT = 'sb:any',
  HUB_PING = 'sb:ping',
  HUB_LOST = 'sb:lost',
  HUB_DROP = 'sb:drop',
  LEADER_EVENT = 'sb:leader',
  LEAD = 'sb:lead',
  MEMBERS = 'sb:members',
  ASSIGNED = 'sb:rooms';
// protocol::OPS
export const OP_LOGIN = 0, OP_LOGOUT = 1, OP_REFRESH = 2, OP_TOKEN = 3, OP_BYE = 4, OP_SUBSCRIBE = 5, OP_UNSUBSCRIBE = 6, OP_JOIN = 7, OP_LEAVE = 8, OP_ATTACH = 9, OP_RESTART = 10, OP_REPLY = 11, OP_EMIT = 12, OP_EMIT_VOLATILE = 13, OP_EMIT_ACK = 14, OP_COUNT = 15, OP_PRIORITY = 16, OP_EMIT_TO = 17;
// protocol::REPORTS
export const REPORT_POST = 0, REPORT_BIN = 1, REPORT_EVENT = 2, REPORT_ACK = 3, REPORT_FAIL = 4, REPORT_OK = 5, REPORT_STATUS = 6, REPORT_WELCOME = 7, REPORT_TABS = 8, REPORT_AUTH = 9, REPORT_CLOCK = 10, REPORT_RECOVERED = 11, REPORT_WARN = 12, REPORT_ERROR = 13, REPORT_ITEM = 14, REPORT_ROOMS = 15;
// ToHub kinds
export const TO_HUB_HELLO = 0, TO_HUB_SUBSCRIBE = 1, TO_HUB_UNSUBSCRIBE = 2, TO_HUB_EMIT = 3, TO_HUB_REPLY = 4, TO_HUB_JOIN = 5, TO_HUB_LEAVE = 6, TO_HUB_BYE = 7, TO_HUB_LOGIN = 8, TO_HUB_LOGOUT = 9, TO_HUB_REFRESH = 10, TO_HUB_TOKEN = 11, TO_HUB_PRIORITY = 12, TO_HUB_EMIT_TO = 13;
// FromHub kinds
export const FROM_HUB_WELCOME = 0, FROM_HUB_STATUS = 1, FROM_HUB_EVENT = 2, FROM_HUB_ACK = 3, FROM_HUB_ACK_FAILED = 4, FROM_HUB_DONE = 5, FROM_HUB_TABS = 6, FROM_HUB_STORED = 7, FROM_HUB_REFUSED = 8, FROM_HUB_CLOCK = 9, FROM_HUB_RECOVERED = 10, FROM_HUB_AUTH = 11, FROM_HUB_TOKEN = 12, FROM_HUB_ERROR = 13;
// ErrorCode kinds
export const ERROR_BAD_MESSAGE = 0, ERROR_VERSION_MISMATCH = 1, ERROR_OUT_OF_ORDER = 2, ERROR_BAD_PAYLOAD = 3, ERROR_BAD_ENDPOINT = 4, ERROR_BUFFER_FULL = 5, ERROR_NOT_ATTACHED = 6;
// Status kinds
export const STATUS_CONNECTING = 0, STATUS_CONNECTED = 1, STATUS_OFFLINE = 2, STATUS_RECONNECTING = 3, STATUS_DISCONNECTED = 4, STATUS_FAILED = 5;
export const OPTIONS_FIELDS = 10;
// UTF-8 both ways (`dec` refuses what is not UTF-8), for the page client too.
export const enc = /* @__PURE__ */ new TextEncoder();
export const dec = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });
// A whole number from `x` (NaN: `d`), saturated into 0..=max as Rust's `as` casts do.
export const whole = (x, d, max = 4294967295) => (x == x ? Math.min(max, Math.max(0, Math.trunc(x))) : d);
// The descriptor being walked and the place in it; the bytes written; the bytes read and
// the place in them.
let desc, i, out, buf, at;
// Runs `f` over each type of descriptor `d`, then returns to the place it came from.
const walk = (d, f) => {
  const outer = desc, place = i;
  for (desc = d, i = 0; i < desc.length; ) f();
  desc = outer;
  i = place;
};
const u = (v) => {
  for (; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
  out.push(v);
};
// Writes `x` as the type at `desc[i]`. Text is a string or its UTF-8 bytes; a struct is an
// array of its fields.
const put = (x) => {
  const c = desc[i++], t = TYPES[c];
  if (t) {
    let j = 0;
    walk(t, () => put(x[j++]));
  } else if (c == 'o') x == null ? (out.push(0), i++) : (out.push(1), put(x));
  else if (c == 'l') {
    u(x.length);
    for (const e of x) put(e), i--;
    i++;
  } else if (c == 'b') out.push(x);
  else if (c == '?') out.push(+!!x);
  else if (c == 'f') out.push(...new Uint8Array(new Float32Array([x]).buffer));
  else if (c == 's' || c == 'y') {
    if (typeof x == 'string') x = enc.encode(x);
    u(x.length);
    for (const b of x) out.push(b);
  } else u(x);
};
// The bytes of ToHub message `kind` (TO_HUB_*), its fields in table order.
export const encode = (kind, ...fields) => {
  let j = 0;
  out = [];
  u(kind);
  walk(TO_HUB[kind], () => put(fields[j++]));
  return new Uint8Array(out);
};
const next = () => {
  if (at >= buf.length) throw 0;
  return buf[at++];
};
// A varint of at most `bits` bits, checked as postcard checks it.
const take = (bits) => {
  const max = Math.ceil(bits / 7);
  for (let n = 0, v = 0, scale = 1; n < max; n++, scale *= 128) {
    const b = next();
    v += (b & 127) * scale;
    if (b < 128) {
      if (n == max - 1 && b >= 1 << bits % 7) break;
      return v;
    }
  }
  throw 0;
};
const flag = () => {
  const b = next();
  if (b > 1) throw 0;
  return b;
};
// A length: every element takes a byte at least, so a longer one is a lie.
const len = () => {
  const n = take(32);
  if (n > buf.length - at) throw 0;
  return n;
};
// Reads the type at `desc[i]`: a struct as an array of its fields, an enum as
// [kind, ...fields].
const get = () => {
  const c = desc[i++], v = [];
  let t = TYPES[c];
  if (t) {
    // An enum: its kind, then that variant's fields (an unknown kind's throw in `walk`).
    if (t.map) v.push(take(32)), (t = t[v[0]]);
    walk(t, () => v.push(get()));
    return v;
  }
  if (c == 'o') return flag() ? get() : (i++, null);
  if (c == 'l') {
    for (let n = len(); n--; i--) v.push(get());
    i++;
    return v;
  }
  if (c == '?') return flag();
  if (c == 'z') {
    const z = take(64);
    return z % 2 ? -(z + 1) / 2 : z / 2;
  }
  if (c == 's' || c == 'y') {
    const n = len(), b = buf.subarray(at, (at += n));
    return c == 's' ? dec.decode(b) : b;
  }
  return take(c == 'w' ? 16 : c == 'u' ? 32 : 64);
};
// One FromHub message of `bytes` from `from`: [[kind, ...fields], the index after it].
// Throws on anything postcard would refuse, and on a port message over MAX_PORT_MESSAGE.
export const decodeFromHub = (bytes, from) => {
  if (bytes.length > MAX_PORT_MESSAGE) throw 0;
  buf = bytes;
  at = from;
  desc = '0'; // FromHub
  i = 0;
  return [get(), at];
};
export const STATUS_NAMES = ['connecting', 'connected', 'offline', 'reconnecting', 'disconnected', 'failed'];
// Each message's fields as descriptor characters (protocol::Ty): b u8, w u16, u u32, U u64,
// z i64, f f32, ? bool, s text, y bytes, o<T> optional (null), l<T> a list, a digit: the
// composite type TYPES[digit] (a struct or a pair as an array of its fields, an enum as
// [kind, ...fields]).
const TO_HUB = [
  'ws6os7', // 0 Hello { version: u16, tab: String, endpoint: Endpoint, auth: Option<String>, options: Options }
  's', // 1 Subscribe { event: String }
  's', // 2 Unsubscribe { event: String }
  'usslyo8?', // 3 Emit { seq: u32, event: String, args: String, bins: Vec<Bytes>, ack: Option<AckRequest>, volatile: bool }
  'usly', // 4 Reply { token: u32, args: String, bins: Vec<Bytes> }
  'us', // 5 Join { req: u32, room: String }
  'us', // 6 Leave { req: u32, room: String }
  '', // 7 Bye
  'uss', // 8 Login { req: u32, username: String, password: String }
  'u', // 9 Logout { req: u32 }
  'u', // 10 Refresh { req: u32 }
  'u', // 11 Token { req: u32 }
  'bbU', // 12 Priority { level: u8, scope: u8, term: u64 }
  'usssly', // 13 EmitTo { seq: u32, room: String, event: String, args: String, bins: Vec<Bytes> }
];
const TYPES = [
  [ // 0: FromHub, [kind, ...fields]
    'w1', // 0 Welcome { version: u16, status: Status }
    '1', // 1 Status { 0: Status }
    'sosslyou', // 2 Event { event: String, room: Option<String>, args: String, bins: Vec<Bytes>, reply: Option<u32> }
    'usly', // 3 Ack { id: u32, args: String, bins: Vec<Bytes> }
    'us', // 4 AckFailed { id: u32, reason: String }
    'uos', // 5 Done { req: u32, error: Option<String> }
    'ls', // 6 Tabs { tabs: Vec<String> }
    'u', // 7 Stored { seq: u32 }
    'us', // 8 Refused { seq: u32, reason: String }
    'zu', // 9 Clock { offsetMs: i64, rttMs: u32 }
    '?', // 10 Recovered { recovered: bool }
    '2', // 11 Auth { 0: AuthState }
    'uosos', // 12 Token { req: u32, token: Option<String>, error: Option<String> }
    '5s', // 13 Error { code: ErrorCode, message: String }
  ],
  [ // 1: Status, [kind, ...fields]
    '', // 0 Connecting
    's', // 1 Connected { sid: String }
    '', // 2 Offline
    'uus', // 3 Reconnecting { attempt: u32, delayMs: u32, reason: String }
    's', // 4 Disconnected { reason: String }
    's', // 5 Failed { reason: String }
  ],
  'osoUosos3', // 2: AuthState [user: Option<String>, expiresAt: Option<u64>, error: Option<String>, signedOut: Option<String>, telemetry: AuthTelemetry]
  'uuuUl4l4', // 3: AuthTelemetry [refreshes: u32, lastMs: u32, maxMs: u32, totalMs: u64, failures: Vec<(String, u32)>, signOuts: Vec<(String, u32)>]
  'su', // 4: the pair (su)
  [ // 5: ErrorCode, [kind, ...fields]
    '', // 0 BadMessage
    '', // 1 VersionMismatch
    '', // 2 OutOfOrder
    '', // 3 BadPayload
    '', // 4 BadEndpoint
    '', // 5 BufferFull
    '', // 6 NotAttached
  ],
  'ssss', // 6: Endpoint [url: String, path: String, namespace: String, query: String]
  '?uufuuuU?u', // 7: Options [reconnection: bool, reconnectionDelayMs: u32, reconnectionDelayMaxMs: u32, randomizationFactor: f32, timeoutMs: u32, maxQueue: u32, maxQueueBytes: u32, maxQueueAgeMs: u64, bearer: bool, reconnectionAttempts: u32]
  'uu', // 8: AckRequest [id: u32, timeoutMs: u32]
];
// Options from numbers in field order (TYPES[7]): NaN keeps the default, whole numbers
// saturate (Options::from_numbers).
const OPTIONS_DEFAULTS = [true, 1000, 5000, 0.5, 20000, 0, 0, 0, false, 0];
export const optionsOf = (n) =>
  OPTIONS_DEFAULTS.map((d, j, c) => ((c = TYPES[7][j]), n[j] != n[j] ? d : c == '?' ? +!!n[j] : c == 'f' ? n[j] : whole(n[j], d, c == 'U' ? 2 ** 53 - 1 : undefined)));
// A ToHub Hello's first fields, [version, tab, endpoint, auth] (the endpoint as [url, path, namespace, query];
// no auth: undefined): the hub's bootstrap opens the WebSocket and sends the CONNECT
// from them while the wasm loads. Throws on
// anything else. (Array elements are read in order.)
export const decodeHelloHead = (bytes) => {
  const text = (n = len()) => dec.decode(buf.subarray(at, (at += n)));
  buf = bytes;
  at = 0;
  if (take(32) != TO_HUB_HELLO) throw 0;
  return [
    take(16),
    text(),
    [text(), text(), text(), text()],
    (take(8) ? text() : undefined),
  ];
};
