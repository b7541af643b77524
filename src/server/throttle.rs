//! Attempts at a guessable secret (a password, a verification code, the admin credentials),
//! limited per key — an address, an account, a device — with a growing delay: a key may have
//! a few attempts in flight at once, and after `free` failures in a row each further failure
//! doubles its wait (from `base`, at most `max`). A key that must wait is answered at once,
//! with no hash run: 429 and `Retry-After` (OWASP Authentication cheat sheet, "Protect
//! against automated attacks"). A success forgives the key.
//!
//! Time is an argument (`now`), so the tests run on a virtual clock.
//! Invariant: the map holds at most `cap` keys; a full map forgets the key idle longest.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_shared::contract;

/// How one kind of key is limited.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures in a row before the delay starts.
    pub free: u32,
    /// Attempts of one key running at once.
    pub in_flight: u32,
    /// The first delay; each further failure doubles it, up to `max`.
    pub base: Duration,
    pub max: Duration,
}

impl Limit {
    /// Passwords and verification codes, per address, account or device.
    pub fn attempts(free: u32) -> Limit {
        Limit { free, in_flight: 4, base: Duration::from_secs(1), max: Duration::from_secs(15 * 60) }
    }
}

#[derive(Debug)]
struct Entry {
    in_flight: u32,
    failures: u32,
    /// No attempt before this.
    open_at: Instant,
    last: Instant,
}

/// Keys forgotten after this long without an attempt (and with no wait pending).
const FORGET: Duration = Duration::from_secs(3600);

pub struct Throttle {
    limit: Limit,
    cap: usize,
    keys: Mutex<HashMap<String, Entry>>,
}

/// An attempt admitted: report how it went with [`Attempt::done`]. Dropped unreported (the
/// client went away mid-check) it counts as a failure.
#[must_use]
pub struct Attempt {
    throttle: Arc<Throttle>,
    key: String,
    reported: bool,
}

impl Attempt {
    /// How it went: a success forgives the key, a failure counts.
    pub fn done(mut self, success: bool, now: Instant) {
        self.reported = true;
        self.throttle.finish(&self.key, success, now);
    }
}

impl Attempt {
    /// Not attempted after all (another key refused it): neither success nor failure.
    pub fn cancel(mut self) {
        self.reported = true;
        let mut keys = self.throttle.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = keys.get_mut(&self.key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.reported {
            self.throttle.finish(&self.key, false, Instant::now());
        }
    }
}

impl Throttle {
    pub fn new(limit: Limit, cap: usize) -> Throttle {
        Throttle { limit, cap: cap.max(1), keys: Mutex::default() }
    }

    /// Admits an attempt of `key`, or says how long it must wait.
    pub fn attempt(self: &Arc<Self>, key: &str, now: Instant) -> Result<Attempt, Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if !keys.contains_key(key) && keys.len() >= self.cap {
            keys.retain(|_, e| e.in_flight > 0 || e.open_at > now || now.duration_since(e.last) < FORGET);
            if keys.len() >= self.cap {
                let oldest = keys.iter().filter(|(_, e)| e.in_flight == 0).min_by_key(|(_, e)| e.last);
                let Some(oldest) = oldest.map(|(k, _)| k.clone()) else { return Err(Duration::from_secs(1)) };
                keys.remove(&oldest);
            }
        }
        let e = keys.entry(key.to_string()).or_insert(Entry { in_flight: 0, failures: 0, open_at: now, last: now });
        if e.open_at > now {
            return Err(round_up(e.open_at - now));
        }
        if e.in_flight >= self.limit.in_flight {
            return Err(Duration::from_secs(1));
        }
        e.in_flight += 1;
        e.last = now;
        Ok(Attempt { throttle: self.clone(), key: key.to_string(), reported: false })
    }

    fn finish(&self, key: &str, success: bool, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = keys.get_mut(key) else { return };
        e.in_flight = e.in_flight.saturating_sub(1);
        if success {
            e.failures = 0;
            e.open_at = now;
            return;
        }
        e.failures = e.failures.saturating_add(1);
        if let Some(over) = e.failures.checked_sub(self.limit.free) {
            let wait = self.limit.base.saturating_mul(1u32 << over.min(20)).min(self.limit.max);
            e.open_at = e.open_at.max(now + wait);
        }
    }

    /// Keys remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.lock().map(|k| k.len()).unwrap_or(0)
    }
}

/// The throttles of one server: sign-ins per address and per account (a trusted device has
/// its own key instead), verification codes per account, admin credentials per address.
pub struct Throttles {
    pub address: Arc<Throttle>,
    pub account: Arc<Throttle>,
    pub device: Arc<Throttle>,
    pub code: Arc<Throttle>,
    pub admin: Arc<Throttle>,
}

/// The default of `--attempts`: failures in a row before the delay.
pub const ATTEMPTS: u32 = 5;

/// Keys each throttle remembers at most.
const KEYS: usize = 65_536;

impl Throttles {
    /// `free`: failures in a row before the delay (`--attempts`).
    pub fn new(free: u32) -> Throttles {
        let t = || Arc::new(Throttle::new(Limit::attempts(free), KEYS));
        Throttles { address: t(), account: t(), device: t(), code: t(), admin: t() }
    }
}

/// Attempts admitted together (an address's and an account's), reported together.
#[must_use]
pub struct Attempts(Vec<Attempt>);

impl Attempts {
    /// Every attempt, or the longest wait among the refused (the admitted ones cancelled).
    pub fn all(list: impl IntoIterator<Item = Result<Attempt, Duration>>) -> Result<Attempts, Duration> {
        let (mut ok, mut wait) = (Vec::new(), None::<Duration>);
        for a in list {
            match a {
                Ok(a) => ok.push(a),
                Err(w) => wait = Some(wait.map_or(w, |v| v.max(w))),
            }
        }
        match wait {
            None => Ok(Attempts(ok)),
            Some(w) => {
                ok.into_iter().for_each(Attempt::cancel);
                Err(w)
            }
        }
    }

    pub fn done(self, success: bool) {
        let now = Instant::now();
        self.0.into_iter().for_each(|a| a.done(success, now));
    }

    /// The hash gate was full: a failure for the first key (the client's address: a flood
    /// that retries at once is soon told to wait, and the gate frees for others), nothing
    /// for the rest (an account is not held back by the server being busy).
    pub fn busy(self) {
        let mut all = self.0.into_iter();
        if let Some(first) = all.next() {
            first.done(false, Instant::now());
        }
        all.for_each(Attempt::cancel);
    }
}

/// A throttle key of a stranger-chosen name (a user name), bounded in length.
pub fn key(name: &str) -> String {
    name.chars().take(64).collect()
}

/// 429 with `Retry-After`: this key must wait.
pub fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let body =
        json!({ contract::ERROR_FIELD: format!("too many attempts: try again in {secs} s"), "retryAfter": secs });
    let mut res = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// 503 with `Retry-After: 1`: the hash gate is full.
pub fn busy() -> Response {
    let body = json!({ contract::ERROR_FIELD: crate::auth::BUSY, "retryAfter": 1 });
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
    res
}

/// Whole seconds, at least one (`Retry-After` counts seconds).
fn round_up(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Arc<Throttle> {
        Arc::new(Throttle::new(Limit::attempts(3), 100))
    }

    #[test]
    fn free_failures_then_a_doubling_wait() {
        let (t, t0) = (throttle(), Instant::now());
        for _ in 0..2 {
            let a = t.attempt("ip", t0).expect("free");
            a.done(false, t0);
        }
        let a = t.attempt("ip", t0).expect("the third is free too");
        a.done(false, t0);
        assert_eq!(t.attempt("ip", t0).err(), Some(Duration::from_secs(1)), "the third failure starts the wait");
        let a = t.attempt("ip", t0 + Duration::from_secs(1)).expect("after the wait");
        a.done(false, t0 + Duration::from_secs(1));
        assert_eq!(t.attempt("ip", t0 + Duration::from_secs(2)).err(), Some(Duration::from_secs(1)));
        assert!(t.attempt("ip", t0 + Duration::from_secs(3)).is_ok(), "waited twice as long");
        assert!(t.attempt("other", t0).is_ok(), "keys are apart");
    }

    #[test]
    fn a_success_forgives_and_the_wait_has_a_ceiling() {
        let (t, t0) = (throttle(), Instant::now());
        let mut now = t0;
        for _ in 0..40 {
            now += Duration::from_secs(3600);
            let a = t.attempt("acct", now).expect("after the longest wait");
            a.done(false, now);
        }
        assert_eq!(t.attempt("acct", now).err(), Some(Duration::from_secs(15 * 60)), "capped");
        now += Duration::from_secs(15 * 60);
        let a = t.attempt("acct", now).expect("open");
        a.done(true, now);
        for _ in 0..3 {
            let a = t.attempt("acct", now).expect("forgiven: free again");
            a.done(false, now);
        }
    }

    #[test]
    fn parallel_attempts_are_bounded_per_key() {
        let (t, t0) = (throttle(), Instant::now());
        let running: Vec<Attempt> = (0..4).map(|_| t.attempt("ip", t0).expect("in flight")).collect();
        assert!(t.attempt("ip", t0).is_err(), "a fifth at once waits");
        drop(running);
        assert!(t.attempt("ip", t0 + Duration::from_millis(1)).is_err(), "four dropped attempts: four failures");
    }

    #[test]
    fn a_cancelled_attempt_is_no_failure() {
        let (t, t0) = (throttle(), Instant::now());
        for _ in 0..10 {
            t.attempt("ip", t0).expect("free").cancel();
        }
        let refused = Attempts::all([t.attempt("ip", t0), Err(Duration::from_secs(2)), Err(Duration::from_secs(5))]);
        assert_eq!(refused.err(), Some(Duration::from_secs(5)), "the longest wait");
        assert!(t.attempt("ip", t0).is_ok(), "the first of the pair was cancelled");
    }

    #[test]
    fn a_flood_of_keys_cannot_grow_the_map() {
        let (t, t0) = (throttle(), Instant::now());
        for i in 0..1000 {
            if let Ok(a) = t.attempt(&format!("user{i}"), t0 + Duration::from_millis(i)) {
                a.done(false, t0 + Duration::from_millis(i));
            }
        }
        assert_eq!(t.len(), 100);
    }
}
