//! Shared state, the hub's side (docs/server-contract.md, "Shared state"): the latest
//! `(value, version)` per key of the namespace's scope, as the server settled it; the writes
//! its tabs are waiting on (by mutation id, answered when the server's `STATE_UPDATE` names
//! them); the snapshot kept in storage beside the queued emits, so a reloaded tab reads it
//! offline. Writes themselves travel in the durable outbox.
//! Invariants: an update whose version this hub's version of the key dominates changes
//! nothing (a replay, or older news); values are passed on as the server's JSON text.

use super::out::{Out, Output};
use super::{HubKey, Shared, TabKey};
use crate::contract;
use crate::json::{self, Quoted};
use crate::port::{StoredEmit, STORE_VERSION};
use crate::state::{dominates, parse_vv, write_vv, Vv};
// Vecs, not BTreeMaps: each BTreeMap instantiation costs the hub's wasm kilobytes, and a
// scope has at most `MAX_STATE_KEYS` keys and a version one entry per backend node.
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// JSON text; None: deleted.
    value: Option<String>,
    vv: Vv,
    conflict: Option<String>,
    /// Its storage key.
    store: u64,
}

/// A settled update: the tab args to announce (`sb:state`; None: nothing new), and the tab
/// waiting on it with the entry it gets.
#[derive(Debug, PartialEq)]
pub struct Change {
    pub args: Option<String>,
    pub answer: Option<(TabKey, u32, String)>,
}

pub struct SharedState {
    key: HubKey,
    shared: Rc<Shared>,
    entries: Vec<(String, Entry)>,
    waiting: Vec<(String, TabKey, u32)>,
}

impl SharedState {
    pub fn new(key: HubKey, shared: Rc<Shared>) -> SharedState {
        SharedState { key, shared, entries: Vec::new(), waiting: Vec::new() }
    }

    pub fn in_use(&self) -> bool {
        !self.entries.is_empty() || !self.waiting.is_empty()
    }

    fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// The version this hub last saw of `key` (a write's causal context), as JSON.
    pub fn context(&self, key: &str) -> String {
        let mut out = String::new();
        write_vv(&mut out, self.get(key).map_or(&Vv::new(), |e| &e.vv));
        out
    }

    /// `tab`'s call `id` waits for the server to settle `mutation`.
    pub fn wait(&mut self, mutation: String, tab: TabKey, id: u32) {
        self.waiting.push((mutation, tab, id));
    }

    /// `mutation` will never settle (refused, expired, a plain server): who waited on it.
    pub fn fail(&mut self, mutation: &str) -> Option<(TabKey, u32)> {
        let i = self.waiting.iter().position(|(m, _, _)| m == mutation)?;
        let (_, tab, id) = self.waiting.swap_remove(i);
        Some((tab, id))
    }

    pub fn detach(&mut self, tab: TabKey) {
        self.waiting.retain(|(_, t, _)| *t != tab);
    }

    fn entry_args(key: &str, e: &Entry) -> String {
        let mut a = String::from("[");
        json::write_string(&mut a, key);
        a.push(',');
        a.push_str(e.value.as_deref().unwrap_or("null"));
        a.push(',');
        write_vv(&mut a, &e.vv);
        a.push(',');
        a.push_str(e.conflict.as_deref().unwrap_or("null"));
        a.push_str(if e.value.is_none() { ",true]" } else { ",false]" });
        a
    }

    /// The `sb:state` args for a tab that subscribes: every key, replacing what it had.
    pub fn snapshot(&self) -> String {
        let mut a = String::from("[[");
        for (i, (k, e)) in self.entries.iter().enumerate() {
            if i > 0 {
                a.push(',');
            }
            a.push_str(&Self::entry_args(k, e));
        }
        a.push_str("],true]");
        a
    }

    /// One `STATE_UPDATE` object (raw JSON). An update this hub's version dominates is old
    /// news: None.
    pub fn update(&mut self, raw: &str, out: &mut Out) -> Result<Option<Change>, String> {
        let fields = json::raw_items(raw, b'{').map_err(|e| format!("{}: {e}", contract::STATE_UPDATE))?;
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let string = |name: &str| -> Result<Option<String>, String> {
            match field(name) {
                None | Some("null") => Ok(None),
                Some(raw) => json::Scanner::new(raw).string().map(Some).map_err(|e| format!("{name}: {e}")),
            }
        };
        let key = string("key")?.ok_or("an update needs a key")?;
        let vv = parse_vv(field("version").ok_or("an update needs a version")?)?;
        let value = match (field("value"), field("deleted")) {
            (_, Some("true")) | (None, _) => None,
            (Some(v), _) => Some(String::from(v)),
        };
        contract::check_state(&key, value.as_ref().map_or(0, String::len))?;
        let conflict = field("conflict").filter(|c| *c != "null").map(String::from);
        let mutation = string("mutation")?;
        let answer = mutation.and_then(|m| self.fail(&m));
        let known = self.get(&key);
        if let Some(e) = known.filter(|e| dominates(&e.vv, &vv)) {
            // Old news (or a replay): the waiting tab gets what we have.
            let answer = answer.map(|(t, id)| (t, id, Self::entry_args(&key, e)));
            return Ok(answer.map(|answer| Change { args: None, answer: Some(answer) }));
        }
        if self.entries.len() >= contract::MAX_STATE_KEYS && known.is_none() {
            return Err(format!("over {} state keys; {} not kept", contract::MAX_STATE_KEYS, Quoted(&key)));
        }
        let store = known.map(|e| e.store).unwrap_or_else(|| self.next_key());
        let e = Entry { value, vv, conflict, store };
        self.persist(&key, &e, out);
        let entry = Self::entry_args(&key, &e);
        self.put(key, e);
        Ok(Some(Change { args: Some(format!("[[{entry}]]")), answer: answer.map(|(t, id)| (t, id, entry)) }))
    }

    fn next_key(&self) -> u64 {
        let k = self.shared.next_key.get();
        self.shared.next_key.set(k + 1);
        k
    }

    fn persist(&self, key: &str, e: &Entry, out: &mut Out) {
        let mut args = String::from("[");
        json::write_string(&mut args, key);
        args.push(',');
        write_vv(&mut args, &e.vv);
        if let Some(v) = &e.value {
            args.push(',');
            args.push_str(v);
        }
        args.push(']');
        let rec = StoredEmit {
            version: STORE_VERSION,
            endpoint: self.key.0.clone(),
            auth: self.key.1.clone(),
            id: format!("{}{key}", contract::STATE_SNAPSHOT),
            event: contract::STATE_SNAPSHOT.into(),
            args,
            bins: Vec::new(),
            created_ms: 0,
        };
        out.push(Output::Persist { key: e.store, record: crate::wire::encode_stored(&rec) });
    }

    /// A snapshot entry from storage (`[key, version, value?]`).
    pub fn restore(&mut self, store: u64, rec: &StoredEmit) -> Result<(), String> {
        let items = json::raw_items(&rec.args, b'[').map_err(|e| e.to_string())?;
        let (Some((_, key)), Some((_, vv))) = (items.first(), items.get(1)) else {
            return Err("a snapshot entry needs a key and a version".into());
        };
        let key = json::Scanner::new(key).string().map_err(|e| e.to_string())?;
        let vv = parse_vv(vv)?;
        let value = items.get(2).map(|(_, v)| String::from(*v));
        if self.get(&key).is_none_or(|e| !dominates(&e.vv, &vv)) {
            self.put(key, Entry { value, vv, conflict: None, store });
        }
        Ok(())
    }

    fn put(&mut self, key: String, e: Entry) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = e,
            None => self.entries.push((key, e)),
        }
    }

    /// Signed out: the local copy goes (memory and storage); waiting tabs are told.
    pub fn clear(&mut self, out: &mut Out) -> Vec<(TabKey, u32)> {
        for (_, e) in core::mem::take(&mut self.entries) {
            out.push(Output::Unpersist { key: e.store });
        }
        core::mem::take(&mut self.waiting).into_iter().map(|(_, tab, id)| (tab, id)).collect()
    }
}
