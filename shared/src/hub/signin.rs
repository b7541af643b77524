//! Sign-in: the hub's HTTP calls to the server's `/auth/*` endpoints (session check, login,
//! logout, single-flight refresh ahead of expiry), the bearer token, and the auth state every
//! tab sees. It never touches the connection: it reports typed [`Event`]s and the hub acts.
//! Invariants: one sign-in request in the air at a time (each may set or clear cookies, and
//! the browser must apply them in order); an answer from an earlier sign-in generation (a
//! login or logout happened since) changes nothing.

use super::out::Output;
use super::{HubId, Millis, TabKey};
use crate::contract;
use crate::json::{self, Value};
use crate::port::{AuthState, AuthTelemetry, FromHub};
use crate::vecmap::VecMap;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What sign-in asks of the hub.
#[derive(Debug, PartialEq)]
pub enum Event {
    Post(TabKey, FromHub),
    /// The auth state changed: tell every tab.
    Publish,
    /// The user who was signed in is not any more (signed out, or another user signed in):
    /// what the hub keeps for that user goes (after the `Publish` of the change).
    UserLeft,
    /// Send this `Output::Http`.
    Http(Output),
    /// A refresh ended (HTTP status, 0 for no answer) after `took` ms (for the debug log).
    Refreshed {
        status: u16,
        took: u64,
    },
    /// The answer to a security call (`security_call`): its number, status and body.
    Security(u32, u16, String),
    /// The socket's credentials changed (cookies): reconnect so the handshake carries them.
    Reauthenticate,
    /// Bearer mode: a new token for the open socket (`sb:auth`), or a new handshake.
    Renew,
    Log(String),
}

/// An HTTP call. Session and refresh calls carry the sign-in generation they were made in.
#[derive(Debug)]
enum Call {
    Session(u32),
    Login(TabKey, u32),
    Logout(TabKey, u32),
    Refresh(u32, Millis),
    /// A security request's call (its number in [`super::security::Security`]).
    Security(u32),
    /// Clears the cookies of a revoked session (a logout nobody waits for), made in this
    /// sign-in generation: after a login it would end the new session, so it is dropped.
    Forget(u32),
}

#[derive(Debug)]
pub struct SignIn {
    calls: HttpCalls,
    cred: Credential,
    auth: AuthState,
    /// Whether the server offers the sign-in endpoints (None until the first answer).
    supported: Option<bool>,
    flight: Flight,
    /// Bumped by every login and logout.
    generation: u32,
    events: VecDeque<Event>,
}

/// `ws://host` → `http://host` (the sign-in endpoints live on the endpoint's origin).
fn http_origin(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("ws://") {
        return format!("http://{rest}");
    }
    if let Some(rest) = url.strip_prefix("wss://") {
        return format!("https://{rest}");
    }
    url.to_string()
}

/// The HTTP calls to the sign-in endpoints: numbered, queued, and sent one at a time (each
/// may set or clear cookies, and the browser must apply them in order).
#[derive(Debug)]
struct HttpCalls {
    hub: HubId,
    /// `http(s)://host` of the endpoint.
    origin: String,
    calls: VecMap<u32, Call>,
    next_call: u32,
    /// Requests waiting while another is in the air.
    queue: VecDeque<Output>,
    busy: bool,
}

impl HttpCalls {
    /// Queues `call` (`POST` or `GET` of `/auth/{what}`); a security call carries the bearer
    /// token (`bearer`: the hub is in bearer mode, and its token if it has one).
    fn push(&mut self, call: Call, post: bool, what: &str, body: Option<String>, bearer: Option<Option<&str>>) {
        let id = self.next_call;
        self.next_call = self.next_call.wrapping_add(1);
        let token = bearer.flatten().filter(|_| matches!(call, Call::Security(_))).map(String::from);
        self.calls.insert(id, call);
        let url = format!("{}{}{what}", self.origin, contract::AUTH_PATH);
        let out = Output::Http { hub: self.hub, id, post, url, body, bearer: bearer.is_some(), token, trace: None };
        self.queue.push_back(out);
    }

    /// The next queued request, if none is in the air, with its call; `send` says whether
    /// it goes (it is then in the air) or is dropped.
    fn next(&mut self, mut send: impl FnMut(&Call) -> bool) -> Option<Output> {
        while !self.busy {
            let out = self.queue.pop_front()?;
            let Output::Http { id, .. } = &out else { continue };
            let Some(call) = self.calls.get(id) else { continue };
            if send(call) {
                self.busy = true;
                return Some(out);
            }
            self.calls.remove(id);
        }
        None
    }

    /// The answer to call `id` came: it is no longer in the air.
    fn answered(&mut self, id: u32) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        self.busy = false;
        Some(call)
    }

    fn session_pending(&self) -> bool {
        self.calls.values().any(|c| matches!(c, Call::Session(_)))
    }
}

/// What the server gave the signed-in hub: the session's id, and in bearer mode the access
/// token (only ever here and in the tabs that ask for it), with the tabs waiting for one.
#[derive(Debug)]
struct Credential {
    bearer: bool,
    token: Option<String>,
    /// The signed-in session's id (as the server named it).
    session: Option<String>,
    waiters: Vec<(TabKey, u32)>,
}

impl Credential {
    /// Signed in (`token` is kept in bearer mode only), or out (both `None`).
    fn signed_in(&mut self, token: Option<String>, session: Option<String>) {
        self.token = token.filter(|_| self.bearer);
        self.session = session;
    }
}

/// The single-flight refresh: whether one is in the air and who waits for it, when the last
/// one succeeded, when the next is due, and how many failed in a row (its backoff).
#[derive(Debug, Default)]
struct Flight {
    refreshing: bool,
    waiters: Vec<(TabKey, u32)>,
    last: Option<Millis>,
    at: Option<Millis>,
    failures: u32,
}

impl Flight {
    /// A refresh finished less than a second ago and none is in the air.
    fn fresh(&self, now: Millis) -> bool {
        !self.refreshing && self.last.is_some_and(|t| now.saturating_sub(t) < 1_000)
    }

    /// `waiter` waits for a refresh; whether one must start (none was in the air).
    fn join(&mut self, waiter: Option<(TabKey, u32)>) -> bool {
        self.waiters.extend(waiter);
        let start = !self.refreshing;
        if start {
            self.refreshing = true;
            self.at = None;
        }
        start
    }

    /// The refresh in the air ended: who waited for it.
    fn ended(&mut self) -> Vec<(TabKey, u32)> {
        self.refreshing = false;
        core::mem::take(&mut self.waiters)
    }

    /// Signed in until `expires_at` (server time): refresh when two thirds of the remaining
    /// life have passed.
    fn signed_in(&mut self, expires_at: Option<u64>, now: Millis, server_now: u64) {
        self.failures = 0;
        self.at = expires_at.map(|e| now + e.saturating_sub(server_now) * 2 / 3);
    }

    /// Another failure in a row: the delay before the next try.
    fn failed(&mut self, now: Millis) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let delay = (1_000u64 << self.failures.min(5)).min(30_000);
        self.at = Some(now + delay);
        delay
    }

    /// Whether the scheduled refresh is due (it is then no longer scheduled).
    fn due(&mut self, now: Millis) -> bool {
        let due = self.at.is_some_and(|d| now >= d);
        if due {
            self.at = None;
        }
        due
    }
}

impl SignIn {
    pub fn new(hub: HubId, endpoint_url: &str, bearer: bool) -> SignIn {
        let origin = http_origin(endpoint_url);
        SignIn {
            calls: HttpCalls { hub, origin, calls: VecMap::new(), next_call: 0, queue: VecDeque::new(), busy: false },
            cred: Credential { bearer, token: None, session: None, waiters: Vec::new() },
            auth: AuthState::default(),
            supported: None,
            flight: Flight::default(),
            generation: 0,
            events: VecDeque::new(),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn state(&self) -> &AuthState {
        &self.auth
    }

    pub fn token(&self) -> Option<&str> {
        self.cred.token.as_deref()
    }

    pub fn session(&self) -> Option<&str> {
        self.cred.session.as_deref()
    }

    /// A security request (`/auth/<path>`), ordered with the other calls; answered with
    /// [`Event::Security`].
    pub fn security_call(&mut self, call: u32, post: bool, path: &str, body: Option<String>) {
        self.http(Call::Security(call), post, path, body);
    }

    /// The session was revoked: signed out, and its cookies cleared (a logout the server
    /// answers by expiring them), so the socket never carries them again.
    pub fn revoked(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        let was = self.auth.user.is_some();
        self.signed_out("session revoked");
        self.http(Call::Forget(self.generation), true, "logout", None);
        if was {
            self.events.push_back(Event::Reauthenticate);
        }
    }

    /// The CONNECT payload: the first tab's auth object, plus the token in bearer mode.
    pub fn connect_payload(&self, auth: Option<&str>) -> String {
        let auth = auth.unwrap_or_default();
        let Some(token) = self.cred.token.as_ref().filter(|_| self.cred.bearer) else { return auth.to_string() };
        let mut field = String::from("\"token\":");
        json::write_string(&mut field, token);
        match auth.trim().strip_suffix('}') {
            Some(head) if head.trim() != "{" => format!("{head},{field}}}"),
            _ => format!("{{{field}}}"),
        }
    }

    /// A tab attached: it learns the state, or the first tab makes us ask the server.
    pub fn attach(&mut self, tab: TabKey) {
        match self.supported {
            Some(true) => self.events.push_back(Event::Post(tab, FromHub::Auth(self.auth.clone()))),
            None if !self.calls.session_pending() => self.http(Call::Session(self.generation), false, "session", None),
            _ => {}
        }
    }

    pub fn login(&mut self, tab: TabKey, req: u32, username: &str, password: &str) {
        let mut body = String::from("{\"username\":");
        json::write_string(&mut body, username);
        body.push_str(",\"password\":");
        json::write_string(&mut body, password);
        body.push('}');
        self.http(Call::Login(tab, req), true, "login", Some(body));
    }

    pub fn logout(&mut self, tab: TabKey, req: u32) {
        self.http(Call::Logout(tab, req), true, "logout", None);
    }

    /// A tab asks for the bearer token (refreshed first when it expires within 5 s).
    pub fn ask_token(&mut self, tab: TabKey, req: u32, now: Millis, server_now: u64) {
        if !self.cred.bearer {
            let error = Some("tokens are HttpOnly cookies; connect with authMode: 'bearer' to read one".into());
            return self.events.push_back(Event::Post(tab, FromHub::Token { req, token: None, error }));
        }
        let soon = self.auth.expires_at.is_none_or(|e| e <= server_now + 5_000);
        match &self.cred.token {
            Some(t) if !soon => {
                let msg = FromHub::Token { req, token: Some(t.clone()), error: None };
                self.events.push_back(Event::Post(tab, msg));
            }
            _ => {
                self.cred.waiters.push((tab, req));
                self.refresh(None, now);
            }
        }
    }

    /// The server treats this hub as a guest while it believes it is signed in: a refresh
    /// (never satisfied by one that just finished) tells which is true.
    pub fn check_session(&mut self, now: Millis) {
        self.flight.last = None;
        self.refresh(None, now);
    }

    /// Single flight: however many ask, one request is in the air; a refresh that just
    /// finished satisfies new askers at once.
    pub fn refresh(&mut self, waiter: Option<(TabKey, u32)>, now: Millis) {
        let have_token = !self.cred.bearer || self.cred.token.is_some();
        if self.flight.fresh(now) && self.auth.user.is_some() && have_token {
            if let Some((tab, req)) = waiter {
                self.events.push_back(Event::Post(tab, FromHub::Done { req, error: None }));
            }
            return self.answer_token_waiters(None);
        }
        if self.flight.join(waiter) {
            self.http(Call::Refresh(self.generation, now), true, "refresh", None);
        }
    }

    fn http(&mut self, call: Call, post: bool, what: &str, body: Option<String>) {
        let bearer = self.cred.bearer.then_some(self.cred.token.as_deref());
        self.calls.push(call, post, what, body, bearer);
        self.next_request();
    }

    /// Sends the next queued request if none is in the air. One made for an earlier
    /// generation (overtaken by a login or logout while it waited) is answered as overtaken.
    fn next_request(&mut self) {
        let (generation, mut overtaken) = (self.generation, false);
        let next = self.calls.next(|call| match call {
            Call::Session(gen) | Call::Refresh(gen, _) | Call::Forget(gen) if *gen != generation => {
                overtaken |= matches!(call, Call::Refresh(..));
                false
            }
            _ => true,
        });
        if overtaken {
            self.overtaken_refresh();
        }
        if let Some(out) = next {
            self.events.push_back(Event::Http(out));
        }
    }

    fn overtaken_refresh(&mut self) {
        for (tab, req) in self.flight.ended() {
            self.events.push_back(Event::Post(tab, FromHub::Done { req, error: None }));
        }
    }

    fn answer_token_waiters(&mut self, error: Option<String>) {
        for (tab, req) in core::mem::take(&mut self.cred.waiters) {
            let msg = match (&self.cred.token, &error) {
                (Some(t), None) => FromHub::Token { req, token: Some(t.clone()), error: None },
                _ => FromHub::Token {
                    req,
                    token: None,
                    error: Some(error.clone().unwrap_or_else(|| "signed out".into())),
                },
            };
            self.events.push_back(Event::Post(tab, msg));
        }
    }

    fn signed_in(&mut self, body: &str, now: Millis, server_now: u64) {
        let v = json::parse(body).ok();
        let field = |name: &str| v.as_ref().and_then(|v| v.get(name));
        let user = field("user").and_then(Value::as_str).map(String::from);
        let expires_at = field("expires_at").and_then(Value::as_u64);
        let text = |name: &str| field(name).and_then(Value::as_str).map(String::from);
        self.cred.signed_in(text("access_token"), text("session"));
        let telemetry = core::mem::take(&mut self.auth.telemetry);
        let left = self.auth.user.is_some() && self.auth.user != user;
        self.auth = AuthState { user, expires_at, error: None, signed_out: None, telemetry };
        self.supported = Some(true);
        self.flight.signed_in(expires_at, now, server_now);
        self.events.push_back(Event::Publish);
        if left {
            self.events.push_back(Event::UserLeft);
        }
    }

    fn signed_out(&mut self, reason: &str) {
        let was = self.auth.user.is_some();
        let mut telemetry = core::mem::take(&mut self.auth.telemetry);
        if was {
            AuthTelemetry::count(&mut telemetry.sign_outs, reason);
            self.events.push_back(Event::Log(format!("signed out: {reason}")));
        }
        self.auth = AuthState { signed_out: Some(reason.into()), telemetry, ..AuthState::default() };
        self.cred.signed_in(None, None);
        self.answer_token_waiters(Some(String::from("signed out: ") + reason));
        self.supported = Some(true);
        self.flight.at = None;
        self.events.push_back(Event::Publish);
        if was {
            self.events.push_back(Event::UserLeft);
        }
    }

    /// The answer to `Output::Http { id, .. }`.
    pub fn handle_http(&mut self, id: u32, status: u16, body: &str, now: Millis, server_now: u64) {
        let Some(call) = self.calls.answered(id) else { return };
        match call {
            Call::Session(gen) | Call::Refresh(gen, _) if gen != self.generation => {
                // Overtaken by a login or logout: the state it would report is gone.
                if matches!(call, Call::Refresh(..)) {
                    self.overtaken_refresh();
                }
            }
            Call::Session(_) => self.on_session(status, body, now, server_now),
            Call::Login(tab, req) => self.on_login(tab, req, status, body, now, server_now),
            Call::Logout(tab, req) => {
                self.generation = self.generation.wrapping_add(1);
                self.signed_out("logout");
                self.events.push_back(Event::Post(tab, FromHub::Done { req, error: None }));
                self.events.push_back(Event::Reauthenticate);
            }
            Call::Refresh(_, started) => self.on_refresh(started, status, body, now, server_now),
            Call::Security(call) => self.events.push_back(Event::Security(call, status, body.into())),
            // The dead cookies are gone: a new handshake without them.
            Call::Forget(_) => self.events.push_back(Event::Reauthenticate),
        }
        self.next_request();
    }

    fn on_session(&mut self, status: u16, body: &str, now: Millis, server_now: u64) {
        match status {
            // Bearer mode: the session check proves a sign-in, but the token comes from a refresh.
            200 if !self.cred.bearer => self.signed_in(body, now, server_now),
            200 | 401 => {
                self.supported = Some(true);
                self.refresh(None, now)
            }
            // No sign-in endpoints (a plain Socket.IO server): nothing to manage.
            _ => self.supported = Some(false),
        }
    }

    fn on_login(&mut self, tab: TabKey, req: u32, status: u16, body: &str, now: Millis, server_now: u64) {
        if status != 200 {
            let error = Some(error_text(body, status, "sign-in failed"));
            return self.events.push_back(Event::Post(tab, FromHub::Done { req, error }));
        }
        self.generation = self.generation.wrapping_add(1);
        self.signed_in(body, now, server_now);
        self.flight.last = Some(now);
        self.events.push_back(Event::Post(tab, FromHub::Done { req, error: None }));
        self.answer_token_waiters(None);
        self.events.push_back(if self.cred.bearer { Event::Renew } else { Event::Reauthenticate });
    }

    fn on_refresh(&mut self, started: Millis, status: u16, body: &str, now: Millis, server_now: u64) {
        let waiters = self.flight.ended();
        let took = now.saturating_sub(started).min(u32::MAX as u64) as u32;
        self.events.push_back(Event::Refreshed { status, took: took as u64 });
        let t = &mut self.auth.telemetry;
        match status {
            200 => {
                t.refreshes += 1;
                t.last_ms = took;
                t.max_ms = t.max_ms.max(took);
                t.total_ms += took as u64;
            }
            0 => AuthTelemetry::count(&mut t.failures, "network"),
            401 | 403 => AuthTelemetry::count(&mut t.failures, "refused"),
            other => AuthTelemetry::count(&mut t.failures, &format!("http {other}")),
        }
        let error = match status {
            200 => {
                self.signed_in(body, now, server_now);
                self.flight.last = Some(now);
                if self.cred.bearer {
                    self.events.push_back(Event::Renew);
                }
                self.answer_token_waiters(None);
                None
            }
            401 | 403 => {
                let why = error_text(body, status, "refresh refused");
                let was = self.auth.user.is_some();
                self.signed_out(&why);
                if was {
                    self.events.push_back(Event::Reauthenticate);
                }
                Some(why)
            }
            _ => Some(self.refresh_failed(status, body, now)),
        };
        for (tab, req) in waiters {
            self.events.push_back(Event::Post(tab, FromHub::Done { req, error: error.clone() }));
        }
    }

    /// Network or server trouble: stay signed in, retry with backoff.
    fn refresh_failed(&mut self, status: u16, body: &str, now: Millis) -> String {
        let delay = self.flight.failed(now);
        let why = if status == 0 { "network error".into() } else { error_text(body, status, "refresh failed") };
        self.auth.error = Some(format!("{why}; retrying in {} s", delay / 1000));
        self.events.push_back(Event::Publish);
        why
    }

    /// Token events from the server (also delivered to subscribed tabs as events).
    pub fn on_token_event(&mut self, event: &str, args: &str, now: Millis, server_now: u64) {
        let first = json::parse(args).ok().and_then(|v| match v {
            Value::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
            _ => None,
        });
        match event {
            contract::TOKEN_EXPIRING => self.refresh(None, now),
            contract::TOKEN_UPDATED => {
                let expires = first.as_ref().and_then(|o| o.get("expires_at")).and_then(Value::as_u64);
                if let (Some(e), Some(_)) = (expires, self.auth.user.as_ref()) {
                    if self.auth.expires_at != Some(e) {
                        self.auth.expires_at = Some(e);
                        self.flight.at = Some(now + e.saturating_sub(server_now) * 2 / 3);
                        self.events.push_back(Event::Publish);
                    }
                }
            }
            contract::TOKEN_INVALIDATED => {
                let reason = first.as_ref().and_then(|o| o.get("reason")).and_then(Value::as_str);
                self.signed_out(reason.unwrap_or("invalidated by the server"));
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        if self.flight.due(now) {
            self.refresh(None, now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.flight.at
    }
}

/// The `error` field of a JSON error body, or a description of the status.
fn error_text(body: &str, status: u16, what: &str) -> String {
    json::parse(body)
        .ok()
        .and_then(|v| v.get(contract::ERROR_FIELD).and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| format!("{what} (HTTP {status})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_ids(s: &mut SignIn) -> Vec<(u32, String)> {
        let mut ids = Vec::new();
        while let Some(e) = s.poll_event() {
            if let Event::Http(Output::Http { id, url, .. }) = e {
                ids.push((id, url));
            }
        }
        ids
    }

    #[test]
    fn one_refresh_in_the_air_for_many_askers() {
        let mut s = SignIn::new(1, "ws://h:1", false);
        for tab in 1..=5 {
            s.refresh(Some((tab, 1)), 0);
        }
        let sent = http_ids(&mut s);
        assert_eq!(sent, [(0, "http://h:1/auth/refresh".to_string())]);
        s.handle_http(0, 200, r#"{"user":"a","expires_at":90000}"#, 10, 0);
        let done = core::iter::from_fn(|| s.poll_event())
            .filter(|e| matches!(e, Event::Post(_, FromHub::Done { error: None, .. })))
            .count();
        assert_eq!(done, 5);
        assert_eq!(s.poll_timeout(), Some(10 + 60_000), "refresh at two thirds of the life");
    }

    #[test]
    fn a_logout_makes_an_earlier_answer_meaningless() {
        let mut s = SignIn::new(1, "wss://h", false);
        s.attach(1);
        s.logout(1, 2);
        let sent = http_ids(&mut s);
        assert_eq!(sent.len(), 1, "the logout waits for the session check");
        s.handle_http(sent[0].0, 200, r#"{"user":"a"}"#, 0, 0);
        let logout = http_ids(&mut s);
        assert_eq!(logout[0].1, "https://h/auth/logout");
        s.handle_http(logout[0].0, 200, "{}", 0, 0);
        assert_eq!(s.state().user, None);
    }

    #[test]
    fn the_bearer_token_joins_the_connect_payload() {
        let mut s = SignIn::new(1, "ws://h", true);
        s.cred.token = Some("t\"1".into());
        assert_eq!(s.connect_payload(Some(r#"{"a":1}"#)), r#"{"a":1,"token":"t\"1"}"#);
        assert_eq!(s.connect_payload(None), r#"{"token":"t\"1"}"#);
    }

    /// Security calls carry the bearer token (the server has no access cookie in bearer
    /// mode); the sign-in calls never do; the answer goes back as `Event::Security`.
    #[test]
    fn security_calls_carry_the_bearer_token_and_come_back_as_security_events() {
        let mut s = SignIn::new(1, "ws://h", true);
        s.cred.token = Some("tok".into());
        s.security_call(4, true, "sessions/revoke", Some("{}".into()));
        let sent: Vec<_> = core::iter::from_fn(|| s.poll_event()).collect();
        let [Event::Http(Output::Http { id, url, token, .. })] = &sent[..] else { panic!("{sent:?}") };
        assert_eq!((url.as_str(), token.as_deref()), ("http://h/auth/sessions/revoke", Some("tok")));
        s.handle_http(*id, 200, r#"{"revoked":1}"#, 0, 0);
        assert_eq!(s.poll_event(), Some(Event::Security(4, 200, r#"{"revoked":1}"#.into())));
        s.refresh(None, 0);
        let [Event::Http(Output::Http { token: None, .. })] =
            &core::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()[..]
        else {
            panic!("a refresh sends no bearer token")
        };
    }

    /// A revocation learnt while a login is in the air: the login wins; the forget it queued
    /// (a logout) is dropped, or it would end the new session.
    #[test]
    fn a_revocation_behind_a_login_does_not_end_the_new_session() {
        let mut s = SignIn::new(1, "ws://h", false);
        s.login(1, 7, "alice", "pw");
        let login = http_ids(&mut s);
        s.revoked();
        assert!(http_ids(&mut s).is_empty(), "the forget waits behind the login");
        s.handle_http(login[0].0, 200, r#"{"user":"alice","session":"s2"}"#, 0, 0);
        assert!(http_ids(&mut s).is_empty(), "no logout after the login");
        assert_eq!(s.state().user.as_deref(), Some("alice"));
    }
}
