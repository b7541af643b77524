//! What every node shares, in Redis (`--redis`): each concern's keys and its atomic steps
//! (Lua scripts, so a step is one round trip and no other node sees it half done). The
//! concerns keep their own logic (`dedup.rs`, `replay.rs`, `app.rs`); this module only
//! speaks to Redis. Keys start with `sb:` (docs/server-contract.md, "Several nodes").
//!
//! Invariants: a step that fails because Redis is away is retried (the connection
//! reconnects on its own) until `RETRY_FOR` passes, so a Redis restart delays work but
//! loses none; after that the caller gets the error and says so (it never acknowledges
//! what it could not store). A step may have been applied when its reply was lost (Redis
//! killed after writing its AOF), so every step that is retried is idempotent: it carries
//! what it wrote last time (a claim's own token, a publish's id, a done mark) and recognises
//! it.

use redis::aio::ConnectionManager;
use redis::Script;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a step is retried while Redis is unreachable.
pub const RETRY_FOR: Duration = Duration::from_secs(60);

/// A step without a reply for this long counts as waiting on Redis (Redis answers at
/// loopback in well under a millisecond).
pub const STALLED: Duration = Duration::from_millis(250);

/// The dedup window's key for one durable emit id.
fn dedup_key(id: &str) -> String {
    format!("sb:dedup:{id}")
}
/// The replay log (a list of `"<n> <json [event, data]>"`) and its counter.
const REPLAY_LOG: &str = "sb:replay";
const REPLAY_NEXT: &str = "sb:replay:next";
/// What the demo application's `record` event kept (a list of JSON values), for tests and
/// the demo: the application's own data, shared by its nodes.
pub const RECORDED: &str = "sb:app:recorded";

/// Each node says it is alive: `sb:alive:{node}`, set for [`ALIVE_FOR`] and renewed every
/// third of it. What a node lists for its sockets (presence) goes when this key does.
pub const ALIVE: &str = "sb:alive:";
pub const ALIVE_FOR: Duration = Duration::from_secs(9);

/// Renews this node's [`ALIVE`] key for as long as it runs.
pub async fn keep_alive(store: Shared) {
    loop {
        if let Err(e) = store.say_alive().await {
            tracing::warn!("{e}");
        }
        tokio::time::sleep(ALIVE_FOR / 3).await;
    }
}

/// The pub/sub channel on which nodes tell each other what changes their memory: `verified
/// <session id>` (a limited session was verified: no longer limited anywhere); `mended
/// <node>` (that node's pub/sub broke and is back: adapter messages to or from it may have
/// been lost, so every node greets its sockets again and their hubs resynchronise). Lossy
/// like every pub/sub message; what must not be lost is in Redis's keys.
pub const NODE_EVENTS: &str = "sb:node-events";

/// Listens to [`NODE_EVENTS`] on this node's pub/sub connection, and mends this node's
/// breaks: once Redis answers again after one, it says `mended` until it hears itself say it
/// (its subscriptions are back), so every node greets its sockets again.
pub async fn listen(
    driver: &super::node::NodeDriver,
    state: std::sync::Arc<super::State>,
    io: super::node::SocketIo,
) -> Result<(), String> {
    use futures_util::StreamExt;
    use socketioxide_redis::drivers::Driver;
    let super::node::NodeDriver::Redis { broken, .. } = driver else { return Ok(()) };
    let Some(store) = state.shared.clone() else { return Ok(()) };
    let mut events = driver.subscribe(NODE_EVENTS.into(), 1024).await.map_err(|e| format!("--redis: {e}"))?;
    let heard = std::sync::Arc::new(tokio::sync::Notify::new());
    let (me, heard_mine) = (format!("mended {}", store.node), heard.clone());
    tokio::spawn(async move {
        while let Some((_, payload)) = events.next().await {
            let text = String::from_utf8_lossy(&payload);
            match text.split_once(' ') {
                Some(("verified", id)) => state.auth.verified_elsewhere(id),
                Some(("mended", node)) => {
                    if text == me {
                        heard_mine.notify_one();
                    }
                    tracing::info!(node, "a node's pub/sub was mended: greeting this node's sockets again");
                    super::contract::greet_again(&io, &state).await;
                }
                _ => tracing::warn!("an unknown node event: {text:?}"),
            }
        }
    });
    let broken = broken.clone();
    tokio::spawn(async move {
        loop {
            broken.notified().await;
            loop {
                let told = heard.notified();
                store.tell_nodes(&format!("mended {}", store.node)).await;
                if tokio::time::timeout(Duration::from_millis(500), told).await.is_ok() {
                    break;
                }
            }
        }
    });
    Ok(())
}

/// A claim on a durable emit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: nobody handled it; hand it to the application, then mark it done.
    Fresh,
    /// Handled already (here or on another node): acknowledge, do not deliver.
    Done,
    /// Being handled by another socket or node right now: ask again shortly.
    Pending,
}

/// Claims an id for `lease` (unless done or claimed by someone else); the claim (ARGV[1],
/// this attempt's own token) lapses with its holder.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v == 'done' then return 0 end
return 2";

/// Numbers an entry and appends it to the log, which keeps its last ARGV[2] entries; the
/// publish's id (KEYS[3], kept a minute) makes a retry return the same number.
const REPLAY_PUSH: &str = r"
local had = redis.call('GET', KEYS[3])
if had then return tonumber(had) end
redis.call('SET', KEYS[1], ARGV[3], 'NX')
local n = redis.call('INCR', KEYS[1])
local s = string.format('%d', n)
redis.call('RPUSH', KEYS[2], s .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('SET', KEYS[3], s, 'PX', 60000)
return n";

/// The last number given, and the entries kept, read together.
const REPLAY_READ: &str = r"
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('LRANGE', KEYS[2], 0, -1)}";

/// The application's record and the id's `done` mark, in one step: a node that dies after
/// it cannot have recorded without marking (another node would record it again).
const RECORD_DONE: &str = r"
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) == 'done' then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) end
return 1";

/// Whether an error passes with time (Redis away, restarting, loading its files), rather
/// than being the step's own (a script error, a wrong type): only those are retried.
fn passing(e: &redis::RedisError) -> bool {
    use redis::RetryMethod::*;
    matches!(e.retry_method(), Reconnect | ReconnectFromInitialConnections | RetryImmediately | WaitAndRetry)
}

/// A Lua step, compiled (hashed) once per process: `script(&CELL, CODE)`.
pub fn script(cell: &'static OnceLock<Script>, code: &str) -> &'static Script {
    cell.get_or_init(|| Script::new(code))
}

/// The shared store: one reconnecting connection, cheap to clone.
#[derive(Clone)]
pub struct Shared {
    conn: ConnectionManager,
    /// This node's name (written into its claims, for whoever inspects Redis).
    node: String,
    /// Steps that found Redis away and waited for it (`Stats::redis_waits`): a step that failed
    /// and was retried, or had no reply for [`STALLED`] (the connection manager holds a step
    /// sent while it reconnects until Redis is back).
    waits: Arc<AtomicU64>,
}

impl Shared {
    pub fn new(conn: ConnectionManager, node: &str, waits: Arc<AtomicU64>) -> Shared {
        Shared { conn, node: node.to_string(), waits }
    }

    /// Runs one step, again while Redis is unreachable (the first failure is logged), for at
    /// most [`RETRY_FOR`].
    async fn retry<T, F, Fut>(&self, what: &str, step: F) -> Result<T, String>
    where
        T: redis::FromRedisValue,
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<redis::Value>>,
    {
        let start = Instant::now();
        let mut logged = false;
        loop {
            let sent = step(self.conn.clone());
            tokio::pin!(sent);
            let reply = tokio::select! {
                r = &mut sent => r,
                () = tokio::time::sleep(STALLED), if !logged => {
                    tracing::warn!("Redis: {what}: no reply in {} ms; waiting", STALLED.as_millis());
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    logged = true;
                    sent.await
                }
            };
            match reply {
                Ok(v) => {
                    if logged {
                        tracing::info!("Redis is back: {what} done after {} ms", start.elapsed().as_millis());
                    }
                    // (Read here, not retried: a reply of the wrong shape is this step's error.)
                    return T::from_redis_value(v).map_err(|e| format!("Redis: {what}: an unexpected reply: {e}"));
                }
                Err(e) if passing(&e) && start.elapsed() < RETRY_FOR => {
                    if !logged {
                        tracing::warn!("Redis: {what}: {e}; retrying");
                        self.waits.fetch_add(1, Ordering::Relaxed);
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) if passing(&e) => {
                    return Err(format!("Redis: {what}: {e} (gave up after {} s)", RETRY_FOR.as_secs()))
                }
                Err(e) => return Err(format!("Redis: {what}: {e}")),
            }
        }
    }

    /// Runs a Lua step ([`script`]: sent by hash) with `keys` and `args`, retried while Redis
    /// is away.
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        what: &str,
        s: &'static Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, String> {
        self.retry(what, |mut c| {
            let mut call = s.prepare_invoke();
            for k in keys {
                call.key(*k);
            }
            for a in args {
                call.arg(*a);
            }
            async move { call.invoke_async::<redis::Value>(&mut c).await }
        })
        .await
    }

    /// Runs one command (`args`: its name first), retried while Redis is away.
    pub async fn cmd<T: redis::FromRedisValue>(&self, what: &str, args: &[&str]) -> Result<T, String> {
        let Some((name, args)) = args.split_first() else { return Err(format!("Redis: {what}: no command")) };
        self.retry(what, |mut c| {
            let mut cmd = redis::cmd(name);
            for a in args {
                cmd.arg(*a);
            }
            async move { cmd.query_async::<redis::Value>(&mut c).await }
        })
        .await
    }

    /// Tells every node (see [`NODE_EVENTS`]); a message Redis does not take is logged.
    pub async fn tell_nodes(&self, event: &str) {
        if let Err(e) = self.cmd::<()>("node event", &["PUBLISH", NODE_EVENTS, event]).await {
            tracing::warn!("{e}");
        }
    }

    /// This node is alive for [`ALIVE_FOR`] more.
    pub async fn say_alive(&self) -> Result<(), String> {
        let ms = ALIVE_FOR.as_millis().to_string();
        self.cmd("alive", &["SET", &format!("{ALIVE}{}", self.node), "1", "PX", &ms]).await
    }

    /// This node stops: it is no longer alive (its presence entries go at the next read).
    pub async fn gone(&self) {
        let _ = self.cmd::<()>("alive", &["DEL", &format!("{ALIVE}{}", self.node)]).await;
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Claims `id` for `lease` as `mine` (a token of the claimant: its own claim is still
    /// its own, and is extended).
    pub async fn claim(&self, id: &str, mine: &str, lease: Duration) -> Result<Claim, String> {
        static S: OnceLock<Script> = OnceLock::new();
        let lease = lease.as_millis().max(1).to_string();
        let n: u8 = self.eval("dedup claim", script(&S, CLAIM), &[&dedup_key(id)], &[mine, &lease]).await?;
        Ok(match n {
            1 => Claim::Fresh,
            0 => Claim::Done,
            _ => Claim::Pending,
        })
    }

    /// Marks `id` handled, remembered for `keep`.
    pub async fn done(&self, id: &str, keep: Duration) -> Result<(), String> {
        let keep = keep.as_millis().max(1).to_string();
        self.cmd("dedup mark", &["SET", &dedup_key(id), "done", "PX", &keep]).await
    }

    /// Appends `value` to the application's record; with a durable emit's id, marks it done
    /// in the same step.
    pub async fn record(&self, value: &str, done: Option<(&str, Duration)>) -> Result<(), String> {
        static S: OnceLock<Script> = OnceLock::new();
        let key = done.map_or(String::new(), |(id, _)| dedup_key(id));
        let keep = done.map_or(1, |(_, keep)| keep.as_millis().max(1)).to_string();
        self.eval("record", script(&S, RECORD_DONE), &[&key, RECORDED], &[value, &keep]).await
    }

    /// Numbers `entry` (JSON `[event, data]`) in the replay log, which keeps `keep` entries.
    pub async fn replay_push(&self, entry: &str, keep: usize) -> Result<u64, String> {
        static S: OnceLock<Script> = OnceLock::new();
        let once = format!("sb:replay:pub:{}", &crate::auth::token()[..24]);
        let keys = [REPLAY_NEXT, REPLAY_LOG, &once];
        // A new log (no counter in Redis) starts above every number an earlier one gave.
        let start = super::replay::start(crate::auth::now_ms()).to_string();
        self.eval("replay log", script(&S, REPLAY_PUSH), &keys, &[entry, &keep.to_string(), &start]).await
    }

    /// The last number given and the entries kept (`"<n> <json>"`).
    /// The replay log's last number (0: none given yet).
    pub async fn replay_next(&self) -> Result<u64, String> {
        Ok(self.cmd::<Option<u64>>("replay log", &["GET", REPLAY_NEXT]).await?.unwrap_or(0))
    }

    pub async fn replay_read(&self) -> Result<(u64, Vec<String>), String> {
        static S: OnceLock<Script> = OnceLock::new();
        self.eval("replay log", script(&S, REPLAY_READ), &[REPLAY_NEXT, REPLAY_LOG], &[]).await
    }
}
