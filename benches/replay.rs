//! The replay log's cost per numbered event (`src/server/replay.rs`, SQLite in `--data-dir`):
//! `cargo bench --bench replay` writes 20,000 events of about 200 bytes into a database in a
//! temporary directory (the log bounded at 10,000) and prints the time per event, the bytes the
//! database and its WAL hold per kept event, and what each commit costs in syncs: the log runs
//! in WAL mode with `synchronous=NORMAL`, so a commit is one append to the WAL and no fsync;
//! the WAL is synced at each checkpoint (SQLite's default, every 1,000 pages). For scale, the
//! same writes with `synchronous=FULL` (an fsync per commit). Under `cargo test` (no
//! `--bench` argument) it writes 200 events, as a smoke test.

use serde_json::json;
use std::time::{Duration, Instant};
use switchboard::server::replay::{Bounds, Sqlite};

fn run(events: u64, full_sync: bool) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = switchboard::auth::open_db(Some(dir.path())).expect("db");
    if full_sync {
        db.lock().expect("db").execute_batch("PRAGMA synchronous=FULL;").expect("pragma");
    }
    let log = Sqlite::open(db.clone(), Bounds { keep: 10_000, keep_for: Duration::from_secs(600) }, 0).expect("log");
    let data = json!({ "from": "alice", "text": "x".repeat(160), "room": "lobby" });
    let t0 = Instant::now();
    for i in 0..events {
        log.push("announce", &data, i).expect("kept");
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / events as f64;
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("state.sqlite3"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    (us, bytes / events.min(10_000))
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let events = if bench { 20_000 } else { 200 };
    let (us, bytes) = run(events, false);
    println!("replay log, WAL + synchronous=NORMAL: {us:.1} µs per event, {bytes} B on disk per kept event, 0 fsyncs per commit");
    let full = if bench { 2_000 } else { 50 };
    let (us, _) = run(full, true);
    println!("replay log, synchronous=FULL (for scale): {us:.1} µs per event, 1 fsync per commit");
}
