//! The reference backend on its own: Origin allowlist and metrics, over raw HTTP.

mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(addr: std::net::SocketAddr, path: &str, origin: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn socket_io_refuses_foreign_origins_and_serves_its_own() {
    let srv = common::server().await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let own = format!("http://{}", srv.addr);
    assert!(get(srv.addr, path, Some(&own)).await.starts_with("HTTP/1.1 200"), "same origin is allowed");
    assert!(get(srv.addr, path, None).await.starts_with("HTTP/1.1 200"), "no Origin (not a browser) is allowed");
    let foreign = get(srv.addr, path, Some("http://evil.example")).await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    let metrics = get(srv.addr, "/debug/metrics", None).await;
    assert!(metrics.contains("\"origin_refused\":1"), "{metrics}");
    srv.stop().await;
}

#[tokio::test]
async fn serves_the_bundle_and_the_demo() {
    let srv = common::server().await;
    for (path, ty) in [
        ("/", "text/html"),
        ("/switchboard.js", "text/javascript"),
        ("/switchboard-worker.js", "text/javascript"),
        ("/switchboard_page_bg.wasm", "application/wasm"),
        ("/switchboard_hub_bg.wasm", "application/wasm"),
        ("/switchboard.d.ts", "application/typescript"),
    ] {
        let res = get(srv.addr, path, None).await;
        assert!(res.starts_with("HTTP/1.1 200"), "{path}: {}", res.lines().next().unwrap_or(""));
        assert!(res.to_ascii_lowercase().contains(&format!("content-type: {ty}")), "{path}");
    }
    assert!(get(srv.addr, "/nope.js", None).await.starts_with("HTTP/1.1 404"));
    // The server counts what it writes (the benchmark's bytes per broadcast come from this).
    let wasm = switchboard::assets::find("switchboard_hub_bg.wasm").expect("the hub wasm").len() as u64;
    let sent = srv.stats.bytes_sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent > wasm, "bytes_sent {sent} < the {wasm} B hub wasm it served");
    srv.stop().await;
}
