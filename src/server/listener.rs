//! The connections' metrics: a stream that counts the bytes written (the benchmark's bytes per
//! broadcast) and read (the accept loop is `serve.rs`); the counters `/debug/metrics` shows; the Origin and CSRF guard in front of
//! Socket.IO and the sign-in endpoints.

use crate::auth;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Counters the tests and `/debug/metrics` read.
#[derive(Debug, Default)]
pub struct Stats {
    /// WebSocket upgrade requests accepted on /socket.io.
    pub ws_upgrades: AtomicU64,
    /// Socket.IO sockets connected now, and ever.
    pub sockets_now: AtomicI64,
    pub sockets_total: AtomicU64,
    pub sockets_disconnected: AtomicU64,
    /// Requests refused for their Origin.
    pub origin_refused: AtomicU64,
    /// Bytes written to every connection (HTTP and WebSocket, as TCP payload).
    pub bytes_sent: Arc<AtomicU64>,
    /// Bytes read from every connection (the Admin UI's `bytesIn`).
    pub bytes_received: Arc<AtomicU64>,
    /// `sb:emit` envelopes received, and duplicates dropped.
    pub emits_received: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    /// `sb:join` requests the server refused.
    pub joins_refused: AtomicU64,
    /// Tab ids refused in `sb:tabs` (served by another browser, or malformed).
    pub tabs_refused: AtomicU64,
    /// Application events refused by their handler's authorization.
    pub app_refused: AtomicU64,
    /// Connections closed at accept for the connection limits (`serve.rs`).
    pub connections_refused: AtomicU64,
    /// Sockets cut off for going over their limits, and messages refused because a limited
    /// (unverified) session sent them.
    pub sockets_limited: Arc<AtomicU64>,
    pub unverified_refused: AtomicU64,
    /// Several nodes: steps that found Redis away and waited for it to come back.
    pub redis_waits: Arc<AtomicU64>,
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
            "bytes_received": self.bytes_received.load(Ordering::Relaxed),
            "emits_received": self.emits_received.load(Ordering::Relaxed),
            "duplicates_dropped": self.duplicates_dropped.load(Ordering::Relaxed),
            "joins_refused": self.joins_refused.load(Ordering::Relaxed),
            "tabs_refused": self.tabs_refused.load(Ordering::Relaxed),
            "app_refused": self.app_refused.load(Ordering::Relaxed),
            "connections_refused": self.connections_refused.load(Ordering::Relaxed),
            "sockets_limited": self.sockets_limited.load(Ordering::Relaxed),
            "unverified_refused": self.unverified_refused.load(Ordering::Relaxed),
            "redis_waits": self.redis_waits.load(Ordering::Relaxed),
        })
    }
}

/// A connection's stream: counts the bytes both ways, notes when it last moved one, and holds
/// the connection's slot (`serve.rs`) for as long as it lives, upgraded or not.
pub(super) struct CountingStream {
    io: TcpStream,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    activity: super::serve::Activity,
    _slot: super::serve::Slot,
}

impl CountingStream {
    pub(super) fn new(
        io: TcpStream,
        stats: &Stats,
        activity: super::serve::Activity,
        slot: super::serve::Slot,
    ) -> Self {
        let (sent, received) = (stats.bytes_sent.clone(), stats.bytes_received.clone());
        CountingStream { io, sent, received, activity, _slot: slot }
    }

    fn count(&self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &r {
            self.sent.fetch_add(*n as u64, Ordering::Relaxed);
            self.activity.touch();
        }
        r
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            self.received.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

pub(super) struct Guard {
    pub allowed: Vec<String>,
    pub stats: Arc<Stats>,
}

/// Refuses Socket.IO and sign-in requests whose Origin is not allowed (the server's own
/// origin always is; `--allow-origin` adds others) and sign-in POSTs without the CSRF header, and counts WebSocket upgrades. A
/// sign-in request from another allowed origin (a page served elsewhere: a Vite dev server,
/// a CDN) gets CORS with credentials: its preflight is answered here, and its answer names
/// the origin.
pub(super) async fn origin_guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let signin = path.starts_with(switchboard_shared::contract::AUTH_PATH);
    let cors = signin.then(|| cross_origin(&req, &guard.allowed)).flatten();
    if let (Some(origin), &Method::OPTIONS) = (&cors, req.method()) {
        return with_cors(StatusCode::NO_CONTENT.into_response(), origin, true);
    }
    if signin && req.method() == Method::POST && !req.headers().contains_key(auth::CSRF_HEADER) {
        return (StatusCode::FORBIDDEN, "missing the x-switchboard header (CSRF guard)").into_response();
    }
    if path.starts_with("/socket.io") || signin {
        if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
            // The server's own origin is always allowed; `--allow-origin` adds others.
            let ok = same || guard.allowed.iter().any(|a| a == origin || a == "*");
            if !ok {
                guard.stats.origin_refused.fetch_add(1, Ordering::Relaxed);
                let origin = switchboard_shared::contract::redact(origin);
                tracing::warn!(%origin, "refused a request from another origin: start the server with --allow-origin {origin} to allow it");
                let text = format!("origin {origin} not allowed (the server allows it with --allow-origin {origin})");
                return (StatusCode::FORBIDDEN, text).into_response();
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
    let res = next.run(req).await;
    match cors {
        Some(origin) => with_cors(res, &origin, false),
        None => res,
    }
}

/// The request's Origin, if it is another origin on the `--allow-origin` list.
fn cross_origin(req: &Request, allowed: &[String]) -> Option<axum::http::HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let same = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://")) == Some(host);
    (!same && allowed.iter().any(|a| a == text || a == "*")).then(|| origin.clone())
}

/// CORS with credentials for `origin` (never `*`: a credentialed request needs its origin
/// named); a preflight also lists the methods and the headers the hub sends.
fn with_cors(mut res: Response, origin: &axum::http::HeaderValue, preflight: bool) -> Response {
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, axum::http::HeaderValue::from_static("true"));
    h.append(header::VARY, axum::http::HeaderValue::from_static("origin"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, axum::http::HeaderValue::from_static("GET, POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, axum::http::HeaderValue::from_static(CORS_HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, axum::http::HeaderValue::from_static("600"));
    }
    res
}

/// The request headers the hub's sign-in calls carry (`worker/src/http.rs`).
const CORS_HEADERS: &str = "content-type, authorization, traceparent, x-switchboard, x-switchboard-mode";

#[cfg(test)]
mod tests {
    use switchboard_shared::contract;

    #[test]
    fn the_preflight_allows_every_header_the_hub_sends() {
        for h in [contract::CSRF_HEADER, contract::MODE_HEADER, "authorization", "traceparent", "content-type"] {
            assert!(super::CORS_HEADERS.split(", ").any(|c| c == h), "{h}");
        }
    }
}
