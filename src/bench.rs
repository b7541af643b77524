//! `switchboard bench`: Switchboard and socket.io-client 4.8 side by side, in one run, in
//! headless Chromium against the reference backend on 127.0.0.1. Prints a table and writes
//! BENCHMARKS.md and benchmarks.json. Not part of the test suite: numbers, not verdicts.

use crate::cdp::{Browser, Tab};
use crate::server::{Config, Server};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(crate) const CLIENTS: [(&str, &str); 2] = [("sb", "Switchboard"), ("sio", "socket.io-client 4.8")];

pub(crate) fn wall_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) async fn js(b: &Browser, tab: &Tab, expr: &str) -> Result<Value, String> {
    b.eval(tab, expr).await
}

/// The throughput bursts: (label, payload bytes, events).
pub const BURSTS: [(&str, usize, u64); 2] = [("100B", 100, 1000), ("16KB", 16 * 1024, 100)];

/// The server broadcasts `count` events of `size` bytes as fast as it can; returns events
/// per second until every tab of `tabs` (a bench.html page) had them all, and whether they
/// all did within 15 s. Leaves every tab's `bench.got` empty.
pub async fn burst(server: &Server, b: &Browser, tabs: &[Tab], size: usize, count: u64) -> Result<(f64, bool), String> {
    let pad = "x".repeat(size);
    let t0 = Instant::now();
    for i in 0..count {
        let _ = server.io.emit("b", &(i, 0, &pad)).await;
    }
    let mut complete = true;
    for tab in tabs {
        if js(b, tab, &format!("bench.until(() => bench.got.length >= {count}, 15000)")).await.is_err() {
            complete = false;
        }
    }
    let rate = count as f64 / t0.elapsed().as_secs_f64();
    for tab in tabs {
        js(b, tab, "bench.got = []").await?;
    }
    Ok((rate, complete))
}

/// `events` broadcasts from `from`, 2 ms apart: per event, the µs until every tab (a
/// bench.html page) had it, sorted. Leaves every tab's `bench.got` empty.
pub(crate) async fn fanout(from: &Server, b: &Browser, tabs: &[Tab], events: u64) -> Result<Vec<f64>, String> {
    let mut sent = Vec::with_capacity(events as usize);
    for i in 0..events {
        let t = wall_us();
        sent.push(t);
        let _ = from.io.emit("b", &(i, t)).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut all = vec![0f64; events as usize];
    for tab in tabs {
        let got = js(b, tab, &format!("bench.until(() => bench.got.length >= {events}).then(() => bench.got)")).await?;
        for pair in got.as_array().cloned().unwrap_or_default() {
            let (Some(i), Some(at)) = (pair[0].as_u64(), pair[1].as_f64()) else { continue };
            if let (Some(slot), Some(t)) = (all.get_mut(i as usize), sent.get(i as usize)) {
                *slot = slot.max(at * 1000.0 - *t as f64);
            }
        }
        js(b, tab, "bench.got = []").await?;
    }
    all.sort_by(|a, c| a.total_cmp(c));
    Ok(all)
}

/// Where the browser reaches the server: a name for the report and the origin.
pub struct Profile {
    pub name: String,
    pub origin: String,
    /// emitWithAck round trips to time (fewer when each costs a network round trip).
    pub acks: usize,
}

/// One configuration: `n` tabs of one client kind in a fresh browser (Switchboard in `mode`:
/// for `leader-tab`, SharedWorker is removed from every page first), through `profile`.
async fn measure(server: &Server, profile: &Profile, kind: &str, n: usize, mode: &str) -> Result<Value, String> {
    let b = Browser::launch().await;
    if kind == "sb" && mode == "leader-tab" {
        b.set_init_script("delete globalThis.SharedWorker;");
    }
    let url = format!("{}/bench.html", profile.origin);
    let upgrades0 = server.stats.ws_upgrades.load(Ordering::Relaxed);
    let mut tabs = Vec::new();
    let mut first_tab = Value::Null;
    for _ in 0..n {
        let tab = b.open(&url).await;
        js(&b, &tab, &format!("bench.start('{kind}')")).await?;
        if tabs.is_empty() {
            // The first tab of a fresh browser: a cold start (for Switchboard, the hub too).
            first_tab = js(&b, &tab, "bench.phases").await?;
        }
        tabs.push(tab);
    }
    let connections = server.stats.ws_upgrades.load(Ordering::Relaxed) - upgrades0;

    // Fan-out latency: 1000 events, 2 ms apart; per event, the time until every tab had it.
    let events = 1000u64;
    let bytes0 = server.stats.bytes_sent.load(Ordering::Relaxed);
    let all_tabs = fanout(server, &b, &tabs, events).await?;
    // Everything the server wrote while broadcasting (TCP payload, WebSocket framing included).
    let bytes_per_broadcast = (server.stats.bytes_sent.load(Ordering::Relaxed) - bytes0) as f64 / events as f64;
    let fanout = json!({"p50_us": pct(&all_tabs, 0.5), "p99_us": pct(&all_tabs, 0.99), "max_us": all_tabs.last()});

    // emitWithAck round trip, from the first tab.
    let rtts = js(&b, &tabs[0], &format!("bench.acks({})", profile.acks)).await?;
    let mut rtts: Vec<f64> = rtts.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    rtts.sort_by(|a, c| a.total_cmp(c));
    let ack = json!({"p50_ms": pct(&rtts, 0.5), "p99_ms": pct(&rtts, 0.99)});

    // Throughput: a burst, until every tab has every event.
    let mut throughput = serde_json::Map::new();
    eprintln!("  fan-out done");
    for (label, size, count) in BURSTS {
        let (rate, complete) = burst(server, &b, &tabs, size, count).await?;
        throughput.insert(label.into(), json!({"events_per_s": rate, "lossless": complete}));
        eprintln!("  throughput {label}: {rate:.0} events/s{}", if complete { "" } else { " (incomplete)" });
    }

    // A new tab: connect() to its first event, with the other tabs (and a hub) running.
    let ticker = {
        let io = server.io.clone();
        tokio::spawn(async move {
            loop {
                let _ = io.emit("tick", &0).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let extra = b.open(&url).await;
    js(&b, &extra, &format!("bench.start('{kind}')")).await?;
    let first = js(&b, &extra, "bench.until(() => bench.firstTick !== undefined).then(() => bench.firstTick)").await?;
    // Its phases (ms from the start): import, attached, connected, subscribed, first.
    let phases = js(&b, &extra, "bench.phases ?? null").await.unwrap_or(Value::Null);
    ticker.abort();

    // Hub memory (Switchboard only): the hub worker's live JS heap (after a garbage
    // collection, as in the soak run).
    let mut hub_heap = Value::Null;
    if kind == "sb" {
        let targets = b.call(None, "Target.getTargets", json!({})).await.unwrap_or_default();
        let worker = targets["targetInfos"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["type"] == "shared_worker" || t["type"] == "worker"))
            .and_then(|t| t["targetId"].as_str())
            .map(String::from);
        if let Some(w) = worker {
            let session = b.attach(&w).await;
            hub_heap = heap(&b, &session).await;
        }
    }
    b.shutdown().await;
    Ok(json!({
        "client": kind, "mode": if kind == "sb" { mode } else { "-" }, "profile": profile.name, "tabs": n,
        "websocket_connections": connections, "first_tab_phases_ms": first_tab,
        "server_sends_per_broadcast": if kind == "sb" { 1 } else { n },
        "server_bytes_per_broadcast": bytes_per_broadcast,
        "fanout_all_tabs": fanout, "ack_rtt": ack, "throughput": throughput,
        "new_tab_first_event_ms": first, "new_tab_phases_ms": phases, "hub_heap_bytes": hub_heap,
    }))
}

/// Raw and gzip bytes of the bundle files a context loads, each compressed on its own.
fn bundle_size(files: &[&str]) -> Value {
    let (_, raw, gzip) = crate::assets::sizes(files);
    json!({"raw": raw, "gzip": gzip})
}

fn size_of(bytes: &[u8]) -> Value {
    json!({"raw": bytes.len(), "gzip": crate::gzip_len(bytes)})
}

/// The floor under the hub's extra hop: a bare-JS SharedWorker echoing and streaming to one
/// page, with no wasm and no socket. Returns it and the browser's version.
async fn hop(server: &Server) -> Result<(Value, String), String> {
    let b = Browser::launch().await;
    let version = b.call(None, "Browser.getVersion", json!({})).await.unwrap_or_default();
    let tab = b.open(&format!("{}/bench.html", server.url())).await;
    let r = js(&b, &tab, "bench.hop()").await?;
    b.shutdown().await;
    let mut rtts: Vec<f64> =
        r["rtts"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    rtts.sort_by(|a, c| a.total_cmp(c));
    let hop = json!({
        "rtt_p50_ms": pct(&rtts, 0.5), "rtt_p99_ms": pct(&rtts, 0.99),
        "burst_100B_per_s": r["burst100"], "burst_16KB_per_s": r["burst16k"],
    });
    Ok((hop, format!("headless {}", version["product"].as_str().unwrap_or("Chromium (version unknown)"))))
}

/// The architecture's floor, in a fresh browser through `profile`: a bare-JS relay worker (the
/// WebSocket in a SharedWorker, each frame posted to one page as it came, no library, no wasm)
/// and each burst once after a warm-up; a run of its own kind (`relay`), beside the 1-tab runs
/// of the clients.
async fn relay(server: &Server, profile: &Profile) -> Result<Value, String> {
    let b = Browser::launch().await;
    let tab = b.open(&format!("{}/bench.html", profile.origin)).await;
    js(&b, &tab, "bench.relay()").await?;
    // Warmed up as the clients are by their fan-out before their bursts: one burst, not counted.
    let (_, size, count) = BURSTS[0];
    burst(server, &b, std::slice::from_ref(&tab), size, count).await?;
    let mut throughput = serde_json::Map::new();
    for (label, size, count) in BURSTS {
        let (rate, lossless) = burst(server, &b, std::slice::from_ref(&tab), size, count).await?;
        throughput.insert(label.into(), json!({"events_per_s": rate, "lossless": lossless}));
    }
    b.shutdown().await;
    Ok(json!({"client": "relay", "mode": "-", "profile": profile.name, "tabs": 1, "throughput": throughput}))
}

/// Runs every configuration of `tabs` (Switchboard in each of `modes`) `reps` times, the
/// clients taking turns (each repetition measures every client once before the next
/// begins), on loopback and, with `latency_ms` > 0, again through a delay proxy
/// (`latency_ms` each way). The report shows each figure's median and spread over the
/// repetitions, the ratios paired by repetition, and how far they moved since the last
/// report; only the full set (1, 5, 20, shared-worker, 25 ms, ≥ 5 runs) rewrites the reports.
pub async fn run(root: &Path, tabs: &[usize], modes: &[String], latency_ms: u64, reps: usize) -> Result<(), String> {
    let vendor = root.join("tools/node_modules/socket.io-client/dist");
    if !vendor.join("socket.io.esm.min.js").is_file() {
        return Err(format!("{} is missing: run scripts/setup (npm ci --prefix tools)", vendor.display()));
    }
    let server = Server::start(Config {
        bind: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        vendor_dir: Some(vendor.clone()),
        // As deployed: a new tab finds the files the open tabs loaded in the cache (both
        // clients alike); each configuration is a fresh browser, so its first tab loads all.
        cache_max_age: Some(3600),
        test_hooks: true,
        ..Config::default()
    })
    .await
    .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut profiles = vec![Profile { name: "loopback".into(), origin: server.url(), acks: 300 }];
    let proxy = delay_proxy(&server, latency_ms).await?;
    if let Some(p) = &proxy {
        profiles.push(Profile { name: format!("{latency_ms} ms each way"), origin: p.url(), acks: 60 });
    }
    let mut runs = Vec::new();
    for profile in &profiles {
        for &n in tabs {
            for rep in 0..reps {
                for (kind, name) in CLIENTS {
                    let modes: Vec<&str> =
                        if kind == "sb" { modes.iter().map(String::as_str).collect() } else { vec!["-"] };
                    for mode in modes {
                        eprintln!("bench: {name} ({mode}), {n} tab(s), {}, run {}/{reps}…", profile.name, rep + 1);
                        let mut run = measure(&server, profile, kind, n, mode).await?;
                        run["rep"] = json!(rep);
                        runs.push(run);
                    }
                }
                if n == 1 {
                    eprintln!("bench: the bare relay, {}, run {}/{reps}…", profile.name, rep + 1);
                    let mut run = relay(&server, profile).await?;
                    run["rep"] = json!(rep);
                    runs.push(run);
                }
            }
        }
    }
    drop(proxy);
    eprintln!("bench: the page <-> SharedWorker hop alone…");
    let (hop, chromium) = hop(&server).await?;
    let read = |f: &str| std::fs::read(vendor.join(f)).unwrap_or_default();
    let first_visit: Vec<&str> = crate::assets::PAGE_CLIENT.iter().chain(&crate::assets::HUB).copied().collect();
    let sizes = json!({
        "switchboard_page_client": bundle_size(&crate::assets::PAGE_CLIENT), "switchboard_hub": bundle_size(&crate::assets::HUB),
        "switchboard_first_visit": bundle_size(&first_visit),
        "socket_io_client_esm": size_of(&read("socket.io.esm.min.js")), "socket_io_client_umd": size_of(&read("socket.io.min.js")),
    });
    server.stop().await;
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::env::consts::ARCH
    );
    let peer = std::fs::read_to_string(vendor.join("../package.json")).unwrap_or_default();
    let peer_version = serde_json::from_str::<Value>(&peer).ok().and_then(|v| v["version"].as_str().map(String::from));
    let unix = wall_us() / 1_000_000;
    let previous = std::fs::read_to_string(root.join("benchmarks.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map(|p| json!({"date_utc": p["date_utc"], "ratios": ratios_of(&p)}));
    let rows = summarize_runs(&runs);
    let mut report = json!({
        "machine": machine, "chromium": chromium, "reps": reps, "rows": rows, "runs": runs, "hop": hop, "sizes": sizes,
        "unix_time": unix, "date_utc": utc(unix), "switchboard": env!("CARGO_PKG_VERSION"),
        "socket_io_client": peer_version.unwrap_or_else(|| "?".into()),
    });
    report["ratios"] = ratios_of(&report);
    report["previous"] = previous.unwrap_or(Value::Null);
    let md = markdown(&report);
    println!("{md}");
    if tabs != [1, 5, 20] || modes != ["shared-worker"] || latency_ms != 25 || reps < 5 {
        return Ok(());
    }
    std::fs::write(root.join("BENCHMARKS.md"), &md).map_err(|e| format!("BENCHMARKS.md: {e}"))?;
    readme_section(&root.join("README.md"), &md)?;
    std::fs::write(root.join("benchmarks.json"), serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|e| format!("benchmarks.json: {e}"))?;
    Ok(())
}

fn markdown(r: &Value) -> String {
    let mut s = String::from("# Benchmarks: Switchboard vs socket.io-client 4.8\n\n");
    let _ = writeln!(
        s,
        "Generated by `cargo run --release -- bench` on {} (machine: {}, {}; Switchboard {}, socket.io-client {}). Reference backend on 127.0.0.1; each run is a fresh headless browser. Every configuration ran {} times, the two clients taking turns (Switchboard, socket.io-client, Switchboard, …); each cell is the median, with the spread (min–max) in brackets where the runs differed.\n",
        r["date_utc"].as_str().unwrap_or("?"),
        r["machine"].as_str().unwrap_or("?"),
        r["chromium"].as_str().unwrap_or("?"),
        r["switchboard"].as_str().unwrap_or("?"),
        r["socket_io_client"].as_str().unwrap_or("?"),
        r["reps"].as_u64().unwrap_or(1),
    );
    s.push_str("| network | client | tabs | WebSockets | server sends / bytes per broadcast | fan-out p50 (ms) | fan-out p99 (ms) | ack RTT p50 (ms) | 100 B events/s | 16 KB events/s | new tab → first event (ms) | hub heap (KB) |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for row in r["rows"].as_array().cloned().unwrap_or_default() {
        let f = &row["fanout_all_tabs"];
        let name = match (row["client"].as_str(), row["mode"].as_str()) {
            (Some("sb"), Some("leader-tab")) => "Switchboard (leader-tab)",
            (Some("sb"), _) => "Switchboard",
            (Some("relay"), _) => "bare relay (the floor)",
            _ => "socket.io-client",
        };
        let tp = |k: &str| {
            let t = &row["throughput"][k];
            format!("{}{}", cell(&t["events_per_s"], 1.0, 0), if t["lossless"] == true { "" } else { " (lossy)" })
        };
        let _ = writeln!(
            s,
            "| {} | {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row["profile"].as_str().unwrap_or("loopback"),
            row["tabs"],
            cell(&row["websocket_connections"], 1.0, 0),
            match row["server_sends_per_broadcast"].is_null() {
                true => "-".to_string(),
                false => format!(
                    "{} / {} B",
                    cell(&row["server_sends_per_broadcast"], 1.0, 0),
                    cell(&row["server_bytes_per_broadcast"], 1.0, 0)
                ),
            },
            cell(&f["p50_us"], 1e-3, 2),
            cell(&f["p99_us"], 1e-3, 2),
            cell(&row["ack_rtt"]["p50_ms"], 1.0, 2),
            tp("100B"),
            tp("16KB"),
            cell(&row["new_tab_first_event_ms"], 1.0, 1),
            cell(&row["hub_heap_bytes"], 1.0 / 1024.0, 0),
        );
    }
    ratio_table(&mut s, r);
    stability(&mut s, r);
    phases(&mut s, r);
    let h = &r["hop"];
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let _ = writeln!(
        s,
        "\nThe page ⇄ SharedWorker hop alone (bare JS echo worker, one page, no wasm, no socket): round trip p50 {:.2} ms, p99 {:.2} ms; a burst from the worker reaches the page at {:.0} messages/s (100 B) and {:.0} messages/s (16 KB). Every Switchboard event crosses this hop once, an ack round trip twice. The bare relay's rows (the WebSocket in a SharedWorker, each frame posted to one page as it came, no library, no wasm; measured in each repetition after the two clients) are the floor of the architecture for the 1-tab rows.",
        num(&h["rtt_p50_ms"]),
        num(&h["rtt_p99_ms"]),
        num(&h["burst_100B_per_s"]),
        num(&h["burst_16KB_per_s"]),
    );
    s.push_str("\n| bundle | raw | gzip -9 |\n| --- | --- | --- |\n");
    for (k, label) in [
        ("switchboard_page_client", "Switchboard page client (JS: bootstrap, core, client; no wasm)"),
        ("switchboard_hub", "Switchboard hub (wasm + JS: bootstrap, glue)"),
        ("switchboard_first_visit", "Switchboard first visit (page client + hub)"),
        ("socket_io_client_esm", "socket.io-client ESM (min)"),
        ("socket_io_client_umd", "socket.io-client UMD (min)"),
    ] {
        let _ = writeln!(s, "| {label} | {} B | {} B |", r["sizes"][k]["raw"], r["sizes"][k]["gzip"]);
    }
    s
}

/// A figure of the report: a number (every run agreed) or `{median, min, max}`.
fn median(v: &Value) -> f64 {
    v.as_f64().or_else(|| v["median"].as_f64()).unwrap_or(f64::NAN)
}

/// A figure scaled and printed with `digits` decimals: `median (min–max)`, or one number
/// where every run agreed; `-` where there is none.
fn cell(v: &Value, scale: f64, digits: usize) -> String {
    let f = |x: f64| format!("{:.*}", digits, x * scale);
    match (v.as_f64(), v["median"].as_f64(), v["min"].as_f64(), v["max"].as_f64()) {
        (Some(x), ..) => f(x),
        (None, Some(m), Some(lo), Some(hi)) => format!("{} ({}–{})", f(m), f(lo), f(hi)),
        _ => "-".into(),
    }
}

/// The runs of each configuration (network, tabs, client, mode), in the order first measured.
fn groups(runs: &[Value]) -> Vec<Vec<&Value>> {
    let same = |a: &Value, b: &Value| ["profile", "tabs", "client", "mode"].iter().all(|k| a[*k] == b[*k]);
    let mut out: Vec<Vec<&Value>> = Vec::new();
    for run in runs {
        match out.iter_mut().find(|g| same(g[0], run)) {
            Some(g) => g.push(run),
            None => out.push(vec![run]),
        }
    }
    out
}

/// One row per configuration: the runs' figures summarized by [`summarize`].
fn summarize_runs(runs: &[Value]) -> Value {
    let mut rows: Vec<Value> = groups(runs).iter().map(|g| summarize(g)).collect();
    rows.iter_mut().filter_map(Value::as_object_mut).for_each(|row| {
        row.remove("rep");
    });
    Value::Array(rows)
}

/// Values of the same place in each run, as one: a number every run agreed on stays one,
/// others become `{median, min, max}`; a flag (lossless) holds only if it held in every run.
fn summarize(vals: &[&Value]) -> Value {
    match vals.first() {
        Some(Value::Number(first)) => {
            let mut v: Vec<f64> = vals.iter().filter_map(|x| x.as_f64()).collect();
            v.sort_by(|a, c| a.total_cmp(c));
            let (lo, hi) = (v.first().copied().unwrap_or(f64::NAN), v.last().copied().unwrap_or(f64::NAN));
            if lo == hi && v.len() == vals.len() {
                Value::Number(first.clone())
            } else {
                json!({"median": mid(&v), "min": lo, "max": hi, "n": v.len()})
            }
        }
        Some(Value::Object(m)) => Value::Object(
            m.keys().map(|k| (k.clone(), summarize(&vals.iter().map(|x| &x[k]).collect::<Vec<_>>()))).collect(),
        ),
        Some(Value::Bool(_)) => json!(vals.iter().all(|x| **x == Value::Bool(true))),
        Some(other) => (*other).clone(),
        None => Value::Null,
    }
}

/// The median of sorted values (the mean of the middle two of an even count).
fn mid(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The ratios the report compares (Switchboard ÷ socket.io-client): name and place in a run.
/// The suffix of a ratio to the bare relay's run of the same repetition, not to the peer's.
const RELAY: &str = " ÷ relay";

const RATIOS: [(&str, &[&str]); 9] = [
    ("first tab connected", &["first_tab_phases_ms", "connected"]),
    ("fan-out p50", &["fanout_all_tabs", "p50_us"]),
    ("fan-out p99", &["fanout_all_tabs", "p99_us"]),
    ("ack RTT p50", &["ack_rtt", "p50_ms"]),
    ("100 B events/s", &["throughput", "100B", "events_per_s"]),
    ("16 KB events/s", &["throughput", "16KB", "events_per_s"]),
    ("new tab → first event", &["new_tab_first_event_ms"]),
    ("100 B events/s ÷ relay", &["throughput", "100B", "events_per_s"]),
    ("16 KB events/s ÷ relay", &["throughput", "16KB", "events_per_s"]),
];

/// Switchboard ÷ socket.io-client per network and tab count, each ratio taken within one
/// repetition (the two runs measured one after the other) and summarized over the
/// repetitions. Works on older reports too (one run per configuration, no `rep`).
fn ratios_of(r: &Value) -> Value {
    let runs = r["runs"].as_array().cloned().unwrap_or_default();
    let get = |v: &Value, path: &[&str]| path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    let same = |a: &Value, b: &Value| a["profile"] == b["profile"] && a["tabs"] == b["tabs"];
    let mut rows: Vec<(Value, Vec<Vec<f64>>)> = Vec::new();
    for sb in runs.iter().filter(|x| x["client"] == "sb" && x["mode"] != "leader-tab") {
        let Some(sio) = runs.iter().find(|x| x["client"] == "sio" && same(x, sb) && x["rep"] == sb["rep"]) else {
            continue;
        };
        let i = match rows.iter().position(|(k, _)| same(k, sb)) {
            Some(i) => i,
            None => {
                rows.push((json!({"profile": sb["profile"], "tabs": sb["tabs"]}), vec![Vec::new(); RATIOS.len()]));
                rows.len() - 1
            }
        };
        let floor = runs.iter().find(|x| x["client"] == "relay" && same(x, sb) && x["rep"] == sb["rep"]);
        for (each, (name, path)) in rows[i].1.iter_mut().zip(RATIOS) {
            match name.strip_suffix(RELAY) {
                Some(_) => each.extend(floor.map(|f| get(sb, path) / get(f, path))),
                None => each.push(get(sb, path) / get(sio, path)),
            }
        }
    }
    let rows = rows.into_iter().map(|(mut key, each)| {
        for (v, (name, _)) in each.iter().zip(RATIOS) {
            key[name] = summarize(&v.iter().map(|x| json!(x)).collect::<Vec<_>>().iter().collect::<Vec<_>>());
        }
        key
    });
    Value::Array(rows.collect())
}

/// The head of a table with a column per ratio of [`RATIOS`].
fn ratio_header(s: &mut String) {
    s.push_str("| network | tabs |");
    RATIOS.iter().for_each(|(name, _)| s.push_str(&format!(" {name} |")));
    s.push_str("\n| --- | --- |");
    s.push_str(&" --- |".repeat(RATIOS.len()));
    s.push('\n');
}

fn ratio_table(s: &mut String, r: &Value) {
    s.push_str("\nSwitchboard ÷ socket.io-client (÷ the bare relay where it says so), each ratio taken within one repetition (times: < 1 is faster; rates: > 1 is more):\n\n");
    ratio_header(s);
    for row in r["ratios"].as_array().cloned().unwrap_or_default() {
        let _ = write!(s, "| {} | {} |", row["profile"].as_str().unwrap_or("loopback"), row["tabs"]);
        RATIOS.iter().for_each(|(name, _)| s.push_str(&format!(" {} |", cell(&row[*name], 1.0, 2))));
        s.push('\n');
    }
}

/// How far each ratio's median moved since the previous report (the file this run
/// replaces): the two medians and the factor between them (1.00: the same).
fn stability(s: &mut String, r: &Value) {
    let (Some(before), Some(now)) = (r["previous"]["ratios"].as_array(), r["ratios"].as_array()) else {
        return;
    };
    let _ = writeln!(
        s,
        "\nStability: each ratio's median in this run and in the previous report ({}), and the factor between them (≥ 1; 1.00: the same):\n",
        r["previous"]["date_utc"].as_str().unwrap_or("?")
    );
    ratio_header(s);
    let mut factors = Vec::new();
    for row in now {
        let Some(old) = before.iter().find(|o| o["profile"] == row["profile"] && o["tabs"] == row["tabs"]) else {
            continue;
        };
        let _ = write!(s, "| {} | {} |", row["profile"].as_str().unwrap_or("loopback"), row["tabs"]);
        for (name, _) in RATIOS {
            let (a, b) = (median(&row[name]), median(&old[name]));
            let factor = (a / b).max(b / a);
            if factor.is_finite() {
                factors.push(factor);
            }
            match factor.is_finite() {
                true => {
                    let _ = write!(s, " {a:.2} / {b:.2} ({factor:.2}) |");
                }
                false => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    factors.sort_by(|a, c| a.total_cmp(c));
    let _ = writeln!(
        s,
        "\nAcross the {} ratios of both reports, the median moved by a factor of {:.2} (median), {:.2} (90th percentile), {:.2} (largest).",
        factors.len(),
        pct(&factors, 0.5),
        pct(&factors, 0.9),
        factors.last().copied().unwrap_or(f64::NAN)
    );
}

/// The phases of the first tab of a fresh browser (a cold start) and of a new tab joining
/// the others, for both clients (ms from the start of `bench.start`; medians).
fn phases(s: &mut String, r: &Value) {
    s.push_str("\nPhases (ms from the start, medians; Switchboard: module imported, attached to the hub, connected, subscribed, first event; socket.io-client: imported, connected, subscribed, first event):\n\n");
    s.push_str(
        "| network | tabs | client | first tab of a fresh browser | new tab |\n| --- | --- | --- | --- | --- |\n",
    );
    let show = |p: &Value| {
        ["imported", "attached", "connected", "subscribed", "first"]
            .iter()
            .filter(|k| !p[**k].is_null())
            .map(|k| format!("{k} {:.0}", median(&p[*k])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for row in r["rows"].as_array().cloned().unwrap_or_default() {
        if row["mode"] == "leader-tab" || row["client"] == "relay" {
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            row["profile"].as_str().unwrap_or("loopback"),
            row["tabs"],
            if row["client"] == "sb" { "Switchboard" } else { "socket.io-client" },
            show(&row["first_tab_phases_ms"]),
            show(&row["new_tab_phases_ms"]),
        );
    }
}

/// Rewrites README.md's generated section (between its `bench:begin` and `bench:end`
/// markers) with the report, title line left out: the README's numbers are the benchmark's.
fn readme_section(path: &Path, md: &str) -> Result<(), String> {
    let readme = std::fs::read_to_string(path).map_err(|e| format!("README.md: {e}"))?;
    let (Some(begin), Some(end)) = (readme.find("<!-- bench:begin"), readme.find("<!-- bench:end -->")) else {
        return Err("README.md has no bench:begin / bench:end markers".into());
    };
    let open = begin + readme[begin..].find("-->").map_or(0, |i| i + 3);
    let body = md.split_once('\n').map_or(md, |(_, rest)| rest).trim();
    let updated = format!("{}\n{body}\n{}", &readme[..open], &readme[end..]);
    std::fs::write(path, updated).map_err(|e| format!("README.md: {e}"))
}

/// The delay proxy in front of `server` with `latency_ms` each way (none for 0): the network
/// profile the benchmarks run beside loopback.
async fn delay_proxy(server: &Server, latency_ms: u64) -> Result<Option<crate::delay::DelayProxy>, String> {
    if latency_ms == 0 {
        return Ok(None);
    }
    crate::delay::DelayProxy::start(server.addr, Duration::from_millis(latency_ms))
        .await
        .map(Some)
        .map_err(|e| format!("cannot start the delay proxy: {e}"))
}

/// Each phase's times (ms from the start), by phase name, in the order first seen.
type Phases = Vec<(String, Vec<f64>)>;

/// `switchboard bench --cold N`: the first tab of a fresh browser (a new profile: nothing
/// cached, no hub running), `N` times per client, the clients taking turns; at loopback and,
/// unless `latency_ms` is 0, through a delay proxy with that one-way delay. Prints the median
/// and the spread of the time to connected (Switchboard: module, the hub's worker and its
/// wasm, attach, connect), each phase's median, and the ratio to socket.io-client. With
/// `hints`, each turn also loads a page that starts its client as it loads, without and with
/// its HTML giving the browser that client's hints (bench.html `?start=&hints=`), timed from
/// the navigation.
pub async fn cold(n: usize, latency_ms: u64, hints: bool) -> Result<(), String> {
    let vendor = root().join("tools/node_modules/socket.io-client/dist");
    let server = Server::start(Config {
        bind: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        vendor_dir: Some(vendor),
        // As deployed (a fresh profile has nothing cached: the first tab loads everything).
        cache_max_age: Some(3600),
        test_hooks: true,
        ..Config::default()
    })
    .await
    .map_err(|e| format!("cannot start the server: {e}"))?;
    let proxy = delay_proxy(&server, latency_ms).await?;
    let mut origins = vec![("loopback".to_string(), server.url())];
    if let Some(p) = &proxy {
        origins.push((format!("{latency_ms} ms each way"), p.url()));
    }
    // (label, client, page, what runs there) per series; socket.io-client's after
    // Switchboard's of the same kind.
    let mut series = vec![("", "sb", "", "bench.start('sb').then(() => bench.phases)")];
    series.push(("", "sio", "", "bench.start('sio').then(() => bench.phases)"));
    let started = "bench.started.then(() => bench.phases)";
    if hints {
        series.push((", from the navigation", "sb", "?start=sb", started));
        series.push((", from the navigation", "sio", "?start=sio", started));
        series.push((", from the navigation with hints", "sb", "?start=sb&hints=sb", started));
        series.push((", from the navigation with hints", "sio", "?start=sio&hints=sio", started));
    }
    let mut report = serde_json::Map::new();
    for (profile, origin) in &origins {
        let mut phases: Vec<Phases> = vec![Vec::new(); series.len()];
        for _ in 0..n {
            for ((_, _, page, run), by_phase) in series.iter().zip(&mut phases) {
                let b = Browser::launch().await;
                let tab = b.open(&format!("{origin}/bench.html{page}")).await;
                let got = js(&b, &tab, run).await?;
                b.shutdown().await;
                for (phase, ms) in got.as_object().into_iter().flatten() {
                    let ms = ms.as_f64().unwrap_or(f64::NAN);
                    match by_phase.iter_mut().find(|(p, _)| p == phase) {
                        Some((_, v)) => v.push(ms),
                        None => by_phase.push((phase.clone(), vec![ms])),
                    }
                }
            }
        }
        let mut connected = Vec::new();
        for ((label, kind, _, _), by_phase) in series.iter().zip(&mut phases) {
            let name = CLIENTS.iter().find(|(k, _)| k == kind).map_or(*kind, |(_, name)| *name);
            by_phase.iter_mut().for_each(|(_, v)| v.sort_by(|a, c| a.total_cmp(c)));
            let times = by_phase.iter().find(|(p, _)| p == "connected").map(|(_, v)| v.clone()).unwrap_or_default();
            let each: Vec<String> = by_phase.iter().map(|(p, v)| format!("{p} {:.0}", mid(v))).collect();
            println!(
                "cold start, {profile}{label}, {name}: connected median {:.0} ms (min {:.0}, max {:.0}; {n} fresh browsers); phase medians (ms from the start): {}",
                mid(&times),
                times.first().copied().unwrap_or(f64::NAN),
                times.last().copied().unwrap_or(f64::NAN),
                each.join(", ")
            );
            connected.push(mid(&times));
            report.insert(
                format!("{profile}{label}, {kind}"),
                json!({"median_ms": mid(&times), "min_ms": times.first(), "max_ms": times.last(), "runs": times}),
            );
        }
        // Each series of Switchboard is followed by socket.io-client's.
        for (pair, (label, ..)) in connected.chunks(2).zip(series.iter().step_by(2)) {
            let ratio = pair[0] / pair[1];
            println!("cold start, {profile}{label}: Switchboard / socket.io-client = {ratio:.2}x (medians)");
            report.insert(format!("{profile}{label}, ratio"), json!(ratio));
        }
    }
    drop(proxy);
    server.stop().await;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}

/// A context's JS heap after a full garbage collection (bytes).
async fn heap(b: &Browser, session: &str) -> Value {
    let _ = b.call(Some(session), "HeapProfiler.collectGarbage", json!({})).await;
    b.call(Some(session), "Runtime.getHeapUsage", json!({})).await.map(|h| h["usedSize"].clone()).unwrap_or(Value::Null)
}

/// `switchboard bench --soak SECS`: 20 tabs on one hub receive 1,000 events/s for `secs`;
/// prints the events each tab missed (none expected) and the hub's and a page's heap, after
/// a garbage collection, at the start and the end. Not in CI.
pub async fn soak(_root: &Path, secs: u64) -> Result<(), String> {
    let server = Server::start(Config {
        bind: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        test_hooks: true,
        ..Config::default()
    })
    .await
    .map_err(|e| format!("cannot start the server: {e}"))?;
    let b = Browser::launch().await;
    let url = format!("{}/bench.html", server.url());
    let mut tabs = Vec::new();
    for _ in 0..20 {
        let tab = b.open(&url).await;
        js(&b, &tab, "bench.start('sb').then(() => bench.soak())").await?;
        tabs.push(tab);
    }
    let targets = b.call(None, "Target.getTargets", json!({})).await.unwrap_or_default();
    let worker = targets["targetInfos"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["type"] == "shared_worker"))
        .and_then(|t| t["targetId"].as_str())
        .map(String::from)
        .ok_or("no hub (SharedWorker) found")?;
    let hub = b.attach(&worker).await;
    let start = json!({"hub": heap(&b, &hub).await, "page": heap(&b, &tabs[0].session).await});
    eprintln!("soak: 20 tabs, 1,000 events/s for {secs} s…");
    let total = secs * 1000;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t0 = Instant::now();
    for i in 0..total / 10 {
        tick.tick().await;
        for j in 0..10 {
            let _ = server.io.emit("s", &(i * 10 + j)).await;
        }
    }
    let sent_in = t0.elapsed();
    let mut missed = Vec::new();
    for tab in &tabs {
        let got = js(
            &b,
            tab,
            &format!("bench.until(() => bench.count >= {total}, 60000).catch(() => null).then(() => bench.count)"),
        )
        .await?;
        missed.push(total.saturating_sub(got.as_u64().unwrap_or(0)));
    }
    let end = json!({"hub": heap(&b, &hub).await, "page": heap(&b, &tabs[0].session).await});
    b.shutdown().await;
    server.stop().await;
    let report = json!({"tabs": 20, "events": total, "sent_in_s": sent_in.as_secs_f64(), "missed_per_tab": missed, "heap_start": start, "heap_end": end});
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    let change = |k: &str| {
        let (a, z) = (start[k].as_f64().unwrap_or(f64::NAN), end[k].as_f64().unwrap_or(f64::NAN));
        format!("{:.0} KB → {:.0} KB ({:+.1}%)", a / 1024.0, z / 1024.0, (z - a) / a * 100.0)
    };
    println!(
        "soak: {total} events to 20 tabs in {:.1} s, missed {}; hub heap {}, page heap {}",
        sent_in.as_secs_f64(),
        missed.iter().sum::<u64>(),
        change("hub"),
        change("page")
    );
    Ok(())
}

/// `YYYY-MM-DD HH:MM UTC` for a unix time (the civil-from-days algorithm; no date crate).
fn utc(unix: u64) -> String {
    let (year, month, day) = crate::clock::civil((unix / 86_400) as i64);
    let secs = unix % 86_400;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// The repository root for outputs: the current directory.
pub fn root() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::utc(1_795_864_516), "2026-11-28 11:15 UTC");
    }
}
