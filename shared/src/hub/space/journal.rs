//! What a namespace writes to the hub's debug log ([`crate::hub::debug`]): a tab's emit and
//! its outcome (sent, queued, refused), its ack or receipt with the time it took, and the
//! server's events with how many tabs got them. While debug mode is off every call returns
//! at its first line.

use super::{Cx, Space};
use crate::hub::debug::{Dir, Entry};
use crate::hub::outbox::Emit;
use crate::hub::TabKey;
use alloc::format;
use alloc::string::String;

impl Space {
    /// A tab's emit: `outcome`; a durable or acked one then waits for its receipt or ack.
    pub(super) fn journal_out(&self, tab: TabKey, e: &mut Emit, outcome: &'static str, cx: &mut Cx) {
        if !cx.debug.is_on() {
            return;
        }
        let key = match (&e.durable, e.ack) {
            (Some(d), _) => Some(d.id.clone()),
            (None, Some(ack)) => Some(format!("ack{ack}")),
            _ => None,
        };
        // A durable emit's trace is its id's (the server derives the same); others' are new.
        e.trace = match &e.durable {
            Some(d) => Some(crate::contract::traceparent(&d.id)),
            None => cx.debug.trace(),
        };
        let entry = Entry {
            seq: 0,
            at: cx.server_now,
            dir: Dir::Out,
            nsp: self.nsp.clone(),
            tab: self.reach.tabs.name(tab).map(String::from),
            tabs: 0,
            event: e.event.clone(),
            room: None,
            bytes: e.size(),
            ack: e.ack,
            ack_ms: None,
            trace: e.trace.clone(),
            outcome,
            payload: cx.debug.payload(&e.args),
        };
        let wait = key.as_deref().filter(|_| outcome != "refused").map(|k| (k, cx.now));
        cx.debug.record(entry, wait);
    }

    /// The hub's join or leave of `room` on the server (`sb:join` / `sb:leave`, ack `ack`).
    pub(super) fn journal_room(&self, name: &str, room: &str, ack: u64, trace: Option<String>, cx: &mut Cx) {
        if !cx.debug.is_on() {
            return;
        }
        let trace = trace.or_else(|| cx.debug.trace());
        let entry = Entry {
            seq: 0,
            at: cx.server_now,
            dir: Dir::Out,
            nsp: self.nsp.clone(),
            tab: None,
            tabs: 0,
            event: name.into(),
            room: Some(room.into()),
            bytes: room.len(),
            ack: Some(ack),
            ack_ms: None,
            trace,
            outcome: "sent",
            payload: None,
        };
        cx.debug.record(entry, Some((&format!("ack{ack}"), cx.now)));
    }

    /// The answer to a waiting emit: its ack (`ack{id}`) or its receipt (its durable id).
    pub(super) fn journal_answer(&self, key: &str, outcome: &'static str, cx: &mut Cx) {
        if cx.debug.is_on() {
            cx.debug.answered(&self.nsp, key, outcome, cx.now, cx.server_now);
        }
    }

    /// An `sb:time` probe's round trip (a ping span).
    pub(super) fn journal_ping(&self, rtt: u64, cx: &mut Cx) {
        let entry = Entry {
            seq: 0,
            at: cx.server_now,
            dir: Dir::Hub,
            nsp: self.nsp.clone(),
            tab: None,
            tabs: 0,
            event: crate::contract::TIME.into(),
            room: None,
            bytes: 0,
            ack: None,
            ack_ms: Some(rtt),
            trace: cx.debug.trace(),
            outcome: "ping",
            payload: None,
        };
        cx.debug.record(entry, None);
    }

    /// A server event and the tabs it reached.
    pub(super) fn journal_in(&self, event: &str, room: Option<&str>, args: &str, tabs: usize, cx: &mut Cx) {
        if !cx.debug.is_on() {
            return;
        }
        let entry = Entry {
            seq: 0,
            at: cx.server_now,
            dir: Dir::In,
            nsp: self.nsp.clone(),
            tab: None,
            tabs,
            event: event.into(),
            room: room.map(String::from),
            bytes: args.len(),
            ack: None,
            ack_ms: None,
            trace: None,
            outcome: if tabs == 0 { "no listener" } else { "delivered" },
            payload: cx.debug.payload(args),
        };
        cx.debug.record(entry, None);
    }
}
