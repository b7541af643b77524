//! Sign-in across tabs, end to end: the hub is the only refresher, every tab follows the
//! shared state, and tokens stay in HttpOnly cookies.

mod common;

use common::{advance_hub_clock, auth_server, auth_tabs as tabs, exclusive, hub_scope, login, post_js, until, Browser};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn refreshes(srv: &Server) -> u64 {
    srv.auth.telemetry.refreshes.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_tabs_asking_at_once_make_one_refresh_request_twenty_times() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 5).await;
    login(&b, &t).await;
    let hub = hub_scope(&b).await;
    for round in 0..20 {
        // A refresh that just finished (or the login) satisfies askers for a second: the
        // hub's clock moves past it.
        advance_hub_clock(&b, &hub, 1_100).await;
        let before = refreshes(&srv);
        let ask = "sb.client.refresh().then(() => 'ok', (e) => e.message)";
        let r = tokio::join!(b.js(&t[0], ask), b.js(&t[1], ask), b.js(&t[2], ask), b.js(&t[3], ask), b.js(&t[4], ask));
        assert_eq!(
            [r.0, r.1, r.2, r.3, r.4],
            [json!("ok"), json!("ok"), json!("ok"), json!("ok"), json!("ok")],
            "round {round}"
        );
        assert_eq!(refreshes(&srv) - before, 1, "round {round}: one refresh request for five tabs");
    }
    assert_eq!(srv.auth.telemetry.reuse_detected.load(Ordering::Relaxed), 0, "reuse detection never tripped");
    println!("server auth telemetry after the race test: {}", srv.auth.telemetry_json());
    println!("hub auth telemetry (client API): {}", b.js(&t[0], "JSON.stringify(sb.client.auth.telemetry)").await);
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_one_tab_signs_in_every_tab_and_logout_signs_every_tab_out() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 2).await;
    // Not signed in: the server refuses the socket with a clear CONNECT_ERROR.
    let refused = b
        .js(&t[0], "sb.until(() => sb.client.status === 'disconnected').then(() => sb.client.statusDetail.reason)")
        .await;
    assert_eq!(refused, json!("connect_error: not authenticated"));
    let bad = b.js(&t[0], "sb.client.login('alice', 'nope').then(() => 'ok', (e) => e.message)").await;
    assert_eq!(bad, json!("invalid username or password"));
    login(&b, &t).await;
    assert_eq!(srv.stats.sockets_now.load(Ordering::Relaxed), 1);
    b.js(&t[1], "sb.client.logout()").await;
    for tab in &t {
        let a = b.js(tab, "sb.until(() => sb.auth && sb.auth.user === null && sb.client.status === 'disconnected').then(() => sb.auth.signedOut)").await;
        assert_eq!(a, json!("logout"));
    }
    assert_eq!(srv.stats.sockets_now.load(Ordering::Relaxed), 0, "the socket is closed");
    b.shutdown().await;
    srv.stop().await;
}

async fn cookies(b: &Browser) -> Vec<Value> {
    b.cookies().await
}

fn cookie_value(all: &[Value], name: &str) -> Option<String> {
    all.iter().find(|c| c["name"] == name).and_then(|c| c["value"].as_str()).map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_refresh_token_revokes_the_family_and_signs_every_tab_out() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 2).await;
    login(&b, &t).await;
    let jar = cookies(&b).await;
    let old = cookie_value(&jar, "sb_refresh").expect("a refresh cookie");
    assert!(jar
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("sb_")))
        .all(|c| c["httpOnly"] == true && c["sameSite"] == "Strict"));
    advance_hub_clock(&b, &hub_scope(&b).await, 1_100).await; // past the just-signed-in window
    b.js(&t[0], "sb.client.refresh()").await;
    assert_ne!(cookie_value(&cookies(&b).await, "sb_refresh"), Some(old.clone()), "rotated");
    // An attacker replays the old token.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    let req = format!("POST /auth/refresh HTTP/1.1\r\nHost: {}\r\nCookie: sb_refresh={old}\r\nx-switchboard: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", srv.addr);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut res = Vec::new();
    s.read_to_end(&mut res).await.expect("read");
    assert!(String::from_utf8_lossy(&res).starts_with("HTTP/1.1 401"));
    for tab in &t {
        let why = b.js(tab, "sb.until(() => sb.auth && sb.auth.user === null).then(() => sb.auth.signedOut)").await;
        assert_eq!(why, json!("refresh token reuse detected"));
    }
    assert_eq!(srv.auth.telemetry.reuse_detected.load(Ordering::Relaxed), 1);
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_script_can_read_a_token() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 1).await;
    login(&b, &t).await;
    let jar = cookies(&b).await;
    let tokens: Vec<String> = ["sb_access", "sb_refresh"].iter().filter_map(|n| cookie_value(&jar, n)).collect();
    assert_eq!(tokens.len(), 2);
    let visible = b
        .js(
            &t[0],
            "(async () => {
                const seen = [document.cookie, JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })];
                for (const { name } of await indexedDB.databases()) {
                    const db = await new Promise((ok, fail) => { const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = fail; });
                    for (const store of db.objectStoreNames) {
                        const all = await new Promise((ok) => { const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => ok(r.result); });
                        seen.push(new TextDecoder().decode(new Uint8Array(all.flatMap((v) => Array.from(v)))));
                    }
                    db.close();
                }
                seen.push(JSON.stringify(sb.client.auth));
                return seen.join('\\n');
            })()",
        )
        .await;
    let visible = visible.as_str().unwrap_or_default().to_string();
    for token in tokens {
        assert!(!visible.contains(&token), "a token is readable by page scripts");
    }
    assert!(!visible.contains("sb_"), "no token cookie is visible to document.cookie: {visible}");
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_tabs_stay_signed_in_across_three_token_lifetimes() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(2)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 2).await;
    login(&b, &t).await;
    let sockets = srv.stats.sockets_total.load(Ordering::Relaxed);
    let before = refreshes(&srv);
    for tab in &t {
        b.call(Some(&tab.session), "Page.setWebLifecycleState", json!({"state": "frozen"})).await.expect("freeze");
    }
    // The scenario is time passing with every tab frozen: the hub refreshes the 2 s access
    // token (at two thirds of its life) three times, each before the server would expire it.
    let three = until(Duration::from_secs(20), || refreshes(&srv) - before >= 3).await;
    assert!(three, "the hub refreshed while the tabs slept ({} refreshes)", refreshes(&srv) - before);
    for tab in &t {
        b.call(Some(&tab.session), "Page.setWebLifecycleState", json!({"state": "active"})).await.expect("resume");
    }
    for tab in &t {
        let user =
            b.js(tab, "sb.until(() => sb.auth && sb.client.status === 'connected').then(() => sb.auth.user)").await;
        assert_eq!(user, json!("alice"));
    }
    assert_eq!(srv.stats.sockets_total.load(Ordering::Relaxed), sockets, "the socket was never dropped");
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_outage_is_reported_and_the_user_stays_signed_in() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 2).await;
    login(&b, &t).await;
    advance_hub_clock(&b, &hub_scope(&b).await, 1_100).await; // past the just-refreshed window
    srv.refresh_down.store(true, Ordering::Relaxed);
    let err = b.js(&t[0], "sb.client.refresh().then(() => 'ok', (e) => e.message)").await;
    assert_eq!(err, json!("refresh is down"));
    let state = b.js(&t[1], "sb.until(() => sb.auth && sb.auth.error).then(() => [sb.auth.user, sb.auth.error])").await;
    assert_eq!(state[0], json!("alice"));
    assert!(state[1].as_str().is_some_and(|e| e.contains("retrying")), "{state}");
    srv.refresh_down.store(false, Ordering::Relaxed);
    let healed = b
        .eval(&t[1], "sb.until(() => sb.auth && sb.auth.error === null, 10000, 'recovery').then(() => sb.auth.user)")
        .await;
    if healed.is_err() {
        panic!(
            "no recovery: {} server: {}",
            b.js(&t[1], "JSON.stringify(sb.events.filter((e) => e.name === '(auth)').map((e) => e.args[0]))").await,
            srv.auth.telemetry_json()
        );
    }
    let healed = healed.unwrap_or_default();
    assert_eq!(healed, json!("alice"));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_can_address_one_tab_and_sockets_join_user_device_and_session_rooms() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), 2).await;
    login(&b, &t).await;
    // The device cookie came with the login; the next handshake joins its room.
    b.js(&t[0], "sb.client.logout().then(() => sb.client.login('alice', 'alice-password'))").await;
    for tab in &t {
        b.js(tab, "sb.record('only-you'); sb.until(() => sb.auth && sb.auth.user === 'alice' && sb.client.status === 'connected')").await;
    }
    b.js(&t[0], "sb.client.emitWithAck('echo', 'subscribed')").await;
    b.js(&t[1], "sb.client.emitWithAck('echo', 'subscribed')").await;
    let mut rooms: Vec<String> = srv.io.rooms().await.expect("rooms").into_iter().map(|r| r.to_string()).collect();
    rooms.sort();
    assert!(rooms.iter().any(|r| r == "user:alice"), "{rooms:?}");
    assert!(rooms.iter().any(|r| r.starts_with("session:")), "{rooms:?}");
    assert!(rooms.iter().any(|r| r.starts_with("device:")), "{rooms:?}");
    let second = b.js(&t[1], "sb.client.id").await;
    assert!(srv.emit_to_tab(second.as_str().expect("id"), "only-you", &json!("hi")).await);
    b.js(&t[1], "sb.until(() => sb.events.some((e) => e.name === 'only-you'))").await;
    // The hub forwards in order: once tab 1 has a later broadcast, it would have the tab event too.
    srv.publish("only-you", &json!("everyone")).await;
    let names = b.js(&t[0], "sb.until(() => sb.events.some((e) => e.name === 'only-you')).then(() => sb.events.filter((e) => e.name === 'only-you').map((e) => e.args[0]))").await;
    assert_eq!(names, json!(["everyone"]));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_mode_keeps_the_token_in_the_hub_and_renews_the_socket_without_reconnecting() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let b = Browser::launch().await;
    let mut t = Vec::new();
    for _ in 0..2 {
        let tab = b.open(&format!("{}/harness.html", srv.url())).await;
        b.js(
            &tab,
            "sb.start({ authMode: 'bearer' }).then(() => sb.client.onAuth((a) => { sb.auth = a; sb.notify(); }))",
        )
        .await;
        t.push(tab);
    }
    login(&b, &t).await;
    let jar = cookies(&b).await;
    assert!(cookie_value(&jar, "sb_access").is_none(), "no access cookie in bearer mode");
    assert!(cookie_value(&jar, "sb_refresh").is_some());
    let ask = "sb.client.token()";
    let (a, c) = tokio::join!(b.js(&t[0], ask), b.js(&t[1], ask));
    assert_eq!(a, c, "both tabs get the hub's token");
    let first = a.as_str().expect("a token").to_string();
    assert!(srv.auth.session_for_access(&first).await.is_some());
    let sockets = srv.stats.sockets_total.load(Ordering::Relaxed);
    advance_hub_clock(&b, &hub_scope(&b).await, 1_100).await; // past the just-signed-in window
    b.js(&t[0], "sb.client.refresh()").await;
    let second = b.js(&t[1], "sb.client.token()").await.as_str().expect("a token").to_string();
    assert_ne!(first, second, "rotated");
    assert!(srv.auth.session_for_access(&second).await.is_some());
    assert_eq!(
        srv.stats.sockets_total.load(Ordering::Relaxed),
        sockets,
        "renewed on the open socket (sb:auth), no reconnect"
    );
    assert_eq!(b.js(&t[0], "sb.client.emitWithAck('echo', 'still connected')").await, json!("still connected"));
    b.shutdown().await;
    srv.stop().await;
}

/// Forced logout from another device: browser B revokes all of alice's sessions; browser A's
/// three tabs are signed out (the server ended the session first, then told its socket).
/// Measured from B's HTTP answer to the last of A's tabs hearing it, over 20 runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_all_sessions_from_one_browser_signs_every_tab_of_another_out() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let a = tabs(&one, &srv.url(), 3).await;
    let b = tabs(&two, &srv.url(), 1).await;
    let revoke_all = format!(
        "{}.then((r) => r.json()).then((j) => [j.revoked, performance.timeOrigin + performance.now()])",
        post_js("/auth/sessions/revoke", "{ target: 'all' }")
    );
    let mut times = Vec::new();
    for run in 0..20 {
        login(&one, &a).await;
        login(&two, &b).await;
        for t in &a {
            one.js(t, "sb.out = null; sb.client.onAuth((x) => { if (x && !x.user && sb.out === null) { sb.out = performance.timeOrigin + performance.now(); sb.notify(); } })").await;
        }
        let answer = two.js(&b[0], &revoke_all).await;
        assert!(answer[0].as_u64().unwrap_or(0) >= 2, "run {run}: both sessions revoked: {answer}");
        let answered = answer[1].as_f64().unwrap_or(0.0);
        let mut last: f64 = 0.0;
        for t in &a {
            let out = one.js(t, "sb.until(() => sb.out !== null, 10000, 'signed out').then(() => sb.out)").await;
            last = last.max(out.as_f64().unwrap_or(0.0));
        }
        times.push((last - answered).max(0.0));
        // Enforced on the server: no session of alice is left to reconnect with.
        assert!(srv.auth.sessions_of("alice").await.is_empty(), "run {run}");
    }
    times.sort_by(|x, y| x.total_cmp(y));
    println!(
        "forced logout (revoke all from another browser) -> last of 3 tabs signed out: p50 {:.1} ms, max {:.1} ms (20 runs)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// A password change in browser A signs browser B out (B's tabs hear
/// SECURITY_CREDENTIAL_CHANGED, then lose the session) while A stays signed in and can
/// still refresh; signing in again needs the new password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_in_one_browser_signs_the_other_out() {
    let _one = exclusive().await;
    let srv = auth_server(Duration::from_secs(300)).await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let a = tabs(&one, &srv.url(), 1).await;
    let b = tabs(&two, &srv.url(), 2).await;
    login(&one, &a).await;
    login(&two, &b).await;
    for t in &b {
        two.js(t, "sb.record('SECURITY_CREDENTIAL_CHANGED', 'SECURITY_SESSION_REVOKED')").await;
    }
    let change = post_js("/auth/password", "{ current: 'alice-password', new: 'a-new-password' }");
    assert_eq!(one.js(&a[0], &format!("{change}.then((r) => r.status)")).await, json!(200));
    for t in &b {
        let heard = two
            .js(t, "sb.until(() => sb.auth && !sb.auth.user, 10000, 'signed out').then(() => sb.events.filter((e) => e.name.startsWith('SECURITY_')).map((e) => e.name))")
            .await;
        assert_eq!(heard, json!(["SECURITY_CREDENTIAL_CHANGED", "SECURITY_SESSION_REVOKED"]), "B's tab heard why");
    }
    // A goes on: its session refreshes.
    one.js(&a[0], "sb.client.refresh()").await;
    assert_eq!(one.js(&a[0], "sb.auth.user").await, json!("alice"));
    let old = two.js(&b[0], "sb.client.login('alice', 'alice-password').then(() => 'in', (e) => e.message)").await;
    assert_ne!(old, json!("in"), "the old password no longer works");
    two.js(&b[0], "sb.client.login('alice', 'a-new-password')").await;
    two.js(&b[1], "sb.until(() => sb.auth && sb.auth.user === 'alice', 10000, 'signed in again')").await;
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// The usual topology: the page served by one origin (a Vite dev server, a CDN), the backend
/// on another that allows it (`--allow-origin`). The hub's sign-in calls are cross-origin: the
/// backend answers their preflight and names the origin with credentials, so a login in one
/// tab signs every tab in (cookies cover same-site origins: these differ by port only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_from_another_origin_signs_in_across_tabs() {
    let _one = exclusive().await;
    let pages = common::server().await;
    let mut config = common::config();
    config.require_auth = true;
    config.allowed_origins = vec![pages.url()];
    let api = common::server_with(config).await;
    let b = Browser::launch().await;
    let start = format!(
        "sb.start({{ url: '{}' }}).then(() => {{ sb.client.onAuth((a) => {{ sb.auth = a; sb.notify(); }}); }})",
        api.url()
    );
    let t = common::open_tabs(&b, &pages.url(), 2, &start).await;
    login(&b, &t).await;
    // Signed in, the hub replaces its socket with one carrying the new cookies: a moment
    // with none or two may be seen.
    let one_socket =
        common::until(Duration::from_secs(10), || api.stats.sockets_now.load(Ordering::Relaxed) == 1).await;
    assert!(one_socket, "one socket to the backend, signed in: {}", api.stats.sockets_now.load(Ordering::Relaxed));
    assert_eq!(b.js(&t[1], "sb.client.emitWithAck('echo', 'across')").await, json!("across"));
    // The preflight, as the browser sends it, and an origin not on the list.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /auth/login HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, x-switchboard\r\nConnection: close\r\n\r\n",
            api.addr
        )
    };
    let allowed = common::http::http(api.addr, preflight(&pages.url())).await;
    assert!(allowed.starts_with("HTTP/1.1 204"), "{allowed}");
    let lower = allowed.to_ascii_lowercase();
    assert!(lower.contains(&format!("access-control-allow-origin: {}", pages.url())), "{allowed}");
    assert!(lower.contains("access-control-allow-credentials: true"), "{allowed}");
    assert!(lower.contains("x-switchboard"), "{allowed}");
    let other = common::http::http(api.addr, preflight("http://127.0.0.1:1")).await;
    assert!(!other.to_ascii_lowercase().contains("access-control-allow-origin"), "{other}");
    b.shutdown().await;
    api.stop().await;
    pages.stop().await;
}
