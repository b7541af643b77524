//! The namespace as `client.inspect()` shows it: status, its tabs (visibility, leader, rooms,
//! subscriptions), rooms with their tabs, the queue and what is in flight, the leaders. It
//! only reads; each part is written by the concern that owns it.

use super::Space;
use crate::hub::TabKey;
use crate::json::{strings, write_string};
use alloc::format;
use alloc::string::String;

const LEVELS: [&str; 4] = ["frozen", "hidden", "passive", "active"];

impl Space {
    pub fn inspect(&self) -> String {
        let mut s = String::from("{\"nsp\":");
        write_string(&mut s, &self.nsp);
        let (status, sid) = self.session.describe();
        s.push_str(&format!(",\"status\":\"{status}\",\"sid\":"));
        write_opt(&mut s, sid);
        let contract = self.session.contract.speaks().map_or("null", |b| if b { "true" } else { "false" });
        let rtt = self.session.contract.last_rtt().map_or("null".into(), |r| format!("{r}"));
        s.push_str(&format!(",\"contract\":{contract},\"pingRtt\":{rtt},\"tabs\":["));
        for (i, tab) in self.reach.tabs.keys().into_iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            self.inspect_tab(tab, &mut s);
        }
        s.push_str("],\"rooms\":[");
        self.inspect_rooms(&mut s);
        s.push_str("],");
        self.inspect_queue(&mut s);
        s.push_str(",\"leaders\":[");
        self.inspect_leaders(&mut s);
        s.push_str("]}");
        s
    }

    /// `{id, visibility, leader, rooms, subscriptions}`.
    fn inspect_tab(&self, tab: TabKey, s: &mut String) {
        let tabs = &self.reach.tabs;
        s.push_str("{\"id\":");
        write_string(s, tabs.name(tab).unwrap_or_default());
        let (level, leads) = self.dir.level_and_lead(tab, tabs);
        let level = level.and_then(|l| LEVELS.get(l as usize));
        s.push_str(&format!(",\"visibility\":{}", level.map_or("null".into(), |l| format!("\"{l}\""))));
        s.push_str(&format!(",\"leader\":{leads},\"rooms\":"));
        let held = self.reach.rooms.held();
        s.push_str(&strings(held.iter().filter(|(_, keys)| keys.contains(&tab)).map(|(r, _)| r.as_str())));
        s.push_str(",\"subscriptions\":");
        s.push_str(&strings(tabs.subscriptions(tab).iter().map(String::as_str)));
        s.push('}');
    }

    /// `{room, tabs}` for each room held.
    fn inspect_rooms(&self, s: &mut String) {
        for (i, (room, tabs)) in self.reach.held_by_name().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"room\":");
            write_string(s, room);
            s.push_str(",\"tabs\":");
            s.push_str(&strings(tabs.iter().map(String::as_str)));
            s.push('}');
        }
    }

    /// `"queue":{count, bytes, oldest},"inFlight":n`.
    fn inspect_queue(&self, s: &mut String) {
        let outbox = &self.send.outbox;
        let oldest = outbox.oldest().map_or("null".into(), |t| format!("{t}"));
        s.push_str(&format!(
            "\"queue\":{{\"count\":{},\"bytes\":{},\"oldest\":{oldest}}},\"inFlight\":{}",
            outbox.queued(),
            outbox.bytes(),
            outbox.in_flight()
        ));
    }

    /// `{scope, term, leader}` for each election scope.
    fn inspect_leaders(&self, s: &mut String) {
        for (i, l) in self.dir.leaders(&self.reach.tabs).iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{{\"scope\":\"{}\",\"term\":{},\"leader\":", l.scope, l.term));
            write_opt(s, l.tab.as_deref());
            s.push('}');
        }
    }
}

/// A JSON string, or `null`.
fn write_opt(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => write_string(s, v),
        None => s.push_str("null"),
    }
}
