//! Presence and assigned rooms, the hub's side: which of its tabs are in each room it holds
//! on the server (told with `sb:presence` whenever that changes, so the server can tell
//! everyone in the room who is there), and the hierarchy rooms the server assigned the
//! socket (`sb:rooms`), which each tab hears with its own `tab:{id}` added.
//! Invariant: the server is told a room's tabs once per change; a new session tells it
//! again (the server forgot).

use crate::contract;
use crate::json::{self, Value};
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Default)]
pub struct Presence {
    /// What the server was told: (room, tab ids), in the order [`Rooms::held`] gives.
    ///
    /// [`Rooms::held`]: super::rooms::Rooms::held
    told: Vec<(String, Vec<String>)>,
    /// The hierarchy rooms the server assigned (None: it never said).
    assigned: Option<Vec<String>>,
}

impl Presence {
    /// The rooms held on the server and their tabs now: the `sb:presence` args to send.
    pub fn sync(&mut self, now: Vec<(String, Vec<String>)>) -> Vec<String> {
        let mut sends = Vec::new();
        for (room, tabs) in &now {
            if !self.told.iter().any(|(r, t)| r == room && t == tabs) {
                let mut a = String::from("[{\"room\":");
                json::write_string(&mut a, room);
                a.push_str(",\"tabs\":[");
                for (i, t) in tabs.iter().enumerate() {
                    if i > 0 {
                        a.push(',');
                    }
                    json::write_string(&mut a, t);
                }
                a.push_str("]}]");
                sends.push(a);
            }
        }
        // Rooms left: the server forgets them with the leave.
        self.told = now;
        sends
    }

    pub fn end_session(&mut self) {
        self.told.clear();
    }

    /// `sb:rooms [rooms]` from the server: kept (only hierarchy names are taken).
    pub fn assign(&mut self, args: &str) -> Result<(), String> {
        let rooms = match json::parse(args).map_err(|e| alloc::format!("{e}"))? {
            Value::Array(items) => match items.into_iter().next() {
                Some(Value::Array(rooms)) => rooms,
                _ => return Err("expected [[rooms]]".into()),
            },
            _ => return Err("expected [[rooms]]".into()),
        };
        let rooms = rooms
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| contract::HIERARCHY_ROOMS.iter().any(|p| r.starts_with(p)) && contract::valid_room(r).is_ok())
            .map(String::from)
            .collect();
        self.assigned = Some(rooms);
        Ok(())
    }

    /// Whether the server assigned a `user:` room (it knows the socket's session).
    pub fn has_user_room(&self) -> bool {
        self.assigned.as_ref().is_some_and(|r| r.iter().any(|r| r.starts_with(contract::USER_ROOM)))
    }

    /// What a tab is told (`sb:rooms` args): the assigned rooms and its own `tab:{id}`;
    /// None until the server assigned any.
    pub fn assigned_for(&self, tab: &str) -> Option<String> {
        let rooms = self.assigned.as_ref()?;
        let mut a = String::from("[[");
        for r in rooms.iter().filter(|r| !r.starts_with(contract::TAB_ROOM)) {
            json::write_string(&mut a, r);
            a.push(',');
        }
        json::write_string(&mut a, &alloc::format!("{}{tab}", contract::TAB_ROOM));
        a.push_str("]]");
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_rooms_tabs_are_told_once_per_change() {
        let mut p = Presence::default();
        let room = |tabs: &[&str]| vec![("r".into(), tabs.iter().map(|t| String::from(*t)).collect())];
        assert_eq!(p.sync(room(&["a"])), [r#"[{"room":"r","tabs":["a"]}]"#]);
        assert!(p.sync(room(&["a"])).is_empty());
        assert_eq!(p.sync(room(&["a", "b"])), [r#"[{"room":"r","tabs":["a","b"]}]"#]);
        assert!(p.sync(Vec::new()).is_empty(), "a room left is not reported");
        p.end_session();
        assert_eq!(p.sync(room(&["a"])).len(), 1, "a new session reports again");
    }

    #[test]
    fn assigned_rooms_keep_hierarchy_names_and_add_the_tabs_own() {
        let mut p = Presence::default();
        assert_eq!(p.assigned_for("t1"), None);
        p.assign(r#"[["user:alice","session:s1","lobby",7,"tab:x"]]"#).unwrap();
        assert_eq!(p.assigned_for("t1").unwrap(), r#"[["user:alice","session:s1","tab:t1"]]"#);
        assert!(p.assign(r#"["user:alice"]"#).is_err());
        assert!(p.assign("nonsense").is_err());
    }
}
