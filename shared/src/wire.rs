//! Postcard's wire format, written out by hand for the page's two directions: encoding
//! `ToHub` and decoding `FromHub` (the hub's two, `wire_hub.rs`, share the `Reader`). serde +
//! postcard (`port::encode`/`port::decode`) remain the reference the tests hold both to;
//! neither wasm carries them, as serde's generic visitors cost several KB. Invariant: for every message,
//! `encode_to_hub(m) == port::encode(m)` and `decode_from_hub(b)` accepts exactly what
//! `port::decode::<FromHub>(b)` accepts, with the same value (tested against postcard).
//! `read_from_hub` is the page's zero-copy form: a `FromHubRef` borrowing from the bytes.
//!
//! The format: unsigned integers are LEB128 varints (u16 at most 3 bytes, u32 5, u64 10,
//! with the unused high bits of the last byte zero), i64 is zigzag then varint, f32 is 4
//! little-endian bytes, bool is one byte 0/1, Option is a 0/1 tag then the value, strings,
//! byte strings and sequences are a varint length then their contents, enum variants are a
//! varint index then their fields in declaration order, structs are their fields in order.

use crate::port::{AuthState, AuthTelemetry, Bytes, DecodeError, ErrorCode, FromHub, Status, ToHub, MAX_PORT_MESSAGE};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn opt_str(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        Some(s) => {
            out.push(1);
            bytes(out, s.as_bytes());
        }
        None => out.push(0),
    }
}

pub(crate) fn bins(out: &mut Vec<u8>, list: &[Bytes]) {
    varint(out, list.len() as u64);
    for b in list {
        bytes(out, &b.0);
    }
}

/// The bytes `port::encode(msg)` produces, without serde.
pub fn encode_to_hub(msg: &ToHub) -> Vec<u8> {
    let mut out = Vec::new();
    let o = &mut out;
    let (variant, req) = match msg {
        ToHub::Hello { .. } => (0, None),
        ToHub::Subscribe { .. } => (1, None),
        ToHub::Unsubscribe { .. } => (2, None),
        ToHub::Emit { seq, .. } => (3, Some(*seq)),
        ToHub::Reply { token, .. } => (4, Some(*token)),
        ToHub::Join { req, .. } => (5, Some(*req)),
        ToHub::Leave { req, .. } => (6, Some(*req)),
        ToHub::Bye => (7, None),
        ToHub::Login { req, .. } => (8, Some(*req)),
        ToHub::Logout { req } => (9, Some(*req)),
        ToHub::Refresh { req } => (10, Some(*req)),
        ToHub::Token { req } => (11, Some(*req)),
        ToHub::Priority { .. } => (12, None),
        ToHub::EmitTo { seq, .. } => (13, Some(*seq)),
    };
    varint(o, variant);
    if let Some(n) = req {
        varint(o, n.into());
    }
    match msg {
        ToHub::Hello { version, tab, endpoint, auth, options } => {
            varint(o, (*version).into());
            for s in [tab, &endpoint.url, &endpoint.path, &endpoint.namespace, &endpoint.query] {
                bytes(o, s.as_bytes());
            }
            opt_str(o, auth);
            let p = options;
            o.push(p.reconnection as u8);
            varint(o, p.reconnection_delay_ms.into());
            varint(o, p.reconnection_delay_max_ms.into());
            o.extend_from_slice(&p.randomization_factor.to_le_bytes());
            for n in [p.timeout_ms, p.max_queue, p.max_queue_bytes] {
                varint(o, n.into());
            }
            varint(o, p.max_queue_age_ms);
            o.push(p.bearer as u8);
            varint(o, p.reconnection_attempts.into());
        }
        ToHub::Subscribe { event } | ToHub::Unsubscribe { event } => bytes(o, event.as_bytes()),
        ToHub::Emit { event, args, bins: b, ack, volatile, .. } => {
            bytes(o, event.as_bytes());
            bytes(o, args.as_bytes());
            bins(o, b);
            match ack {
                Some(a) => {
                    o.push(1);
                    varint(o, a.id.into());
                    varint(o, a.timeout_ms.into());
                }
                None => o.push(0),
            }
            o.push(*volatile as u8);
        }
        ToHub::Reply { args, bins: b, .. } => {
            bytes(o, args.as_bytes());
            bins(o, b);
        }
        ToHub::Join { room, .. } | ToHub::Leave { room, .. } => bytes(o, room.as_bytes()),
        ToHub::Login { username, password, .. } => {
            bytes(o, username.as_bytes());
            bytes(o, password.as_bytes());
        }
        ToHub::Priority { level, scope, term } => {
            o.push(*level);
            o.push(*scope);
            varint(o, *term);
        }
        ToHub::EmitTo { room, event, args, bins: b, .. } => {
            bytes(o, room.as_bytes());
            bytes(o, event.as_bytes());
            bytes(o, args.as_bytes());
            bins(o, b);
        }
        ToHub::Bye | ToHub::Logout { .. } | ToHub::Refresh { .. } | ToHub::Token { .. } => {}
    }
    out
}

/// Reads postcard values. Errors are sticky: after the first one every read returns a
/// default and `bad` is set, so decoding is straight-line code checked once at the end.
pub(crate) struct Reader<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) bad: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn fail<T: Default>(&mut self) -> T {
        self.bad = true;
        self.b = &[];
        T::default()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.b.split_first() {
            Some((&first, rest)) => {
                self.b = rest;
                first
            }
            None => self.fail(),
        }
    }

    /// A varint of at most `bits` bits, checked like postcard checks it.
    pub(crate) fn varint(&mut self, bits: u32) -> u64 {
        let max = bits.div_ceil(7);
        let mut out = 0u64;
        for i in 0..max {
            let b = self.byte();
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && u32::from(b) >= 1u32 << (bits % 7) {
                    break;
                }
                return out;
            }
        }
        self.fail()
    }

    pub(crate) fn u32(&mut self) -> u32 {
        self.varint(32) as u32
    }

    pub(crate) fn flag(&mut self) -> bool {
        match self.byte() {
            0 => false,
            1 => true,
            _ => self.fail(),
        }
    }

    /// A length; every element takes at least one byte, so a longer one is a lie.
    pub(crate) fn len(&mut self) -> usize {
        let n = self.varint(usize::BITS);
        if n > self.b.len() as u64 {
            return self.fail();
        }
        n as usize
    }

    pub(crate) fn bytes(&mut self) -> &'a [u8] {
        let n = self.len();
        // `len` checked n against what is left; no panicking path (its message would pull
        // core::fmt into the page's wasm).
        let (head, rest) = self.b.split_at_checked(n).unwrap_or_default();
        self.b = rest;
        head
    }

    pub(crate) fn str(&mut self) -> &'a str {
        match core::str::from_utf8(self.bytes()) {
            Ok(s) => s,
            Err(_) => self.fail(),
        }
    }

    pub(crate) fn opt_str(&mut self) -> Option<&'a str> {
        if self.flag() {
            Some(self.str())
        } else {
            None
        }
    }

    fn skip_bytes(&mut self) {
        self.bytes();
    }

    fn skip_str(&mut self) {
        self.str();
    }

    fn skip_count(&mut self) {
        self.str();
        self.u32();
    }

    /// A sequence of `n` elements read by `item`, kept as its raw bytes (see [`List`]).
    fn list(&mut self, item: fn(&mut Self)) -> List<'a> {
        let n = self.len();
        let start = self.b;
        for _ in 0..n {
            item(self);
        }
        List { n, raw: start.get(..start.len() - self.b.len()).unwrap_or_default() }
    }

    fn status(&mut self) -> StatusRef<'a> {
        let kind = self.u32();
        let (mut text, mut attempt, mut delay_ms) = ("", 0, 0);
        match kind {
            1 | 4 | 5 => text = self.str(),
            3 => (attempt, delay_ms, text) = (self.u32(), self.u32(), self.str()),
            0 | 2 => {}
            _ => self.fail(),
        }
        StatusRef { kind, text, attempt, delay_ms }
    }
}

/// A sequence read and checked once; iterating reads it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct List<'a> {
    pub n: usize,
    raw: &'a [u8],
}

impl<'a> List<'a> {
    fn each<T>(self, mut item: impl FnMut(&mut Reader<'a>) -> T + 'a) -> impl Iterator<Item = T> + 'a {
        let mut r = Reader { b: self.raw, bad: false };
        (0..self.n).map(move |_| item(&mut r))
    }

    /// The elements of a byte-string list (attachments).
    pub fn bytes(self) -> impl Iterator<Item = &'a [u8]> {
        self.each(Reader::bytes)
    }

    /// The elements of a string list (tab ids).
    pub fn strs(self) -> impl Iterator<Item = &'a str> {
        self.each(Reader::str)
    }

    /// The elements of a `(String, u32)` list (telemetry counters).
    pub fn counts(self) -> impl Iterator<Item = (&'a str, u32)> {
        self.each(|r| (r.str(), r.u32()))
    }
}

/// `port::Status`, borrowed: `kind` is the variant index, `text` the sid or the reason (of
/// a disconnection, a failure, or the last failed attempt while reconnecting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRef<'a> {
    pub kind: u32,
    pub text: &'a str,
    pub attempt: u32,
    pub delay_ms: u32,
}

impl StatusRef<'_> {
    pub fn to_owned(self) -> Status {
        match self.kind {
            0 => Status::Connecting,
            1 => Status::Connected { sid: self.text.into() },
            2 => Status::Offline,
            3 => Status::Reconnecting { attempt: self.attempt, delay_ms: self.delay_ms, reason: self.text.into() },
            4 => Status::Disconnected { reason: self.text.into() },
            _ => Status::Failed { reason: self.text.into() },
        }
    }

    /// What pages call it: `connecting`, `connected`, ...
    pub fn name(&self) -> &'static str {
        ["connecting", "connected", "offline", "reconnecting", "disconnected", "failed"][self.kind as usize % 6]
    }
}

/// `port::AuthState`, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRef<'a> {
    pub user: Option<&'a str>,
    pub expires_at: Option<u64>,
    pub error: Option<&'a str>,
    pub signed_out: Option<&'a str>,
    pub refreshes: u32,
    pub last_ms: u32,
    pub max_ms: u32,
    pub total_ms: u64,
    pub failures: List<'a>,
    pub sign_outs: List<'a>,
}

/// `port::FromHub`, borrowed from the bytes it was read from: no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromHubRef<'a> {
    Welcome { version: u16, status: StatusRef<'a> },
    Status(StatusRef<'a>),
    Event { event: &'a str, room: Option<&'a str>, args: &'a str, bins: List<'a>, reply: Option<u32> },
    Ack { id: u32, args: &'a str, bins: List<'a> },
    AckFailed { id: u32, reason: &'a str },
    Done { req: u32, error: Option<&'a str> },
    Tabs { tabs: List<'a> },
    Stored { seq: u32 },
    Refused { seq: u32, reason: &'a str },
    Clock { offset_ms: i64, rtt_ms: u32 },
    Recovered { recovered: bool },
    Auth(AuthRef<'a>),
    Token { req: u32, token: Option<&'a str>, error: Option<&'a str> },
    Error { code: u32, message: &'a str },
}

/// Reads a whole message from the hub without copying; like `port::decode`, bytes after
/// the message make it malformed.
pub fn read_from_hub(bytes: &[u8]) -> Result<FromHubRef<'_>, DecodeError> {
    match take_from_hub(bytes)? {
        (msg, []) => Ok(msg),
        _ => Err(DecodeError::Malformed),
    }
}

/// Reads the first message of `bytes` without copying and returns the bytes after it: the
/// hub's port messages carry one or more messages back to back.
pub fn take_from_hub(bytes: &[u8]) -> Result<(FromHubRef<'_>, &[u8]), DecodeError> {
    if bytes.len() > MAX_PORT_MESSAGE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let r = &mut Reader { b: bytes, bad: false };
    let msg = match r.u32() {
        0 => FromHubRef::Welcome { version: r.varint(16) as u16, status: r.status() },
        1 => FromHubRef::Status(r.status()),
        2 => FromHubRef::Event {
            event: r.str(),
            room: r.opt_str(),
            args: r.str(),
            bins: r.list(Reader::skip_bytes),
            reply: if r.flag() { Some(r.u32()) } else { None },
        },
        3 => FromHubRef::Ack { id: r.u32(), args: r.str(), bins: r.list(Reader::skip_bytes) },
        4 => FromHubRef::AckFailed { id: r.u32(), reason: r.str() },
        5 => FromHubRef::Done { req: r.u32(), error: r.opt_str() },
        6 => FromHubRef::Tabs { tabs: r.list(Reader::skip_str) },
        7 => FromHubRef::Stored { seq: r.u32() },
        8 => FromHubRef::Refused { seq: r.u32(), reason: r.str() },
        9 => {
            let z = r.varint(64);
            FromHubRef::Clock { offset_ms: (z >> 1) as i64 ^ -((z & 1) as i64), rtt_ms: r.u32() }
        }
        10 => FromHubRef::Recovered { recovered: r.flag() },
        11 => FromHubRef::Auth(AuthRef {
            user: r.opt_str(),
            expires_at: if r.flag() { Some(r.varint(64)) } else { None },
            error: r.opt_str(),
            signed_out: r.opt_str(),
            refreshes: r.u32(),
            last_ms: r.u32(),
            max_ms: r.u32(),
            total_ms: r.varint(64),
            failures: r.list(Reader::skip_count),
            sign_outs: r.list(Reader::skip_count),
        }),
        12 => FromHubRef::Token { req: r.u32(), token: r.opt_str(), error: r.opt_str() },
        13 => {
            let code = r.u32();
            if code as usize >= ErrorCode::ALL.len() {
                r.fail::<()>();
            }
            FromHubRef::Error { code, message: r.str() }
        }
        _ => r.fail::<FromHubRef>(),
    };
    if r.bad {
        return Err(DecodeError::Malformed);
    }
    Ok((msg, r.b))
}

impl Default for FromHubRef<'_> {
    fn default() -> Self {
        FromHubRef::Stored { seq: 0 }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn owned_bins(list: List<'_>) -> Vec<Bytes> {
    list.bytes().map(|b| Bytes(b.to_vec())).collect()
}

fn owned_counts(list: List<'_>) -> Vec<(String, u32)> {
    list.counts().map(|(k, n)| (k.into(), n)).collect()
}

impl FromHubRef<'_> {
    pub fn to_owned(&self) -> FromHub {
        match *self {
            FromHubRef::Welcome { version, status } => FromHub::Welcome { version, status: status.to_owned() },
            FromHubRef::Status(s) => FromHub::Status(s.to_owned()),
            FromHubRef::Event { event, room, args, bins, reply } => FromHub::Event {
                event: event.into(),
                room: owned(room),
                args: args.into(),
                bins: owned_bins(bins),
                reply,
            },
            FromHubRef::Ack { id, args, bins } => FromHub::Ack { id, args: args.into(), bins: owned_bins(bins) },
            FromHubRef::AckFailed { id, reason } => FromHub::AckFailed { id, reason: reason.into() },
            FromHubRef::Done { req, error } => FromHub::Done { req, error: owned(error) },
            FromHubRef::Tabs { tabs } => FromHub::Tabs { tabs: tabs.strs().map(String::from).collect() },
            FromHubRef::Stored { seq } => FromHub::Stored { seq },
            FromHubRef::Refused { seq, reason } => FromHub::Refused { seq, reason: reason.into() },
            FromHubRef::Clock { offset_ms, rtt_ms } => FromHub::Clock { offset_ms, rtt_ms },
            FromHubRef::Recovered { recovered } => FromHub::Recovered { recovered },
            FromHubRef::Auth(a) => FromHub::Auth(AuthState {
                user: owned(a.user),
                expires_at: a.expires_at,
                error: owned(a.error),
                signed_out: owned(a.signed_out),
                telemetry: AuthTelemetry {
                    refreshes: a.refreshes,
                    last_ms: a.last_ms,
                    max_ms: a.max_ms,
                    total_ms: a.total_ms,
                    failures: owned_counts(a.failures),
                    sign_outs: owned_counts(a.sign_outs),
                },
            }),
            FromHubRef::Token { req, token, error } => FromHub::Token { req, token: owned(token), error: owned(error) },
            FromHubRef::Error { code, message } => {
                FromHub::Error { code: ErrorCode::ALL[code as usize % ErrorCode::ALL.len()], message: message.into() }
            }
        }
    }
}

/// What `port::decode::<FromHub>(bytes)` returns, without serde.
pub fn decode_from_hub(bytes: &[u8]) -> Result<FromHub, DecodeError> {
    read_from_hub(bytes).map(|m| m.to_owned())
}
