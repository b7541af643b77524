//! What a namespace sends for its tabs: their emits checked, taken on (sent now, or
//! queued, durable ones also stored), scoped to a room, replied; and the durable queue
//! flushed once the socket can take it. The rest of [`Space`] is in the parent module.

use super::{Cx, Space};
use crate::contract;
use crate::hub::limits::Bucket;
use crate::hub::out::Out;
use crate::hub::outbox::{Emit, Outbox};
use crate::hub::requests::{Request, Requests};
use crate::hub::{HubConfig, HubKey, Millis, Shared, TabKey};
use crate::json::{self, Quoted, Value};
use crate::port::{AckRequest, Bytes, ErrorCode, FromHub};
use crate::socketio;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Event names a tab may not emit: Socket.IO reserves these, and [`contract::PREFIX`]
/// starts the hub's own contract with the server.
const RESERVED: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// Why a `to(room)` emit cannot go to a plain Socket.IO server.
const TO_NEEDS_CONTRACT: &str = "to(room) needs a server that speaks the Switchboard contract (sb:to)";

/// The send path's own fields: the durable queue, the requests waiting for the server's
/// answer, and what the server announced of its limits (pace, largest message, traces).
pub(super) struct SendPath {
    pub(super) outbox: Outbox,
    pub(super) requests: Requests,
    /// The pace of what goes to a server that announced its limits, and when to go on.
    pace: Option<Bucket>,
    pace_wake: Option<Millis>,
    /// The largest message the server announced (below the Engine.IO `maxPayload`).
    max_message: Option<usize>,
    /// The server reads a trace after a join's or leave's room (`sb:hello` said `trace`).
    traces: bool,
}

impl SendPath {
    pub(super) fn new(key: HubKey, config: &HubConfig, shared: Rc<Shared>) -> SendPath {
        let outbox = Outbox::new(key, config, shared);
        SendPath {
            outbox,
            requests: Requests::default(),
            pace: None,
            pace_wake: None,
            max_message: None,
            traces: false,
        }
    }

    /// What the server's `sb:hello` announced: its limits and whether it reads traces.
    pub(super) fn hello(&mut self, args: &str, now: Millis) {
        let limits = hello_limits(args);
        self.pace = limits.map(|l| Bucket::pace(&l, now));
        self.max_message = limits.map(|l| l.size);
        self.traces = hello_traces(args);
    }

    pub(super) fn traces(&self) -> bool {
        self.traces
    }

    /// Whether one more emit may go now at the server's pace; if not, when to try again.
    fn paced(&mut self, now: Millis) -> bool {
        let Some(pace) = self.pace.as_mut() else { return true };
        if pace.take(now).is_ok() {
            return true;
        }
        self.pace_wake = Some(pace.next_at(now));
        false
    }

    /// The next queued emit the pace lets go now.
    fn next_paced(&mut self, now: Millis) -> Option<Emit> {
        (self.outbox.queued() > 0 && self.paced(now)).then(|| self.outbox.pop()).flatten()
    }

    /// The largest emit: the Engine.IO `maxPayload`, or less if the server announced less.
    fn max_payload(&self, engine: usize) -> usize {
        engine.min(self.max_message.unwrap_or(usize::MAX))
    }

    pub(super) fn wake_due(&self, now: Millis) -> bool {
        self.pace_wake.is_some_and(|at| now >= at)
    }

    pub(super) fn poll_timeout(&self) -> Option<Millis> {
        self.requests.poll_timeout().into_iter().chain(self.pace_wake).min()
    }

    /// The session ended: emits in flight back to the queue; what waited on the server fails.
    pub(super) fn end_session(&mut self, out: &mut Out) {
        self.outbox.end_session(out);
        let outbox = &self.outbox;
        for (tab, id) in self.requests.take_sent_tab_acks(|sio| outbox.queues_ack(sio)) {
            out.post_one(tab, FromHub::AckFailed { id, reason: contract::ACK_DISCONNECTED.into() });
        }
        self.requests.end_session();
        for (tab, id) in self.requests.take_leads() {
            let reason = "the connection ended before the server answered the leader command".into();
            out.post_one(tab, FromHub::AckFailed { id, reason });
        }
    }
}

impl Space {
    /// A tab's answer to a server event that asked for an ack (the first answer wins).
    pub(super) fn tab_reply(&mut self, tab: TabKey, token: u32, args: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        let Some(server_id) = self.send.requests.take_reply(token) else { return };
        if let Err(e) = check_args(args) {
            let message = format!("reply: {e}");
            return cx.out.post_one(tab, FromHub::Error { code: ErrorCode::BadPayload, message });
        }
        cx.out.send_sio(&socketio::encode_ack(&self.nsp, bins.len(), server_id, args));
        for b in bins {
            cx.out.send_binary(b.0);
        }
    }

    /// Why a tab may not emit this, if it may not.
    fn check_emit(e: &Emit, max_payload: usize) -> Result<(), (String, ErrorCode)> {
        let event = &e.event;
        if event.is_empty()
            || event.len() > contract::MAX_NAME
            || RESERVED.contains(&event.as_str())
            || event.starts_with(contract::PREFIX)
        {
            return Err((format!("{} is not an event name a tab may emit", Quoted(event)), ErrorCode::BadPayload));
        }
        check_args(&e.args).map_err(|err| (format!("emit {}: {err}", Quoted(event)), ErrorCode::BadPayload))?;
        if e.size() > max_payload {
            let message = format!("emit {}: {} bytes exceeds the server's maxPayload", Quoted(event), e.size());
            return Err((message, ErrorCode::BadPayload));
        }
        Ok(())
    }

    /// `emitAsLeader`: `sb:lead [term, event, ...args]` from a tab that believes it leads in
    /// `term`. The hub refuses a tab that does not lead or names a stale term; a server that
    /// takes part in the election checks the claim again (its receipt settles the call); with
    /// the hub deciding alone the event goes out plainly and the call resolves once sent.
    pub(super) fn tab_lead(&mut self, tab: TabKey, args: &str, binary: bool, ack: Option<AckRequest>, cx: &mut Cx) {
        let Some(ack) = ack else {
            let message = format!("{} needs an ack (emitAsLeader)", contract::LEAD);
            return cx.out.post_one(tab, FromHub::Error { code: ErrorCode::BadPayload, message });
        };
        let fail = |out: &mut Out, reason: String| out.post_one(tab, FromHub::AckFailed { id: ack.id, reason });
        if binary {
            return fail(cx.out, "emitAsLeader takes JSON arguments only (no binary)".into());
        }
        let (term, e) = match split_lead(args) {
            Ok(v) => v,
            Err(why) => return fail(cx.out, format!("emitAsLeader: {why}")),
        };
        if let Err((reason, _)) = Self::check_emit(&e, self.max_payload(cx)) {
            return fail(cx.out, reason);
        }
        let Some(leadership) = self.dir.leadership_of(tab) else {
            return fail(cx.out, "emitAsLeader: this tab takes part in no election yet".into());
        };
        let claim = match leadership.lead(tab, term, &self.reach.tabs) {
            Ok(claim) => claim,
            Err(why) => return fail(cx.out, why),
        };
        if !self.session.is_connected() {
            return fail(cx.out, "emitAsLeader: not connected (a leader command is never queued)".into());
        }
        match claim {
            Some(claim) => {
                let mut head = format!("[{claim},");
                json::write_string(&mut head, &e.event);
                let args = prepend(&e.args, &head[1..]);
                self.contract_request(Request::Lead { tab, id: ack.id }, &[contract::LEAD], &args, cx.out);
            }
            None => {
                self.send_emit(e, cx.out);
                cx.out.post_one(tab, FromHub::Ack { id: ack.id, args: "[]".into(), bins: Vec::new() });
            }
        }
    }

    /// A tab's emit: volatile (now or never), with an ack (until its timeout), or durable
    /// (until the server's receipt, through storage while offline).
    pub(super) fn tab_emit(
        &mut self,
        tab: TabKey,
        seq: u32,
        mut e: Emit,
        ack: Option<AckRequest>,
        volatile: bool,
        cx: &mut Cx,
    ) {
        let durable = ack.is_none() && !volatile;
        let refuse = |out: &mut Out, reason: String, code: ErrorCode| {
            let msg = match ack {
                Some(a) => FromHub::AckFailed { id: a.id, reason },
                None if durable => FromHub::Refused { seq, reason },
                None => FromHub::Error { code, message: reason },
            };
            out.post_one(tab, msg);
        };
        if let Err((reason, code)) = Self::check_emit(&e, self.max_payload(cx)) {
            self.journal_out(tab, &mut e, "refused", cx);
            return refuse(cx.out, reason, code);
        }
        if volatile {
            // Socket.IO semantics: a volatile event is sent now or never.
            let now = self.session.is_connected() && self.send.paced(cx.now);
            self.journal_out(tab, &mut e, if now { "sent" } else { "dropped (volatile)" }, cx);
            if now {
                self.send_emit(e, cx.out);
            }
            return;
        }
        self.accept(tab, seq, e, ack, cx);
    }

    /// A checked emit the hub takes on: sent now, or queued (durable ones also stored).
    fn accept(&mut self, tab: TabKey, seq: u32, mut e: Emit, ack: Option<AckRequest>, cx: &mut Cx) {
        let durable = ack.is_none();
        let id = format!("{}-{seq}", self.reach.tabs.name(tab).unwrap_or_default());
        if durable && self.send.outbox.holds(&id) {
            // A page resending to a restarted hub: we already hold it.
            return cx.out.post_one(tab, FromHub::Stored { seq });
        }
        if let Some(why) = self.send.outbox.full(e.size()).filter(|_| !self.session.can_send()) {
            let reason = format!("{why}: emit {} was not queued", Quoted(&e.event));
            self.journal_out(tab, &mut e, "refused", cx);
            let msg = match ack {
                Some(a) => FromHub::AckFailed { id: a.id, reason },
                None => FromHub::Refused { seq, reason },
            };
            return cx.out.post_one(tab, msg);
        }
        if durable {
            e.durable = Some(self.send.outbox.durable(id, tab, seq, cx.server_now));
        }
        e.ack = ack.map(|a| {
            let deadline = (a.timeout_ms > 0).then(|| cx.now + a.timeout_ms as u64);
            self.send.requests.insert(Request::Tab { tab, id: a.id, deadline })
        });
        // Behind what is queued, and within the server's pace, or queued. An emit that is not
        // durable is the same on the wire whether the server speaks the contract or not: it
        // does not wait for the server's sb:hello (a plain server never sends one).
        let ready = if durable { self.session.can_send() } else { self.session.is_connected() };
        if ready && self.send.outbox.queued() == 0 && self.send.paced(cx.now) {
            self.journal_out(tab, &mut e, "sent", cx);
            self.send_queued(e, cx);
        } else {
            self.journal_out(tab, &mut e, "queued", cx);
            self.send.outbox.push(e, cx.out);
        }
    }

    /// A durable emit to the other members of `room`: checked like any emit, and the tab must
    /// be in the room; its room-mates on this hub get it at once, the others through the
    /// server (`sb:to` inside the durable envelope).
    pub(super) fn tab_emit_to(&mut self, tab: TabKey, seq: u32, room: String, e: Emit, cx: &mut Cx) {
        let refused = match Self::check_emit(&e, self.max_payload(cx)) {
            Err((reason, _)) => Some(reason),
            Ok(()) if !self.reach.rooms.member(tab, &room) => {
                Some(format!("to({}): this tab is not in that room", Quoted(&room)))
            }
            Ok(()) if self.session.contract.speaks() == Some(false) => Some(TO_NEEDS_CONTRACT.into()),
            Ok(()) => None,
        };
        if let Some(reason) = refused {
            return cx.out.post_one(tab, FromHub::Refused { seq, reason });
        }
        let mates = self.reach.mates(tab, &room, &e.event);
        let local = FromHub::Event {
            event: e.event.clone(),
            room: Some(room.clone()),
            args: e.args.clone(),
            bins: e.bins.clone(),
            reply: None,
        };
        cx.out.post(mates, local);
        let mut args = String::from("[");
        json::write_string(&mut args, &room);
        args.push(',');
        json::write_string(&mut args, &e.event);
        let rest = e.args.trim_start().strip_prefix('[').unwrap_or("]");
        if !rest.trim_start().starts_with(']') {
            args.push(',');
        }
        args.push_str(rest);
        let wrapped = Emit { event: contract::TO.into(), args, bins: e.bins, ack: None, durable: None, trace: None };
        self.accept(tab, seq, wrapped, None, cx);
    }

    // --- The outbox. ---

    /// Restored stored emits join the front of the queue, in their original order.
    pub fn handle_persisted(&mut self, keys: &[u64], out: &mut Out) {
        self.send.outbox.persisted(keys, out);
    }

    /// The session was revoked: what it queued (memory and storage) and the state it cached
    /// go; waiting writers hear why.
    pub fn drop_session(&mut self, reason: &str, out: &mut Out) {
        for id in self.send.outbox.drop_all(reason, out) {
            self.state_failed(&id, reason.into(), out);
        }
        self.clear_state(out);
    }

    /// Sends what is queued, oldest first, once the socket can take it, at the server's pace
    /// (when it announced one); the rest when the pace allows (`pace_wake`).
    pub(super) fn flush(&mut self, cx: &mut Cx) {
        self.send.pace_wake = None;
        if !self.session.can_send() {
            return;
        }
        while let Some(e) = self.send.next_paced(cx.now) {
            self.send_queued(e, cx);
        }
    }

    /// The largest emit: the Engine.IO `maxPayload`, or less if the server announced less.
    pub(super) fn max_payload(&self, cx: &Cx) -> usize {
        self.send.max_payload(cx.max_payload)
    }

    /// Acks that timed out: the tab hears so (an emit still in the offline queue is withdrawn,
    /// as socket.io-client does).
    pub(super) fn expire_requests(&mut self, cx: &mut Cx) {
        for (sio, tab, id) in self.send.requests.expired(cx.now) {
            self.send.outbox.withdraw(sio);
            self.journal_answer(&format!("ack{sio}"), "timed out", cx);
            cx.out.post_one(tab, FromHub::AckFailed { id, reason: "operation has timed out".into() });
        }
    }

    pub(super) fn send_queued(&mut self, mut e: Emit, cx: &mut Cx) {
        let Some(d) = e.durable.as_ref() else { return self.send_emit(e, cx.out) };
        if e.event == contract::STATE_SET && self.session.contract.speaks() == Some(false) {
            // Queued before we knew the server is plain: it could never settle.
            let id = d.id.clone();
            self.send.outbox.refuse(e, super::state::STATE_NEEDS_CONTRACT.into(), cx.out);
            return self.state_failed(&id, super::state::STATE_NEEDS_CONTRACT.into(), cx.out);
        }
        if self.send.outbox.expired(&e, cx.server_now) {
            return self.send.outbox.expire(e, cx.out);
        }
        if self.session.contract.speaks() == Some(true) {
            if self.send.traces() && cx.debug.is_on() {
                // Its trace is derived from its id: announced so the receipt names it.
                self.send_trace(&contract::traceparent(&d.id), cx.out);
            }
            let sio = self.send.requests.insert(Request::Receipt);
            let names = [contract::EMIT, d.id.as_str(), e.event.as_str()];
            cx.out.send_sio(&socketio::encode_event(&self.nsp, e.bins.len(), Some(sio), &names, &e.args));
            // Kept (with its attachments) until the server's receipt: resent after a drop.
            for bin in &e.bins {
                cx.out.send_binary(bin.0.clone());
            }
            self.send.outbox.sent(sio, e);
        } else if e.event == contract::TO {
            self.send.outbox.refuse(e, TO_NEEDS_CONTRACT.into(), cx.out);
        } else {
            // A plain server gives no receipt: written to the socket is as far as we know.
            let bins = core::mem::take(&mut e.bins);
            self.send_raw_emit(&e.event, &e.args, bins, None, None, cx.out);
            self.send.outbox.delivered(e, cx.out);
        }
    }

    fn send_emit(&mut self, e: Emit, out: &mut Out) {
        self.send_raw_emit(&e.event, &e.args, e.bins, e.ack, e.trace.as_deref(), out);
    }

    fn send_raw_emit(
        &mut self,
        event: &str,
        args: &str,
        bins: Vec<Bytes>,
        ack: Option<u64>,
        trace: Option<&str>,
        out: &mut Out,
    ) {
        if let Some(t) = trace.filter(|_| self.send.traces()) {
            self.send_trace(t, out);
        }
        out.send_sio(&socketio::encode_event(&self.nsp, bins.len(), ack, &[event], args));
        for b in bins {
            out.send_binary(b.0);
        }
    }
}

impl Space {
    /// `sb:trace [traceparent]`: the server continues this trace for the next event it gets
    /// on this socket (debug mode, to a server that announced `trace`).
    fn send_trace(&self, trace: &str, out: &mut Out) {
        let args = crate::json::strings([trace]);
        out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[contract::TRACE], &args));
    }
}

/// Arguments from a tab must be one well-formed JSON array.
fn check_args(args: &str) -> Result<(), String> {
    if !args.trim_start().starts_with('[') {
        return Err("arguments must be a JSON array".into());
    }
    json::validate(args).map_err(|e| e.to_string())
}

/// `[term, event, ...args]` → the term and the emit.
fn split_lead(args: &str) -> Result<(u64, Emit), String> {
    let mut s = json::Scanner::new(args);
    if !s.eat(b'[') {
        return Err("expected [term, event, ...args]".into());
    }
    s.skip_ws();
    let term = s.value(1).ok().and_then(|v| v.as_u64()).ok_or("the term must be a whole number")?;
    if !s.eat(b',') {
        return Err("an event name must follow the term".into());
    }
    let rest = format!("[{}", &args[s.pos..]);
    let (mut names, args) = socketio::split_leading_strings(&rest, 1).map_err(|e| format!("{e}"))?;
    let event = names.pop().unwrap_or_default();
    Ok((term, Emit { event, args, bins: Vec::new(), ack: None, durable: None, trace: None }))
}

/// `items` (JSON text, comma-separated) put in front of a JSON array's elements.
fn prepend(array: &str, items: &str) -> String {
    let inner = array.trim().strip_prefix('[').unwrap_or("]").trim_start();
    match inner.starts_with(']') {
        true => format!("[{items}]"),
        false => format!("[{items},{inner}"),
    }
}

/// The limits a server announced in `sb:hello` (`[{"limits": {size, rate, burst}}]`).
pub(super) fn hello_limits(args: &str) -> Option<contract::Limits> {
    let Ok(Value::Array(items)) = json::parse(args) else { return None };
    let l = items.first()?.get("limits")?;
    let field = |n: &str| l.get(n).and_then(Value::as_u64);
    Some(contract::Limits {
        size: field("size")? as usize,
        rate: field("rate")?.min(u32::MAX as u64) as u32,
        burst: field("burst")?.min(u32::MAX as u64) as u32,
    })
}

/// The replay log's last number the server announced in `sb:hello` (`seq`).
pub(super) fn hello_seq(args: &str) -> Option<u64> {
    let Ok(Value::Array(items)) = json::parse(args) else { return None };
    items.first()?.get("seq")?.as_u64()
}

/// Whether the server announced in `sb:hello` that it reads a join's or leave's trace.
pub(super) fn hello_traces(args: &str) -> bool {
    let Ok(Value::Array(items)) = json::parse(args) else { return false };
    items.first().and_then(|h| h.get("trace")).is_some_and(|t| matches!(t, Value::Bool(true)))
}
