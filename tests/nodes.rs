//! Several reference-backend nodes behind one real Redis (`--redis`): the Socket.IO adapter
//! carries rooms and broadcasts across nodes; a node without Redis keeps to itself.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::http::{get_with, post, set_cookie};
use common::redis::Redis;
use common::sio::RawSocket;
use serde_json::{json, Value};
use std::time::Instant;
use switchboard::server::{Config, Server};

/// The demo application's record in Redis (`sb:app:recorded`, JSON values).
const RECORDED: &str = "sb:app:recorded";

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
    println!("an emit claimed by a dead node was delivered {} ms later (lease 300 ms left)", t.elapsed().as_millis());
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
    assert_eq!(heard, [json!(["sb:seq", 1, "announce", "from a"]), json!(["sb:seq", 2, "announce", "from b"])]);
    // A hub that saw number 1 (on node A) resumes on node B.
    let mut back = RawSocket::connect(b.addr).await;
    let (ack, seen) = back.emit_ack_seen(r#"["sb:resume",1]"#).await;
    assert_eq!(ack, r#"[{"recovered":true}]"#);
    assert!(seen.contains(&json!(["sb:seq", 2, "announce", "from b"])), "{seen:?}");
    assert!(!seen.iter().any(|s| s[1] == json!(1)), "only what it missed: {seen:?}");
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
    redis.kill().await;
    let sending = async {
        let t = Instant::now();
        let (ack, seen) = on_a.emit_ack_seen(r#"["sb:emit","r-2","record",{"n":2}]"#).await;
        (ack, seen, t.elapsed())
    };
    let restarting = async {
        // Back once node A is waiting on it (the emit's claim is being retried).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
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
    let (ack, seen) = on_b.emit_ack_seen(r#"["sb:resume",0]"#).await;
    assert_eq!(ack, r#"[{"recovered":true}]"#);
    assert!(seen.contains(&json!(["sb:seq", 1, "announce", "before"])), "the replay log survived: {seen:?}");
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

/// The body of an HTTP answer, as JSON.
fn body(res: &str) -> Value {
    res.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default()
}

/// Sessions and refresh families live in Redis: a refresh token rotated through node A is
/// known to node B, and a replay of it there revokes the family for every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotated_on_one_node_is_known_to_another_and_its_replay_revokes_everywhere() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let login = post(a.addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let (first, device) = (set_cookie(&login, "sb_refresh"), set_cookie(&login, "sb_device"));
    // Rotated on A; the new token works on B (and is rotated there).
    let on_a = post(a.addr, "/auth/refresh", "{}", &format!("{first}; {device}")).await;
    assert!(on_a.starts_with("HTTP/1.1 200"), "{on_a}");
    let second = set_cookie(&on_a, "sb_refresh");
    let on_b = post(b.addr, "/auth/refresh", "{}", &format!("{second}; {device}")).await;
    assert!(on_b.starts_with("HTTP/1.1 200"), "node B knows the token node A gave: {on_b}");
    let access = set_cookie(&on_b, "sb_access");
    assert!(get_with(a.addr, "/auth/session", &access).await.starts_with("HTTP/1.1 200"), "and node A the one B gave");
    // The first token, replayed on B from another browser: the family is revoked everywhere.
    let replay = post(b.addr, "/auth/refresh", "{}", &format!("{first}; sb_device=elsewhere")).await;
    assert!(replay.starts_with("HTTP/1.1 401") && body(&replay)["error"].as_str().is_some_and(|e| e.contains("reuse")));
    assert!(get_with(a.addr, "/auth/session", &access).await.starts_with("HTTP/1.1 401"), "signed out on node A too");
    assert!(!alone.auth.user_names().await.is_empty(), "(the node alone has its own accounts)");
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// A session revoked through node B: its socket on node A hears why and is disconnected
/// (the adapter carries both); prints how long that took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_node_signs_out_the_sockets_on_another() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let sign_in = async |node: &Server| {
        let res = post(node.addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
        (set_cookie(&res, "sb_access"), body(&res)["session"].as_str().unwrap_or_default().to_string())
    };
    let ((doomed, doomed_id), (other, _)) = (sign_in(&a).await, sign_in(&b).await);
    let token = doomed.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let mut socket = RawSocket::connect_with(a.addr, &json!({ "token": token }).to_string()).await;
    assert!(socket.emit_ack(r#"["echo",1]"#).await.contains('1'), "connected, signed in");
    let t = Instant::now();
    let revoke = json!({ "target": doomed_id }).to_string();
    assert!(post(b.addr, "/auth/sessions/revoke", &revoke, &other).await.starts_with("HTTP/1.1 200"));
    assert_eq!(socket.next_event("TOKEN_INVALIDATED").await["reason"], json!("session revoked"));
    let told = t.elapsed();
    let closed = socket.until(|f| f.starts_with("41")).await;
    println!(
        "revoked through node B: the socket on node A was told after {} ms, disconnected after {} ms ({closed})",
        told.as_millis(),
        t.elapsed().as_millis()
    );
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// A new device's limited session, verified through node A, is full on node B at once (node B
/// heard it on the nodes' channel): a durable emit its socket on B sends is refused before and
/// delivered after. Two refreshers of one browser racing on two nodes both get the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_verified_on_one_node_is_trusted_on_another_and_one_browsers_refreshers_may_race_across_nodes() {
    let redis = Redis::start().await;
    let config = |name: &str| Config { verify_new_devices: true, ..node(name, Some(&redis)) };
    let (a, b) = (common::server_with(config("a")).await, common::server_with(config("b")).await);
    let login = post(a.addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
    let (access, refresh, device) =
        (set_cookie(&login, "sb_access"), set_cookie(&login, "sb_refresh"), set_cookie(&login, "sb_device"));
    let token = access.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let mut on_b = RawSocket::connect_with(b.addr, &json!({ "token": token }).to_string()).await;
    let refused = on_b.emit_ack(r#"["sb:emit","v-1","record",{"n":1}]"#).await;
    assert!(refused.contains("verif"), "limited on node B: {refused}");
    let code = a.auth.last_mail("alice").expect("a code was mailed");
    let verified = post(a.addr, "/auth/verify", &json!({ "code": code }).to_string(), &access).await;
    assert!(verified.starts_with("HTTP/1.1 200"), "{verified}");
    on_b.next_event("SECURITY_DEVICE_VERIFIED").await;
    assert_eq!(on_b.emit_ack(r#"["sb:emit","v-2","record",{"n":2}]"#).await, r#"[{"ok":true}]"#);
    assert_eq!(redis.list(RECORDED).await, [json!({"n": 2})]);
    // One browser's two refreshers (its device cookie) with one token, on two nodes at once.
    let cookies = format!("{refresh}; {device}");
    let (x, y) =
        tokio::join!(post(a.addr, "/auth/refresh", "{}", &cookies), post(b.addr, "/auth/refresh", "{}", &cookies));
    assert!(x.starts_with("HTTP/1.1 200") && y.starts_with("HTTP/1.1 200"), "{x}\n{y}");
    assert_eq!(set_cookie(&x, "sb_refresh"), set_cookie(&y, "sb_refresh"), "both got the session's current token");
    for srv in [a, b] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Shared state lives in Redis: writes of one key on two nodes at once both settle (each
/// node counts its own writes), every node then reads the same document, and a `set:` key
/// holds both nodes' elements; a retried mutation on the other node is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_state_written_on_two_nodes_at_once_converges() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let token = async |node: &Server| {
        let s = node.auth.login("alice", "alice-password").await.expect("login");
        json!({ "token": s.access }).to_string()
    };
    let (mut on_a, mut on_b) = (
        RawSocket::connect_with(a.addr, &token(&a).await).await,
        RawSocket::connect_with(b.addr, &token(&b).await).await,
    );
    let set = |id: &str, key: &str, value: Value| json!(["sb:emit", id, "sb:set", key, {}, value]).to_string();
    for round in 0..20 {
        for key in ["set:tags", "doc"] {
            let value = |from: &str| match key {
                "doc" => json!({ "from": from, "round": round }),
                _ => json!([format!("{from}{round}")]),
            };
            let (to_a, to_b) =
                (set(&format!("a-{key}-{round}"), key, value("a")), set(&format!("b-{key}-{round}"), key, value("b")));
            let (x, y) = tokio::join!(on_a.emit_ack(&to_a), on_b.emit_ack(&to_b));
            assert_eq!((x.as_str(), y.as_str()), (r#"[{"ok":true}]"#, r#"[{"ok":true}]"#));
        }
    }
    // A retry of a mutation node A applied, sent to node B: answered, not applied again.
    assert_eq!(on_b.emit_ack(&set("a-set:tags-0", "set:tags", json!(["again"]))).await, r#"[{"ok":true}]"#);
    let read = async |s: &mut RawSocket| -> Value {
        let ack = s.emit_ack(r#"["sb:state"]"#).await;
        let all: Vec<Value> = serde_json::from_str(&ack).expect("the ack's arguments");
        all[0].clone()
    };
    let (on_node_a, on_node_b) = (read(&mut on_a).await, read(&mut on_b).await);
    assert_eq!(on_node_a, on_node_b, "every node reads the same documents");
    let tags = on_node_a.as_array().and_then(|u| u.iter().find(|u| u["key"] == "set:tags")).expect("set:tags").clone();
    let mut got: Vec<String> = tags["value"].as_array().expect("an array").iter().map(|v| v.to_string()).collect();
    got.sort();
    let mut want: Vec<String> = (0..20).flat_map(|r| [format!("\"a{r}\""), format!("\"b{r}\"")]).collect();
    want.sort();
    assert_eq!(got, want, "both nodes' elements, the retry not applied");
    let doc = on_node_a.as_array().and_then(|u| u.iter().find(|u| u["key"] == "doc")).expect("doc").clone();
    assert_eq!(doc["value"]["round"], json!(19), "the last round's write settled: {doc}");
    assert!(
        doc["version"]["a"].as_u64().is_some() && doc["version"]["b"].as_u64().is_some(),
        "both nodes counted: {doc}"
    );
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

fn report(scope: &str, term: u64, tabs: &[(&str, u8)]) -> String {
    let tabs: Vec<_> = tabs.iter().map(|(t, l)| json!({"tab": t, "level": l})).collect();
    format!("42{}", json!(["sb:priority", {"scope": scope, "term": term, "tabs": tabs}]))
}

fn lead(tab: &str, term: u64, arg: &str) -> String {
    json!(["sb:lead", {"scope": "user", "tab": tab, "term": term}, "record", arg]).to_string()
}

/// One user's devices on two nodes elect one leader (the arbiter is in Redis): both hear the
/// same holder and term, only the holder's command passes, the hysteresis hands over across
/// nodes, and when the holder's device goes the other leads under a new term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_devices_on_two_nodes_elect_one_leader() {
    let redis = Redis::start().await;
    let config =
        |name: &str| Config { leader_hysteresis: std::time::Duration::from_millis(300), ..node(name, Some(&redis)) };
    let (a, b) = (common::server_with(config("a")).await, common::server_with(config("b")).await);
    let token = async |node: &Server| {
        json!({ "token": node.auth.login("alice", "alice-password").await.expect("login").access }).to_string()
    };
    let (mut on_a, mut on_b) = (
        RawSocket::connect_with(a.addr, &token(&a).await).await,
        RawSocket::connect_with(b.addr, &token(&b).await).await,
    );
    on_a.send(&report("user", 0, &[("tab-a", 2)])).await;
    let e = on_a.next_event("LEADER_ELECTED").await;
    assert_eq!((e["leader"].as_str(), e["term"].as_u64()), (Some("tab-a"), Some(1)));
    on_b.send(&report("user", 0, &[("tab-b", 1)])).await;
    let e = on_b.next_event("LEADER_ELECTED").await;
    assert_eq!(
        (e["leader"].as_str(), e["term"].as_u64()),
        (Some("tab-a"), Some(1)),
        "node B's socket hears A's tab leads"
    );
    // b comes to the front: after the hysteresis it leads, and both nodes' sockets hear it.
    on_b.send(&report("user", 0, &[("tab-b", 3)])).await;
    for s in [&mut on_a, &mut on_b] {
        let e = s.until(|f| f.starts_with(r#"42["LEADER_ELECTED""#) && f.contains("tab-b")).await;
        assert!(e.contains(r#""term":2"#), "{e}");
    }
    let stale = on_a.emit_ack(&lead("tab-a", 1, "from a")).await;
    assert!(stale.contains("stale term 1"), "{stale}");
    assert_eq!(on_b.emit_ack(&lead("tab-b", 2, "from b")).await, r#"[{"ok":true}]"#);
    assert_eq!(redis.list(RECORDED).await, [json!("from b")]);
    // A renewal on node B is heard on node A.
    on_b.send(&format!("42{}", json!(["sb:renew", {"scope": "user", "tab": "tab-b", "term": 2}]))).await;
    let h = on_a.next_event("LEADER_HEARTBEAT").await;
    assert_eq!((h["leader"].as_str(), h["term"].as_u64()), (Some("tab-b"), Some(2)));
    // The holder's device goes: the tab on node A leads at once, under term 3.
    on_b.close().await;
    let e = on_a.until(|f| f.starts_with(r#"42["LEADER_ELECTED""#) && f.contains("tab-a")).await;
    assert!(e.contains(r#""term":3"#), "{e}");
    for srv in [a, b] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// The next `sb:members` list of `room` this socket hears.
async fn members(s: &mut RawSocket, room: &str) -> Value {
    let prefix = format!(r#"42["sb:room","{room}","sb:members""#);
    let frame = s.until(|f| f.starts_with(&prefix)).await;
    let args: Vec<Value> = serde_json::from_str(&frame[2..]).expect("an event array");
    args[3]["members"].clone()
}

/// Presence lists every node's members: alice on node A and bob on node B see each other in
/// a room; bob's socket going (or his node stopping) takes him off the list on node A; the
/// entries of a node that stopped saying it is alive (a crash) are dropped at the next change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_lists_the_members_of_every_node() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let token = async |node: &Server, user: &str| {
        let s = node.auth.login(user, &format!("{user}-password")).await.expect("login");
        json!({ "token": s.access }).to_string()
    };
    let mut on_a = RawSocket::connect_with(a.addr, &token(&a, "alice").await).await;
    let mut on_b = RawSocket::connect_with(b.addr, &token(&b, "bob").await).await;
    for s in [&mut on_a, &mut on_b] {
        assert_eq!(s.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    }
    let alice = json!({"user": "alice", "device": null, "tabs": ["a1"]});
    let bob = json!({"user": "bob", "device": null, "tabs": ["b1"]});
    on_a.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["a1"]}]))).await;
    assert_eq!(members(&mut on_b, "team:1").await, json!([alice]), "node B hears node A's member");
    on_b.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["b1"]}]))).await;
    assert_eq!(members(&mut on_a, "team:1").await, json!([alice]));
    assert_eq!(members(&mut on_a, "team:1").await, json!([alice, bob]), "node A lists both");
    on_b.close().await;
    assert_eq!(members(&mut on_a, "team:1").await, json!([alice]), "bob's socket went");
    // Bob again on node B, then node B "crashes": its alive key lapses (deleted here).
    let mut on_b = RawSocket::connect_with(b.addr, &token(&b, "bob").await).await;
    assert_eq!(on_b.emit_ack(r#"["sb:join","team:1"]"#).await, r#"[{"ok":true}]"#);
    on_b.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["b1"]}]))).await;
    assert_eq!(members(&mut on_a, "team:1").await, json!([alice, bob]));
    let mut c = redis.client().await;
    redis::cmd("DEL").arg("sb:alive:b").query_async::<()>(&mut c).await.expect("DEL");
    on_a.send(&format!("42{}", json!(["sb:presence", {"room": "team:1", "tabs": ["a1", "a2"]}]))).await;
    let now = members(&mut on_a, "team:1").await;
    assert_eq!(
        now,
        json!([{"user": "alice", "device": null, "tabs": ["a1", "a2"]}]),
        "a dead node's entries are dropped"
    );
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Failed sign-ins on one account are counted across nodes: two on node A and one on node B
/// complete a burst of three, and the account's socket (on node A) hears it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_spread_over_nodes_are_one_burst() {
    let redis = Redis::start().await;
    let config = |name: &str| Config { suspicious_logins: 3, ..node(name, Some(&redis)) };
    let (a, b) = (common::server_with(config("a")).await, common::server_with(config("b")).await);
    let token = json!({ "token": a.auth.login("alice", "alice-password").await.expect("login").access }).to_string();
    let mut on_a = RawSocket::connect_with(a.addr, &token).await;
    assert!(on_a.emit_ack(r#"["echo",1]"#).await.contains('1'));
    let wrong = r#"{"username":"alice","password":"WRONG-PASSWORD-1"}"#;
    for node in [&a, &a, &b] {
        assert!(post(node.addr, "/auth/login", wrong, "").await.starts_with("HTTP/1.1 401"));
    }
    let e = on_a.next_event("SECURITY_SUSPICIOUS_ACTIVITY").await;
    assert_eq!(e["kind"], json!("failed-logins"), "{e}");
    for srv in [a, b] {
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

/// Prints (asserts only that everything arrived) durable emits per second through three nodes
/// on one Redis — three sockets, one per node, each sending 2,000 pipelined `sb:emit`s — and
/// Redis commands per durable emit and per numbered broadcast.
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
    assert!(per_emit >= 2.0, "a claim and a mark per emit: {per_emit}");
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

/// A session that ended while the nodes' pub/sub was broken (the word to its socket on
/// another node lost): when the break is mended, that node finds the session gone, tells its
/// socket why and disconnects it; a socket whose session lives on is greeted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mended_break_ends_the_sockets_of_sessions_that_ended_meanwhile() {
    let Cluster { redis, a, b, alone } = Cluster::start().await;
    let (doomed, kept) = (
        a.auth.login("alice", "alice-password").await.expect("login"),
        a.auth.login("bob", "bob-password").await.expect("login"),
    );
    let mut gone = RawSocket::connect_with(a.addr, &json!({ "token": doomed.access }).to_string()).await;
    let mut stays = RawSocket::connect_with(a.addr, &json!({ "token": kept.access }).to_string()).await;
    for s in [&mut gone, &mut stays] {
        assert!(s.emit_ack(r#"["echo",1]"#).await.contains('1'));
    }
    // Revoked through node B's store alone: nobody is told (as if the adapter lost it).
    assert_eq!(b.auth.revoke(std::slice::from_ref(&doomed.id), "revoked while the network was split").await.len(), 1);
    // A node says its pub/sub was mended.
    let mut c = redis.client().await;
    redis::cmd("PUBLISH").arg("sb:node-events").arg("mended b").query_async::<()>(&mut c).await.expect("PUBLISH");
    assert_eq!(gone.next_event("TOKEN_INVALIDATED").await["reason"], json!("revoked while the network was split"));
    gone.until(|f| f.starts_with("41")).await;
    stays.until(|f| f.starts_with(r#"42["sb:hello""#)).await;
    for srv in [a, b, alone] {
        srv.stop().await;
    }
    redis.stop().await;
}

/// Token deadlines are kept in Redis: a session signed in through node A, which then stops,
/// is still warned before its access token ends and signed out when its refresh token ends,
/// on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_deadlines_set_on_a_node_that_stopped_are_kept_by_another() {
    let redis = Redis::start().await;
    let config = |name: &str| Config {
        access_ttl: std::time::Duration::from_secs(6),
        refresh_ttl: std::time::Duration::from_secs(8),
        ..node(name, Some(&redis))
    };
    let (a, b) = (common::server_with(config("a")).await, common::server_with(config("b")).await);
    let login = post(a.addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
    let access = set_cookie(&login, "sb_access");
    a.stop().await;
    let token = access.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let mut on_b = RawSocket::connect_with(b.addr, &json!({ "token": token }).to_string()).await;
    assert!(on_b.next_event("TOKEN_EXPIRING").await["expires_at"].as_u64().is_some());
    assert_eq!(on_b.next_event("TOKEN_INVALIDATED").await["reason"], json!("session expired"));
    b.stop().await;
    redis.stop().await;
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
    assert_eq!(on_a.emit_ack(r#"["sb:emit","first-1","record",{"n":0}]"#).await, r#"[{"ok":true}]"#);
    // A numbered event: applied, its reply held, the connection cut, the step sent again.
    proxy.hold_replies(true);
    let once = json!("once");
    let publishing = a.publish("announce", &once);
    let losing = async {
        let mut c = redis.client().await;
        while redis::cmd("GET").arg("sb:replay:next").query_async::<u64>(&mut c).await.unwrap_or(0) < 2 {
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
    assert_eq!(log, [r#"1 ["announce","first"]"#, r#"2 ["announce","once"]"#], "one number, one entry");
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

/// A node that dies with the leader's socket (a process, SIGKILL): once its alive key lapses
/// (9 s), the next election step on another node drops its candidates and a tab there
/// leads (the lease, a minute here, is not waited for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_candidates_leave_the_election() {
    let redis = Redis::start().await;
    let a = common::server_with(Config { leader_lease: std::time::Duration::from_secs(60), ..node("a", Some(&redis)) })
        .await;
    let b = common::backend::Backend::start("b", &redis.url(), &["--leader-lease", "60000"]).await;
    let login = async |addr| {
        let res = post(addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#, "").await;
        let access = set_cookie(&res, "sb_access");
        json!({ "token": access.split_once('=').map(|(_, v)| v).unwrap_or_default() }).to_string()
    };
    let (mut on_a, mut on_b) = (
        RawSocket::connect_with(a.addr, &login(a.addr).await).await,
        RawSocket::connect_with(b.addr, &login(b.addr).await).await,
    );
    on_b.send(&report("user", 0, &[("tab-b", 3)])).await;
    assert_eq!(on_b.next_event("LEADER_ELECTED").await["leader"], json!("tab-b"));
    on_a.send(&report("user", 0, &[("tab-a", 1)])).await;
    let e = on_a.until(|f| f.starts_with(r#"42["LEADER_ELECTED""#)).await;
    assert!(e.contains("tab-b"), "{e}");
    b.kill().await;
    drop(on_b);
    // Node A's tab reports now and then (as a hub does when its tab's state changes); once
    // node B's alive key lapsed, a report finds its candidates gone.
    let t = Instant::now();
    let elected = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        for level in [1, 2].iter().cycle() {
            on_a.send(&report("user", 0, &[("tab-a", *level)])).await;
            let frames = on_a.drain(std::time::Duration::from_millis(500)).await;
            if frames.iter().any(|f| f.starts_with(r#"42["LEADER_ELECTED""#) && f.contains(r#""leader":"tab-a""#)) {
                return;
            }
        }
    })
    .await;
    assert!(elected.is_ok(), "tab-a leads once node b is known dead");
    println!("a dead node's leader was replaced {} ms after the kill (alive key: 9 s)", t.elapsed().as_millis());
    a.stop().await;
    redis.stop().await;
}
