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
        _ => "application/octet-stream",
    }
}
