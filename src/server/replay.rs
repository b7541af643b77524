//! The replay log: the last numbered events sent to everyone (`sb:seq`), for hubs that come
//! back (`sb:resume`). One node: in memory (numbers start again with the process). Several
//! nodes: in Redis (`shared.rs`), numbered there, so every node gives the same event the same
//! number and a hub resumes on any node.
//! Invariant: an event is numbered and kept before it is sent.

use super::shared::Shared;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many numbered events the replay log keeps.
pub const KEEP: usize = 1000;

/// A numbered event: (number, event, data).
pub type Entry = (u64, String, Value);

pub enum ReplayLog {
    Memory(Mutex<Entries>),
    Redis(Shared),
}

#[derive(Default)]
pub struct Entries {
    next: u64,
    entries: VecDeque<Entry>,
}

impl Entries {
    fn push(&mut self, event: &str, data: &Value) -> u64 {
        self.next += 1;
        self.entries.push_back((self.next, event.to_string(), data.clone()));
        while self.entries.len() > KEEP {
            self.entries.pop_front();
        }
        self.next
    }
}

impl ReplayLog {
    pub fn memory() -> ReplayLog {
        ReplayLog::Memory(Mutex::default())
    }

    /// Numbers `event(data)` and keeps it. `Err`: it could not be kept (Redis stayed away);
    /// it is not sent then, as a number nobody can replay would be a gap for ever.
    pub async fn push(&self, event: &str, data: &Value) -> Result<u64, String> {
        match self {
            ReplayLog::Memory(m) => m.lock().map(|mut l| l.push(event, data)).map_err(|_| "replay log poisoned".into()),
            ReplayLog::Redis(store) => store.replay_push(&serde_json::json!([event, data]).to_string(), KEEP).await,
        }
    }

    /// Entries after `after`, and whether nothing between `after` and them was dropped.
    pub async fn after(&self, after: u64) -> Result<(Vec<Entry>, bool), String> {
        let (next, entries) = match self {
            ReplayLog::Memory(m) => {
                let l = m.lock().map_err(|_| "replay log poisoned")?;
                (l.next, l.entries.iter().filter(|e| e.0 > after).cloned().collect::<Vec<_>>())
            }
            ReplayLog::Redis(store) => {
                let (next, raw) = store.replay_read().await?;
                (next, raw.iter().filter_map(|r| parse(r)).filter(|e| e.0 > after).collect())
            }
        };
        Ok(recoverable(after, next, entries))
    }
}

/// `"<n> [event, data]"` → an entry (None, with a log line, for anything else).
fn parse(raw: &str) -> Option<Entry> {
    let entry = raw.split_once(' ').and_then(|(n, json)| {
        let n = n.parse::<u64>().ok()?;
        let mut v: Vec<Value> = serde_json::from_str(json).ok()?;
        let data = v.pop()?;
        let event = v.pop()?.as_str()?.to_string();
        Some((n, event, data))
    });
    if entry.is_none() {
        tracing::warn!(raw = raw.get(..80).unwrap_or(raw), "a malformed replay log entry in Redis: skipped");
    }
    entry
}

/// The entries after `after` (ascending) with whether they are everything since `after`:
/// `after` is a number this log gave, and the first one kept follows it. `next` is the last
/// number given.
fn recoverable(after: u64, next: u64, missed: Vec<Entry>) -> (Vec<Entry>, bool) {
    let first = missed.first().map_or(next + 1, |e| e.0);
    // A hub that saw numbers from an earlier server life (after > next) cannot be helped.
    let recovered = after <= next && after + 1 >= first;
    (missed, recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_knows_what_it_can_recover() {
        let log = ReplayLog::memory();
        for i in 0..3 {
            log.push("tick", &Value::from(i)).await.expect("kept");
        }
        let (missed, recovered) = log.after(1).await.expect("read");
        assert_eq!(missed.iter().map(|m| m.0).collect::<Vec<_>>(), [2, 3]);
        assert!(recovered);
        assert!(!log.after(7).await.expect("read").1, "numbers from an earlier server life");
        assert!(log.after(3).await.expect("read").1, "nothing missed");
    }

    #[test]
    fn a_log_that_dropped_what_a_hub_missed_says_so() {
        let kept = vec![(5, "e".to_string(), Value::Null)];
        assert!(!recoverable(2, 5, kept.clone()).1, "3 and 4 are gone");
        assert!(recoverable(4, 5, kept).1);
    }

    #[test]
    fn entries_from_redis_are_read_or_skipped() {
        assert_eq!(parse(r#"7 ["tick",{"a":1}]"#), Some((7, "tick".into(), serde_json::json!({"a":1}))));
        assert_eq!(parse("7 nonsense"), None);
        assert_eq!(parse(r#"x ["tick",1]"#), None);
        assert_eq!(parse(r#"7 [1,1]"#), None);
    }
}
