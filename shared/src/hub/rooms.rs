//! Rooms: which tabs are in which room, the hub's one membership per room on the server, and
//! the tabs waiting for the server to confirm a join or a leave.
//! Invariant: the hub is in a room on the server while at least one of its tabs is; a tab's
//! join or leave is answered exactly once (done, refused, or timed out).

use super::{Millis, TabKey};
use crate::contract;
use crate::json::Quoted;
use crate::vecmap::{VecMap, VecSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Out,
    Joining(u64),
    In,
    Leaving(u64),
}

#[derive(Debug)]
struct Room {
    members: VecSet<TabKey>,
    server: Server,
    /// Tabs waiting for the server to confirm (join) or release (leave) this room.
    waiters: Vec<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    tab: TabKey,
    req: u32,
    deadline: Millis,
}

/// What the hub must do for the rooms.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Send `sb:join` (or `sb:leave`) for `room` and report its ack id with [`Rooms::sent`].
    Send { room: String, join: bool },
    /// Answer a tab's join or leave.
    Done { tab: TabKey, req: u32, error: Option<String> },
}

#[derive(Debug)]
pub struct Rooms {
    rooms: VecMap<String, Room>,
    /// How long a tab waits for the server's confirmation.
    timeout_ms: u64,
}

fn done(tab: TabKey, req: u32) -> Action {
    Action::Done { tab, req, error: None }
}

impl Rooms {
    pub fn new(timeout_ms: u64) -> Rooms {
        Rooms { rooms: VecMap::new(), timeout_ms }
    }

    /// Whether `tab` is in `room` (for routing `sb:room` events).
    pub fn member(&self, tab: TabKey, room: &str) -> bool {
        self.rooms.get(room).is_some_and(|r| r.members.contains(&tab))
    }

    /// Rooms the hub holds on the server and the tabs in each (for presence).
    pub fn held(&self) -> Vec<(String, Vec<TabKey>)> {
        self.rooms
            .iter()
            .filter(|(_, r)| r.server == Server::In)
            .map(|(k, r)| (k.clone(), r.members.iter().copied().collect()))
            .collect()
    }

    /// Rooms the hub has joined on the server.
    pub fn server_rooms(&self) -> Vec<String> {
        self.rooms.iter().filter(|(_, r)| r.server == Server::In).map(|(k, _)| k.clone()).collect()
    }

    /// The hub sent `sb:join`/`sb:leave` for `room` with ack id `id`.
    pub fn sent(&mut self, room: &str, join: bool, id: u64) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.server = if join { Server::Joining(id) } else { Server::Leaving(id) };
        }
    }

    pub fn join(&mut self, tab: TabKey, req: u32, room: String, connected: bool, now: Millis) -> Vec<Action> {
        if let Err(e) = contract::joinable(&room) {
            return alloc::vec![Action::Done { tab, req, error: Some(e.to_string()) }];
        }
        let r = self.rooms.get_or_insert_with(room.clone(), || Room {
            members: VecSet::new(),
            server: Server::Out,
            waiters: Vec::new(),
        });
        r.members.insert(tab);
        if r.server == Server::In {
            return alloc::vec![done(tab, req)];
        }
        r.waiters.push(Waiter { tab, req, deadline: now + self.timeout_ms });
        match (r.server, connected) {
            // Not connected: joined with the others when the session starts.
            (Server::Out, true) => alloc::vec![Action::Send { room, join: true }],
            _ => Vec::new(),
        }
    }

    /// `tab` leaves `room`; `req` is None when the tab is gone (nobody to answer).
    pub fn leave(&mut self, tab: TabKey, req: Option<u32>, room: &str, connected: bool, now: Millis) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(r) = self.rooms.get_mut(room) else {
            actions.extend(req.map(|req| done(tab, req)));
            return actions;
        };
        r.members.remove(&tab);
        // A join of this tab still waiting is over: it left first.
        for w in extract(&mut r.waiters, |w| w.tab == tab) {
            let error = Some(format!("left room {} before the server confirmed the join", Quoted(room)));
            actions.push(Action::Done { tab: w.tab, req: w.req, error });
        }
        let wait = |r: &mut Room| {
            if let Some(req) = req {
                r.waiters.push(Waiter { tab, req, deadline: now + self.timeout_ms });
            }
        };
        match (r.members.is_empty(), r.server) {
            (true, Server::In) if connected => {
                wait(r);
                actions.push(Action::Send { room: room.to_string(), join: false });
            }
            (true, Server::In | Server::Out) => {
                self.rooms.remove(room);
                actions.extend(req.map(|req| done(tab, req)));
            }
            (true, Server::Leaving(_)) => wait(r),
            // Still members, or a join in flight whose ack leaves again when it sees none.
            _ => actions.extend(req.map(|req| done(tab, req))),
        }
        actions
    }

    /// The tab is gone: it leaves every room it was in.
    pub fn detach(&mut self, tab: TabKey, connected: bool, now: Millis) -> Vec<Action> {
        let mut actions = Vec::new();
        let rooms: Vec<String> =
            self.rooms.iter().filter(|(_, r)| r.members.contains(&tab)).map(|(name, _)| name.clone()).collect();
        for room in rooms {
            actions.extend(self.leave(tab, None, &room, connected, now));
        }
        for r in self.rooms.values_mut() {
            r.waiters.retain(|w| w.tab != tab);
        }
        actions.retain(|a| !matches!(a, Action::Done { tab: t, .. } if *t == tab));
        actions
    }

    /// The server answered `sb:join` (with an error when it refused).
    pub fn joined(&mut self, room: &str, error: Option<String>) -> Vec<Action> {
        let Some(r) = self.rooms.get_mut(room) else { return Vec::new() };
        let mut actions: Vec<Action> =
            r.waiters.drain(..).map(|w| Action::Done { tab: w.tab, req: w.req, error: error.clone() }).collect();
        if error.is_some() {
            // Refused: its tabs are not members, and nothing of it is kept.
            self.rooms.remove(room);
        } else if r.members.is_empty() {
            actions.push(Action::Send { room: room.to_string(), join: false });
        } else {
            r.server = Server::In;
        }
        actions
    }

    /// The server answered `sb:leave`.
    pub fn left(&mut self, room: &str) -> Vec<Action> {
        let Some(r) = self.rooms.get_mut(room) else { return Vec::new() };
        r.server = Server::Out;
        let mut actions: Vec<Action> = r.waiters.drain(..).map(|w| done(w.tab, w.req)).collect();
        if r.members.is_empty() {
            self.rooms.remove(room);
        } else {
            actions.push(Action::Send { room: room.to_string(), join: true });
        }
        actions
    }

    /// The session ended: the server forgot the socket's rooms. Leaves are thereby done;
    /// joins wait for the next session.
    pub fn end_session(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for r in self.rooms.values_mut() {
            if matches!(r.server, Server::Leaving(_)) {
                actions.extend(r.waiters.drain(..).map(|w| done(w.tab, w.req)));
            }
            r.server = Server::Out;
        }
        self.rooms.retain(|_, r| !r.members.is_empty() || !r.waiters.is_empty());
        actions
    }

    /// A session started: join every room that has tabs.
    pub fn start_session(&self) -> Vec<Action> {
        self.rooms
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(room, _)| Action::Send { room: room.clone(), join: true })
            .collect()
    }

    pub fn handle_timeout(&mut self, now: Millis) -> Vec<Action> {
        let mut actions = Vec::new();
        for (name, r) in self.rooms.iter_mut() {
            for w in extract(&mut r.waiters, |w| now >= w.deadline) {
                let error = Some(format!("server did not confirm room {} in time", Quoted(name)));
                actions.push(Action::Done { tab: w.tab, req: w.req, error });
            }
        }
        actions
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.rooms.values().flat_map(|r| r.waiters.iter().map(|w| w.deadline)).min()
    }
}

/// Removes and returns the items matching `pred`.
fn extract<T>(items: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept) = core::mem::take(items).into_iter().partition(pred);
    *items = kept;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(room: &str, join: bool) -> Action {
        Action::Send { room: room.into(), join }
    }

    #[test]
    fn one_server_membership_for_many_tabs() {
        let mut r = Rooms::new(1000);
        assert_eq!(r.join(1, 1, "a".into(), true, 0), [send("a", true)]);
        r.sent("a", true, 5);
        assert_eq!(r.join(2, 1, "a".into(), true, 0), []);
        assert_eq!(r.joined("a", None), [done(1, 1), done(2, 1)]);
        assert_eq!(r.leave(1, Some(2), "a", true, 0), [done(1, 2)]);
        assert_eq!(r.leave(2, Some(2), "a", true, 0), [send("a", false)]);
        r.sent("a", false, 6);
        assert_eq!(r.left("a"), [done(2, 2)]);
        assert!(r.server_rooms().is_empty() && r.poll_timeout().is_none());
    }

    #[test]
    fn hierarchy_rooms_are_refused_before_asking_the_server() {
        let mut r = Rooms::new(1000);
        for room in ["user:bob", "session:s", "device:d", "tab:t"] {
            let actions = r.join(1, 1, room.into(), true, 0);
            assert!(
                matches!(&actions[..], [Action::Done { error: Some(e), .. }] if e.contains("assigned by the server"))
            );
        }
        assert!(r.server_rooms().is_empty() && r.poll_timeout().is_none());
    }

    #[test]
    fn a_refused_join_leaves_no_trace() {
        let mut r = Rooms::new(1000);
        r.join(1, 1, "team:secret".into(), true, 0);
        let actions = r.joined("team:secret", Some("not yours".into()));
        assert_eq!(actions, [Action::Done { tab: 1, req: 1, error: Some("not yours".into()) }]);
        assert!(!r.member(1, "team:secret"));
        assert!(r.start_session().is_empty(), "nothing to join again on the next session");
    }

    #[test]
    fn waiters_time_out_once_and_a_session_end_releases_leaves() {
        let mut r = Rooms::new(100);
        r.join(1, 1, "a".into(), false, 0);
        assert_eq!(r.poll_timeout(), Some(100));
        assert_eq!(r.handle_timeout(100).len(), 1);
        assert_eq!(r.handle_timeout(200), []);
        assert_eq!(r.start_session(), [send("a", true)]);
        r.sent("a", true, 1);
        r.joined("a", None);
        r.leave(1, Some(2), "a", true, 300);
        r.sent("a", false, 2);
        assert_eq!(r.end_session(), [done(1, 2)]);
        assert!(r.start_session().is_empty());
    }

    #[test]
    fn leaving_before_the_join_is_confirmed_answers_the_join() {
        let mut r = Rooms::new(100);
        r.join(1, 1, "a".into(), true, 0);
        r.sent("a", true, 1);
        let actions = r.leave(1, Some(2), "a", true, 0);
        assert!(matches!(&actions[0], Action::Done { req: 1, error: Some(_), .. }));
        assert_eq!(actions[1], done(1, 2));
        assert_eq!(r.joined("a", None), [send("a", false)], "the join's ack leaves again");
    }
}
