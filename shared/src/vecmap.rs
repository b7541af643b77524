//! Small ordered maps and sets on a sorted `Vec` (binary search): the hub's tables of tabs,
//! rooms, hubs, calls and ports hold a handful to a few hundred entries, where a `Vec` is as
//! fast as a B-tree, and each `BTreeMap<K, V>` instantiation costs the wasm kilobytes of node
//! code (a quarter of the hub's code was B-tree code). Iteration is in key order, as with
//! the B-tree, so behaviour does not change. Tables keyed by a growing number that can hold
//! thousands and empty from the front (the outbox's emits in flight, requests in flight, the
//! `sb:seq` window) use [`DequeMap`]: the same on a `VecDeque`, appends and removals at the
//! front in constant time.

use alloc::vec::Vec;
use core::borrow::Borrow;

/// What both sorted maps share: their entries are `(K, V)` pairs in key order, found with
/// `find` (Ok: where it is; Err: where it goes).
macro_rules! sorted_entries {
    () => {
        /// Inserts, returning the value it replaced.
        pub fn insert(&mut self, key: K, value: V) -> Option<V> {
            match self.find(&key) {
                Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
                Err(i) => {
                    self.entries.insert(i, (key, value));
                    None
                }
            }
        }

        pub fn len(&self) -> usize {
            self.entries.len()
        }

        pub fn is_empty(&self) -> bool {
            self.entries.is_empty()
        }
    };
}

/// A stable insertion sort by `less`: linear on sorted input (what IndexedDB returns), and a
/// few dozen bytes of code where each type core's `sort` is instantiated for costs the wasm
/// about 3 KB. Quadratic on shuffled input: for short lists, or capped ones.
pub fn insertion_sort_by<T>(v: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// A map ordered by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub const fn new() -> Self {
        VecMap { entries: Vec::new() }
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    sorted_entries!();

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value of `key`, inserted with `f` if missing.
    pub fn get_or_insert_with(&mut self, key: K, f: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, f()));
                i
            }
        };
        &mut self.entries[i].1
    }

    // Concrete iterator types (not `impl Trait`): a borrow checked like the B-tree's, which
    // ends with the iterator's last use.
    pub fn iter(&self) -> Iter<'_, K, V> {
        self.entries.iter().map(pair)
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        self.entries.iter_mut().map(pair_mut)
    }

    pub fn keys(&self) -> Keys<'_, K, V> {
        self.entries.iter().map(key)
    }

    pub fn values(&self) -> Values<'_, K, V> {
        self.entries.iter().map(value)
    }

    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        self.entries.iter_mut().map(value_mut)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        self.entries.into_iter().map(|(_, v)| v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn pop_first(&mut self) -> Option<(K, V)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

fn pair<K, V>((k, v): &(K, V)) -> (&K, &V) {
    (k, v)
}
fn pair_mut<K, V>((k, v): &mut (K, V)) -> (&K, &mut V) {
    (k, v)
}
fn key<K, V>((k, _): &(K, V)) -> &K {
    k
}
fn value<K, V>((_, v): &(K, V)) -> &V {
    v
}
fn value_mut<K, V>((_, v): &mut (K, V)) -> &mut V {
    v
}
pub type Iter<'a, K, V> = core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
pub type IterMut<'a, K, V> =
    core::iter::Map<core::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;
pub type Keys<'a, K, V> = core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> &'a K>;
pub type Values<'a, K, V> = core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> &'a V>;
pub type ValuesMut<'a, K, V> = core::iter::Map<core::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> &'a mut V>;

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = alloc::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = VecMap::new();
        m.extend(iter);
        m
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(pair)
    }
}

/// A map ordered by key on a `VecDeque`: for keys that mostly arrive in increasing order and
/// leave from the front (ack ids, storage keys, sequence numbers).
/// A map in serde's data model, as a `BTreeMap` would be (the same JSON object, the same
/// postcard bytes): what the server stores of a shared-state version stays readable.
impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for VecMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, K: Ord + serde::Deserialize<'de>, V: serde::Deserialize<'de>> serde::Deserialize<'de> for VecMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(core::marker::PhantomData<(K, V)>);
        impl<'de, K: Ord + serde::Deserialize<'de>, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Entries<K, V> {
            type Value = VecMap<K, V>;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = VecMap::new();
                while let Some((k, v)) = a.next_entry()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(Entries(core::marker::PhantomData))
    }
}

#[derive(Debug, Clone)]
pub struct DequeMap<K, V> {
    entries: alloc::collections::VecDeque<(K, V)>,
}

impl<K, V> Default for DequeMap<K, V> {
    fn default() -> Self {
        DequeMap { entries: alloc::collections::VecDeque::new() }
    }
}

impl<K: Ord, V> DequeMap<K, V> {
    pub const fn new() -> Self {
        DequeMap { entries: alloc::collections::VecDeque::new() }
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        match self.entries.back() {
            Some((last, _)) if last < key => Err(self.entries.len()),
            _ => self.entries.binary_search_by(|(k, _)| k.cmp(key)),
        }
    }

    sorted_entries!();

    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().and_then(|i| self.entries.remove(i)).map(|(_, v)| v)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        self.entries.into_iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + '_ {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn pop_first(&mut self) -> Option<(K, V)> {
        self.entries.pop_front()
    }
}

impl<K, V> IntoIterator for DequeMap<K, V> {
    type Item = (K, V);
    type IntoIter = alloc::collections::vec_deque::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// A set ordered by value. (Serializable for the reference backend's shared election state.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VecSet<T> {
    items: Vec<T>,
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        VecSet { items: Vec::new() }
    }
}

impl<T: Ord> VecSet<T> {
    pub const fn new() -> Self {
        VecSet { items: Vec::new() }
    }

    fn find<Q: Ord + ?Sized>(&self, item: &Q) -> Result<usize, usize>
    where
        T: Borrow<Q>,
    {
        self.items.binary_search_by(|x| x.borrow().cmp(item))
    }

    /// Inserts; false if it was there.
    pub fn insert(&mut self, item: T) -> bool {
        match self.find(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    pub fn contains<Q: Ord + ?Sized>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.find(item).is_ok()
    }

    /// Removes; false if it was not there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        match self.find(item) {
            Ok(i) => {
                self.items.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub fn first(&self) -> Option<&T> {
        self.items.first()
    }

    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut s = VecSet::new();
        s.extend(iter);
        s
    }
}

impl<T: Ord> Extend<T> for VecSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.insert(item);
        }
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T> IntoIterator for VecSet<T> {
    type Item = T;
    type IntoIter = alloc::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::{BTreeMap, BTreeSet};

    /// The insertion sort is core's stable sort, on pseudo-random lists with ties.
    #[test]
    fn insertion_sort_is_a_stable_sort() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..60 {
            let v: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x % 7) as u8, i)
                })
                .collect();
            let (mut ours, mut core) = (v.clone(), v);
            insertion_sort_by(&mut ours, |a, b| a.0 < b.0);
            core.sort_by_key(|e| e.0);
            assert_eq!(ours, core);
        }
    }

    /// Against the B-tree, on a pseudo-random sequence of operations.
    #[test]
    fn it_behaves_as_the_btree() {
        let (mut m, mut b) = (VecMap::new(), BTreeMap::new());
        let mut d = DequeMap::new();
        let (mut s, mut bs) = (VecSet::new(), BTreeSet::new());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 64) as u32;
            match x % 5 {
                0 | 1 => {
                    assert_eq!(d.insert(key, x), b.get(&key).copied());
                    assert_eq!(m.insert(key, x), b.insert(key, x));
                    assert_eq!(s.insert(key), bs.insert(key));
                }
                2 => {
                    assert_eq!(d.remove(&key), b.get(&key).copied());
                    assert_eq!(m.remove(&key), b.remove(&key));
                    assert_eq!(s.remove(&key), bs.remove(&key));
                }
                3 => {
                    *m.get_or_insert_with(key, || 1) += 1;
                    *b.entry(key).or_insert_with(|| 1) += 1;
                    d.insert(key, *b.get(&key).expect("inserted"));
                }
                _ => {
                    m.retain(|k, _| k % 7 != (x % 7) as u32);
                    b.retain(|k, _| k % 7 != (x % 7) as u32);
                    d.retain(|k, _| k % 7 != (x % 7) as u32);
                    assert_eq!(d.pop_first(), b.first_key_value().map(|(k, v)| (*k, *v)));
                    assert_eq!(m.pop_first(), b.pop_first());
                }
            }
            assert!(m.iter().eq(b.iter()));
            assert!(d.values().eq(b.values()), "the deque map");
            assert_eq!(d.len(), b.len());
            assert!(s.iter().eq(bs.iter()));
            assert_eq!((m.len(), m.get(&key), m.contains_key(&key)), (b.len(), b.get(&key), b.contains_key(&key)));
            assert_eq!(s.contains(&key), bs.contains(&key));
        }
    }
}
