//! The dedup log: the ids of recent `sb:emit` envelopes, so a second delivery of one is
//! dropped. The window lives in memory; with a data directory it is also appended to a file
//! (compacted now and then) by a thread of its own, so no handler blocks the executor on a
//! file write. Invariants: `remember` is synchronous, so a handler that remembers an id and
//! hands its event to the application does both in one step (a resend of the same id on
//! another socket cannot overtake it); `persist` returns once the id is written (when there
//! is a file), and the receipt is sent only after it, so an id the server acknowledged
//! survives a restart.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use tokio::sync::oneshot;

struct Window {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Window {
    fn remember(&mut self, id: String) -> bool {
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

type Pending = (String, oneshot::Sender<()>);

pub struct Dedup {
    window: Mutex<Window>,
    writer: Option<Mutex<mpsc::Sender<Pending>>>,
}

impl Dedup {
    /// Reads the window kept under `dir` (if any) and starts its writer. Blocking: call it
    /// off the executor (`spawn_blocking`) or before serving.
    pub fn open(dir: Option<&Path>, cap: usize) -> std::io::Result<Dedup> {
        let cap = cap.max(1);
        let mut window = Window { seen: HashSet::new(), order: VecDeque::new(), cap };
        let Some(dir) = dir else { return Ok(Dedup { window: Mutex::new(window), writer: None }) };
        std::fs::create_dir_all(dir)?;
        let path = dir.join("dedup.log");
        let mut lines = 0;
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                lines += 1;
                window.remember(line);
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, rx) = mpsc::channel();
        let kept = window.order.clone();
        std::thread::Builder::new()
            .name("dedup-log".into())
            .spawn(move || write_loop(rx, path, file, lines, kept, cap))?;
        Ok(Dedup { window: Mutex::new(window), writer: Some(Mutex::new(tx)) })
    }

    /// True when `id` is new (and now remembered in memory).
    pub fn remember(&self, id: &str) -> bool {
        self.window.lock().map(|mut w| w.remember(id.to_string())).unwrap_or(true)
    }

    /// Writes a remembered `id` to the file (when there is one); returns once it is written.
    pub async fn persist(&self, id: &str) {
        let sender = self.writer.as_ref().and_then(|w| w.lock().ok().map(|tx| tx.clone()));
        if let Some(tx) = sender {
            let (done, written) = oneshot::channel();
            if tx.send((id.to_string(), done)).is_ok() {
                let _ = written.await;
            }
        }
    }

    /// `remember`, then `persist` when new.
    pub async fn insert(&self, id: &str) -> bool {
        let fresh = self.remember(id);
        if fresh {
            self.persist(id).await;
        }
        fresh
    }
}

/// Appends ids as they come (a batch per wake-up), and rewrites the file with the window
/// only once it holds twice the window.
fn write_loop(
    rx: mpsc::Receiver<Pending>,
    path: PathBuf,
    mut file: std::fs::File,
    mut lines: usize,
    mut kept: VecDeque<String>,
    cap: usize,
) {
    while let Ok(first) = rx.recv() {
        let batch: Vec<Pending> = std::iter::once(first).chain(rx.try_iter()).collect();
        let mut text = String::new();
        for (id, _) in &batch {
            text.push_str(id);
            text.push('\n');
            kept.push_back(id.clone());
            while kept.len() > cap {
                kept.pop_front();
            }
        }
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::error!("dedup log {}: {e}", path.display());
        }
        lines += batch.len();
        if lines > 2 * cap {
            let body: String = kept.iter().map(|i| format!("{i}\n")).collect();
            match std::fs::write(&path, body).and_then(|()| std::fs::OpenOptions::new().append(true).open(&path)) {
                Ok(f) => {
                    file = f;
                    lines = kept.len();
                }
                Err(e) => tracing::error!("dedup log {}: cannot compact: {e}", path.display()),
            }
        }
        for (_, done) in batch {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_survives_a_restart_and_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Dedup::open(Some(dir.path()), 3).expect("open");
        for i in 0..10 {
            assert!(d.insert(&format!("id-{i}")).await);
        }
        assert!(!d.insert("id-9").await, "a repeat is dropped");
        drop(d);
        let again = Dedup::open(Some(dir.path()), 3).expect("reopen");
        assert!(!again.insert("id-8").await, "remembered across a restart");
        assert!(again.insert("id-1").await, "older than the window: forgotten");
        let lines = std::fs::read_to_string(dir.path().join("dedup.log")).expect("log").lines().count();
        assert!(lines <= 7, "compacted: {lines} lines");
    }
}
