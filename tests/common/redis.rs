//! A real Redis (Debian's `redis-server`, installed by scripts/setup) on a free loopback port,
//! with its files (AOF on) in a temporary directory; stopped when dropped.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("a directory for Redis");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--appendonly", "yes", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (scripts/setup installs Debian's)");
        let redis = Redis { child, port, _dir: dir };
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if redis.ping().await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("redis-server answers PING within 10 s");
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

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
