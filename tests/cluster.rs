//! Three reference-backend nodes, each its own process, on one real Redis, with the real
//! bundle in headless Chromium: rooms, broadcasts and numbered events cross nodes; a node
//! killed mid-stream (SIGKILL) and a Redis killed mid-stream lose nothing the tabs emitted,
//! and deliver nothing twice. The application's record is the demo app's, in Redis.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::backend::Backend;
use common::redis::Redis;
use common::sio::RawSocket;
use common::{by_tab, exclusive, harness_tab, Browser, Tab, CONNECTED};
use proxy::Proxy;
use serde_json::{json, Value};
use std::time::Duration;

/// The demo application's record (`sb:app:recorded`).
const RECORDED: &str = "sb:app:recorded";

/// Fast reconnection so a test spends its time on faults, not on backoff.
const FAST: &str = "{ reconnectionDelay: 100, reconnectionDelayMax: 500 }";

struct Three {
    redis: Redis,
    a: Backend,
    b: Backend,
    c: Backend,
}

async fn three() -> Three {
    let redis = Redis::start().await;
    let url = redis.url();
    let (a, b, c) =
        tokio::join!(Backend::start("a", &url, &[]), Backend::start("b", &url, &[]), Backend::start("c", &url, &[]));
    Three { redis, a, b, c }
}

async fn client(b: &Browser, url: &str) -> Tab {
    harness_tab(b, url, FAST, CONNECTED, "connected").await
}

/// The first event named `name` this tab recorded (`sb.record`), its first argument.
async fn first(b: &Browser, tab: &Tab, name: &str) -> Value {
    let wait =
        format!("sb.until(() => sb.events.find((e) => e.name === '{name}'), 15000, '{name}').then((e) => e.args[0])");
    b.js(tab, &wait).await
}

/// 600 numbered events from three tabs of one browser (one hub, one WebSocket) through a
/// proxy to `node`; `fault` runs once the application recorded `at` of them. Asserts each
/// tab's events reached the application once, in order.
async fn six_hundred_through<F: std::future::Future<Output = ()>>(
    redis: &Redis,
    proxy: &Proxy,
    at: usize,
    fault: F,
) -> Vec<Value> {
    let b = Browser::launch().await;
    let tabs = common::three_clients(&b, &proxy.url()).await;
    let emitting = common::six_hundred(&b, &tabs);
    let faulting = async {
        let before = redis.list_reaches(RECORDED, at, Duration::from_secs(30)).await.len();
        fault.await;
        before
    };
    let (emitted, before) = tokio::join!(emitting, faulting);
    println!("unconfirmed in each tab when it finished emitting: {emitted:?}; recorded before the fault: {before}");
    assert!(before < 600, "the fault must hit mid-stream (all 600 were recorded before it)");
    let records = redis.list_reaches(RECORDED, 600, Duration::from_secs(60)).await;
    if records.len() < 600 {
        for tab in &tabs {
            let detail = "JSON.stringify([sb.client.statusDetail, sb.statuses.slice(-12), sb.client.unconfirmed])";
            println!("tab: {:?}", b.eval(tab, detail).await);
        }
    }
    let got = by_tab(&records);
    for name in ["A", "B", "C"] {
        let ns = got.get(name).cloned().unwrap_or_default();
        assert_eq!(ns, (0..200).collect::<Vec<u64>>(), "tab {name}: every event once, in order");
    }
    b.shutdown().await;
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_broadcasts_and_numbered_events_cross_nodes_between_browser_tabs() {
    let _one = exclusive().await;
    let Three { redis, a, b: node_b, c } = three().await;
    let b = Browser::launch().await;
    // Two origins, two hubs: one on node A, one on node C.
    let (on_a, on_c) = (client(&b, &a.url()).await, client(&b, &c.url()).await);
    for tab in [&on_a, &on_c] {
        b.js(tab, "sb.record('chat', 'announce', 'note')").await;
        b.js(tab, "sb.client.join('team:1')").await;
    }
    // Presence: each tab's list of the room names both tabs, on both nodes.
    let mut ids = vec![b.js(&on_a, "sb.client.id").await, b.js(&on_c, "sb.client.id").await];
    ids.sort_by_key(|v| v.to_string());
    let want = serde_json::to_string(&serde_json::to_string(&ids).expect("ids")).expect("a JS string");
    for tab in [&on_a, &on_c] {
        let listed = format!(
            "sb.until(() => JSON.stringify(sb.client.members('team:1').flatMap((m) => m.tabs).sort()) === {want}, 15000, 'both nodes listed')"
        );
        b.js(tab, &listed).await;
    }
    // A room event from the tab on A reaches the tab on C.
    b.js(&on_a, "sb.client.emit('chat', { room: 'team:1', text: 'from a' })").await;
    assert_eq!(first(&b, &on_c, "chat").await["text"], json!("from a"));
    // `to(room).emit` from C reaches A.
    b.js(&on_c, "sb.client.to('team:1').emit('note', { from: 'c' })").await;
    assert_eq!(first(&b, &on_a, "note").await, json!({ "from": "c" }));
    // A numbered broadcast published on node B (by a plain Socket.IO client there) reaches both.
    let mut on_b = RawSocket::connect(node_b.addr).await;
    on_b.send(r#"42["announce","from b"]"#).await;
    for tab in [&on_a, &on_c] {
        assert_eq!(first(&b, tab, "announce").await, json!("from b"));
    }
    b.shutdown().await;
    for node in [a, node_b, c] {
        node.kill().await;
    }
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_and_delivers_nothing_twice() {
    let _one = exclusive().await;
    let Three { redis, a, b, c } = three().await;
    let proxy = Proxy::start(a.addr).await;
    let (log_a, to_b) = (a.log.clone(), b.addr);
    let kill = async {
        // Node A's receipts stop reaching the hub while it goes on handling what the hub
        // sends: 50 more events reach the application unacknowledged, so the hub sends them
        // again after the crash, to node B, which must know they were handled.
        proxy.hold_replies(true);
        redis.list_reaches(RECORDED, 150, Duration::from_secs(30)).await;
        // The load balancer's node dies: a crash, nothing drained. Its hub reconnects through
        // the proxy, which now sends it to node B.
        proxy.route_to(to_b);
        a.kill().await;
        proxy.cut();
        proxy.hold_replies(false);
    };
    let records = six_hundred_through(&redis, &proxy, 100, kill).await;
    println!(
        "600/600 once in order across a killed node; proxy connections: {}; node a's last lines: {:?}",
        proxy.connections.load(std::sync::atomic::Ordering::Relaxed),
        log_a.lock().map(|l| l.iter().rev().take(3).cloned().collect::<Vec<_>>()).unwrap_or_default()
    );
    assert_eq!(records.len(), 600);
    let metrics = common::http::get(b.addr, "/debug/metrics", None).await;
    let dropped = metrics.split("\r\n\r\n").nth(1).and_then(|body| serde_json::from_str::<Value>(body).ok());
    let dropped = dropped.map(|m| m["duplicates_dropped"].clone()).unwrap_or_default();
    println!("node b dropped {dropped} resent emits that node a had handled");
    assert!(dropped.as_u64().is_some_and(|n| n > 0), "the resends of what node a handled reached node b: {dropped}");
    for node in [b, c] {
        node.kill().await;
    }
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_mid_stream_loses_nothing_and_service_resumes() {
    let _one = exclusive().await;
    let Three { redis, a, b, c } = three().await;
    let proxy = Proxy::start(b.addr).await;
    let restart = async {
        let waited = b.metric("redis_waits").await;
        redis.kill().await;
        // Down until the node that carries the stream waits on it (its steps are retried).
        let noticed = || async { (b.metric("redis_waits").await > waited).then_some(()) };
        common::wait_for("node B waiting on Redis", Duration::from_secs(10), noticed).await;
        redis.start_again().await;
    };
    let records = six_hundred_through(&redis, &proxy, 100, restart).await;
    assert_eq!(records.len(), 600);
    // Service resumed across nodes: a numbered broadcast from node C reaches a tab on node A.
    let br = Browser::launch().await;
    let tab = client(&br, &a.url()).await;
    br.js(&tab, "sb.record('announce')").await;
    let mut on_c = RawSocket::connect(c.addr).await;
    on_c.send(r#"42["announce","after the restart"]"#).await;
    assert_eq!(first(&br, &tab, "announce").await, json!("after the restart"));
    br.shutdown().await;
    for node in [a, b, c] {
        node.kill().await;
    }
    redis.stop().await;
}

/// Sign-in across nodes (every node requires it): browser one signs in through node A, and
/// its hub, moved by the load balancer to node C, is still signed in there; browser two signs
/// in through node B and revokes browser one's session there: browser one's tabs, on node C,
/// are told and signed out (prints how long that took).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_in_on_one_node_lives_on_another_and_a_revocation_through_a_third_signs_it_out() {
    let _one = exclusive().await;
    let redis = Redis::start().await;
    let url = redis.url();
    let auth = ["--require-auth"];
    let (a, b, c) = tokio::join!(
        Backend::start("a", &url, &auth),
        Backend::start("b", &url, &auth),
        Backend::start("c", &url, &auth)
    );
    let (lb_one, lb_two) = (Proxy::start(a.addr).await, Proxy::start(b.addr).await);
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let tabs = common::auth_tabs(&one, &lb_one.url(), 2).await;
    common::login(&one, &tabs).await;
    // The load balancer moves browser one to node C: its session is known there.
    lb_one.route_to(c.addr);
    // Each tab's statuses so far: its reconnection is what comes after (a reconnection may
    // report `connected` twice, the second with its `recovered` verdict).
    let mut seen = Vec::new();
    for tab in &tabs {
        seen.push(one.js(tab, "sb.statuses.length").await);
    }
    lb_one.cut();
    for (tab, n) in tabs.iter().zip(seen) {
        one.js(tab, "sb.withSecurity()").await;
        let back = format!("sb.until(() => sb.statuses.slice({n}).includes('reconnecting') && sb.client.status === 'connected', 15000, 'reconnected')");
        one.js(tab, &back).await;
        assert_eq!(one.js(tab, "sb.auth && sb.auth.user").await, json!("alice"), "still signed in on node C");
    }
    assert_eq!(one.js(&tabs[0], "sb.client.emitWithAck('echo', 'on c')").await, json!("on c"));
    // Browser two, through node B, revokes browser one's session.
    let mine = common::auth_tabs(&two, &lb_two.url(), 1).await;
    common::login(&two, &mine).await;
    let revoke = format!("{}.then((r) => r.json())", common::post_js("/auth/sessions/revoke", "{ target: 'others' }"));
    let t = std::time::Instant::now();
    assert_eq!(two.js(&mine[0], &revoke).await["revoked"], json!(1));
    let mut told = Vec::new();
    for tab in &tabs {
        let s = one.js(tab, "sb.until(() => sb.client.security.state === 'revoked', 10000, 'revoked').then(() => sb.client.security)").await;
        assert_eq!(s["lastEvent"]["event"], "SECURITY_SESSION_REVOKED");
        one.js(tab, "sb.until(() => sb.auth && !sb.auth.user, 10000, 'signed out')").await;
        told.push(t.elapsed().as_millis());
    }
    println!("revoked through node B: browser one's tabs on node C signed out after {told:?} ms");
    one.shutdown().await;
    two.shutdown().await;
    for node in [a, b, c] {
        node.kill().await;
    }
    redis.stop().await;
}

/// One user's tabs in three browsers, each on its own node: they agree on one `user`-scope
/// leader, and when its tab closes another leads under a higher term (sampled every 50 ms in
/// every tab: never two tabs leading in one term); a set written from nodes A and C at once
/// holds both writers' elements in every tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_tabs_on_three_nodes_elect_one_leader_and_share_state() {
    let _one = exclusive().await;
    let Three { redis, a, b, c } = three().await;
    let browsers = [Browser::launch().await, Browser::launch().await, Browser::launch().await];
    let mut all = Vec::new();
    for (br, node) in browsers.iter().zip([&a, &b, &c]) {
        let tab = harness_tab(br, &node.url(), "{ leaderScope: 'user' }", CONNECTED, "connected").await;
        br.js(&tab, "sb.watchLeader(); sb.client.login('alice', 'alice-password')").await;
        br.js(&tab, "sb.until(() => sb.client.auth && sb.client.auth.user === 'alice', 15000, 'signed in')").await;
        br.js(&tab, "sb.withState().then(() => { sb.watch('set:tags'); return true; })").await;
        all.push((br, tab));
    }
    let agree = async |all: &[(&Browser, Tab)], above: u64| -> Value {
        loop {
            let mut seen = Vec::new();
            for (br, t) in all {
                let wait = format!("sb.until(() => sb.client.leader && sb.client.leader.term > {above} && sb.client.leader.leader, 15000, 'a leader above term {above}').then(() => sb.client.leader)");
                seen.push(br.js(t, &wait).await);
            }
            if seen.windows(2).all(|w| w[0]["term"] == w[1]["term"] && w[0]["leader"] == w[1]["leader"]) {
                return seen[0].clone();
            }
            let term = seen.iter().filter_map(|s| s["term"].as_u64()).max().unwrap_or(0);
            for (br, t) in all {
                br.js(t, &format!("sb.until(() => sb.client.leader.term >= {term}, 15000, 'term {term}')")).await;
            }
        }
    };
    let all_refs: Vec<(&Browser, Tab)> = all.iter().map(|(br, t)| (*br, t.clone())).collect();
    let first = agree(&all_refs, 0).await;
    let mut ids = Vec::new();
    for (br, t) in &all_refs {
        ids.push(br.js(t, "sb.client.id").await);
    }
    let leader = ids.iter().position(|id| *id == first["leader"]).expect("the leader is one of the three tabs");
    // From here on the journals hold only the user scope's terms (before signing in, each
    // browser's tab led its own browser scope).
    for (br, t) in &all_refs {
        br.js(t, &format!("sb.claims = sb.claims.filter((term) => term >= {}); sb.leaders = []; true", first["term"]))
            .await;
    }
    // Shared state: nodes A and C write one set at once.
    let writes = |from: &str| {
        format!("Promise.all(Array.from({{ length: 10 }}, (_, i) => sb.client.state.set('set:tags', ['{from}' + i]))).then(() => 'ok')")
    };
    let (wa, wc) = (writes("a"), writes("c"));
    let (x, y) = tokio::join!(all_refs[0].0.js(&all_refs[0].1, &wa), all_refs[2].0.js(&all_refs[2].1, &wc));
    assert_eq!((x, y), (json!("ok"), json!("ok")));
    for (br, t) in &all_refs {
        let wait = "sb.until(() => sb.client.state.pending === 0 && (sb.client.state.get('set:tags') || []).length === 20, 15000, 'both writers').then(() => sb.client.state.get('set:tags').slice().sort())";
        let tags = br.js(t, wait).await;
        assert_eq!(tags.as_array().map(Vec::len), Some(20), "{tags}");
    }
    // The leader's tab closes: another leads, on every node, under a higher term.
    let (lb, lt) = &all_refs[leader];
    lb.close_tab(lt).await;
    let rest: Vec<(&Browser, Tab)> =
        all_refs.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, x)| x.clone()).collect();
    let next = agree(&rest, first["term"].as_u64().unwrap_or(0)).await;
    assert_ne!(next["leader"], first["leader"]);
    // The new leader's tab samples its claim (every 50 ms; a report may have raised the term
    // again since, with the same holder).
    for (br, t) in &rest {
        let wait = format!(
            "sb.client.id !== {} || sb.poll(() => sb.claims.some((term) => term >= {}), 5000, 'a sampled claim')",
            next["leader"], next["term"]
        );
        if let Err(e) = br.eval(t, &format!("Promise.resolve({wait}).then(() => true)")).await {
            let detail = br
                .js(
                    t,
                    "JSON.stringify([sb.client.id, sb.client.leader, sb.claims, sb.leaders, document.visibilityState])",
                )
                .await;
            panic!("{e}: {detail}");
        }
    }
    // Every announcement names one leader per term, and no term was claimed (sampled every
    // 50 ms) by two tabs.
    let (mut announced, mut claims) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
    for (i, (br, t)) in rest.iter().enumerate() {
        for entry in br.js(t, "sb.leaders").await.as_array().cloned().unwrap_or_default() {
            if let Some(p) = announced.insert(entry[1].as_u64().unwrap_or(0), entry[0].clone()) {
                assert_eq!(p, entry[0], "two leaders announced for term {}", entry[1]);
            }
        }
        for term in br.js(t, "[...new Set(sb.claims)]").await.as_array().cloned().unwrap_or_default() {
            if let Some(other) = claims.insert(term.as_u64().unwrap_or(0), i) {
                assert_eq!(other, i, "two tabs on different nodes claimed term {term}");
            }
        }
    }
    assert!(!claims.is_empty(), "the new leader claimed its term");
    println!("leaders: term {} then term {}; terms claimed: {claims:?}", first["term"], next["term"]);
    for br in browsers {
        br.shutdown().await;
    }
    for node in [a, b, c] {
        node.kill().await;
    }
    redis.stop().await;
}
