//! End-to-end: the real bundle in headless Chromium against the reference backend on an
//! ephemeral 127.0.0.1 port. Every wait is on an event (the harness page's `sb.until`),
//! never a sleep.

mod common;

use common::{exclusive, server, Browser, Tab};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Instant;
use switchboard_shared::port::{ErrorCode, FromHub};
use switchboard_shared::wire;

async fn open_clients(b: &Browser, url: &str, n: usize) -> Vec<Tab> {
    let start = "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 10000, 'connected'))";
    common::open_tabs(b, url, n, start).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tabs_share_one_websocket_and_all_receive_a_broadcast() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 3).await;
    for tab in &tabs {
        b.js(tab, "sb.record('news')").await;
    }
    // Subscriptions travel tab -> hub over the port; an echo round trip from each tab after
    // subscribing proves the hub has processed them (one port, in order).
    for tab in &tabs {
        b.js(tab, "sb.client.emitWithAck('echo', 1)").await;
    }
    // UTF-8 of one to four bytes (the hub reads text frames into its memory at 3 bytes per
    // UTF-16 unit at most: a surrogate pair is two units for four bytes).
    let text = "héllo ✓ 😀 — 𝄞";
    srv.io.emit("news", &json!({"n": 1, "text": text})).await.expect("broadcast");
    for tab in &tabs {
        let args = b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'news')).then((e) => e.args)").await;
        assert_eq!(args, json!([{"n": 1, "text": text}]));
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "the server saw exactly one WebSocket for three tabs");
    assert_eq!(srv.stats.sockets_total.load(Ordering::Relaxed), 1);
    b.shutdown().await;
    srv.stop().await;
}

/// A burst the hub cannot post one by one (it batches several messages per postMessage
/// while busy) still reaches every tab whole and in order, binary attachments included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_every_tab_whole_and_in_order() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 3).await;
    for tab in &tabs {
        b.js(tab, "sb.record('burst'); sb.client.emitWithAck('echo', 1)").await;
    }
    let count = 2000u32;
    for i in 0..count {
        if i % 500 == 0 {
            let bin = bytes::Bytes::from(vec![i as u8, 1, 2]);
            srv.io.emit("burst", &(json!({"i": i, "bin": true}), bin)).await.expect("broadcast");
        } else {
            srv.io.emit("burst", &json!({"i": i, "pad": "x".repeat(100)})).await.expect("broadcast");
        }
    }
    for tab in &tabs {
        let got = b
            .js(
                tab,
                &format!(
                    "sb.until(() => sb.events.length >= {count}, 30000, 'the burst').then(() =>
                        sb.events.map((e) => e.args[0].bin ? [e.args[0].i, Array.from(new Uint8Array(e.args[1]))] : e.args[0].i))"
                ),
            )
            .await;
        let expect: Vec<serde_json::Value> =
            (0..count).map(|i| if i % 500 == 0 { json!([i, [i as u8, 1, 2]]) } else { json!(i) }).collect();
        assert_eq!(got, json!(expect));
    }
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_with_ack_from_two_tabs_at_once_gets_each_its_own_reply() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 2).await;
    let ask = |name: &str| {
        format!("Promise.all([...Array(50).keys()].map((i) => sb.client.emitWithAck('echo', {{ tab: '{name}', i }})))")
    };
    let (ask_a, ask_b) = (ask("A"), ask("B"));
    let (a, c) = tokio::join!(b.js(&tabs[0], &ask_a), b.js(&tabs[1], &ask_b));
    let expect = |name: &str| json!((0..50).map(|i| json!({"tab": name, "i": i})).collect::<Vec<_>>());
    assert_eq!(a, expect("A"));
    assert_eq!(c, expect("B"));

    // A server that never acks: the promise rejects with socket.io-client's message.
    let tab = b.open(&format!("{}/harness.html", srv.url())).await;
    let err = b
        .js(&tab, "sb.start({ ackTimeout: 300 }).then(() => sb.client.emitWithAck('no-such-handler', 1)).then(() => 'resolved', (e) => e.message)")
        .await;
    assert_eq!(err, json!("operation has timed out"));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_events_reach_members_only_and_the_last_leave_leaves_on_the_server() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 3).await;
    for tab in &tabs {
        b.js(tab, "sb.record('chat', 'announce')").await;
    }
    b.js(&tabs[0], "sb.client.join('r1')").await;
    b.js(&tabs[1], "sb.client.join('r1')").await;
    assert_eq!(srv.room_size("r1"), 1, "one server-side join for two tabs");

    b.js(&tabs[0], "sb.client.emit('chat', { room: 'r1', text: 'hi' })").await;
    for tab in &tabs[..2] {
        let got =
            b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'chat')).then((e) => e.args[0].text)").await;
        assert_eq!(got, json!("hi"));
    }
    // The hub forwards server events in order: once tab 3 has the later announcement, it
    // would already hold the chat message had it been routed there.
    b.js(&tabs[0], "sb.client.emit('announce', 'after')").await;
    let seen = b
        .js(
            &tabs[2],
            "sb.until(() => sb.events.find((e) => e.name === 'announce')).then(() => sb.events.map((e) => e.name))",
        )
        .await;
    assert_eq!(seen, json!(["announce"]), "a tab outside r1 gets no r1 event");

    b.js(&tabs[0], "sb.client.leave('r1')").await;
    assert_eq!(srv.room_size("r1"), 1, "tab 2 is still in r1");
    b.js(&tabs[1], "sb.client.leave('r1')").await;
    assert_eq!(srv.room_size("r1"), 0, "the hub left r1 on the server with its last tab");
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_join_leaves_no_trace_in_the_tab_nor_on_a_new_hub() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tab = &open_clients(&b, &srv.url(), 1).await[0];
    b.js(tab, "sb.client.join('team')").await;
    // The server refuses (the demo application's policy): the join fails with its reason.
    let refused = b.js(tab, "sb.client.join('locked:vault').then(() => 'joined', (e) => e.message)").await;
    assert!(refused.as_str().is_some_and(|m| m.contains("locked rooms")), "{refused}");
    // A hierarchy room is refused by the hub itself, without asking.
    let assigned = b.js(tab, "sb.client.join('user:bob').then(() => 'joined', (e) => e.message)").await;
    assert!(assigned.as_str().is_some_and(|m| m.contains("assigned by the server")), "{assigned}");
    // (Its device room comes and goes with the device cookie, given on the first session check.)
    let rooms =
        "sb.client.rooms.filter((r) => !r.startsWith('device:')).map((r) => r == 'tab:' + sb.client.id ? 'own' : r)";
    assert_eq!(b.js(tab, rooms).await, json!(["own", "team"]), "its own room and the joined one; not the refused");
    assert_eq!(srv.stats.joins_refused.load(Ordering::Relaxed), 1);
    // The hub dies; the tab starts a new one and joins its rooms again: not the refused one.
    let workers = common::shared_worker_targets(&b).await;
    let before = srv.stats.sockets_total.load(Ordering::Relaxed);
    let seen = b.js(tab, "sb.statuses.length").await;
    b.send(None, "Target.closeTarget", json!({"targetId": workers[0]}));
    let new_hub = format!(
        "sb.until(() => sb.statuses.lastIndexOf('connecting') >= {seen} && sb.client.status === 'connected', 10000, 'a new hub')"
    );
    b.js(tab, &new_hub).await;
    // An ack round trip after the hub's rejoin: the server has handled the join by then.
    b.js(tab, "sb.client.emitWithAck('echo', 'after the rejoin')").await;
    let rejoined = srv.stats.sockets_total.load(Ordering::Relaxed);
    assert!(rejoined > before, "a new socket through a new hub");
    assert_eq!(srv.room_size("team"), 1, "the room is joined again");
    assert_eq!(srv.stats.joins_refused.load(Ordering::Relaxed), 1, "the refused room is not asked for again");
    assert_eq!(b.js(tab, rooms).await, json!(["own", "team"]));
    b.shutdown().await;
    srv.stop().await;
}

/// Rooms are per namespace: tabs of `/` and `/chat` share one WebSocket, join a room of the
/// same name in their own namespace, and a room event reaches only its namespace's members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_namespaces_share_one_websocket_with_rooms_of_their_own() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let mut tabs = Vec::new();
    for nsp in ["/", "/chat", "/chat"] {
        let tab = b.open(&format!("{}/harness.html", srv.url())).await;
        let start = format!("sb.start({{ namespace: '{nsp}' }}).then(() => sb.until(() => sb.client.status === 'connected', 10000, 'connected'))");
        b.js(&tab, &start).await;
        b.js(&tab, "sb.record('chat'); sb.client.join('r')").await;
        tabs.push(tab);
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "one WebSocket for two namespaces");
    assert_eq!((srv.room_size_in("/", "r"), srv.room_size_in("/chat", "r")), (1, 1), "one join per namespace");
    b.js(&tabs[1], "sb.client.emit('chat', { room: 'r', text: 'in chat' })").await;
    for tab in &tabs[1..] {
        let got =
            b.js(tab, "sb.until(() => sb.events.find((e) => e.name === 'chat')).then((e) => e.args[0].text)").await;
        assert_eq!(got, json!("in chat"));
    }
    b.js(&tabs[0], "sb.client.emit('chat', { room: 'r', text: 'in main' })").await;
    let got = b
        .js(
            &tabs[0],
            "sb.until(() => sb.events.find((e) => e.name === 'chat')).then(() => sb.events.map((e) => e.args[0].text))",
        )
        .await;
    assert_eq!(got, json!(["in main"]), "the main namespace's room only");
    let acks = b.js(&tabs[2], "sb.client.emitWithAck('echo', 'from chat')").await;
    assert_eq!(acks, json!("from chat"));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_tab_of_a_fresh_browser_always_connects() {
    let _one = exclusive().await;
    let srv = server().await;
    let runs = 20u64;
    let (mut times, mut taken) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let b = Browser::launch().await;
        let tab = b.open(&format!("{}/harness.html", srv.url())).await;
        let t0 = Instant::now();
        let r = b
            .eval(&tab, "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 10000, 'connected'))")
            .await;
        assert!(r.is_ok(), "fresh start {run}: first tab did not connect: {r:?}");
        times.push(t0.elapsed().as_millis());
        // The WebSocket the bootstrap opened from the Hello while the wasm loaded is the
        // hub's: one WebSocket per browser, no second one.
        assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), run + 1, "fresh start {run}: one WebSocket");
        // And one CONNECT: a CONNECT the bootstrap sent on it is the hub's, not followed by
        // the hub's own (the server would have seen a second socket of the namespace).
        assert_eq!(srv.stats.sockets_total.load(Ordering::Relaxed), run + 1, "fresh start {run}: one Socket.IO socket");
        // Taken by the hub (with the CONNECT the bootstrap sent when the handshake came, or
        // before that), or none opened (the wasm was ready before the tab's Hello came);
        // never one opened and then closed for another.
        if let Some(hub) = common::hub_scope(&b).await {
            let early = b.call(Some(&hub), "Runtime.evaluate", json!({"expression": "self.switchboard.early"})).await;
            let early = early.map(|v| v["result"]["value"].as_str().unwrap_or("?").to_string());
            assert!(
                matches!(early.as_deref(), Ok("taken" | "taken with CONNECT" | "")),
                "fresh start {run}: early socket {early:?}"
            );
            taken.push(early.map_or(String::new(), |e| e));
        }
        b.shutdown().await;
    }
    times.sort();
    let early = taken.iter().filter(|t| t.starts_with("taken")).count();
    let with_connect = taken.iter().filter(|t| *t == "taken with CONNECT").count();
    println!(
        "first tab connected in {runs}/{runs} fresh browsers; connect() to connected: median {} ms, max {} ms; the hub took the early socket in {early}/{}, {with_connect} of them with the CONNECT sent",
        times[runs as usize / 2],
        times[runs as usize - 1],
        taken.len()
    );
    assert!(taken.is_empty() || early > 0, "the bootstrap's early socket was never taken");
    assert!(taken.is_empty() || with_connect > 0, "the bootstrap never sent the CONNECT early");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_or_crashed_tab_leaves_the_hub_within_two_seconds() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 3).await;

    let t0 = Instant::now();
    b.close_tab(&tabs[1]).await;
    b.js(&tabs[0], "sb.until(() => sb.tabs.length === 2, 2000, 'closed tab to leave')").await;
    println!("closed tab left the hub after {} ms", t0.elapsed().as_millis());

    // A crash runs no pagehide: only the tab's Web Lock tells the hub.
    let t0 = Instant::now();
    b.crash_tab(&tabs[2]);
    b.js(&tabs[0], "sb.until(() => sb.tabs.length === 1, 2000, 'crashed tab to leave')").await;
    println!("crashed tab left the hub after {} ms", t0.elapsed().as_millis());
    // And the survivor still works.
    assert_eq!(b.js(&tabs[0], "sb.client.emitWithAck('echo', 'still here')").await, json!("still here"));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_page_gets_an_error_and_other_tabs_keep_working() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let good = open_clients(&b, &srv.url(), 1).await.remove(0);
    let evil = b.open(&format!("{}/harness.html", srv.url())).await;
    let replies = b
        .js(
            &evil,
            "(async () => {
                const w = new SharedWorker('/switchboard-worker.js', { type: 'module', name: 'switchboard-v5' });
                const replies = [];
                let wake;
                w.port.onmessage = (e) => { replies.push(Array.from(e.data)); wake && wake(); };
                w.port.start();
                // A new port first hears NotAttached (a tab the hub welcomed before would attach
                // again); then one junk message at a time, each answered before the next goes.
                while (replies.length === 0) await new Promise((r) => (wake = r));
                for (const junk of [new Uint8Array([255, 1, 2, 3]), 'hello', { a: 1 }, new Uint8Array(0), new Uint8Array([0, 1])]) {
                    const before = replies.length;
                    w.port.postMessage(junk);
                    while (replies.length === before) await new Promise((r) => (wake = r));
                }
                return replies;
            })()",
        )
        .await;
    // A port message from the hub carries one or more messages back to back.
    let mut errors = 0;
    let replies = replies.as_array().expect("an array of replies");
    let nudge: Vec<u8> =
        replies[0].as_array().expect("bytes").iter().filter_map(|b| b.as_u64().map(|b| b as u8)).collect();
    let (first, _) = wire::take_from_hub(&nudge).expect("decodes");
    assert!(matches!(first.to_owned(), FromHub::Error { code: ErrorCode::NotAttached, .. }), "{nudge:?}");
    for r in &replies[1..] {
        let bytes: Vec<u8> = r.as_array().expect("bytes").iter().map(|b| b.as_u64().expect("byte") as u8).collect();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (msg, tail) = wire::take_from_hub(rest).expect("the hub's messages decode");
            match msg.to_owned() {
                FromHub::Error { code: ErrorCode::BadMessage, message } => assert!(!message.is_empty()),
                other => panic!("expected a BadMessage error, got {other:?}"),
            }
            errors += 1;
            rest = tail;
        }
    }
    assert_eq!(errors, 5);
    assert_eq!(b.js(&good, "sb.client.emitWithAck('echo', 'fine')").await, json!("fine"));
    assert_eq!(b.js(&good, "sb.client.status").await, json!("connected"));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_arguments_travel_as_attachments_both_ways() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tab = open_clients(&b, &srv.url(), 1).await.remove(0);
    let back = b
        .js(&tab, "sb.client.emitWithAck('bin-echo', new Uint8Array([1, 2, 3, 255]).subarray(1)).then((r) => [r instanceof ArrayBuffer, Array.from(new Uint8Array(r))])")
        .await;
    assert_eq!(back, json!([true, [2, 3, 255]]));
    b.js(&tab, "sb.record('blob'); sb.client.emitWithAck('echo', 'subscribed')").await;
    srv.io.emit("blob", &bytes::Bytes::from_static(&[9, 8, 7])).await.expect("emit binary");
    let got = b.js(&tab, "sb.until(() => sb.events.find((e) => e.name === 'blob')).then((e) => Array.from(new Uint8Array(e.args[0])))").await;
    assert_eq!(got, json!([9, 8, 7]));
    b.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_shows_status_tabs_and_chat_in_every_tab() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    // Event-driven: re-check on every DOM mutation.
    let wait = |cond: &str| {
        format!(
            "new Promise((ok, fail) => {{ const check = () => {{ if ({cond}) {{ obs.disconnect(); clearTimeout(t); ok(true); }} }}; \
             const obs = new MutationObserver(check); obs.observe(document.body, {{ subtree: true, childList: true, characterData: true, attributes: true }}); \
             const t = setTimeout(() => {{ obs.disconnect(); fail(new Error('demo: ' + {cond:?})); }}, 10000); check(); }})"
        )
    };
    let (a, c) = (b.open(&format!("{}/", srv.url())).await, b.open(&format!("{}/", srv.url())).await);
    for tab in [&a, &c] {
        b.js(tab, &wait("document.getElementById('status').textContent === 'connected' && document.getElementById('tabcount').textContent === '2'")).await;
    }
    // The page runs under its Content-Security-Policy: an inline script is blocked, the
    // bundle (wasm, SharedWorker) works.
    let inline = "(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; \
                  document.body.append(s); return window.inlineRan === true; })()";
    assert_eq!(b.js(&a, inline).await, json!(false), "the CSP is in force");
    // One of the two tabs leads and shows the badge.
    for tab in [&a, &c] {
        b.js(tab, &wait("window.client && window.client.leader && window.client.leader.term > 0")).await;
    }
    // (Each tab hears of a change on its own port: compare once both know the same term.)
    let badges = loop {
        let term = b.js(&c, "window.client.leader.term").await;
        b.js(&a, &wait(&format!("window.client.leader.term >= {term}"))).await;
        let read = "[window.client.leader.term, !document.getElementById('leader').hidden]";
        let (x, y) = (b.js(&a, read).await, b.js(&c, read).await);
        if x[0] == y[0] {
            break [x[1].clone(), y[1].clone()];
        }
    };
    assert_eq!(badges.iter().filter(|v| **v == json!(true)).count(), 1, "exactly one leader badge: {badges:?}");
    for tab in [&a, &c] {
        b.js(tab, "document.getElementById('join').click()").await;
        b.js(tab, &wait("document.getElementById('rooms').textContent === 'in: lobby'")).await;
    }
    // Presence: both tabs (one guest on this browser) are listed in the room, in each tab.
    for tab in [&a, &c] {
        b.js(tab, &wait("document.getElementById('members').textContent === 'here: guest (2 tabs)'")).await;
        b.js(tab, &wait("document.getElementById('assigned').textContent.includes('tab:')")).await;
    }
    b.js(&a, "document.getElementById('text').value = 'hello from A'; document.getElementById('chat').requestSubmit()")
        .await;
    for tab in [&a, &c] {
        b.js(tab, &wait("document.getElementById('log').textContent.includes('hello from A')")).await;
    }
    // Security: signed in from one tab, every tab shows it; the sessions list and a refused
    // password change (wrong current password) in the page.
    b.js(&a, "document.getElementById('login').requestSubmit()").await;
    for tab in [&a, &c] {
        b.js(tab, &wait("document.getElementById('secstate').textContent === 'signed-in'")).await;
    }
    // Chat lines name the signed-in user (the server sets `from`), not a tab.
    b.js(&c, "document.getElementById('text').value = 'hi from C'; document.getElementById('chat').requestSubmit()")
        .await;
    for tab in [&a, &c] {
        b.js(tab, &wait("document.getElementById('log').textContent.includes('[lobby] alice: hi from C')")).await;
    }
    // The banner says where the hub runs.
    let banner = b.js(&a, "document.getElementById('banner').textContent").await;
    assert!(banner.as_str().is_some_and(|t| t.contains("through a SharedWorker hub")), "{banner}");
    b.js(&c, "document.getElementById('listsessions').click()").await;
    b.js(&c, &wait("document.getElementById('sessions').textContent.includes('this session')")).await;
    b.js(&c, "document.getElementById('current').value = 'not-it'; document.getElementById('next').value = 'whatever-123'; document.getElementById('password').requestSubmit()").await;
    b.js(&c, &wait("document.getElementById('log').textContent.includes('password change failed: the current password is wrong')")).await;
    // A picture of the demo for people (not asserted): target/demo.png.
    common::screenshot(&b, &c, "demo").await;
    // The debug panel: debug mode on, a chat message and its receipt in the live log, the
    // inspector tree with this browser's tabs. Picture: target/demo-debug.png.
    b.js(&c, "document.getElementById('debugon').click()").await;
    b.js(&c, &wait("document.getElementById('inspector').textContent.includes('\"tabs\"')")).await;
    b.js(&c, "document.getElementById('text').value = 'traced'; document.getElementById('chat').requestSubmit()").await;
    b.js(&c, &wait("/chat delivered in \\d+ ms/.test(document.getElementById('debuglog').textContent)")).await;
    let tab_ids = b.js(&c, "window.client.tabs").await;
    let inspector = b.js(&c, "document.getElementById('inspector').textContent").await;
    for id in tab_ids.as_array().expect("tab ids") {
        assert!(inspector.as_str().is_some_and(|t| t.contains(id.as_str().unwrap_or("?"))), "{id} in {inspector}");
    }
    assert_eq!(
        b.js(&c, "document.getElementById('help').textContent").await,
        json!(""),
        "connected and signed in: nothing to do"
    );
    b.js(&c, "document.getElementById('debugon').scrollIntoView(); true").await;
    common::screenshot(&b, &c, "demo-debug").await;
    b.shutdown().await;
    srv.stop().await;
}

/// `client.to(room).emit(...)`: the other members of the room get it, on this browser's hub
/// at once and on other browsers through the server; the sender and outsiders do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emit_to_a_room_reaches_the_other_members_across_browsers() {
    let _one = exclusive().await;
    let srv = server().await;
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let here = open_clients(&one, &srv.url(), 3).await;
    let there = open_clients(&two, &srv.url(), 1).await;
    for (b, t) in [(&one, &here[0]), (&one, &here[1]), (&two, &there[0])] {
        b.js(t, "sb.record('note', 'announce'); sb.client.join('r')").await;
    }
    one.js(&here[2], "sb.record('note', 'announce'); sb.client.emitWithAck('echo', 'sub')").await;
    one.js(&here[0], "sb.client.to('r').emit('note', { from: 'A' })").await;
    let got = "sb.until(() => sb.events.find((e) => e.name === 'note')).then((e) => e.args[0].from)";
    assert_eq!(two.js(&there[0], got).await, json!("A"), "another browser, through the server");
    assert_eq!(one.js(&here[1], got).await, json!("A"), "a room-mate on the same hub");
    // The sender and a tab outside the room got nothing: an announcement that comes after
    // the note finds them with no note.
    one.js(&here[0], "sb.client.emit('announce', 'after')").await;
    for t in [&here[0], &here[2]] {
        let seen = one
            .js(
                t,
                "sb.until(() => sb.events.find((e) => e.name === 'announce')).then(() => sb.events.map((e) => e.name))",
            )
            .await;
        assert_eq!(seen, json!(["announce"]));
    }
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// Every `on*` returns the function that removes exactly that registration (once, however
/// often it is called); `off(event, f)` removes one registration of `f`, `off(event)` all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_unsubscribe_exactly_what_they_added() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let tabs = open_clients(&b, &srv.url(), 1).await;
    let tab = &tabs[0];
    let setup = "window.got = { a: 0, b: 0, any: 0, status: 0, marks: 0 };
        const a = () => got.a++;
        sb.stops = [sb.client.on('news', a), sb.client.on('news', a), sb.client.on('news', () => got.b++),
          sb.client.onAny(() => got.any++), sb.client.onStatus(() => got.status++)];
        sb.client.on('mark', () => got.marks++);
        sb.stops[0](); sb.stops[0](); sb.stops[3](); sb.stops[4]();
        sb.client.emitWithAck('echo', 1)";
    b.js(tab, setup).await;
    let status_calls = b.js(tab, "got.status").await;
    srv.publish("news", &json!(1)).await;
    srv.publish("mark", &json!(1)).await;
    let got = b.js(tab, "sb.poll(async () => got.marks === 1).then(() => got)").await;
    assert_eq!((got["a"].clone(), got["b"].clone(), got["any"].clone()), (json!(1), json!(1), json!(0)), "{got}");
    assert_eq!(got["status"], status_calls, "the status listener is gone");
    // The rest removed: nothing more arrives (a later event proves the earlier one came by).
    b.js(tab, "sb.stops[1](); sb.stops[2](); sb.client.emitWithAck('echo', 2)").await;
    srv.publish("news", &json!(2)).await;
    srv.publish("mark", &json!(2)).await;
    let got = b.js(tab, "sb.poll(async () => got.marks === 2).then(() => got)").await;
    assert_eq!((got["a"].clone(), got["b"].clone()), (json!(1), json!(1)), "{got}");
    // off(event, f) takes one registration; off(event) every one.
    let off = "const f = () => got.a++; sb.client.on('news', f); sb.client.on('news', f); sb.client.off('news', f);
        sb.client.on('mark', () => got.marks++); sb.client.off('mark'); sb.client.on('mark', () => got.marks += 10);
        sb.client.emitWithAck('echo', 3)";
    b.js(tab, off).await;
    srv.publish("news", &json!(3)).await;
    srv.publish("mark", &json!(3)).await;
    let got = b.js(tab, "sb.poll(async () => got.marks >= 12).then(() => got)").await;
    assert_eq!((got["a"].clone(), got["marks"].clone()), (json!(2), json!(12)), "{got}");
    b.shutdown().await;
    srv.stop().await;
}
