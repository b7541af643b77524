//! The server half of the Socket.IO Admin UI's protocol (npm `@socket.io/admin-ui`, its
//! `instrument()`), which socketioxide lacks: the `/admin` namespace behind credentials
//! (`--admin USER:PASSWORD`, the password kept as an argon2 hash; the UI's `sessionId` after a
//! first sign-in), `config`, `server_stats` every 2 s, and in development mode `all_sockets`,
//! `socket_connected` / `socket_disconnected`, `room_joined` / `room_left` and
//! `event_received`; the actions `emit`, `join`, `leave`, `_disconnect` unless read-only.
//! Each hub is one client (its WebSocket); its tabs are in the socket's `data`.
//! Invariants: nothing is sent to `/admin` while no admin is connected; a malformed or
//! read-only action is refused with a log line and an `sb:admin_error` event, never a panic;
//! cookies and authorization headers never reach the UI.

use super::node::SocketIo;
use super::node::SocketRef;
use super::serve::Peer;
use super::{RawArgs, State, NAMESPACES};
use crate::auth::{now_ms, token};
use crate::clock::iso;
use serde_json::{json, Map, Value};
use socketioxide::extract::Data;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_shared::contract;

pub const NAMESPACE: &str = "/admin";
/// Sent to an admin whose action was refused (read-only, or malformed).
pub const ERROR_EVENT: &str = "sb:admin_error";

/// `--admin` and its options.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub user: String,
    /// argon2 hash of the password.
    pub hash: String,
    pub readonly: bool,
    /// Development mode lists sockets, rooms and events; production only aggregated stats.
    pub development: bool,
}

impl AdminConfig {
    /// From `USER:PASSWORD` (hashed here; the password is not kept).
    pub fn parse(spec: &str, readonly: bool, development: bool) -> Result<AdminConfig, String> {
        let (user, password) = spec.split_once(':').ok_or("--admin needs USER:PASSWORD")?;
        if user.is_empty() || password.len() < 8 {
            return Err("--admin needs a user name and a password of at least 8 characters".into());
        }
        let hash = crate::auth::hash_password(password)?;
        Ok(AdminConfig { user: user.into(), hash, readonly, development })
    }
}

/// The admin namespace's state.
pub struct Admin {
    config: AdminConfig,
    sessions: Mutex<HashSet<String>>,
    started: Instant,
    /// Admins connected now: nothing is told while there are none.
    watchers: AtomicUsize,
    /// Counters for `aggregatedEvents`, and their values at the last `server_stats`.
    pub packets_in: AtomicU64,
    last: Mutex<(u64, u64, u64, u64, u64)>,
    /// Credentials that passed lately (keyed digests, never the password): checked again
    /// without a hash until they expire.
    passed: Mutex<HashMap<[u8; 32], Instant>>,
    /// This process's key for those digests.
    key: String,
}

/// Why the admin credentials were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Wrong,
    /// This address guessed wrong too often: it waits this long.
    Wait(Duration),
    /// The hash gate is full.
    Busy,
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::Wrong => "invalid credentials".into(),
            Denied::Wait(w) => format!("too many attempts: try again in {} s", w.as_secs().max(1)),
            Denied::Busy => crate::auth::BUSY.into(),
        }
    }
}

/// How long credentials that passed are taken without a hash.
const PASSED_FOR: Duration = Duration::from_secs(600);
/// Credentials remembered at most (only ones that passed: one admin, a few browsers).
const PASSED_MAX: usize = 64;

impl Admin {
    pub fn new(config: AdminConfig) -> Admin {
        Admin {
            config,
            sessions: Mutex::default(),
            started: Instant::now(),
            watchers: AtomicUsize::new(0),
            packets_in: AtomicU64::new(0),
            last: Mutex::default(),
            passed: Mutex::default(),
            key: token(),
        }
    }

    /// The one check of the admin credentials, for `/admin`, `/metrics` and `/debug/metrics`:
    /// nothing to hash without both parts; credentials that passed lately pass without a hash;
    /// otherwise the address's throttle, then the hash gate.
    pub async fn verify(&self, state: &State, peer: Peer, user: &str, password: &str) -> Result<(), Denied> {
        if user.is_empty() || password.is_empty() {
            return Err(Denied::Wrong);
        }
        let digest = {
            use blake2::Digest;
            let mut h = blake2::Blake2s256::new();
            for part in [self.key.as_str(), user, password] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            <[u8; 32]>::from(h.finalize())
        };
        let now = Instant::now();
        if self.passed.lock().is_ok_and(|p| p.get(&digest).is_some_and(|until| *until > now)) {
            return Ok(());
        }
        let attempt = state.throttles.admin.attempt(&peer.0.to_string(), now).map_err(Denied::Wait)?;
        let (hash, want, given, name) =
            (self.config.hash.clone(), self.config.user.clone(), password.to_string(), user.to_string());
        let checked = state.auth.gate.run(false, move || crate::auth::verify_hash(&hash, &given) && name == want).await;
        let Ok(ok) = checked else {
            attempt.cancel();
            return Err(Denied::Busy);
        };
        attempt.done(ok, Instant::now());
        if !ok {
            return Err(Denied::Wrong);
        }
        if let Ok(mut p) = self.passed.lock() {
            p.retain(|_, until| *until > now);
            if p.len() < PASSED_MAX {
                p.insert(digest, now + PASSED_FOR);
            }
        }
        Ok(())
    }

    fn watched(&self) -> bool {
        self.config.development && self.watchers.load(Ordering::Relaxed) > 0
    }

    fn features(&self) -> Vec<&'static str> {
        let mut f = match self.config.readonly {
            true => vec![],
            false => vec!["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"],
        };
        f.push("AGGREGATED_EVENTS");
        if self.config.development {
            f.push("ALL_EVENTS");
        }
        f
    }
}

/// A short stable id for the WebSocket a socket came in on (one per hub): its namespaces share
/// the request, so they show as one client.
fn client_id(s: &SocketRef) -> String {
    let key = s.req_parts().headers.get("sec-websocket-key").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3));
    if key.is_empty() {
        return s.id.to_string();
    }
    format!("{h:012x}")[..12].to_string()
}

/// A socket as the Admin UI lists it (`SerializedSocket`).
pub fn serialize(s: &SocketRef, state: &State) -> Value {
    let parts = s.req_parts();
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cookie" | "authorization"))
        .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.to_str().ok()?.to_string()))))
        .collect();
    let query: Map<String, Value> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let mut rooms: Vec<String> = s.rooms().into_iter().map(|r| r.to_string()).collect();
    rooms.push(s.id.to_string());
    let sid = s.id.to_string();
    let tabs = state.tabs.tabs_of(&sid);
    let user = super::presence::assigned(s, contract::USER_ROOM);
    json!({
        "id": sid,
        "clientId": client_id(s),
        "transport": "websocket",
        "nsp": s.ns(),
        "data": { "tabs": tabs, "user": user },
        "handshake": {
            "address": parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1"),
            "headers": headers,
            "query": query,
            "issued": now_ms(),
            "secure": false,
            "time": iso(now_ms()),
            "url": parts.uri.to_string(),
            "xdomain": parts.headers.get("origin").is_some(),
        },
        "rooms": rooms,
    })
}

/// Emits to every admin (spawned: callers may be synchronous).
fn tell(io: &SocketIo, event: &'static str, args: Vec<Value>) {
    let Some(ns) = io.of(NAMESPACE) else { return };
    tokio::spawn(async move {
        let _ = ns.emit(event, &super::contract::Spread(&args)).await;
    });
}

/// A socket of the application connected (development mode, admins watching).
pub fn socket_connected(io: &SocketIo, state: &State, s: &SocketRef) {
    if state.admin.as_ref().is_some_and(|a| a.watched()) {
        tell(io, "socket_connected", vec![serialize(s, state), json!(iso(now_ms()))]);
    }
}

/// An event the application sent to `sockets` (development mode, admins watching): shown
/// as the application event, without the contract's envelope (`sb:room`, `sb:seq`).
pub fn sent(io: &SocketIo, state: &State, nsp: &str, sockets: Vec<SocketRef>, args: &[Value]) {
    if !state.admin.as_ref().is_some_and(|a| a.watched()) {
        return;
    }
    for s in sockets {
        tell(io, "event_sent", vec![json!(nsp), json!(s.id.to_string()), json!(args), json!(iso(now_ms()))]);
    }
}

/// A socket's data changed (its hub's tabs).
pub fn socket_updated(io: &SocketIo, state: &State, s: &SocketRef) {
    if state.admin.as_ref().is_some_and(|a| a.watched()) {
        let full = serialize(s, state);
        tell(io, "socket_updated", vec![json!({"id": full["id"], "nsp": full["nsp"], "data": full["data"]})]);
    }
}

pub fn socket_disconnected(io: &SocketIo, state: &State, nsp: &str, sid: &str, reason: &str) {
    if state.admin.as_ref().is_some_and(|a| a.watched()) {
        tell(io, "socket_disconnected", vec![json!(nsp), json!(sid), json!(reason), json!(iso(now_ms()))]);
    }
}

/// `room_joined` (`joined`) or `room_left` for a socket.
pub fn room(io: &SocketIo, state: &State, nsp: &str, room: &str, sid: &str, joined: bool) {
    if state.admin.as_ref().is_some_and(|a| a.watched()) {
        let event = if joined { "room_joined" } else { "room_left" };
        tell(io, event, vec![json!(nsp), json!(room), json!(sid), json!(iso(now_ms()))]);
    }
}

/// What every message of an application socket is shown to (the limiter calls it with the
/// namespace, the socket id and the raw `[event, ...args]`): `event_received`.
pub type Tap = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

pub fn tap(io: &SocketIo, admin: &Arc<Admin>) -> Tap {
    let (io, admin) = (io.clone(), admin.clone());
    Arc::new(move |nsp: &str, sid: &str, raw: &str| {
        admin.packets_in.fetch_add(1, Ordering::Relaxed);
        if admin.watched() {
            // A credential (`sb:auth {token}`) is never shown, to read-only admins neither.
            let mut args: Value = serde_json::from_str(&contract::redact_event(raw)).unwrap_or(Value::Null);
            // A durable emit shows as the application event it carries (its id dropped).
            if let Some(items) = args.as_array_mut().filter(|a| a.len() >= 3 && a[0] == contract::EMIT) {
                items.drain(..2);
            }
            tell(&io, "event_received", vec![json!(nsp), json!(sid), args, json!(iso(now_ms()))]);
        }
    })
}

/// The `/admin` namespace's connect middleware: a session id it handed out, or the
/// credentials (checked against the hash off the async threads).
pub async fn authenticate(s: SocketRef, Data(auth): Data<Value>, state: Arc<State>) -> Result<(), &'static str> {
    let Some(admin) = state.admin.clone() else { return Err("the admin UI is not enabled") };
    if let Some(id) = auth.get("sessionId").and_then(Value::as_str) {
        if admin.sessions.lock().is_ok_and(|s| s.contains(id)) {
            return Ok(());
        }
    }
    let user = auth.get("username").and_then(Value::as_str).unwrap_or("");
    let password = auth.get("password").and_then(Value::as_str).unwrap_or("");
    let peer = Peer::of(s.req_parts());
    if let Err(denied) = admin.verify(&state, peer, user, password).await {
        tracing::warn!(user = %super::throttle::key(user), peer = %peer.0, "admin UI: {}", denied.message());
        return Err(match denied {
            Denied::Wrong => "invalid credentials",
            Denied::Wait(_) => "too many attempts: try again later",
            Denied::Busy => "busy: try again in a second",
        });
    }
    let session = token()[..16].to_string();
    if let Ok(mut set) = admin.sessions.lock() {
        set.insert(session.clone());
    }
    s.extensions.insert(NewSession(session));
    Ok(())
}

#[derive(Clone)]
struct NewSession(String);

/// An admin connected: its actions first (the UI acts as soon as it has `config`: a handler
/// registered after the emits missed an action sent at once), then its session id (after a
/// sign-in), `config` and the sockets.
pub fn on_connect(s: SocketRef, io: SocketIo, state: Arc<State>) {
    let Some(admin) = state.admin.clone() else { return };
    for action in ["emit", "join", "leave", "_disconnect"] {
        let (io, admin) = (io.clone(), admin.clone());
        s.on(action, move |s: SocketRef, RawArgs(args): RawArgs| {
            let (io, admin) = (io.clone(), admin.clone());
            async move {
                if let Err(e) = act(&io, &admin, action, args.get(1..).unwrap_or_default()).await {
                    tracing::warn!(action, "admin UI: {e}");
                    let _ = s.emit(ERROR_EVENT, &json!({ "action": action, "error": e }));
                }
            }
        });
    }
    admin.watchers.fetch_add(1, Ordering::Relaxed);
    let watchers = admin.clone();
    s.on_disconnect(move || {
        watchers.watchers.fetch_sub(1, Ordering::Relaxed);
        async {}
    });
    if let Some(NewSession(id)) = s.extensions.get::<NewSession>() {
        let _ = s.emit("session", &id);
    }
    let _ = s.emit("config", &json!({ "supportedFeatures": admin.features() }));
    if admin.config.development {
        let mut all = Vec::new();
        for nsp in NAMESPACES {
            if let Some(ns) = io.of(nsp) {
                all.extend(ns.sockets().iter().map(|x| serialize(x, &state)));
            }
        }
        let _ = s.emit("all_sockets", &all);
    }
}

/// One admin action (`args` after the event name).
async fn act(io: &SocketIo, admin: &Admin, action: &str, args: &[Value]) -> Result<(), String> {
    if admin.config.readonly {
        return Err("this admin is read-only".into());
    }
    let text = |i: usize| args.get(i).and_then(Value::as_str);
    let nsp = text(0).filter(|n| NAMESPACES.contains(n)).ok_or("the first argument must be a namespace served here")?;
    let ns = io.of(nsp).ok_or("no such namespace")?;
    let filter = text(match action {
        "emit" => 1,
        _ => 2,
    })
    .map(String::from);
    let scope = |ns: socketioxide::operators::BroadcastOperators<super::node::Adapter>| match &filter {
        Some(room) => ns.within(room.clone()),
        None => ns,
    };
    match action {
        "emit" => {
            let event = text(2).ok_or("emit needs an event name")?.to_string();
            let rest = args.get(3..).unwrap_or_default().to_vec();
            let _ = scope(ns.clone()).emit(event, &super::contract::Spread(&rest)).await;
        }
        "join" | "leave" => {
            let room = text(1).ok_or("join and leave need a room name")?.to_string();
            let joined = action == "join";
            for socket in scope(ns.clone()).sockets() {
                match joined {
                    true => socket.join(room.clone()),
                    false => socket.leave(room.clone()),
                }
                if admin.watched() {
                    let event = if joined { "room_joined" } else { "room_left" };
                    tell(io, event, vec![json!(nsp), json!(room), json!(socket.id.to_string()), json!(iso(now_ms()))]);
                }
            }
        }
        _ => {
            let _ = scope(ns.clone()).disconnect().await;
        }
    }
    Ok(())
}

/// `server_stats` to the admins every 2 s (nothing while none is connected).
pub async fn run_stats(state: Arc<State>, io: SocketIo) {
    let Some(admin) = state.admin.clone() else { return };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        if admin.watchers.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let namespaces: Vec<Value> = NAMESPACES
            .iter()
            .chain([&NAMESPACE])
            .filter_map(|n| io.of(*n).map(|ns| json!({"name": n, "socketsCount": ns.sockets().len()})))
            .collect();
        let stats = &state.stats;
        let now = (
            stats.sockets_total.load(Ordering::Relaxed),
            stats.bytes_sent.load(Ordering::Relaxed),
            admin.packets_in.load(Ordering::Relaxed),
            stats.sockets_disconnected.load(Ordering::Relaxed),
            stats.bytes_received.load(Ordering::Relaxed),
        );
        let before = admin.last.lock().map(|mut l| std::mem::replace(&mut *l, now)).unwrap_or_default();
        let at = now_ms() / 1000 * 1000;
        let event = |kind: &str, n: u64| json!({"timestamp": at, "type": kind, "count": n});
        let aggregated: Vec<Value> = [
            ("rawConnection", now.0 - before.0),
            ("bytesOut", now.1 - before.1),
            ("packetsIn", now.2 - before.2),
            ("rawDisconnection", now.3 - before.3),
            ("bytesIn", now.4 - before.4),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| event(k, n))
        .collect();
        let clients = NAMESPACES.iter().filter_map(|n| io.of(*n)).map(|ns| ns.sockets().len()).max().unwrap_or(0);
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let body = json!({
            "serverId": format!("{}#{}", host, std::process::id()),
            "hostname": host,
            "pid": std::process::id(),
            "uptime": admin.started.elapsed().as_secs_f64(),
            "clientsCount": clients,
            "pollingClientsCount": 0,
            "aggregatedEvents": aggregated,
            "namespaces": namespaces,
        });
        if let Some(ns) = io.of(NAMESPACE) {
            let _ = ns.emit("server_stats", &body).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_credentials_are_hashed_and_checked() {
        let c = AdminConfig::parse("admin:long-password", false, true).expect("parsed");
        assert!(c.hash.starts_with("$argon2") && !c.hash.contains("long-password"));
        assert!(AdminConfig::parse("admin", false, true).is_err());
        assert!(AdminConfig::parse("admin:short", false, true).is_err());
        let a = Admin::new(AdminConfig { readonly: true, ..c });
        assert_eq!(a.features(), ["AGGREGATED_EVENTS", "ALL_EVENTS"], "read-only: no actions");
    }
}
