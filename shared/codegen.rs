//! Code generated from the protocol table (`shared/src/protocol.rs`), for the two build
//! scripts that read it: `shared/build.rs` writes [`rust`] (the Rust types of `port` and their
//! codec, `wire::Wire`) and the root `build.rs` writes [`js`] (`protocol.js`: the page client's
//! named constants and codec functions). The table is the one definition; this is its printer.

#![allow(dead_code)] // each build script prints one half

use super::protocol::{Field, Shape, Ty, Type, Variant, JS_NUMBERS, JS_STRINGS, OPS, REPORTS, TYPES};
use std::fmt::Write as _;

const HEADER: &str =
    "Generated from shared/src/protocol.rs (the page⇄hub protocol table) by shared/codegen.rs: do not edit.";

fn docs(out: &mut String, indent: &str, doc: &str) {
    for line in doc.lines() {
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

fn check(t: &Type) {
    if let Shape::Enum(vs) = t.shape {
        for (i, v) in vs.iter().enumerate() {
            assert_eq!(
                v.kind as usize, i,
                "{}::{} has kind {} at position {i}: kinds are positions",
                t.name, v.name, v.kind
            );
        }
    }
}

fn rust_ty(t: Ty) -> String {
    match t {
        Ty::U8 => "u8".into(),
        Ty::U16 => "u16".into(),
        Ty::U32 => "u32".into(),
        Ty::U64 => "u64".into(),
        Ty::I64 => "i64".into(),
        Ty::F32 => "f32".into(),
        Ty::Bool => "bool".into(),
        Ty::Str => "String".into(),
        Ty::Bytes => "Bytes".into(),
        Ty::Opt(t) => format!("Option<{}>", rust_ty(*t)),
        Ty::List(t) => format!("Vec<{}>", rust_ty(*t)),
        Ty::Pair(a, b) => format!("({}, {})", rust_ty(*a), rust_ty(*b)),
        Ty::Named(n) => n.into(),
    }
}

fn tuple(fields: &[Field]) -> bool {
    fields.first().is_some_and(|f| f.name == "0")
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// `SCREAMING_CASE` of a `CamelCase` name (the JS constants' names).
pub fn screaming(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `camelCase` of a `snake_case` name.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in name.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn rust_fields(out: &mut String, indent: &str, fields: &[Field], public: bool) {
    for f in fields {
        docs(out, indent, f.doc);
        let vis = if public { "pub " } else { "" };
        let _ = writeln!(out, "{indent}{vis}{}: {},", f.name, rust_ty(f.ty));
    }
}

fn rust_variant_def(out: &mut String, v: &Variant) {
    docs(out, "    ", v.doc);
    if v.fields.is_empty() {
        let _ = writeln!(out, "    {},", v.name);
    } else if tuple(v.fields) {
        let _ = writeln!(out, "    {}({}),", v.name, rust_ty(v.fields[0].ty));
    } else {
        let _ = writeln!(out, "    {} {{", v.name);
        rust_fields(out, "        ", v.fields, false);
        out.push_str("    },\n");
    }
}

/// The pattern binding a variant's fields (`x0` for a tuple variant's).
fn pattern(t: &str, v: &Variant) -> String {
    if v.fields.is_empty() {
        format!("{t}::{}", v.name)
    } else if tuple(v.fields) {
        format!("{t}::{}(x0)", v.name)
    } else {
        let names: Vec<&str> = v.fields.iter().map(|f| f.name).collect();
        format!("{t}::{} {{ {} }}", v.name, names.join(", "))
    }
}

fn rust_take_fields(t: &str, name: &str, fields: &[Field]) -> String {
    if fields.is_empty() {
        format!("{t}::{name}")
    } else if tuple(fields) {
        format!("{t}::{name}(Wire::take(r)?)")
    } else {
        let f: Vec<String> = fields.iter().map(|f| format!("{}: Wire::take(r)?", f.name)).collect();
        format!("{t}{} {{ {} }}", if name.is_empty() { String::new() } else { format!("::{name}") }, f.join(", "))
    }
}

fn rust_type(out: &mut String, t: &Type) {
    check(t);
    docs(out, "", t.doc);
    let extra = if t.derive.is_empty() { String::new() } else { format!(", {}", t.derive) };
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq, Serialize, Deserialize{extra})]");
    let n = t.name;
    match t.shape {
        Shape::Struct(fields) => {
            let _ = writeln!(out, "pub struct {n} {{");
            rust_fields(out, "    ", fields, true);
            out.push_str("}\n\n");
            let _ = writeln!(out, "impl Wire for {n} {{\n    fn put(&self, o: &mut Vec<u8>) {{");
            for f in fields {
                let _ = writeln!(out, "        self.{}.put(o);", f.name);
            }
            let _ = writeln!(out, "    }}\n\n    fn take(r: &mut Reader<'_>) -> Option<Self> {{");
            let _ = writeln!(out, "        Some({})\n    }}\n}}\n", rust_take_fields(n, "", fields));
            let _ = writeln!(
                out,
                "impl {n} {{\n    /// How many fields it has.\n    pub const FIELDS: usize = {};\n}}\n",
                fields.len()
            );
            if fields.iter().all(|f| !f.default.is_empty()) {
                rust_defaults(out, n, fields);
            }
        }
        Shape::Enum(vs) => {
            let _ = writeln!(out, "pub enum {n} {{");
            for v in vs {
                rust_variant_def(out, v);
            }
            out.push_str("}\n\n");
            let _ = writeln!(out, "impl Wire for {n} {{\n    fn put(&self, o: &mut Vec<u8>) {{\n        match self {{");
            for v in vs {
                let _ = writeln!(out, "            {} => {{", pattern(n, v));
                let _ = writeln!(out, "                varint(o, {});", v.kind);
                if tuple(v.fields) {
                    out.push_str("                x0.put(o);\n");
                } else {
                    for f in v.fields {
                        let _ = writeln!(out, "                {}.put(o);", f.name);
                    }
                }
                out.push_str("            }\n");
            }
            let _ = writeln!(out, "        }}\n    }}\n\n    fn take(r: &mut Reader<'_>) -> Option<Self> {{");
            out.push_str("        Some(match r.u32()? {\n");
            for v in vs {
                let _ = writeln!(out, "            {} => {},", v.kind, rust_take_fields(n, v.name, v.fields));
            }
            out.push_str("            _ => return None,\n        })\n    }\n}\n\n");
            let names: Vec<String> = vs.iter().map(|v| format!("{:?}", lower(v.name))).collect();
            let _ = writeln!(out, "impl {n} {{");
            let _ = writeln!(out, "    /// Every variant's name in lower case, by kind.");
            let _ = writeln!(out, "    pub const NAMES: [&'static str; {}] = [{}];\n", vs.len(), names.join(", "));
            let _ = writeln!(
                out,
                "    /// The variant's kind on the wire.\n    pub fn kind(&self) -> u32 {{\n        match self {{"
            );
            for v in vs {
                let p = if v.fields.is_empty() {
                    format!("{n}::{}", v.name)
                } else if tuple(v.fields) {
                    format!("{n}::{}(_)", v.name)
                } else {
                    format!("{n}::{} {{ .. }}", v.name)
                };
                let _ = writeln!(out, "            {p} => {},", v.kind);
            }
            out.push_str("        }\n    }\n\n");
            out.push_str("    /// The variant's name in lower case (`connected`, `emit`, ...).\n");
            out.push_str(
                "    pub fn name(&self) -> &'static str {\n        Self::NAMES[self.kind() as usize]\n    }\n",
            );
            if vs.iter().all(|v| v.fields.is_empty()) {
                let all: Vec<String> = vs.iter().map(|v| format!("{n}::{}", v.name)).collect();
                let _ = writeln!(out, "\n    /// Every value, by kind.");
                let _ = writeln!(out, "    pub const ALL: [{n}; {}] = [{}];", vs.len(), all.join(", "));
            }
            out.push_str("}\n\n");
        }
    }
}

/// `Default`, and `from_numbers`: the value a page client builds from numbers (NaN keeps a
/// field's default; others saturate as Rust's `as` casts do, `u64` at 2^53 - 1, the largest
/// whole number a JS number holds).
fn rust_defaults(out: &mut String, n: &str, fields: &[Field]) {
    let _ = writeln!(out, "impl Default for {n} {{\n    fn default() -> Self {{\n        {n} {{");
    for f in fields {
        let _ = writeln!(out, "            {}: {},", f.name, f.default);
    }
    out.push_str("        }\n    }\n}\n\n");
    let _ = writeln!(out, "impl {n} {{");
    out.push_str("    /// From numbers in field order (`protocol.js`'s twin: `");
    let _ = writeln!(out, "{}Of`): NaN (or a missing one) keeps the", camel(&lower(n)));
    out.push_str("    /// default; the others saturate as `as` casts do (`u64` at 2^53 - 1, as in JS).\n");
    out.push_str("    pub fn from_numbers(n: &[f64]) -> Self {\n        let d = Self::default();\n");
    out.push_str("        let at = |i: usize| n.get(i).copied().filter(|x| !x.is_nan());\n");
    let _ = writeln!(out, "        {n} {{");
    for (i, f) in fields.iter().enumerate() {
        let cast = match f.ty {
            Ty::Bool => "x != 0.0".to_string(),
            Ty::U64 => "(x as u64).min((1 << 53) - 1)".to_string(),
            t => format!("x as {}", rust_ty(t)),
        };
        let _ = writeln!(out, "            {}: at({i}).map_or(d.{}, |x| {cast}),", f.name, f.name);
    }
    out.push_str("        }\n    }\n}\n\n");
}

fn kinds_rust(out: &mut String, module: &str, doc: &str, kinds: &[(&str, u32, &str)]) {
    let _ = writeln!(out, "/// {doc}\npub mod {module} {{");
    for (name, n, doc) in kinds {
        docs(out, "    ", doc);
        let _ = writeln!(out, "    pub const {name}: u32 = {n};");
    }
    let all: Vec<String> = kinds.iter().map(|(name, ..)| format!("({name:?}, {name})")).collect();
    let _ = writeln!(
        out,
        "    /// Every kind by name.\n    pub const ALL: [(&str, u32); {}] = [{}];",
        kinds.len(),
        all.join(", ")
    );
    out.push_str("}\n\n");
}

/// The Rust types of every message and their codec, for `shared/src/port.rs`.
pub fn rust() -> String {
    let mut out = format!("// {HEADER}\n\n");
    for t in &TYPES {
        rust_type(&mut out, t);
    }
    kinds_rust(&mut out, "op", "What a JS client asks of its protocol core (`protocol::OPS`).", &OPS);
    kinds_rust(&mut out, "report", "What a protocol core reports to its client (`protocol::REPORTS`).", &REPORTS);
    out
}

fn find(name: &str) -> &'static Type {
    find_opt(name).unwrap_or_else(|| panic!("the table has no type {name}"))
}

/// The composite types the JS descriptors refer to, by one digit each: what each is (a
/// struct's or a pair's fields, or an enum's variants), in order of first use.
#[derive(Default)]
struct Composites {
    list: Vec<(String, Composite)>,
}

enum Composite {
    Fields(String),
    Variants(&'static [Variant], Vec<String>),
}

impl Composites {
    /// The digit of a composite type named `key`, made with `make` on first use.
    fn digit(&mut self, key: String, make: impl FnOnce(&mut Self) -> Composite) -> String {
        if let Some(i) = self.list.iter().position(|(k, _)| *k == key) {
            return i.to_string();
        }
        let i = self.list.len();
        self.list.push((key, Composite::Fields(String::new())));
        self.list[i].1 = make(self);
        assert!(i < 10, "protocol.js numbers composite types with one digit");
        i.to_string()
    }

    /// A type as the JS codec's descriptor character (see `JS_DESCRIPTORS`).
    fn desc(&mut self, t: Ty) -> String {
        match t {
            Ty::U8 => "b".into(),
            Ty::U16 => "w".into(),
            Ty::U32 => "u".into(),
            Ty::U64 => "U".into(),
            Ty::I64 => "z".into(),
            Ty::F32 => "f".into(),
            Ty::Bool => "?".into(),
            Ty::Str => "s".into(),
            Ty::Bytes => "y".into(),
            Ty::Opt(t) => format!("o{}", self.desc(*t)),
            Ty::List(t) => format!("l{}", self.desc(*t)),
            Ty::Pair(a, b) => {
                let fields = format!("{}{}", self.desc(*a), self.desc(*b));
                self.digit(format!("({fields})"), |_| Composite::Fields(fields))
            }
            Ty::Named(n) => self.digit(n.into(), |c| match find(n).shape {
                Shape::Struct(fields) => Composite::Fields(c.fields(fields)),
                Shape::Enum(vs) => Composite::Variants(vs, vs.iter().map(|v| c.fields(v.fields)).collect()),
            }),
        }
    }

    fn fields(&mut self, fields: &[Field]) -> String {
        fields.iter().map(|f| self.desc(f.ty)).collect()
    }
}

/// The descriptors: `TO_HUB` (the fields of each message `encode` writes) and `TYPES` (the
/// composite types by digit, `FromHub` first: what `decodeFromHub` reads).
fn js_tables(out: &mut String) -> Composites {
    let mut c = Composites::default();
    c.desc(Ty::Named("FromHub"));
    for (_, composite) in &c.list {
        let descs = match composite {
            Composite::Fields(f) => vec![f.clone()],
            Composite::Variants(_, d) => d.clone(),
        };
        assert!(descs.iter().all(|d| !d.contains(['b', 'f'])), "`decodeFromHub` reads no u8 or f32 (add its reader)");
    }
    let Shape::Enum(to_hub) = find("ToHub").shape else { panic!("ToHub is an enum") };
    let _ = writeln!(out, "const TO_HUB = [");
    for v in to_hub {
        let d = c.fields(v.fields);
        assert!(!d.contains('z'), "`encode` writes no i64 ({})", v.name);
        let _ = writeln!(out, "  '{d}', // {} {}", v.kind, js_variant(v));
    }
    out.push_str("];\n");
    let _ = writeln!(out, "const TYPES = [");
    for (i, (name, composite)) in c.list.iter().enumerate() {
        match composite {
            Composite::Fields(f) => {
                let what = match find_opt(name).map(|t| t.shape) {
                    Some(Shape::Struct(fields)) => format!("{name} [{}]", js_comment(fields)),
                    _ => format!("the pair {name}"),
                };
                let _ = writeln!(out, "  '{f}', // {i}: {what}");
            }
            Composite::Variants(vs, descs) => {
                let _ = writeln!(out, "  [ // {i}: {name}, [kind, ...fields]");
                for (v, d) in vs.iter().zip(descs) {
                    let _ = writeln!(out, "    '{d}', // {} {}", v.kind, js_variant(v));
                }
                out.push_str("  ],\n");
            }
        }
    }
    out.push_str("];\n");
    c
}

fn find_opt(name: &str) -> Option<&'static Type> {
    TYPES.iter().find(|t| t.name == name)
}
fn js_comment(fields: &[Field]) -> String {
    let f: Vec<String> = fields.iter().map(|f| format!("{}: {}", camel(f.name), rust_ty(f.ty))).collect();
    f.join(", ")
}

/// `Name { fields }`, or `Name` for a unit variant.
fn js_variant(v: &Variant) -> String {
    if v.fields.is_empty() {
        v.name.into()
    } else {
        format!("{} {{ {} }}", v.name, js_comment(v.fields))
    }
}

/// Constants for every kind of an enum: `PREFIX_VARIANT = kind`.
fn js_kinds(out: &mut String, t: &Type, prefix: &str) {
    let Shape::Enum(vs) = t.shape else { panic!("{} is not an enum", t.name) };
    let k: Vec<String> = vs.iter().map(|v| format!("{prefix}_{} = {}", screaming(v.name), v.kind)).collect();
    let _ = writeln!(out, "// {} kinds\nexport const {};", t.name, k.join(", "));
}

/// `protocol.js`: the page client's constants and codec, from the same table.
pub fn js() -> String {
    let mut out = format!("// {HEADER}\n");
    out.push_str("// The constants come first: a bundler inlines them only above the first statement with\n");
    out.push_str("// effects.\n");
    let n: Vec<String> = JS_NUMBERS.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let s: Vec<String> = JS_STRINGS.iter().map(|(k, v)| format!("{k} = '{v}'")).collect();
    let _ = writeln!(out, "export const {};\nexport const {};", n.join(", "), s.join(",\n  "));
    for (name, list) in [("OP", &OPS[..]), ("REPORT", &REPORTS[..])] {
        let k: Vec<String> = list.iter().map(|(n, v, _)| format!("{name}_{n} = {v}")).collect();
        let _ = writeln!(
            out,
            "// {}\nexport const {};",
            if name == "OP" { "protocol::OPS" } else { "protocol::REPORTS" },
            k.join(", ")
        );
    }
    js_kinds(&mut out, find("ToHub"), "TO_HUB");
    js_kinds(&mut out, find("FromHub"), "FROM_HUB");
    js_kinds(&mut out, find("ErrorCode"), "ERROR");
    js_kinds(&mut out, find("Status"), "STATUS");
    let Shape::Enum(status) = find("Status").shape else { panic!("Status is an enum") };
    let names: Vec<String> = status.iter().map(|v| format!("'{}'", lower(v.name))).collect();
    let Shape::Struct(options) = find("Options").shape else { panic!("Options is a struct") };
    let _ = writeln!(out, "export const OPTIONS_FIELDS = {};", options.len());
    out.push_str(JS_RUNTIME);
    let _ = writeln!(out, "export const STATUS_NAMES = [{}];", names.join(", "));
    out.push_str(JS_DESCRIPTORS);
    let mut composites = js_tables(&mut out);
    js_options(&mut out, &mut composites);
    js_hello_head(&mut out);
    out
}

/// `decodeHelloHead(bytes)`: a Hello's fields up to its auth, which the hub's bootstrap
/// reads to open the WebSocket and send the CONNECT while the hub's wasm loads (the rest is
/// the hub's to read).
/// Straight-line reads, not the descriptor walk: the bootstrap then carries no `TYPES` table.
fn js_hello_head(out: &mut String) {
    fn read(t: Ty) -> String {
        match t {
            Ty::U16 => "take(16)".into(),
            Ty::U32 => "take(32)".into(),
            Ty::U64 => "take(64)".into(),
            Ty::Str => "text()".into(),
            Ty::Opt(inner) => format!("(take(8) ? {} : undefined)", read(*inner)),
            Ty::Named(n) => match find(n).shape {
                Shape::Struct(fields) => {
                    format!("[{}]", fields.iter().map(|f| read(f.ty)).collect::<Vec<_>>().join(", "))
                }
                Shape::Enum(_) => panic!("`decodeHelloHead` reads no enum ({n}): add its reader"),
            },
            other => panic!("`decodeHelloHead` reads no {other:?}: add its reader"),
        }
    }
    let Shape::Enum(to_hub) = find("ToHub").shape else { panic!("ToHub is an enum") };
    let hello = to_hub.iter().find(|v| v.name == "Hello").expect("ToHub has a Hello");
    let end = hello.fields.iter().position(|f| f.name == "auth").expect("a Hello names its auth") + 1;
    let names: Vec<&str> = hello.fields[..end].iter().map(|f| f.name).collect();
    let reads: Vec<String> = hello.fields[..end].iter().map(|f| format!("    {},", read(f.ty))).collect();
    let _ = writeln!(
        out,
        "// A ToHub Hello's first fields, [{}] (the endpoint as [url, path, namespace, query];\n\
         // no auth: undefined): the hub's bootstrap opens the WebSocket and sends the CONNECT\n\
         // from them while the wasm loads. Throws on\n\
         // anything else. (Array elements are read in order.)\n\
         export const decodeHelloHead = (bytes) => {{\n  const text = (n = len()) => dec.decode(buf.subarray(at, (at += n)));\n  buf = bytes;\n  at = 0;\n  \
         if (take(32) != TO_HUB_HELLO) throw 0;\n  return [\n{}\n  ];\n}};",
        names.join(", "),
        reads.join("\n")
    );
}

/// `optionsOf(n)`: the Options array from numbers, as `Options::from_numbers` builds it.
fn js_options(out: &mut String, c: &mut Composites) {
    let Shape::Struct(fields) = find("Options").shape else { panic!("Options is a struct") };
    for f in fields {
        assert!(matches!(f.ty, Ty::Bool | Ty::F32 | Ty::U32 | Ty::U64), "optionsOf has no rule for {:?}", f.ty);
    }
    let digit = c.desc(Ty::Named("Options"));
    let defaults: Vec<&str> = fields.iter().map(|f| f.default).collect();
    let _ =
        writeln!(out, "// Options from numbers in field order (TYPES[{digit}]): NaN keeps the default, whole numbers");
    out.push_str("// saturate (Options::from_numbers).\n");
    let _ = writeln!(out, "const OPTIONS_DEFAULTS = [{}];", defaults.join(", "));
    let _ = writeln!(
        out,
        "export const optionsOf = (n) =>\n  OPTIONS_DEFAULTS.map((d, j, c) => ((c = TYPES[{digit}][j]), n[j] != n[j] ? d : c == '?' ? +!!n[j] : c == 'f' ? n[j] : whole(n[j], d, c == 'U' ? 2 ** 53 - 1 : undefined)));"
    );
}

/// The codec: the descriptors' interpreter, one function for each direction.
const JS_RUNTIME: &str = r#"// UTF-8 both ways (`dec` refuses what is not UTF-8), for the page client too.
export const enc = /* @__PURE__ */ new TextEncoder();
export const dec = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });
// A whole number from `x` (NaN: `d`), saturated into 0..=max as Rust's `as` casts do.
export const whole = (x, d, max = 4294967295) => (x == x ? Math.min(max, Math.max(0, Math.trunc(x))) : d);
// The descriptor being walked and the place in it; the bytes written; the bytes read and
// the place in them.
let desc, i, out, buf, at;
// Runs `f` over each type of descriptor `d`, then returns to the place it came from.
const walk = (d, f) => {
  const outer = desc, place = i;
  for (desc = d, i = 0; i < desc.length; ) f();
  desc = outer;
  i = place;
};
const u = (v) => {
  for (; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
  out.push(v);
};
// Writes `x` as the type at `desc[i]`. Text is a string or its UTF-8 bytes; a struct is an
// array of its fields.
const put = (x) => {
  const c = desc[i++], t = TYPES[c];
  if (t) {
    let j = 0;
    walk(t, () => put(x[j++]));
  } else if (c == 'o') x == null ? (out.push(0), i++) : (out.push(1), put(x));
  else if (c == 'l') {
    u(x.length);
    for (const e of x) put(e), i--;
    i++;
  } else if (c == 'b') out.push(x);
  else if (c == '?') out.push(+!!x);
  else if (c == 'f') out.push(...new Uint8Array(new Float32Array([x]).buffer));
  else if (c == 's' || c == 'y') {
    if (typeof x == 'string') x = enc.encode(x);
    u(x.length);
    for (const b of x) out.push(b);
  } else u(x);
};
// The bytes of ToHub message `kind` (TO_HUB_*), its fields in table order.
export const encode = (kind, ...fields) => {
  let j = 0;
  out = [];
  u(kind);
  walk(TO_HUB[kind], () => put(fields[j++]));
  return new Uint8Array(out);
};
const next = () => {
  if (at >= buf.length) throw 0;
  return buf[at++];
};
// A varint of at most `bits` bits, checked as postcard checks it.
const take = (bits) => {
  const max = Math.ceil(bits / 7);
  for (let n = 0, v = 0, scale = 1; n < max; n++, scale *= 128) {
    const b = next();
    v += (b & 127) * scale;
    if (b < 128) {
      if (n == max - 1 && b >= 1 << bits % 7) break;
      return v;
    }
  }
  throw 0;
};
const flag = () => {
  const b = next();
  if (b > 1) throw 0;
  return b;
};
// A length: every element takes a byte at least, so a longer one is a lie.
const len = () => {
  const n = take(32);
  if (n > buf.length - at) throw 0;
  return n;
};
// Reads the type at `desc[i]`: a struct as an array of its fields, an enum as
// [kind, ...fields].
const get = () => {
  const c = desc[i++], v = [];
  let t = TYPES[c];
  if (t) {
    // An enum: its kind, then that variant's fields (an unknown kind's throw in `walk`).
    if (t.map) v.push(take(32)), (t = t[v[0]]);
    walk(t, () => v.push(get()));
    return v;
  }
  if (c == 'o') return flag() ? get() : (i++, null);
  if (c == 'l') {
    for (let n = len(); n--; i--) v.push(get());
    i++;
    return v;
  }
  if (c == '?') return flag();
  if (c == 'z') {
    const z = take(64);
    return z % 2 ? -(z + 1) / 2 : z / 2;
  }
  if (c == 's' || c == 'y') {
    const n = len(), b = buf.subarray(at, (at += n));
    return c == 's' ? dec.decode(b) : b;
  }
  return take(c == 'w' ? 16 : c == 'u' ? 32 : 64);
};
// One FromHub message of `bytes` from `from`: [[kind, ...fields], the index after it].
// Throws on anything postcard would refuse, and on a port message over MAX_PORT_MESSAGE.
export const decodeFromHub = (bytes, from) => {
  if (bytes.length > MAX_PORT_MESSAGE) throw 0;
  buf = bytes;
  at = from;
  desc = '0'; // FromHub
  i = 0;
  return [get(), at];
};
"#;

/// How the descriptor tables read.
const JS_DESCRIPTORS: &str =
    "// Each message's fields as descriptor characters (protocol::Ty): b u8, w u16, u u32, U u64,
// z i64, f f32, ? bool, s text, y bytes, o<T> optional (null), l<T> a list, a digit: the
// composite type TYPES[digit] (a struct or a pair as an array of its fields, an enum as
// [kind, ...fields]).
";
