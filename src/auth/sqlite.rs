//! The account store of one node: SQLite (the shared state's database, `state.sqlite3` in
//! `--data-dir`, else in memory), so a restart signs nobody out and forgets no revocation.
//! Each step is one transaction. Errors are logged and read as "nothing" by the caller.

use super::{Refresh, Seen, Session, VerifyError, CODE_TRIES, REUSE_GRACE_MS};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The database both the account store and the shared state use.
pub type Db = Arc<Mutex<Connection>>;

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

pub struct Sqlite {
    db: Db,
    /// Refresh tokens rotated in the last [`REUSE_GRACE_MS`], with when (memory only: after a
    /// restart every reuse is a replay).
    rotated: Mutex<HashMap<String, u64>>,
}

impl Sqlite {
    /// The schema, the accounts (`demo`: each added only if absent; else the file's hash wins
    /// unless the password was changed through `/auth/password`), and the limited sessions.
    pub fn open(db: Db, accounts: &[(String, String)], demo: bool) -> Result<(Sqlite, HashSet<String>), String> {
        let limited = {
            let conn = db.lock().map_err(|_| "account store unavailable")?;
            conn.execute_batch(SCHEMA).map_err(db_err)?;
            for (user, hash) in accounts {
                let sql = match demo {
                    true => "INSERT OR IGNORE INTO accounts (user, hash, changed) VALUES (?1, ?2, 0)",
                    false => {
                        "INSERT INTO accounts (user, hash, changed) VALUES (?1, ?2, 0)
                         ON CONFLICT(user) DO UPDATE SET hash = excluded.hash WHERE accounts.changed = 0"
                    }
                };
                conn.execute(sql, params![user, hash]).map_err(db_err)?;
            }
            let mut stmt = conn.prepare("SELECT id FROM sessions WHERE verified = 0").map_err(db_err)?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
            ids.collect::<Result<HashSet<String>, _>>().map_err(db_err)?
        };
        Ok((Sqlite { db, rotated: Mutex::default() }, limited))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let mut conn = self.db.lock().map_err(|_| "account store unavailable".to_string())?;
        f(&mut conn).map_err(db_err)
    }

    pub fn user_names(&self) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT user FROM accounts ORDER BY user")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            names.collect()
        })
    }

    pub fn hash_of(&self, user: &str) -> Result<Option<String>, String> {
        self.with(|c| c.query_row("SELECT hash FROM accounts WHERE user = ?1", [user], |r| r.get(0)).optional())
    }

    pub fn seen(&self, user: &str, device: &str) -> Result<Seen, String> {
        self.with(|c| {
            let known = c
                .query_row("SELECT 1 FROM devices WHERE user = ?1 AND device = ?2", [user, device], |_| Ok(()))
                .optional()?;
            let any: i64 = c.query_row("SELECT COUNT(*) FROM devices WHERE user = ?1", [user], |r| r.get(0))?;
            Ok(match (known, any) {
                (Some(()), _) => Seen::Known,
                (None, 0) => Seen::First,
                (None, _) => Seen::New,
            })
        })
    }

    /// A new session; its device trusted (`trust`), or its challenge `(id, code, expires)`.
    pub fn insert(&self, s: &Session, trust: bool, challenge: Option<(&str, &str, u64)>) -> Result<(), String> {
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
                    s.created_ms as i64,
                    s.last_seen_ms as i64,
                    s.device,
                    s.verified
                ],
            )?;
            if let (true, Some(d)) = (trust, &s.device) {
                tx.execute(
                    "INSERT OR IGNORE INTO devices VALUES (?1, ?2, ?3)",
                    params![s.user, d, s.created_ms as i64],
                )?;
            }
            if let Some((id, code, expires)) = challenge {
                tx.execute(
                    "INSERT INTO challenges (session, id, code, tries, expires) VALUES (?1, ?2, ?3, 0, ?4)",
                    params![s.id, id, code, expires as i64],
                )?;
            }
            tx.commit()
        })
    }

    pub fn challenge_of(&self, session: &str) -> Result<Option<(String, u64)>, String> {
        self.with(|c| {
            c.query_row("SELECT id, expires FROM challenges WHERE session = ?1", [session], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .optional()
        })
    }

    pub fn verify(&self, session: &str, code: &str, now: u64) -> Result<Result<(), VerifyError>, String> {
        self.with(|c| {
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
                Some((expected, tries, _)) if !super::secrets::same(&expected, code) => {
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
        })
    }

    /// Rotates the session of `refresh_token` to `next` = (access, its expiry, refresh, its
    /// expiry); see `Auth::refresh`.
    pub fn refresh(
        &self,
        refresh_token: &str,
        device: Option<&str>,
        now: u64,
        next: (&str, u64, &str, u64),
    ) -> Result<Refresh, String> {
        let (access, access_expires, refresh, refresh_expires) = next;
        self.with(|c| {
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
                        (access.into(), access_expires, refresh.into(), refresh_expires, now);
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
        })
    }

    fn recently_rotated(&self, token: &str, now: u64) -> bool {
        self.rotated
            .lock()
            .ok()
            .and_then(|r| r.get(token).copied())
            .is_some_and(|at| now.saturating_sub(at) < REUSE_GRACE_MS)
    }

    pub fn session_for_access(&self, access: &str, now: u64) -> Result<Option<Session>, String> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLS} FROM sessions WHERE access = ?1 AND access_expires > ?2"),
                params![access, now as i64],
                row,
            )
            .optional()
        })
    }

    pub fn session(&self, id: &str) -> Result<Option<Session>, String> {
        self.with(|c| c.query_row(&format!("SELECT {COLS} FROM sessions WHERE id = ?1"), [id], row).optional())
    }

    pub fn touch(&self, id: &str, now: u64) -> Result<(), String> {
        self.with(|c| c.execute("UPDATE sessions SET last_seen = ?2 WHERE id = ?1", params![id, now as i64])).map(drop)
    }

    pub fn set_password(&self, user: &str, hash: &str, now: u64) -> Result<(), String> {
        self.with(|c| {
            c.execute("UPDATE accounts SET hash = ?2, changed = ?3 WHERE user = ?1", params![user, hash, now as i64])
        })
        .map(drop)
    }

    pub fn sessions_of(&self, user: &str) -> Result<Vec<Session>, String> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLS} FROM sessions WHERE user = ?1 ORDER BY created, id"))?;
            let rows = stmt.query_map([user], row)?;
            rows.collect()
        })
    }

    pub fn revoke(&self, ids: &[String], reason: &str, now: u64) -> Result<Vec<Session>, String> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(revoke_in(&tx, id, reason, now)?);
            }
            tx.commit()?;
            Ok(out)
        })
    }

    pub fn revocation(&self, id: &str) -> Result<Option<String>, String> {
        self.with(|c| c.query_row("SELECT reason FROM revocations WHERE session = ?1", [id], |r| r.get(0)).optional())
    }

    pub fn session_of_refresh(&self, refresh_token: &str) -> Result<Option<String>, String> {
        self.with(|c| {
            c.query_row("SELECT id FROM sessions WHERE refresh = ?1", [refresh_token], |r| r.get(0)).optional()
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
