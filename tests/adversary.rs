//! The reference backend attacked the way a stranger on the internet would: raw Socket.IO
//! and HTTP clients, no browser. One case per hole found in the review of issue 26, each of
//! which held the door open before the fix:
//! identity only from secrets (the device cookie), bounded password hashing (gate, throttles,
//! the admin check), handlers that authorize, tab rooms nobody else can claim, no token in the
//! Admin UI, and the transport's limits (slow headers, idle and too many connections, binary
//! buffers, emit ids, rooms per socket).

mod common;

use common::http::{connect_from, device, get, http_from, post, post_from, set_cookie};
use common::sio::RawSocket;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard::server::{AdminConfig, Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = r#"{"username":"alice","password":"alice-password"}"#;
const WRONG: &str = r#"{"username":"alice","password":"not-her-password"}"#;

fn status(res: &str) -> u16 {
    res.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn body(res: &str) -> Value {
    serde_json::from_str(res.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or(Value::Null)
}

fn hashes(srv: &Server) -> u64 {
    srv.auth.gate.hashes.load(Ordering::Relaxed)
}

/// A server without the test hooks: what a deployment runs.
fn deployed() -> Config {
    Config { test_hooks: false, ..common::config() }
}

/// `sb:members` of `room` as `s` next hears it.
async fn members(s: &mut RawSocket, room: &str) -> Value {
    let prefix = format!(r#"42["sb:room","{room}","sb:members","#);
    let frame = s.until(|f| f.starts_with(&prefix)).await;
    let args: Vec<Value> = serde_json::from_str(&frame[2..]).expect("an event array");
    args[3]["members"].clone()
}

/// 1. What the server publishes of a device (in `sb:members`) is a pseudonym: used as a
/// cookie it joins no device room, skips no verification and makes a stolen, rotated refresh
/// token no refresh race.
#[tokio::test]
async fn what_presence_publishes_of_a_device_opens_nothing() {
    let srv = common::server_with(Config { verify_new_devices: true, ..deployed() }).await;
    // Alice signs in (her browser is given a device secret) and confirms her code.
    let login = post(srv.addr, "/auth/login", ALICE, "").await;
    let (secret, access) = (set_cookie(&login, "sb_device"), set_cookie(&login, "sb_access"));
    let code = srv.auth.last_mail("alice").expect("a code was mailed");
    let verified = post(srv.addr, "/auth/verify", &json!({ "code": code }).to_string(), &access).await;
    assert_eq!(status(&verified), 200, "{verified}");
    let id = switchboard::auth::device_of(secret.trim_start_matches("sb_device=")).expect("a secret was set");
    let mut alice = RawSocket::connect_cookie(srv.addr, &format!("{access}; {secret}")).await;
    assert_eq!(srv.room_size(&format!("device:{id}")), 1, "her socket is in her device's room");
    // A stranger in the same room learns what presence publishes.
    let mut stranger = RawSocket::connect(srv.addr).await;
    for s in [&mut alice, &mut stranger] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    }
    alice.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["a1"]}]))).await;
    let seen = members(&mut stranger, "team:1").await;
    let published = seen[0]["device"].as_str().expect("a device pseudonym").to_string();
    assert_eq!(seen[0]["user"], "alice", "{seen}");
    assert!(!secret.contains(&published) && published != id, "neither the secret nor the id: {seen}");
    // (a, b) As a cookie it joins no device room (shared state, the browser-scope election).
    let _copy = RawSocket::connect_cookie(srv.addr, &format!("sb_device={published}")).await;
    let _full = RawSocket::connect_cookie(srv.addr, &format!("sb_device={id}{id}")).await;
    assert_eq!(srv.room_size(&format!("device:{id}")), 1, "only her own socket");
    // (c) With her (phished) password and the published value: a new device, limited.
    let phished = post(srv.addr, "/auth/login", ALICE, &format!("sb_device={published}")).await;
    assert!(body(&phished)["verification"].is_object(), "a code is asked for: {phished}");
    // (d) A refresh token stolen after it rotated, sent with the published value: a replay.
    let first = post(srv.addr, "/auth/login", ALICE, &secret).await;
    let stolen = set_cookie(&first, "sb_refresh");
    let rotated = post(srv.addr, "/auth/refresh", "{}", &format!("{stolen}; {secret}")).await;
    assert_eq!(status(&rotated), 200, "{rotated}");
    let replay = post(srv.addr, "/auth/refresh", "{}", &format!("{stolen}; sb_device={published}")).await;
    assert_eq!(status(&replay), 401, "{replay}");
    assert!(body(&replay)["error"].as_str().is_some_and(|e| e.contains("reuse")), "{replay}");
    srv.stop().await;
}

/// 2. A flood of wrong passwords from one address: a few are hashed, the rest are told to
/// wait (429, `Retry-After`) before any hash; alice, on a device she signed in from before,
/// still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_is_throttled_before_hashing() {
    let srv = common::server_with(deployed()).await;
    let home = post(srv.addr, "/auth/login", ALICE, "").await;
    let secret = set_cookie(&home, "sb_device");
    let before = hashes(&srv);
    let flood: Vec<_> = (0..64).map(|_| tokio::spawn(post(srv.addr, "/auth/login", WRONG, ""))).collect();
    let mut answers = Vec::new();
    for f in flood {
        answers.push(f.await.expect("joined"));
    }
    let throttled: Vec<&String> = answers.iter().filter(|r| status(r) == 429).collect();
    assert!(throttled.len() >= 50, "{} of 64 throttled", throttled.len());
    assert!(throttled[0].to_ascii_lowercase().contains("retry-after: "), "{}", throttled[0]);
    assert!(answers.iter().all(|r| matches!(status(r), 401 | 429 | 503)), "{answers:?}");
    let hashed = hashes(&srv) - before;
    assert!(hashed <= 10, "{hashed} hashes for 64 guesses");
    // The same address: a returning device signs in; the strangers' guesses soon wait.
    let ok = post(srv.addr, "/auth/login", ALICE, &secret).await;
    assert_eq!(status(&ok), 200, "{ok}");
    let mut later = Vec::new();
    for _ in 0..6 {
        later.push(status(&post(srv.addr, "/auth/login", WRONG, "").await));
    }
    assert!(later.contains(&429), "{later:?}");
    srv.stop().await;
}

/// 2. Guesses at one account from many addresses: the account waits for strangers (a new
/// address with the right password too), never for alice's own device.
#[tokio::test]
async fn an_account_guessed_from_many_addresses_waits_but_not_for_its_own_device() {
    let srv = common::server_with(deployed()).await;
    let secret = set_cookie(&post(srv.addr, "/auth/login", ALICE, "").await, "sb_device");
    for i in 0..5u8 {
        let res = post_from([127, 0, 1, 10 + i], srv.addr, "/auth/login", WRONG, "").await;
        assert_eq!(status(&res), 401, "guess {i}: {res}");
    }
    let elsewhere = post_from([127, 0, 1, 99], srv.addr, "/auth/login", ALICE, "").await;
    assert_eq!(status(&elsewhere), 429, "the account waits for an unknown device: {elsewhere}");
    let other_user =
        post_from([127, 0, 1, 99], srv.addr, "/auth/login", r#"{"username":"bob","password":"bob-password"}"#, "")
            .await;
    assert_eq!(status(&other_user), 200, "other accounts do not: {other_user}");
    assert_eq!(status(&post(srv.addr, "/auth/login", ALICE, &secret).await), 200, "her own device signs in");
    srv.stop().await;
}

/// A wrong sign-in of user `u<i>` (each its own account: the per-account throttle is not the
/// subject).
fn wrong_for(i: u8) -> String {
    json!({"username": format!("u{i}"), "password": "guess"}).to_string()
}

/// 2. The hash gate: checks beyond its permits and queue are refused at once (503,
/// `Retry-After`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_gate_refuses_beyond_its_queue() {
    let srv = common::server_with(Config { max_hashes: 1, hash_queue: 2, ..deployed() }).await;
    // Twelve addresses at once (the per-address throttle is not the subject either).
    let burst: Vec<_> = (0..12u8)
        .map(|i| {
            let addr = srv.addr;
            tokio::spawn(async move { post_from([127, 0, 2, i + 1], addr, "/auth/login", &wrong_for(i), "").await })
        })
        .collect();
    let mut busy = Vec::new();
    for b in burst {
        let res = b.await.expect("joined");
        if status(&res) == 503 {
            busy.push(res);
        }
    }
    assert!(busy.len() >= 6, "{} of 12 refused for a full gate", busy.len());
    assert!(busy[0].to_ascii_lowercase().contains("retry-after: 1"), "{}", busy[0]);
    srv.stop().await;
}

/// 2. A check whose client hung up while it waited for the gate is never hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_abandoned_in_the_queue_is_never_hashed() {
    let srv = common::server_with(Config { max_hashes: 1, hash_queue: 64, ..deployed() }).await;
    let before = hashes(&srv);
    let mut open = Vec::new();
    for i in 0..20u8 {
        let mut s = connect_from([127, 0, 3, i + 1], srv.addr).await;
        let body = wrong_for(i);
        let req = format!(
            "POST /auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nx-switchboard: 1\r\nContent-Length: {}\r\n\r\n{body}",
            srv.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        open.push(s);
    }
    // All twenty reached the gate: those waiting plus those hashed count the running one
    // twice, so more than 20 means every request arrived (a check takes ~12 ms here: the
    // moment all twenty wait at once is too short to poll for). Then every client goes.
    let arrived = || srv.auth.gate.load() as u64 + hashes(&srv) - before > 20;
    let all_in = common::until(Duration::from_secs(20), arrived).await;
    let (waiting, started) = (srv.auth.gate.load(), hashes(&srv));
    assert!(all_in, "queued: {waiting} in the gate, {} hashed", started - before);
    assert!(waiting >= 5, "too few still waiting to mean anything: {waiting}");
    drop(open);
    assert!(common::until(Duration::from_secs(20), || srv.auth.gate.load() == 0).await, "the gate emptied");
    let ran = hashes(&srv) - started;
    assert!(ran <= 3, "{ran} of {waiting} abandoned checks were hashed");
    srv.stop().await;
}

/// 2/7. Verification codes count per account, across challenges: signing in again does not
/// give a guesser five fresh tries.
#[tokio::test]
async fn verification_codes_are_limited_per_account_not_per_challenge() {
    let srv = common::server_with(Config { verify_new_devices: true, ..deployed() }).await;
    let wrong_code = |code: &str| if code == "000000" { "000001" } else { "000000" }.to_string();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let login = post(srv.addr, "/auth/login", ALICE, "").await;
        let access = set_cookie(&login, "sb_access");
        let guess = wrong_code(&srv.auth.last_mail("alice").expect("mailed"));
        for _ in 0..3 {
            let res = post(srv.addr, "/auth/verify", &json!({ "code": guess }).to_string(), &access).await;
            answers.push(status(&res));
        }
    }
    assert_eq!(answers[..5], [400, 400, 400, 400, 400], "{answers:?}");
    assert_eq!(answers[5], 429, "the sixth wrong code in a row waits, on a fresh challenge too: {answers:?}");
    srv.stop().await;
}

/// 2/7. The admin check: a bare `/admin` CONNECT costs no hash; guesses from one address
/// are throttled; the right credentials are hashed once and then remembered; `/metrics` and
/// `/debug/metrics` ask for the same credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_checks_are_cheap_to_refuse_throttled_and_cached() {
    let admin = AdminConfig::parse("admin:admin-password-1", false, true).expect("admin");
    let srv = common::server_with(Config { admin: Some(admin), ..deployed() }).await;
    let connect = async |auth: &str| {
        let mut s = RawSocket::engine(srv.addr, "").await;
        s.send(&format!("40/admin,{auth}")).await;
        s.until(|f| f.starts_with("40/admin,") || f.starts_with("44/admin,")).await
    };
    let before = hashes(&srv);
    for _ in 0..5 {
        assert!(connect("").await.starts_with("44/admin,"));
    }
    assert_eq!(hashes(&srv), before, "a CONNECT without credentials is refused without a hash");
    let mut refusals = Vec::new();
    for _ in 0..30 {
        refusals.push(connect(r#"{"username":"admin","password":"guess-guess"}"#).await);
    }
    assert!(refusals.iter().all(|r| r.starts_with("44/admin,")), "{refusals:?}");
    assert!(refusals.iter().filter(|r| r.contains("too many attempts")).count() >= 20, "{refusals:?}");
    assert!(hashes(&srv) - before <= 8, "{} hashes for 30 guesses", hashes(&srv) - before);
    // The right credentials from another address: one hash, then remembered.
    let right = r#"{"username":"admin","password":"admin-password-1"}"#;
    let basic = "Authorization: Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==\r\n";
    let get_from = async |from: [u8; 4], path: &str, auth: &str| {
        http_from(
            from,
            srv.addr,
            format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n", srv.addr),
        )
        .await
    };
    assert_eq!(status(&get_from([127, 0, 4, 1], "/debug/metrics", "").await), 401, "no credentials, no metrics");
    let hashed = hashes(&srv);
    assert_eq!(status(&get_from([127, 0, 4, 1], "/debug/metrics", basic).await), 200);
    assert_eq!(status(&get_from([127, 0, 4, 1], "/metrics", basic).await), 200);
    assert_eq!(hashes(&srv), hashed + 1, "hashed once, then remembered");
    let ok = {
        let mut s = RawSocket::engine(srv.addr, "").await;
        s.send(&format!("40/admin,{right}")).await;
        s.until(|f| f.starts_with("40/admin,") || f.starts_with("44/admin,")).await
    };
    assert!(ok.starts_with("40/admin,"), "{ok}");
    assert_eq!(hashes(&srv), hashed + 1);
    srv.stop().await;
}

/// 3. The demo application authorizes like `sb:to`: `chat` only to a room the socket is in,
/// with `from` set by the server; `announce` only from a signed-in user; `record` only as a
/// test hook.
#[tokio::test]
async fn application_events_are_authorized() {
    let srv = common::server_with(deployed()).await;
    let token = srv.auth.login("bob", "bob-password").await.expect("login").access;
    let mut bob = RawSocket::connect_with(srv.addr, &json!({ "token": token }).to_string()).await;
    let mut stranger = RawSocket::connect(srv.addr).await;
    let to_bob = json!(["sb:emit", "s-1", "chat", {"room": "user:bob", "text": "hi", "from": "alice"}]);
    let receipt = stranger.emit_ack(&to_bob.to_string()).await;
    assert!(receipt.contains("not in that room"), "{receipt}");
    let announce = stranger.emit_ack(&json!(["sb:emit", "s-2", "announce", {"text": "everyone!"}]).to_string()).await;
    assert!(announce.contains("signed-in"), "{announce}");
    let record = stranger.emit_ack(&json!(["sb:emit", "s-3", "record", {"big": "x"}]).to_string()).await;
    assert!(record.contains("test hook"), "{record}");
    stranger.send(r#"42["record",{"n":1}]"#).await;
    // In a room they share, a chat is from whoever sent it, whatever it says.
    for s in [&mut bob, &mut stranger] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:7"]"#).await, r#"[{"ok":true}]"#);
    }
    let chat = json!(["sb:emit", "s-4", "chat", {"room": "team:7", "text": "hello", "from": "bob"}]);
    assert_eq!(stranger.emit_ack(&chat.to_string()).await, r#"[{"ok":true}]"#);
    let frame = bob.until(|f| f.starts_with(r#"42["sb:room","team:7","chat""#)).await;
    let args: Vec<Value> = serde_json::from_str(&frame[2..]).expect("an array");
    assert_eq!(args[3]["from"], "anonymous", "{frame}");
    let (_, seen) = bob.emit_ack_seen(r#"["echo",1]"#).await;
    let heard = |f: &Value| f[0] == "sb:seq" || f.to_string().contains(r#""hi""#);
    assert!(!seen.iter().any(heard), "bob heard no announcement or private chat: {seen:?}");
    assert!(srv.stats.recorded.lock().expect("lock").is_empty(), "nothing recorded");
    assert!(srv.stats.app_refused.load(Ordering::Relaxed) >= 4, "the direct record too");
    srv.stop().await;
}

/// 3. A tab id another browser's live socket serves cannot be claimed (its room and its
/// `sb:tab` traffic stay with that browser); lists and ids are bounded; a hub's own new
/// socket gets its tabs once the old one is gone.
#[tokio::test]
async fn a_tab_another_browser_serves_cannot_be_claimed() {
    let srv = common::server_with(deployed()).await;
    let (bob_device, _) = device("bob-browser");
    let mut bob = RawSocket::connect_cookie(srv.addr, &bob_device).await;
    bob.next_event("sb:hello").await;
    bob.send(r#"42["sb:tabs",["bob-tab"]]"#).await;
    assert_eq!(srv.known_tabs_reach(1, Duration::from_secs(10)).await, 1);
    let mut alice = RawSocket::connect_cookie(srv.addr, &device("alice-browser").0).await;
    alice.next_event("sb:hello").await;
    alice.send(r#"42["sb:tabs",["bob-tab","alice-tab"]]"#).await;
    assert_eq!(srv.known_tabs_reach(2, Duration::from_secs(10)).await, 2);
    assert_eq!(srv.room_size("tab:bob-tab"), 1, "bob's tab room holds bob's socket alone");
    assert!(srv.emit_to_tab("bob-tab", "secret", &json!("for bob")).await);
    assert_eq!(bob.next_event("sb:tab").await, json!("bob-tab"));
    let (_, seen) = alice.emit_ack_seen(r#"["echo",1]"#).await;
    assert!(!seen.iter().any(|f| f[0] == "sb:tab"), "alice heard nothing of bob's tab: {seen:?}");
    // Too many, too long: refused whole.
    let long = "x".repeat(65);
    alice.send(&format!("42{}", json!(["sb:tabs", [long]]))).await;
    let many: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
    alice.send(&format!("42{}", json!(["sb:tabs", many]))).await;
    assert_eq!(alice.emit_ack(r#"["echo",2]"#).await, "[2]");
    assert_eq!(srv.known_tabs(), 2, "nothing of those lists taken");
    // The same browser's next socket (a reconnect) takes bob's tab over once the old is gone.
    let mut again = RawSocket::connect_cookie(srv.addr, &bob_device).await;
    again.next_event("sb:hello").await;
    again.send(r#"42["sb:tabs",["bob-tab"]]"#).await;
    assert_eq!(again.emit_ack(r#"["echo",3]"#).await, "[3]");
    assert_eq!(srv.room_size("tab:bob-tab"), 2, "the same device: both, while the old one lingers");
    bob.close().await;
    let one = common::until(Duration::from_secs(10), || srv.room_size("tab:bob-tab") == 1).await;
    assert!(one, "the old socket left bob's tab room: {}", srv.room_size("tab:bob-tab"));
    assert!(srv.emit_to_tab("bob-tab", "again", &json!(1)).await);
    assert_eq!(again.next_event("sb:tab").await, json!("bob-tab"));
    srv.stop().await;
}

/// 3. An anonymous hub whose old socket still lingers gets its tabs when the old one goes.
#[tokio::test]
async fn a_refused_tab_is_granted_when_its_socket_goes() {
    let srv = common::server_with(deployed()).await;
    let mut old = RawSocket::connect(srv.addr).await;
    old.next_event("sb:hello").await;
    old.send(r#"42["sb:tabs",["t1"]]"#).await;
    assert_eq!(srv.known_tabs_reach(1, Duration::from_secs(10)).await, 1);
    let mut new = RawSocket::connect(srv.addr).await;
    new.next_event("sb:hello").await;
    new.send(r#"42["sb:tabs",["t1"]]"#).await;
    assert_eq!(new.emit_ack(r#"["echo",1]"#).await, "[1]");
    assert_eq!(srv.room_size("tab:t1"), 1, "refused while another socket serves it");
    old.close().await;
    // Sent to the tab until the new socket hears it (the old one's going and the grant race).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut heard = None;
    while heard.is_none() && Instant::now() < deadline {
        srv.emit_to_tab("t1", "x", &json!(1)).await;
        heard = new.try_until(|f| f.starts_with(r#"42["sb:tab","t1""#), Duration::from_millis(200)).await;
    }
    assert!(heard.is_some(), "granted once the old socket left");
    srv.stop().await;
}

/// 4. A bearer-mode `sb:auth {token}` reaches the Admin UI redacted (read-only admins
/// included), however the event name is written.
#[tokio::test]
async fn no_token_reaches_the_admin_ui() {
    let admin = AdminConfig::parse("admin:admin-password-1", true, true).expect("admin");
    let srv = common::server_with(Config { admin: Some(admin), ..deployed() }).await;
    let mut watcher = RawSocket::engine(srv.addr, "").await;
    watcher.send(r#"40/admin,{"username":"admin","password":"admin-password-1"}"#).await;
    watcher.until(|f| f.starts_with("40/admin,")).await;
    let token = srv.auth.login("alice", "alice-password").await.expect("login").access;
    let mut app = RawSocket::connect_with(srv.addr, &json!({ "token": token }).to_string()).await;
    app.send(&format!("42{}", json!(["sb:auth", { "token": token }]))).await;
    app.send(&format!(r#"42["sb\u003aauth",{{"token":"{token}"}}]"#)).await;
    app.send(r#"42["marker",1]"#).await;
    let mut shown = Vec::new();
    loop {
        let f = watcher.until(|f| f.starts_with(r#"42/admin,["event_received""#)).await;
        shown.push(f.clone());
        if f.contains("marker") {
            break;
        }
    }
    // (A name written with escapes may not even reach a handler: either way, no token.)
    assert!(shown.len() >= 2, "{shown:?}");
    assert!(shown.iter().all(|f| !f.contains(&token)), "{shown:?}");
    assert!(shown[0].contains("[redacted]"), "{shown:?}");
    srv.stop().await;
}

/// 5. Slow headers: a client trickling a request is cut off at the header timeout.
#[tokio::test]
async fn a_slow_header_is_cut_off() {
    let srv = common::server_with(Config {
        transport: switchboard::server::TransportLimits {
            header_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..deployed()
    })
    .await;
    let mut s = connect_from([127, 0, 0, 1], srv.addr).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("a start");
    let t = Instant::now();
    let mut buf = [0u8; 256];
    // A byte every 300 ms: never a whole header.
    let closed = async {
        loop {
            match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => {
                    if s.write_all(b"X").await.is_err() {
                        return true;
                    }
                }
            }
        }
    };
    assert!(tokio::time::timeout(Duration::from_secs(10), closed).await.unwrap_or(false), "closed");
    println!("a trickled header was cut off after {} ms", t.elapsed().as_millis());
    assert_eq!(status(&get(srv.addr, "/", None).await), 200, "the server serves others");
    srv.stop().await;
}

/// 5. Connections per address and in all are capped; an idle connection is closed.
#[tokio::test]
async fn connections_are_capped_per_address_and_idle_ones_closed() {
    let limits = switchboard::server::TransportLimits {
        max_connections: 6,
        per_address: 3,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(1),
    };
    let srv = common::server_with(Config { transport: limits, ..deployed() }).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 5, 1], srv.addr).await);
    }
    let mut fourth = connect_from([127, 0, 5, 1], srv.addr).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf)).await.expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "the fourth from one address is closed");
    assert_eq!(
        status(
            &http_from([127, 0, 5, 2], srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string())
                .await
        ),
        200
    );
    for i in 0..3u8 {
        held.push(connect_from([127, 0, 5, 10 + i], srv.addr).await);
    }
    let mut seventh = connect_from([127, 0, 5, 20], srv.addr).await;
    let n = tokio::time::timeout(Duration::from_secs(5), seventh.read(&mut buf)).await.expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "the seventh in all is closed");
    // Idle (no byte either way): closed after the idle limit (at least the heartbeat's 4 s).
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(15), held[0].read(&mut buf)).await.expect("an idle one closed");
    assert!(matches!(n, Ok(0) | Err(_)));
    println!("an idle connection was closed after {} ms", t.elapsed().as_millis());
    srv.stop().await;
}

/// 5. Binary attachments: a packet declaring more than `MAX_ATTACHMENTS`, or more bytes than
/// twice `--max-message`, closes the connection instead of being buffered.
#[tokio::test]
async fn binary_attachments_are_bounded() {
    let srv = common::server_with(Config { max_message: 2048, ..deployed() }).await;
    let mut many = RawSocket::connect(srv.addr).await;
    many.send(r#"451000-["bin-echo",{"_placeholder":true,"num":0}]"#).await;
    assert!(many.closed_within(Duration::from_secs(5)).await, "1000 attachments declared: closed");
    let mut big = RawSocket::connect(srv.addr).await;
    big.send(
        r#"453-["bin-echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#,
    )
    .await;
    for _ in 0..3 {
        big.send_binary(vec![7u8; 3000]).await;
    }
    assert!(big.closed_within(Duration::from_secs(5)).await, "9000 bytes of attachments: closed");
    let mut fine = RawSocket::connect(srv.addr).await;
    assert_eq!(fine.emit_ack(r#"["echo","still here"]"#).await, r#"["still here"]"#);
    srv.stop().await;
}

/// 5. Durable-emit ids are at most 128 bytes; rooms per socket are capped.
#[tokio::test]
async fn emit_ids_and_rooms_per_socket_are_bounded() {
    let srv = common::server_with(Config { max_rooms: 5, ..deployed() }).await;
    let mut s = RawSocket::connect(srv.addr).await;
    let long = "i".repeat(129);
    let receipt = s.emit_ack(&json!(["sb:emit", long, "echo", 1]).to_string()).await;
    assert!(receipt.contains("1..128 bytes"), "{receipt}");
    let ok = s.emit_ack(&json!(["sb:emit", "i".repeat(128), "echo", 1]).to_string()).await;
    assert_eq!(ok, r#"[{"ok":true}]"#);
    let mut answers = Vec::new();
    for i in 0..8 {
        answers.push(s.emit_ack(&json!(["sb:join", format!("r{i}")]).to_string()).await);
    }
    // Five rooms at most (the socket's own room, if the adapter counts it, among them).
    let joined = answers.iter().take_while(|a| *a == r#"[{"ok":true}]"#).count();
    assert!((4..=5).contains(&joined), "{answers:?}");
    assert!(answers[joined..].iter().all(|a| a.contains("too many rooms")), "{answers:?}");
    assert_eq!(s.emit_ack(r#"["sb:join","r0"]"#).await, r#"[{"ok":true}]"#, "a room it is in already");
    srv.stop().await;
}
