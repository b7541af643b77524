//! Leader election on the server (docs/server-contract.md, "Leader election"): one
//! [`Arbiter`] (the sans-IO rule from `switchboard_shared::arbiter`) per namespace and scope
//! key, fed by the hubs' `sb:priority` reports, `sb:renew` and `sb:resign`, and by
//! disconnects; `sb:lead` commands pass only with the current holder and term. A task wakes
//! at the arbiters' deadlines (hysteresis, leases). One node keeps the arbiters in memory
//! (below); several keep them in Redis (`election_shared.rs`). A socket's election messages
//! are handled in the order it sent them (`ordering::Ticket`).
//! Scope keys: `browser` is the socket's device (the `sb_device` cookie), else the socket
//! itself; `user` is the signed-in user (every device), else the same as `browser`.
//! Invariant: a socket's candidates leave every arbiter when it disconnects; nothing from a
//! socket can panic here (bad messages are answered with an error and logged).

use super::election_shared::{InRedis, Place};
use super::limits::Admit;
use super::node::SocketIo;
use super::node::{AckSender, SocketRef};
use super::ordering::Ticket;
use super::{app, RawArgs, State};
use serde_json::Value;
use socketioxide::extract::Data;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_shared::arbiter::{Arbiter, Say};
use switchboard_shared::contract::{self, ElectionRequest, LeaderClaim, PriorityReport, Receipt};
use tokio::time::Instant;

#[derive(Default)]
struct Inner {
    arbiters: HashMap<String, Arbiter<String>>,
    /// Each socket's arbiters (their keys), and the socket to speak to.
    sockets: HashMap<String, (SocketRef, BTreeSet<String>)>,
}

pub struct Elections {
    inner: Mutex<Inner>,
    lease_ms: u64,
    hysteresis_ms: u64,
    start: Instant,
    wake: tokio::sync::Notify,
    /// LEADER_* and ELECTION_REQUEST packets sent, and election messages received (for
    /// the traffic figures).
    pub sent: std::sync::atomic::AtomicU64,
    pub received: std::sync::atomic::AtomicU64,
    /// Several nodes: the arbiters are in Redis (`election_shared.rs`), not in `inner`.
    shared: Option<InRedis>,
}

/// An arbiter step: (arbiter, socket id, now) → what it says.
pub trait Step: FnMut(&mut Arbiter<String>, String, u64) -> Result<Vec<Say<String>>, String> + Send {}
impl<F: FnMut(&mut Arbiter<String>, String, u64) -> Result<Vec<Say<String>>, String> + Send> Step for F {}

impl Elections {
    pub fn new(lease_ms: u64, hysteresis_ms: u64) -> Elections {
        Elections {
            inner: Mutex::default(),
            lease_ms,
            hysteresis_ms,
            start: Instant::now(),
            wake: tokio::sync::Notify::new(),
            sent: Default::default(),
            received: Default::default(),
            shared: None,
        }
    }

    /// The arbiters in Redis, shared by every node.
    pub fn in_redis(mut self, store: super::shared::Shared) -> Elections {
        self.shared = Some(InRedis::new(store, self.lease_ms, self.hysteresis_ms));
        self
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The scope's key for this socket, and its prefix (namespace and scope).
    fn key(s: &SocketRef, scope: &str) -> (String, String) {
        let room = |prefix| super::presence::assigned_room(s, prefix);
        let browser = room(contract::DEVICE_ROOM).unwrap_or_else(|| format!("socket:{}", s.id));
        let who = match scope {
            contract::SCOPE_USER => room(contract::USER_ROOM).unwrap_or(browser),
            _ => browser,
        };
        let prefix = format!("{}|{scope}|", s.ns());
        (format!("{prefix}{who}"), prefix)
    }

    /// Runs one arbiter call for `s` in `scope` and says what it says.
    async fn with(&self, io: &SocketIo, s: &SocketRef, scope: &str, mut f: impl Step) -> Result<(), String> {
        self.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (key, prefix) = Self::key(s, scope);
        if let Some(r) = &self.shared {
            let place = Place { key: key.clone(), ns: s.ns().to_string(), scope: scope.to_string() };
            let stale = |ps: &BTreeSet<Place>| {
                ps.iter().filter(|p| p.key != key && p.key.starts_with(&prefix)).cloned().collect()
            };
            let sent = r.with(io, s, place, stale, f).await?;
            self.sent.fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            self.wake.notify_one();
            return Ok(());
        }
        let sid = s.id.to_string();
        let now = self.now();
        let out = {
            let mut inner = self.inner.lock().map_err(|_| "election state unavailable".to_string())?;
            // The socket's key for this scope changed (it signed in, say): it leaves the old
            // arbiter first, so its tabs are never candidates twice.
            let mut out = inner.moved(&sid, &key, &prefix, now);
            let arbiter = inner
                .arbiters
                .entry(key.clone())
                .or_insert_with(|| Arbiter::with_hysteresis(scope, self.lease_ms, self.hysteresis_ms));
            let says = f(arbiter, sid.clone(), now)?;
            let members = arbiter.members().cloned().collect::<Vec<_>>();
            inner.sockets.entry(sid).or_insert_with(|| (s.clone(), BTreeSet::new())).1.insert(key);
            out.extend(resolve(&inner, scope, &members, says));
            out
        };
        self.deliver(out);
        self.wake.notify_one();
        Ok(())
    }

    fn deliver(&self, out: Vec<(SocketRef, &'static str, Value)>) {
        for (socket, event, payload) in out {
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = socket.emit(event, &payload);
        }
    }

    /// A socket disconnected: its candidates leave every arbiter it reported to.
    pub async fn leave(&self, io: &SocketIo, sid: &str) {
        if let Some(r) = &self.shared {
            let sent = r.leave(io, sid).await;
            self.sent.fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let now = self.now();
        let out = {
            let Ok(mut inner) = self.inner.lock() else { return };
            let Some((_, keys)) = inner.sockets.remove(sid) else { return };
            inner.drop_from(sid, keys, now)
        };
        self.deliver(out);
    }

    /// Wakes at the arbiters' deadlines (hysteresis, leases) for as long as the server runs.
    pub async fn run(self: Arc<Self>, io: SocketIo) {
        if let Some(r) = &self.shared {
            loop {
                let wake = self.wake.notified();
                match r.next_deadline() {
                    Some(at) => {
                        let wait = Duration::from_millis(at.saturating_sub(crate::auth::now_ms()));
                        let _ = tokio::time::timeout(wait, wake).await;
                    }
                    None => wake.await,
                }
                let sent = r.timeouts(&io).await;
                self.sent.fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            }
        }
        loop {
            let next = self.inner.lock().ok().and_then(|i| i.arbiters.values().filter_map(|a| a.poll_timeout()).min());
            let wake = self.wake.notified();
            match next {
                Some(at) => {
                    let at = self.start + Duration::from_millis(at);
                    let _ = tokio::time::timeout_at(at, wake).await;
                }
                None => wake.await,
            }
            let now = self.now();
            let out = {
                let Ok(mut inner) = self.inner.lock() else { continue };
                let mut all = Vec::new();
                for a in inner.arbiters.values_mut() {
                    if a.poll_timeout().is_some_and(|d| d <= now) {
                        let says = a.handle_timeout(now);
                        all.push((a.scope().to_string(), a.members().cloned().collect::<Vec<_>>(), says));
                    }
                }
                all.into_iter().flat_map(|(scope, members, says)| resolve(&inner, &scope, &members, says)).collect()
            };
            self.deliver(out);
        }
    }
}

impl Inner {
    /// `sid` now belongs to `key`: it leaves the arbiters of the same namespace and scope
    /// (keys starting with `prefix`) under another key. Returns what they say about it.
    fn moved(&mut self, sid: &str, key: &str, prefix: &str, now: u64) -> Vec<(SocketRef, &'static str, Value)> {
        let Some((_, keys)) = self.sockets.get_mut(sid) else { return Vec::new() };
        let stale: Vec<String> = keys.iter().filter(|k| *k != key && k.starts_with(prefix)).cloned().collect();
        keys.retain(|k| !stale.contains(k));
        self.drop_from(sid, stale, now)
    }

    /// `sid`'s candidates leave these arbiters (an arbiter left without sockets goes).
    fn drop_from(
        &mut self,
        sid: &str,
        keys: impl IntoIterator<Item = String>,
        now: u64,
    ) -> Vec<(SocketRef, &'static str, Value)> {
        let mut out = Vec::new();
        for k in keys {
            let Some(a) = self.arbiters.get_mut(&k) else { continue };
            let says = a.leave(&sid.to_string(), now);
            let (scope, members) = (a.scope().to_string(), a.members().cloned().collect::<Vec<_>>());
            if a.is_empty() {
                self.arbiters.remove(&k);
            }
            out.extend(resolve(self, &scope, &members, says));
        }
        out
    }
}

/// What an arbiter says as a packet: to one member (Some) or to every member of the scope,
/// the event and its payload (None if it cannot be written).
pub(super) fn packet(scope: &str, say: Say<String>) -> Option<(Option<String>, &'static str, Value)> {
    let (to, event, payload) = match say {
        Say::Elected(e) => (None, contract::LEADER_ELECTED, serde_json::to_value(e)),
        Say::Heartbeat(e) => (None, contract::LEADER_HEARTBEAT, serde_json::to_value(e)),
        Say::ElectedTo(sid, e) => (Some(sid), contract::LEADER_ELECTED, serde_json::to_value(e)),
        Say::Request(sid) => {
            (Some(sid), contract::ELECTION_REQUEST, serde_json::to_value(ElectionRequest { scope: scope.into() }))
        }
    };
    Some((to, event, payload.ok()?))
}

/// Who hears what: (socket, event, payload).
fn resolve(
    inner: &Inner,
    scope: &str,
    members: &[String],
    says: Vec<Say<String>>,
) -> Vec<(SocketRef, &'static str, Value)> {
    let socket = |sid: &String| inner.sockets.get(sid).map(|(s, _)| s.clone());
    let mut out = Vec::new();
    for (to, event, payload) in says.into_iter().filter_map(|say| packet(scope, say)) {
        match to {
            Some(sid) => out.extend(socket(&sid).map(|s| (s, event, payload))),
            None => out.extend(members.iter().filter_map(socket).map(|s| (s, event, payload.clone()))),
        }
    }
    out
}

/// The election's handlers on a new socket.
pub fn on_connect(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    let (st, report_io) = (state.clone(), io.clone());
    socket.on(contract::PRIORITY, move |_: Admit, s: SocketRef, Data(v): Data<Value>, ack: AckSender, t: Ticket| {
        let (st, io) = (st.clone(), report_io.clone());
        async move {
            let _turn = t.wait().await;
            let result = match serde_json::from_value::<PriorityReport>(v) {
                Ok(r) => {
                    st.elections
                        .with(&io, &s, &r.scope.clone(), |a: &mut Arbiter<String>, sid, now| a.report(sid, &r, now))
                        .await
                }
                Err(e) => Err(e.to_string()),
            };
            answer(&s, contract::PRIORITY, result, ack);
        }
    });
    for (event, resign) in [(contract::RENEW, false), (contract::RESIGN, true)] {
        let (st, claim_io) = (state.clone(), io.clone());
        socket.on(event, move |_: Admit, s: SocketRef, Data(v): Data<Value>, ack: AckSender, t: Ticket| {
            let (st, io) = (st.clone(), claim_io.clone());
            async move {
                let _turn = t.wait().await;
                let result = match claim(v) {
                    Ok(c) => {
                        let step = |a: &mut Arbiter<String>, sid, now| {
                            Ok(match resign {
                                true => a.resign(sid, &c, now),
                                false => a.renew(sid, &c, now),
                            })
                        };
                        st.elections.with(&io, &s, &c.scope.clone(), step).await
                    }
                    Err(e) => Err(e),
                };
                answer(&s, event, result, ack);
            }
        });
    }
    // `sb:lead [claim, event, ...args]`: the application sees `event(...args)` only from the
    // current holder in the current term.
    socket.on(contract::LEAD, move |_: Admit, s: SocketRef, RawArgs(args): RawArgs, ack: AckSender| {
        let (io, state) = (io.clone(), state.clone());
        async move {
            let mut args = args.into_iter().skip(1);
            let claim = args.next().ok_or_else(|| "missing claim".to_string()).and_then(claim);
            let event = args.next().and_then(|e| e.as_str().map(String::from));
            let checked = match (claim, event) {
                (Ok(c), Some(event)) => {
                    let step = |a: &mut Arbiter<String>, sid: String, _| a.lead(&sid, &c).map(|_| Vec::new());
                    state.elections.with(&io, &s, &c.scope.clone(), step).await.map(|_| event)
                }
                (Ok(_), None) => Err("an event name must follow the claim".to_string()),
                (Err(e), _) => Err(e),
            };
            let receipt = match checked {
                Ok(event) => match app::event(&io, &s, &state, &event, args.collect(), None).await {
                    Ok(()) => Receipt::OK,
                    Err(error) => Receipt::Error { error },
                },
                Err(error) => {
                    tracing::info!(sid = %s.id, error = %contract::redact(&error), "leader command refused");
                    Receipt::Error { error }
                }
            };
            let _ = ack.send(&receipt);
        }
    });
}

fn claim(v: Value) -> Result<LeaderClaim, String> {
    let c = serde_json::from_value::<LeaderClaim>(v).map_err(|e| e.to_string())?;
    contract::check_claim(&c.scope, c.term, Some(&c.tab))?;
    Ok(c)
}

/// A bad election message: a log line, and an error receipt if the hub asked for an ack.
fn answer(s: &SocketRef, event: &str, result: Result<(), String>, ack: AckSender) {
    if let Err(error) = result {
        tracing::warn!(sid = %s.id, event, error = %contract::redact(&error), "bad election message");
        let _ = ack.send(&Receipt::Error { error });
    }
}
