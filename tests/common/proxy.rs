//! A TCP proxy under the test's control between the browser and the server: `cut()` drops
//! every open connection at once (what a flaky network or a server crash looks like);
//! `route_to()` sends new connections to another server (a load balancer whose node died);
//! `hold_replies()` stops forwarding what servers send (their acks stay unheard) until
//! released or cut.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    /// While set, new connections are dropped at once (the network is down).
    pub blocked: Arc<std::sync::atomic::AtomicBool>,
    /// While set, new connections whose first request is for Socket.IO are dropped (the
    /// socket cannot connect; pages still load, so a tab can be reloaded "offline").
    pub sockets_blocked: Arc<std::sync::atomic::AtomicBool>,
    cuts: watch::Sender<u64>,
    pub connections: Arc<AtomicU64>,
    upstream: Arc<std::sync::Mutex<SocketAddr>>,
    hold: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (ephemeral port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (cuts, _) = watch::channel(0u64);
        let connections = Arc::new(AtomicU64::new(0));
        let (tx, count) = (cuts.clone(), connections.clone());
        let blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refuse = blocked.clone();
        let sockets_blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refuse_sockets = sockets_blocked.clone();
        let route = Arc::new(std::sync::Mutex::new(upstream));
        let routes = route.clone();
        let (hold, _) = watch::channel(false);
        let holds = hold.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if refuse.load(Ordering::Relaxed) {
                    continue;
                }
                count.fetch_add(1, Ordering::Relaxed);
                let mut cut = tx.subscribe();
                let refuse_sockets = refuse_sockets.clone();
                let upstream = routes.lock().map_or(upstream, |a| *a);
                let mut held = holds.subscribe();
                // What a connection held is dropped if it was cut meanwhile (not delivered
                // when the hold ends).
                let cuts_seen = tx.subscribe();
                let born = *cuts_seen.borrow();
                tokio::spawn(async move {
                    if refuse_sockets.load(Ordering::Relaxed) {
                        let mut head = [0u8; 16];
                        let n = inbound.peek(&mut head).await.unwrap_or(0);
                        if head[..n].starts_with(b"GET /socket.io") {
                            return;
                        }
                    }
                    let Ok(outbound) = TcpStream::connect(upstream).await else { return };
                    let ((mut a_read, mut a_write), (mut b_read, mut b_write)) =
                        (inbound.into_split(), outbound.into_split());
                    let up = tokio::io::copy(&mut a_read, &mut b_write);
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match b_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            while *held.borrow_and_update() {
                                if held.changed().await.is_err() {
                                    return;
                                }
                            }
                            if *cuts_seen.borrow() != born {
                                return;
                            }
                            if a_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, blocked, sockets_blocked, cuts, connections, upstream: route, hold, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// New connections go to `upstream` from now on.
    pub fn route_to(&self, upstream: SocketAddr) {
        if let Ok(mut a) = self.upstream.lock() {
            *a = upstream;
        }
    }

    /// While `on`, nothing servers send is forwarded (held, in order, until released).
    pub fn hold_replies(&self, on: bool) {
        self.hold.send_replace(on);
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
