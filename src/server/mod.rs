//! The reference backend and dev server: Socket.IO (socketioxide) on `/socket.io`
//! implementing the Switchboard server contract (docs/server-contract.md), sign-in over
//! HTTP, the demo page and the browser bundle, and `/debug/metrics`. Binds wherever it is
//! told; the CLI defaults to 127.0.0.1.
//!
//! One module per concern: [`listener`] (the listener and metrics), [`contract`] (the
//! contract's handlers per socket), [`ordering`] (per-socket order and drain), [`dedup`]
//! (the dedup log), [`election`] (leader election: an arbiter per scope), [`signin`] (auth
//! over HTTP, the handshake check, token expiry), [`presence`] (who is in each room), [`state`]
//! (shared state in SQLite), [`security`] (security events, suspicious activity), [`limits`]
//! (message size and rate per socket), [`app`]
//! (the demo application and static files). Invariant: all state is in one [`State`] per
//! [`Server`]; two servers in one process share nothing.

mod admin;
mod app;
mod contract;
mod dedup;
mod election;
mod election_shared;
mod limits;
mod listener;
mod metrics;
pub mod node;
mod ordering;
mod presence;
pub mod replay;
mod security;
mod serve;
pub(crate) mod shared;
mod signin;
pub mod state;
mod throttle;
mod trace;

pub use admin::AdminConfig;
pub use dedup::Dedup;
pub use listener::Stats;
pub use serve::{Limits as TransportLimits, HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, PER_ADDRESS};
pub use throttle::ATTEMPTS;

use crate::auth::Auth;
use axum::extract::Request;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use node::SocketIo;
use node::SocketRef;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::Data;
use socketioxide::handler::{ConnectHandler, FromMessageParts, Value as RawValue};
use socketioxide::socket::Socket;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Origins allowed to open a socket besides the server's own (which always is).
    pub allowed_origins: Vec<String>,
    /// Where the dedup window is kept across restarts; None keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// How many recent `sb:emit` ids are remembered to drop duplicates (one node).
    pub dedup_window: usize,
    /// The replay log's bounds (one node; in the database beside the dedup window).
    pub replay: replay::Bounds,
    /// Several nodes: how long handled `sb:emit` ids are remembered in Redis.
    pub dedup_keep: Duration,
    /// Several nodes: how long a node's claim on an `sb:emit` id holds while it handles it;
    /// if the node dies meanwhile, another node delivers the emit after this.
    pub dedup_lease: Duration,
    /// `name:password` lines (empty: the demo users alice and bob).
    pub users: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Refuse sockets without a valid access token (CONNECT_ERROR "not authenticated").
    pub require_auth: bool,
    /// Files served under `/vendor/` from this directory (the benchmark's peer client).
    pub vendor_dir: Option<PathBuf>,
    /// Static files (the pages, the bundle, `/vendor/`) may be cached this long (seconds), as
    /// a deployment serves them; none (the dev server): revalidated on every load. The
    /// benchmark sets it, so a new tab finds what the open ones loaded, for both clients.
    pub cache_max_age: Option<u32>,
    /// A leader's lease: its hub renews it at a third of this; unrenewed, another tab leads.
    pub leader_lease: Duration,
    /// How long a tab must outrank the leader before it takes over.
    pub leader_hysteresis: Duration,
    /// This backend node's name (the shared state's version vectors count writes per node).
    pub node: String,
    /// Failed sign-ins on one account within `suspicious_window` that raise
    /// `SECURITY_SUSPICIOUS_ACTIVITY`.
    pub suspicious_logins: usize,
    pub suspicious_window: Duration,
    /// A sign-in from a device the user has not verified gets a limited session until the
    /// one-time code it was "mailed" is confirmed (`POST /auth/verify`).
    pub verify_new_devices: bool,
    /// Per socket: the largest message (bytes), messages per second and burst; a socket over
    /// them hears `sb:limit` and is disconnected.
    pub max_message: usize,
    pub rate: u32,
    pub burst: u32,
    /// The Socket.IO Admin UI's `/admin` namespace (None: not served).
    pub admin: Option<admin::AdminConfig>,
    /// The Admin UI's static files (npm `@socket.io/admin-ui`'s `ui/dist`), served at
    /// `/admin-ui/`.
    pub admin_ui: Option<PathBuf>,
    /// Redis (`redis://host:port`, Redis 7): the Socket.IO adapter of several nodes
    /// (`node.rs`). None: this node alone.
    pub redis: Option<String>,
    /// Connections in all and per address, the header read and idle timeouts (`serve.rs`).
    pub transport: serve::Limits,
    /// Password hashes at once, and checks waiting for one (`auth/gate.rs`).
    pub max_hashes: usize,
    pub hash_queue: usize,
    /// Failed sign-ins, codes or admin checks in a row per address, account or device
    /// before each further one waits longer (`throttle.rs`).
    pub attempts: u32,
    /// The most rooms one socket may be in (`sb:join` beyond it is refused).
    pub max_rooms: usize,
    /// The demo application's test hooks (`record`, anonymous `announce`): tests only.
    pub test_hooks: bool,
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
            replay: replay::Bounds::default(),
            dedup_keep: Duration::from_secs(24 * 3600),
            dedup_lease: Duration::from_secs(10),
            users: String::new(),
            access_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            require_auth: false,
            vendor_dir: None,
            cache_max_age: None,
            leader_lease: Duration::from_millis(switchboard_shared::contract::LEASE_MS),
            leader_hysteresis: Duration::from_millis(switchboard_shared::hub::election::HYSTERESIS_MS),
            node: "n1".into(),
            suspicious_logins: 5,
            suspicious_window: Duration::from_secs(600),
            verify_new_devices: false,
            max_message: switchboard_shared::contract::MAX_MESSAGE,
            rate: switchboard_shared::contract::RATE,
            burst: switchboard_shared::contract::BURST,
            admin: None,
            admin_ui: None,
            redis: None,
            transport: serve::Limits::default(),
            max_hashes: crate::auth::gate::PERMITS,
            hash_queue: crate::auth::gate::QUEUE,
            attempts: throttle::ATTEMPTS,
            max_rooms: switchboard_shared::contract::MAX_ROOMS,
            test_hooks: false,
        }
    }
}

/// Everything one server knows, shared by its handlers.
/// The namespaces the reference backend serves.
pub const NAMESPACES: [&str; 2] = ["/", "/chat"];

pub(crate) struct State {
    stats: Arc<Stats>,
    auth: Arc<Auth>,
    dedup: Dedup,
    replay: replay::ReplayLog,
    tabs: contract::TabDirectory,
    drain: Arc<ordering::Drain>,
    expiry: signin::Expiry,
    refresh_down: Arc<AtomicBool>,
    require_auth: bool,
    elections: Arc<election::Elections>,
    presence: presence::PresenceBook,
    state: state::StateStore,
    watch: security::Watch,
    verify_new_devices: bool,
    limits: switchboard_shared::contract::Limits,
    admin: Option<Arc<admin::Admin>>,
    throttles: throttle::Throttles,
    max_rooms: usize,
    test_hooks: bool,
    /// Several nodes: Redis (for what nodes tell each other, `shared::NODE_EVENTS`).
    shared: Option<shared::Shared>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub auth: Arc<Auth>,
    /// While set, /auth/refresh answers 503 (to test an auth outage).
    pub refresh_down: Arc<AtomicBool>,
    pub io: SocketIo,
    pub stats: Arc<Stats>,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    /// Set by `stop`: connections accepted from then on are dropped at once.
    closing: Arc<AtomicBool>,
    task: JoinHandle<()>,
    expiry: JoinHandle<()>,
    elections: JoinHandle<()>,
    admin_stats: JoinHandle<()>,
    /// Several nodes: renews this node's `sb:alive:` key.
    alive: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds and serves in the background of the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Server> {
        // Several nodes: the adapter and the shared state on one Redis connection.
        let redis_waits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (driver, store) = match config.redis.as_deref() {
            None => (node::NodeDriver::Alone, None),
            Some(url) => {
                let (driver, conn) = node::connect(url).await.map_err(std::io::Error::other)?;
                (driver, Some(shared::Shared::new(conn, &config.node, redis_waits.clone())))
            }
        };
        let (dir, node) = (config.data_dir.clone(), config.node.clone());
        let (access_ttl, refresh_ttl) = (config.access_ttl, config.refresh_ttl);
        let db = tokio::task::spawn_blocking(move || crate::auth::open_db(dir.as_deref()))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        let (dedup, replay) = match store.clone() {
            Some(store) => (
                Dedup::in_redis(store.clone(), config.dedup_lease, config.dedup_keep),
                replay::ReplayLog::Redis(store, config.replay.keep),
            ),
            None => {
                let (dir, window) = (config.data_dir.clone(), config.dedup_window);
                let dedup = tokio::task::spawn_blocking(move || Dedup::open(dir.as_deref(), window))
                    .await
                    .map_err(std::io::Error::other)??;
                // The replay log beside the accounts and shared state (in memory without a
                // data directory).
                let (db, bounds) = (db.clone(), config.replay);
                let log = tokio::task::spawn_blocking(move || replay::Sqlite::open(db, bounds, crate::auth::now_ms()))
                    .await
                    .map_err(std::io::Error::other)?
                    .map_err(std::io::Error::other)?;
                (dedup, replay::ReplayLog::Sqlite(log))
            }
        };
        // One node: the accounts beside the shared state; several: in Redis.
        let auth = match &store {
            None => {
                let (db, users) = (db.clone(), config.users.clone());
                tokio::task::spawn_blocking(move || Auth::open(db, &users, access_ttl, refresh_ttl))
                    .await
                    .map_err(std::io::Error::other)?
            }
            Some(store) => Auth::open_shared(store.clone(), &config.users, access_ttl, refresh_ttl).await,
        };
        let mut auth = auth.map_err(|e| std::io::Error::other(format!("--users: {e}")))?;
        auth.gate = crate::auth::gate::Gate::new(config.max_hashes, config.hash_queue);
        let auth = Arc::new(auth);
        let mut store_state = tokio::task::spawn_blocking(move || state::StateStore::open(db, &node))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        if let Some(store) = &store {
            store_state = store_state.in_redis(store.clone());
        }
        let state = Arc::new(State {
            stats: Arc::new(Stats { redis_waits, ..Stats::default() }),
            auth: auth.clone(),
            dedup,
            replay,
            tabs: contract::TabDirectory::default(),
            drain: Arc::default(),
            expiry: match &store {
                Some(store) => signin::Expiry::in_redis(store.clone()),
                None => signin::Expiry::default(),
            },
            refresh_down: Arc::new(AtomicBool::new(false)),
            require_auth: config.require_auth,
            elections: Arc::new({
                let e = election::Elections::new(
                    config.leader_lease.as_millis() as u64,
                    config.leader_hysteresis.as_millis() as u64,
                );
                match &store {
                    Some(store) => e.in_redis(store.clone()),
                    None => e,
                }
            }),
            presence: match &store {
                Some(store) => presence::PresenceBook::in_redis(store.clone()),
                None => presence::PresenceBook::default(),
            },
            state: store_state,
            watch: {
                let w = security::Watch::new(config.suspicious_logins, config.suspicious_window);
                match &store {
                    Some(store) => w.in_redis(store.clone()),
                    None => w,
                }
            },
            verify_new_devices: config.verify_new_devices,
            limits: switchboard_shared::contract::Limits {
                size: config.max_message,
                rate: config.rate,
                burst: config.burst,
            },
            admin: config.admin.clone().map(|c| Arc::new(admin::Admin::new(c))),
            throttles: throttle::Throttles::new(config.attempts),
            max_rooms: config.max_rooms,
            test_hooks: config.test_hooks,
            shared: store.clone(),
        });
        if let Some(store) = &store {
            // Alive before any socket is listed.
            store.say_alive().await.map_err(std::io::Error::other)?;
        }
        let pubsub = driver.clone();
        let alive = store.clone().map(|s| tokio::spawn(shared::keep_alive(s)));
        let adapter = node::adapter(driver);
        // Binary attachments are buffered until the packet is whole: bounded like a message
        // (twice `--max-message`, as the payload), few, and complete within seconds.
        let parser = socketioxide::ParserConfig::common()
            .max_incoming_binary_buf_size(config.max_message.saturating_mul(2))
            .max_incoming_binaries(switchboard_shared::contract::MAX_ATTACHMENTS)
            .packet_completion_timeout(Duration::from_secs(10));
        let (layer, io) = socketioxide::SocketIo::builder()
            .with_parser(parser)
            .with_adapter::<node::Adapter>(adapter)
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            // socketioxide drops emits beyond a socket's buffer (128 by default): a hub serving
            // many tabs takes bursts, so allow more before anything is dropped.
            .max_buffer_size(8192)
            // Twice the message limit: a message between the two still gets its `sb:limit` error.
            .max_payload(config.max_message.saturating_mul(2) as u64)
            .build_layer();
        let st = state.clone();
        let handler = move |socket: SocketRef, io: SocketIo| {
            let st = st.clone();
            async move { contract::greet(socket, io, st).await }
        };
        let st = state.clone();
        let authenticate = move |socket: SocketRef, io: SocketIo, Data(payload): Data<Value>| {
            let st = st.clone();
            async move {
                signin::handshake(socket.clone(), payload, st.clone()).await?;
                contract::register(&socket, io, st);
                Ok::<(), &'static str>(())
            }
        };
        // The main namespace and a second one (`/chat`, the same contract and application),
        // which a hub multiplexes on the same WebSocket.
        for nsp in NAMESPACES {
            io.ns(nsp, handler.clone().with(authenticate.clone())).await.map_err(std::io::Error::other)?;
        }
        shared::listen(&pubsub, state.clone(), io.clone()).await.map_err(std::io::Error::other)?;
        if state.admin.is_some() {
            let st = state.clone();
            let on_admin = move |socket: SocketRef, io: SocketIo| {
                let st = st.clone();
                async move { admin::on_connect(socket, io, st) }
            };
            let st = state.clone();
            let admin_auth = move |socket: SocketRef, Data(payload): Data<Value>| {
                let st = st.clone();
                async move { admin::authenticate(socket, Data(payload), st).await }
            };
            io.ns(admin::NAMESPACE, on_admin.with(admin_auth)).await.map_err(std::io::Error::other)?;
        }
        // The Socket.IO layer wraps the router as one service: `Router::layer` would wrap each
        // route and method apart, each with an Engine.IO of its own, and a long-polling
        // session opened by a GET would be unknown to the POST that follows it.
        let app = Router::new().fallback_service(tower::Layer::layer(&layer, router(&config, &state, &io)));
        let app = app.layer(middleware::from_fn_with_state(
            Arc::new(listener::Guard { allowed: config.allowed_origins.clone(), stats: state.stats.clone() }),
            listener::origin_guard,
        ));
        let closing = Arc::new(AtomicBool::new(false));
        let listener = serve::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        // The idle limit never cuts a long poll short: it outlasts Engine.IO's heartbeat.
        let mut transport = config.transport;
        transport.idle_timeout = transport.idle_timeout.max(config.ping_interval + config.ping_timeout);
        let task = tokio::spawn(serve::serve(listener, app, transport, state.stats.clone(), closing.clone(), rx));
        let expiry = tokio::spawn(signin::run_expiry(state.clone(), io.clone()));
        let elections = tokio::spawn(state.elections.clone().run(io.clone()));
        let admin_stats = tokio::spawn(admin::run_stats(state.clone(), io.clone()));
        Ok(Server {
            addr,
            auth,
            refresh_down: state.refresh_down.clone(),
            io,
            stats: state.stats.clone(),
            state,
            shutdown: Some(tx),
            closing,
            task,
            expiry,
            elections,
            admin_stats,
            alive,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection (clients see a transport close and reconnect, as after a
    /// crash or a deploy) and stops listening.
    pub async fn stop(mut self) {
        // Stop accepting connections first: socketioxide's close() removes the namespaces
        // before it closes them, and a client reconnecting meanwhile would be answered
        // "Invalid namespace", a CONNECT_ERROR that Socket.IO clients take as final.
        self.closing.store(true, Ordering::SeqCst);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.io.close().await;
        // Events already received finish their handlers (a real server drains them too).
        self.state.drain.wait(Duration::from_secs(5)).await;
        self.expiry.abort();
        self.elections.abort();
        self.admin_stats.abort();
        if let Some(alive) = self.alive.take() {
            alive.abort();
        }
        if let Some(store) = &self.state.shared {
            store.gone().await;
        }
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
        contract::publish(&self.io, &self.state, event, data).await;
    }

    /// Sends `event(data)` to one tab of a hub (by the tab id its page client reports), on
    /// whichever node its hub is (through the tab's `tab:` room). False when no connected hub
    /// serves that tab.
    pub async fn emit_to_tab(&self, tab: &str, event: &str, data: &Value) -> bool {
        let room = format!("{}{tab}", switchboard_shared::contract::TAB_ROOM);
        // Every node is asked (the adapter's fetch; a node alone answers for itself).
        let served = self.io.to(room.clone()).fetch_sockets().await.is_ok_and(|s| !s.is_empty());
        served && self.io.to(room).emit(switchboard_shared::contract::TAB, &(tab, event, data)).await.is_ok()
    }

    /// Tabs this server knows a hub for (from `sb:tabs`), for tests.
    pub fn known_tabs(&self) -> usize {
        self.state.tabs.len()
    }

    /// Waits (at most `limit`) until the server knows `n` tabs; returns how many it knows.
    pub async fn known_tabs_reach(&self, n: usize, limit: Duration) -> usize {
        self.state.tabs.until(|k| k == n, limit).await
    }

    /// Token deadlines waiting on the expiry timer, for tests.
    pub fn expiry_deadlines(&self) -> usize {
        self.state.expiry.len()
    }

    /// LEADER_ELECTED, LEADER_HEARTBEAT and ELECTION_REQUEST packets sent so far.
    pub fn election_packets(&self) -> u64 {
        self.state.elections.sent.load(Ordering::Relaxed)
    }

    /// Election messages (sb:priority, sb:renew, sb:resign, sb:lead) received so far.
    pub fn election_messages_received(&self) -> u64 {
        self.state.elections.received.load(Ordering::Relaxed)
    }

    /// Concurrent values of shared-state keys starting with `prefix` are resolved by `f`
    /// (`(current, incoming) -> (settled, lost)`); `set:` keys are a set union by default.
    pub fn register_resolver(&self, prefix: &str, f: state::Resolver) {
        self.state.state.register(prefix, f);
    }

    /// The settled value of a shared-state key (`scope` is `user:<name>` or `device:<id>`).
    pub async fn state_value(&self, scope: &str, key: &str) -> Option<Value> {
        let all = self.state.state.snapshot(scope).await.ok()?;
        all.into_iter().find(|u| u.key == key).map(|u| u.value)
    }

    /// Sockets currently in `room` on the default namespace.
    pub fn room_size(&self, room: &str) -> usize {
        self.io.to(room.to_string()).sockets().len()
    }

    /// Sockets currently in `room` on namespace `nsp` (0 for a namespace it does not serve).
    pub fn room_size_in(&self, nsp: &str, room: &str) -> usize {
        self.io.of(nsp).map_or(0, |ns| ns.to(room.to_string()).sockets().len())
    }
}

/// The HTTP routes: metrics, sign-in, static files.
fn router(config: &Config, state: &Arc<State>, io: &SocketIo) -> Router {
    let (vendor, admin_ui, max_age) = (config.vendor_dir.clone(), config.admin_ui.clone(), config.cache_max_age);
    let web = signin::Web { state: state.clone(), io: io.clone() };
    Router::new()
        .route("/debug/metrics", get(metrics::debug).with_state(state.clone()))
        .route("/metrics", get(metrics::prometheus).with_state(state.clone()))
        .route("/auth/login", post(signin::login).with_state(web.clone()))
        .route("/auth/refresh", post(signin::refresh).with_state(web.clone()))
        .route("/auth/logout", post(signin::logout).with_state(web.clone()))
        .route("/auth/sessions", get(signin::sessions).with_state(web.clone()))
        .route("/auth/sessions/revoke", post(signin::revoke).with_state(web.clone()))
        .route("/auth/password", post(signin::change_password).with_state(web.clone()))
        .route("/auth/verify", post(signin::verify).with_state(web.clone()))
        .route("/auth/session", get(signin::session_info).with_state(web))
        .fallback(get(move |req: Request| app::serve_asset(req, vendor.clone(), admin_ui.clone(), max_age)))
        .layer(middleware::from_fn(signin::trace_request))
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
