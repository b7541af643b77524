//! socket.io-client 4.8.1's own browser tests (tests/apps/sioclient/test/, vendored unmodified)
//! run with mocha in headless Chromium against their own Node test server, twice in one run:
//! with the real socket.io-client, then with `switchboard-compat.js`. The pass counts are
//! printed side by side; compat must pass every test the real client passes except those
//! docs/compat.md lists (intended differences, and what is not done yet), and the README's
//! compat table is written from the results.

mod common;

use common::npm;
use serde_json::Value;

/// The suite's outcome for one client: each test's full title, and why the failures failed.
struct Outcome {
    passed: Vec<String>,
    failed: Vec<(String, String)>,
}

async fn run_suite(b: &common::Browser, origin: &str, client: &str) -> Outcome {
    // SIOCLIENT_GREP=<text> runs the tests whose title contains it (mocha's `grep`).
    let grep = std::env::var("SIOCLIENT_GREP").map(|g| format!("&grep={}", urlencode(&g))).unwrap_or_default();
    let tab = b.open(&format!("{origin}/?client={client}{grep}")).await;
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
    if std::env::var("SIOCLIENT_GREP").is_ok() {
        for line in s["log"].as_array().into_iter().flatten() {
            println!("{client} page: {}", line.as_str().unwrap_or(""));
        }
    }
    let strings = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Outcome {
        passed: strings(&s["passed"]).iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        failed: strings(&s["failed"])
            .iter()
            .map(|f| (f[0].as_str().unwrap_or("").to_string(), f[1].as_str().unwrap_or("").to_string()))
            .collect(),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_clients_own_suite_passes_against_compat() {
    let dir = npm::apps().join("sioclient");
    assert!(dir.join("node_modules").is_dir(), "run scripts/setup (npm ci in tests/apps/sioclient)");
    npm::run(&dir, "node", &["build.mjs"], &[]);
    let tmp = tempfile::tempdir().expect("tmp");
    let pkg = tmp.path().join("package");
    switchboard::write_bundle(&pkg).expect("the bundle");

    let env = [("SB_PACKAGE", pkg.as_os_str()), ("PORT", std::ffi::OsStr::new("0"))];
    let server = common::node::NodeServer::spawn(&dir, &["server.mjs".to_string()], &env).await;
    let origin = server.url();

    let b = common::Browser::launch().await;
    // SIOCLIENT_ONLY=real|compat runs one (while working on compat; the assertions need both).
    let only = std::env::var("SIOCLIENT_ONLY").unwrap_or_default();
    let empty = || Outcome { passed: vec![], failed: vec![] };
    let real = if only == "compat" { empty() } else { run_suite(&b, &origin, "real").await };
    let compat = if only == "real" { empty() } else { run_suite(&b, &origin, "compat").await };
    b.shutdown().await;
    server.stop().await;

    let (listed, intended) = listed_in_compat_md();
    let table = side_by_side(&real, &compat);
    println!("{table}");
    for (t, e) in &real.failed {
        println!("real client FAILED {t}: {e}");
    }
    for (t, e) in &compat.failed {
        let mark = if intended.contains(t) {
            "intended"
        } else if listed.contains(t) {
            "listed"
        } else {
            "NEW"
        };
        println!("compat FAILED ({mark}) {t}: {}", e.lines().next().unwrap_or(""));
    }
    if !only.is_empty() || std::env::var("SIOCLIENT_GREP").is_ok() {
        return;
    }
    write_results(&table, &real, &compat);
    assert!(real.passed.len() >= 90 && real.failed.is_empty(), "the real client passes its own suite here");
    let unlisted: Vec<_> = compat.failed.iter().map(|(t, _)| t).filter(|t| !listed.contains(*t)).collect();
    assert!(unlisted.is_empty(), "compat fails tests docs/compat.md does not list: {unlisted:#?}");
    let missing: Vec<_> = real.passed.iter().filter(|t| !compat.passed.contains(t) && !listed.contains(*t)).collect();
    assert!(missing.is_empty(), "tests the real client passes that compat did not run to a pass: {missing:#?}");
    let now_passing: Vec<_> = listed.iter().filter(|t| compat.passed.contains(t)).collect();
    for t in now_passing {
        println!("now passes (remove it from docs/compat.md): {t}");
    }
}

/// The tests docs/compat.md lists as not passing with compat: every `- \`title\`` line of
/// its "Intended differences" and "Not passing yet" sections; and the intended ones alone.
fn listed_in_compat_md() -> (Vec<String>, Vec<String>) {
    let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compat.md")).expect("docs/compat.md");
    let (mut all, mut intended, mut section) = (vec![], vec![], "");
    for line in md.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = if h.starts_with("Intended") {
                "intended"
            } else if h.starts_with("Not passing") {
                "yet"
            } else {
                ""
            };
        } else if let (false, Some(rest)) = (section.is_empty(), line.strip_prefix("- `")) {
            let title = rest.split('`').next().unwrap_or("").to_string();
            if section == "intended" {
                intended.push(title.clone());
            }
            all.push(title);
        }
    }
    (all, intended)
}

/// Pass counts by area (a test's `describe` path), the real client beside compat.
fn side_by_side(real: &Outcome, compat: &Outcome) -> String {
    let area = |t: &str| t.rsplit_once(" > ").map_or(t, |(a, _)| a).to_string();
    let mut areas: std::collections::BTreeMap<String, [usize; 3]> = Default::default();
    for t in real.passed.iter().chain(real.failed.iter().map(|(t, _)| t)) {
        areas.entry(area(t)).or_default()[0] += 1;
    }
    for t in &real.passed {
        areas.entry(area(t)).or_default()[1] += 1;
    }
    for t in &compat.passed {
        areas.entry(area(t)).or_default()[2] += 1;
    }
    let mut out = String::from("| area | tests | socket.io-client | switchboard-compat |\n| --- | --- | --- | --- |\n");
    let mut total = [0; 3];
    for (name, n) in &areas {
        out += &format!("| {name} | {} | {} | {} |\n", n[0], n[1], n[2]);
        (0..3).for_each(|i| total[i] += n[i]);
    }
    out + &format!("| **all** | {} | {} | {} |\n", total[0], total[1], total[2])
}

/// The README's compat table (between its markers) and docs/compat-suite.md (every test's
/// outcome), written from this run: never typed by hand.
fn write_results(table: &str, real: &Outcome, compat: &Outcome) {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme_path = format!("{root}/README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let (begin, end) = ("<!-- sioclient-suite: written by tests/sioclient.rs -->\n", "<!-- /sioclient-suite -->");
    if let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) {
        let updated = format!("{}{begin}{table}{}", &readme[..a], &readme[b..]);
        if updated != readme {
            std::fs::write(&readme_path, updated).expect("write README.md");
        }
    }
    let mut doc = String::from(
        "# socket.io-client's own suite: every test\n\nWritten by `tests/sioclient.rs` from its last run \
         (the README's compat table is the summary; docs/compat.md says why a test does not pass).\n\n",
    );
    doc += table;
    doc += "\n| test | socket.io-client | switchboard-compat |\n| --- | --- | --- |\n";
    let mark = |o: &Outcome, t: &String| if o.passed.contains(t) { "passes" } else { "fails" };
    for t in real.passed.iter().chain(real.failed.iter().map(|(t, _)| t)) {
        doc += &format!("| {} | {} | {} |\n", t.replace('|', "\\|"), mark(real, t), mark(compat, t));
    }
    std::fs::write(format!("{root}/docs/compat-suite.md"), doc).expect("write docs/compat-suite.md");
}
