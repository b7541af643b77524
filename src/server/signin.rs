//! Sign-in over HTTP (`/auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/session`) with
//! cookies (or the access token in the body in bearer mode), the check at the Socket.IO
//! handshake, and the token events (`TOKEN_UPDATED`, `TOKEN_EXPIRING`, `TOKEN_INVALIDATED`).
//! Expiry runs on one timer per server ([`Expiry`]): a queue of deadlines and one task,
//! not a task per token. Several nodes keep the queue in Redis (`sb:expiry`, a sorted set
//! by deadline): every node takes what is due (the one whose `ZREM` removes an entry acts on
//! it), so a deadline set on a node that died is still kept.

use super::node::SocketIo;
use super::node::SocketRef;
use super::serve::Peer;
use super::shared::Shared;
use super::throttle::{self, Attempts};
use super::State as ServerState;
use crate::auth::{self, Refresh, Session, VerifyError};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_shared::contract;
use tokio::sync::Notify;

/// What to do for a session at a deadline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// Warn the session's sockets a third of the access token's life before it ends,
    /// unless the token was renewed since.
    Expiring { access: String, expires_ms: u64 },
    /// The refresh token ran out unrenewed: the session's sockets go.
    Expired { refresh: String },
}

/// Deadlines of every session, served by one task in time order.
#[derive(Default)]
pub struct Expiry {
    queue: Mutex<BTreeSet<(u64, String, Due)>>,
    changed: Notify,
    /// Several nodes: the queue is in Redis.
    shared: Option<Shared>,
}

/// The deadlines in Redis.
const QUEUE: &str = "sb:expiry";

impl Due {
    /// As a member of the queue in Redis, with the session id: `E id access expires` or
    /// `X id refresh`.
    fn member(&self, id: &str) -> String {
        match self {
            Due::Expiring { access, expires_ms } => format!("E {id} {access} {expires_ms}"),
            Due::Expired { refresh } => format!("X {id} {refresh}"),
        }
    }

    fn parse(member: &str) -> Option<(String, Due)> {
        let mut parts = member.split(' ');
        let (kind, id, token) = (parts.next()?, parts.next()?.to_string(), parts.next()?.to_string());
        match kind {
            "E" => Some((id, Due::Expiring { access: token, expires_ms: parts.next()?.parse().ok()? })),
            "X" => Some((id, Due::Expired { refresh: token })),
            _ => None,
        }
    }
}

impl Expiry {
    pub fn in_redis(store: Shared) -> Expiry {
        Expiry { shared: Some(store), ..Expiry::default() }
    }

    /// Schedules the deadlines of a session that just got new tokens.
    async fn schedule(&self, s: &Session) {
        let now = auth::now_ms();
        let life = s.access_expires_ms.saturating_sub(now);
        let warn = now + life - life / 3;
        let expiring = Due::Expiring { access: s.access.clone(), expires_ms: s.access_expires_ms };
        let expired = Due::Expired { refresh: s.refresh.clone() };
        if let Some(store) = &self.shared {
            let (w, x) = (warn.to_string(), s.refresh_expires_ms.to_string());
            let (e, r) = (expiring.member(&s.id), expired.member(&s.id));
            if let Err(e) = store.cmd::<()>("expiry", &["ZADD", QUEUE, &w, &e, &x, &r]).await {
                tracing::error!("token deadlines not kept: {e}");
            }
        } else if let Ok(mut q) = self.queue.lock() {
            q.insert((warn, s.id.clone(), expiring));
            q.insert((s.refresh_expires_ms, s.id.clone(), expired));
        }
        self.changed.notify_one();
    }

    /// Several nodes: what is due now and taken by this node (at most 50), and when the next
    /// deadline is.
    async fn take_due(&self, store: &Shared, now: u64) -> (Vec<(String, Due)>, Option<u64>) {
        let due: Vec<String> = store
            .cmd("expiry", &["ZRANGEBYSCORE", QUEUE, "-inf", &now.to_string(), "LIMIT", "0", "50"])
            .await
            .unwrap_or_default();
        let mut mine = Vec::new();
        for m in due {
            // Taken by whichever node removes it.
            if store.cmd::<u8>("expiry", &["ZREM", QUEUE, &m]).await.unwrap_or(0) == 1 {
                match Due::parse(&m) {
                    Some(d) => mine.push(d),
                    None => tracing::warn!("a malformed token deadline in Redis: dropped"),
                }
            }
        }
        let next: Vec<(String, f64)> =
            store.cmd("expiry", &["ZRANGE", QUEUE, "0", "0", "WITHSCORES"]).await.unwrap_or_default();
        (mine, next.first().map(|(_, at)| *at as u64))
    }

    /// Deadlines waiting (for tests and metrics).
    pub fn len(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    fn pop_due(&self, now: u64) -> Result<(String, Due), Option<u64>> {
        let Ok(mut q) = self.queue.lock() else { return Err(None) };
        match q.first() {
            Some((at, _, _)) if *at <= now => q.pop_first().map(|(_, id, due)| (id, due)).ok_or(None),
            Some((at, _, _)) => Err(Some(*at)),
            None => Err(None),
        }
    }
}

/// The expiry task: sleeps until the next deadline (or a new one), then acts on what is due.
pub async fn run_expiry(state: Arc<ServerState>, io: SocketIo) {
    if let Some(store) = state.expiry.shared.clone() {
        loop {
            let changed = state.expiry.changed.notified();
            let now = auth::now_ms();
            let (due, next) = state.expiry.take_due(&store, now).await;
            for (id, d) in due {
                on_due(&state, &io, &id, d).await;
            }
            // Another node's new deadline is not heard here: look again within a second.
            let wait = next.map_or(1000, |at| at.saturating_sub(auth::now_ms())).clamp(1, 1000);
            let _ = tokio::time::timeout(Duration::from_millis(wait), changed).await;
        }
    }
    loop {
        let changed = state.expiry.changed.notified();
        match state.expiry.pop_due(auth::now_ms()) {
            Ok((id, due)) => on_due(&state, &io, &id, due).await,
            Err(next) => {
                let wait = next.map_or(Duration::from_secs(3600), |at| {
                    Duration::from_millis(at.saturating_sub(auth::now_ms()).max(1))
                });
                let _ = tokio::time::timeout(wait, changed).await;
            }
        }
    }
}

async fn on_due(state: &ServerState, io: &SocketIo, id: &str, due: Due) {
    let current = state.auth.session(id).await;
    match due {
        Due::Expiring { access, expires_ms } if current.as_ref().is_some_and(|c| c.access == access) => {
            let room = format!("{}{id}", contract::SESSION_ROOM);
            let _ = io.to(room).emit(contract::TOKEN_EXPIRING, &json!({"expires_at": expires_ms})).await;
        }
        Due::Expired { refresh } => {
            if let Some(s) = current.filter(|c| c.refresh == refresh) {
                invalidate(io, &s, "session expired").await;
            }
        }
        Due::Expiring { .. } => {}
    }
}

/// The session's rooms: `user:<name>` and `session:<id>`.
pub fn join_session_rooms(socket: &SocketRef, s: &Session) {
    socket.join([format!("{}{}", contract::USER_ROOM, s.user), format!("{}{}", contract::SESSION_ROOM, s.id)]);
}

/// Authentication at the handshake: the access cookie, or `{"token": ...}` in the CONNECT
/// auth payload (bearer mode; never the URL). Joins the hierarchy rooms it proves.
pub async fn handshake(socket: SocketRef, payload: Value, state: Arc<ServerState>) -> Result<(), &'static str> {
    let cookie = socket.req_parts().headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).unwrap_or("");
    let token = auth::cookie(cookie, auth::ACCESS_COOKIE)
        .map(String::from)
        .or_else(|| payload.get("token").and_then(Value::as_str).map(String::from));
    // The device's room is named by the id derived from its secret, never by what was sent.
    if let Some(device) = auth::cookie(cookie, auth::DEVICE_COOKIE).and_then(auth::device_of) {
        socket.join(format!("{}{device}", contract::DEVICE_ROOM));
    }
    let session = match token {
        Some(t) => state.auth.session_for_access(&t).await,
        None => None,
    };
    match session {
        Some(session) => {
            state.auth.touch(&session.id).await;
            join_session_rooms(&socket, &session);
            Ok(())
        }
        None if state.require_auth => Err("not authenticated"),
        None => Ok(()),
    }
}

#[derive(Clone)]
pub struct Web {
    pub state: Arc<ServerState>,
    pub io: SocketIo,
}

fn bearer(headers: &HeaderMap) -> bool {
    headers.get(contract::MODE_HEADER).is_some_and(|v| v.as_bytes() == b"bearer")
}

/// A signed-in answer: cookies, or in bearer mode the access token in the body and only the
/// refresh token as a cookie.
async fn signed_in(web: &Web, headers: &HeaderMap, s: &Session) -> Response {
    let mut body = session_body(web, s).await;
    if !bearer(headers) {
        return with_cookies(StatusCode::OK, Some(s), body);
    }
    body["access_token"] = json!(s.access);
    let mut res = with_cookies(StatusCode::OK, Some(s), body);
    // Keep the refresh cookie; drop the access cookie (the hub holds the token).
    let access = format!("{}=", auth::ACCESS_COOKIE);
    let kept: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !v.as_bytes().starts_with(access.as_bytes()))
        .cloned()
        .collect();
    res.headers_mut().remove(header::SET_COOKIE);
    for v in kept {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn with_cookies(status: StatusCode, session: Option<&Session>, body: Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    for c in auth::set_cookies(session, false) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, name).map(String::from))
}

fn refused(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ contract::ERROR_FIELD: error }))).into_response()
}

/// `POST /auth/login {username, password}`. Throttled before any hash (`throttle.rs`): per
/// address and per account, or — from a device this user signed in from before — per device
/// (a returning user is not locked out by strangers guessing her password); then through the
/// hash gate (a trusted device has the gate's reserve).
pub async fn login(State(web): State<Web>, peer: Peer, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let user = body.get("username").and_then(Value::as_str).unwrap_or("").to_string();
    let password = body.get("password").and_then(Value::as_str).unwrap_or("").to_string();
    // The browser's device secret, or a new one (an old or forged value is replaced).
    let had_device = device_secret(&headers);
    let secret = had_device.clone().unwrap_or_else(auth::device_secret);
    let device = auth::device_of(&secret).unwrap_or_default();
    let trusted = had_device.is_some() && web.state.auth.knows_device(&user, &device).await;
    let (throttles, now) = (&web.state.throttles, Instant::now());
    let attempts = match trusted {
        true => Attempts::all([throttles.device.attempt(&device, now)]),
        // The address first (`Attempts::busy`).
        false => Attempts::all([
            throttles.address.attempt(&peer.0.to_string(), now),
            throttles.account.attempt(&throttle::key(&user), now),
        ]),
    };
    let attempts = match attempts {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(peer = %peer.0, user = %throttle::key(&user), "sign-in throttled");
            return throttle::too_many(wait);
        }
    };
    let signed = web.state.auth.sign_in(&user, &password, Some(&device), web.state.verify_new_devices, trusted).await;
    let signed = match signed {
        Ok(s) => {
            attempts.done(true);
            s
        }
        Err(auth::Refused::Busy) => {
            attempts.busy();
            return throttle::busy();
        }
        Err(auth::Refused::Wrong) => {
            attempts.done(false);
            // Only accounts that exist are watched (a guesser cannot grow the map).
            let raised = match web.state.auth.user_exists(&user).await {
                true => web.state.watch.failed_login(&user, Some(&device)).await,
                false => None,
            };
            if let Some(e) = raised {
                super::security::tell(&web.io, &user, &e).await;
            }
            return refused(StatusCode::UNAUTHORIZED, "invalid username or password");
        }
    };
    let s = &signed.session;
    if let Some(e) = web.state.watch.signed_in(signed.seen, Some(&device), !s.verified) {
        super::security::tell(&web.io, &s.user, &e).await;
    }
    web.state.expiry.schedule(s).await;
    let mut res = signed_in(&web, &headers, s).await;
    if had_device.is_none() {
        set_device(&mut res, &secret);
    }
    res
}

/// Gives the browser the device secret `secret` (its cookie).
fn set_device(res: &mut Response, secret: &str) {
    if let Ok(v) = HeaderValue::from_str(&auth::device_cookie(secret)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The request's device secret, if it is well formed.
fn device_secret(headers: &HeaderMap) -> Option<String> {
    request_cookie(headers, auth::DEVICE_COOKIE).filter(|s| auth::device_of(s).is_some())
}

/// The request's device id (derived from its secret).
fn device(headers: &HeaderMap) -> Option<String> {
    request_cookie(headers, auth::DEVICE_COOKIE).and_then(|s| auth::device_of(&s))
}

/// What a tab learns about its session: [`auth::session_json`], and for a limited session
/// `verification {challenge, method, expiresAt}`.
async fn session_body(web: &Web, s: &Session) -> Value {
    let mut body = auth::session_json(s);
    let challenge = match s.verified {
        true => None,
        false => web.state.auth.challenge_of(&s.id).await,
    };
    if let Some((challenge, expires)) = challenge {
        body["verification"] = json!({"challenge": challenge, "method": "email", "expiresAt": expires});
    }
    body
}

pub async fn refresh(State(web): State<Web>, headers: HeaderMap) -> Response {
    if web.state.refresh_down.load(Ordering::Relaxed) {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "refresh is down");
    }
    let Some(token) = request_cookie(&headers, auth::REFRESH_COOKIE) else {
        return with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": "no refresh token"}));
    };
    let device = device(&headers);
    match web.state.auth.refresh(&token, device.as_deref()).await {
        Refresh::Ok(s) => {
            let room = format!("{}{}", contract::SESSION_ROOM, s.id);
            let _ = web.io.to(room).emit(contract::TOKEN_UPDATED, &json!({"expires_at": s.access_expires_ms})).await;
            web.state.expiry.schedule(&s).await;
            signed_in(&web, &headers, &s).await
        }
        Refresh::Reused(s) => {
            tracing::warn!(session = %s.id, "refresh token reuse: revoking the session");
            invalidate(&web.io, &s, "refresh token reuse detected").await;
            with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": "refresh token reuse: session revoked"}))
        }
        Refresh::Invalid => with_cookies(StatusCode::UNAUTHORIZED, None, json!({"error": contract::SESSION_UNKNOWN})),
    }
}

pub async fn logout(State(web): State<Web>, headers: HeaderMap) -> Response {
    let token = request_cookie(&headers, auth::REFRESH_COOKIE);
    let revoked = match token {
        Some(t) => web.state.auth.logout_refresh(&t).await,
        None => None,
    };
    if let Some(s) = revoked {
        invalidate(&web.io, &s, "logout").await;
    }
    let mut res = with_cookies(StatusCode::OK, None, json!({"ok": true}));
    // OWASP: the browser drops what it cached for the site. Not "cookies" (that would take
    // the device id, and a signed-out browser is still the same device) and not "storage"
    // (the hub's durable queue of other users' sessions lives there; the hub deletes what
    // belonged to the session itself).
    res.headers_mut().insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    res
}

/// The session of the request's access token.
async fn me(web: &Web, headers: &HeaderMap) -> Option<Session> {
    let access = request_cookie(headers, auth::ACCESS_COOKIE).or_else(|| {
        let bearer = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
        Some(bearer.trim().to_string())
    })?;
    let s = web.state.auth.session_for_access(&access).await?;
    web.state.auth.touch(&s.id).await;
    Some(s)
}

/// `GET /auth/sessions`: the signed-in user's sessions (device, created, which is this one).
pub async fn sessions(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some(me) = me(&web, &headers).await else {
        return refused(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let list: Vec<Value> = web
        .state
        .auth
        .sessions_of(&me.user)
        .await
        .iter()
        .map(|s| {
            json!({"id": s.id, "device": s.device, "created": s.created_ms, "lastSeen": s.last_seen_ms,
                "current": s.id == me.id, "verified": s.verified})
        })
        .collect();
    (StatusCode::OK, Json(json!({ "sessions": list }))).into_response()
}

/// `POST /auth/sessions/revoke {target}`: `target` a session id of this user, `others` or
/// `all`. Enforced first (sessions and their refresh families end), then told: each revoked
/// session's sockets get `SECURITY_SESSION_REVOKED` and `TOKEN_INVALIDATED`, then are
/// disconnected.
pub async fn revoke(State(web): State<Web>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let Some(me) = me(&web, &headers).await else {
        return refused(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let target = body.get("target").and_then(Value::as_str).unwrap_or("");
    let mine = web.state.auth.sessions_of(&me.user).await;
    let (scope, ids): (&str, Vec<String>) = match target {
        "all" => ("all", mine.iter().map(|s| s.id.clone()).collect()),
        "others" => ("others", mine.iter().filter(|s| s.id != me.id).map(|s| s.id.clone()).collect()),
        id if mine.iter().any(|s| s.id == id) => ("session", vec![id.to_string()]),
        _ => return refused(StatusCode::BAD_REQUEST, "target must be one of your session ids, 'others' or 'all'"),
    };
    let revoked = web.state.auth.revoke(&ids, "revoked by the user").await;
    for s in &revoked {
        let event = super::security::revoked(scope, me.id == s.id);
        let room = format!("{}{}", contract::SESSION_ROOM, s.id);
        super::security::to_room(&web.io, &room, contract::SECURITY_SESSION_REVOKED, &event).await;
        invalidate(&web.io, s, "session revoked").await;
    }
    let clear = revoked.iter().any(|s| s.id == me.id);
    let mut res = with_cookies(StatusCode::OK, None, json!({ "revoked": revoked.len() }));
    if !clear {
        // This session goes on: keep its cookies.
        res.headers_mut().remove(header::SET_COOKIE);
    }
    res
}

/// `POST /auth/password {current, new}`: the password changes, the user's other sessions are
/// revoked (enforced first), then every socket of the user hears
/// `SECURITY_CREDENTIAL_CHANGED` and the revoked ones `SECURITY_SESSION_REVOKED` and
/// `TOKEN_INVALIDATED` before they are disconnected. This session goes on.
pub async fn change_password(State(web): State<Web>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let Some(me) = me(&web, &headers).await else {
        return refused(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let current = body.get("current").and_then(Value::as_str).unwrap_or("").to_string();
    let new = body.get("new").and_then(Value::as_str).unwrap_or("").to_string();
    if let Err(e) = web.state.auth.change_password(&me.user, &current, &new).await {
        return refused(StatusCode::BAD_REQUEST, e);
    }
    let others: Vec<String> =
        web.state.auth.sessions_of(&me.user).await.into_iter().filter(|s| s.id != me.id).map(|s| s.id).collect();
    let revoked = web.state.auth.revoke(&others, "password changed").await;
    let changed = super::security::password_changed();
    let user_room = format!("{}{}", contract::USER_ROOM, me.user);
    super::security::to_room(&web.io, &user_room, contract::SECURITY_CREDENTIAL_CHANGED, &changed).await;
    for s in &revoked {
        let event = super::security::revoked("others", false);
        let room = format!("{}{}", contract::SESSION_ROOM, s.id);
        super::security::to_room(&web.io, &room, contract::SECURITY_SESSION_REVOKED, &event).await;
        invalidate(&web.io, s, "password changed").await;
    }
    (StatusCode::OK, Json(json!({ "revoked": revoked.len() }))).into_response()
}

/// `POST /auth/verify {code}`: a limited session's device-verification code. Right: the
/// session becomes full, the device is trusted, and the session's sockets hear
/// `SECURITY_DEVICE_VERIFIED`. Wrong: 400 with the tries left; the fifth wrong code, or an
/// expired challenge, kills it (410: sign in again).
/// Wrong codes are counted per account, across challenges: a new sign-in does not give a
/// guesser five fresh tries (429 with `Retry-After` after [`throttle::ATTEMPTS`] in a row).
pub async fn verify(State(web): State<Web>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let Some(me) = me(&web, &headers).await else {
        return refused(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let attempt = match web.state.throttles.code.attempt(&me.user, Instant::now()) {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(user = %me.user, "verification code throttled");
            return throttle::too_many(wait);
        }
    };
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    let outcome = web.state.auth.verify(&me.id, code).await;
    match &outcome {
        Ok(_) => attempt.done(true, Instant::now()),
        Err(VerifyError::NotPending) => attempt.cancel(),
        Err(_) => attempt.done(false, Instant::now()),
    }
    match outcome {
        Ok(s) => {
            if let Some(shared) = &web.state.shared {
                shared.tell_nodes(&format!("verified {}", s.id)).await;
            }
            let event = super::security::device_verified(s.device.as_deref());
            let room = format!("{}{}", contract::SESSION_ROOM, s.id);
            super::security::to_room(&web.io, &room, contract::SECURITY_DEVICE_VERIFIED, &event).await;
            (StatusCode::OK, Json(json!({"verified": true}))).into_response()
        }
        Err(e) => {
            let (status, left) = match e {
                VerifyError::Wrong { tries_left } => (StatusCode::BAD_REQUEST, tries_left),
                VerifyError::Dead | VerifyError::Expired => (StatusCode::GONE, 0),
                VerifyError::NotPending => (StatusCode::CONFLICT, 0),
            };
            (status, Json(json!({ contract::ERROR_FIELD: e.message(), "triesLeft": left }))).into_response()
        }
    }
}

pub async fn session_info(State(web): State<Web>, headers: HeaderMap) -> Response {
    let mut res = match me(&web, &headers).await {
        Some(s) => (StatusCode::OK, Json(session_body(&web, &s).await)).into_response(),
        None => refused(StatusCode::UNAUTHORIZED, "not signed in"),
    };
    // A visitor gets a device id too (its shared state's scope, its `device:` room).
    if device_secret(&headers).is_none() {
        set_device(&mut res, &auth::device_secret());
    }
    res
}

/// Logs a request's W3C `traceparent` (a hub in debug mode sends one with its sign-in calls),
/// so the hub's debug log and this log name the same trace.
pub async fn trace_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let Some(t) = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).filter(|t| t.len() <= 64) {
        tracing::debug!(method = %req.method(), path = %req.uri().path(), traceparent = %t, "auth request");
    }
    next.run(req).await
}

/// TOKEN_INVALIDATED to the session's sockets (every namespace), then disconnect them.
async fn invalidate(io: &SocketIo, s: &Session, reason: &str) {
    let room = format!("{}{}", contract::SESSION_ROOM, s.id);
    super::security::to_room(io, &room, contract::TOKEN_INVALIDATED, &json!({"reason": reason})).await;
    for nsp in super::NAMESPACES {
        if let Some(ns) = io.of(nsp) {
            let _ = ns.within(room.clone()).disconnect().await;
        }
    }
}

/// A limited session's socket hears why it is limited (the challenge's id is the event's,
/// so every socket of the session tells its hub the same event once).
pub async fn tell_limited(socket: &SocketRef, state: &ServerState) {
    let Some(id) = super::presence::assigned(socket, contract::SESSION_ROOM) else { return };
    if !state.auth.is_limited(&id) {
        return;
    }
    if let Some((challenge, expires)) = state.auth.challenge_of(&id).await {
        let event = super::security::verification_required(&challenge, expires);
        let _ = socket.emit(contract::SECURITY_DEVICE_VERIFICATION_REQUIRED, &event);
    }
}

/// Whether the socket's session is limited (a device waiting for its verification code):
/// its app events, joins and state writes are refused.
pub fn limited(socket: &SocketRef, state: &ServerState) -> bool {
    state.auth.any_limited()
        && super::presence::assigned(socket, contract::SESSION_ROOM).is_some_and(|id| state.auth.is_limited(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, access_life: u64, refresh_life: u64) -> Session {
        let now = auth::now_ms();
        Session {
            id: id.into(),
            user: "u".into(),
            access: format!("{id}-a"),
            access_expires_ms: now + access_life,
            refresh: format!("{id}-r"),
            refresh_expires_ms: now + refresh_life,
            created_ms: now,
            last_seen_ms: now,
            device: None,
            verified: true,
        }
    }

    #[tokio::test]
    async fn one_queue_serves_every_deadline_in_time_order() {
        let e = Expiry::default();
        e.schedule(&session("late", 90_000, 900_000)).await;
        e.schedule(&session("soon", 3, 6)).await;
        assert_eq!(e.len(), 4, "two deadlines per session, no task per token");
        let now = auth::now_ms() + 10;
        let (first, due) = e.pop_due(now).expect("due");
        assert_eq!(first, "soon");
        assert!(matches!(due, Due::Expiring { .. }));
        assert!(matches!(e.pop_due(now), Ok((_, Due::Expired { .. }))));
        assert!(matches!(e.pop_due(now), Err(Some(at)) if at > now), "the next deadline is later");
    }

    #[test]
    fn a_deadline_in_redis_reads_back_as_it_was_written() {
        let e = Due::Expiring { access: "a1".into(), expires_ms: 42 };
        assert_eq!(Due::parse(&e.member("s1")), Some(("s1".to_string(), e)));
        let x = Due::Expired { refresh: "r1".into() };
        assert_eq!(Due::parse(&x.member("s1")), Some(("s1".to_string(), x)));
        assert_eq!(Due::parse("E s1 a1 not-a-number"), None);
        assert_eq!(Due::parse("Q s1 a1"), None);
    }
}
