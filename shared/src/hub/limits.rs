//! Rates on the hub: a token bucket on the hub's clock. Each tab has one (a tab over it gets
//! its messages refused, never the other tabs'), and each namespace paces what it sends to a
//! server that announced its limits in `sb:hello` (the durable queue flushed after an outage
//! goes out at the server's pace instead of tripping its flood guard).
//! Invariant: tokens never exceed the burst; time only enters as `now`.

use super::Millis;
use crate::contract::Limits;

/// `rate` tokens a second, at most `burst`; counted in thousandths of a token.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: u64,
    burst: u64,
    milli: u64,
    last: Millis,
    /// Set when a take failed, cleared by the next that succeeds (one log line per episode).
    tripped: bool,
}

impl Bucket {
    pub fn new(rate: u32, burst: u32, now: Millis) -> Bucket {
        let burst = burst.max(1) as u64;
        Bucket { rate: rate.max(1) as u64, burst, milli: burst * 1000, last: now, tripped: false }
    }

    /// The pace for a server's limits: four fifths of its rate and half its burst, leaving
    /// room for the hub's own messages (renewals, presence, acks).
    pub fn pace(limits: &Limits, now: Millis) -> Bucket {
        Bucket::new((limits.rate / 5 * 4).max(1), (limits.burst / 2).max(1), now)
    }

    fn refill(&mut self, now: Millis) {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        // One token a second is one thousandth a millisecond.
        self.milli = self.milli.saturating_add(elapsed.saturating_mul(self.rate)).min(self.burst * 1000);
    }

    /// Takes a token if there is one. `Err(true)` the first time it is refused in a row.
    pub fn take(&mut self, now: Millis) -> Result<(), bool> {
        self.refill(now);
        if self.milli >= 1000 {
            self.milli -= 1000;
            self.tripped = false;
            return Ok(());
        }
        let first = !self.tripped;
        self.tripped = true;
        Err(first)
    }

    /// When the next token is there.
    pub fn next_at(&self, now: Millis) -> Millis {
        let missing = 1000u64.saturating_sub(self.milli);
        now.max(self.last) + missing.div_ceil(self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate_and_says_when() {
        let mut b = Bucket::new(10, 3, 0);
        assert_eq!((0..5).filter(|_| b.take(0).is_ok()).count(), 3);
        assert_eq!(b.take(0), Err(false), "told once per episode");
        assert_eq!(b.next_at(0), 100, "a token every 100 ms");
        assert_eq!(b.take(99), Err(false));
        assert_eq!(b.take(100), Ok(()));
        assert_eq!((0..10).filter(|_| b.take(100_000).is_ok()).count(), 3, "never above the burst");
        let pace = Bucket::pace(&Limits { size: 1, rate: 1000, burst: 2000 }, 0);
        assert_eq!((pace.rate, pace.burst), (800, 1000));
    }
}
