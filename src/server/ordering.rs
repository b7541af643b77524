//! Per-socket ordering and drain. socketioxide runs every handler as its own task, so the
//! application could see a socket's events out of order: handlers take a ticket while their
//! arguments are extracted (which happens in packet order) and wait for their turn. `stop`
//! waits for every received event to be handled ([`Drain`]).
//! Invariants: a socket's turns live in the socket's extensions, so they go with it; the
//! in-flight count belongs to one server.

use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value as RawValue};
use socketioxide::socket::Socket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Application events received and not yet handled by one server.
#[derive(Debug, Default)]
pub struct Drain {
    in_flight: AtomicU64,
    handled: Notify,
}

impl Drain {
    /// Waits (at most `limit`) until no received event is waiting for its handler.
    pub async fn wait(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let handled = self.handled.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                handled.await;
            }
        })
        .await;
    }

    fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One received event until its handler is done (or dropped).
struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.handled.notify_waiters();
    }
}

/// One socket's turns; kept in the socket's extensions from its connection on.
#[derive(Debug)]
pub struct Turns {
    next: AtomicU64,
    serving: Mutex<u64>,
    changed: Notify,
    drain: Arc<Drain>,
}

impl Turns {
    pub fn new(drain: Arc<Drain>) -> Arc<Turns> {
        Arc::new(Turns { next: AtomicU64::new(0), serving: Mutex::new(0), changed: Notify::new(), drain })
    }
}

/// Extract it as a handler's last argument (extraction of earlier ones may fail; a ticket
/// taken must be served, or later events of the socket wait forever).
pub struct Ticket(Option<(Arc<Turns>, u64, InFlight)>);

impl<A: Adapter> FromMessageParts<A> for Ticket {
    type Error = std::convert::Infallible;
    fn from_message_parts(s: &Arc<Socket<A>>, _: &mut RawValue, _: &Option<i64>) -> Result<Self, Self::Error> {
        // Absent only if a handler ran before `connect` registered the socket: no ordering then.
        Ok(Ticket(s.extensions.get::<Arc<Turns>>().map(|t| {
            let n = t.next.fetch_add(1, Ordering::SeqCst);
            let in_flight = t.drain.start();
            (t, n, in_flight)
        })))
    }
}

impl Ticket {
    /// Waits for this event's turn; the next event's turn comes when the guard is dropped.
    pub async fn wait(self) -> TurnGuard {
        let Some((turns, n, in_flight)) = self.0 else { return TurnGuard(None) };
        loop {
            let changed = turns.changed.notified();
            if turns.serving.lock().map(|s| *s >= n).unwrap_or(true) {
                break;
            }
            changed.await;
        }
        TurnGuard(Some((turns, Some(in_flight))))
    }
}

pub struct TurnGuard(Option<(Arc<Turns>, Option<InFlight>)>);

/// An event whose turn has passed to the next one but which is not done yet (a durable emit
/// being marked): the server's drain still waits for it.
pub struct Unfinished(#[allow(dead_code)] Option<InFlight>);

impl TurnGuard {
    /// Gives the turn to the socket's next event, keeping this one counted in flight until
    /// the returned value is dropped.
    pub fn pass(mut self) -> Unfinished {
        Unfinished(self.0.as_mut().and_then(|(_, in_flight)| in_flight.take()))
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        if let Some((turns, _)) = &self.0 {
            if let Ok(mut s) = turns.serving.lock() {
                *s += 1;
            }
            turns.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_events_in_flight() {
        let drain = Arc::new(Drain::default());
        let event = drain.start();
        let d = drain.clone();
        let waiter = tokio::spawn(async move { d.wait(Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(event);
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("drained").expect("task");
    }

    #[tokio::test]
    async fn a_passed_turn_still_counts_until_its_event_is_done() {
        let drain = Arc::new(Drain::default());
        let turns = Turns::new(drain.clone());
        let guard = TurnGuard(Some((turns.clone(), Some(drain.start()))));
        let unfinished = guard.pass();
        assert_eq!(*turns.serving.lock().expect("lock"), 1, "the next event's turn");
        assert_eq!(drain.in_flight.load(Ordering::SeqCst), 1, "still in flight");
        drop(unfinished);
        assert_eq!(drain.in_flight.load(Ordering::SeqCst), 0);
    }
}
