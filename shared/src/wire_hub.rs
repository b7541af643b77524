//! Postcard's wire format for the hub's side, written out by hand as `wire.rs` is for the
//! page's: decoding `ToHub`, encoding `FromHub`, and the stored-emit records. With them the
//! hub's wasm carries no serde or postcard. Invariant: `decode_to_hub(b)` accepts exactly
//! what `port::decode::<ToHub>(b)` accepts, with the same value; `encode_from_hub(m) ==
//! port::encode(m)`; the same for `StoredEmit` (checked against postcard in
//! `shared/tests/props.rs`).

use crate::port::{
    AckRequest, Bytes, DecodeError, Endpoint, ErrorCode, FromHub, Options, Status, StoredEmit, ToHub, MAX_PORT_MESSAGE,
};
use crate::wire::{bins, bytes, opt_str, varint, Reader};
use alloc::string::String;
use alloc::vec::Vec;

impl<'a> Reader<'a> {
    fn string(&mut self) -> String {
        self.str().into()
    }

    fn opt_string(&mut self) -> Option<String> {
        self.opt_str().map(String::from)
    }

    fn bins(&mut self) -> Vec<Bytes> {
        let n = self.len();
        (0..n).map(|_| Bytes(self.bytes().to_vec())).collect()
    }

    fn f32(&mut self) -> f32 {
        let mut le = [0u8; 4];
        for b in &mut le {
            *b = self.byte();
        }
        f32::from_le_bytes(le)
    }

    fn endpoint(&mut self) -> Endpoint {
        Endpoint { url: self.string(), path: self.string(), namespace: self.string(), query: self.string() }
    }

    /// Ends a whole message: trailing bytes make it malformed, as with `port::decode`.
    fn end<T>(self, value: T) -> Result<T, DecodeError> {
        if self.bad || !self.b.is_empty() {
            return Err(DecodeError::Malformed);
        }
        Ok(value)
    }
}

fn reader(b: &[u8]) -> Result<Reader<'_>, DecodeError> {
    if b.len() > MAX_PORT_MESSAGE {
        return Err(DecodeError::TooLarge(b.len()));
    }
    Ok(Reader { b, bad: false })
}

/// What `port::decode::<ToHub>(b)` returns, without serde.
pub fn decode_to_hub(b: &[u8]) -> Result<ToHub, DecodeError> {
    let mut rd = reader(b)?;
    let r = &mut rd;
    let msg = match r.u32() {
        0 => ToHub::Hello {
            version: r.varint(16) as u16,
            tab: r.string(),
            endpoint: r.endpoint(),
            auth: r.opt_string(),
            options: Options {
                reconnection: r.flag(),
                reconnection_delay_ms: r.u32(),
                reconnection_delay_max_ms: r.u32(),
                randomization_factor: r.f32(),
                timeout_ms: r.u32(),
                max_queue: r.u32(),
                max_queue_bytes: r.u32(),
                max_queue_age_ms: r.varint(64),
                bearer: r.flag(),
                reconnection_attempts: r.u32(),
            },
        },
        1 => ToHub::Subscribe { event: r.string() },
        2 => ToHub::Unsubscribe { event: r.string() },
        3 => ToHub::Emit {
            seq: r.u32(),
            event: r.string(),
            args: r.string(),
            bins: r.bins(),
            ack: if r.flag() { Some(AckRequest { id: r.u32(), timeout_ms: r.u32() }) } else { None },
            volatile: r.flag(),
        },
        4 => ToHub::Reply { token: r.u32(), args: r.string(), bins: r.bins() },
        5 => ToHub::Join { req: r.u32(), room: r.string() },
        6 => ToHub::Leave { req: r.u32(), room: r.string() },
        7 => ToHub::Bye,
        8 => ToHub::Login { req: r.u32(), username: r.string(), password: r.string() },
        9 => ToHub::Logout { req: r.u32() },
        10 => ToHub::Refresh { req: r.u32() },
        11 => ToHub::Token { req: r.u32() },
        12 => ToHub::Priority { level: r.byte(), scope: r.byte(), term: r.varint(64) },
        13 => ToHub::EmitTo { seq: r.u32(), room: r.string(), event: r.string(), args: r.string(), bins: r.bins() },
        _ => {
            r.fail::<()>();
            ToHub::Bye
        }
    };
    rd.end(msg)
}

fn status(o: &mut Vec<u8>, s: &Status) {
    match s {
        Status::Connecting => varint(o, 0),
        Status::Connected { sid } => {
            varint(o, 1);
            bytes(o, sid.as_bytes());
        }
        Status::Offline => varint(o, 2),
        Status::Reconnecting { attempt, delay_ms, reason } => {
            varint(o, 3);
            varint(o, (*attempt).into());
            varint(o, (*delay_ms).into());
            bytes(o, reason.as_bytes());
        }
        Status::Disconnected { reason } => {
            varint(o, 4);
            bytes(o, reason.as_bytes());
        }
        Status::Failed { reason } => {
            varint(o, 5);
            bytes(o, reason.as_bytes());
        }
    }
}

fn counts(o: &mut Vec<u8>, list: &[(String, u32)]) {
    varint(o, list.len() as u64);
    for (name, n) in list {
        bytes(o, name.as_bytes());
        varint(o, (*n).into());
    }
}

/// The bytes `port::encode(msg)` produces, without serde.
pub fn encode_from_hub(msg: &FromHub) -> Vec<u8> {
    let mut out = Vec::new();
    let o = &mut out;
    match msg {
        FromHub::Welcome { version, status: s } => {
            varint(o, 0);
            varint(o, (*version).into());
            status(o, s);
        }
        FromHub::Status(s) => {
            varint(o, 1);
            status(o, s);
        }
        FromHub::Event { event, room, args, bins: b, reply } => {
            varint(o, 2);
            bytes(o, event.as_bytes());
            opt_str(o, room);
            bytes(o, args.as_bytes());
            bins(o, b);
            match reply {
                Some(t) => {
                    o.push(1);
                    varint(o, (*t).into());
                }
                None => o.push(0),
            }
        }
        FromHub::Ack { id, args, bins: b } => {
            varint(o, 3);
            varint(o, (*id).into());
            bytes(o, args.as_bytes());
            bins(o, b);
        }
        FromHub::AckFailed { id, reason } => {
            varint(o, 4);
            varint(o, (*id).into());
            bytes(o, reason.as_bytes());
        }
        FromHub::Done { req, error } => {
            varint(o, 5);
            varint(o, (*req).into());
            opt_str(o, error);
        }
        FromHub::Tabs { tabs } => {
            varint(o, 6);
            varint(o, tabs.len() as u64);
            for t in tabs {
                bytes(o, t.as_bytes());
            }
        }
        FromHub::Stored { seq } => {
            varint(o, 7);
            varint(o, (*seq).into());
        }
        FromHub::Refused { seq, reason } => {
            varint(o, 8);
            varint(o, (*seq).into());
            bytes(o, reason.as_bytes());
        }
        FromHub::Clock { offset_ms, rtt_ms } => {
            varint(o, 9);
            varint(o, ((offset_ms << 1) ^ (offset_ms >> 63)) as u64);
            varint(o, (*rtt_ms).into());
        }
        FromHub::Recovered { recovered } => {
            varint(o, 10);
            o.push(*recovered as u8);
        }
        FromHub::Auth(a) => {
            varint(o, 11);
            opt_str(o, &a.user);
            match a.expires_at {
                Some(t) => {
                    o.push(1);
                    varint(o, t);
                }
                None => o.push(0),
            }
            opt_str(o, &a.error);
            opt_str(o, &a.signed_out);
            let t = &a.telemetry;
            for n in [t.refreshes, t.last_ms, t.max_ms] {
                varint(o, n.into());
            }
            varint(o, t.total_ms);
            counts(o, &t.failures);
            counts(o, &t.sign_outs);
        }
        FromHub::Token { req, token, error } => {
            varint(o, 12);
            varint(o, (*req).into());
            opt_str(o, token);
            opt_str(o, error);
        }
        FromHub::Error { code, message } => {
            varint(o, 13);
            varint(o, ErrorCode::ALL.iter().position(|c| c == code).unwrap_or(0) as u64);
            bytes(o, message.as_bytes());
        }
    }
    out
}

/// The bytes `port::encode(rec)` produces for a stored emit, without serde.
pub fn encode_stored(rec: &StoredEmit) -> Vec<u8> {
    let mut out = Vec::new();
    let o = &mut out;
    varint(o, rec.version.into());
    for s in [&rec.endpoint.url, &rec.endpoint.path, &rec.endpoint.namespace, &rec.endpoint.query] {
        bytes(o, s.as_bytes());
    }
    opt_str(o, &rec.auth);
    for s in [&rec.id, &rec.event, &rec.args] {
        bytes(o, s.as_bytes());
    }
    bins(o, &rec.bins);
    varint(o, rec.created_ms);
    out
}

/// What `port::decode::<StoredEmit>(b)` returns, without serde.
pub fn decode_stored(b: &[u8]) -> Result<StoredEmit, DecodeError> {
    let mut r = reader(b)?;
    let rec = StoredEmit {
        version: r.varint(16) as u16,
        endpoint: r.endpoint(),
        auth: r.opt_string(),
        id: r.string(),
        event: r.string(),
        args: r.string(),
        bins: r.bins(),
        created_ms: r.varint(64),
    };
    r.end(rec)
}
