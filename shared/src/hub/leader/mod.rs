//! Leadership of one election scope (`browser` or `user`) in one namespace: who leads, and
//! by whose decision. A server that takes part decides (`LEADER_ELECTED`, `LEADER_HEARTBEAT`
//! with a lease; the hub reports its tabs' priorities, renews its leader's lease and resigns
//! a leader that leaves); otherwise, or once the server's lease ran out unrenewed, the hub
//! elects among its own tabs by the same rule ([`Election`], scope `browser`).
//! Invariants: the terms the tabs are told never fall (the hub reports the highest term it
//! saw, and the server's next term exceeds it; a local election starts above it); the hub
//! takes the server's word only for a term at least as high as any it saw; a lease is
//! renewed while this hub runs and its leader tab is attached (a frozen tab says so in its
//! priority report; the lease covers a hub that went silent).

use super::election::{Election, Priority};
use super::tabs::Tabs;
use super::{Millis, TabKey};
use crate::contract;
use crate::json::{self, Value};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// What the tabs are told: `sb:leader [tab, term, scope]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub tab: Option<String>,
    pub term: u64,
    pub scope: &'static str,
}

impl Leader {
    /// The args of `sb:leader`.
    pub fn args(&self) -> String {
        let mut a = String::from("[");
        match &self.tab {
            Some(t) => json::write_string(&mut a, t),
            None => a.push_str("null"),
        }
        a.push_str(&format!(",{},\"{}\"]", self.term, self.scope));
        a
    }
}

/// What the namespace does for its leadership.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Tell these tabs who leads.
    Announce(Vec<TabKey>, Leader),
    /// Send the server `event(args)` (only produced while the server hears the contract).
    Send(&'static str, String),
    Log(String),
}

#[derive(Debug)]
enum Mode {
    /// The hub decides among its tabs.
    Local,
    /// The server decided; its word stands until `lease_until` (its lease and a grace)
    /// unless renewed.
    Server { leader: Option<String>, term: u64, lease_ms: u64, lease_until: Millis },
}

/// Lease bounds the hub accepts from a server (a lease of 0 would flap, one of a day would
/// strand a frozen leader).
const MIN_LEASE_MS: u64 = 1_000;
const MAX_LEASE_MS: u64 = 600_000;

#[derive(Debug)]
pub struct Leadership {
    scope: &'static str,
    local: Election<TabKey>,
    mode: Mode,
    /// The highest term seen from anyone (ours or the server's).
    seen: u64,
    /// What the tabs were told last.
    told: Option<Leader>,
    /// Since CONNECT, waiting for the server's first word until then.
    wait_until: Option<Millis>,
    /// When our leader tab's lease is renewed next.
    renew_at: Option<Millis>,
    /// The server hears the contract (connected, and it said `sb:hello`).
    online: bool,
    /// The last stale term answered with a report.
    fenced: Option<u64>,
}

impl Leadership {
    pub fn new(scope: &'static str, hysteresis_ms: u64) -> Leadership {
        Leadership {
            scope,
            local: Election::new(hysteresis_ms),
            mode: Mode::Local,
            seen: 0,
            told: None,
            wait_until: None,
            renew_at: None,
            online: false,
            fenced: None,
        }
    }

    pub fn has(&self, tab: TabKey) -> bool {
        self.local.candidates().any(|(t, _)| *t == tab)
    }

    /// A tab's Page Lifecycle level in this scope (`election::ACTIVE` … `FROZEN`).
    pub fn level(&self, tab: TabKey) -> Option<u8> {
        self.local.candidates().find(|(t, _)| *t == tab).map(|(_, p)| p.level)
    }

    fn tabs(&self) -> Vec<TabKey> {
        self.local.candidates().map(|(t, _)| *t).collect()
    }

    /// Who leads now, as the tabs are to be told.
    pub fn current(&self, tabs: &Tabs) -> Leader {
        match &self.mode {
            Mode::Server { leader, term, .. } => Leader { tab: leader.clone(), term: *term, scope: self.scope },
            Mode::Local => {
                let (leader, term) = self.local.leader();
                let tab = leader.and_then(|t| tabs.name(*t)).map(String::from);
                Leader { tab, term, scope: contract::SCOPE_BROWSER }
            }
        }
    }

    /// The tabs hear of a change (only of a change).
    fn announce(&mut self, tabs: &Tabs, acts: &mut Vec<Action>) {
        let now = self.current(tabs);
        if self.told.as_ref() != Some(&now) {
            self.seen = self.seen.max(now.term);
            self.told = Some(now.clone());
            acts.push(Action::Announce(self.tabs(), now));
        }
    }

    /// `sb:priority`: every candidate of ours in this scope, and the highest term we saw.
    fn report(&self, tabs: &Tabs, acts: &mut Vec<Action>) {
        if !self.online {
            return;
        }
        let mut a = format!("[{{\"scope\":\"{}\",\"term\":{},\"tabs\":[", self.scope, self.seen);
        for (i, (t, p)) in self.local.candidates().enumerate() {
            if i > 0 {
                a.push(',');
            }
            a.push_str("{\"tab\":");
            json::write_string(&mut a, tabs.name(*t).unwrap_or_default());
            a.push_str(&format!(",\"level\":{}}}", p.level));
        }
        a.push_str("]}]");
        acts.push(Action::Send(contract::PRIORITY, a));
    }

    fn claim(&self, tab: &str, term: u64) -> String {
        let mut a = format!("{{\"scope\":\"{}\",\"term\":{term},\"tab\":", self.scope);
        json::write_string(&mut a, tab);
        a.push('}');
        a
    }

    /// The server's leader is one of our tabs: its name.
    fn our_server_leader<'t>(&self, tabs: &'t Tabs) -> Option<(&'t str, u64, TabKey)> {
        let Mode::Server { leader: Some(l), term, .. } = &self.mode else { return None };
        let key = self.local.candidates().map(|(t, _)| *t).find(|t| tabs.name(*t) == Some(l.as_str()))?;
        Some((tabs.name(key)?, *term, key))
    }

    // --- Tabs. ---

    /// A tab's Page Lifecycle level (its first report makes it a candidate).
    pub fn set_level(&mut self, tab: TabKey, level: u8, tabs: &Tabs, now: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        let new = !self.has(tab);
        let change = self.local.report(tab, Priority { level, activity: now }, now);
        if let (Mode::Local, Some(_)) = (&self.mode, change) {
            self.announce(tabs, &mut acts);
        } else if new {
            // The newcomer hears who leads.
            let current = self.current(tabs);
            self.told.get_or_insert(current.clone());
            acts.push(Action::Announce(alloc::vec![tab], current));
        }
        self.report(tabs, &mut acts);
        acts
    }

    /// A term a tab was told (by an earlier hub, say): ours continue above it.
    pub fn observe(&mut self, term: u64, tabs: &Tabs, now: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        if term > self.seen {
            self.seen = term;
            if matches!(self.mode, Mode::Local) && self.local.fence(term, now).is_some() {
                self.announce(tabs, &mut acts);
            }
        }
        acts
    }

    /// A tab left (closed, crashed, moved to the other scope). A leader that leaves resigns.
    pub fn detach(&mut self, tab: TabKey, tabs: &Tabs, now: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        if !self.has(tab) {
            return acts;
        }
        if let Some((name, term, _)) = self.our_server_leader(tabs).filter(|l| l.2 == tab && self.online) {
            acts.push(Action::Send(contract::RESIGN, format!("[{}]", self.claim(name, term))));
            self.renew_at = None;
        }
        let change = self.local.detach(&tab, now);
        if matches!(self.mode, Mode::Local) && change.is_some() {
            self.announce(tabs, &mut acts);
        }
        self.report(tabs, &mut acts);
        acts
    }

    // --- The server. ---

    /// The namespace connected: the server has a moment to show it takes part.
    pub fn connected(&mut self, now: Millis) {
        self.wait_until = Some(now + contract::ELECTION_WAIT_MS);
    }

    /// The server said `sb:hello`: it hears our reports.
    pub fn hello(&mut self, tabs: &Tabs) -> Vec<Action> {
        self.online = true;
        let mut acts = Vec::new();
        if self.local.candidates().next().is_some() {
            self.report(tabs, &mut acts);
        }
        acts
    }

    /// The session ended: nothing to say to the server until the next; the server's word
    /// stands until its lease runs out.
    pub fn session_ended(&mut self) {
        self.online = false;
        self.wait_until = None;
        self.renew_at = None;
    }

    /// `ELECTION_REQUEST`: report at once.
    pub fn election_request(&self, tabs: &Tabs) -> Vec<Action> {
        let mut acts = Vec::new();
        self.report(tabs, &mut acts);
        acts
    }

    /// `LEADER_ELECTED` or `LEADER_HEARTBEAT` for this scope (`payload` checked by
    /// [`parse_elected`]).
    pub fn elected(&mut self, e: Elected, tabs: &Tabs, now: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        if e.term < self.seen {
            acts.push(Action::Log(format!(
                "{} term {} is older than term {} seen here; not followed",
                self.scope, e.term, self.seen
            )));
            // Reported once per stale term, so the server moves past it (a server that
            // does not would otherwise ping-pong with us).
            if self.fenced != Some(e.term) {
                self.fenced = Some(e.term);
                self.report(tabs, &mut acts);
            }
            return acts;
        }
        let lease_ms = e.lease_ms.clamp(MIN_LEASE_MS, MAX_LEASE_MS);
        let renew_kept = match &self.mode {
            Mode::Server { leader, term, .. } => *leader == e.leader && *term == e.term,
            Mode::Local => false,
        };
        // The server counts the lease from when it sent this; a grace covers the trip and
        // the server's own re-election, so the hub does not step in while the server does.
        let lease_until = now + lease_ms + contract::ELECTION_WAIT_MS;
        self.mode = Mode::Server { leader: e.leader, term: e.term, lease_ms, lease_until };
        self.seen = e.term;
        self.wait_until = None;
        let ours = self.our_server_leader(tabs).is_some();
        self.renew_at = match (ours, renew_kept) {
            (false, _) => None,
            (true, true) => self.renew_at.or(Some(now + lease_ms / 3)),
            (true, false) => Some(now + lease_ms / 3),
        };
        self.announce(tabs, &mut acts);
        acts
    }

    // --- Leader commands. ---

    /// Whether `tab`, believing it leads in `term`, may send a leader command: the claim to
    /// send the server (None: the hub decides alone, scope `browser`).
    pub fn lead(&self, tab: TabKey, term: u64, tabs: &Tabs) -> Result<Option<String>, String> {
        let current = self.current(tabs);
        let name = tabs.name(tab).unwrap_or_default();
        if current.tab.as_deref() != Some(name) {
            return Err(format!("emitAsLeader: this tab does not lead (term {})", current.term));
        }
        if term != current.term {
            return Err(format!("emitAsLeader: stale term {term} (the current term is {})", current.term));
        }
        Ok(matches!(self.mode, Mode::Server { .. }).then(|| self.claim(name, term)))
    }

    // --- Time. ---

    pub fn handle_timeout(&mut self, tabs: &Tabs, now: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        if self.wait_until.is_some_and(|d| now >= d) {
            self.wait_until = None;
            if matches!(self.mode, Mode::Local) {
                let why = format!("no {} within {} ms", contract::LEADER_ELECTED, contract::ELECTION_WAIT_MS);
                acts.push(Action::Log(format!("{why}: the hub elects among its own tabs (scope browser)")));
            }
        }
        match self.mode {
            Mode::Server { lease_until, .. } if now >= lease_until => {
                acts.push(Action::Log(format!(
                    "the server's {} lease ran out unrenewed: the hub elects among its own tabs",
                    self.scope
                )));
                self.mode = Mode::Local;
                self.renew_at = None;
                self.local.restart(self.seen);
                self.announce(tabs, &mut acts);
            }
            Mode::Server { lease_ms, .. } => {
                if self.renew_at.is_some_and(|r| now >= r) {
                    self.renew_at = Some(now + lease_ms / 3);
                    // Renewed while the hub runs and its leader tab is attached, frozen or not: a
                    // frozen tab has said so in its report (a better tab takes over after the
                    // hysteresis); not renewing it would only make the server drop and re-elect
                    // a sole frozen tab every lease. The lease is for a hub that went silent.
                    if let Some((name, term, _)) = self.our_server_leader(tabs).filter(|_| self.online) {
                        acts.push(Action::Send(contract::RENEW, format!("[{}]", self.claim(name, term))));
                    }
                }
            }
            Mode::Local => {
                if self.local.handle_timeout(now).is_some() {
                    self.announce(tabs, &mut acts);
                }
            }
        }
        acts
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        let mode = match self.mode {
            Mode::Server { lease_until, .. } => Some(lease_until),
            Mode::Local => self.local.poll_timeout(),
        };
        [mode, self.wait_until, self.renew_at].into_iter().flatten().min()
    }
}

/// A checked `LEADER_ELECTED` / `LEADER_HEARTBEAT` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elected {
    pub scope: String,
    pub leader: Option<String>,
    pub term: u64,
    pub lease_ms: u64,
}

/// The scope of an `ELECTION_REQUEST` (args `[{scope}]`).
pub fn parse_request(args: &str) -> Result<String, String> {
    let v = first_arg(args)?;
    let scope = v.get("scope").and_then(Value::as_str).unwrap_or_default();
    contract::check_claim(scope, 0, None).map_err(|e| format!("{}: {e}", contract::ELECTION_REQUEST))?;
    Ok(scope.into())
}

/// `[{scope, leader, term, leaseMs}]`, checked: a bad scope, term or tab id is an error.
pub fn parse_elected(args: &str) -> Result<Elected, String> {
    let v = first_arg(args)?;
    let scope = v.get("scope").and_then(Value::as_str).unwrap_or_default();
    let leader = match v.get("leader") {
        None | Some(Value::Null) => None,
        Some(l) => Some(l.as_str().ok_or("leader must be a tab id or null")?),
    };
    let term = v.get("term").and_then(Value::as_u64).ok_or("term must be a whole number")?;
    let lease_ms = v.get("leaseMs").and_then(Value::as_u64).unwrap_or(contract::LEASE_MS);
    contract::check_claim(scope, term, leader)?;
    Ok(Elected { scope: scope.into(), leader: leader.map(String::from), term, lease_ms })
}

fn first_arg(args: &str) -> Result<Value, String> {
    match json::parse(args).map_err(|e| format!("{e}"))? {
        Value::Array(mut items) if !items.is_empty() => Ok(items.swap_remove(0)),
        _ => Err("expected one object argument".into()),
    }
}

/// The election end to end on a virtual clock (hubs and the server's arbiter).
#[cfg(test)]
mod model;
