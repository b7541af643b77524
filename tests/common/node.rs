//! An unmodified Socket.IO 4 server (Node, npm `socket.io` from tools/), started as a child
//! process on a loopback port: `tests/node/plain-server.mjs`.

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub struct NodeServer {
    child: Child,
    pub port: u16,
}

impl NodeServer {
    pub async fn start(port: u16) -> NodeServer {
        Self::start_with(port, 0).await
    }

    /// With `recovery_ms` > 0 the server enables connection state recovery for that long.
    pub async fn start_with(port: u16, recovery_ms: u64) -> NodeServer {
        Self::start_full(port, recovery_ms, 0).await
    }

    /// And with `ping_ms` > 0, Engine.IO's pingInterval and pingTimeout.
    pub async fn start_full(port: u16, recovery_ms: u64, ping_ms: u64) -> NodeServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/plain-server.mjs");
        let args = [script.to_string(), port.to_string(), recovery_ms.to_string(), ping_ms.to_string()];
        Self::spawn(std::path::Path::new("."), &args, &[]).await
    }

    /// `node args…` in `dir` with `env`, once it printed `listening PORT` (its stdout is
    /// drained from then on; a failure panics with what did not happen).
    pub async fn spawn(dir: &std::path::Path, args: &[String], env: &[(&str, &std::ffi::OsStr)]) -> NodeServer {
        let mut child = Command::new("node")
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node (installed by scripts/setup) runs the Socket.IO server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the Node server starts")
            .expect("stdout")
            .expect("a line");
        let port = line.strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("listening PORT");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        NodeServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn get(&self, path: &str) -> Value {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("null");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// Waits (polling the other process) until it recorded at least `n` events.
    pub async fn recorded(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let r = self.get("/recorded").await;
            if r.as_array().is_some_and(|a| a.len() >= n) {
                return r.as_array().cloned().unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.get("/recorded").await.as_array().cloned().unwrap_or_default()
    }

    pub async fn stop(mut self) -> u16 {
        let _ = self.child.kill().await;
        self.port
    }
}
