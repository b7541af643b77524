//! Test support: the reference backend on an ephemeral loopback port, and the CDP client
//! (`switchboard::cdp`) that drives headless Chromium.

#![allow(dead_code)]

pub mod backend;
pub mod http;
pub mod node;
pub mod nodes;
pub mod npm;
pub mod redis;
pub mod sio;

use serde_json::json;
use std::time::Duration;
#[allow(unused_imports)]
pub use switchboard::cdp::{Browser, Tab};
use switchboard::server::{Config, Server};

/// Starts the reference backend on 127.0.0.1 with short heartbeats.
pub async fn server() -> Server {
    server_with(config()).await
}

/// The test servers' configuration: an ephemeral loopback port, short heartbeats.
pub fn config() -> Config {
    Config {
        bind: "127.0.0.1:0".parse().expect("literal address"),
        ping_interval: Duration::from_millis(2_000),
        ping_timeout: Duration::from_millis(2_000),
        test_hooks: true,
        ..Config::default()
    }
}

pub async fn server_with(config: Config) -> Server {
    Server::start(config).await.expect("the reference backend starts")
}

/// One browser at a time across a test binary: two cores do not run several Chromiums well.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(())).lock().await
}

/// The harness page of the server at `page`, its client started with `opts` (a JS object),
/// once the JS condition `until` holds (15 s, then the test fails naming `what`).
pub async fn harness_tab(b: &Browser, page: &str, opts: &str, until: &str, what: &str) -> Tab {
    let tab = b.open(&format!("{page}/harness.html")).await;
    b.js(&tab, &format!("sb.start({opts}).then(() => sb.until(() => {until}, 15000, '{what}'))")).await;
    tab
}

/// The harness client is connected.
pub const CONNECTED: &str = "sb.client.status === 'connected'";

/// The browser's SharedWorker targets (the hub), by target id.
pub async fn shared_worker_targets(b: &Browser) -> Vec<String> {
    let targets = b.call(None, "Target.getTargets", json!({})).await.expect("getTargets");
    targets["targetInfos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|t| t["type"] == "shared_worker")
                .filter_map(|t| t["targetId"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A CDP session in the hub's own scope (its SharedWorker), for its test hooks
/// (`self.switchboard`, see static/bundle/switchboard-worker.js); `None` in an engine without
/// CDP (Firefox, WebKit), where [`advance_hub_clock`] lets real time pass instead.
pub async fn hub_scope(b: &Browser) -> Option<String> {
    if switchboard::engines::Engine::from_env() != switchboard::engines::Engine::Chromium {
        return None;
    }
    let worker = shared_worker_targets(b).await.pop().expect("the hub's SharedWorker");
    Some(b.attach(&worker).await)
}

/// Moves the hub's clock `ms` ahead (the virtual clock, `advanceClock` in worker/src/lib.rs):
/// the hub's own windows pass without the test sleeping through them. Without a hub scope
/// (no CDP to reach the worker) the window is waited out: time passing is what it tests.
pub async fn advance_hub_clock(b: &Browser, hub: &Option<String>, ms: u64) {
    let Some(hub) = hub else {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        return;
    };
    let expression = format!("self.switchboard.advanceClock({ms})");
    let r = b.call(Some(hub), "Runtime.evaluate", json!({ "expression": expression })).await;
    assert!(r.as_ref().is_ok_and(|v| v.get("exceptionDetails").is_none()), "the hub's clock moved: {r:?}");
}

/// Every tab's journal: one leader per (scope, term) in the announcements, and no two tabs
/// ever claimed (sampled every 50 ms) to lead in the same term.
pub async fn one_leader_per_term(b: &Browser, tabs: &[&Tab]) {
    let mut by_term = std::collections::BTreeMap::new();
    let mut claims: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for (i, tab) in tabs.iter().enumerate() {
        for entry in b.js(tab, "sb.leaders").await.as_array().cloned().unwrap_or_default() {
            let key = (entry[2].to_string(), entry[1].as_u64().unwrap_or(0));
            if let Some(p) = by_term.insert(key.clone(), entry[0].clone()) {
                assert_eq!(p, entry[0], "two leaders for {key:?}");
            }
        }
        for term in b.js(tab, "[...new Set(sb.claims)]").await.as_array().cloned().unwrap_or_default() {
            let term = term.as_u64().unwrap_or(0);
            if let Some(other) = claims.insert(term, i) {
                assert_eq!(other, i, "tabs {other} and {i} both claimed term {term}");
            }
        }
    }
    assert!(!claims.is_empty(), "some tab claimed to lead");
}

/// A backend that requires sign-in, with this access token lifetime.
pub async fn auth_server(access_ttl: Duration) -> Server {
    Server::start(Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        ping_interval: Duration::from_millis(2_000),
        ping_timeout: Duration::from_millis(2_000),
        access_ttl,
        require_auth: true,
        test_hooks: true,
        ..Config::default()
    })
    .await
    .expect("server")
}

/// `n` harness tabs of `url`, each started with the JS `start`, once every tab sees all `n`
/// (each is attached to the hub).
pub async fn open_tabs(b: &Browser, url: &str, n: usize, start: &str) -> Vec<Tab> {
    let mut out = Vec::new();
    for _ in 0..n {
        let tab = b.open(&format!("{url}/harness.html")).await;
        b.js(&tab, start).await;
        out.push(tab);
    }
    for tab in &out {
        b.js(tab, &format!("sb.until(() => sb.tabs.length === {n}, 10000, 'all tabs attached')")).await;
    }
    out
}

/// `n` harness tabs of `url` that journal their auth state (`sb.auth`).
pub async fn auth_tabs(b: &Browser, url: &str, n: usize) -> Vec<Tab> {
    let start = "sb.start().then(() => { sb.client.onAuth((a) => { sb.auth = a; sb.events.push({ name: '(auth)', args: [a] }); sb.notify(); }); })";
    open_tabs(b, url, n, start).await
}

/// Alice signs in from the first tab; every tab sees it and is connected.
pub async fn login(b: &Browser, tabs: &[Tab]) {
    b.js(&tabs[0], "sb.client.login('alice', 'alice-password')").await;
    for tab in tabs {
        b.js(tab, "sb.until(() => sb.auth && sb.auth.user === 'alice' && sb.client.status === 'connected', 10000, 'signed in and connected')").await;
    }
}

/// A page's `fetch` POST to a sign-in endpoint (JSON `body` as a JS object literal), as the
/// hub makes them: cookies and the CSRF header.
pub fn post_js(path: &str, body: &str) -> String {
    format!(
        "fetch('{path}', {{ method: 'POST', credentials: 'include', \
         headers: {{ 'content-type': 'application/json', 'x-switchboard': '1' }}, body: JSON.stringify({body}) }})"
    )
}

/// Starts a backend on `config.bind`, retrying while the port of one that just stopped is
/// still taken.
pub async fn start_on(config: Config) -> Server {
    for _ in 0..50 {
        if let Ok(s) = Server::start(config.clone()).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start the server on {}", config.bind);
}

/// A picture of `tab` for people (not asserted): `target/{name}.png`.
pub async fn screenshot(b: &Browser, tab: &Tab, name: &str) {
    if let Ok(shot) = b.call(Some(&tab.session), "Page.captureScreenshot", json!({"format": "png"})).await {
        if let Some(data) = shot["data"].as_str() {
            let _ = std::fs::write(format!("{}/target/{name}.png", env!("CARGO_MANIFEST_DIR")), base64_decode(data));
        }
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | (val(c) as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Log lines written by `tracing` in a test, read as text.
#[derive(Clone, Default)]
pub struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogSink {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log sink")).into_owned()
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log sink").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serves the files of `dir` on 127.0.0.1 (a CDN, or a static host of a bundler's output):
/// its origin, and the task to abort.
pub async fn serve(dir: std::path::PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let dir = dir.clone();
        async move {
            let path = uri.path().trim_start_matches('/');
            let path = if path.is_empty() { "index.html" } else { path };
            if path.split('/').any(|p| p == "..") {
                return StatusCode::BAD_REQUEST.into_response();
            }
            match std::fs::read(dir.join(path)) {
                Ok(bytes) => ([(header::CONTENT_TYPE, switchboard::assets::content_type(path))], bytes).into_response(),
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// `dir` served on one origin (`serve`) and a reference backend on another that allows it:
/// the page origin, the static server's task and the backend.
pub async fn site_and_backend(dir: std::path::PathBuf) -> (String, tokio::task::JoinHandle<()>, Server) {
    let (origin, site) = serve(dir).await;
    let mut config = config();
    config.allowed_origins = vec![origin.clone()];
    (origin, site, server_with(config).await)
}

/// Groups recorded `{tab, n}` events by tab, in arrival order.
pub fn by_tab(records: &[serde_json::Value]) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut out: std::collections::BTreeMap<String, Vec<u64>> = std::collections::BTreeMap::new();
    for r in records {
        out.entry(r["tab"].as_str().unwrap_or("?").to_string()).or_default().push(r["n"].as_u64().unwrap_or(u64::MAX));
    }
    out
}

/// Emits `count` numbered `record` events from `tab`, yielding to the event loop every 10
/// (a MessageChannel round, which background tabs do not throttle as they do timers) so
/// faults land mid-stream.
pub fn emit_numbered(name: &str, count: u32) -> String {
    format!(
        "(async () => {{ for (let n = 0; n < {count}; n++) {{ sb.client.emit('record', {{ tab: '{name}', n }}); \
         if (n % 10 === 9) await new Promise((r) => {{ const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0); }}); }} return sb.client.unconfirmed; }})()"
    )
}

/// Three fast-reconnecting harness tabs of `url` in `b` (one hub), connected.
pub async fn three_clients(b: &Browser, url: &str) -> Vec<Tab> {
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(
            harness_tab(b, url, "{ reconnectionDelay: 100, reconnectionDelayMax: 500 }", CONNECTED, "connected").await,
        );
    }
    tabs
}

/// Tabs A, B and C emit 200 numbered `record` events each, at once; what each still held
/// unconfirmed when it finished.
pub async fn six_hundred(b: &Browser, tabs: &[Tab]) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let scripts: Vec<String> = ["A", "B", "C"].iter().map(|n| emit_numbered(n, 200)).collect();
    tokio::join!(b.js(&tabs[0], &scripts[0]), b.js(&tabs[1], &scripts[1]), b.js(&tabs[2], &scripts[2]))
}

/// Waits until `check` gives a value (asked every 20 ms), at most `deadline`; past it the test
/// fails naming `what`. The async twin of `until`, and of the pages' `sb.until`.
pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < end, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `condition` holds (checked every 20 ms), at most `deadline`: whether it held.
pub async fn until(deadline: Duration, condition: impl Fn() -> bool) -> bool {
    let end = tokio::time::Instant::now() + deadline;
    while !condition() {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
