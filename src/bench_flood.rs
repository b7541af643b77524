//! `switchboard bench --flood`: the reference backend (this binary, `serve`, as deployed: no
//! test hooks, the Admin UI on) under a flood of wrong passwords and of `/admin` CONNECTs,
//! while real users sign in. Prints the server's resident memory (start, peak), how long the
//! real sign-ins took, and what the flood was answered (401 / 429 / 503) and cost (hashes).
//! Issue 26's figures before the hash gate and the throttles: RSS 45 MB → 3.7 GB and a real
//! sign-in in 7.6 s under 64 parallel wrong logins; 2.5 GB after 132 short `/admin` connects.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "admin:admin-password-1";
const WRONG: &str = r#"{"username":"alice","password":"not-her-password"}"#;
const ALICE: &str = r#"{"username":"alice","password":"alice-password"}"#;
const BOB: &str = r#"{"username":"bob","password":"bob-password"}"#;

/// The server's resident set and its peak so far, in MB (from /proc).
fn rss_mb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One HTTP/1.1 request from loopback address `from`: the status and the whole answer.
async fn request(from: [u8; 4], addr: SocketAddr, req: String) -> Result<(u16, String), String> {
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::from((from, 0))).map_err(|e| e.to_string())?;
    let mut s = socket.connect(addr).await.map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, text))
}

async fn login(from: [u8; 4], addr: SocketAddr, body: &str, cookie: &str) -> Result<(u16, String), String> {
    let req = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nx-switchboard: 1\r\n\
         Cookie: {cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    request(from, addr, req).await
}

/// The `sb_device=...` pair of an answer's `Set-Cookie`.
fn device_cookie(res: &str) -> String {
    res.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find_map(|c| c.split(';').next().filter(|kv| kv.starts_with("sb_device=")).map(String::from))
        .unwrap_or_default()
}

/// Answers of the flood, by status.
#[derive(Default)]
struct Tally {
    unauthorized: AtomicU64,
    throttled: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn count(&self, status: u16) {
        match status {
            401 => &self.unauthorized,
            429 => &self.throttled,
            503 => &self.busy,
            _ => &self.other,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "401 ×{}, 429 ×{}, 503 ×{}, other ×{}",
            self.unauthorized.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            self.busy.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed)
        )
    }
}

/// The server's counters (with the admin credentials).
async fn metrics(addr: SocketAddr) -> Value {
    let req = format!(
        "GET /debug/metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==\r\nConnection: close\r\n\r\n"
    );
    let text = request([127, 0, 0, 1], addr, req).await.map(|(_, t)| t).unwrap_or_default();
    serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or(Value::Null)
}

/// `workers` clients sending wrong passwords as fast as they are answered (ignoring
/// `Retry-After`, as an attacker does), from `address(i)`, until `stop`.
/// `accounts`: each worker guesses at an account of its own (credential stuffing) rather than
/// alice's.
fn flood(
    addr: SocketAddr,
    workers: usize,
    address: impl Fn(usize) -> [u8; 4],
    accounts: bool,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|i| {
            let (stop, tally, from) = (stop.clone(), tally.clone(), address(i));
            let body = match accounts {
                true => format!(r#"{{"username":"user{i}","password":"guess"}}"#),
                false => WRONG.to_string(),
            };
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match login(from, addr, &body, "").await {
                        Ok((status, _)) => tally.count(status),
                        Err(_) => tally.count(0),
                    }
                }
            })
        })
        .collect()
}

/// How long a real sign-in takes (and its status), from `from` with `cookie`.
async fn timed_login(addr: SocketAddr, from: [u8; 4], body: &str, cookie: &str) -> (u16, Duration) {
    let t = Instant::now();
    let status = login(from, addr, body, cookie).await.map(|(s, _)| s).unwrap_or(0);
    (status, t.elapsed())
}

/// Samples the server's peak RSS until `stop`.
fn sampler(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_mb(pid).0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    })
}

/// One `/admin` CONNECT with a wrong password over a WebSocket from `from`, closed as soon
/// as it is answered (or after 5 s): whether it was refused.
async fn admin_connect(addr: SocketAddr) -> bool {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url)).await
    else {
        return false;
    };
    let _ = ws.send(Message::text(r#"40/admin,{"username":"admin","password":"guess-guess"}"#)).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                if t.starts_with("44/admin") || t.starts_with("40/admin") {
                    return t.starts_with("44/admin");
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let _ = ws.close(None).await;
    answer
}

pub async fn run(workers: usize, secs: u64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--port", "0", "--admin", ADMIN])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let pid = child.id().ok_or("the server has no pid")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let url = loop {
        let line = lines.next_line().await.map_err(|e| e.to_string())?.ok_or("the server ended")?;
        if let Some(rest) = line.split("server on http://").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr: SocketAddr = url.parse().map_err(|e| format!("{url}: {e}"))?;
    // Alice's own browser signed in before (a returning device).
    let (status, first) = login([127, 0, 0, 1], addr, ALICE, "").await?;
    if status != 200 {
        return Err(format!("alice cannot sign in: {status}"));
    }
    let home = device_cookie(&first);
    let (start, _) = rss_mb(pid);
    println!("server RSS at the start: {start} MB");
    let each: fn(usize) -> [u8; 4] = |i| [127, 0, 9, 1 + (i % 250) as u8];
    for (name, address, accounts) in [
        ("one address at alice", (|_| [127, 0, 0, 1]) as fn(usize) -> [u8; 4], false),
        ("an address each at alice", each, false),
        ("an address and an account each", each, true),
    ] {
        let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
        let hashes_before = metrics(addr).await["auth"]["hashes"].as_u64().unwrap_or(0);
        let peak = sampler(pid, stop.clone());
        let flood = flood(addr, workers, address, accounts, stop.clone(), tally.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (mut returning, mut elsewhere) = (Vec::new(), Vec::new());
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            returning.push(timed_login(addr, [127, 0, 0, 1], ALICE, &home).await);
            elsewhere.push(timed_login(addr, [127, 0, 8, 8], BOB, "").await);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for f in flood {
            let _ = f.await;
        }
        let peak = peak.await.unwrap_or(0);
        let hashes = metrics(addr).await["auth"]["hashes"].as_u64().unwrap_or(0) - hashes_before;
        let show = |l: &[(u16, Duration)]| {
            let ok = l.iter().filter(|(s, _)| *s == 200).count();
            let worst = l.iter().map(|(_, d)| d.as_millis()).max().unwrap_or(0);
            let mut ms: Vec<u128> = l.iter().map(|(_, d)| d.as_millis()).collect();
            ms.sort();
            format!("{ok}/{} signed in, median {} ms, slowest {worst} ms", l.len(), ms.get(ms.len() / 2).unwrap_or(&0))
        };
        println!("flood of {workers} wrong-password clients from {name}, {secs} s:");
        println!("  flood answered: {}; {hashes} hashes run", tally.line());
        println!("  server RSS peak {peak} MB");
        println!("  alice on her own device (same address as the flood): {}", show(&returning));
        println!("  bob, a new device on another address: {}", show(&elsewhere));
    }
    // `/admin` CONNECTs with a wrong password: 132 at once, then 132 more.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = sampler(pid, stop.clone());
    let hashes_before = metrics(addr).await["auth"]["hashes"].as_u64().unwrap_or(0);
    let t = Instant::now();
    let mut refused = 0;
    for _ in 0..2 {
        let connects: Vec<_> = (0..132).map(|_| tokio::spawn(admin_connect(addr))).collect();
        for c in connects {
            refused += usize::from(c.await.unwrap_or(false));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = peak.await.unwrap_or(0);
    let hashes = metrics(addr).await["auth"]["hashes"].as_u64().unwrap_or(0) - hashes_before;
    println!(
        "264 short /admin connects with a wrong password: {refused} refused in {} ms, {hashes} hashes run, server RSS peak {peak} MB",
        t.elapsed().as_millis()
    );
    let (now, hwm) = rss_mb(pid);
    println!("server RSS at the end: {now} MB (highest ever {hwm} MB)");
    let _ = child.kill().await;
    Ok(())
}
