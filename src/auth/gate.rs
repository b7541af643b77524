//! The bound on password hashing: every argon2 check (sign-ins, password changes, the admin
//! credentials) runs through one [`Gate`] per server, at most `permits` at once (each holds
//! ~19 MiB while it runs), with at most `queue` more waiting; beyond that a check is refused
//! at once ([`Busy`]: the caller answers 503 with `Retry-After`). A waiting check whose
//! client went away is dropped before it hashes (its future is dropped, and with it its
//! place in the queue). Checks from a trusted device (`priority`) never meet a full queue
//! and have a permit of their own, so a flood of strangers cannot keep a returning user out.
//! The checks run on the gate's own threads, one per permit: the memory a hash frees stays
//! with the allocator of the thread that ran it, so a pool of many threads (tokio's blocking
//! pool) would keep ~19 MiB for every thread that ever hashed.
//! Invariant: no argon2 work starts outside a permit, or on another thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::Semaphore;

/// A check for the gate's threads.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes at once by default (`--max-hashes`): two cores, ~19 MiB each.
pub const PERMITS: usize = 2;
/// Checks waiting for a permit by default (`--hash-queue`).
pub const QUEUE: usize = 8;

/// The gate is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct Gate {
    permits: Arc<Semaphore>,
    /// One more permit only checks of trusted devices may take.
    reserve: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Checks running or waiting at most (the permits and the queue).
    capacity: usize,
    /// Hashes run so far, and checks refused for a full queue.
    pub hashes: AtomicU64,
    pub busy: AtomicU64,
    /// To the gate's threads (as many as permits, the reserve's included).
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// Counts a check as waiting while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    pub fn new(permits: usize, queue: usize) -> Gate {
        let (jobs, queued) = mpsc::channel::<Job>();
        let queued = Arc::new(Mutex::new(queued));
        for n in 0..permits.max(1) + 1 {
            let queued = queued.clone();
            let spawned = std::thread::Builder::new().name(format!("hash-{n}")).spawn(move || loop {
                // One job at a time; the lock is held only while taking it.
                let job = match queued.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a hashing thread: {e}");
            }
        }
        Gate {
            jobs: Mutex::new(jobs),
            permits: Arc::new(Semaphore::new(permits.max(1))),
            reserve: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
            capacity: permits.max(1) + queue,
            hashes: AtomicU64::new(0),
            busy: AtomicU64::new(0),
        }
    }

    /// Runs `check` (blocking, slow) on the blocking pool once a permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        priority: bool,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let waiting = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        if waiting >= self.capacity && !priority {
            self.busy.fetch_add(1, Ordering::Relaxed);
            return Err(Busy);
        }
        let permit = match priority {
            false => self.permits.clone().acquire_owned().await,
            true => tokio::select! {
                p = self.permits.clone().acquire_owned() => p,
                p = self.reserve.clone().acquire_owned() => p,
            },
        };
        let Ok(permit) = permit else { return Err(Busy) };
        self.hashes.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = tx.send(check());
        });
        self.jobs.lock().map_err(|_| Busy)?.send(job).map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }

    /// Checks waiting or running now.
    pub fn load(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_trusted_devices_pass() {
        let gate = Arc::new(Gate::new(1, 2));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let mut running = Vec::new();
        for _ in 0..3 {
            let (g, rx) = (gate.clone(), rx.clone());
            running.push(tokio::spawn(async move {
                g.run(false, move || {
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        while gate.load() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(gate.run(false, || ()).await, Err(Busy), "one running and two waiting: full");
        assert_eq!(gate.busy.load(Ordering::Relaxed), 1);
        // A trusted device takes the reserve permit while the others wait.
        assert_eq!(gate.run(true, || 7).await, Ok(7));
        for _ in 0..3 {
            tx.send(()).expect("a check is waiting");
        }
        for r in running {
            assert_eq!(r.await.expect("joined"), Ok(()));
        }
        assert_eq!(gate.hashes.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn a_check_dropped_while_waiting_never_runs() {
        let gate = Arc::new(Gate::new(1, 8));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let first = tokio::spawn(async move {
            g.run(false, move || {
                let _ = rx.recv();
            })
            .await
        });
        while gate.hashes.load(Ordering::Relaxed) < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let (g, r) = (gate.clone(), ran.clone());
        let waiting = tokio::spawn(async move {
            g.run(false, move || {
                r.fetch_add(1, Ordering::Relaxed);
            })
            .await
        });
        while gate.load() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        waiting.abort();
        let _ = waiting.await;
        tx.send(()).expect("the first is running");
        assert_eq!(first.await.expect("joined"), Ok(()));
        assert_eq!(gate.run(false, || ()).await, Ok(()));
        assert_eq!(ran.load(Ordering::Relaxed), 0, "the dropped check never hashed");
        assert_eq!(gate.hashes.load(Ordering::Relaxed), 2);
    }
}
