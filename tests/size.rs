//! The page-client budgets: what a tab loads (each file gzip -9, as the browser fetches it)
//! is at most 8 KB, the mission's bar for every tab after the first, and no larger than
//! socket.io-client 4.8's ESM build (gzip -9), the peer most apps would load. Sizes are
//! deterministic, so this is a test; timings live in `switchboard bench`.

use std::path::Path;

#[test]
fn page_client_is_no_larger_than_socket_io_client() {
    let esm =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/socket.io-client/dist/socket.io.esm.min.js");
    let peer = std::fs::read(&esm).unwrap_or_else(|e| panic!("{}: {e} (scripts/setup installs it)", esm.display()));
    let budget = switchboard::gzip_len(&peer);
    let (files, raw, gzip) = switchboard::assets::sizes(&switchboard::assets::PAGE_CLIENT);
    assert!(files.iter().any(|(n, ..)| n == "switchboard.js"), "no page client in the bundle: {files:?}");
    let detail: Vec<String> = files.iter().map(|(n, r, g)| format!("{n} {r} B ({g} B gzip)")).collect();
    eprintln!("page client: {raw} B, {gzip} B gzip [{}]; socket.io-client ESM: {budget} B gzip", detail.join(", "));
    assert!(
        gzip <= budget,
        "the page client is {gzip} B gzip, over its budget of {budget} B (socket.io-client 4.8 ESM, gzip -9) by {} B: {}",
        gzip - budget,
        detail.join(", ")
    );
}

/// MISSION.md: "per additional tab ≤ 8 KB gzip" (the hub is running already; a tab loads the
/// page client alone).
#[test]
fn an_additional_tab_loads_at_most_8_kb() {
    const BUDGET: usize = 8 * 1024;
    let (files, _, gzip) = switchboard::assets::sizes(&switchboard::assets::PAGE_CLIENT);
    assert!(
        gzip <= BUDGET,
        "a tab loads {gzip} B gzip, over {BUDGET} B by {} B: {files:?}",
        gzip.saturating_sub(BUDGET)
    );
}
