// The page's protocol core in JS, for the JS bundle: what `Core` in src/lib.rs does for Rust
// front ends, with the same entry points (`create`, `op`, `bin`, `recv`) and the same reports
// through `h`. It keeps what a tab must tell a hub to attach (again) — Hello, subscriptions,
// rooms, the durable emits the hub has not confirmed (switchboard_shared::page) — and writes
// and reads postcard's wire format for the page's two directions (switchboard_shared::wire:
// varints, length-prefixed strings, 0/1 options, variant index then fields). A tab loads no
// wasm. page-client/tests/js_core.rs holds it to the Rust codec's bytes, both ways.

// Where reports go: the client's `h` (connect.js sets it).
let h;
export const host = (f) => (h = f);

// Options::default() (a test checks): reconnection, reconnectionDelay, reconnectionDelayMax,
// timeout, maxQueue, maxQueueBytes, bearer, ackTimeout, randomizationFactor, maxQueueAge.
const DEFAULTS = [1, 1000, 5000, 20000, 0, 0, 0, 10000, 0.5, 0, 0];
const PROTOCOL_VERSION = 5;
const MAX_PORT_MESSAGE = 16777216;
const STATUS = ['connecting', 'connected', 'offline', 'reconnecting', 'disconnected', 'failed'];
const ERROR_CODES = 7; // ErrorCode::ALL.len()
const MALFORMED = 'malformed message from the hub';
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const text = ((loose) => (bytes) => loose.decode(bytes))(new TextDecoder()); // the page's own UTF-8
const cores = [];

// Writer: bytes into a growing array.
const writer = () => {
  const out = [];
  const w = {
    out,
    u: (v) => {
      for (; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
      out.push(v);
      return w;
    },
    b: (bytes) => (w.u(bytes.length), bytes.forEach((x) => out.push(x)), w),
    o: (bytes) => (bytes ? (out.push(1), w.b(bytes)) : out.push(0), w),
    bins: (list) => (w.u(list.length), list.forEach(w.b), w),
  };
  return w;
};

export function create(strs, n) {
  const [tab, url, path, namespace, query, auth] = dec.decode(strs).split('\0');
  // NaN means absent (the default stays); whole numbers saturate as Rust's `as` casts do.
  const v = DEFAULTS.map((d, i) =>
    n[i] == n[i] ? (i == 8 ? n[i] : Math.min(i == 9 ? 2 ** 53 - 1 : 4294967295, Math.max(0, Math.trunc(n[i])))) : d,
  );
  const f32 = new Uint8Array(new Float32Array([v[8]]).buffer);
  const hello = writer().u(0).u(PROTOCOL_VERSION);
  [tab, url, path, namespace, query].forEach((s) => hello.b(enc.encode(s)));
  hello.o(auth && enc.encode(auth));
  hello.out.push(+!!v[0]);
  hello.u(v[1]).u(v[2]);
  hello.out.push(...f32);
  hello.u(v[3]).u(v[4]).u(v[5]).u(v[9]);
  hello.out.push(+!!v[6]);
  hello.u(v[10]);
  cores.push({ hello: new Uint8Array(hello.out), subs: [], rooms: [], seq: 0, req: 0, outbox: [], bins: [], ackTimeout: v[7] });
  return cores.length - 1;
}

export function bin(c, bytes) {
  cores[c]?.bins.push(bytes.slice());
}

// ToHub variant indexes: Hello 0, Subscribe 1, Unsubscribe 2, Emit 3, Reply 4, Join 5,
// Leave 6, Bye 7, Login 8, Logout 9, Refresh 10, Token 11, Priority 12, EmitTo 13.
export function op(c, kind, token, a, b) {
  const k = cores[c];
  if (!k) return 0;
  const bins = k.bins;
  k.bins = [];
  // The client copies what it posts (a transfer detaches it), so stored bytes stay whole.
  const post = (bytes) => h(c, 0, 0, 0, bytes, '');
  const remember = (list, name, on) => {
    const s = text(name), i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (on) list.push(s);
  };
  const req = [0, 1, 2, 3, 7, 8, 14].includes(kind) ? (k.req = (k.req + 1) % 4294967296 || 1) : 0;
  let w, durable;
  const seq = () => ((w = k.seq), (k.seq = (k.seq + 1) % 4294967296), w);
  switch (kind) {
    case 0: w = writer().u(8).u(req).b(a).b(b); break; // Login
    case 1: case 2: case 3: w = writer().u(kind + 8).u(req); break; // Logout, Refresh, Token
    case 4: w = writer().u(7); break; // Bye
    case 5: case 6: remember(k.subs, a, kind == 5); w = writer().u(kind - 4).b(a); break; // (Un)Subscribe
    case 7: case 8: remember(k.rooms, a, kind == 7); w = writer().u(kind - 2).u(req).b(a); break; // Join, Leave
    case 11: w = writer().u(4).u(token).b(a).bins(bins); break; // Reply
    case 16: { // Priority: level, scope, term (decimal digits from our own JS)
      w = writer().u(12);
      w.out.push(token & 3, (token >> 2) & 1);
      w.u(+text(a) || 0);
      break;
    }
    case 17: { // EmitTo: room NUL event
      const [room, event] = text(a).split('\0');
      durable = seq();
      w = writer().u(13).u(durable).b(enc.encode(room)).b(enc.encode(event ?? '')).b(b).bins(bins);
      break;
    }
    case 12: case 13: case 14: { // Emit: durable without an ack and not volatile
      const s = seq();
      if (kind == 12) durable = s;
      w = writer().u(3).u(s).b(a).b(b).bins(bins);
      if (kind == 14) w.out.push(1), w.u(req).u(k.ackTimeout);
      else w.out.push(0);
      w.out.push(+(kind == 13));
      break;
    }
    case 9: case 10: { // Attach: Hello, subscriptions, rooms; Restart: then unconfirmed emits
      post(k.hello);
      k.subs.forEach((e) => post(new Uint8Array(writer().u(1).b(enc.encode(e)).out)));
      k.rooms.forEach((r) => post(new Uint8Array(writer().u(5).u(0).b(enc.encode(r)).out)));
      if (kind == 10) k.outbox.forEach(([, bytes]) => post(bytes));
      return 0;
    }
    default: return k.outbox.length; // Count
  }
  const bytes = new Uint8Array(w.out);
  if (durable !== undefined) k.outbox.push([durable, bytes]);
  post(bytes);
  if (kind == 7 || kind == 8) {
    k.rooms.forEach((r) => h(c, 14, 0, 1, r, ''));
    h(c, 15, 0, 0, '', '');
  }
  return req;
}

// The reader: over `buf` from `at`; throws on anything postcard would refuse (wire::Reader).
let buf, at;
const byte = () => {
  if (at >= buf.length) throw 0;
  return buf[at++];
};
// A varint of at most `bits` bits, checked as postcard checks it.
const u = (bits = 32) => {
  const max = Math.ceil(bits / 7);
  for (let i = 0, out = 0, scale = 1; i < max; i++, scale *= 128) {
    const b = byte();
    out += (b & 127) * scale;
    if (b < 128) {
      if (i == max - 1 && b >= 1 << bits % 7) break;
      return out;
    }
  }
  throw 0;
};
const flag = () => {
  const b = byte();
  if (b > 1) throw 0;
  return b;
};
const len = () => {
  const n = u();
  if (n > buf.length - at) throw 0;
  return n;
};
const bytes = () => {
  const n = len();
  return buf.subarray(at, (at += n));
};
// Strings are decoded here, once (UTF-8 checked; the client takes text as it comes).
const str = () => dec.decode(bytes());
const opt = () => (flag() ? str() : null);
const list = (item) => {
  const out = [];
  for (let n = len(); n--; ) out.push(item());
  return out;
};
const status = () => {
  const kind = u();
  const s = { kind, text: '', attempt: 0, delay: 0 };
  if (kind == 1 || kind == 4 || kind == 5) s.text = str();
  else if (kind == 3) (s.attempt = u()), (s.delay = u()), (s.text = str());
  else if (kind > 5) throw 0;
  return s;
};

export function recv(c, data) {
  const k = cores[c];
  if (!k) return;
  const call = (kind, n, m, a = '', b = '') => h(c, kind, n, m, a, b);
  const item = (s) => call(14, 0, s == null ? 2 : 1, s ?? '');
  const number = (n) => call(14, n, 0);
  if (data.length > MAX_PORT_MESSAGE) return call(12, 0, 0, MALFORMED);
  // Each message is read whole before it is delivered, as the Rust core does (a handler may
  // call back into the core: the reader's place is kept here meanwhile).
  for (let next = 0; next < data.length; ) {
    buf = data;
    at = next;
    let deliver;
    try {
      const variant = u();
      switch (variant) {
        case 0: case 1: { // Welcome (version, status), Status
          if (!variant) u(16);
          const s = status();
          deliver = () => {
            call(6, s.attempt, s.delay, STATUS[s.kind], s.text);
            if (!variant) call(7, 0, 0);
          };
          break;
        }
        case 2: { // Event: event, room, args, bins, reply
          const event = str();
          opt();
          const args = str(), bins = list(bytes), reply = flag() ? u() : NaN;
          deliver = () => (bins.forEach((b) => call(1, 0, 0, b)), call(2, reply, 0, event, args));
          break;
        }
        case 3: { // Ack: id, args, bins
          const id = u(), args = str(), bins = list(bytes);
          deliver = () => (bins.forEach((b) => call(1, 0, 0, b)), call(3, id, 0, args));
          break;
        }
        case 4: { // AckFailed: id, reason
          const id = u(), reason = str();
          deliver = () => call(4, id, 0, reason);
          break;
        }
        case 5: { // Done: req, error
          const req = u(), error = opt();
          deliver = () => (error != null ? call(4, req, 0, error) : call(5, req, 0));
          break;
        }
        case 6: { // Tabs
          const tabs = list(str);
          deliver = () => (tabs.forEach(item), call(8, 0, 0));
          break;
        }
        case 7: case 8: { // Stored: seq; Refused: seq, reason
          const seq = u(), reason = variant == 8 && str();
          k.outbox = k.outbox.filter(([s]) => s != seq);
          deliver = () => variant == 8 && call(12, 0, 0, 'an emit was refused: ', reason);
          break;
        }
        case 9: { // Clock: zigzag offset, rtt
          const z = u(64);
          u();
          deliver = () => call(10, z % 2 ? -(z + 1) / 2 : z / 2, 0);
          break;
        }
        case 10: { // Recovered
          const rec = flag();
          deliver = () => call(11, rec, 0);
          break;
        }
        case 11: { // Auth
          const user = opt(), expires = flag() ? u(64) : NaN, error = opt(), out = opt();
          const nums = [u(), u(), u(), u(64)];
          const count = () => [str(), u()];
          const failures = list(count), signOuts = list(count);
          deliver = () => {
            [user, error, out].forEach(item);
            [expires, ...nums].forEach(number);
            [...failures, ...signOuts].forEach(([name, n]) => (item(name), number(n)));
            call(9, failures.length, 0);
          };
          break;
        }
        case 12: { // Token: req, token, error
          const req = u(), token = opt(), error = opt();
          deliver = () => (token != null ? call(5, req, 1, token) : call(4, req, 0, error ?? 'no token'));
          break;
        }
        case 13: { // Error: code, message
          const code = u();
          if (code >= ERROR_CODES) throw 0;
          const message = str();
          deliver = () => call(13, code, 0, message);
          break;
        }
        default: throw 0;
      }
    } catch {
      return call(12, 0, 0, MALFORMED);
    }
    next = at;
    deliver();
  }
}
