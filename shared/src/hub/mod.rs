//! The hub: one Socket.IO connection shared by every tab of one server (all its namespaces
//! multiplexed on it, as socket.io-client's Manager does), and the switchboard that routes
//! each tab to the hub of its server.
//!
//! `Hub` wires sub-state-machines, each owning its fields, deadlines and tests (the shape of
//! quinn-proto's `connection/`): [`conn`] (the Engine.IO session, heartbeat, backoff, binary
//! reassembly), one [`space`] per namespace (its CONNECT and Socket.IO's [`recovery`], with its
//! own [`requests`] (ack ids and their owners), [`rooms`], [`outbox`] (the durable queue),
//! [`session`] (the server contract) and [`tabs`]), [`signin`] (HTTP sign-in, shared by the
//! namespaces, typed events), [`election`] (the rule that picks a leader) and [`leader`] (one
//! election scope of a namespace: the server's decision, or the hub's own); [`switchboard`]
//! routes ports to hubs. A new concern (shared state, security, debug log) is one more
//! module here, wired like these.
//!
//! Invariants: at most one socket per (server, auth); every session ends in
//! [`Hub::end_session`] (the connection) or [`space::Space::end_session`] (one namespace
//! refused), which put back what it held (in-flight emits, requests, rooms, deadlines);
//! every input may be wrong and a wrong one yields an error message and a log line, never a
//! panic; time only enters as `now` (ms on a monotonic clock).

mod config;
mod conn;
mod debug;
pub mod election;
mod inspect;
mod leader;
mod limits;
mod out;
mod outbox;
mod presence;
mod recovery;
mod requests;
mod rooms;
mod security;
mod session;
mod signin;
mod space;
mod state;
#[cfg(test)]
mod state_model;
mod switchboard;
mod tabs;

pub use config::HubConfig;
pub use conn::{probe_url, Probe, PROBE_READ_MAX};
pub use debug::level as log_level;
pub use out::Output;
pub use session::HELLO_WAIT_MS;
pub use switchboard::{tab_lock_name, Switchboard};

use crate::backoff::Rng;
use crate::contract;
use crate::json::{self, Quoted};
use crate::port::{AuthState, Endpoint, FromHub, Options, Status, StoredEmit, ToHub};
use crate::socketio::{self, Kind};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use conn::{Connection, End, Inbound};
use core::cell::Cell;
use debug::DebugLog;
use out::Out;
use security::{Action as SecurityAction, Security};
use signin::SignIn;
use space::{Cx, Space};

pub type Millis = u64;
/// The shell's handle for one MessagePort.
pub type TabKey = u32;
pub type HubId = u32;
/// A server (its endpoint with the namespace left empty) and the CONNECT auth: one hub each.
type HubKey = (Endpoint, Option<String>);

pub const CONTRACT_PREFIX: &str = contract::PREFIX;
/// Longest room or event name accepted from a tab.
pub const MAX_NAME: usize = contract::MAX_NAME;

/// What a hub shares with the switchboard: storage keys and the wall clock.
#[derive(Debug, Default)]
struct Shared {
    next_key: Cell<u64>,
    /// Wall-clock ms (Unix epoch) minus the monotonic `now`.
    wall_offset: Cell<i64>,
}

/// The server of an endpoint: the hub key's endpoint part.
fn server_of(endpoint: &Endpoint) -> Endpoint {
    Endpoint { namespace: String::new(), ..endpoint.clone() }
}

pub struct Hub {
    key: HubKey,
    config: HubConfig,
    rng: Rng,
    link: Connection,
    /// One per namespace (a handful: a Vec, not another BTreeMap instantiation in the wasm).
    spaces: Vec<Space>,
    signin: SignIn,
    security: Security,
    debug: DebugLog,
    out: Out,
    shared: Rc<Shared>,
    linger_until: Option<Millis>,
    retired: bool,
    /// When the current connection attempt started (the debug log's connect span).
    attempt_started: Option<Millis>,
    /// Debug mode: sign-in calls in the air with their trace (id, trace, what, sent at).
    http_traces: Vec<(u32, String, String, Millis)>,
    /// The CONNECT frame the shell already sent on the current socket (the bootstrap's early
    /// socket, `handle_early_connect`), until the Engine.IO handshake decides whether it
    /// stands.
    early_connect: Option<String>,
}

impl Hub {
    fn new(
        id: HubId,
        key: HubKey,
        url: String,
        config: HubConfig,
        seed: u64,
        shared: Rc<Shared>,
        online: bool,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let mut link = Connection::new(url, &config, rng.next_u32() as u64);
        let mut out = Out::new(id);
        link.set_online(online, 0, &mut out);
        Hub {
            signin: SignIn::new(id, &key.0.url, config.bearer),
            security: Security::default(),
            debug: DebugLog::new(seed ^ 0x5eed),
            key,
            config,
            rng,
            link,
            spaces: Vec::new(),
            out,
            shared,
            linger_until: None,
            retired: false,
            attempt_started: None,
            http_traces: Vec::new(),
            early_connect: None,
        }
    }

    // --- What the switchboard and the debug view read. ---

    fn key(&self) -> &HubKey {
        &self.key
    }

    /// The server this hub connects to (the namespace is each tab's).
    pub fn endpoint(&self) -> &Endpoint {
        &self.key.0
    }

    /// The status of the first namespace (the link's before any namespace is asked for).
    pub fn status(&self) -> Status {
        match self.spaces.first() {
            Some(s) => s.status(self.link.status(), self.link.is_open()),
            None => self.link.status(),
        }
    }

    pub fn tab_names(&self) -> Vec<String> {
        self.spaces.iter().flat_map(|s| s.tabs().names()).collect()
    }

    /// Rooms the hub has joined on the server, in every namespace.
    pub fn server_rooms(&self) -> Vec<String> {
        self.spaces.iter().flat_map(Space::server_rooms).collect()
    }

    pub fn buffered(&self) -> usize {
        self.spaces.iter().map(Space::queued).sum()
    }

    pub fn auth_state(&self) -> &AuthState {
        self.signin.state()
    }

    /// The security state every tab sees (`contract::SECURITY_STATES`).
    pub fn security_state(&self) -> &'static str {
        self.security.phase().name()
    }

    /// Server clock minus this browser's clock and the round trip of that sample (the best
    /// of the namespaces' samples).
    pub fn clock_offset(&self) -> Option<(i64, u64)> {
        self.spaces.iter().filter_map(Space::clock).min_by_key(|(_, rtt)| *rtt)
    }

    fn undelivered(&self) -> usize {
        self.spaces.iter().map(Space::undelivered).sum()
    }

    fn audit(&self) -> Result<BTreeSet<String>, String> {
        let mut ids = BTreeSet::new();
        for s in &self.spaces {
            ids.extend(s.audit()?);
        }
        Ok(ids)
    }

    fn is_retired(&self) -> bool {
        self.retired
    }

    fn poll_output(&mut self) -> Option<Output> {
        if !self.debug.is_on() {
            return self.out.pop();
        }
        self.stream_debug(None);
        let o = self.out.pop()?;
        if let Output::Log(line) = &o {
            let line = line.clone();
            self.stream_debug(Some(&line));
        }
        Some(o)
    }

    /// Wall-clock ms now, corrected to the server's clock when an offset is known.
    fn server_ms(&self, now: Millis) -> u64 {
        let offset = self.clock_offset().map_or(0, |c| c.0);
        (now as i64 + self.shared.wall_offset.get() + offset).max(0) as u64
    }

    /// The namespace `nsp` (created on first use) and the context it works in. Not generic
    /// over a closure: one copy of this in the wasm, not one per call site.
    fn space_cx(&mut self, nsp: &str, now: Millis) -> (&mut Space, Cx<'_>) {
        let i = match self.spaces.iter().position(|s| s.nsp() == nsp) {
            Some(i) => i,
            None => {
                let key = (Endpoint { namespace: nsp.into(), ..self.key.0.clone() }, self.key.1.clone());
                let seed = self.rng.next_u32() as u64;
                self.spaces.push(Space::new(key, &self.config, self.shared.clone(), seed));
                self.spaces.len() - 1
            }
        };
        self.space_at(i, now)
    }

    /// The namespace at `i` (an index found in `spaces` just before) and its context.
    fn space_at(&mut self, i: usize, now: Millis) -> (&mut Space, Cx<'_>) {
        let (spaces, cx) = self.spaces_cx(now);
        (&mut spaces[i], cx)
    }

    /// Every namespace and the context they work in.
    fn spaces_cx(&mut self, now: Millis) -> (&mut [Space], Cx<'_>) {
        let server_now = self.server_ms(now);
        let Hub { key, link, spaces, signin, security, debug, out, shared, .. } = self;
        let cx = Cx {
            out,
            signin,
            security,
            debug,
            link_open: link.is_open(),
            max_payload: link.max_payload(),
            auth: key.1.as_deref(),
            server_now,
            wall_offset: shared.wall_offset.get(),
            now,
        };
        (spaces, cx)
    }

    // --- Tabs. ---

    fn attach(&mut self, tab: TabKey, name: String, nsp: &str, now: Millis) {
        self.linger_until = None;
        self.retired = false;
        // A page that arrives at a hub no tab uses (a reload, the next page) does not wait
        // out a backoff begun for the last one: it tries at once, attempts counted afresh.
        if !self.has_tabs() && self.link.is_waiting() {
            self.connect(now);
        }
        let link = self.link.status();
        let (space, mut cx) = self.space_cx(nsp, now);
        space.attach(tab, name, link, &mut cx);
        self.signin.attach(tab);
        self.drive_signin(now);
        if self.link.is_down() {
            self.connect(now);
        }
    }

    /// The index of an attached tab's namespace.
    fn space_of(&self, tab: TabKey) -> Option<usize> {
        self.spaces.iter().position(|s| s.tabs().contains(tab))
    }

    fn has_tabs(&self) -> bool {
        self.spaces.iter().any(|s| !s.tabs().is_empty())
    }

    /// Whether the connection is owed: tabs use it, or durable emits wait for it (a hub with
    /// no tab, as in the service-worker role, still owes them their delivery).
    fn wanted(&self) -> bool {
        self.has_tabs() || self.undelivered() > 0
    }

    fn detach(&mut self, tab: TabKey, now: Millis) {
        let Some(i) = self.space_of(tab) else { return };
        let (space, mut cx) = self.space_at(i, now);
        space.detach(tab, &mut cx);
        // A namespace nobody uses any more (and that has nothing to deliver) leaves, as
        // socket.io-client's `socket.disconnect()` does: the next tab on it is a new server
        // socket, whose `connection` handler runs again (a reloaded page gets what the
        // server sends on connection).
        space.leave_if_unused(&mut cx);
        self.security.detach(tab);
        if !self.has_tabs() {
            // The Engine.IO connection lingers (a reload comes back quickly), then closes.
            self.linger_until = Some(now + self.config.linger_ms);
        }
        self.publish_status();
    }

    fn handle_tab(&mut self, tab: TabKey, msg: ToHub, now: Millis) {
        let Some(i) = self.space_of(tab) else { return };
        // The hub's own requests, never sent to the server.
        if let ToHub::Emit { event, args, ack, .. } = &msg {
            match (event.as_str(), ack) {
                (contract::DEBUG, Some(a)) => return self.debug_request(tab, a.id, args, now),
                (contract::HUB_DROP, _) => return self.drop_transport(tab, now),
                _ => {}
            }
        }
        let (space, mut cx) = self.space_at(i, now);
        space.handle_tab(tab, msg, &mut cx);
        self.drive_signin(now);
    }

    fn all_tabs(&self) -> Vec<TabKey> {
        self.spaces.iter().flat_map(|s| s.tabs().keys()).collect()
    }

    fn publish_status(&mut self) {
        let (link, open) = (self.link.status(), self.link.is_open());
        for space in &mut self.spaces {
            space.publish_status(link.clone(), open, &mut self.out);
        }
    }

    // --- Sign-in. ---

    fn handle_http(&mut self, id: u32, status: u16, body: &str, now: Millis) {
        self.http_answered(id, status, now);
        let server_now = self.server_ms(now);
        self.signin.handle_http(id, status, body, now, server_now);
        self.drive_signin(now);
    }

    /// Carries out what sign-in and security asked for (each may ask the other).
    fn drive_signin(&mut self, now: Millis) {
        loop {
            if let Some(event) = self.signin.poll_event() {
                self.signin_event(event, now);
            } else if let Some(action) = self.security.poll_action() {
                self.security_action(action, now);
            } else {
                return;
            }
        }
    }

    fn signin_event(&mut self, event: signin::Event, now: Millis) {
        match event {
            signin::Event::Post(tab, msg) => self.out.post_one(tab, msg),
            signin::Event::Publish => {
                self.out.post(self.all_tabs(), FromHub::Auth(self.signin.state().clone()));
                self.security.on_auth(self.signin.state().user.as_deref(), self.signin.session());
            }
            // What the hub kept for that user (the shared state's local copy) goes.
            signin::Event::UserLeft => {
                for s in &mut self.spaces {
                    s.clear_state(&mut self.out);
                }
            }
            signin::Event::Http(request) => {
                let request = self.trace_http(request, now);
                self.out.push(request)
            }
            signin::Event::Security(call, status, body) => self.security.handle_http(call, status, &body),
            signin::Event::Refreshed { status, took } => {
                let outcome = if status == 200 { "refreshed" } else { "refresh failed" };
                self.journal_span(format!("token refresh (HTTP {status})"), outcome, took, now);
            }
            signin::Event::Reauthenticate => self.reauthenticate(now),
            signin::Event::Renew => self.renew(now),
            signin::Event::Log(line) => self.out.log(line),
        }
    }

    fn security_action(&mut self, action: SecurityAction, now: Millis) {
        match action {
            SecurityAction::Publish => {
                let tabs = self.subscribers(contract::SECURITY);
                self.out.post(tabs, space::hub_event(contract::SECURITY, self.security.snapshot()));
            }
            SecurityAction::Revoked => self.revoked(now),
            SecurityAction::Http { call, post, path, body } => self.signin.security_call(call, post, path, body),
            SecurityAction::Post(tab, msg) => self.out.post_one(tab, msg),
        }
    }

    /// The session was revoked (final for it): what it queued and cached goes, from memory
    /// and storage; every tab is signed out; its cookies are cleared before the next handshake.
    fn revoked(&mut self, _now: Millis) {
        let reason = "the session was revoked; its unsent events are dropped";
        for s in &mut self.spaces {
            s.drop_session(reason, &mut self.out);
        }
        self.out.log(String::from("session revoked: queued events and cached state deleted; signed out"));
        self.signin.revoked();
    }

    /// Bearer mode: hands the renewed token to every connected namespace (`sb:auth`), or
    /// reconnects so the handshake carries it.
    fn renew(&mut self, now: Millis) {
        let Some(token) = self.signin.token() else { return self.reauthenticate(now) };
        let mut args = String::from("[{\"token\":");
        json::write_string(&mut args, token);
        args.push_str("}]");
        let mut sent = 0;
        for space in self.spaces.iter().filter(|s| s.is_connected()) {
            self.out.send_sio(&socketio::encode_event(space.nsp(), 0, None, &[contract::AUTH], &args));
            sent += 1;
        }
        if sent == 0 {
            self.reauthenticate(now);
        }
    }

    /// The socket's credentials changed: a new session so the handshake carries them (none
    /// while no tab needs one); a namespace refused before may be accepted now.
    fn reauthenticate(&mut self, now: Millis) {
        self.end_session(End::Idle, now);
        self.spaces.iter_mut().for_each(Space::reset);
        if self.has_tabs() {
            self.connect(now);
        }
    }

    // --- The connection. ---

    /// Starts a fresh attempt (attempt count reset).
    fn connect(&mut self, now: Millis) {
        // The debug log's connect span starts at the first attempt.
        self.attempt_started = Some(now);
        self.link.start(true, now, &mut self.out);
        self.publish_status();
    }

    /// A tab closed the engine (`sb:drop`): the connection ends as if the transport closed,
    /// and is retried with backoff. Nothing to close while no socket is open or opening.
    fn drop_transport(&mut self, tab: TabKey, now: Millis) {
        if self.link.current().is_some() {
            self.out.log(format!("tab {tab} closed the connection (sb:drop)"));
            self.end_session(End::Lost("forced close".into()), now);
        }
    }

    /// A hub no tab uses (lingering, idle, or holding stored emits only) takes the
    /// connection options of the next tab to attach, as a new hub would: with other options
    /// than its own, a lingering connection is closed and opened again under them (as
    /// socket.io-client's new Manager opens its own), so one page's options never outlive it.
    pub fn reconfigure(&mut self, base: &HubConfig, options: &Options, now: Millis) {
        if self.has_tabs() {
            return;
        }
        let mut config = base.clone();
        config.apply(options);
        if config == self.config {
            return;
        }
        self.link.configure(&config);
        self.config = config;
        if !self.link.is_down() {
            self.out.log(String::from("new connection options: the connection opens again under them"));
            self.end_session(End::Idle, now);
        }
    }

    fn set_online(&mut self, online: bool, now: Millis) {
        self.link.set_online(online, now, &mut self.out);
        self.publish_status();
    }

    /// The one teardown of the connection: every namespace puts back what its session held
    /// (emits in flight to the queue and storage; rooms to be joined again; requests and
    /// server acks dropped; the hello wait cancelled), then the connection moves on.
    fn end_session(&mut self, end: End, now: Millis) {
        match &end {
            End::Lost(reason) => {
                self.out.log(format!("connection lost: {reason}"));
                if self.link.is_open() {
                    let args = json::strings([reason.as_str()]);
                    self.spaces.iter().for_each(|s| s.notify(contract::HUB_LOST, &args, &mut self.out));
                }
            }
            End::Stopped(reason) => self.out.log(format!("disconnected: {reason}")),
            End::Idle => {}
        }
        if let End::Lost(reason) | End::Stopped(reason) = &end {
            self.journal_hub(format!("connection ended: {reason}"), "ended", now);
        }
        self.early_connect = None;
        // A reconnect span runs from the loss (backoffs and failed attempts included).
        self.attempt_started = matches!(end, End::Lost(_)).then_some(now);
        let (spaces, mut cx) = self.spaces_cx(now);
        spaces.iter_mut().for_each(|s| {
            s.end_session(None, &mut cx);
            s.connection_ended();
        });
        let wanted = self.wanted();
        self.link.end_session(end, wanted, now, &mut self.out);
        self.publish_status();
    }

    /// The socket `conn` came with a CONNECT already sent (`frame`, as it went on the wire):
    /// the bootstrap sent it when the Engine.IO handshake arrived, before this hub existed.
    fn handle_early_connect(&mut self, conn: u32, frame: &str) {
        if self.link.current() == Some(conn) {
            self.early_connect = Some(frame.into());
        }
    }

    /// Engine.IO is open: every namespace with tabs or emits asks to connect. A CONNECT the
    /// shell already sent stands if it is exactly the one a namespace sends now; otherwise
    /// (another payload, or for a namespace nobody uses) the connection starts over at once
    /// (while it is still wanted),
    /// since taking a CONNECT back with a DISCONNECT races the server (Node's socket.io closes
    /// a connection that disconnects a namespace it is still connecting).
    fn engine_open(&mut self, now: Millis) {
        let mut early = self.early_connect.take();
        let (spaces, mut cx) = self.spaces_cx(now);
        spaces.iter_mut().filter(|s| s.wanted()).for_each(|s| s.connect_after(&mut early, &mut cx));
        if let Some(frame) = early {
            self.out.log(format!("the early CONNECT {} is not this hub's: the connection starts over", Quoted(&frame)));
            self.end_session(End::Idle, now);
            self.spaces.iter_mut().for_each(Space::reset);
            if self.wanted() {
                self.connect(now);
            }
        }
    }

    fn handle_socket_open(&mut self, conn: u32, now: Millis) {
        if self.link.current() == Some(conn) {
            self.out.log(format!("websocket open: {}", self.link.url()));
            self.journal_hub(format!("websocket open ({})", self.link.url()), "open", now);
        }
    }

    fn handle_socket_closed(&mut self, conn: u32, now: Millis) {
        if self.link.current() == Some(conn) {
            self.end_session(End::Lost("transport close".into()), now);
        }
    }

    /// The attempt's WebSocket never opened; `probe` is what the server said over HTTP.
    fn handle_socket_failed(&mut self, conn: u32, probe: &Probe, origin: &str, now: Millis) {
        if self.link.current() == Some(conn) {
            let reason = conn::failure_reason(probe, conn::host_of(self.link.url()), origin);
            self.end_session(End::Lost(reason), now);
        }
    }

    fn handle_socket_text(&mut self, conn: u32, text: &str, now: Millis) {
        if let Some(inbound) = self.link.handle_text(conn, text, now, &mut self.out) {
            self.inbound(inbound, now);
        }
    }

    fn handle_socket_binary(&mut self, conn: u32, bytes: &[u8], now: Millis) {
        if let Some(inbound) = self.link.handle_binary(conn, bytes, &mut self.out) {
            self.inbound(inbound, now);
        }
    }

    fn inbound(&mut self, inbound: Inbound, now: Millis) {
        match inbound {
            Inbound::Open => self.engine_open(now),
            Inbound::Ended(end) => return self.end_session(end, now),
            Inbound::Ping => {
                self.spaces.iter().for_each(|s| s.notify(contract::HUB_PING, "[]", &mut self.out));
                if self.debug.is_on() {
                    // One probe for the connection: the first namespace that can take it.
                    let (spaces, mut cx) = self.spaces_cx(now);
                    let _ = spaces.iter_mut().any(|s| s.probe_rtt(&mut cx));
                }
                return;
            }
            Inbound::Packet(p) => {
                let Some(i) = self.spaces.iter().position(|s| s.nsp() == p.nsp) else {
                    return self
                        .out
                        .log(format!("packet for namespace {}, which no tab uses; ignored", Quoted(&p.nsp)));
                };
                let refusal = matches!(p.kind, Kind::ConnectError | Kind::Disconnect);
                let (space, mut cx) = self.space_at(i, now);
                space.packet(p.kind, p.id, &p.data, p.bins, &mut cx);
                if p.kind == Kind::Connect && self.spaces[i].is_connected() {
                    if let Some(started) = self.attempt_started.take() {
                        let sockets = self.link.sockets_opened();
                        let what = if sockets > 1 { "reconnected" } else { "connected" };
                        self.journal_span(format!("{what} (socket {sockets})"), what, now.saturating_sub(started), now);
                    }
                }
                self.drive_signin(now);
                if refusal && !self.spaces.iter().any(Space::active) {
                    // No namespace left on the connection (as socket.io-client's Manager).
                    self.end_session(End::Idle, now);
                }
                // An event or an ack leaves every namespace's status as it was (a sign-in it
                // causes publishes its own): no status to compare on the hot path.
                if !refusal && p.kind != Kind::Connect {
                    return;
                }
            }
        }
        self.publish_status();
    }

    // --- The outbox. ---

    /// Restored stored emits join the front of their namespace's queue, in their order.
    fn adopt(&mut self, mut recs: Vec<(u64, StoredEmit)>, now: Millis) {
        while let Some(nsp) = recs.first().map(|(_, r)| r.endpoint.namespace.clone()) {
            let (mine, rest) = recs.into_iter().partition(|(_, r)| r.endpoint.namespace == nsp);
            recs = rest;
            let (space, mut cx) = self.space_cx(&nsp, now);
            space.adopt(mine, &mut cx);
        }
    }

    fn handle_persisted(&mut self, keys: &[u64]) {
        for space in &mut self.spaces {
            space.handle_persisted(keys, &mut self.out);
        }
    }

    // --- Time. ---

    fn handle_timeout(&mut self, now: Millis) {
        let mut ended = self.link.handle_timeout(now, &mut self.out);
        let (spaces, mut cx) = self.spaces_cx(now);
        for s in spaces.iter_mut() {
            if let Some(end) = s.handle_timeout(&mut cx) {
                ended.get_or_insert(end);
            }
        }
        if let Some(end) = ended {
            self.end_session(end, now);
        }
        self.publish_status();
        self.signin.handle_timeout(now);
        self.drive_signin(now);
        if self.linger_until.is_some_and(|d| now >= d) {
            self.linger_until = None;
            if !self.has_tabs() {
                self.end_session(End::Idle, now);
                // Keep a hub with undelivered emits: a tab coming back sends them.
                self.retired = self.undelivered() == 0;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let spaces = self.spaces.iter().filter_map(Space::poll_timeout);
        [self.link.poll_timeout(), self.signin.poll_timeout(), self.linger_until]
            .into_iter()
            .flatten()
            .chain(spaces)
            .min()
    }
}
