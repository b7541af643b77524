//! The election end to end on a virtual clock: hubs ([`Leadership`], scope `user`) and the
//! server's [`Arbiter`](crate::arbiter::Arbiter), with random focus, visibility, freezing,
//! closes, crashes (noticed late, by the tab lock) and leader commands, and random message
//! delays (each link in order, as a WebSocket is).

use super::*;
use crate::arbiter::{Arbiter, Say};
use crate::contract::{Candidate, LeaderClaim, PriorityReport};
use crate::hub::election;
use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

const HUBS: usize = 2;
const TABS: u32 = 3;
const MAX_DELAY: u64 = 150;
const CRASH_NOTICE: u64 = 100;

#[derive(Debug, Clone)]
enum Step {
    Level(usize, u32, u8),
    Close(usize, u32),
    Crash(usize, u32),
    Open(usize, u32),
    Lead(usize, u32),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let tab = (0..HUBS, 0..TABS);
    prop_oneof![
        5 => (tab.clone(), 0u8..=3).prop_map(|((h, t), l)| Step::Level(h, t, l)),
        1 => tab.clone().prop_map(|(h, t)| Step::Close(h, t)),
        1 => tab.clone().prop_map(|(h, t)| Step::Crash(h, t)),
        2 => tab.clone().prop_map(|(h, t)| Step::Open(h, t)),
        2 => tab.prop_map(|(h, t)| Step::Lead(h, t)),
        4 => (0u64..4_000).prop_map(Step::Wait),
    ]
}

#[derive(Debug, Clone)]
enum Msg {
    /// Hub → server: the event and its JSON args.
    Up(&'static str, String),
    /// Server → hub.
    Down(Say<usize>),
    /// The hub notices a crashed tab (its lock was released).
    Gone(u32),
}

struct Hub {
    tabs: Tabs,
    leadership: Leadership,
    /// What each tab was told last: (leader, term, scope).
    told: BTreeMap<u32, Leader>,
}

struct World {
    now: Millis,
    hubs: Vec<Hub>,
    server: Arbiter<usize>,
    /// (deliver at, order, hub, message); per link in order.
    flight: Vec<(Millis, u64, usize, Msg)>,
    order: u64,
    link_last: BTreeMap<(usize, bool), Millis>,
    delays: Vec<u64>,
    next_delay: usize,
    /// Which tab each (browser, scope, term) named (a browser is a hub; scope `user` is
    /// one for every hub).
    terms: BTreeMap<(Option<usize>, &'static str, u64), Option<String>>,
    /// Leader commands the server accepted: (tab, term).
    accepted: Vec<(String, u64)>,
}

fn name(hub: usize, tab: u32) -> String {
    format!("h{hub}t{tab}")
}

impl World {
    fn new(delays: Vec<u64>) -> World {
        let hubs = (0..HUBS)
            .map(|_| {
                let mut l = Leadership::new(contract::SCOPE_USER, election::HYSTERESIS_MS);
                l.connected(0);
                Hub { tabs: Tabs::default(), leadership: l, told: BTreeMap::new() }
            })
            .collect();
        let mut w = World {
            now: 0,
            hubs,
            server: Arbiter::new(contract::SCOPE_USER, contract::LEASE_MS),
            flight: Vec::new(),
            order: 0,
            link_last: BTreeMap::new(),
            delays,
            next_delay: 0,
            terms: BTreeMap::new(),
            accepted: Vec::new(),
        };
        for h in 0..HUBS {
            let acts = {
                let hub = &mut w.hubs[h];
                hub.leadership.hello(&hub.tabs)
            };
            w.apply(h, acts).unwrap();
        }
        w
    }

    fn delay(&mut self) -> u64 {
        let d = self.delays.get(self.next_delay % self.delays.len().max(1)).copied().unwrap_or(0);
        self.next_delay += 1;
        d % (MAX_DELAY + 1)
    }

    fn post(&mut self, hub: usize, up: bool, msg: Msg) {
        let at = (self.now + self.delay()).max(self.link_last.get(&(hub, up)).copied().unwrap_or(0));
        self.link_last.insert((hub, up), at);
        self.order += 1;
        self.flight.push((at, self.order, hub, msg));
    }

    /// A hub's actions: announcements checked, sends put in flight.
    fn apply(&mut self, h: usize, acts: Vec<Action>) -> Result<(), String> {
        for a in acts {
            match a {
                Action::Announce(tabs, leader) => {
                    let browser = (leader.scope == contract::SCOPE_BROWSER).then_some(h);
                    let named = self.terms.entry((browser, leader.scope, leader.term)).or_insert(leader.tab.clone());
                    if *named != leader.tab {
                        return Err(format!(
                            "term {} of {} names {named:?} and {:?}",
                            leader.term, leader.scope, leader.tab
                        ));
                    }
                    for t in tabs {
                        let hub = &mut self.hubs[h];
                        if let Some(before) = hub.told.get(&t) {
                            if leader.term < before.term {
                                return Err(format!(
                                    "tab {t} of hub {h} told term {} after {}",
                                    leader.term, before.term
                                ));
                            }
                        }
                        hub.told.insert(t, leader.clone());
                    }
                }
                Action::Send(event, args) => self.post(h, true, Msg::Up(event, args)),
                Action::Log(_) => {}
            }
        }
        Ok(())
    }

    fn says(&mut self, says: Vec<Say<usize>>) {
        let members: Vec<usize> = self.server.members().copied().collect();
        for say in says {
            match &say {
                Say::Elected(_) | Say::Heartbeat(_) => {
                    for &m in &members {
                        self.post(m, false, Msg::Down(say.clone()));
                    }
                }
                Say::ElectedTo(h, _) | Say::Request(h) => self.post(*h, false, Msg::Down(say.clone())),
            }
        }
    }

    fn server_gets(&mut self, h: usize, event: &str, args: &str) -> Result<(), String> {
        let v = match json::parse(args) {
            Ok(Value::Array(mut items)) if !items.is_empty() => items.swap_remove(0),
            _ => return Err(format!("bad args {args}")),
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let term = v.get("term").and_then(Value::as_u64).unwrap_or(0);
        let claim = LeaderClaim { scope: s("scope"), tab: s("tab"), term };
        let now = self.now;
        let says = match event {
            contract::PRIORITY => {
                let tabs = match v.get("tabs") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|c| Candidate {
                            tab: c.get("tab").and_then(Value::as_str).unwrap_or_default().into(),
                            level: c.get("level").and_then(Value::as_u64).unwrap_or(0) as u8,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                self.server.report(h, &PriorityReport { scope: s("scope"), term, tabs }, now)?
            }
            contract::RENEW => self.server.renew(h, &claim, now),
            contract::RESIGN => self.server.resign(h, &claim, now),
            contract::LEAD => {
                if self.server.lead(&h, &claim).is_ok() {
                    let (holder, current) = (self.server.state().leader, self.server.state().term);
                    if holder.as_deref() != Some(claim.tab.as_str()) || current != claim.term {
                        return Err(format!("accepted {claim:?} while {holder:?} leads in {current}"));
                    }
                    self.accepted.push((claim.tab, claim.term));
                }
                Vec::new()
            }
            other => return Err(format!("unexpected {other}")),
        };
        self.says(says);
        Ok(())
    }

    fn hub_gets(&mut self, h: usize, msg: Msg) -> Result<(), String> {
        let now = self.now;
        let hub = &mut self.hubs[h];
        let acts = match msg {
            Msg::Down(Say::Elected(e) | Say::ElectedTo(_, e) | Say::Heartbeat(e)) => {
                let e = Elected { scope: e.scope, leader: e.leader, term: e.term, lease_ms: e.lease_ms };
                hub.leadership.elected(e, &hub.tabs, now)
            }
            Msg::Down(Say::Request(_)) => hub.leadership.election_request(&hub.tabs),
            Msg::Gone(t) => detach(hub, t, now),
            Msg::Up(..) => unreachable!(),
        };
        self.apply(h, acts)
    }

    /// Runs every delivery and deadline up to `until`.
    fn run_until(&mut self, until: Millis) -> Result<(), String> {
        loop {
            let flight = self.flight.iter().map(|f| (f.0, f.1)).min();
            let hub_deadline = (0..HUBS).filter_map(|h| self.hubs[h].leadership.poll_timeout().map(|d| (d, h))).min();
            let server_deadline = self.server.poll_timeout();
            let next = [flight.map(|f| f.0), hub_deadline.map(|d| d.0), server_deadline].into_iter().flatten().min();
            let Some(at) = next.filter(|at| *at <= until) else { break };
            self.now = self.now.max(at);
            if flight.is_some_and(|f| f.0 == at) {
                let i = self.flight.iter().position(|f| (f.0, f.1) == flight.unwrap()).unwrap();
                let (_, _, h, msg) = self.flight.remove(i);
                match msg {
                    Msg::Up(event, args) => self.server_gets(h, event, &args)?,
                    msg => self.hub_gets(h, msg)?,
                }
            } else if server_deadline == Some(at) {
                let says = self.server.handle_timeout(at);
                self.says(says);
            } else if let Some((_, h)) = hub_deadline {
                let hub = &mut self.hubs[h];
                let acts = hub.leadership.handle_timeout(&hub.tabs, at);
                self.apply(h, acts)?;
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    fn step(&mut self, s: Step) -> Result<(), String> {
        let now = self.now;
        match s {
            Step::Level(h, t, level) => {
                let hub = &mut self.hubs[h];
                if hub.tabs.contains(t) {
                    let acts = hub.leadership.set_level(t, level, &hub.tabs, now);
                    self.apply(h, acts)?;
                }
            }
            Step::Open(h, t) => {
                let hub = &mut self.hubs[h];
                if !hub.tabs.contains(t) {
                    hub.tabs.attach(t, name(h, t));
                    let acts = hub.leadership.set_level(t, election::HIDDEN, &hub.tabs, now);
                    self.apply(h, acts)?;
                }
            }
            Step::Close(h, t) => {
                let acts = detach(&mut self.hubs[h], t, now);
                self.apply(h, acts)?;
            }
            Step::Crash(h, t) => {
                if self.hubs[h].tabs.contains(t) {
                    self.order += 1;
                    self.flight.push((now + CRASH_NOTICE, self.order, h, Msg::Gone(t)));
                }
            }
            Step::Lead(h, t) => {
                let hub = &self.hubs[h];
                let Some(told) = hub.told.get(&t).filter(|_| hub.tabs.contains(t)) else { return Ok(()) };
                let result = hub.leadership.lead(t, told.term, &hub.tabs);
                let is_leader = told.tab.as_deref() == Some(name(h, t).as_str());
                if result.is_ok() != is_leader {
                    return Err(format!("lead by {} in term {}: {result:?}", name(h, t), told.term));
                }
                // A stale view (any term but the current one) is refused by the hub.
                if hub.leadership.lead(t, told.term.wrapping_sub(1), &hub.tabs).is_ok() {
                    return Err("a stale term passed the hub".into());
                }
                if let Ok(Some(claim)) = result {
                    self.post(h, true, Msg::Up(contract::LEAD, format!("[{claim}]")));
                }
            }
            Step::Wait(ms) => self.run_until(now + ms)?,
        }
        Ok(())
    }

    /// Quiet: the best live tab leads, and every hub follows the server.
    fn check_settled(&self) -> Result<(), String> {
        let live: Vec<(String, u8)> = (0..HUBS)
            .flat_map(|h| {
                let l = &self.hubs[h].leadership;
                l.local.candidates().map(move |(t, p)| (name(h, *t), p.level)).collect::<Vec<_>>()
            })
            .collect();
        let state = self.server.state();
        let best = live.iter().map(|(_, l)| *l).max();
        let holder_level = live.iter().find(|(n, _)| Some(n) == state.leader.as_ref()).map(|(_, l)| *l);
        if best != holder_level {
            return Err(format!(
                "settled: {:?} leads at level {holder_level:?}, best live level {best:?} ({live:?})",
                state.leader
            ));
        }
        // A hub with no tab in the scope has left it (and hears nothing of it).
        for (h, hub) in
            self.hubs.iter().enumerate().filter(|(_, hub)| hub.leadership.local.candidates().next().is_some())
        {
            let current = hub.leadership.current(&hub.tabs);
            if (current.tab.clone(), current.term) != (state.leader.clone(), state.term) {
                return Err(format!("settled: hub {h} follows {current:?}, the server says {state:?}"));
            }
        }
        Ok(())
    }
}

fn detach(hub: &mut Hub, t: u32, now: Millis) -> Vec<Action> {
    if !hub.tabs.contains(t) {
        return Vec::new();
    }
    let acts = hub.leadership.detach(t, &hub.tabs, now);
    hub.tabs.detach(t);
    hub.told.remove(&t);
    acts
}

fn run(steps: Vec<Step>, delays: Vec<u64>) -> Result<(), String> {
    let mut w = World::new(delays);
    for (h, t) in [(0, 0), (1, 0)] {
        w.step(Step::Open(h, t))?;
    }
    for s in steps {
        w.step(s)?;
    }
    // Quiet for longer than the hysteresis and the slowest trips: settled.
    let quiet = w.now + election::HYSTERESIS_MS + 6 * MAX_DELAY + CRASH_NOTICE;
    w.run_until(quiet)?;
    w.check_settled()?;
    // And it stays so through lease renewals.
    w.run_until(w.now + 3 * contract::LEASE_MS)?;
    w.check_settled()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn one_leader_per_term_terms_rise_stale_commands_fail_and_the_best_tab_leads(
        steps in prop::collection::vec(step(), 0..60),
        delays in prop::collection::vec(0u64..=MAX_DELAY, 1..16),
    ) {
        if let Err(e) = run(steps, delays) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn a_frozen_leader_is_replaced_and_its_commands_refused() {
    let mut w = World::new(vec![20, 40]);
    w.step(Step::Open(0, 0)).unwrap();
    w.step(Step::Level(0, 0, 3)).unwrap();
    w.run_until(1_000).unwrap();
    w.step(Step::Open(1, 0)).unwrap();
    w.step(Step::Level(1, 0, 2)).unwrap();
    w.run_until(2_000).unwrap();
    assert_eq!(w.server.state().leader.as_deref(), Some("h0t0"));
    let old = w.server.state().term;
    w.step(Step::Level(0, 0, 0)).unwrap();
    w.run_until(4_000).unwrap();
    assert_eq!(w.server.state().leader.as_deref(), Some("h1t0"), "a passive tab outranks a frozen one");
    let claim = LeaderClaim { scope: "user".into(), tab: "h0t0".into(), term: old };
    assert!(w.server.lead(&0, &claim).unwrap_err().contains("stale term"));
    w.check_settled().unwrap();
}
