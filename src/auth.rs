//! Reference sign-in for the dev server: users, sessions, short-lived access tokens and
//! rotating refresh tokens, all in HttpOnly SameSite=Strict cookies. A refresh token used
//! twice (a replay, or two refreshers racing) revokes its whole family.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ACCESS_COOKIE: &str = "sb_access";
pub const REFRESH_COOKIE: &str = "sb_refresh";
/// A long-lived id for this browser (the `device:<id>` room).
pub const DEVICE_COOKIE: &str = "sb_device";
/// Header every state-changing auth request must carry (a cross-site form cannot set it,
/// and a cross-origin script must pass a CORS preflight to): the CSRF guard, with the
/// SameSite=Strict cookies and the Origin check.
pub const CSRF_HEADER: &str = switchboard_shared::contract::CSRF_HEADER;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub access: String,
    pub access_expires_ms: u64,
    pub refresh: String,
    pub refresh_expires_ms: u64,
    /// Refresh tokens this family already used: presenting one again is a replay.
    pub used: Vec<String>,
    /// When it was created (ms since the epoch) and the device it signed in from.
    pub created_ms: u64,
    pub device: Option<String>,
}

#[derive(Default)]
pub struct Telemetry {
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_failures: AtomicU64,
    pub reuse_detected: AtomicU64,
    pub logouts: AtomicU64,
    /// Every POST /auth/refresh that reached the session store, and a wake-up for each.
    pub refresh_requests: AtomicU64,
    pub refresh_seen: tokio::sync::Notify,
}

pub struct Auth {
    users: Mutex<HashMap<String, String>>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    pub telemetry: Telemetry,
}

pub enum Refresh {
    Ok(Session),
    /// Unknown or expired token.
    Invalid,
    /// A rotated token came back: the family is revoked; these sessions' sockets must go.
    Reused(Session),
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// 32 random bytes from the OS, hex-encoded.
pub fn token() -> String {
    let mut buf = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_ok();
    if !ok {
        // Never expected on Linux; fall back to std's randomly keyed hasher.
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Auth {
    /// `users`: `name:password` lines; empty means the demo users.
    pub fn new(users: &str, access_ttl: Duration, refresh_ttl: Duration) -> Auth {
        let mut map: HashMap<String, String> = users
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(u, p)| (u.trim().to_string(), p.trim().to_string()))
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .collect();
        if map.is_empty() {
            map.insert("alice".into(), "alice-password".into());
            map.insert("bob".into(), "bob-password".into());
        }
        Auth {
            users: Mutex::new(map),
            access_ttl,
            refresh_ttl,
            sessions: Mutex::default(),
            telemetry: Telemetry::default(),
        }
    }

    pub fn user_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.users.lock().map(|u| u.keys().cloned().collect()).unwrap_or_default();
        v.sort();
        v
    }

    pub fn login(&self, user: &str, password: &str) -> Option<Session> {
        self.login_from(user, password, None)
    }

    /// A sign-in from `device` (the device cookie), if the password is right.
    pub fn login_from(&self, user: &str, password: &str, device: Option<&str>) -> Option<Session> {
        if !self.password_is(user, password) {
            self.telemetry.login_failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.telemetry.logins.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let s = Session {
            id: token()[..16].to_string(),
            user: user.to_string(),
            access: token(),
            access_expires_ms: now + self.access_ttl.as_millis() as u64,
            refresh: token(),
            refresh_expires_ms: now + self.refresh_ttl.as_millis() as u64,
            used: Vec::new(),
            created_ms: now,
            device: device.map(String::from),
        };
        self.sessions.lock().ok()?.insert(s.id.clone(), s.clone());
        Some(s)
    }

    pub fn refresh(&self, refresh_token: &str) -> Refresh {
        self.telemetry.refresh_requests.fetch_add(1, Ordering::Relaxed);
        self.telemetry.refresh_seen.notify_waiters();
        let Ok(mut sessions) = self.sessions.lock() else { return Refresh::Invalid };
        let now = now_ms();
        if let Some(s) = sessions.values_mut().find(|s| s.refresh == refresh_token) {
            if s.refresh_expires_ms < now {
                self.telemetry.refresh_failures.fetch_add(1, Ordering::Relaxed);
                return Refresh::Invalid;
            }
            s.used.push(std::mem::replace(&mut s.refresh, token()));
            s.access = token();
            s.access_expires_ms = now + self.access_ttl.as_millis() as u64;
            s.refresh_expires_ms = now + self.refresh_ttl.as_millis() as u64;
            self.telemetry.refreshes.fetch_add(1, Ordering::Relaxed);
            return Refresh::Ok(s.clone());
        }
        let reused = sessions.values().find(|s| s.used.iter().any(|u| u == refresh_token)).map(|s| s.id.clone());
        if let Some(id) = reused {
            self.telemetry.reuse_detected.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = sessions.remove(&id) {
                return Refresh::Reused(s);
            }
        }
        self.telemetry.refresh_failures.fetch_add(1, Ordering::Relaxed);
        Refresh::Invalid
    }

    /// The session of a valid (unexpired) access token.
    pub fn session_for_access(&self, access: &str) -> Option<Session> {
        let now = now_ms();
        self.sessions.lock().ok()?.values().find(|s| s.access == access && s.access_expires_ms > now).cloned()
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    fn password_is(&self, user: &str, password: &str) -> bool {
        self.users.lock().is_ok_and(|u| u.get(user).map(String::as_str) == Some(password))
    }

    /// Changes `user`'s password if `current` is right and `new` is acceptable.
    pub fn change_password(&self, user: &str, current: &str, new: &str) -> Result<(), &'static str> {
        if !self.password_is(user, current) {
            self.telemetry.login_failures.fetch_add(1, Ordering::Relaxed);
            return Err("the current password is wrong");
        }
        if new.chars().count() < 8 {
            return Err("the new password must have at least 8 characters");
        }
        if new == current {
            return Err("the new password is the current one");
        }
        let mut users = self.users.lock().map_err(|_| "accounts unavailable")?;
        users.insert(user.to_string(), new.to_string());
        Ok(())
    }

    /// `user`'s sessions, oldest first.
    pub fn sessions_of(&self, user: &str) -> Vec<Session> {
        let Ok(sessions) = self.sessions.lock() else { return Vec::new() };
        let mut v: Vec<Session> = sessions.values().filter(|s| s.user == user).cloned().collect();
        v.sort_by_key(|s| (s.created_ms, s.id.clone()));
        v
    }

    /// Ends these sessions at once (their refresh families die with them); returns them.
    pub fn revoke(&self, ids: &[String]) -> Vec<Session> {
        let Ok(mut sessions) = self.sessions.lock() else { return Vec::new() };
        ids.iter().filter_map(|id| sessions.remove(id)).collect()
    }

    pub fn logout_refresh(&self, refresh_token: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().ok()?;
        let id = sessions.values().find(|s| s.refresh == refresh_token)?.id.clone();
        self.telemetry.logouts.fetch_add(1, Ordering::Relaxed);
        sessions.remove(&id)
    }

    pub fn telemetry_json(&self) -> Value {
        let t = &self.telemetry;
        json!({
            "logins": t.logins.load(Ordering::Relaxed),
            "login_failures": t.login_failures.load(Ordering::Relaxed),
            "refreshes": t.refreshes.load(Ordering::Relaxed),
            "refresh_failures": t.refresh_failures.load(Ordering::Relaxed),
            "refresh_reuse_detected": t.reuse_detected.load(Ordering::Relaxed),
            "logouts": t.logouts.load(Ordering::Relaxed),
            "refresh_requests": t.refresh_requests.load(Ordering::Relaxed),
        })
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// `Set-Cookie` values for a signed-in session (or, with None, clearing both).
pub fn set_cookies(s: Option<&Session>, secure: bool) -> [String; 2] {
    let sec = if secure { "; Secure" } else { "" };
    match s {
        Some(s) => {
            let now = now_ms();
            let access_age = s.access_expires_ms.saturating_sub(now) / 1000;
            let refresh_age = s.refresh_expires_ms.saturating_sub(now) / 1000;
            [
                format!(
                    "{ACCESS_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{sec}",
                    s.access,
                    access_age.max(1)
                ),
                format!(
                    "{REFRESH_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/auth; Max-Age={}{sec}",
                    s.refresh,
                    refresh_age.max(1)
                ),
            ]
        }
        None => [
            format!("{ACCESS_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{sec}"),
            format!("{REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0{sec}"),
        ],
    }
}

/// What the client learns about a session (never a token).
pub fn session_json(s: &Session) -> Value {
    json!({"user": s.user, "session": s.id, "expires_at": s.access_expires_ms, "refresh_expires_at": s.refresh_expires_ms})
}

/// `Set-Cookie` for a new device id (a year, HttpOnly).
pub fn device_cookie() -> String {
    format!("{DEVICE_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000", &token()[..16])
}
