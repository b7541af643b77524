//! The JS half names what crosses to and from Rust with the same list as Rust, and the
//! browser-side names (worker, locks) as the shared contract: one list, checked here.

use switchboard_page_client::{op, to_js};
use switchboard_shared::contract;

const CLIENT_JS: &str = include_str!("../js/client.js");

/// `NAME = N` pairs of the `const` declaration that starts with `first =`.
fn declared(first: &str) -> Vec<(String, u32)> {
    let start = CLIENT_JS.find(&format!("const {first} = ")).unwrap_or_else(|| panic!("client.js declares {first}"));
    let decl = &CLIENT_JS[start + "const ".len()..];
    let decl = &decl[..decl.find(';').expect("the declaration ends")];
    decl.split(',')
        .map(|pair| {
            let (name, n) = pair.split_once('=').expect("NAME = N");
            (name.trim().to_string(), n.trim().parse().expect("a number"))
        })
        .collect()
}

fn rust(list: &[(&str, u32)]) -> Vec<(String, u32)> {
    list.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn op_kinds_match() {
    assert_eq!(declared("LOGIN"), rust(&op::ALL));
}

#[test]
fn report_kinds_match() {
    assert_eq!(declared("POST"), rust(&to_js::ALL));
}

#[test]
fn kinds_are_distinct_and_dense() {
    for list in [&op::ALL[..], &to_js::ALL[..]] {
        let mut n: Vec<u32> = list.iter().map(|(_, v)| *v).collect();
        n.sort();
        assert_eq!(n, (0..list.len() as u32).collect::<Vec<_>>());
    }
}

#[test]
fn the_compat_module_names_the_hub_events_as_the_contract() {
    let compat = include_str!("../js/compat.js");
    let decl = format!(
        "const HUB_PING = '{}', HUB_LOST = '{}', HUB_DROP = '{}';",
        contract::HUB_PING,
        contract::HUB_LOST,
        contract::HUB_DROP
    );
    assert!(compat.contains(&decl), "compat.js: {decl}");
}

#[test]
fn browser_names_match_the_contract() {
    for (js, value) in [
        ("WORKER_NAME", contract::WORKER_NAME),
        ("HUB_LOCK", contract::HUB_LOCK),
        ("TAB_LOCK_PREFIX", contract::TAB_LOCK_PREFIX),
        ("ANY_EVENT", contract::ANY_EVENT),
        ("LEADER_EVENT", contract::HUB_LEADER),
    ] {
        assert!(CLIENT_JS.contains(&format!("const {js} = '{value}';")), "client.js: {js} = '{value}'");
    }
}

/// The names the modes without a SharedWorker use, spelled out in JS (the tab side and the
/// worker bootstrap) as in the contract; the literal worker forms bundlers need name the
/// same worker.
#[test]
fn reach_names_match_the_contract() {
    let reach = include_str!("../js/reach.js");
    let worker = include_str!("../../static/bundle/switchboard-worker.js");
    let checks = [
        (reach, format!("const CHANNEL = '{}'", contract::LEADER_CHANNEL)),
        (reach, format!("LEADER_LOCK = '{}'", contract::LEADER_LOCK)),
        (reach, format!("BEAT = {}, SILENCE = {}", contract::LEADER_BEAT_MS, contract::LEADER_SILENCE_MS)),
        (worker, format!("CHANNEL = '{}', EPOCH_DB = '{}'", contract::LEADER_CHANNEL, contract::EPOCH_DB)),
        (worker, format!("BEAT = {}, LEASE = {}", contract::LEADER_BEAT_MS, contract::LEADER_LEASE_MS)),
        (worker, format!("DB = '{}', STORE = '{}'", contract::DB_NAME, contract::DB_STORE)),
        (CLIENT_JS, format!("name: '{}' }})", contract::WORKER_NAME)),
    ];
    for (js, decl) in checks {
        assert!(js.contains(&decl), "{decl}");
    }
}
