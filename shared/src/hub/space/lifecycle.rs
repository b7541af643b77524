//! A namespace's session with the server: CONNECT (asking to recover the session), the
//! server's CONNECT, CONNECT_ERROR and DISCONNECT, leaving when no tab uses the namespace,
//! and the one teardown of a session. [`NsSession`] owns the session's fields (its state,
//! recovery, retries and the contract session); the `Space` methods here wire it to the rest.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum State {
    /// Not connected on the server (no link, or not asked yet).
    Down,
    /// CONNECT sent; waiting for the reply until `deadline`.
    Joining {
        deadline: Millis,
    },
    Connected {
        sid: String,
    },
    /// The server refused or ended this namespace; a new tab (or a sign-in) starts again.
    Refused {
        reason: String,
    },
    /// Refused with "Invalid namespace": asked again at `until`.
    Retry {
        until: Millis,
        attempt: u32,
        delay: u64,
        reason: String,
    },
}

/// How a lost namespace is asked for again: backoff with jitter, and how long a CONNECT waits.
pub(super) struct Retry {
    backoff: BackoffConfig,
    rng: Rng,
    retries: u32,
    timeout_ms: u64,
}

impl Retry {
    /// The next attempt after a loss, `reason`, at `now`.
    fn next(&mut self, reason: String, now: Millis) -> State {
        let delay = self.backoff.delay_ms(self.retries, &mut self.rng);
        self.retries = self.retries.saturating_add(1);
        State::Retry { until: now + delay, attempt: self.retries, delay, reason }
    }
}

/// The namespace's session: whether (and how) the server has it, and what carries over from
/// one session to the next (recovery, retries, whether it was connected before).
pub(super) struct NsSession {
    pub(super) state: State,
    recovery: Recovery,
    retry: Retry,
    /// CONNECTs left unanswered when the namespace was left: the server still answers them
    /// (in order, before the next one's answer), and those answers are not for this session.
    stale_replies: u32,
    /// Whether the namespace was connected before (`again`: the current session is a
    /// reconnection, which always ends in a `FromHub::Recovered`).
    was_connected: bool,
    pub(super) again: bool,
    pub(super) contract: ContractSession,
}

impl NsSession {
    pub(super) fn new(config: &HubConfig, seed: u64) -> NsSession {
        let timeout_ms = config.join_timeout_ms();
        NsSession {
            state: State::Down,
            recovery: Recovery::default(),
            retry: Retry { backoff: config.backoff, rng: Rng::new(seed), retries: 0, timeout_ms },
            stale_replies: 0,
            was_connected: false,
            again: false,
            contract: ContractSession::default(),
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// Durable emits may go on the wire: connected, and the server's kind is known.
    pub(super) fn can_send(&self) -> bool {
        self.is_connected() && self.contract.speaks().is_some()
    }

    /// Connected to a server that speaks the contract.
    pub(super) fn contract_live(&self) -> bool {
        self.contract.speaks() == Some(true) && self.is_connected()
    }

    /// The CONNECT to send, if the link is open and nobody refused us (asking to recover the
    /// session when the server gave us one); the session then waits for the reply.
    fn join(&mut self, auth: impl FnOnce() -> String, now: Millis) -> Option<String> {
        if !matches!(self.state, State::Down) {
            return None;
        }
        self.state = State::Joining { deadline: now + self.retry.timeout_ms };
        Some(self.recovery.connect_payload(auth()))
    }

    /// Leaving: whether there was a session to leave (an unanswered CONNECT's reply will
    /// come, and is not for the next session).
    fn leave(&mut self) -> bool {
        if matches!(self.state, State::Joining { .. }) {
            self.stale_replies += 1;
        }
        matches!(self.state, State::Joining { .. } | State::Connected { .. })
    }

    /// A CONNECT or CONNECT_ERROR that answers a CONNECT sent before we left.
    fn stale_reply(&mut self, kind: Kind) -> bool {
        let stale = matches!(kind, Kind::Connect | Kind::ConnectError) && self.stale_replies > 0;
        self.stale_replies -= stale as u32;
        stale
    }

    /// The session ended (`refused`: by the server, for this namespace).
    fn ended(&mut self, refused: Option<End>, now: Millis) {
        self.contract.end_session();
        self.state = match (refused, &self.state) {
            (Some(End::Lost(reason)), _) => self.retry.next(reason, now),
            (Some(End::Stopped(reason)), _) => State::Refused { reason },
            // A refusal outlives the connection: it waits for a new tab or new credentials.
            (_, State::Refused { reason }) => State::Refused { reason: reason.clone() },
            _ => State::Down,
        };
    }

    /// The CONNECT reply `data`: connected, with whether the server recovered the session
    /// (`None`: it offered no recovery). `Err`: not waiting for one.
    fn connected(&mut self, data: &str, out: &mut Out) -> Result<Option<bool>, ()> {
        if !matches!(self.state, State::Joining { .. }) {
            return Err(());
        }
        let reply = json::parse(data).ok();
        let field = |name: &str| reply.as_ref().and_then(|v| v.get(name));
        let sid = field("sid").and_then(Value::as_str).map(String::from).unwrap_or_else(|| {
            out.log(format!("CONNECT reply without a sid ({}); connected without one", Quoted(data)));
            String::new()
        });
        let recovered = self.recovery.connected(field("pid")).unwrap_or_else(|why| {
            out.log(why.into());
            None
        });
        self.state = State::Connected { sid };
        self.retry.retries = 0;
        self.again = core::mem::replace(&mut self.was_connected, true);
        Ok(recovered)
    }

    /// A server event without an ack id (its offset is what recovery resumes after).
    pub(super) fn note_event(&mut self, args: &str) {
        self.recovery.note_event(args);
    }

    /// The session's deadline passed: the end a missed CONNECT reply calls for, or (`Ok(true)`)
    /// time to ask again.
    fn handle_timeout(&mut self, now: Millis) -> Result<bool, End> {
        match self.state {
            State::Joining { deadline } if now >= deadline => Err(End::Lost("connect timeout".into())),
            State::Retry { until, .. } if now >= until => {
                self.state = State::Down;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Millis> {
        let state = match self.state {
            State::Joining { deadline } => Some(deadline),
            State::Retry { until, .. } => Some(until),
            _ => None,
        };
        state.into_iter().chain(self.contract.poll_timeout()).min()
    }

    /// The tabs' view: the link's status, refined by this namespace once the link is open.
    pub(super) fn status(&self, link: Status, link_open: bool) -> Status {
        match (&self.state, link_open) {
            (State::Refused { reason }, _) => Status::Disconnected { reason: reason.clone() },
            (_, false) => link,
            (State::Connected { sid }, true) => Status::Connected { sid: sid.clone() },
            (State::Retry { attempt, delay, reason, .. }, true) => Status::Reconnecting {
                attempt: *attempt,
                delay_ms: (*delay).min(u32::MAX as u64) as u32,
                reason: reason.clone(),
            },
            (State::Down | State::Joining { .. }, true) => Status::Connecting,
        }
    }

    /// The state's name for the inspector, and the session id once connected.
    pub(super) fn describe(&self) -> (&'static str, Option<&str>) {
        match &self.state {
            State::Connected { sid } => ("connected", Some(sid.as_str())),
            State::Joining { .. } => ("connecting", None),
            State::Refused { .. } => ("refused", None),
            State::Retry { .. } => ("retrying", None),
            State::Down => ("down", None),
        }
    }
}

impl Space {
    /// No tab and nothing to deliver: tell the server we leave (DISCONNECT) and forget the
    /// session, while the connection stays for the other namespaces.
    pub fn leave_if_unused(&mut self, cx: &mut Cx) {
        if self.wanted() || !self.session.leave() {
            return;
        }
        cx.out.send_sio(&socketio::encode(Kind::Disconnect, &self.nsp, 0, None, ""));
        self.end_session(None, cx);
    }

    /// The connection ended: nothing more will answer what it carried.
    pub fn connection_ended(&mut self) {
        self.session.stale_replies = 0;
    }

    /// Sends our CONNECT if the link is open and nobody refused us.
    pub fn connect(&mut self, cx: &mut Cx) {
        self.connect_after(&mut None, cx);
    }

    /// [`Space::connect`] on a socket that may have come with a CONNECT already sent
    /// (`early`, the Engine.IO frame): one that is exactly ours is taken as ours (and
    /// `early` emptied); any other is left for the hub to undo.
    pub fn connect_after(&mut self, early: &mut Option<String>, cx: &mut Cx) {
        if !cx.link_open {
            return;
        }
        if let Some(payload) = self.session.join(|| cx.signin.connect_payload(cx.auth), cx.now) {
            let packet = socketio::encode(Kind::Connect, &self.nsp, 0, None, &payload);
            if early.take_if(|frame| frame.strip_prefix('4') == Some(packet.as_str())).is_none() {
                cx.out.send_sio(&packet);
            }
        }
    }

    /// The one teardown of a namespace session: what it held is put back (emits in flight
    /// to the queue and storage; requests and server acks dropped; rooms to be joined again;
    /// the hello wait cancelled). `refused`: the server ended it (this namespace only).
    pub fn end_session(&mut self, refused: Option<End>, cx: &mut Cx) {
        self.send.end_session(cx.out);
        let actions = self.reach.rooms.end_session();
        self.apply_rooms(actions, cx);
        self.dir.end_session();
        self.session.ended(refused, cx.now);
    }

    /// New credentials (a sign-in): a refused namespace may be accepted now.
    pub fn reset(&mut self) {
        if self.refused() {
            self.session.state = State::Down;
        }
    }

    /// Connected, or on its way (asked, or asking again soon).
    pub fn active(&self) -> bool {
        match self.session.state {
            State::Joining { .. } | State::Connected { .. } | State::Retry { .. } => true,
            State::Down => self.wanted(),
            State::Refused { .. } => false,
        }
    }

    /// A Socket.IO packet for this namespace.
    pub fn packet(&mut self, kind: Kind, id: Option<u64>, data: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        if self.session.stale_reply(kind) {
            return cx.out.log(format!("namespace {}: the answer to a CONNECT it left; ignored", self.nsp));
        }
        match (kind, id) {
            (Kind::Connect, _) => self.connected(data, cx),
            (Kind::ConnectError, _) => {
                let reason = connect_error_reason(data);
                cx.out.log(format!("namespace {}: connect_error: {reason}", self.nsp));
                // A server that is starting or shutting down has no namespaces for a moment:
                // a refusal that would strand queued events if taken as final.
                let end = match reason == INVALID_NAMESPACE {
                    true => End::Lost(format!("connect_error: {reason} (retrying)")),
                    false => End::Stopped(format!("connect_error: {reason}")),
                };
                self.end_session(Some(end), cx);
            }
            (Kind::Disconnect, _) => {
                cx.out.log(format!("namespace {}: io server disconnect", self.nsp));
                self.end_session(Some(End::Stopped("io server disconnect".into())), cx);
            }
            (Kind::Ack | Kind::BinaryAck, Some(id)) => self.on_ack(id, data, bins, cx),
            (Kind::Ack | Kind::BinaryAck, None) => cx.out.log("ACK without an id; ignored".into()),
            (Kind::Event | Kind::BinaryEvent, _) => self.on_event(id, data, bins, cx),
        }
    }

    /// The CONNECT reply: our session id, and the recovery session if the server offers one.
    fn connected(&mut self, data: &str, cx: &mut Cx) {
        let Ok(recovered) = self.session.connected(data, cx.out) else {
            return cx.out.log(format!("namespace {}: unexpected CONNECT; ignored", self.nsp));
        };
        self.session.contract.start_session(cx.now);
        self.dir.session_started(cx.now);
        let actions = self.reach.rooms.start_session();
        self.apply_rooms(actions, cx);
        self.flush(cx);
        let tabs = self.reach.tabs.keys();
        if let Some(recovered) = recovered {
            if !recovered {
                cx.out.log("the server could not recover the session: events sent meanwhile are lost".into());
            }
            cx.out.post(tabs, FromHub::Recovered { recovered });
        } else if self.session.again && self.session.contract.speaks() != Some(true) {
            // A reconnection to a server that replays nothing (no connection state recovery,
            // no replay log): whatever it sent meanwhile is gone, and the tabs are told so.
            cx.out.log("reconnected to a server that cannot replay what it sent meanwhile".into());
            cx.out.post(tabs, FromHub::Recovered { recovered: false });
        }
    }

    /// Deadlines of this namespace. Returns the end of the whole connection a missed
    /// CONNECT reply calls for (as a missed Engine.IO handshake does).
    pub fn handle_timeout(&mut self, cx: &mut Cx) -> Option<End> {
        match self.session.handle_timeout(cx.now) {
            Err(end) => return Some(end),
            Ok(true) => self.connect(cx),
            Ok(false) => {}
        }
        if self.session.contract.handle_timeout(cx.now) {
            let why = "plain Socket.IO, delivery is at-least-once at best";
            cx.out.log(format!("no {} from the server: {why}", contract::HELLO));
            self.flush(cx);
        }
        self.expire_requests(cx);
        if self.send.wake_due(cx.now) {
            self.flush(cx);
        }
        let actions = self.reach.rooms.handle_timeout(cx.now);
        self.apply_rooms(actions, cx);
        let acts = self.dir.handle_timeout(&self.reach.tabs, cx.now);
        self.apply_leaders(acts, cx);
        None
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        [
            self.session.poll_timeout(),
            self.send.poll_timeout(),
            self.reach.rooms.poll_timeout(),
            self.dir.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The `message` of a CONNECT_ERROR payload (an object, or a bare string from old servers).
fn connect_error_reason(data: &str) -> String {
    json::parse(data)
        .ok()
        .and_then(|v| {
            v.get("message").and_then(Value::as_str).map(String::from).or_else(|| v.as_str().map(String::from))
        })
        .unwrap_or_else(|| "connection refused by server".into())
}
