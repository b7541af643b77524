//! Reference sign-in for the dev server: the account store. Users with argon2id password
//! hashes; sessions with short-lived access tokens and rotating refresh tokens (HttpOnly
//! SameSite=Strict cookies); the devices each user verified; revocations; device-verification
//! challenges. One node keeps them in SQLite (`sqlite.rs`: the shared state's database,
//! `state.sqlite3` in `--data-dir`, else in memory), so a restart signs nobody out and forgets
//! no revocation; several nodes keep them in Redis (`redis.rs`), so a token rotated on one
//! node is known to every other. A refresh token used twice (a replay, or two refreshers
//! racing) revokes its whole family.
//! Invariants: no plain password is stored or accepted from the users file; a password is
//! checked only against its hash (an unknown user costs the same hash as a known one); a
//! revoked session is deleted with its refresh family in one step; a store error is logged
//! and read as "no" (not signed in, not refreshed), never as "yes".

use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod cookies;
pub mod gate;
mod redis;
mod secrets;
mod sqlite;

pub use cookies::{
    cookie, device_cookie, device_of, device_secret, pseudonym, session_json, set_cookies, ACCESS_COOKIE,
    DEVICE_COOKIE, DEVICE_SECRET_LEN, REFRESH_COOKIE,
};
use secrets::challenge_code;
pub use secrets::{hash_password, parse_users, token, verify_hash};
pub use sqlite::Db;

/// Header every state-changing auth request must carry (a cross-site form cannot set it,
/// and a cross-origin script must pass a CORS preflight to): the CSRF guard, with the
/// SameSite=Strict cookies and the Origin check.
pub const CSRF_HEADER: &str = switchboard_shared::contract::CSRF_HEADER;
/// A device-verification code: digits, lifetime, wrong tries before it dies.
pub const CODE_DIGITS: usize = 6;
pub const CODE_TTL: Duration = Duration::from_secs(600);
pub const CODE_TRIES: u32 = 5;

/// Opens `state.sqlite3` in `dir` (WAL), or a database in memory.
pub fn open_db(dir: Option<&Path>) -> Result<Db, String> {
    let db = match dir {
        Some(d) => rusqlite::Connection::open(d.join("state.sqlite3")),
        None => rusqlite::Connection::open_in_memory(),
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

/// Where the accounts live.
enum Store {
    Sqlite(sqlite::Sqlite),
    Redis(redis::InRedis),
}

/// Runs one store step on whichever store this is.
macro_rules! on_store {
    ($self:ident, $s:ident => $e:expr) => {
        match &$self.store {
            Store::Sqlite($s) => $e,
            Store::Redis($s) => $e.await,
        }
    };
}

pub struct Auth {
    store: Store,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Limited (unverified) sessions this node knows of: checked on every message, so kept in
    /// memory (one node: loaded at start; several: learnt when a session is read).
    limited: Mutex<HashSet<String>>,
    /// Codes "mailed" (the reference backend's outbox, for the demo and tests).
    mailbox: Mutex<Vec<(String, String)>>,
    /// Checked for an unknown user, so a guess costs the same either way.
    decoy: String,
    pub telemetry: Telemetry,
    /// Every password hash runs through it (`gate.rs`).
    pub gate: gate::Gate,
}

/// Why a sign-in or a password check did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Wrong user name or password (or the accounts are unavailable).
    Wrong,
    /// Too many checks at once: try again shortly (503).
    Busy,
}

/// The answer to a password check refused for a full gate.
pub const BUSY: &str = "the server is busy checking passwords: try again in a second";

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

/// A store step's outcome, its error logged.
fn logged<T>(r: Result<T, String>) -> Option<T> {
    r.map_err(|e| tracing::error!("account store: {e}")).ok()
}

/// The accounts to load: the `--users` file's, or the demo users (hashed here).
fn accounts(users: &str) -> Result<(Vec<(String, String)>, bool), String> {
    let list = parse_users(users)?;
    if !list.is_empty() {
        return Ok((list, false));
    }
    let demo = ["alice", "bob"].map(|u| Ok::<_, String>((u.to_string(), hash_password(&format!("{u}-password"))?)));
    Ok((demo.into_iter().collect::<Result<_, _>>()?, true))
}

impl Auth {
    /// One node: the accounts in SQLite. `users`: the `--users` file's text (`name:argon2-hash`
    /// lines); empty means the demo users alice and bob. A password changed through
    /// `/auth/password` wins over the file.
    pub fn open(db: Db, users: &str, access_ttl: Duration, refresh_ttl: Duration) -> Result<Auth, String> {
        let (list, demo) = accounts(users)?;
        let (store, limited) = sqlite::Sqlite::open(db, &list, demo)?;
        Auth::with_store(Store::Sqlite(store), limited, access_ttl, refresh_ttl)
    }

    /// Several nodes: the accounts in Redis.
    pub async fn open_shared(
        shared: crate::server::shared::Shared,
        users: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Auth, String> {
        let users = users.to_string();
        let (list, demo) = tokio::task::spawn_blocking(move || accounts(&users)).await.map_err(|e| e.to_string())??;
        let store = redis::InRedis::open(shared, &list, demo).await?;
        Auth::with_store(Store::Redis(store), HashSet::new(), access_ttl, refresh_ttl)
    }

    fn with_store(
        store: Store,
        limited: HashSet<String>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Auth, String> {
        Ok(Auth {
            store,
            access_ttl,
            refresh_ttl,
            limited: Mutex::new(limited),
            mailbox: Mutex::default(),
            decoy: hash_password(&token())?,
            telemetry: Telemetry::default(),
            gate: gate::Gate::new(gate::PERMITS, gate::QUEUE),
        })
    }

    pub async fn user_names(&self) -> Vec<String> {
        logged(on_store!(self, s => s.user_names())).unwrap_or_default()
    }

    pub async fn user_exists(&self, user: &str) -> bool {
        logged(on_store!(self, s => s.hash_of(user))).flatten().is_some()
    }

    pub async fn login(&self, user: &str, password: &str) -> Option<Session> {
        self.login_from(user, password, None).await
    }

    /// A sign-in from `device` (the device cookie), if the password is right; the device is
    /// trusted at once.
    pub async fn login_from(&self, user: &str, password: &str, device: Option<&str>) -> Option<Session> {
        self.sign_in(user, password, device, false, false).await.ok().map(|s| s.session)
    }

    /// A sign-in. With `verify_new`, a device the user has not verified gets a limited session
    /// and a challenge whose code is "mailed" (printed, and kept in [`Auth::mailbox`]).
    /// The password check (argon2, slow by design) runs off the async threads, through the
    /// gate (`priority`: a device this user signed in from before).
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        device: Option<&str>,
        verify_new: bool,
        priority: bool,
    ) -> Result<SignedIn, Refused> {
        if !self.password_is(user, password, priority).await? {
            self.telemetry.login_failures.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Wrong);
        }
        let now = now_ms();
        let seen = match device {
            None => Seen::Unknown,
            Some(d) => logged(on_store!(self, s => s.seen(user, d))).ok_or(Refused::Wrong)?,
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
        let trust = verified && seen != Seen::Known;
        let pending = (!verified).then_some((challenge.0.as_str(), code.as_str(), challenge.1));
        logged(on_store!(self, st => st.insert(&s, trust, pending))).ok_or(Refused::Wrong)?;
        self.telemetry.logins.fetch_add(1, Ordering::Relaxed);
        if verified {
            return Ok(SignedIn { session: s, seen, challenge: None });
        }
        if let Ok(mut l) = self.limited.lock() {
            l.insert(s.id.clone());
        }
        self.mail(user, &code);
        Ok(SignedIn { session: s, seen, challenge: Some(challenge) })
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

    /// Notes what a session read from the store says of its verification.
    fn learn(&self, s: &Session) {
        if let Ok(mut l) = self.limited.lock() {
            match s.verified {
                true => l.remove(&s.id),
                false => l.insert(s.id.clone()),
            };
        }
    }

    /// Session `id` was verified (on any node): no longer limited here.
    pub fn verified_elsewhere(&self, id: &str) {
        if let Ok(mut l) = self.limited.lock() {
            l.remove(id);
        }
    }

    /// The pending challenge of a limited session: `(id, expires at)`.
    pub async fn challenge_of(&self, session: &str) -> Option<(String, u64)> {
        logged(on_store!(self, s => s.challenge_of(session))).flatten()
    }

    /// Confirms a limited session's code: the session becomes full and its device trusted.
    pub async fn verify(&self, session: &str, code: &str) -> Result<Session, VerifyError> {
        let outcome = logged(on_store!(self, s => s.verify(session, code.trim(), now_ms())));
        outcome.ok_or(VerifyError::NotPending)??;
        self.verified_elsewhere(session);
        self.session(session).await.ok_or(VerifyError::NotPending)
    }

    /// Rotates the session of `refresh_token`. A token rotated less than [`REUSE_GRACE_MS`]
    /// ago that comes back from the session's own `device` is two refreshers of one browser
    /// racing (hubs of a `per-tab` client): it gets the session's current tokens. Any other
    /// reuse is a replay and revokes the family.
    pub async fn refresh(&self, refresh_token: &str, device: Option<&str>) -> Refresh {
        self.telemetry.refresh_requests.fetch_add(1, Ordering::Relaxed);
        self.telemetry.refresh_seen.notify_waiters();
        let now = now_ms();
        let (access, refresh) = (token(), token());
        let next = (
            access.as_str(),
            now + self.access_ttl.as_millis() as u64,
            refresh.as_str(),
            now + self.refresh_ttl.as_millis() as u64,
        );
        let outcome = logged(on_store!(self, s => s.refresh(refresh_token, device, now, next)));
        let counter = match &outcome {
            Some(Refresh::Ok(_)) => &self.telemetry.refreshes,
            Some(Refresh::Reused(_)) => &self.telemetry.reuse_detected,
            _ => &self.telemetry.refresh_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome.unwrap_or(Refresh::Invalid)
    }

    /// The session of a valid (unexpired) access token.
    pub async fn session_for_access(&self, access: &str) -> Option<Session> {
        let now = now_ms();
        let s = match &self.store {
            Store::Sqlite(s) => logged(s.session_for_access(access, now)),
            Store::Redis(s) => logged(s.session_for_access(access).await),
        }
        .flatten()
        .filter(|s| s.access_expires_ms > now)?;
        self.learn(&s);
        Some(s)
    }

    pub async fn session(&self, id: &str) -> Option<Session> {
        logged(on_store!(self, s => s.session(id))).flatten()
    }

    /// Notes that session `id` was used now (its "last seen").
    pub async fn touch(&self, id: &str) {
        logged(on_store!(self, s => s.touch(id, now_ms())));
    }

    /// Whether `password` is `user`'s (an unknown user costs a hash too), checked off the
    /// async threads through the gate.
    async fn password_is(&self, user: &str, password: &str, priority: bool) -> Result<bool, Refused> {
        let hash = logged(on_store!(self, s => s.hash_of(user))).flatten();
        let (known, hash) = match hash {
            Some(h) => (true, h),
            None => (false, self.decoy.clone()),
        };
        let password = password.to_string();
        let right = self.gate.run(priority, move || verify_hash(&hash, &password)).await.map_err(|_| Refused::Busy)?;
        Ok(known && right)
    }

    /// Whether `device` signed in as `user` before (a trusted device: its sign-ins take the
    /// gate's reserve and their own throttle key).
    pub async fn knows_device(&self, user: &str, device: &str) -> bool {
        logged(on_store!(self, s => s.seen(user, device))).is_some_and(|seen| seen == Seen::Known)
    }

    /// Changes `user`'s password if `current` is right and `new` is acceptable. Slow (argon2).
    pub async fn change_password(&self, user: &str, current: &str, new: &str) -> Result<(), &'static str> {
        if !self.password_is(user, current, false).await.map_err(|_| BUSY)? {
            self.telemetry.login_failures.fetch_add(1, Ordering::Relaxed);
            return Err("the current password is wrong");
        }
        if new.chars().count() < 8 {
            return Err("the new password must have at least 8 characters");
        }
        if new == current {
            return Err("the new password is the current one");
        }
        let new = new.to_string();
        let hash = self.gate.run(false, move || hash_password(&new)).await.map_err(|_| BUSY)?;
        let hash = hash.map_err(|_| "cannot hash the new password")?;
        logged(on_store!(self, s => s.set_password(user, &hash, now_ms()))).ok_or("accounts unavailable")
    }

    /// `user`'s sessions, oldest first.
    pub async fn sessions_of(&self, user: &str) -> Vec<Session> {
        logged(on_store!(self, s => s.sessions_of(user))).unwrap_or_default()
    }

    /// Ends these sessions at once (their refresh families die with them, the revocation is
    /// recorded); returns them.
    pub async fn revoke(&self, ids: &[String], reason: &str) -> Vec<Session> {
        let revoked = logged(on_store!(self, s => s.revoke(ids, reason, now_ms()))).unwrap_or_default();
        if let Ok(mut l) = self.limited.lock() {
            revoked.iter().for_each(|s| {
                l.remove(&s.id);
            });
        }
        revoked
    }

    /// Whether session `id` was revoked (and why).
    pub async fn revocation(&self, id: &str) -> Option<String> {
        logged(on_store!(self, s => s.revocation(id))).flatten()
    }

    pub async fn logout_refresh(&self, refresh_token: &str) -> Option<Session> {
        let id = logged(on_store!(self, s => s.session_of_refresh(refresh_token))).flatten()?;
        self.telemetry.logouts.fetch_add(1, Ordering::Relaxed);
        self.revoke(&[id], "logout").await.pop()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store(users: &str) -> Auth {
        let db = open_db(None).expect("db");
        Auth::open(db, users, Duration::from_secs(60), Duration::from_secs(600)).expect("auth")
    }

    #[tokio::test]
    async fn the_users_file_takes_hashes_and_refuses_plain_passwords() {
        let hash = hash_password("s3cret-pass").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let users = parse_users(&format!("# team\n\ncarol:{hash}\n")).expect("parsed");
        assert_eq!(users, vec![("carol".to_string(), hash.clone())]);
        let err = parse_users("dave:hunter2-plain").expect_err("plain");
        assert!(err.contains("line 1") && err.contains("hash-password") && !err.contains("hunter2"), "{err}");
        assert!(parse_users("no-colon").is_err());
        let auth = store(&format!("carol:{hash}"));
        assert!(auth.login("carol", "s3cret-pass").await.is_some());
        assert!(auth.login("carol", "wrong").await.is_none());
        assert!(auth.login("nobody", "s3cret-pass").await.is_none());
        assert_eq!(auth.user_names().await, ["carol"]);
    }

    #[tokio::test]
    async fn a_new_device_gets_a_limited_session_until_its_code() {
        let auth = store("");
        let first = auth.sign_in("alice", "alice-password", Some("d1"), true, false).await.expect("signed in");
        assert_eq!(first.seen, Seen::First);
        assert!(
            first.challenge.is_some() && auth.is_limited(&first.session.id),
            "verification is for every new device"
        );
        let code = auth.last_mail("alice").expect("mailed");
        assert_eq!(code.len(), CODE_DIGITS);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_eq!(auth.verify(&first.session.id, wrong).await, Err(VerifyError::Wrong { tries_left: 4 }));
        assert!(auth.verify(&first.session.id, &code).await.is_ok_and(|s| s.verified));
        assert!(!auth.is_limited(&first.session.id));
        assert_eq!(auth.verify(&first.session.id, &code).await.err(), Some(VerifyError::NotPending), "single use");
        let again = auth.sign_in("alice", "alice-password", Some("d1"), true, false).await.expect("signed in");
        assert_eq!((again.seen, again.challenge.is_none()), (Seen::Known, true), "a verified device is trusted");
        // Five wrong codes kill the challenge.
        let other = auth.sign_in("alice", "alice-password", Some("d2"), true, false).await.expect("signed in");
        assert_eq!(other.seen, Seen::New);
        let code = auth.last_mail("alice").expect("mailed");
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for left in (1..CODE_TRIES).rev() {
            assert_eq!(auth.verify(&other.session.id, wrong).await, Err(VerifyError::Wrong { tries_left: left }));
        }
        assert_eq!(auth.verify(&other.session.id, wrong).await, Err(VerifyError::Dead));
        assert_eq!(
            auth.verify(&other.session.id, &code).await,
            Err(VerifyError::NotPending),
            "dead, even with the right code"
        );
        assert!(auth.is_limited(&other.session.id));
    }

    /// Two refreshers of one browser racing (per-tab hubs): the second gets the session's
    /// current tokens within the grace; the same token from another device, or later, is a
    /// replay that revokes the family.
    #[tokio::test]
    async fn a_refresh_race_from_one_device_is_not_a_replay() {
        let open = || {
            Auth::open(open_db(None).expect("db"), "", Duration::from_secs(60), Duration::from_secs(600)).expect("auth")
        };
        let auth = open();
        let s = auth.login_from("alice", "alice-password", Some("d1")).await.expect("signed in");
        let Refresh::Ok(first) = auth.refresh(&s.refresh, Some("d1")).await else { panic!("refresh") };
        let Refresh::Ok(second) = auth.refresh(&s.refresh, Some("d1")).await else { panic!("the racing refresh") };
        assert_eq!((second.id.as_str(), second.refresh.as_str()), (first.id.as_str(), first.refresh.as_str()));
        assert!(matches!(auth.refresh(&s.refresh, None).await, Refresh::Reused(_)), "no device: a replay");
        let auth = open();
        let s = auth.login_from("alice", "alice-password", Some("d1")).await.expect("signed in");
        assert!(matches!(auth.refresh(&s.refresh, Some("d1")).await, Refresh::Ok(_)));
        assert!(matches!(auth.refresh(&s.refresh, Some("d2")).await, Refresh::Reused(_)), "another device: a replay");
        assert!(auth.session_for_access(&s.access).await.is_none());
    }

    #[tokio::test]
    async fn sessions_and_revocations_survive_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let open = || {
            Auth::open(open_db(Some(dir.path())).expect("db"), "", Duration::from_secs(60), Duration::from_secs(600))
                .expect("auth")
        };
        let (kept, gone) = {
            let auth = open();
            let kept = auth.login("alice", "alice-password").await.expect("a");
            let gone = auth.login("alice", "alice-password").await.expect("b");
            assert_eq!(auth.revoke(std::slice::from_ref(&gone.id), "test").await.len(), 1);
            assert!(auth.change_password("alice", "alice-password", "new-password-1").await.is_ok());
            (kept, gone)
        };
        let auth = open();
        assert!(auth.session_for_access(&kept.access).await.is_some(), "still signed in");
        assert!(auth.session_for_access(&gone.access).await.is_none(), "still revoked");
        assert_eq!(auth.revocation(&gone.id).await.as_deref(), Some("test"));
        assert!(matches!(auth.refresh(&gone.refresh, None).await, Refresh::Invalid));
        assert!(auth.login("alice", "new-password-1").await.is_some(), "the changed password outlives the restart");
        assert!(auth.login("alice", "alice-password").await.is_none());
        let Refresh::Ok(rotated) = auth.refresh(&kept.refresh, None).await else { panic!("refresh") };
        assert!(
            matches!(auth.refresh(&kept.refresh, None).await, Refresh::Reused(_)),
            "reuse detected across the restart"
        );
        assert!(auth.session(&rotated.id).await.is_none(), "the family is gone");
    }
}
