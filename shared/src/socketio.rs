//! Socket.IO v5 packets: `<type>[<attachments>-][<nsp>,][<ack id>][<json>]`.
//! The hub reads a packet's header and an event's name (and routing prefix) and keeps the
//! arguments as JSON text: payloads are handed on, never re-encoded.

use crate::json::{self, JsonError, Scanner};
use alloc::string::String;
use core::fmt;

/// Largest number of binary attachments we accept on one packet.
pub const MAX_ATTACHMENTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: Kind,
    pub nsp: &'a str,
    pub attachments: usize,
    pub id: Option<u64>,
    /// The JSON payload text, possibly empty.
    pub data: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    Empty,
    UnknownType(u8),
    BadAttachments,
    BadAckId,
    BadPayload(JsonError),
    NotAnEvent,
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SioError::Empty => f.write_str("empty Socket.IO packet"),
            SioError::UnknownType(t) => write!(f, "unknown Socket.IO packet type {t}"),
            SioError::BadAttachments => f.write_str("invalid attachment count"),
            SioError::BadAckId => f.write_str("invalid ack id"),
            SioError::BadPayload(e) => write!(f, "invalid Socket.IO payload: {e}"),
            SioError::NotAnEvent => f.write_str("event payload must be an array starting with the event name"),
        }
    }
}

pub fn decode(text: &str) -> Result<Packet<'_>, SioError> {
    let b = text.as_bytes();
    let kind = match b.first() {
        None => return Err(SioError::Empty),
        Some(b'0') => Kind::Connect,
        Some(b'1') => Kind::Disconnect,
        Some(b'2') => Kind::Event,
        Some(b'3') => Kind::Ack,
        Some(b'4') => Kind::ConnectError,
        Some(b'5') => Kind::BinaryEvent,
        Some(b'6') => Kind::BinaryAck,
        Some(&t) => return Err(SioError::UnknownType(t)),
    };
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if b.get(i) != Some(&b'-') || i == start || i - start > 4 {
            return Err(SioError::BadAttachments);
        }
        attachments = text[start..i].parse::<usize>().map_err(|_| SioError::BadAttachments)?;
        if attachments > MAX_ATTACHMENTS {
            return Err(SioError::BadAttachments);
        }
        i += 1;
    }
    let mut nsp = "/";
    if b.get(i) == Some(&b'/') {
        let start = i;
        while b.get(i).is_some_and(|&c| c != b',') {
            i += 1;
        }
        nsp = &text[start..i];
        if i < b.len() {
            i += 1; // the comma
        }
    }
    let mut id = None;
    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i > start {
        if i - start > 15 {
            return Err(SioError::BadAckId);
        }
        id = Some(text[start..i].parse::<u64>().map_err(|_| SioError::BadAckId)?);
    }
    let data = &text[i..];
    if !data.is_empty() {
        json::validate(data).map_err(SioError::BadPayload)?;
    }
    match kind {
        Kind::Event | Kind::BinaryEvent | Kind::Ack | Kind::BinaryAck if !data.starts_with('[') => {
            return Err(SioError::NotAnEvent)
        }
        _ => {}
    }
    Ok(Packet { kind, nsp, attachments, id, data })
}

/// Encodes a packet header followed by `data` (already-valid JSON, or empty).
pub fn encode(kind: Kind, nsp: &str, attachments: usize, id: Option<u64>, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + nsp.len() + 16);
    push_header(&mut s, kind, nsp, attachments, id);
    s.push_str(data);
    s
}

fn push_header(s: &mut String, kind: Kind, nsp: &str, attachments: usize, id: Option<u64>) {
    use core::fmt::Write;
    let _ = write!(s, "{}", kind as u8);
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let _ = write!(s, "{attachments}-");
    }
    if nsp != "/" && !nsp.is_empty() {
        s.push_str(nsp);
        s.push(',');
    }
    if let Some(id) = id {
        let _ = write!(s, "{id}");
    }
}

/// Encodes an EVENT (or BINARY_EVENT) from an event name and its arguments given as a JSON
/// array text (`[..]`), without re-encoding the arguments.
pub fn encode_event(nsp: &str, attachments: usize, id: Option<u64>, prefix: &[&str], args_array: &str) -> String {
    let kind = if attachments > 0 { Kind::BinaryEvent } else { Kind::Event };
    let mut s = String::with_capacity(args_array.len() + nsp.len() + 32);
    push_header(&mut s, kind, nsp, attachments, id);
    s.push('[');
    for (i, p) in prefix.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json::write_string(&mut s, p);
    }
    let inner = args_array.trim().strip_prefix('[').unwrap_or("]").trim_start();
    if inner != "]" {
        s.push(',');
    }
    s.push_str(inner);
    s
}

/// Encodes an ACK (or BINARY_ACK) whose arguments are the JSON array text `args_array`.
pub fn encode_ack(nsp: &str, attachments: usize, id: u64, args_array: &str) -> String {
    let kind = if attachments > 0 { Kind::BinaryAck } else { Kind::Ack };
    encode(kind, nsp, attachments, Some(id), args_array.trim())
}

/// Reads up to `n` leading string elements of an event array (event name and routing
/// fields) and returns them with the remaining arguments as JSON array text.
pub fn split_leading_strings(data: &str, n: usize) -> Result<(alloc::vec::Vec<String>, String), SioError> {
    let mut s = Scanner::new(data);
    if !s.eat(b'[') {
        return Err(SioError::NotAnEvent);
    }
    let mut out = alloc::vec::Vec::new();
    while out.len() < n {
        s.skip_ws();
        if s.peek() != Some(b'"') {
            break;
        }
        out.push(s.string().map_err(SioError::BadPayload)?);
        if !s.eat(b',') {
            break;
        }
    }
    if out.is_empty() {
        return Err(SioError::NotAnEvent);
    }
    s.skip_ws();
    let rest = &data[s.pos..];
    let mut args = String::with_capacity(rest.len() + 1);
    args.push('[');
    args.push_str(rest);
    Ok((out, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_headers() {
        let p = decode(r#"2/admin,12["ev",1]"#).unwrap();
        assert_eq!((p.kind, p.nsp, p.id, p.data), (Kind::Event, "/admin", Some(12), r#"["ev",1]"#));
        let p = decode(r#"51-["ev",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!((p.kind, p.attachments, p.nsp, p.id), (Kind::BinaryEvent, 1, "/", None));
        let p = decode("0").unwrap();
        assert_eq!((p.kind, p.data), (Kind::Connect, ""));
        let p = decode(r#"0/chat,{"sid":"x"}"#).unwrap();
        assert_eq!((p.kind, p.nsp, p.data), (Kind::Connect, "/chat", r#"{"sid":"x"}"#));
        let p = decode("1/chat,").unwrap();
        assert_eq!((p.kind, p.nsp), (Kind::Disconnect, "/chat"));
        let p = decode(r#"4{"message":"nope"}"#).unwrap();
        assert_eq!(p.kind, Kind::ConnectError);
        let p = decode(r#"63-/x,7[]"#).unwrap();
        assert_eq!((p.kind, p.attachments, p.nsp, p.id), (Kind::BinaryAck, 3, "/x", Some(7)));
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(decode(""), Err(SioError::Empty));
        assert_eq!(decode("9"), Err(SioError::UnknownType(b'9')));
        assert_eq!(decode("5[]"), Err(SioError::BadAttachments));
        assert_eq!(decode("599999-[]"), Err(SioError::BadAttachments));
        assert_eq!(decode("2{}"), Err(SioError::NotAnEvent));
        assert_eq!(decode("21234567890123456[]"), Err(SioError::BadAckId));
        assert!(matches!(decode("2[1,"), Err(SioError::BadPayload(_))));
    }

    #[test]
    fn encodes_events_without_touching_args() {
        assert_eq!(encode_event("/", 0, None, &["chat"], r#"[{"a":1},2]"#), r#"2["chat",{"a":1},2]"#);
        assert_eq!(
            encode_event("/x", 1, Some(3), &["up"], r#"[{"_placeholder":true,"num":0}]"#),
            r#"51-/x,3["up",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(encode_event("/", 0, Some(0), &["sb:join", "room \"1\""], "[]"), r#"20["sb:join","room \"1\""]"#);
        assert_eq!(encode_ack("/", 0, 5, "[1]"), "35[1]");
        assert_eq!(encode(Kind::Connect, "/", 0, None, r#"{"token":"t"}"#), r#"0{"token":"t"}"#);
    }

    #[test]
    fn splits_routing_prefix() {
        let (names, args) = split_leading_strings(r#"["sb:room","r1","chat",{"t":1}]"#, 3).unwrap();
        assert_eq!(names, ["sb:room", "r1", "chat"]);
        assert_eq!(args, r#"[{"t":1}]"#);
        let (names, args) = split_leading_strings(r#"["only"]"#, 3).unwrap();
        assert_eq!((names.len(), args.as_str()), (1, "[]"));
        let (names, args) = split_leading_strings(r#"[ "a" , 1 ]"#, 1).unwrap();
        assert_eq!((names[0].as_str(), args.as_str()), ("a", "[1 ]"));
        assert_eq!(split_leading_strings("[1]", 1), Err(SioError::NotAnEvent));
    }
}
