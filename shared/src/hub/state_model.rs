//! Shared state end to end on a model: hubs ([`SharedState`]) and a server applying
//! [`crate::state::write`] on two backend nodes, with random concurrent writes and delivery
//! that reorders, duplicates and drops-then-retries (a write is retried until its update
//! comes back). After quiescence every hub holds the server's `(value, version)`; every
//! applied write is the value, knowingly overwritten, or reported as a conflict; a
//! duplicate changes nothing; a version has at most one entry per backend node.

use super::out::Out;
use super::state::SharedState;
use super::{Shared, TabKey};
use crate::json;
use crate::port::Endpoint;
use crate::state::{self as versioning, Versioned};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use proptest::prelude::*;

const HUBS: usize = 3;
const KEYS: u8 = 2;
const NODES: [&str; 2] = ["n1", "n2"];

#[derive(Debug, Clone)]
enum Step {
    /// Hub `h` writes key `k` (its value is the step's number).
    Write(usize, u8),
    /// Deliver the message at this position (modulo what is in flight), maybe twice.
    Deliver(usize, bool),
    /// Drop a message in flight (a lost connection: the hub retries its write and asks for
    /// the state again when it is back).
    Drop(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..HUBS, 0..KEYS).prop_map(|(h, k)| Step::Write(h, k)),
        6 => (any::<usize>(), any::<bool>()).prop_map(|(i, twice)| Step::Deliver(i, twice)),
        1 => any::<usize>().prop_map(Step::Drop),
    ]
}

#[derive(Debug, Clone)]
enum Msg {
    /// Hub → server: a write (mutation, key, context JSON, value JSON), on node `node`.
    Write { hub: usize, mutation: String, key: String, ctx: String, value: String, node: usize },
    /// Server → hub: a `STATE_UPDATE` object.
    Update { hub: usize, raw: String },
}

#[derive(Default)]
struct Server {
    keys: BTreeMap<String, (Versioned, String)>,
    applied: BTreeSet<String>,
    /// Per applied mutation: how it ended (None: still the value).
    fate: BTreeMap<String, Option<&'static str>>,
}

fn vv_json(vv: &versioning::Vv) -> String {
    let mut out = String::new();
    versioning::write_vv(&mut out, vv);
    out
}

fn parse_ctx(raw: &str) -> versioning::Vv {
    versioning::parse_vv(raw).unwrap()
}

impl Server {
    fn update(&self, key: &str, mutation: Option<&str>, conflict: Option<&str>) -> String {
        let (v, _) = &self.keys[key];
        let mut raw = format!(
            "{{\"key\":\"{key}\",\"value\":{},\"version\":{}",
            v.value.as_deref().unwrap_or("null"),
            vv_json(&v.vv)
        );
        if let Some(c) = conflict {
            raw.push_str(&format!(",\"conflict\":{c}"));
        }
        if let Some(m) = mutation {
            raw.push_str(&format!(",\"mutation\":\"{m}\""));
        }
        raw.push('}');
        raw
    }

    /// A write arrives: the updates to send (to one hub, or to all).
    fn write(&mut self, hub: usize, mutation: &str, key: &str, ctx: &str, value: &str, node: usize) -> Vec<Msg> {
        if self.applied.contains(mutation) {
            // A retry: answered with the current value, to the writer only; nothing changes.
            let before = self.keys[key].clone();
            let raw = self.update(key, Some(mutation), None);
            assert_eq!(self.keys[key], before);
            return alloc::vec![Msg::Update { hub, raw }];
        }
        let current = self.keys.get(key).map(|(v, _)| v.clone());
        let settled = versioning::write(
            current.as_ref(),
            &parse_ctx(ctx),
            Some(value.to_string()),
            NODES[node],
            &versioning::last_writer_wins,
        );
        if let Some((prev, previous)) = self.keys.get(key) {
            // Overwritten knowingly (the write's context covers it), or else it must be reported.
            let seen = parse_ctx(ctx).get(&prev.dot.0).is_some_and(|n| *n >= prev.dot.1);
            let fate = match (seen, &settled.conflict) {
                (true, _) => Some("knowingly overwritten"),
                (false, Some(_)) => Some("reported as a conflict"),
                (false, None) => None,
            };
            self.fate.insert(previous.clone(), fate);
        }
        self.applied.insert(mutation.to_string());
        self.fate.insert(mutation.to_string(), None);
        self.keys.insert(key.to_string(), (settled.now, mutation.to_string()));
        let raw = self.update(key, Some(mutation), settled.conflict.as_deref());
        (0..HUBS).map(|h| Msg::Update { hub: h, raw: raw.clone() }).collect()
    }
}

struct Hub {
    state: SharedState,
    out: Out,
    /// Writes not yet settled: mutation → the write message (retried when dropped).
    unsettled: BTreeMap<String, Msg>,
}

fn run(steps: Vec<Step>) -> Result<(), String> {
    let shared = Rc::new(Shared::default());
    let key = (
        Endpoint { url: "http://a:1".into(), path: "/socket.io".into(), query: String::new(), namespace: "/".into() },
        None,
    );
    let mut hubs: Vec<Hub> = (0..HUBS)
        .map(|h| Hub {
            state: SharedState::new(key.clone(), shared.clone()),
            out: Out::new(h as u32),
            unsettled: BTreeMap::new(),
        })
        .collect();
    let mut server = Server::default();
    let mut flight: Vec<Msg> = Vec::new();
    let mut n = 0;
    let deliver = |m: Msg, hubs: &mut Vec<Hub>, server: &mut Server, flight: &mut Vec<Msg>| -> Result<(), String> {
        match m {
            Msg::Write { hub, mutation, key, ctx, value, node } => {
                flight.extend(server.write(hub, &mutation, &key, &ctx, &value, node));
            }
            Msg::Update { hub, raw } => {
                let h = &mut hubs[hub];
                let change = h.state.update(&raw, &mut h.out)?;
                if let Some(c) = &change {
                    if let Some((tab, _, _)) = &c.answer {
                        let m = json::raw_items(&raw, b'{').unwrap().into_iter().find(|(n, _)| n == "mutation");
                        let m = m.map(|(_, v)| v.trim_matches('"').to_string()).unwrap_or_default();
                        if h.unsettled.remove(&m).is_none() || *tab != 1 {
                            return Err(format!("hub {hub} answered {m} it was not waiting for"));
                        }
                    }
                }
                // Applying the same update again changes nothing.
                let snapshot = h.state.snapshot();
                if h.state.update(&raw, &mut h.out)?.is_some_and(|c| c.args.is_some()) || h.state.snapshot() != snapshot
                {
                    return Err(format!("hub {hub} applied {raw} twice"));
                }
            }
        }
        Ok(())
    };
    for s in steps {
        match s {
            Step::Write(h, k) => {
                n += 1;
                let key = format!("k{k}");
                let mutation = format!("h{h}-{n}");
                let ctx = hubs[h].state.context(&key);
                let msg =
                    Msg::Write { hub: h, mutation: mutation.clone(), key, ctx, value: n.to_string(), node: n % 2 };
                hubs[h].state.wait(mutation.clone(), 1 as TabKey, n as u32);
                hubs[h].unsettled.insert(mutation, msg.clone());
                flight.push(msg);
            }
            Step::Deliver(_, _) | Step::Drop(_) if flight.is_empty() => {}
            Step::Deliver(i, twice) => {
                let m = flight.remove(i % flight.len());
                if twice {
                    flight.push(m.clone());
                }
                deliver(m, &mut hubs, &mut server, &mut flight)?;
            }
            Step::Drop(i) => {
                flight.remove(i % flight.len());
            }
        }
    }
    // Quiescence: the connections come back; each hub asks for the scope's state (as after
    // every reconnection: `sb:state`) and retries what never settled; all is delivered.
    for _ in 0..10 {
        for (hub, h) in hubs.iter().enumerate() {
            flight.extend(server.keys.keys().map(|k| Msg::Update { hub, raw: server.update(k, None, None) }));
            flight.extend(h.unsettled.values().cloned());
        }
        while let Some(m) = flight.pop() {
            deliver(m, &mut hubs, &mut server, &mut flight)?;
        }
    }
    for (h, hub) in hubs.iter().enumerate() {
        if !hub.unsettled.is_empty() {
            return Err(format!("hub {h} still waits for {:?}", hub.unsettled.keys()));
        }
        for (key, (v, _)) in &server.keys {
            let expected = format!("[\"{key}\",{},{}", v.value.as_deref().unwrap_or("null"), vv_json(&v.vv));
            if !hub.state.snapshot().contains(&expected) {
                return Err(format!("hub {h} does not hold {expected}: {}", hub.state.snapshot()));
            }
            if v.vv.len() > NODES.len() {
                return Err(format!("{key}'s version has {} entries", v.vv.len()));
            }
        }
    }
    let current: BTreeSet<&String> = server.keys.values().map(|(_, m)| m).collect();
    for (m, fate) in &server.fate {
        if fate.is_none() && !current.contains(m) {
            return Err(format!("write {m} was lost silently"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_hub_converges_on_the_servers_value_and_nothing_is_lost_silently(steps in prop::collection::vec(step(), 0..80)) {
        if let Err(e) = run(steps) {
            prop_assert!(false, "{}", e);
        }
    }
}
