//! Shared state on the server (docs/server-contract.md, "Shared state"): per scope (a
//! signed-in user, else a device) and key, one settled value with its dotted version
//! (`switchboard_shared::state`), kept together with the window of applied mutation ids, so
//! a restart loses no settled write and still recognises a retry. One node: SQLite
//! (`state.sqlite3` in `--data-dir`, else in memory), one transaction per write. Several
//! nodes: Redis (`sb:state:{scope}`, a hash of documents; `sb:state:mut:{id}`), each write a
//! compare-and-set of the document it was resolved against, redone if another node wrote
//! first; each node counts its own writes in the version vector, so writes on two nodes at
//! once are concurrent and resolved like any other.
//! Concurrent writes are resolved by the key's policy: last writer by server order
//! (default), set union for `set:` keys, or a resolver the backend registers for a prefix.
//! Invariant: a mutation id is applied at most once; its retry is answered with the current
//! value; every write's update goes to every socket of the scope.

use super::limits::Admit;
use super::node::SocketIo;
use super::node::{AckSender, SocketRef};
use super::shared::Shared;
use super::{RawArgs, State};
use crate::auth::Db;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use switchboard_shared::contract::{self, Receipt};
use switchboard_shared::state::{self as versioning, Versioned, Vv};

/// `STATE_UPDATE`'s payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub key: String,
    pub value: Value,
    pub version: Vv,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutation: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A resolver for concurrent values: `(current, incoming) -> (settled, lost)`; None is a
/// deleted value.
pub type Resolver = Arc<dyn Fn(Option<&Value>, Option<&Value>) -> (Option<Value>, Option<Value>) + Send + Sync>;

/// How many applied mutation ids are remembered (one node).
const MUTATION_WINDOW: i64 = 100_000;
/// How long an applied mutation id is remembered (several nodes, in Redis).
const MUTATION_KEEP_MS: u64 = 24 * 3600 * 1000;

/// Several nodes: stores a document if the key still holds `expected` ('' = none) and the
/// mutation is new. ARGV: scope key expected new id keep max-keys. Returns {outcome, doc}:
/// `ok`; `retry` (the mutation was applied: the current document); `moved` (another write
/// came first: the current document); `full` (too many keys).
const STATE_CAS: &str = r"
local h, m = 'sb:state:' .. ARGV[1], 'sb:state:mut:' .. ARGV[5]
local cur = redis.call('HGET', h, ARGV[2])
if redis.call('EXISTS', m) == 1 then return {'retry', cur} end
if (cur or '') ~= ARGV[3] then return {'moved', cur} end
if not cur and redis.call('HLEN', h) >= tonumber(ARGV[7]) then return {'full'} end
redis.call('HSET', h, ARGV[2], ARGV[4])
redis.call('SET', m, '1', 'PX', ARGV[6])
return {'ok'}";

pub struct StateStore {
    db: Db,
    /// Several nodes: the documents are in Redis (`db` is not used for them).
    shared: Option<Shared>,
    /// This backend node's name: the version vector's actor.
    node: String,
    resolvers: Mutex<Vec<(String, Resolver)>>,
}

/// Set union for `set:` keys: both arrays' elements, each once, in order of first sight.
fn union(current: Option<&Value>, incoming: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let mut out: Vec<Value> = Vec::new();
    for v in [current, incoming].into_iter().flatten() {
        for item in v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]) {
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    (Some(Value::Array(out)), None)
}

impl StateStore {
    /// The store in `db` (the database the account store shares).
    pub fn open(db: Db, node: &str) -> Result<StateStore, String> {
        db.lock()
            .map_err(|_| "state database unavailable".to_string())?
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS state (scope TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,
                     PRIMARY KEY (scope, key));
                 CREATE TABLE IF NOT EXISTS mutations (id TEXT PRIMARY KEY, seq INTEGER NOT NULL);",
            )
            .map_err(|e| format!("state database: {e}"))?;
        let resolvers: Vec<(String, Resolver)> = vec![("set:".into(), Arc::new(union))];
        Ok(StateStore { db, shared: None, node: node.into(), resolvers: Mutex::new(resolvers) })
    }

    /// The documents in Redis, shared by every node.
    pub fn in_redis(mut self, shared: Shared) -> StateStore {
        self.shared = Some(shared);
        self
    }

    /// Concurrent values of keys starting with `prefix` go through `f` (the longest prefix
    /// wins; others: last writer wins).
    pub fn register(&self, prefix: &str, f: Resolver) {
        if let Ok(mut r) = self.resolvers.lock() {
            r.push((prefix.into(), f));
        }
    }

    fn resolver(&self, key: &str) -> Option<Resolver> {
        let r = self.resolvers.lock().ok()?;
        r.iter().filter(|(p, _)| key.starts_with(p.as_str())).max_by_key(|(p, _)| p.len()).map(|(_, f)| f.clone())
    }

    fn update(key: &str, doc: &Versioned, conflict: Option<Value>, mutation: Option<&str>) -> Update {
        let value = doc.value.as_deref().and_then(|v| serde_json::from_str(v).ok());
        Update {
            key: key.into(),
            deleted: value.is_none(),
            value: value.unwrap_or(Value::Null),
            version: doc.vv.clone(),
            conflict,
            mutation: mutation.map(String::from),
        }
    }

    /// A write (`value` None: delete) by mutation `id` with context `ctx`. Returns the
    /// update to send and whether it was a retry (already applied: nothing changed).
    pub async fn write(
        &self,
        scope: &str,
        key: &str,
        ctx: &Vv,
        value: Option<Value>,
        id: &str,
    ) -> Result<(Update, bool), String> {
        let text = value.as_ref().map(|v| v.to_string());
        contract::check_state(key, text.as_ref().map_or(0, String::len))?;
        match &self.shared {
            None => self.write_sqlite(scope, key, ctx, text, id),
            Some(shared) => self.write_redis(shared, scope, key, ctx, text, id).await,
        }
    }

    /// Settles `text` against the current document with the key's policy.
    fn settle(
        &self,
        key: &str,
        current: Option<&Versioned>,
        ctx: &Vv,
        text: Option<String>,
    ) -> Result<versioning::Settled, String> {
        let resolver = self.resolver(key);
        let resolve = |cur: Option<&str>, new: Option<&str>| -> (Option<String>, Option<String>) {
            let Some(f) = &resolver else { return versioning::last_writer_wins(cur, new) };
            let parse = |v: Option<&str>| v.and_then(|v| serde_json::from_str::<Value>(v).ok());
            let (settled, lost) = f(parse(cur).as_ref(), parse(new).as_ref());
            (settled.map(|v| v.to_string()), lost.map(|v| v.to_string()))
        };
        let settled = versioning::write(current, ctx, text, &self.node, &resolve);
        if settled.now.value.as_ref().is_some_and(|v| v.len() > contract::MAX_STATE_VALUE) {
            return Err("the resolved value is over 64 KB".into());
        }
        Ok(settled)
    }

    /// Several nodes: resolve against the document read, store it only if it is still the
    /// one read (else resolve again against the newer one).
    async fn write_redis(
        &self,
        shared: &Shared,
        scope: &str,
        key: &str,
        ctx: &Vv,
        text: Option<String>,
        id: &str,
    ) -> Result<(Update, bool), String> {
        static CAS: OnceLock<redis::Script> = OnceLock::new();
        let hash = format!("sb:state:{scope}");
        let mut current: Option<String> = shared.cmd("state", &["HGET", &hash, key]).await?;
        let (keep, max) = (MUTATION_KEEP_MS.to_string(), contract::MAX_STATE_KEYS.to_string());
        for _ in 0..100 {
            let doc =
                current.as_deref().map(serde_json::from_str::<Versioned>).transpose().map_err(|e| e.to_string())?;
            let settled = self.settle(key, doc.as_ref(), ctx, text.clone())?;
            let new = serde_json::to_string(&settled.now).map_err(|e| e.to_string())?;
            let expected = current.as_deref().unwrap_or("");
            let args = [scope, key, expected, &new, id, &keep, &max];
            // (A Lua table ends at its first nil: `{outcome}` or `{outcome, doc}`.)
            let reply: Vec<String> = shared.eval("state", super::shared::script(&CAS, STATE_CAS), &[], &args).await?;
            let (outcome, now) = (reply.first().map_or("", String::as_str), reply.get(1).cloned());
            match outcome {
                "ok" => {
                    let conflict = settled.conflict.and_then(|c| serde_json::from_str(&c).ok());
                    return Ok((Self::update(key, &settled.now, conflict, Some(id)), false));
                }
                "retry" => {
                    let doc =
                        now.as_deref().map(serde_json::from_str::<Versioned>).transpose().map_err(|e| e.to_string())?;
                    let doc = doc.ok_or("a retried write of a key that is gone")?;
                    return Ok((Self::update(key, &doc, None, Some(id)), true));
                }
                "full" => return Err(format!("over {} state keys in this scope", contract::MAX_STATE_KEYS)),
                _ => current = now,
            }
        }
        Err("the key changed 100 times while this write was resolved; try again".into())
    }

    fn write_sqlite(
        &self,
        scope: &str,
        key: &str,
        ctx: &Vv,
        text: Option<String>,
        id: &str,
    ) -> Result<(Update, bool), String> {
        let mut db = self.db.lock().map_err(|_| "state database unavailable".to_string())?;
        let tx = db.transaction().map_err(|e| e.to_string())?;
        let load = |tx: &rusqlite::Transaction| -> Result<Option<Versioned>, String> {
            let doc: Option<String> = tx
                .query_row("SELECT doc FROM state WHERE scope = ?1 AND key = ?2", params![scope, key], |r| r.get(0))
                .optional()
                .map_err(|e| e.to_string())?;
            doc.map(|d| serde_json::from_str(&d).map_err(|e| e.to_string())).transpose()
        };
        let current = load(&tx)?;
        let seen: Option<i64> = tx
            .query_row("SELECT seq FROM mutations WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| e.to_string())?;
        if seen.is_some() {
            let doc = current.ok_or("a retried write of a key that is gone")?;
            return Ok((Self::update(key, &doc, None, Some(id)), true));
        }
        if current.is_none() {
            let n: i64 = tx
                .query_row("SELECT COUNT(*) FROM state WHERE scope = ?1", [scope], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            if n as usize >= contract::MAX_STATE_KEYS {
                return Err(format!("over {} state keys in this scope", contract::MAX_STATE_KEYS));
            }
        }
        let settled = self.settle(key, current.as_ref(), ctx, text)?;
        let doc = serde_json::to_string(&settled.now).map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO state (scope, key, doc) VALUES (?1, ?2, ?3) ON CONFLICT (scope, key) DO UPDATE SET doc = ?3",
            params![scope, key, doc],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO mutations (id, seq) VALUES (?1, COALESCE((SELECT MAX(seq) FROM mutations), 0) + 1)",
            [id],
        )
        .map_err(|e| e.to_string())?;
        tx.execute("DELETE FROM mutations WHERE seq <= (SELECT MAX(seq) FROM mutations) - ?1", [MUTATION_WINDOW])
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        let conflict = settled.conflict.and_then(|c| serde_json::from_str(&c).ok());
        Ok((Self::update(key, &settled.now, conflict, Some(id)), false))
    }

    /// Every key of the scope, as updates.
    pub async fn snapshot(&self, scope: &str) -> Result<Vec<Update>, String> {
        let Some(shared) = &self.shared else { return self.snapshot_sqlite(scope) };
        let docs: std::collections::BTreeMap<String, String> =
            shared.cmd("state", &["HGETALL", &format!("sb:state:{scope}")]).await?;
        let mut out = Vec::new();
        for (key, doc) in docs {
            let doc: Versioned = serde_json::from_str(&doc).map_err(|e| e.to_string())?;
            out.push(Self::update(&key, &doc, None, None));
        }
        Ok(out)
    }

    fn snapshot_sqlite(&self, scope: &str) -> Result<Vec<Update>, String> {
        let db = self.db.lock().map_err(|_| "state database unavailable".to_string())?;
        let mut q =
            db.prepare("SELECT key, doc FROM state WHERE scope = ?1 ORDER BY key").map_err(|e| e.to_string())?;
        let rows = q
            .query_map([scope], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for row in rows {
            let (key, doc) = row.map_err(|e| e.to_string())?;
            let doc: Versioned = serde_json::from_str(&doc).map_err(|e| e.to_string())?;
            out.push(Self::update(&key, &doc, None, None));
        }
        Ok(out)
    }
}

/// The socket's state scope: its user's room, else its device's.
pub fn scope_room(s: &SocketRef) -> Option<String> {
    let room = |p| super::presence::assigned_room(s, p);
    room(contract::USER_ROOM).or_else(|| room(contract::DEVICE_ROOM))
}

const NO_SCOPE: &str = "shared state needs a signed-in user or a device id (sign in first)";

/// `sb:set key ctx [value]` inside a durable envelope with id `id`: applied once, the
/// update sent to every socket of the scope (a retry's only to this socket).
pub(crate) async fn write(
    io: &SocketIo,
    s: &SocketRef,
    state: &State,
    id: &str,
    args: Vec<Value>,
) -> Result<(), String> {
    let scope = scope_room(s).ok_or(NO_SCOPE)?;
    let key = args.first().and_then(Value::as_str).ok_or("a state write needs a key")?;
    let ctx: Vv = args
        .get(1)
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| format!("context: {e}"))?
        .unwrap_or_default();
    let value = args.get(2).cloned();
    let (update, retry) = state.state.write(&scope, key, &ctx, value, id).await?;
    match retry {
        true => {
            let _ = s.emit(contract::STATE_UPDATE, &update);
        }
        false => {
            if let Some(ns) = io.of(s.ns()) {
                let _ = ns.to(scope).emit(contract::STATE_UPDATE, &update).await;
            }
        }
    }
    Ok(())
}

/// `sb:state`: every key of the socket's scope.
pub(crate) fn on_connect(socket: &SocketRef, state: Arc<State>) {
    socket.on(contract::STATE, move |_: Admit, s: SocketRef, RawArgs(_): RawArgs, ack: AckSender| {
        let state = state.clone();
        async move {
            let all = match scope_room(&s) {
                Some(scope) => state.state.snapshot(&scope).await.unwrap_or_else(|e| {
                    tracing::warn!(%e, "state snapshot failed");
                    Vec::new()
                }),
                None => Vec::new(),
            };
            let _ = ack.send(&all);
        }
    });
}

/// Bad input answered by the caller with an error receipt; logged here.
pub fn refused(s: &SocketRef, error: &str) -> Receipt {
    tracing::info!(sid = %s.id, error = %contract::redact(error), "state write refused");
    Receipt::Error { error: error.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_write_is_versioned_and_a_retry_is_not_applied_twice() {
        let s = StateStore::open(crate::auth::open_db(None).unwrap(), "n1").unwrap();
        let (u, retry) = s.write("user:a", "k", &Vv::new(), Some(json!(1)), "m1").await.unwrap();
        assert_eq!((u.value, u.version.get("n1").copied(), retry), (json!(1), Some(1), false));
        let (u, retry) = s.write("user:a", "k", &Vv::new(), Some(json!(1)), "m1").await.unwrap();
        assert_eq!((u.version.get("n1").copied(), retry), (Some(1), true));
        assert_eq!(s.snapshot("user:a").await.unwrap().len(), 1);
    }
}
