//! The hub: one Socket.IO connection shared by the tabs attached to one endpoint, and the
//! switchboard that routes each tab to the hub of its endpoint.
//!
//! `Hub` wires sub-state-machines, each owning its fields, deadlines and tests (the shape of
//! quinn-proto's `connection/`): [`conn`] (Engine.IO session, heartbeat, backoff, binary
//! reassembly), [`requests`] (the ack-id space and its owners), [`rooms`], [`outbox`] (the
//! durable queue), [`signin`] (HTTP sign-in, typed events), [`session`] (the server contract:
//! hello, numbered events, clock), [`tabs`]; [`switchboard`] routes ports to hubs. A new
//! concern (leader election, shared state, security, debug log) is one more module here,
//! wired below like the others.
//!
//! Invariants: at most one socket per (endpoint, auth); every session ends in
//! [`Hub::end_session`], which puts back what it held (in-flight emits, requests, rooms,
//! deadlines); every input may be wrong and a wrong one yields an error message and a log
//! line, never a panic; time only enters as `now` (ms on a monotonic clock).

mod config;
mod conn;
mod out;
mod outbox;
mod requests;
mod rooms;
mod session;
mod signin;
mod switchboard;
mod tabs;

pub use config::HubConfig;
pub use out::Output;
pub use session::HELLO_WAIT_MS;
pub use switchboard::{tab_lock_name, Switchboard};

use crate::contract;
use crate::json;
use crate::port::PROTOCOL_VERSION;
use crate::port::{AckRequest, AuthState, Bytes, Endpoint, ErrorCode, FromHub, Status, StoredEmit, ToHub};
use crate::socketio::{self, Kind};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use conn::{Connection, End, Inbound, Packet};
use core::cell::Cell;
use out::Out;
use outbox::{Emit, Outbox};
use requests::{Request, Requests};
use rooms::Rooms;
use session::{ContractSession, Routed};
use signin::SignIn;
use tabs::Tabs;

pub type Millis = u64;
/// The shell's handle for one MessagePort.
pub type TabKey = u32;
pub type HubId = u32;
type HubKey = (Endpoint, Option<String>);

/// Event names a tab may not emit: Socket.IO reserves these, and [`contract::PREFIX`]
/// starts the hub's own contract with the server.
const RESERVED: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];
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

pub struct Hub {
    key: HubKey,
    linger_ms: u64,
    conn: Connection,
    tabs: Tabs,
    requests: Requests,
    rooms: Rooms,
    outbox: Outbox,
    signin: SignIn,
    contract: ContractSession,
    out: Out,
    shared: Rc<Shared>,
    linger_until: Option<Millis>,
    retired: bool,
    last_status: Option<Status>,
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
        let mut conn = Connection::new(url, key.0.namespace.clone(), &config, seed);
        let mut out = Out::new(id);
        conn.set_online(online, 0, &mut out);
        Hub {
            signin: SignIn::new(id, &key.0.url, config.bearer),
            outbox: Outbox::new(key.clone(), &config, shared.clone()),
            rooms: Rooms::new(config.connect_timeout_ms),
            linger_ms: config.linger_ms,
            key,
            conn,
            tabs: Tabs::default(),
            requests: Requests::default(),
            contract: ContractSession::default(),
            out,
            shared,
            linger_until: None,
            retired: false,
            last_status: None,
        }
    }

    // --- What the switchboard and the debug view read. ---

    fn key(&self) -> &HubKey {
        &self.key
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.key.0
    }

    pub fn status(&self) -> Status {
        self.conn.status()
    }

    pub fn tab_names(&self) -> Vec<String> {
        self.tabs.names()
    }

    /// Rooms the hub has joined on the server.
    pub fn server_rooms(&self) -> Vec<String> {
        self.rooms.server_rooms()
    }

    pub fn buffered(&self) -> usize {
        self.outbox.queued()
    }

    pub fn auth_state(&self) -> &AuthState {
        self.signin.state()
    }

    /// Server clock minus this browser's clock and the round trip of that sample.
    pub fn clock_offset(&self) -> Option<(i64, u64)> {
        self.contract.clock()
    }

    fn undelivered(&self) -> usize {
        self.outbox.undelivered()
    }

    fn audit(&self) -> Result<BTreeSet<String>, String> {
        self.outbox.audit()
    }

    fn is_retired(&self) -> bool {
        self.retired
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// Wall-clock ms now, corrected to the server's clock when an offset is known.
    fn server_ms(&self, now: Millis) -> u64 {
        self.contract.server_ms(now, self.shared.wall_offset.get())
    }

    // --- Tabs. ---

    fn attach(&mut self, tab: TabKey, name: String, now: Millis) {
        self.tabs.attach(tab, name);
        self.linger_until = None;
        self.retired = false;
        self.out.post_one(tab, FromHub::Welcome { version: PROTOCOL_VERSION, status: self.status() });
        if let Some((offset_ms, rtt)) = self.contract.clock() {
            self.out.post_one(tab, FromHub::Clock { offset_ms, rtt_ms: rtt.min(u32::MAX as u64) as u32 });
        }
        self.publish_tabs();
        self.signin.attach(tab);
        self.drive_signin(now);
        if self.conn.is_down() {
            self.connect(now);
        }
    }

    fn detach(&mut self, tab: TabKey, now: Millis) {
        if !self.tabs.detach(tab) {
            return;
        }
        let actions = self.rooms.detach(tab, self.conn.is_connected(), now);
        self.apply_rooms(actions);
        // The tab's acks can no longer be delivered; its queued emits still go out.
        self.requests.detach(tab);
        self.outbox.detach(tab, &mut self.out);
        self.publish_tabs();
        if self.tabs.is_empty() {
            self.linger_until = Some(now + self.linger_ms);
        }
    }

    fn handle_tab(&mut self, tab: TabKey, msg: ToHub, now: Millis) {
        match msg {
            ToHub::Hello { .. } | ToHub::Bye => {}
            ToHub::Subscribe { event } => self.tabs.subscribe(tab, event, true),
            ToHub::Unsubscribe { event } => self.tabs.subscribe(tab, event, false),
            ToHub::Emit { seq, event, args, bins, ack, volatile } => {
                let emit = Emit { event, args, bins, ack: None, durable: None };
                self.tab_emit(tab, seq, emit, ack, volatile, now)
            }
            ToHub::Reply { token, args, bins } => self.tab_reply(tab, token, &args, bins),
            ToHub::Join { req, room } => {
                let actions = self.rooms.join(tab, req, room, self.conn.is_connected(), now);
                self.apply_rooms(actions);
            }
            ToHub::Leave { req, room } => {
                let actions = self.rooms.leave(tab, Some(req), &room, self.conn.is_connected(), now);
                self.apply_rooms(actions);
            }
            ToHub::Login { req, username, password } => self.signin.login(tab, req, &username, &password),
            ToHub::Logout { req } => self.signin.logout(tab, req),
            ToHub::Refresh { req } => self.signin.refresh(Some((tab, req)), now),
            ToHub::Token { req } => self.signin.ask_token(tab, req, now, self.server_ms(now)),
        }
        self.drive_signin(now);
    }

    /// A tab's answer to a server event that asked for an ack (the first answer wins).
    fn tab_reply(&mut self, tab: TabKey, token: u32, args: &str, bins: Vec<Bytes>) {
        let Some(server_id) = self.requests.take_reply(token) else { return };
        if let Err(e) = check_args(args) {
            let message = format!("reply: {e}");
            return self.out.post_one(tab, FromHub::Error { code: ErrorCode::BadPayload, message });
        }
        self.out.send_sio(&socketio::encode_ack(self.conn.nsp(), bins.len(), server_id, args));
        for b in bins {
            self.out.send_binary(b.0);
        }
    }

    /// Why a tab may not emit this, if it may not.
    fn check_emit(&self, e: &Emit) -> Result<(), (String, ErrorCode)> {
        let event = &e.event;
        if event.is_empty()
            || event.len() > MAX_NAME
            || RESERVED.contains(&event.as_str())
            || event.starts_with(contract::PREFIX)
        {
            return Err((format!("{event:?} is not an event name a tab may emit"), ErrorCode::BadPayload));
        }
        check_args(&e.args).map_err(|err| (format!("emit {event:?}: {err}"), ErrorCode::BadPayload))?;
        if e.size() > self.conn.max_payload() {
            let message = format!("emit {event:?}: {} bytes exceeds the server's maxPayload", e.size());
            return Err((message, ErrorCode::BadPayload));
        }
        Ok(())
    }

    /// A tab's emit: volatile (now or never), with an ack (until its timeout), or durable
    /// (until the server's receipt, through storage while offline).
    fn tab_emit(&mut self, tab: TabKey, seq: u32, mut e: Emit, ack: Option<AckRequest>, volatile: bool, now: Millis) {
        let durable = ack.is_none() && !volatile;
        let refuse = |hub: &mut Hub, reason: String, code: ErrorCode| {
            let msg = match ack {
                Some(a) => FromHub::AckFailed { id: a.id, reason },
                None if durable => FromHub::Refused { seq, reason },
                None => FromHub::Error { code, message: reason },
            };
            hub.out.post_one(tab, msg);
        };
        if let Err((reason, code)) = self.check_emit(&e) {
            return refuse(self, reason, code);
        }
        if volatile {
            // Socket.IO semantics: a volatile event is sent now or never.
            if self.conn.is_connected() {
                self.send_emit(e);
            }
            return;
        }
        let id = format!("{}-{seq}", self.tabs.name(tab).unwrap_or_default());
        if durable && self.outbox.holds(&id) {
            // A page resending to a restarted hub: we already hold it.
            return self.out.post_one(tab, FromHub::Stored { seq });
        }
        if let Some(why) = self.outbox.full(e.size()).filter(|_| !self.can_send()) {
            return refuse(self, format!("{why}: emit {:?} was not queued", e.event), ErrorCode::BufferFull);
        }
        if durable {
            e.durable = Some(self.outbox.durable(id, tab, seq, self.server_ms(now)));
        }
        e.ack = ack.map(|a| {
            let deadline = (a.timeout_ms > 0).then(|| now + a.timeout_ms as u64);
            self.requests.insert(Request::Tab { tab, id: a.id, deadline })
        });
        if self.can_send() {
            self.send_queued(e, now);
        } else {
            self.outbox.push(e, &mut self.out);
        }
    }

    // --- Output to the tabs. ---

    fn publish_status(&mut self) {
        let s = self.status();
        if self.last_status.as_ref() != Some(&s) {
            self.last_status = Some(s.clone());
            self.out.post(self.tabs.keys(), FromHub::Status(s));
        }
    }

    fn publish_tabs(&mut self) {
        self.out.post(self.tabs.keys(), FromHub::Tabs { tabs: self.tabs.names() });
        self.announce_tabs();
    }

    /// Tells a contract server which tabs this socket serves, so it can address one.
    fn announce_tabs(&mut self) {
        if self.contract.speaks() == Some(true) && self.conn.is_connected() {
            let mut list = String::from("[[");
            for (i, name) in self.tabs.names().iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                json::write_string(&mut list, name);
            }
            list.push_str("]]");
            self.out.send_sio(&socketio::encode_event(self.conn.nsp(), 0, None, &[contract::TABS], &list));
        }
    }

    // --- Sign-in. ---

    fn handle_http(&mut self, id: u32, status: u16, body: &str, now: Millis) {
        self.signin.handle_http(id, status, body, now, self.server_ms(now));
        self.drive_signin(now);
    }

    /// Carries out what sign-in asked for.
    fn drive_signin(&mut self, now: Millis) {
        while let Some(event) = self.signin.poll_event() {
            match event {
                signin::Event::Post(tab, msg) => self.out.post_one(tab, msg),
                signin::Event::Publish => self.out.post(self.tabs.keys(), FromHub::Auth(self.signin.state().clone())),
                signin::Event::Http(request) => self.out.push(request),
                signin::Event::Reauthenticate => self.reauthenticate(now),
                signin::Event::Renew => match self.signin.token() {
                    Some(token) if self.conn.is_connected() => {
                        let mut args = String::from("[{\"token\":");
                        json::write_string(&mut args, token);
                        args.push_str("}]");
                        self.out.send_sio(&socketio::encode_event(self.conn.nsp(), 0, None, &[contract::AUTH], &args));
                    }
                    _ => self.reauthenticate(now),
                },
                signin::Event::Log(line) => self.out.log(line),
            }
        }
    }

    /// The socket's credentials changed: a new session so the handshake carries them (none
    /// while no tab needs one).
    fn reauthenticate(&mut self, now: Millis) {
        self.end_session(End::Idle, now);
        if !self.tabs.is_empty() {
            self.connect(now);
        }
    }

    // --- The connection. ---

    /// Starts a fresh attempt (attempt count reset).
    fn connect(&mut self, now: Millis) {
        self.conn.start(true, now, &mut self.out);
        self.publish_status();
    }

    fn set_online(&mut self, online: bool, now: Millis) {
        self.conn.set_online(online, now, &mut self.out);
        self.publish_status();
    }

    /// The one teardown: every way a session ends comes here. What the session held is put
    /// back (emits in flight to the queue and storage; rooms to be joined again; requests and
    /// server acks dropped; the hello wait cancelled), then the connection moves on.
    fn end_session(&mut self, end: End, now: Millis) {
        match &end {
            End::Lost(reason) => self.out.log(format!("connection lost: {reason}")),
            End::Stopped(reason) => self.out.log(format!("disconnected: {reason}")),
            End::Idle => {}
        }
        self.outbox.end_session(&mut self.out);
        self.requests.end_session();
        let actions = self.rooms.end_session();
        self.apply_rooms(actions);
        self.contract.end_session();
        self.conn.end_session(end, !self.tabs.is_empty(), now, &mut self.out);
        self.publish_status();
    }

    fn handle_socket_open(&mut self, conn: u32, _now: Millis) {
        if self.conn.current() == Some(conn) {
            self.out.log(format!("websocket open: {}", self.conn.url()));
        }
    }

    fn handle_socket_closed(&mut self, conn: u32, now: Millis) {
        if self.conn.current() == Some(conn) {
            self.end_session(End::Lost("transport close".into()), now);
        }
    }

    fn handle_socket_text(&mut self, conn: u32, text: &str, now: Millis) {
        if let Some(inbound) = self.conn.handle_text(conn, text, now, &mut self.out) {
            self.inbound(inbound, now);
        }
    }

    fn handle_socket_binary(&mut self, conn: u32, bytes: &[u8], now: Millis) {
        if let Some(inbound) = self.conn.handle_binary(conn, bytes, &mut self.out) {
            self.inbound(inbound, now);
        }
    }

    fn inbound(&mut self, inbound: Inbound, now: Millis) {
        match inbound {
            Inbound::Open => {
                let auth = self.signin.connect_payload(self.key.1.as_deref());
                let connect = self.conn.connect_packet(&auth);
                self.out.send_sio(&connect);
            }
            Inbound::Connected { recovered } => {
                self.start_session(now);
                if let Some(recovered) = recovered {
                    if !recovered {
                        self.out.log("the server could not recover the session: events sent meanwhile are lost".into());
                    }
                    self.out.post(self.tabs.keys(), FromHub::Recovered { recovered });
                }
            }
            Inbound::Ended(end) => self.end_session(end, now),
            Inbound::Packet(p) => self.packet(p, now),
        }
    }

    /// Our namespace CONNECT was accepted: join the rooms that have tabs, then send the
    /// queue once we know what the server speaks.
    fn start_session(&mut self, now: Millis) {
        self.publish_status();
        let actions = self.rooms.start_session();
        self.apply_rooms(actions);
        self.contract.start_session(now);
        self.flush(now);
    }

    fn packet(&mut self, p: Packet, now: Millis) {
        match (p.kind, p.id) {
            (Kind::Ack | Kind::BinaryAck, Some(id)) => self.on_ack(id, &p.data, p.bins, now),
            (Kind::Ack | Kind::BinaryAck, None) => self.out.log("ACK without an id; ignored".into()),
            _ => self.on_event(p.id, &p.data, p.bins, now),
        }
    }

    // --- The contract and routing. ---

    /// Sends one of the contract's requests (`names` then `args`) with an ack id owned by `req`.
    fn contract_request(&mut self, req: Request, names: &[&str], args: &str) -> u64 {
        let id = self.requests.insert(req);
        self.out.send_sio(&socketio::encode_event(self.conn.nsp(), 0, Some(id), names, args));
        id
    }

    fn apply_rooms(&mut self, actions: Vec<rooms::Action>) {
        for a in actions {
            match a {
                rooms::Action::Send { room, join } => {
                    let (req, name) = match join {
                        true => (Request::Join(room.clone()), contract::JOIN),
                        false => (Request::Leave(room.clone()), contract::LEAVE),
                    };
                    let id = self.contract_request(req, &[name, &room], "[]");
                    self.rooms.sent(&room, join, id);
                }
                rooms::Action::Done { tab, req, error } => self.out.post_one(tab, FromHub::Done { req, error }),
            }
        }
    }

    /// The server announced the contract: durable emits go in `sb:emit` envelopes with
    /// receipts, we sample the clock, and ask for the numbered events we missed.
    fn on_hello(&mut self, now: Millis) {
        let resume_after = self.contract.hello();
        self.contract_request(Request::Time { sent: now }, &[contract::TIME], "[]");
        self.announce_tabs();
        if let Some(after) = resume_after {
            self.contract_request(Request::Resume, &[contract::RESUME], &format!("[{after}]"));
        }
        self.flush(now);
    }

    fn on_event(&mut self, id: Option<u64>, data: &str, bins: Vec<Bytes>, now: Millis) {
        let (event, args) = match socketio::split_leading_strings(data, 1) {
            Ok((mut names, args)) => (names.pop().unwrap_or_default(), args),
            Err(e) => return self.out.log(format!("ignored event: {e}")),
        };
        if id.is_none() {
            self.conn.note_offset(&args);
        }
        if event == contract::HELLO {
            return self.on_hello(now);
        }
        let Routed { event, args, room, tab } = match self.contract.unwrap(event, args) {
            Ok(Some(routed)) => routed,
            Ok(None) => return, // a replay already delivered
            Err(why) => return self.out.log(why),
        };
        if room.is_none() && event.starts_with("TOKEN_") {
            self.signin.on_token_event(&event, &args, now, self.server_ms(now));
            self.drive_signin(now);
        }
        let rooms = &self.rooms;
        let targets = self.tabs.targets(&event, tab.as_deref(), |t| room.as_ref().is_none_or(|r| rooms.member(t, r)));
        let reply = match id {
            Some(server_id) if !targets.is_empty() => Some(self.requests.reply_token(server_id)),
            _ => None,
        };
        self.out.post(targets, FromHub::Event { event, room, args, bins, reply });
    }

    fn on_ack(&mut self, id: u64, data: &str, bins: Vec<Bytes>, now: Millis) {
        match self.requests.take(id) {
            Some(Request::Receipt) => self.outbox.receipt(id, session::refusal(data), &mut self.out),
            Some(Request::Time { sent }) => match self.contract.time(sent, data, now, self.shared.wall_offset.get()) {
                Ok(Some((offset_ms, rtt))) => {
                    let rtt_ms = rtt.min(u32::MAX as u64) as u32;
                    self.out.post(self.tabs.keys(), FromHub::Clock { offset_ms, rtt_ms });
                }
                Ok(None) => {}
                Err(()) => self.out.log(format!("{} ack without a time; ignored", contract::TIME)),
            },
            Some(Request::Resume) => {
                let recovered = session::resumed(data);
                if !recovered {
                    self.out.log("the server could not replay everything sent while we were away".into());
                }
                self.out.post(self.tabs.keys(), FromHub::Recovered { recovered });
            }
            Some(Request::Tab { tab, id, .. }) => self.out.post_one(tab, FromHub::Ack { id, args: data.into(), bins }),
            Some(Request::Join(room)) => {
                let error = session::refusal(data);
                if let Some(e) = &error {
                    self.out.log(format!("server refused to join {room:?}: {e}"));
                }
                let actions = self.rooms.joined(&room, error);
                self.apply_rooms(actions);
            }
            Some(Request::Leave(room)) => {
                let actions = self.rooms.left(&room);
                self.apply_rooms(actions);
            }
            None => self.out.log(format!("ack {id} matches no pending request (late or duplicate); ignored")),
        }
    }

    // --- The outbox. ---

    /// Restored stored emits join the front of the queue, in their original order.
    fn adopt(&mut self, recs: Vec<(u64, StoredEmit)>, now: Millis) {
        self.outbox.adopt(recs, &mut self.out);
        self.flush(now);
    }

    fn handle_persisted(&mut self, keys: &[u64]) {
        self.outbox.persisted(keys, &mut self.out);
    }

    /// Durable emits may go on the wire: connected, and the server's kind is known.
    fn can_send(&self) -> bool {
        self.conn.is_connected() && self.contract.speaks().is_some()
    }

    /// Sends everything queued, oldest first, once the socket can take it.
    fn flush(&mut self, now: Millis) {
        if !self.can_send() {
            return;
        }
        while let Some(e) = self.outbox.pop() {
            self.send_queued(e, now);
        }
    }

    fn send_queued(&mut self, mut e: Emit, now: Millis) {
        let Some(d) = e.durable.as_ref() else { return self.send_emit(e) };
        if self.outbox.expired(&e, self.server_ms(now)) {
            return self.outbox.expire(e, &mut self.out);
        }
        if self.contract.speaks() == Some(true) {
            let sio = self.requests.insert(Request::Receipt);
            let names = [contract::EMIT, d.id.as_str(), e.event.as_str()];
            self.out.send_sio(&socketio::encode_event(self.conn.nsp(), e.bins.len(), Some(sio), &names, &e.args));
            // Kept (with its attachments) until the server's receipt: resent after a drop.
            for bin in &e.bins {
                self.out.send_binary(bin.0.clone());
            }
            self.outbox.sent(sio, e);
        } else {
            // A plain server gives no receipt: written to the socket is as far as we know.
            let bins = core::mem::take(&mut e.bins);
            self.send_raw_emit(&e.event, &e.args, bins, None);
            self.outbox.delivered(e, &mut self.out);
        }
    }

    fn send_emit(&mut self, e: Emit) {
        self.send_raw_emit(&e.event, &e.args, e.bins, e.ack);
    }

    fn send_raw_emit(&mut self, event: &str, args: &str, bins: Vec<Bytes>, ack: Option<u64>) {
        self.out.send_sio(&socketio::encode_event(self.conn.nsp(), bins.len(), ack, &[event], args));
        for b in bins {
            self.out.send_binary(b.0);
        }
    }

    // --- Time. ---

    fn handle_timeout(&mut self, now: Millis) {
        if let Some(end) = self.conn.handle_timeout(now, &mut self.out) {
            self.end_session(end, now);
        }
        self.publish_status();
        self.signin.handle_timeout(now);
        self.drive_signin(now);
        if self.contract.handle_timeout(now) {
            let why = "plain Socket.IO, delivery is at-least-once at best";
            self.out.log(format!("no {} from the server: {why}", contract::HELLO));
            self.flush(now);
        }
        for (sio, tab, id) in self.requests.expired(now) {
            // An emit still in the offline queue is withdrawn, as socket.io-client does.
            self.outbox.withdraw(sio);
            self.out.post_one(tab, FromHub::AckFailed { id, reason: "operation has timed out".into() });
        }
        let actions = self.rooms.handle_timeout(now);
        self.apply_rooms(actions);
        if self.linger_until.is_some_and(|d| now >= d) {
            self.linger_until = None;
            if self.tabs.is_empty() {
                self.end_session(End::Idle, now);
                // Keep a hub with undelivered emits: a tab coming back sends them.
                self.retired = self.outbox.undelivered() == 0;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Millis> {
        [
            self.conn.poll_timeout(),
            self.requests.poll_timeout(),
            self.rooms.poll_timeout(),
            self.contract.poll_timeout(),
            self.signin.poll_timeout(),
            self.linger_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Arguments from a tab must be one well-formed JSON array.
fn check_args(args: &str) -> Result<(), String> {
    if !args.trim_start().starts_with('[') {
        return Err("arguments must be a JSON array".into());
    }
    json::validate(args).map_err(|e| e.to_string())
}
