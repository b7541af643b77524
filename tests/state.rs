//! Shared state end to end: the real bundle in headless Chromium, two browsers (two
//! devices) signed in as the same user, against the reference backend through proxies the
//! test can cut.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::{exclusive, harness_tab, Browser, Tab, CONNECTED};
use proxy::Proxy;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard::server::Server;

/// Opens `n` harness tabs through `url`, signs alice in, and gives each client its state.
async fn signed_in_tabs(b: &Browser, url: &str, n: usize) -> Vec<Tab> {
    let mut tabs = Vec::new();
    for _ in 0..n {
        tabs.push(harness_tab(b, url, "{}", CONNECTED, "connected").await);
    }
    b.js(&tabs[0], "sb.client.login('alice', 'alice-password')").await;
    for t in &tabs {
        b.js(t, "sb.until(() => sb.client.auth && sb.client.auth.user === 'alice' && sb.client.status === 'connected', 15000, 'signed in')").await;
        b.js(t, "sb.withState().then(() => { sb.watch('doc'); sb.watch('lat'); })").await;
    }
    tabs
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Four tabs on two browsers write one key concurrently and converge on the server's
/// value; a browser cut off writes three times, reloads (reading the last value from
/// storage) and, back online, converges with the overwritten values reported as conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tabs_on_two_devices_converge_on_the_servers_value_even_after_writing_offline() {
    let _one = exclusive().await;
    let data = tempfile::tempdir().expect("data dir");
    let config = switchboard::server::Config { data_dir: Some(data.path().to_path_buf()), ..common::config() };
    let srv = Server::start(config).await.expect("server");
    let (pa, pb) = (Proxy::start(srv.addr).await, Proxy::start(srv.addr).await);
    let (one, two) = (Browser::launch().await, Browser::launch().await);
    let a = signed_in_tabs(&one, &pa.url(), 2).await;
    let b = signed_in_tabs(&two, &pb.url(), 2).await;
    let all: Vec<(&Browser, &Tab)> = vec![(&one, &a[0]), (&one, &a[1]), (&two, &b[0]), (&two, &b[1])];

    // Latency: a write in one tab, seen by the other tab of its browser and by the other
    // browser's tabs (subscribe times against the set's start, one clock on this machine).
    let (mut same, mut other) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let t0 = one
            .js(
                &a[0],
                &format!(
                    "(sb.t0 = performance.timeOrigin + performance.now(), sb.client.state.set('lat', {i}), sb.t0)"
                ),
            )
            .await;
        let t0 = t0.as_f64().unwrap_or(0.0);
        for (k, (br, t)) in all.iter().enumerate().skip(1) {
            let at = br.js(t, &format!("sb.until(() => sb.changes.find((c) => c.key === 'lat' && c.value === {i}), 10000, 'lat {i}').then((c) => c.at)")).await;
            let ms = at.as_f64().unwrap_or(0.0) - t0;
            if k == 1 {
                same.push(ms)
            } else {
                other.push(ms)
            }
        }
    }
    println!(
        "set -> subscribe: same browser p50 {:.1} ms p99 {:.1} ms; other browser p50 {:.1} ms p99 {:.1} ms",
        percentile(&mut same, 0.5),
        percentile(&mut same, 0.99),
        percentile(&mut other, 0.5),
        percentile(&mut other, 0.99)
    );

    // Bytes on the wire for one write when all is quiet: the server's side is counted (two
    // sockets get the update; the writer's hub also gets the receipt); the hub's frame is
    // the envelope as sent (plus a 6-byte masked WebSocket header).
    let before = srv.stats.bytes_sent.load(Ordering::Relaxed);
    one.js(&a[0], "sb.client.state.set('lat', 'x')").await;
    two.js(&b[1], "sb.until(() => sb.client.state.get('lat') === 'x', 10000, 'x')").await;
    let down = srv.stats.bytes_sent.load(Ordering::Relaxed) - before;
    let id = one.js(&a[0], "sb.client.id").await;
    let version = one.js(&a[0], "sb.changes.filter((c) => c.key === 'lat').pop().version").await;
    let up =
        format!("4210[\"sb:emit\",\"{}-99\",\"sb:set\",\"lat\",{version},\"x\"]", id.as_str().unwrap_or("")).len() + 6;
    println!(
        "one write: {up} B hub -> server, {down} B server -> hubs (2 sockets); version {version} ({} entry)",
        version.as_object().map_or(0, |o| o.len())
    );

    // 50 concurrent writes from four tabs, none awaited.
    for i in 0..50 {
        let (br, t) = all[i % 4];
        // Each outcome is recorded and re-checks the waits (a write settles after its update).
        let write = format!(
            "(sb.results ??= [], sb.client.state.set('doc', {{ n: {i}, tab: {} }}).then(() => 'ok', (e) => e.message)\
             .then((r) => {{ sb.results.push([{i}, r]); sb.notify(); }}), 0)",
            i % 4
        );
        br.js(t, &write).await;
    }
    let last = std::time::Instant::now();
    let settled = |v: &Value| {
        format!("sb.until(() => sb.client.state.pending === 0 && JSON.stringify(sb.client.state.get('doc')) === {:?}, 15000, 'converged')", v.to_string())
    };
    let mut server_value = Value::Null;
    for _ in 0..100 {
        // The server's value once every tab's writes settled (the tabs' pending counts reach 0).
        for (k, (br, t)) in all.iter().enumerate() {
            if let Err(e) = br.eval(t, "sb.until(() => sb.client.state.pending === 0, 15000, 'writes settled')").await {
                let detail = br.js(t, "JSON.stringify([sb.client.state.pending, sb.results, sb.client.status])").await;
                panic!("tab {k}: {e}: {detail}");
            }
        }
        server_value = srv.state_value("user:alice", "doc").await.expect("the server has doc");
        if server_value["n"].as_u64().is_some() {
            break;
        }
    }
    for (br, t) in &all {
        br.js(t, &settled(&server_value)).await;
    }
    println!("50 concurrent writes from 4 tabs on 2 browsers: every tab shows the server's value {} ms after the last write was issued", last.elapsed().as_millis());

    // Browser two goes offline, writes three times while browser one writes, and a reload
    // (its only tab left) reads the last value it knew from storage.
    let before = two.js(&b[0], "sb.client.state.get('doc')").await;
    pb.sockets_blocked.store(true, Ordering::Relaxed);
    pb.cut();
    two.js(&b[0], "sb.until(() => sb.client.status !== 'connected', 15000, 'offline')").await;
    for i in 1..=3 {
        two.js(&b[0], &format!("(sb.client.state.set('doc', 'offline-{i}'), 0)")).await;
    }
    one.js(&a[0], "sb.client.state.set('doc', 'online')").await;
    two.close_tab(&b[1]).await;
    two.js(&b[0], "sb.until(() => sb.tabs.length === 1, 15000, 'one tab left')").await;
    let reloaded = reload(&two, &b[0]).await;
    assert_eq!(two.js(&reloaded, "sb.client.state.get('doc')").await, before, "read offline after a reload");
    pb.sockets_blocked.store(false, Ordering::Relaxed);
    // The server has the last offline write once the queue drains (it raises no event here).
    let last = || async { srv.state_value("user:alice", "doc").await.filter(|v| v == &json!("offline-3")) };
    let final_value = common::wait_for("the server has the last offline write", Duration::from_secs(30), last).await;
    for (br, t) in [(&one, &a[0]), (&one, &a[1]), (&two, &reloaded)] {
        br.js(t, &settled(&final_value)).await;
    }
    // The first offline write had not seen "online": the loss was reported.
    let conflicts =
        one.js(&a[1], "sb.changes.filter((c) => c.key === 'doc' && c.conflict !== null).map((c) => c.conflict)").await;
    assert!(conflicts.as_array().is_some_and(|c| c.contains(&json!("online"))), "{conflicts}");
    one.shutdown().await;
    two.shutdown().await;
    srv.stop().await;
}

/// Reloads the harness in `tab` and starts its client and state again (without waiting to
/// be connected: the socket may be cut off).
async fn reload(b: &Browser, tab: &Tab) -> Tab {
    b.call(Some(&tab.session), "Page.reload", json!({})).await.expect("reload");
    b.js(tab, "new Promise((ok) => (window.sb ? ok() : addEventListener('load', ok)))").await;
    b.js(tab, "sb.start().then(() => sb.withState()).then(() => { sb.watch('doc'); })").await;
    Tab { target: tab.target.clone(), session: tab.session.clone() }
}
