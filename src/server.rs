//! The reference backend and dev server: Socket.IO (socketioxide) on `/socket.io`
//! implementing the Switchboard server contract (docs/server-contract.md), the demo page and
//! the browser bundle, and `/debug/metrics`. Binds wherever it is told; the CLI defaults to
//! 127.0.0.1.

use crate::assets;
use crate::auth::{self, Auth, Refresh, Session};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::{ConnectHandler, FromMessageParts, Value as RawValue};
use socketioxide::socket::Socket;
use socketioxide::SocketIo;
use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Origins allowed to open a socket. Empty: only the server's own origin.
    pub allowed_origins: Vec<String>,
    /// Where the dedup window is kept across restarts; None keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// How many recent `sb:emit` ids are remembered to drop duplicates.
    pub dedup_window: usize,
    /// `name:password` lines (empty: the demo users alice and bob).
    pub users: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Refuse sockets without a valid access token (CONNECT_ERROR "not authenticated").
    pub require_auth: bool,
    /// Files served under `/vendor/` from this directory (the benchmark's peer client).
    pub vendor_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            allowed_origins: Vec::new(),
            data_dir: None,
            dedup_window: 100_000,
            users: String::new(),
            access_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            require_auth: false,
            vendor_dir: None,
        }
    }
}

/// A TCP listener whose connections count the bytes written to them, and which drops new
/// connections once the server is closing.
struct Counting {
    inner: TcpListener,
    sent: Arc<AtomicU64>,
    closing: Arc<std::sync::atomic::AtomicBool>,
}

impl axum::serve::Listener for Counting {
    type Io = CountingStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if !self.closing.load(Ordering::SeqCst) {
                return (CountingStream { io, sent: self.sent.clone() }, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

struct CountingStream {
    io: tokio::net::TcpStream,
    sent: Arc<AtomicU64>,
}

impl CountingStream {
    fn count(&self, r: std::task::Poll<std::io::Result<usize>>) -> std::task::Poll<std::io::Result<usize>> {
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl tokio::io::AsyncRead for CountingStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountingStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        self.count(r)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counters the tests and `/debug/metrics` read.
#[derive(Debug, Default)]
pub struct Stats {
    /// WebSocket upgrade requests accepted on /socket.io.
    pub ws_upgrades: AtomicU64,
    /// Socket.IO sockets connected now, and ever.
    pub sockets_now: AtomicI64,
    pub sockets_total: AtomicU64,
    /// Requests refused for their Origin.
    pub origin_refused: AtomicU64,
    /// Bytes written to every connection (HTTP and WebSocket, as TCP payload).
    pub bytes_sent: Arc<AtomicU64>,
    /// `sb:emit` envelopes received, and duplicates dropped.
    pub emits_received: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    /// What the demo/test application received through `record` events, in order.
    pub recorded: Mutex<Vec<Value>>,
    /// Woken on every `record`.
    pub recorded_changed: tokio::sync::Notify,
}

impl Stats {
    pub fn snapshot(&self) -> Value {
        json!({
            "websocket_upgrades": self.ws_upgrades.load(Ordering::Relaxed),
            "sockets_connected": self.sockets_now.load(Ordering::Relaxed),
            "sockets_total": self.sockets_total.load(Ordering::Relaxed),
            "origin_refused": self.origin_refused.load(Ordering::Relaxed),
            "bytes_sent": self.bytes_sent.load(Ordering::Relaxed),
            "emits_received": self.emits_received.load(Ordering::Relaxed),
            "duplicates_dropped": self.duplicates_dropped.load(Ordering::Relaxed),
        })
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub auth: Arc<Auth>,
    /// While set, /auth/refresh answers 503 (to test an auth outage).
    pub refresh_down: Arc<std::sync::atomic::AtomicBool>,
    pub io: SocketIo,
    pub stats: Arc<Stats>,
    replay: Arc<Mutex<ReplayLog>>,
    shutdown: Option<oneshot::Sender<()>>,
    /// Set by `stop`: connections accepted from then on are dropped at once.
    closing: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds and serves in the background of the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Server> {
        let stats = Arc::new(Stats::default());
        let dedup = Arc::new(Mutex::new(Dedup::open(config.data_dir.as_deref(), config.dedup_window)?));
        let (layer, io) = SocketIo::builder()
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            // socketioxide drops emits beyond a socket's buffer (128 by default): a hub serving
            // many tabs takes bursts, so allow more before anything is dropped.
            .max_buffer_size(8192)
            .build_layer();
        let replay = Arc::new(Mutex::new(ReplayLog::default()));
        let auth = Arc::new(Auth::new(&config.users, config.access_ttl, config.refresh_ttl));
        let (s, r, a) = (stats.clone(), replay.clone(), auth.clone());
        let handler = move |socket: SocketRef, io: SocketIo| {
            let (s, d, r, a) = (s.clone(), dedup.clone(), r.clone(), a.clone());
            async move { on_connect(socket, io, s, d, r, a) }
        };
        let (gate, require) = (auth.clone(), config.require_auth);
        // Authentication at the handshake: the access cookie, or `{"token": ...}` in the
        // CONNECT auth payload (bearer mode; never the URL).
        let authenticate = move |socket: SocketRef, Data(payload): Data<Value>| {
            let auth = gate.clone();
            async move {
                let cookie = socket.req_parts().headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).unwrap_or("");
                let token = auth::cookie(cookie, auth::ACCESS_COOKIE)
                    .map(String::from)
                    .or_else(|| payload.get("token").and_then(Value::as_str).map(String::from));
                if let Some(device) = auth::cookie(cookie, auth::DEVICE_COOKIE) {
                    socket.join(format!("device:{device}"));
                }
                match token.and_then(|t| auth.session_for_access(&t)) {
                    Some(session) => {
                        socket.join([format!("user:{}", session.user), format!("session:{}", session.id)]);
                        Ok(())
                    }
                    None if require => Err("not authenticated"),
                    None => Ok(()),
                }
            }
        };
        io.ns("/", handler.with(authenticate));

        let guard = Arc::new(Guard { allowed: config.allowed_origins.clone(), stats: stats.clone() });
        let (metrics, auth_metrics) = (stats.clone(), auth.clone());
        let vendor = config.vendor_dir.clone();
        let refresh_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let web = AuthWeb { auth: auth.clone(), io: io.clone(), down: refresh_down.clone() };
        let app = Router::new()
            .route(
                "/debug/metrics",
                get(move || async move {
                    let mut m = metrics.snapshot();
                    m["auth"] = auth_metrics.telemetry_json();
                    Json(m)
                }),
            )
            .route("/auth/login", axum::routing::post(login).with_state(web.clone()))
            .route("/auth/refresh", axum::routing::post(refresh).with_state(web.clone()))
            .route("/auth/logout", axum::routing::post(logout).with_state(web.clone()))
            .route("/auth/session", get(session_info).with_state(web))
            .fallback(get(move |req: Request| serve_asset(req, vendor.clone())))
            .layer(layer)
            .layer(middleware::from_fn_with_state(guard, origin_guard));

        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = Counting {
            inner: TcpListener::bind(config.bind).await?,
            sent: stats.bytes_sent.clone(),
            closing: closing.clone(),
        };
        let addr = listener.inner.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("server stopped: {e}");
            }
        });
        Ok(Server { addr, auth, refresh_down, io, stats, replay, shutdown: Some(tx), closing, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection (clients see a transport close and reconnect, as after a
    /// crash or a deploy) and stops listening.
    pub async fn stop(mut self) {
        // Stop accepting connections first: socketioxide's close() removes the namespaces
        // before it closes them, and a client reconnecting meanwhile would be answered
        // "Invalid namespace", a CONNECT_ERROR that Socket.IO clients (the hub included)
        // take as final. A connection refused here is an ordinary transport error.
        self.closing.store(true, Ordering::SeqCst);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.io.close().await;
        // Events already received finish their handlers (a real server drains them too).
        drain(Duration::from_secs(5)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }

    /// Waits until the application recorded at least `n` events (or `timeout` passes) and
    /// returns what it recorded.
    pub async fn recorded_at_least(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.stats.recorded_changed.notified();
            let now = self.stats.recorded.lock().map(|r| r.clone()).unwrap_or_default();
            if now.len() >= n || tokio::time::Instant::now() >= deadline {
                return now;
            }
            let _ = tokio::time::timeout_at(deadline, changed).await;
        }
    }

    /// Sends `event(data)` to every socket as a numbered event (`sb:seq`), kept in the replay
    /// log so a hub that was away gets it on `sb:resume`.
    pub async fn publish(&self, event: &str, data: &Value) {
        publish(&self.io, &self.replay, event, data).await;
    }

    /// Sends `event(data)` to one tab of a hub (by the tab id its page client reports).
    /// False when no connected hub serves that tab.
    pub async fn emit_to_tab(&self, tab: &str, event: &str, data: &Value) -> bool {
        let sid = tab_sockets().lock().ok().and_then(|m| m.get(tab).cloned());
        let Some(sid) = sid else { return false };
        match self.io.sockets().into_iter().find(|s| s.id.to_string() == sid) {
            Some(socket) => socket.emit("sb:tab", &(tab, event, data)).is_ok(),
            None => false,
        }
    }

    /// Sockets currently in `room` on the default namespace.
    pub fn room_size(&self, room: &str) -> usize {
        self.io.to(room.to_string()).sockets().len()
    }
}

fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    stats: Arc<Stats>,
    dedup: Arc<Mutex<Dedup>>,
    replay: Arc<Mutex<ReplayLog>>,
    auth_for_socket: Arc<Auth>,
) {
    stats.sockets_now.fetch_add(1, Ordering::Relaxed);
    stats.sockets_total.fetch_add(1, Ordering::Relaxed);
    tracing::info!(sid = %socket.id, "socket connected");
    let s = stats.clone();
    socket.on_disconnect(move |socket: SocketRef| {
        s.sockets_now.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut t) = turns().lock() {
            t.remove(&socket.id.to_string());
        }
        tracing::info!(sid = %socket.id, "socket disconnected");
        async {}
    });

    // Contract: `sb:join` / `sb:leave` with a room name, acked with {"ok":true} or {"error":..}.
    socket.on("sb:join", |s: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
        let reply = match valid_room(&room) {
            Ok(()) => {
                s.join(room);
                json!({"ok": true})
            }
            Err(e) => json!({"error": e}),
        };
        let _ = ack.send(&reply);
    });
    socket.on("sb:leave", |s: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
        s.leave(room);
        let _ = ack.send(&json!({"ok": true}));
    });

    // Contract: announce it (the hub then sends durable emits in sb:emit envelopes).
    let _ = socket.emit("sb:hello", &json!({"v": 1, "dedup": true, "time": wall_ms()}));
    // sb:resume <after> -> the numbered events after `after`, then {"recovered": bool}.
    let log = replay.clone();
    socket.on("sb:resume", move |s: SocketRef, Data(after): Data<u64>, ack: AckSender| {
        let log = log.clone();
        async move {
            let (missed, recovered) = log.lock().map(|l| l.after(after)).unwrap_or_default();
            for (n, event, data) in missed {
                let _ = s.emit("sb:seq", &(n, event, data));
            }
            let _ = ack.send(&json!({"recovered": recovered}));
        }
    });
    // sb:auth {token}: bearer mode renews the socket's credentials without reconnecting.
    let renew = auth_for_socket.clone();
    socket.on("sb:auth", move |s: SocketRef, Data(v): Data<Value>| {
        let auth = renew.clone();
        async move {
            if let Some(session) = v.get("token").and_then(Value::as_str).and_then(|t| auth.session_for_access(t)) {
                s.join([format!("user:{}", session.user), format!("session:{}", session.id)]);
            }
        }
    });
    // sb:tabs [ids]: the tabs this socket (a hub) serves, so one can be addressed.
    socket.on("sb:tabs", |s: SocketRef, Data(tabs): Data<Vec<String>>| async move {
        if let Ok(mut map) = tab_sockets().lock() {
            map.retain(|_, sid| *sid != s.id.to_string());
            for t in tabs {
                map.insert(t, s.id.to_string());
            }
        }
    });
    // sb:time -> ack {"time": server ms}, for the hub's clock-offset sample.
    socket.on("sb:time", |ack: AckSender| async move {
        let _ = ack.send(&json!({"time": wall_ms()}));
    });
    // sb:emit id event ...args -> the application sees `event(...args)` once per id; the
    // receipt is acked either way.
    let (io_emit, st, dd, rl) = (io.clone(), stats.clone(), dedup.clone(), replay.clone());
    socket.on("sb:emit", move |s: SocketRef, RawArgs(args): RawArgs, ack: AckSender, ticket: Ticket| {
        let (io, stats, dedup, replay) = (io_emit.clone(), st.clone(), dd.clone(), rl.clone());
        async move {
            let _turn = ticket.wait().await;
            let (id, event, rest) = match split_envelope(&args) {
                Some(x) => x,
                None => {
                    let _ = ack.send(&json!({"error": "sb:emit needs an id and an event name"}));
                    return;
                }
            };
            stats.emits_received.fetch_add(1, Ordering::Relaxed);
            let fresh = match dedup.lock() {
                Ok(mut d) => d.insert(&id),
                Err(_) => true,
            };
            if fresh {
                app_event(&io, &s, &stats, &replay, &event, rest).await;
            } else {
                stats.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
            }
            let _ = ack.send(&json!({"ok": true}));
        }
    });

    // The demo/test application, reachable directly or through sb:emit.
    for event in ["chat", "announce", "record"] {
        let (io, st, replay) = (io.clone(), stats.clone(), replay.clone());
        socket.on(event, move |s: SocketRef, RawArgs(args): RawArgs, ticket: Ticket| {
            let (io, stats, replay) = (io.clone(), st.clone(), replay.clone());
            async move {
                let _turn = ticket.wait().await;
                let rest = args.into_iter().skip(1).collect();
                app_event(&io, &s, &stats, &replay, event, rest).await;
            }
        });
    }
    // bin-echo <binary> -> ack with the same bytes (as a Socket.IO attachment).
    socket.on("bin-echo", |Data(b): Data<bytes::Bytes>, ack: AckSender| async move {
        let _ = ack.send(&b);
    });
    // echo <any> -> ack with the same value.
    socket.on("echo", |Data(v): Data<Value>, ack: AckSender| async move {
        let _ = ack.send(&v);
    });
}

/// The reference application: `chat {room, text, from}` to the room (wrapped for room
/// routing), `announce <any>` to everyone, `record <any>` kept in order for tests.
async fn app_event(
    io: &SocketIo,
    _socket: &SocketRef,
    stats: &Stats,
    replay: &Mutex<ReplayLog>,
    event: &str,
    args: Vec<Value>,
) {
    let first = args.into_iter().next().unwrap_or(Value::Null);
    match event {
        "chat" => {
            let Some(room) = first.get("room").and_then(Value::as_str).map(String::from) else { return };
            let _ = io.to(room.clone()).emit("sb:room", &(room, "chat", &first)).await;
        }
        "announce" => publish(io, replay, "announce", &first).await,
        "record" => {
            if let Ok(mut r) = stats.recorded.lock() {
                r.push(first);
            }
            stats.recorded_changed.notify_waiters();
        }
        other => tracing::debug!(event = other, "no application handler"),
    }
}

/// The last numbered events sent to everyone, for hubs that come back (`sb:resume`).
#[derive(Default)]
pub struct ReplayLog {
    next: u64,
    entries: VecDeque<(u64, String, Value)>,
}

/// How many numbered events the replay log keeps.
const REPLAY_KEEP: usize = 1000;

impl ReplayLog {
    fn push(&mut self, event: &str, data: &Value) -> u64 {
        self.next += 1;
        self.entries.push_back((self.next, event.to_string(), data.clone()));
        while self.entries.len() > REPLAY_KEEP {
            self.entries.pop_front();
        }
        self.next
    }

    /// Entries after `after`, and whether nothing between `after` and them was dropped.
    fn after(&self, after: u64) -> (Vec<(u64, String, Value)>, bool) {
        let missed: Vec<_> = self.entries.iter().filter(|(n, _, _)| *n > after).cloned().collect();
        let first_kept = self.entries.front().map_or(self.next + 1, |(n, _, _)| *n);
        // A hub that saw numbers from an earlier server life (after > next) cannot be helped.
        let recovered = after <= self.next && after + 1 >= first_kept;
        (missed, recovered)
    }
}

async fn publish(io: &SocketIo, replay: &Mutex<ReplayLog>, event: &str, data: &Value) {
    let n = match replay.lock() {
        Ok(mut l) => l.push(event, data),
        Err(_) => return,
    };
    let _ = io.emit("sb:seq", &(n, event, data)).await;
}

fn split_envelope(args: &[Value]) -> Option<(String, String, Vec<Value>)> {
    // args[0] is "sb:emit".
    let id = args.get(1)?.as_str()?.to_string();
    let event = args.get(2)?.as_str()?.to_string();
    Some((id, event, args.iter().skip(3).cloned().collect()))
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Every argument of an event, event name first, as JSON values (binary attachments stay
/// placeholders): socketioxide's `Data` only reads the first argument or a fixed tuple.
struct RawArgs(Vec<Value>);

impl<A: Adapter> FromMessageParts<A> for RawArgs {
    type Error = std::convert::Infallible;
    fn from_message_parts(_: &Arc<Socket<A>>, v: &mut RawValue, _: &Option<i64>) -> Result<Self, Self::Error> {
        let text = v.as_str().map(|s| s.to_string()).unwrap_or_default();
        Ok(RawArgs(serde_json::from_str::<Vec<Value>>(&text).unwrap_or_default()))
    }
}

/// Events of one socket reach the application in arrival order. socketioxide runs every
/// handler as its own task, so handlers take a ticket while their arguments are extracted
/// (which happens in packet order) and wait for their turn.
#[derive(Default)]
struct Turns {
    next: AtomicU64,
    serving: Mutex<u64>,
    changed: tokio::sync::Notify,
}

/// Which socket serves which tab (from `sb:tabs`).
fn tab_sockets() -> &'static Mutex<std::collections::HashMap<String, String>> {
    static TABS: std::sync::OnceLock<Mutex<std::collections::HashMap<String, String>>> = std::sync::OnceLock::new();
    TABS.get_or_init(Default::default)
}

fn turns() -> &'static Mutex<std::collections::HashMap<String, Arc<Turns>>> {
    static TURNS: std::sync::OnceLock<Mutex<std::collections::HashMap<String, Arc<Turns>>>> =
        std::sync::OnceLock::new();
    TURNS.get_or_init(Default::default)
}

/// Application events received and not yet handled, in this process: `stop` waits for
/// them, so what the server acknowledged (or marked as seen) has also been handled.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
static HANDLED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// One received event until its handler is done (or dropped).
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        HANDLED.notify_waiters();
    }
}

/// Waits (at most `limit`) until no received event is waiting for its handler.
async fn drain(limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        loop {
            let handled = HANDLED.notified();
            if IN_FLIGHT.load(Ordering::SeqCst) == 0 {
                return;
            }
            handled.await;
        }
    })
    .await;
}

/// Extract it as a handler's last argument (extraction of earlier ones may fail; a ticket
/// taken must be served, or later events of the socket wait forever).
struct Ticket(Arc<Turns>, u64, InFlight);

impl<A: Adapter> FromMessageParts<A> for Ticket {
    type Error = std::convert::Infallible;
    fn from_message_parts(s: &Arc<Socket<A>>, _: &mut RawValue, _: &Option<i64>) -> Result<Self, Self::Error> {
        let t = turns().lock().map(|mut m| m.entry(s.id.to_string()).or_default().clone()).unwrap_or_default();
        let n = t.next.fetch_add(1, Ordering::SeqCst);
        Ok(Ticket(t, n, InFlight::start()))
    }
}

impl Ticket {
    async fn wait(self) -> TurnGuard {
        let turns = self.0.clone();
        loop {
            let changed = turns.changed.notified();
            if turns.serving.lock().map(|s| *s >= self.1).unwrap_or(true) {
                break;
            }
            changed.await;
        }
        TurnGuard(turns, self.2)
    }
}

/// The next event's turn comes when this is dropped.
struct TurnGuard(Arc<Turns>, #[allow(dead_code)] InFlight);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.serving.lock() {
            *s += 1;
        }
        self.0.changed.notify_waiters();
    }
}

/// The ids of recent `sb:emit` envelopes: a second delivery of one is dropped. Kept in an
/// append-only file under `data_dir` so the window survives a restart.
pub struct Dedup {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
    file: Option<(PathBuf, std::fs::File, usize)>,
}

impl Dedup {
    pub fn open(dir: Option<&std::path::Path>, cap: usize) -> std::io::Result<Dedup> {
        let mut d = Dedup { seen: HashSet::new(), order: VecDeque::new(), cap: cap.max(1), file: None };
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
            let path = dir.join("dedup.log");
            let mut lines = 0;
            if let Ok(f) = std::fs::File::open(&path) {
                for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                    lines += 1;
                    d.remember(line);
                }
            }
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            d.file = Some((path, file, lines));
        }
        Ok(d)
    }

    fn remember(&mut self, id: String) {
        if self.seen.insert(id.clone()) {
            self.order.push_back(id);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }

    /// True when `id` is new (and now remembered).
    pub fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        self.remember(id.to_string());
        if let Some((path, file, lines)) = self.file.as_mut() {
            let _ = writeln!(file, "{id}");
            *lines += 1;
            if *lines > 2 * self.cap {
                // Compact: rewrite the window only.
                let body: String = self.order.iter().map(|i| format!("{i}\n")).collect();
                if std::fs::write(&*path, body).is_ok() {
                    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(&*path) {
                        *file = f;
                        *lines = self.order.len();
                    }
                }
            }
        }
        true
    }
}

fn valid_room(room: &str) -> Result<(), &'static str> {
    if room.is_empty() || room.len() > 512 {
        return Err("room name must be 1..512 bytes");
    }
    Ok(())
}

struct Guard {
    allowed: Vec<String>,
    stats: Arc<Stats>,
}

/// Refuses Socket.IO requests whose Origin is not allowed (same origin by default), and
/// counts WebSocket upgrades.
async fn origin_guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/auth/")
        && req.method() == axum::http::Method::POST
        && !req.headers().contains_key(auth::CSRF_HEADER)
    {
        return (StatusCode::FORBIDDEN, "missing the x-switchboard header (CSRF guard)").into_response();
    }
    if path.starts_with("/socket.io") || path.starts_with("/auth/") {
        if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
            let ok =
                if guard.allowed.is_empty() { same } else { guard.allowed.iter().any(|a| a == origin || a == "*") };
            if !ok {
                guard.stats.origin_refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(origin, "refused a Socket.IO request from a foreign origin");
                return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
            }
        }
        let upgrade = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|u| u.to_str().ok())
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade {
            guard.stats.ws_upgrades.fetch_add(1, Ordering::Relaxed);
        }
    }
    next.run(req).await
}

async fn serve_asset(req: Request, vendor: Option<PathBuf>) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    if let (Some(dir), Some(file)) = (vendor, path.strip_prefix("vendor/")) {
        if file.contains('/') || file.contains("..") {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
        return match std::fs::read(dir.join(file)) {
            Ok(bytes) => {
                let mut res = Response::new(Body::from(bytes));
                res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(assets::content_type(file)));
                res
            }
            Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
        };
    }
    let name = if path.is_empty() { "index.html" } else { path };
    match assets::find(name) {
        Some(bytes) => {
            let mut res = Response::new(Body::from(bytes));
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(assets::content_type(name)));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            res
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

// ---------------------------------------------------------------------------------------
// Sign-in endpoints and token events.
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct AuthWeb {
    auth: Arc<Auth>,
    io: SocketIo,
    down: Arc<std::sync::atomic::AtomicBool>,
}

fn bearer(headers: &axum::http::HeaderMap) -> bool {
    headers.get("x-switchboard-mode").is_some_and(|v| v.as_bytes() == b"bearer")
}

/// A signed-in answer: cookies, or in bearer mode the access token in the body and only the
/// refresh token as a cookie.
fn signed_in(headers: &axum::http::HeaderMap, s: &Session) -> Response {
    let mut body = auth::session_json(s);
    if !bearer(headers) {
        return with_cookies(StatusCode::OK, Some(s), body);
    }
    body["access_token"] = json!(s.access);
    let mut res = with_cookies(StatusCode::OK, Some(s), body);
    // Keep the refresh cookie; drop the access cookie (the hub holds the token).
    let kept: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !v.as_bytes().starts_with(b"sb_access="))
        .cloned()
        .collect();
    res.headers_mut().remove(header::SET_COOKIE);
    for v in kept {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn with_cookies(status: StatusCode, session: Option<&Session>, body: Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    for c in auth::set_cookies(session, false) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn request_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, name).map(String::from))
}

async fn login(State(web): State<AuthWeb>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    let user = body.get("username").and_then(Value::as_str).unwrap_or("");
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    match web.auth.login(user, password) {
        Some(s) => {
            schedule_expiry(&web, &s);
            let mut res = signed_in(&headers, &s);
            if request_cookie(&headers, auth::DEVICE_COOKIE).is_none() {
                let device = auth::device_cookie();
                if let Ok(v) = HeaderValue::from_str(&device) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        None => (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid username or password"}))).into_response(),
    }
}

async fn refresh(State(web): State<AuthWeb>, headers: axum::http::HeaderMap) -> Response {
    if web.down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "refresh is down"}))).into_response();
    }
    let Some(token) = request_cookie(&headers, auth::REFRESH_COOKIE) else {
        return with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": "no refresh token"}));
    };
    match web.auth.refresh(&token) {
        Refresh::Ok(s) => {
            let room = format!("session:{}", s.id);
            let _ = web.io.to(room).emit("TOKEN_UPDATED", &json!({"expires_at": s.access_expires_ms})).await;
            schedule_expiry(&web, &s);
            signed_in(&headers, &s)
        }
        Refresh::Reused(s) => {
            tracing::warn!(session = %s.id, "refresh token reuse: revoking the session");
            invalidate(&web, &s, "refresh token reuse detected").await;
            with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": "refresh token reuse: session revoked"}))
        }
        Refresh::Invalid => {
            with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": "invalid or expired refresh token"}))
        }
    }
}

async fn logout(State(web): State<AuthWeb>, headers: axum::http::HeaderMap) -> Response {
    if let Some(s) = request_cookie(&headers, auth::REFRESH_COOKIE).and_then(|t| web.auth.logout_refresh(&t)) {
        invalidate(&web, &s, "logout").await;
    }
    with_cookies(StatusCode::OK, None, json!({"ok": true}))
}

async fn session_info(State(web): State<AuthWeb>, headers: axum::http::HeaderMap) -> Response {
    match request_cookie(&headers, auth::ACCESS_COOKIE).and_then(|t| web.auth.session_for_access(&t)) {
        Some(s) => (StatusCode::OK, Json(auth::session_json(&s))).into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({"error": "not signed in"}))).into_response(),
    }
}

/// TOKEN_INVALIDATED to the session's sockets, then disconnect them.
async fn invalidate(web: &AuthWeb, s: &Session, reason: &str) {
    let room = format!("session:{}", s.id);
    let _ = web.io.to(room.clone()).emit("TOKEN_INVALIDATED", &json!({"reason": reason})).await;
    let _ = web.io.within(room).disconnect().await;
}

/// TOKEN_EXPIRING ahead of the access token's expiry (a third of its life before); and
/// when the refresh token runs out unrenewed, the session's sockets are disconnected.
fn schedule_expiry(web: &AuthWeb, s: &Session) {
    let (web, s) = (web.clone(), s.clone());
    tokio::spawn(async move {
        let now = auth::now_ms();
        let life = s.access_expires_ms.saturating_sub(now);
        tokio::time::sleep(Duration::from_millis(life - life / 3)).await;
        let current = web.auth.session(&s.id);
        if current.as_ref().map(|c| &c.access) == Some(&s.access) {
            let room = format!("session:{}", s.id);
            let _ = web.io.to(room).emit("TOKEN_EXPIRING", &json!({"expires_at": s.access_expires_ms})).await;
        }
        let rest = s.refresh_expires_ms.saturating_sub(auth::now_ms());
        tokio::time::sleep(Duration::from_millis(rest)).await;
        if web.auth.session(&s.id).is_some_and(|c| c.refresh == s.refresh) {
            invalidate(&web, &s, "session expired").await;
        }
    });
}
