//! Who gets what in a namespace: the tabs with the events they subscribed to, the rooms each
//! holds, and the server's events routed to them (a room event to the tabs in the room, a
//! `tab:{id}` event to that tab, presence to every tab in the room); repeated security
//! events dropped.
//! Invariant: an event reaches only tabs that subscribed to it, except presence, which
//! reaches every tab in its room.

use crate::contract;
use crate::hub::rooms::Rooms;
use crate::hub::security::Repeats;
use crate::hub::tabs::Tabs;
use crate::hub::TabKey;
use alloc::string::String;
use alloc::vec::Vec;

pub(super) struct Delivery {
    pub(super) tabs: Tabs,
    pub(super) rooms: Rooms,
    repeats: Repeats,
}

impl Delivery {
    pub(super) fn new(join_timeout_ms: u64) -> Delivery {
        Delivery { tabs: Tabs::default(), rooms: Rooms::new(join_timeout_ms), repeats: Repeats::default() }
    }

    /// Whether a server event is new (a repeated security event is not).
    pub(super) fn fresh(&mut self, event: &str, args: &str) -> bool {
        self.repeats.fresh(event, args)
    }

    /// The tabs a server event reaches: `room` (a room event), `tab` (one tab's name).
    pub(super) fn targets(&self, event: &str, room: Option<&str>, tab: Option<&str>) -> Vec<TabKey> {
        let (rooms, tabs) = (&self.rooms, &self.tabs);
        // A room event reaches the tabs in the room; `tab:{id}` is each tab's own room.
        let in_room = |t: TabKey, r: &str| {
            rooms.member(t, r) || r.strip_prefix(contract::TAB_ROOM).is_some_and(|id| tabs.name(t) == Some(id))
        };
        match (event, room) {
            // Presence reaches every tab in the room, subscribed or not (`client.members`).
            (contract::MEMBERS, Some(r)) => tabs.keys().into_iter().filter(|t| in_room(*t, r)).collect(),
            _ => tabs.targets(event, tab, |t| room.is_none_or(|r| in_room(t, r))),
        }
    }

    /// The other tabs in `room` that subscribed to `event` (a `to(room)` emit's local half).
    pub(super) fn mates(&self, tab: TabKey, room: &str, event: &str) -> Vec<TabKey> {
        self.tabs.targets(event, None, |t| t != tab && self.rooms.member(t, room))
    }

    /// Each room held, with the names of its tabs.
    pub(super) fn held_by_name(&self) -> Vec<(String, Vec<String>)> {
        let names = |keys: Vec<TabKey>| keys.iter().filter_map(|k| self.tabs.name(*k)).map(String::from).collect();
        self.rooms.held().into_iter().map(|(room, keys)| (room, names(keys))).collect()
    }
}
