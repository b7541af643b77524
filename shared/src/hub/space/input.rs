//! What a namespace takes from its tabs: every `ToHub` message, the costly ones (emits,
//! joins, leaves, replies) first checked against the tab's rate; subscriptions (the hub's own
//! events answered with their current value); lifecycle levels for the election.
//! Invariant: a tab over its rate has only its own messages refused, each with a reason.

use super::{hub_event, Cx, Space};
use crate::contract;
use crate::hub::outbox::Emit;
use crate::hub::TabKey;
use crate::port::{ErrorCode, FromHub, ToHub};
use alloc::format;
use alloc::string::String;

const SECURITY_NEEDS_ACK: &str = "sb:security requests are answered: use emitWithAck";

impl Space {
    pub fn handle_tab(&mut self, tab: TabKey, msg: ToHub, cx: &mut Cx) {
        let costly = matches!(
            msg,
            ToHub::Emit { .. } | ToHub::EmitTo { .. } | ToHub::Join { .. } | ToHub::Leave { .. } | ToHub::Reply { .. }
        );
        if costly {
            if let Err(first) = self.reach.tabs.admit(tab, cx.now) {
                return self.over_rate(tab, msg, first, cx);
            }
        }
        match msg {
            ToHub::Hello { .. } | ToHub::Bye => {}
            ToHub::Emit { event, args, ack, .. } if event == contract::SECURITY => match ack {
                Some(a) => cx.security.request(tab, a.id, &args),
                None => cx
                    .out
                    .post_one(tab, FromHub::Error { code: ErrorCode::BadPayload, message: SECURITY_NEEDS_ACK.into() }),
            },
            ToHub::Subscribe { event } => self.tab_subscribe(tab, event, cx),
            ToHub::Unsubscribe { event } => self.reach.tabs.subscribe(tab, event, false),
            ToHub::Emit { seq, event, args, ack, bins, .. } if event == contract::STATE_SET => {
                self.tab_state_write(tab, seq, &args, !bins.is_empty(), ack, cx)
            }
            ToHub::Emit { event, args, ack, bins, .. } if event == contract::LEAD => {
                self.tab_lead(tab, &args, !bins.is_empty(), ack, cx)
            }
            ToHub::Emit { seq, event, args, bins, ack, volatile } => {
                let emit = Emit { event, args, bins, ack: None, durable: None, trace: None };
                self.tab_emit(tab, seq, emit, ack, volatile, cx)
            }
            ToHub::Reply { token, args, bins } => self.tab_reply(tab, token, &args, bins, cx),
            ToHub::EmitTo { seq, room, event, args, bins } => {
                let emit = Emit { event, args, bins, ack: None, durable: None, trace: None };
                self.tab_emit_to(tab, seq, room, emit, cx)
            }
            ToHub::Join { req, room } => {
                let actions = self.reach.rooms.join(tab, req, room, self.session.is_connected(), cx.now);
                self.apply_rooms(actions, cx);
            }
            ToHub::Leave { req, room } => {
                let actions = self.reach.rooms.leave(tab, Some(req), &room, self.session.is_connected(), cx.now);
                self.apply_rooms(actions, cx);
            }
            ToHub::Login { req, username, password } => cx.signin.login(tab, req, &username, &password),
            ToHub::Logout { req } => cx.signin.logout(tab, req),
            ToHub::Refresh { req } => cx.signin.refresh(Some((tab, req)), cx.now),
            ToHub::Token { req } => cx.signin.ask_token(tab, req, cx.now, cx.server_now),
            ToHub::Priority { level, scope, term } => self.tab_priority(tab, level, scope, term, cx),
        }
    }

    /// A subscription; the hub's own events (security, state) give the current value at once.
    fn tab_subscribe(&mut self, tab: TabKey, event: String, cx: &mut Cx) {
        let now = match event.as_str() {
            contract::SECURITY => Some(cx.security.snapshot()),
            contract::STATE => Some(self.shared_state.snapshot()),
            _ => None,
        };
        if let Some(args) = now {
            cx.out.post_one(tab, hub_event(&event, args));
        }
        self.reach.tabs.subscribe(tab, event, true);
    }

    /// A tab over its rate: this message is refused (the tab hears why; the first refusal
    /// in a row is logged), the other tabs go on.
    fn over_rate(&mut self, tab: TabKey, msg: ToHub, first: bool, cx: &mut Cx) {
        let reason = format!(
            "rate limit: over {} messages a second (burst {}) from this tab; refused",
            contract::TAB_RATE,
            contract::TAB_BURST
        );
        if first {
            let name = self.reach.tabs.name(tab).unwrap_or_default();
            cx.out.log(format!("tab {name} is over its rate: its messages are refused until it slows down"));
        }
        let reply = match msg {
            ToHub::Emit { ack: Some(a), .. } => FromHub::AckFailed { id: a.id, reason },
            ToHub::Emit { seq, volatile: false, .. } | ToHub::EmitTo { seq, .. } => FromHub::Refused { seq, reason },
            ToHub::Join { req, .. } | ToHub::Leave { req, .. } => FromHub::Done { req, error: Some(reason) },
            _ => FromHub::Error { code: ErrorCode::BufferFull, message: reason },
        };
        cx.out.post_one(tab, reply);
    }
}
