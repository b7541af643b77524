//! Connection tracing (docs/server-contract.md, "Tracing"): a hub in debug mode sends
//! `sb:trace [traceparent]` just before a tab's event; the next message on that socket
//! continues the W3C trace — it is logged inside a `traced` span carrying the traceparent and
//! its trace id, and a durable emit is handled inside that span and its receipt names the
//! trace. A join's or leave's trace travels inside the request (see `contract.rs`).
//! Invariant: a pending trace belongs to one socket and is used by its next message only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The trace announced for a socket's next message (in the socket's limiter).
#[derive(Clone, Default)]
pub struct Pending(Arc<Slot>);

#[derive(Default)]
struct Slot {
    /// Whether `trace` holds one: untraced sockets pay one load a message, no lock.
    set: AtomicBool,
    trace: Mutex<Option<String>>,
}

/// What a message meant for tracing.
#[derive(Debug, PartialEq, Eq)]
pub enum Observed {
    /// It was an `sb:trace`: nothing for the application.
    Announce,
    /// It was an `sb:trace` without a valid traceparent: ignored (logged by the caller).
    Malformed,
    /// Any other message, with the trace announced just before it, if one was.
    Event(Option<String>),
}

impl Pending {
    /// A message arrived (`raw`: its JSON data, event name first).
    pub fn observe(&self, raw: &str) -> Observed {
        if !raw.starts_with(ANNOUNCE) {
            if !self.0.set.swap(false, Ordering::AcqRel) {
                return Observed::Event(None);
            }
            return Observed::Event(self.0.trace.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        let trace: Option<String> = serde_json::from_str::<(String, String)>(raw).ok().map(|(_, t)| t);
        let Some(t) = trace.filter(|t| valid(t)) else { return Observed::Malformed };
        *self.0.trace.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
        self.0.set.store(true, Ordering::Release);
        Observed::Announce
    }
}

const ANNOUNCE: &str = concat!("[\"", "sb:trace", "\"");

/// A W3C `traceparent`: `00-{32 hex}-{16 hex}-{2 hex}`, ids not all zero.
pub fn valid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

/// The span a traced message is handled in.
pub fn span(sid: &str, traceparent: &str) -> tracing::Span {
    let trace_id = traceparent.get(3..35).unwrap_or("");
    tracing::info_span!("traced", sid, trace_id, traceparent)
}

/// The log line of a traced message: its event name and ack id, in its span.
pub fn log(sid: &str, traceparent: &str, raw: &str, ack: Option<i64>) {
    let event = raw.strip_prefix("[\"").and_then(|r| r.split('"').next()).unwrap_or("?");
    // Only the name (never the payload: `sb:auth` carries a token), token-shaped runs redacted.
    let event = switchboard_shared::contract::redact(event);
    span(sid, traceparent).in_scope(|| tracing::debug!(event = %event, ack, traceparent, "traced event"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_shared::contract;

    const T: &str = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";

    #[test]
    fn the_announced_trace_goes_to_the_next_message_only() {
        assert_eq!(ANNOUNCE, format!("[\"{}\"", contract::TRACE));
        let p = Pending::default();
        assert_eq!(p.observe("[\"chat\",1]"), Observed::Event(None));
        assert_eq!(p.observe(&format!("[\"sb:trace\",\"{T}\"]")), Observed::Announce);
        assert_eq!(p.observe("[\"chat\",2]"), Observed::Event(Some(T.into())));
        assert_eq!(p.observe("[\"chat\",3]"), Observed::Event(None), "used once");
    }

    #[test]
    fn a_bad_traceparent_is_ignored() {
        let p = Pending::default();
        for bad in ["[\"sb:trace\"]", "[\"sb:trace\",5]", "[\"sb:trace\",\"00-xyz\"]", "[\"sb:trace\",\"{\"]"] {
            assert_eq!(p.observe(bad), Observed::Malformed, "{bad}");
            assert_eq!(p.observe("[\"chat\"]"), Observed::Event(None), "{bad}");
        }
        assert!(valid(T) && valid(&contract::traceparent("tab-1")));
        assert!(!valid("00-0123456789abcdef0123456789abcdef-0000000000000000-01"), "a zero span id");
        assert!(!valid(&T.to_uppercase()), "upper-case hex");
    }
}
