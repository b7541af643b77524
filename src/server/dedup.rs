//! The dedup log: the ids of recent `sb:emit` envelopes, so a second delivery of one is
//! dropped. A handler [`Dedup::claim`]s an id, hands a fresh one to the application, marks it
//! [`Dedup::done`], and only then sends the receipt, so an id the server acknowledged is
//! remembered.
//!
//! One node: the window (the last `cap` ids) lives in memory; with a data directory it is also
//! appended to a file (compacted now and then) by a thread of its own, so no handler blocks
//! the executor on a file write. A claim holds the node's hand-off turn until it is dropped:
//! while a hub reconnects, its old socket and its new one may carry the same id at once
//! (handled on two threads), and the resend must not be acknowledged before the original
//! reached the application.
//!
//! Several nodes (`--redis`): the window is in Redis (`shared.rs`), kept `keep` (24 h by
//! default). A claim is a lease: the id is `pending` while its handler runs, `done` after; a
//! second claim waits while it is pending, and takes it over if the lease lapses (the node
//! handling it died before it was done), so an emit a dead node never delivered is
//! delivered by another.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use super::shared::{self, Shared};

struct Window {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Window {
    fn new(cap: usize) -> Window {
        Window { seen: HashSet::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

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
    /// One node: a claim's turn (see the module's doc).
    handoff: tokio::sync::Mutex<()>,
    shared: Option<InRedis>,
}

/// The window in Redis: claims last `lease`, done ids are kept `keep`.
struct InRedis {
    store: Shared,
    lease: Duration,
    keep: Duration,
}

/// An id claimed by a handler: `fresh` when it is to be handed to the application. Drop it
/// once the application has it (one node: the next claim waits until then).
pub struct Claimed<'a> {
    pub fresh: bool,
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    /// Several nodes: the claim's token and when it was taken.
    lease: Option<(String, Instant)>,
}

impl Dedup {
    /// Reads the window kept under `dir` (if any) and starts its writer. Blocking: call it
    /// off the executor (`spawn_blocking`) or before serving.
    pub fn open(dir: Option<&Path>, cap: usize) -> std::io::Result<Dedup> {
        let mut window = Window::new(cap);
        let cap = window.cap;
        let alone =
            |window, writer| Dedup { window: Mutex::new(window), writer, handoff: Default::default(), shared: None };
        let Some(dir) = dir else { return Ok(alone(window, None)) };
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
        Ok(alone(window, Some(Mutex::new(tx))))
    }

    /// The window in Redis, shared by every node (nothing is kept in this node).
    pub fn in_redis(store: Shared, lease: Duration, keep: Duration) -> Dedup {
        Dedup {
            window: Mutex::new(Window::new(1)),
            writer: None,
            handoff: Default::default(),
            shared: Some(InRedis { store, lease, keep }),
        }
    }

    /// Claims `id` (waiting while another handler holds it). `Err`: Redis stayed away; the
    /// caller must not acknowledge the emit (the hub sends it again).
    pub async fn claim(&self, id: &str) -> Result<Claimed<'_>, String> {
        let Some(r) = &self.shared else {
            let turn = self.handoff.lock().await;
            return Ok(Claimed { fresh: self.remember(id), _turn: Some(turn), lease: None });
        };
        let give_up = Instant::now() + r.lease + shared::RETRY_FOR;
        // This claim's token (the node's name, for whoever inspects Redis).
        let mine = format!("{} {}", r.store.node(), &crate::auth::token()[..12]);
        loop {
            match r.store.claim(id, &mine, r.lease).await? {
                shared::Claim::Fresh => {
                    return Ok(Claimed { fresh: true, _turn: None, lease: Some((mine, Instant::now())) });
                }
                shared::Claim::Done => return Ok(Claimed { fresh: false, _turn: None, lease: None }),
                shared::Claim::Pending if Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                shared::Claim::Pending => return Err(format!("durable emit {id}: still being handled elsewhere")),
            }
        }
    }

    /// Several nodes: a claim made before its emit's turn, so its round trip overlaps those
    /// of the socket's earlier emits. None for one node, whose claim is the hand-off turn
    /// itself and is taken in turn.
    pub async fn claim_ahead(&self, id: &str) -> Option<Result<Claimed<'_>, String>> {
        match self.shared {
            Some(_) => Some(self.claim(id).await),
            None => None,
        }
    }

    /// The claim in the emit's turn: the one made ahead (confirmed if it waited long), or
    /// one made now.
    pub async fn claim_in_turn<'a>(
        &'a self,
        id: &str,
        ahead: Option<Result<Claimed<'a>, String>>,
    ) -> Result<Claimed<'a>, String> {
        match ahead {
            Some(claimed) => self.confirm(id, claimed?).await,
            None => self.claim(id).await,
        }
    }

    /// A claim taken a while ago (before its emit's turn came): still this handler's if more
    /// than half its lease passed? It is extended, or, if it lapsed, claimed again (and may
    /// turn out handled elsewhere meanwhile).
    async fn confirm<'a>(&'a self, id: &str, claimed: Claimed<'a>) -> Result<Claimed<'a>, String> {
        let (Some(r), Some((mine, at))) = (&self.shared, &claimed.lease) else { return Ok(claimed) };
        if at.elapsed() < r.lease / 2 {
            return Ok(claimed);
        }
        match r.store.claim(id, mine, r.lease).await? {
            shared::Claim::Fresh => Ok(Claimed { lease: Some((mine.clone(), Instant::now())), ..claimed }),
            _ => self.claim(id).await,
        }
    }

    /// Marks a claimed `id` handled: written to the file (one node, with a data directory) or
    /// to Redis. Returns once it is; `Err` when Redis stayed away.
    pub async fn done(&self, id: &str) -> Result<(), String> {
        match &self.shared {
            None => {
                self.persist(id).await;
                Ok(())
            }
            Some(r) => r.store.done(id, r.keep).await,
        }
    }

    /// In Redis: the store and how long a done id is kept (for steps that mark an id done
    /// together with the application's own write).
    pub fn shared(&self) -> Option<(&Shared, Duration)> {
        self.shared.as_ref().map(|r| (&r.store, r.keep))
    }

    /// True when `id` is new (and now remembered in memory).
    fn remember(&self, id: &str) -> bool {
        self.window.lock().map(|mut w| w.remember(id.to_string())).unwrap_or(true)
    }

    /// Writes a remembered `id` to the file (when there is one); returns once it is written.
    async fn persist(&self, id: &str) {
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

    /// Several nodes: a claim taken early and confirmed after more than half its lease is
    /// extended while still its own; one that lapsed and was handled by another claimant
    /// reads as handled (not delivered twice). Time passing is what is tested: real sleeps.
    #[tokio::test]
    async fn an_early_claim_is_confirmed_or_found_handled_elsewhere() {
        let redis = crate::bench_nodes::DevRedis::start().await.expect("redis-server");
        let (_, conn) = super::super::node::connect(&redis.url()).await.expect("connect");
        let lease = Duration::from_millis(300);
        let here = Dedup::in_redis(Shared::new(conn.clone(), "a", Default::default()), lease, Duration::from_secs(60));
        let there = Dedup::in_redis(Shared::new(conn.clone(), "b", Default::default()), lease, Duration::from_secs(60));
        let holder = || {
            let mut c = conn.clone();
            async move { redis::cmd("GET").arg("sb:dedup:kept").query_async::<Option<String>>(&mut c).await }
        };
        let kept = here.claim("kept").await.expect("claim");
        tokio::time::sleep(lease * 2 / 3).await;
        let kept = here.confirm("kept", kept).await.expect("confirm");
        assert!(kept.fresh, "still this handler's, extended");
        tokio::time::sleep(lease * 2 / 3).await;
        let held = holder().await.expect("GET");
        assert!(held.is_some_and(|h| h.starts_with("a ")), "the extended lease still holds");
        let lapsed = here.claim("lapsed").await.expect("claim");
        tokio::time::sleep(lease * 3 / 2).await;
        let other = there.claim("lapsed").await.expect("claim");
        assert!(other.fresh, "a lapsed claim is taken over");
        drop(other);
        there.done("lapsed").await.expect("done");
        let lapsed = here.confirm("lapsed", lapsed).await.expect("confirm");
        assert!(!lapsed.fresh, "handled elsewhere meanwhile: not delivered again");
    }
}
