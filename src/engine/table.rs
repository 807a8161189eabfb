//! Tickets and calls by id.
//!
//! A [`Table`] is a hash table whose entries can also be reached by the
//! hash of their id alone, so an SLA timer names its ticket with eight
//! bytes instead of a copy of the id, and by a [`Slot`] that stays valid
//! until the next insert or remove, so one event looks its ticket up once.
//! Ids are stored behind one thin pointer ([`ThinId`]): with a 56-byte
//! ticket, an entry fills exactly 64 bytes. Ids of up to 15 bytes live in
//! the 16-byte slots of [`super::id_pool`], longer ones on the heap.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ptr::NonNull;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::held_ids::{self, Hold};
use super::id_pool;
use super::probe::{prefetch, Probe, Step};

/// An immutable string on the heap behind one pointer: its length (one
/// byte below 255, else 255 and four bytes), then its bytes.
pub struct ThinId(NonNull<u8>);

// SAFETY: a ThinId owns its allocation and never changes it after `new`;
// sharing or sending it is like sharing or sending a `Box<str>`.
unsafe impl Send for ThinId {}
unsafe impl Sync for ThinId {}

/// First byte of a header whose length follows as a `u32`.
const LONG: u8 = u8::MAX;

fn header_len(len: usize) -> usize {
    if len < LONG as usize {
        1
    } else {
        5
    }
}

impl ThinId {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(header_len(len) + len, 1).expect("an id's length fits a layout")
    }

    /// Copies `s` (at most 4 GiB; event ids are far shorter).
    pub fn new(s: &str) -> ThinId {
        let len = u32::try_from(s.len()).expect("ids are shorter than 4 GiB");
        let layout = Self::layout(s.len());
        let p = if layout.size() <= id_pool::SLOT {
            id_pool::take()
        } else {
            // SAFETY: the layout is at least one byte, never zero-sized.
            let p = unsafe { alloc(layout) };
            let Some(p) = NonNull::new(p) else {
                handle_alloc_error(layout)
            };
            p
        };
        // SAFETY: `p` is valid for header + len bytes; `s` lies in another
        // allocation; the u32 is written unaligned.
        unsafe {
            let h = header_len(s.len());
            if h == 1 {
                p.as_ptr().write(len as u8);
            } else {
                p.as_ptr().write(LONG);
                p.as_ptr().add(1).cast::<u32>().write_unaligned(len);
            }
            std::ptr::copy_nonoverlapping(s.as_ptr(), p.as_ptr().add(h), s.len());
        }
        ThinId(p)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // SAFETY: `self` owns the id and lives as long as the borrow.
        unsafe { str_at(self.0) }
    }
}

/// Header and string lengths of the id at `p`.
///
/// # Safety
/// `p` is the address of an id made by [`ThinId::new`], not yet freed.
unsafe fn lens(p: NonNull<u8>) -> (usize, usize) {
    // SAFETY: `new` wrote the header at the start of the allocation.
    unsafe {
        match p.as_ptr().read() {
            LONG => (5, p.as_ptr().add(1).cast::<u32>().read_unaligned() as usize),
            n => (1, n as usize),
        }
    }
}

/// The id at `p`.
///
/// # Safety
/// As [`lens`], and the id is not freed while the string is used.
unsafe fn str_at<'a>(p: NonNull<u8>) -> &'a str {
    // SAFETY: `new` copied `len` bytes of a `&str` after the header; they
    // are valid UTF-8 and live until the id is freed.
    unsafe {
        let (h, len) = lens(p);
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.as_ptr().add(h), len))
    }
}

/// Frees the id at `p` (to the pool, or to the heap when long).
///
/// # Safety
/// As [`lens`]; nothing reads it afterwards, and it is freed once.
pub(super) unsafe fn free_id(p: NonNull<u8>) {
    // SAFETY: the caller's promise.
    let layout = ThinId::layout(unsafe { lens(p) }.1);
    if layout.size() <= id_pool::SLOT {
        // SAFETY: `new` took this slot from the pool for this id alone.
        unsafe { id_pool::give(p) }
    } else {
        // SAFETY: allocated by `new` with this very layout.
        unsafe { dealloc(p.as_ptr(), layout) }
    }
}

impl Drop for ThinId {
    fn drop(&mut self) {
        // A frozen copy of its table may still read it.
        if held_ids::hold_back(self.0) {
            return;
        }
        // SAFETY: `self` owns the id, and this is its one drop.
        unsafe { free_id(self.0) }
    }
}

impl Clone for ThinId {
    fn clone(&self) -> ThinId {
        ThinId::new(self.as_str())
    }
}

impl fmt::Debug for ThinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

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
    hash_id(e.0.as_str())
}

impl<V> Table<V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The slot of `id`.
    #[inline]
    pub fn slot(&self, id: &str) -> Option<Slot> {
        self.raw
            .find_bucket_index(hash_id(id), |e| e.0.as_str() == id)
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
                // The entry is in cache by now: its id's bytes are next.
                if let Some(e) = self.probe.entry(&self.raw, hash) {
                    prefetch(e.0 .0.as_ptr() as usize);
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
        self.raw
            .find(hash_id(id), |e| e.0.as_str() == id)
            .map(|e| &e.1)
    }

    /// The entry of `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        self.raw
            .find_mut(hash_id(id), |e| e.0.as_str() == id)
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
    pub fn entry_at(&self, s: Slot) -> (&str, &V) {
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
        match self.raw.find_entry(hash_id(id), |e| e.0.as_str() == id) {
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
                    .is_some_and(|e| keep(&e.1) && hash_id(e.0.as_str()) == hash)
            })
            .map(Slot)
            .collect()
    }

    /// The id and entry at a slot, the entry to change.
    #[inline]
    pub fn entry_at_mut(&mut self, s: Slot) -> (&str, &mut V) {
        let e = self
            .raw
            .get_bucket_mut(s.0)
            .expect("slot of a present entry");
        (e.0.as_str(), &mut e.1)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.raw.iter().map(|e| (e.0.as_str(), &e.1))
    }

    /// Every entry, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut V)> {
        self.raw.iter_mut().map(|e| (e.0.as_str(), &mut e.1))
    }

    /// Keeps the entries for which `f` says so.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &mut V) -> bool) {
        self.raw.retain(|e| f(e.0.as_str(), &mut e.1));
    }
}

impl<V: Serialize> Serialize for Table<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // SAFETY: the ids of the table's entries, borrowed with it.
        unsafe { serialize_entries(s, self.len(), self.raw.iter().map(|e| (e.0 .0, &e.1))) }
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

/// The address of an id of a frozen copy.
struct IdAt(NonNull<u8>);

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
        entries.extend(self.raw.iter().map(|e| (IdAt(e.0 .0), e.1.clone())));
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
/// Entries come in bucket order, their ids (in the pool, in creation
/// order) at random: each would be a miss to memory in a large table, so
/// the ids of the entries a few places ahead are asked for while one is
/// written.
///
/// # Safety
/// Every address is of an id (as [`lens`]) not freed before this returns.
unsafe fn serialize_entries<'a, S: Serializer, V: Serialize + 'a>(
    s: S,
    len: usize,
    entries: impl Iterator<Item = (NonNull<u8>, &'a V)> + Clone,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(len))?;
    let mut ahead = entries.clone();
    for (id, _) in ahead.by_ref().take(ID_AHEAD) {
        prefetch(id.as_ptr() as usize);
    }
    for (id, v) in entries {
        if let Some((a, _)) = ahead.next() {
            prefetch(a.as_ptr() as usize);
        }
        // SAFETY: the caller's promise.
        m.serialize_entry(unsafe { str_at(id) }, v)?;
    }
    m.end()
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
                let mut t = Table::default();
                while let Some((k, v)) = a.next_entry::<Box<str>, V>()? {
                    if t.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate id `{k}`")));
                    }
                    t.insert(&k, v);
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
    fn thin_ids_keep_their_text() {
        let long = |n: usize| "ü".repeat(n / 2) + &"x".repeat(n % 2);
        for s in [
            String::new(),
            "T1".into(),
            "ü-ticket-😀".into(),
            long(254),
            long(255),
            long(256),
            long(100_000),
        ] {
            let s = s.as_str();
            let id = ThinId::new(s);
            assert_eq!(id.as_str(), s);
            assert_eq!(id.clone().as_str(), s);
        }
        assert_eq!(std::mem::size_of::<ThinId>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinId>>(), 8);
    }

    #[test]
    fn pooled_and_heap_ids_live_side_by_side() {
        // Lengths around the pool's slot (15 bytes and its header fit, 16
        // do not), all alive at once, dropped in an interleaved order and
        // made again into the freed slots.
        let text = |n: usize, i: usize| format!("{i:x}-").repeat(n)[..n].to_string();
        let mut ids: Vec<(String, ThinId)> = (0..200)
            .map(|i| {
                let s = text(i % 20, i);
                let id = ThinId::new(&s);
                (s, id)
            })
            .collect();
        for (s, id) in &ids {
            assert_eq!(id.as_str(), s);
        }
        let mut i = 0;
        ids.retain(|_| {
            i += 1;
            i % 3 != 0
        });
        let again: Vec<(String, ThinId)> = (0..100)
            .map(|i| {
                let s = text(i % 20, 1000 + i);
                let id = ThinId::new(&s);
                (s, id)
            })
            .collect();
        for (s, id) in ids.iter().chain(&again) {
            assert_eq!(id.as_str(), s);
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
