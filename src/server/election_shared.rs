//! Leader election on several nodes (`--redis`): the same [`Arbiter`] per scope key, kept in
//! Redis (`sb:elect:{key}`, a hash of `v`, a version, and `doc`, the arbiter as JSON) instead
//! of a node's memory. Every step reads it, applies the sans-IO rule, and stores it back only
//! if no other node stored a newer one meanwhile (a compare-and-set on `v`, in Lua); if one
//! did, the step runs again on the newer arbiter. So there is one holder per term however
//! many nodes the scope's sockets are on. The arbiter's clock is the wall clock (every node
//! reads the same leases).
//!
//! Who hears what: `LEADER_ELECTED`/`LEADER_HEARTBEAT` go to the scope's room (`sb:elect|…`,
//! which each member socket joins; the adapter carries it to every node); an answer or an
//! `ELECTION_REQUEST` meant for one socket goes to it when it is on this node, else to the
//! room (the current state, or a request to report again, is harmless to the others).
//! Deadlines (hysteresis, leases) are kept by every node that has a member socket; whichever
//! wakes first applies the timeout and the others find nothing due.
//! Members are `node/sid`. Invariant: a socket's candidates leave when it disconnects; those
//! of a node that died leave at the next step after its alive key lapses (`shared::ALIVE`).

use super::election::Step;
use super::node::{SocketIo, SocketRef};
use super::shared::Shared;
use crate::auth::now_ms;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use switchboard_shared::arbiter::{Arbiter, Say};

/// Stores ARGV[2] (or deletes, when empty) if the version is still ARGV[1].
const CAS: &str = r"
local k = KEYS[1]
local v = redis.call('HGET', k, 'v') or '0'
if v ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', k) else redis.call('HSET', k, 'v', tonumber(v) + 1, 'doc', ARGV[2]) end
return 1";

/// A scope key's place: its Redis key, its room, the namespace and the scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub key: String,
    pub ns: String,
    pub scope: String,
}

impl Place {
    fn room(&self) -> String {
        format!("sb:elect|{}", self.key.split_once('|').map_or(self.key.as_str(), |(_, rest)| rest))
    }
}

pub struct InRedis {
    store: Shared,
    lease_ms: u64,
    hysteresis_ms: u64,
    /// This node's member sockets (and the places they are in), and each place's next
    /// deadline as last read.
    local: Mutex<Local>,
}

#[derive(Default)]
struct Local {
    sockets: HashMap<String, (SocketRef, BTreeSet<Place>)>,
    deadlines: HashMap<Place, u64>,
}

/// What a step says, to whom: a socket here, or (None) the scope's room; and the packet.
type Out = Vec<(Option<SocketRef>, &'static str, Value)>;

impl InRedis {
    pub fn new(store: Shared, lease_ms: u64, hysteresis_ms: u64) -> InRedis {
        InRedis { store, lease_ms, hysteresis_ms, local: Mutex::default() }
    }

    /// Runs `f` on the arbiter of `place` (as `sid`), storing what changed; returns its says.
    async fn step(
        &self,
        place: &Place,
        sid: &str,
        f: &mut dyn Step,
    ) -> Result<(Vec<Say<String>>, Option<u64>), String> {
        static S: OnceLock<redis::Script> = OnceLock::new();
        let rkey = format!("sb:elect:{}", place.key);
        for _ in 0..100 {
            let (v, doc): (Option<String>, Option<String>) =
                self.store.cmd("election", &["HMGET", &rkey, "v", "doc"]).await?;
            let mut arbiter = match &doc {
                Some(d) => {
                    serde_json::from_str::<Arbiter<String>>(d).map_err(|e| format!("election state in Redis: {e}"))?
                }
                None => Arbiter::with_hysteresis(&place.scope, self.lease_ms, self.hysteresis_ms),
            };
            let now = now_ms();
            // Members of nodes that stopped saying they are alive (crashed) leave first.
            let mut says = Vec::new();
            for gone in self.of_dead_nodes(&arbiter).await {
                says.extend(arbiter.leave(&gone, now));
            }
            says.extend(f(&mut arbiter, sid.to_string(), now)?);
            let next = arbiter.poll_timeout();
            let new = match arbiter.is_empty() {
                true => String::new(),
                false => serde_json::to_string(&arbiter).map_err(|e| e.to_string())?,
            };
            if doc.as_deref().unwrap_or("") == new {
                return Ok((says, next));
            }
            let v = v.unwrap_or_else(|| "0".into());
            let stored: u8 = self.store.eval("election", super::shared::script(&S, CAS), &[&rkey], &[&v, &new]).await?;
            if stored == 1 {
                return Ok((says, next));
            }
        }
        Err("the election changed 100 times during one step; try again".into())
    }

    /// This node's name for one of its sockets in an arbiter: `node/sid` (so a node that
    /// dies can be told from its members).
    fn member(&self, sid: &str) -> String {
        format!("{}/{sid}", self.store.node())
    }

    /// The socket id of a member of this node (None: another node's).
    fn local_sid<'m>(&self, member: &'m str) -> Option<&'m str> {
        member.strip_prefix(self.store.node()).and_then(|m| m.strip_prefix('/'))
    }

    /// Members of the arbiter whose node's alive key lapsed.
    async fn of_dead_nodes(&self, arbiter: &Arbiter<String>) -> Vec<String> {
        let mut nodes: Vec<&str> = arbiter.members().filter_map(|m| m.rsplit_once('/').map(|(n, _)| n)).collect();
        nodes.sort();
        nodes.dedup();
        let mut dead = Vec::new();
        for node in nodes.into_iter().filter(|n| *n != self.store.node()) {
            let alive: bool = self
                .store
                .cmd("election", &["EXISTS", &format!("{}{node}", super::shared::ALIVE)])
                .await
                .unwrap_or(true);
            if !alive {
                dead.push(node.to_string());
            }
        }
        arbiter
            .members()
            .filter(|m| m.rsplit_once('/').is_some_and(|(n, _)| dead.iter().any(|d| d == n)))
            .cloned()
            .collect()
    }

    /// One step for socket `s` at `place`, then the says delivered. `stale`: the places the
    /// socket leaves first (its scope key changed).
    pub async fn with(
        &self,
        io: &SocketIo,
        s: &SocketRef,
        place: Place,
        stale_of: impl Fn(&BTreeSet<Place>) -> Vec<Place>,
        mut f: impl Step,
    ) -> Result<u64, String> {
        let sid = s.id.to_string();
        let stale = {
            let mut local = self.local.lock().map_err(|_| "election state unavailable")?;
            let entry = local.sockets.entry(sid.clone()).or_insert_with(|| (s.clone(), BTreeSet::new()));
            let stale = stale_of(&entry.1);
            entry.1.retain(|p| !stale.contains(p));
            stale
        };
        let mut sent = 0;
        let me = self.member(&sid);
        for p in stale {
            s.leave(p.room());
            sent += self.run(io, &p, &me, &mut |a, m, now| Ok(a.leave(&m, now))).await?;
        }
        // In the room before the step, so the socket hears what the step says to the room.
        s.join(place.room());
        let mut member = false;
        let mut g = |a: &mut Arbiter<String>, m: String, now: u64| {
            let says = f(a, m.clone(), now)?;
            member = a.members().any(|x| *x == m);
            Ok(says)
        };
        sent += self.run(io, &place, &me, &mut g).await?;
        if let Ok(mut local) = self.local.lock() {
            if let Some((_, places)) = local.sockets.get_mut(&sid) {
                match member {
                    true => places.insert(place.clone()),
                    false => places.remove(&place),
                };
            }
        }
        if !member {
            s.leave(place.room());
        }
        Ok(sent)
    }

    /// A step at `place`, its says delivered and its deadline noted. Returns packets sent.
    async fn run(&self, io: &SocketIo, place: &Place, sid: &str, f: &mut dyn Step) -> Result<u64, String> {
        let (says, next) = self.step(place, sid, f).await?;
        if let Ok(mut local) = self.local.lock() {
            match next {
                Some(at) => local.deadlines.insert(place.clone(), at),
                None => local.deadlines.remove(place),
            };
        }
        let out = self.resolve(place, says);
        let n = out.len() as u64;
        deliver(io, place, out).await;
        Ok(n)
    }

    fn resolve(&self, place: &Place, says: Vec<Say<String>>) -> Out {
        let here = |member: &String| {
            let sid = self.local_sid(member)?;
            self.local.lock().ok().and_then(|l| l.sockets.get(sid).map(|(s, _)| s.clone()))
        };
        let mut out = Out::new();
        for (to, event, payload) in says.into_iter().filter_map(|say| super::election::packet(&place.scope, say)) {
            // (None: the scope's room, every member on every node.)
            out.push((to.as_ref().and_then(here), event, payload));
        }
        out
    }

    /// Socket `sid` disconnected: it leaves every place it was in. Returns packets sent.
    pub async fn leave(&self, io: &SocketIo, sid: &str) -> u64 {
        let places = self.local.lock().ok().and_then(|mut l| l.sockets.remove(sid)).map(|(_, p)| p).unwrap_or_default();
        let mut sent = 0;
        let me = self.member(sid);
        for p in places {
            match self.run(io, &p, &me, &mut |a, m, now| Ok(a.leave(&m, now))).await {
                Ok(n) => sent += n,
                Err(e) => tracing::error!(sid, "election leave: {e}"),
            }
        }
        sent
    }

    /// The next deadline of a place with a socket here.
    pub fn next_deadline(&self) -> Option<u64> {
        let local = self.local.lock().ok()?;
        local
            .deadlines
            .iter()
            .filter(|(p, _)| local.sockets.values().any(|(_, ps)| ps.contains(*p)))
            .map(|(_, at)| *at)
            .min()
    }

    /// Applies the timeouts due now. Returns packets sent.
    pub async fn timeouts(&self, io: &SocketIo) -> u64 {
        let now = now_ms();
        let due: Vec<Place> = match self.local.lock() {
            Ok(l) => l.deadlines.iter().filter(|(_, at)| **at <= now).map(|(p, _)| p.clone()).collect(),
            Err(_) => return 0,
        };
        let mut sent = 0;
        for p in due {
            let mut timeout = |a: &mut Arbiter<String>, _: String, now: u64| match a.poll_timeout() {
                Some(at) if at <= now => Ok(a.handle_timeout(now)),
                _ => Ok(Vec::new()),
            };
            match self.run(io, &p, "", &mut timeout).await {
                Ok(n) => sent += n,
                Err(e) => {
                    tracing::error!(key = %p.key, "election timeout: {e}");
                    // Tried again a second later rather than at once.
                    if let Ok(mut l) = self.local.lock() {
                        l.deadlines.insert(p, now + 1000);
                    }
                }
            }
        }
        sent
    }
}

async fn deliver(io: &SocketIo, place: &Place, out: Out) {
    for (socket, event, payload) in out {
        match socket {
            Some(s) => {
                let _ = s.emit(event, &payload);
            }
            None => {
                if let Some(ns) = io.of(place.ns.as_str()) {
                    let _ = ns.to(place.room()).emit(event, &payload).await;
                }
            }
        }
    }
}
