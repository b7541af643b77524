//! The React bindings (`switchboard-client/react`) in a React 19 app in StrictMode
//! (tests/apps/react, no JSX), installed from the packed tarball and built by Vite twice: a
//! development build (React's development code: StrictMode mounts every effect twice) and a
//! production build. In headless Chromium against the reference backend on another origin:
//! two tabs share one WebSocket and one client each, status, room members, the signed-in user
//! and shared state render in both, each event reaches each `useEvent` handler once, and
//! after unmount no listener the hooks registered is left and the client is closed.

mod common;

use common::{exclusive, npm, Browser, Tab};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Resolves with `expr` once it is truthy (checked every 20 ms; rejects after 15 s).
fn until(expr: &str) -> String {
    format!(
        "new Promise((resolve, reject) => {{ const t0 = Date.now(); const check = () => {{ let v; try {{ v = ({expr}); }} catch {{}} \
         if (v) resolve(v); else if (Date.now() - t0 > 15000) reject(new Error('timed out: ' + {what})); else setTimeout(check, 20); }}; check(); }})",
        what = Value::from(expr)
    )
}

fn shown(id: &str) -> String {
    format!("document.getElementById('{id}')?.textContent")
}

async fn wait_text(b: &Browser, tab: &Tab, id: &str, want: &str) {
    let got = b.js(tab, &until(&format!("{} === {} && {0}", shown(id), Value::from(want)))).await;
    assert_eq!(got, json!(want), "#{id}");
}

async fn react_app(b: &Browser, mode: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = npm::install("react", tmp.path());
    let out = format!("dist{}", if mode == "development" { "-dev" } else { "" });
    let vite = ["node_modules/vite/bin/vite.js", "build", "--mode", mode, "--outDir", &out, "--emptyOutDir"];
    let built = npm::run(&dir, "node", &vite, &[("NODE_ENV", mode)]);
    println!("vite build --mode {mode}:\n{built}");
    let (origin, site, srv) = common::site_and_backend(dir.join(&out)).await;
    let page = format!("{origin}/index.html?server={}", srv.url());
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let tab = b.open(&page).await;
        wait_text(b, &tab, "status", "connected").await;
        tabs.push(tab);
    }
    assert_eq!(srv.stats.ws_upgrades.load(Ordering::Relaxed), 1, "{mode}: two tabs, one WebSocket");
    let mounts = if mode == "development" { 2 } else { 1 };
    for tab in &tabs {
        assert_eq!(b.js(tab, "app.clients").await, json!(1), "{mode}: one client per page, StrictMode or not");
        assert_eq!(
            b.js(tab, "app.mounts").await,
            json!(mounts),
            "{mode}: effects mounted (StrictMode mounts twice in development)"
        );
        wait_text(b, tab, "room", "2").await;
        wait_text(
            b,
            tab,
            "leader",
            if b.js(tab, "app.client.leader.isLeader").await == json!(true) { "leads" } else { "follows" },
        )
        .await;
    }

    // Sign-in from one tab reaches both; shared state written in one renders in both.
    b.js(&tabs[0], "app.auth.login('alice', 'alice-password')").await;
    for tab in &tabs {
        wait_text(b, tab, "user", "alice").await;
    }
    assert_eq!(b.js(&tabs[1], "app.setCounter((n) => (n ?? 0) + 5)").await, json!(5));
    for tab in &tabs {
        wait_text(b, tab, "counter", "5").await;
    }

    // Each event once per handler: two pings to the room reach the other tab's two handlers
    // twice each (a doubled registration would count 4).
    for n in 1..=2 {
        b.js(&tabs[0], &format!("app.client.to('react-room').emit('ping', {n})")).await;
        b.js(&tabs[1], &until(&format!("app.got.a >= {n} && app.got.b >= {n}"))).await;
    }
    assert_eq!(b.js(&tabs[1], "app.client.emitWithAck('echo', 'after')").await, json!("after"));
    assert_eq!(b.js(&tabs[1], "app.got").await, json!({ "a": 2, "b": 2 }), "{mode}: each event once per handler");
    assert_eq!(b.js(&tabs[0], "app.got").await, json!({ "a": 0, "b": 0 }), "{mode}: not to the sender");

    // Unmount: every listener the hooks added is removed, the client closed; the other tab
    // still has its own and sees this one leave the room.
    // One per value read (status, members, auth, leader, the counter) and one per handler.
    assert_eq!(b.js(&tabs[1], "app.live").await, json!(7), "{mode}: the hooks' listeners, counted");
    b.js(&tabs[1], "app.unmount()").await;
    assert_eq!(b.js(&tabs[1], &until("app.client.status === 'disconnected' && 'closed'")).await, json!("closed"));
    assert_eq!(b.js(&tabs[1], "app.live").await, json!(0), "{mode}: no listener left after unmount");
    wait_text(b, &tabs[0], "room", "1").await;
    assert_eq!(b.js(&tabs[0], "app.client.tabs.length").await, json!(1), "{mode}: the closed tab detached");
    for tab in tabs {
        b.close_tab(&tab).await;
    }
    srv.stop().await;
    site.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn react_bindings_in_strict_mode_share_one_client_and_leave_nothing_behind() {
    let _one = exclusive().await;
    let b = Browser::launch().await;
    react_app(&b, "development").await;
    react_app(&b, "production").await;
    b.shutdown().await;
}
