//! The hub: one Socket.IO connection shared by the tabs attached to one endpoint, and the
//! switchboard that routes each tab to the hub of its endpoint.
//!
//! Invariants: at most one socket per (endpoint, auth) at any time; every input is a value
//! that may be wrong, and a wrong one yields an error message and a log line, never a panic;
//! time only enters as the `now` argument (milliseconds on a monotonic clock).

use crate::backoff::{BackoffConfig, Rng};
use crate::engineio::{self, EioPacket, Handshake};
use crate::json::{self, Value};
use crate::port::{
    self, AckRequest, AuthState, AuthTelemetry, Bytes, Endpoint, ErrorCode, FromHub, Options, Status, StoredEmit,
    ToHub, PROTOCOL_VERSION, STORE_VERSION,
};
use crate::socketio::{self, Kind};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;

pub type Millis = u64;
/// The shell's handle for one MessagePort.
pub type TabKey = u32;
pub type HubId = u32;

/// Event names a tab may not emit: Socket.IO reserves the first six, and `sb:` is the
/// prefix of the hub's own contract with the server.
const RESERVED: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];
pub const CONTRACT_PREFIX: &str = "sb:";
/// Longest room or event name accepted from a tab.
pub const MAX_NAME: usize = 512;
/// How many server acks a hub keeps waiting for a tab's reply.
const MAX_REPLIES: usize = 4096;
/// How long after CONNECT a hub waits for the server's `sb:hello` before it treats the
/// server as a plain Socket.IO server (only the first connection of a hub waits).
pub const HELLO_WAIT_MS: u64 = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    pub reconnection: bool,
    pub backoff: BackoffConfig,
    /// How long an attempt may take from opening the WebSocket to the namespace CONNECT.
    pub connect_timeout_ms: u64,
    /// Emits buffered while disconnected, at most (count and bytes).
    pub max_buffered: usize,
    pub max_buffered_bytes: usize,
    /// How long the socket stays open after the last tab left (a reload comes back quickly).
    pub linger_ms: u64,
    /// Durable emits older than this (server time) are dropped with an error, not sent.
    pub max_age_ms: u64,
    pub bearer: bool,
}

impl HubConfig {
    /// Takes the connection options a tab asked for.
    pub fn apply(&mut self, o: &Options) {
        self.reconnection = o.reconnection;
        self.backoff = BackoffConfig {
            min_ms: o.reconnection_delay_ms as u64,
            max_ms: (o.reconnection_delay_max_ms as u64).max(o.reconnection_delay_ms as u64),
            // A NaN from a page would survive clamp(): fall back to the default.
            randomization: if o.randomization_factor.is_finite() {
                (o.randomization_factor as f64).clamp(0.0, 1.0)
            } else {
                BackoffConfig::default().randomization
            },
        };
        if o.timeout_ms > 0 {
            self.connect_timeout_ms = o.timeout_ms as u64;
        }
        if o.max_queue > 0 {
            self.max_buffered = o.max_queue as usize;
        }
        if o.max_queue_bytes > 0 {
            self.max_buffered_bytes = o.max_queue_bytes as usize;
        }
        if o.max_queue_age_ms > 0 {
            self.max_age_ms = o.max_queue_age_ms;
        }
        self.bearer = o.bearer;
    }
}

/// The Web Lock a page holds for as long as it lives; the hub waits on it to notice a tab
/// that vanished without a word (crash, kill, frozen-then-discarded).
pub fn tab_lock_name(tab: &str) -> String {
    format!("switchboard-tab-{tab}")
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            reconnection: true,
            backoff: BackoffConfig::default(),
            connect_timeout_ms: 20_000,
            max_buffered: 10_000,
            max_buffered_bytes: 32 << 20,
            linger_ms: 2_000,
            max_age_ms: 24 * 3600 * 1000,
            bearer: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a WebSocket to `url`; report its events for `(hub, conn)`.
    Open {
        hub: HubId,
        conn: u32,
        url: String,
    },
    SendText {
        hub: HubId,
        text: String,
    },
    SendBinary {
        hub: HubId,
        bytes: Vec<u8>,
    },
    /// Close the hub's WebSocket (if any) and forget it.
    Close {
        hub: HubId,
    },
    /// Post `msg` to each of `tabs` (encode once, post many).
    Post {
        tabs: Vec<TabKey>,
        msg: FromHub,
    },
    /// The tab said Hello: watch for its silent departure by waiting on its Web Lock
    /// `lock`, and report it with `handle_tab_gone`.
    Watch {
        tab: TabKey,
        lock: String,
    },
    /// Store `record` (a postcard [`StoredEmit`]) under `key`; report with `handle_persisted`.
    Persist {
        key: u64,
        record: Vec<u8>,
    },
    /// Delete the stored emit `key` (delivered, or dropped).
    Unpersist {
        key: u64,
    },
    /// Make an HTTP request (with the browser's cookies) and report it with `handle_http`
    /// (status 0 for a network error).
    Http {
        hub: HubId,
        id: u32,
        post: bool,
        url: String,
        body: Option<String>,
        /// Ask for the access token in the body instead of a cookie (bearer mode).
        bearer: bool,
    },
    Log(String),
}

/// What a hub shares with the switchboard: storage keys and the wall clock.
#[derive(Debug, Default)]
struct Shared {
    next_key: Cell<u64>,
    /// Wall-clock ms (Unix epoch) minus the monotonic `now`.
    wall_offset: Cell<i64>,
}

type HubKey = (Endpoint, Option<String>);

// ---------------------------------------------------------------------------------------
// Switchboard: routes tabs to hubs.
// ---------------------------------------------------------------------------------------

pub struct Switchboard {
    config: HubConfig,
    rng: Rng,
    hubs: BTreeMap<HubId, Hub>,
    tabs: BTreeMap<TabKey, HubId>,
    next_hub: HubId,
    out: VecDeque<Output>,
    shared: Rc<Shared>,
    /// Stored emits restored from storage, waiting for a hub of their endpoint.
    parked: BTreeMap<HubKey, Vec<(u64, StoredEmit)>>,
    online: bool,
}

impl Switchboard {
    pub fn new(config: HubConfig, seed: u64) -> Self {
        Switchboard {
            config,
            rng: Rng::new(seed),
            hubs: BTreeMap::new(),
            tabs: BTreeMap::new(),
            next_hub: 1,
            out: VecDeque::new(),
            shared: Rc::default(),
            parked: BTreeMap::new(),
            online: true,
        }
    }

    /// The answer to `Output::Http { hub, id, .. }`.
    pub fn handle_http(&mut self, hub: HubId, id: u32, status: u16, body: &str, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.on_http(id, status, body, now);
        }
    }

    /// Sets the wall clock: `wall_ms` (ms since the Unix epoch) is the time at monotonic `now`.
    pub fn set_wall_clock(&mut self, wall_ms: u64, now: Millis) {
        self.shared.wall_offset.set(wall_ms as i64 - now as i64);
    }

    /// Durable emits found in storage at start-up. Each goes to the hub of its endpoint when
    /// a tab of that endpoint attaches; undecodable records are deleted.
    pub fn handle_restore(&mut self, records: Vec<(u64, Vec<u8>)>, now: Millis) {
        let mut max = self.shared.next_key.get();
        for (key, bytes) in records {
            max = max.max(key + 1);
            match port::decode::<StoredEmit>(&bytes) {
                Ok(rec) if rec.version == STORE_VERSION => {
                    self.parked.entry((rec.endpoint.clone(), rec.auth.clone())).or_default().push((key, rec))
                }
                _ => {
                    self.out.push_back(Output::Log(format!("stored emit {key} is unreadable; deleted")));
                    self.out.push_back(Output::Unpersist { key });
                }
            }
        }
        self.shared.next_key.set(max);
        let keys: Vec<HubKey> = self.parked.keys().cloned().collect();
        for k in keys {
            if let Some(h) = self.hubs.values_mut().find(|h| h.key == k) {
                if let Some(recs) = self.parked.remove(&k) {
                    h.adopt(recs, now);
                }
            }
        }
    }

    /// Storage confirmed the records `keys` are written.
    pub fn handle_persisted(&mut self, keys: &[u64]) {
        for h in self.hubs.values_mut() {
            h.on_persisted(keys);
        }
    }

    /// The browser's network state (`online`/`offline` events).
    pub fn handle_network(&mut self, online: bool, now: Millis) {
        self.online = online;
        for h in self.hubs.values_mut() {
            h.set_online(online, now);
        }
    }

    /// Stored emits not yet handed to a hub (for the debug view and tests).
    pub fn parked_count(&self) -> usize {
        self.parked.values().map(Vec::len).sum()
    }

    /// Durable emits not yet delivered: parked, queued or in flight.
    pub fn undelivered(&self) -> usize {
        self.parked_count() + self.hubs.values().map(|h| h.buffer.len() + h.inflight.len()).sum::<usize>()
    }

    /// With no tab open (a service worker's `sync`): connect a hub for every endpoint that
    /// has stored emits, and deliver them. Endpoint options are the defaults.
    pub fn handle_flush(&mut self, now: Millis) {
        for (key, recs) in core::mem::take(&mut self.parked) {
            let Ok(url) = engineio::websocket_url(&key.0.url, &key.0.path, &key.0.query) else {
                for (k, _) in recs {
                    self.out.push_back(Output::Unpersist { key: k });
                }
                continue;
            };
            let id = self.next_hub;
            self.next_hub += 1;
            let seed = self.rng.next_u32() as u64;
            let mut hub = Hub::new(id, key, url, self.config.clone(), seed, self.shared.clone());
            hub.online = self.online;
            hub.adopt(recs, now);
            hub.start_connect(now);
            self.hubs.insert(id, hub);
        }
    }

    /// Number of live sockets (hubs), for tests and the debug view.
    pub fn hub_count(&self) -> usize {
        self.hubs.len()
    }

    pub fn hub(&self, id: HubId) -> Option<&Hub> {
        self.hubs.get(&id)
    }

    fn reject(&mut self, tab: TabKey, code: ErrorCode, message: String) {
        self.out.push_back(Output::Log(format!("tab {tab}: {message}")));
        self.out.push_back(Output::Post { tabs: alloc::vec![tab], msg: FromHub::Error { code, message } });
    }

    /// A message from a page's port. Anything malformed is answered with `FromHub::Error`.
    pub fn handle_port_message(&mut self, tab: TabKey, bytes: &[u8], now: Millis) {
        let msg = match port::decode::<ToHub>(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(tab, ErrorCode::BadMessage, e.to_string()),
        };
        match (self.tabs.get(&tab).copied(), msg) {
            (None, ToHub::Hello { version, tab: name, endpoint, auth, options }) => {
                if version != PROTOCOL_VERSION {
                    return self.reject(
                        tab,
                        ErrorCode::VersionMismatch,
                        format!("page speaks protocol v{version}, this hub v{PROTOCOL_VERSION}: reload the page"),
                    );
                }
                if name.is_empty() || name.len() > MAX_NAME {
                    return self.reject(tab, ErrorCode::BadMessage, "tab id must be 1..512 bytes".into());
                }
                if let Some(a) = &auth {
                    if let Err(e) = json::parse(a).map_err(|e| e.to_string()).and_then(|v| match v {
                        Value::Object(_) => Ok(()),
                        _ => Err("auth must be a JSON object".into()),
                    }) {
                        return self.reject(tab, ErrorCode::BadPayload, format!("auth: {e}"));
                    }
                }
                let url = match engineio::websocket_url(&endpoint.url, &endpoint.path, &endpoint.query) {
                    Ok(u) => u,
                    Err(e) => return self.reject(tab, ErrorCode::BadEndpoint, format!("{e} (got {:?})", endpoint.url)),
                };
                if !endpoint.namespace.starts_with('/') || endpoint.namespace.contains(',') {
                    return self.reject(
                        tab,
                        ErrorCode::BadEndpoint,
                        "namespace must start with '/' and contain no ','".into(),
                    );
                }
                let key = (endpoint, auth);
                let id = match self.hubs.iter().find(|(_, h)| h.key == key) {
                    Some((id, _)) => *id,
                    None => {
                        let id = self.next_hub;
                        self.next_hub += 1;
                        let seed = self.rng.next_u32() as u64 | ((self.rng.next_u32() as u64) << 32);
                        let mut config = self.config.clone();
                        config.apply(&options);
                        let parked = self.parked.remove(&key);
                        let mut hub = Hub::new(id, key, url, config, seed, self.shared.clone());
                        hub.online = self.online;
                        if let Some(recs) = parked {
                            hub.adopt(recs, now);
                        }
                        self.hubs.insert(id, hub);
                        id
                    }
                };
                self.tabs.insert(tab, id);
                self.out.push_back(Output::Watch { tab, lock: tab_lock_name(&name) });
                if let Some(h) = self.hubs.get_mut(&id) {
                    h.attach(tab, name, now);
                }
            }
            (None, _) => self.reject(tab, ErrorCode::OutOfOrder, "the first message on a port must be Hello".into()),
            (Some(_), ToHub::Hello { .. }) => {
                self.reject(tab, ErrorCode::OutOfOrder, "Hello sent twice on one port".into())
            }
            (Some(id), ToHub::Bye) => self.detach(tab, id, now),
            (Some(id), msg) => {
                if let Some(h) = self.hubs.get_mut(&id) {
                    h.handle_tab(tab, msg, now);
                }
            }
        }
    }

    /// The port sent something that is not a byte array at all.
    pub fn handle_port_garbage(&mut self, tab: TabKey, what: &str) {
        self.reject(tab, ErrorCode::BadMessage, format!("expected a Uint8Array, got {what}"));
    }

    /// The tab is gone without saying Bye (its Web Lock was released, or its port failed).
    pub fn handle_tab_gone(&mut self, tab: TabKey, now: Millis) {
        if let Some(id) = self.tabs.get(&tab).copied() {
            self.out.push_back(Output::Log(format!("tab {tab} vanished; detaching it")));
            self.detach(tab, id, now);
        }
    }

    fn detach(&mut self, tab: TabKey, id: HubId, now: Millis) {
        self.tabs.remove(&tab);
        if let Some(h) = self.hubs.get_mut(&id) {
            h.detach(tab, now);
        }
    }

    pub fn handle_socket_open(&mut self, hub: HubId, conn: u32, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_open(conn, now);
        }
    }

    pub fn handle_socket_text(&mut self, hub: HubId, conn: u32, text: &str, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_text(conn, text, now);
        }
    }

    pub fn handle_socket_binary(&mut self, hub: HubId, conn: u32, bytes: &[u8], now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_binary(conn, bytes, now);
        }
    }

    pub fn handle_socket_closed(&mut self, hub: HubId, conn: u32, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_closed(conn, now);
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        for h in self.hubs.values_mut() {
            h.handle_timeout(now);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let mut retired = None;
        for (id, h) in self.hubs.iter_mut() {
            if let Some(o) = h.out.pop_front() {
                return Some(o);
            }
            if h.retired {
                retired = Some(*id);
            }
        }
        if let Some(id) = retired {
            self.hubs.remove(&id);
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.hubs.values().filter_map(Hub::poll_timeout).min()
    }
}

// ---------------------------------------------------------------------------------------
// Hub: one socket, many tabs.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Conn {
    /// No socket and not trying.
    Idle,
    /// WebSocket requested; waiting for the Engine.IO OPEN packet.
    Opening {
        conn: u32,
        deadline: Millis,
    },
    /// Engine.IO open; our namespace CONNECT is on its way.
    Joining {
        conn: u32,
        deadline: Millis,
        hs: Handshake,
    },
    Connected {
        conn: u32,
        hs: Handshake,
        sid: String,
    },
    /// Waiting before the next attempt.
    Backoff {
        until: Millis,
        attempt: u32,
        delay: u64,
    },
    /// The server refused or ended the session; a new tab (or Reconnect) starts again.
    Stopped {
        reason: String,
    },
}

#[derive(Debug)]
struct Tab {
    name: String,
    subs: BTreeSet<String>,
    rooms: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerRoom {
    Out,
    Joining(u64),
    In,
    Leaving(u64),
}

#[derive(Debug)]
struct Room {
    members: BTreeSet<TabKey>,
    server: ServerRoom,
    /// Tabs waiting for the server to confirm (join) or release (leave) this room.
    waiters: Vec<(TabKey, u32, Option<Millis>)>,
}

/// An HTTP call of the hub's sign-in logic.
#[derive(Debug)]
enum HttpCall {
    /// Session and refresh calls carry the sign-in generation they were made in: an answer
    /// to a request sent before a login or logout says nothing about the new state.
    Session(u32),
    Login(TabKey, u32),
    Logout(TabKey, u32),
    Refresh(u32, Millis),
}

#[derive(Debug)]
enum Pending {
    Tab {
        tab: TabKey,
        id: u32,
        deadline: Option<Millis>,
    },
    Join(String),
    Leave(String),
    /// Our `sb:time` request, sent at `sent` (monotonic).
    Time {
        sent: Millis,
    },
    /// Our `sb:resume` request: replay what we missed.
    Resume,
}

/// An emit waiting for the socket (or, in flight, for the server's ack).
#[derive(Debug)]
struct Buffered {
    event: String,
    args: String,
    bins: Vec<Bytes>,
    /// The tab's ack request (sio ack id), for emitWithAck.
    ack: Option<u64>,
    durable: Option<Durable>,
}

#[derive(Debug)]
struct Durable {
    /// Storage key: also the order of emission.
    key: u64,
    /// `{tab}-{seq}`: the server drops a second delivery of the same id.
    id: String,
    /// The tab waiting for `Stored`, while it is attached.
    tab: Option<(TabKey, u32)>,
    created_ms: u64,
    persisted: bool,
}

impl Buffered {
    fn size(&self) -> usize {
        self.event.len() + self.args.len() + self.bins.iter().map(|b| b.0.len()).sum::<usize>()
    }
}

/// An incoming binary packet waiting for its attachments.
#[derive(Debug)]
struct Partial {
    kind: Kind,
    id: Option<u64>,
    data: String,
    need: usize,
    bins: Vec<Bytes>,
    bytes: usize,
}

pub struct Hub {
    id: HubId,
    key: (Endpoint, Option<String>),
    url: String,
    config: HubConfig,
    rng: Rng,
    conn: Conn,
    next_conn: u32,
    attempt: u32,
    ping_deadline: Option<Millis>,
    linger_until: Option<Millis>,
    retired: bool,
    tabs: BTreeMap<TabKey, Tab>,
    rooms: BTreeMap<String, Room>,
    pending: BTreeMap<u64, Pending>,
    next_ack: u64,
    buffer: VecDeque<Buffered>,
    buffered_bytes: usize,
    partial: Option<Partial>,
    /// Reply tokens handed to tabs for server acks: token -> server ack id.
    replies: BTreeMap<u32, u64>,
    next_token: u32,
    last_status: Option<Status>,
    out: VecDeque<Output>,
    shared: Rc<Shared>,
    /// Whether the server speaks the Switchboard contract (`sb:hello`); None until known.
    contract: Option<bool>,
    hello_deadline: Option<Millis>,
    /// Durable emits sent in contract mode, by sio ack id, until the server acks them.
    inflight: BTreeMap<u64, Buffered>,
    /// Ids of durable emits held (queued or in flight), to drop a page's resend.
    held_ids: BTreeSet<String>,
    /// Persist requests not yet confirmed: key -> (tab, seq) to answer `Stored`.
    awaiting_store: BTreeMap<u64, (TabKey, u32)>,
    /// Best clock sample: (server minus wall offset, round trip).
    clock: Option<(i64, u64)>,
    online: bool,
    /// Numbered server events (`sb:seq`) seen: the highest, and a bounded window of numbers.
    last_seq: Option<u64>,
    seen_seq: BTreeSet<u64>,
    auth: AuthState,
    /// Whether the server offers the sign-in endpoints (None until the first answer).
    auth_supported: Option<bool>,
    http: BTreeMap<u32, HttpCall>,
    next_http: u32,
    /// Sign-in requests wait here while another is in the air: each may set or clear the
    /// cookies, so they go one at a time and the browser applies them in order (a refresh
    /// answered "no refresh token" after a concurrent login would clear the new cookies).
    http_queue: VecDeque<Output>,
    http_busy: bool,
    refresh_inflight: bool,
    refresh_waiters: Vec<(TabKey, u32)>,
    last_refresh: Option<Millis>,
    refresh_at: Option<Millis>,
    refresh_failures: u32,
    /// Bumped by every login and logout.
    auth_gen: u32,
    /// Bearer mode: the access token (only ever here and in the tabs that ask for it).
    token: Option<String>,
    token_waiters: Vec<(TabKey, u32)>,
}

impl Hub {
    fn new(id: HubId, key: HubKey, url: String, config: HubConfig, seed: u64, shared: Rc<Shared>) -> Self {
        Hub {
            id,
            key,
            url,
            config,
            rng: Rng::new(seed),
            conn: Conn::Idle,
            next_conn: 0,
            attempt: 0,
            ping_deadline: None,
            linger_until: None,
            retired: false,
            tabs: BTreeMap::new(),
            rooms: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_ack: 0,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            partial: None,
            replies: BTreeMap::new(),
            next_token: 0,
            last_status: None,
            out: VecDeque::new(),
            shared,
            contract: None,
            hello_deadline: None,
            inflight: BTreeMap::new(),
            held_ids: BTreeSet::new(),
            awaiting_store: BTreeMap::new(),
            clock: None,
            online: true,
            last_seq: None,
            seen_seq: BTreeSet::new(),
            auth: AuthState::default(),
            auth_supported: None,
            http: BTreeMap::new(),
            next_http: 0,
            http_queue: VecDeque::new(),
            http_busy: false,
            refresh_inflight: false,
            refresh_waiters: Vec::new(),
            last_refresh: None,
            refresh_at: None,
            refresh_failures: 0,
            auth_gen: 0,
            token: None,
            token_waiters: Vec::new(),
        }
    }

    /// The CONNECT payload: the first tab's auth object, plus the token in bearer mode.
    fn connect_payload(&self) -> String {
        let auth = self.key.1.clone().unwrap_or_default();
        let Some(token) = self.token.as_ref().filter(|_| self.config.bearer) else { return auth };
        let mut field = String::from("\"token\":");
        json::write_string(&mut field, token);
        match auth.trim().strip_suffix('}') {
            Some(head) if head.trim() != "{" => format!("{head},{field}}}"),
            _ => format!("{{{field}}}"),
        }
    }

    /// Answers the tabs waiting for the bearer token.
    fn answer_token_waiters(&mut self, error: Option<String>) {
        for (tab, req) in core::mem::take(&mut self.token_waiters) {
            let msg = match (&self.token, &error) {
                (Some(t), None) => FromHub::Token { req, token: Some(t.clone()), error: None },
                _ => FromHub::Token {
                    req,
                    token: None,
                    error: Some(error.clone().unwrap_or_else(|| "signed out".into())),
                },
            };
            self.post_one(tab, msg);
        }
    }

    /// Bearer mode: hands the renewed token to the open socket without reconnecting.
    fn renew_socket_auth(&mut self, now: Millis) {
        match (&self.token, &self.conn) {
            (Some(token), Conn::Connected { .. }) => {
                let mut args = String::from("[{\"token\":");
                json::write_string(&mut args, token);
                args.push_str("}]");
                let nsp = self.nsp().to_string();
                self.send_text(socketio::encode_event(&nsp, 0, None, &["sb:auth"], &args));
            }
            _ => self.reauthenticate(now),
        }
    }

    /// `http(s)://host` of the endpoint, and the sign-in path.
    fn auth_url(&self, what: &str) -> String {
        let origin = &self.key.0.url;
        let origin = origin.strip_prefix("ws://").map(|r| format!("http://{r}")).unwrap_or_else(|| {
            origin.strip_prefix("wss://").map(|r| format!("https://{r}")).unwrap_or_else(|| origin.clone())
        });
        format!("{origin}/auth/{what}")
    }

    fn http(&mut self, call: HttpCall, post: bool, what: &str, body: Option<String>) {
        let id = self.next_http;
        self.next_http = self.next_http.wrapping_add(1);
        self.http.insert(id, call);
        let url = self.auth_url(what);
        let bearer = self.config.bearer;
        self.http_queue.push_back(Output::Http { hub: self.id, id, post, url, body, bearer });
        self.next_http_call();
    }

    /// Sends the next queued sign-in request if none is in the air. One made for an earlier
    /// sign-in generation (a session check or refresh overtaken by a login or logout while
    /// it waited) is answered as overtaken instead of being sent.
    fn next_http_call(&mut self) {
        while !self.http_busy {
            let Some(out) = self.http_queue.pop_front() else { return };
            let Output::Http { id, .. } = &out else { continue };
            let id = *id;
            match self.http.get(&id) {
                Some(HttpCall::Session(gen) | HttpCall::Refresh(gen, _)) if *gen != self.auth_gen => {
                    if let Some(HttpCall::Refresh(..)) = self.http.remove(&id) {
                        self.overtaken_refresh();
                    }
                }
                Some(_) => {
                    self.http_busy = true;
                    self.out.push_back(out);
                }
                None => {}
            }
        }
    }

    fn overtaken_refresh(&mut self) {
        self.refresh_inflight = false;
        for (tab, req) in core::mem::take(&mut self.refresh_waiters) {
            self.post_one(tab, FromHub::Done { req, error: None });
        }
    }

    pub fn auth_state(&self) -> &AuthState {
        &self.auth
    }

    fn publish_auth(&mut self) {
        let tabs = self.all_tabs();
        self.post(tabs, FromHub::Auth(self.auth.clone()));
    }

    /// Single flight: however many ask, one request is in the air; a refresh that just
    /// finished satisfies new askers at once.
    fn request_refresh(&mut self, waiter: Option<(TabKey, u32)>, now: Millis) {
        let fresh = self.last_refresh.is_some_and(|t| now.saturating_sub(t) < 1_000);
        let have_token = !self.config.bearer || self.token.is_some();
        if fresh && !self.refresh_inflight && self.auth.user.is_some() && have_token {
            if let Some((tab, req)) = waiter {
                self.post_one(tab, FromHub::Done { req, error: None });
            }
            self.answer_token_waiters(None);
            return;
        }
        if let Some(w) = waiter {
            self.refresh_waiters.push(w);
        }
        if !self.refresh_inflight {
            self.refresh_inflight = true;
            self.refresh_at = None;
            self.http(HttpCall::Refresh(self.auth_gen, now), true, "refresh", None);
        }
    }

    fn signed_in(&mut self, body: &str, now: Millis) {
        let v = json::parse(body).ok();
        let user = v.as_ref().and_then(|v| v.get("user")).and_then(Value::as_str).map(String::from);
        let expires_at = v.as_ref().and_then(|v| v.get("expires_at")).and_then(Value::as_u64);
        if self.config.bearer {
            self.token = v.as_ref().and_then(|v| v.get("access_token")).and_then(Value::as_str).map(String::from);
        }
        let telemetry = core::mem::take(&mut self.auth.telemetry);
        self.auth = AuthState { user, expires_at, error: None, signed_out: None, telemetry };
        self.auth_supported = Some(true);
        self.refresh_failures = 0;
        // Refresh when two thirds of the remaining life (in server time) have passed.
        self.refresh_at = expires_at.map(|e| now + e.saturating_sub(self.server_ms(now)) * 2 / 3);
        self.publish_auth();
    }

    fn signed_out(&mut self, reason: &str) {
        let was = self.auth.user.is_some();
        let mut telemetry = core::mem::take(&mut self.auth.telemetry);
        if was {
            AuthTelemetry::count(&mut telemetry.sign_outs, reason);
        }
        self.auth = AuthState { signed_out: Some(reason.into()), telemetry, ..AuthState::default() };
        self.token = None;
        self.answer_token_waiters(Some(String::from("signed out: ") + reason));
        self.auth_supported = Some(true);
        self.refresh_at = None;
        if was {
            self.log(format!("signed out: {reason}"));
        }
        self.publish_auth();
    }

    /// The socket's credentials changed: reconnect now so the handshake carries them.
    fn reauthenticate(&mut self, now: Millis) {
        if self.current_conn().is_some() {
            self.out.push_back(Output::Close { hub: self.id });
            self.forget_session();
        }
        if !self.tabs.is_empty() {
            self.attempt = 0;
            self.start_connect(now);
        }
    }

    fn on_http(&mut self, id: u32, status: u16, body: &str, now: Millis) {
        let Some(call) = self.http.remove(&id) else { return };
        self.http_busy = false;
        self.answer_http(call, status, body, now);
        self.next_http_call();
    }

    fn answer_http(&mut self, call: HttpCall, status: u16, body: &str, now: Millis) {
        if let HttpCall::Session(gen) | HttpCall::Refresh(gen, _) = call {
            if gen != self.auth_gen {
                // Overtaken by a login or logout: the state it would report is gone.
                if matches!(call, HttpCall::Refresh(..)) {
                    self.overtaken_refresh();
                }
                return;
            }
        }
        match call {
            HttpCall::Session(_) => match status {
                // Bearer mode: the session check proves a sign-in, but the token comes from a refresh.
                200 if self.config.bearer => {
                    self.auth_supported = Some(true);
                    self.request_refresh(None, now)
                }
                200 => self.signed_in(body, now),
                401 => {
                    self.auth_supported = Some(true);
                    self.request_refresh(None, now)
                }
                // No sign-in endpoints (a plain Socket.IO server): nothing to manage.
                _ => self.auth_supported = Some(false),
            },
            HttpCall::Login(tab, req) => match status {
                200 => {
                    self.auth_gen = self.auth_gen.wrapping_add(1);
                    self.signed_in(body, now);
                    self.last_refresh = Some(now);
                    self.post_one(tab, FromHub::Done { req, error: None });
                    self.answer_token_waiters(None);
                    if self.config.bearer {
                        self.renew_socket_auth(now);
                    } else {
                        self.reauthenticate(now);
                    }
                }
                _ => {
                    let error = error_text(body, status, "sign-in failed");
                    self.post_one(tab, FromHub::Done { req, error: Some(error) });
                }
            },
            HttpCall::Logout(tab, req) => {
                self.auth_gen = self.auth_gen.wrapping_add(1);
                self.signed_out("logout");
                self.post_one(tab, FromHub::Done { req, error: None });
                self.reauthenticate(now);
            }
            HttpCall::Refresh(_, started) => {
                self.refresh_inflight = false;
                let took = now.saturating_sub(started).min(u32::MAX as u64) as u32;
                let t = &mut self.auth.telemetry;
                match status {
                    200 => {
                        t.refreshes += 1;
                        t.last_ms = took;
                        t.max_ms = t.max_ms.max(took);
                        t.total_ms += took as u64;
                    }
                    0 => AuthTelemetry::count(&mut t.failures, "network"),
                    401 | 403 => AuthTelemetry::count(&mut t.failures, "refused"),
                    other => AuthTelemetry::count(&mut t.failures, &format!("http {other}")),
                }
                let waiters = core::mem::take(&mut self.refresh_waiters);
                let error = match status {
                    200 => {
                        self.signed_in(body, now);
                        self.last_refresh = Some(now);
                        if self.config.bearer {
                            self.renew_socket_auth(now);
                        }
                        self.answer_token_waiters(None);
                        None
                    }
                    401 | 403 => {
                        let why = error_text(body, status, "refresh refused");
                        let was = self.auth.user.is_some();
                        self.signed_out(&why);
                        if was {
                            self.reauthenticate(now);
                        }
                        Some(why)
                    }
                    _ => {
                        // Network or server trouble: stay signed in, retry with backoff.
                        self.refresh_failures = self.refresh_failures.saturating_add(1);
                        let delay = (1_000u64 << self.refresh_failures.min(5)).min(30_000);
                        self.refresh_at = Some(now + delay);
                        let why = if status == 0 {
                            "network error".into()
                        } else {
                            error_text(body, status, "refresh failed")
                        };
                        self.auth.error = Some(format!("{why}; retrying in {} s", delay / 1000));
                        self.publish_auth();
                        Some(why)
                    }
                };
                for (tab, req) in waiters {
                    self.post_one(tab, FromHub::Done { req, error: error.clone() });
                }
            }
        }
    }

    /// Token events from the server (also delivered to subscribed tabs as events).
    fn on_token_event(&mut self, event: &str, args: &str, now: Millis) {
        let first = json::parse(args).ok().and_then(|v| match v {
            Value::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
            _ => None,
        });
        match event {
            "TOKEN_EXPIRING" => self.request_refresh(None, now),
            "TOKEN_UPDATED" => {
                let expires = first.as_ref().and_then(|o| o.get("expires_at")).and_then(Value::as_u64);
                if let (Some(e), Some(_)) = (expires, self.auth.user.as_ref()) {
                    if self.auth.expires_at != Some(e) {
                        self.auth.expires_at = Some(e);
                        self.refresh_at = Some(now + e.saturating_sub(self.server_ms(now)) * 2 / 3);
                        self.publish_auth();
                    }
                }
            }
            "TOKEN_INVALIDATED" => {
                let reason = first
                    .as_ref()
                    .and_then(|o| o.get("reason"))
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| "invalidated by the server".into());
                self.signed_out(&reason);
            }
            _ => {}
        }
    }

    /// Wall-clock ms now, corrected to the server's clock when an offset is known.
    fn server_ms(&self, now: Millis) -> u64 {
        let wall = now as i64 + self.shared.wall_offset.get();
        (wall + self.clock.map_or(0, |c| c.0)).max(0) as u64
    }

    /// Server clock minus this browser's clock and the round trip of that sample.
    pub fn clock_offset(&self) -> Option<(i64, u64)> {
        self.clock
    }

    /// Restored stored emits join the front of the queue, in their original order.
    fn adopt(&mut self, mut recs: Vec<(u64, StoredEmit)>, now: Millis) {
        recs.sort_by_key(|(k, _)| *k);
        let mut restored = VecDeque::new();
        for (key, rec) in recs {
            if !self.held_ids.insert(rec.id.clone()) {
                continue;
            }
            let b = Buffered {
                event: rec.event,
                args: rec.args,
                bins: rec.bins,
                ack: None,
                durable: Some(Durable { key, id: rec.id, tab: None, created_ms: rec.created_ms, persisted: true }),
            };
            self.buffered_bytes += b.size();
            restored.push_back(b);
        }
        self.log(format!("restored {} stored emits", restored.len()));
        restored.extend(self.buffer.drain(..));
        self.buffer = restored;
        self.flush(now);
    }

    fn on_persisted(&mut self, keys: &[u64]) {
        for k in keys {
            if let Some((tab, seq)) = self.awaiting_store.remove(k) {
                self.post_one(tab, FromHub::Stored { seq });
            }
        }
    }

    fn set_online(&mut self, online: bool, now: Millis) {
        self.online = online;
        if online {
            if let Conn::Backoff { .. } = self.conn {
                // The network is back: try at once rather than wait out the backoff.
                self.start_connect(now);
            }
        }
        self.publish_status();
    }

    /// Durable emits may go on the wire: connected, and the server's kind is known.
    fn can_send(&self) -> bool {
        matches!(self.conn, Conn::Connected { .. }) && self.contract.is_some()
    }

    /// Sends everything queued, oldest first, once the socket can take it.
    fn flush(&mut self, now: Millis) {
        if !self.can_send() {
            return;
        }
        while let Some(b) = self.buffer.pop_front() {
            self.buffered_bytes -= b.size();
            self.send_buffered(b, now);
        }
    }

    fn send_buffered(&mut self, mut b: Buffered, now: Millis) {
        let Some(d) = b.durable.as_mut() else {
            return self.send_emit(&b.event, &b.args, b.bins, b.ack);
        };
        if d.created_ms + self.config.max_age_ms < self.server_ms(now) {
            let reason = format!("emit {:?} expired after {} ms offline", b.event, self.config.max_age_ms);
            return self.drop_durable(b, reason);
        }
        if self.contract == Some(true) {
            let sio = self.next_ack_id();
            let nsp = self.nsp().to_string();
            let (id, event) = (d.id.clone(), b.event.clone());
            self.send_text(socketio::encode_event(&nsp, b.bins.len(), Some(sio), &["sb:emit", &id, &event], &b.args));
            // Kept (with its attachments) until the server's receipt: resent after a drop.
            for bin in b.bins.clone() {
                self.out.push_back(Output::SendBinary { hub: self.id, bytes: bin.0 });
            }
            self.inflight.insert(sio, b);
        } else {
            // A plain server gives no receipt: written to the socket is as far as we know.
            let bins = core::mem::take(&mut b.bins);
            self.send_emit(&b.event, &b.args, bins, None);
            self.delivered(b);
        }
    }

    /// A durable emit is done with: forget it everywhere and release the tab's copy.
    fn delivered(&mut self, b: Buffered) {
        let Some(d) = b.durable else { return };
        self.held_ids.remove(&d.id);
        if d.persisted {
            self.out.push_back(Output::Unpersist { key: d.key });
        }
        if self.awaiting_store.remove(&d.key).is_some() || !d.persisted {
            if let Some((tab, seq)) = d.tab {
                if self.tabs.contains_key(&tab) {
                    self.post_one(tab, FromHub::Stored { seq });
                }
            }
        }
    }

    fn drop_durable(&mut self, b: Buffered, reason: String) {
        self.log(reason.clone());
        let Some(d) = b.durable else { return };
        self.held_ids.remove(&d.id);
        self.awaiting_store.remove(&d.key);
        if d.persisted {
            self.out.push_back(Output::Unpersist { key: d.key });
        }
        if let Some((tab, seq)) = d.tab {
            if self.tabs.contains_key(&tab) {
                self.post_one(tab, FromHub::Refused { seq, reason });
            }
        }
    }

    /// Writes a durable emit to storage so it outlives the worker.
    fn persist(&mut self, b: &mut Buffered) {
        let Some(d) = b.durable.as_mut() else { return };
        if d.persisted {
            return;
        }
        d.persisted = true;
        let rec = StoredEmit {
            version: STORE_VERSION,
            endpoint: self.key.0.clone(),
            auth: self.key.1.clone(),
            id: d.id.clone(),
            event: b.event.clone(),
            args: b.args.clone(),
            bins: b.bins.clone(),
            created_ms: d.created_ms,
        };
        if let Some(t) = d.tab {
            self.awaiting_store.insert(d.key, t);
        }
        self.out.push_back(Output::Persist { key: d.key, record: port::encode(&rec) });
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.key.0
    }

    pub fn status(&self) -> Status {
        if !self.online && !matches!(self.conn, Conn::Connected { .. } | Conn::Stopped { .. }) {
            return Status::Offline;
        }
        match &self.conn {
            Conn::Idle | Conn::Opening { .. } | Conn::Joining { .. } => Status::Connecting,
            Conn::Connected { sid, .. } => Status::Connected { sid: sid.clone() },
            Conn::Backoff { attempt, delay, .. } => {
                Status::Reconnecting { attempt: *attempt, delay_ms: (*delay).min(u32::MAX as u64) as u32 }
            }
            Conn::Stopped { reason } => Status::Disconnected { reason: reason.clone() },
        }
    }

    pub fn tab_names(&self) -> Vec<String> {
        self.tabs.values().map(|t| t.name.clone()).collect()
    }

    /// Rooms the hub has joined on the server.
    pub fn server_rooms(&self) -> Vec<String> {
        self.rooms.iter().filter(|(_, r)| r.server == ServerRoom::In).map(|(k, _)| k.clone()).collect()
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn nsp(&self) -> &str {
        &self.key.0.namespace
    }

    fn log(&mut self, msg: String) {
        self.out.push_back(Output::Log(msg));
    }

    fn post(&mut self, tabs: Vec<TabKey>, msg: FromHub) {
        if !tabs.is_empty() {
            self.out.push_back(Output::Post { tabs, msg });
        }
    }

    fn post_one(&mut self, tab: TabKey, msg: FromHub) {
        self.post(alloc::vec![tab], msg);
    }

    fn all_tabs(&self) -> Vec<TabKey> {
        self.tabs.keys().copied().collect()
    }

    fn publish_status(&mut self) {
        let s = self.status();
        if self.last_status.as_ref() != Some(&s) {
            self.last_status = Some(s.clone());
            let tabs = self.all_tabs();
            self.post(tabs, FromHub::Status(s));
        }
    }

    fn publish_tabs(&mut self) {
        let names = self.tab_names();
        let tabs = self.all_tabs();
        self.post(tabs, FromHub::Tabs { tabs: names });
        self.announce_tabs();
    }

    /// Tells a contract server which tabs this socket serves, so it can address one
    /// (`sb:tab`).
    fn announce_tabs(&mut self) {
        if self.contract == Some(true) && matches!(self.conn, Conn::Connected { .. }) {
            let mut list = String::from("[");
            for (i, name) in self.tab_names().iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                json::write_string(&mut list, name);
            }
            list.push(']');
            let nsp = self.nsp().to_string();
            self.send_text(socketio::encode_event(&nsp, 0, None, &["sb:tabs"], &format!("[{list}]")));
        }
    }

    fn send_text(&mut self, sio: String) {
        self.out.push_back(Output::SendText { hub: self.id, text: engineio::message(&sio) });
    }

    fn attach(&mut self, tab: TabKey, name: String, now: Millis) {
        self.tabs.insert(tab, Tab { name, subs: BTreeSet::new(), rooms: BTreeSet::new() });
        self.linger_until = None;
        self.retired = false;
        self.post_one(tab, FromHub::Welcome { version: PROTOCOL_VERSION, status: self.status() });
        if let Some((offset_ms, rtt)) = self.clock {
            self.post_one(tab, FromHub::Clock { offset_ms, rtt_ms: rtt.min(u32::MAX as u64) as u32 });
        }
        self.publish_tabs();
        if self.auth_supported == Some(true) {
            self.post_one(tab, FromHub::Auth(self.auth.clone()));
        } else if self.auth_supported.is_none() && !self.http.values().any(|c| matches!(c, HttpCall::Session(_))) {
            self.http(HttpCall::Session(self.auth_gen), false, "session", None);
        }
        if matches!(self.conn, Conn::Idle | Conn::Stopped { .. }) {
            self.attempt = 0;
            self.start_connect(now);
        }
    }

    fn detach(&mut self, tab: TabKey, now: Millis) {
        let Some(t) = self.tabs.remove(&tab) else {
            return;
        };
        for room in t.rooms {
            self.leave_room(tab, None, &room, now);
        }
        // The tab's acks can no longer be delivered; its queued emits still go out.
        self.awaiting_store.retain(|_, (t, _)| *t != tab);
        for b in self.buffer.iter_mut().chain(self.inflight.values_mut()) {
            if let Some(d) = b.durable.as_mut().filter(|d| d.tab.is_some_and(|(t, _)| t == tab)) {
                d.tab = None;
            }
        }
        self.pending.retain(|_, p| !matches!(p, Pending::Tab { tab: t, .. } if *t == tab));
        for r in self.rooms.values_mut() {
            r.waiters.retain(|(t, _, _)| *t != tab);
        }
        self.publish_tabs();
        if self.tabs.is_empty() {
            self.linger_until = Some(now + self.config.linger_ms);
        }
    }

    fn start_connect(&mut self, now: Millis) {
        self.next_conn += 1;
        let conn = self.next_conn;
        self.conn = Conn::Opening { conn, deadline: now + self.config.connect_timeout_ms };
        self.ping_deadline = None;
        self.out.push_back(Output::Open { hub: self.id, conn, url: self.url.clone() });
        self.publish_status();
    }

    fn current_conn(&self) -> Option<u32> {
        match &self.conn {
            Conn::Opening { conn, .. } | Conn::Joining { conn, .. } | Conn::Connected { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    /// The message of Socket.IO servers (Node's and socketioxide) for a namespace they do not
    /// have: retried with backoff, unlike other CONNECT_ERRORs (middleware refusals), which are
    /// final as in socket.io-client.
    const INVALID_NAMESPACE: &str = "Invalid namespace";

    /// The socket is gone (closed, timed out, or the server said so): schedule a retry.
    fn lost(&mut self, now: Millis, reason: &str) {
        if self.current_conn().is_some() {
            self.out.push_back(Output::Close { hub: self.id });
        }
        self.log(format!("connection lost: {reason}"));
        self.forget_session();
        if self.tabs.is_empty() || !self.config.reconnection {
            self.conn = if self.tabs.is_empty() { Conn::Idle } else { Conn::Stopped { reason: reason.into() } };
        } else {
            let delay = self.config.backoff.delay_ms(self.attempt, &mut self.rng);
            self.attempt = self.attempt.saturating_add(1);
            self.conn = Conn::Backoff { until: now + delay, attempt: self.attempt, delay };
        }
        self.publish_status();
    }

    fn stop(&mut self, reason: String) {
        if self.current_conn().is_some() {
            self.out.push_back(Output::Close { hub: self.id });
        }
        self.log(format!("disconnected: {reason}"));
        self.forget_session();
        self.conn = Conn::Stopped { reason };
        self.publish_status();
    }

    /// What the server knew of this socket is gone with it: rooms, pending contract
    /// requests, server acks waiting for a reply.
    fn forget_session(&mut self) {
        self.ping_deadline = None;
        self.hello_deadline = None;
        self.partial = None;
        // Emits in flight got no receipt: back to the front of the queue, and to storage.
        let mut front = VecDeque::new();
        for (_, mut b) in core::mem::take(&mut self.inflight) {
            self.persist(&mut b);
            self.buffered_bytes += b.size();
            front.push_back(b);
        }
        if !front.is_empty() {
            front.extend(self.buffer.drain(..));
            self.buffer = front;
        }
        self.replies.clear();
        self.pending.retain(|_, p| matches!(p, Pending::Tab { .. }));
        let mut released = Vec::new();
        for room in self.rooms.values_mut() {
            if matches!(room.server, ServerRoom::Leaving(_)) {
                released.extend(room.waiters.drain(..).map(|(t, r, _)| (t, r)));
            }
            room.server = ServerRoom::Out;
        }
        self.rooms.retain(|_, r| !r.members.is_empty() || !r.waiters.is_empty());
        for (tab, req) in released {
            self.post_one(tab, FromHub::Done { req, error: None });
        }
    }

    pub fn handle_socket_open(&mut self, conn: u32, _now: Millis) {
        if self.current_conn() == Some(conn) {
            self.log(format!("websocket open: {}", self.url));
        }
    }

    pub fn handle_socket_closed(&mut self, conn: u32, now: Millis) {
        if self.current_conn() == Some(conn) {
            self.lost(now, "transport close");
        }
    }

    pub fn handle_socket_text(&mut self, conn: u32, text: &str, now: Millis) {
        if self.current_conn() != Some(conn) {
            return;
        }
        if self.partial.take().is_some() {
            self.log("text frame while waiting for binary attachments; dropped the partial packet".into());
        }
        let packet = match engineio::decode(text) {
            Ok(p) => p,
            Err(e) => return self.log(format!("ignored frame from server: {e}")),
        };
        match packet {
            EioPacket::Open(hs) => {
                if let Conn::Opening { conn, deadline } = self.conn {
                    self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                    let auth = self.connect_payload();
                    let nsp = self.nsp().to_string();
                    self.send_text(socketio::encode(Kind::Connect, &nsp, 0, None, &auth));
                    self.conn = Conn::Joining { conn, deadline, hs };
                } else {
                    self.log("unexpected Engine.IO OPEN; ignored".into());
                }
            }
            EioPacket::Ping(payload) => {
                if let Conn::Joining { hs, .. } | Conn::Connected { hs, .. } = &self.conn {
                    self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                }
                let mut pong = String::from(engineio::PONG);
                pong.push_str(payload);
                self.out.push_back(Output::SendText { hub: self.id, text: pong });
            }
            EioPacket::Close => self.lost(now, "server closed the transport"),
            EioPacket::Message(m) => self.handle_sio(m, now),
            EioPacket::Pong(_) | EioPacket::Upgrade | EioPacket::Noop => {}
        }
    }

    pub fn handle_socket_binary(&mut self, conn: u32, bytes: &[u8], now: Millis) {
        if self.current_conn() != Some(conn) {
            return;
        }
        let max = self.max_payload();
        let Some(p) = self.partial.as_mut() else {
            return self.log(format!("unexpected binary frame of {} bytes; ignored", bytes.len()));
        };
        p.bytes += bytes.len();
        if p.bytes > max {
            self.partial = None;
            return self.log(format!("binary attachments exceed maxPayload ({max} bytes); dropped"));
        }
        p.bins.push(Bytes(bytes.to_vec()));
        if p.bins.len() == p.need {
            if let Some(p) = self.partial.take() {
                self.dispatch(p.kind, p.id, &p.data, p.bins, now);
            }
        }
    }

    fn max_payload(&self) -> usize {
        match &self.conn {
            Conn::Joining { hs, .. } | Conn::Connected { hs, .. } => hs.max_payload.min(usize::MAX as u64) as usize,
            _ => port::MAX_PORT_MESSAGE,
        }
    }

    fn handle_sio(&mut self, text: &str, now: Millis) {
        let p = match socketio::decode(text) {
            Ok(p) => p,
            Err(e) => return self.log(format!("ignored packet from server: {e}")),
        };
        if p.nsp != self.nsp() {
            return;
        }
        match p.kind {
            Kind::Connect => {
                let Conn::Joining { conn, hs, .. } = &self.conn else {
                    return self.log("unexpected CONNECT; ignored".into());
                };
                let sid = json::parse(p.data)
                    .ok()
                    .and_then(|v| v.get("sid").and_then(Value::as_str).map(String::from))
                    .unwrap_or_default();
                self.conn = Conn::Connected { conn: *conn, hs: hs.clone(), sid };
                self.attempt = 0;
                self.publish_status();
                self.on_connected(now);
            }
            Kind::ConnectError => {
                let reason = json::parse(p.data)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .and_then(Value::as_str)
                            .map(String::from)
                            .or_else(|| v.as_str().map(String::from))
                    })
                    .unwrap_or_else(|| "connection refused by server".into());
                if reason == Self::INVALID_NAMESPACE {
                    // A server that is starting or shutting down has no namespaces for a
                    // moment (socketioxide's close() removes them before it closes the
                    // sockets): a refusal that would strand queued events if taken as final.
                    self.lost(now, &format!("connect_error: {reason} (retrying)"));
                } else {
                    self.stop(format!("connect_error: {reason}"));
                }
            }
            Kind::Disconnect => self.stop("io server disconnect".into()),
            Kind::Event | Kind::Ack | Kind::BinaryEvent | Kind::BinaryAck => {
                if p.attachments > 0 {
                    self.partial = Some(Partial {
                        kind: p.kind,
                        id: p.id,
                        data: p.data.to_string(),
                        need: p.attachments,
                        bins: Vec::new(),
                        bytes: 0,
                    });
                } else {
                    self.dispatch(p.kind, p.id, p.data, Vec::new(), now);
                }
            }
        }
    }

    fn on_connected(&mut self, now: Millis) {
        // The server forgot our rooms with the old socket: join every room that has tabs.
        let rooms: Vec<String> =
            self.rooms.iter().filter(|(_, r)| !r.members.is_empty()).map(|(k, _)| k.clone()).collect();
        for room in rooms {
            self.server_join(&room);
        }
        if self.contract.is_some() {
            self.flush(now);
        } else {
            self.hello_deadline = Some(now + HELLO_WAIT_MS);
        }
    }

    /// The server announced the Switchboard contract: durable emits go in `sb:emit`
    /// envelopes with receipts, and we measure the clock offset.
    fn on_hello(&mut self, now: Millis) {
        self.contract = Some(true);
        self.hello_deadline = None;
        self.contract_request(Pending::Time { sent: now }, &["sb:time"], "[]");
        self.announce_tabs();
        if let Some(after) = self.last_seq {
            // Ask for the numbered events sent while we were away.
            self.contract_request(Pending::Resume, &["sb:resume"], &format!("[{after}]"));
        }
        self.flush(now);
    }

    /// `["sb:seq", n, event, ...args]`: a numbered server event. Delivered once per number;
    /// the number lets a reconnecting hub ask for what it missed. None: malformed;
    /// Some(None): a number already seen.
    fn on_seq(&mut self, args: &str) -> Option<Option<(String, String)>> {
        let mut sc = json::Scanner::new(args);
        if !sc.eat(b'[') {
            return None;
        }
        let n = sc.value(0).ok()?.as_u64()?;
        if !sc.eat(b',') {
            return None;
        }
        let event = sc.string().ok()?;
        let mut rest = String::from("[");
        if sc.eat(b',') {
            sc.skip_ws();
            rest.push_str(args.get(sc.pos..)?);
        } else {
            rest.push(']');
        }
        if !self.seen_seq.insert(n) {
            return Some(None);
        }
        self.last_seq = Some(self.last_seq.map_or(n, |l| l.max(n)));
        while self.seen_seq.len() > 4096 {
            self.seen_seq.pop_first();
        }
        Some(Some((event, rest)))
    }

    fn on_time(&mut self, sent: Millis, data: &str, now: Millis) {
        let server = json::parse(data).ok().and_then(|v| match v {
            Value::Array(items) => items.first().and_then(|t| t.get("time")).and_then(Value::as_u64),
            _ => None,
        });
        let Some(server) = server else { return self.log("sb:time ack without a time; ignored".into()) };
        let rtt = now.saturating_sub(sent);
        let wall_at_midpoint = sent as i64 + self.shared.wall_offset.get() + (rtt / 2) as i64;
        let offset = server as i64 - wall_at_midpoint;
        if self.clock.is_none_or(|(_, best)| rtt < best) {
            self.clock = Some((offset, rtt));
            let tabs = self.all_tabs();
            self.post(tabs, FromHub::Clock { offset_ms: offset, rtt_ms: rtt.min(u32::MAX as u64) as u32 });
        }
    }

    fn dispatch(&mut self, kind: Kind, id: Option<u64>, data: &str, bins: Vec<Bytes>, now: Millis) {
        match kind {
            Kind::Ack | Kind::BinaryAck => match id {
                Some(id) => self.on_ack(id, data, bins, now),
                None => self.log("ACK without an id; ignored".into()),
            },
            _ => self.on_event(id, data, bins, now),
        }
    }

    fn on_event(&mut self, id: Option<u64>, data: &str, bins: Vec<Bytes>, now: Millis) {
        let (mut names, mut args) = match socketio::split_leading_strings(data, 1) {
            Ok(x) => x,
            Err(e) => return self.log(format!("ignored event: {e}")),
        };
        let mut event = names.pop().unwrap_or_default();
        if event == "sb:hello" {
            return self.on_hello(now);
        }
        if event == "sb:seq" {
            match self.on_seq(&args) {
                Some(Some((e, rest))) => {
                    event = e;
                    args = rest;
                }
                Some(None) => return, // a replay we already had
                None => return self.log("ignored a malformed sb:seq event".into()),
            }
        }
        let mut room = None;
        let mut only_tab = None;
        if event == "sb:tab" {
            match socketio::split_leading_strings(&args, 2) {
                Ok((mut n, rest)) if n.len() == 2 => {
                    event = n.pop().unwrap_or_default();
                    only_tab = n.pop();
                    args = rest;
                }
                _ => return self.log("ignored sb:tab event without a tab and an event name".into()),
            }
        }
        if event == "sb:room" {
            match socketio::split_leading_strings(&args, 2) {
                Ok((mut n, rest)) if n.len() == 2 => {
                    event = n.pop().unwrap_or_default();
                    room = n.pop();
                    args = rest;
                }
                _ => return self.log("ignored sb:room event without a room and an event name".into()),
            }
        }
        if room.is_none() && event.starts_with("TOKEN_") {
            self.on_token_event(&event, &args, now);
        }
        let targets: Vec<TabKey> = self
            .tabs
            .iter()
            .filter(|(_, t)| {
                t.subs.contains(&event)
                    && room.as_ref().is_none_or(|r| t.rooms.contains(r))
                    && only_tab.as_ref().is_none_or(|name| *name == t.name)
            })
            .map(|(k, _)| *k)
            .collect();
        let reply = match id {
            Some(server_id) if !targets.is_empty() => {
                if self.replies.len() >= MAX_REPLIES {
                    if let Some((&old, _)) = self.replies.iter().next() {
                        self.replies.remove(&old);
                    }
                }
                self.next_token = self.next_token.wrapping_add(1);
                self.replies.insert(self.next_token, server_id);
                Some(self.next_token)
            }
            _ => None,
        };
        self.post(targets, FromHub::Event { event, room, args, bins, reply });
    }

    fn on_ack(&mut self, id: u64, data: &str, bins: Vec<Bytes>, now: Millis) {
        if let Some(b) = self.inflight.remove(&id) {
            return match contract_error(data) {
                None => self.delivered(b),
                Some(e) => self.drop_durable(b, format!("the server refused emit {:?}: {e}", "sb:emit")),
            };
        }
        match self.pending.remove(&id) {
            Some(Pending::Time { sent }) => self.on_time(sent, data, now),
            Some(Pending::Resume) => {
                let recovered = json::parse(data).ok().is_some_and(|v| match v {
                    Value::Array(items) => items.first().and_then(|r| r.get("recovered")) == Some(&Value::Bool(true)),
                    _ => false,
                });
                if !recovered {
                    self.log("the server could not replay everything sent while we were away".into());
                }
                let tabs = self.all_tabs();
                self.post(tabs, FromHub::Recovered { recovered });
            }
            Some(Pending::Tab { tab, id, .. }) => self.post_one(tab, FromHub::Ack { id, args: data.to_string(), bins }),
            Some(Pending::Join(room)) => {
                let error = contract_error(data);
                let Some(r) = self.rooms.get_mut(&room) else {
                    return;
                };
                let waiters: Vec<_> = r.waiters.drain(..).collect();
                r.server = if error.is_none() { ServerRoom::In } else { ServerRoom::Out };
                let empty = r.members.is_empty();
                for (tab, req, _) in waiters {
                    self.post_one(tab, FromHub::Done { req, error: error.clone() });
                }
                if let Some(e) = &error {
                    self.log(format!("server refused to join {room:?}: {e}"));
                    // Tabs that were refused are not members.
                    if let Some(r) = self.rooms.get_mut(&room) {
                        let members: Vec<_> = core::mem::take(&mut r.members).into_iter().collect();
                        for t in members {
                            if let Some(tab) = self.tabs.get_mut(&t) {
                                tab.rooms.remove(&room);
                            }
                        }
                    }
                    self.rooms.remove(&room);
                } else if empty {
                    self.server_leave(&room);
                }
            }
            Some(Pending::Leave(room)) => {
                let Some(r) = self.rooms.get_mut(&room) else {
                    return;
                };
                r.server = ServerRoom::Out;
                let waiters: Vec<_> = r.waiters.drain(..).collect();
                let rejoin = !r.members.is_empty();
                for (tab, req, _) in waiters {
                    self.post_one(tab, FromHub::Done { req, error: None });
                }
                if rejoin {
                    self.server_join(&room);
                } else {
                    self.rooms.remove(&room);
                }
            }
            None => self.log(format!("ack {id} matches no pending request (late or duplicate); ignored")),
        }
    }

    fn next_ack_id(&mut self) -> u64 {
        let id = self.next_ack;
        // Ack ids must stay below 2^53 to survive a JavaScript server; wrap long before.
        self.next_ack = (self.next_ack + 1) % 1_000_000_000_000;
        id
    }

    /// Sends one of the contract's requests (`prefix` then `args`) with an ack id, and
    /// remembers what its ack answers.
    fn contract_request(&mut self, pending: Pending, prefix: &[&str], args: &str) -> u64 {
        let id = self.next_ack_id();
        self.pending.insert(id, pending);
        let nsp = self.nsp().to_string();
        self.send_text(socketio::encode_event(&nsp, 0, Some(id), prefix, args));
        id
    }

    fn server_join(&mut self, room: &str) {
        self.server_room(room, true);
    }

    fn server_leave(&mut self, room: &str) {
        self.server_room(room, false);
    }

    /// `sb:join` / `sb:leave` on the server; without a connection a leave is already done.
    fn server_room(&mut self, room: &str, join: bool) {
        if !matches!(self.conn, Conn::Connected { .. }) {
            if !join {
                self.rooms.remove(room);
            }
            return;
        }
        let (pending, name) = if join {
            (Pending::Join(room.to_string()), "sb:join")
        } else {
            (Pending::Leave(room.to_string()), "sb:leave")
        };
        let id = self.contract_request(pending, &[name, room], "[]");
        if let Some(r) = self.rooms.get_mut(room) {
            r.server = if join { ServerRoom::Joining(id) } else { ServerRoom::Leaving(id) };
        }
    }

    fn handle_tab(&mut self, tab: TabKey, msg: ToHub, now: Millis) {
        match msg {
            ToHub::Hello { .. } | ToHub::Bye => {}
            ToHub::Subscribe { event } => {
                if let Some(t) = self.tabs.get_mut(&tab) {
                    t.subs.insert(event);
                }
            }
            ToHub::Unsubscribe { event } => {
                if let Some(t) = self.tabs.get_mut(&tab) {
                    t.subs.remove(&event);
                }
            }
            ToHub::Emit { seq, event, args, bins, ack, volatile } => {
                self.tab_emit(tab, seq, event, args, bins, ack, volatile, now)
            }
            ToHub::Reply { token, args, bins } => {
                let Some(server_id) = self.replies.remove(&token) else {
                    return;
                };
                if let Err(e) = check_args(&args) {
                    return self
                        .post_one(tab, FromHub::Error { code: ErrorCode::BadPayload, message: format!("reply: {e}") });
                }
                let nsp = self.nsp().to_string();
                let n = bins.len();
                self.send_text(socketio::encode_ack(&nsp, n, server_id, &args));
                for b in bins {
                    self.out.push_back(Output::SendBinary { hub: self.id, bytes: b.0 });
                }
            }
            ToHub::Join { req, room } => {
                if room.is_empty() || room.len() > MAX_NAME {
                    return self
                        .post_one(tab, FromHub::Done { req, error: Some("room name must be 1..512 bytes".into()) });
                }
                let Some(t) = self.tabs.get_mut(&tab) else {
                    return;
                };
                t.rooms.insert(room.clone());
                let deadline = Some(now + self.config.connect_timeout_ms);
                let r = self.rooms.entry(room.clone()).or_insert(Room {
                    members: BTreeSet::new(),
                    server: ServerRoom::Out,
                    waiters: Vec::new(),
                });
                r.members.insert(tab);
                match r.server {
                    ServerRoom::In => self.post_one(tab, FromHub::Done { req, error: None }),
                    ServerRoom::Joining(_) | ServerRoom::Leaving(_) => r.waiters.push((tab, req, deadline)),
                    ServerRoom::Out => {
                        r.waiters.push((tab, req, deadline));
                        self.server_join(&room);
                    }
                }
            }
            ToHub::Leave { req, room } => self.leave_room(tab, Some(req), &room, now),
            ToHub::Login { req, username, password } => {
                let mut body = String::from("{\"username\":");
                json::write_string(&mut body, &username);
                body.push_str(",\"password\":");
                json::write_string(&mut body, &password);
                body.push('}');
                self.http(HttpCall::Login(tab, req), true, "login", Some(body));
            }
            ToHub::Logout { req } => self.http(HttpCall::Logout(tab, req), true, "logout", None),
            ToHub::Refresh { req } => self.request_refresh(Some((tab, req)), now),
            ToHub::Token { req } => {
                let soon = self.auth.expires_at.is_none_or(|e| e <= self.server_ms(now) + 5_000);
                match (&self.token, self.config.bearer) {
                    (_, false) => {
                        let error =
                            Some("tokens are HttpOnly cookies; connect with authMode: 'bearer' to read one".into());
                        self.post_one(tab, FromHub::Token { req, token: None, error });
                    }
                    (Some(t), true) if !soon => {
                        let msg = FromHub::Token { req, token: Some(t.clone()), error: None };
                        self.post_one(tab, msg);
                    }
                    _ => {
                        self.token_waiters.push((tab, req));
                        self.request_refresh(None, now);
                    }
                }
            }
        }
    }

    fn leave_room(&mut self, tab: TabKey, req: Option<u32>, room: &str, now: Millis) {
        if let Some(t) = self.tabs.get_mut(&tab) {
            t.rooms.remove(room);
        }
        let Some(r) = self.rooms.get_mut(room) else {
            if let Some(req) = req {
                self.post_one(tab, FromHub::Done { req, error: None });
            }
            return;
        };
        r.members.remove(&tab);
        r.waiters.retain(|(t, _, _)| *t != tab);
        let last = r.members.is_empty();
        let state = r.server;
        match (last, state) {
            (true, ServerRoom::In) => {
                if let Some(req) = req {
                    r.waiters.push((tab, req, Some(now + self.config.connect_timeout_ms)));
                }
                self.server_leave(room);
                if !self.rooms.contains_key(room) {
                    // Not connected: nothing to leave on the server.
                    if let Some(req) = req {
                        self.post_one(tab, FromHub::Done { req, error: None });
                    }
                }
            }
            (true, ServerRoom::Out) => {
                self.rooms.remove(room);
                if let Some(req) = req {
                    self.post_one(tab, FromHub::Done { req, error: None });
                }
            }
            (true, ServerRoom::Leaving(_)) => {
                if let Some(req) = req {
                    r.waiters.push((tab, req, Some(now + self.config.connect_timeout_ms)));
                }
            }
            // Still members, or a join in flight whose ack will leave again when it sees no members.
            _ => {
                if let Some(req) = req {
                    self.post_one(tab, FromHub::Done { req, error: None });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tab_emit(
        &mut self,
        tab: TabKey,
        seq: u32,
        event: String,
        args: String,
        bins: Vec<Bytes>,
        ack: Option<AckRequest>,
        volatile: bool,
        now: Millis,
    ) {
        let durable = ack.is_none() && !volatile;
        let fail = |hub: &mut Hub, message: String, code: ErrorCode| match ack {
            Some(a) => hub.post_one(tab, FromHub::AckFailed { id: a.id, reason: message }),
            None if durable => hub.post_one(tab, FromHub::Refused { seq, reason: message }),
            None => hub.post_one(tab, FromHub::Error { code, message }),
        };
        if event.is_empty()
            || event.len() > MAX_NAME
            || RESERVED.contains(&event.as_str())
            || event.starts_with(CONTRACT_PREFIX)
        {
            return fail(self, format!("{event:?} is not an event name a tab may emit"), ErrorCode::BadPayload);
        }
        if let Err(e) = check_args(&args) {
            return fail(self, format!("emit {event:?}: {e}"), ErrorCode::BadPayload);
        }
        let size = event.len() + args.len() + bins.iter().map(|b| b.0.len()).sum::<usize>();
        if size > self.max_payload() {
            return fail(
                self,
                format!("emit {event:?}: {size} bytes exceeds the server's maxPayload"),
                ErrorCode::BadPayload,
            );
        }
        if volatile {
            // Socket.IO semantics: a volatile event is sent now or never.
            if matches!(self.conn, Conn::Connected { .. }) {
                self.send_emit(&event, &args, bins, None);
            }
            return;
        }
        let id = {
            let name = self.tabs.get(&tab).map(|t| t.name.as_str()).unwrap_or("");
            format!("{name}-{seq}")
        };
        if durable && self.held_ids.contains(&id) {
            // A page resending to a restarted hub: we already hold it.
            return self.post_one(tab, FromHub::Stored { seq });
        }
        let held = self.buffer.len() + self.inflight.len();
        if !self.can_send()
            && (held >= self.config.max_buffered || self.buffered_bytes + size > self.config.max_buffered_bytes)
        {
            let message = format!(
                "offline queue full ({held} events, {} bytes; limits {} and {}): emit {event:?} was not queued",
                self.buffered_bytes, self.config.max_buffered, self.config.max_buffered_bytes
            );
            return fail(self, message, ErrorCode::BufferFull);
        }
        let ack_id = ack.map(|a| {
            let sio = self.next_ack_id();
            let deadline = (a.timeout_ms > 0).then(|| now + a.timeout_ms as u64);
            self.pending.insert(sio, Pending::Tab { tab, id: a.id, deadline });
            sio
        });
        let durable = durable.then(|| {
            let key = self.shared.next_key.get();
            self.shared.next_key.set(key + 1);
            self.held_ids.insert(id.clone());
            Durable { key, id, tab: Some((tab, seq)), created_ms: self.server_ms(now), persisted: false }
        });
        let mut b = Buffered { event, args, bins, ack: ack_id, durable };
        if self.can_send() {
            self.send_buffered(b, now);
        } else {
            self.persist(&mut b);
            self.buffered_bytes += b.size();
            self.buffer.push_back(b);
        }
    }

    fn send_emit(&mut self, event: &str, args: &str, bins: Vec<Bytes>, ack: Option<u64>) {
        let nsp = self.nsp().to_string();
        self.send_text(socketio::encode_event(&nsp, bins.len(), ack, &[event], args));
        for b in bins {
            self.out.push_back(Output::SendBinary { hub: self.id, bytes: b.0 });
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        match self.conn.clone() {
            Conn::Opening { deadline, .. } | Conn::Joining { deadline, .. } if now >= deadline => {
                self.lost(now, "connect timeout")
            }
            Conn::Backoff { until, .. } if now >= until && self.online => self.start_connect(now),
            _ => {}
        }
        if self.refresh_at.is_some_and(|d| now >= d) {
            self.refresh_at = None;
            self.request_refresh(None, now);
        }
        if self.hello_deadline.is_some_and(|d| now >= d) {
            self.hello_deadline = None;
            self.contract = Some(false);
            self.log("no sb:hello from the server: plain Socket.IO, delivery is at-least-once at best".into());
            self.flush(now);
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            self.lost(now, "ping timeout");
        }
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::Tab { deadline: Some(d), .. } if now >= *d))
            .map(|(k, _)| *k)
            .collect();
        for sio in expired {
            if let Some(Pending::Tab { tab, id, .. }) = self.pending.remove(&sio) {
                // An emit still in the offline buffer is withdrawn, as socket.io-client does.
                if let Some(pos) = self.buffer.iter().position(|b| b.ack == Some(sio)) {
                    if let Some(b) = self.buffer.remove(pos) {
                        self.buffered_bytes -= b.size();
                    }
                }
                self.post_one(tab, FromHub::AckFailed { id, reason: "operation has timed out".into() });
            }
        }
        let mut late = Vec::new();
        for (name, r) in self.rooms.iter_mut() {
            r.waiters.retain(|(tab, req, d)| {
                let gone = d.is_some_and(|d| now >= d);
                if gone {
                    late.push((*tab, *req, name.clone()));
                }
                !gone
            });
        }
        for (tab, req, room) in late {
            self.post_one(
                tab,
                FromHub::Done { req, error: Some(format!("server did not confirm room {room:?} in time")) },
            );
        }
        if self.linger_until.is_some_and(|d| now >= d) {
            self.linger_until = None;
            if self.tabs.is_empty() {
                if self.current_conn().is_some() {
                    self.out.push_back(Output::Close { hub: self.id });
                }
                self.conn = Conn::Idle;
                self.ping_deadline = None;
                // Keep a hub with buffered emits: a tab coming back will flush them.
                self.retired = self.buffer.is_empty() && self.inflight.is_empty();
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        let conn = match &self.conn {
            Conn::Opening { deadline, .. } | Conn::Joining { deadline, .. } => Some(*deadline),
            Conn::Backoff { until, .. } if self.online => Some(*until),
            _ => None,
        };
        let acks = self.pending.values().filter_map(|p| match p {
            Pending::Tab { deadline, .. } => *deadline,
            _ => None,
        });
        let rooms = self.rooms.values().flat_map(|r| r.waiters.iter().filter_map(|w| w.2));
        [conn, self.ping_deadline, self.linger_until, self.hello_deadline, self.refresh_at]
            .into_iter()
            .flatten()
            .chain(acks)
            .chain(rooms)
            .min()
    }
}

/// The `error` field of a JSON error body, or a description of the status.
fn error_text(body: &str, status: u16, what: &str) -> String {
    json::parse(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| format!("{what} (HTTP {status})"))
}

/// Arguments from a tab must be one well-formed JSON array.
fn check_args(args: &str) -> Result<(), String> {
    if !args.trim_start().starts_with('[') {
        return Err("arguments must be a JSON array".into());
    }
    json::validate(args).map_err(|e| e.to_string())
}

/// The server contract acks `sb:join`/`sb:leave` with `{"ok":true}` or `{"error":"..."}`.
fn contract_error(ack_args: &str) -> Option<String> {
    let v = json::parse(ack_args).ok()?;
    let Value::Array(items) = v else { return None };
    items.first()?.get("error").map(|e| e.as_str().map(String::from).unwrap_or_else(|| "refused".into()))
}
