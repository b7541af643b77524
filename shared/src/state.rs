//! Shared state's versioning, sans-IO: the server's side of a key (docs/server-contract.md,
//! "Shared state"). Each key holds one value and a dotted version: the dot `(node,
//! counter)` of the write that made it and a version vector over backend nodes (never tabs
//! or devices, so it has at most one entry per node). A write carries the context its tab
//! last saw; if the context covers the current dot, the write simply replaces it; if not, the
//! two are concurrent siblings and the key's policy resolves them into ONE value, reporting
//! what was overwritten as the conflict.
//! Invariants: a version only grows; a settled key has one value; the vector has one entry
//! per node that ever wrote the key.

use crate::json::{self, Quoted};
use crate::vecmap::VecMap;
use alloc::format;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// A version vector: node → counter, in node order (one implementation for the hub, the
/// server and the model; a sorted `Vec`, which costs the hub's wasm less than a B-tree).
pub type Vv = VecMap<String, u64>;

/// Entries a version vector may have from the wire (one per backend node that wrote the key).
pub const MAX_VV: usize = 1024;

/// `{"node":counter,...}`, as the contract carries a version.
pub fn write_vv(out: &mut String, vv: &Vv) {
    out.push('{');
    for (i, (node, n)) in vv.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_string(out, node);
        out.push_str(&format!(":{n}"));
    }
    out.push('}');
}

/// A version from the wire (`{"node":counter,...}`), at most [`MAX_VV`] entries.
pub fn parse_vv(raw: &str) -> Result<Vv, String> {
    let mut vv = Vv::new();
    for (node, n) in json::raw_items(raw, b'{').map_err(|e| format!("version: {e}"))? {
        let n = n.parse::<u64>().map_err(|_| format!("version: {} is not a counter", Quoted(n)))?;
        vv.insert(node, n);
        if vv.len() > MAX_VV {
            return Err(format!("version: over {MAX_VV} entries"));
        }
    }
    Ok(vv)
}

/// A key as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    /// JSON text of the value; None once deleted (the version stays, so a late write of an
    /// older context is still seen as concurrent).
    pub value: Option<String>,
    pub dot: (String, u64),
    pub vv: Vv,
}

/// What a write settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub now: Versioned,
    /// The value the write overwrote without having seen it (concurrent), if one was lost.
    pub conflict: Option<String>,
}

/// How concurrent values of a key are resolved: `(current, incoming) -> (value, lost)`.
/// Last writer by server order keeps `incoming` and loses `current`.
pub type Resolver<'a> = &'a dyn Fn(Option<&str>, Option<&str>) -> (Option<String>, Option<String>);

/// The default policy: the write that reached the server last wins; the other is lost.
pub fn last_writer_wins(current: Option<&str>, incoming: Option<&str>) -> (Option<String>, Option<String>) {
    (incoming.map(String::from), current.map(String::from))
}

/// Whether `a` has seen everything `b` has.
pub fn dominates(a: &Vv, b: &Vv) -> bool {
    b.iter().all(|(node, n)| a.get(node).is_some_and(|m| m >= n))
}

/// A write of `value` (None: delete) with the context `ctx`, on node `node`.
pub fn write(current: Option<&Versioned>, ctx: &Vv, value: Option<String>, node: &str, resolve: Resolver) -> Settled {
    let mut vv = current.map(|c| c.vv.clone()).unwrap_or_default();
    // The context cannot claim more than the server made: what it claims beyond is ignored.
    let counter = vv.get(node).copied().unwrap_or(0) + 1;
    vv.insert(node.into(), counter);
    let dot = (String::from(node), counter);
    let Some(cur) = current else { return Settled { now: Versioned { value, dot, vv }, conflict: None } };
    let seen = ctx.get(&cur.dot.0).is_some_and(|n| *n >= cur.dot.1);
    if seen {
        return Settled { now: Versioned { value, dot, vv }, conflict: None };
    }
    let (value, lost) = resolve(cur.value.as_deref(), value.as_deref());
    Settled { now: Versioned { value, dot, vv }, conflict: lost }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(&str, u64)]) -> Vv {
        entries.iter().map(|(k, v)| (String::from(*k), *v)).collect()
    }

    #[test]
    fn a_write_that_saw_the_value_replaces_it_and_a_concurrent_one_reports_the_loss() {
        let a = write(None, &Vv::new(), Some("1".into()), "n1", &last_writer_wins);
        assert_eq!(
            (a.now.dot.clone(), a.now.vv.clone(), a.conflict.clone()),
            (("n1".into(), 1), vv(&[("n1", 1)]), None)
        );
        let b = write(Some(&a.now), &vv(&[("n1", 1)]), Some("2".into()), "n1", &last_writer_wins);
        assert_eq!((b.now.value.as_deref(), b.conflict.as_deref()), (Some("2"), None));
        // A write made before "2" was seen: concurrent, "2" is lost and reported.
        let c = write(Some(&b.now), &vv(&[("n1", 1)]), Some("3".into()), "n1", &last_writer_wins);
        assert_eq!((c.now.value.as_deref(), c.conflict.as_deref()), (Some("3"), Some("2")));
        assert_eq!(c.now.vv, vv(&[("n1", 3)]));
    }

    #[test]
    fn the_vector_has_one_entry_per_node_and_only_grows() {
        let mut cur: Option<Versioned> = None;
        for (i, node) in ["n1", "n2", "n1", "n2", "n1"].iter().enumerate() {
            let ctx = cur.as_ref().map(|c| c.vv.clone()).unwrap_or_default();
            let s = write(cur.as_ref(), &ctx, Some(alloc::format!("{i}")), node, &last_writer_wins);
            if let Some(c) = &cur {
                assert!(dominates(&s.now.vv, &c.vv));
            }
            cur = Some(s.now);
        }
        assert_eq!(cur.unwrap().vv, vv(&[("n1", 3), ("n2", 2)]));
    }

    #[test]
    fn a_resolver_merges_concurrent_values() {
        let union =
            |a: Option<&str>, b: Option<&str>| (Some(alloc::format!("{}+{}", a.unwrap_or(""), b.unwrap_or(""))), None);
        let a = write(None, &Vv::new(), Some("x".into()), "n1", &union);
        let b = write(Some(&a.now), &Vv::new(), Some("y".into()), "n1", &union);
        assert_eq!((b.now.value.as_deref(), b.conflict), (Some("x+y"), None));
        assert!(dominates(&vv(&[("n1", 2)]), &vv(&[("n1", 1)])) && !dominates(&vv(&[]), &vv(&[("n1", 1)])));
    }

    #[test]
    fn a_version_from_the_wire_is_sorted_capped_and_written_back_the_same() {
        let v = parse_vv(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(v, vv(&[("a", 1), ("b", 2)]));
        let mut out = String::new();
        write_vv(&mut out, &v);
        assert_eq!(out, r#"{"a":1,"b":2}"#);
        let big: alloc::vec::Vec<String> = (0..=MAX_VV).map(|i| format!("\"n{i}\":1")).collect();
        assert!(parse_vv(&format!("{{{}}}", big.join(","))).is_err_and(|e| e.contains("entries")));
        assert!(parse_vv(r#"{"a":"x"}"#).is_err());
    }
}
