//! Several reference-backend nodes behind one real Redis (`--redis`), delivery: the Socket.IO
//! adapter carries rooms and broadcasts across nodes (a node without Redis keeps to itself);
//! durable emits once whichever node carries them; one sequence of numbered events; a Redis
//! restart and a lost reply; throughput. Sign-in, elections, state and presence across nodes:
//! `tests/nodes_state.rs`.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::nodes::{node, Cluster, RECORDED};
use common::redis::Redis;
use common::sio::RawSocket;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard::server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_share_rooms_and_broadcasts() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let (mut on_a, mut on_b, mut on_alone) =
        (RawSocket::connect(a.addr).await, RawSocket::connect(b.addr).await, RawSocket::connect(alone.addr).await);
    for s in [&mut on_a, &mut on_b, &mut on_alone] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    }
    // A room event a socket on node A sends reaches the member on node B.
    on_a.send(&format!("42{}", json!(["chat", {"room": "team:1", "text": "from a"}]))).await;
    let frame = on_b.until(|f| f.starts_with(r#"42["sb:room","team:1","chat""#)).await;
    assert!(frame.contains("from a"), "{frame}");
    // The server's own broadcasts: to a room from node B, to everyone from node A.
    b.io.to("team:1").emit("news", &7).await.expect("room broadcast");
    assert_eq!(on_a.next_event("news").await, json!(7));
    a.io.emit("all", &1).await.expect("broadcast");
    assert_eq!(on_b.next_event("all").await, json!(1));
    // One tab of a hub on node B, reached from node A (not from the node alone).
    on_b.send(r#"42["sb:tabs",["t-1"]]"#).await;
    assert_eq!(on_b.emit_ack(r#"["echo",0]"#).await, "[0]", "the tabs are handled");
    // (Asked again for a while: the adapter counts the nodes that listen to its requests by
    // their subscriptions, and node B's may not be counted yet right after the start.)
    let found = || async { a.emit_to_tab("t-1", "ping", &json!(1)).await.then_some(()) };
    common::wait_for("node A finds the tab on node B", Duration::from_secs(2), found).await;
    let frame = on_b.until(|f| f.starts_with(r#"42["sb:tab""#)).await;
    assert_eq!(frame, r#"42["sb:tab","t-1","ping",1]"#);
    assert!(!alone.emit_to_tab("t-1", "ping", &json!(1)).await);
    // The node without Redis heard none of it; its own broadcast stays on it.
    alone.io.emit("local", &2).await.expect("broadcast");
    let mut before = Vec::new();
    loop {
        let f = on_alone.recv().await;
        if f == r#"42["local",2]"# {
            break;
        }
        before.push(f);
    }
    let foreign = |f: &String| f.contains("from a") || f.contains(r#""news""#) || f.contains(r#""all""#);
    assert!(!before.iter().any(foreign), "a node alone hears only itself: {before:?}");
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// How long a server broadcast takes to reach a socket on the same node and on another node
/// through Redis, 300 sequential broadcasts each: the times printed (nothing asserted about
/// them); every broadcast arriving, in order, and the cross-node ones going through Redis,
/// asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_across_nodes_reports_its_latency() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let (mut on_a, mut on_b, mut on_alone) =
        (RawSocket::connect(a.addr).await, RawSocket::connect(b.addr).await, RawSocket::connect(alone.addr).await);
    let mut report = Vec::new();
    // A name per round: the other socket's copies of a round wait, unread, and are skipped.
    let rounds = [
        ("a node without Redis", &alone, "tick-0", &mut on_alone),
        ("same node", &a, "tick-a", &mut on_a),
        ("across nodes", &a, "tick-b", &mut on_b),
    ];
    for (place, from, event, socket) in rounds {
        let commands = redis_commands(&redis).await;
        let mut ms = Vec::new();
        for i in 0..300 {
            let t = Instant::now();
            from.io.emit(event, &i).await.expect("broadcast");
            assert_eq!(socket.next_event(event).await, json!(i), "{place}: every broadcast arrives, in order");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if event == "tick-b" {
            let used = redis_commands(&redis).await - commands;
            assert!(used >= 300, "each broadcast to the other node went through Redis ({used} commands)");
        }
        ms.sort_by(f64::total_cmp);
        report.push(format!("{place}: p50 {:.2} ms, p99 {:.2} ms", ms[150], ms[296]));
    }
    println!("server broadcast → socket (300 each, loopback, one Redis): {}", report.join("; "));
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// The id of a durable emit, once handled on one node, is known to every node: the same
/// emit reaching node B after node A handled it is acknowledged and not delivered again;
/// an id claimed by a node that died before it was done is delivered by another once the
/// claim's lease lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_emit_reaches_the_application_once_whichever_node_carries_it() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let (mut on_a, mut on_b) = (RawSocket::connect(a.addr).await, RawSocket::connect(b.addr).await);
    let emit = r#"["sb:emit","e-1","record",{"n":1}]"#;
    assert_eq!(on_a.emit_ack(emit).await, r#"[{"ok":true}]"#);
    assert_eq!(on_b.emit_ack(emit).await, r#"[{"ok":true}]"#, "a resend is acknowledged");
    assert_eq!(redis.list(RECORDED).await, [json!({"n": 1})], "and not delivered again");
    assert_eq!(b.stats.duplicates_dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    // A node claimed e-2 and died before it was done: its claim lapses, node B delivers it.
    let mut c = redis.client().await;
    let set = redis::cmd("SET").arg("sb:dedup:e-2").arg("dead").arg("PX").arg(300).query_async::<()>(&mut c).await;
    set.expect("SET");
    let t = Instant::now();
    assert_eq!(on_b.emit_ack(r#"["sb:emit","e-2","record",{"n":2}]"#).await, r#"[{"ok":true}]"#);
    let waited = t.elapsed();
    println!("an emit claimed by a dead node was delivered {} ms later (lease 300 ms left)", waited.as_millis());
    // Not before the dead node's claim lapsed (a lower bound: load only makes it later).
    assert!(waited >= Duration::from_millis(200), "delivered while the claim still held: {waited:?}");
    assert_eq!(redis.list(RECORDED).await, [json!({"n": 1}), json!({"n": 2})]);
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Numbered events are numbered in Redis: events published on two nodes get one sequence,
/// and a hub resumes on any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_events_have_one_sequence_and_replay_on_any_node() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let mut live = RawSocket::connect(a.addr).await;
    a.publish("announce", &json!("from a")).await;
    b.publish("announce", &json!("from b")).await;
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let f = live.until(|f| f.starts_with(r#"42["sb:seq""#)).await;
        heard.push(serde_json::from_str::<Value>(&f[2..]).expect("an event array"));
    }
    heard.sort_by_key(|v| v[1].as_u64());
    // (A new log starts above every earlier one's numbers, then counts one by one.)
    let first = heard[0][1].as_u64().expect("a number");
    assert_eq!(
        heard,
        [json!(["sb:seq", first, "announce", "from a"]), json!(["sb:seq", first + 1, "announce", "from b"])]
    );
    // A hub that saw the first number (on node A) resumes on node B.
    let mut back = RawSocket::connect(b.addr).await;
    let (ack, seen) = back.emit_ack_seen(&format!(r#"["sb:resume",{first}]"#)).await;
    assert_eq!(ack, r#"[{"recovered":true}]"#);
    assert!(seen.contains(&json!(["sb:seq", first + 1, "announce", "from b"])), "{seen:?}");
    assert!(!seen.iter().any(|s| s[1] == json!(first)), "only what it missed: {seen:?}");
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Redis killed and started again from its files: what a node acknowledged before is still
/// there (the dedup marks, the record, the replay log), an emit sent while Redis is away is
/// acknowledged once it is back, and the adapter carries rooms across nodes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_delays_service_and_loses_nothing_acknowledged() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let (mut on_a, mut on_b) = (RawSocket::connect(a.addr).await, RawSocket::connect(b.addr).await);
    assert_eq!(on_a.emit_ack(r#"["sb:emit","r-1","record",{"n":1}]"#).await, r#"[{"ok":true}]"#);
    a.publish("announce", &json!("before")).await;
    for s in [&mut on_a, &mut on_b] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    }
    let waited = a.stats.redis_waits.load(Ordering::Relaxed);
    redis.kill().await;
    let sending = async {
        let t = Instant::now();
        let (ack, seen) = on_a.emit_ack_seen(r#"["sb:emit","r-2","record",{"n":2}]"#).await;
        (ack, seen, t.elapsed())
    };
    let restarting = async {
        // Back once node A is waiting on it (the emit's claim is being retried).
        let waiting = common::until(Duration::from_secs(10), || a.stats.redis_waits.load(Ordering::Relaxed) > waited);
        assert!(waiting.await, "node A waits on Redis for the emit's claim");
        redis.start_again().await;
    };
    let ((ack, seen, took), ()) = tokio::join!(sending, restarting);
    assert_eq!(ack, r#"[{"ok":true}]"#, "acknowledged once Redis is back");
    println!("an emit sent while Redis was down was acknowledged after {} ms", took.as_millis());
    // The nodes' pub/sub broke: once mended, every socket is greeted again (its hub
    // resynchronises what the adapter may have lost).
    if !seen.iter().any(|e| e[0] == "sb:hello") {
        on_a.until(|f| f.starts_with(r#"42["sb:hello""#)).await;
    }
    on_b.until(|f| f.starts_with(r#"42["sb:hello""#)).await;
    assert_eq!(redis.list(RECORDED).await, [json!({"n": 1}), json!({"n": 2})], "nothing acknowledged is lost");
    assert_eq!(on_b.emit_ack(r#"["sb:emit","r-1","record",{"n":1}]"#).await, r#"[{"ok":true}]"#);
    assert_eq!(redis.list(RECORDED).await.len(), 2, "the dedup mark survived the restart");
    let kept: Vec<String> = redis::cmd("LRANGE")
        .arg("sb:replay")
        .arg(0)
        .arg(0)
        .query_async(&mut redis.client().await)
        .await
        .expect("LRANGE");
    let n: u64 = kept.first().and_then(|e| e.split(' ').next()?.parse().ok()).expect("the first entry's number");
    let (ack, seen) = on_b.emit_ack_seen(&format!(r#"["sb:resume",{}]"#, n - 1)).await;
    assert_eq!(ack, r#"[{"recovered":true}]"#);
    assert!(seen.contains(&json!(["sb:seq", n, "announce", "before"])), "the replay log survived: {seen:?}");
    // The adapter resubscribed: a room event from A reaches B again (sent until one arrives:
    // the resubscription follows the reconnection).
    let arrived = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        for i in 0.. {
            on_a.send(&format!("42{}", json!(["chat", {"room": "team:1", "text": i}]))).await;
            let got = on_b.drain(std::time::Duration::from_millis(200)).await;
            if got.iter().any(|f| f.starts_with(r#"42["sb:room","team:1","chat""#)) {
                return i;
            }
        }
        unreachable!()
    })
    .await
    .expect("rooms cross nodes again within 15 s of Redis's return");
    println!("room events crossed nodes again after {arrived} tries of 200 ms");
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Redis's count of commands processed so far.
async fn redis_commands(redis: &Redis) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query_async(&mut redis.client().await).await.expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Durable emits per second through three nodes on one Redis — three sockets, one per node,
/// each sending 2,000 pipelined `sb:emit`s — printed; the Redis commands per durable emit and
/// per numbered broadcast, printed and held within bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_report_throughput_and_redis_round_trips_per_event() {
    let redis = Redis::start().await;
    let config = |name: &str| Config { rate: 1_000_000, burst: 1_000_000, ..node(name, Some(&redis)) };
    let nodes = [
        common::server_with(config("a")).await,
        common::server_with(config("b")).await,
        common::server_with(config("c")).await,
    ];
    let mut sockets = Vec::new();
    for n in &nodes {
        sockets.push(RawSocket::connect(n.addr).await);
    }
    const N: usize = 2000;
    let before = redis_commands(&redis).await;
    let took = pipelined(&mut sockets, N).await;
    let per_emit = (redis_commands(&redis).await - before - 1) as f64 / (3 * N) as f64;
    let before = redis_commands(&redis).await;
    for i in 0..100 {
        nodes[i % 3].publish("announce", &json!(i)).await;
    }
    let per_broadcast = (redis_commands(&redis).await - before - 1) as f64 / 100.0;
    println!(
        "three nodes, one Redis: {} durable emits in {} ms = {:.0} emits/s; Redis commands per durable emit {per_emit:.2}, per numbered broadcast {per_broadcast:.2}",
        3 * N,
        took.as_millis(),
        (3 * N) as f64 / took.as_secs_f64()
    );
    // What the counts say (times are only printed): a claim, a mark and the record per emit
    // (3 here), and a bounded number of steps per numbered broadcast (8 here).
    assert!((2.0..=4.0).contains(&per_emit), "a claim and a mark per emit, and little more: {per_emit}");
    assert!((1.0..=10.0).contains(&per_broadcast), "Redis commands per numbered broadcast: {per_broadcast}");
    // The same load on one node without Redis, for comparison.
    let alone = common::server_with(Config { rate: 1_000_000, burst: 1_000_000, ..node("alone", None) }).await;
    let mut three = Vec::new();
    for _ in 0..3 {
        three.push(RawSocket::connect(alone.addr).await);
    }
    let took_alone = pipelined(&mut three, N).await;
    println!(
        "one node without Redis: {} durable emits in {} ms = {:.0} emits/s",
        3 * N,
        took_alone.as_millis(),
        (3 * N) as f64 / took_alone.as_secs_f64()
    );
    alone.stop().await;
    for n in nodes {
        n.stop().await;
    }
    redis.stop().await;
}

/// Each socket sends `n` durable emits without waiting, then reads their `n` receipts; how
/// long it took for all of them.
async fn pipelined(sockets: &mut [RawSocket], n: usize) -> std::time::Duration {
    let t = Instant::now();
    let send_all = sockets.iter_mut().enumerate().map(|(k, s)| async move {
        for i in 0..n {
            s.send(&format!("42{}{}", 1000 + i, json!(["sb:emit", format!("t{k}-{i}"), "tick", i]))).await;
        }
        let mut acks = 0;
        while acks < n {
            if s.recv().await.starts_with("43") {
                acks += 1;
            }
        }
    });
    futures_util::future::join_all(send_all).await;
    t.elapsed()
}

/// Waits (polling the test's own Redis client, at most 10 s) until `key` exists.
async fn until_key(redis: &Redis, key: &str) {
    let mut c = redis.client().await;
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !redis::cmd("EXISTS").arg(key).query_async::<bool>(&mut c).await.unwrap_or(false) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "{key} was written within 10 s");
}

/// A step Redis applied whose reply was lost (the connection dropped between the two, as
/// when Redis is killed after writing its AOF) is sent again by the node, and is not applied
/// twice: a numbered event keeps its one number, a durable emit's claim is still the node's
/// (no wait for its lease, 30 s here) and the emit is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_reply_was_lost_is_not_applied_twice() {
    let redis = Redis::start().await;
    let proxy = proxy::Proxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let config = Config {
        redis: Some(format!("redis://{}", proxy.addr)),
        dedup_lease: std::time::Duration::from_secs(30),
        ..node("a", None)
    };
    let a = common::server_with(config).await;
    let mut on_a = RawSocket::connect(a.addr).await;
    // Each step once with its reply (Redis learns the scripts: a script it does not know
    // takes a round trip more, which a held reply would stop).
    a.publish("announce", &json!("first")).await;
    // A new log numbers above every earlier one: where this one is now.
    let first: u64 = redis::cmd("GET").arg("sb:replay:next").query_async(&mut redis.client().await).await.expect("GET");
    assert_eq!(on_a.emit_ack(r#"["sb:emit","first-1","record",{"n":0}]"#).await, r#"[{"ok":true}]"#);
    // A numbered event: applied, its reply held, the connection cut, the step sent again.
    proxy.hold_replies(true);
    let once = json!("once");
    let publishing = a.publish("announce", &once);
    let losing = async {
        let mut c = redis.client().await;
        while redis::cmd("GET").arg("sb:replay:next").query_async::<u64>(&mut c).await.unwrap_or(0) < first + 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        proxy.cut();
        proxy.hold_replies(false);
    };
    tokio::join!(publishing, losing);
    let log: Vec<String> = redis::cmd("LRANGE")
        .arg("sb:replay")
        .arg(0)
        .arg(-1)
        .query_async(&mut redis.client().await)
        .await
        .expect("LRANGE");
    assert!(first > 1_000_000_000_000_000, "a new log starts above every earlier one: {first}");
    let want = [format!(r#"{first} ["announce","first"]"#), format!(r#"{} ["announce","once"]"#, first + 1)];
    assert_eq!(log, want, "one number, one entry");
    // A durable emit: its claim applied, the reply lost.
    proxy.hold_replies(true);
    on_a.send(r#"4299["sb:emit","lost-1","record",{"n":1}]"#).await;
    until_key(&redis, "sb:dedup:lost-1").await;
    proxy.cut();
    proxy.hold_replies(false);
    let receipt = on_a.until(|f| f.starts_with("4399")).await;
    assert_eq!(receipt, r#"4399[{"ok":true}]"#);
    assert_eq!(redis.list(RECORDED).await, [json!({"n": 0}), json!({"n": 1})]);
    a.stop().await;
    redis.stop().await;
}
