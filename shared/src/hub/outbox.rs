//! The outbox: emits waiting for the socket, durable emits in flight until the server's
//! receipt, their storage keys, and the queue's bounds.
//! Invariants: a durable emit is in exactly one of `queue` or `in_flight`; `bytes` is the
//! sum of the queue's sizes; an emit whose tab is gone is in storage (no page holds it).

use super::out::{Out, Output};
use super::{HubKey, Shared, TabKey};
use crate::json::Quoted;
use crate::port::{Bytes, FromHub, StoredEmit, STORE_VERSION};
use crate::vecmap::{DequeMap, VecSet};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// An emit waiting for the socket (or, in flight, for the server's receipt).
#[derive(Debug)]
pub struct Emit {
    pub event: String,
    pub args: String,
    pub bins: Vec<Bytes>,
    /// The ack id of a tab's emitWithAck.
    pub ack: Option<u64>,
    pub durable: Option<Durable>,
    /// Debug mode: the W3C `traceparent` the debug log gave it (a durable one's is its id's).
    pub trace: Option<String>,
}

#[derive(Debug)]
pub struct Durable {
    /// Storage key: also the order of emission.
    key: u64,
    /// `{tab}-{seq}`: the server drops a second delivery of the same id.
    pub id: String,
    /// The tab waiting for `Stored`, while it is attached.
    tab: Option<(TabKey, u32)>,
    created_ms: u64,
    persisted: bool,
}

impl Emit {
    pub fn size(&self) -> usize {
        self.event.len() + self.args.len() + self.bins.iter().map(|b| b.0.len()).sum::<usize>()
    }
}

#[derive(Debug)]
pub struct Outbox {
    key: HubKey,
    shared: Rc<Shared>,
    max_count: usize,
    max_bytes: usize,
    max_age_ms: u64,
    queue: VecDeque<Emit>,
    bytes: usize,
    /// Durable emits sent with a receipt request, by ack id.
    in_flight: DequeMap<u64, Emit>,
    /// Ids of durable emits held (queued or in flight), to drop a page's resend. (A sorted
    /// vector: a B-tree instantiation would cost the wasm kilobytes.)
    held: VecSet<String>,
    /// Persist requests not yet confirmed: key -> (tab, seq) to answer `Stored`.
    awaiting_store: DequeMap<u64, (TabKey, u32)>,
}

impl Outbox {
    pub fn new(key: HubKey, config: &super::HubConfig, shared: Rc<Shared>) -> Outbox {
        Outbox {
            key,
            shared,
            max_count: config.max_buffered,
            max_bytes: config.max_buffered_bytes,
            max_age_ms: config.max_age_ms,
            queue: VecDeque::new(),
            bytes: 0,
            in_flight: DequeMap::new(),
            held: VecSet::new(),
            awaiting_store: DequeMap::new(),
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Durable emits not yet delivered (queued or in flight) and whether anything is held.
    pub fn undelivered(&self) -> usize {
        self.queue.len() + self.in_flight.len()
    }

    /// Bytes queued, and when the oldest queued durable emit was made (server ms).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn oldest(&self) -> Option<u64> {
        self.queue.iter().filter_map(|e| e.durable.as_ref()).map(|d| d.created_ms).min()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The id of the durable emit sent with receipt request `sio`.
    pub fn in_flight_id(&self, sio: u64) -> Option<String> {
        self.in_flight.get(&sio).and_then(|e| e.durable.as_ref()).map(|d| d.id.clone())
    }

    pub fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    /// Why an emit of `size` bytes cannot be queued now, if it cannot.
    pub fn full(&self, size: usize) -> Option<String> {
        let count = self.undelivered();
        (count >= self.max_count || self.bytes + size > self.max_bytes).then(|| {
            format!(
                "offline queue full ({count} events, {} bytes; limits {} and {})",
                self.bytes, self.max_count, self.max_bytes
            )
        })
    }

    /// A durable record for a tab's emit `id` (`{tab}-{seq}`), created at server time `at`.
    pub fn durable(&mut self, id: String, tab: TabKey, seq: u32, at: u64) -> Durable {
        let key = self.shared.next_key.get();
        self.shared.next_key.set(key + 1);
        self.held.insert(id.clone());
        Durable { key, id, tab: Some((tab, seq)), created_ms: at, persisted: false }
    }

    /// A durable id the hub itself holds for its whole life (no tab waits for `Stored`): a
    /// shared-state write, whose tab waits for the server's settlement instead.
    pub fn durable_for_hub(&mut self, id: String, at: u64) -> Durable {
        let key = self.shared.next_key.get();
        self.shared.next_key.set(key + 1);
        self.held.insert(id.clone());
        Durable { key, id, tab: None, created_ms: at, persisted: false }
    }

    /// Queues `e` (stored first when durable) behind what is there.
    pub fn push(&mut self, mut e: Emit, out: &mut Out) {
        self.persist(&mut e, out);
        self.bytes += e.size();
        self.queue.push_back(e);
    }

    /// The oldest queued emit, for sending.
    pub fn pop(&mut self) -> Option<Emit> {
        let e = self.queue.pop_front()?;
        self.bytes -= e.size();
        Some(e)
    }

    /// Whether a durable emit created at `created` is too old to send at server time `now`.
    pub fn expired(&self, e: &Emit, server_now: u64) -> bool {
        e.durable.as_ref().is_some_and(|d| d.created_ms + self.max_age_ms < server_now)
    }

    /// Too old: dropped with an error to its tab.
    pub fn expire(&mut self, e: Emit, out: &mut Out) {
        let reason = format!("emit {} expired after {} ms offline", Quoted(&e.event), self.max_age_ms);
        self.refuse(e, reason, out);
    }

    /// Sent with a receipt request under ack id `sio`: held until the receipt.
    pub fn sent(&mut self, sio: u64, e: Emit) {
        self.in_flight.insert(sio, e);
    }

    /// The server's receipt for ack `sio`: delivered, or refused with `error`.
    /// The server's receipt for in-flight `sio`. Returns the id and reason of a refused one.
    pub fn receipt(&mut self, sio: u64, error: Option<String>, out: &mut Out) -> Option<(String, String)> {
        let e = self.in_flight.remove(&sio)?;
        match error {
            None => {
                self.delivered(e, out);
                None
            }
            Some(err) => {
                let id = e.durable.as_ref().map(|d| d.id.clone()).unwrap_or_default();
                let reason = format!("the server refused the emit: {err}");
                self.refuse(e, reason.clone(), out);
                Some((id, reason))
            }
        }
    }

    /// A durable emit is done with: forget it everywhere and release the tab's copy.
    pub fn delivered(&mut self, e: Emit, out: &mut Out) {
        let Some(d) = e.durable else { return };
        self.held.remove(&d.id);
        if d.persisted {
            out.push(Output::Unpersist { key: d.key });
        }
        if self.awaiting_store.remove(&d.key).is_some() || !d.persisted {
            if let Some((tab, seq)) = d.tab {
                out.post_one(tab, FromHub::Stored { seq });
            }
        }
    }

    /// Not sent, ever: dropped (and unstored) with `reason` to its tab.
    pub fn refuse(&mut self, e: Emit, reason: String, out: &mut Out) {
        out.log(reason.clone());
        let Some(d) = e.durable else { return };
        self.held.remove(&d.id);
        self.awaiting_store.remove(&d.key);
        if d.persisted {
            out.push(Output::Unpersist { key: d.key });
        }
        if let Some((tab, seq)) = d.tab {
            out.post_one(tab, FromHub::Refused { seq, reason });
        }
    }

    /// The session was revoked: nothing held may go out later under another identity. Every
    /// queued and in-flight emit is dropped (from storage too) and its tab told why. Returns
    /// the ids dropped.
    pub fn drop_all(&mut self, reason: &str, out: &mut Out) -> Vec<String> {
        let mut all: Vec<Emit> = self.queue.drain(..).collect();
        all.extend(core::mem::take(&mut self.in_flight).into_values());
        self.bytes = 0;
        let ids = all.iter().filter_map(|e| e.durable.as_ref().map(|d| d.id.clone())).collect();
        for e in all {
            self.refuse(e, reason.into(), out);
        }
        ids
    }

    /// Writes a durable emit to storage so it outlives the worker.
    fn persist(&mut self, e: &mut Emit, out: &mut Out) {
        let Some(d) = e.durable.as_mut().filter(|d| !d.persisted) else { return };
        d.persisted = true;
        let rec = StoredEmit {
            version: STORE_VERSION,
            endpoint: self.key.0.clone(),
            auth: self.key.1.clone(),
            id: d.id.clone(),
            event: e.event.clone(),
            args: e.args.clone(),
            bins: e.bins.clone(),
            created_ms: d.created_ms,
        };
        if let Some(t) = d.tab {
            self.awaiting_store.insert(d.key, t);
        }
        out.push(Output::Persist { key: d.key, record: crate::wire::encode_stored(&rec) });
    }

    /// Storage confirmed `keys`: their tabs may let go.
    pub fn persisted(&mut self, keys: &[u64], out: &mut Out) {
        for k in keys {
            if let Some((tab, seq)) = self.awaiting_store.remove(k) {
                out.post_one(tab, FromHub::Stored { seq });
            }
        }
    }

    /// The session ended: emits in flight got no receipt. Back to the front of the queue in
    /// their order, and to storage.
    pub fn end_session(&mut self, out: &mut Out) {
        let mut front = VecDeque::new();
        for (_, mut e) in core::mem::take(&mut self.in_flight) {
            self.persist(&mut e, out);
            self.bytes += e.size();
            front.push_back(e);
        }
        front.extend(self.queue.drain(..));
        self.queue = front;
    }

    /// Restored records join the front of the queue, in their original order.
    pub fn adopt(&mut self, mut recs: Vec<(u64, StoredEmit)>, out: &mut Out) {
        crate::vecmap::insertion_sort_by(&mut recs, |a, b| a.0 < b.0); // stored in key order already
        let mut restored = VecDeque::new();
        for (key, rec) in recs {
            if !self.held.insert(rec.id.clone()) {
                continue;
            }
            let durable = Durable { key, id: rec.id, tab: None, created_ms: rec.created_ms, persisted: true };
            let e = Emit {
                event: rec.event,
                args: rec.args,
                bins: rec.bins,
                ack: None,
                durable: Some(durable),
                trace: None,
            };
            self.bytes += e.size();
            restored.push_back(e);
        }
        out.log(format!("restored {} stored emits", restored.len()));
        restored.extend(self.queue.drain(..));
        self.queue = restored;
    }

    /// The tab is gone: its copies of its emits went with it, so the hub's copies go to
    /// storage (in flight ones included), and nobody waits for `Stored`.
    pub fn detach(&mut self, tab: TabKey, out: &mut Out) {
        self.awaiting_store.retain(|_, (t, _)| *t != tab);
        for e in self.queue.iter_mut().chain(self.in_flight.values_mut()) {
            if let Some(d) = e.durable.as_mut().filter(|d| d.tab.is_some_and(|(t, _)| t == tab)) {
                d.tab = None;
            }
        }
        // Queued emits are stored already; those in flight without a page are stored now.
        let mut flying = core::mem::take(&mut self.in_flight);
        for e in flying.values_mut().filter(|e| e.durable.as_ref().is_some_and(|d| d.tab.is_none())) {
            self.persist(e, out);
        }
        self.in_flight = flying;
    }

    /// Whether the emit that waits for ack `ack` is still queued (not sent yet).
    pub fn queues_ack(&self, ack: u64) -> bool {
        self.queue.iter().any(|e| e.ack == Some(ack))
    }

    /// A tab's emitWithAck timed out: an emit still queued is withdrawn, as in socket.io-client.
    pub fn withdraw(&mut self, ack: u64) {
        if let Some(pos) = self.queue.iter().position(|e| e.ack == Some(ack)) {
            if let Some(e) = self.queue.remove(pos) {
                self.bytes -= e.size();
            }
        }
    }

    /// Checks the books and returns the ids of the durable emits held.
    pub fn audit(&self) -> Result<BTreeSet<String>, String> {
        let mut ids = BTreeSet::new();
        let all = self.queue.iter().chain(self.in_flight.values());
        for id in all.filter_map(|e| e.durable.as_ref().map(|d| &d.id)) {
            if !ids.insert(id.clone()) {
                return Err(format!("emit {id} is held twice (queue and in flight)"));
            }
        }
        if !ids.iter().eq(self.held.iter()) {
            return Err(format!("held ids {:?} differ from the queue and in flight {ids:?}", self.held));
        }
        let bytes: usize = self.queue.iter().map(Emit::size).sum();
        if bytes != self.bytes {
            return Err(format!("queue byte count {} != sum of entries {bytes}", self.bytes));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;
    use crate::port::Endpoint;

    fn outbox() -> (Outbox, Out) {
        let endpoint = Endpoint { url: "http://h".into(), path: "/".into(), namespace: "/".into(), query: "".into() };
        (Outbox::new((endpoint, None), &HubConfig::default(), Rc::default()), Out::new(1))
    }

    fn emit(o: &mut Outbox, tab: TabKey, seq: u32) -> Emit {
        let durable = Some(o.durable(format!("t{tab}-{seq}"), tab, seq, 0));
        Emit { event: "e".into(), args: "[1]".into(), bins: Vec::new(), ack: None, durable, trace: None }
    }

    fn persisted(out: &mut Out) -> usize {
        core::iter::from_fn(|| out.pop()).filter(|o| matches!(o, Output::Persist { .. })).count()
    }

    #[test]
    fn a_session_end_puts_emits_in_flight_back_in_front_in_their_order() {
        let (mut o, mut out) = outbox();
        let (a, b, c) = (emit(&mut o, 1, 0), emit(&mut o, 1, 1), emit(&mut o, 1, 2));
        o.sent(7, a);
        o.sent(8, b);
        o.push(c, &mut out);
        o.end_session(&mut out);
        let order: Vec<String> = core::iter::from_fn(|| o.pop()).filter_map(|e| e.durable.map(|d| d.id)).collect();
        assert_eq!(order, ["t1-0", "t1-1", "t1-2"]);
        assert_eq!(persisted(&mut out), 3, "everything without a receipt is in storage");
    }

    #[test]
    fn a_departed_tab_leaves_its_emits_in_flight_to_storage_only() {
        let (mut o, mut out) = outbox();
        let (mine, theirs) = (emit(&mut o, 1, 0), emit(&mut o, 2, 0));
        o.sent(1, mine);
        o.sent(2, theirs);
        o.detach(1, &mut out);
        assert_eq!(persisted(&mut out), 1, "the other tab still holds its own copy");
        o.receipt(1, None, &mut out);
        assert!(
            core::iter::from_fn(|| out.pop()).all(|x| !matches!(x, Output::Post { .. })),
            "no Stored to a gone tab"
        );
        assert_eq!(o.audit().map(|ids| ids.len()), Ok(1));
    }

    #[test]
    fn the_books_balance_and_bounds_are_reported() {
        let (mut o, mut out) = outbox();
        o.max_count = 1;
        let e = emit(&mut o, 1, 0);
        o.push(e, &mut out);
        assert!(o.full(1).is_some_and(|why| why.contains("offline queue full")));
        assert!(o.holds("t1-0"));
        assert!(o.audit().is_ok());
        o.pop();
        assert!(o.audit().is_err(), "popped but still held: the audit sees it");
    }
}
