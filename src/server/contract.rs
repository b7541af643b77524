//! The server side of the Switchboard contract (docs/server-contract.md), on each socket:
//! `sb:hello`, rooms (`sb:join`/`sb:leave`), durable emits with receipts (`sb:emit`, dedup),
//! numbered events and their replay (`sb:seq`/`sb:resume`), the clock (`sb:time`), the tabs a
//! hub serves (`sb:tabs`, for `sb:tab`), and bearer renewal (`sb:auth`).
//! Invariant: names and limits come from `switchboard_shared::contract`; a socket's entries
//! (turns, tabs) go when it disconnects.

use super::limits::Admit;
use super::node::SocketIo;
use super::node::{AckSender, SocketRef};
use super::ordering::{Ticket, Turns};
use super::{app, RawArgs, State};
use crate::auth::now_ms;
use serde_json::Value;
use socketioxide::extract::Data;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use switchboard_shared::contract::{self, Hello, Receipt, ResumeReply, TimeReply};

/// Which socket serves which tab (from `sb:tabs`).
#[derive(Default)]
pub struct TabDirectory {
    by_tab: Mutex<HashMap<String, String>>,
    /// Sockets some of whose tabs were refused: (namespace, the whole list), claimed again
    /// when a socket that served tabs disconnects (a hub's new socket, while its old one
    /// still lingered until its ping timeout, gets its tabs back).
    waiting: Mutex<HashMap<String, (String, Vec<String>)>>,
    changed: tokio::sync::Notify,
}

impl TabDirectory {
    fn set(&self, sid: &str, tabs: Vec<String>) {
        if let Ok(mut map) = self.by_tab.lock() {
            map.retain(|_, s| s != sid);
            map.extend(tabs.into_iter().map(|t| (t, sid.to_string())));
        }
        self.changed.notify_waiters();
    }

    /// Waits (at most `limit`) until `pred(number of tabs)` holds; returns the number.
    pub async fn until(&self, pred: impl Fn(usize) -> bool, limit: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            let n = self.len();
            if pred(n) || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.len();
            }
        }
    }

    /// The tabs a socket serves.
    pub fn tabs_of(&self, sid: &str) -> Vec<String> {
        let mut tabs: Vec<String> = match self.by_tab.lock() {
            Ok(map) => map.iter().filter(|(_, s)| *s == sid).map(|(t, _)| t.clone()).collect(),
            Err(_) => Vec::new(),
        };
        tabs.sort();
        tabs
    }

    pub fn len(&self) -> usize {
        self.by_tab.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// The socket is gone; whether it served any tab.
    fn forget(&self, sid: &str) -> bool {
        let served = self.by_tab.lock().is_ok_and(|m| m.values().any(|s| s == sid));
        self.set(sid, Vec::new());
        self.wait(sid, None);
        served
    }

    /// Notes (or, with None, forgets) a socket whose tabs were not all granted.
    fn wait(&self, sid: &str, wanted: Option<(String, Vec<String>)>) {
        if let Ok(mut w) = self.waiting.lock() {
            match wanted {
                Some(wanted) => w.insert(sid.to_string(), wanted),
                None => w.remove(sid),
            };
        }
    }

    fn waiting(&self) -> Vec<(String, String, Vec<String>)> {
        self.waiting
            .lock()
            .map(|w| w.iter().map(|(s, (n, t))| (s.clone(), n.clone(), t.clone())).collect())
            .unwrap_or_default()
    }
}

/// `sb:tabs [ids]`: the tabs this socket's hub serves; each tab's own room, `tab:{id}`,
/// follows the list (the server assigns it). A tab id that another live socket serves is
/// refused unless that socket is the same browser (its device room) or, without a device,
/// the same session: tab ids are published (`sb:members`), so a stranger could otherwise
/// take another browser's tab room. Asked of every node (the adapter's fetch).
async fn serve_tabs(io: &SocketIo, st: &State, s: &SocketRef, mut tabs: Vec<String>, leaving: Option<&str>) {
    let sid = s.id.to_string();
    let wanted = tabs.clone();
    if let Err(e) = contract::check_tabs(tabs.iter().map(String::as_str)) {
        st.stats.tabs_refused.fetch_add(tabs.len() as u64, Ordering::Relaxed);
        return tracing::warn!(%sid, "{} refused: {e}", contract::TABS);
    }
    tabs.sort();
    tabs.dedup();
    let owner = super::presence::assigned_room(s, contract::DEVICE_ROOM)
        .or_else(|| super::presence::assigned_room(s, contract::SESSION_ROOM));
    let mut served = Vec::with_capacity(tabs.len());
    for tab in tabs {
        let room = format!("{}{tab}", contract::TAB_ROOM);
        if !super::presence::in_room(s, &room) && !tab_free(io, s, &room, owner.as_deref(), leaving).await {
            st.stats.tabs_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%sid, tab = %contract::redact(&tab), "{}: a tab another browser serves: refused", contract::TABS);
            continue;
        }
        served.push(tab);
    }
    for room in s.rooms().into_iter().filter(|r| r.starts_with(contract::TAB_ROOM)) {
        if !served.iter().any(|t| room[contract::TAB_ROOM.len()..] == **t) {
            super::admin::room(io, st, s.ns(), &room, &sid, false);
            s.leave(room);
        }
    }
    let rooms: Vec<String> = served.iter().map(|t| format!("{}{t}", contract::TAB_ROOM)).collect();
    for room in &rooms {
        super::admin::room(io, st, s.ns(), room, &sid, true);
    }
    s.join(rooms);
    let all = served.len() == wanted.len();
    st.tabs.set(&sid, served);
    st.tabs.wait(&sid, (!all).then(|| (s.ns().to_string(), wanted)));
    super::admin::socket_updated(io, st, s);
}

/// Claims again the tabs of sockets that were refused some, now that socket `leaving` (which
/// served tabs) is gone.
async fn reclaim_tabs(io: &SocketIo, st: &State, leaving: &str) {
    for (sid, nsp, wanted) in st.tabs.waiting() {
        let socket = sid.parse().ok().and_then(|sid| io.of(nsp.as_str())?.get_socket(sid));
        match socket {
            Some(s) => serve_tabs(io, st, &s, wanted, Some(leaving)).await,
            None => st.tabs.wait(&sid, None),
        }
    }
}

/// Whether no live socket but `s`, or one of `owner` (its device or session room), is in
/// `room` (`leaving`: a socket on its way out, which does not count). A node that cannot be
/// asked counts as a no.
async fn tab_free(io: &SocketIo, s: &SocketRef, room: &str, owner: Option<&str>, leaving: Option<&str>) -> bool {
    let Some(ns) = io.of(s.ns()) else { return false };
    let others = match owner {
        Some(owner) => ns.to(room.to_string()).except(owner.to_string()).fetch_sockets().await,
        None => ns.to(room.to_string()).fetch_sockets().await,
    };
    others.is_ok_and(|v| v.iter().all(|o| o.data().id == s.id || leaving.is_some_and(|l| o.data().id.to_string() == l)))
}

/// Sends `event(data)` to every socket as a numbered event, kept for replay.
pub async fn publish(io: &SocketIo, state: &State, event: &str, data: &Value) {
    let n = match state.replay.push(event, data).await {
        Ok(n) => n,
        Err(e) => return tracing::error!(%event, "not published: {e}"),
    };
    let _ = io.emit(contract::SEQ, &(n, event, data)).await;
    super::admin::sent(io, state, "/", io.sockets(), &[event.into(), data.clone()]);
}

/// A new socket's ordering, limits and handlers (the contract's and the application's),
/// registered by the connect middleware before the CONNECT reply leaves: socketioxide sends
/// the reply, then spawns the connect handler, so a client's first event (socket.io-client
/// sends its buffered emits at once) could otherwise find no handler and be lost.
pub fn register(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    let socket = socket.clone();
    socket.extensions.insert(Turns::new(state.drain.clone()));
    let tap = state.admin.as_ref().map(|admin| super::admin::tap(&io, admin));
    socket
        .extensions
        .insert(super::limits::Limiter::new(state.limits, state.stats.sockets_limited.clone()).with_tap(tap));
    // Events nobody handles count against the limits too.
    socket.on_fallback(|_: Admit| async {});
    tracing::info!(sid = %socket.id, "socket connected");
    let (st, disconnect_io) = (state.clone(), io.clone());
    socket.on_disconnect(move |socket: SocketRef, reason: socketioxide::socket::DisconnectReason| {
        st.stats.sockets_now.fetch_sub(1, Ordering::Relaxed);
        st.stats.sockets_disconnected.fetch_add(1, Ordering::Relaxed);
        let sid = socket.id.to_string();
        super::admin::socket_disconnected(&disconnect_io, &st, socket.ns(), &sid, &reason.to_string());
        let served = st.tabs.forget(&sid);
        let (elections, leave_io, leaving) = (st.elections.clone(), disconnect_io.clone(), sid.clone());
        // The socket's turns stay until the socket itself is dropped: frames it received
        // before the disconnect are still handled, in order.
        tracing::info!(sid = %socket.id, "socket disconnected");
        let (st, io) = (st.clone(), disconnect_io.clone());
        async move {
            if served {
                reclaim_tabs(&io, &st, &sid).await;
            }
            elections.leave(&leave_io, &leaving).await;
            super::presence::gone(&io, &st, socket.ns(), &sid).await
        }
    });
    rooms(&socket, io.clone(), state.clone());
    let st = state.clone();
    socket.on(contract::RESUME, move |_: Admit, s: SocketRef, Data(after): Data<u64>, ack: AckSender| {
        let state = st.clone();
        async move {
            let (missed, recovered) = match state.replay.after(after).await {
                Ok(r) => r,
                // Not acknowledged: the hub asks again on its next connection.
                Err(e) => return tracing::error!(sid = %s.id, "sb:resume: {e}"),
            };
            for (n, event, data) in missed {
                let _ = s.emit(contract::SEQ, &(n, event, data));
            }
            let _ = ack.send(&ResumeReply { recovered });
        }
    });
    let st = state.clone();
    socket.on(contract::AUTH, move |_: Admit, s: SocketRef, Data(v): Data<Value>| {
        let state = st.clone();
        async move {
            let token = v.get("token").and_then(Value::as_str);
            let session = match token {
                Some(t) => state.auth.session_for_access(t).await,
                None => None,
            };
            if let Some(session) = session {
                super::signin::join_session_rooms(&s, &session);
                super::presence::tell_assigned(&s);
            }
        }
    });
    let st = state.clone();
    let tabs_io = io.clone();
    socket.on(contract::TABS, move |_: Admit, s: SocketRef, Data(tabs): Data<Vec<String>>| {
        let (io, st) = (tabs_io.clone(), st.clone());
        async move { serve_tabs(&io, &st, &s, tabs, None).await }
    });
    socket.on(contract::TIME, |_: Admit, ack: AckSender| async move {
        let _ = ack.send(&TimeReply { time: now_ms() });
    });
    durable_emits(&socket, io.clone(), state.clone());
    super::election::on_connect(&socket, io.clone(), state.clone());
    super::presence::on_connect(&socket, io.clone(), state.clone());
    super::state::on_connect(&socket, state.clone());
    app::on_connect(&socket, io.clone(), state.clone());
}

/// The connected socket's greeting, after the CONNECT reply: `sb:hello` (a hub answers it at
/// once with `sb:tabs`, `sb:time`, …, all of which `register` has a handler for by then), its
/// assigned rooms, a limited session's notice, the Admin UI's view.
pub async fn greet(socket: SocketRef, io: SocketIo, state: Arc<State>) {
    state.stats.sockets_now.fetch_add(1, Ordering::Relaxed);
    state.stats.sockets_total.fetch_add(1, Ordering::Relaxed);
    let _ = socket.emit(contract::HELLO, &hello(&state).await);
    super::presence::tell_assigned(&socket);
    super::signin::tell_limited(&socket, &state).await;
    super::admin::socket_connected(&io, &state, &socket);
}

/// Every socket of this node hears `sb:hello` again: after a break in the nodes' pub/sub,
/// what the adapter carried meanwhile may be lost, and a hub answers a greeting by
/// resynchronising (numbered events, shared state, elections, presence). A socket whose
/// session ended meanwhile (revoked or expired on another node: the word and the disconnect
/// may have been lost) is told and disconnected instead.
pub async fn greet_again(io: &SocketIo, state: &State) {
    for nsp in super::NAMESPACES {
        let Some(ns) = io.of(nsp) else { continue };
        for socket in ns.local().sockets() {
            if let Some(id) = super::presence::assigned(&socket, contract::SESSION_ROOM) {
                let session = state.auth.session(&id).await;
                if session.is_none_or(|s| s.refresh_expires_ms <= now_ms()) {
                    let reason = state.auth.revocation(&id).await.unwrap_or_else(|| "session expired".into());
                    tracing::info!(sid = %socket.id, session = %id, %reason, "a session that ended elsewhere: disconnected");
                    let _ = socket.emit(contract::TOKEN_INVALIDATED, &serde_json::json!({ "reason": reason }));
                    let _ = socket.disconnect();
                    continue;
                }
            }
            let _ = socket.emit(contract::HELLO, &hello(state).await);
        }
    }
}

async fn hello(state: &State) -> Hello {
    let seq = match state.replay.last().await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("sb:hello without seq: {e}");
            None
        }
    };
    Hello { v: contract::VERSION, dedup: true, time: now_ms(), limits: Some(state.limits), trace: true, seq }
}

/// `sb:join` / `sb:leave` with a room name, acked with a [`Receipt`]. Hierarchy rooms
/// (`user:`, `session:`, `device:`) are the server's alone: a socket cannot join one.
fn rooms(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    let st = state.clone();
    let join_io = io.clone();
    socket.on(contract::JOIN, move |_: Admit, s: SocketRef, RawArgs(args): RawArgs, ack: AckSender| {
        let (room, trace) = room_and_trace(&args);
        let checked = match super::signin::limited(&s, &state) {
            true => Err(contract::NOT_VERIFIED),
            false if s.rooms().len() >= state.max_rooms && !super::presence::in_room(&s, &room) => {
                Err("this socket is in too many rooms (--max-rooms)")
            }
            false => join_check(&room),
        };
        let span = trace.as_deref().map_or_else(tracing::Span::none, |t| super::trace::span(&s.id.to_string(), t));
        let _in_trace = span.enter();
        tracing::debug!(sid = %s.id, %room, traceparent = trace.as_deref().unwrap_or("-"), ok = checked.is_ok(), "join");
        let reply = match checked {
            Ok(()) => {
                super::admin::room(&join_io, &state, s.ns(), &room, &s.id.to_string(), true);
                s.join(room);
                traced(trace)
            }
            Err(e) => {
                state.stats.joins_refused.fetch_add(1, Ordering::Relaxed);
                Receipt::Error { error: e.into() }
            }
        };
        let _ = ack.send(&reply);
        async {}
    });
    socket.on(contract::LEAVE, move |_: Admit, s: SocketRef, RawArgs(args): RawArgs, ack: AckSender| {
        let (io, state) = (io.clone(), st.clone());
        let (room, trace) = room_and_trace(&args);
        let span = trace.as_deref().map_or_else(tracing::Span::none, |t| super::trace::span(&s.id.to_string(), t));
        let fut = async move {
            tracing::debug!(sid = %s.id, %room, traceparent = trace.as_deref().unwrap_or("-"), "leave");
            if join_check(&room).is_ok() {
                super::admin::room(&io, &state, s.ns(), &room, &s.id.to_string(), false);
                s.leave(room.clone());
                super::presence::left(&io, &state, &s, &room).await;
            }
            let _ = ack.send(&traced(trace));
        };
        tracing::Instrument::instrument(fut, span)
    });
}

/// `[sb:join, room, {traceparent}?]` → the room and the trace it carried.
fn room_and_trace(args: &[Value]) -> (String, Option<String>) {
    let room = args.get(1).and_then(Value::as_str).unwrap_or_default().to_string();
    let trace = args.get(2).and_then(|t| t.get("traceparent")).and_then(Value::as_str).map(String::from);
    (room, trace.filter(|t| super::trace::valid(t)))
}

/// The receipt of a request, naming its trace if it carried one.
fn traced(trace: Option<String>) -> Receipt {
    match trace {
        Some(traceparent) => Receipt::Traced { ok: true, traceparent },
        None => Receipt::OK,
    }
}

fn join_check(room: &str) -> Result<(), &'static str> {
    contract::joinable(room)?;
    // The demo application's own policy (to show a server refusing): `locked:` rooms.
    if room.starts_with("locked:") {
        return Err("locked rooms are closed to everyone");
    }
    Ok(())
}

/// `sb:emit id event ...args`: the application sees `event(...args)` once per id; the
/// receipt is acked either way.
fn durable_emits(socket: &SocketRef, io: SocketIo, state: Arc<State>) {
    socket.on(
        contract::EMIT,
        move |admit: Admit, s: SocketRef, RawArgs(args): RawArgs, ack: AckSender, ticket: Ticket| {
            let (io, state) = (io.clone(), state.clone());
            // Handled inside the trace the hub announced (`sb:trace`), if it did.
            let span =
                admit.trace.as_deref().map_or_else(tracing::Span::none, |t| super::trace::span(&s.id.to_string(), t));
            let fut = async move {
                let envelope = split_envelope(&args);
                let limited = super::signin::limited(&s, &state);
                // Several nodes claim ahead of the turn (`Dedup::claim_ahead`); the application
                // still sees one socket's emits one at a time, in order.
                let ahead = match &envelope {
                    Ok((id, _, _)) if !limited => state.dedup.claim_ahead(id).await,
                    _ => None,
                };
                let turn = ticket.wait().await;
                let (id, event, rest) = match envelope {
                    Ok(e) => e,
                    Err(error) => {
                        let _ = ack.send(&Receipt::Error { error });
                        return;
                    }
                };
                state.stats.emits_received.fetch_add(1, Ordering::Relaxed);
                // The trace the hub's debug log shows for this emit (derived from its id).
                let trace = contract::traceparent(&id);
                tracing::debug!(sid = %s.id, %id, %event, traceparent = %trace, "durable emit");
                if limited {
                    // Refused, not remembered: nothing of an unverified device reaches the app.
                    state.stats.unverified_refused.fetch_add(1, Ordering::Relaxed);
                    let _ = ack.send(&Receipt::Error { error: contract::NOT_VERIFIED.into() });
                    return;
                }
                // Claimed, handed to the application, then marked done before the receipt: while
                // a hub reconnects, its old socket and its new one may carry the same ids at once
                // (handled on two threads), and a resend must not overtake the original.
                let claim = match state.dedup.claim_in_turn(&id, ahead).await {
                    Ok(claim) => claim,
                    // No receipt: the hub sends the emit again (on its next connection).
                    Err(e) => return tracing::error!(sid = %s.id, %id, "durable emit not handled: {e}"),
                };
                let fresh = claim.fresh;
                let mut receipt = traced(admit.trace);
                if event == contract::STATE_SET {
                    // Shared state dedups by its own (durable) mutation window.
                    if let Err(error) = super::state::write(&io, &s, &state, &id, rest).await {
                        receipt = super::state::refused(&s, &error);
                    }
                } else if fresh && event == contract::TO {
                    if let Err(error) = to_room(&s, rest).await {
                        receipt = Receipt::Error { error };
                    }
                } else if fresh {
                    if let Err(error) = app::event(&io, &s, &state, &event, rest, Some(&id)).await {
                        receipt = Receipt::Error { error };
                    }
                }
                drop(claim);
                // The socket's next emit may reach the application while this one is marked;
                // the server's drain (a stop) still waits for the mark, or a restart would
                // deliver it again.
                let _unfinished = turn.pass();
                if !fresh {
                    state.stats.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
                } else if let Err(e) = state.dedup.done(&id).await {
                    // Handed to the application but not marked: no receipt, so the hub sends
                    // it again (and, the mark missing, it may be delivered twice).
                    return tracing::error!(sid = %s.id, %id, "durable emit not marked done: {e}");
                }
                let _ = ack.send(&receipt);
            };
            tracing::Instrument::instrument(fut, span)
        },
    );
}

/// `sb:to room event ...args` (inside a durable envelope): `event(...args)` to the other
/// sockets in `room`, as `sb:room`, if this socket is in it.
async fn to_room(s: &SocketRef, args: Vec<Value>) -> Result<(), String> {
    let (Some(room), Some(_event)) = (args.first().and_then(Value::as_str), args.get(1).and_then(Value::as_str)) else {
        return Err(format!("{} needs a room and an event name", contract::TO));
    };
    if !super::presence::in_room(s, room) {
        return Err(format!("to({room:?}): this socket is not in that room"));
    }
    let _ = s.to(room.to_string()).emit(contract::ROOM, &Spread(&args)).await;
    Ok(())
}

/// Arguments sent as they are, each its own Socket.IO argument (socketioxide spreads tuples).
pub(super) struct Spread<'a>(pub(super) &'a [Value]);

impl serde::Serialize for Spread<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// `[sb:emit, id, event, ...args]` → (id, event, args); the id is 1..=[`contract::MAX_EMIT_ID`]
/// bytes (the dedup window keeps it).
fn split_envelope(args: &[Value]) -> Result<(String, String, Vec<Value>), String> {
    let parts = args.get(1).and_then(Value::as_str).zip(args.get(2).and_then(Value::as_str));
    let Some((id, event)) = parts else {
        return Err(format!("{} needs an id and an event name", contract::EMIT));
    };
    if id.is_empty() || id.len() > contract::MAX_EMIT_ID {
        return Err(format!("{} id must be 1..{} bytes", contract::EMIT, contract::MAX_EMIT_ID));
    }
    Ok((id.to_string(), event.to_string(), args.iter().skip(3).cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_rooms_are_the_servers() {
        assert!(join_check("user:bob").is_err());
        assert!(join_check("session:x").is_err());
        assert!(join_check("device:x").is_err());
        assert!(join_check("tab:x").is_err());
        assert!(join_check("locked:1").is_err());
        assert!(join_check("").is_err());
        assert!(join_check("team:1").is_ok());
    }

    #[test]
    fn a_socket_leaves_the_tab_directory_with_its_tabs() {
        let d = TabDirectory::default();
        d.set("s1", vec!["a".into(), "b".into()]);
        d.set("s2", vec!["c".into()]);
        d.set("s1", vec!["a".into()]);
        assert_eq!(d.tabs_of("s1"), ["a"]);
        d.forget("s1");
        assert_eq!((d.tabs_of("s1"), d.len()), (Vec::<String>::new(), 1));
    }
}
