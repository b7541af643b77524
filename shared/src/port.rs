//! The page <-> hub protocol spoken over a MessagePort: typed messages, postcard-encoded.
//! Invariant: `ToHub::Hello` is variant 0 and starts with the protocol version, so a hub can
//! always read the version of a page built from another release and refuse it clearly.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change of the types below. Also part of the worker's name, so
/// pages of a new deploy get a new SharedWorker rather than talking to an old one.
pub const PROTOCOL_VERSION: u16 = 5;

/// Largest port message either side accepts (and the largest payload a tab may emit).
pub const MAX_PORT_MESSAGE: usize = 16 << 20;

/// Binary data, encoded as one length-prefixed byte string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Which server a client talks to. Tabs with equal endpoints (and auth) share one socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    /// Origin of the server: `http(s)://host[:port]` or `ws(s)://host[:port]`.
    pub url: String,
    /// Engine.IO path, `/socket.io` by default.
    pub path: String,
    /// Socket.IO namespace, `/` by default.
    pub namespace: String,
    /// Extra query string for the handshake request (without the leading `?`).
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToHub {
    /// First message on a port. `tab` is the page's id, also the name of the Web Lock it holds
    /// for its lifetime. `auth` is the JSON text of the CONNECT auth payload, if any.
    Hello {
        version: u16,
        tab: String,
        endpoint: Endpoint,
        auth: Option<String>,
        options: Options,
    },
    Subscribe {
        event: String,
    },
    Unsubscribe {
        event: String,
    },
    /// `args` is the JSON array text of the arguments with binary parts replaced by
    /// `{"_placeholder":true,"num":i}`; `bins[i]` holds them.
    /// `seq` numbers a tab's emits. A durable emit (no `ack`, not `volatile`) is kept by the
    /// page until the hub answers `Stored { seq }`, and sent again to a restarted hub; its
    /// id `{tab}-{seq}` lets the hub and the server drop the duplicate. A volatile emit is
    /// dropped when not connected, as in Socket.IO.
    Emit {
        seq: u32,
        event: String,
        args: String,
        bins: Vec<Bytes>,
        ack: Option<AckRequest>,
        volatile: bool,
    },
    /// Reply to an event the server sent with an ack id (`Event::reply`).
    Reply {
        token: u32,
        args: String,
        bins: Vec<Bytes>,
    },
    Join {
        req: u32,
        room: String,
    },
    Leave {
        req: u32,
        room: String,
    },
    /// The tab is going away (pagehide, close()).
    Bye,
    /// Sign in with the server's `POST {auth}/login`; answered by `Done { req }`.
    Login {
        req: u32,
        username: String,
        password: String,
    },
    /// Sign out every tab (`POST {auth}/logout`); answered by `Done { req }`.
    Logout {
        req: u32,
    },
    /// Ask for a token refresh; however many tabs ask, the hub refreshes once.
    Refresh {
        req: u32,
    },
    /// Bearer mode: ask for the access token (`FromHub::Token`), refreshed first if needed.
    Token {
        req: u32,
    },
    /// The tab's priority for leader election: its Page Lifecycle level (`hub::election`
    /// FROZEN..ACTIVE), the scope it takes part in (0 `browser`, 1 `user`) and the highest
    /// term it was told (so a new hub's terms continue above it). The hub takes the time it
    /// arrives as the tab's latest activity; a tab is a candidate from its first report.
    Priority {
        level: u8,
        scope: u8,
        term: u64,
    },
    /// A durable emit to the other members of `room` (the tab must be one), through the
    /// server (`sb:to`); numbered and confirmed like a durable `Emit`.
    EmitTo {
        seq: u32,
        room: String,
        event: String,
        args: String,
        bins: Vec<Bytes>,
    },
}

/// Connection options of the first tab of an endpoint (later tabs share its socket).
/// Defaults are socket.io-client's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub reconnection: bool,
    pub reconnection_delay_ms: u32,
    pub reconnection_delay_max_ms: u32,
    pub randomization_factor: f32,
    /// Connection attempt timeout.
    pub timeout_ms: u32,
    /// Offline queue bounds: events, bytes, and age in ms (0: the hub's default,
    /// 10,000 events, 32 MiB, 24 hours).
    pub max_queue: u32,
    pub max_queue_bytes: u32,
    pub max_queue_age_ms: u64,
    /// Bearer mode: the access token lives in the hub's memory (not a cookie), goes in the
    /// CONNECT auth payload, and is renewed on the open socket (`sb:auth`).
    pub bearer: bool,
    /// Failed attempts in a row before the hub gives up (status `failed`); 0: never.
    pub reconnection_attempts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reconnection: true,
            reconnection_delay_ms: 1000,
            reconnection_delay_max_ms: 5000,
            randomization_factor: 0.5,
            timeout_ms: 20_000,
            max_queue: 0,
            max_queue_bytes: 0,
            max_queue_age_ms: 0,
            bearer: false,
            reconnection_attempts: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    pub id: u32,
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Connecting,
    Connected {
        sid: String,
    },
    /// The browser reports no network; attempts resume when it returns.
    Offline,
    /// Waiting `delay_ms` before attempt number `attempt`; `reason`: why the last one failed
    /// (the server's refusal, an HTTP status, a timeout, an unreachable address).
    Reconnecting {
        attempt: u32,
        delay_ms: u32,
        reason: String,
    },
    /// Not connected and not trying: the server refused or closed the session.
    Disconnected {
        reason: String,
    },
    /// `reconnectionAttempts` attempts in a row failed: the hub stopped trying (a new tab,
    /// a sign-in or a retry starts again). `reason`: why the last one failed.
    Failed {
        reason: String,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Connected { .. } => "connected",
            Status::Offline => "offline",
            Status::Reconnecting { .. } => "reconnecting",
            Status::Disconnected { .. } => "disconnected",
            Status::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The message could not be decoded.
    BadMessage,
    /// The page speaks another protocol version.
    VersionMismatch,
    /// A message came before Hello, or Hello came twice.
    OutOfOrder,
    /// The arguments were not a well-formed JSON array, or too large.
    BadPayload,
    /// The endpoint could not be used (bad URL).
    BadEndpoint,
    /// The hub's buffer for offline emits is full.
    BufferFull,
    /// This hub has no Hello for the port: it was started again under the tab (WebKit re-runs
    /// a SharedWorker on the old ports; a leader-tab failover). A tab that was welcomed before
    /// attaches again (`Page::restart`); sent once per port until its Hello, and to every port
    /// the hub is handed.
    NotAttached,
}

impl ErrorCode {
    /// Every code, in wire order (the variant index is the position here).
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::BadMessage,
        ErrorCode::VersionMismatch,
        ErrorCode::OutOfOrder,
        ErrorCode::BadPayload,
        ErrorCode::BadEndpoint,
        ErrorCode::BufferFull,
        ErrorCode::NotAttached,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromHub {
    Welcome {
        version: u16,
        status: Status,
    },
    Status(Status),
    /// An event from the server. `room` is set when the server addressed it to a room (only
    /// tabs in that room receive it). `reply` is set when the server asked for an ack.
    Event {
        event: String,
        room: Option<String>,
        args: String,
        bins: Vec<Bytes>,
        reply: Option<u32>,
    },
    Ack {
        id: u32,
        args: String,
        bins: Vec<Bytes>,
    },
    AckFailed {
        id: u32,
        reason: String,
    },
    /// Result of Join/Leave: `error` is None on success.
    Done {
        req: u32,
        error: Option<String>,
    },
    /// The ids of the tabs attached to this hub's endpoint.
    Tabs {
        tabs: Vec<String>,
    },
    /// The durable emit `seq` of this tab is safe with the hub (persisted, or delivered):
    /// the page may forget it.
    Stored {
        seq: u32,
    },
    /// The durable emit `seq` was not accepted (queue full, expired); the page drops it.
    Refused {
        seq: u32,
        reason: String,
    },
    /// Server clock minus this browser's clock (ms), from the lowest-latency sample so far.
    Clock {
        offset_ms: i64,
        rtt_ms: u32,
    },
    /// After a reconnection: whether the server replayed every numbered event sent while
    /// the hub was away (`false`: some may be missing; resync from the source of truth).
    Recovered {
        recovered: bool,
    },
    /// The sign-in state, shared by every tab (sent on change and on attach).
    Auth(AuthState),
    /// Bearer mode: the access token a tab asked for (`error` when there is none).
    Token {
        req: u32,
        token: Option<String>,
        error: Option<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// What tabs know of the sign-in: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthState {
    /// The signed-in user, or None when signed out.
    pub user: Option<String>,
    /// When the access token expires (server time, ms since the epoch).
    pub expires_at: Option<u64>,
    /// Why the last refresh failed while still signed in (the hub retries).
    pub error: Option<String>,
    /// Why the user was signed out, when they were.
    pub signed_out: Option<String>,
    pub telemetry: AuthTelemetry,
}

/// Counts and latencies of the hub's sign-in work since it started.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthTelemetry {
    pub refreshes: u32,
    /// Refresh latency (ms): the last, the largest, and the sum (for the mean).
    pub last_ms: u32,
    pub max_ms: u32,
    pub total_ms: u64,
    /// Failed refreshes by reason (`network`, `http 503`, `refused`), and sign-outs by cause.
    pub failures: Vec<(String, u32)>,
    pub sign_outs: Vec<(String, u32)>,
}

impl AuthTelemetry {
    pub fn count(list: &mut Vec<(String, u32)>, what: &str) {
        match list.iter_mut().find(|(k, _)| k == what) {
            Some((_, n)) => *n += 1,
            None => list.push((what.into(), 1)),
        }
    }
}

/// A durable emit as the hub keeps it in storage (IndexedDB) until it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEmit {
    /// [`STORE_VERSION`] of the record's layout.
    pub version: u16,
    pub endpoint: Endpoint,
    pub auth: Option<String>,
    pub id: String,
    pub event: String,
    pub args: String,
    pub bins: Vec<Bytes>,
    /// When it was emitted, in milliseconds since the Unix epoch (server time when known).
    pub created_ms: u64,
}

pub const STORE_VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    Malformed,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge(n) => {
                write!(f, "port message of {n} bytes exceeds {MAX_PORT_MESSAGE}")
            }
            DecodeError::Malformed => f.write_str("malformed port message"),
        }
    }
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing into a Vec cannot fail for these types (no maps with non-string keys,
    // no unsupported serde features), so an empty message signals a bug, not bad input.
    postcard::to_allocvec(msg).unwrap_or_default()
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_PORT_MESSAGE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((msg, [])) => Ok(msg),
        _ => Err(DecodeError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn hello_starts_with_variant_and_version() {
        let hello = ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: "t".into(),
            endpoint: Endpoint {
                url: "http://h".into(),
                path: "/socket.io".into(),
                namespace: "/".into(),
                query: String::new(),
            },
            auth: None,
            options: Options::default(),
        };
        let bytes = encode(&hello);
        assert_eq!(bytes[0], 0, "Hello must stay variant 0");
        assert_eq!(bytes[1], PROTOCOL_VERSION as u8);
        assert_eq!(decode::<ToHub>(&bytes), Ok(hello));
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(decode::<ToHub>(&[0xff, 0xff, 0xff]), Err(DecodeError::Malformed));
        assert_eq!(decode::<ToHub>(&[]), Err(DecodeError::Malformed));
        let mut ok = encode(&ToHub::Bye);
        ok.push(0);
        assert_eq!(decode::<ToHub>(&ok), Err(DecodeError::Malformed), "trailing bytes");
        // A huge declared length must not allocate.
        assert_eq!(decode::<ToHub>(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(DecodeError::Malformed));
        assert_eq!(decode::<ToHub>(&vec![0; MAX_PORT_MESSAGE + 1]), Err(DecodeError::TooLarge(MAX_PORT_MESSAGE + 1)));
    }
}
