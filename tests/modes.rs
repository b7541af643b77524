//! The three modes, one API: the foundation set (tabs sharing a connection, a broadcast,
//! per-tab acks, rooms, binary, sign-in across tabs) in headless Chromium with the modes a
//! browser without SharedWorker (`leader-tab`) or without Web Locks too (`per-tab`) gets,
//! those APIs removed by an init script before the page's own; and the `leader-tab`
//! failovers: the hub tab closed, crashed and frozen while three tabs emit.

mod common;

use common::{exclusive, server, Browser, Tab};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

// The harness page as a browser without SharedWorker (or Web Locks either): static/harness.html
// removes them before the client loads (a query, not an init script: WebDriver classic has none).
const NO_SHARED_WORKER: &str = "?without=SharedWorker";
const NO_LOCKS: &str = "?without=SharedWorker,locks";

/// Three connected tabs; each lists the tabs sharing its connection (itself only per tab).
async fn tabs(b: &Browser, url: &str, page: &str, shared: bool) -> Vec<Tab> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let tab = b.open(&format!("{url}/harness.html{page}")).await;
        b.js(&tab, "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 15000, 'connected'))").await;
        out.push(tab);
    }
    let n = if shared { 3 } else { 1 };
    for tab in &out {
        b.js(tab, &format!("sb.until(() => sb.tabs.length === {n}, 15000, 'the tabs sharing its connection')")).await;
    }
    out
}

/// The foundation set in `mode`: `sockets` WebSockets for three tabs.
async fn foundation(mode: &str, init: Option<&str>, sockets: u64) {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let t = tabs(&b, &srv.url(), init.unwrap_or(""), sockets == 1).await;
    for tab in &t {
        assert_eq!(b.js(tab, "sb.client.mode").await, json!(mode));
        b.js(tab, "sb.record('news', 'chat', 'blob')").await;
    }
    // Per-tab acks (also proves each hub has the subscriptions: one channel, in order).
    for (i, tab) in t.iter().enumerate() {
        assert_eq!(b.js(tab, &format!("sb.client.emitWithAck('echo', {i})")).await, json!(i));
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), sockets, "WebSockets for three tabs in {mode}");
    // A broadcast reaches every tab.
    srv.io.emit("news", &json!({"n": 1})).await.expect("broadcast");
    for tab in &t {
        let got = b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'news')).then((e) => e.args)").await;
        assert_eq!(got, json!([{"n": 1}]));
    }
    // Rooms: members only.
    b.js(&t[0], "sb.client.join('r1')").await;
    b.js(&t[1], "sb.client.join('r1')").await;
    b.js(&t[0], "sb.client.emit('chat', { room: 'r1', text: 'hi' })").await;
    for tab in &t[..2] {
        let got =
            b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'chat')).then((e) => e.args[0].text)").await;
        assert_eq!(got, json!("hi"));
    }
    srv.io.emit("news", &json!({"n": 2})).await.expect("broadcast");
    let seen = b
        .js(&t[2], "sb.until(() => sb.events.some((e) => e.name === 'news' && e.args[0].n === 2)).then(() => sb.events.map((e) => e.name))")
        .await;
    assert_eq!(seen, json!(["news", "news"]), "a tab outside r1 gets no r1 event");
    // Binary both ways.
    let back = b
        .js(
            &t[2],
            "sb.client.emitWithAck('bin-echo', new Uint8Array([1, 2, 255])).then((r) => Array.from(new Uint8Array(r)))",
        )
        .await;
    assert_eq!(back, json!([1, 2, 255]));
    srv.io.emit("blob", &bytes::Bytes::from_static(&[9, 8, 7])).await.expect("emit binary");
    for tab in &t {
        let got = b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'blob')).then((e) => Array.from(new Uint8Array(e.args[0])))").await;
        assert_eq!(got, json!([9, 8, 7]));
    }
    // Sign-in in one tab signs every tab in.
    for tab in &t {
        b.js(tab, "sb.client.onAuth((a) => { sb.auth = a; sb.notify(); })").await;
    }
    b.js(&t[0], "sb.client.login('alice', 'alice-password')").await;
    for tab in &t {
        b.js(tab, "sb.until(() => sb.auth && sb.auth.user === 'alice' && sb.client.status === 'connected', 15000, 'signed in')").await;
    }
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_foundation_works_with_a_shared_worker() {
    foundation("shared-worker", None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_foundation_works_without_shared_worker_through_a_leader_tab() {
    foundation("leader-tab", Some(NO_SHARED_WORKER), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_foundation_works_without_shared_worker_or_web_locks_one_hub_per_tab() {
    foundation("per-tab", Some(NO_LOCKS), 3).await;
}

/// How the `leader-tab` hub's tab goes away.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Close,
    Crash,
    Freeze,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `count` numbered `record` events from a tab, yielding every 10 (a MessageChannel round,
/// which background tabs do not throttle) so the fault lands mid-stream.
fn emit_numbered(name: &str, count: u32) -> String {
    format!(
        "(async () => {{ for (let n = 0; n < {count}; n++) {{ sb.client.emit('record', {{ tab: '{name}', n }}); \
         if (n % 10 === 9) await new Promise((r) => {{ const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0); }}); }} }})()"
    )
}

/// Leader-tab mode: the hub's tab (the first, which took the lock) closes, crashes or
/// freezes while three other tabs emit 200 numbered events each: all 600 reach the
/// application once and in order per tab, through a hub another tab starts. A frozen hub tab
/// that thaws steps down: it opens no WebSocket and its tab follows the new hub.
async fn failover(fault: Fault) {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let page = NO_SHARED_WORKER;
    let mut all = tabs(&b, &srv.url(), page, true).await;
    all.push(b.open(&format!("{}/harness.html{page}", srv.url())).await);
    b.js(&all[3], "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 15000, 'connected'))").await;
    for tab in &all {
        b.js(tab, "sb.until(() => sb.tabs.length === 4, 15000, 'four tabs')").await;
    }
    let (hub_tab, emitters) = (all[0].clone(), all[1..].to_vec());
    // What a new hub must learn again from each tab: its subscriptions and its rooms.
    for tab in &emitters {
        b.js(tab, "sb.record('news', 'chat'); sb.client.join('kept')").await;
    }
    let names = ["A", "B", "C"];
    let scripts: Vec<String> = names.iter().map(|n| emit_numbered(n, 200)).collect();
    let emitting = futures_util::future::join_all(emitters.iter().zip(&scripts).map(|(tab, script)| b.js(tab, script)));
    let strike = async {
        srv.recorded_at_least(90, Duration::from_secs(30)).await;
        let at = wall_ms();
        match fault {
            Fault::Close => b.close_tab(&hub_tab).await,
            Fault::Crash => b.crash_tab(&hub_tab),
            Fault::Freeze => {
                b.call(Some(&hub_tab.session), "Page.setWebLifecycleState", json!({"state": "frozen"}))
                    .await
                    .expect("freeze");
            }
        }
        at
    };
    let (_, struck) = tokio::join!(emitting, strike);
    let records = srv.recorded_at_least(600, Duration::from_secs(60)).await;
    let mut by_tab: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for r in &records {
        by_tab.entry(r["tab"].as_str().unwrap_or("?").into()).or_default().push(r["n"].as_u64().unwrap_or(u64::MAX));
    }
    for name in names {
        assert_eq!(
            by_tab.get(name).cloned().unwrap_or_default(),
            (0..200).collect::<Vec<u64>>(),
            "{fault:?}: tab {name}"
        );
    }
    assert_eq!(records.len(), 600, "{fault:?}: each event once");
    // Failover: from the fault to the first emitter connected through the new hub.
    let mut back = Vec::new();
    for tab in &emitters {
        let at = b
            .js(tab, &format!("sb.until(() => sb.statusTimes.some((t, i) => t >= {struck} && sb.statuses[i] === 'connected'), 30000, 'connected again').then(() => sb.statusTimes.find((t, i) => t >= {struck} && sb.statuses[i] === 'connected'))"))
            .await;
        back.push(at.as_u64().unwrap_or(0).saturating_sub(struck));
    }
    let failover = back.iter().copied().min().unwrap_or(0);
    println!(
        "leader-tab failover after the hub tab was {fault:?}: {failover} ms (slowest tab {} ms)",
        back.iter().max().unwrap_or(&0)
    );
    assert!(failover < 20_000, "{fault:?}: failover took {failover} ms");
    // The new hub joined the room again (a chat sent after it reaches the room) and has the
    // tabs' subscriptions (a broadcast reaches them).
    b.js(&emitters[0], "sb.client.emit('chat', { room: 'kept', text: 'after' })").await;
    srv.io.emit("news", &json!("after the failover")).await.expect("broadcast");
    for tab in &emitters {
        b.js(tab, "sb.until(() => sb.events.some((e) => e.name === 'news'), 10000, 'subscribed again')").await;
    }
    for tab in &emitters[1..] {
        b.js(tab, "sb.until(() => sb.events.some((e) => e.name === 'chat'), 10000, 'in the room again')").await;
    }
    // Each tab attached to the new hub once (the hub refuses a second Hello on a port).
    for tab in &emitters {
        let twice = b.js(tab, "sb.warnings.filter((w) => w.includes('Hello sent twice'))").await;
        assert_eq!(twice, json!([]), "{fault:?}: a tab attached twice");
    }
    if let Fault::Freeze = fault {
        // Thawed, the old hub steps down: no new WebSocket, and its tab follows the new hub.
        let sockets = srv.stats.ws_upgrades.load(Ordering::Relaxed);
        b.call(Some(&hub_tab.session), "Page.setWebLifecycleState", json!({"state": "active"})).await.expect("thaw");
        b.js(&hub_tab, "sb.until(() => sb.client.status === 'connected' && sb.statuses.lastIndexOf('connecting') > 0, 15000, 'following the new hub')").await;
        b.js(&hub_tab, "sb.record('after'); sb.client.emitWithAck('echo', 1)").await;
        srv.io.emit("after", &json!("thawed")).await.expect("broadcast");
        b.js(
            &hub_tab,
            "sb.until(() => sb.events.some((e) => e.name === 'after'), 10000, 'a broadcast through the new hub')",
        )
        .await;
        assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), sockets, "the thawed hub opened no WebSocket");
    }
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_tab_failover_when_the_hub_tab_closes() {
    failover(Fault::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_tab_failover_when_the_hub_tab_crashes() {
    failover(Fault::Crash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_tab_failover_when_the_hub_tab_freezes() {
    failover(Fault::Freeze).await;
}

/// A leader-tab hub kept busy (5 tabs; a burst of 100 events of 16 KB, then an event every
/// 5 ms for 4 s while a sixth tab joins, as in `switchboard bench`) keeps its lease: only a
/// gap in its wakes (a freeze) ends it, never load. No failover happens (one WebSocket, no
/// tab ever back to `connecting`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_leader_tab_hub_keeps_its_lease() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let page = NO_SHARED_WORKER;
    let mut t = Vec::new();
    for _ in 0..5 {
        let tab = b.open(&format!("{}/harness.html{page}", srv.url())).await;
        b.js(&tab, "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 15000, 'connected'))").await;
        t.push(tab);
    }
    for tab in &t {
        b.js(tab, "sb.until(() => sb.tabs.length === 5, 15000, 'five tabs')").await;
        b.js(tab, "sb.record('big', 'tick'); sb.before = sb.statuses.length; sb.client.emitWithAck('echo', 1)").await;
    }
    let payload = "x".repeat(16 * 1024);
    for i in 0..100u32 {
        srv.io.emit("big", &json!({"i": i, "p": payload})).await.expect("broadcast");
    }
    for tab in &t {
        b.js(tab, "sb.until(() => sb.events.filter((e) => e.name === 'big').length >= 100, 30000, 'the burst')").await;
    }
    let ticker = {
        let io = srv.io.clone();
        tokio::spawn(async move {
            loop {
                let _ = io.emit("tick", &0).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let extra = b.open(&format!("{}/harness.html{page}", srv.url())).await;
    b.js(&extra, "sb.start().then(() => sb.until(() => sb.client.status === 'connected' && sb.tabs.length === 6, 15000, 'joined'))").await;
    // The hub keeps relaying ticks for longer than its lease (3 s) and then some: every tab
    // hears ticks 4 s after this point (a lease that lapsed under load would show).
    for tab in &t {
        b.js(tab, "sb.mark = performance.timeOrigin + performance.now()").await;
    }
    let relayed =
        "sb.until(() => sb.events.some((e) => e.name === 'tick' && e.at > sb.mark + 4000), 20000, 'ticks 4 s on')";
    for tab in &t {
        b.js(tab, relayed).await;
    }
    ticker.abort();
    for tab in &t {
        let after = b.js(tab, "sb.statuses.slice(sb.before)").await;
        assert_eq!(after, json!([]), "no failover: no status change since the load began");
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "the same hub, the same WebSocket");
    b.shutdown().await;
    srv.stop().await;
}

/// `per-tab` (no Web Locks) keeps the offline queue too: each hub stores it in a database of
/// its own; a tab that queued 20 events while the server was down and then closed leaves
/// them there, and another tab's hub adopts them once that hub has gone quiet and delivers
/// them, once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tab_hubs_deliver_what_a_closed_tab_queued() {
    let _one = exclusive().await;
    let srv = server().await;
    let config = switchboard::server::Config { bind: srv.addr, ..common::config() };
    let b = Browser::launch().await;
    let page = NO_LOCKS;
    let fast = "{ reconnectionDelay: 100, reconnectionDelayMax: 500 }";
    let a = b.open(&format!("{}/harness.html{page}", srv.url())).await;
    b.js(
        &a,
        &format!("sb.start({fast}).then(() => sb.until(() => sb.client.status === 'connected', 15000, 'connected'))"),
    )
    .await;
    srv.stop().await;
    b.js(&a, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    b.js(&a, "for (let n = 0; n < 20; n++) sb.client.emit('record', { tab: 'P', n })").await;
    b.js(&a, "sb.until(() => sb.client.unconfirmed === 0, 15000, 'stored by its hub')").await;
    b.close_tab(&a).await;
    let srv = common::start_on(config).await;
    let other = b.open(&format!("{}/harness.html{page}", srv.url())).await;
    b.js(
        &other,
        &format!("sb.start({fast}).then(() => sb.until(() => sb.client.status === 'connected', 15000, 'connected'))"),
    )
    .await;
    let records = srv.recorded_at_least(20, Duration::from_secs(30)).await;
    let ns: Vec<u64> = records.iter().filter(|r| r["tab"] == "P").filter_map(|r| r["n"].as_u64()).collect();
    assert_eq!(ns, (0..20).collect::<Vec<u64>>(), "adopted and delivered once, in order");
    b.shutdown().await;
    srv.stop().await;
}
