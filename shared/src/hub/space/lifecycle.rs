//! A namespace's session with the server: CONNECT (asking to recover the session), the
//! server's CONNECT, CONNECT_ERROR and DISCONNECT, leaving when no tab uses the namespace,
//! and the one teardown of a session. The rest of [`Space`] is in the parent module.

use super::*;

impl Space {
    /// No tab and nothing to deliver: tell the server we leave (DISCONNECT) and forget the
    /// session, while the connection stays for the other namespaces.
    pub fn leave_if_unused(&mut self, cx: &mut Cx) {
        if self.wanted() || !matches!(self.state, State::Joining { .. } | State::Connected { .. }) {
            return;
        }
        if matches!(self.state, State::Joining { .. }) {
            self.stale_replies += 1;
        }
        cx.out.send_sio(&socketio::encode(Kind::Disconnect, &self.nsp, 0, None, ""));
        self.end_session(None, cx);
    }

    /// The connection ended: nothing more will answer what it carried.
    pub fn connection_ended(&mut self) {
        self.stale_replies = 0;
    }

    // --- The namespace's session. ---

    /// Sends our CONNECT if the link is open and nobody refused us (asking to recover the
    /// session when the server gave us one).
    pub fn connect(&mut self, cx: &mut Cx) {
        if !cx.link_open || !matches!(self.state, State::Down) {
            return;
        }
        let payload = self.recovery.connect_payload(cx.signin.connect_payload(cx.auth));
        cx.out.send_sio(&socketio::encode(Kind::Connect, &self.nsp, 0, None, &payload));
        self.state = State::Joining { deadline: cx.now + self.connect_timeout_ms };
    }

    /// The one teardown of a namespace session: what it held is put back (emits in flight
    /// to the queue and storage; requests and server acks dropped; rooms to be joined again;
    /// the hello wait cancelled). `refused`: the server ended it (this namespace only).
    pub fn end_session(&mut self, refused: Option<End>, cx: &mut Cx) {
        self.outbox.end_session(cx.out);
        let outbox = &self.outbox;
        for (tab, id) in self.requests.take_sent_tab_acks(|sio| outbox.queues_ack(sio)) {
            cx.out.post_one(tab, FromHub::AckFailed { id, reason: contract::ACK_DISCONNECTED.into() });
        }
        self.requests.end_session();
        let actions = self.rooms.end_session();
        self.apply_rooms(actions, cx);
        self.contract.end_session();
        self.leaders.iter_mut().for_each(Leadership::session_ended);
        self.presence.end_session();
        for (tab, id) in self.requests.take_leads() {
            let reason = "the connection ended before the server answered the leader command".into();
            cx.out.post_one(tab, FromHub::AckFailed { id, reason });
        }
        self.state = match (refused, &self.state) {
            (Some(End::Lost(reason)), _) => {
                let delay = self.backoff.delay_ms(self.retries, &mut self.rng);
                self.retries = self.retries.saturating_add(1);
                State::Retry { until: cx.now + delay, attempt: self.retries, delay, reason }
            }
            (Some(End::Stopped(reason)), _) => State::Refused { reason },
            // A refusal outlives the connection: it waits for a new tab or new credentials.
            (_, State::Refused { reason }) => State::Refused { reason: reason.clone() },
            _ => State::Down,
        };
    }

    /// New credentials (a sign-in): a refused namespace may be accepted now.
    pub fn reset(&mut self) {
        if self.refused() {
            self.state = State::Down;
        }
    }

    /// Connected, or on its way (asked, or asking again soon).
    pub fn active(&self) -> bool {
        match self.state {
            State::Joining { .. } | State::Connected { .. } | State::Retry { .. } => true,
            State::Down => self.wanted(),
            State::Refused { .. } => false,
        }
    }

    /// A Socket.IO packet for this namespace.
    pub fn packet(&mut self, kind: Kind, id: Option<u64>, data: &str, bins: Vec<Bytes>, cx: &mut Cx) {
        if matches!(kind, Kind::Connect | Kind::ConnectError) && self.stale_replies > 0 {
            self.stale_replies -= 1;
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
        if !matches!(self.state, State::Joining { .. }) {
            return cx.out.log(format!("namespace {}: unexpected CONNECT; ignored", self.nsp));
        }
        let reply = json::parse(data).ok();
        let field = |name: &str| reply.as_ref().and_then(|v| v.get(name));
        let sid = field("sid").and_then(Value::as_str).map(String::from).unwrap_or_else(|| {
            cx.out.log(format!("CONNECT reply without a sid ({}); connected without one", Quoted(data)));
            String::new()
        });
        let recovered = self.recovery.connected(field("pid")).unwrap_or_else(|why| {
            cx.out.log(why.into());
            None
        });
        self.state = State::Connected { sid };
        self.retries = 0;
        self.again = core::mem::replace(&mut self.was_connected, true);
        self.session_checked = false;
        let actions = self.rooms.start_session();
        self.apply_rooms(actions, cx);
        self.contract.start_session(cx.now);
        self.leaders.iter_mut().for_each(|l| l.connected(cx.now));
        self.flush(cx);
        if let Some(recovered) = recovered {
            if !recovered {
                cx.out.log("the server could not recover the session: events sent meanwhile are lost".into());
            }
            cx.out.post(self.tabs.keys(), FromHub::Recovered { recovered });
        } else if self.again && self.contract.speaks() != Some(true) {
            // A reconnection to a server that replays nothing (no connection state recovery,
            // no replay log): whatever it sent meanwhile is gone, and the tabs are told so.
            cx.out.log("reconnected to a server that cannot replay what it sent meanwhile".into());
            cx.out.post(self.tabs.keys(), FromHub::Recovered { recovered: false });
        }
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
