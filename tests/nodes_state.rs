//! Several reference-backend nodes behind one real Redis (`--redis`), what is decided once
//! for all of them: sessions, refresh families, revocations and verification; token
//! deadlines; leader election; shared state; presence; failed sign-ins. Delivery across
//! nodes: `tests/nodes.rs`.

mod common;

use common::http::{get_with, post, set_cookie};
use common::nodes::{body, lead, members, node, report, Cluster, RECORDED};
use common::redis::Redis;
use common::sio::RawSocket;
use serde_json::{json, Value};
use std::time::Instant;
use switchboard::server::{Config, Server};

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
