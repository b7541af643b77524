//! What a namespace does for shared state: a tab's write checked and taken on as a durable
//! emit (`sb:set` with the key's context), the server's `STATE_UPDATE`s applied and told to
//! the tabs that take part, the writing tab answered with the settled entry, and refusals
//! passed back. The state itself is [`SharedState`](crate::hub::state::SharedState).

use super::{Cx, Space};
use crate::contract;
use crate::hub::out::Out;
use crate::hub::outbox::Emit;
use crate::hub::TabKey;
use crate::json::{self, Quoted};
use crate::port::{AckRequest, FromHub, StoredEmit};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Why a write cannot go to a plain Socket.IO server.
pub const STATE_NEEDS_CONTRACT: &str =
    "shared state needs a server that speaks the Switchboard contract (STATE_UPDATE); this one does not";

impl Space {
    /// `sb:set [key, value]` (no value: delete) from a tab, with an ack the settled entry
    /// answers.
    pub(super) fn tab_state_write(
        &mut self,
        tab: TabKey,
        seq: u32,
        args: &str,
        binary: bool,
        ack: Option<AckRequest>,
        cx: &mut Cx,
    ) {
        let Some(ack) = ack else {
            let message = format!("{} needs an ack (client.state)", contract::STATE_SET);
            return cx.out.post_one(tab, FromHub::Error { code: crate::port::ErrorCode::BadPayload, message });
        };
        let fail = |out: &mut Out, reason: String| out.post_one(tab, FromHub::AckFailed { id: ack.id, reason });
        if binary {
            return fail(cx.out, "state values are JSON (no binary)".into());
        }
        if self.session.contract.speaks() == Some(false) {
            return fail(cx.out, STATE_NEEDS_CONTRACT.into());
        }
        let (key, value) = match parse_write(args) {
            Ok(kv) => kv,
            Err(why) => return fail(cx.out, why),
        };
        let mut a = String::from("[");
        json::write_string(&mut a, &key);
        a.push(',');
        a.push_str(&self.shared_state.context(&key));
        if let Some(v) = value {
            a.push(',');
            a.push_str(v);
        }
        a.push(']');
        let mutation = format!("{}-{seq}", self.reach.tabs.name(tab).unwrap_or_default());
        let e = Emit {
            event: contract::STATE_SET.into(),
            args: a,
            bins: Vec::new(),
            ack: None,
            durable: None,
            trace: None,
        };
        if let Some(why) = self.send.outbox.full(e.size()).filter(|_| !self.session.can_send()) {
            return fail(cx.out, format!("{why}: state write {} was not queued", Quoted(&key)));
        }
        let e = Emit { durable: Some(self.send.outbox.durable_for_hub(mutation.clone(), cx.server_now)), ..e };
        self.shared_state.wait(mutation, tab, ack.id);
        if self.session.can_send() {
            self.send_queued(e, cx);
        } else {
            self.send.outbox.push(e, cx.out);
        }
    }

    /// `STATE_UPDATE` args (`[update]`), or the `sb:state` ack (`[[update, ...]]`).
    pub(super) fn on_state_updates(&mut self, args: &str, sync: bool, cx: &mut Cx) {
        let mut items = json::raw_items(args, b'[').map(|i| i.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
        if sync {
            items = items.and_then(|i| match i.first() {
                Some(list) => json::raw_items(list, b'[').map(|l| l.into_iter().map(|(_, v)| v).collect()),
                None => Ok(Vec::new()),
            });
        } else if let Ok(i) = &mut items {
            i.truncate(1);
        }
        let updates = match items {
            Ok(u) => u,
            Err(e) => return cx.out.log(format!("namespace {}: bad {}: {e}", self.nsp, contract::STATE_UPDATE)),
        };
        for raw in updates {
            match self.shared_state.update(raw, cx.out) {
                Ok(Some(change)) => {
                    if let Some(args) = change.args {
                        self.notify(contract::STATE, &args, cx.out);
                    }
                    if let Some((tab, id, entry)) = change.answer {
                        cx.out.post_one(tab, FromHub::Ack { id, args: format!("[{entry}]"), bins: Vec::new() });
                    }
                }
                Ok(None) => {}
                Err(why) => {
                    cx.out.log(format!("namespace {}: bad {} ignored: {why}", self.nsp, contract::STATE_UPDATE))
                }
            }
        }
    }

    /// The user signed out: the local copy goes; the tabs see an empty state.
    pub fn clear_state(&mut self, out: &mut Out) {
        for (tab, id) in self.shared_state.clear(out) {
            out.post_one(tab, FromHub::AckFailed { id, reason: "signed out before the write settled".into() });
        }
        self.notify(contract::STATE, "[[],true]", out);
    }

    /// A write that will never settle: its tab hears why.
    pub(super) fn state_failed(&mut self, mutation: &str, reason: String, out: &mut Out) {
        if let Some((tab, id)) = self.shared_state.fail(mutation) {
            out.post_one(tab, FromHub::AckFailed { id, reason });
        }
    }

    /// Stored records of this namespace: snapshot entries to the state, emits to the queue.
    pub fn adopt(&mut self, recs: Vec<(u64, StoredEmit)>, cx: &mut Cx) {
        let (snapshot, emits): (Vec<_>, Vec<_>) =
            recs.into_iter().partition(|(_, r)| r.event == contract::STATE_SNAPSHOT);
        for (key, rec) in snapshot {
            if let Err(why) = self.shared_state.restore(key, &rec) {
                cx.out.log(format!("stored state entry {key} unreadable ({why}); deleted"));
                cx.out.push(crate::hub::out::Output::Unpersist { key });
            }
        }
        self.send.outbox.adopt(emits, cx.out);
        self.flush(cx);
    }
}

/// `[key, value]` (no value: delete) from a tab: the key, and the value's JSON text, checked
/// against the contract's limits.
fn parse_write(args: &str) -> Result<(String, Option<&str>), String> {
    let items = json::raw_items(args, b'[').map_err(|e| format!("state write: {e}"))?;
    let key = match items.first().map(|(_, k)| json::Scanner::new(k).string()) {
        Some(Ok(key)) => key,
        _ => return Err("state write: the key must be a string".into()),
    };
    let value = items.get(1).map(|(_, v)| *v);
    contract::check_state(&key, value.map_or(0, str::len))
        .map_err(|why| format!("state write {}: {why}", Quoted(&key)))?;
    Ok((key, value))
}
