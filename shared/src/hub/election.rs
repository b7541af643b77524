//! Leader election among tabs: the rule the hub applies to its own tabs when the server takes
//! no part (scope `browser`), and that a server can apply to the tabs it knows. Priority
//! comes from the Page Lifecycle (active > passive > hidden > frozen, ties by most recent
//! activity); a challenger pre-empts a live leader only with a strictly higher level held for
//! the hysteresis time, so alt-tabbing does not flap. Every change of holder raises the term
//! (a fencing token).
//! Invariants: at most one leader per term; terms strictly rise; while the leader lives, no
//! change happens before a challenger has been strictly better for `hysteresis_ms`.
//! Generic over the candidate key: the hub's tabs (`TabKey`), the reference backend's
//! `(socket, tab id)`.

use super::Millis;
use alloc::vec::Vec;

/// Page Lifecycle levels, lowest first (`level` in a priority report).
pub const FROZEN: u8 = 0;
pub const HIDDEN: u8 = 1;
pub const PASSIVE: u8 = 2;
pub const ACTIVE: u8 = 3;

/// How long a challenger must stay strictly better before it takes over (default).
pub const HYSTERESIS_MS: u64 = 500;

/// A tab's priority: its lifecycle level, then its most recent activity (when its latest
/// report arrived, monotonic ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Priority {
    pub level: u8,
    pub activity: u64,
}

/// A new leader (None: no tab left) and its term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<K> {
    pub leader: Option<K>,
    pub term: u64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Election<K> {
    hysteresis_ms: u64,
    candidates: Vec<(K, Priority)>,
    leader: Option<K>,
    term: u64,
    /// Since when some tab has been strictly better than the leader (whichever tab is best
    /// when the hysteresis has passed takes over).
    outranked_since: Option<Millis>,
}

impl<K: Clone + Ord> Election<K> {
    pub fn new(hysteresis_ms: u64) -> Election<K> {
        Election { hysteresis_ms, candidates: Vec::new(), leader: None, term: 0, outranked_since: None }
    }

    /// The leader and its term (term 0: none elected yet).
    pub fn leader(&self) -> (Option<&K>, u64) {
        (self.leader.as_ref(), self.term)
    }

    pub fn candidates(&self) -> impl Iterator<Item = &(K, Priority)> {
        self.candidates.iter()
    }

    /// A tab joins (hidden until it reports otherwise).
    pub fn attach(&mut self, tab: K, now: Millis) -> Option<Change<K>> {
        self.report(tab, Priority { level: HIDDEN, activity: 0 }, now)
    }

    /// A tab's new priority.
    pub fn report(&mut self, tab: K, priority: Priority, now: Millis) -> Option<Change<K>> {
        match self.candidates.iter_mut().find(|(t, _)| *t == tab) {
            Some((_, p)) => *p = priority,
            None => self.candidates.push((tab, priority)),
        }
        self.evaluate(now)
    }

    /// A tab is gone: a leader that leaves is replaced at once.
    pub fn detach(&mut self, tab: &K, now: Millis) -> Option<Change<K>> {
        self.detach_where(|t| t == tab, now)
    }

    /// Every candidate `gone` picks leaves at once (a socket's tabs when it disconnects).
    pub fn detach_where(&mut self, gone: impl Fn(&K) -> bool, now: Millis) -> Option<Change<K>> {
        self.candidates.retain(|(t, _)| !gone(t));
        self.evaluate(now)
    }

    /// A term seen elsewhere (another holder's, a hub's before a restart): the next term
    /// exceeds it, and a leader that holds on under an older term gets a new one at once, so
    /// a term never names two holders. The current term itself (a hub reporting the term it
    /// follows) changes nothing: a term changes only with its leader.
    pub fn fence(&mut self, seen: u64, now: Millis) -> Option<Change<K>> {
        if seen > self.term {
            self.term = seen;
            if self.leader.is_some() {
                return self.elect_now();
            }
        }
        self.evaluate(now)
    }

    /// Elects again from scratch (no leader kept): the best tab leads at once under a new
    /// term (or, if none is left, nobody does).
    pub fn elect_now(&mut self) -> Option<Change<K>> {
        let had = self.leader.take();
        self.outranked_since = None;
        let best = self.best().map(|(t, _)| t);
        if best.is_none() && had.is_none() {
            return None;
        }
        self.leader = best.clone();
        self.term += 1;
        Some(Change { leader: best, term: self.term })
    }

    /// Elects from scratch under a term above `seen` (the hub taking over from a server).
    pub fn restart(&mut self, seen: u64) -> Option<Change<K>> {
        self.term = self.term.max(seen);
        self.elect_now()
    }

    pub fn handle_timeout(&mut self, now: Millis) -> Option<Change<K>> {
        self.evaluate(now)
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.outranked_since.map(|since| since + self.hysteresis_ms)
    }

    fn priority(&self, tab: &K) -> Option<Priority> {
        self.candidates.iter().find(|(t, _)| t == tab).map(|(_, p)| *p)
    }

    fn best(&self) -> Option<(K, Priority)> {
        // Highest priority; among equals the lowest key, so the choice is deterministic.
        self.candidates.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).cloned()
    }

    fn elect(&mut self, leader: Option<K>) -> Option<Change<K>> {
        self.outranked_since = None;
        if leader == self.leader {
            return None;
        }
        self.leader = leader.clone();
        self.term += 1;
        Some(Change { leader, term: self.term })
    }

    fn evaluate(&mut self, now: Millis) -> Option<Change<K>> {
        let best = self.best();
        let Some(current) = self.leader.as_ref().and_then(|l| self.priority(l)) else {
            // No leader, or it left: the best tab leads at once.
            return self.elect(best.map(|(t, _)| t));
        };
        let Some((challenger, _)) = best.filter(|(_, p)| p.level > current.level) else {
            self.outranked_since = None;
            return None;
        };
        match self.outranked_since {
            Some(since) if now >= since + self.hysteresis_ms => self.elect(Some(challenger)),
            Some(_) => None,
            None => {
                self.outranked_since = Some(now);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prio(level: u8, activity: u64) -> Priority {
        Priority { level, activity }
    }

    #[test]
    fn the_first_tab_leads_and_a_focused_tab_takes_over_after_the_hysteresis() {
        let mut e = Election::<u32>::new(500);
        assert_eq!(e.attach(1, 0), Some(Change { leader: Some(1), term: 1 }));
        assert_eq!(e.attach(2, 0), None);
        assert_eq!(e.report(2, prio(ACTIVE, 10), 100), None, "not before the hysteresis");
        assert_eq!(e.poll_timeout(), Some(600));
        assert_eq!(e.handle_timeout(599), None);
        assert_eq!(e.handle_timeout(600), Some(Change { leader: Some(2), term: 2 }));
        assert_eq!(e.poll_timeout(), None);
    }

    #[test]
    fn alternating_faster_than_the_hysteresis_changes_nothing() {
        let mut e = Election::<u32>::new(500);
        e.report(1, prio(ACTIVE, 1), 0);
        e.attach(2, 0);
        for i in 0..10u64 {
            let t = 100 + i * 200;
            let (l1, l2) = if i % 2 == 0 { (HIDDEN, ACTIVE) } else { (ACTIVE, HIDDEN) };
            assert_eq!(e.report(1, prio(l1, t), t), None);
            assert_eq!(e.report(2, prio(l2, t), t), None);
            assert_eq!(e.handle_timeout(t + 199), None);
        }
        assert_eq!(e.leader(), (Some(&1), 1));
    }

    #[test]
    fn a_leader_that_leaves_is_replaced_at_once_by_the_best() {
        let mut e = Election::<u32>::new(500);
        e.report(1, prio(ACTIVE, 1), 0);
        e.report(2, prio(HIDDEN, 5), 0);
        e.report(3, prio(PASSIVE, 2), 0);
        assert_eq!(e.detach(&1, 10), Some(Change { leader: Some(3), term: 2 }));
        assert_eq!(e.detach(&3, 20), Some(Change { leader: Some(2), term: 3 }));
        assert_eq!(e.detach(&2, 30), Some(Change { leader: None, term: 4 }));
    }
}
