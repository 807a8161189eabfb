//! Tickets and calls by id.
//!
//! A [`Table`] is a hash table whose entries can also be reached by the
//! hash of their id alone, so an SLA timer names its ticket with eight
//! bytes instead of a copy of the id, and by a [`Slot`] that stays valid
//! until the next insert or remove, so one event looks its ticket up once.
//! Ids are stored in eight bytes ([`ThinId`], packed or a pointer; see
//! `super::thin_id`): with a 56-byte ticket, an entry fills exactly 64
//! bytes.

use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::num::NonZeroU64;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::held_ids::Hold;
use super::probe::{prefetch, Probe, Step};
use super::thin_id::{bits_addr, Key};
pub use super::thin_id::{IdStr, ThinId};

/// The hash a [`Table`] files an id under (and SLA timers carry).
#[inline]
pub fn hash_id(id: &str) -> u64 {
    FxBuildHasher.hash_one(id)
}

/// How many entries ahead [`Table`]'s serialization asks for ids.
const ID_AHEAD: usize = 16;

/// Where an entry sits; valid until the table's next insert or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

/// Entities by id.
pub struct Table<V> {
    raw: HashTable<(ThinId, V)>,
    probe: Probe,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            raw: HashTable::new(),
            probe: Probe::default(),
        }
    }
}

impl<V: Clone> Clone for Table<V> {
    fn clone(&self) -> Self {
        Table {
            raw: self.raw.clone(),
            probe: Probe::default(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn rehash<V>(e: &(ThinId, V)) -> u64 {
    hash_id(&e.0.as_str())
}

impl<V> Table<V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The slot of `id`.
    #[inline]
    pub fn slot(&self, id: &str) -> Option<Slot> {
        let key = Key::of(id);
        self.raw
            .find_bucket_index(hash_id(id), |e| key.matches(&e.0))
            .map(Slot)
    }

    /// A cache hint ahead of a lookup of `id` (see [`super::probe`]);
    /// nothing for a table that fits in cache.
    #[inline]
    pub fn prefetch(&self, id: &str, step: Step) {
        if !Probe::wants(&self.raw) {
            return;
        }
        let hash = hash_id(id);
        match step {
            Step::Group => self.probe.group(&self.raw, hash),
            Step::Entry => {
                self.probe.entry(&self.raw, hash);
            }
            Step::Key => {
                // The entry is in cache by now: its id's bytes are next,
                // unless they are packed in it.
                if let Some(p) = self.probe.entry(&self.raw, hash).and_then(|e| e.0.addr()) {
                    prefetch(p.as_ptr() as usize);
                }
            }
        }
    }

    /// Whether `id` is present.
    pub fn contains_key(&self, id: &str) -> bool {
        self.slot(id).is_some()
    }

    /// The entry of `id`.
    pub fn get(&self, id: &str) -> Option<&V> {
        let key = Key::of(id);
        self.raw
            .find(hash_id(id), |e| key.matches(&e.0))
            .map(|e| &e.1)
    }

    /// The entry of `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let key = Key::of(id);
        self.raw
            .find_mut(hash_id(id), |e| key.matches(&e.0))
            .map(|e| &mut e.1)
    }

    /// The entry at a slot from [`Table::slot`] or [`Table::insert`].
    ///
    /// # Panics
    /// If the slot is empty (the table changed since it was taken).
    #[inline]
    pub fn at(&self, s: Slot) -> &V {
        &self.raw.get_bucket(s.0).expect("slot of a present entry").1
    }

    /// The id and entry at a slot.
    #[inline]
    pub fn entry_at(&self, s: Slot) -> (IdStr<'_>, &V) {
        let e = self.raw.get_bucket(s.0).expect("slot of a present entry");
        (e.0.as_str(), &e.1)
    }

    /// The entry at a slot, to change.
    #[inline]
    pub fn at_mut(&mut self, s: Slot) -> &mut V {
        &mut self
            .raw
            .get_bucket_mut(s.0)
            .expect("slot of a present entry")
            .1
    }

    /// Adds an entry for an id that is not present; returns its slot.
    #[cfg(test)]
    pub fn insert(&mut self, id: &str, v: V) -> Slot {
        self.insert_hashed(hash_id(id), id, v)
    }

    /// [`Table::insert`] with the id's [`hash_id`] already at hand.
    pub fn insert_hashed(&mut self, hash: u64, id: &str, v: V) -> Slot {
        debug_assert!(!self.contains_key(id) && hash == hash_id(id));
        let e = self.raw.insert_unique(hash, (ThinId::new(id), v), rehash);
        Slot(e.bucket_index())
    }

    /// Removes the entry of `id`.
    pub fn remove(&mut self, id: &str) -> Option<V> {
        let key = Key::of(id);
        match self.raw.find_entry(hash_id(id), |e| key.matches(&e.0)) {
            Ok(e) => Some(e.remove().0 .1),
            Err(_) => None,
        }
    }

    /// The slots of the entries filed under `hash` for which `keep` holds
    /// (almost always one or none). `keep` is asked first, so the ids of
    /// entries it turns down are not read.
    pub fn slots_with_hash(
        &self,
        hash: u64,
        keep: impl Fn(&V) -> bool,
    ) -> smallvec::SmallVec<[Slot; 2]> {
        self.raw
            .iter_hash_buckets(hash)
            .filter(|&i| {
                self.raw
                    .get_bucket(i)
                    .is_some_and(|e| keep(&e.1) && hash_id(&e.0.as_str()) == hash)
            })
            .map(Slot)
            .collect()
    }

    /// The id and entry at a slot, the entry to change.
    #[inline]
    pub fn entry_at_mut(&mut self, s: Slot) -> (IdStr<'_>, &mut V) {
        let e = self
            .raw
            .get_bucket_mut(s.0)
            .expect("slot of a present entry");
        (e.0.as_str(), &mut e.1)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (IdStr<'_>, &V)> {
        self.raw.iter().map(|e| (e.0.as_str(), &e.1))
    }

    /// Every entry, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (IdStr<'_>, &mut V)> {
        self.raw.iter_mut().map(|e| (e.0.as_str(), &mut e.1))
    }

    /// Keeps the entries for which `f` says so.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &mut V) -> bool) {
        self.raw.retain(|e| f(&e.0.as_str(), &mut e.1));
    }
}

impl<V: Serialize> Serialize for Table<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // SAFETY: the ids of the table's entries, borrowed with it.
        unsafe { serialize_entries(s, self.len(), self.raw.iter().map(|e| (e.0.bits(), &e.1))) }
    }
}

/// A copy of a table's entries, taken between two events, that serializes
/// exactly as the table does (the same entries, in the same order): what a
/// checkpoint is encoded from off the applying thread. It keeps the ids'
/// addresses, not copies of them: the ids it reads are held back from
/// being freed while it is alive (`held_ids`).
pub struct Frozen<V> {
    entries: Vec<(IdAt, V)>,
    /// Dropped after `entries`, and made before the first address was taken.
    _hold: Hold,
}

/// The bits of an id of a frozen copy: a packed id, or its address.
struct IdAt(NonZeroU64);

// SAFETY: the id at the address never changes and is not freed while the
// copy holding it is alive (its `Hold`); reading it from another thread is
// like reading a shared `&str`.
unsafe impl Send for IdAt {}

impl<V: Clone> Table<V> {
    /// The entries, in the order [`Table`]'s serialization writes them,
    /// copied into the allocation of an earlier copy when it is large
    /// enough: memory written before, not new pages the kernel must first
    /// fault in and zero. A new allocation has room for an
    /// eighth more entries, so that a table growing slowly fits next time
    /// (room never written costs no memory).
    pub fn freeze_into(&self, spare: Spare<V>) -> Frozen<V> {
        let n = self.raw.len();
        let mut entries = spare.0;
        debug_assert!(entries.is_empty());
        if entries.capacity() < n {
            entries = Vec::with_capacity(n + n / 8);
        }
        let hold = Hold::new();
        entries.extend(self.raw.iter().map(|e| (IdAt(e.0.bits()), e.1.clone())));
        Frozen {
            entries,
            _hold: hold,
        }
    }
}

/// The allocation of a [`Frozen`] copy that was encoded: no entries, its
/// capacity kept for the next copy ([`Table::freeze_into`]).
pub struct Spare<V>(Vec<(IdAt, V)>);

impl<V> Default for Spare<V> {
    fn default() -> Self {
        Spare(Vec::new())
    }
}

impl<V> Frozen<V> {
    /// Empties the copy (its ids are no longer held back) and keeps its
    /// allocation.
    pub fn into_spare(self) -> Spare<V> {
        let Frozen { mut entries, _hold } = self;
        entries.clear();
        drop(_hold);
        Spare(entries)
    }
}

impl<V: Serialize> Serialize for Frozen<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries.iter().map(|(id, v)| (id.0, v));
        // SAFETY: the ids of the table when the copy was taken, held back
        // from being freed since (`_hold`).
        unsafe { serialize_entries(s, self.entries.len(), entries) }
    }
}

/// Writes `len` entries as a map of ids to values, as [`Table`] and
/// [`Frozen`] serialize.
///
/// Entries come in bucket order, the ids that are not packed (in the
/// pool, in creation order) at random: each would be a miss to memory in
/// a large table, so the ids of the entries a few places ahead are asked
/// for while one is written.
///
/// # Safety
/// Every value is the bits of a [`ThinId`] whose text is not freed before
/// this returns.
unsafe fn serialize_entries<'a, S: Serializer, V: Serialize + 'a>(
    s: S,
    len: usize,
    entries: impl Iterator<Item = (NonZeroU64, &'a V)> + Clone,
) -> Result<S::Ok, S::Error> {
    let ask = |id: NonZeroU64| {
        if let Some(p) = bits_addr(id) {
            prefetch(p.as_ptr() as usize);
        }
    };
    let mut m = s.serialize_map(Some(len))?;
    let mut ahead = entries.clone();
    for (id, _) in ahead.by_ref().take(ID_AHEAD) {
        ask(id);
    }
    for (id, v) in entries {
        if let Some((a, _)) = ahead.next() {
            ask(a);
        }
        // SAFETY: the caller's promise.
        m.serialize_entry(&*unsafe { IdStr::of(id) }, v)?;
    }
    m.end()
}

/// Entries a deserialized table reserves room for at most before it
/// reads them. A checkpoint's chunks are checksummed, so the count it
/// gives is the count written; this only keeps a foreign or crafted count
/// from reserving more than 64 Mi entries (of which only the control
/// bytes, 64 MiB, are written before entries arrive).
const RESERVE_AT_MOST: usize = 1 << 26;

/// Reads a map key (an id) into a reused buffer.
struct IdInto<'b>(&'b mut String);

impl<'de> serde::de::DeserializeSeed<'de> for IdInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IdInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(s);
        Ok(())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Table<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of ids to entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Table<V>, A::Error> {
                let mut t = Table::<V>::default();
                // Room for the entries the map says it has (a checkpoint
                // says): the table is sized once, not doubled as it fills.
                let n = a.size_hint().unwrap_or(0).min(RESERVE_AT_MOST);
                t.raw.reserve(n, rehash);
                // Each id is read into one reused buffer: no allocation
                // for an id that packs.
                let mut k = String::new();
                while a.next_key_seed(IdInto(&mut k))?.is_some() {
                    let v = a.next_value::<V>()?;
                    let key = Key::of(&k);
                    match t.raw.entry(hash_id(&k), |e| key.matches(&e.0), rehash) {
                        hashbrown::hash_table::Entry::Occupied(_) => {
                            return Err(serde::de::Error::custom(format!("duplicate id `{k}`")));
                        }
                        hashbrown::hash_table::Entry::Vacant(slot) => {
                            slot.insert((ThinId::keyed(key, &k), v));
                        }
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_copy_reads_its_ids_after_the_table_drops_them() {
        let mut t = Table::default();
        for i in 0..1_000 {
            t.insert(&format!("T-{i:05}"), i);
        }
        t.insert("a ticket id longer than fifteen bytes", -1);
        let before = postcard::to_stdvec(&t).unwrap();
        let frozen = t.freeze_into(Spare::default());
        assert!(postcard::to_stdvec(&frozen).unwrap() == before);
        // Every id dropped and as many new ones made: freed, the old ids'
        // slots would be written (the pool's free list) and handed out again.
        drop(t);
        let mut u = Table::default();
        for i in 0..2_000 {
            u.insert(&format!("X-{i:05}"), i);
        }
        u.insert("another id longer than fifteen bytes", -2);
        assert!(
            postcard::to_stdvec(&frozen).unwrap() == before,
            "a frozen copy read ids its table had dropped"
        );
    }

    #[test]
    fn packed_and_unpacked_ids_share_a_table() {
        let mut t: Table<usize> = Table::default();
        let ids: Vec<String> = (0..3_000)
            .map(|i| match i % 3 {
                0 => format!("T-{i:08}"),
                1 => format!("T_{i}"),
                _ => format!("ticket-{i}-of-a-long-series"),
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            t.insert(id, i);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.get(id), Some(&i));
            let s = t.slot(id).expect("present");
            assert_eq!(t.entry_at(s).0, id.as_str());
            assert_eq!(t.slots_with_hash(hash_id(id), |_| true).as_slice(), &[s]);
        }
        // Near misses of every kind are absent.
        for q in [
            "T-0000000",
            "T-000000000",
            "T_",
            "t-00000000",
            "T-00000003 ",
        ] {
            assert!(!t.contains_key(q), "{q:?}");
        }
        let mut seen: Vec<String> = t.iter().map(|(id, _)| id.to_string()).collect();
        seen.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(seen, want);
        for id in ids.iter().step_by(2) {
            assert!(t.remove(id).is_some());
        }
        assert_eq!(t.len(), 1_500);
        let back: Table<usize> = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(back.get(id), (i % 2 == 1).then_some(&i));
        }
        // The same through postcard (a checkpoint's encoding, which gives
        // the map's length first), and an id twice is refused, packed or not.
        let bytes = postcard::to_stdvec(&back).unwrap();
        let again: Table<usize> = postcard::from_bytes(&bytes).unwrap();
        let sorted = |t: &Table<usize>| {
            let mut v: Vec<(String, usize)> = t.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            v.sort();
            v
        };
        assert!(sorted(&again) == sorted(&back), "postcard round trip");
        for dup in [r#"{"T-1":1,"T-1":2}"#, r#"{"T_1":1,"T_1":2}"#] {
            let e = serde_json::from_str::<Table<usize>>(dup).unwrap_err();
            assert!(e.to_string().contains("duplicate id"), "{e}");
        }
    }

    #[test]
    fn slots_hashes_and_removal() {
        let mut t: Table<u32> = Table::default();
        for i in 0..1000u32 {
            let s = t.insert(&format!("T{i}"), i);
            assert_eq!(*t.at(s), i);
        }
        assert_eq!(t.len(), 1000);
        let s = t.slot("T7").unwrap();
        *t.at_mut(s) += 1000;
        assert_eq!(t.get("T7"), Some(&1007));
        assert_eq!(t.entry_at_mut(s).0, "T7");
        let by_hash = t.slots_with_hash(hash_id("T7"), |_| true);
        assert_eq!(by_hash.as_slice(), &[s]);
        assert!(t.slots_with_hash(hash_id("T7"), |v| *v != 1007).is_empty());
        assert!(t.slots_with_hash(hash_id("nope"), |_| true).is_empty());
        assert_eq!(t.remove("T7"), Some(1007));
        assert_eq!(t.remove("T7"), None);
        assert!(!t.contains_key("T7"));
        t.retain(|id, v| id != "T8" && *v < 500);
        assert_eq!(t.len(), 498);
        let json = serde_json::to_string(&t).unwrap();
        let back: Table<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), 498);
        assert_eq!(back.get("T9"), Some(&9));
    }
}
