//! The Socket.IO Admin UI's server protocol on the reference backend, driven by the official
//! `socket.io-client` from npm the way the UI connects (`tests/node/admin-client.mjs`):
//! credentials required, then `config`, the sockets with their rooms and data, events,
//! `server_stats`, and the actions; read-only refuses them; malformed ones get an error.

mod common;

use common::sio::RawSocket;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use switchboard::server::{AdminConfig, Config, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

struct AdminClient {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stdin: ChildStdin,
}

impl AdminClient {
    async fn start(srv: &Server, auth: Value) -> AdminClient {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/admin-client.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(srv.url())
            .arg(auth.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node (installed by scripts/setup)");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stdin = child.stdin.take().expect("stdin");
        AdminClient { _child: child, lines, stdin }
    }

    /// The arguments of the next `event` (10 s at most); other events are skipped.
    async fn next(&mut self, event: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {event} within 10 s"))
                .expect("stdout")
                .unwrap_or_else(|| panic!("the client ended before {event}"));
            let v: Value = serde_json::from_str(&line).expect("a JSON line");
            if v["event"] == event {
                return v["args"].as_array().cloned().unwrap_or_default();
            }
        }
    }

    /// The next of `events` to arrive: its name and arguments.
    async fn next_of(&mut self, events: &[&str]) -> (String, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .expect("an event within 10 s")
                .expect("stdout")
                .expect("a line");
            let v: Value = serde_json::from_str(&line).expect("a JSON line");
            if let Some(name) = events.iter().find(|e| v["event"] == **e) {
                return (name.to_string(), v["args"].as_array().cloned().unwrap_or_default());
            }
        }
    }

    /// Emits `[event, ...args]` (the UI's actions).
    async fn send(&mut self, args: Value) {
        self.stdin.write_all(format!("{args}\n").as_bytes()).await.expect("stdin");
    }
}

async fn admin_server(readonly: bool, development: bool) -> Server {
    let admin = AdminConfig::parse("admin:admin-password-1", readonly, development).expect("admin config");
    common::server_with(Config { admin: Some(admin), ..common::config() }).await
}

const CREDENTIALS: &str = r#"{"username":"admin","password":"admin-password-1"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_sees_sockets_rooms_events_and_acts_on_them() {
    let srv = admin_server(false, true).await;
    // No credentials, wrong ones: refused.
    for auth in [json!({}), json!({"username": "admin", "password": "wrong-password"})] {
        let mut c = AdminClient::start(&srv, auth).await;
        assert_eq!(c.next("connect_error").await, [json!("invalid credentials")]);
    }
    let mut app = RawSocket::connect(srv.addr).await;
    // Like a hub: it answers the server's hello (every handler is registered by then).
    app.next_event("sb:hello").await;
    app.send(r#"42["sb:tabs",["tab-a","tab-b"]]"#).await;
    assert_eq!(srv.known_tabs_reach(2, Duration::from_secs(10)).await, 2);
    let mut admin = AdminClient::start(&srv, serde_json::from_str(CREDENTIALS).expect("json")).await;
    let session = admin.next("session").await;
    let features = admin.next("config").await[0]["supportedFeatures"].clone();
    for f in ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"] {
        assert!(features.as_array().is_some_and(|a| a.contains(&json!(f))), "{f} in {features}");
    }
    let all = admin.next("all_sockets").await;
    let sockets = all[0].as_array().expect("a list");
    let me = sockets
        .iter()
        .find(|s| s["nsp"] == "/" && s["data"]["tabs"] == json!(["tab-a", "tab-b"]))
        .expect("the hub's socket, its tabs in data");
    let sid = me["id"].as_str().expect("an id").to_string();
    assert!(me["rooms"].as_array().is_some_and(|r| r.contains(&json!("tab:tab-a"))), "{me}");
    assert!(me["handshake"]["headers"].get("cookie").is_none());
    // An event, a room: seen as they happen.
    app.send(r#"42["record",{"x":1}]"#).await;
    let e = admin.next("event_received").await;
    assert_eq!((e[0].clone(), e[1].clone(), e[2].clone()), (json!("/"), json!(sid), json!(["record", {"x": 1}])));
    assert!(e[3].as_str().is_some_and(|t| t.ends_with('Z')), "a date: {e:?}");
    app.emit_ack(r#"["sb:join","team:9"]"#).await;
    assert_eq!(admin.next("room_joined").await[..3], [json!("/"), json!("team:9"), json!(sid)]);
    let other = RawSocket::connect(srv.addr).await;
    let connected = admin.next("socket_connected").await;
    assert_eq!(connected[0]["nsp"], "/");
    assert_ne!(connected[0]["id"], json!(sid));
    let stats = admin.next("server_stats").await;
    assert!(stats[0]["clientsCount"].as_u64().is_some_and(|n| n >= 2), "{stats:?}");
    assert!(stats[0]["namespaces"].as_array().is_some_and(|n| n.iter().any(|x| x["name"] == "/admin")), "{stats:?}");
    // Actions: everyone in `/` joins a room; an event to the room.
    admin.send(json!(["join", "/", "from-admin"])).await;
    for _ in 0..2 {
        assert_eq!(admin.next("room_joined").await[1], "from-admin");
    }
    assert_eq!(srv.room_size("from-admin"), 2, "both sockets of / joined");
    admin.send(json!(["emit", "/", "from-admin", "news", {"a": 1}])).await;
    assert_eq!(app.next_event("news").await, json!({"a": 1}));
    // What the application sends shows too (an announcement to everyone).
    app.send(r#"42["announce",{"text":"hi"}]"#).await;
    let sent = admin.next("event_sent").await;
    assert_eq!(sent[2], json!(["announce", {"text": "hi", "from": "anonymous"}]), "{sent:?}");
    // Malformed: an error, never a panic; the server goes on.
    admin.send(json!(["join", 42])).await;
    let err = admin.next("sb:admin_error").await;
    assert!(err[0]["error"].as_str().is_some_and(|m| m.contains("namespace")), "{err:?}");
    assert_eq!(app.emit_ack(r#"["echo","still"]"#).await, r#"["still"]"#);
    // The session id it was given signs in again without the password.
    let mut again = AdminClient::start(&srv, json!({"sessionId": session[0]})).await;
    again.next("config").await;
    other.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_admin_looks_but_cannot_act_and_production_mode_lists_no_sockets() {
    let srv = admin_server(true, true).await;
    let mut app = RawSocket::connect(srv.addr).await;
    let mut admin = AdminClient::start(&srv, serde_json::from_str(CREDENTIALS).expect("json")).await;
    assert_eq!(admin.next("config").await[0]["supportedFeatures"], json!(["AGGREGATED_EVENTS", "ALL_EVENTS"]));
    admin.send(json!(["join", "/", "nope"])).await;
    let err = admin.next("sb:admin_error").await;
    assert!(err[0]["error"].as_str().is_some_and(|m| m.contains("read-only")), "{err:?}");
    assert_eq!(srv.room_size("nope"), 0);
    assert_eq!(app.emit_ack(r#"["echo",1]"#).await, "[1]");
    srv.stop().await;
    let srv = admin_server(false, false).await;
    let mut admin = AdminClient::start(&srv, serde_json::from_str(CREDENTIALS).expect("json")).await;
    let features = admin.next("config").await[0]["supportedFeatures"].clone();
    assert!(!features.as_array().is_some_and(|a| a.contains(&json!("ALL_EVENTS"))), "{features}");
    let (first, _) = admin.next_of(&["all_sockets", "server_stats"]).await;
    assert_eq!(first, "server_stats", "production mode: aggregated stats only");
    srv.stop().await;
}

/// The official Admin UI (npm `@socket.io/admin-ui`'s `ui/dist`, served by the dev server at
/// `/admin-ui/`) in headless Chromium shows the backend's server, a hub's socket with its
/// rooms, and its events. Screenshots: target/admin-ui-sockets.png, target/admin-ui-events.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_admin_ui_shows_the_server_its_sockets_rooms_and_events() {
    let admin = AdminConfig::parse("admin:admin-password-1", false, true).expect("admin config");
    let config = Config { admin: Some(admin), admin_ui: Some(switchboard::admin_ui_dir()), ..common::config() };
    let srv = common::server_with(config).await;
    let b = common::Browser::launch().await;
    let hub = common::harness_tab(&b, &srv.url(), "{}", common::CONNECTED, "connected").await;
    b.js(&hub, "sb.client.join('team:ui')").await;
    let sid = b.js(&hub, "sb.client.statusDetail.sid").await.as_str().expect("a sid").to_string();
    let mut c = AdminClient::start(&srv, serde_json::from_str(CREDENTIALS).expect("json")).await;
    let session = c.next("session").await[0].as_str().expect("a session id").to_string();
    // Where the UI finds its server and session (as it saves them after a sign-in), then the UI.
    let setup = b.open(&format!("{}/admin-ui/", srv.url())).await;
    let url = srv.url();
    b.js(
        &setup,
        &format!(
            "localStorage.setItem('server_url', '{url}'); localStorage.setItem('ws_only', 'true'); \
         localStorage.setItem('session_id', '{session}'); true"
        ),
    )
    .await;
    let ui = b.open(&format!("{url}/admin-ui/#/sockets/")).await;
    // Event-driven: re-check on every DOM change.
    let shows = |text: &str| {
        format!(
            "new Promise((ok, fail) => {{ const check = () => {{ if (document.body && document.body.innerText.includes({text:?})) {{ obs.disconnect(); clearTimeout(t); ok(true); }} }}; \
             const obs = new MutationObserver(check); obs.observe(document.documentElement, {{ subtree: true, childList: true, characterData: true }}); \
             const t = setTimeout(() => {{ obs.disconnect(); fail(new Error('the UI does not show ' + {text:?})); }}, 15000); check(); }})"
        )
    };
    b.js(&ui, &shows(&sid)).await;
    common::screenshot(&b, &ui, "admin-ui-sockets").await;
    // The socket's page: its rooms (the one it joined, its tab's own) and its events.
    b.js(&ui, &format!("location.hash = '#/n/%2F/sockets/{sid}'; true")).await;
    b.js(&ui, &shows("team:ui")).await;
    b.js(&hub, "sb.client.emit('record', { from: 'the admin ui test' })").await;
    b.js(&ui, "location.hash = '#/events/'; true").await;
    b.js(&ui, &shows("record")).await;
    common::screenshot(&b, &ui, "admin-ui-events").await;
    b.js(&ui, "location.hash = '#/servers/'; true").await;
    b.js(&ui, &shows(&format!("{}", std::process::id()))).await;
    b.shutdown().await;
    srv.stop().await;
}

/// `/metrics` in the Prometheus text format; behind the admin credentials when they are set.
#[tokio::test]
async fn metrics_in_the_prometheus_format_behind_the_admin_credentials() {
    let open = common::server().await;
    let text = common::http::get(open.addr, "/metrics", None).await;
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("application/openmetrics-text"), "{text}");
    assert!(text.contains("# TYPE switchboard_sockets_connected gauge"), "{text}");
    assert!(text.contains("switchboard_auth_logins_total 0"), "{text}");
    open.stop().await;
    let srv = admin_server(false, true).await;
    assert!(common::http::get(srv.addr, "/metrics", None).await.starts_with("HTTP/1.1 401"));
    let ask = |auth: &str| {
        let addr = srv.addr;
        common::http::http(
            addr,
            format!(
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    // admin:wrong-password, then admin:admin-password-1.
    assert!(ask("YWRtaW46d3JvbmctcGFzc3dvcmQ=").await.starts_with("HTTP/1.1 401"));
    assert!(ask("YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==").await.contains("switchboard_websocket_upgrades_total"));
    srv.stop().await;
}
