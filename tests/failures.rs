//! Loud, explained failures (headless Chromium, the real bundle, the reference backend): a
//! worker script that does not load and a hub that never answers make `connect()` reject
//! with what failed; every failed attempt says why in `statusDetail.reason` (the HTTP status
//! and text of a refusing server, a refused origin naming the flag that allows it, an
//! unreachable address); `reconnectionAttempts` ends in status `failed`; compat's `io()`
//! reports the same reasons as `connect_error`.

mod common;

use common::{exclusive, serve, server, Browser};
use serde_json::json;

/// The bundle and the harness page in a folder, for a static site on another origin.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    switchboard::write_bundle(dir.path()).expect("the bundle");
    for page in ["harness.html", "compat.html"] {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static").join(page);
        std::fs::copy(&from, dir.path().join(page)).expect("copy the page");
    }
    dir
}

/// Statuses of a client made by `connect(opts)` until `until` (a JS predicate over the
/// status list `s`) holds: the list as JSON.
fn statuses(opts: &str, until: &str) -> String {
    format!(
        "sb.connect({opts}).then((c) => new Promise((resolve) => {{ const s = []; \
         c.onStatus((d) => {{ s.push(d); if (({until})(s)) resolve(s); }}); }}))"
    )
}

const ENDLESS: &str = "not now, ";

/// A server on 127.0.0.1 that answers every request (the WebSocket upgrade, the polling
/// probe) with HTTP 503, CORS allowing `origin`, and a chunked body that never ends.
async fn endless_refusal(origin: &str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\naccess-control-allow-origin: {origin}\r\naccess-control-allow-credentials: true\r\n\
         content-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let chunk = ENDLESS.repeat(100);
    let chunk = format!("{:x}\r\n{chunk}\r\n", chunk.len());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (head, chunk) = (head.clone(), chunk.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                // Until the client hangs up.
                while conn.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_loud_and_explained() {
    let _one = exclusive().await;
    let srv = server().await;
    let b = Browser::launch().await;
    let page = format!("{}/harness.html", srv.url());

    // An address nobody listens on: each attempt says so, and two attempts end in `failed`.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let tab = b.open(&page).await;
    let opts = format!(
        "{{ url: 'http://{closed}', reconnectionAttempts: 2, reconnectionDelay: 50, reconnectionDelayMax: 50 }}"
    );
    let s = b.js(&tab, &statuses(&opts, "(s) => s.at(-1).status === 'failed'")).await;
    let list = s.as_array().expect("statuses");
    let unreachable = format!("cannot reach {closed} (connection refused, unknown host, or offline)");
    let retries: Vec<_> = list.iter().filter(|d| d["status"] == "reconnecting").collect();
    assert_eq!(retries.len(), 2, "two attempts before giving up: {s}");
    assert!(retries.iter().all(|d| d["reason"] == json!(unreachable)), "{s}");
    let failed = list.last().expect("a status")["reason"].as_str().expect("a reason").to_string();
    assert!(failed.starts_with("gave up after 2 reconnection attempts; the last: cannot reach"), "{failed}");
    b.close_tab(&tab).await;

    // A server that answers HTTP but refuses (a wrong path): its status and text.
    let tab = b.open(&page).await;
    let s = b.js(&tab, &statuses("{ path: '/nowhere' }", "(s) => s.at(-1).status === 'reconnecting'")).await;
    let reason = s.as_array().and_then(|l| l.last()).map(|d| d["reason"].clone()).expect("a status");
    assert!(reason.as_str().is_some_and(|r| r.starts_with("the server refused the connection: HTTP 404")), "{s}");
    b.close_tab(&tab).await;

    // A server whose refusal never ends (an endless body): the hub reads a bounded prefix
    // (an unbounded read would never finish, and no reason would come) and quotes it.
    let endless = endless_refusal(&srv.url()).await;
    let tab = b.open(&page).await;
    let s = b
        .js(&tab, &statuses(&format!("{{ url: 'http://{endless}' }}"), "(s) => s.at(-1).status === 'reconnecting'"))
        .await;
    let reason = s.as_array().and_then(|l| l.last()).map(|d| d["reason"].clone()).expect("a status");
    let quoted: String = ENDLESS.repeat(40).chars().take(200).collect();
    assert_eq!(reason, json!(format!("the server refused the connection: HTTP 503: {}", quoted.trim())), "{s}");
    b.close_tab(&tab).await;

    // A page on another origin that the server does not allow: the reason names the flag.
    let dir = site();
    let (origin, site_task) = serve(dir.path().to_path_buf()).await;
    let tab = b.open(&format!("{origin}/harness.html")).await;
    let opts = format!("{{ url: '{}' }}", srv.url());
    let s = b.js(&tab, &statuses(&opts, "(s) => s.at(-1).status === 'reconnecting'")).await;
    let reason = s.as_array().and_then(|l| l.last()).map(|d| d["reason"].clone()).expect("a status");
    let host = srv.url().trim_start_matches("http://").to_string();
    assert_eq!(
        reason,
        json!(format!(
            "{host} answers but refused this page's origin {origin} (its origin check or CORS; the reference backend allows it with --allow-origin {origin})"
        ))
    );
    // socket.io-client's API reports the same reason as `connect_error`.
    let compat = b.open(&format!("{origin}/compat.html")).await;
    let js = format!("new Promise((resolve) => sb.io('{}').on('connect_error', (e) => resolve(e.message)))", srv.url());
    let message = b.js(&compat, &js).await;
    assert_eq!(message, reason, "compat's connect_error");
    b.close_tab(&compat).await;
    b.close_tab(&tab).await;

    // A worker script that does not load: connect() rejects, naming the URL and its status.
    let (origin, site_task2) = serve(dir.path().to_path_buf()).await;
    let tab = b.open(&format!("{origin}/harness.html")).await;
    let js = "sb.connect({ workerUrl: '/missing/switchboard-worker.js' }).then(() => 'resolved', (e) => e.message)";
    let message = b.js(&tab, js).await;
    assert_eq!(
        message,
        json!(format!(
            "switchboard: the worker script did not load ({origin}/missing/switchboard-worker.js answered HTTP 404 Not Found)"
        ))
    );
    b.close_tab(&tab).await;

    // A worker that loads but never answers (a module that is not the hub): connect()
    // settles within loadTimeout.
    let (origin, site_task3) = serve(dir.path().to_path_buf()).await;
    let tab = b.open(&format!("{origin}/harness.html")).await;
    let js = "sb.connect({ workerUrl: './switchboard-reach.js', loadTimeout: 500 }).then(() => 'resolved', (e) => e.message)";
    let message = b.js(&tab, js).await;
    let text = message.as_str().expect("a rejection");
    assert!(text.starts_with("switchboard: no answer from the hub within 500 ms ("), "{text}");
    assert!(text.ends_with("switchboard-reach.js answered HTTP 200)"), "{text}");

    b.shutdown().await;
    srv.stop().await;
    for task in [site_task, site_task2, site_task3] {
        task.abort();
    }
}
