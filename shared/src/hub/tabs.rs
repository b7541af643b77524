//! The tabs attached to a hub: their ids (names) and the event names they subscribed to.
//! Invariant: keyed by the shell's port handle; a tab's name is what its page chose.

use super::limits::Bucket;
use super::{Millis, TabKey};
use crate::contract;
use crate::vecmap::{VecMap, VecSet};
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug)]
struct Tab {
    name: String,
    subs: VecSet<String>,
    /// Its message rate (from its first costly message).
    rate: Option<Bucket>,
}

#[derive(Debug, Default)]
pub struct Tabs {
    tabs: VecMap<TabKey, Tab>,
}

impl Tabs {
    pub fn attach(&mut self, tab: TabKey, name: String) {
        self.tabs.insert(tab, Tab { name, subs: VecSet::new(), rate: None });
    }

    /// False when the tab was not attached.
    pub fn detach(&mut self, tab: TabKey) -> bool {
        self.tabs.remove(&tab).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.tabs.is_empty()
    }

    pub fn contains(&self, tab: TabKey) -> bool {
        self.tabs.contains_key(&tab)
    }

    pub fn keys(&self) -> Vec<TabKey> {
        self.tabs.keys().copied().collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.tabs.values().map(|t| t.name.clone()).collect()
    }

    pub fn name(&self, tab: TabKey) -> Option<&str> {
        self.tabs.get(&tab).map(|t| t.name.as_str())
    }

    /// The events `tab` subscribed to.
    pub fn subscriptions(&self, tab: TabKey) -> Vec<String> {
        self.tabs.get(&tab).map(|t| t.subs.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether the tab may send another message now ([`contract::TAB_RATE`], burst
    /// [`contract::TAB_BURST`]); `Err(true)` the first time in a row it may not.
    pub fn admit(&mut self, tab: TabKey, now: Millis) -> Result<(), bool> {
        let Some(t) = self.tabs.get_mut(&tab) else { return Ok(()) };
        t.rate.get_or_insert_with(|| Bucket::new(contract::TAB_RATE, contract::TAB_BURST, now)).take(now)
    }

    pub fn subscribe(&mut self, tab: TabKey, event: String, on: bool) {
        if let Some(t) = self.tabs.get_mut(&tab) {
            if on {
                t.subs.insert(event);
            } else {
                t.subs.remove(&event);
            }
        }
    }

    /// Tabs subscribed to `event` (or to every event, [`contract::ANY_EVENT`]), optionally
    /// only the one named `only`, that pass `filter`.
    pub fn targets(&self, event: &str, only: Option<&str>, filter: impl Fn(TabKey) -> bool) -> Vec<TabKey> {
        self.tabs
            .iter()
            .filter(|(k, t)| {
                (t.subs.contains(event)
                    || (t.subs.contains(contract::ANY_EVENT) && !event.starts_with(contract::PREFIX)))
                    && only.is_none_or(|n| n == t.name)
                    && filter(**k)
            })
            .map(|(k, _)| *k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_subscribers_filtered_by_name_and_predicate() {
        let mut t = Tabs::default();
        t.attach(1, "a".into());
        t.attach(2, "b".into());
        t.attach(3, "c".into());
        for tab in [1, 2] {
            t.subscribe(tab, "news".into(), true);
        }
        assert_eq!(t.targets("news", None, |_| true), [1, 2]);
        assert_eq!(t.targets("news", Some("b"), |_| true), [2]);
        assert_eq!(t.targets("news", None, |k| k != 1), [2]);
        t.subscribe(3, contract::ANY_EVENT.into(), true);
        assert_eq!(t.targets("anything", None, |_| true), [3], "a catch-all subscription");
        t.subscribe(3, contract::ANY_EVENT.into(), false);
        t.subscribe(2, "news".into(), false);
        assert!(t.detach(1) && !t.detach(1));
        assert!(t.targets("news", None, |_| true).is_empty());
        assert_eq!(t.names(), ["b", "c"]);
    }
}
