//! The npm package through real bundlers: `switchboard bundle` writes the package, `npm pack`
//! and `npm install` put it in a minimal Vite app and a minimal webpack 5 app (tests/apps/,
//! their bundler pinned by a lockfile and installed by scripts/setup), each is built in
//! production mode, and its output folder — the bundler's renamed, fingerprinted files,
//! nothing copied by hand — is served by a static server on one origin while the reference
//! backend runs on another: two tabs of each share one WebSocket.

mod common;

use common::{exclusive, npm, Browser};
use serde_json::json;
use std::sync::atomic::Ordering;

/// Installs the package into `app`, builds it with `build` (production), serves its `dist/`
/// and checks two tabs share one WebSocket to a backend on another origin.
async fn bundled_app(app: &str, build: &[&str]) {
    let _one = exclusive().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = npm::install(app, tmp.path());
    let built = npm::run(&dir, "node", build, &[]);
    println!("{app} build:\n{built}");
    let dist = dir.join("dist");
    let files: Vec<String> = std::fs::read_dir(dist.join(if app == "vite" { "assets" } else { "" }))
        .expect("dist")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().filter(|f| f.ends_with(".wasm")).count() == 1, "{app}: the hub's wasm emitted: {files:?}");
    assert!(!files.iter().any(|f| f == "switchboard_hub_bg.wasm"), "{app}: fingerprinted, not copied: {files:?}");
    let (origin, static_server, srv) = common::site_and_backend(dist).await;
    let b = Browser::launch().await;
    let page = format!("{origin}/index.html?server={}", srv.url());
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let tab = b.open(&page).await;
        b.js(&tab, "window.app.ready.then(() => new Promise((resolve) => window.app.client.onStatus((s) => s.status === 'connected' && resolve())))").await;
        tabs.push(tab);
    }
    for (i, tab) in tabs.iter().enumerate() {
        assert_eq!(b.js(tab, &format!("window.app.client.emitWithAck('echo', {i})")).await, json!(i));
        let n = b
            .js(tab, "new Promise((resolve) => window.app.client.onTabs((t) => t.length === 2 && resolve(t.length)))")
            .await;
        assert_eq!(n, json!(2), "{app}: both tabs on one hub");
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "{app}: two tabs, one WebSocket");
    b.shutdown().await;
    srv.stop().await;
    static_server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vite_production_build_finds_the_worker_and_the_wasm() {
    bundled_app("vite", &["node_modules/vite/bin/vite.js", "build"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webpack_production_build_finds_the_worker_and_the_wasm() {
    bundled_app("webpack", &["build.mjs"]).await;
}
