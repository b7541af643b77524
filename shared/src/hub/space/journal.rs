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
            tab: self.tabs.name(tab).map(String::from),
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

const LEVELS: [&str; 4] = ["frozen", "hidden", "passive", "active"];

impl Space {
    /// The namespace as `client.inspect()` shows it: status, its tabs (visibility, leader,
    /// rooms, subscriptions), rooms with their tabs, the queue and what is in flight.
    pub fn inspect(&self) -> String {
        use crate::json::write_string;
        let mut s = String::from("{\"nsp\":");
        write_string(&mut s, &self.nsp);
        let (status, sid) = match &self.state {
            super::State::Connected { sid } => ("connected", Some(sid.as_str())),
            super::State::Joining { .. } => ("connecting", None),
            super::State::Refused { .. } => ("refused", None),
            super::State::Retry { .. } => ("retrying", None),
            super::State::Down => ("down", None),
        };
        s.push_str(&format!(",\"status\":\"{status}\",\"sid\":"));
        match sid {
            Some(sid) => write_string(&mut s, sid),
            None => s.push_str("null"),
        }
        let contract = self.contract.speaks().map_or("null", |b| if b { "true" } else { "false" });
        let rtt = self.contract.last_rtt().map_or("null".into(), |r| format!("{r}"));
        s.push_str(&format!(",\"contract\":{contract},\"pingRtt\":{rtt},\"tabs\":["));
        let held = self.rooms.held();
        for (i, tab) in self.tabs.keys().into_iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"id\":");
            write_string(&mut s, self.tabs.name(tab).unwrap_or_default());
            let level = self.leaders.iter().find_map(|l| l.level(tab)).and_then(|l| LEVELS.get(l as usize));
            s.push_str(&format!(",\"visibility\":{}", level.map_or("null".into(), |l| format!("\"{l}\""))));
            let leads =
                self.leaders.iter().any(|l| l.has(tab) && l.current(&self.tabs).tab.as_deref() == self.tabs.name(tab));
            s.push_str(&format!(",\"leader\":{leads},\"rooms\":"));
            s.push_str(&crate::json::strings(
                held.iter().filter(|(_, tabs)| tabs.contains(&tab)).map(|(r, _)| r.as_str()),
            ));
            s.push_str(",\"subscriptions\":");
            let subs = self.tabs.subscriptions(tab);
            s.push_str(&crate::json::strings(subs.iter().map(String::as_str)));
            s.push('}');
        }
        s.push_str("],\"rooms\":[");
        for (i, (room, tabs)) in held.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"room\":");
            write_string(&mut s, room);
            s.push_str(",\"tabs\":");
            s.push_str(&crate::json::strings(tabs.iter().filter_map(|t| self.tabs.name(*t))));
            s.push('}');
        }
        let oldest = self.outbox.oldest().map_or("null".into(), |t| format!("{t}"));
        s.push_str(&format!(
            "],\"queue\":{{\"count\":{},\"bytes\":{},\"oldest\":{oldest}}},\"inFlight\":{},\"leaders\":[",
            self.outbox.queued(),
            self.outbox.bytes(),
            self.outbox.in_flight()
        ));
        for (i, l) in self.leaders.iter().map(|l| l.current(&self.tabs)).enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{{\"scope\":\"{}\",\"term\":{},\"leader\":", l.scope, l.term));
            match &l.tab {
                Some(t) => write_string(&mut s, t),
                None => s.push_str("null"),
            }
            s.push('}');
        }
        s.push_str("]}");
        s
    }
}
