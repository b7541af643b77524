//! `switchboard-compat.js`: socket.io-client 4.8's API over the hub, in headless Chromium
//! against the unmodified Node Socket.IO server. The cases follow socket.io-client's own test
//! suite (`test/socket.ts`, `connection.ts`, `retry.ts`) where they apply to the WebSocket
//! transport; the README lists them and what differs on purpose.

mod common;

use common::node::NodeServer;
use common::{exclusive, server, Browser, Tab};
use serde_json::{json, Value};

/// A compat harness page, and `sb.s`: a socket on `uri` with `opts`, connected. Statements
/// that would evaluate to the socket end in `; 0`: it refers to itself through its Manager
/// (`socket.io.nsps`), as socket.io-client's does, so CDP cannot return it by value.
async fn socket(b: &Browser, page: &str, uri: &str, opts: &str) -> Tab {
    let t = b.open(&format!("{page}/compat.html")).await;
    b.js(&t, &format!("sb.s = sb.open('{uri}', {opts}); sb.until(() => sb.saw('connect'), 10000, 'connect')")).await;
    t
}

fn count(log: &Value, what: &str) -> usize {
    log.as_array().map_or(0, |l| l.iter().filter(|e| e[0] == what).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_acks_timeouts_and_the_socket_state_as_in_socket_io_client() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = socket(&b, &page.url(), &node.url(), "{ reconnectionDelay: 100 }").await;
    // State after connect: connected, not disconnected, active, and the server's socket id.
    let state = b.js(&t, "[sb.s.connected, sb.s.disconnected, sb.s.active, sb.s.recovered]").await;
    assert_eq!(state, json!([true, false, true, false]));
    let who = b.js(&t, "sb.s.emitWithAck('whoami')").await;
    assert_eq!(b.js(&t, "sb.s.id").await, who["id"], "socket.id is the server's id for this socket");
    // Acknowledgements: a callback gets every argument; a timeout gives (err, ...args).
    b.js(
        &t,
        "sb.s.emit('echo', 1, (v) => sb.note('ack', v)); sb.s.emit('two-acks', (...a) => sb.note('acks', ...a)); 0",
    )
    .await;
    b.js(&t, "sb.until(() => sb.saw('ack', 1) && sb.saw('acks', 'a', 'b'))").await;
    b.js(&t, "sb.s.timeout(200).emit('no-ack', (err) => sb.note('timeout', err && err.message)); 0").await;
    b.js(&t, "sb.s.timeout(5000).emit('echo', 2, (err, v) => sb.note('timed', err, v)); 0").await;
    b.js(&t, "sb.until(() => sb.saw('timeout', 'operation has timed out') && sb.saw('timed', null, 2))").await;
    assert_eq!(b.js(&t, "sb.s.emitWithAck('echo', 3)").await, json!(3));
    let timed_out = b.js(&t, "sb.s.timeout(200).emitWithAck('no-ack').then(() => 'acked', (e) => e.message)").await;
    assert_eq!(timed_out, json!("operation has timed out"));
    // Reserved names are refused; send() is emit('message').
    let reserved =
        b.js(&t, "(() => { try { sb.s.emit('disconnect'); return 'sent'; } catch (e) { return e.message; } })()").await;
    assert_eq!(reserved, json!("\"disconnect\" is a reserved event name"));
    // A volatile emit right behind another in the same task is dropped (the pipe is not
    // ready, as in socket.io-client); in a later task it goes.
    b.js(&t, "sb.s.send('hi'); sb.s.volatile.emit('vol', 0); 0").await;
    b.js(&t, "sb.s.volatile.emit('vol', 1); 0").await;
    let recorded = node.recorded(2).await;
    assert!(recorded.contains(&json!({"message": "hi"})) && recorded.contains(&json!({"volatile": 1})), "{recorded:?}");
    assert!(!recorded.contains(&json!({"volatile": 0})), "the volatile emit behind another was dropped: {recorded:?}");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_any_and_outgoing_listeners_as_in_socket_io_client() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = socket(&b, &page.url(), &node.url(), "{}").await;
    b.js(&t, "sb.s.once('one', (v) => sb.note('once', v)); sb.s.on('two', (v) => sb.note('on', v));
        sb.s.onAny((e, v) => sb.note('any', e, v)); sb.s.prependAny((e, v) => sb.note('first', e, v));
        sb.s.onAnyOutgoing((e, v) => sb.note('out', e, v)); sb.s.prependAnyOutgoing((e, v) => sb.note('out-first', e, v));
        sb.s.emitWithAck('echo', 'sub')").await;
    b.js(&t, "sb.s.emit('emit-me', 'one', 1); sb.s.emit('emit-me', 'one', 2); sb.s.emit('emit-me', 'two', 3); 0").await;
    let log = b.js(&t, "sb.until(() => sb.saw('on', 3)).then(() => sb.log)").await;
    assert_eq!(count(&log, "once"), 1, "once: called for the first 'one' only: {log}");
    let order: Vec<&Value> = log.as_array().expect("log").iter().filter(|e| e[0] == "first" || e[0] == "any").collect();
    assert_eq!(order.first().map(|e| e[0].clone()), Some(json!("first")), "prependAny runs first");
    assert_eq!(count(&log, "any"), 3, "onAny sees every event");
    assert!(b.js(&t, "sb.saw('out-first', 'emit-me', 'one') && sb.saw('out', 'emit-me', 'one')").await == json!(true));
    let listeners = b.js(&t, "[sb.s.listenersAny().length, sb.s.listenersAnyOutgoing().length]").await;
    assert_eq!(listeners, json!([2, 2]));
    // Removing listeners: offAny(), off(event), offAnyOutgoing().
    b.js(&t, "sb.s.offAny(); sb.s.off('two'); sb.s.offAnyOutgoing(); sb.log.length = 0; sb.s.on('three', (v) => sb.note('three', v)); 0").await;
    b.js(&t, "sb.s.emit('emit-me', 'two', 4); sb.s.emit('emit-me', 'three', 5); 0").await;
    let log = b.js(&t, "sb.until(() => sb.saw('three', 5)).then(() => sb.log)").await;
    assert_eq!(log, json!([["three", 5]]), "nothing else ran");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_connect_server_kick_refusal_and_auth_function() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start(0).await;
    let b = Browser::launch().await;
    let t = socket(&b, &page.url(), &node.url(), "{ auth: (cb) => cb({ token: 'from a function' }) }").await;
    let who = b.js(&t, "sb.s.emitWithAck('whoami')").await;
    assert_eq!(who["auth"], json!({"token": "from a function"}), "auth given as a function");
    b.js(&t, "sb.s.disconnect(); 0").await;
    assert!(b.js(&t, "sb.saw('disconnect', 'io client disconnect')").await == json!(true));
    assert_eq!(b.js(&t, "[sb.s.connected, sb.s.active]").await, json!([false, false]));
    b.js(
        &t,
        "sb.s.connect(); sb.until(() => sb.log.filter((e) => e[0] === 'connect').length === 2, 10000, 'connect again')",
    )
    .await;
    // The server ends the socket: 'io server disconnect', and no reconnection of its own.
    b.js(&t, "sb.s.emit('kick'); sb.until(() => sb.saw('disconnect', 'io server disconnect'))").await;
    assert_eq!(b.js(&t, "[sb.s.connected, sb.s.active]").await, json!([false, false]));
    // A namespace whose middleware refuses: connect_error with the server's message.
    let refused = b.open(&format!("{}/compat.html", page.url())).await;
    let url = format!("{}/private", node.url());
    b.js(&refused, &format!("sb.s = sb.open('{url}', {{}}); sb.until(() => sb.saw('connect_error', 'not allowed'))"))
        .await;
    assert_eq!(b.js(&refused, "sb.s.active").await, json!(false));
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_reconnection_events_and_recovery() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start_with(0, 60_000).await;
    let b = Browser::launch().await;
    let t = socket(&b, &page.url(), &node.url(), "{ retries: 2, ackTimeout: 300, reconnectionDelay: 100 }").await;
    // `retries`: the server acknowledges only every other delivery; the client sends again.
    let got = b.js(&t, "new Promise((r) => sb.s.emit('flaky', 7, (err, v) => r([err && err.message, v])))").await;
    assert_eq!(got, json!([null, "ok 7"]));
    let tries: Vec<Value> = node.recorded(2).await.into_iter().filter(|r| r["flaky"] == 7).collect();
    assert_eq!(tries.len(), 2, "sent again after the first went unacknowledged: {tries:?}");
    // A transport drop: disconnect, reconnect_attempt, reconnect, connect; the session is recovered.
    // (An event before the drop gives the offset to resume from, as with socket.io-client.)
    b.js(&t, "sb.s.on('tick', (n) => sb.note('tick', n)); sb.s.emitWithAck('echo', 'sub')").await;
    node.get("/emit?event=tick&data=0").await;
    b.js(&t, "sb.until(() => sb.saw('tick', 0))").await;
    node.get("/drop?event=tick&from=1&to=2").await;
    b.js(
        &t,
        "sb.until(() => sb.log.filter((e) => e[0] === 'connect').length === 2 && sb.saw('tick', 2), 10000, 'back')",
    )
    .await;
    let log = b.js(&t, "sb.log.map((e) => e[0])").await;
    let names: Vec<&str> = log.as_array().expect("log").iter().filter_map(Value::as_str).collect();
    let after: Vec<&str> = names.iter().skip_while(|n| **n != "disconnect").copied().filter(|n| *n != "tick").collect();
    assert_eq!(after, ["disconnect", "io.reconnect_attempt", "io.reconnect", "connect"], "{names:?}");
    assert!(b.js(&t, "sb.saw('disconnect', 'transport close')").await == json!(true));
    assert_eq!(b.js(&t, "sb.s.recovered").await, json!(true), "connection state recovery");
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// Two namespaces in each of five tabs: Switchboard opens one WebSocket for the browser,
/// socket.io-client one per tab (its Manager multiplexes namespaces within a tab only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_namespaces_in_five_tabs_take_one_websocket_where_socket_io_client_takes_five() {
    let _one = exclusive().await;
    let vendor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/socket.io-client/dist");
    let config = switchboard::server::Config {
        bind: "127.0.0.1:0".parse().expect("literal address"),
        vendor_dir: Some(vendor),
        test_hooks: true,
        ..switchboard::server::Config::default()
    };
    let page = common::server_with(config).await;
    let node = NodeServer::start(0).await;
    let url = node.url();
    let b = Browser::launch().await;
    let mut tabs = Vec::new();
    for _ in 0..5 {
        let t = b.open(&format!("{}/compat.html", page.url())).await;
        let open = format!(
            "sb.a = sb.open('{url}'); sb.b = sb.open('{url}/admin'); sb.until(() => sb.a.connected && sb.b.connected)"
        );
        b.js(&t, &open).await;
        assert_eq!(b.js(&t, "sb.b.emitWithAck('echo', 'x')").await, json!("admin:x"));
        tabs.push(t);
    }
    let switchboard = node.get("/stats").await["engine"].as_u64().unwrap_or(0);
    for t in &tabs {
        let open = format!("import('/vendor/socket.io.esm.min.js').then(({{ io }}) => new Promise((r) => {{ let n = 0; const up = () => ++n === 2 && r(); io('{url}').on('connect', up); io('{url}/admin').on('connect', up); }}))");
        b.js(t, &open).await;
    }
    let both = node.get("/stats").await["engine"].as_u64().unwrap_or(0);
    println!(
        "2 namespaces x 5 tabs: Switchboard {switchboard} WebSocket(s), socket.io-client 4.8 {}",
        both - switchboard
    );
    assert_eq!((switchboard, both - switchboard), (1, 5));
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}

/// The Manager's `ping` event for every Engine.IO ping, and `ping timeout` as the disconnect
/// reason when the server goes silent (the hub tells its tabs why it lost the connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_events_and_a_ping_timeout_as_in_socket_io_client() {
    let _one = exclusive().await;
    let page = server().await;
    let node = NodeServer::start_full(0, 0, 300).await;
    let b = Browser::launch().await;
    let t = socket(&b, &page.url(), &node.url(), "{ reconnectionDelay: 100 }").await;
    b.js(&t, "sb.s.io.on('ping', () => sb.note('ping')); sb.until(() => sb.log.filter((e) => e[0] === 'ping').length >= 2, 5000, 'pings')").await;
    node.get("/freeze?ms=1500").await;
    b.js(&t, "sb.until(() => sb.saw('disconnect', 'ping timeout'), 10000, 'a ping timeout')").await;
    b.js(&t, "sb.until(() => sb.log.filter((e) => e[0] === 'connect').length === 2, 10000, 'reconnected')").await;
    b.shutdown().await;
    node.stop().await;
    page.stop().await;
}
