//! The page <-> hub protocol spoken over a MessagePort: typed messages, postcard-encoded.
//! The types are generated from the protocol table (`protocol.rs`, where a newcomer starts):
//! `ToHub` and `FromHub` with the types their fields use, each with its codec
//! (`wire::Wire`), and the page core's `op` and `report` kinds. serde + postcard
//! (`encode`/`decode` here) are the reference the generated codec is tested against.

use crate::wire::{varint, Reader, Wire};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

pub use crate::protocol::{MAX_PORT_MESSAGE, PROTOCOL_VERSION, STORE_VERSION};

include!(concat!(env!("OUT_DIR"), "/protocol.rs"));

/// Binary data, encoded as one length-prefixed byte string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl AuthTelemetry {
    pub fn count(list: &mut Vec<(String, u32)>, what: &str) {
        match list.iter_mut().find(|(k, _)| k == what) {
            Some((_, n)) => *n += 1,
            None => list.push((what.into(), 1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    Malformed,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge(n) => {
                write!(f, "port message of {n} bytes exceeds {MAX_PORT_MESSAGE}")
            }
            DecodeError::Malformed => f.write_str("malformed port message"),
        }
    }
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing into a Vec cannot fail for these types (no maps with non-string keys,
    // no unsupported serde features), so an empty message signals a bug, not bad input.
    postcard::to_allocvec(msg).unwrap_or_default()
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_PORT_MESSAGE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((msg, [])) => Ok(msg),
        _ => Err(DecodeError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn hello_starts_with_variant_and_version() {
        let hello = ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: "t".into(),
            endpoint: Endpoint {
                url: "http://h".into(),
                path: "/socket.io".into(),
                namespace: "/".into(),
                query: String::new(),
            },
            auth: None,
            options: Options::default(),
        };
        let bytes = encode(&hello);
        assert_eq!(bytes[0], 0, "Hello must stay variant 0");
        assert_eq!(bytes[1], PROTOCOL_VERSION as u8);
        assert_eq!(decode::<ToHub>(&bytes), Ok(hello));
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(decode::<ToHub>(&[0xff, 0xff, 0xff]), Err(DecodeError::Malformed));
        assert_eq!(decode::<ToHub>(&[]), Err(DecodeError::Malformed));
        let mut ok = encode(&ToHub::Bye);
        ok.push(0);
        assert_eq!(decode::<ToHub>(&ok), Err(DecodeError::Malformed), "trailing bytes");
        // A huge declared length must not allocate.
        assert_eq!(decode::<ToHub>(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(DecodeError::Malformed));
        assert_eq!(decode::<ToHub>(&vec![0; MAX_PORT_MESSAGE + 1]), Err(DecodeError::TooLarge(MAX_PORT_MESSAGE + 1)));
    }
}
