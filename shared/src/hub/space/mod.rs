//! A namespace on the hub's connection: Socket.IO multiplexes namespaces over one Engine.IO
//! session, and each has its own CONNECT (and Socket.IO's connection state recovery), ack
//! ids, rooms, durable queue, contract session and tabs. The hub wires one `Space` per
//! namespace its tabs use; what they share (the WebSocket, sign-in, the output queue) comes
//! in a [`Cx`].
//!
//! A `Space` is its concerns, each a struct owning its fields, in its own file:
//! - the namespace's session with the server ([`lifecycle::NsSession`]: CONNECT, recovery,
//!   retries, the contract session);
//! - subscriptions and delivery ([`delivery::Delivery`]: the tabs, their rooms, routing);
//! - the tab directory and state reports ([`directory::Directory`]: status, tab list,
//!   presence, election scopes);
//! - the send path ([`send::SendPath`]: the durable queue, pending requests, the server's pace);
//! - shared state ([`SharedState`], wired in `state.rs`);
//! - the debug journal (`journal.rs`) and the inspector (`inspect.rs`), which only read.
//!
//! This file routes: a tab attaching or leaving, and the server's events and acks.
//! Invariant: a namespace's refusal (CONNECT_ERROR, DISCONNECT) ends only its own session;
//! the connection and the other namespaces go on.

mod delivery;
mod directory;
mod input;
mod inspect;
mod journal;
mod lifecycle;
mod send;
mod state;

use super::conn::End;
use super::debug::DebugLog;
use super::out::Out;
use super::recovery::Recovery;
use super::requests::Request;
use super::rooms;
use super::security::Security;
use super::session::{self, ContractSession, Routed};
use super::signin::SignIn;
use super::state::SharedState;
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
use delivery::Delivery;
use directory::Directory;
use lifecycle::{NsSession, State};
use send::SendPath;

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

pub struct Space {
    nsp: String,
    session: NsSession,
    reach: Delivery,
    dir: Directory,
    send: SendPath,
    shared_state: SharedState,
}

impl Space {
    pub fn new(key: HubKey, config: &HubConfig, shared: Rc<Shared>, seed: u64) -> Space {
        Space {
            nsp: key.0.namespace.clone(),
            session: NsSession::new(config, seed),
            reach: Delivery::new(config.join_timeout_ms()),
            dir: Directory::new(),
            shared_state: SharedState::new(key.clone(), shared.clone()),
            send: SendPath::new(key, config, shared),
        }
    }

    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// The tabs attached to this namespace.
    pub(super) fn tabs(&self) -> &super::tabs::Tabs {
        &self.reach.tabs
    }

    /// Whether the connection should carry this namespace: tabs, or emits to deliver.
    pub fn wanted(&self) -> bool {
        !self.reach.tabs.is_empty() || self.send.outbox.undelivered() > 0
    }

    /// Refused (and not retrying): it waits for something to change.
    pub fn refused(&self) -> bool {
        matches!(self.session.state, State::Refused { .. })
    }

    /// The tabs' view: the link's status, refined by this namespace once the link is open.
    pub fn status(&self, link: Status, link_open: bool) -> Status {
        self.session.status(link, link_open)
    }

    pub fn server_rooms(&self) -> Vec<String> {
        self.reach.rooms.server_rooms()
    }

    pub fn queued(&self) -> usize {
        self.send.outbox.queued()
    }

    pub fn undelivered(&self) -> usize {
        self.send.outbox.undelivered()
    }

    pub fn audit(&self) -> Result<BTreeSet<String>, String> {
        self.send.outbox.audit()
    }

    pub fn clock(&self) -> Option<(i64, u64)> {
        self.session.contract.clock()
    }

    /// Debug mode, at each Engine.IO ping: an `sb:time` probe, whose round trip is the
    /// inspector's ping RTT (Engine.IO v4 pings come from the server; a client cannot time
    /// them). Only to a server that speaks the contract.
    pub fn probe_rtt(&mut self, cx: &mut Cx) -> bool {
        if !self.session.can_send() {
            return false;
        }
        self.contract_request(Request::Time { sent: cx.now }, &[contract::TIME], "[]", cx.out);
        true
    }

    // --- Tabs. ---

    pub fn attach(&mut self, tab: TabKey, name: String, link: Status, cx: &mut Cx) {
        self.reach.tabs.attach(tab, name);
        let status = self.status(link, cx.link_open);
        cx.out.post_one(tab, FromHub::Welcome { version: PROTOCOL_VERSION, status });
        if let Some((offset_ms, rtt)) = self.session.contract.clock() {
            cx.out.post_one(tab, FromHub::Clock { offset_ms, rtt_ms: rtt.min(u32::MAX as u64) as u32 });
        }
        self.publish_tabs(cx);
        self.tell_assigned(tab, cx.out);
        // A new tab tries a refused namespace again, as a reload would.
        self.reset();
        self.connect(cx);
    }

    pub fn detach(&mut self, tab: TabKey, cx: &mut Cx) {
        if !self.reach.tabs.contains(tab) {
            return;
        }
        // A leader that leaves resigns (while its name is still known).
        let acts = self.dir.detach(tab, &self.reach.tabs, cx.now);
        self.apply_leaders(acts, cx);
        self.reach.tabs.detach(tab);
        let actions = self.reach.rooms.detach(tab, self.session.is_connected(), cx.now);
        self.apply_rooms(actions, cx);
        // The tab's acks can no longer be delivered; its queued emits still go out.
        self.send.requests.detach(tab);
        self.send.outbox.detach(tab, cx.out);
        self.shared_state.detach(tab);
        self.publish_tabs(cx);
    }

    /// An event the hub makes (`contract::HUB_*`, `sb:state`) to the tabs that subscribed to it.
    pub fn notify(&self, event: &str, args: &str, out: &mut Out) {
        out.post(self.reach.tabs.targets(event, None, |_| true), hub_event(event, args.into()));
    }

    // --- The contract and routing. ---

    /// Sends one of the contract's requests (`names` then `args`) with an ack id owned by `req`.
    fn contract_request(&mut self, req: Request, names: &[&str], args: &str, out: &mut Out) -> u64 {
        let id = self.send.requests.insert(req);
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
                    let trace = if self.send.traces() { cx.debug.trace() } else { None };
                    let args = trace.as_ref().map_or("[]".into(), |t| format!("[{{\"traceparent\":\"{t}\"}}]"));
                    let id = self.contract_request(req, &[name, &room], &args, cx.out);
                    self.journal_room(name, &room, id, trace, cx);
                    self.reach.rooms.sent(&room, join, id);
                }
                rooms::Action::Done { tab, req, error } => cx.out.post_one(tab, FromHub::Done { req, error }),
            }
        }
        self.sync_presence(cx.out);
    }

    /// The server announced the contract: durable emits go in `sb:emit` envelopes with
    /// receipts, we sample the clock, and ask for the numbered events we missed.
    fn on_hello(&mut self, seq: Option<u64>, cx: &mut Cx) {
        let resume_after = self.session.contract.hello(seq);
        self.contract_request(Request::Time { sent: cx.now }, &[contract::TIME], "[]", cx.out);
        self.announce_tabs(cx.out);
        self.sync_presence(cx.out);
        if self.shared_state.in_use() || !self.reach.tabs.targets(contract::STATE, None, |_| true).is_empty() {
            self.contract_request(Request::StateSync, &[contract::STATE], "[]", cx.out);
        }
        let acts = self.dir.hello(&self.reach.tabs);
        self.apply_leaders(acts, cx);
        match resume_after {
            Some(after) => {
                self.contract_request(Request::Resume, &[contract::RESUME], &format!("[{after}]"), cx.out);
            }
            // Back, with no number to resume after (a server whose hello carries no `seq`).
            None if self.session.again => {
                cx.out.log("reconnected without a number to resume after: missed events cannot be replayed".into());
                cx.out.post(self.reach.tabs.keys(), FromHub::Recovered { recovered: false });
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
            self.session.note_event(&args);
        }
        if event == contract::HELLO {
            self.send.hello(&args, cx.now);
            return self.on_hello(send::hello_seq(&args), cx);
        }
        let routed = match self.session.contract.unwrap(event, args) {
            Ok(Some(routed)) => routed,
            Ok(None) => return, // a replay already delivered
            Err(why) => return cx.out.log(why),
        };
        let Routed { event, args, room, tab } = &routed;
        if room.is_none() && event.starts_with("TOKEN_") {
            cx.signin.on_token_event(event, args, cx.now, cx.server_now);
        }
        if !self.reach.fresh(event, args) {
            return cx.out.log(format!("namespace {}: repeated {event} dropped", self.nsp));
        }
        if room.is_none() && tab.is_none() {
            if event == contract::ASSIGNED {
                return self.on_assigned(args, cx);
            }
            if event == contract::STATE_UPDATE {
                return self.on_state_updates(args, false, cx);
            }
            // The hub's security state (a revocation ends the session after the tabs heard it).
            cx.security.on_event(event, args);
            self.on_election_event(event, args, cx);
        }
        self.deliver(id, routed, bins, cx);
    }

    /// A server event to the tabs it reaches (an event that asks for an ack gets a reply
    /// token, which the first tab to answer uses).
    fn deliver(&mut self, id: Option<u64>, routed: Routed, bins: Vec<Bytes>, cx: &mut Cx) {
        let Routed { event, args, room, tab } = routed;
        let targets = self.reach.targets(&event, room.as_deref(), tab.as_deref());
        self.journal_in(&event, room.as_deref(), &args, targets.len(), cx);
        let reply = match id {
            Some(server_id) if !targets.is_empty() => Some(self.send.requests.reply_token(server_id)),
            _ => None,
        };
        cx.out.post(targets, FromHub::Event { event, room, args, bins, reply });
    }

    fn on_ack(&mut self, id: u64, data: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        match self.send.requests.take(id) {
            Some(Request::Receipt) => {
                let durable = self.send.outbox.in_flight_id(id);
                let refused = self.send.outbox.receipt(id, session::refusal(data), cx.out);
                if let Some(key) = durable {
                    self.journal_answer(&key, if refused.is_some() { "refused" } else { "delivered" }, cx);
                }
                if let Some((id, reason)) = refused {
                    self.state_failed(&id, reason, cx.out);
                }
            }
            Some(Request::StateSync) => self.on_state_updates(data, true, cx),
            Some(Request::Time { sent }) => self.on_time(sent, data, cx),
            Some(Request::Resume) => {
                let recovered = session::resumed(data);
                if !recovered {
                    cx.out.log("the server could not replay everything sent while we were away".into());
                }
                cx.out.post(self.reach.tabs.keys(), FromHub::Recovered { recovered });
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
                let actions = self.reach.rooms.joined(&room, error);
                self.apply_rooms(actions, cx);
            }
            Some(Request::Leave(room)) => {
                self.journal_answer(&format!("ack{id}"), "left", cx);
                let actions = self.reach.rooms.left(&room);
                self.apply_rooms(actions, cx);
            }
            None => cx.out.log(format!("ack {id} matches no pending request (late or duplicate); ignored")),
        }
    }
}

impl Space {
    /// The answer to an `sb:time` probe sent at `sent`: the clock the tabs use.
    fn on_time(&mut self, sent: Millis, data: &str, cx: &mut Cx) {
        let sample = self.session.contract.time(sent, data, cx.now, cx.wall_offset);
        if let (Ok(_), Some(rtt), true) = (&sample, self.session.contract.last_rtt(), cx.debug.is_on()) {
            self.journal_ping(rtt, cx);
        }
        match sample {
            Ok(Some((offset_ms, rtt))) => {
                let rtt_ms = rtt.min(u32::MAX as u64) as u32;
                cx.out.post(self.reach.tabs.keys(), FromHub::Clock { offset_ms, rtt_ms });
            }
            Ok(None) => {}
            Err(()) => cx.out.log(format!("{} ack without a time; ignored", contract::TIME)),
        }
    }
}

/// One of the hub's own events for tabs.
pub(super) fn hub_event(event: &str, args: String) -> FromHub {
    FromHub::Event { event: event.into(), room: None, args, bins: Vec::new(), reply: None }
}
