//! The Switchboard contract as the hub lives it: whether the server speaks it (`sb:hello`
//! within a short wait after CONNECT), the numbered events seen (`sb:seq`, a bounded window)
//! and what to ask for on `sb:resume`, and the clock-offset samples (`sb:time`).
//! Invariant: a numbered event reaches the tabs once, however often the server replays it.

use super::Millis;
use crate::contract;
use crate::json::{self, Value};
use crate::socketio;
use crate::vecmap::DequeMap;
use alloc::format;
use alloc::string::String;

/// How long after CONNECT a hub waits for the server's `sb:hello` before it treats the
/// server as a plain Socket.IO server (only the first connection of a hub waits).
pub const HELLO_WAIT_MS: u64 = 300;
/// Numbers of `sb:seq` events remembered, to drop replays.
const SEQ_WINDOW: usize = 4096;

/// What `sb:seq` carried.
#[derive(Debug, PartialEq)]
pub enum Numbered {
    /// A new event: its name and arguments.
    New(String, String),
    /// A number already seen (a replay).
    Seen,
    Malformed,
}

#[derive(Debug, Default)]
pub struct ContractSession {
    /// Whether the server speaks the contract; None until known.
    speaks: Option<bool>,
    hello_deadline: Option<Millis>,
    last_seq: Option<u64>,
    seen_seq: DequeMap<u64, ()>,
    /// Best clock sample: (server minus wall clock, round trip).
    clock: Option<(i64, u64)>,
    /// The round trip of the latest `sb:time` probe (the inspector's ping RTT).
    last_rtt: Option<u64>,
}

impl ContractSession {
    /// Whether the server speaks the contract; None while we wait to learn it.
    pub fn speaks(&self) -> Option<bool> {
        self.speaks
    }

    pub fn clock(&self) -> Option<(i64, u64)> {
        self.clock
    }

    pub fn last_rtt(&self) -> Option<u64> {
        self.last_rtt
    }

    /// A session started: wait for `sb:hello` if we do not know the server yet.
    pub fn start_session(&mut self, now: Millis) {
        if self.speaks.is_none() {
            self.hello_deadline = Some(now + HELLO_WAIT_MS);
        }
    }

    pub fn end_session(&mut self) {
        self.hello_deadline = None;
    }

    /// The server said `sb:hello` (with its replay log's last number, `seq`). Returns the
    /// number to resume after: the last we saw, or the `seq` of an earlier hello if we saw
    /// none (a first hello only sets that baseline).
    pub fn hello(&mut self, seq: Option<u64>) -> Option<u64> {
        self.speaks = Some(true);
        self.hello_deadline = None;
        let after = self.last_seq;
        if after.is_none() {
            self.last_seq = seq;
        }
        after
    }

    /// `["sb:seq", n, event, ...args]`.
    pub fn numbered(&mut self, args: &str) -> Numbered {
        let Some((n, event, rest)) = split_seq(args) else { return Numbered::Malformed };
        if self.seen_seq.insert(n, ()).is_some() {
            return Numbered::Seen;
        }
        self.last_seq = Some(self.last_seq.map_or(n, |l| l.max(n)));
        while self.seen_seq.len() > SEQ_WINDOW {
            self.seen_seq.pop_first();
        }
        Numbered::New(event, rest)
    }

    /// The `sb:time` ack: a sample sent at `sent` (monotonic) with the wall clock at `wall`
    /// offset from it. Returns the new best sample, if this one is better.
    pub fn time(&mut self, sent: Millis, data: &str, now: Millis, wall_offset: i64) -> Result<Option<(i64, u64)>, ()> {
        let server = json::parse(data).ok().and_then(|v| match v {
            Value::Array(items) => items.first().and_then(|t| t.get(contract::TIME_FIELD)).and_then(Value::as_u64),
            _ => None,
        });
        let server = server.ok_or(())?;
        let rtt = now.saturating_sub(sent);
        self.last_rtt = Some(rtt);
        let wall_at_midpoint = sent as i64 + wall_offset + (rtt / 2) as i64;
        let offset = server as i64 - wall_at_midpoint;
        if self.clock.is_some_and(|(_, best)| rtt >= best) {
            return Ok(None);
        }
        self.clock = Some((offset, rtt));
        Ok(self.clock)
    }

    /// True when the hello wait ran out: the server is plain Socket.IO.
    pub fn handle_timeout(&mut self, now: Millis) -> bool {
        if self.hello_deadline.is_some_and(|d| now >= d) {
            self.hello_deadline = None;
            self.speaks = Some(false);
            return true;
        }
        false
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.hello_deadline
    }
}

/// An event with the contract's envelopes taken off.
#[derive(Debug, PartialEq)]
pub struct Routed {
    pub event: String,
    pub args: String,
    /// `sb:room`: only for the tabs in this room.
    pub room: Option<String>,
    /// `sb:tab`: only for the tab with this id.
    pub tab: Option<String>,
}

impl ContractSession {
    /// Takes off the contract's envelopes: `sb:seq` (numbered, once), `sb:tab` (one tab),
    /// `sb:room` (the tabs in a room). `Ok(None)`: a replay already delivered; `Err`: why
    /// the event is malformed (for the log).
    pub fn unwrap(&mut self, mut event: String, mut args: String) -> Result<Option<Routed>, String> {
        if event == contract::SEQ {
            match self.numbered(&args) {
                Numbered::New(e, rest) => (event, args) = (e, rest),
                Numbered::Seen => return Ok(None),
                Numbered::Malformed => return Err(format!("ignored a malformed {} event", contract::SEQ)),
            }
        }
        let (mut room, mut tab) = (None, None);
        for (wrapper, what) in [(contract::TAB, "a tab"), (contract::ROOM, "a room")] {
            if event != wrapper {
                continue;
            }
            match socketio::split_leading_strings(&args, 2) {
                Ok((mut n, rest)) if n.len() == 2 => {
                    event = n.pop().unwrap_or_default();
                    *(if wrapper == contract::TAB { &mut tab } else { &mut room }) = n.pop();
                    args = rest;
                }
                _ => return Err(format!("ignored {wrapper} event without {what} and an event name")),
            }
        }
        Ok(Some(Routed { event, args, room, tab }))
    }
}

/// The `sb:resume` ack says whether the server still had everything.
pub fn resumed(data: &str) -> bool {
    json::parse(data).ok().is_some_and(|v| match v {
        Value::Array(items) => items.first().and_then(|r| r.get(contract::RECOVERED_FIELD)) == Some(&Value::Bool(true)),
        _ => false,
    })
}

/// The `error` of a contract ack (`{"ok":true}` or `{"error":"..."}`), if it refused.
pub fn refusal(ack_args: &str) -> Option<String> {
    let v = json::parse(ack_args).ok()?;
    let Value::Array(items) = v else { return None };
    let error = items.first()?.get(contract::ERROR_FIELD)?;
    Some(error.as_str().map(String::from).unwrap_or_else(|| "refused".into()))
}

fn split_seq(args: &str) -> Option<(u64, String, String)> {
    let mut sc = json::Scanner::new(args);
    if !sc.eat(b'[') {
        return None;
    }
    let n = sc.value(0).ok()?.as_u64()?;
    if !sc.eat(b',') {
        return None;
    }
    let event = sc.string().ok()?;
    let mut rest = String::from("[");
    if sc.eat(b',') {
        sc.skip_ws();
        rest.push_str(args.get(sc.pos..)?);
    } else {
        rest.push(']');
    }
    Some((n, event, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_events_are_new_once() {
        let mut c = ContractSession::default();
        assert_eq!(c.numbered(r#"[3,"tick",1]"#), Numbered::New("tick".into(), "[1]".into()));
        assert_eq!(c.numbered(r#"[3,"tick",1]"#), Numbered::Seen);
        assert_eq!(c.numbered(r#"["x"]"#), Numbered::Malformed);
        assert_eq!(c.hello(None), Some(3));
    }

    #[test]
    fn envelopes_come_off_in_order_seq_tab_room() {
        let mut c = ContractSession::default();
        let r = c.unwrap("sb:seq".into(), r#"[1,"sb:room","r","chat",{"t":1}]"#.into());
        let routed = Routed { event: "chat".into(), args: r#"[{"t":1}]"#.into(), room: Some("r".into()), tab: None };
        assert_eq!(r, Ok(Some(routed)));
        assert_eq!(c.unwrap("sb:seq".into(), r#"[1,"x"]"#.into()), Ok(None));
        assert!(c.unwrap("sb:tab".into(), r#"["only-a-tab"]"#.into()).is_err());
    }

    #[test]
    fn a_plain_server_is_decided_after_the_wait() {
        let mut c = ContractSession::default();
        c.start_session(100);
        assert!(!c.handle_timeout(100 + HELLO_WAIT_MS - 1));
        assert!(c.handle_timeout(100 + HELLO_WAIT_MS));
        assert_eq!(c.speaks(), Some(false));
        c.start_session(1000);
        assert_eq!(c.poll_timeout(), None, "only the first connection waits");
    }

    #[test]
    fn the_lowest_round_trip_sample_wins() {
        let mut c = ContractSession::default();
        assert_eq!(c.time(0, r#"[{"time":1050}]"#, 100, 1000), Ok(Some((0, 100))));
        assert_eq!(c.time(200, r#"[{"time":1300}]"#, 400, 1000), Ok(None));
        assert_eq!(c.time(0, "[]", 1, 0), Err(()));
        assert!(refusal(r#"[{"error":"no"}]"#).is_some() && refusal(r#"[{"ok":true}]"#).is_none());
    }
}
