//! Presence on the server (docs/server-contract.md, "Presence"): who is in each room, by user
//! and device with their tab ids, from the hubs' `sb:presence` reports; everyone in the room
//! hears `sb:members` after every change (a report, a leave, a disconnect). Also the
//! assigned hierarchy rooms a socket is told (`sb:rooms`).
//! One node keeps the lists in memory; several keep them in Redis (`sb:presence:{ns}|{room}`,
//! a hash of socket id → `node\nmember`), so a room's list names its members on every node;
//! an entry of a node that stopped saying it is alive (`shared::ALIVE`) is dropped the next
//! time the list is read.
//! Invariant: a socket is listed only in rooms it is in; its entries go with a leave or a
//! disconnect (or with its node).

use super::limits::Admit;
use super::node::SocketIo;
use super::node::{AckSender, SocketRef};
use super::shared::Shared;
use super::State;
use serde_json::Value;
use socketioxide::extract::Data;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use switchboard_shared::contract::{self, Member, Members, PresenceReport, Receipt};

/// Room (with its namespace) → socket id → that socket's member entry.
#[derive(Default)]
pub struct PresenceBook {
    rooms: Mutex<HashMap<(String, String), BTreeMap<String, Member>>>,
    /// Several nodes: the lists are in Redis; `rooms` only indexes this node's sockets (their
    /// entries hold nothing).
    shared: Option<Shared>,
}

/// Sets (or, with an empty value, deletes) one socket's entry and returns the room's entries
/// of nodes still alive, dropping the others. KEYS[1]: the room's hash; ARGV: sid, value.
const UPDATE: &str = r"
local h = KEYS[1]
if ARGV[2] == '' then redis.call('HDEL', h, ARGV[1]) else redis.call('HSET', h, ARGV[1], ARGV[2]) end
local all, out, alive = redis.call('HGETALL', h), {}, {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local node = string.match(v, '^([^\n]*)\n') or ''
  if alive[node] == nil then alive[node] = redis.call('EXISTS', 'sb:alive:' .. node) == 1 end
  if alive[node] then table.insert(out, string.sub(v, #node + 2)) else redis.call('HDEL', h, all[i]) end
end
return out";

impl PresenceBook {
    /// The lists in Redis, shared by every node.
    pub fn in_redis(store: Shared) -> PresenceBook {
        PresenceBook { shared: Some(store), ..PresenceBook::default() }
    }

    /// Sets (or, with None, removes) the socket's entry; the room's list as it is now (None
    /// when Redis could not say: nobody is told a list then).
    async fn update(&self, nsp: &str, room: &str, sid: &str, member: Option<Member>) -> Option<Members> {
        let Some(store) = &self.shared else { return Some(self.update_here(nsp, room, sid, member)) };
        static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        // This node's index of where its sockets are listed.
        let _ = self.update_here(
            nsp,
            room,
            sid,
            member.clone().map(|_| Member { user: None, device: None, tabs: Vec::new() }),
        );
        let value = match &member {
            Some(m) => format!("{}\n{}", store.node(), serde_json::to_string(m).unwrap_or_default()),
            None => String::new(),
        };
        let key = format!("sb:presence:{nsp}|{room}");
        let entries: Vec<String> =
            match store.eval("presence", super::shared::script(&S, UPDATE), &[&key], &[sid, &value]).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(room, "presence: {e}");
                    return None;
                }
            };
        let members: Vec<Member> = entries.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
        Some(Members { room: room.into(), members: group(members.iter()) })
    }

    fn update_here(&self, nsp: &str, room: &str, sid: &str, member: Option<Member>) -> Members {
        let Ok(mut rooms) = self.rooms.lock() else { return Members { room: room.into(), members: Vec::new() } };
        let key = (nsp.to_string(), room.to_string());
        let entries = rooms.entry(key.clone()).or_default();
        match member {
            Some(m) => entries.insert(sid.to_string(), m),
            None => entries.remove(sid),
        };
        let members = group(entries.values());
        if entries.is_empty() {
            rooms.remove(&key);
        }
        Members { room: room.into(), members }
    }

    /// The socket is gone: the rooms it was listed in, as they are now.
    async fn forget(&self, nsp: &str, sid: &str) -> Vec<Members> {
        let changed = self.forget_here(nsp, sid);
        if self.shared.is_none() {
            return changed;
        }
        let mut out = Vec::new();
        for m in changed {
            out.extend(self.update(nsp, &m.room, sid, None).await);
        }
        out
    }

    fn forget_here(&self, nsp: &str, sid: &str) -> Vec<Members> {
        let Ok(mut rooms) = self.rooms.lock() else { return Vec::new() };
        let mut changed = Vec::new();
        rooms.retain(|(n, room), entries| {
            if n == nsp && entries.remove(sid).is_some() {
                changed.push(Members { room: room.clone(), members: group(entries.values()) });
            }
            !entries.is_empty()
        });
        changed
    }
}

/// One entry per (user, device), tabs merged and sorted.
fn group<'a>(entries: impl Iterator<Item = &'a Member>) -> Vec<Member> {
    let mut by: BTreeMap<(Option<String>, Option<String>), Vec<String>> = BTreeMap::new();
    for m in entries {
        by.entry((m.user.clone(), m.device.clone())).or_default().extend(m.tabs.iter().cloned());
    }
    by.into_iter()
        .map(|((user, device), mut tabs)| {
            tabs.sort();
            tabs.dedup();
            Member { user, device, tabs }
        })
        .collect()
}

/// The socket's room that starts with `prefix` (`user:alice` for `user:`), whole.
pub fn assigned_room(s: &SocketRef, prefix: &str) -> Option<String> {
    s.rooms().iter().find(|r| r.starts_with(prefix)).map(|r| r.to_string())
}

/// The part after `prefix` of the socket's room with that prefix (`user:alice` → `alice`).
pub fn assigned(s: &SocketRef, prefix: &str) -> Option<String> {
    assigned_room(s, prefix).and_then(|r| r.strip_prefix(prefix).map(String::from))
}

/// Whether the socket is in `room`.
pub fn in_room(s: &SocketRef, room: &str) -> bool {
    s.rooms().iter().any(|r| r == room)
}

/// Tells the socket its hierarchy rooms (`sb:rooms`).
pub fn tell_assigned(s: &SocketRef) {
    let prefixes = [contract::USER_ROOM, contract::SESSION_ROOM, contract::DEVICE_ROOM];
    let mut rooms: Vec<String> =
        s.rooms().iter().filter(|r| prefixes.iter().any(|p| r.starts_with(p))).map(|r| r.to_string()).collect();
    rooms.sort();
    let _ = s.emit(contract::ASSIGNED, &rooms);
}

async fn tell(io: &SocketIo, nsp: &str, m: Members) {
    if let Some(ns) = io.of(nsp) {
        let _ = ns.to(m.room.clone()).emit(contract::ROOM, &(m.room.as_str(), contract::MEMBERS, &m)).await;
    }
}

/// The socket left `room` (`sb:leave`): the room hears who is left.
pub async fn left(io: &SocketIo, state: &State, s: &SocketRef, room: &str) {
    if let Some(m) = state.presence.update(s.ns(), room, &s.id.to_string(), None).await {
        tell(io, s.ns(), m).await;
    }
}

/// The socket disconnected: every room it was listed in hears who is left.
pub async fn gone(io: &SocketIo, state: &State, nsp: &str, sid: &str) {
    for m in state.presence.forget(nsp, sid).await {
        tell(io, nsp, m).await;
    }
}

/// `sb:presence {room, tabs}` from a hub in `room`.
pub fn on_connect(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    socket.on(contract::PRESENCE, move |_: Admit, s: SocketRef, Data(v): Data<Value>, ack: AckSender| {
        let (io, state) = (io.clone(), state.clone());
        async move {
            let report = serde_json::from_value::<PresenceReport>(v).map_err(|e| e.to_string()).and_then(|r| {
                contract::valid_room(&r.room)?;
                if !in_room(&s, &r.room) {
                    return Err(format!("presence for {:?}: this socket is not in that room", r.room));
                }
                if r.tabs.iter().any(|t| t.is_empty() || t.len() > contract::MAX_TAB_ID) {
                    return Err("tab id must be 1..64 bytes".into());
                }
                if r.tabs.len() > contract::MAX_REPORTED_TABS {
                    return Err(format!("more than {} tabs in one report", contract::MAX_REPORTED_TABS));
                }
                Ok(r)
            });
            match report {
                Ok(r) => {
                    let member = (!r.tabs.is_empty()).then(|| Member {
                        user: assigned(&s, contract::USER_ROOM),
                        // A pseudonym: the room learns which tabs share a browser, not its id.
                        device: assigned(&s, contract::DEVICE_ROOM).map(|d| crate::auth::pseudonym(&d, &r.room)),
                        tabs: r.tabs,
                    });
                    if let Some(m) = state.presence.update(s.ns(), &r.room, &s.id.to_string(), member).await {
                        tell(&io, s.ns(), m).await;
                    }
                }
                Err(error) => {
                    tracing::warn!(sid = %s.id, error = %contract::redact(&error), "bad presence report");
                    let _ = ack.send(&Receipt::Error { error });
                }
            }
        }
    });
}
