//! The reference backend on its own: Origin allowlist and metrics, over raw HTTP.

mod common;

use common::sio::RawSocket;
use serde_json::json;
use std::time::Duration;

use common::http::{device, get, get_with, post, set_cookie};

#[tokio::test]
async fn socket_io_refuses_foreign_origins_and_serves_its_own() {
    let srv = common::server().await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let own = format!("http://{}", srv.addr);
    assert!(get(srv.addr, path, Some(&own)).await.starts_with("HTTP/1.1 200"), "same origin is allowed");
    assert!(get(srv.addr, path, None).await.starts_with("HTTP/1.1 200"), "no Origin (not a browser) is allowed");
    let foreign = get(srv.addr, path, Some("http://evil.example")).await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    assert!(foreign.contains("--allow-origin http://evil.example"), "the answer names the flag: {foreign}");
    let metrics = get(srv.addr, "/debug/metrics", None).await;
    assert!(metrics.contains("\"origin_refused\":1"), "{metrics}");
    srv.stop().await;
    // `--allow-origin` adds an origin; the server's own stays allowed.
    let config = switchboard::server::Config { allowed_origins: vec!["http://app.example".into()], ..common::config() };
    let srv = common::server_with(config).await;
    let own = format!("http://{}", srv.addr);
    assert!(get(srv.addr, path, Some(&own)).await.starts_with("HTTP/1.1 200"), "its own origin, with the flag");
    assert!(get(srv.addr, path, Some("http://app.example")).await.starts_with("HTTP/1.1 200"), "the added one");
    assert!(get(srv.addr, path, Some("http://evil.example")).await.starts_with("HTTP/1.1 403"));
    srv.stop().await;
}

#[tokio::test]
async fn serves_the_bundle_and_the_demo() {
    let srv = common::server().await;
    for (path, ty) in [
        ("/", "text/html"),
        ("/switchboard.js", "text/javascript"),
        ("/switchboard-worker.js", "text/javascript"),
        ("/switchboard_hub_bg.wasm", "application/wasm"),
        ("/switchboard.d.ts", "application/typescript"),
        ("/switchboard-state.js", "text/javascript"),
        ("/demo.js", "text/javascript"),
        ("/favicon.ico", "image/svg+xml"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let res = get(srv.addr, path, None).await;
        assert!(res.starts_with("HTTP/1.1 200"), "{path}: {}", res.lines().next().unwrap_or(""));
        assert!(res.to_ascii_lowercase().contains(&format!("content-type: {ty}")), "{path}");
    }
    assert!(get(srv.addr, "/nope.js", None).await.starts_with("HTTP/1.1 404"));
    // The demo runs under the Content-Security-Policy the README documents (tests/e2e.rs
    // drives it in Chromium).
    let demo = get(srv.addr, "/", None).await.to_ascii_lowercase();
    assert!(
        demo.contains("content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"),
        "{demo}"
    );
    assert!(!demo.contains("<script type=\"module\">"), "no inline script in the demo");
    // The server counts what it writes (the benchmark's bytes per broadcast come from this).
    let wasm = switchboard::assets::find("switchboard_hub_bg.wasm").expect("the hub wasm").len() as u64;
    let sent = srv.stats.bytes_sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent > wasm, "bytes_sent {sent} < the {wasm} B hub wasm it served");
    srv.stop().await;
}

#[tokio::test]
async fn two_servers_in_one_process_share_nothing() {
    let (a, b) = (common::server().await, common::server().await);
    let mut on_a = RawSocket::connect(a.addr).await;
    on_a.send(r#"42["sb:tabs",["tab-1"]]"#).await;
    let receipt = on_a.emit_ack(r#"["sb:emit","same-id","record",{"on":"a"}]"#).await;
    assert_eq!(receipt, r#"[{"ok":true}]"#);
    // The same envelope id on the other server is new there: the dedup windows are apart.
    let mut on_b = RawSocket::connect(b.addr).await;
    assert_eq!(on_b.emit_ack(r#"["sb:emit","same-id","record",{"on":"b"}]"#).await, r#"[{"ok":true}]"#);
    assert_eq!(a.recorded_at_least(1, Duration::from_secs(5)).await, [json!({"on": "a"})]);
    assert_eq!(b.recorded_at_least(1, Duration::from_secs(5)).await, [json!({"on": "b"})]);
    // Tabs and their sockets: known where announced only, and gone with the socket.
    assert_eq!((a.known_tabs(), b.known_tabs()), (1, 0));
    assert_eq!(a.room_size("tab:tab-1"), 1, "the server puts the socket in each tab's own room");
    assert!(a.emit_to_tab("tab-1", "ping", &json!(1)).await);
    assert!(!b.emit_to_tab("tab-1", "ping", &json!(1)).await);
    on_a.close().await;
    assert_eq!(a.known_tabs_reach(0, Duration::from_secs(5)).await, 0, "the tab entry left with its socket");
    // Stopping one server (which drains its events) leaves the other serving.
    a.stop().await;
    assert_eq!(on_b.emit_ack(r#"["echo",{"still":"here"}]"#).await, r#"[{"still":"here"}]"#);
    b.stop().await;
}

#[tokio::test]
async fn a_socket_cannot_join_another_users_hierarchy_rooms() {
    let srv = common::server().await;
    let mut s = RawSocket::connect(srv.addr).await;
    for room in ["user:bob", "session:x", "device:y"] {
        let reply = s.emit_ack(&format!(r#"["sb:join","{room}"]"#)).await;
        assert!(reply.contains("error"), "{room}: {reply}");
        assert_eq!(srv.room_size(room), 0);
    }
    assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    assert_eq!(srv.room_size("team:1"), 1);
    srv.stop().await;
}

/// A priority report from a raw socket (`scope`, and `[tab, level]` pairs).
fn report(scope: &str, term: u64, tabs: &[(&str, u8)]) -> String {
    let tabs: Vec<_> = tabs.iter().map(|(t, l)| json!({"tab": t, "level": l})).collect();
    json!(["sb:priority", {"scope": scope, "term": term, "tabs": tabs}]).to_string()
}

fn lead(scope: &str, tab: &str, term: u64, event: &str, arg: serde_json::Value) -> String {
    json!(["sb:lead", {"scope": scope, "tab": tab, "term": term}, event, arg]).to_string()
}

/// Leader election across two devices of one user (scope `user`): one leader per term, a
/// focused tab takes over after the hysteresis, a stale term's leader command is refused
/// and only the holder's passes, and a holder that disconnects is replaced at once.
#[tokio::test]
async fn two_devices_of_one_user_elect_one_leader_and_stale_terms_are_refused() {
    let srv = common::server().await;
    let token =
        async |s: &switchboard::server::Server| s.auth.login("alice", "alice-password").await.expect("login").access;
    let auth = json!({"token": token(&srv).await}).to_string();
    let mut a = RawSocket::connect_with(srv.addr, &auth).await;
    let auth = json!({"token": token(&srv).await}).to_string();
    let mut b = RawSocket::connect_with(srv.addr, &auth).await;
    a.send(&format!("42{}", report("user", 0, &[("tab-a", 2)]))).await;
    let e = a.next_event("LEADER_ELECTED").await;
    assert_eq!(e, json!({"scope": "user", "leader": "tab-a", "term": 1, "leaseMs": 9000}));
    b.send(&format!("42{}", report("user", 0, &[("tab-b", 1)]))).await;
    let e = b.next_event("LEADER_ELECTED").await;
    assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-a"), Some(1)), "b hears who leads");
    // b is brought to the front: it leads after the hysteresis, and both devices hear it.
    b.send(&format!("42{}", report("user", 0, &[("tab-b", 3)]))).await;
    let e = b.next_event("LEADER_ELECTED").await;
    assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-a"), Some(1)), "every report is answered");
    for s in [&mut a, &mut b] {
        let e = s.next_event("LEADER_ELECTED").await;
        assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-b"), Some(2)));
    }
    let stale = a.emit_ack(&lead("user", "tab-a", 1, "record", json!("from a"))).await;
    assert!(stale.contains("stale term 1"), "{stale}");
    let wrong = a.emit_ack(&lead("user", "tab-a", 2, "record", json!("from a"))).await;
    assert!(wrong.contains("does not lead"), "{wrong}");
    assert_eq!(b.emit_ack(&lead("user", "tab-b", 2, "record", json!("from b"))).await, r#"[{"ok":true}]"#);
    assert_eq!(srv.recorded_at_least(1, Duration::from_secs(5)).await, [json!("from b")]);
    // The holder renews its lease: every device hears the heartbeat.
    b.send(&format!("42{}", json!(["sb:renew", {"scope": "user", "tab": "tab-b", "term": 2}]))).await;
    let h = a.next_event("LEADER_HEARTBEAT").await;
    assert_eq!((h["leader"].as_str(), h["term"].as_u64()), (Some("tab-b"), Some(2)));
    // The holder's device goes away: the other leads at once, under a new term.
    b.close().await;
    let e = a.next_event("LEADER_ELECTED").await;
    assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-a"), Some(3)));
    srv.stop().await;
}

/// A leader whose hub stops renewing loses the lease: the server asks that hub to report
/// again and another socket's tab leads.
#[tokio::test]
async fn a_leader_that_is_not_renewed_loses_its_lease() {
    let srv = common::server_with(switchboard::server::Config {
        leader_lease: Duration::from_millis(1500),
        ..common::config()
    })
    .await;
    let auth = json!({"token": srv.auth.login("bob", "bob-password").await.expect("login").access}).to_string();
    let mut a = RawSocket::connect_with(srv.addr, &auth).await;
    let mut b = RawSocket::connect_with(srv.addr, &auth).await;
    a.send(&format!("42{}", report("user", 0, &[("tab-a", 3)]))).await;
    assert_eq!(a.next_event("LEADER_ELECTED").await["leader"], "tab-a");
    b.send(&format!("42{}", report("user", 0, &[("tab-b", 1)]))).await;
    b.next_event("LEADER_ELECTED").await;
    // Nobody renews: after the lease, a is asked to report and b leads.
    assert_eq!(a.next_event("ELECTION_REQUEST").await, json!({"scope": "user"}));
    let e = b.next_event("LEADER_ELECTED").await;
    assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-b"), Some(2)));
    srv.stop().await;
}

/// Bad election messages get an error receipt (and a log line); the socket goes on.
#[tokio::test]
async fn bad_election_messages_are_refused_with_an_error() {
    let srv = common::server().await;
    let mut s = RawSocket::connect(srv.addr).await;
    for bad in [
        report("galaxy", 0, &[("t", 1)]),
        report("browser", 1 << 60, &[("t", 1)]),
        report("browser", 0, &[("", 1)]),
        report("browser", 0, &[("t", 7)]),
        json!(["sb:priority", "nonsense"]).to_string(),
        json!(["sb:renew", {"scope": "browser", "tab": "t", "term": -1}]).to_string(),
        json!(["sb:lead", {"scope": "browser", "tab": "t", "term": 0}]).to_string(),
        json!(["sb:lead"]).to_string(),
    ] {
        let reply = s.emit_ack(&bad).await;
        assert!(reply.contains("error"), "{bad}: {reply}");
    }
    s.send(&format!("42{}", report("browser", 0, &[("t", 1)]))).await;
    assert_eq!(s.next_event("LEADER_ELECTED").await["leader"], "t");
    srv.stop().await;
}

/// The `sb:members` payload of the next presence update for `room`.
async fn members(s: &mut RawSocket, room: &str) -> serde_json::Value {
    let prefix = format!(r#"42["sb:room","{room}","sb:members","#);
    let frame = s.until(|f| f.starts_with(&prefix)).await;
    let args: Vec<serde_json::Value> = serde_json::from_str(&frame[2..]).expect("an event array");
    args[3]["members"].clone()
}

/// Presence: two users in a room hear who is there (by user and device, with tab ids) after
/// each report, and when one leaves or disconnects; a report for a room the socket is not
/// in is refused; a signed-in socket is told its hierarchy rooms.
#[tokio::test]
async fn presence_tells_the_room_who_is_there_by_user_with_their_tabs() {
    let srv = common::server().await;
    let token = async |user: &str| srv.auth.login(user, &format!("{user}-password")).await.expect("login").access;
    let mut a = RawSocket::connect_with(srv.addr, &json!({"token": token("alice").await}).to_string()).await;
    let mut b = RawSocket::connect_with(srv.addr, &json!({"token": token("bob").await}).to_string()).await;
    let assigned = a.next_event("sb:rooms").await;
    assert!(assigned.as_array().is_some_and(|r| r.iter().any(|r| r == "user:alice")), "{assigned}");
    let refused = a.emit_ack(&json!(["sb:presence", {"room": "team:1", "tabs": ["a1"]}]).to_string()).await;
    assert!(refused.contains("not in that room"), "{refused}");
    for s in [&mut a, &mut b] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    }
    a.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["a1", "a2"]}]))).await;
    assert_eq!(members(&mut b, "team:1").await, json!([{"user": "alice", "device": null, "tabs": ["a1", "a2"]}]));
    b.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["b1"]}]))).await;
    let both = json!([
        {"user": "alice", "device": null, "tabs": ["a1", "a2"]},
        {"user": "bob", "device": null, "tabs": ["b1"]}
    ]);
    assert_eq!(members(&mut a, "team:1").await, json!([{"user": "alice", "device": null, "tabs": ["a1", "a2"]}]));
    assert_eq!(members(&mut a, "team:1").await, both);
    assert_eq!(b.emit_ack(r#"["sb:leave","team:1"]"#).await, r#"[{"ok":true}]"#);
    assert_eq!(members(&mut a, "team:1").await, json!([{"user": "alice", "device": null, "tabs": ["a1", "a2"]}]));
    b.send(r#"42["sb:join","team:1"]"#).await;
    b.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["b1"]}]))).await;
    assert_eq!(members(&mut a, "team:1").await, both);
    b.close().await;
    assert_eq!(members(&mut a, "team:1").await, json!([{"user": "alice", "device": null, "tabs": ["a1", "a2"]}]));
    srv.stop().await;
}

fn state_set(id: &str, key: &str, ctx: serde_json::Value, value: Option<serde_json::Value>) -> String {
    let mut args = vec![json!("sb:emit"), json!(id), json!("sb:set"), json!(key), ctx];
    args.extend(value);
    serde_json::Value::Array(args).to_string()
}

/// Shared state on the reference backend: a write reaches every socket of the user with its
/// version; a write that did not see the current value is concurrent and the loss is
/// reported; a retried mutation is answered with the current value and applied once; `set:`
/// keys merge; `sb:state` returns the scope; bad writes get error receipts.
#[tokio::test]
async fn shared_state_is_versioned_deduplicated_and_resolved_on_the_server() {
    let srv = common::server().await;
    let token = async |user: &str| {
        json!({"token": srv.auth.login(user, &format!("{user}-password")).await.expect("login").access}).to_string()
    };
    let mut a = RawSocket::connect_with(srv.addr, &token("alice").await).await;
    let mut b = RawSocket::connect_with(srv.addr, &token("alice").await).await;
    let mut bob = RawSocket::connect_with(srv.addr, &token("bob").await).await;
    // The update reaches the writer (before its receipt) and the user's other socket.
    let (ack, seen) = a.emit_ack_seen(&state_set("t1-0", "draft", json!({}), Some(json!("one")))).await;
    assert_eq!(ack, r#"[{"ok":true}]"#);
    let one = json!(["STATE_UPDATE", {"key": "draft", "value": "one", "version": {"n1": 1}, "mutation": "t1-0"}]);
    assert_eq!(seen.last(), Some(&one));
    assert_eq!(b.next_event("STATE_UPDATE").await, one[1]);
    // b writes without having seen "one": concurrent; the last writer wins and "one" is reported.
    b.emit_ack(&state_set("t2-0", "draft", json!({}), Some(json!("two")))).await;
    let u = a.next_event("STATE_UPDATE").await;
    assert_eq!(
        (u["value"].clone(), u["conflict"].clone(), u["version"].clone()),
        (json!("two"), json!("one"), json!({"n1": 2}))
    );
    // A write that saw "two" replaces it with no conflict.
    a.emit_ack(&state_set("t1-1", "draft", json!({"n1": 2}), Some(json!("three")))).await;
    let u = b.next_event("STATE_UPDATE").await;
    assert_eq!((u["value"].clone(), u.get("conflict").cloned()), (json!("three"), None));
    // A retry of t1-0 changes nothing and is answered to the sender only.
    let (_, seen) = a.emit_ack_seen(&state_set("t1-0", "draft", json!({}), Some(json!("one")))).await;
    let u = &seen.last().expect("an answer to the retry")[1];
    assert_eq!(
        (u["value"].clone(), u["version"].clone(), u["mutation"].clone()),
        (json!("three"), json!({"n1": 3}), json!("t1-0"))
    );
    // set: keys merge concurrent values.
    a.emit_ack(&state_set("t1-2", "set:tags", json!({}), Some(json!(["x"])))).await;
    b.emit_ack(&state_set("t2-1", "set:tags", json!({}), Some(json!(["y", "x"])))).await;
    let all: serde_json::Value = serde_json::from_str(&a.emit_ack(r#"["sb:state"]"#).await).expect("json");
    assert_eq!((all[0][0]["key"].clone(), all[0][0]["value"].clone()), (json!("draft"), json!("three")));
    assert_eq!(all[0][1]["value"], json!(["x", "y"]), "{all}");
    // Bob's scope is his own.
    assert_eq!(bob.emit_ack(r#"["sb:state"]"#).await, "[[]]");
    // Bad writes.
    let big = json!("x".repeat(70_000));
    for bad in [
        state_set("t1-9", "", json!({}), Some(json!(1))),
        state_set("t1-8", "k", json!({}), Some(big)),
        state_set("t1-7", "k", json!("ctx"), Some(json!(1))),
    ] {
        let r = a.emit_ack(&bad).await;
        assert!(r.contains("error"), "{r}");
    }
    let mut visitor = RawSocket::connect(srv.addr).await;
    let r = visitor.emit_ack(&state_set("v-0", "k", json!({}), Some(json!(1)))).await;
    assert!(r.contains("signed-in user or a device"), "{r}");
    srv.stop().await;
}

/// The state and its mutation window survive a restart of the backend: a retry that comes
/// after the restart is recognised (answered, not applied again).
#[tokio::test]
async fn a_state_write_retried_across_a_backend_restart_is_applied_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || switchboard::server::Config { data_dir: Some(dir.path().to_path_buf()), ..common::config() };
    let srv = common::server_with(config()).await;
    let auth = json!({"token": srv.auth.login("alice", "alice-password").await.expect("login").access}).to_string();
    let mut a = RawSocket::connect_with(srv.addr, &auth).await;
    a.emit_ack(&state_set("t1-0", "cart", json!({}), Some(json!({"items": 1})))).await;
    a.emit_ack(&state_set("t1-1", "cart", json!({"n1": 1}), Some(json!({"items": 2})))).await;
    a.close().await;
    srv.stop().await;
    let srv = common::server_with(config()).await;
    let auth = json!({"token": srv.auth.login("alice", "alice-password").await.expect("login").access}).to_string();
    let mut a = RawSocket::connect_with(srv.addr, &auth).await;
    // The hub never got the receipt of t1-0 and sends it again.
    let (ack, seen) = a.emit_ack_seen(&state_set("t1-0", "cart", json!({}), Some(json!({"items": 1})))).await;
    assert_eq!(ack, r#"[{"ok":true}]"#);
    let u = &seen.last().expect("an answer to the retry")[1];
    assert_eq!((u["value"].clone(), u["version"].clone()), (json!({"items": 2}), json!({"n1": 2})), "applied once");
    srv.stop().await;
}

/// No password, token or refresh token reaches the backend's log at its default level:
/// failed and successful logins, a refresh-token replay (which is logged), bearer sockets
/// and bad messages that carry secrets.
#[tokio::test]
async fn no_password_or_token_reaches_the_backends_log() {
    let sink = common::LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,socketioxide=warn,engineioxide=warn"))
        .with_writer(move || writer.clone())
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let srv = common::server_with(switchboard::server::Config { verify_new_devices: true, ..common::config() }).await;
    post(srv.addr, "/auth/login", r#"{"username":"alice","password":"WRONG-PASSWORD-1"}"#, "").await;
    let ok = post(srv.addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
    let cookie = |name: &str| -> String {
        ok.lines()
            .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
            .find_map(|c| c.split(';').next().filter(|kv| kv.starts_with(name)).map(String::from))
            .unwrap_or_default()
    };
    let (access, refresh) = (cookie("sb_access="), cookie("sb_refresh="));
    assert!(!access.is_empty() && !refresh.is_empty(), "{ok}");
    // A new device: its verification code is "mailed", tried wrong, then right.
    let code = srv.auth.last_mail("alice").expect("a code was mailed");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for c in [wrong, code.as_str()] {
        post(srv.addr, "/auth/verify", &json!({ "code": c }).to_string(), &access).await;
    }
    // The refresh token is used, then replayed (a logged security event).
    post(srv.addr, "/auth/refresh", "{}", &refresh).await;
    post(srv.addr, "/auth/refresh", "{}", &refresh).await;
    let session = srv.auth.login("bob", "bob-password").await.expect("login");
    let mut s = RawSocket::connect_with(srv.addr, &json!({"token": session.access}).to_string()).await;
    for bad in [
        json!(["sb:priority", {"scope": session.access, "term": 0, "tabs": []}]),
        json!(["sb:presence", {"room": session.refresh, "tabs": []}]),
        json!(["sb:emit", "x-1", "sb:set", "k", session.access, 1]),
    ] {
        s.emit_ack(&bad.to_string()).await;
    }
    // sb:auth has no ack: an echo after it shows it was handled.
    s.send(&format!("42{}", json!(["sb:auth", {"token": session.refresh}]))).await;
    s.emit_ack(r#"["echo","after sb:auth"]"#).await;
    s.close().await;
    srv.stop().await;
    let logs = sink.text();
    assert!(logs.contains("refresh token reuse"), "the replay was logged:\n{logs}");
    let secrets = [
        "WRONG-PASSWORD-1".to_string(),
        "alice-password".to_string(),
        access.trim_start_matches("sb_access=").to_string(),
        refresh.trim_start_matches("sb_refresh=").to_string(),
        session.access.clone(),
        session.refresh.clone(),
    ];
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret in the log:\n{logs}");
    }
    // The code as a number of its own anywhere (the log has no timestamps).
    let digits: Vec<&str> = logs.split(|c: char| !c.is_ascii_digit()).collect();
    assert!(!digits.contains(&code.as_str()) && !digits.contains(&wrong), "a verification code in the log:\n{logs}");
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Flood: one socket sends 10,000 messages as fast as it can. It is told (`sb:limit`, rate)
/// and disconnected; another client's round trips keep flowing during the flood (latency
/// printed); the server's memory stays bounded. A message over the size limit is told too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_socket_is_told_and_cut_off_while_the_others_keep_flowing() {
    let srv = common::server().await;
    let before = rss_kb();
    let mut quiet = RawSocket::connect(srv.addr).await;
    let mut flood = RawSocket::connect(srv.addr).await;
    let flooder = tokio::spawn(async move {
        let mut sent = 0;
        for i in 0..10_000 {
            // A send that waits 5 s means the server no longer reads this socket (it cut it
            // off; its TCP window is full): stop, and read what it said.
            let frame = format!("42{}", json!(["record", {"flood": i}]));
            if !tokio::time::timeout(Duration::from_secs(5), flood.try_send(&frame)).await.unwrap_or(false) {
                break;
            }
            sent += 1;
        }
        (sent, flood.drain(Duration::from_secs(10)).await)
    });
    let mut rtts = Vec::new();
    while !flooder.is_finished() || rtts.len() < 20 {
        let t = std::time::Instant::now();
        assert_eq!(quiet.emit_ack(r#"["echo","still here"]"#).await, r#"["still here"]"#);
        rtts.push(t.elapsed().as_secs_f64() * 1000.0);
        if rtts.len() >= 2_000 {
            break;
        }
    }
    let (sent, frames) = flooder.await.expect("the flooder");
    let told = frames.iter().find(|f| f.starts_with(r#"42["sb:limit""#)).expect("told why");
    assert!(told.contains(r#""limit":"rate""#), "{told}");
    assert!(frames.iter().any(|f| f == "41"), "then disconnected: {frames:?}");
    let recorded = srv.stats.recorded.lock().map(|r| r.len()).unwrap_or(0);
    assert!(
        recorded <= switchboard_shared::contract::BURST as usize + 100,
        "the flood stopped at its limit: {recorded}"
    );
    assert_eq!(srv.stats.sockets_limited.load(std::sync::atomic::Ordering::Relaxed), 1);
    rtts.sort_by(|a, b| a.total_cmp(b));
    let grown = rss_kb().saturating_sub(before);
    println!(
        "flood: {sent} of 10000 messages written before the cut, {recorded} reached the application; \
         another socket's echo during it: p50 {:.2} ms, max {:.2} ms ({} round trips); memory +{grown} kB",
        rtts[rtts.len() / 2],
        rtts[rtts.len() - 1],
        rtts.len()
    );
    assert!(grown < 64 * 1024, "memory stays bounded: +{grown} kB");
    // Over the size limit (below the Engine.IO cap): told, then cut.
    let mut big = RawSocket::connect(srv.addr).await;
    big.send(&format!("42{}", json!(["echo", "x".repeat(switchboard_shared::contract::MAX_MESSAGE + 10)]))).await;
    let frames = big.drain(Duration::from_secs(10)).await;
    assert!(frames.iter().any(|f| f.starts_with(r#"42["sb:limit""#) && f.contains(r#""limit":"size""#)), "{frames:?}");
    assert_eq!(frames.last().map(String::as_str), Some("41"), "then disconnected");
    assert_eq!(quiet.emit_ack(r#"["echo","after"]"#).await, r#"["after"]"#);
    srv.stop().await;
}

/// The account store outlives the backend: after a restart on the same data directory a
/// session still opens sockets and refreshes, and a session revoked before stays revoked (its
/// handshake and its refresh are refused).
#[tokio::test]
async fn sessions_and_revocations_outlive_a_backend_restart() {
    let data = tempfile::tempdir().expect("dir");
    let config = switchboard::server::Config {
        data_dir: Some(data.path().to_path_buf()),
        require_auth: true,
        ..common::config()
    };
    let srv = common::server_with(config.clone()).await;
    let (a, b) = two_sessions(&srv).await;
    let (a_access, a_refresh, b_refresh) =
        (set_cookie(&a, "sb_access"), set_cookie(&a, "sb_refresh"), set_cookie(&b, "sb_refresh"));
    let b_body: serde_json::Value = serde_json::from_str(b.split("\r\n\r\n").nth(1).unwrap_or("")).expect("json");
    let b_token = set_cookie(&b, "sb_access").trim_start_matches("sb_access=").to_string();
    let revoke = json!({ "target": b_body["session"] }).to_string();
    assert!(post(srv.addr, "/auth/sessions/revoke", &revoke, &a_access).await.starts_with("HTTP/1.1 200"));
    let bind = srv.addr;
    srv.stop().await;
    let srv = common::start_on(switchboard::server::Config { bind, ..config }).await;
    let a_token = a_access.trim_start_matches("sb_access=").to_string();
    assert!(RawSocket::connect_reply(srv.addr, &json!({ "token": a_token }).to_string()).await.starts_with("40"));
    assert!(post(srv.addr, "/auth/refresh", "{}", &a_refresh).await.starts_with("HTTP/1.1 200"), "still signed in");
    let refused = RawSocket::connect_reply(srv.addr, &json!({ "token": b_token }).to_string()).await;
    assert!(refused.starts_with("44") && refused.contains("not authenticated"), "{refused}");
    assert!(post(srv.addr, "/auth/refresh", "{}", &b_refresh).await.starts_with("HTTP/1.1 401"), "still revoked");
    srv.stop().await;
}

/// Suspicious activity reaches the user's signed-in sockets: a burst of failed sign-ins on
/// the account (once per burst), and a sign-in from a device not seen for the user; each
/// event has its own id, a timestamp, who initiated it and a reason.
#[tokio::test]
async fn suspicious_activity_reaches_the_users_other_sockets() {
    // Six failures from one address: under the sign-in throttle's (tests/adversary.rs).
    let config = switchboard::server::Config { suspicious_logins: 3, attempts: 10, ..common::config() };
    let srv = common::server_with(config).await;
    let auth = json!({"token": srv.auth.login("alice", "alice-password").await.expect("login").access}).to_string();
    let mut a = RawSocket::connect_with(srv.addr, &auth).await;
    let mut bob = RawSocket::connect_with(
        srv.addr,
        &json!({"token": srv.auth.login("bob", "bob-password").await.expect("login").access}).to_string(),
    )
    .await;
    let wrong = r#"{"username":"alice","password":"guess"}"#;
    let (attacker, attacker_id) = device("dev-attacker");
    for _ in 0..3 {
        assert!(post(srv.addr, "/auth/login", wrong, &attacker).await.starts_with("HTTP/1.1 401"));
    }
    // Unknown accounts are not watched (and raise nothing).
    for _ in 0..3 {
        post(srv.addr, "/auth/login", r#"{"username":"nobody","password":"x"}"#, "").await;
    }
    let e = a.next_event("SECURITY_SUSPICIOUS_ACTIVITY").await;
    assert_eq!(
        (e["kind"].clone(), e["device"].clone(), e["action"].clone()),
        (json!("failed-logins"), json!(attacker_id), json!("none"))
    );
    assert!(e["id"].as_str().is_some_and(|i| i.len() >= 16) && e["event_timestamp"].as_u64().is_some(), "{e}");
    assert_eq!(e["initiating_entity"], "policy");
    assert!(e["reason_user"].as_str().is_some_and(|r| r.contains("3 failed sign-ins")), "{e}");
    // A sign-in from a first device, then from another one.
    let good = r#"{"username":"alice","password":"alice-password"}"#;
    assert!(post(srv.addr, "/auth/login", good, &device("dev-home").0).await.starts_with("HTTP/1.1 200"));
    let (new, new_id) = device("dev-new");
    post(srv.addr, "/auth/login", good, &new).await;
    let e2 = a.next_event("SECURITY_SUSPICIOUS_ACTIVITY").await;
    assert_eq!((e2["kind"].clone(), e2["device"].clone()), (json!("new-device"), json!(new_id)));
    assert_ne!(e["id"], e2["id"]);
    // Bob heard nothing of alice's account.
    let (_, seen) = bob.emit_ack_seen(r#"["echo","x"]"#).await;
    assert!(!seen.iter().any(|f| f[0] == "SECURITY_SUSPICIOUS_ACTIVITY"), "{seen:?}");
    srv.stop().await;
}

/// Alice signs in on two devices (`dev-a`, `dev-b`): the two login answers.
async fn two_sessions(srv: &switchboard::server::Server) -> (String, String) {
    let good = r#"{"username":"alice","password":"alice-password"}"#;
    (
        post(srv.addr, "/auth/login", good, &device("dev-a").0).await,
        post(srv.addr, "/auth/login", good, &device("dev-b").0).await,
    )
}

/// Remote sign-out: a user lists their sessions and revokes the others; the server ends them
/// first (their refresh tokens die), then tells their sockets (SECURITY_SESSION_REVOKED, then
/// TOKEN_INVALIDATED) and disconnects them; the revoking session goes on until it revokes all.
#[tokio::test]
async fn a_user_revokes_their_other_sessions_and_the_server_enforces_it_first() {
    let srv = common::server().await;
    let (a, b) = two_sessions(&srv).await;
    let (a_access, b_access, b_refresh) =
        (set_cookie(&a, "sb_access"), set_cookie(&b, "sb_access"), set_cookie(&b, "sb_refresh"));
    let b_token = b_access.trim_start_matches("sb_access=").to_string();
    let mut b_socket = RawSocket::connect_with(srv.addr, &json!({"token": b_token}).to_string()).await;
    let list: serde_json::Value = serde_json::from_str(
        get_with(srv.addr, "/auth/sessions", &a_access).await.split("\r\n\r\n").nth(1).unwrap_or(""),
    )
    .expect("json");
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().any(|s| s["device"] == device("dev-b").1), "{list}");
    let bad = post(srv.addr, "/auth/sessions/revoke", r#"{"target":"someone-elses"}"#, &a_access).await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let res = post(srv.addr, "/auth/sessions/revoke", r#"{"target":"others"}"#, &a_access).await;
    assert!(res.starts_with("HTTP/1.1 200") && res.contains(r#""revoked":1"#), "{res}");
    // Enforced before the answer: b's refresh token is dead, a's session lives.
    assert!(post(srv.addr, "/auth/refresh", "{}", &b_refresh).await.starts_with("HTTP/1.1 401"));
    assert!(get_with(srv.addr, "/auth/session", &a_access).await.starts_with("HTTP/1.1 200"));
    let e = b_socket.next_event("SECURITY_SESSION_REVOKED").await;
    assert_eq!((e["scope"].clone(), e["initiating_entity"].clone()), (json!("others"), json!("user")));
    assert!(e["id"].as_str().is_some() && e["event_timestamp"].as_u64().is_some(), "{e}");
    b_socket.next_event("TOKEN_INVALIDATED").await;
    // Revoking all ends this session too (its cookies cleared in the answer).
    let res = post(srv.addr, "/auth/sessions/revoke", r#"{"target":"all"}"#, &a_access).await;
    assert!(res.contains(r#""revoked":1"#) && res.to_ascii_lowercase().contains("set-cookie: sb_access=;"), "{res}");
    assert!(get_with(srv.addr, "/auth/session", &a_access).await.starts_with("HTTP/1.1 401"));
    srv.stop().await;
}

/// A password change keeps this session, revokes the user's others (their refresh tokens
/// refused), tells every socket of the user `SECURITY_CREDENTIAL_CHANGED` and the revoked
/// ones `SECURITY_SESSION_REVOKED`; the old password stops working.
#[tokio::test]
async fn a_password_change_signs_the_other_sessions_out_and_keeps_this_one() {
    let srv = common::server().await;
    let (a, b) = two_sessions(&srv).await;
    let good = r#"{"username":"alice","password":"alice-password"}"#;
    let (a_access, b_refresh) = (set_cookie(&a, "sb_access"), set_cookie(&b, "sb_refresh"));
    let token = |c: &str| json!({"token": c.split_once('=').map(|(_, v)| v).unwrap_or("")}).to_string();
    let mut a_socket = RawSocket::connect_with(srv.addr, &token(&a_access)).await;
    let mut b_socket = RawSocket::connect_with(srv.addr, &token(&set_cookie(&b, "sb_access"))).await;
    let wrong = post(srv.addr, "/auth/password", r#"{"current":"nope","new":"a-new-password"}"#, &a_access).await;
    assert!(wrong.starts_with("HTTP/1.1 400") && wrong.contains("current password is wrong"), "{wrong}");
    let short = post(srv.addr, "/auth/password", r#"{"current":"alice-password","new":"short"}"#, &a_access).await;
    assert!(short.starts_with("HTTP/1.1 400"), "{short}");
    let ok =
        post(srv.addr, "/auth/password", r#"{"current":"alice-password","new":"a-new-password"}"#, &a_access).await;
    assert!(ok.starts_with("HTTP/1.1 200") && ok.contains(r#""revoked":1"#), "{ok}");
    assert!(post(srv.addr, "/auth/refresh", "{}", &b_refresh).await.starts_with("HTTP/1.1 401"), "b's refresh is dead");
    assert!(get_with(srv.addr, "/auth/session", &a_access).await.starts_with("HTTP/1.1 200"), "a goes on");
    for s in [&mut a_socket, &mut b_socket] {
        let e = s.next_event("SECURITY_CREDENTIAL_CHANGED").await;
        assert_eq!((e["credential"].clone(), e["change"].clone()), (json!("password"), json!("update")));
    }
    assert_eq!(b_socket.next_event("SECURITY_SESSION_REVOKED").await["scope"], "others");
    b_socket.next_event("TOKEN_INVALIDATED").await;
    assert!(post(srv.addr, "/auth/login", good, "").await.starts_with("HTTP/1.1 401"), "the old password");
    let new = r#"{"username":"alice","password":"a-new-password"}"#;
    assert!(post(srv.addr, "/auth/login", new, "").await.starts_with("HTTP/1.1 200"));
    srv.stop().await;
}

/// Logout ends the session on the server and answers with `Clear-Site-Data` (the cache; not
/// the cookies, which would take the device id, nor the storage, which the hub tends).
#[tokio::test]
async fn logout_clears_the_site_cache_and_ends_the_session() {
    let srv = common::server().await;
    let (a, _) = two_sessions(&srv).await;
    let refresh = set_cookie(&a, "sb_refresh");
    let out = post(srv.addr, "/auth/logout", "{}", &format!("{refresh}; {}", device("dev-a").0)).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.to_ascii_lowercase().contains("clear-site-data: \"cache\""), "{out}");
    assert!(set_cookie(&out, "sb_device").is_empty(), "the device id stays");
    assert!(post(srv.addr, "/auth/refresh", "{}", &refresh).await.starts_with("HTTP/1.1 401"));
    srv.stop().await;
}

/// Engine.IO long-polling (socket.io-client's default first transport) works against the
/// reference backend: the session a GET opens is the one the POSTs and GETs after it find.
#[tokio::test]
async fn long_polling_keeps_its_session_across_requests() {
    let srv = common::server().await;
    let open = get(srv.addr, "/socket.io/?EIO=4&transport=polling", None).await;
    let body = open.split("\r\n\r\n").nth(1).unwrap_or("");
    let sid = serde_json::from_str::<serde_json::Value>(body.trim_start_matches('0')).expect("the open packet")["sid"]
        .as_str()
        .expect("a sid")
        .to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40",
        srv.addr
    );
    let posted = common::http::http(srv.addr, req).await;
    assert!(posted.starts_with("HTTP/1.1 200"), "{posted}");
    let mut seen = String::new();
    for _ in 0..5 {
        seen.push_str(&get(srv.addr, &path, None).await);
        if seen.contains("sb:hello") {
            break;
        }
    }
    assert!(seen.contains("40{\"sid\"") && seen.contains("sb:hello"), "connected, greeted: {seen}");
    srv.stop().await;
}
