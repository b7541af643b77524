//! The hub's debugging surface, wired to [`super::debug`]: a tab's `sb:debug` requests (debug
//! mode on/off, the event log, the inspector, clear), the inspector's view of the whole hub
//! (`client.inspect()`), and while debug mode is on, new log entries and the hub's log lines
//! streamed to the tabs that subscribed (`sb:debug`, `sb:log`).
//! Invariant: none of this reaches the server; with debug mode off, a drive costs one check.

use super::debug::{self, Dir, Entry};
use super::space::hub_event;
use super::{Hub, Millis, Output, TabKey};
use crate::contract;
use crate::json::{self, Quoted, Value};
use crate::port::FromHub;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

impl Hub {
    /// A tab's `emitWithAck('sb:debug', op, arg)`, answered at once.
    pub(super) fn debug_request(&mut self, tab: TabKey, ack: u32, args: &str, now: Millis) {
        let items = match json::parse(args) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let opt = |name: &str| items.get(1).and_then(|o| o.get(name)).and_then(Value::as_u64);
        let answer = match items.first().and_then(Value::as_str) {
            Some("on") => {
                let capacity = opt("capacity").map_or(contract::DEBUG_LOG_SIZE, |c| c as usize);
                self.debug.set(true, capacity, opt("payloads").unwrap_or(0) as usize);
                self.out.log(format!("debug mode on (log of {capacity} entries)"));
                Ok("true".to_string())
            }
            Some("off") => {
                self.debug.set(false, contract::DEBUG_LOG_SIZE, 0);
                Ok("false".to_string())
            }
            Some("log") => Ok(self.debug.to_json()),
            Some("inspect") => Ok(self.inspect(now)),
            // "Retry now" from a status indicator: the rest of a backoff is skipped.
            Some("retry") => {
                let waiting = self.link.is_waiting();
                if waiting {
                    self.out.log(String::from("retrying now (asked by a tab)"));
                    self.link.start(false, now, &mut self.out);
                    self.publish_status();
                }
                Ok(format!("{waiting}"))
            }
            Some("clear") => {
                let on = self.debug.is_on();
                self.debug = debug::DebugLog::new(now ^ 0x5eed);
                self.debug.set(on, contract::DEBUG_LOG_SIZE, 0);
                Ok("true".to_string())
            }
            other => Err(format!(
                "unknown debug request {}: on, off, log, inspect, clear, retry",
                Quoted(other.unwrap_or(""))
            )),
        };
        let msg = match answer {
            Ok(json) => FromHub::Ack { id: ack, args: format!("[{json}]"), bins: Vec::new() },
            Err(reason) => FromHub::AckFailed { id: ack, reason },
        };
        self.out.post_one(tab, msg);
    }

    /// The hub as the inspector shows it.
    pub(super) fn inspect(&self, now: Millis) -> String {
        let mut s = String::from("{\"server\":");
        json::write_string(&mut s, self.link.url());
        let status = self.status().name();
        s.push_str(&format!(",\"status\":\"{status}\""));
        let clock = self.clock_offset();
        let (offset, rtt) = clock.map_or(("null".into(), "null".into()), |(o, r)| (format!("{o}"), format!("{r}")));
        s.push_str(&format!(
            ",\"sockets\":{},\"clockOffset\":{offset},\"rtt\":{rtt},\"serverTime\":{}",
            self.link.sockets_opened(),
            self.server_ms(now)
        ));
        let auth = self.signin.state();
        s.push_str(",\"auth\":{\"user\":");
        match &auth.user {
            Some(u) => json::write_string(&mut s, u),
            None => s.push_str("null"),
        }
        let t = &auth.telemetry;
        s.push_str(&format!(
            ",\"expiresAt\":{},\"refreshes\":{},\"lastMs\":{},\"maxMs\":{}}}",
            auth.expires_at.map_or("null".into(), |e| format!("{e}")),
            t.refreshes,
            t.last_ms,
            t.max_ms
        ));
        s.push_str(",\"security\":");
        json::write_string(&mut s, self.security.phase().name());
        s.push_str(&format!(
            ",\"debug\":{{\"on\":{},\"entries\":{}}},\"namespaces\":[",
            self.debug.is_on(),
            self.debug.len()
        ));
        for (i, space) in self.spaces.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&space.inspect());
        }
        s.push_str("]}");
        s
    }

    /// A hub entry of the debug log (a connection opened or lost).
    pub(super) fn journal_hub(&mut self, event: String, outcome: &'static str, now: Millis) {
        self.journal_entry(event, outcome, None, None, now);
    }

    /// A span of the hub's own work (connecting, a refresh): what, how it ended, how long.
    pub(super) fn journal_span(&mut self, event: String, outcome: &'static str, took: Millis, now: Millis) {
        self.journal_entry(event, outcome, Some(took), None, now);
    }

    /// Debug mode: a sign-in call gets a `traceparent` header and a log entry; its answer is
    /// recorded with the same trace and its duration (`http_answered`).
    pub(super) fn trace_http(&mut self, mut request: Output, now: Millis) -> Output {
        if let Output::Http { id, url, trace, .. } = &mut request {
            if let Some(t) = self.debug.trace() {
                let what = url.rsplit(contract::AUTH_PATH).next().unwrap_or_default().to_string();
                if self.http_traces.len() >= 16 {
                    self.http_traces.remove(0);
                }
                self.http_traces.push((*id, t.clone(), what.clone(), now));
                *trace = Some(t.clone());
                self.journal_entry(format!("auth/{what}"), "sent", None, Some(t), now);
            }
        }
        request
    }

    pub(super) fn http_answered(&mut self, id: u32, status: u16, now: Millis) {
        let Some(i) = self.http_traces.iter().position(|(i, ..)| *i == id) else { return };
        let (_, trace, what, sent) = self.http_traces.remove(i);
        let outcome = if status == 200 { "answered" } else { "refused" };
        let took = now.saturating_sub(sent);
        self.journal_entry(format!("auth/{what} (HTTP {status})"), outcome, Some(took), Some(trace), now);
    }

    fn journal_entry(
        &mut self,
        event: String,
        outcome: &'static str,
        took: Option<Millis>,
        trace: Option<String>,
        now: Millis,
    ) {
        if !self.debug.is_on() {
            return;
        }
        let trace = trace.or_else(|| self.debug.trace());
        let entry = Entry {
            seq: 0,
            at: self.server_ms(now),
            dir: Dir::Hub,
            nsp: String::new(),
            tab: None,
            tabs: 0,
            event,
            room: None,
            bytes: 0,
            ack: None,
            ack_ms: took,
            trace,
            outcome,
            payload: None,
        };
        self.debug.record(entry, None);
    }

    /// The tabs subscribed to `event`, in every namespace.
    pub(super) fn subscribers(&self, event: &str) -> Vec<TabKey> {
        self.spaces.iter().flat_map(|s| s.tabs().targets(event, None, |_| true)).collect()
    }

    /// While debug mode is on: new entries to `sb:debug` subscribers, and a log line to
    /// `sb:log` subscribers (the tabs' consoles).
    pub(super) fn stream_debug(&mut self, log_line: Option<&str>) {
        if !self.debug.is_on() {
            return;
        }
        let fresh = self.debug.take_new();
        if !fresh.is_empty() {
            let tabs = self.subscribers(contract::DEBUG);
            self.out.post(tabs, hub_event(contract::DEBUG, format!("[{}]", fresh.join(","))));
        }
        if let Some(line) = log_line {
            let tabs = self.subscribers(contract::LOG);
            let mut args = format!("[\"{}\",", debug::level(line));
            json::write_string(&mut args, line);
            args.push(']');
            self.out.post(tabs, hub_event(contract::LOG, args));
        }
    }
}
