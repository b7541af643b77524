//! The server's side of leader election, sans-IO: one [`Arbiter`] per election scope (a
//! browser's tabs, or a user's tabs on every device) keeps the candidates the hubs report,
//! the leader, its term (the fencing token) and its lease on the server's clock. The
//! reference backend runs it; another backend can port it (docs/server-contract.md).
//! Invariants: one holder per term; the term rises with every change of holder and exceeds
//! every term a hub reported; a leader command passes only with the current holder and
//! term; a leader whose hub stops renewing loses the lease within `lease_ms`.

use crate::contract::{self, Candidate, Elected, LeaderClaim, PriorityReport};
use crate::hub::election::{Election, Priority, HYSTERESIS_MS};
use crate::hub::Millis;
use crate::vecmap::VecSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// What the server says, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say<S> {
    /// `LEADER_ELECTED` to every socket of the scope.
    Elected(Elected),
    /// `LEADER_ELECTED` to one socket (the answer to its report, or a correction).
    ElectedTo(S, Elected),
    /// `LEADER_HEARTBEAT` to every socket of the scope.
    Heartbeat(Elected),
    /// `ELECTION_REQUEST` to one socket (its leader went silent: report again).
    Request(S),
}

/// Serializable: a backend of several nodes keeps one arbiter per scope in a shared store
/// and updates it by compare-and-set (the reference backend does, in Redis).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Arbiter<S> {
    scope: String,
    lease_ms: u64,
    election: Election<(S, String)>,
    lease_until: Option<Millis>,
    /// Sockets with candidates here (they hear every change).
    members: VecSet<S>,
}

impl<S: Clone + Ord> Arbiter<S> {
    pub fn new(scope: &str, lease_ms: u64) -> Arbiter<S> {
        Arbiter::with_hysteresis(scope, lease_ms, HYSTERESIS_MS)
    }

    pub fn with_hysteresis(scope: &str, lease_ms: u64, hysteresis_ms: u64) -> Arbiter<S> {
        Arbiter {
            scope: scope.into(),
            lease_ms,
            election: Election::new(hysteresis_ms),
            lease_until: None,
            members: VecSet::new(),
        }
    }

    /// The state as the hubs are told it.
    pub fn state(&self) -> Elected {
        let (leader, term) = self.election.leader();
        Elected { scope: self.scope.clone(), leader: leader.map(|l| l.1.clone()), term, lease_ms: self.lease_ms }
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// No socket left: the scope can be dropped.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> impl Iterator<Item = &S> {
        self.members.iter()
    }

    fn changed(&mut self, changed: bool, now: Millis, says: &mut Vec<Say<S>>) -> bool {
        if changed {
            let holder = self.election.leader().0.is_some();
            self.lease_until = holder.then_some(now + self.lease_ms);
            says.push(Say::Elected(self.state()));
        }
        changed
    }

    /// `sb:priority`: `sock`'s candidates in this scope, all of them. Answered with the state
    /// (to every socket if it changed, else to `sock`).
    pub fn report(&mut self, sock: S, r: &PriorityReport, now: Millis) -> Result<Vec<Say<S>>, String> {
        contract::check_claim(&r.scope, r.term, None)?;
        if r.tabs.len() > contract::MAX_REPORTED_TABS {
            return Err(format!("more than {} tabs in one report", contract::MAX_REPORTED_TABS));
        }
        for Candidate { tab, level } in &r.tabs {
            contract::check_claim(&r.scope, r.term, Some(tab))?;
            if *level > crate::hub::election::ACTIVE {
                return Err(format!("level {level} out of range (0 frozen .. 3 active)"));
            }
        }
        let mut changed = self.election.fence(r.term, now).is_some();
        let old: Vec<((S, String), Priority)> =
            self.election.candidates().filter(|((s, _), _)| *s == sock).cloned().collect();
        for (key, _) in &old {
            if !r.tabs.iter().any(|c| c.tab == key.1) {
                changed |= self.election.detach(key, now).is_some();
            }
        }
        for c in &r.tabs {
            let key = (sock.clone(), c.tab.clone());
            // A tab's activity is when its level last changed (on the server's clock).
            let activity = match old.iter().find(|(k, _)| *k == key) {
                Some((_, p)) if p.level == c.level => p.activity,
                _ => now,
            };
            changed |= self.election.report(key, Priority { level: c.level, activity }, now).is_some();
        }
        match r.tabs.is_empty() {
            true => self.members.remove(&sock),
            false => self.members.insert(sock.clone()),
        };
        let mut says = Vec::new();
        if !self.changed(changed, now, &mut says) {
            says.push(Say::ElectedTo(sock, self.state()));
        }
        Ok(says)
    }

    fn holds(&self, sock: &S, claim: &LeaderClaim) -> bool {
        let (leader, term) = self.election.leader();
        leader.is_some_and(|(s, t)| s == sock && *t == claim.tab) && term == claim.term
    }

    /// `sb:renew`: the holder's hub extends its lease (heard by every socket); a stale
    /// claim is answered with the state instead.
    pub fn renew(&mut self, sock: S, claim: &LeaderClaim, now: Millis) -> Vec<Say<S>> {
        if self.holds(&sock, claim) {
            self.lease_until = Some(now + self.lease_ms);
            return alloc::vec![Say::Heartbeat(self.state())];
        }
        alloc::vec![Say::ElectedTo(sock, self.state())]
    }

    /// `sb:resign`: the holder leaves; the best other tab leads at once.
    pub fn resign(&mut self, sock: S, claim: &LeaderClaim, now: Millis) -> Vec<Say<S>> {
        let mut says = Vec::new();
        if self.holds(&sock, claim) {
            let change = self.election.detach(&(sock, claim.tab.clone()), now).is_some();
            self.changed(change, now, &mut says);
        }
        says
    }

    /// A socket disconnected: its candidates leave at once.
    pub fn leave(&mut self, sock: &S, now: Millis) -> Vec<Say<S>> {
        self.members.remove(sock);
        let change = self.election.detach_where(|(s, _)| s == sock, now).is_some();
        let mut says = Vec::new();
        self.changed(change, now, &mut says);
        says
    }

    /// `sb:lead`: whether `claim` names the holder and the current term.
    pub fn lead(&self, sock: &S, claim: &LeaderClaim) -> Result<(), String> {
        let (_, term) = self.election.leader();
        if claim.term != term {
            return Err(format!("stale term {} (the current term is {term})", claim.term));
        }
        if !self.holds(sock, claim) {
            return Err(format!("tab {} does not lead in term {term}", claim.tab));
        }
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Millis) -> Vec<Say<S>> {
        let mut says = Vec::new();
        if self.lease_until.is_some_and(|d| now >= d) {
            // The holder's hub went silent (a frozen or sleeping device): its candidates
            // leave until it reports again.
            if let Some(sock) = self.election.leader().0.map(|l| l.0.clone()) {
                let change = self.election.detach_where(|(s, _)| *s == sock, now).is_some();
                says.push(Say::Request(sock));
                self.changed(change, now, &mut says);
            }
        }
        let change = self.election.handle_timeout(now).is_some();
        self.changed(change, now, &mut says);
        says
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        [self.lease_until, self.election.poll_timeout()].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn report(term: u64, tabs: &[(&str, u8)]) -> PriorityReport {
        PriorityReport {
            scope: "user".into(),
            term,
            tabs: tabs.iter().map(|(t, l)| Candidate { tab: (*t).into(), level: *l }).collect(),
        }
    }

    fn claim(tab: &str, term: u64) -> LeaderClaim {
        LeaderClaim { scope: "user".into(), tab: tab.into(), term }
    }

    fn elected(says: &[Say<u32>]) -> Option<(Option<String>, u64)> {
        says.iter().find_map(|s| match s {
            Say::Elected(e) => Some((e.leader.clone(), e.term)),
            _ => None,
        })
    }

    #[test]
    fn tabs_on_two_sockets_elect_one_leader_and_a_report_is_always_answered() {
        let mut a = Arbiter::new("user", 9_000);
        let says = a.report(1, &report(0, &[("a", 1)]), 0).unwrap();
        assert_eq!(elected(&says), Some((Some("a".into()), 1)));
        let says = a.report(2, &report(0, &[("b", 1)]), 10).unwrap();
        assert!(matches!(&says[..], [Say::ElectedTo(2, e)] if e.leader.as_deref() == Some("a")));
        a.report(2, &report(0, &[("b", 3)]), 20).unwrap();
        assert_eq!(a.poll_timeout(), Some(520), "the hysteresis");
        assert_eq!(elected(&a.handle_timeout(520)), Some((Some("b".into()), 2)));
    }

    #[test]
    fn the_term_exceeds_every_reported_term_and_a_stale_claim_is_refused() {
        let mut a = Arbiter::new("user", 9_000);
        let says = a.report(1, &report(41, &[("a", 3)]), 0).unwrap();
        assert_eq!(elected(&says), Some((Some("a".into()), 42)));
        assert!(a.lead(&1, &claim("a", 42)).is_ok());
        assert!(a.lead(&1, &claim("a", 41)).unwrap_err().contains("stale term 41"));
        assert!(a.lead(&2, &claim("b", 42)).is_err());
        // A hub that saw a higher term (its own election while cut off) moves the term on.
        let says = a.report(1, &report(50, &[("a", 3)]), 5).unwrap();
        assert_eq!(elected(&says), Some((Some("a".into()), 51)));
        assert!(a.lead(&1, &claim("a", 42)).is_err());
    }

    /// The demo's churn (terms 1 to 26 in 15 s while one tab led): each report carried the
    /// term its hub followed, and the current term fenced itself into a new one.
    #[test]
    fn reports_at_the_current_term_keep_the_term_while_the_leader_stays() {
        let mut a = Arbiter::new("user", 9_000);
        assert_eq!(elected(&a.report(1, &report(0, &[("a", 3)]), 0).unwrap()), Some((Some("a".into()), 1)));
        for (i, level) in [2, 3, 1, 3, 3].into_iter().enumerate() {
            let says = a.report(1, &report(1, &[("a", level), ("b", 1)]), 10 + i as u64).unwrap();
            assert!(matches!(&says[..], [Say::ElectedTo(1, e)] if e.term == 1), "report {i}: {says:?}");
        }
        assert!(a.lead(&1, &claim("a", 1)).is_ok());
    }

    #[test]
    fn a_silent_leader_loses_its_lease_and_a_renewed_one_keeps_it() {
        let mut a = Arbiter::new("user", 9_000);
        a.report(1, &report(0, &[("a", 3)]), 0).unwrap();
        a.report(2, &report(0, &[("b", 1)]), 0).unwrap();
        assert_eq!(a.renew(1, &claim("a", 1), 3_000), vec![Say::Heartbeat(a.state())]);
        assert!(matches!(&a.renew(2, &claim("b", 1), 3_000)[..], [Say::ElectedTo(2, _)]));
        assert_eq!(a.poll_timeout(), Some(12_000));
        let says = a.handle_timeout(12_000);
        assert_eq!(says[0], Say::Request(1));
        assert_eq!(elected(&says), Some((Some("b".into()), 2)));
    }

    #[test]
    fn a_resignation_or_a_disconnect_hands_over_at_once() {
        let mut a = Arbiter::new("user", 9_000);
        a.report(1, &report(0, &[("a", 3), ("c", 2)]), 0).unwrap();
        a.report(2, &report(0, &[("b", 1)]), 0).unwrap();
        assert!(a.resign(1, &claim("a", 2), 1).is_empty(), "a stale resignation changes nothing");
        assert_eq!(elected(&a.resign(1, &claim("a", 1), 1)), Some((Some("c".into()), 2)));
        assert_eq!(elected(&a.leave(&1, 2)), Some((Some("b".into()), 3)));
        assert_eq!(elected(&a.leave(&2, 3)), Some((None, 4)));
        assert!(a.is_empty());
    }

    #[test]
    fn bad_reports_are_errors() {
        let mut a = Arbiter::<u32>::new("user", 9_000);
        let mut r = report(0, &[("a", 9)]);
        assert!(a.report(1, &r, 0).is_err());
        r.tabs[0].level = 1;
        r.scope = "galaxy".into();
        assert!(a.report(1, &r, 0).is_err());
        assert!(a.report(1, &report(1 << 60, &[]), 0).is_err());
        assert!(a.report(1, &report(0, &[("", 1)]), 0).is_err());
        let many: Vec<(String, u8)> = (0..=contract::MAX_REPORTED_TABS).map(|i| (alloc::format!("t{i}"), 1)).collect();
        let many: Vec<(&str, u8)> = many.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        assert!(a.report(1, &report(0, &many), 0).is_err());
    }
}
