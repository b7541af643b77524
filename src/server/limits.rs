//! Limits per socket (docs/server-contract.md, "Limits"): the largest message and a message
//! rate (a token bucket: `rate` per second, up to `burst` at once). Every handler of the
//! contract and the application takes the [`Admit`] extractor, and so does the fallback
//! handler for events nobody handles, so every message counts. A socket over a limit hears
//! `sb:limit {error, limit, max}` once and is disconnected; its further frames are dropped
//! unread, so one flooding socket costs the others only the frames already on the wire.
//! Invariant: a socket's limiter is created at connect and goes with the socket.

use serde_json::json;
use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value as RawValue};
use socketioxide::socket::Socket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use switchboard_shared::contract::{self, Limits};

/// A token bucket: `rate` tokens a second, at most `burst`.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        Bucket { rate: rate.max(1) as f64, burst: burst.max(1) as f64, tokens: burst.max(1) as f64, last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// A socket's limiter (in its extensions).
#[derive(Clone)]
pub struct Limiter {
    limits: Limits,
    bucket: Arc<Mutex<Bucket>>,
    tripped: Arc<AtomicBool>,
    /// The server's count of sockets cut off (shared by every socket's limiter).
    cut: Arc<AtomicU64>,
    /// Shown every admitted message (the admin UI's `event_received`), if set.
    tap: Option<super::admin::Tap>,
    /// The trace announced for the next message (`sb:trace`).
    trace: super::trace::Pending,
}

impl Limiter {
    pub fn new(limits: Limits, cut: Arc<AtomicU64>) -> Limiter {
        let bucket = Bucket::new(limits.rate, limits.burst, Instant::now());
        Limiter {
            limits,
            bucket: Arc::new(Mutex::new(bucket)),
            tripped: Arc::default(),
            cut,
            tap: None,
            trace: Default::default(),
        }
    }

    pub fn with_tap(mut self, tap: Option<super::admin::Tap>) -> Limiter {
        self.tap = tap;
        self
    }

    /// Why a message of `size` bytes is over the limits, if it is.
    fn check(&self, size: usize) -> Result<(), (&'static str, usize)> {
        if self.tripped.load(Ordering::Relaxed) {
            return Err(("closed", 0));
        }
        if size > self.limits.size {
            return Err(("size", self.limits.size));
        }
        let ok = self.bucket.lock().map(|mut b| b.take(Instant::now())).unwrap_or(false);
        if !ok {
            return Err(("rate", self.limits.rate as usize));
        }
        Ok(())
    }
}

/// The extractor that admits a message within the socket's limits (a socket without a
/// limiter — none is ever missing — is admitted), with the trace announced for it, if any
/// (`sb:trace`, see `trace.rs`: the one place that sees every message in order).
#[derive(Default)]
pub struct Admit {
    pub trace: Option<String>,
}

#[derive(Debug)]
pub struct OverLimit(&'static str);

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message over the socket's {} limit", self.0)
    }
}

impl std::error::Error for OverLimit {}

impl<A: Adapter> FromMessageParts<A> for Admit {
    type Error = OverLimit;
    fn from_message_parts(s: &Arc<Socket<A>>, v: &mut RawValue, ack: &Option<i64>) -> Result<Self, Self::Error> {
        let Some(limiter) = s.extensions.get::<Limiter>() else { return Ok(Admit::default()) };
        let size = v.len()
            + match v {
                RawValue::Str(_, Some(bins)) => bins.iter().map(|b| b.len()).sum(),
                _ => 0,
            };
        let (limit, max) = match limiter.check(size) {
            Ok(()) => {
                use super::trace::Observed;
                let RawValue::Str(raw, _) = &*v else { return Ok(Admit::default()) };
                let trace = match limiter.trace.observe(raw) {
                    Observed::Announce => return Ok(Admit::default()),
                    Observed::Malformed => {
                        tracing::warn!(sid = %s.id, "{} without a valid traceparent: ignored", contract::TRACE);
                        return Ok(Admit::default());
                    }
                    Observed::Event(trace) => trace,
                };
                if let Some(t) = &trace {
                    super::trace::log(&s.id.to_string(), t, raw, *ack);
                }
                if let Some(tap) = &limiter.tap {
                    tap(s.ns(), &s.id.to_string(), raw);
                }
                return Ok(Admit { trace });
            }
            Err(over) => over,
        };
        if limit == "closed" || limiter.tripped.swap(true, Ordering::Relaxed) {
            return Err(OverLimit("closed"));
        }
        limiter.cut.fetch_add(1, Ordering::Relaxed);
        let error = match limit {
            "size" => format!("message of {size} bytes over the limit of {max} bytes"),
            _ => format!("over {max} messages per second (burst {})", limiter.limits.burst),
        };
        tracing::warn!(sid = %s.id, limit, "socket over its limit: disconnected");
        let _ = s.emit(contract::LIMIT, &json!({ contract::ERROR_FIELD: error, "limit": limit, "max": max }));
        let _ = s.clone().disconnect();
        Err(OverLimit(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 5, t0);
        assert_eq!((0..8).filter(|_| b.take(t0)).count(), 5, "the burst");
        assert!(!b.take(t0 + Duration::from_millis(50)), "half a token");
        assert!(b.take(t0 + Duration::from_millis(100)), "one token a tenth of a second");
        assert_eq!((0..20).filter(|_| b.take(t0 + Duration::from_secs(60))).count(), 5, "never above the burst");
    }

    #[test]
    fn a_limiter_refuses_large_messages_and_floods() {
        let l = Limiter::new(Limits { size: 100, rate: 1, burst: 3 }, Arc::default());
        assert_eq!(l.check(101), Err(("size", 100)));
        assert!((0..3).all(|_| l.check(10).is_ok()));
        assert_eq!(l.check(10), Err(("rate", 1)));
    }
}
