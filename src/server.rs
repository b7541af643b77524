//! The reference backend and dev server: Socket.IO (socketioxide) on `/socket.io`
//! implementing the Switchboard server contract (docs/server-contract.md), the demo page and
//! the browser bundle, and `/debug/metrics`. Binds wherever it is told; the CLI defaults to
//! 127.0.0.1.

use crate::assets;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            allowed_origins: Vec::new(),
        }
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
}

impl Stats {
    pub fn snapshot(&self) -> Value {
        json!({
            "websocket_upgrades": self.ws_upgrades.load(Ordering::Relaxed),
            "sockets_connected": self.sockets_now.load(Ordering::Relaxed),
            "sockets_total": self.sockets_total.load(Ordering::Relaxed),
            "origin_refused": self.origin_refused.load(Ordering::Relaxed),
        })
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub io: SocketIo,
    pub stats: Arc<Stats>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds and serves in the background of the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Server> {
        let stats = Arc::new(Stats::default());
        let (layer, io) =
            SocketIo::builder().ping_interval(config.ping_interval).ping_timeout(config.ping_timeout).build_layer();
        let s = stats.clone();
        io.ns("/", move |socket: SocketRef, io: SocketIo| {
            let s = s.clone();
            async move { on_connect(socket, io, s) }
        });

        let guard = Arc::new(Guard { allowed: config.allowed_origins.clone(), stats: stats.clone() });
        let metrics = stats.clone();
        let app = Router::new()
            .route("/debug/metrics", get(move || async move { Json(metrics.snapshot()) }))
            .fallback(get(serve_asset))
            .layer(layer)
            .layer(middleware::from_fn_with_state(guard, origin_guard));

        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("server stopped: {e}");
            }
        });
        Ok(Server { addr, io, stats, shutdown: Some(tx), task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every socket and stops listening.
    pub async fn stop(mut self) {
        let _ = self.io.disconnect().await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }

    /// Sockets currently in `room` on the default namespace.
    pub fn room_size(&self, room: &str) -> usize {
        self.io.to(room.to_string()).sockets().len()
    }
}

fn on_connect(socket: SocketRef, io: SocketIo, stats: Arc<Stats>) {
    stats.sockets_now.fetch_add(1, Ordering::Relaxed);
    stats.sockets_total.fetch_add(1, Ordering::Relaxed);
    tracing::info!(sid = %socket.id, "socket connected");
    let s = stats.clone();
    socket.on_disconnect(move |socket: SocketRef| {
        s.sockets_now.fetch_sub(1, Ordering::Relaxed);
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

    // Demo and test events.
    // chat {room, text, from}: to every socket in the room, wrapped for room routing.
    let io_chat = io.clone();
    socket.on("chat", move |Data(msg): Data<Value>| {
        let io = io_chat.clone();
        async move {
            let Some(room) = msg.get("room").and_then(Value::as_str).map(String::from) else {
                return;
            };
            let _ = io.to(room.clone()).emit("sb:room", &(room, "chat", &msg)).await;
        }
    });
    // announce <any>: to every socket.
    let io_all = io.clone();
    socket.on("announce", move |Data(msg): Data<Value>| {
        let io = io_all.clone();
        async move {
            let _ = io.emit("announce", &msg).await;
        }
    });
    // bin-echo <binary> -> ack with the same bytes (as a Socket.IO attachment).
    socket.on("bin-echo", |Data(b): Data<bytes::Bytes>, ack: AckSender| async move {
        let _ = ack.send(&b);
    });
    // echo <any> -> ack with the same value.
    socket.on("echo", |Data(v): Data<Value>, ack: AckSender| async move {
        let _ = ack.send(&v);
    });
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
    if req.uri().path().starts_with("/socket.io") {
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

async fn serve_asset(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
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
