//! The customers of a partition by key, with the changes since the last
//! checkpoint marked as in [`super::table::Table`] (`super::changes`).
//!
//! Serialized as a map of keys to customers, as the `FxHashMap` it
//! replaces was: checkpoints of every format read the same.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::changes::Marks;
use super::customers::CustomerKey;
use super::growing::Growing;
use super::probe::Step;
use super::state::Customer;

/// The hash a customer is filed under: its key is a hash already.
fn hash(k: &CustomerKey) -> u64 {
    k.low()
}

fn rehash(e: &(CustomerKey, Customer)) -> u64 {
    hash(&e.0)
}

/// Customers by key.
#[derive(Default)]
pub struct Customers {
    raw: Growing<(CustomerKey, Customer)>,
    marks: Marks,
    /// Keys removed since the last checkpoint, while marks are on.
    removed: Vec<CustomerKey>,
}

/// A clone marks nothing: it is not the table checkpoints follow.
impl Clone for Customers {
    fn clone(&self) -> Self {
        Customers {
            raw: self.raw.clone(),
            ..Customers::default()
        }
    }
}

impl fmt::Debug for Customers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.raw.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Customers {
    /// Customers remembered.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Every customer.
    #[cfg(test)]
    pub fn values(&self) -> impl Iterator<Item = &Customer> {
        self.raw.iter().map(|e| &e.1)
    }

    /// The customer of `k`, to change, added if new.
    pub fn entry(&mut self, k: CustomerKey) -> &mut Customer {
        let make = || (k, Customer::default());
        let (i, e, _) =
            self.raw
                .find_or_insert(hash(&k), |e| e.0 == k, make, rehash, &mut self.marks);
        self.marks.mark(i);
        &mut e.1
    }

    /// Cache hints for a lookup of `k` a few events ahead (as
    /// `Table::prefetch`): its control group, then its entry, then the
    /// contacts and covers the entry points to, then the covers spilled
    /// from their box. Whatever the table's size:
    /// a customer's contacts spill to the heap, where they do not stay in
    /// cache as the entries do.
    #[inline]
    pub fn prefetch(&self, k: &CustomerKey, step: Step) {
        let h = hash(k);
        for (probe, raw) in self.raw.probes() {
            match step {
                Step::Group => probe.group_always(raw, h),
                Step::Entry => {
                    probe.entry_always(raw, h);
                }
                Step::Key => {
                    if let Some(e) = probe.entry_always(raw, h) {
                        e.1.prefetch_heap();
                    }
                }
                Step::Spilled => {
                    if let Some(e) = probe.entry_always(raw, h) {
                        e.1.prefetch_spilled();
                    }
                }
            }
        }
    }

    /// Moves up to `n` customers into a larger table, if the table is
    /// growing (as `Table::advance_moves`).
    #[inline]
    pub fn advance_moves(&mut self, n: usize) {
        self.raw.advance(n, rehash, &mut self.marks);
    }

    /// Makes room for `n` customers in all (as `Table::reserve`).
    pub fn reserve(&mut self, n: usize) {
        self.raw.reserve(n, rehash, &mut self.marks);
    }

    /// Room for customers before the table grows.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// The customer of `k`, to change.
    pub fn get_mut(&mut self, k: &CustomerKey) -> Option<&mut Customer> {
        let i = self.raw.find(hash(k), |e| e.0 == *k)?;
        self.marks.mark(i);
        self.raw.get_mut(i).map(|e| &mut e.1)
    }

    /// Drops what no contact within `horizon` of `now` can need, and the
    /// customers left with nothing (`Customer::expire`).
    pub fn expire(&mut self, now: i64, horizon: i64, w: i64) {
        for i in self.raw.indices() {
            let Some((k, c)) = self.raw.get_mut(i) else {
                continue;
            };
            // Expiring only ever drops contacts and covers.
            let size = |c: &Customer| (c.contacts.len(), c.covers.as_ref().map_or(0, |v| v.len()));
            let before = size(c);
            if !c.expire(now, horizon, w) {
                if self.marks.on() {
                    self.removed.push(*k);
                }
                self.raw.remove_at(i);
            } else if size(c) != before {
                self.marks.mark(i);
            }
        }
    }

    /// Marks the customers changed from now on.
    pub fn track_changes(&mut self) {
        self.marks.start();
        self.removed = Vec::new();
    }

    /// Whether changes are marked.
    pub fn tracks_changes(&self) -> bool {
        self.marks.on()
    }

    /// Every customer, into the allocation of an earlier copy.
    pub fn freeze_into(&self, spare: Vec<(CustomerKey, Customer)>) -> FrozenCustomers {
        let mut entries = spare;
        debug_assert!(entries.is_empty());
        entries.extend(self.raw.iter().cloned());
        FrozenCustomers {
            removed: None,
            entries,
        }
    }

    /// The customers changed since the last copy and the keys removed, and
    /// no more marks; `None` when changes are not marked.
    pub fn freeze_changes_into(
        &mut self,
        spare: Vec<(CustomerKey, Customer)>,
    ) -> Option<FrozenCustomers> {
        if !self.tracks_changes() {
            return None;
        }
        let mut entries = spare;
        for i in self.marks.take() {
            if let Some(e) = self.raw.get(i) {
                entries.push(e.clone());
            }
        }
        Some(FrozenCustomers {
            removed: Some(std::mem::take(&mut self.removed)),
            entries,
        })
    }

    /// Applies changes read from a checkpoint: removes the keys removed,
    /// then adds or replaces the customers written.
    pub fn apply_changes(&mut self, c: CustomerChanges) {
        let mut from = c.entries;
        self.apply(&c.removed, from.raw.drain());
    }

    /// Removes the keys `removed`, then adds or replaces `entries`.
    fn apply(
        &mut self,
        removed: &[CustomerKey],
        entries: impl Iterator<Item = (CustomerKey, Customer)>,
    ) {
        for k in removed {
            self.raw.remove(hash(k), |e| e.0 == *k);
        }
        for (k, v) in entries {
            self.put(k, v);
        }
    }

    /// The customers of a whole copy, moved out of it (as
    /// `Table::take_whole`); `None` for a copy of changes.
    pub fn take_whole(f: &mut FrozenCustomers) -> Option<Customers> {
        if f.removed.is_some() {
            return None;
        }
        let mut c = Customers::default();
        c.raw.reserve(f.entries.len(), rehash, &mut ());
        for (k, v) in f.entries.drain(..) {
            c.raw.insert_unique(hash(&k), (k, v), rehash, &mut ());
        }
        Some(c)
    }

    /// Applies a copy of changes as [`Customers::apply_changes`] applies
    /// one read back, its customers moved out of it; false (nothing
    /// applied) for a whole copy.
    pub fn follow(&mut self, f: &mut FrozenCustomers) -> bool {
        let Some(removed) = &f.removed else {
            return false;
        };
        self.apply(removed, f.entries.drain(..));
        self.raw.advance(usize::MAX, rehash, &mut ());
        true
    }

    fn put(&mut self, k: CustomerKey, v: Customer) {
        let mut put = Some(v);
        let make = || (k, put.take().expect("made once"));
        let (_, e, added) =
            self.raw
                .find_or_insert(hash(&k), |e| e.0 == k, make, rehash, &mut self.marks);
        if !added {
            e.1 = put.take().expect("not made");
        }
    }
}

/// A copy of the customers, all of them (`removed` is `None`) or those
/// changed since the last copy.
pub struct FrozenCustomers {
    removed: Option<Vec<CustomerKey>>,
    entries: Vec<(CustomerKey, Customer)>,
}

impl FrozenCustomers {
    /// Empties the copy and keeps its allocation (on the encoding thread).
    pub fn into_spare(self) -> Vec<(CustomerKey, Customer)> {
        let mut v = self.entries;
        v.clear();
        v
    }

    /// The customers as a map, as [`Customers`] serializes.
    fn map(&self) -> impl Serialize + '_ {
        AsMap(&self.entries)
    }
}

struct AsMap<'a>(&'a [(CustomerKey, Customer)]);

impl Serialize for AsMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Serialize for FrozenCustomers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match &self.removed {
            None => self.map().serialize(s),
            Some(removed) => {
                let mut w = s.serialize_struct("CustomerChanges", 2)?;
                w.serialize_field("removed", removed)?;
                w.serialize_field("entries", &self.map())?;
                w.end()
            }
        }
    }
}

/// The changes of the customers as a checkpoint of changes holds them.
#[derive(Deserialize)]
pub struct CustomerChanges {
    removed: Vec<CustomerKey>,
    entries: Customers,
}

impl Serialize for Customers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.raw.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Customers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Customers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of customer keys to customers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Customers, A::Error> {
                let mut c = Customers::default();
                // As `table::RESERVE_AT_MOST`: a crafted count reserves no more.
                let n = a.size_hint().unwrap_or(0).min(1 << 26);
                c.raw.reserve(n, rehash, &mut ());
                while let Some((k, v)) = a.next_entry()? {
                    c.put(k, v);
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::customers::customer_key;

    fn keys(c: &FrozenCustomers) -> Vec<u128> {
        let mut v: Vec<u128> = c.entries.iter().map(|e| e.0.into()).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn room_made_keeps_the_changes_it_moves() {
        let mut c = Customers::default();
        for i in 0..100 {
            c.entry(customer_key(&format!("c{i}")));
        }
        c.track_changes();
        let changed: Vec<CustomerKey> = (0..100)
            .step_by(7)
            .map(|i| customer_key(&format!("c{i}")))
            .collect();
        for &k in &changed {
            c.entry(k).active = true;
        }
        // Room for far more moves every entry to a new bucket; the marks
        // named buckets, so they must follow by key.
        let before = c.capacity();
        c.reserve(10_000);
        assert!(c.capacity() >= 10_000 && before < 10_000);
        let frozen = c.freeze_changes_into(Vec::new()).unwrap();
        let mut want: Vec<u128> = changed.iter().map(|&k| k.into()).collect();
        want.sort_unstable();
        assert_eq!(keys(&frozen), want);
        // Room already there is a no-op: nothing moves, nothing is marked.
        c.entry(changed[0]).active = false;
        c.reserve(5_000);
        let frozen = c.freeze_changes_into(Vec::new()).unwrap();
        assert_eq!(keys(&frozen), vec![u128::from(changed[0])]);
    }
}
