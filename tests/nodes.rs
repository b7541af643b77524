//! Several reference-backend nodes behind one real Redis (`--redis`): the Socket.IO adapter
//! carries rooms and broadcasts across nodes; a node without Redis keeps to itself.

mod common;

use common::redis::Redis;
use common::sio::RawSocket;
use serde_json::json;
use std::time::Instant;
use switchboard::server::{Config, Server};

fn node(name: &str, redis: Option<&Redis>) -> Config {
    Config { node: name.into(), redis: redis.map(Redis::url), ..common::config() }
}

/// Nodes `a` and `b` on one Redis, and a node `alone` without it.
struct Cluster {
    redis: Redis,
    a: Server,
    b: Server,
    alone: Server,
}

impl Cluster {
    async fn start() -> Cluster {
        let redis = Redis::start().await;
        let a = common::server_with(node("a", Some(&redis))).await;
        let b = common::server_with(node("b", Some(&redis))).await;
        let alone = common::server_with(node("alone", None)).await;
        Cluster { redis, a, b, alone }
    }
}

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

/// Prints (asserts nothing about time) how long a server broadcast takes to reach a socket on
/// the same node and on another node through Redis: 300 sequential broadcasts each.
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
        let mut ms = Vec::new();
        for i in 0..300 {
            let t = Instant::now();
            from.io.emit(event, &i).await.expect("broadcast");
            assert_eq!(socket.next_event(event).await, json!(i), "{place}: every broadcast arrives, in order");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
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
