//! Security events on the server (docs/server-contract.md, "Security events"): so far,
//! suspicious activity — a burst of failed sign-ins on an account (threshold and window
//! configurable) and a sign-in from a device not seen for the user — told to the user's
//! signed-in sockets as `SECURITY_SUSPICIOUS_ACTIVITY` with a unique id, a timestamp, who
//! initiated it and a reason a person can read.
//! Invariant: one event per burst (the count starts again after it); the failed password is
//! never kept or logged, only the time of the failure.

use crate::auth::{now_ms, token};
use serde::Serialize;
use socketioxide::SocketIo;
use std::collections::{HashMap, HashSet, VecDeque};
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
    /// Devices each user signed in from (in memory for now).
    devices: Mutex<HashMap<String, HashSet<String>>>,
}

impl Watch {
    pub fn new(threshold: usize, window: Duration) -> Watch {
        Watch { threshold: threshold.max(1), window, failures: Mutex::default(), devices: Mutex::default() }
    }

    /// A failed sign-in for `user`: the event to raise when it completes a burst.
    pub fn failed_login(&self, user: &str, device: Option<&str>) -> Option<Suspicious> {
        let now = now_ms();
        let mut failures = self.failures.lock().ok()?;
        let recent = failures.entry(user.to_string()).or_default();
        recent.push_back(now);
        let since = now.saturating_sub(self.window.as_millis() as u64);
        while recent.front().is_some_and(|t| *t < since) {
            recent.pop_front();
        }
        if recent.len() < self.threshold {
            return None;
        }
        recent.clear();
        let minutes = (self.window.as_secs() / 60).max(1);
        let reason = format!("{} failed sign-ins on your account within {minutes} min", self.threshold);
        Some(event("failed-logins", device, "policy", reason))
    }

    /// A sign-in of `user` from `device`: the event to raise when the user has signed in
    /// before, never from this device.
    pub fn signed_in(&self, user: &str, device: Option<&str>) -> Option<Suspicious> {
        let device = device?;
        let mut devices = self.devices.lock().ok()?;
        let known = devices.entry(user.to_string()).or_default();
        let first_ever = known.is_empty();
        if !known.insert(device.to_string()) || first_ever {
            return None;
        }
        Some(event("new-device", Some(device), "user", "a sign-in from a device not seen before".into()))
    }
}

fn event(kind: &'static str, device: Option<&str>, by: &'static str, reason_user: String) -> Suspicious {
    let at = now_ms();
    Suspicious {
        id: token()[..24].to_string(),
        kind,
        device: device.map(String::from),
        at,
        action: "none",
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

/// Tells `user`'s sockets (every namespace).
pub async fn tell(io: &SocketIo, user: &str, e: &Suspicious) {
    tracing::info!(user, kind = e.kind, id = %e.id, "suspicious activity");
    for nsp in super::NAMESPACES {
        if let Some(ns) = io.of(nsp) {
            let room = format!("{}{user}", contract::USER_ROOM);
            let _ = ns.to(room).emit(contract::SECURITY_SUSPICIOUS_ACTIVITY, e).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_raises_one_event_and_a_new_device_another() {
        let w = Watch::new(3, Duration::from_secs(600));
        assert!(w.failed_login("alice", None).is_none());
        assert!(w.failed_login("alice", None).is_none());
        let e = w.failed_login("alice", Some("d1")).expect("the third completes the burst");
        assert_eq!((e.kind, e.device.as_deref(), e.initiating_entity), ("failed-logins", Some("d1"), "policy"));
        assert!(w.failed_login("alice", None).is_none(), "the count starts again");
        assert!(w.failed_login("bob", None).is_none(), "per account");
        assert!(w.signed_in("alice", Some("d1")).is_none(), "the first device is not suspicious");
        assert!(w.signed_in("alice", Some("d1")).is_none());
        let e = w.signed_in("alice", Some("d2")).expect("a second device");
        assert_eq!(e.kind, "new-device");
        assert!(w.signed_in("alice", None).is_none());
        let (a, b) = (event("x", None, "system", String::new()), event("x", None, "system", String::new()));
        assert_ne!(a.id, b.id, "unique ids");
    }
}
