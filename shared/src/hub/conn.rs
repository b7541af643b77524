//! The connection: one Engine.IO session over a WebSocket, shared by every namespace of
//! the hub (Socket.IO multiplexes them), the heartbeat, reconnection with backoff, and the
//! reassembly of binary packets. Namespaces (their CONNECT, recovery, acks) are `space/`.
//! Invariant: a session ends only through [`Connection::end_session`], which the hub calls
//! from its one teardown; frames of a replaced socket (older `conn`) are ignored.

use super::out::Out;
use super::Millis;
use crate::backoff::{BackoffConfig, Rng};
use crate::engineio::{self, EioPacket, Handshake};
use crate::port::{self, Bytes, Status};
use crate::socketio::{self, Kind};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// No socket and not trying.
    Idle,
    /// WebSocket requested; waiting for the Engine.IO OPEN packet.
    Opening { conn: u32, deadline: Millis },
    /// Engine.IO open: namespaces may CONNECT.
    Open { conn: u32, hs: Handshake },
    /// Waiting before the next attempt.
    Backoff { until: Millis, attempt: u32, delay: u64, reason: String },
    /// The server refused or ended the session, or (`failed`) `reconnectionAttempts` attempts
    /// failed in a row; a new tab (or a sign-in) starts again.
    Stopped { reason: String, failed: bool },
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

/// A complete Socket.IO packet (binary attachments reassembled) for a namespace.
#[derive(Debug)]
pub struct Packet {
    pub nsp: String,
    pub kind: Kind,
    pub id: Option<u64>,
    pub data: String,
    pub bins: Vec<Bytes>,
}

/// What a frame meant for the hub.
#[derive(Debug)]
pub enum Inbound {
    /// Engine.IO is open: the namespaces send their CONNECT now.
    Open,
    /// The server ended the Engine.IO session.
    Ended(End),
    /// A heartbeat from the server (already answered).
    Ping,
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
    reconnection: bool,
    max_attempts: u32,
    backoff: BackoffConfig,
    connect_timeout_ms: u64,
    rng: Rng,
    state: State,
    next_conn: u32,
    attempt: u32,
    ping_deadline: Option<Millis>,
    partial: Option<Partial>,
    online: bool,
}

impl Connection {
    pub fn new(url: String, config: &super::HubConfig, seed: u64) -> Connection {
        Connection {
            url,
            reconnection: config.reconnection,
            max_attempts: config.reconnection_attempts,
            backoff: config.backoff,
            connect_timeout_ms: config.connect_timeout_ms,
            rng: Rng::new(seed),
            state: State::Idle,
            next_conn: 0,
            attempt: 0,
            ping_deadline: None,
            partial: None,
            online: true,
        }
    }

    /// Takes new connection options (the next attempt uses them).
    pub fn configure(&mut self, config: &super::HubConfig) {
        self.reconnection = config.reconnection;
        self.max_attempts = config.reconnection_attempts;
        self.backoff = config.backoff;
        self.connect_timeout_ms = config.connect_timeout_ms;
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

    /// Engine.IO is open: namespaces can CONNECT and send.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// The socket of the current attempt, if one is open or opening.
    pub fn current(&self) -> Option<u32> {
        match &self.state {
            State::Opening { conn, .. } | State::Open { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sockets opened so far (the first connection and every reconnection attempt).
    pub fn sockets_opened(&self) -> u32 {
        self.next_conn
    }

    /// The status before any namespace refines it (an open link is "connecting" until the
    /// namespace's CONNECT reply).
    pub fn status(&self) -> Status {
        if !self.online && !matches!(self.state, State::Open { .. } | State::Stopped { .. }) {
            return Status::Offline;
        }
        match &self.state {
            State::Idle | State::Opening { .. } | State::Open { .. } => Status::Connecting,
            State::Backoff { attempt, delay, reason, .. } => Status::Reconnecting {
                attempt: *attempt,
                delay_ms: (*delay).min(u32::MAX as u64) as u32,
                reason: reason.clone(),
            },
            State::Stopped { reason, failed: false } => Status::Disconnected { reason: reason.clone() },
            State::Stopped { reason, failed: true } => Status::Failed { reason: reason.clone() },
        }
    }

    /// Waiting before the next attempt (a "retry now" can skip the wait).
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Backoff { .. })
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
            State::Open { hs, .. } => hs.max_payload.min(usize::MAX as u64) as usize,
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
            End::Lost(reason) if !self.reconnection => State::Stopped { reason, failed: false },
            End::Lost(reason) if self.max_attempts > 0 && self.attempt >= self.max_attempts => {
                let reason = format!("gave up after {} reconnection attempts; the last: {reason}", self.attempt);
                State::Stopped { reason, failed: true }
            }
            End::Lost(reason) => {
                let delay = self.backoff.delay_ms(self.attempt, &mut self.rng);
                self.attempt = self.attempt.saturating_add(1);
                State::Backoff { until: now + delay, attempt: self.attempt, delay, reason }
            }
            End::Stopped(reason) => State::Stopped { reason, failed: false },
            End::Idle => State::Idle,
        };
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
                let State::Opening { conn, .. } = self.state else {
                    out.log("unexpected Engine.IO OPEN; ignored".into());
                    return None;
                };
                self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                self.state = State::Open { conn, hs };
                // Reconnected: the backoff starts over (socket.io-client's Manager does the same).
                self.attempt = 0;
                Some(Inbound::Open)
            }
            EioPacket::Ping(payload) => {
                if let State::Open { hs, .. } = &self.state {
                    self.ping_deadline = Some(now + hs.ping_interval_ms + hs.ping_timeout_ms);
                }
                out.send_raw(format!("{}{payload}", engineio::PONG));
                Some(Inbound::Ping)
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
        let packet =
            Packet { nsp: p.nsp.to_string(), kind: p.kind, id: p.id, data: p.data.to_string(), bins: Vec::new() };
        let binary = matches!(p.kind, Kind::BinaryEvent | Kind::BinaryAck | Kind::Event | Kind::Ack);
        if p.attachments == 0 || !binary {
            return Some(Inbound::Packet(packet));
        }
        self.partial = Some(Partial { packet, need: p.attachments, bytes: 0 });
        None
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
            State::Opening { deadline, .. } if now >= deadline => return Some(End::Lost("connect timeout".into())),
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
            State::Opening { deadline, .. } => Some(*deadline),
            State::Backoff { until, .. } if self.online => Some(*until),
            _ => None,
        };
        [state, self.ping_deadline].into_iter().flatten().min()
    }
}

/// What a plain HTTP request to the server told, after a WebSocket that never opened: a
/// browser says nothing of why an upgrade failed, so the shell asks the same URL over
/// Engine.IO's polling transport ([`probe_url`]) and the hub reports the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The server answered (readable: same origin, or CORS allowed it): status and body.
    Http(u16, String),
    /// A server answered, but not readably for this origin (CORS refused it).
    Opaque,
    /// No answer: connection refused, unknown host, TLS failure or offline.
    Unreachable,
}

/// The polling URL that asks the same server what the WebSocket `ws_url` could not:
/// `ws(s)://…transport=websocket…` → `http(s)://…transport=polling…`.
pub fn probe_url(ws_url: &str) -> Option<String> {
    let rest = ws_url.strip_prefix("ws").filter(|r| r.starts_with("://") || r.starts_with("s://"))?;
    Some(format!("http{rest}").replacen("transport=websocket", "transport=polling", 1))
}

/// `host:port` of a URL (the whole text if it has no scheme).
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// Longest server text a failed attempt quotes.
const MAX_QUOTED: usize = 200;

/// Most bytes of a probe's answer the worker reads (the rest is cancelled unread): a server
/// that answers with an endless or huge body costs the hub this much and no more.
pub const PROBE_READ_MAX: usize = 4 * MAX_QUOTED;

/// Why an attempt whose WebSocket never opened failed, for the tabs' `statusDetail.reason`.
/// `host`: the server's address; `origin`: the page's.
pub fn failure_reason(probe: &Probe, host: &str, origin: &str) -> String {
    match probe {
        Probe::Http(status, _) if (200..300).contains(status) => {
            format!("{host} answers HTTP but refused the WebSocket upgrade (a proxy without WebSocket support?)")
        }
        Probe::Http(status, body) => {
            let mut text: String = body.chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect();
            if text.trim().is_empty() {
                text = String::from("no explanation");
            }
            format!("the server refused the connection: HTTP {status}: {}", text.trim())
        }
        Probe::Opaque => format!(
            "{host} answers but refused this page's origin {origin} (its origin check or CORS; the reference backend allows it with --allow-origin {origin})"
        ),
        Probe::Unreachable => format!("cannot reach {host} (connection refused, unknown host, or offline)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    const HS: &str = r#"0{"sid":"e","upgrades":[],"pingInterval":100,"pingTimeout":50,"maxPayload":1000}"#;

    fn open(now: Millis) -> (Connection, Out) {
        let mut c = Connection::new("ws://h/".into(), &HubConfig::default(), 1);
        let mut out = Out::new(1);
        c.start(true, now, &mut out);
        assert!(matches!(c.handle_text(1, HS, now, &mut out), Some(Inbound::Open)));
        (c, out)
    }

    #[test]
    fn silence_past_interval_plus_timeout_ends_the_session() {
        let (mut c, mut out) = open(0);
        assert_eq!(c.poll_timeout(), Some(150));
        assert_eq!(c.handle_timeout(149, &mut out), None);
        assert_eq!(c.handle_timeout(150, &mut out), Some(End::Lost("ping timeout".into())));
    }

    #[test]
    fn end_session_closes_once_and_backs_off_only_with_tabs() {
        let (mut c, mut out) = open(0);
        while out.pop().is_some() {}
        c.end_session(End::Lost("x".into()), false, 10, &mut out);
        assert!(matches!(out.pop(), Some(super::super::Output::Close { .. })));
        assert!(c.is_down() && c.poll_timeout().is_none(), "no tabs: idle, no deadline");
        c.end_session(End::Idle, true, 10, &mut out);
        assert!(out.pop().is_none(), "nothing open, nothing to close");
    }

    #[test]
    fn packets_of_every_namespace_come_out_with_their_namespace() {
        let (mut c, mut out) = open(0);
        let Some(Inbound::Packet(p)) = c.handle_text(1, r#"42/chat,["m",1]"#, 0, &mut out) else { panic!("a packet") };
        assert_eq!((p.nsp.as_str(), p.kind), ("/chat", Kind::Event));
        let Some(Inbound::Packet(p)) = c.handle_text(1, r#"44/news,{"message":"no"}"#, 0, &mut out) else {
            panic!("a packet")
        };
        assert_eq!((p.nsp.as_str(), p.kind), ("/news", Kind::ConnectError));
    }

    #[test]
    fn attachments_are_reassembled_and_bounded_by_max_payload() {
        let (mut c, mut out) = open(0);
        assert!(c.handle_text(1, r#"451-["b",{"_placeholder":true,"num":0}]"#, 0, &mut out).is_none());
        let Some(Inbound::Packet(p)) = c.handle_binary(1, &[1, 2], &mut out) else { panic!("packet expected") };
        assert_eq!(p.bins, [Bytes(alloc::vec![1, 2])]);
        assert!(c.handle_text(1, r#"451-["b",{"_placeholder":true,"num":0}]"#, 0, &mut out).is_none());
        assert!(c.handle_binary(1, &[0; 1001], &mut out).is_none(), "over maxPayload: dropped");
        assert!(c.handle_binary(1, &[0], &mut out).is_none(), "nothing waits for it any more");
    }

    #[test]
    fn frames_of_a_replaced_socket_are_ignored() {
        let (mut c, mut out) = open(0);
        c.end_session(End::Lost("x".into()), true, 0, &mut out);
        assert!(c.handle_text(1, "41", 0, &mut out).is_none());
    }
}
