//! The hub's requests to the server: one ack-id space, each id with a typed owner; and the
//! server's requests to the tabs (events with an ack id), answered once.
//! Invariant: an ack id belongs to exactly one owner until its ack, its deadline or the end
//! of its session; ids stay below 2^53 so a JavaScript server reads them exactly.

use super::{Millis, TabKey};
use crate::vecmap::{DequeMap, VecMap};
use alloc::string::String;
use alloc::vec::Vec;

/// Who waits for the ack of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A tab's emitWithAck (`id` is the tab's own call id).
    Tab {
        tab: TabKey,
        id: u32,
        deadline: Option<Millis>,
    },
    /// `sb:join` / `sb:leave` of a room.
    Join(String),
    Leave(String),
    /// The receipt of a durable emit (the outbox holds it under the same id).
    Receipt,
    /// `sb:time`, sent at `sent` (monotonic).
    Time {
        sent: Millis,
    },
    /// `sb:resume`: replay what we missed.
    Resume,
    /// `sb:state`: every key of the scope, after `sb:hello`.
    StateSync,
    /// A tab's leader command (`sb:lead`): the server's receipt settles the tab's call `id`.
    Lead {
        tab: TabKey,
        id: u32,
    },
}

/// How many server acks a hub keeps waiting for a tab's reply.
const MAX_REPLIES: usize = 4096;
/// Ack ids wrap long before 2^53.
const ACK_ID_WRAP: u64 = 1_000_000_000_000;

#[derive(Debug, Default)]
pub struct Requests {
    pending: DequeMap<u64, Request>,
    next_ack: u64,
    /// Reply tokens handed to tabs for server acks: token -> server ack id.
    replies: VecMap<u32, u64>,
    next_token: u32,
}

impl Requests {
    /// A new ack id owned by `req`.
    pub fn insert(&mut self, req: Request) -> u64 {
        let id = self.next_ack;
        self.next_ack = (self.next_ack + 1) % ACK_ID_WRAP;
        self.pending.insert(id, req);
        id
    }

    /// The owner of ack `id`, no longer pending.
    pub fn take(&mut self, id: u64) -> Option<Request> {
        self.pending.remove(&id)
    }

    /// The session ended: its requests can no longer be answered. A tab's ack whose emit is
    /// still queued keeps waiting (see [`Requests::take_sent_tab_acks`], called first).
    pub fn end_session(&mut self) {
        self.pending.retain(|_, r| matches!(r, Request::Tab { .. }));
        self.replies.clear();
    }

    /// The tab is gone: nobody to tell about its acks.
    pub fn detach(&mut self, tab: TabKey) {
        self.pending
            .retain(|_, r| !matches!(r, Request::Tab { tab: t, .. } | Request::Lead { tab: t, .. } if *t == tab));
    }

    /// Tab acks whose emit went out in the session that ended: the server's answer can
    /// never come (its ack ids were that session's), so they are taken out for the tabs to
    /// fail, as socket.io-client fails them ("socket has been disconnected"). `queued`: an
    /// ack whose emit is still queued; it goes out with the next session and stays.
    pub fn take_sent_tab_acks(&mut self, queued: impl Fn(u64) -> bool) -> Vec<(TabKey, u32)> {
        self.take_calls(|sio, r| match r {
            Request::Tab { tab, id, .. } if !queued(sio) => Some((*tab, *id)),
            _ => None,
        })
    }

    /// Takes out the requests `pick` names, as the (tab, call id) it gives for each.
    fn take_calls(&mut self, pick: impl Fn(u64, &Request) -> Option<(TabKey, u32)>) -> Vec<(TabKey, u32)> {
        let mut taken = Vec::new();
        self.pending.retain(|sio, r| match pick(*sio, r) {
            Some(call) => {
                taken.push(call);
                false
            }
            None => true,
        });
        taken
    }

    /// Leader commands still waiting (taken out, before [`Requests::end_session`] drops
    /// them): a command is never resent, since a new session may have a new term.
    pub fn take_leads(&mut self) -> Vec<(TabKey, u32)> {
        self.take_calls(|_, r| match r {
            Request::Lead { tab, id } => Some((*tab, *id)),
            _ => None,
        })
    }

    /// A server event asked for an ack: a token the tabs answer with.
    pub fn reply_token(&mut self, server_id: u64) -> u32 {
        if self.replies.len() >= MAX_REPLIES {
            if let Some((&old, _)) = self.replies.iter().next() {
                self.replies.remove(&old);
            }
        }
        self.next_token = self.next_token.wrapping_add(1);
        self.replies.insert(self.next_token, server_id);
        self.next_token
    }

    /// The server's ack id for a tab's answer; None when already answered (or unknown).
    pub fn take_reply(&mut self, token: u32) -> Option<u64> {
        self.replies.remove(&token)
    }

    /// Tab requests past their deadline: (ack id, tab, the tab's call id).
    pub fn expired(&mut self, now: Millis) -> Vec<(u64, TabKey, u32)> {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, r)| matches!(r, Request::Tab { deadline: Some(d), .. } if now >= *d))
            .map(|(k, _)| *k)
            .collect();
        due.into_iter()
            .filter_map(|sio| match self.pending.remove(&sio) {
                Some(Request::Tab { tab, id, .. }) => Some((sio, tab, id)),
                _ => None,
            })
            .collect()
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.pending
            .values()
            .filter_map(|r| match r {
                Request::Tab { deadline, .. } => *deadline,
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_one_owner_and_a_session_end_keeps_only_tab_requests() {
        let mut r = Requests::default();
        let a = r.insert(Request::Join("x".into()));
        let b = r.insert(Request::Tab { tab: 1, id: 9, deadline: Some(50) });
        assert_ne!(a, b);
        r.end_session();
        assert_eq!(r.take(a), None);
        assert_eq!(r.poll_timeout(), Some(50));
        assert_eq!(r.expired(49), []);
        assert_eq!(r.expired(50), [(b, 1, 9)]);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn ack_ids_wrap_below_two_to_the_53() {
        let mut r = Requests { next_ack: ACK_ID_WRAP - 1, ..Requests::default() };
        assert_eq!(r.insert(Request::Resume), ACK_ID_WRAP - 1);
        assert_eq!(r.insert(Request::Resume), 0);
    }

    #[test]
    fn a_server_ack_is_answered_once() {
        let mut r = Requests::default();
        let t = r.reply_token(7);
        assert_eq!(r.take_reply(t), Some(7));
        assert_eq!(r.take_reply(t), None);
    }
}
