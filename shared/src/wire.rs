//! Postcard's wire format without serde, for both ends of the port: the `Wire` trait, its
//! impls for the primitive types, and the entry points the hub and the page use. The impls
//! for the protocol's own types are generated from the table (`protocol.rs`, included by
//! `port.rs`). serde's generic visitors cost several KB of wasm, so neither wasm carries
//! serde; `port::encode`/`port::decode` (serde + postcard) stay the reference.
//! Invariant: for every message `m` and bytes `b`, `encode_*(m) == port::encode(m)` and
//! `decode_*(b)` accepts exactly what `port::decode(b)` accepts, with the same value
//! (`shared/tests/props.rs`). Nothing here panics or allocates more than the input
//! justifies: a declared length longer than what is left is malformed.
//!
//! The format is written out in `protocol.rs`'s header.

use crate::port::{Bytes, DecodeError, FromHub, StoredEmit, ToHub, MAX_PORT_MESSAGE};
use alloc::string::String;
use alloc::vec::Vec;

/// A value postcard's way: `put` appends its bytes, `take` reads one (None: malformed).
pub trait Wire: Sized {
    fn put(&self, o: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>) -> Option<Self>;
}

pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads postcard values from `b`, front to back.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.b.split_first()?;
        self.b = rest;
        Some(first)
    }

    /// A varint of at most `bits` bits, checked like postcard checks it.
    fn varint(&mut self, bits: u32) -> Option<u64> {
        let max = bits.div_ceil(7);
        let mut out = 0u64;
        for i in 0..max {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && u32::from(b) >= 1u32 << (bits % 7) {
                    return None;
                }
                return Some(out);
            }
        }
        None
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.varint(32).map(|v| v as u32)
    }

    /// A length; every element takes at least one byte, so a longer one is a lie.
    fn len(&mut self) -> Option<usize> {
        let n = self.varint(usize::BITS)?;
        (n <= self.b.len() as u64).then_some(n as usize)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        let (head, rest) = self.b.split_at_checked(n)?;
        self.b = rest;
        Some(head)
    }
}

impl Wire for u8 {
    fn put(&self, o: &mut Vec<u8>) {
        o.push(*self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.byte()
    }
}

impl Wire for u16 {
    fn put(&self, o: &mut Vec<u8>) {
        varint(o, (*self).into());
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.varint(16).map(|v| v as u16)
    }
}

impl Wire for u32 {
    fn put(&self, o: &mut Vec<u8>) {
        varint(o, (*self).into());
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.u32()
    }
}

impl Wire for u64 {
    fn put(&self, o: &mut Vec<u8>) {
        varint(o, *self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.varint(64)
    }
}

/// Zigzag, then a varint.
impl Wire for i64 {
    fn put(&self, o: &mut Vec<u8>) {
        varint(o, ((self << 1) ^ (self >> 63)) as u64);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let z = r.varint(64)?;
        Some((z >> 1) as i64 ^ -((z & 1) as i64))
    }
}

impl Wire for f32 {
    fn put(&self, o: &mut Vec<u8>) {
        o.extend_from_slice(&self.to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let (le, rest) = r.b.split_first_chunk::<4>()?;
        r.b = rest;
        Some(f32::from_le_bytes(*le))
    }
}

impl Wire for bool {
    fn put(&self, o: &mut Vec<u8>) {
        o.push(*self as u8);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Wire for String {
    fn put(&self, o: &mut Vec<u8>) {
        bytes(o, self.as_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        core::str::from_utf8(r.bytes()?).ok().map(String::from)
    }
}

impl Wire for Bytes {
    fn put(&self, o: &mut Vec<u8>) {
        bytes(o, &self.0);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.bytes().map(|b| Bytes(b.to_vec()))
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, o: &mut Vec<u8>) {
        match self {
            Some(v) => {
                o.push(1);
                v.put(o);
            }
            None => o.push(0),
        }
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(None),
            1 => T::take(r).map(Some),
            _ => None,
        }
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, o: &mut Vec<u8>) {
        varint(o, self.len() as u64);
        for v in self {
            v.put(o);
        }
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        // Every element of the protocol's lists takes a byte at least: `len` bounds `n`.
        let n = r.len()?;
        (0..n).map(|_| T::take(r)).collect()
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn put(&self, o: &mut Vec<u8>) {
        self.0.put(o);
        self.1.put(o);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        Some((A::take(r)?, B::take(r)?))
    }
}

/// Postcard's bytes of `v` (what `port::encode(v)` returns).
pub fn encode<T: Wire>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.put(&mut out);
    out
}

/// The first value of `b` and the bytes after it (a port message from the hub carries one
/// or more messages back to back).
pub fn take<T: Wire>(b: &[u8]) -> Result<(T, &[u8]), DecodeError> {
    if b.len() > MAX_PORT_MESSAGE {
        return Err(DecodeError::TooLarge(b.len()));
    }
    let mut r = Reader { b };
    let v = T::take(&mut r).ok_or(DecodeError::Malformed)?;
    Ok((v, r.b))
}

/// A whole value: like `port::decode`, bytes after it make it malformed.
pub fn decode<T: Wire>(b: &[u8]) -> Result<T, DecodeError> {
    match take(b)? {
        (v, []) => Ok(v),
        _ => Err(DecodeError::Malformed),
    }
}

/// The page's messages, as the page writes and the hub reads them.
pub fn encode_to_hub(m: &ToHub) -> Vec<u8> {
    encode(m)
}

pub fn decode_to_hub(b: &[u8]) -> Result<ToHub, DecodeError> {
    decode(b)
}

/// The hub's messages, as the hub writes and the page reads them.
pub fn encode_from_hub(m: &FromHub) -> Vec<u8> {
    encode(m)
}

pub fn decode_from_hub(b: &[u8]) -> Result<FromHub, DecodeError> {
    decode(b)
}

/// The first message of a port message from the hub, and the bytes after it.
pub fn take_from_hub(b: &[u8]) -> Result<(FromHub, &[u8]), DecodeError> {
    take(b)
}

/// A stored emit record (IndexedDB).
pub fn encode_stored(rec: &StoredEmit) -> Vec<u8> {
    encode(rec)
}

pub fn decode_stored(b: &[u8]) -> Result<StoredEmit, DecodeError> {
    decode(b)
}
