//! Security end to end, in headless Chromium against the reference backend: device
//! verification with its limited session, a revoked session's queue gone from IndexedDB and
//! its cookies refused, suspicious activity reaching another browser, and tabs that stay
//! signed in across a backend restart.

mod common;

use common::http::post;
use common::sio::RawSocket;
use common::{auth_tabs, exclusive, login, post_js, Browser};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard::server::Config;

fn config() -> Config {
    Config { require_auth: true, access_ttl: Duration::from_secs(300), ..common::config() }
}

/// Waits until the tab's security state is `state`; the security object.
fn until_state(state: &str) -> String {
    format!("sb.until(() => sb.client.security.state === '{state}', 10000, 'security state {state}').then(() => sb.client.security)")
}

/// A fresh browser signs in from a device alice never verified: a limited session (the
/// socket connects, app events and joins are refused) until the code she was "mailed" is
/// confirmed. Five wrong codes kill the challenge; a new sign-in gets a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_is_limited_until_its_code_is_confirmed() {
    let _one = exclusive().await;
    // Codes are throttled per account after `attempts` wrong ones (tests/adversary.rs): here
    // a challenge's own five tries are the subject.
    let srv = common::server_with(Config { verify_new_devices: true, attempts: 10, ..config() }).await;
    let b = Browser::launch().await;
    let t = auth_tabs(&b, &srv.url(), 2).await;
    for tab in &t {
        assert_eq!(b.js(tab, "sb.withSecurity().then((s) => s.state)").await, json!("signed-out"));
    }
    b.js(&t[0], "sb.client.login('alice', 'alice-password')").await;
    for tab in &t {
        let s = b.js(tab, &until_state("verification-required")).await;
        assert_eq!(s["lastEvent"]["event"], "SECURITY_DEVICE_VERIFICATION_REQUIRED", "{s}");
        assert_eq!(s["lastEvent"]["method"], "email");
        assert!(s["lastEvent"]["expiresAt"].as_u64().is_some(), "{s}");
    }
    // Limited: connected, but nothing reaches the application.
    b.js(&t[0], "sb.until(() => sb.client.status === 'connected', 10000, 'connected')").await;
    let join = b.js(&t[1], "sb.client.join('team:1').then(() => 'joined', (e) => e.message)").await;
    assert!(join.as_str().is_some_and(|m| m.contains("not verified")), "{join}");
    b.js(&t[0], "sb.client.emit('record', { n: 'while limited' })").await;
    // Five wrong codes: each told how many tries are left, the fifth kills the challenge.
    let code = srv.auth.last_mail("alice").expect("a code was mailed");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let verify = |c: &str| format!("sb.client.verifyDevice('{c}').then(() => 'verified', (e) => e.message)");
    for left in (1..=4).rev() {
        let answer = b.js(&t[1], &verify(wrong)).await;
        assert_eq!(answer, json!(format!("wrong code; {left} tries left")));
        b.js(&t[0], &until_state("verification-required")).await;
    }
    let dead = b.js(&t[1], &verify(wrong)).await;
    assert!(dead.as_str().is_some_and(|m| m.contains("challenge is dead")), "{dead}");
    let late = b.js(&t[1], &verify(&code)).await;
    assert!(
        late.as_str().is_some_and(|m| m.contains("no verification is pending")),
        "the dead code stays dead: {late}"
    );
    // A new sign-in, a new challenge; the right code makes every tab signed in.
    b.js(&t[0], "sb.client.login('alice', 'alice-password')").await;
    let code2 = loop {
        let c = srv.auth.last_mail("alice").expect("mailed");
        if c != code {
            break c;
        }
        tokio::task::yield_now().await;
    };
    b.js(&t[0], "sb.until(() => sb.client.security.lastEvent && sb.client.security.state === 'verification-required' && sb.client.status === 'connected', 10000, 'asked again')").await;
    assert_eq!(b.js(&t[0], &verify(&code2)).await, json!("verified"));
    for tab in &t {
        // The HTTP answer and the server's event race to the hub: either makes it signed in.
        b.js(tab, &until_state("signed-in")).await;
        let s = b.js(tab, "sb.until(() => sb.client.security.lastEvent.event === 'SECURITY_DEVICE_VERIFIED', 10000, 'verified event').then(() => sb.client.security)").await;
        assert_eq!(s["state"], "signed-in", "{s}");
    }
    assert_eq!(b.js(&t[1], "sb.client.join('team:1').then(() => 'joined', (e) => e.message)").await, json!("joined"));
    b.js(&t[0], "sb.client.emit('record', { n: 'verified' })").await;
    let recorded = srv.recorded_at_least(1, Duration::from_secs(10)).await;
    assert_eq!(recorded, vec![json!({"n": "verified"})], "nothing of the limited session reached the application");
    assert!(srv.stats.unverified_refused.load(Ordering::Relaxed) >= 1);
    let sessions = b.js(&t[1], "sb.client.sessions()").await;
    let current: Vec<_> = sessions.as_array().expect("a list").iter().filter(|s| s["current"] == true).collect();
    assert_eq!((current.len(), current[0]["verified"].clone()), (1, json!(true)), "{sessions}");
    b.shutdown().await;
    srv.stop().await;
}

/// Browser B revokes alice's other sessions while browser A's hub still holds queued events
/// (the server's announced rate paces the flush): A's tabs are signed out and hear
/// `revoked`, the queue is gone from IndexedDB and never delivered, and A's old cookies are
/// refused at the handshake and at refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_sessions_queue_is_deleted_and_its_cookies_refused() {
    let _one = exclusive().await;
    let srv = common::server_with(Config { rate: 20, burst: 20, ..config() }).await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let a = auth_tabs(&one, &srv.url(), 2).await;
    let b = auth_tabs(&two, &srv.url(), 1).await;
    login(&one, &a).await;
    login(&two, &b).await;
    for t in &a {
        one.js(t, "sb.withSecurity()").await;
    }
    let before: Vec<_> = srv.auth.sessions_of("alice").await;
    one.js(&a[0], "for (let i = 0; i < 300; i++) sb.client.emit('record', { i })").await;
    let stored = one.js(&a[0], "sb.poll(async () => { const n = await sb.storedCount(); return n > 100 && n; }, 10000, 'the queue stored')").await.as_u64().unwrap_or(0);
    assert!(stored > 100, "the hub holds the queue in IndexedDB: {stored}");
    let revoke = format!("{}.then((r) => r.json())", post_js("/auth/sessions/revoke", "{ target: 'others' }"));
    assert_eq!(two.js(&b[0], &revoke).await["revoked"], json!(1));
    for t in &a {
        let s = one.js(t, &until_state("revoked")).await;
        assert_eq!(s["lastEvent"]["event"], "SECURITY_SESSION_REVOKED");
        assert_eq!(s["lastEvent"]["scope"], "others");
        one.js(t, "sb.until(() => sb.auth && !sb.auth.user, 10000, 'signed out')").await;
    }
    // The hub deletes in the same drive it learns it; the page sees the worker's commit when
    // it lands (polled: IndexedDB commits in another context raise no page event).
    let left = one.js(&a[0], "sb.poll(async () => (await sb.storedCount()) === 0, 10000, 'an empty queue')").await;
    assert_eq!(left, json!(true), "the revoked session's queue is gone from IndexedDB");
    let delivered = srv.stats.recorded.lock().map(|r| r.len()).unwrap_or(0);
    assert!(delivered < 300, "the queue was dropped, not delivered: {delivered}");
    // The old credentials are dead at both doors.
    let mut old = None;
    for s in &before {
        if srv.auth.session(&s.id).await.is_none() {
            old = Some(s);
        }
    }
    let old = old.expect("A's session was revoked");
    let reply = RawSocket::connect_reply(srv.addr, &json!({ "token": old.access }).to_string()).await;
    assert!(reply.starts_with("44"), "handshake refused: {reply}");
    let refresh = post(srv.addr, "/auth/refresh", "{}", &format!("sb_refresh={}", old.refresh)).await;
    assert!(refresh.starts_with("HTTP/1.1 401"), "{refresh}");
    // B goes on; A can sign in again (a new session, signed in).
    assert_eq!(two.js(&b[0], "sb.client.emitWithAck('echo', 'b')").await, json!("b"));
    login(&one, &a).await;
    one.js(&a[0], &until_state("signed-in")).await;
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// A burst of failed sign-ins on alice's account (from another browser) reaches her signed-in
/// browser as `SECURITY_SUSPICIOUS_ACTIVITY` in `client.security.lastEvent`, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_elsewhere_reach_the_users_browser() {
    let _one = exclusive().await;
    let srv = common::server_with(Config { suspicious_logins: 3, ..config() }).await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let a = auth_tabs(&one, &srv.url(), 1).await;
    login(&one, &a).await;
    one.js(&a[0], "sb.withSecurity()").await;
    let b = auth_tabs(&two, &srv.url(), 1).await;
    for _ in 0..3 {
        two.js(&b[0], "sb.client.login('alice', 'guess').catch(() => null)").await;
    }
    let s = one
        .js(&a[0], "sb.until(() => sb.client.security.lastEvent && sb.client.security.lastEvent.event === 'SECURITY_SUSPICIOUS_ACTIVITY', 10000, 'suspicious activity').then(() => sb.client.security)")
        .await;
    assert_eq!(s["state"], "signed-in", "told, not signed out: {s}");
    assert_eq!(
        (s["lastEvent"]["kind"].clone(), s["lastEvent"]["action"].clone()),
        (json!("failed-logins"), json!("none"))
    );
    assert!(s["lastEvent"]["reason_user"].as_str().is_some_and(|r| r.contains("3 failed sign-ins")), "{s}");
    assert_eq!(
        one.js(
            &a[0],
            "sb.security.filter((x) => x.lastEvent && x.lastEvent.event === 'SECURITY_SUSPICIOUS_ACTIVITY').length"
        )
        .await,
        json!(1)
    );
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// Tabs stay signed in across a backend restart (sessions live in the database), and their
/// socket comes back with the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_stay_signed_in_across_a_backend_restart() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("dir");
    let config = Config { data_dir: Some(data.path().to_path_buf()), ..config() };
    let srv = common::server_with(config.clone()).await;
    let b = Browser::launch().await;
    let t = auth_tabs(&b, &srv.url(), 2).await;
    login(&b, &t).await;
    let session = srv.auth.sessions_of("alice").await.pop().expect("a session").id;
    let bind = srv.addr;
    srv.stop().await;
    for tab in &t {
        b.js(tab, "sb.until(() => sb.client.status !== 'connected', 10000, 'the server went away')").await;
    }
    let srv = common::start_on(Config { bind, ..config }).await;
    for tab in &t {
        b.js(tab, "sb.until(() => sb.client.status === 'connected', 20000, 'back')").await;
        assert_eq!(b.js(tab, "sb.auth && sb.auth.user").await, json!("alice"), "still signed in");
    }
    assert_eq!(b.js(&t[0], "sb.client.emitWithAck('echo', 'after')").await, json!("after"));
    assert_eq!(srv.room_size(&format!("session:{session}")), 1, "the hub's socket is in the same session");
    b.shutdown().await;
    srv.stop().await;
}
