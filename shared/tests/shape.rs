//! ARCHITECTURE.md's shape rules, checked on the source: no file in `shared/src` over 700
//! lines, no hub function over 60 lines, and no method of `Space` or its parts (or of
//! `SignIn`) touching more than 5 of its struct's fields. The source is read with string
//! literals, char literals and comments blanked, so braces and `self.` inside them do not count.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 60;
const MAX_FIELDS: usize = 5;

/// The structs whose methods are held to `MAX_FIELDS`, and the files their impls are in.
const STRUCTS: [(&str, &str); 6] = [
    ("Space", "hub/space"),
    ("NsSession", "hub/space/lifecycle.rs"),
    ("SendPath", "hub/space/send.rs"),
    ("Directory", "hub/space/directory.rs"),
    ("Delivery", "hub/space/delivery.rs"),
    ("SignIn", "hub/signin.rs"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The text with comments, string and char literals replaced by spaces (newlines kept).
fn blank(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let keep = |c: u8| if c == b'\n' { '\n' } else { ' ' };
    while i < b.len() {
        let start = i;
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i] == b'\'' && char_literal(&b[i..]).is_some() {
            i += char_literal(&b[i..]).unwrap_or(1);
        } else {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        out.extend(b[start..i.min(b.len())].iter().map(|c| keep(*c)));
    }
    out
}

/// The length of a char literal at the start of `b` (`'x'`, `'\n'`, `'\''`), not a lifetime.
fn char_literal(b: &[u8]) -> Option<usize> {
    match b {
        [b'\'', b'\\', _, rest @ ..] => rest.iter().position(|c| *c == b'\'').map(|p| p + 4),
        [b'\'', c, b'\'', ..] if *c != b'\\' => Some(3),
        _ => None,
    }
}

/// The end (exclusive) of the block whose `{` is at `open`.
fn block_end(s: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in s.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Every function with a body: its name and its text.
fn functions(s: &str) -> Vec<(String, &str)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = s[at..].find("fn ") {
        let start = at + p;
        at = start + 3;
        if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            continue;
        }
        let name: String = s[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let (Some(body), semi) = (s[at..].find('{'), s[at..].find(';')) else { continue };
        if semi.is_some_and(|x| x < body) || name.is_empty() {
            continue;
        }
        let end = block_end(b, at + body);
        out.push((name, &s[start..end]));
    }
    out
}

/// The field names of `pub struct name` / `pub(super) struct name` in `s`.
fn fields(s: &str, name: &str) -> Option<BTreeSet<String>> {
    let at = ["pub struct ", "pub(super) struct ", "struct "].iter().find_map(|p| s.find(&format!("{p}{name} {{")))?;
    let open = at + s[at..].find('{')?;
    let body = &s[open + 1..block_end(s.as_bytes(), open) - 1];
    let fields = body.lines().filter_map(|l| {
        let l = l.trim().trim_start_matches("pub(super) ").trim_start_matches("pub ");
        let (n, _) = l.split_once(':')?;
        n.chars().all(|c| c.is_alphanumeric() || c == '_').then(|| n.to_string()).filter(|n| !n.is_empty())
    });
    Some(fields.collect())
}

/// The fields of `set` that `body` reads or writes through `self.` (a method of the same name
/// called as `self.name(` is not a field).
fn touched(body: &str, set: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in body.match_indices("self.") {
        let rest = &body[i + 5..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let after = rest[name.len()..].trim_start();
        if set.contains(&name) && !after.starts_with('(') {
            out.insert(name);
        }
    }
    out
}

/// The `impl Name` blocks of `s`.
fn impls<'a>(s: &'a str, name: &str) -> Vec<&'a str> {
    let pat = format!("impl {name} {{");
    s.match_indices(&pat).map(|(i, _)| &s[i..block_end(s.as_bytes(), i + pat.len() - 1)]).collect()
}

#[test]
fn no_file_over_700_lines() {
    for f in files(&src()) {
        let n = std::fs::read_to_string(&f).expect("read").lines().count();
        assert!(n <= MAX_FILE_LINES, "{} has {n} lines (at most {MAX_FILE_LINES})", f.display());
    }
}

#[test]
fn no_hub_function_over_60_lines() {
    for f in files(&src().join("hub")) {
        // The shared-state model is a test (cfg(test)), a scenario written out in full.
        if f.ends_with("state_model.rs") {
            continue;
        }
        let text = blank(&std::fs::read_to_string(&f).expect("read"));
        for (name, body) in functions(&text) {
            let n = body.lines().count();
            assert!(n <= MAX_FN_LINES, "{}: fn {name} has {n} lines (at most {MAX_FN_LINES})", f.display());
        }
    }
}

#[test]
fn no_method_touches_more_than_5_fields() {
    for (name, place) in STRUCTS {
        let texts: Vec<String> =
            files(&src().join(place)).iter().map(|f| blank(&std::fs::read_to_string(f).expect("read"))).collect();
        let set = texts.iter().find_map(|t| fields(t, name)).unwrap_or_else(|| panic!("struct {name} in {place}"));
        assert!(set.len() > 1, "{name}: fields found: {set:?}");
        let mut methods = 0;
        for text in &texts {
            for block in impls(text, name) {
                for (f, body) in functions(block) {
                    methods += 1;
                    let t = touched(body, &set);
                    assert!(t.len() <= MAX_FIELDS, "{name}::{f} touches {} fields: {t:?}", t.len());
                }
            }
        }
        assert!(methods > 0, "{name}: no methods found in {place}");
    }
}

#[test]
fn the_checks_see_what_they_check() {
    // A brace in a string or comment does not end a function; a long one is measured whole.
    let text = blank("fn a() {\n let s = \"}\"; // }\n let c = '}';\n x\n}\nfn b() { self.p; self.q(); }");
    let fns = functions(&text);
    assert_eq!(fns.iter().map(|(n, b)| (n.as_str(), b.lines().count())).collect::<Vec<_>>(), [("a", 5), ("b", 1)]);
    let set: BTreeSet<String> = ["p", "q"].map(String::from).into();
    assert_eq!(touched(fns[1].1, &set), ["p".to_string()].into());
    let s = "pub(super) struct T {\n    pub(super) a: u8,\n    /// doc: not a field\n    b: Vec<u8>,\n}";
    assert_eq!(fields(s, "T"), Some(["a", "b"].map(String::from).into()));
}
