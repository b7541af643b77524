//! Nothing lost for receivers (headless Chromium, two browsers, the reference backend with
//! `--data-dir`): the server stops, one browser queues five announcements, the server
//! restarts on the same address, the sender's hub flushes them while the receiver's hub
//! cannot reach the server (its proxy points nowhere), then the receiver comes back: it gets
//! every announcement once, in order, and `recovered === true`, because the replay log lives
//! in the database. With a replay log too small to close the gap, the receiver is told
//! `recovered === false` (a status detail it can refetch on).

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::{exclusive, harness_tab, Browser, CONNECTED};
use proxy::Proxy;
use serde_json::{json, Value};
use switchboard::server::{replay::Bounds, Config, Server};

const FAST: &str = "{ reconnectionDelay: 100, reconnectionDelayMax: 300 }";

/// The scenario with a replay log of `keep` events: the receiver's announcements (texts, in
/// arrival order) and the verdicts its status listener saw after the restart.
async fn restart_while_a_receiver_is_away(keep: usize) -> (Value, Value) {
    let data = tempfile::tempdir().expect("data dir");
    let config = Config {
        data_dir: Some(data.path().to_path_buf()),
        replay: Bounds { keep, ..Bounds::default() },
        ..common::config()
    };
    let srv = Server::start(config.clone()).await.expect("server");
    let addr = srv.addr;
    let to_receiver = Proxy::start(addr).await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let sender = harness_tab(&one, &srv.url(), FAST, CONNECTED, "sender connected").await;
    let receiver = harness_tab(&two, &to_receiver.url(), FAST, CONNECTED, "receiver connected").await;
    for (b, tab) in [(&one, &sender), (&two, &receiver)] {
        // The subscription reaches the hub before the echo's answer comes back.
        b.js(tab, "sb.record('announce'); sb.client.emitWithAck('echo', 1)").await;
    }
    let texts = "sb.events.filter((e) => e.name === 'announce').map((e) => e.args[0].text)";
    one.js(&sender, "sb.client.emit('announce', { text: 'm0' })").await;
    two.js(&receiver, &format!("sb.until(() => {texts}.length === 1, 10000, 'm0 received')")).await;
    // Verdicts from now on, as an app would watch for them.
    two.js(
        &receiver,
        "sb.verdicts = []; sb.client.onStatus((s) => 'recovered' in s && (sb.verdicts.push(s.recovered), sb.notify()))",
    )
    .await;

    srv.stop().await;
    one.js(&sender, "sb.until(() => sb.client.status !== 'connected', 10000, 'the sender saw the server go')").await;
    one.js(&sender, "for (let i = 1; i <= 5; i++) sb.client.emit('announce', { text: 'm' + i })").await;
    // The receiver cannot come back until the sender's queue went out.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    to_receiver.route_to(nowhere);
    to_receiver.cut();
    let srv = common::start_on(Config { bind: addr, ..config }).await;
    one.js(&sender, &format!("sb.until(() => {texts}.length === 6, 20000, 'the queue flushed and published')")).await;
    assert_eq!(two.js(&receiver, &format!("{texts}.length")).await, json!(1), "the receiver was away");
    to_receiver.route_to(addr);
    let back =
        "sb.until(() => sb.client.status === 'connected' && sb.verdicts.length > 0, 20000, 'back, with a verdict')";
    if two.eval(&receiver, back).await.is_err() {
        let state = two.js(&receiver, &format!("JSON.stringify({{ s: sb.statuses, d: sb.client.statusDetail, r: sb.client.recovered, t: {texts} }})")).await;
        panic!("the receiver did not come back with a verdict: {state}");
    }
    // What comes after the verdict (a replay) is in by the echo's answer.
    two.js(&receiver, "sb.client.emitWithAck('echo', 2)").await;
    let got = two.js(&receiver, texts).await;
    let verdicts = two.js(&receiver, "sb.verdicts").await;
    assert_eq!(
        two.js(&receiver, "sb.client.recovered").await,
        verdicts.as_array().and_then(|v| v.last()).cloned().unwrap_or(Value::Null)
    );
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
    (got, verdicts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_get_what_was_published_while_they_were_away_across_a_server_restart() {
    let _one = exclusive().await;
    let (got, verdicts) = restart_while_a_receiver_is_away(10_000).await;
    assert_eq!(got, json!(["m0", "m1", "m2", "m3", "m4", "m5"]), "every announcement once, in order");
    assert_eq!(verdicts, json!([true]), "recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_the_log_cannot_close_is_reported_as_not_recovered() {
    let _one = exclusive().await;
    let (got, verdicts) = restart_while_a_receiver_is_away(2).await;
    assert_eq!(got, json!(["m0", "m4", "m5"]), "what the log still had");
    assert_eq!(verdicts, json!([false]), "not recovered: the app refetches");
}

/// A restart without `--data-dir` forgets every session: the tabs that showed the user go to
/// signed-out, with the reason, once the hub is back (it sees the server treat it as a guest
/// and asks with a refresh, which the server refuses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_forgot_the_session_signs_every_tab_out() {
    let _one = exclusive().await;
    let srv = Server::start(common::config()).await.expect("server");
    let (addr, config) = (srv.addr, common::config());
    let b = Browser::launch().await;
    let mut tabs = Vec::new();
    for _ in 0..2 {
        tabs.push(harness_tab(&b, &srv.url(), FAST, CONNECTED, "connected").await);
    }
    b.js(&tabs[0], "sb.client.login('alice', 'alice-password')").await;
    for t in &tabs {
        b.js(t, "sb.until(() => sb.client.auth?.user === 'alice' && sb.client.rooms.includes('user:alice'), 10000, 'signed in')").await;
    }
    srv.stop().await;
    let srv = common::start_on(Config { bind: addr, ..config }).await;
    for t in &tabs {
        let out = "sb.until(() => sb.client.auth && sb.client.auth.user === null, 15000, 'signed out').then(() => sb.client.auth.signedOut)";
        assert_eq!(b.js(t, out).await, json!(switchboard_shared::contract::SESSION_UNKNOWN));
    }
    b.shutdown().await;
    srv.stop().await;
}
