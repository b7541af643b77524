//! A real Redis (Debian's `redis-server`, installed by scripts/setup) on a free loopback port,
//! with its files in a temporary directory (AOF on, written before each reply: what Redis
//! acknowledged survives its restart); stopped when dropped.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub struct Redis {
    child: tokio::sync::Mutex<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    pub async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("a directory for Redis");
        let child = spawn(port, dir.path());
        let redis = Redis { child: tokio::sync::Mutex::new(child), port, dir };
        redis.until_up().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn ping(&self) -> bool {
        let Ok(mut c) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else { return false };
        let mut buf = [0u8; 7];
        c.write_all(b"PING\r\n").await.is_ok() && c.read_exact(&mut buf).await.is_ok() && &buf == b"+PONG\r\n"
    }

    async fn until_up(&self) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !self.ping().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("redis-server answers PING within 10 s");
    }

    /// Kills Redis (no shutdown save: only its AOF is left) and returns once the port is free.
    pub async fn kill(&self) {
        let _ = self.child.lock().await.kill().await;
        while self.ping().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts it again on the same port, from the same files.
    pub async fn start_again(&self) {
        *self.child.lock().await = spawn(self.port, self.dir.path());
        self.until_up().await;
    }

    /// A client for the test's own reads.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        client.get_multiplexed_async_connection().await.expect("a connection to the test's Redis")
    }

    /// The elements of a list, as JSON values.
    pub async fn list(&self, key: &str) -> Vec<serde_json::Value> {
        let raw: Vec<String> =
            redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query_async(&mut self.client().await).await.expect("LRANGE");
        raw.iter().map(|r| serde_json::from_str(r).expect("JSON in the list")).collect()
    }

    /// Waits (at most `limit`) until list `key` holds `n` elements; returns them.
    pub async fn list_reaches(&self, key: &str, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut c = self.client().await;
        loop {
            let len: usize = redis::cmd("LLEN").arg(key).query_async(&mut c).await.unwrap_or(0);
            if len >= n || tokio::time::Instant::now() >= deadline {
                return self.list(key).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        let _ = self.child.lock().await.kill().await;
    }
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
        .args(["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (scripts/setup installs Debian's)")
}
