//! Debugging, the hub's side: debug mode (off by default; a tab turns it on), the event log (a
//! ring buffer of what crossed the hub: time, direction, tab, event, room, bytes, ack id,
//! time to ack, trace id, outcome; payloads only when asked, capped), and the forwarding of
//! the hub's log lines to the tabs' consoles. A SharedWorker's console and WebSocket are
//! invisible in a page's DevTools: this is how a developer sees them.
//! Invariants: while off, nothing is recorded or forwarded (one branch per message); the log
//! never holds more than its capacity; an entry's trace id is a W3C `traceparent`.

use super::Millis;
use crate::backoff::Rng;
use crate::contract;
use crate::json;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Which way an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// A tab's message to the server.
    Out,
    /// A server's message to tabs.
    In,
    /// Something the hub did on its own (a sign-in call, a reconnection).
    Hub,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Out => "tab→server",
            Dir::In => "server→tab",
            Dir::Hub => "hub",
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    /// Wall-clock ms (server time when known).
    pub at: u64,
    pub dir: Dir,
    pub nsp: String,
    /// The tab's id (outgoing), or how many tabs got it (incoming: `tabs`).
    pub tab: Option<String>,
    pub tabs: usize,
    pub event: String,
    pub room: Option<String>,
    pub bytes: usize,
    pub ack: Option<u64>,
    pub ack_ms: Option<u64>,
    pub trace: Option<String>,
    /// `sent`, `queued`, `refused`, `acked`, `delivered`, `timed out`, `no listener`, …
    pub outcome: &'static str,
    pub payload: Option<String>,
}

impl Entry {
    /// The entry as a JSON object.
    pub fn to_json(&self) -> String {
        let mut s = format!("{{\"seq\":{},\"at\":{},\"dir\":", self.seq, self.at);
        json::write_string(&mut s, self.dir.name());
        let text = |s: &mut String, name: &str, v: Option<&str>| {
            s.push_str(&format!(",\"{name}\":"));
            match v {
                Some(v) => json::write_string(s, v),
                None => s.push_str("null"),
            }
        };
        text(&mut s, "nsp", Some(&self.nsp));
        text(&mut s, "tab", self.tab.as_deref());
        s.push_str(&format!(",\"tabs\":{}", self.tabs));
        text(&mut s, "event", Some(&self.event));
        text(&mut s, "room", self.room.as_deref());
        s.push_str(&format!(",\"bytes\":{}", self.bytes));
        let num = |v: Option<u64>| v.map_or(String::from("null"), |n| format!("{n}"));
        s.push_str(&format!(",\"ack\":{},\"ackMs\":{}", num(self.ack), num(self.ack_ms)));
        text(&mut s, "trace", self.trace.as_deref());
        text(&mut s, "outcome", Some(self.outcome));
        text(&mut s, "payload", self.payload.as_deref());
        s.push('}');
        s
    }
}

/// An entry waiting for its ack or receipt: its namespace, the key (ack id, or emit id),
/// its sequence number and when it went out (monotonic).
#[derive(Debug)]
struct Waiting {
    nsp: String,
    key: String,
    seq: u64,
    sent: Millis,
}

#[derive(Debug)]
pub struct DebugLog {
    on: bool,
    capacity: usize,
    /// Payloads are kept up to this many bytes (0: left out).
    payloads: usize,
    entries: VecDeque<Entry>,
    next: u64,
    waiting: VecDeque<Waiting>,
    rng: Rng,
    /// Entries recorded since the last `take_new` (streamed to subscribed tabs).
    fresh: Vec<u64>,
}

impl DebugLog {
    pub fn new(seed: u64) -> DebugLog {
        DebugLog {
            on: false,
            capacity: contract::DEBUG_LOG_SIZE,
            payloads: 0,
            entries: VecDeque::new(),
            next: 1,
            waiting: VecDeque::new(),
            rng: Rng::new(seed),
            fresh: Vec::new(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Debug mode on (with a log of `capacity` entries, payloads up to `payloads` bytes) or off
    /// (the log is kept for reading, nothing more is recorded).
    pub fn set(&mut self, on: bool, capacity: usize, payloads: usize) {
        self.on = on;
        self.capacity = capacity.clamp(1, contract::MAX_DEBUG_LOG_SIZE);
        self.payloads = payloads.min(contract::MAX_DEBUG_PAYLOAD);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        if !on {
            self.waiting.clear();
        }
    }

    /// A new W3C `traceparent` (version 00, sampled), while on.
    pub fn trace(&mut self) -> Option<String> {
        if !self.on {
            return None;
        }
        let mut hex = String::new();
        for _ in 0..6 {
            hex.push_str(&format!("{:08x}", self.rng.next_u32()));
        }
        Some(format!("00-{}-{}-01", &hex[..32], &hex[32..48]))
    }

    /// The payload to keep (capped), when payloads are asked for.
    pub fn payload(&self, args: &str) -> Option<String> {
        if !self.on || self.payloads == 0 {
            return None;
        }
        let mut end = args.len().min(self.payloads);
        while !args.is_char_boundary(end) {
            end -= 1;
        }
        Some(String::from(&args[..end]))
    }

    /// Records `e` (its `seq` is assigned); with `wait`, the entry waits for its ack or
    /// receipt under `(nsp, key)`, sent at `now`.
    pub fn record(&mut self, mut e: Entry, wait: Option<(&str, Millis)>) {
        if !self.on {
            return;
        }
        e.seq = self.next;
        self.next += 1;
        if let Some((key, now)) = wait {
            if self.waiting.len() >= self.capacity {
                self.waiting.pop_front();
            }
            self.waiting.push_back(Waiting { nsp: e.nsp.clone(), key: key.into(), seq: e.seq, sent: now });
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.fresh.push(e.seq);
        self.entries.push_back(e);
    }

    /// The ack or receipt of a waiting entry came (`outcome`): its time to ack is set, and a
    /// copy with the new outcome is recorded.
    pub fn answered(&mut self, nsp: &str, key: &str, outcome: &'static str, now: Millis, at: u64) {
        if !self.on {
            return;
        }
        let Some(i) = self.waiting.iter().position(|w| w.nsp == nsp && w.key == key) else { return };
        let Some(w) = self.waiting.remove(i) else { return };
        let Some(first) = self.entries.iter().find(|e| e.seq == w.seq).cloned() else { return };
        let ack_ms = Some(now.saturating_sub(w.sent));
        let e = Entry { at, ack_ms, outcome, payload: None, ..first };
        self.record(e, None);
    }

    /// Entries recorded since the last call, as JSON objects (for the tabs that stream them).
    pub fn take_new(&mut self) -> Vec<String> {
        let fresh = core::mem::take(&mut self.fresh);
        self.entries.iter().filter(|e| fresh.contains(&e.seq)).map(Entry::to_json).collect()
    }

    /// The whole log, oldest first, as a JSON array.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self.entries.iter().map(Entry::to_json).collect();
        format!("[{}]", items.join(","))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A log line's level for the console: `warn` for trouble, `info` otherwise.
pub fn level(line: &str) -> &'static str {
    const TROUBLE: [&str; 7] = ["lost", "refused", "error", "ignored", "bad", "failed", "dropped"];
    if TROUBLE.iter().any(|w| line.contains(w)) {
        "warn"
    } else {
        "info"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> Entry {
        Entry {
            seq: 0,
            at: 5,
            dir: Dir::Out,
            nsp: "/".into(),
            tab: Some("t1".into()),
            tabs: 0,
            event: event.into(),
            room: None,
            bytes: 3,
            ack: Some(7),
            ack_ms: None,
            trace: None,
            outcome: "sent",
            payload: None,
        }
    }

    #[test]
    fn off_records_nothing_on_records_a_bounded_ring_with_times_to_ack() {
        let mut d = DebugLog::new(1);
        d.record(entry("a"), None);
        assert_eq!((d.len(), d.trace()), (0, None), "off: nothing");
        d.set(true, 3, 0);
        let trace = d.trace().expect("a trace id");
        assert_eq!((trace.len(), &trace[..3], &trace[52..]), (55, "00-", "-01"), "{trace}");
        d.record(Entry { trace: Some(trace.clone()), ..entry("a") }, Some(("7", 100)));
        d.answered("/", "7", "acked", 142, 9);
        let log = d.to_json();
        assert!(log.contains(r#""outcome":"acked""#) && log.contains(r#""ackMs":42"#), "{log}");
        assert_eq!(log.matches(&trace).count(), 2, "the ack carries the emit's trace id");
        for i in 0..5 {
            d.record(entry(&format!("e{i}")), None);
        }
        assert_eq!(d.len(), 3, "a ring of the capacity");
        assert_eq!(d.take_new().len(), 3, "what is still in the ring is streamed");
        assert!(d.payload("[1,2]").is_none(), "payloads left out unless asked");
        d.set(true, 3, 2);
        assert_eq!(d.payload("[1,2]").as_deref(), Some("[1"));
        assert_eq!(level("connection lost: x"), "warn");
        assert_eq!(level("websocket open"), "info");
    }
}
