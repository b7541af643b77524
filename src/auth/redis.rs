//! The account store of several nodes (`--redis`): the same steps as `sqlite.rs`, each one
//! Lua script (atomic: two nodes rotating one refresh token cannot both win, a replay seen
//! on any node revokes the family everywhere). Keys, under `sb:auth:`:
//!
//! | key | what |
//! | --- | --- |
//! | `acct:{user}` | hash: `hash` (argon2 PHC), `changed` (ms, 0: from the file) |
//! | `accts` | set of user names |
//! | `s:{id}` | hash: a session (`user access ax refresh rx created seen device verified`), expires 10 min after its refresh token |
//! | `a:{token}`, `r:{token}` | the session id of an access / refresh token, expiring with it |
//! | `used:{token}`, `fam:{id}` | a rotated refresh token's session; the session's rotated tokens |
//! | `rot:{token}` | a token rotated less than the reuse grace ago |
//! | `u:{user}` | sorted set: the user's session ids by creation |
//! | `rev:{id}` | hash: a revocation (`user at reason`) |
//! | `dev:{user}` | set: the user's verified devices |
//! | `ch:{id}` | hash: a limited session's challenge (`cid code tries expires`) |

use super::{Refresh, Seen, Session, VerifyError, CODE_TRIES, REUSE_GRACE_MS};
use crate::server::shared::Shared;
use redis::Script;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The step every revoking script shares: deletes session ARGV-given `id`, its tokens, its
/// refresh family and its challenge, records the revocation; returns the session's fields
/// (empty if there was none).
const REVOKE_FN: &str = r"
local P = 'sb:auth:'
local function revoke(id, reason, now)
  local s = P .. 's:' .. id
  local f = redis.call('HGETALL', s)
  if #f == 0 then return f end
  local h = {}
  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
  redis.call('DEL', s, P .. 'a:' .. h.access, P .. 'r:' .. h.refresh, P .. 'ch:' .. id)
  for _, t in ipairs(redis.call('SMEMBERS', P .. 'fam:' .. id)) do
    redis.call('DEL', P .. 'used:' .. t, P .. 'rot:' .. t)
  end
  redis.call('DEL', P .. 'fam:' .. id)
  redis.call('ZREM', P .. 'u:' .. h.user, id)
  redis.call('HSET', P .. 'rev:' .. id, 'user', h.user, 'at', now, 'reason', reason)
  return f
end
";

/// A session's hash outlives its refresh token by this much, so the expiry task still finds
/// it and signs its sockets out (its tokens expire on time: nothing can use it meanwhile).
const KEEP: &str = "local KEEP_MS = 600000\n";

/// ARGV: user, hash, demo ('1': only if absent). The file's hash wins unless changed since.
const ACCOUNT: &str = r"
local k = 'sb:auth:acct:' .. ARGV[1]
redis.call('SADD', 'sb:auth:accts', ARGV[1])
if ARGV[3] == '1' then
  if redis.call('EXISTS', k) == 0 then redis.call('HSET', k, 'hash', ARGV[2], 'changed', 0) end
elseif tonumber(redis.call('HGET', k, 'changed') or '0') == 0 then
  redis.call('HSET', k, 'hash', ARGV[2], 'changed', 0)
end
return 1";

/// ARGV: id user access ax refresh rx now device verified trust cid code cexp.
const INSERT: &str = r"
local P = 'sb:auth:'
local id, user, access, ax, refresh, rx, now, device = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local s = P .. 's:' .. id
redis.call('HSET', s, 'user', user, 'access', access, 'ax', ax, 'refresh', refresh, 'rx', rx,
  'created', now, 'seen', now, 'device', device, 'verified', ARGV[9])
redis.call('PEXPIREAT', s, tonumber(rx) + KEEP_MS)
redis.call('SET', P .. 'a:' .. access, id, 'PXAT', ax)
redis.call('SET', P .. 'r:' .. refresh, id, 'PXAT', rx)
redis.call('ZADD', P .. 'u:' .. user, now, id)
if ARGV[10] == '1' and device ~= '' then redis.call('SADD', P .. 'dev:' .. user, device) end
if ARGV[11] ~= '' then
  redis.call('HSET', P .. 'ch:' .. id, 'cid', ARGV[11], 'code', ARGV[12], 'tries', 0, 'expires', ARGV[13])
  redis.call('PEXPIREAT', P .. 'ch:' .. id, rx)
end
return 1";

/// ARGV: token device now access ax refresh rx grace. Returns {outcome, fields...}:
/// `ok` (the session after rotation, or unchanged for a racing refresher of its device),
/// `reused` (the revoked session), `invalid`.
const REFRESH: &str = r"
local tok, device, now, access, ax, refresh, rx, grace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local id = redis.call('GET', P .. 'r:' .. tok)
if id then
  local s = P .. 's:' .. id
  local old = redis.call('HGET', s, 'access')
  if not old then return {'invalid'} end
  redis.call('DEL', P .. 'a:' .. old, P .. 'r:' .. tok)
  redis.call('SET', P .. 'used:' .. tok, id, 'PXAT', rx)
  redis.call('SADD', P .. 'fam:' .. id, tok)
  redis.call('PEXPIREAT', P .. 'fam:' .. id, rx)
  redis.call('SET', P .. 'rot:' .. tok, now, 'PX', grace)
  redis.call('HSET', s, 'access', access, 'ax', ax, 'refresh', refresh, 'rx', rx, 'seen', now)
  redis.call('PEXPIREAT', s, tonumber(rx) + KEEP_MS)
  redis.call('SET', P .. 'a:' .. access, id, 'PXAT', ax)
  redis.call('SET', P .. 'r:' .. refresh, id, 'PXAT', rx)
  local out = redis.call('HGETALL', s)
  table.insert(out, 1, id)
  table.insert(out, 1, 'ok')
  return out
end
local fam = redis.call('GET', P .. 'used:' .. tok)
if not fam then return {'invalid'} end
local s = P .. 's:' .. fam
-- This very rotation, its reply lost and the step sent again: its own result.
if redis.call('HGET', s, 'access') == access then
  local out = redis.call('HGETALL', s)
  table.insert(out, 1, fam)
  table.insert(out, 1, 'ok')
  return out
end
if device ~= '' and redis.call('EXISTS', P .. 'rot:' .. tok) == 1 and redis.call('HGET', s, 'device') == device then
  local out = redis.call('HGETALL', s)
  if #out > 0 then
    table.insert(out, 1, fam)
    table.insert(out, 1, 'ok')
    return out
  end
end
local out = revoke(fam, 'refresh token reuse', now)
if #out == 0 then return {'invalid'} end
table.insert(out, 1, fam)
table.insert(out, 1, 'reused')
return out";

/// ARGV: ids..., then reason and now last. Returns the revoked sessions: {id, nfields, fields...}...
const REVOKE: &str = r"
local reason, now = ARGV[#ARGV - 1], ARGV[#ARGV]
local out = {}
for i = 1, #ARGV - 2 do
  local f = revoke(ARGV[i], reason, now)
  if #f > 0 then
    table.insert(out, ARGV[i])
    table.insert(out, tostring(#f))
    for _, v in ipairs(f) do table.insert(out, v) end
  end
end
return out";

/// ARGV: access. Returns {id, fields...} or {}.
const FOR_ACCESS: &str = r"
local id = redis.call('GET', 'sb:auth:a:' .. ARGV[1])
if not id then return {} end
local out = redis.call('HGETALL', 'sb:auth:s:' .. id)
if #out == 0 then return out end
table.insert(out, 1, id)
return out";

/// ARGV: id now. Only a session that still exists is touched.
const TOUCH: &str = r"
local s = 'sb:auth:s:' .. ARGV[1]
if redis.call('EXISTS', s) == 1 then redis.call('HSET', s, 'seen', ARGV[2]) end
return 1";

/// ARGV: id code. The right code, still pending: the session becomes full, its device trusted.
const VERIFIED: &str = r"
local P = 'sb:auth:'
local ch = P .. 'ch:' .. ARGV[1]
local code = redis.call('HGET', ch, 'code')
-- This very step, its reply lost and sent again: done already.
if not code and redis.call('HGET', P .. 's:' .. ARGV[1], 'verified') == '1' then return 1 end
if code ~= ARGV[2] then return 0 end
redis.call('DEL', ch)
local s = P .. 's:' .. ARGV[1]
if redis.call('EXISTS', s) == 0 then return 0 end
redis.call('HSET', s, 'verified', '1')
local user, device = redis.call('HGET', s, 'user'), redis.call('HGET', s, 'device')
if device and device ~= '' then redis.call('SADD', P .. 'dev:' .. user, device) end
return 1";

/// A session from its id and HGETALL's flat fields (as a script returns them).
fn session(id: &str, fields: &[String]) -> Option<Session> {
    let h: HashMap<&str, &str> =
        fields.chunks(2).filter_map(|p| Some((p.first()?.as_str(), p.get(1)?.as_str()))).collect();
    from_fields(id, &h)
}

/// A session from its id and its hash's fields.
fn from_fields(id: &str, h: &HashMap<&str, &str>) -> Option<Session> {
    let n = |k: &str| h.get(k).and_then(|v| v.parse::<u64>().ok());
    let s = Session {
        id: id.to_string(),
        user: h.get("user")?.to_string(),
        access: h.get("access")?.to_string(),
        access_expires_ms: n("ax")?,
        refresh: h.get("refresh")?.to_string(),
        refresh_expires_ms: n("rx")?,
        created_ms: n("created")?,
        last_seen_ms: n("seen")?,
        device: h.get("device").filter(|d| !d.is_empty()).map(|d| d.to_string()),
        verified: h.get("verified") == Some(&"1"),
    };
    Some(s)
}

/// `{id, fields...}` → a session (None, with a log line, when malformed).
fn with_id(v: &[String]) -> Option<Session> {
    let (id, fields) = v.split_first()?;
    let s = session(id, fields);
    if s.is_none() {
        tracing::error!(session = %id, "a malformed session in Redis");
    }
    s
}

pub struct InRedis {
    store: Shared,
}

/// A step's script, its text put together and hashed once.
macro_rules! step {
    ($name:ident, $code:expr) => {
        fn $name() -> &'static Script {
            static CELL: OnceLock<Script> = OnceLock::new();
            CELL.get_or_init(|| Script::new(&$code))
        }
    };
}

step!(account, ACCOUNT);
step!(insert, format!("{KEEP}{INSERT}"));
step!(refresh, format!("{KEEP}{REVOKE_FN}{REFRESH}"));
step!(revoke, format!("{REVOKE_FN}{REVOKE}"));
step!(for_access, FOR_ACCESS);
step!(touch, TOUCH);
step!(verified, VERIFIED);

impl InRedis {
    /// The accounts (`demo`: each only if absent; else the file's hash wins unless the
    /// password was changed since).
    pub async fn open(store: Shared, accounts: &[(String, String)], demo: bool) -> Result<InRedis, String> {
        let step = account();
        for (user, hash) in accounts {
            let demo = if demo { "1" } else { "0" };
            store.eval::<()>("accounts", step, &[], &[user, hash, demo]).await?;
        }
        Ok(InRedis { store })
    }

    pub async fn user_names(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = self.store.cmd("accounts", &["SMEMBERS", "sb:auth:accts"]).await?;
        names.sort();
        Ok(names)
    }

    pub async fn hash_of(&self, user: &str) -> Result<Option<String>, String> {
        self.store.cmd("accounts", &["HGET", &format!("sb:auth:acct:{user}"), "hash"]).await
    }

    pub async fn seen(&self, user: &str, device: &str) -> Result<Seen, String> {
        let key = format!("sb:auth:dev:{user}");
        let known: bool = self.store.cmd("devices", &["SISMEMBER", &key, device]).await?;
        let any: u64 = self.store.cmd("devices", &["SCARD", &key]).await?;
        Ok(match (known, any) {
            (true, _) => Seen::Known,
            (false, 0) => Seen::First,
            (false, _) => Seen::New,
        })
    }

    pub async fn insert(&self, s: &Session, trust: bool, challenge: Option<(&str, &str, u64)>) -> Result<(), String> {
        let step = insert();
        let (ax, rx, now) =
            (s.access_expires_ms.to_string(), s.refresh_expires_ms.to_string(), s.created_ms.to_string());
        let (cid, ccode, cexp) = challenge.map_or((String::new(), String::new(), String::new()), |(i, c, e)| {
            (i.to_string(), c.to_string(), e.to_string())
        });
        let args = [
            s.id.as_str(),
            &s.user,
            &s.access,
            &ax,
            &s.refresh,
            &rx,
            &now,
            s.device.as_deref().unwrap_or(""),
            if s.verified { "1" } else { "0" },
            if trust { "1" } else { "0" },
            &cid,
            &ccode,
            &cexp,
        ];
        self.store.eval::<()>("sign-in", step, &[], &args).await
    }

    pub async fn challenge_of(&self, session: &str) -> Result<Option<(String, u64)>, String> {
        let key = format!("sb:auth:ch:{session}");
        let v: (Option<String>, Option<u64>) = self.store.cmd("challenge", &["HMGET", &key, "cid", "expires"]).await?;
        Ok(v.0.zip(v.1))
    }

    pub async fn verify(&self, session: &str, code: &str, now: u64) -> Result<Result<(), VerifyError>, String> {
        let key = format!("sb:auth:ch:{session}");
        let (expected, expires): (Option<String>, Option<u64>) =
            self.store.cmd("challenge", &["HMGET", &key, "code", "expires"]).await?;
        let (Some(expected), Some(expires)) = (expected, expires) else { return Ok(Err(VerifyError::NotPending)) };
        if expires < now {
            self.store.cmd::<()>("challenge", &["DEL", &key]).await?;
            return Ok(Err(VerifyError::Expired));
        }
        if !super::secrets::same(&expected, code) {
            let tries: u32 = self.store.cmd("challenge", &["HINCRBY", &key, "tries", "1"]).await?;
            if tries >= CODE_TRIES {
                self.store.cmd::<()>("challenge", &["DEL", &key]).await?;
                return Ok(Err(VerifyError::Dead));
            }
            return Ok(Err(VerifyError::Wrong { tries_left: CODE_TRIES - tries }));
        }
        let step = verified();
        let done: u8 = self.store.eval("verify", step, &[], &[session, &expected]).await?;
        Ok(if done == 1 { Ok(()) } else { Err(VerifyError::NotPending) })
    }

    pub async fn refresh(
        &self,
        token: &str,
        device: Option<&str>,
        now: u64,
        next: (&str, u64, &str, u64),
    ) -> Result<Refresh, String> {
        let step = refresh();
        let (ax, rx, now, grace) =
            (next.1.to_string(), next.3.to_string(), now.to_string(), REUSE_GRACE_MS.to_string());
        let args = [token, device.unwrap_or(""), &now, next.0, &ax, next.2, &rx, &grace];
        let out: Vec<String> = self.store.eval("refresh", step, &[], &args).await?;
        let Some((outcome, rest)) = out.split_first() else { return Ok(Refresh::Invalid) };
        Ok(match (outcome.as_str(), with_id(rest)) {
            ("ok", Some(s)) => Refresh::Ok(s),
            ("reused", Some(s)) => Refresh::Reused(s),
            _ => Refresh::Invalid,
        })
    }

    pub async fn session_for_access(&self, access: &str) -> Result<Option<Session>, String> {
        let step = for_access();
        let out: Vec<String> = self.store.eval("session", step, &[], &[access]).await?;
        Ok(with_id(&out))
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, String> {
        let fields: HashMap<String, String> =
            self.store.cmd("session", &["HGETALL", &format!("sb:auth:s:{id}")]).await?;
        let h: HashMap<&str, &str> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Ok(if h.is_empty() { None } else { from_fields(id, &h) })
    }

    pub async fn touch(&self, id: &str, now: u64) -> Result<(), String> {
        let step = touch();
        self.store.eval("session", step, &[], &[id, &now.to_string()]).await
    }

    pub async fn set_password(&self, user: &str, hash: &str, now: u64) -> Result<(), String> {
        let key = format!("sb:auth:acct:{user}");
        self.store.cmd("accounts", &["HSET", &key, "hash", hash, "changed", &now.to_string()]).await
    }

    pub async fn sessions_of(&self, user: &str) -> Result<Vec<Session>, String> {
        let ids: Vec<String> = self.store.cmd("sessions", &["ZRANGE", &format!("sb:auth:u:{user}"), "0", "-1"]).await?;
        let mut out = Vec::new();
        for id in ids {
            // (Expired sessions leave their id behind; skipped.)
            out.extend(self.session(&id).await?);
        }
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(out)
    }

    pub async fn revoke(&self, ids: &[String], reason: &str, now: u64) -> Result<Vec<Session>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let step = revoke();
        let now = now.to_string();
        let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
        args.extend([reason, now.as_str()]);
        let out: Vec<String> = self.store.eval("revoke", step, &[], &args).await?;
        let mut sessions = Vec::new();
        let mut rest = out.as_slice();
        while let [id, n, tail @ ..] = rest {
            let n = n.parse::<usize>().unwrap_or(0).min(tail.len());
            sessions.extend(session(id, &tail[..n]));
            rest = &tail[n..];
        }
        Ok(sessions)
    }

    pub async fn revocation(&self, id: &str) -> Result<Option<String>, String> {
        self.store.cmd("revocation", &["HGET", &format!("sb:auth:rev:{id}"), "reason"]).await
    }

    pub async fn session_of_refresh(&self, token: &str) -> Result<Option<String>, String> {
        self.store.cmd("session", &["GET", &format!("sb:auth:r:{token}")]).await
    }
}
