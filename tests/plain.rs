//! Compatibility: the hub against an unmodified Socket.IO 4 server (Node, from npm), with
//! none of the Switchboard contract. The page comes from the reference backend on another
//! origin; the hub connects cross-origin.

mod common;

use common::node::NodeServer;
use common::{exclusive, harness_tab, one_leader_per_term, server, Browser, Tab, CONNECTED};
use serde_json::{json, Value};

async fn tab(b: &Browser, page: &str, node: &NodeServer) -> Tab {
    let opts = format!("{{ url: '{}', reconnectionDelay: 100, reconnectionDelayMax: 500, timeout: 2000 }}", node.url());
    harness_tab(b, page, &opts, CONNECTED, "connected").await
}

async fn tabs(b: &Browser, page: &str, node: &NodeServer, n: usize) -> Vec<Tab> {
    let mut tabs = Vec::new();
    for _ in 0..n {
        tabs.push(tab(b, page, node).await);
    }
    tabs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_socket_io_server_gets_one_connection_events_acks_and_ordered_emits() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let tabs = tabs(&b, &page.url(), &node, 3).await;
    for t in &tabs {
        b.js(t, "sb.record('news'); sb.client.on('question', (q, answer) => answer('answer to ' + q)); sb.until(() => sb.tabs.length === 3)").await;
    }
    assert_eq!(node.get("/stats").await["connections"], json!(1), "one connection for three tabs");
    assert_eq!(b.js(&tabs[1], "sb.client.emitWithAck('echo', { a: [1, 'é'] })").await, json!({"a": [1, "é"]}));
    node.get("/emit?event=news&data=%7B%22n%22%3A1%7D").await;
    for t in &tabs {
        assert_eq!(
            b.js(t, "sb.until(() => sb.events.find((e) => e.name === 'news')).then((e) => e.args)").await,
            json!([{"n": 1}])
        );
    }
    b.js(&tabs[0], "for (let n = 0; n < 20; n++) sb.client.emit('record', { n })").await;
    // A server-initiated ack is answered once, whichever tab answers first.
    b.js(&tabs[2], "sb.client.emit('ask-me', 'q1')").await;
    let recorded = node.recorded(21).await;
    let ns: Vec<Value> = recorded.iter().filter_map(|r| r.get("n").cloned()).collect();
    assert_eq!(ns, (0..20).map(|n| json!(n)).collect::<Vec<_>>(), "plain emits in order");
    assert_eq!(recorded.iter().filter(|r| r.get("answer").is_some()).count(), 1);
    // No sb:join handler: join fails clearly instead of hanging.
    let err = b.js(&tabs[0], "sb.client.join('r').then(() => 'joined', (e) => e.message)").await;
    assert!(err.as_str().is_some_and(|e| e.contains("did not confirm")), "{err}");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_queued_while_a_plain_server_is_down_reach_it_when_it_returns() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = tab(&b, &page.url(), &node).await;
    let port = node.stop().await;
    b.js(&t, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    b.js(&t, "for (let n = 0; n < 10; n++) sb.client.emit('record', { n }); sb.until(() => sb.client.unconfirmed === 0, 15000, 'stored')").await;
    let node = NodeServer::start(port).await;
    let recorded = node.recorded(10).await;
    let ns: Vec<Value> = recorded.iter().filter_map(|r| r.get("n").cloned()).collect();
    assert_eq!(ns, (0..10).map(|n| json!(n)).collect::<Vec<_>>());
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_attachments_and_namespaces_work_with_a_plain_socket_io_server() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = tab(&b, &page.url(), &node).await;
    let echoed = b
        .js(
            &t,
            "sb.client.emitWithAck('bin-echo', new Uint8Array([7, 8, 9])).then((r) => Array.from(new Uint8Array(r)))",
        )
        .await;
    assert_eq!(echoed, json!([7, 8, 9]));
    b.js(&t, "sb.record('blob'); sb.client.emitWithAck('echo', 'subscribed')").await;
    node.get("/emit-bin").await;
    let got = b.js(&t, "sb.until(() => sb.events.find((e) => e.name === 'blob')).then((e) => [Array.from(new Uint8Array(e.args[0])), e.args[1]])").await;
    assert_eq!(got, json!([[1, 2, 3], {"note": "with binary"}]));
    // A namespace from the URL's path, on its own hub (another endpoint).
    let admin = b.open(&format!("{}/harness.html", page.url())).await;
    let url = format!("{}/admin", node.url());
    let reply = b.js(&admin, &format!("sb.start({{ url: '{url}' }}).then(() => sb.until(() => sb.client.status === 'connected')).then(() => sb.client.emitWithAck('echo', 'x'))")).await;
    assert_eq!(reply, json!("admin:x"));
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// The ticks each tab's `tick` handler got (first argument), once it has `n` of them.
async fn ticks(b: &Browser, t: &Tab, n: usize) -> Value {
    b.js(
        t,
        &format!("sb.until(() => sb.events.filter((e) => e.name === 'tick').length >= {n}, 15000, '{n} ticks').then(() => sb.events.filter((e) => e.name === 'tick').map((e) => e.args))"),
    )
    .await
}

/// Three tabs subscribed to `tick` on a Node server with connection state recovery for
/// `recovery_ms`; tick 0 reached them all.
async fn recovery_setup(b: &Browser, page: &str, recovery_ms: u64) -> (NodeServer, Vec<Tab>) {
    let node = NodeServer::start_with(0, recovery_ms).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(tab(b, page, &node).await);
    }
    for t in &tabs {
        b.js(t, "sb.record('tick'); sb.client.emitWithAck('echo', 'subscribed')").await;
    }
    node.get("/emit?event=tick&data=0").await;
    for t in &tabs {
        ticks(b, t, 1).await;
    }
    (node, tabs)
}

/// Socket.IO's own recovery: the transport drops (closed by the server, as a network drop
/// would), ticks 1-5 are broadcast while the hub is away; the hub reconnects with its session
/// id and offset, the server replays them, and every tab gets every tick once, in order,
/// each with its offset as the last argument (as socket.io-client's handlers get it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_connection_state_recovery_replays_what_every_tab_missed() {
    let _one = exclusive().await;
    let page = server().await;
    let b = Browser::launch().await;
    let (node, tabs) = recovery_setup(&b, &page.url(), 60_000).await;
    let dropped = node.get("/drop?event=tick&from=1&to=5").await;
    assert_eq!(dropped["reasons"], json!(["forced close"]), "one socket for three tabs, dropped");
    for t in &tabs {
        ticks(&b, t, 6).await;
    }
    node.get("/emit?event=tick&data=6").await;
    node.get("/emit?event=tick&data=7").await;
    for t in &tabs {
        let got = ticks(&b, t, 8).await;
        let ns: Vec<Value> = got.as_array().expect("args").iter().map(|a| a[0].clone()).collect();
        assert_eq!(ns, (0..8).map(|n| json!(n)).collect::<Vec<_>>(), "every tick once, in order");
        assert!(got.as_array().expect("args").iter().all(|a| a[1].is_string()), "offsets as the last argument: {got}");
        assert_eq!(b.js(t, "sb.client.recovered").await, json!(true));
    }
    assert_eq!(node.get("/recovered").await, json!([true]), "the server restored the session");
    // A 2 s drop (new connections refused meanwhile): what was broadcast comes back too.
    node.get("/drop?event=tick&from=8&to=12&block=2000").await;
    for t in &tabs {
        let got = ticks(&b, t, 13).await;
        let ns: Vec<Value> = got.as_array().expect("args").iter().map(|a| a[0].clone()).collect();
        assert_eq!(ns, (0..13).map(|n| json!(n)).collect::<Vec<_>>());
    }
    println!("events recovered after a 2 s drop: 5 of 5 in each of 3 tabs");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// Past the server's recovery window the session is gone: the hub connects as new, the tabs
/// learn `recovered: false`, and what was broadcast meanwhile is lost (at-most-once, exactly
/// as with socket.io-client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_recovery_window_the_tabs_learn_that_events_were_missed() {
    let _one = exclusive().await;
    let page = server().await;
    let b = Browser::launch().await;
    let (node, tabs) = recovery_setup(&b, &page.url(), 500).await;
    node.get("/drop?event=tick&from=1&to=5&block=1500").await;
    for t in &tabs {
        b.js(t, "sb.until(() => sb.client.recovered === false && sb.client.status === 'connected', 15000, 'reconnected, not recovered')").await;
    }
    node.get("/emit?event=tick&data=6").await;
    for t in &tabs {
        let got = ticks(&b, t, 2).await;
        let ns: Vec<Value> = got.as_array().expect("args").iter().map(|a| a[0].clone()).collect();
        assert_eq!(ns, [json!(0), json!(6)], "ticks 1-5 went out while the hub was away");
    }
    assert_eq!(node.get("/recovered").await, json!([false]));
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// A server without connection state recovery replays nothing: after a reconnection every
/// tab is told `recovered: false` (never left `undefined`), so the app knows to refetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_recovery_tells_every_tab_it_did_not_recover() {
    let _one = exclusive().await;
    let page = server().await;
    let b = Browser::launch().await;
    let (node, tabs) = recovery_setup(&b, &page.url(), 0).await;
    for t in &tabs {
        assert_eq!(
            b.js(t, "sb.client.recovered === undefined").await,
            json!(true),
            "a first connection has no verdict"
        );
    }
    node.get("/drop?event=tick&from=1&to=3").await;
    for t in &tabs {
        b.js(t, "sb.until(() => sb.client.recovered === false && sb.client.status === 'connected', 15000, 'reconnected, not recovered')").await;
        assert_eq!(b.js(t, "sb.client.statusDetail.recovered").await, json!(false));
    }
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// A tab on namespace `nsp` of the Node server.
async fn tab_in(b: &Browser, page: &str, node: &NodeServer, nsp: &str) -> Tab {
    let opts = format!("{{ url: '{}', namespace: '{nsp}', reconnectionDelay: 100, timeout: 2000 }}", node.url());
    harness_tab(b, page, &opts, "sb.client.status !== 'connecting'", "settled").await
}

/// All namespaces of a server share one WebSocket, as socket.io-client's Manager shares one
/// Engine.IO connection; each namespace has its own events and acks, and one the server
/// refuses leaves the others working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_share_one_websocket_and_a_refused_one_leaves_the_others_working() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let main = [tab_in(&b, &page.url(), &node, "/").await, tab_in(&b, &page.url(), &node, "/").await];
    let admin = tab_in(&b, &page.url(), &node, "/admin").await;
    let private = tab_in(&b, &page.url(), &node, "/private").await;
    assert_eq!(node.get("/stats").await["engine"], json!(1), "one WebSocket for three namespaces");
    assert_eq!(
        b.js(&private, "sb.client.statusDetail").await,
        json!({"status": "disconnected", "reason": "connect_error: not allowed"})
    );
    for t in main.iter().chain([&admin]) {
        b.js(t, "sb.record('news'); sb.client.emitWithAck('echo', 'sub')").await;
        assert_eq!(b.js(t, "sb.client.status").await, json!("connected"));
    }
    assert_eq!(b.js(&main[0], "sb.client.emitWithAck('echo', 'x')").await, json!("x"));
    assert_eq!(b.js(&admin, "sb.client.emitWithAck('echo', 'x')").await, json!("admin:x"));
    node.get("/emit?nsp=/admin&event=news&data=%22for%20admin%22").await;
    node.get("/emit?event=news&data=%22for%20main%22").await;
    for t in &main {
        let got = b
            .js(
                t,
                "sb.until(() => sb.events.some((e) => e.name === 'news')).then(() => sb.events.map((e) => e.args[0]))",
            )
            .await;
        assert_eq!(got, json!(["for main"]), "only the events of its namespace");
    }
    let got = b
        .js(
            &admin,
            "sb.until(() => sb.events.some((e) => e.name === 'news')).then(() => sb.events.map((e) => e.args[0]))",
        )
        .await;
    assert_eq!(got, json!(["for admin"]));
    assert_eq!(node.get("/stats").await["engine"], json!(1), "still one WebSocket");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// Against a server that takes no part in the election (no LEADER_ELECTED within 1 s of
/// CONNECT), the hub elects among its own tabs by the same rule, scope `browser`, with the
/// same API: the leader follows the tab in front, one leader per term, a leader command
/// goes out plainly from the leader only, and a closed leader is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_plain_server_the_hub_elects_among_its_own_tabs() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let tabs = tabs(&b, &page.url(), &node, 3).await;
    let mut ids = Vec::new();
    for t in &tabs {
        b.js(t, "sb.until(() => sb.tabs.length === 3).then(() => sb.watchLeader())").await;
        ids.push(b.js(t, "sb.client.id").await);
    }
    for (i, t) in tabs.iter().enumerate() {
        b.call(Some(&t.session), "Page.bringToFront", json!({})).await.expect("bringToFront");
        for other in &tabs {
            let wait = format!(
                "sb.until(() => sb.client.leader && sb.client.leader.leader === {}, 5000, 'tab {i} leads')",
                ids[i]
            );
            b.js(other, &wait).await;
        }
    }
    let leader = b.js(&tabs[2], "sb.client.leader").await;
    assert_eq!((leader["isLeader"].clone(), leader["scope"].clone()), (json!(true), json!("browser")), "{leader}");
    one_leader_per_term(&b, &tabs.iter().collect::<Vec<_>>()).await;
    let refused =
        b.js(&tabs[0], "sb.client.emitAsLeader('record', 'not me').then(() => 'sent', (e) => e.message)").await;
    assert!(refused.as_str().is_some_and(|e| e.contains("does not lead")), "{refused}");
    assert_eq!(b.js(&tabs[2], "sb.client.emitAsLeader('record', { leader: true }).then(() => 'sent')").await, "sent");
    assert_eq!(node.recorded(1).await, [json!({"leader": true})]);
    let term = leader["term"].as_u64().unwrap_or(0);
    b.js(&tabs[2], "sb.client.close()").await;
    let wait = format!("sb.until(() => sb.client.leader.term > {term} && sb.client.leader.leader !== {}, 5000, 'a new leader').then(() => sb.client.leader)", ids[2]);
    let next = b.js(&tabs[0], &wait).await;
    assert!(next["leader"] == ids[0] || next["leader"] == ids[1], "{next}");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// Shared state needs the contract: against a plain server a write rejects at once with a
/// clear error, and the state is there (empty) without waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_state_against_a_plain_server_rejects_writes_at_once() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = tab(&b, &page.url(), &node).await;
    b.js(&t, "sb.withState().then(() => {})").await;
    assert_eq!(b.js(&t, "sb.client.state.keys()").await, json!([]));
    let err = b.js(&t, "sb.client.state.set('k', 1).then(() => 'settled', (e) => e.message)").await;
    assert!(err.as_str().is_some_and(|e| e.contains("needs a server that speaks the Switchboard contract")), "{err}");
    assert_eq!(b.js(&t, "sb.client.state.pending").await, json!(0));
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}
