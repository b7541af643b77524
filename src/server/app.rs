//! The demo/test application behind the contract: `chat {room, text}` to a room the socket is
//! in (wrapped in `sb:room` for room routing; `from` is the socket's user, set here),
//! `announce <any>` from a signed-in user to everyone as a numbered event, `record <any>`
//! kept in order for tests (`--test-hooks` only), `echo`/`bin-echo` acked back; and the
//! static files (demo page, bundle, `/vendor/`).

use super::contract::publish;
use super::limits::Admit;
use super::node::SocketIo;
use super::node::{AckSender, SocketRef};
use super::ordering::Ticket;
use super::{RawArgs, State};
use crate::assets;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use socketioxide::extract::Data;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use switchboard_shared::contract;

/// The application's handlers on a new socket (reachable directly or through `sb:emit`).
pub fn on_connect(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    for event in ["chat", "announce", "record"] {
        let (io, st) = (io.clone(), state.clone());
        socket.on(event, move |_: Admit, s: SocketRef, RawArgs(args): RawArgs, ticket: Ticket| {
            let (io, state) = (io.clone(), st.clone());
            async move {
                let _turn = ticket.wait().await;
                if super::signin::limited(&s, &state) {
                    state.stats.unverified_refused.fetch_add(1, Ordering::Relaxed);
                    let _ = s.emit(
                        contract::LIMIT,
                        &serde_json::json!({ contract::ERROR_FIELD: contract::NOT_VERIFIED, "limit": "unverified" }),
                    );
                    return;
                }
                let rest = args.into_iter().skip(1).collect();
                // Refusals are counted and logged by `event`: a plain emit has no receipt.
                let _ = self::event(&io, &s, &state, event, rest, None).await;
            }
        });
    }
    // bin-echo <binary> -> ack with the same bytes (as a Socket.IO attachment).
    socket.on("bin-echo", |_: Admit, Data(b): Data<bytes::Bytes>, ack: AckSender| async move {
        let _ = ack.send(&b);
    });
    // echo <any> -> ack with the same value.
    socket.on("echo", |_: Admit, Data(v): Data<Value>, ack: AckSender| async move {
        let _ = ack.send(&v);
    });
}

/// The most `record`s kept (test hooks only): beyond it a `record` is refused.
pub const RECORD_MAX: usize = 100_000;

/// One application event, in the socket's order; `durable`: the id of the `sb:emit` that
/// carried it (claimed, not yet marked done). Every event is authorized as `sb:to` is:
/// `chat` only to a room the socket is in, from the socket's user (the server sets `from`);
/// `announce` only from a signed-in user; `record` only with the test hooks on. Refused:
/// the reason (the durable emit's receipt, or a log line and `app_refused`).
pub async fn event(
    io: &SocketIo,
    socket: &SocketRef,
    state: &State,
    event: &str,
    args: Vec<Value>,
    durable: Option<&str>,
) -> Result<(), String> {
    let refused = |error: String| {
        state.stats.app_refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(sid = %socket.id, event, "refused: {error}");
        Err(error)
    };
    let mut first = args.into_iter().next().unwrap_or(Value::Null);
    let user = super::presence::assigned(socket, contract::USER_ROOM);
    match event {
        "chat" => {
            let Some(room) = first.get("room").and_then(Value::as_str).map(String::from) else {
                return refused("chat needs {room, text}".into());
            };
            if !super::presence::in_room(socket, &room) {
                return refused(format!("chat to {room:?}: this socket is not in that room"));
            }
            if let Some(m) = first.as_object_mut() {
                m.insert("from".into(), user.map_or(Value::String(ANONYMOUS.into()), Value::String));
            }
            // To the room in the sender's namespace.
            let _ = socket.within(room.clone()).emit(contract::ROOM, &(&room, "chat", &first)).await;
            super::admin::sent(io, state, socket.ns(), socket.within(room).sockets(), &["chat".into(), first]);
        }
        "announce" => {
            if user.is_none() && !state.test_hooks {
                return refused("announce needs a signed-in user".into());
            }
            if let Some(m) = first.as_object_mut() {
                m.insert("from".into(), user.map_or(Value::String(ANONYMOUS.into()), Value::String));
            }
            publish(io, state, "announce", &first).await
        }
        "record" if state.test_hooks => {
            if state.stats.recorded.lock().is_ok_and(|r| r.len() >= RECORD_MAX) {
                return refused(format!("record: {RECORD_MAX} records kept already"));
            }
            // Several nodes: the application's record is in Redis, written with the emit's
            // done mark in one step (`shared::RECORD_DONE`), so a node that dies cannot leave
            // it recorded but unmarked.
            if let Some((store, keep)) = state.dedup.shared() {
                if let Err(e) = store.record(&first.to_string(), durable.map(|id| (id, keep))).await {
                    tracing::error!("record: {e}");
                    return Err(format!("record: {e}"));
                }
            }
            if let Ok(mut r) = state.stats.recorded.lock() {
                r.push(first);
            }
            state.stats.recorded_changed.notify_waiters();
        }
        "record" => return refused("record is a test hook (--test-hooks)".into()),
        other => tracing::debug!(event = other, "no application handler"),
    }
    Ok(())
}

/// Who a `chat` or `announce` of a socket without a user is from.
pub const ANONYMOUS: &str = "anonymous";

/// The demo page and the bundle (embedded), files under `/vendor/` from `vendor`, and the
/// Socket.IO Admin UI under `/admin-ui/` from `admin_ui` (its `ui/dist`).
pub async fn serve_asset(
    req: Request,
    vendor: Option<PathBuf>,
    admin_ui: Option<PathBuf>,
    max_age: Option<u32>,
) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    if let (Some(dir), Some(file)) = (admin_ui, path.strip_prefix("admin-ui/")) {
        return serve_admin_ui(dir, file).await;
    }
    if let (Some(dir), Some(file)) = (vendor, path.strip_prefix("vendor/")) {
        if file.contains('/') || file.contains("..") {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
        let path = dir.join(file);
        return match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
            Ok(Ok(bytes)) => cached(typed(bytes.into(), file, false), max_age),
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        };
    }
    // Browsers ask for `/favicon.ico` on every origin: the demo's icon is an SVG.
    let name = match path {
        "" => "index.html",
        "favicon.ico" => "favicon.svg",
        other => other,
    };
    match assets::find(name) {
        Some(bytes) => cached(typed(Body::from(bytes), name, max_age.is_none()), max_age),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `Cache-Control: max-age` when the server was told one.
fn cached(mut res: Response, max_age: Option<u32>) -> Response {
    if let Some(secs) = max_age {
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={secs}")) {
            res.headers_mut().insert(header::CACHE_CONTROL, v);
        }
    }
    res
}

/// A file of the Admin UI. Its `index.html` loads fonts and icons from two CDNs: those links
/// are taken out (the dev server and its tests stay on loopback; the UI works without them).
async fn serve_admin_ui(dir: PathBuf, file: &str) -> Response {
    if file.split('/').any(|part| part == ".." || part.starts_with('.')) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let name = if file.is_empty() { "index.html" } else { file }.to_string();
    let path = dir.join(&name);
    let Ok(Ok(bytes)) = tokio::task::spawn_blocking(move || std::fs::read(path)).await else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if name != "index.html" {
        return typed(bytes.into(), &name, false);
    }
    let html = String::from_utf8_lossy(&bytes);
    let local: String = html.split('<').filter(|tag| !tag.contains("href=\"https://")).collect::<Vec<_>>().join("<");
    // (Not named index.html: the demo's CSP is not the UI's.)
    typed(Body::from(local), "admin-ui.html", false)
}

/// The Content-Security-Policy a page using the bundle needs (README, "Deploying the
/// bundle"): scripts from its own origin and WebAssembly compilation, the hub's SharedWorker
/// from its own origin, connections (the wasm fetch; the hub's socket and sign-in calls
/// when the page itself makes none) to its own origin. The demo page is served under it.
pub const DEMO_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
connect-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'";

fn typed(body: Body, name: &str, no_cache: bool) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(assets::content_type(name)));
    if no_cache {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if name == "index.html" {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEMO_CSP));
    }
    res
}
