//! The page-client budget: what a tab loads (wasm + JS, each file gzip -9) must be no
//! larger than socket.io-client 4.8's ESM build (gzip -9), the peer most apps would load.
//! Sizes are deterministic, so this is a test; timings live in `switchboard bench`.

use std::path::Path;

#[test]
fn page_client_is_no_larger_than_socket_io_client() {
    let esm =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/socket.io-client/dist/socket.io.esm.min.js");
    let peer = std::fs::read(&esm).unwrap_or_else(|e| panic!("{}: {e} (scripts/setup installs it)", esm.display()));
    let budget = switchboard::gzip_len(&peer);
    let (files, raw, gzip) = switchboard::assets::sizes(&switchboard::assets::PAGE_CLIENT);
    assert!(files.iter().any(|(n, ..)| n.ends_with(".wasm")), "no page-client wasm in the bundle: {files:?}");
    let detail: Vec<String> = files.iter().map(|(n, r, g)| format!("{n} {r} B ({g} B gzip)")).collect();
    eprintln!("page client: {raw} B, {gzip} B gzip [{}]; socket.io-client ESM: {budget} B gzip", detail.join(", "));
    assert!(
        gzip <= budget,
        "the page client is {gzip} B gzip, over its budget of {budget} B (socket.io-client 4.8 ESM, gzip -9) by {} B: {}",
        gzip - budget,
        detail.join(", ")
    );
}
