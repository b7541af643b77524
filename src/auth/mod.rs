//! Reference sign-in for the dev server: the account store. Users with argon2id password
//! hashes; sessions with short-lived access tokens and rotating refresh tokens (HttpOnly
//! SameSite=Strict cookies); the devices each user verified; revocations; device-verification
//! challenges. Everything lives in SQLite (the shared state's database, `state.sqlite3` in
//! `--data-dir`, else in memory), so a restart signs nobody out and forgets no revocation.
//! A refresh token used twice (a replay, or two refreshers racing) revokes its whole family.
//! Invariants: no plain password is stored or accepted from the users file; a password is
//! checked only against its hash (an unknown user costs the same hash as a known one); a
//! revoked session is deleted with its refresh family in one transaction.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod cookies;
mod secrets;

pub use cookies::{
    cookie, device_cookie, device_id, session_json, set_cookies, ACCESS_COOKIE, DEVICE_COOKIE, REFRESH_COOKIE,
};
use secrets::{challenge_code, same};
pub use secrets::{hash_password, parse_users, token, verify_hash};

/// Header every state-changing auth request must carry (a cross-site form cannot set it,
/// and a cross-origin script must pass a CORS preflight to): the CSRF guard, with the
/// SameSite=Strict cookies and the Origin check.
pub const CSRF_HEADER: &str = switchboard_shared::contract::CSRF_HEADER;
/// A device-verification code: digits, lifetime, wrong tries before it dies.
pub const CODE_DIGITS: usize = 6;
pub const CODE_TTL: Duration = Duration::from_secs(600);
pub const CODE_TRIES: u32 = 5;

/// The database both the account store and the shared state use.
pub type Db = Arc<Mutex<Connection>>;

/// Opens `state.sqlite3` in `dir` (WAL), or a database in memory.
pub fn open_db(dir: Option<&Path>) -> Result<Db, String> {
    let db = match dir {
        Some(d) => Connection::open(d.join("state.sqlite3")),
        None => Connection::open_in_memory(),
    }
    .map_err(|e| format!("database: {e}"))?;
    db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").map_err(|e| format!("database: {e}"))?;
    Ok(Arc::new(Mutex::new(db)))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub access: String,
    pub access_expires_ms: u64,
    pub refresh: String,
    pub refresh_expires_ms: u64,
    /// When it was created and last used (ms since the epoch), and its device.
    pub created_ms: u64,
    pub last_seen_ms: u64,
    pub device: Option<String>,
    /// False for a limited session: a new device waiting for its verification code.
    pub verified: bool,
}

/// Whether a sign-in's device was known for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The user's first device ever.
    First,
    Known,
    /// The user signed in before, never from this device.
    New,
    /// No device id.
    Unknown,
}

/// A successful sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    pub session: Session,
    pub seen: Seen,
    /// The limited session's challenge: `(id, expires at)`; its code went out by "mail".
    pub challenge: Option<(String, u64)>,
}

/// Why a verification code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    Wrong {
        tries_left: u32,
    },
    /// Too many wrong codes: the challenge is dead.
    Dead,
    Expired,
    NotPending,
}

impl VerifyError {
    pub fn message(&self) -> String {
        match self {
            VerifyError::Wrong { tries_left } => format!("wrong code; {tries_left} tries left"),
            VerifyError::Dead => "too many wrong codes: this challenge is dead; sign in again".into(),
            VerifyError::Expired => "the code expired; sign in again".into(),
            VerifyError::NotPending => "no verification is pending for this session".into(),
        }
    }
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
    db: Db,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Limited (unverified) sessions, mirrored from the database: checked on every message.
    limited: Mutex<HashSet<String>>,
    /// Codes "mailed" (the reference backend's outbox, for the demo and tests).
    mailbox: Mutex<Vec<(String, String)>>,
    /// Refresh tokens rotated in the last [`REUSE_GRACE_MS`], with when (memory only: after a
    /// restart every reuse is a replay).
    rotated: Mutex<HashMap<String, u64>>,
    /// Checked for an unknown user, so a guess costs the same either way.
    decoy: String,
    pub telemetry: Telemetry,
}

/// How long a rotated refresh token may come back from its own device without counting as a
/// replay (docs/server-contract.md, "Sign-in").
pub const REUSE_GRACE_MS: u64 = 10_000;

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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (user TEXT PRIMARY KEY, hash TEXT NOT NULL, changed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user TEXT NOT NULL, access TEXT NOT NULL,
    access_expires INTEGER NOT NULL, refresh TEXT NOT NULL, refresh_expires INTEGER NOT NULL,
    created INTEGER NOT NULL, last_seen INTEGER NOT NULL, device TEXT, verified INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_access ON sessions(access);
CREATE INDEX IF NOT EXISTS sessions_refresh ON sessions(refresh);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
CREATE TABLE IF NOT EXISTS used_refresh (token TEXT PRIMARY KEY, session TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revocations (session TEXT PRIMARY KEY, user TEXT NOT NULL, at INTEGER NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (user TEXT NOT NULL, device TEXT NOT NULL, first_seen INTEGER NOT NULL,
    PRIMARY KEY (user, device));
CREATE TABLE IF NOT EXISTS challenges (session TEXT PRIMARY KEY, id TEXT NOT NULL, code TEXT NOT NULL,
    tries INTEGER NOT NULL, expires INTEGER NOT NULL);
";

const COLS: &str = "id, user, access, access_expires, refresh, refresh_expires, created, last_seen, device, verified";

fn row(r: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        user: r.get(1)?,
        access: r.get(2)?,
        access_expires_ms: r.get::<_, i64>(3)? as u64,
        refresh: r.get(4)?,
        refresh_expires_ms: r.get::<_, i64>(5)? as u64,
        created_ms: r.get::<_, i64>(6)? as u64,
        last_seen_ms: r.get::<_, i64>(7)? as u64,
        device: r.get(8)?,
        verified: r.get(9)?,
    })
}

fn db_err(e: rusqlite::Error) -> String {
    format!("account store: {e}")
}

impl Auth {
    /// `users`: the `--users` file's text (`name:argon2-hash` lines); empty means the demo
    /// users alice and bob. A password changed through `/auth/password` wins over the file.
    pub fn open(db: Db, users: &str, access_ttl: Duration, refresh_ttl: Duration) -> Result<Auth, String> {
        let mut list = parse_users(users)?;
        let demo = list.is_empty();
        if demo {
            list = vec![("alice".into(), String::new()), ("bob".into(), String::new())];
        }
        let limited = {
            let conn = db.lock().map_err(|_| "account store unavailable")?;
            conn.execute_batch(SCHEMA).map_err(db_err)?;
            for (user, hash) in &mut list {
                let have: Option<String> = conn
                    .query_row("SELECT hash FROM accounts WHERE user = ?1", [&*user], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                if demo && have.is_some() {
                    continue;
                }
                if demo {
                    *hash = hash_password(&format!("{user}-password"))?;
                }
                conn.execute(
                    "INSERT INTO accounts (user, hash, changed) VALUES (?1, ?2, 0)
                     ON CONFLICT(user) DO UPDATE SET hash = excluded.hash WHERE accounts.changed = 0",
                    params![&*user, &*hash],
                )
                .map_err(db_err)?;
            }
            let mut stmt = conn.prepare("SELECT id FROM sessions WHERE verified = 0").map_err(db_err)?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
            ids.collect::<Result<HashSet<String>, _>>().map_err(db_err)?
        };
        Ok(Auth {
            db,
            access_ttl,
            refresh_ttl,
            limited: Mutex::new(limited),
            mailbox: Mutex::default(),
            rotated: Mutex::default(),
            decoy: hash_password(&token())?,
            telemetry: Telemetry::default(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Option<T> {
        let mut conn = self.db.lock().ok()?;
        match f(&mut conn) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!("account store: {e}");
                None
            }
        }
    }

    pub fn user_names(&self) -> Vec<String> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT user FROM accounts ORDER BY user")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            names.collect()
        })
        .unwrap_or_default()
    }

    pub fn user_exists(&self, user: &str) -> bool {
        self.with(|c| c.query_row("SELECT 1 FROM accounts WHERE user = ?1", [user], |_| Ok(())).optional())
            .flatten()
            .is_some()
    }

    pub fn login(&self, user: &str, password: &str) -> Option<Session> {
        self.login_from(user, password, None)
    }

    /// A sign-in from `device` (the device cookie), if the password is right; the device is
    /// trusted at once.
    pub fn login_from(&self, user: &str, password: &str, device: Option<&str>) -> Option<Session> {
        self.sign_in(user, password, device, false).map(|s| s.session)
    }

    /// A sign-in. With `verify_new`, a device the user has not verified gets a limited session
    /// and a challenge whose code is "mailed" (printed, and kept in [`Auth::mailbox`]).
    /// Slow by design (argon2): call it off the async threads.
    pub fn sign_in(&self, user: &str, password: &str, device: Option<&str>, verify_new: bool) -> Option<SignedIn> {
        if !self.password_is(user, password) {
            self.telemetry.login_failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let now = now_ms();
        let seen = match device {
            None => Seen::Unknown,
            Some(d) => self.with(|c| {
                let known = c
                    .query_row("SELECT 1 FROM devices WHERE user = ?1 AND device = ?2", [user, d], |_| Ok(()))
                    .optional()?;
                let any: i64 = c.query_row("SELECT COUNT(*) FROM devices WHERE user = ?1", [user], |r| r.get(0))?;
                Ok(match (known, any) {
                    (Some(()), _) => Seen::Known,
                    (None, 0) => Seen::First,
                    (None, _) => Seen::New,
                })
            })?,
        };
        let verified = !verify_new || seen == Seen::Known;
        let s = Session {
            id: token()[..16].to_string(),
            user: user.to_string(),
            access: token(),
            access_expires_ms: now + self.access_ttl.as_millis() as u64,
            refresh: token(),
            refresh_expires_ms: now + self.refresh_ttl.as_millis() as u64,
            created_ms: now,
            last_seen_ms: now,
            device: device.map(String::from),
            verified,
        };
        let code = challenge_code();
        let challenge = (token()[..24].to_string(), now + CODE_TTL.as_millis() as u64);
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                &format!("INSERT INTO sessions ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    s.id,
                    s.user,
                    s.access,
                    s.access_expires_ms as i64,
                    s.refresh,
                    s.refresh_expires_ms as i64,
                    now as i64,
                    now as i64,
                    s.device,
                    s.verified
                ],
            )?;
            match (verified, device) {
                (true, Some(d)) if seen != Seen::Known => {
                    tx.execute("INSERT OR IGNORE INTO devices VALUES (?1, ?2, ?3)", params![user, d, now as i64])?;
                }
                (false, _) => {
                    tx.execute(
                        "INSERT INTO challenges (session, id, code, tries, expires) VALUES (?1, ?2, ?3, 0, ?4)",
                        params![s.id, challenge.0, code, challenge.1 as i64],
                    )?;
                }
                _ => {}
            }
            tx.commit()
        })?;
        self.telemetry.logins.fetch_add(1, Ordering::Relaxed);
        if verified {
            return Some(SignedIn { session: s, seen, challenge: None });
        }
        if let Ok(mut l) = self.limited.lock() {
            l.insert(s.id.clone());
        }
        self.mail(user, &code);
        Some(SignedIn { session: s, seen, challenge: Some(challenge) })
    }

    /// The reference backend's "mail": the code is printed for the person at the terminal
    /// (never through the log) and kept for the demo and tests.
    fn mail(&self, user: &str, code: &str) {
        println!("[mail to {user}] your Switchboard verification code is {code} (valid 10 minutes)");
        if let Ok(mut m) = self.mailbox.lock() {
            if m.len() >= 100 {
                m.remove(0);
            }
            m.push((user.to_string(), code.to_string()));
        }
    }

    /// The last code mailed to `user`.
    pub fn last_mail(&self, user: &str) -> Option<String> {
        self.mailbox.lock().ok()?.iter().rev().find(|(u, _)| u == user).map(|(_, c)| c.clone())
    }

    /// Whether session `id` is limited (waiting for its device verification).
    pub fn is_limited(&self, id: &str) -> bool {
        self.limited.lock().is_ok_and(|l| l.contains(id))
    }

    /// Whether any session is limited (checked before finding a socket's session, which is
    /// the costlier part, on every message).
    pub fn any_limited(&self) -> bool {
        self.limited.lock().is_ok_and(|l| !l.is_empty())
    }

    /// The pending challenge of a limited session: `(id, expires at)`.
    pub fn challenge_of(&self, session: &str) -> Option<(String, u64)> {
        self.with(|c| {
            c.query_row("SELECT id, expires FROM challenges WHERE session = ?1", [session], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .optional()
        })
        .flatten()
    }

    /// Confirms a limited session's code: the session becomes full and its device trusted.
    pub fn verify(&self, session: &str, code: &str) -> Result<Session, VerifyError> {
        let now = now_ms();
        let outcome = self.with(|c| {
            let tx = c.transaction()?;
            let pending: Option<(String, u32, i64)> = tx
                .query_row("SELECT code, tries, expires FROM challenges WHERE session = ?1", [session], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let result = match pending {
                None => Err(VerifyError::NotPending),
                Some((_, _, expires)) if (expires as u64) < now => {
                    tx.execute("DELETE FROM challenges WHERE session = ?1", [session])?;
                    Err(VerifyError::Expired)
                }
                Some((expected, tries, _)) if !same(&expected, code.trim()) => {
                    let tries = tries + 1;
                    if tries >= CODE_TRIES {
                        tx.execute("DELETE FROM challenges WHERE session = ?1", [session])?;
                        Err(VerifyError::Dead)
                    } else {
                        tx.execute("UPDATE challenges SET tries = ?2 WHERE session = ?1", params![session, tries])?;
                        Err(VerifyError::Wrong { tries_left: CODE_TRIES - tries })
                    }
                }
                Some(_) => {
                    tx.execute("DELETE FROM challenges WHERE session = ?1", [session])?;
                    tx.execute("UPDATE sessions SET verified = 1 WHERE id = ?1", [session])?;
                    tx.execute(
                        "INSERT OR IGNORE INTO devices SELECT user, device, ?2 FROM sessions
                         WHERE id = ?1 AND device IS NOT NULL",
                        params![session, now as i64],
                    )?;
                    Ok(())
                }
            };
            tx.commit()?;
            Ok(result)
        });
        outcome.ok_or(VerifyError::NotPending)??;
        if let Ok(mut l) = self.limited.lock() {
            l.remove(session);
        }
        self.session(session).ok_or(VerifyError::NotPending)
    }

    /// Rotates the session of `refresh_token`. A token rotated less than [`REUSE_GRACE_MS`]
    /// ago that comes back from the session's own `device` is two refreshers of one browser
    /// racing (hubs of a `per-tab` client): it gets the session's current tokens. Any other
    /// reuse is a replay and revokes the family.
    pub fn refresh(&self, refresh_token: &str, device: Option<&str>) -> Refresh {
        self.telemetry.refresh_requests.fetch_add(1, Ordering::Relaxed);
        self.telemetry.refresh_seen.notify_waiters();
        let now = now_ms();
        let (access, refresh) = (token(), token());
        let (access_expires, refresh_expires) =
            (now + self.access_ttl.as_millis() as u64, now + self.refresh_ttl.as_millis() as u64);
        let outcome = self.with(|c| {
            let tx = c.transaction()?;
            let current = tx
                .query_row(&format!("SELECT {COLS} FROM sessions WHERE refresh = ?1"), [refresh_token], row)
                .optional()?;
            let result = match current {
                Some(s) if s.refresh_expires_ms < now => Refresh::Invalid,
                Some(mut s) => {
                    tx.execute("INSERT OR IGNORE INTO used_refresh VALUES (?1, ?2)", [refresh_token, &s.id])?;
                    tx.execute(
                        "UPDATE sessions SET access = ?2, access_expires = ?3, refresh = ?4, refresh_expires = ?5,
                         last_seen = ?6 WHERE id = ?1",
                        params![s.id, access, access_expires as i64, refresh, refresh_expires as i64, now as i64],
                    )?;
                    (s.access, s.access_expires_ms, s.refresh, s.refresh_expires_ms, s.last_seen_ms) =
                        (access, access_expires, refresh, refresh_expires, now);
                    if let Ok(mut r) = self.rotated.lock() {
                        r.retain(|_, at| now.saturating_sub(*at) < REUSE_GRACE_MS);
                        r.insert(refresh_token.to_string(), now);
                    }
                    Refresh::Ok(s)
                }
                None => {
                    let family: Option<String> = tx
                        .query_row("SELECT session FROM used_refresh WHERE token = ?1", [refresh_token], |r| r.get(0))
                        .optional()?;
                    let recent = self.recently_rotated(refresh_token, now);
                    let current = match (&family, recent) {
                        (Some(id), true) => tx
                            .query_row(&format!("SELECT {COLS} FROM sessions WHERE id = ?1"), [id], row)
                            .optional()?
                            .filter(|s| device.is_some() && s.device.as_deref() == device),
                        _ => None,
                    };
                    match current {
                        Some(s) => Refresh::Ok(s),
                        None => match family
                            .map(|id| revoke_in(&tx, &id, "refresh token reuse", now))
                            .transpose()?
                            .flatten()
                        {
                            Some(s) => Refresh::Reused(s),
                            None => Refresh::Invalid,
                        },
                    }
                }
            };
            tx.commit()?;
            Ok(result)
        });
        let counter = match &outcome {
            Some(Refresh::Ok(_)) => &self.telemetry.refreshes,
            Some(Refresh::Reused(_)) => &self.telemetry.reuse_detected,
            _ => &self.telemetry.refresh_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome.unwrap_or(Refresh::Invalid)
    }

    fn recently_rotated(&self, token: &str, now: u64) -> bool {
        self.rotated
            .lock()
            .ok()
            .and_then(|r| r.get(token).copied())
            .is_some_and(|at| now.saturating_sub(at) < REUSE_GRACE_MS)
    }

    /// The session of a valid (unexpired) access token.
    pub fn session_for_access(&self, access: &str) -> Option<Session> {
        let now = now_ms() as i64;
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM sessions WHERE access = ?1 AND access_expires > ?2"),
                params![access, now],
                row,
            )
            .optional()
        })
        .flatten()
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        self.with(|c| c.query_row(&format!("SELECT {COLS} FROM sessions WHERE id = ?1"), [id], row).optional())
            .flatten()
    }

    /// Notes that session `id` was used now (its "last seen").
    pub fn touch(&self, id: &str) {
        self.with(|c| c.execute("UPDATE sessions SET last_seen = ?2 WHERE id = ?1", params![id, now_ms() as i64]));
    }

    /// Whether `password` is `user`'s (an unknown user costs a hash too).
    fn password_is(&self, user: &str, password: &str) -> bool {
        let hash: Option<String> = self
            .with(|c| c.query_row("SELECT hash FROM accounts WHERE user = ?1", [user], |r| r.get(0)).optional())
            .flatten();
        match hash {
            Some(h) => verify_hash(&h, password),
            None => {
                verify_hash(&self.decoy, password);
                false
            }
        }
    }

    /// Changes `user`'s password if `current` is right and `new` is acceptable. Slow (argon2).
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
        let hash = hash_password(new).map_err(|_| "cannot hash the new password")?;
        self.with(|c| {
            c.execute(
                "UPDATE accounts SET hash = ?2, changed = ?3 WHERE user = ?1",
                params![user, hash, now_ms() as i64],
            )
        })
        .ok_or("accounts unavailable")?;
        Ok(())
    }

    /// `user`'s sessions, oldest first.
    pub fn sessions_of(&self, user: &str) -> Vec<Session> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLS} FROM sessions WHERE user = ?1 ORDER BY created, id"))?;
            let rows = stmt.query_map([user], row)?;
            rows.collect()
        })
        .unwrap_or_default()
    }

    /// Ends these sessions at once (their refresh families die with them, the revocation is
    /// recorded); returns them.
    pub fn revoke(&self, ids: &[String], reason: &str) -> Vec<Session> {
        let now = now_ms();
        let revoked = self
            .with(|c| {
                let tx = c.transaction()?;
                let mut out = Vec::new();
                for id in ids {
                    out.extend(revoke_in(&tx, id, reason, now)?);
                }
                tx.commit()?;
                Ok(out)
            })
            .unwrap_or_default();
        if let Ok(mut l) = self.limited.lock() {
            revoked.iter().for_each(|s| {
                l.remove(&s.id);
            });
        }
        revoked
    }

    /// Whether session `id` was revoked (and why).
    pub fn revocation(&self, id: &str) -> Option<String> {
        self.with(|c| c.query_row("SELECT reason FROM revocations WHERE session = ?1", [id], |r| r.get(0)).optional())
            .flatten()
    }

    pub fn logout_refresh(&self, refresh_token: &str) -> Option<Session> {
        let id: String = self
            .with(|c| {
                c.query_row("SELECT id FROM sessions WHERE refresh = ?1", [refresh_token], |r| r.get(0)).optional()
            })
            .flatten()?;
        self.telemetry.logouts.fetch_add(1, Ordering::Relaxed);
        self.revoke(&[id], "logout").pop()
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

/// Deletes session `id`, its refresh family and its challenge, and records the revocation.
fn revoke_in(tx: &rusqlite::Transaction, id: &str, reason: &str, now: u64) -> rusqlite::Result<Option<Session>> {
    let Some(s) = tx.query_row(&format!("SELECT {COLS} FROM sessions WHERE id = ?1"), [id], row).optional()? else {
        return Ok(None);
    };
    tx.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
    tx.execute("DELETE FROM used_refresh WHERE session = ?1", [id])?;
    tx.execute("DELETE FROM challenges WHERE session = ?1", [id])?;
    tx.execute("INSERT OR REPLACE INTO revocations VALUES (?1, ?2, ?3, ?4)", params![id, s.user, now as i64, reason])?;
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(users: &str) -> Auth {
        let db = open_db(None).expect("db");
        Auth::open(db, users, Duration::from_secs(60), Duration::from_secs(600)).expect("auth")
    }

    #[test]
    fn the_users_file_takes_hashes_and_refuses_plain_passwords() {
        let hash = hash_password("s3cret-pass").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let users = parse_users(&format!("# team\n\ncarol:{hash}\n")).expect("parsed");
        assert_eq!(users, vec![("carol".to_string(), hash.clone())]);
        let err = parse_users("dave:hunter2-plain").expect_err("plain");
        assert!(err.contains("line 1") && err.contains("hash-password") && !err.contains("hunter2"), "{err}");
        assert!(parse_users("no-colon").is_err());
        let auth = store(&format!("carol:{hash}"));
        assert!(auth.login("carol", "s3cret-pass").is_some());
        assert!(auth.login("carol", "wrong").is_none());
        assert!(auth.login("nobody", "s3cret-pass").is_none());
        assert_eq!(auth.user_names(), ["carol"]);
    }

    #[test]
    fn a_new_device_gets_a_limited_session_until_its_code() {
        let auth = store("");
        let first = auth.sign_in("alice", "alice-password", Some("d1"), true).expect("signed in");
        assert_eq!(first.seen, Seen::First);
        assert!(
            first.challenge.is_some() && auth.is_limited(&first.session.id),
            "verification is for every new device"
        );
        let code = auth.last_mail("alice").expect("mailed");
        assert_eq!(code.len(), CODE_DIGITS);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_eq!(auth.verify(&first.session.id, wrong), Err(VerifyError::Wrong { tries_left: 4 }));
        assert!(auth.verify(&first.session.id, &code).is_ok_and(|s| s.verified));
        assert!(!auth.is_limited(&first.session.id));
        assert_eq!(auth.verify(&first.session.id, &code).err(), Some(VerifyError::NotPending), "single use");
        let again = auth.sign_in("alice", "alice-password", Some("d1"), true).expect("signed in");
        assert_eq!((again.seen, again.challenge.is_none()), (Seen::Known, true), "a verified device is trusted");
        // Five wrong codes kill the challenge.
        let other = auth.sign_in("alice", "alice-password", Some("d2"), true).expect("signed in");
        assert_eq!(other.seen, Seen::New);
        let code = auth.last_mail("alice").expect("mailed");
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for left in (1..CODE_TRIES).rev() {
            assert_eq!(auth.verify(&other.session.id, wrong), Err(VerifyError::Wrong { tries_left: left }));
        }
        assert_eq!(auth.verify(&other.session.id, wrong), Err(VerifyError::Dead));
        assert_eq!(
            auth.verify(&other.session.id, &code),
            Err(VerifyError::NotPending),
            "dead, even with the right code"
        );
        assert!(auth.is_limited(&other.session.id));
    }

    /// Two refreshers of one browser racing (per-tab hubs): the second gets the session's
    /// current tokens within the grace; the same token from another device, or later, is a
    /// replay that revokes the family.
    #[test]
    fn a_refresh_race_from_one_device_is_not_a_replay() {
        let open = || {
            Auth::open(open_db(None).expect("db"), "", Duration::from_secs(60), Duration::from_secs(600)).expect("auth")
        };
        let auth = open();
        let s = auth.login_from("alice", "alice-password", Some("d1")).expect("signed in");
        let Refresh::Ok(first) = auth.refresh(&s.refresh, Some("d1")) else { panic!("refresh") };
        let Refresh::Ok(second) = auth.refresh(&s.refresh, Some("d1")) else { panic!("the racing refresh") };
        assert_eq!((second.id.as_str(), second.refresh.as_str()), (first.id.as_str(), first.refresh.as_str()));
        assert!(matches!(auth.refresh(&s.refresh, None), Refresh::Reused(_)), "no device: a replay");
        let auth = open();
        let s = auth.login_from("alice", "alice-password", Some("d1")).expect("signed in");
        assert!(matches!(auth.refresh(&s.refresh, Some("d1")), Refresh::Ok(_)));
        assert!(matches!(auth.refresh(&s.refresh, Some("d2")), Refresh::Reused(_)), "another device: a replay");
        assert!(auth.session_for_access(&s.access).is_none());
    }

    #[test]
    fn sessions_and_revocations_survive_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let open = || {
            Auth::open(open_db(Some(dir.path())).expect("db"), "", Duration::from_secs(60), Duration::from_secs(600))
                .expect("auth")
        };
        let (kept, gone) = {
            let auth = open();
            let kept = auth.login("alice", "alice-password").expect("a");
            let gone = auth.login("alice", "alice-password").expect("b");
            assert_eq!(auth.revoke(std::slice::from_ref(&gone.id), "test").len(), 1);
            assert!(auth.change_password("alice", "alice-password", "new-password-1").is_ok());
            (kept, gone)
        };
        let auth = open();
        assert!(auth.session_for_access(&kept.access).is_some(), "still signed in");
        assert!(auth.session_for_access(&gone.access).is_none(), "still revoked");
        assert_eq!(auth.revocation(&gone.id).as_deref(), Some("test"));
        assert!(matches!(auth.refresh(&gone.refresh, None), Refresh::Invalid));
        assert!(auth.login("alice", "new-password-1").is_some(), "the changed password outlives the restart");
        assert!(auth.login("alice", "alice-password").is_none());
        let Refresh::Ok(rotated) = auth.refresh(&kept.refresh, None) else { panic!("refresh") };
        assert!(matches!(auth.refresh(&kept.refresh, None), Refresh::Reused(_)), "reuse detected across the restart");
        assert!(auth.session(&rotated.id).is_none(), "the family is gone");
    }
}
