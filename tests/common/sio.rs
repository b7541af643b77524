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
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
        let mut s = RawSocket { ws, next_ack: 100 };
        assert!(s.recv().await.starts_with('0'), "Engine.IO open first");
        s.send("40").await;
        s.until(|f| f.starts_with("40")).await;
        s
    }

    pub async fn send(&mut self, frame: &str) {
        self.ws.send(Message::text(frame)).await.expect("send");
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

    /// Reads frames until one matches; returns it.
    pub async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let f = self.recv().await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// Emits `args` (a JSON array, event name first) with an ack id and returns the ack's
    /// arguments.
    pub async fn emit_ack(&mut self, args: &str) -> String {
        self.next_ack += 1;
        let id = self.next_ack;
        self.send(&format!("42{id}{args}")).await;
        let prefix = format!("43{id}");
        self.until(|f| f.starts_with(&prefix)).await[prefix.len()..].to_string()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
