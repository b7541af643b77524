//! What a namespace tells about its tabs: to the tabs, their status (when it changes), the
//! tab list, their assigned rooms and who leads each election scope; to a server that speaks
//! the contract, which tabs this socket serves and who is in each room. [`Directory`] owns
//! the reports' fields; the tabs themselves are [`Delivery`](super::delivery::Delivery)'s.
//! Invariant: a status goes to the tabs only when it differs from the last one they heard.

use super::{hub_event, Cx, Space};
use crate::contract;
use crate::hub::election::{self, ACTIVE};
use crate::hub::leader::{self, Leadership};
use crate::hub::out::Out;
use crate::hub::presence::Presence;
use crate::hub::tabs::Tabs;
use crate::hub::{Millis, TabKey};
use crate::json;
use crate::port::{FromHub, Status};
use crate::socketio;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub(super) struct Directory {
    /// Leadership per election scope: `contract::SCOPES` order (browser, user).
    leaders: [Leadership; 2],
    presence: Presence,
    last_status: Option<Status>,
    /// This session already asked whether the server still knows the sign-in (once per
    /// session: a server repeating `sb:rooms` cannot make the hub refresh in a loop).
    session_checked: bool,
}

impl Directory {
    pub(super) fn new() -> Directory {
        Directory {
            leaders: [
                Leadership::new(contract::SCOPE_BROWSER, election::HYSTERESIS_MS),
                Leadership::new(contract::SCOPE_USER, election::HYSTERESIS_MS),
            ],
            presence: Presence::default(),
            last_status: None,
            session_checked: false,
        }
    }

    pub(super) fn session_started(&mut self, now: Millis) {
        self.session_checked = false;
        self.leaders.iter_mut().for_each(|l| l.connected(now));
    }

    pub(super) fn end_session(&mut self) {
        self.leaders.iter_mut().for_each(Leadership::session_ended);
        self.presence.end_session();
    }

    /// What every scope asks when `tab` leaves (a leader resigns while its name is known).
    pub(super) fn detach(&mut self, tab: TabKey, tabs: &Tabs, now: Millis) -> Vec<leader::Action> {
        self.leaders.iter_mut().flat_map(|l| l.detach(tab, tabs, now)).collect()
    }

    pub(super) fn hello(&mut self, tabs: &Tabs) -> Vec<leader::Action> {
        self.leaders.iter_mut().flat_map(|l| l.hello(tabs)).collect()
    }

    pub(super) fn handle_timeout(&mut self, tabs: &Tabs, now: Millis) -> Vec<leader::Action> {
        self.leaders.iter_mut().flat_map(|l| l.handle_timeout(tabs, now)).collect()
    }

    pub(super) fn poll_timeout(&self) -> Option<Millis> {
        self.leaders.iter().filter_map(Leadership::poll_timeout).min()
    }

    /// The election scope `tab` takes part in.
    pub(super) fn leadership_of(&self, tab: TabKey) -> Option<&Leadership> {
        self.leaders.iter().find(|l| l.has(tab))
    }

    /// A tab's lifecycle level in election scope `scope` (and the highest term it was told):
    /// it leaves the other scope.
    fn priority(
        &mut self,
        tab: TabKey,
        level: u8,
        scope: u8,
        term: u64,
        tabs: &Tabs,
        now: Millis,
    ) -> Vec<leader::Action> {
        let scope = (scope as usize).min(self.leaders.len() - 1);
        let mut acts = self.leaders[1 - scope].detach(tab, tabs, now);
        acts.extend(self.leaders[scope].observe(term.min(contract::MAX_TERM), tabs, now));
        acts.extend(self.leaders[scope].set_level(tab, level.min(ACTIVE), tabs, now));
        acts
    }

    /// An election event from the server for `scope` (`elected`: who leads; none: a request).
    fn election(
        &mut self,
        scope: &str,
        elected: Option<leader::Elected>,
        tabs: &Tabs,
        now: Millis,
    ) -> Vec<leader::Action> {
        let Some(i) = contract::SCOPES.iter().position(|s| *s == scope) else { return Vec::new() };
        match elected {
            Some(e) => self.leaders[i].elected(e, tabs, now),
            None => self.leaders[i].election_request(tabs),
        }
    }

    /// Whether `s` is news to the tabs (it is then the last they heard).
    fn status_changed(&mut self, s: &Status) -> bool {
        let changed = self.last_status.as_ref() != Some(s);
        if changed {
            self.last_status = Some(s.clone());
        }
        changed
    }

    /// A tab's lifecycle level, and whether it leads its scope (for the inspector).
    pub(super) fn level_and_lead(&self, tab: TabKey, tabs: &Tabs) -> (Option<u8>, bool) {
        let level = self.leaders.iter().find_map(|l| l.level(tab));
        let leads = self.leaders.iter().any(|l| l.has(tab) && l.current(tabs).tab.as_deref() == tabs.name(tab));
        (level, leads)
    }

    pub(super) fn leaders(&self, tabs: &Tabs) -> Vec<leader::Leader> {
        self.leaders.iter().map(|l| l.current(tabs)).collect()
    }

    pub(super) fn assigned_for(&self, name: &str) -> Option<String> {
        self.presence.assigned_for(name)
    }
}

impl Space {
    pub fn publish_status(&mut self, link: Status, link_open: bool, out: &mut Out) {
        let s = self.session.status(link, link_open);
        if self.dir.status_changed(&s) {
            out.post(self.reach.tabs.keys(), FromHub::Status(s));
        }
    }

    pub(super) fn publish_tabs(&mut self, cx: &mut Cx) {
        cx.out.post(self.reach.tabs.keys(), FromHub::Tabs { tabs: self.reach.tabs.names() });
        self.announce_tabs(cx.out);
    }

    /// Tells a contract server which tabs this socket serves, so it can address one.
    pub(super) fn announce_tabs(&mut self, out: &mut Out) {
        if self.session.contract_live() {
            let mut list = String::from("[[");
            for (i, name) in self.reach.tabs.names().iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                json::write_string(&mut list, name);
            }
            list.push_str("]]");
            out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[contract::TABS], &list));
        }
    }

    /// Tells a contract server which tabs are in each room we hold, where that changed.
    pub(super) fn sync_presence(&mut self, out: &mut Out) {
        if !self.session.contract_live() {
            return;
        }
        for args in self.dir.presence.sync(self.reach.held_by_name()) {
            out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[contract::PRESENCE], &args));
        }
    }

    /// `sb:rooms` from the server: each tab hears the assigned rooms and its own.
    pub(super) fn on_assigned(&mut self, args: &str, cx: &mut Cx) {
        let dir = &mut self.dir;
        if let Err(why) = dir.presence.assign(args) {
            return cx.out.log(format!("namespace {}: bad {} ignored: {why}", self.nsp, contract::ASSIGNED));
        }
        // Signed in here, a guest to the server (it restarted and forgot, or the session was
        // revoked or expired): a refresh asks it, and signs every tab out if the session is gone.
        if cx.signin.state().user.is_some() && !dir.presence.has_user_room() && !dir.session_checked {
            dir.session_checked = true;
            cx.out.log(format!("namespace {}: the server sees this socket as a guest; checking the session", self.nsp));
            cx.signin.check_session(cx.now);
        }
        for tab in self.reach.tabs.keys() {
            self.tell_assigned(tab, cx.out);
        }
    }

    /// A tab's assigned rooms, if the server assigned any.
    pub(super) fn tell_assigned(&self, tab: TabKey, out: &mut Out) {
        if let Some(args) = self.reach.tabs.name(tab).and_then(|n| self.dir.assigned_for(n)) {
            out.post_one(tab, hub_event(contract::ASSIGNED, args));
        }
    }

    /// A tab's lifecycle level in election scope `scope` (and the highest term it was told).
    pub(super) fn tab_priority(&mut self, tab: TabKey, level: u8, scope: u8, term: u64, cx: &mut Cx) {
        let acts = self.dir.priority(tab, level, scope, term, &self.reach.tabs, cx.now);
        self.apply_leaders(acts, cx);
    }

    /// `LEADER_ELECTED`, `LEADER_HEARTBEAT`, `ELECTION_REQUEST` (other events: nothing). A
    /// bad one is logged and dropped.
    pub(super) fn on_election_event(&mut self, event: &str, args: &str, cx: &mut Cx) {
        let parsed = match event {
            contract::LEADER_ELECTED | contract::LEADER_HEARTBEAT => {
                leader::parse_elected(args).map(|e| (e.scope.clone(), Some(e)))
            }
            contract::ELECTION_REQUEST => leader::parse_request(args).map(|s| (s, None)),
            _ => return,
        };
        match parsed {
            Ok((scope, elected)) => {
                let acts = self.dir.election(&scope, elected, &self.reach.tabs, cx.now);
                self.apply_leaders(acts, cx);
            }
            Err(why) => cx.out.log(format!("namespace {}: bad {event} ignored: {why}", self.nsp)),
        }
    }

    /// Carries out what a scope's leadership asks: tell tabs who leads (`sb:leader`), send
    /// the server an election message, log.
    pub(super) fn apply_leaders(&mut self, acts: Vec<leader::Action>, cx: &mut Cx) {
        for a in acts {
            match a {
                leader::Action::Announce(tabs, l) => cx.out.post(tabs, hub_event(contract::HUB_LEADER, l.args())),
                leader::Action::Send(event, args) => {
                    if self.session.is_connected() {
                        cx.out.send_sio(&socketio::encode_event(&self.nsp, 0, None, &[event], &args));
                    }
                }
                leader::Action::Log(line) => cx.out.log(format!("namespace {}: {line}", self.nsp)),
            }
        }
    }
}
