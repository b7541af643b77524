//! Engine.IO v4 packets over the WebSocket transport: one packet per frame, text frames
//! carry a one-digit type prefix, binary frames are raw message payloads.
//! Invariant: decoding never panics; anything unexpected is a [`EioError`].

use crate::json::{self, Value};
use alloc::string::String;
use core::fmt;

/// What the server announces in its OPEN packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub sid: String,
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    pub max_payload: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket<'a> {
    Open(Handshake),
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Message(&'a str),
    Upgrade,
    Noop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioError {
    Empty,
    UnknownType(char),
    BadHandshake(&'static str),
}

impl fmt::Display for EioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EioError::Empty => f.write_str("empty Engine.IO frame"),
            EioError::UnknownType(c) => {
                write!(f, "unknown Engine.IO packet type {}", crate::json::Quoted(c.encode_utf8(&mut [0; 4])))
            }
            EioError::BadHandshake(w) => write!(f, "bad Engine.IO handshake: {w}"),
        }
    }
}

/// Decodes one text frame.
pub fn decode(frame: &str) -> Result<EioPacket<'_>, EioError> {
    let mut chars = frame.chars();
    let t = chars.next().ok_or(EioError::Empty)?;
    let rest = chars.as_str();
    Ok(match t {
        '0' => EioPacket::Open(parse_handshake(rest)?),
        '1' => EioPacket::Close,
        '2' => EioPacket::Ping(rest),
        '3' => EioPacket::Pong(rest),
        '4' => EioPacket::Message(rest),
        '5' => EioPacket::Upgrade,
        '6' => EioPacket::Noop,
        other => return Err(EioError::UnknownType(other)),
    })
}

fn parse_handshake(body: &str) -> Result<Handshake, EioError> {
    let v = json::parse(body).map_err(|_| EioError::BadHandshake("not JSON"))?;
    let num = |k, default: Option<u64>| {
        v.get(k).and_then(Value::as_u64).or(default).ok_or(EioError::BadHandshake("missing or invalid interval"))
    };
    Ok(Handshake {
        sid: v.get("sid").and_then(Value::as_str).ok_or(EioError::BadHandshake("missing sid"))?.into(),
        ping_interval_ms: num("pingInterval", None)?,
        ping_timeout_ms: num("pingTimeout", None)?,
        // maxPayload only exists since Engine.IO v4's later servers; the reference default is 1e6.
        max_payload: num("maxPayload", Some(1_000_000))?,
    })
}

/// The text of a MESSAGE packet carrying `payload`.
pub fn message(payload: &str) -> String {
    let mut s = String::with_capacity(payload.len() + 1);
    s.push('4');
    s.push_str(payload);
    s
}

pub const PONG: &str = "3";
pub const CLOSE: &str = "1";

/// The WebSocket URL for an Engine.IO v4 server at `base` (an `http(s)://` or `ws(s)://`
/// origin, optionally with a query) and `path` (default `/socket.io`).
pub fn websocket_url(origin: &str, path: &str, query: &str) -> Result<String, &'static str> {
    let (scheme, rest) = origin.split_once("://").ok_or("url must start with http://, https://, ws:// or wss://")?;
    let ws = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err("url must start with http://, https://, ws:// or wss://"),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err("url must be an origin such as http://host:port");
    }
    let mut url = String::new();
    url.push_str(ws);
    url.push_str("://");
    url.push_str(rest);
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path.trim_end_matches('/'));
    url.push_str("/?EIO=4&transport=websocket");
    if !query.is_empty() {
        url.push('&');
        url.push_str(query.trim_start_matches(['?', '&']));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type() {
        let open =
            decode(r#"0{"sid":"s1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":100}"#).unwrap();
        assert_eq!(
            open,
            EioPacket::Open(Handshake {
                sid: "s1".into(),
                ping_interval_ms: 300,
                ping_timeout_ms: 200,
                max_payload: 100
            })
        );
        assert_eq!(decode("1"), Ok(EioPacket::Close));
        assert_eq!(decode("2"), Ok(EioPacket::Ping("")));
        assert_eq!(decode("2probe"), Ok(EioPacket::Ping("probe")));
        assert_eq!(decode("3"), Ok(EioPacket::Pong("")));
        assert_eq!(decode("42[\"a\"]"), Ok(EioPacket::Message("2[\"a\"]")));
        assert_eq!(decode("5"), Ok(EioPacket::Upgrade));
        assert_eq!(decode("6"), Ok(EioPacket::Noop));
        assert_eq!(decode(""), Err(EioError::Empty));
        assert_eq!(decode("9"), Err(EioError::UnknownType('9')));
        assert!(matches!(decode("0{}"), Err(EioError::BadHandshake(_))));
        assert!(matches!(decode("0nope"), Err(EioError::BadHandshake(_))));
    }

    #[test]
    fn builds_websocket_urls() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080", "/socket.io", "").unwrap(),
            "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(websocket_url("https://h", "/io/", "?a=1").unwrap(), "wss://h/io/?EIO=4&transport=websocket&a=1");
        assert!(websocket_url("ftp://h", "/", "").is_err());
        assert!(websocket_url("http://h/x", "/", "").is_err());
    }
}
