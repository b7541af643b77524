//! A bare Socket.IO v5 client over one WebSocket (tokio-tungstenite), for tests that talk to
//! the reference backend without a browser. It answers pings and hands back other frames.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub struct RawSocket {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_ack: u64,
}

impl RawSocket {
    /// Opens the WebSocket and connects the main namespace.
    pub async fn connect(addr: std::net::SocketAddr) -> RawSocket {
        RawSocket::connect_with(addr, "").await
    }

    /// Opens the WebSocket and connects the main namespace with this CONNECT payload (the
    /// auth object, e.g. `{"token":"..."}`).
    pub async fn connect_with(addr: std::net::SocketAddr, auth: &str) -> RawSocket {
        let mut s = RawSocket::open(addr, auth).await;
        s.until(|f| f.starts_with("40")).await;
        s
    }

    /// The WebSocket open, Engine.IO's handshake read and the namespace CONNECT sent.
    async fn open(addr: std::net::SocketAddr, auth: &str) -> RawSocket {
        let mut s = RawSocket::engine(addr, "").await;
        s.send(&format!("40{auth}")).await;
        s
    }

    /// Connects the main namespace as a browser holding `cookie` would (a `Cookie:` header
    /// on the upgrade: the device secret, the access cookie).
    pub async fn connect_cookie(addr: std::net::SocketAddr, cookie: &str) -> RawSocket {
        let mut s = RawSocket::engine(addr, cookie).await;
        s.send("40").await;
        s.until(|f| f.starts_with("40")).await;
        s
    }

    /// The WebSocket open (with `cookie`, if not empty) and Engine.IO's handshake read; no
    /// namespace connected yet.
    pub async fn engine(addr: std::net::SocketAddr, cookie: &str) -> RawSocket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut req = url.into_client_request().expect("a request");
        if !cookie.is_empty() {
            req.headers_mut().insert("cookie", cookie.parse().expect("a header value"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket");
        let mut s = RawSocket { ws, next_ack: 100 };
        assert!(s.recv().await.starts_with('0'), "Engine.IO open first");
        s
    }

    /// Sends a binary frame (a Socket.IO attachment).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> bool {
        self.ws.send(Message::binary(bytes)).await.is_ok()
    }

    /// Whether the server closes the connection within `limit` (frames meanwhile ignored,
    /// pings answered).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::text("3")).await;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn send(&mut self, frame: &str) {
        self.ws.send(Message::text(frame)).await.expect("send");
    }

    /// Sends unless the connection is gone (a server that cut it off).
    pub async fn try_send(&mut self, frame: &str) -> bool {
        self.ws.send(Message::text(frame)).await.is_ok()
    }

    /// The reply to a namespace CONNECT with `auth`: `40{..}` accepted, `44{..}` refused.
    pub async fn connect_reply(addr: std::net::SocketAddr, auth: &str) -> String {
        RawSocket::open(addr, auth).await.until(|f| f.starts_with("40") || f.starts_with("44")).await
    }

    /// Text frames until the namespace is disconnected (`41`) or the connection ends (pings
    /// answered meanwhile), at most `limit`.
    pub async fn drain(&mut self, limit: Duration) -> Vec<String> {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match msg {
                Message::Text(t) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::text("3")).await;
                }
                Message::Text(t) => {
                    frames.push(t.to_string());
                    if t.as_str() == "41" {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        frames
    }

    /// The next frame that is not a ping (pings are answered).
    pub async fn recv(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("open")
                .expect("a frame");
            let Message::Text(t) = msg else { continue };
            if t.as_str() == "2" {
                self.send("3").await;
                continue;
            }
            return t.to_string();
        }
    }

    /// Reads frames until one matches, for at most `limit`: None if none did.
    pub async fn try_until(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let wait = async {
            loop {
                let f = self.recv().await;
                if pred(&f) {
                    return f;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.ok()
    }

    /// Reads frames until one matches (30 s at most: pings alone never end the wait).
    pub async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let wait = async {
            loop {
                let f = self.recv().await;
                if pred(&f) {
                    return f;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the awaited frame within 30 s")
    }

    /// Emits `args` (a JSON array, event name first) with an ack id and returns the ack's
    /// arguments.
    pub async fn emit_ack(&mut self, args: &str) -> String {
        self.emit_ack_seen(args).await.0
    }

    /// Like `emit_ack`, and the first argument of every `event` that came before the ack.
    pub async fn emit_ack_seen(&mut self, args: &str) -> (String, Vec<serde_json::Value>) {
        self.next_ack += 1;
        let id = self.next_ack;
        self.send(&format!("42{id}{args}")).await;
        let prefix = format!("43{id}");
        let mut seen = Vec::new();
        // 30 s at most: pings alone never end the wait.
        let wait = async {
            loop {
                let f = self.recv().await;
                if let Some(ack) = f.strip_prefix(&prefix) {
                    return ack.to_string();
                }
                if let Some(Ok(serde_json::Value::Array(a))) = f.strip_prefix("42").map(serde_json::from_str) {
                    seen.push(serde_json::Value::Array(a));
                }
            }
        };
        let ack = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the ack within 30 s");
        (ack, seen)
    }

    /// The first argument of the next `event` frame (a plain `42["event", arg]`).
    pub async fn next_event(&mut self, event: &str) -> serde_json::Value {
        let prefix = format!("42[\"{event}\",");
        let frame = self.until(|f| f.starts_with(&prefix)).await;
        let args: Vec<serde_json::Value> = serde_json::from_str(&frame[2..]).expect("an event array");
        args.get(1).cloned().unwrap_or_default()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
