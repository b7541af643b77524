//! Security events on the server (docs/server-contract.md, "Security events"): their
//! payloads (session revoked, credential changed, device verification required and done)
//! and suspicious activity — a burst of failed sign-ins on an account (threshold and window
//! configurable) and a sign-in from a device not seen for the user — told to the user's
//! signed-in sockets as `SECURITY_SUSPICIOUS_ACTIVITY`. Every event has a unique id, a
//! timestamp, who initiated it and a reason a person can read (OpenID CAEP's fields).
//! Several nodes count an account's failed sign-ins together, in Redis (`sb:watch:{user}`, a
//! sorted set of their times), so a burst spread over nodes is one burst.
//! Invariant: one event per burst (the count starts again after it); the failed password is
//! never kept or logged, only the time of the failure.

use super::node::SocketIo;
use super::shared::{self, Shared};
use crate::auth::{now_ms, token, Seen};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use switchboard_shared::contract;

/// `SECURITY_SUSPICIOUS_ACTIVITY`'s payload.
#[derive(Debug, Clone, Serialize)]
pub struct Suspicious {
    pub id: String,
    pub kind: &'static str,
    /// The device the activity came from (its id), if known.
    pub device: Option<String>,
    pub at: u64,
    pub action: &'static str,
    pub event_timestamp: u64,
    pub initiating_entity: &'static str,
    pub reason_user: String,
}

pub struct Watch {
    threshold: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<u64>>>,
    /// Several nodes: the failures are counted in Redis.
    shared: Option<Shared>,
}

/// Adds a failure at ARGV[1] (ms) to KEYS[1], forgets those before ARGV[2]; with ARGV[3] or
/// more in the window, empties it and returns 1 (a burst).
const FAILED: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1] .. ':' .. ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then redis.call('DEL', KEYS[1]) return 1 end
return 0";

impl Watch {
    pub fn new(threshold: usize, window: Duration) -> Watch {
        Watch { threshold: threshold.max(1), window, failures: Mutex::default(), shared: None }
    }

    /// Failures counted in Redis, together with every node's.
    pub fn in_redis(mut self, store: Shared) -> Watch {
        self.shared = Some(store);
        self
    }

    /// A failed sign-in for `user`: the event to raise when it completes a burst.
    pub async fn failed_login(&self, user: &str, device: Option<&str>) -> Option<Suspicious> {
        let now = now_ms();
        let since = now.saturating_sub(self.window.as_millis() as u64);
        let burst = match &self.shared {
            Some(store) => {
                static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
                let args = [
                    now.to_string(),
                    since.to_string(),
                    self.threshold.to_string(),
                    token()[..8].to_string(),
                    self.window.as_millis().to_string(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match store
                    .eval::<u8>("failed sign-ins", shared::script(&S, FAILED), &[&format!("sb:watch:{user}")], &args)
                    .await
                {
                    Ok(n) => n == 1,
                    Err(e) => {
                        tracing::error!("{e}");
                        false
                    }
                }
            }
            None => {
                let mut failures = self.failures.lock().ok()?;
                let recent = failures.entry(user.to_string()).or_default();
                recent.push_back(now);
                while recent.front().is_some_and(|t| *t < since) {
                    recent.pop_front();
                }
                let burst = recent.len() >= self.threshold;
                if burst {
                    recent.clear();
                }
                burst
            }
        };
        if !burst {
            return None;
        }
        let minutes = (self.window.as_secs() / 60).max(1);
        let reason = format!("{} failed sign-ins on your account within {minutes} min", self.threshold);
        Some(event("failed-logins", device, "none", "policy", reason))
    }

    /// A sign-in of `user` from `device` (the account store says whether it knew it): the
    /// event to raise when the user signed in before, never from this device. `verify`: the
    /// device must be verified before its session is more than limited.
    pub fn signed_in(&self, seen: Seen, device: Option<&str>, verify: bool) -> Option<Suspicious> {
        if seen != Seen::New {
            return None;
        }
        let action = if verify { "verify" } else { "none" };
        Some(event("new-device", device, action, "user", "a sign-in from a device not seen before".into()))
    }
}

fn event(
    kind: &'static str,
    device: Option<&str>,
    action: &'static str,
    by: &'static str,
    reason_user: String,
) -> Suspicious {
    let at = now_ms();
    Suspicious {
        id: token()[..24].to_string(),
        kind,
        device: device.map(String::from),
        at,
        action,
        event_timestamp: at,
        initiating_entity: by,
        reason_user,
    }
}

/// `SECURITY_SESSION_REVOKED`'s payload.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub id: String,
    /// `session` (one), `others` (all but the revoking one) or `all`.
    pub scope: &'static str,
    pub event_timestamp: u64,
    pub initiating_entity: &'static str,
    pub reason_user: String,
}

/// `SECURITY_CREDENTIAL_CHANGED`'s payload.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialChanged {
    pub id: String,
    pub credential: &'static str,
    pub change: &'static str,
    pub event_timestamp: u64,
    pub initiating_entity: &'static str,
    pub reason_user: String,
}

pub fn password_changed() -> CredentialChanged {
    CredentialChanged {
        id: token()[..24].to_string(),
        credential: "password",
        change: "update",
        event_timestamp: now_ms(),
        initiating_entity: "user",
        reason_user: "your password was changed; your other sessions are signed out".into(),
    }
}

/// The event for a session revoked by its user (`own`: the revoking session itself).
pub fn revoked(scope: &'static str, own: bool) -> Revoked {
    let reason_user = match own {
        true => "you signed this session out".into(),
        false => "signed out from another of your sessions".into(),
    };
    Revoked { id: token()[..24].to_string(), scope, event_timestamp: now_ms(), initiating_entity: "user", reason_user }
}

/// `SECURITY_DEVICE_VERIFICATION_REQUIRED`'s payload (`id` is the challenge's: the same
/// event told again on a new socket is a repeat).
#[derive(Debug, Clone, Serialize)]
pub struct VerificationRequired {
    pub id: String,
    pub challenge: String,
    pub method: &'static str,
    #[serde(rename = "expiresAt")]
    pub expires_at: u64,
    pub event_timestamp: u64,
    pub initiating_entity: &'static str,
    pub reason_user: String,
}

pub fn verification_required(challenge: &str, expires_at: u64) -> VerificationRequired {
    VerificationRequired {
        id: challenge.to_string(),
        challenge: challenge.to_string(),
        method: "email",
        expires_at,
        event_timestamp: now_ms(),
        initiating_entity: "policy",
        reason_user: "this device is new: enter the code we sent to confirm it".into(),
    }
}

/// `SECURITY_DEVICE_VERIFIED`'s payload.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceVerified {
    pub id: String,
    pub device: Option<String>,
    pub event_timestamp: u64,
    pub initiating_entity: &'static str,
    pub reason_user: String,
}

pub fn device_verified(device: Option<&str>) -> DeviceVerified {
    DeviceVerified {
        id: token()[..24].to_string(),
        device: device.map(String::from),
        event_timestamp: now_ms(),
        initiating_entity: "user",
        reason_user: "this device is verified".into(),
    }
}

/// `event(data)` to `room` in every namespace (a hub may use any of them).
pub async fn to_room<T: Serialize + ?Sized>(io: &SocketIo, room: &str, event: &str, data: &T) {
    for nsp in super::NAMESPACES {
        if let Some(ns) = io.of(nsp) {
            let _ = ns.to(room.to_string()).emit(event, data).await;
        }
    }
}

/// Tells `user`'s sockets (every namespace).
pub async fn tell(io: &SocketIo, user: &str, e: &Suspicious) {
    tracing::info!(user, kind = e.kind, id = %e.id, "suspicious activity");
    to_room(io, &format!("{}{user}", contract::USER_ROOM), contract::SECURITY_SUSPICIOUS_ACTIVITY, e).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_failures_raises_one_event_and_a_new_device_another() {
        let w = Watch::new(3, Duration::from_secs(600));
        assert!(w.failed_login("alice", None).await.is_none());
        assert!(w.failed_login("alice", None).await.is_none());
        let e = w.failed_login("alice", Some("d1")).await.expect("the third completes the burst");
        assert_eq!((e.kind, e.device.as_deref(), e.initiating_entity), ("failed-logins", Some("d1"), "policy"));
        assert!(w.failed_login("alice", None).await.is_none(), "the count starts again");
        assert!(w.failed_login("bob", None).await.is_none(), "per account");
        assert!(w.signed_in(Seen::First, Some("d1"), false).is_none(), "the first device is not suspicious");
        assert!(w.signed_in(Seen::Known, Some("d1"), false).is_none());
        let e = w.signed_in(Seen::New, Some("d2"), true).expect("a second device");
        assert_eq!((e.kind, e.action), ("new-device", "verify"));
        assert_eq!(w.signed_in(Seen::New, Some("d3"), false).map(|e| e.action), Some("none"));
        let (a, b) =
            (event("x", None, "none", "system", String::new()), event("x", None, "none", "system", String::new()));
        assert_ne!(a.id, b.id, "unique ids");
    }
}
