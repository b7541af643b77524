//! Fault injection end to end: every event a tab emits is counted at the server's
//! application, across dropped connections, server restarts, a killed worker, a browser
//! restart and a frozen tab. Nothing may be lost and nothing delivered twice.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::{by_tab, emit_numbered, exclusive, harness_tab, shared_worker_targets, Browser, Tab, CONNECTED};
use proxy::Proxy;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use switchboard::server::{Config, Server};

fn config(bind: SocketAddr, data: &Path) -> Config {
    Config {
        bind,
        ping_interval: Duration::from_millis(2_000),
        ping_timeout: Duration::from_millis(2_000),
        data_dir: Some(data.to_path_buf()),
        test_hooks: true,
        ..Config::default()
    }
}

async fn start(bind: SocketAddr, data: &Path) -> Server {
    common::start_on(config(bind, data)).await
}

/// Fast reconnection so a test spends its time on faults, not on backoff.
const FAST: &str = "{ reconnectionDelay: 100, reconnectionDelayMax: 500 }";

async fn client(b: &Browser, url: &str) -> Tab {
    harness_tab(b, url, FAST, CONNECTED, "connected").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_events_survive_five_cuts_and_a_server_restart() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let first = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let bind = first.addr;
    let proxy = Proxy::start(bind).await;
    let b = Browser::launch().await;
    let tabs = common::three_clients(&b, &proxy.url()).await;
    let emitting = common::six_hundred(&b, &tabs);
    // Faults at points of progress (what the application has recorded so far), not at
    // times, early enough that the tabs are still emitting (the hub sends faster than the
    // server handles): two cuts; then the hub is cut off and the server restarts while it
    // is away (events were in flight: some handled, none acknowledged); then three more cuts
    // spread over what is left, on the new server.
    let faults = async {
        for at in [10, 20] {
            first.recorded_at_least(at, Duration::from_secs(10)).await;
            proxy.cut();
        }
        first.recorded_at_least(30, Duration::from_secs(10)).await;
        proxy.cut();
        let stats = first.stats.clone();
        first.stop().await;
        let before_restart = stats.recorded.lock().map(|r| r.clone()).unwrap_or_default();
        let server = start(bind, data.path()).await;
        let left = 600usize.saturating_sub(before_restart.len());
        for quarter in 1..=3 {
            server.recorded_at_least(left * quarter / 4, Duration::from_secs(10)).await;
            proxy.cut();
        }
        (server, before_restart)
    };
    let (emitted, (server, mut records)) = tokio::join!(emitting, faults);
    println!("unconfirmed in each tab when it finished emitting: {emitted:?}");
    println!("the first server recorded {} of 600 events before its restart", records.len());
    assert!(records.len() < 600, "the restart must hit mid-stream (the first server recorded all 600)");
    let rest = server.recorded_at_least(600 - records.len(), Duration::from_secs(60)).await;
    records.extend(rest);
    let got = by_tab(&records);
    println!("server after the restart: {}", server.stats.snapshot());
    if records.len() < 600 {
        // What the tabs saw, to tell a hub that stopped from one that could not get through.
        for tab in &tabs {
            println!(
                "tab: {:?}",
                b.eval(tab, "JSON.stringify([sb.client.statusDetail, sb.statuses.slice(-12), sb.client.unconfirmed])")
                    .await
            );
        }
    }
    for name in ["A", "B", "C"] {
        let ns = got.get(name).cloned().unwrap_or_default();
        assert_eq!(ns, (0..200).collect::<Vec<u64>>(), "tab {name}: every event once, in order");
    }
    println!(
        "600/600 delivered once in order across 5 cuts and a server restart; proxy connections: {}; duplicates dropped by the server after the restart: {}",
        proxy.connections.load(std::sync::atomic::Ordering::Relaxed),
        server.stats.duplicates_dropped.load(std::sync::atomic::Ordering::Relaxed)
    );
    b.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_emitted_while_the_server_is_down_arrive_when_it_returns() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let bind = server.addr;
    let proxy = Proxy::start(bind).await;
    let b = Browser::launch().await;
    let tab = client(&b, &proxy.url()).await;
    server.stop().await;
    b.js(&tab, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    b.js(&tab, &emit_numbered("down", 25)).await;
    // Stored by the hub (IndexedDB) while the server is away.
    b.js(&tab, "sb.until(() => sb.client.unconfirmed === 0, 15000, 'stored')").await;
    let server = start(bind, data.path()).await;
    let records = server.recorded_at_least(25, Duration::from_secs(30)).await;
    assert_eq!(by_tab(&records).get("down").cloned().unwrap_or_default(), (0..25).collect::<Vec<u64>>());
    b.shutdown().await;
    server.stop().await;
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_stream_loses_nothing() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let b = Browser::launch().await;
    let tabs = [client(&b, &server.url()).await, client(&b, &server.url()).await];
    let workers = shared_worker_targets(&b).await;
    assert_eq!(workers.len(), 1, "one hub for both tabs");
    let script = emit_numbered("W", 200);
    let emitting = b.js(&tabs[0], &script);
    let kill = async {
        // Mid-stream by progress: a quarter of the events reached the application.
        server.recorded_at_least(50, Duration::from_secs(20)).await;
        let at = wall_ms();
        // The browser terminates the worker (as a crash or reclaiming would).
        b.send(None, "Target.closeTarget", json!({"targetId": workers[0]}));
        at
    };
    let (_, killed_at) = tokio::join!(emitting, kill);
    // Both tabs notice (the hub's lifetime lock), start a new hub and reconnect.
    for tab in &tabs {
        let noticed = b
            .js(tab, &format!("sb.until(() => sb.statusTimes.some((t, i) => t >= {killed_at} && sb.statuses[i] === 'connecting'), 2000, 'hub death noticed').then(() => sb.statusTimes.find((t, i) => t >= {killed_at} && sb.statuses[i] === 'connecting'))"))
            .await;
        println!("hub death noticed by a tab after {} ms", noticed.as_u64().unwrap_or(0).saturating_sub(killed_at));
        if tab.session == tabs[0].session {
            // What the emitting tab still held when it noticed: the old hub had not confirmed it.
            let held = b
                .js(tab, &format!("sb.unconfirmedAt[sb.statusTimes.findIndex((t, i) => t >= {killed_at} && sb.statuses[i] === 'connecting')]"))
                .await;
            println!("the emitting tab held {held} unconfirmed emits when the hub died");
            assert!(held.as_u64().unwrap_or(0) > 0, "the kill must hit while emits are unconfirmed: {held}");
        }
        let r = b
            .eval(tab, "sb.until(() => sb.client.status === 'connected', 10000, 'reconnected through a new hub')")
            .await;
        if r.is_err() {
            let state =
                b.js(tab, "JSON.stringify({ s: sb.statuses, st: sb.client.status, u: sb.client.unconfirmed })").await;
            let targets = b.call(None, "Target.getTargets", json!({})).await;
            panic!("not reconnected: {state} targets: {targets:?}");
        }
    }
    let records = server.recorded_at_least(200, Duration::from_secs(30)).await;
    assert_eq!(by_tab(&records).get("W").cloned().unwrap_or_default(), (0..200).collect::<Vec<u64>>());
    let new_workers = shared_worker_targets(&b).await;
    assert_eq!(new_workers.len(), 1);
    assert_ne!(new_workers, workers, "a new worker runs the hub");
    b.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_left_by_a_closed_browser_flushes_on_the_next_visit() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let bind = server.addr;
    let proxy = Proxy::start(bind).await;
    let b = Browser::launch_with_profile(profile.path()).await;
    let tab = client(&b, &proxy.url()).await;
    server.stop().await;
    b.js(&tab, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    b.js(&tab, &emit_numbered("later", 20)).await;
    b.js(&tab, "sb.until(() => sb.client.unconfirmed === 0, 15000, 'stored')").await;
    b.shutdown().await;

    let server = start(bind, data.path()).await;
    let b = Browser::launch_with_profile(profile.path()).await;
    let _tab = client(&b, &proxy.url()).await;
    let records = server.recorded_at_least(20, Duration::from_secs(30)).await;
    assert_eq!(by_tab(&records).get("later").cloned().unwrap_or_default(), (0..20).collect::<Vec<u64>>());
    b.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_frozen_through_a_reconnect_resumes_connected_with_its_events() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let proxy = Proxy::start(server.addr).await;
    let b = Browser::launch().await;
    let (a, frozen) = (client(&b, &proxy.url()).await, client(&b, &proxy.url()).await);
    for tab in [&a, &frozen] {
        b.js(tab, "sb.record('news'); sb.client.emitWithAck('echo', 'subscribed')").await;
    }
    b.call(Some(&frozen.session), "Page.setWebLifecycleState", json!({"state": "frozen"})).await.expect("freeze");
    proxy.cut();
    b.js(&a, "sb.until(() => sb.statuses.includes('reconnecting') && sb.client.status === 'connected', 15000, 'reconnected')").await;
    server.io.emit("news", &json!({"after": "reconnect"})).await.expect("emit");
    b.js(&a, "sb.until(() => sb.events.some((e) => e.name === 'news'))").await;
    b.call(Some(&frozen.session), "Page.setWebLifecycleState", json!({"state": "active"})).await.expect("resume");
    let got = b.js(&frozen, "sb.until(() => sb.client.status === 'connected' && sb.events.find((e) => e.name === 'news')).then((e) => e.args[0])").await;
    assert_eq!(got, json!({"after": "reconnect"}));
    b.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_hub_was_away_are_replayed_on_resume() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let proxy = Proxy::start(server.addr).await;
    let b = Browser::launch().await;
    let tab = client(&b, &proxy.url()).await;
    b.js(&tab, "sb.record('news'); sb.client.emitWithAck('echo', 'subscribed')").await;
    server.publish("news", &json!(0)).await;
    b.js(&tab, "sb.until(() => sb.events.length === 1)").await;
    // The network goes away; the server goes on publishing.
    proxy.blocked.store(true, std::sync::atomic::Ordering::Relaxed);
    proxy.cut();
    b.js(&tab, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    for n in 1..=3 {
        server.publish("news", &json!(n)).await;
    }
    proxy.blocked.store(false, std::sync::atomic::Ordering::Relaxed);
    let got = b
        .js(&tab, "sb.until(() => sb.events.length === 4 && sb.client.recovered !== undefined, 15000, 'replay').then(() => [sb.events.map((e) => e.args[0]), sb.client.recovered])")
        .await;
    assert_eq!(got, json!([[0, 1, 2, 3], true]), "every missed event once, in order, and told it was recovered");
    b.shutdown().await;
    server.stop().await;
}

/// The registration id of the page origin's service worker, through a page session.
/// What the service worker writes to its console from now on (for a failure's message).
async fn service_worker_console(b: &Browser) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let targets = b.call(None, "Target.getTargets", json!({})).await.unwrap_or_default();
    let Some(sw) = targets["targetInfos"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "service_worker"))
        .and_then(|t| t["targetId"].as_str())
        .map(String::from)
    else {
        return log;
    };
    let mut events = b.subscribe();
    let session = b.attach(&sw).await;
    let _ = b.call(Some(&session), "Runtime.enable", json!({})).await;
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if e["method"] == "Runtime.consoleAPICalled" && e["sessionId"] == session.as_str() {
                let text: Vec<String> = e["params"]["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["value"].as_str().map(String::from).unwrap_or_else(|| a.to_string()))
                    .collect();
                if let Ok(mut l) = sink.lock() {
                    l.push(text.join(" "));
                }
            }
        }
    });
    log
}

async fn service_worker_registration(b: &Browser, session: &str) -> String {
    let mut events = b.subscribe();
    b.call(Some(session), "ServiceWorker.enable", json!({})).await.expect("ServiceWorker.enable");
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a registration event")
            .expect("events");
        if e["method"] == "ServiceWorker.workerRegistrationUpdated" {
            if let Some(id) = e["params"]["registrations"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["isDeleted"] == false))
                .and_then(|r| r["registrationId"].as_str())
            {
                return id.to_string();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_worker_delivers_the_queue_when_no_tab_is_open_and_refreshes_in_the_background() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let bind = server.addr;
    let origin = server.url();
    let b = Browser::launch().await;
    let tab = b.open(&format!("{origin}/harness.html")).await;
    b.js(&tab, "sb.start({ serviceWorker: '/switchboard-sw.js', reconnectionDelay: 100, reconnectionDelayMax: 500 }).then(() => sb.until(() => sb.client.status === 'connected'))").await;
    // Signing in reconnects the socket so its handshake carries the cookie: wait until that
    // connection is up, or the server would be stopped mid-handshake (and refuse it).
    b.js(
        &tab,
        "navigator.serviceWorker.ready.then(async () => {
            const n = sb.statuses.length;
            await sb.client.login('alice', 'alice-password');
            await sb.until(() => sb.statuses.indexOf('connected', sb.statuses.indexOf('connecting', n)) > n, 10000, 'reconnected signed in');
        })",
    )
    .await;
    server.stop().await;
    b.js(&tab, "sb.until(() => sb.client.status === 'reconnecting', 15000, 'reconnecting')").await;
    b.js(&tab, &emit_numbered("sw", 10)).await;
    b.js(&tab, "sb.until(() => sb.client.unconfirmed === 0, 15000, 'stored')").await;
    // Close the only tab and wait for its hub to end.
    let worker = shared_worker_targets(&b).await.pop().expect("the hub");
    let mut events = b.subscribe();
    b.call(None, "Target.setDiscoverTargets", json!({"discover": true})).await.expect("discover");
    b.close_tab(&tab).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(e) = events.recv().await {
            if e["method"] == "Target.targetDestroyed" && e["params"]["targetId"] == worker.as_str() {
                return;
            }
        }
    })
    .await
    .expect("the hub ends with its last tab");
    let server = start(bind, data.path()).await;
    // The browser fires `sync` when it sees fit; the DevTools protocol fires it now. A sync
    // that finds the ending hub still holding its lock for 3 s leaves the queue to it: fired
    // once more after 10 s, as the browser would on its next chance (the CI run met it once).
    let blank = b.open("about:blank").await;
    let registration = service_worker_registration(&b, &blank.session).await;
    let sw_log = service_worker_console(&b).await;
    let mut records = Vec::new();
    for _ in 0..2 {
        b.call(
            Some(&blank.session),
            "ServiceWorker.dispatchSyncEvent",
            json!({"origin": origin, "registrationId": registration, "tag": "switchboard-flush", "lastChance": false}),
        )
        .await
        .expect("dispatch sync");
        records = server.recorded_at_least(10, Duration::from_secs(10)).await;
        if records.len() >= 10 {
            break;
        }
    }
    assert_eq!(
        by_tab(&records).get("sw").cloned().unwrap_or_default(),
        (0..10).collect::<Vec<u64>>(),
        "delivered with no tab open; the service worker said: {:?}; the server recorded {records:?} of {} durable emits received ({} dropped as duplicates)",
        sw_log.lock().map(|l| l.clone()).unwrap_or_default(),
        server.stats.emits_received.load(std::sync::atomic::Ordering::Relaxed),
        server.stats.duplicates_dropped.load(std::sync::atomic::Ordering::Relaxed),
    );
    // periodicsync: a background refresh request carrying the browser's refresh cookie (the
    // restarted server no longer knows the session, so it refuses it: the request is the point).
    let seen = server.auth.telemetry.refresh_seen.notified();
    b.call(
        Some(&blank.session),
        "ServiceWorker.dispatchPeriodicSyncEvent",
        json!({"origin": origin, "registrationId": registration, "tag": "switchboard-refresh"}),
    )
    .await
    .expect("dispatch periodic sync");
    tokio::time::timeout(Duration::from_secs(10), seen).await.expect("a background refresh request");
    assert_eq!(server.auth.telemetry.refresh_requests.load(std::sync::atomic::Ordering::Relaxed), 1);
    b.shutdown().await;
    server.stop().await;
}

/// A browser re-running the hub under its open ports (WebKit bug 318873), simulated: the
/// worker's hub state is dropped mid-stream and started again from storage on the same
/// ports (the `simulateRerun` hook). Both tabs attach again — the emitting one and an idle
/// one that only listens — and every event reaches the application once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_run_again_under_open_ports_loses_nothing() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(config("127.0.0.1:0".parse().expect("addr"), data.path())).await.expect("server");
    let b = Browser::launch().await;
    let tabs = [client(&b, &server.url()).await, client(&b, &server.url()).await];
    b.js(&tabs[1], "sb.record('announce')").await;
    let worker = shared_worker_targets(&b).await.pop().expect("the hub");
    let session = b.attach(&worker).await;
    let script = emit_numbered("R", 200);
    let emitting = b.js(&tabs[0], &script);
    let rerun = async {
        server.recorded_at_least(50, Duration::from_secs(20)).await;
        let r =
            b.call(Some(&session), "Runtime.evaluate", json!({"expression": "self.switchboard.simulateRerun()"})).await;
        assert!(r.as_ref().is_ok_and(|v| v.get("exceptionDetails").is_none()), "the hook ran: {r:?}");
    };
    tokio::join!(emitting, rerun);
    let records = server.recorded_at_least(200, Duration::from_secs(30)).await;
    assert_eq!(by_tab(&records).get("R").cloned().unwrap_or_default(), (0..200).collect::<Vec<u64>>());
    // The idle tab attached again too: a broadcast after the re-run reaches it. Each tab heard the new hub (a `connecting` after its first `connected`) and is
    // connected again before the broadcast goes out.
    let again = "sb.until(() => sb.statuses.lastIndexOf('connecting') > sb.statuses.indexOf('connected') \
                 && sb.client.status === 'connected', 10000, 'connected again')";
    for tab in &tabs {
        b.js(tab, again).await;
    }
    server.publish("announce", &json!("after the re-run")).await;
    let heard = "sb.until(() => sb.events.some((e) => e.args[0] === 'after the re-run'), 10000, 'the broadcast')";
    if let Err(why) = b.eval(&tabs[1], heard).await {
        // What the hub holds for its tabs (subscriptions, status), to tell which side lost it.
        let hub = json!({"expression": "JSON.stringify(self.switchboard.debugState())", "returnByValue": true});
        let state = b.call(Some(&session), "Runtime.evaluate", hub).await;
        let tab = b.eval(&tabs[1], "JSON.stringify({statuses: sb.statuses, events: sb.events})").await;
        panic!("{why}\nthe hub: {state:?}\nthe idle tab: {tab:?}");
    }
    b.shutdown().await;
    server.stop().await;
}
