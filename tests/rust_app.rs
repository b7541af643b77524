//! The Rust API in a browser: the front end of `tests/apps/rust` (built by the project's
//! build beside the bundle) connects through `switchboard_page_client::Client`, subscribes,
//! emits with an ack and joins a room, in two tabs sharing one WebSocket.

mod common;

use common::{exclusive, Browser};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::Ordering;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read the app").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_front_end_shares_one_websocket_between_two_tabs() {
    let _one = exclusive().await;
    let site = tempfile::tempdir().expect("site");
    switchboard::write_bundle(site.path()).expect("the bundle");
    copy_dir(Path::new(env!("SWITCHBOARD_RUST_APP")), site.path());
    let (origin, pages, srv) = common::site_and_backend(site.path().to_path_buf()).await;
    let b = Browser::launch().await;
    let page = format!("{origin}/index.html?server={}", srv.url());
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let tab = b.open(&page).await;
        let report = b.js(&tab, "window.app.then((r) => ({ id: r.id, ack: r.ack, rooms: r.rooms }))").await;
        assert_eq!(report["ack"], json!("from rust"), "{report}");
        assert!(report["rooms"].as_array().is_some_and(|r| r.contains(&json!("rust-room"))), "{report}");
        tabs.push(tab);
    }
    for tab in &tabs {
        let n = b.js(tab, "window.app.then((r) => new Promise((resolve) => r.client.onTabs((t) => t.length === 2 && resolve(t.length))))").await;
        assert_eq!(n, json!(2));
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "two Rust tabs, one WebSocket");
    assert_eq!(srv.room_size("rust-room"), 1, "one server-side join for both tabs");
    srv.io.emit("news", &json!({"from": "server"})).await.expect("broadcast");
    for tab in &tabs {
        let got = b
            .js(tab, "new Promise((resolve) => (window.news.length ? resolve(window.news) : (window.arrived = () => resolve(window.news))))")
            .await;
        assert_eq!(got, json!([{"from": "server"}]));
    }
    b.shutdown().await;
    srv.stop().await;
    pages.abort();
}
