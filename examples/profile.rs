//! Where the time goes during a burst: `cargo run --release --example profile -- SIZE COUNT
//! TABS` starts the reference backend and headless Chromium with TABS Switchboard tabs,
//! sends COUNT events of SIZE bytes and prints the hottest functions of the hub worker and
//! of the first page (CPU profiles over CDP, with PROFILE=1), then the median throughput of
//! seven unprofiled bursts of 1000 x 100 B and 100 x 16 KB. This found the hub's
//! postMessage-per-tab bottleneck and the JS character loop on WebSocket text.
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard::bench::{burst, BURSTS};
use switchboard::cdp::Browser;
use switchboard::server::{Config, Server};

fn top(profile: &Value, label: &str) {
    let nodes = profile["nodes"].as_array().cloned().unwrap_or_default();
    let mut by_id: HashMap<u64, String> = HashMap::new();
    for n in &nodes {
        let cf = &n["callFrame"];
        let url = cf["url"].as_str().unwrap_or("");
        let file = url.rsplit('/').next().unwrap_or("");
        by_id.insert(
            n["id"].as_u64().unwrap(),
            format!("{} {}:{}", cf["functionName"].as_str().unwrap_or(""), file, cf["lineNumber"]),
        );
    }
    let samples = profile["samples"].as_array().cloned().unwrap_or_default();
    let deltas = profile["timeDeltas"].as_array().cloned().unwrap_or_default();
    let mut t: HashMap<String, f64> = HashMap::new();
    let mut total = 0.0;
    for (s, d) in samples.iter().zip(deltas.iter()) {
        let name = by_id.get(&s.as_u64().unwrap()).cloned().unwrap_or_default();
        let d = d.as_f64().unwrap_or(0.0);
        *t.entry(name).or_default() += d;
        total += d;
    }
    let mut v: Vec<_> = t.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("== {label}: {:.0} ms sampled", total / 1000.0);
    for (k, us) in v.iter().take(22) {
        println!("{:8.1} ms  {}", us / 1000.0, &k[..k.len().min(110)]);
    }
}

#[tokio::main]
async fn main() {
    let size: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(16384);
    let count: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let vendor = std::path::PathBuf::from("tools/node_modules/socket.io-client/dist");
    let server =
        Server::start(Config { bind: "127.0.0.1:0".parse().unwrap(), vendor_dir: Some(vendor), ..Config::default() })
            .await
            .unwrap();
    let b = Browser::launch().await;
    let tabs_n: usize = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let tab = b.open(&format!("{}/bench.html", server.url())).await;
    b.eval(&tab, "bench.start('sb')").await.unwrap();
    for _ in 1..tabs_n {
        let t = b.open(&format!("{}/bench.html", server.url())).await;
        b.eval(&t, "bench.start('sb')").await.unwrap();
    }
    let targets = b.call(None, "Target.getTargets", json!({})).await.unwrap();
    let w = targets["targetInfos"].as_array().unwrap().iter().find(|t| t["type"] == "shared_worker").unwrap()
        ["targetId"]
        .as_str()
        .unwrap()
        .to_string();
    let ws = b.attach(&w).await;
    let ps = tab.session.clone();
    let profile = std::env::var_os("PROFILE").is_some();
    for s in [&ws, &ps].into_iter().filter(|_| profile) {
        b.call(Some(s), "Profiler.enable", json!({})).await.unwrap();
        b.call(Some(s), "Profiler.setSamplingInterval", json!({"interval": 100})).await.unwrap();
        b.call(Some(s), "Profiler.start", json!({})).await.unwrap();
    }
    let first = std::slice::from_ref(&tab);
    let (rate, complete) = burst(&server, &b, first, size, count).await.unwrap();
    println!("{count} events of {size} B: {rate:.0}/s{}", if complete { "" } else { " (incomplete)" });
    if profile {
        let wp = b.call(Some(&ws), "Profiler.stop", json!({})).await.unwrap();
        let pp = b.call(Some(&ps), "Profiler.stop", json!({})).await.unwrap();
        top(&wp["profile"], "hub worker");
        top(&pp["profile"], "page");
    }
    for (_, size, count) in BURSTS {
        let mut rates = Vec::new();
        for _ in 0..7 {
            let (rate, complete) = burst(&server, &b, first, size, count).await.unwrap();
            assert!(complete, "a burst did not arrive whole");
            rates.push(rate);
            let heap = b.call(Some(&ws), "Runtime.getHeapUsage", json!({})).await.unwrap_or_default();
            eprint!("hub heap {:.0} KB; ", heap["usedSize"].as_f64().unwrap_or(0.0) / 1024.0);
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!("unprofiled: {count} x {size} B: median {:.0}/s (min {:.0}, max {:.0})", rates[3], rates[0], rates[6]);
    }
    b.shutdown().await;
    server.stop().await;
}
