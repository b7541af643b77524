//! The reference backend as its own process (`switchboard serve`), one node of several on
//! one Redis, so a test can kill it as a crash would (SIGKILL: nothing is drained).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Backend {
    child: Child,
    pub addr: SocketAddr,
    pub name: String,
    /// Its last 200 lines of output, for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    /// Node `name` on the Redis at `redis`, on a free loopback port, with short heartbeats and
    /// a 1 s claim lease (`--dedup-lease`), plus `extra` arguments.
    pub async fn start(name: &str, redis: &str, extra: &[&str]) -> Backend {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--port", "0", "--redis", redis, "--node", name])
            .args(["--ping-interval", "2000", "--ping-timeout", "2000", "--dedup-lease", "1000", "--test-hooks"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the switchboard binary runs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let url = line.strip_prefix("Switchboard dev server on http://").and_then(|r| r.split(' ').next());
                if let Some(addr) = url.and_then(|u| u.parse::<SocketAddr>().ok()) {
                    return Some(addr);
                }
                log.lock().expect("log").push(line);
            }
            None
        })
        .await;
        let addr = match found {
            Ok(Some(addr)) => addr,
            _ => panic!("node {name} did not start: {:?}", log.lock().expect("log")),
        };
        let keep = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut l = keep.lock().expect("log");
                l.push(line);
                if l.len() > 200 {
                    l.remove(0);
                }
            }
        });
        Backend { child, addr, name: name.into(), log }
    }

    /// A counter of its `/debug/metrics` (no admin credentials are configured here).
    pub async fn metric(&self, name: &str) -> u64 {
        let res = super::http::get(self.addr, "/debug/metrics", None).await;
        let body = res.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("metrics ({e}): {res}"));
        v[name].as_u64().unwrap_or_else(|| panic!("no counter {name}: {v}"))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: the process ends at once, mid-handler if it was in one.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
