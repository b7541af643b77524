//! `switchboard bench --nodes N`: the reference backend as N nodes on one Redis (Debian's
//! `redis-server` on a free loopback port, files in a temporary directory), tabs spread over
//! the nodes' origins, Switchboard beside socket.io-client in the same run. Node A broadcasts;
//! the adapter carries every event to the other nodes. Prints fan-out latency (until every tab
//! had an event), 100 B throughput and the Redis commands per broadcast; writes nothing.

use crate::bench::{burst, fanout, js, pct, CLIENTS};
use crate::cdp::Browser;
use crate::server::{Config, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A Redis for the run (and the library's own tests): started on a free loopback port,
/// killed when dropped.
pub(crate) struct DevRedis {
    _child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl DevRedis {
    pub(crate) async fn start() -> Result<DevRedis, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("redis-server (scripts/setup installs Debian's): {e}"))?;
        let redis = DevRedis { _child: child, port, _dir: dir };
        for _ in 0..500 {
            if redis.command("PING").await.is_some_and(|r| r.starts_with("+PONG")) {
                return Ok(redis);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("redis-server did not answer within 10 s".into())
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One inline command and its reply, raw.
    async fn command(&self, cmd: &str) -> Option<String> {
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        c.write_all(format!("{cmd}\r\nQUIT\r\n").as_bytes()).await.ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).await.ok()?;
        Some(out)
    }

    /// Commands Redis processed so far.
    async fn commands(&self) -> u64 {
        let info = self.command("INFO stats").await.unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

pub async fn run(root: &Path, n_nodes: usize, tabs: &[usize]) -> Result<(), String> {
    let vendor = root.join("tools/node_modules/socket.io-client/dist");
    if !vendor.join("socket.io.esm.min.js").is_file() {
        return Err(format!("{} is missing: run scripts/setup (npm ci --prefix tools)", vendor.display()));
    }
    let redis = DevRedis::start().await?;
    let mut nodes = Vec::new();
    for i in 0..n_nodes.max(1) {
        let config = Config {
            bind: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
            vendor_dir: Some(vendor.clone()),
            cache_max_age: Some(3600),
            redis: Some(redis.url()),
            node: format!("n{}", i + 1),
            test_hooks: true,
            ..Config::default()
        };
        nodes.push(Server::start(config).await.map_err(|e| format!("cannot start node {}: {e}", i + 1))?);
    }
    let mut rows = Vec::new();
    for &n in tabs {
        for (kind, name) in CLIENTS {
            eprintln!("bench: {name}, {n} tab(s) over {} nodes…", nodes.len());
            let b = Browser::launch().await;
            let mut open = Vec::new();
            for i in 0..n {
                // Round robin over the nodes' origins (Switchboard: a hub per origin).
                let tab = b.open(&format!("{}/bench.html", nodes[i % nodes.len()].url())).await;
                js(&b, &tab, &format!("bench.start('{kind}')")).await?;
                open.push(tab);
            }
            let before = redis.commands().await;
            let all = fanout(&nodes[0], &b, &open, 1000).await?;
            let (p50, p99) = (pct(&all, 0.5), pct(&all, 0.99));
            let per_broadcast = (redis.commands().await.saturating_sub(before + 1)) as f64 / 1000.0;
            let (rate, lossless) = burst(&nodes[0], &b, &open, 100, 1000).await?;
            b.shutdown().await;
            rows.push(json!({"client": name, "tabs": n, "p50_ms": p50 / 1000.0, "p99_ms": p99 / 1000.0,
                "events_per_s": rate, "lossless": lossless, "redis_commands_per_broadcast": per_broadcast}));
        }
    }
    for node in nodes {
        node.stop().await;
    }
    drop(redis);
    println!("{}", table(n_nodes, &rows));
    Ok(())
}

fn table(n_nodes: usize, rows: &[Value]) -> String {
    let mut s = format!(
        "### {n_nodes} nodes on one Redis (loopback; node 1 broadcasts, tabs spread over the nodes)\n\n\
         | client | tabs | fan-out p50 | fan-out p99 | 100 B events/s | lossless | Redis commands / broadcast |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.0} | {} | {:.1} |\n",
            r["client"].as_str().unwrap_or("?"),
            r["tabs"],
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["events_per_s"].as_f64().unwrap_or(0.0),
            r["lossless"],
            r["redis_commands_per_broadcast"].as_f64().unwrap_or(0.0),
        ));
    }
    s
}
