//! A tab's side of the port protocol, sans-IO: what the tab must remember to attach (again)
//! to a hub, and the durable emits the hub has not yet confirmed. The page-client crate is
//! a thin shell: API calls become these methods, the bytes they return go to the port, and
//! what the port delivers goes through `receive`.
//! Invariants: a durable emit (no ack, not volatile) stays in the outbox until the hub
//! answers `Stored` or `Refused` for its `seq`; `restart` resends every one of them, so a
//! hub that died before storing them loses nothing (their ids make resending idempotent).
//! Request ids are assigned here. A room is on the list from its join until its leave; the
//! client leaves a room whose join the hub refused, so a refused room is never replayed.

use crate::port::{DecodeError, Endpoint, FromHub, Options, ToHub, PROTOCOL_VERSION};
use crate::wire;
use alloc::string::String;
use alloc::vec::Vec;

pub struct Page {
    hello: ToHub,
    subs: Vec<String>,
    rooms: Vec<String>,
    seq: u32,
    last_req: u32,
    outbox: Vec<(u32, Vec<u8>)>,
}

impl Page {
    pub fn new(tab: String, endpoint: Endpoint, auth: Option<String>, options: Options) -> Page {
        let hello = ToHub::Hello { version: PROTOCOL_VERSION, tab, endpoint, auth, options };
        Page { hello, subs: Vec::new(), rooms: Vec::new(), seq: 0, last_req: 0, outbox: Vec::new() }
    }

    /// A new request id (never 0) for a call whose answer the page waits for.
    pub fn next_req(&mut self) -> u32 {
        self.last_req = self.last_req.wrapping_add(1).max(1);
        self.last_req
    }

    /// The rooms this tab is in or joining.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// Hello, then a Subscribe per subscribed event and a Join per room: on connect, after a
    /// back/forward-cache restore, and to a new hub.
    pub fn attach(&self, out: &mut impl FnMut(&[u8])) {
        out(&wire::encode_to_hub(&self.hello));
        for event in &self.subs {
            out(&wire::encode_to_hub(&ToHub::Subscribe { event: event.clone() }));
        }
        for room in &self.rooms {
            out(&wire::encode_to_hub(&ToHub::Join { req: 0, room: room.clone() }));
        }
    }

    /// `attach`, then every emit the old hub had not confirmed, in order.
    pub fn restart(&self, out: &mut impl FnMut(&[u8])) {
        self.attach(out);
        for (_, bytes) in &self.outbox {
            out(bytes);
        }
    }

    /// Sends `msg`, remembering what a new hub must be told again: subscriptions, rooms and
    /// durable emits (no ack, not volatile), which stay in the outbox until the hub has them
    /// safe. An emit's `seq` is assigned here.
    pub fn send(&mut self, mut msg: ToHub, out: &mut impl FnMut(&[u8])) {
        let mut durable = None;
        match &mut msg {
            ToHub::Subscribe { event } => remember(&mut self.subs, event, true),
            ToHub::Unsubscribe { event } => remember(&mut self.subs, event, false),
            ToHub::Join { room, .. } => remember(&mut self.rooms, room, true),
            ToHub::Leave { room, .. } => remember(&mut self.rooms, room, false),
            ToHub::Emit { seq, ack: None, volatile: false, .. } | ToHub::EmitTo { seq, .. } => {
                *seq = self.seq;
                self.seq = self.seq.wrapping_add(1);
                durable = Some(*seq);
            }
            ToHub::Emit { seq, .. } => {
                *seq = self.seq;
                self.seq = self.seq.wrapping_add(1);
            }
            _ => {}
        }
        let bytes = wire::encode_to_hub(&msg);
        out(&bytes);
        if let Some(seq) = durable {
            self.outbox.push((seq, bytes));
        }
    }

    /// Reads the first message of a port message from the hub and returns the bytes after
    /// it (the hub sends several back to back when busy). `Stored` and `Refused` release
    /// their emit.
    pub fn receive<'a>(&mut self, bytes: &'a [u8]) -> Result<(FromHub, &'a [u8]), DecodeError> {
        let (msg, rest) = wire::take_from_hub(bytes)?;
        if let FromHub::Stored { seq } | FromHub::Refused { seq, .. } = &msg {
            self.outbox.retain(|(s, _)| s != seq);
        }
        Ok((msg, rest))
    }

    /// Emits sent that the hub has not yet stored or delivered.
    pub fn unconfirmed(&self) -> usize {
        self.outbox.len()
    }
}

/// Adds `name` to `list` (`on`) or removes it.
fn remember(list: &mut Vec<String>, name: &str, on: bool) {
    list.retain(|n| n != name);
    if on {
        list.push(name.into());
    }
}
