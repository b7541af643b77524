//! The page⇄hub protocol, written once: every message a tab and its hub exchange over a
//! MessagePort, with its kind number, its fields and their types, the types those fields use,
//! the page core's own interface (the ops a JS client asks of its core and the reports it
//! gets back), and the browser-side names both ends spell. Start here to change the protocol.
//!
//! This file is data, and self-contained (no `crate::` paths) so that the build scripts read
//! it too (`#[path]`): `shared/build.rs` generates the Rust types of `port` and their
//! postcard codec (`wire`) from it, and the root `build.rs` generates `protocol.js`, the
//! named constants and codec functions the JS page client imports. Adding a message is one
//! entry in [`TO_HUB`] or [`FROM_HUB`] plus its handling at both ends; the property tests
//! (`shared/tests/props.rs`) hold the generated Rust codec to postcard for every message, and
//! `page-client/tests/js_core.rs` the generated JS codec to the Rust one.
//!
//! The wire format is postcard's: unsigned integers are LEB128 varints (`u8` is one raw
//! byte), `i64` zigzag then varint, `f32` 4 little-endian bytes, `bool` one byte 0/1, an
//! option a 0/1 tag then the value, strings, byte strings and lists a varint length then
//! their contents, an enum variant its index (the `kind` here, which must equal its
//! position) then its fields in order, a struct its fields in order.
//! Invariant: `ToHub::Hello` is kind 0 and starts with the protocol version, so a hub can
//! always read the version of a page built from another release and refuse it clearly.

#![allow(dead_code)]

/// Bumped on any incompatible change of the types below. Also part of the worker's name, so
/// pages of a new deploy get a new SharedWorker rather than talking to an old one.
pub const PROTOCOL_VERSION: u16 = 5;

/// Largest port message either side accepts (and the largest payload a tab may emit).
pub const MAX_PORT_MESSAGE: usize = 16 << 20;

/// Layout version of a stored emit record ([`STORED_EMIT`]).
pub const STORE_VERSION: u16 = 1;

/// A field's type on the wire (and in Rust and JS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    U8,
    U16,
    U32,
    U64,
    I64,
    F32,
    Bool,
    /// UTF-8 text: `String` in Rust, a string in JS.
    Str,
    /// Binary data: `Bytes` in Rust, a `Uint8Array` in JS.
    Bytes,
    Opt(&'static Ty),
    List(&'static Ty),
    Pair(&'static Ty, &'static Ty),
    /// One of [`TYPES`], by name.
    Named(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// `"0"`: the one field of a tuple variant.
    pub name: &'static str,
    pub ty: Ty,
    pub doc: &'static str,
    /// The default value (a literal valid in Rust and JS), for structs with a `Default`.
    pub default: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Its index on the wire: its position in the list.
    pub kind: u32,
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Struct(&'static [Field]),
    Enum(&'static [Variant]),
}

#[derive(Debug, Clone, Copy)]
pub struct Type {
    pub name: &'static str,
    pub doc: &'static str,
    /// The Rust derives besides `Debug, Clone, PartialEq` (serde's are always there).
    pub derive: &'static str,
    pub shape: Shape,
}

const fn f(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { name, ty, doc, default: "" }
}

/// A field with a default value.
const fn d(name: &'static str, ty: Ty, default: &'static str, doc: &'static str) -> Field {
    Field { name, ty, doc, default }
}

const fn v(kind: u32, name: &'static str, doc: &'static str, fields: &'static [Field]) -> Variant {
    Variant { kind, name, doc, fields }
}

use Ty::{Bool, Bytes, Named, Opt, Pair, Str, F32, I64, U16, U32, U64, U8};

const BINS: Ty = Ty::List(&Bytes);
const OPT_STR: Ty = Opt(&Str);
const COUNTS: Ty = Ty::List(&Pair(&Str, &U32));

/// Messages from a tab to its hub.
pub const TO_HUB: Type = Type {
    name: "ToHub",
    doc: "What a tab tells its hub.",
    derive: "",
    shape: Shape::Enum(&[
        v(
            0,
            "Hello",
            "First message on a port. `tab` is the page's id, also the name of the Web Lock it holds\nfor its lifetime. `auth` is the JSON text of the CONNECT auth payload, if any.",
            &[
                f("version", U16, ""),
                f("tab", Str, ""),
                f("endpoint", Named("Endpoint"), ""),
                f("auth", OPT_STR, ""),
                f("options", Named("Options"), ""),
            ],
        ),
        v(1, "Subscribe", "", &[f("event", Str, "")]),
        v(2, "Unsubscribe", "", &[f("event", Str, "")]),
        v(
            3,
            "Emit",
            "`args` is the JSON array text of the arguments with binary parts replaced by\n`{\"_placeholder\":true,\"num\":i}`; `bins[i]` holds them.\n`seq` numbers a tab's emits. A durable emit (no `ack`, not `volatile`) is kept by the\npage until the hub answers `Stored { seq }`, and sent again to a restarted hub; its\nid `{tab}-{seq}` lets the hub and the server drop the duplicate. A volatile emit is\ndropped when not connected, as in Socket.IO.",
            &[
                f("seq", U32, ""),
                f("event", Str, ""),
                f("args", Str, ""),
                f("bins", BINS, ""),
                f("ack", Opt(&Named("AckRequest")), ""),
                f("volatile", Bool, ""),
            ],
        ),
        v(
            4,
            "Reply",
            "Reply to an event the server sent with an ack id (`Event::reply`).",
            &[f("token", U32, ""), f("args", Str, ""), f("bins", BINS, "")],
        ),
        v(5, "Join", "", &[f("req", U32, ""), f("room", Str, "")]),
        v(6, "Leave", "", &[f("req", U32, ""), f("room", Str, "")]),
        v(7, "Bye", "The tab is going away (pagehide, close()).", &[]),
        v(
            8,
            "Login",
            "Sign in with the server's `POST {auth}/login`; answered by `Done { req }`.",
            &[f("req", U32, ""), f("username", Str, ""), f("password", Str, "")],
        ),
        v(9, "Logout", "Sign out every tab (`POST {auth}/logout`); answered by `Done { req }`.", &[f("req", U32, "")]),
        v(10, "Refresh", "Ask for a token refresh; however many tabs ask, the hub refreshes once.", &[f("req", U32, "")]),
        v(
            11,
            "Token",
            "Bearer mode: ask for the access token (`FromHub::Token`), refreshed first if needed.",
            &[f("req", U32, "")],
        ),
        v(
            12,
            "Priority",
            "The tab's priority for leader election: its Page Lifecycle level (`hub::election`\nFROZEN..ACTIVE), the scope it takes part in (0 `browser`, 1 `user`) and the highest\nterm it was told (so a new hub's terms continue above it). The hub takes the time it\narrives as the tab's latest activity; a tab is a candidate from its first report.",
            &[f("level", U8, ""), f("scope", U8, ""), f("term", U64, "")],
        ),
        v(
            13,
            "EmitTo",
            "A durable emit to the other members of `room` (the tab must be one), through the\nserver (`sb:to`); numbered and confirmed like a durable `Emit`.",
            &[f("seq", U32, ""), f("room", Str, ""), f("event", Str, ""), f("args", Str, ""), f("bins", BINS, "")],
        ),
    ]),
};

/// Messages from a hub to a tab.
pub const FROM_HUB: Type = Type {
    name: "FromHub",
    doc: "What a hub tells a tab.",
    derive: "",
    shape: Shape::Enum(&[
        v(0, "Welcome", "", &[f("version", U16, ""), f("status", Named("Status"), "")]),
        v(1, "Status", "", &[f("0", Named("Status"), "")]),
        v(
            2,
            "Event",
            "An event from the server. `room` is set when the server addressed it to a room (only\ntabs in that room receive it). `reply` is set when the server asked for an ack.",
            &[
                f("event", Str, ""),
                f("room", OPT_STR, ""),
                f("args", Str, ""),
                f("bins", BINS, ""),
                f("reply", Opt(&U32), ""),
            ],
        ),
        v(3, "Ack", "", &[f("id", U32, ""), f("args", Str, ""), f("bins", BINS, "")]),
        v(4, "AckFailed", "", &[f("id", U32, ""), f("reason", Str, "")]),
        v(
            5,
            "Done",
            "Result of a request (Join, Leave, Login, ...): `error` is None on success.",
            &[f("req", U32, ""), f("error", OPT_STR, "")],
        ),
        v(6, "Tabs", "The ids of the tabs attached to this hub's endpoint.", &[f("tabs", Ty::List(&Str), "")]),
        v(
            7,
            "Stored",
            "The durable emit `seq` of this tab is safe with the hub (persisted, or delivered):\nthe page may forget it.",
            &[f("seq", U32, "")],
        ),
        v(
            8,
            "Refused",
            "The durable emit `seq` was not accepted (queue full, expired); the page drops it.",
            &[f("seq", U32, ""), f("reason", Str, "")],
        ),
        v(
            9,
            "Clock",
            "Server clock minus this browser's clock (ms), from the lowest-latency sample so far.",
            &[f("offset_ms", I64, ""), f("rtt_ms", U32, "")],
        ),
        v(
            10,
            "Recovered",
            "After a reconnection: whether the server replayed every numbered event sent while\nthe hub was away (`false`: some may be missing; resync from the source of truth).",
            &[f("recovered", Bool, "")],
        ),
        v(11, "Auth", "The sign-in state, shared by every tab (sent on change and on attach).", &[f("0", Named("AuthState"), "")]),
        v(
            12,
            "Token",
            "Bearer mode: the access token a tab asked for (`error` when there is none).",
            &[f("req", U32, ""), f("token", OPT_STR, ""), f("error", OPT_STR, "")],
        ),
        v(13, "Error", "", &[f("code", Named("ErrorCode"), ""), f("message", Str, "")]),
    ]),
};

pub const ENDPOINT: Type = Type {
    name: "Endpoint",
    doc: "Which server a client talks to. Tabs with equal endpoints (and auth) share one socket.",
    derive: "Eq, PartialOrd, Ord",
    shape: Shape::Struct(&[
        f("url", Str, "Origin of the server: `http(s)://host[:port]` or `ws(s)://host[:port]`."),
        f("path", Str, "Engine.IO path, `/socket.io` by default."),
        f("namespace", Str, "Socket.IO namespace, `/` by default."),
        f("query", Str, "Extra query string for the handshake request (without the leading `?`)."),
    ]),
};

pub const OPTIONS: Type = Type {
    name: "Options",
    doc: "Connection options of the first tab of an endpoint (later tabs share its socket).\nDefaults are socket.io-client's.",
    derive: "Copy",
    shape: Shape::Struct(&[
        d("reconnection", Bool, "true", ""),
        d("reconnection_delay_ms", U32, "1000", ""),
        d("reconnection_delay_max_ms", U32, "5000", ""),
        d("randomization_factor", F32, "0.5", ""),
        d("timeout_ms", U32, "20000", "Connection attempt timeout."),
        d(
            "max_queue",
            U32,
            "0",
            "Offline queue bounds: events, bytes, and age in ms (0: the hub's default,\n10,000 events, 32 MiB, 24 hours).",
        ),
        d("max_queue_bytes", U32, "0", ""),
        d("max_queue_age_ms", U64, "0", ""),
        d(
            "bearer",
            Bool,
            "false",
            "Bearer mode: the access token lives in the hub's memory (not a cookie), goes in the\nCONNECT auth payload, and is renewed on the open socket (`sb:auth`).",
        ),
        d("reconnection_attempts", U32, "0", "Failed attempts in a row before the hub gives up (status `failed`); 0: never."),
    ]),
};

pub const ACK_REQUEST: Type = Type {
    name: "AckRequest",
    doc: "The page waits for the server's ack `id` at most `timeout_ms`.",
    derive: "Copy, Eq",
    shape: Shape::Struct(&[f("id", U32, ""), f("timeout_ms", U32, "")]),
};

pub const STATUS: Type = Type {
    name: "Status",
    doc: "The connection's state, as every tab of the endpoint sees it. Pages name it by its\nvariant in lower case (`Status::name`, `STATUS_NAMES` in JS).",
    derive: "Eq",
    shape: Shape::Enum(&[
        v(0, "Connecting", "", &[]),
        v(1, "Connected", "", &[f("sid", Str, "")]),
        v(2, "Offline", "The browser reports no network; attempts resume when it returns.", &[]),
        v(
            3,
            "Reconnecting",
            "Waiting `delay_ms` before attempt number `attempt`; `reason`: why the last one failed\n(the server's refusal, an HTTP status, a timeout, an unreachable address).",
            &[f("attempt", U32, ""), f("delay_ms", U32, ""), f("reason", Str, "")],
        ),
        v(
            4,
            "Disconnected",
            "Not connected and not trying: the server refused or closed the session.",
            &[f("reason", Str, "")],
        ),
        v(
            5,
            "Failed",
            "`reconnectionAttempts` attempts in a row failed: the hub stopped trying (a new tab,\na sign-in or a retry starts again). `reason`: why the last one failed.",
            &[f("reason", Str, "")],
        ),
    ]),
};

pub const ERROR_CODE: Type = Type {
    name: "ErrorCode",
    doc: "Why a hub refused a tab's message.",
    derive: "Copy, Eq",
    shape: Shape::Enum(&[
        v(0, "BadMessage", "The message could not be decoded.", &[]),
        v(1, "VersionMismatch", "The page speaks another protocol version.", &[]),
        v(2, "OutOfOrder", "A message came before Hello, or Hello came twice.", &[]),
        v(3, "BadPayload", "The arguments were not a well-formed JSON array, or too large.", &[]),
        v(4, "BadEndpoint", "The endpoint could not be used (bad URL).", &[]),
        v(5, "BufferFull", "The hub's buffer for offline emits is full.", &[]),
        v(
            6,
            "NotAttached",
            "This hub has no Hello for the port: it was started again under the tab (WebKit re-runs\na SharedWorker on the old ports; a leader-tab failover). A tab that was welcomed before\nattaches again (`Page::restart`); sent once per port until its Hello, and to every port\nthe hub is handed.",
            &[],
        ),
    ]),
};

pub const AUTH_STATE: Type = Type {
    name: "AuthState",
    doc: "What tabs know of the sign-in: never a token.",
    derive: "Eq, Default",
    shape: Shape::Struct(&[
        f("user", OPT_STR, "The signed-in user, or None when signed out."),
        f("expires_at", Opt(&U64), "When the access token expires (server time, ms since the epoch)."),
        f("error", OPT_STR, "Why the last refresh failed while still signed in (the hub retries)."),
        f("signed_out", OPT_STR, "Why the user was signed out, when they were."),
        f("telemetry", Named("AuthTelemetry"), ""),
    ]),
};

pub const AUTH_TELEMETRY: Type = Type {
    name: "AuthTelemetry",
    doc: "Counts and latencies of the hub's sign-in work since it started.",
    derive: "Eq, Default",
    shape: Shape::Struct(&[
        f("refreshes", U32, ""),
        f("last_ms", U32, "Refresh latency (ms): the last, the largest, and the sum (for the mean)."),
        f("max_ms", U32, ""),
        f("total_ms", U64, ""),
        f("failures", COUNTS, "Failed refreshes by reason (`network`, `http 503`, `refused`), and sign-outs by cause."),
        f("sign_outs", COUNTS, ""),
    ]),
};

pub const STORED_EMIT: Type = Type {
    name: "StoredEmit",
    doc: "A durable emit as the hub keeps it in storage (IndexedDB) until it is delivered.",
    derive: "",
    shape: Shape::Struct(&[
        f("version", U16, "[`STORE_VERSION`] of the record's layout."),
        f("endpoint", Named("Endpoint"), ""),
        f("auth", OPT_STR, ""),
        f("id", Str, ""),
        f("event", Str, ""),
        f("args", Str, ""),
        f("bins", BINS, ""),
        f("created_ms", U64, "When it was emitted, in milliseconds since the Unix epoch (server time when known)."),
    ]),
};

/// Every type, in the order the generated code defines them.
pub const TYPES: [Type; 10] =
    [TO_HUB, FROM_HUB, ENDPOINT, OPTIONS, ACK_REQUEST, STATUS, ERROR_CODE, AUTH_STATE, AUTH_TELEMETRY, STORED_EMIT];

/// A kind of the page core's interface: its name and number, and what it carries.
pub type Kind = (&'static str, u32, &'static str);

/// What a JS client asks of its protocol core (`op(core, kind, token, a, b)`): the JS core
/// (`core.js`) and the Rust one (`page-client/src/lib.rs`) take the same kinds.
pub const OPS: [Kind; 18] = [
    ("LOGIN", 0, "`a` username, `b` password"),
    ("LOGOUT", 1, ""),
    ("REFRESH", 2, ""),
    ("TOKEN", 3, ""),
    ("BYE", 4, ""),
    ("SUBSCRIBE", 5, "`a` event"),
    ("UNSUBSCRIBE", 6, "`a` event"),
    ("JOIN", 7, "`a` room"),
    ("LEAVE", 8, "`a` room"),
    ("ATTACH", 9, "Hello, the subscriptions and the rooms"),
    ("RESTART", 10, "ATTACH, then every durable emit the hub has not confirmed"),
    ("REPLY", 11, "`token` the server's ack token, `a` JSON args"),
    ("EMIT", 12, "`a` event, `b` JSON args: durable"),
    ("EMIT_VOLATILE", 13, "`a` event, `b` JSON args"),
    ("EMIT_ACK", 14, "`a` event, `b` JSON args; the answer carries the returned id"),
    ("COUNT", 15, "sends nothing: returns the unconfirmed count"),
    ("PRIORITY", 16, "`token` the lifecycle level plus 4 for scope `user`, `a` the highest term told (decimal)"),
    ("EMIT_TO", 17, "`a` room NUL event, `b` JSON args: durable, to the other members of the room"),
];

/// What a protocol core reports to its client (`h(client, kind, n, m, a, b)`).
pub const REPORTS: [Kind; 16] = [
    ("POST", 0, "`a`: bytes for the hub's port"),
    ("BIN", 1, "`a`: a binary attachment of the next EVENT or ACK"),
    ("EVENT", 2, "`a`: event name, `b`: JSON args, `n`: the server's ack token or NaN"),
    ("ACK", 3, "`n`: call id, `a`: JSON args"),
    ("FAIL", 4, "`n`: call id, `a`: why"),
    ("OK", 5, "`n`: call id, `a`: the value when `m` is 1"),
    ("STATUS", 6, "`a`: status name, `b`: sid or reason, `n`: attempt, `m`: delay"),
    ("WELCOME", 7, "the hub welcomed this tab: `connect()` resolves"),
    ("TABS", 8, "the ITEMs since the last commit are the tab ids"),
    (
        "AUTH",
        9,
        "the ITEMs since the last commit are user, error, signedOut, expiresAt, refreshes, lastMs, maxMs, totalMs, then name/count pairs: `n` failures, then signOuts",
    ),
    ("CLOCK", 10, "`n`: server clock minus the browser's, in ms"),
    ("RECOVERED", 11, "`n`: 1 if the server replayed what was missed"),
    ("WARN", 12, "`a` + `b`: a warning for the console"),
    ("ERROR", 13, "`n`: the ErrorCode, `a`: the hub refused this tab (`connect()` rejects)"),
    ("ITEM", 14, "a value for the next TABS, AUTH or ROOMS: `m` 1 = the text `a`, 2 = null, 0 = the number `n`"),
    ("ROOMS", 15, "the ITEMs since the last commit are the tab's rooms"),
];

/// The order of the numbers a client hands `create`: the [`OPTIONS`] fields, then the ack
/// timeout (a page-side option; `ACK_TIMEOUT_MS` by default).
pub const ACK_TIMEOUT_MS: u32 = 10_000;

// Browser-side names: the same in the hub (Rust), the page client and the bootstraps (JS,
// through the generated module). The worker's name and the hub lock carry the protocol
// version, so a deploy that changes it never talks to an old hub.
pub const WORKER_NAME: &str = "switchboard-v5";
pub const HUB_LOCK: &str = "switchboard-hub-v5";
/// Prefix of the Web Lock each page holds for its whole life (then its tab id).
pub const TAB_LOCK_PREFIX: &str = "switchboard-tab-";
/// Leader-tab mode (no SharedWorker): the lock whose holder runs the hub in a dedicated
/// worker, the BroadcastChannel it serves every tab on, the IndexedDB database holding its
/// fencing number (each new hub takes the next), and the timings: the hub beats every
/// `LEADER_BEAT_MS`, may act for `LEADER_LEASE_MS` after a beat, and a tab that heard no hub
/// for `LEADER_SILENCE_MS` takes over with `steal`.
pub const LEADER_LOCK: &str = "switchboard-leader-v5";
pub const LEADER_CHANNEL: &str = "switchboard-v5";
pub const EPOCH_DB: &str = "switchboard-epoch";
pub const LEADER_BEAT_MS: u32 = 1000;
pub const LEADER_LEASE_MS: u32 = 3000;
pub const LEADER_SILENCE_MS: u32 = 5000;
/// Where tabs without a shared hub tell each other of a sign-in or sign-out.
pub const AUTH_CHANNEL: &str = "switchboard-auth-v5";
/// A `per-tab` hub's own queue database: this prefix, then a random id (no Web Locks, so
/// per-tab hubs cannot share one; a hub adopts the queue of one gone quiet).
pub const PER_TAB_DB_PREFIX: &str = "switchboard-queue-";
/// IndexedDB database and store of the durable queue.
pub const DB_NAME: &str = "switchboard";
pub const DB_STORE: &str = "queue";
/// A tab subscribed to this name gets every event of its namespace (`onAny`). No server
/// sends it: `sb:` names are the contract's.
pub const ANY_EVENT: &str = "sb:any";
/// Events the hub itself sends to the tabs that subscribe to them (never from a server):
/// `sb:ping` on each Engine.IO ping (socket.io-client's Manager `ping` event), and
/// `sb:lost [reason]` when the connection is lost, just before the status changes
/// (`transport close`, `ping timeout`, ...: socket.io-client's disconnect reasons).
pub const HUB_PING: &str = "sb:ping";
pub const HUB_LOST: &str = "sb:lost";
/// A tab's emit of `sb:drop` (no arguments) closes the hub's WebSocket as a transport loss
/// does (`forced close`): every namespace sees `transport close` and the hub reconnects
/// with backoff. socket.io-client's `socket.io.engine.close()`; never sent to the server.
pub const HUB_DROP: &str = "sb:drop";
/// `sb:leader [leader tab id or null, term, scope]`, to every tab of the namespace when
/// its leader changes (and to a tab when it attaches).
pub const HUB_LEADER: &str = "sb:leader";
/// Tab → hub → server: `sb:lead [claim, event, ...args]`, an event only the leader of the
/// claim's term may send (`emitAsLeader`); acked with a `contract::Receipt` (an error for a stale
/// term or a tab that does not lead). From a tab it is `sb:lead [term, event, ...args]`.
pub const LEAD: &str = "sb:lead";
/// `sb:members [{ room, members }]`: everyone in a room the tab is in (`contract::PRESENCE`).
pub const MEMBERS: &str = "sb:members";
/// Server → hub: `sb:rooms [rooms]`, the hierarchy rooms the server put the socket in
/// (`user:`, `session:`, `device:`), again whenever they change. The hub adds each tab's
/// `tab:{id}` and tells its tabs (`client.rooms`).
pub const ASSIGNED: &str = "sb:rooms";

/// The names `protocol.js` exports as strings, by their JS name.
pub const JS_STRINGS: [(&str, &str); 18] = [
    ("WORKER_NAME", WORKER_NAME),
    ("HUB_LOCK", HUB_LOCK),
    ("TAB_LOCK_PREFIX", TAB_LOCK_PREFIX),
    ("LEADER_LOCK", LEADER_LOCK),
    ("LEADER_CHANNEL", LEADER_CHANNEL),
    ("EPOCH_DB", EPOCH_DB),
    ("AUTH_CHANNEL", AUTH_CHANNEL),
    ("PER_TAB_DB_PREFIX", PER_TAB_DB_PREFIX),
    ("DB_NAME", DB_NAME),
    ("DB_STORE", DB_STORE),
    ("ANY_EVENT", ANY_EVENT),
    ("HUB_PING", HUB_PING),
    ("HUB_LOST", HUB_LOST),
    ("HUB_DROP", HUB_DROP),
    ("LEADER_EVENT", HUB_LEADER),
    ("LEAD", LEAD),
    ("MEMBERS", MEMBERS),
    ("ASSIGNED", ASSIGNED),
];

/// The numbers `protocol.js` exports, by their JS name.
pub const JS_NUMBERS: [(&str, u64); 6] = [
    ("PROTOCOL_VERSION", PROTOCOL_VERSION as u64),
    ("MAX_PORT_MESSAGE", MAX_PORT_MESSAGE as u64),
    ("ACK_TIMEOUT_MS", ACK_TIMEOUT_MS as u64),
    ("LEADER_BEAT_MS", LEADER_BEAT_MS as u64),
    ("LEADER_LEASE_MS", LEADER_LEASE_MS as u64),
    ("LEADER_SILENCE_MS", LEADER_SILENCE_MS as u64),
];
