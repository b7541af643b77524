//! The browser bundle and the demo page, embedded at build time by build.rs.

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

pub fn find(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(n, _, _)| *n == name).map(|(_, b, _)| *b)
}

/// The files of the deployable bundle: the page client, the hub, their glue and types.
pub fn bundle() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    ASSETS.iter().filter(|(_, _, b)| *b).map(|(n, b, _)| (*n, *b))
}

pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("ts") => "application/typescript; charset=utf-8",
        Some("json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// What a tab loads for the page client: the bootstrap, with the JS core and client bundled
/// in when esbuild was available (else beside it). No wasm.
pub const PAGE_CLIENT: [&str; 3] = ["switchboard.js", "core.js", "switchboard_page_client.js"];

/// What the SharedWorker loads for the hub.
pub const HUB: [&str; 3] = ["switchboard-worker.js", "switchboard_hub.js", "switchboard_hub_bg.wasm"];

/// (file, raw bytes, gzip -9 bytes) of each of `files` in the bundle, and the totals:
/// each file travels (and is compressed) on its own.
pub fn sizes(files: &[&str]) -> (Vec<(String, usize, usize)>, usize, usize) {
    let list: Vec<_> = bundle()
        .filter(|(n, _)| files.contains(n))
        .map(|(n, b)| (n.to_string(), b.len(), crate::gzip_len(b)))
        .collect();
    let (raw, gz) = list.iter().fold((0, 0), |(r, g), (_, a, b)| (r + a, g + b));
    (list, raw, gz)
}
