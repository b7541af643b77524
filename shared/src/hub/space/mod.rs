//! A namespace on the hub's connection: Socket.IO multiplexes namespaces over one Engine.IO
//! session, and each has its own CONNECT (and Socket.IO's connection state recovery), ack
//! ids, rooms, durable queue, contract session and tabs. The hub wires one `Space` per
//! namespace its tabs use; what they share (the WebSocket, sign-in, the output queue) comes
//! in a [`Cx`].
//! Invariant: a namespace's refusal (CONNECT_ERROR, DISCONNECT) ends only its own session;
//! the connection and the other namespaces go on.

mod input;
mod journal;
mod lifecycle;
mod send;
mod state;

use super::conn::End;
use super::debug::DebugLog;
use super::election;
use super::leader::{self, Leadership};
use super::limits::Bucket;
use super::out::Out;
use super::outbox::Outbox;
use super::presence::Presence;
use super::recovery::Recovery;
use super::requests::{Request, Requests};
use super::rooms::{self, Rooms};
use super::security::{Repeats, Security};
use super::session::{self, ContractSession, Routed};
use super::signin::SignIn;
use super::state::SharedState;
use super::tabs::Tabs;
use super::{HubConfig, HubKey, Millis, Shared, TabKey};
use crate::backoff::{BackoffConfig, Rng};
use crate::contract;
use crate::json::{self, Quoted, Value};
use crate::port::{Bytes, FromHub, Status, PROTOCOL_VERSION};
use crate::socketio::{self, Kind};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// The message of Socket.IO servers (Node's and socketioxide) for a namespace they do not
/// have: retried with backoff, unlike other CONNECT_ERRORs (middleware refusals), which are
/// final as in socket.io-client. Servers also say it while they start or stop.
pub const INVALID_NAMESPACE: &str = "Invalid namespace";

/// What a space is given by the hub for one input.
pub struct Cx<'a> {
    pub out: &'a mut Out,
    pub signin: &'a mut SignIn,
    pub security: &'a mut Security,
    pub debug: &'a mut DebugLog,
    /// Engine.IO is open: a CONNECT can go out.
    pub link_open: bool,
    pub max_payload: usize,
    /// The first tab's CONNECT auth (sign-in adds the bearer token).
    pub auth: Option<&'a str>,
    /// Server time (ms since the epoch) at `now`, and the wall clock offset.
    pub server_now: u64,
    pub wall_offset: i64,
    pub now: Millis,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Not connected on the server (no link, or not asked yet).
    Down,
    /// CONNECT sent; waiting for the reply until `deadline`.
    Joining {
        deadline: Millis,
    },
    Connected {
        sid: String,
    },
    /// The server refused or ended this namespace; a new tab (or a sign-in) starts again.
    Refused {
        reason: String,
    },
    /// Refused with "Invalid namespace": asked again at `until`.
    Retry {
        until: Millis,
        attempt: u32,
        delay: u64,
        reason: String,
    },
}

pub struct Space {
    nsp: String,
    state: State,
    recovery: Recovery,
    backoff: BackoffConfig,
    connect_timeout_ms: u64,
    rng: Rng,
    retries: u32,
    /// CONNECTs left unanswered when the namespace was left: the server still answers them
    /// (in order, before the next one's answer), and those answers are not for this session.
    stale_replies: u32,
    /// Whether the namespace was connected before (`again`: the current session is a
    /// reconnection, which always ends in a `FromHub::Recovered`).
    was_connected: bool,
    again: bool,
    /// This session already asked whether the server still knows the sign-in (once per
    /// session: a server repeating `sb:rooms` cannot make the hub refresh in a loop).
    session_checked: bool,
    pub(super) tabs: Tabs,
    /// Leadership per election scope: `contract::SCOPES` order (browser, user).
    leaders: [Leadership; 2],
    requests: Requests,
    rooms: Rooms,
    presence: Presence,
    repeats: Repeats,
    /// The pace of what goes to a server that announced its limits, and when to go on.
    pace: Option<Bucket>,
    pace_wake: Option<Millis>,
    /// The largest message the server announced (below the Engine.IO `maxPayload`).
    max_message: Option<usize>,
    /// The server reads a trace after a join's or leave's room (`sb:hello` said `trace`).
    server_traces: bool,
    shared_state: SharedState,
    outbox: Outbox,
    contract: ContractSession,
    last_status: Option<Status>,
}

impl Space {
    pub fn new(key: HubKey, config: &HubConfig, shared: Rc<Shared>, seed: u64) -> Space {
        Space {
            nsp: key.0.namespace.clone(),
            state: State::Down,
            recovery: Recovery::default(),
            backoff: config.backoff,
            connect_timeout_ms: config.join_timeout_ms(),
            rng: Rng::new(seed),
            retries: 0,
            stale_replies: 0,
            was_connected: false,
            again: false,
            session_checked: false,
            tabs: Tabs::default(),
            leaders: [
                Leadership::new(contract::SCOPE_BROWSER, election::HYSTERESIS_MS),
                Leadership::new(contract::SCOPE_USER, election::HYSTERESIS_MS),
            ],
            requests: Requests::default(),
            rooms: Rooms::new(config.join_timeout_ms()),
            presence: Presence::default(),
            repeats: Repeats::default(),
            pace: None,
            pace_wake: None,
            max_message: None,
            server_traces: false,
            shared_state: SharedState::new(key.clone(), shared.clone()),
            outbox: Outbox::new(key, config, shared),
            contract: ContractSession::default(),
            last_status: None,
        }
    }

    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// Whether the connection should carry this namespace: tabs, or emits to deliver.
    pub fn wanted(&self) -> bool {
        !self.tabs.is_empty() || self.outbox.undelivered() > 0
    }

    /// Refused (and not retrying): it waits for something to change.
    pub fn refused(&self) -> bool {
        matches!(self.state, State::Refused { .. })
    }

    /// The tabs' view: the link's status, refined by this namespace once the link is open.
    pub fn status(&self, link: Status, link_open: bool) -> Status {
        match (&self.state, link_open) {
            (State::Refused { reason }, _) => Status::Disconnected { reason: reason.clone() },
            (_, false) => link,
            (State::Connected { sid }, true) => Status::Connected { sid: sid.clone() },
            (State::Retry { attempt, delay, reason, .. }, true) => Status::Reconnecting {
                attempt: *attempt,
                delay_ms: (*delay).min(u32::MAX as u64) as u32,
                reason: reason.clone(),
            },
            (State::Down | State::Joining { .. }, true) => Status::Connecting,
        }
    }

    pub fn server_rooms(&self) -> Vec<String> {
        self.rooms.server_rooms()
    }

    pub fn queued(&self) -> usize {
        self.outbox.queued()
    }

    pub fn undelivered(&self) -> usize {
        self.outbox.undelivered()
    }

    pub fn audit(&self) -> Result<BTreeSet<String>, String> {
        self.outbox.audit()
    }

    pub fn clock(&self) -> Option<(i64, u64)> {
        self.contract.clock()
    }

    /// Debug mode, at each Engine.IO ping: an `sb:time` probe, whose round trip is the
    /// inspector's ping RTT (Engine.IO v4 pings come from the server; a client cannot time
    /// them). Only to a server that speaks the contract.
    pub fn probe_rtt(&mut self, cx: &mut Cx) -> bool {
        if !self.can_send() {
            return false;
        }
        self.contract_request(Request::Time { sent: cx.now }, &[contract::TIME], "[]", cx.out);
        true
    }

    // --- Tabs. ---

    pub fn attach(&mut self, tab: TabKey, name: String, link: Status, cx: &mut Cx) {
        self.tabs.attach(tab, name);
        let status = self.status(link, cx.link_open);
        cx.out.post_one(tab, FromHub::Welcome { version: PROTOCOL_VERSION, status });
        if let Some((offset_ms, rtt)) = self.contract.clock() {
            cx.out.post_one(tab, FromHub::Clock { offset_ms, rtt_ms: rtt.min(u32::MAX as u64) as u32 });
        }
        self.publish_tabs(cx);
        if let Some(args) = self.tabs.name(tab).and_then(|n| self.presence.assigned_for(n)) {
            cx.out.post_one(tab, hub_event(contract::ASSIGNED, args));
        }
        // A new tab tries a refused namespace again, as a reload would.
        self.reset();
        self.connect(cx);
    }

    pub fn detach(&mut self, tab: TabKey, cx: &mut Cx) {
        if !self.tabs.contains(tab) {
            return;
        }
        // A leader that leaves resigns (while its name is still known).
        for i in 0..self.leaders.len() {
            let acts = self.leaders[i].detach(tab, &self.tabs, cx.now);
            self.apply_leaders(acts, cx);
        }
        self.tabs.detach(tab);
        let actions = self.rooms.detach(tab, self.is_connected(), cx.now);
        self.apply_rooms(actions, cx);
        // The tab's acks can no longer be delivered; its queued emits still go out.
        self.requests.detach(tab);
        self.shared_state.detach(tab);
        self.outbox.detach(tab, cx.out);
        self.publish_tabs(cx);
    }

    // --- Output to the tabs. ---

    pub fn publish_status(&mut self, link: Status, link_open: bool, out: &mut Out) {
        let s = self.status(link, link_open);
        if self.last_status.as_ref() != Some(&s) {
            self.last_status = Some(s.clone());
            out.post(self.tabs.keys(), FromHub::Status(s));
        }
    }

    fn publish_tabs(&mut self, cx: &mut Cx) {
        cx.out.post(self.tabs.keys(), FromHub::Tabs { tabs: self.tabs.names() });
        self.announce_tabs(cx.out);
    }

    /// Tells a contract server which tabs this socket serves, so it can address one.
    fn announce_tabs(&mut self, out: &mut Out) {
        if self.contract.speaks() == Some(true) && self.is_connected() {
            let mut list = String::from("[[");
            for (i, name) in self.tabs.names().iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                json::write_string(&mut list, name);
            }
            list.push_str("]]");
            out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[contract::TABS], &list));
        }
    }

    /// An event the hub makes (`contract::HUB_*`, `sb:state`) to the tabs that subscribed to it.
    pub fn notify(&self, event: &str, args: &str, out: &mut Out) {
        out.post(self.tabs.targets(event, None, |_| true), hub_event(event, args.into()));
    }

    // --- The contract and routing. ---

    /// Sends one of the contract's requests (`names` then `args`) with an ack id owned by `req`.
    fn contract_request(&mut self, req: Request, names: &[&str], args: &str, out: &mut Out) -> u64 {
        let id = self.requests.insert(req);
        out.send_sio(&socketio::encode_event(&self.nsp, 0, Some(id), names, args));
        id
    }

    fn apply_rooms(&mut self, actions: Vec<rooms::Action>, cx: &mut Cx) {
        for a in actions {
            match a {
                rooms::Action::Send { room, join } => {
                    let (req, name) = match join {
                        true => (Request::Join(room.clone()), contract::JOIN),
                        false => (Request::Leave(room.clone()), contract::LEAVE),
                    };
                    // In debug mode, to a server that reads it: the trace travels with the room.
                    let trace = if self.server_traces { cx.debug.trace() } else { None };
                    let args = trace.as_ref().map_or("[]".into(), |t| format!("[{{\"traceparent\":\"{t}\"}}]"));
                    let id = self.contract_request(req, &[name, &room], &args, cx.out);
                    self.journal_room(name, &room, id, trace, cx);
                    self.rooms.sent(&room, join, id);
                }
                rooms::Action::Done { tab, req, error } => cx.out.post_one(tab, FromHub::Done { req, error }),
            }
        }
        self.sync_presence(cx.out);
    }

    /// Tells a contract server which tabs are in each room we hold, where that changed.
    fn sync_presence(&mut self, out: &mut Out) {
        if self.contract.speaks() != Some(true) || !self.is_connected() {
            return;
        }
        let tabs = &self.tabs;
        let held = self.rooms.held().into_iter();
        let now =
            held.map(|(room, keys)| (room, keys.iter().filter_map(|k| tabs.name(*k)).map(String::from).collect()));
        for args in self.presence.sync(now.collect()) {
            out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[contract::PRESENCE], &args));
        }
    }

    /// `sb:rooms` from the server: each tab hears the assigned rooms and its own.
    fn on_assigned(&mut self, args: &str, cx: &mut Cx) {
        if let Err(why) = self.presence.assign(args) {
            return cx.out.log(format!("namespace {}: bad {} ignored: {why}", self.nsp, contract::ASSIGNED));
        }
        // Signed in here, a guest to the server (it restarted and forgot, or the session was
        // revoked or expired): a refresh asks it, and signs every tab out if the session is gone.
        if cx.signin.state().user.is_some() && !self.presence.has_user_room() && !self.session_checked {
            self.session_checked = true;
            cx.out.log(format!("namespace {}: the server sees this socket as a guest; checking the session", self.nsp));
            cx.signin.check_session(cx.now);
        }
        for tab in self.tabs.keys() {
            if let Some(args) = self.tabs.name(tab).and_then(|n| self.presence.assigned_for(n)) {
                cx.out.post_one(tab, hub_event(contract::ASSIGNED, args));
            }
        }
    }

    /// The server announced the contract: durable emits go in `sb:emit` envelopes with
    /// receipts, we sample the clock, and ask for the numbered events we missed.
    fn on_hello(&mut self, seq: Option<u64>, cx: &mut Cx) {
        let resume_after = self.contract.hello(seq);
        self.contract_request(Request::Time { sent: cx.now }, &[contract::TIME], "[]", cx.out);
        self.announce_tabs(cx.out);
        self.sync_presence(cx.out);
        if self.shared_state.in_use() || !self.tabs.targets(contract::STATE, None, |_| true).is_empty() {
            self.contract_request(Request::StateSync, &[contract::STATE], "[]", cx.out);
        }
        for i in 0..self.leaders.len() {
            let acts = self.leaders[i].hello(&self.tabs);
            self.apply_leaders(acts, cx);
        }
        match resume_after {
            Some(after) => {
                self.contract_request(Request::Resume, &[contract::RESUME], &format!("[{after}]"), cx.out);
            }
            // Back, with no number to resume after (a server whose hello carries no `seq`).
            None if self.again => {
                cx.out.log("reconnected without a number to resume after: missed events cannot be replayed".into());
                cx.out.post(self.tabs.keys(), FromHub::Recovered { recovered: false });
            }
            None => {}
        }
        self.flush(cx);
    }

    fn on_event(&mut self, id: Option<u64>, data: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        let (event, args) = match socketio::split_leading_strings(data, 1) {
            Ok((mut names, args)) => (names.pop().unwrap_or_default(), args),
            Err(e) => return cx.out.log(format!("ignored event: {e}")),
        };
        if id.is_none() {
            self.recovery.note_event(&args);
        }
        if event == contract::HELLO {
            let limits = send::hello_limits(&args);
            self.pace = limits.map(|l| Bucket::pace(&l, cx.now));
            self.max_message = limits.map(|l| l.size);
            self.server_traces = send::hello_traces(&args);
            return self.on_hello(send::hello_seq(&args), cx);
        }
        let Routed { event, args, room, tab } = match self.contract.unwrap(event, args) {
            Ok(Some(routed)) => routed,
            Ok(None) => return, // a replay already delivered
            Err(why) => return cx.out.log(why),
        };
        if room.is_none() && event.starts_with("TOKEN_") {
            cx.signin.on_token_event(&event, &args, cx.now, cx.server_now);
        }
        if !self.repeats.fresh(&event, &args) {
            return cx.out.log(format!("namespace {}: repeated {event} dropped", self.nsp));
        }
        if room.is_none() && tab.is_none() {
            if event == contract::ASSIGNED {
                return self.on_assigned(&args, cx);
            }
            if event == contract::STATE_UPDATE {
                return self.on_state_updates(&args, false, cx);
            }
            // The hub's security state (a revocation ends the session after the tabs heard it).
            cx.security.on_event(&event, &args);
            self.on_election_event(&event, &args, cx);
        }
        let (rooms, tabs) = (&self.rooms, &self.tabs);
        // A room event reaches the tabs in the room; `tab:{id}` is each tab's own room.
        let in_room = |t: TabKey, r: &String| {
            rooms.member(t, r) || r.strip_prefix(contract::TAB_ROOM).is_some_and(|id| tabs.name(t) == Some(id))
        };
        let targets = match (event.as_str(), &room) {
            // Presence reaches every tab in the room, subscribed or not (`client.members`).
            (contract::MEMBERS, Some(r)) => self.tabs.keys().into_iter().filter(|t| in_room(*t, r)).collect(),
            _ => self.tabs.targets(&event, tab.as_deref(), |t| room.as_ref().is_none_or(|r| in_room(t, r))),
        };
        self.journal_in(&event, room.as_deref(), &args, targets.len(), cx);
        let reply = match id {
            Some(server_id) if !targets.is_empty() => Some(self.requests.reply_token(server_id)),
            _ => None,
        };
        cx.out.post(targets, FromHub::Event { event, room, args, bins, reply });
    }

    /// `LEADER_ELECTED`, `LEADER_HEARTBEAT`, `ELECTION_REQUEST` (other events: nothing). A
    /// bad one is logged and dropped.
    fn on_election_event(&mut self, event: &str, args: &str, cx: &mut Cx) {
        let parsed = match event {
            contract::LEADER_ELECTED | contract::LEADER_HEARTBEAT => {
                leader::parse_elected(args).map(|e| (e.scope.clone(), Some(e)))
            }
            contract::ELECTION_REQUEST => leader::parse_request(args).map(|s| (s, None)),
            _ => return,
        };
        let (scope, elected) = match parsed {
            Ok(p) => p,
            Err(why) => return cx.out.log(format!("namespace {}: bad {event} ignored: {why}", self.nsp)),
        };
        let Some(i) = contract::SCOPES.iter().position(|s| *s == scope) else { return };
        let acts = match elected {
            Some(e) => self.leaders[i].elected(e, &self.tabs, cx.now),
            None => self.leaders[i].election_request(&self.tabs),
        };
        self.apply_leaders(acts, cx);
    }

    fn on_ack(&mut self, id: u64, data: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        match self.requests.take(id) {
            Some(Request::Receipt) => {
                let durable = self.outbox.in_flight_id(id);
                let refused = self.outbox.receipt(id, session::refusal(data), cx.out);
                if let Some(key) = durable {
                    self.journal_answer(&key, if refused.is_some() { "refused" } else { "delivered" }, cx);
                }
                if let Some((id, reason)) = refused {
                    self.state_failed(&id, reason, cx.out);
                }
            }
            Some(Request::StateSync) => self.on_state_updates(data, true, cx),
            Some(Request::Time { sent }) => {
                let sample = self.contract.time(sent, data, cx.now, cx.wall_offset);
                if let (Ok(_), Some(rtt), true) = (&sample, self.contract.last_rtt(), cx.debug.is_on()) {
                    self.journal_ping(rtt, cx);
                }
                match sample {
                    Ok(Some((offset_ms, rtt))) => {
                        let rtt_ms = rtt.min(u32::MAX as u64) as u32;
                        cx.out.post(self.tabs.keys(), FromHub::Clock { offset_ms, rtt_ms });
                    }
                    Ok(None) => {}
                    Err(()) => cx.out.log(format!("{} ack without a time; ignored", contract::TIME)),
                }
            }
            Some(Request::Resume) => {
                let recovered = session::resumed(data);
                if !recovered {
                    cx.out.log("the server could not replay everything sent while we were away".into());
                }
                cx.out.post(self.tabs.keys(), FromHub::Recovered { recovered });
            }
            Some(Request::Tab { tab, id: call, .. }) => {
                self.journal_answer(&format!("ack{id}"), "acked", cx);
                cx.out.post_one(tab, FromHub::Ack { id: call, args: data.into(), bins })
            }
            Some(Request::Lead { tab, id }) => match session::refusal(data) {
                Some(reason) => cx.out.post_one(tab, FromHub::AckFailed { id, reason }),
                None => cx.out.post_one(tab, FromHub::Ack { id, args: "[]".into(), bins: Vec::new() }),
            },
            Some(Request::Join(room)) => {
                let error = session::refusal(data);
                self.journal_answer(&format!("ack{id}"), if error.is_some() { "refused" } else { "joined" }, cx);
                if let Some(e) = &error {
                    cx.out.log(format!("server refused to join {}: {e}", Quoted(&room)));
                }
                let actions = self.rooms.joined(&room, error);
                self.apply_rooms(actions, cx);
            }
            Some(Request::Leave(room)) => {
                self.journal_answer(&format!("ack{id}"), "left", cx);
                let actions = self.rooms.left(&room);
                self.apply_rooms(actions, cx);
            }
            None => cx.out.log(format!("ack {id} matches no pending request (late or duplicate); ignored")),
        }
    }

    // --- Time. ---

    /// Deadlines of this namespace. Returns the end of the whole connection a missed
    /// CONNECT reply calls for (as a missed Engine.IO handshake does).
    pub fn handle_timeout(&mut self, cx: &mut Cx) -> Option<End> {
        let now = cx.now;
        match self.state {
            State::Joining { deadline } if now >= deadline => return Some(End::Lost("connect timeout".into())),
            State::Retry { until, .. } if now >= until => {
                self.state = State::Down;
                self.connect(cx);
            }
            _ => {}
        }
        if self.contract.handle_timeout(now) {
            let why = "plain Socket.IO, delivery is at-least-once at best";
            cx.out.log(format!("no {} from the server: {why}", contract::HELLO));
            self.flush(cx);
        }
        for (sio, tab, id) in self.requests.expired(now) {
            // An emit still in the offline queue is withdrawn, as socket.io-client does.
            self.outbox.withdraw(sio);
            self.journal_answer(&format!("ack{sio}"), "timed out", cx);
            cx.out.post_one(tab, FromHub::AckFailed { id, reason: "operation has timed out".into() });
        }
        if self.pace_wake.is_some_and(|at| now >= at) {
            self.flush(cx);
        }
        let actions = self.rooms.handle_timeout(now);
        self.apply_rooms(actions, cx);
        for i in 0..self.leaders.len() {
            let acts = self.leaders[i].handle_timeout(&self.tabs, now);
            self.apply_leaders(acts, cx);
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        let state = match self.state {
            State::Joining { deadline } => Some(deadline),
            State::Retry { until, .. } => Some(until),
            _ => None,
        };
        let leaders = self.leaders.iter().filter_map(Leadership::poll_timeout).min();
        [
            state,
            self.requests.poll_timeout(),
            self.rooms.poll_timeout(),
            self.contract.poll_timeout(),
            leaders,
            self.pace_wake,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// One of the hub's own events for tabs.
pub(super) fn hub_event(event: &str, args: String) -> FromHub {
    FromHub::Event { event: event.into(), room: None, args, bins: Vec::new(), reply: None }
}
