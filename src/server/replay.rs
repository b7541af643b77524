//! The replay log: the last numbered events sent to everyone (`sb:seq`), for hubs that come
//! back (`sb:resume`). One node: in the SQLite database (`--data-dir`'s `state.sqlite3`,
//! else an in-memory one), bounded by count and age (`--replay-keep`, `--replay-age`), so a
//! restart with `--data-dir` keeps it and its numbering. Several nodes: in Redis
//! (`shared.rs`), numbered there, so every node gives the same event the same number and a
//! hub resumes on any node.
//! Invariants: an event is numbered and kept before it is sent; numbers rise without a gap
//! within one log's life, and a new log (a fresh database) starts above every number an
//! earlier one can have given (at its creation time in ms × 1000), so a hub holding numbers
//! from an earlier life is told it missed events, never that it recovered, and no new event
//! is taken for a replay of an old one.

use super::shared::Shared;
use crate::auth::Db;
use rusqlite::params;
use serde_json::Value;
use std::time::Duration;

/// How many numbered events the replay log keeps by default, and for how long.
pub const KEEP: usize = 10_000;
pub const KEEP_FOR: Duration = Duration::from_secs(600);

/// A numbered event: (number, event, data).
pub type Entry = (u64, String, Value);

pub enum ReplayLog {
    Sqlite(Sqlite),
    /// Several nodes: the log in Redis, at most this many events (age is not bounded there).
    Redis(Shared, usize),
}

/// The log's bounds: at most `keep` events, none older than `keep_for`.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub keep: usize,
    pub keep_for: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { keep: KEEP, keep_for: KEEP_FOR }
    }
}

#[derive(Clone)]
pub struct Sqlite {
    db: Db,
    bounds: Bounds,
}

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS replay (n INTEGER PRIMARY KEY, event TEXT NOT NULL, data TEXT NOT NULL,
    at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replay_next (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL);";

/// Oldest entries looked at per push for the age bound: each push adds one, so this keeps up.
const TRIM_STEP: i64 = 16;

impl Sqlite {
    /// The log in `db` (created at `now_ms` if it has none).
    pub fn open(db: Db, bounds: Bounds, now_ms: u64) -> Result<Sqlite, String> {
        {
            let c = db.lock().map_err(|_| "replay log unavailable".to_string())?;
            c.execute_batch(SCHEMA).map_err(|e| format!("replay log: {e}"))?;
            // A new log's first number: above anything an earlier life gave.
            c.execute("INSERT OR IGNORE INTO replay_next (id, n) VALUES (0, ?1)", params![start(now_ms) as i64])
                .map_err(|e| format!("replay log: {e}"))?;
        }
        Ok(Sqlite { db, bounds })
    }

    /// Numbers `event(data)` and keeps it (one transaction), trimming to the bounds.
    pub fn push(&self, event: &str, data: &Value, now_ms: u64) -> Result<u64, String> {
        let mut c = self.db.lock().map_err(|_| "replay log unavailable".to_string())?;
        let tx = c.transaction().map_err(|e| format!("replay log: {e}"))?;
        let run = |tx: &rusqlite::Transaction| -> rusqlite::Result<u64> {
            let n: i64 = tx.query_row("UPDATE replay_next SET n = n + 1 WHERE id = 0 RETURNING n", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO replay (n, event, data, at) VALUES (?1, ?2, ?3, ?4)",
                params![n, event, data.to_string(), now_ms as i64],
            )?;
            tx.execute("DELETE FROM replay WHERE n <= ?1", params![n - self.bounds.keep as i64])?;
            let oldest = now_ms.saturating_sub(self.bounds.keep_for.as_millis() as u64) as i64;
            tx.execute(
                "DELETE FROM replay WHERE n IN (SELECT n FROM replay ORDER BY n LIMIT ?1) AND at < ?2",
                params![TRIM_STEP, oldest],
            )?;
            Ok(n as u64)
        };
        let n = run(&tx).map_err(|e| format!("replay log: {e}"))?;
        tx.commit().map_err(|e| format!("replay log: {e}"))?;
        Ok(n)
    }

    fn last(&self) -> Result<u64, String> {
        let c = self.db.lock().map_err(|_| "replay log unavailable".to_string())?;
        last_given(&c)
    }

    /// The last number given and the entries after `after` still within the bounds.
    fn after(&self, after: u64, now_ms: u64) -> Result<(u64, Vec<Entry>), String> {
        let c = self.db.lock().map_err(|_| "replay log unavailable".to_string())?;
        let next = last_given(&c)? as i64;
        let oldest = now_ms.saturating_sub(self.bounds.keep_for.as_millis() as u64) as i64;
        let mut q = c
            .prepare("SELECT n, event, data FROM replay WHERE n > ?1 AND n > ?2 AND at >= ?3 ORDER BY n")
            .map_err(|e| format!("replay log: {e}"))?;
        let rows = q
            .query_map(params![after.min(i64::MAX as u64) as i64, next - self.bounds.keep as i64, oldest], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| format!("replay log: {e}"))?;
        let mut entries = Vec::new();
        for row in rows {
            let (n, event, data) = row.map_err(|e| format!("replay log: {e}"))?;
            match serde_json::from_str(&data) {
                Ok(data) => entries.push((n as u64, event, data)),
                // Kept by this code, so never expected; the gap then shows as not recovered.
                Err(e) => tracing::warn!(n, "a malformed replay log entry: skipped ({e})"),
            }
        }
        Ok((next as u64, entries))
    }
}

/// The last number the log in `c` gave.
fn last_given(c: &rusqlite::Connection) -> Result<u64, String> {
    c.query_row("SELECT n FROM replay_next WHERE id = 0", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| format!("replay log: {e}"))
}

/// The first number a log created at `now_ms` gives, less one.
pub(super) fn start(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1000)
}

impl ReplayLog {
    /// Numbers `event(data)` and keeps it. `Err`: it could not be kept (the database or
    /// Redis failed); it is not sent then, as a number nobody can replay would be a gap for ever.
    pub async fn push(&self, event: &str, data: &Value) -> Result<u64, String> {
        match self {
            ReplayLog::Sqlite(log) => {
                let (log, event, data, now) = (log.clone(), event.to_string(), data.clone(), crate::auth::now_ms());
                tokio::task::spawn_blocking(move || log.push(&event, &data, now)).await.map_err(|e| e.to_string())?
            }
            ReplayLog::Redis(store, keep) => {
                store.replay_push(&serde_json::json!([event, data]).to_string(), *keep).await
            }
        }
    }

    /// The last number given (`sb:hello`'s `seq`).
    pub async fn last(&self) -> Result<u64, String> {
        match self {
            ReplayLog::Sqlite(log) => {
                let log = log.clone();
                tokio::task::spawn_blocking(move || log.last()).await.map_err(|e| e.to_string())?
            }
            ReplayLog::Redis(store, _) => store.replay_next().await,
        }
    }

    /// Entries after `after`, and whether nothing between `after` and them was dropped.
    pub async fn after(&self, after: u64) -> Result<(Vec<Entry>, bool), String> {
        let (next, entries) = match self {
            ReplayLog::Sqlite(log) => {
                let (log, now) = (log.clone(), crate::auth::now_ms());
                tokio::task::spawn_blocking(move || log.after(after, now)).await.map_err(|e| e.to_string())??
            }
            ReplayLog::Redis(store, _) => {
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

    fn log(db: Db, keep: usize, secs: u64, now: u64) -> Sqlite {
        Sqlite::open(db, Bounds { keep, keep_for: Duration::from_secs(secs) }, now).expect("open")
    }

    fn numbers(log: &Sqlite, after: u64, now: u64) -> (Vec<u64>, bool) {
        let (next, entries) = log.after(after, now).expect("read");
        let (entries, recovered) = recoverable(after, next, entries);
        (entries.iter().map(|e| e.0).collect(), recovered)
    }

    #[test]
    fn replay_knows_what_it_can_recover() {
        let log = log(crate::auth::open_db(None).expect("db"), 100, 600, 5);
        let first = start(5) + 1;
        for i in 0..3 {
            assert_eq!(log.push("tick", &Value::from(i), 5).expect("kept"), first + i);
        }
        assert_eq!(numbers(&log, first, 6), (vec![first + 1, first + 2], true));
        assert!(!numbers(&log, first + 7, 6).1, "numbers this log never gave");
        assert_eq!(numbers(&log, first + 2, 6), (vec![], true), "nothing missed");
        assert!(!numbers(&log, 41, 6).1, "numbers from an earlier life (a new database)");
    }

    /// The log and its numbering survive a restart in the same directory; a new database
    /// starts above every number the old one gave.
    #[test]
    fn a_restart_with_a_data_dir_keeps_the_log_and_a_new_one_starts_above_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = log(crate::auth::open_db(Some(dir.path())).expect("db"), 100, 600, 1_000);
        let seen = one.push("a", &Value::from(1), 1_000).expect("kept");
        let missed = one.push("b", &Value::from(2), 1_001).expect("kept");
        drop(one);
        let again = log(crate::auth::open_db(Some(dir.path())).expect("db"), 100, 600, 2_000);
        assert_eq!(again.push("c", &Value::from(3), 2_000).expect("kept"), missed + 1, "numbering goes on");
        assert_eq!(numbers(&again, seen, 2_001), (vec![missed, missed + 1], true));
        let fresh = log(crate::auth::open_db(None).expect("db"), 100, 600, 3_000);
        assert!(fresh.push("d", &Value::Null, 3_000).expect("kept") > missed + 1);
        assert!(!numbers(&fresh, missed + 1, 3_001).1, "a new log cannot vouch for the old one's numbers");
    }

    /// Bounds: at most `keep` entries, none older than the age; what fell out is a gap.
    #[test]
    fn the_log_keeps_its_bounds_and_a_trimmed_gap_is_not_recovered() {
        let log = log(crate::auth::open_db(None).expect("db"), 3, 10, 0);
        let first = log.push("e", &Value::Null, 0).expect("kept");
        for i in 1..5 {
            log.push("e", &Value::Null, i).expect("kept");
        }
        assert_eq!(numbers(&log, first + 1, 5), (vec![first + 2, first + 3, first + 4], true));
        assert!(!numbers(&log, first, 5).1, "first + 1 fell out (count)");
        assert_eq!(numbers(&log, first + 2, 10_004), (vec![first + 4], false), "too old: only the last is kept");
        let rows: i64 = log.db.lock().unwrap().query_row("SELECT count(*) FROM replay", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 3, "the table holds the bound");
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
