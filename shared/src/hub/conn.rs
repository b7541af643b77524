//! The connection: one Engine.IO session over a WebSocket and our namespace's CONNECT on it,
//! the heartbeat, reconnection with backoff, the reassembly of binary packets, and
//! Socket.IO's own connection state recovery (the session id `pid` from the CONNECT reply
//! and the offset of the last event, sent with the next CONNECT, as socket.io-client does).
//! Invariant: a session ends only through [`Connection::end_session`], which the hub calls
//! from its one teardown; frames of a replaced socket (older `conn`) are ignored.

use super::out::Out;
use super::Millis;
use crate::backoff::{BackoffConfig, Rng};
use crate::engineio::{self, EioPacket, Handshake};
use crate::json::{self, Value};
use crate::port::{self, Bytes, Status};
use crate::socketio::{self, Kind};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The message of Socket.IO servers (Node's and socketioxide) for a namespace they do not
/// have: retried with backoff, unlike other CONNECT_ERRORs (middleware refusals), which are
/// final as in socket.io-client. Servers also say it while they start or stop.
pub const INVALID_NAMESPACE: &str = "Invalid namespace";

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// No socket and not trying.
    Idle,
    /// WebSocket requested; waiting for the Engine.IO OPEN packet.
    Opening {
        conn: u32,
        deadline: Millis,
    },
    /// Engine.IO open; our namespace CONNECT is on its way.
    Joining {
        conn: u32,
        deadline: Millis,
        hs: Handshake,
    },
    Connected {
        conn: u32,
        hs: Handshake,
        sid: String,
    },
    /// Waiting before the next attempt.
    Backoff {
        until: Millis,
        attempt: u32,
        delay: u64,
    },
    /// The server refused or ended the session; a new tab (or a sign-in) starts again.
    Stopped {
        reason: String,
    },
}

/// How a session ends.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The transport is gone: retry with backoff while tabs remain (and reconnection is on).
    Lost(String),
    /// The server refused or ended it: stay down until something changes.
    Stopped(String),
    /// Nobody needs it (linger over) or its credentials changed: no socket, not trying.
    Idle,
}

/// A complete Socket.IO EVENT or ACK for the hub to route.
#[derive(Debug)]
pub struct Packet {
    pub kind: Kind,
    pub id: Option<u64>,
    pub data: String,
    pub bins: Vec<Bytes>,
}

/// What a frame meant for the hub.
#[derive(Debug)]
pub enum Inbound {
    /// Engine.IO is open: the hub sends our CONNECT now ([`Connection::connect_packet`]).
    Open,
    /// Our namespace CONNECT was accepted. `recovered`: after a CONNECT that asked for
    /// recovery, whether the server restored the session (it then replays what we missed).
    Connected {
        recovered: Option<bool>,
    },
    /// The server ended the session (reason); `retry` for a refusal worth retrying.
    Ended(End),
    Packet(Packet),
}

/// An incoming binary packet waiting for its attachments.
#[derive(Debug)]
struct Partial {
    packet: Packet,
    need: usize,
    bytes: usize,
}

#[derive(Debug)]
pub struct Connection {
    url: String,
    nsp: String,
    reconnection: bool,
    backoff: BackoffConfig,
    connect_timeout_ms: u64,
    rng: Rng,
    state: State,
    next_conn: u32,
    attempt: u32,
    ping_deadline: Option<Millis>,
    partial: Option<Partial>,
    online: bool,
    /// Connection state recovery: the server's session id, and the last event's offset.
    pid: Option<String>,
    offset: Option<String>,
    /// The pid the current attempt asked to recover.
    asked: Option<String>,
}

impl Connection {
    pub fn new(url: String, nsp: String, config: &super::HubConfig, seed: u64) -> Connection {
        Connection {
            url,
            nsp,
            reconnection: config.reconnection,
            backoff: config.backoff,
            connect_timeout_ms: config.connect_timeout_ms,
            rng: Rng::new(seed),
            state: State::Idle,
            next_conn: 0,
            attempt: 0,
            ping_deadline: None,
            partial: None,
            online: true,
            pid: None,
            offset: None,
            asked: None,
        }
    }

    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// Opens a new socket (a fresh attempt count when `fresh`).
    pub fn start(&mut self, fresh: bool, now: Millis, out: &mut Out) {
        if fresh {
            self.attempt = 0;
        }
        self.next_conn += 1;
        let conn = self.next_conn;
        self.state = State::Opening { conn, deadline: now + self.connect_timeout_ms };
        self.ping_deadline = None;
        out.open(conn, self.url.clone());
    }

    /// Idle or stopped: nobody is trying to connect.
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Idle | State::Stopped { .. })
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// The socket of the current attempt, if one is open or opening.
    pub fn current(&self) -> Option<u32> {
        match &self.state {
            State::Opening { conn, .. } | State::Joining { conn, .. } | State::Connected { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status(&self) -> Status {
        if !self.online && !matches!(self.state, State::Connected { .. } | State::Stopped { .. }) {
            return Status::Offline;
        }
        match &self.state {
            State::Idle | State::Opening { .. } | State::Joining { .. } => Status::Connecting,
            State::Connected { sid, .. } => Status::Connected { sid: sid.clone() },
            State::Backoff { attempt, delay, .. } => {
                Status::Reconnecting { attempt: *attempt, delay_ms: (*delay).min(u32::MAX as u64) as u32 }
            }
            State::Stopped { reason } => Status::Disconnected { reason: reason.clone() },
        }
    }

    /// The browser's network state; back online skips the rest of a backoff.
    pub fn set_online(&mut self, online: bool, now: Millis, out: &mut Out) {
        self.online = online;
        if online && matches!(self.state, State::Backoff { .. }) {
            self.start(false, now, out);
        }
    }

    pub fn max_payload(&self) -> usize {
        match &self.state {
            State::Joining { hs, .. } | State::Connected { hs, .. } => hs.max_payload.min(usize::MAX as u64) as usize,
            _ => port::MAX_PORT_MESSAGE,
        }
    }

    /// Ends the session: closes the socket if one is open and moves to the state `end`
    /// says. `tabs`: whether any tab still needs the connection. The hub's teardown calls
    /// this once per session end, after putting back what the session held.
    pub fn end_session(&mut self, end: End, tabs: bool, now: Millis, out: &mut Out) {
        if self.current().is_some() {
            out.close();
        }
        self.ping_deadline = None;
        self.partial = None;
        self.state = match end {
            End::Lost(_) if !tabs => State::Idle,
            End::Lost(reason) if !self.reconnection => State::Stopped { reason },
            End::Lost(_) => {
                let delay = self.backoff.delay_ms(self.attempt, &mut self.rng);
                self.attempt = self.attempt.saturating_add(1);
                State::Backoff { until: now + delay, attempt: self.attempt, delay }
            }
            End::Stopped(reason) => State::Stopped { reason },
            End::Idle => State::Idle,
        };
    }

    /// Our namespace CONNECT with `auth` (a JSON object, or empty) as its payload, plus
    /// `pid` and `offset` when the server gave us a session to recover (fields of `auth`
    /// win, as in socket.io-client's `Object.assign({pid, offset}, auth)`).
    pub fn connect_packet(&mut self, auth: &str) -> String {
        self.asked = self.pid.clone().filter(|_| self.offset.is_some());
        let payload = match (&self.asked, &self.offset) {
            (Some(pid), Some(offset)) => {
                let mut fields = String::from("{\"pid\":");
                json::write_string(&mut fields, pid);
                fields.push_str(",\"offset\":");
                json::write_string(&mut fields, offset);
                match auth.trim().strip_prefix('{') {
                    Some(rest) if !rest.trim_start().starts_with('}') => format!("{fields},{rest}"),
                    _ => format!("{fields}}}"),
                }
            }
            _ => auth.to_string(),
        };
        socketio::encode(Kind::Connect, &self.nsp, 0, None, &payload)
    }

    /// An event's arguments (without an ack id): with a recoverable session, a string last
    /// argument is the offset to resume from (socket.io-client reads it the same way).
    pub fn note_offset(&mut self, args: &str) {
        if self.pid.is_some() {
            if let Some(offset) = json::last_string(args) {
                self.offset = Some(offset);
            }
        }
    }

    /// The CONNECT reply: our session id, and the recovery session if the server offers one.
    fn connected(&mut self, data: &str, out: &mut Out) -> Option<bool> {
        let reply = json::parse(data).ok();
        let field = |name: &str| reply.as_ref().and_then(|v| v.get(name));
        let sid = match field("sid").and_then(Value::as_str) {
            Some(sid) => String::from(sid),
            None => {
                out.log(format!("CONNECT reply without a sid ({data:?}); connected without one"));
                String::new()
            }
        };
        let pid = match field("pid") {
            None => None,
            Some(Value::String(pid)) => Some(pid.clone()),
            Some(other) => {
                out.log(format!("CONNECT reply with a pid that is not a string ({other:?}); no recovery"));
                None
            }
        };
        let recovered = self.asked.take().map(|asked| pid.as_deref() == Some(asked.as_str()));
        if pid != self.pid {
            self.offset = None;
        }
        self.pid = pid;
        if let State::Joining { conn, hs, .. } = &self.state {
            self.state = State::Connected { conn: *conn, hs: hs.clone(), sid };
        }
        self.attempt = 0;
        recovered
    }

    pub fn handle_text(&mut self, conn: u32, text: &str, now: Millis, out: &mut Out) -> Option<Inbound> {
        if self.current() != Some(conn) {
            return None;
        }
        if self.partial.take().is_some() {
            out.log("text frame while waiting for binary attachments; dropped the partial packet".into());
        }
        let packet = match engineio::decode(text) {
            Ok(p) => p,
            Err(e) => {
                out.log(format!("ignored frame from server: {e}"));
                return None;
            }
        };
        match packet {
            EioPacket::Open(hs) => {
                let State::Opening { conn, deadline } = self.state else {
                    out.log("unexpected Engine.IO OPEN; ignored".into());
                    return None;
                };
                self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                self.state = State::Joining { conn, deadline, hs };
                Some(Inbound::Open)
            }
            EioPacket::Ping(payload) => {
                if let State::Joining { hs, .. } | State::Connected { hs, .. } = &self.state {
                    self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                }
                out.send_raw(format!("{}{payload}", engineio::PONG));
                None
            }
            EioPacket::Close => Some(Inbound::Ended(End::Lost("server closed the transport".into()))),
            EioPacket::Message(m) => self.handle_sio(m, out),
            EioPacket::Pong(_) | EioPacket::Upgrade | EioPacket::Noop => None,
        }
    }

    fn handle_sio(&mut self, text: &str, out: &mut Out) -> Option<Inbound> {
        let p = match socketio::decode(text) {
            Ok(p) => p,
            Err(e) => {
                out.log(format!("ignored packet from server: {e}"));
                return None;
            }
        };
        if p.nsp != self.nsp {
            return None;
        }
        match p.kind {
            Kind::Connect => {
                if !matches!(self.state, State::Joining { .. }) {
                    out.log("unexpected CONNECT; ignored".into());
                    return None;
                }
                let recovered = self.connected(p.data, out);
                Some(Inbound::Connected { recovered })
            }
            Kind::ConnectError => {
                let reason = connect_error_reason(p.data);
                Some(Inbound::Ended(if reason == INVALID_NAMESPACE {
                    // A server that is starting or shutting down has no namespaces for a
                    // moment (socketioxide's close() removes them before it closes the
                    // sockets): a refusal that would strand queued events if taken as final.
                    End::Lost(format!("connect_error: {reason} (retrying)"))
                } else {
                    End::Stopped(format!("connect_error: {reason}"))
                }))
            }
            Kind::Disconnect => Some(Inbound::Ended(End::Stopped("io server disconnect".into()))),
            Kind::Event | Kind::Ack | Kind::BinaryEvent | Kind::BinaryAck => {
                let packet = Packet { kind: p.kind, id: p.id, data: p.data.to_string(), bins: Vec::new() };
                if p.attachments == 0 {
                    return Some(Inbound::Packet(packet));
                }
                self.partial = Some(Partial { packet, need: p.attachments, bytes: 0 });
                None
            }
        }
    }

    /// A binary frame: the next attachment of the packet being reassembled.
    pub fn handle_binary(&mut self, conn: u32, bytes: &[u8], out: &mut Out) -> Option<Inbound> {
        if self.current() != Some(conn) {
            return None;
        }
        let max = self.max_payload();
        let Some(p) = self.partial.as_mut() else {
            out.log(format!("unexpected binary frame of {} bytes; ignored", bytes.len()));
            return None;
        };
        p.bytes += bytes.len();
        if p.bytes > max {
            self.partial = None;
            out.log(format!("binary attachments exceed maxPayload ({max} bytes); dropped"));
            return None;
        }
        p.packet.bins.push(Bytes(bytes.to_vec()));
        if p.packet.bins.len() < p.need {
            return None;
        }
        self.partial.take().map(|p| Inbound::Packet(p.packet))
    }

    /// Deadlines: connect timeout, heartbeat, end of a backoff. Returns the session end a
    /// timeout caused; a backoff that ran out starts the next attempt itself.
    pub fn handle_timeout(&mut self, now: Millis, out: &mut Out) -> Option<End> {
        match self.state {
            State::Opening { deadline, .. } | State::Joining { deadline, .. } if now >= deadline => {
                return Some(End::Lost("connect timeout".into()))
            }
            State::Backoff { until, .. } if now >= until && self.online => self.start(false, now, out),
            _ => {}
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            return Some(End::Lost("ping timeout".into()));
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        let state = match &self.state {
            State::Opening { deadline, .. } | State::Joining { deadline, .. } => Some(*deadline),
            State::Backoff { until, .. } if self.online => Some(*until),
            _ => None,
        };
        [state, self.ping_deadline].into_iter().flatten().min()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    const HS: &str = r#"0{"sid":"e","upgrades":[],"pingInterval":100,"pingTimeout":50,"maxPayload":1000}"#;

    fn connected(now: Millis) -> (Connection, Out) {
        let mut c = Connection::new("ws://h/".into(), "/".into(), &HubConfig::default(), 1);
        let mut out = Out::new(1);
        c.start(true, now, &mut out);
        assert!(matches!(c.handle_text(1, HS, now, &mut out), Some(Inbound::Open)));
        assert!(matches!(c.handle_text(1, r#"40{"sid":"s"}"#, now, &mut out), Some(Inbound::Connected { .. })));
        (c, out)
    }

    #[test]
    fn silence_past_interval_plus_timeout_ends_the_session() {
        let (mut c, mut out) = connected(0);
        assert_eq!(c.poll_timeout(), Some(150));
        assert_eq!(c.handle_timeout(149, &mut out), None);
        assert_eq!(c.handle_timeout(150, &mut out), Some(End::Lost("ping timeout".into())));
    }

    #[test]
    fn end_session_closes_once_and_backs_off_only_with_tabs() {
        let (mut c, mut out) = connected(0);
        while out.pop().is_some() {}
        c.end_session(End::Lost("x".into()), false, 10, &mut out);
        assert!(matches!(out.pop(), Some(super::super::Output::Close { .. })));
        assert!(c.is_down() && c.poll_timeout().is_none(), "no tabs: idle, no deadline");
        c.end_session(End::Idle, true, 10, &mut out);
        assert!(out.pop().is_none(), "nothing open, nothing to close");
    }

    #[test]
    fn attachments_are_reassembled_and_bounded_by_max_payload() {
        let (mut c, mut out) = connected(0);
        assert!(c.handle_text(1, r#"451-["b",{"_placeholder":true,"num":0}]"#, 0, &mut out).is_none());
        let Some(Inbound::Packet(p)) = c.handle_binary(1, &[1, 2], &mut out) else { panic!("packet expected") };
        assert_eq!(p.bins, [Bytes(alloc::vec![1, 2])]);
        assert!(c.handle_text(1, r#"451-["b",{"_placeholder":true,"num":0}]"#, 0, &mut out).is_none());
        assert!(c.handle_binary(1, &[0; 1001], &mut out).is_none(), "over maxPayload: dropped");
        assert!(c.handle_binary(1, &[0], &mut out).is_none(), "nothing waits for it any more");
    }

    #[test]
    fn a_recoverable_session_asks_for_recovery_with_its_pid_and_last_offset() {
        let mut c = Connection::new("ws://h/".into(), "/".into(), &HubConfig::default(), 1);
        let mut out = Out::new(1);
        c.start(true, 0, &mut out);
        c.handle_text(1, HS, 0, &mut out);
        assert_eq!(c.connect_packet(r#"{"token":"t"}"#), r#"0{"token":"t"}"#, "nothing to recover yet");
        let Some(Inbound::Connected { recovered }) = c.handle_text(1, r#"40{"sid":"s","pid":"p1"}"#, 0, &mut out)
        else {
            panic!("connected")
        };
        assert_eq!(recovered, None, "a first connection recovers nothing");
        c.note_offset(r#"[1,"o-1"]"#);
        c.note_offset(r#"[{"x":1}]"#);
        c.end_session(End::Lost("x".into()), true, 0, &mut out);
        c.start(false, 0, &mut out);
        c.handle_text(2, HS, 0, &mut out);
        assert_eq!(c.connect_packet(r#"{"token":"t"}"#), r#"0{"pid":"p1","offset":"o-1","token":"t"}"#);
        let Some(Inbound::Connected { recovered }) = c.handle_text(2, r#"40{"sid":"s2","pid":"p1"}"#, 0, &mut out)
        else {
            panic!("connected")
        };
        assert_eq!(recovered, Some(true));
    }

    #[test]
    fn a_malformed_recovery_leaves_the_hub_connected_without_it() {
        let mut c = Connection::new("ws://h/".into(), "/".into(), &HubConfig::default(), 1);
        let mut out = Out::new(1);
        c.start(true, 0, &mut out);
        c.handle_text(1, HS, 0, &mut out);
        assert!(matches!(
            c.handle_text(1, r#"40{"pid":7}"#, 0, &mut out),
            Some(Inbound::Connected { recovered: None })
        ));
        assert!(c.is_connected());
        c.note_offset(r#"["o"]"#);
        assert_eq!(c.connect_packet(""), "0", "no pid: no recovery asked");
        let logs: Vec<_> = core::iter::from_fn(|| out.pop()).collect();
        assert!(logs.iter().any(|l| matches!(l, super::super::Output::Log(m) if m.contains("without a sid"))));
        assert!(logs.iter().any(|l| matches!(l, super::super::Output::Log(m) if m.contains("not a string"))));
    }

    #[test]
    fn frames_of_a_replaced_socket_are_ignored() {
        let (mut c, mut out) = connected(0);
        c.end_session(End::Lost("x".into()), true, 0, &mut out);
        assert!(c.handle_text(1, "41", 0, &mut out).is_none());
    }
}
