//! The transport: the accept loop in front of the router, with the limits a stranger could
//! otherwise exhaust (OWASP's Denial of Service and WebSocket cheat sheets): at most
//! `max_connections` open connections and `per_address` from one address (more are closed
//! at accept), request headers read within `header_timeout` (hyper's timer: a client
//! trickling a header byte at a time, or a keep-alive connection left idle, is closed), and
//! a connection that moves no byte for `idle_timeout` closed. A WebSocket keeps its slot for
//! its whole life (the slot lives in the stream the upgrade hands on); its liveness is
//! Engine.IO's heartbeat. Every request carries its [`Peer`] address.
//! Invariant: every accepted connection holds one slot of its address until its stream is
//! dropped.

use super::listener::{CountingStream, Stats};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The transport's limits (each a CLI flag).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub per_address: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The defaults of `--max-connections`, `--max-connections-per-address`, `--header-timeout`
/// and `--idle-timeout`.
pub const MAX_CONNECTIONS: usize = 4096;
pub const PER_ADDRESS: usize = 512;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            per_address: PER_ADDRESS,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// The address a request (or a socket's handshake) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer(pub IpAddr);

impl Peer {
    /// Requests that did not come through [`serve`] (none in the server) count as one address.
    pub const UNKNOWN: Peer = Peer(IpAddr::V4(Ipv4Addr::UNSPECIFIED));

    pub fn of(parts: &Parts) -> Peer {
        parts.extensions.get::<Peer>().copied().unwrap_or(Peer::UNKNOWN)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer::of(parts))
    }
}

/// Open connections, in all and per address.
#[derive(Default)]
pub struct Slots {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One open connection's place (freed when dropped).
pub struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    /// A place for a connection from `ip`, if the limits leave one.
    pub fn take(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let of_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= limits.max_connections || of_ip >= limits.per_address {
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, of_ip + 1);
        Some(Slot { slots: self.clone(), ip })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.lock().map(|o| o.0).unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// When a connection last moved a byte (milliseconds since `base`).
#[derive(Clone)]
pub struct Activity {
    base: Instant,
    last: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity { base: Instant::now(), last: Arc::default() }
    }

    pub fn touch(&self) {
        self.last.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }

    /// Returns once the connection has been idle for `limit`.
    async fn until_idle(&self, limit: Duration) {
        loop {
            let idle = self.idle();
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

/// Serves `app` on `listener` until `shutdown`; connections still open then get a graceful
/// close (an idle keep-alive at once, a request in flight after its answer).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<Stats>,
    closing: Arc<AtomicBool>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Slots::default());
    // Told to every connection at shutdown; each holds a sender of `open` until it ends.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if closing.load(Ordering::SeqCst) {
            continue;
        }
        let Some(slot) = slots.take(addr.ip(), &limits) else {
            stats.connections_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %addr.ip(), "connection refused: over the connection limits");
            continue;
        };
        // Small frames go out at once: with Nagle's algorithm a frame written while the
        // previous one is unacknowledged waits for the peer's delayed ACK (40 ms here).
        let _ = tcp.set_nodelay(true);
        let activity = Activity::new();
        let io = CountingStream::new(tcp, &stats, activity.clone(), slot);
        let peer = Peer(addr.ip());
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer);
            tower::Service::call(&mut app.clone(), req)
        });
        let conn = http.serve_connection(TokioIo::new(io), service).with_upgrades();
        let (idle, mut stopped, open) = (limits.idle_timeout, stopped.clone(), open.clone());
        tokio::spawn(async move {
            let _open = open;
            let mut conn = std::pin::pin!(conn);
            let mut told = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(peer = %addr, "connection: {e}");
                        }
                        return;
                    }
                    _ = activity.until_idle(idle) => {
                        return tracing::debug!(peer = %addr, "connection idle: closed");
                    }
                    _ = stopped.changed(), if !told => {
                        told = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    if tokio::time::timeout(Duration::from_secs(5), all_closed.recv()).await.is_err() {
        tracing::debug!("connections still open after the graceful close");
    }
}

/// The address the server listens on, bound before serving (the port is known at once).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_all_and_each_address() {
        let limits = Limits { max_connections: 3, per_address: 2, ..Limits::default() };
        let slots = Arc::new(Slots::default());
        let (a, b) = (IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3]));
        let a1 = slots.take(a, &limits).expect("first");
        let _a2 = slots.take(a, &limits).expect("second");
        assert!(slots.take(a, &limits).is_none(), "two per address");
        let _b1 = slots.take(b, &limits).expect("another address");
        assert!(slots.take(IpAddr::from([127, 0, 0, 4]), &limits).is_none(), "three in all");
        drop(a1);
        let _a3 = slots.take(a, &limits).expect("a closed connection frees its slot");
        assert_eq!(slots.open(), 3);
    }
}
