//! `js/protocol.js`, the JS side of the protocol table: the committed file is what the table
//! generates today, and, run in Node, it exports every kind and name with the Rust values;
//! the one name a bundler needs spelled out (the SharedWorker's, in `hubPort`) opens the
//! worker the hub answers as.

#[path = "../../shared/src/protocol.rs"]
mod protocol;

#[path = "../../shared/codegen.rs"]
mod codegen;

use std::process::Command;

const JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/js");

/// Runs an ES module body in Node and returns what it prints.
fn node(body: &str) -> String {
    let res = Command::new("node")
        .args(["--input-type=module", "-e", body])
        .output()
        .expect("node (scripts/setup installs it)");
    assert!(res.status.success(), "node failed: {}", String::from_utf8_lossy(&res.stderr));
    String::from_utf8(res.stdout).expect("UTF-8").trim().to_string()
}

#[test]
fn the_committed_module_is_what_the_table_generates() {
    let committed = std::fs::read_to_string(format!("{JS}/protocol.js")).expect("js/protocol.js");
    assert!(
        committed == codegen::js(),
        "js/protocol.js is stale: `cargo build` regenerates it from shared/src/protocol.rs; commit the result"
    );
}

#[test]
fn every_kind_and_name_has_the_rust_value() {
    let mut expected = Vec::new();
    for (prefix, kinds) in [("OP", &protocol::OPS[..]), ("REPORT", &protocol::REPORTS[..])] {
        for (name, n, _) in kinds {
            expected.push((format!("{prefix}_{name}"), n.to_string()));
        }
    }
    for (name, value) in protocol::JS_STRINGS {
        expected.push((name.to_string(), value.to_string()));
    }
    for (name, value) in protocol::JS_NUMBERS {
        expected.push((name.to_string(), value.to_string()));
    }
    for (prefix, t) in [("TO_HUB", &protocol::TO_HUB), ("FROM_HUB", &protocol::FROM_HUB), ("STATUS", &protocol::STATUS)]
    {
        let protocol::Shape::Enum(vs) = t.shape else { panic!("{} is an enum", t.name) };
        for v in vs {
            expected.push((format!("{prefix}_{}", codegen::screaming(v.name)), v.kind.to_string()));
        }
    }
    let names: Vec<String> = expected.iter().map(|(n, _)| format!("'{n}'")).collect();
    let printed = node(&format!(
        "const p = await import('file://{JS}/protocol.js');
         for (const n of [{}]) console.log(n + ' ' + p[n]);",
        names.join(", ")
    ));
    let got: Vec<(String, String)> = printed
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(' ').expect("name value");
            (n.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_literal_shared_worker_is_the_hub_every_tab_names() {
    // `hubPort()` spells the worker out for Vite and webpack; `hubPort(url)` names it from
    // the table: both must open the one hub.
    let printed = node(&format!(
        "const seen = [];
         globalThis.SharedWorker = class {{ constructor(url, o) {{ seen.push(o.name); this.port = {{}}; }} }};
         const client = await import('file://{JS}/client.js');
         client.hubPort();
         client.hubPort('/elsewhere/switchboard-worker.js');
         console.log(seen.join(' '));"
    ));
    assert_eq!(printed, format!("{} {}", protocol::WORKER_NAME, protocol::WORKER_NAME));
}

#[test]
fn page_core_kinds_are_dense() {
    for kinds in [&protocol::OPS[..], &protocol::REPORTS[..]] {
        let n: Vec<u32> = kinds.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(n, (0..kinds.len() as u32).collect::<Vec<_>>());
    }
}
