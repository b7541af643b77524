//! A small, bounded JSON scanner: just enough to read the Engine.IO handshake, an event's
//! name and routing fields, and to check that a page's payload is well formed before it goes
//! on the wire. Invariant: never panics and never recurses deeper than [`MAX_DEPTH`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Deepest nesting accepted anywhere (socket.io's own parser has no limit; we must, as a
/// stack overflow in the worker would take every tab down).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.at, self.what)
    }
}

fn err<T>(at: usize, what: &'static str) -> Result<T, JsonError> {
    Err(JsonError { at, what })
}

/// A parsed JSON value, used only for small control payloads (handshakes, acks of the
/// hub's own requests). Event payloads are never turned into this.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// A non-negative integer that fits in u64, as used for intervals and sizes.
    pub fn as_u64(&self) -> Option<u64> {
        let n = self.as_f64()?;
        if (0.0..=9.007_199_254_740_991e15).contains(&n) && n == (n as u64) as f64 {
            Some(n as u64)
        } else {
            None
        }
    }
}

pub struct Scanner<'a> {
    pub src: &'a [u8],
    pub pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a str) -> Self {
        Scanner { src: src.as_bytes(), pos: 0 }
    }

    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.src.get(self.pos) {
            self.pos += 1;
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    pub fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        if self.eat(b) {
            Ok(())
        } else {
            err(self.pos, what)
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.src.len()
    }

    /// Reads a JSON string (the scanner must be on its opening quote).
    pub fn string(&mut self) -> Result<String, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return err(self.pos, "expected a string");
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str and we only stop on ASCII bytes, so this slice is UTF-8.
            out.push_str(
                core::str::from_utf8(&self.src[start..self.pos])
                    .map_err(|_| JsonError { at: start, what: "invalid UTF-8" })?,
            );
            match self.peek() {
                None => return err(self.pos, "unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = self.peek();
                    self.pos += 1;
                    match e {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.src.get(self.pos) == Some(&b'\\') && self.src.get(self.pos + 1) == Some(&b'u') {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return err(self.pos, "invalid surrogate pair");
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                        }
                        _ => return err(self.pos.saturating_sub(1), "invalid escape"),
                    }
                }
                Some(_) => return err(self.pos, "control character in string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return err(self.pos, "invalid \\u escape"),
            };
            v = v * 16 + d as u32;
            self.pos += 1;
        }
        Ok(v)
    }

    fn number_end(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |s: &mut Self| {
            let b = s.pos;
            while let Some(b'0'..=b'9') = s.peek() {
                s.pos += 1;
            }
            s.pos - b
        };
        if digits(self) == 0 {
            return err(start, "invalid number");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return err(start, "invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return err(start, "invalid number");
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            err(self.pos, "invalid literal")
        }
    }

    /// Skips one value, checking its syntax, without building anything. Iterative, so deep
    /// nesting costs a counter, not stack; nesting beyond [`MAX_DEPTH`] is an error.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        // Stack of open containers: true = object, false = array.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            self.skip_ws();
            // A value.
            match self.peek() {
                None => return err(self.pos, "unexpected end"),
                Some(b'"') => {
                    self.skip_string()?;
                }
                Some(b'{') | Some(b'[') => {
                    let obj = self.peek() == Some(b'{');
                    self.pos += 1;
                    if stack.len() >= MAX_DEPTH {
                        return err(self.pos, "nesting too deep");
                    }
                    if self.eat(if obj { b'}' } else { b']' }) {
                        // Empty container: a complete value, fall through to "after value".
                    } else {
                        stack.push(obj);
                        if obj {
                            self.skip_ws();
                            self.skip_string()?;
                            self.expect(b':', "expected ':'")?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(_) => self.number_end()?,
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&obj) = stack.last() else {
                    return Ok(());
                };
                if self.eat(b',') {
                    if obj {
                        self.skip_ws();
                        self.skip_string()?;
                        self.expect(b':', "expected ':'")?;
                    }
                    break;
                }
                if self.eat(if obj { b'}' } else { b']' }) {
                    stack.pop();
                    continue;
                }
                return err(self.pos, "expected ',' or a closing bracket");
            }
        }
    }

    fn skip_string(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return err(self.pos, "expected a string");
        }
        self.pos += 1;
        loop {
            match self.peek() {
                None => return err(self.pos, "unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            self.hex4()?;
                        }
                        _ => return err(self.pos, "invalid escape"),
                    }
                }
                Some(c) if c < 0x20 => return err(self.pos, "control character in string"),
                Some(_) => {
                    // Skip the plain run in one tight loop: this is the hot path for payloads.
                    let rest = self.src.get(self.pos..).unwrap_or(&[]);
                    self.pos += rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(rest.len());
                }
            }
        }
    }

    /// Parses one value into a [`Value`], depth-bounded.
    pub fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return err(self.pos, "nesting too deep");
        }
        self.skip_ws();
        match self.peek() {
            None => err(self.pos, "unexpected end"),
            Some(b'"') => self.string().map(Value::String),
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                if self.eat(b'}') {
                    return Ok(Value::Object(fields));
                }
                loop {
                    let k = self.string()?;
                    self.expect(b':', "expected ':'")?;
                    let v = self.value(depth + 1)?;
                    fields.push((k, v));
                    if self.eat(b',') {
                        continue;
                    }
                    self.expect(b'}', "expected ',' or '}'")?;
                    return Ok(Value::Object(fields));
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        continue;
                    }
                    self.expect(b']', "expected ',' or ']'")?;
                    return Ok(Value::Array(items));
                }
            }
            Some(b't') => self.literal(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|_| Value::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|_| Value::Null),
            Some(_) => {
                let start = self.pos;
                self.number_end()?;
                Ok(Value::Number(number(&self.src[start..self.pos])))
            }
        }
    }
}

/// The value of a JSON number `number_end` accepted: exact for integers up to 2^53 (what the
/// hub reads: intervals, sizes, versions, terms, timestamps); otherwise the first 19 digits
/// scaled by their power of ten, within a few units in the last place. (core's correctly
/// rounded `parse::<f64>` brings an 11 KB table of powers of five into the hub's wasm.)
pub fn number(text: &[u8]) -> f64 {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mut mantissa, mut exp, mut in_fraction) = (0u64, 0i64, false);
    let mut rest = text.iter();
    for &b in rest.by_ref() {
        match b {
            b'0'..=b'9' if mantissa < 1_000_000_000_000_000_000 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                exp -= i64::from(in_fraction);
            }
            b'0'..=b'9' => exp += i64::from(!in_fraction),
            b'.' => in_fraction = true,
            _ => break, // 'e' or 'E'
        }
    }
    let mut e = 0i64;
    let mut sign = 1;
    for &b in rest {
        match b {
            b'-' => sign = -1,
            b'0'..=b'9' => e = (e * 10 + i64::from(b - b'0')).min(100_000),
            _ => {}
        }
    }
    exp += sign * e;
    let mut value = mantissa as f64;
    // Powers of ten up to 1e22 are exact in f64: scale in such steps.
    while exp != 0 && value != 0.0 && value.is_finite() {
        let n = exp.clamp(-22, 22);
        let mut p = 1.0;
        for _ in 0..n.abs() {
            p *= 10.0;
        }
        value = if n > 0 { value * p } else { value / p };
        exp -= n;
    }
    if negative {
        -value
    } else {
        value
    }
}

/// `s` as a JSON string literal, for messages and logs: quoted and escaped like `{:?}`, but
/// without the Unicode tables `{:?}` on strings brings into the wasm.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_string(&mut out, self.0);
        f.write_str(&out)
    }
}

/// Parses a whole document into a [`Value`].
pub fn parse(src: &str) -> Result<Value, JsonError> {
    let mut s = Scanner::new(src);
    let v = s.value(0)?;
    if !s.at_end() {
        return err(s.pos, "trailing characters");
    }
    Ok(v)
}

/// Checks that `src` is exactly one well-formed JSON value.
pub fn validate(src: &str) -> Result<(), JsonError> {
    let mut s = Scanner::new(src);
    s.skip_value()?;
    if !s.at_end() {
        return err(s.pos, "trailing characters");
    }
    Ok(())
}

/// The last element of a JSON array when it is a string (what Socket.IO's connection state
/// recovery reads as a packet's offset); None for anything else or malformed input.
pub fn last_string(array: &str) -> Option<String> {
    let mut sc = Scanner::new(array);
    if !sc.eat(b'[') {
        return None;
    }
    let mut last = None;
    loop {
        sc.skip_ws();
        if sc.peek() == Some(b']') {
            break;
        }
        last = Some(sc.pos);
        sc.skip_value().ok()?;
        sc.skip_ws();
        if !sc.eat(b',') {
            break;
        }
    }
    let mut at = Scanner::new(array);
    at.pos = last?;
    match at.peek() {
        Some(b'"') => at.string().ok(),
        _ => None,
    }
}

/// The elements of a JSON array (`'['`) or the fields of an object (`'{'`), each as its raw
/// text (so a value is passed on exactly as it came); an object's names come decoded.
pub fn raw_items(src: &str, open: u8) -> Result<Vec<(String, &str)>, JsonError> {
    let mut s = Scanner::new(src);
    s.skip_ws();
    s.expect(open, "expected an array or object")?;
    let close = if open == b'[' { b']' } else { b'}' };
    let mut items = Vec::new();
    s.skip_ws();
    if s.eat(close) {
        return if s.at_end() { Ok(items) } else { err(s.pos, "trailing characters") };
    }
    loop {
        s.skip_ws();
        let name = match open {
            b'{' => {
                let name = s.string()?;
                s.skip_ws();
                s.expect(b':', "expected ':'")?;
                s.skip_ws();
                name
            }
            _ => String::new(),
        };
        let start = s.pos;
        s.skip_value()?;
        items.push((name, src[start..s.pos].trim_end()));
        s.skip_ws();
        if s.eat(close) {
            break;
        }
        s.expect(b',', "expected ',' or the end")?;
    }
    if !s.at_end() {
        return err(s.pos, "trailing characters");
    }
    Ok(items)
}

/// A JSON array of strings.
pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_string(&mut s, item);
    }
    s.push(']');
    s
}

/// Appends `s` to `out` as a JSON string literal.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_string_of_an_array() {
        assert_eq!(last_string(r#"[1,{"a":[2]},"off-7"]"#).as_deref(), Some("off-7"));
        assert_eq!(last_string(r#"["only"]"#).as_deref(), Some("only"));
        for none in ["[]", "[1]", r#"["a",2]"#, "{}", "", r#"["unterminated"#, r#"[1,]"#] {
            assert_eq!(last_string(none), None, "{none}");
        }
    }
    use alloc::string::ToString;

    #[test]
    fn parses_handshake() {
        let v = parse(r#"{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#)
            .unwrap();
        assert_eq!(v.get("sid").and_then(Value::as_str), Some("abc"));
        assert_eq!(v.get("pingInterval").and_then(Value::as_u64), Some(25000));
    }

    #[test]
    fn validates_and_rejects() {
        for ok in ["1", "[]", "{}", r#"[1,"a",{"b":[true,false,null]},-1.5e3]"#, r#""\u00e9\ud83d\ude00""#] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in ["", "[", "[1,]", "{\"a\"}", "{1:2}", "01x", "\"\\x\"", "[1] 2", "tru", "\"a\u{1}\""] {
            assert!(validate(bad).is_err(), "{bad}");
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(validate(&deep).unwrap_err().what, "nesting too deep");
        assert_eq!(parse(&deep).unwrap_err().what, "nesting too deep");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn raw_items_keep_each_value_as_it_came() {
        let f = raw_items(r#" {"key":"k", "value": {"a": [1, 2.50]} ,"n":null} "#, b'{').unwrap();
        assert_eq!(f, [("key".into(), r#""k""#), ("value".into(), r#"{"a": [1, 2.50]}"#), ("n".into(), "null")]);
        assert_eq!(raw_items("[1, [2] ]", b'[').unwrap(), [(String::new(), "1"), (String::new(), "[2]")]);
        assert_eq!(raw_items("[]", b'[').unwrap(), []);
        for bad in ["[1,]", "{\"a\" 1}", "[1] x", "{", "1"] {
            assert!(raw_items(bad, bad.as_bytes()[0]).is_err(), "{bad}");
        }
    }

    #[test]
    fn string_round_trip() {
        let s = "quote\" back\\ nl\n tab\t ctl\u{1} é 😀";
        let mut out = String::new();
        write_string(&mut out, s);
        assert_eq!(Scanner::new(&out).string().unwrap(), s.to_string());
    }
}
