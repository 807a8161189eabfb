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

use rustc_hash::FxBuildHasher;
use serde::de::{MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::changes::Marks;
use super::growing::Growing;
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

/// How many buckets ahead [`Table::retain`] asks for entries.
const SWEEP_AHEAD: usize = 16;

/// Where an entry sits; valid until the table's next insert or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

/// Entities by id.
pub struct Table<V> {
    raw: Growing<(ThinId, V)>,
    /// Entries changed since the last checkpoint (`super::changes`).
    marks: Marks,
    /// Ids removed since the last checkpoint, while marks are on.
    removed: Ids,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            raw: Growing::default(),
            marks: Marks::default(),
            removed: Ids::default(),
        }
    }
}

/// A clone marks nothing: it is not the table checkpoints follow.
impl<V: Clone + Send + 'static> Clone for Table<V> {
    fn clone(&self) -> Self {
        Table {
            raw: self.raw.clone(),
            ..Table::default()
        }
    }
}

/// Ids end to end.
#[derive(Debug, Default)]
pub struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a..b])
    }
}

impl<V: fmt::Debug + Send + 'static> fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn rehash<V>(e: &(ThinId, V)) -> u64 {
    hash_id(&e.0.as_str())
}

impl<V: Send + 'static> Table<V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The slot of `id`.
    #[inline]
    pub fn slot(&self, id: &str) -> Option<Slot> {
        self.slot_hashed(hash_id(id), id)
    }

    /// The slot of `id`, whose [`hash_id`] is `hash`.
    #[inline]
    pub fn slot_hashed(&self, hash: u64, id: &str) -> Option<Slot> {
        let key = Key::of(id);
        self.raw.find(hash, |e| key.matches(&e.0)).map(Slot)
    }

    /// A cache hint ahead of a lookup of the id hashed `hash` ([`hash_id`],
    /// see [`super::probe`]); nothing for a table that fits in cache.
    #[inline]
    pub fn prefetch(&self, hash: u64, step: Step) {
        for (probe, raw) in self.raw.probes() {
            if !Probe::wants(raw) {
                continue;
            }
            match step {
                Step::Group => {
                    probe.group(raw, hash);
                    // The entries at the bucket the probe starts at: where
                    // a new id goes, and where an id already filed mostly
                    // is (there, or a few entries on, on the same page).
                    // Their address needs only the hash, so the walk to
                    // their page starts now, beside the group's, rather
                    // than once the group is read.
                    probe.vacancy(raw, hash);
                }
                Step::Entry => {
                    probe.entry(raw, hash);
                }
                Step::Key => {
                    // The entry is in cache by now: its id's bytes are
                    // next, unless they are packed in it.
                    if let Some(p) = probe.entry(raw, hash).and_then(|e| e.0.addr()) {
                        prefetch(p.as_ptr() as usize);
                    }
                }
                Step::Spilled => {}
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
            .find_ref(hash_id(id), |e| key.matches(&e.0))
            .map(|e| &e.1)
    }

    /// The entry of `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let s = self.slot(id)?;
        Some(self.at_mut(s))
    }

    /// The entry at a slot from [`Table::slot`] or [`Table::insert`].
    ///
    /// # Panics
    /// If the slot is empty (the table changed since it was taken).
    #[inline]
    pub fn at(&self, s: Slot) -> &V {
        &self.raw.get(s.0).expect("slot of a present entry").1
    }

    /// The id and entry at a slot.
    #[inline]
    pub fn entry_at(&self, s: Slot) -> (IdStr<'_>, &V) {
        let e = self.raw.get(s.0).expect("slot of a present entry");
        (e.0.as_str(), &e.1)
    }

    /// The entry at a slot, to change.
    #[inline]
    pub fn at_mut(&mut self, s: Slot) -> &mut V {
        self.marks.mark(s.0);
        &mut self.raw.get_mut(s.0).expect("slot of a present entry").1
    }

    /// Adds an entry for an id that is not present; returns its slot.
    #[cfg(test)]
    pub fn insert(&mut self, id: &str, v: V) -> Slot {
        self.insert_hashed(hash_id(id), id, v)
    }

    /// [`Table::insert`] with the id's [`hash_id`] already at hand.
    pub fn insert_hashed(&mut self, hash: u64, id: &str, v: V) -> Slot {
        debug_assert!(!self.contains_key(id) && hash == hash_id(id));
        let e = (ThinId::new(id), v);
        let i = self.raw.insert_unique(hash, e, rehash, &mut self.marks);
        self.marks.mark(i);
        Slot(i)
    }

    /// Moves up to `n` entries into a larger table, if the table is
    /// growing (`super::growing`).
    #[inline]
    pub fn advance_moves(&mut self, n: usize) {
        self.raw.advance(n, rehash, &mut self.marks);
    }

    /// Makes room for `n` entries in all, at once, so that the table does
    /// not grow (start a table twice the size and move its entries into
    /// it, `super::growing`) until it holds more.
    pub fn reserve(&mut self, n: usize) {
        self.raw.reserve(n, rehash, &mut self.marks);
    }

    /// Room for entries before the table grows.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// Removes the entry of `id`.
    pub fn remove(&mut self, id: &str) -> Option<V> {
        let key = Key::of(id);
        let (_, v) = self.raw.remove(hash_id(id), |e| key.matches(&e.0))?;
        if self.marks.on() {
            self.removed.push(id);
        }
        Some(v)
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
            .indices_with_hash(hash)
            .filter(|&i| {
                self.raw
                    .get(i)
                    .is_some_and(|e| keep(&e.1) && hash_id(&e.0.as_str()) == hash)
            })
            .map(Slot)
            .collect()
    }

    /// The id and entry at a slot, the entry to change.
    #[inline]
    pub fn entry_at_mut(&mut self, s: Slot) -> (IdStr<'_>, &mut V) {
        self.marks.mark(s.0);
        let e = self.raw.get_mut(s.0).expect("slot of a present entry");
        (e.0.as_str(), &mut e.1)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (IdStr<'_>, &V)> {
        self.raw.iter().map(|e| (e.0.as_str(), &e.1))
    }

    /// Calls `f` on every entry for which `pick` holds, to change it (only
    /// those count as changed).
    pub fn each_mut_where(
        &mut self,
        pick: impl Fn(&V) -> bool,
        mut f: impl FnMut(IdStr<'_>, &mut V),
    ) {
        for i in self.raw.indices() {
            if let Some(e) = self.raw.get_mut(i) {
                if pick(&e.1) {
                    self.marks.mark(i);
                    f(e.0.as_str(), &mut e.1);
                }
            }
        }
    }

    /// Keeps the entries for which `f` says so. An entry's id is read
    /// (unpacked, [`ThinId`]) only when it is removed and removals are
    /// marked: the expiry sweeps pass over every entry.
    pub fn retain(&mut self, mut f: impl FnMut(&V) -> bool) {
        let (marking, removed) = (self.marks.on(), &mut self.removed);
        self.raw.retain(|e| {
            // The entry SWEEP_AHEAD buckets on: hashbrown lays entries out
            // downwards and visits buckets upwards. Only an address to
            // hint (`super::probe`), never read.
            let at = (e as *const (ThinId, V) as usize)
                .wrapping_sub(SWEEP_AHEAD * std::mem::size_of::<(ThinId, V)>());
            prefetch(at);
            let keep = f(&e.1);
            if !keep && marking {
                removed.push(&e.0.as_str());
            }
            keep
        });
    }

    /// Marks the entries changed from now on (`super::changes`), for
    /// checkpoints that write only those.
    pub fn track_changes(&mut self) {
        self.marks.start();
        self.removed = Ids::default();
    }

    /// Whether changes are marked.
    pub fn tracks_changes(&self) -> bool {
        self.marks.on()
    }
}

impl<V: Serialize + Send + 'static> Serialize for Table<V> {
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

impl<V: Clone + Send + 'static> Table<V> {
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

/// The entries of a table changed since its last copy, and the ids it
/// removed meanwhile: what a checkpoint of changes writes of it (read back
/// as [`TableChanges`]). Ids are held as in [`Frozen`].
pub struct FrozenChanges<V> {
    removed: Ids,
    entries: Vec<(IdAt, V)>,
    _hold: Hold,
}

impl<V: Clone + Send + 'static> Table<V> {
    /// The changes since the last copy, into the allocation of an earlier
    /// copy, and no more marks; `None` when changes are not marked.
    pub fn freeze_changes_into(&mut self, spare: Spare<V>) -> Option<FrozenChanges<V>> {
        if !self.tracks_changes() {
            return None;
        }
        let mut entries = spare.0;
        let hold = Hold::new();
        for i in self.marks.take() {
            if let Some(e) = self.raw.get(i) {
                entries.push((IdAt(e.0.bits()), e.1.clone()));
            }
        }
        Some(FrozenChanges {
            removed: std::mem::take(&mut self.removed),
            entries,
            _hold: hold,
        })
    }
}

impl<V> FrozenChanges<V> {
    /// Empties the copy and keeps its allocation.
    pub fn into_spare(self) -> Spare<V> {
        let FrozenChanges {
            mut entries, _hold, ..
        } = self;
        entries.clear();
        drop(_hold);
        Spare(entries)
    }
}

impl<V: Serialize> Serialize for FrozenChanges<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Entries<'a, V>(&'a [(IdAt, V)]);
        impl<V: Serialize> Serialize for Entries<'_, V> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let entries = self.0.iter().map(|(id, v)| (id.0, v));
                // SAFETY: as for `Frozen`.
                unsafe { serialize_entries(s, self.0.len(), entries) }
            }
        }
        struct Removed<'a>(&'a Ids);
        impl Serialize for Removed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter())
            }
        }
        let mut w = s.serialize_struct("TableChanges", 2)?;
        w.serialize_field("removed", &Removed(&self.removed))?;
        w.serialize_field("entries", &Entries(&self.entries))?;
        w.end()
    }
}

/// The changes of a table as a checkpoint of changes holds them: the ids
/// removed, then the entries written, to apply in that order.
#[derive(Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de> + Send + 'static"))]
pub struct TableChanges<V> {
    removed: Vec<String>,
    entries: Table<V>,
}

impl<V: Send + 'static> Table<V> {
    /// Applies the changes read from a checkpoint: removes the ids removed
    /// (an id absent is one added and removed since the copy before), then
    /// adds or replaces the entries written.
    pub fn apply_changes(&mut self, c: TableChanges<V>) {
        for id in &c.removed {
            self.remove(id);
        }
        let mut from = c.entries;
        for (id, v) in from.raw.drain() {
            let at = self.find_id(&id.as_str());
            self.put(at, v, || id);
        }
    }

    /// The hash of the id `text`, and the index of its entry if present.
    fn find_id(&self, text: &str) -> (u64, Option<usize>) {
        let (hash, key) = (hash_id(text), Key::of(text));
        (hash, self.raw.find(hash, |e| key.matches(&e.0)))
    }

    /// Sets the entry [`Table::find_id`] found to `v`, or adds one with
    /// the id `id` makes.
    fn put(&mut self, (hash, at): (u64, Option<usize>), v: V, id: impl FnOnce() -> ThinId) {
        match at {
            Some(i) => self.raw.get_mut(i).expect("found").1 = v,
            None => {
                self.raw
                    .insert_unique(hash, (id(), v), rehash, &mut self.marks);
            }
        }
    }
}

/// A table kept apart from the engine's, following its copies: what a
/// `super::freeze::Mirror` keeps between checkpoints so that a whole one
/// is encoded without the engine's tables being copied whole again.
impl<V: Send + 'static> Table<V> {
    /// A table of a whole copy's entries, moved out of it (the copy keeps
    /// its allocation, emptied).
    pub fn take_whole(f: &mut Frozen<V>) -> Table<V> {
        let mut t = Table::default();
        t.raw.reserve(f.entries.len(), rehash, &mut ());
        for (id, v) in f.entries.drain(..) {
            // SAFETY: an id of the copy, held back by its `_hold`.
            let id = unsafe { IdStr::of(id.0) };
            t.raw
                .insert_unique(hash_id(&id), (ThinId::new(&id), v), rehash, &mut ());
        }
        t
    }

    /// Applies a copy of changes as [`Table::apply_changes`] applies one
    /// read back, its entries moved out of it.
    pub fn follow(&mut self, c: &mut FrozenChanges<V>) {
        for id in c.removed.iter() {
            self.remove(id);
        }
        for (id, v) in c.entries.drain(..) {
            // SAFETY: as in `take_whole`.
            let id = unsafe { IdStr::of(id.0) };
            let at = self.find_id(&id);
            self.put(at, v, || ThinId::new(&id));
        }
        // A move under way is finished here, off the applying thread.
        self.raw.advance(usize::MAX, rehash, &mut ());
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

impl<'de, V: Deserialize<'de> + Send + 'static> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de> + Send + 'static> Visitor<'de> for V2<V> {
            type Value = Table<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of ids to entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Table<V>, A::Error> {
                let mut t = Table::<V>::default();
                // Room for the entries the map says it has (a checkpoint
                // says): the table is sized once, not doubled as it fills.
                let n = a.size_hint().unwrap_or(0).min(RESERVE_AT_MOST);
                t.raw.reserve(n, rehash, &mut ());
                // Each id is read into one reused buffer: no allocation
                // for an id that packs.
                let mut k = String::new();
                while a.next_key_seed(IdInto(&mut k))?.is_some() {
                    let v = a.next_value::<V>()?;
                    let key = Key::of(&k);
                    let make = || (ThinId::keyed(key, &k), v);
                    let eq = |e: &(ThinId, V)| key.matches(&e.0);
                    let (_, _, added) =
                        t.raw.find_or_insert(hash_id(&k), eq, make, rehash, &mut ());
                    if !added {
                        return Err(serde::de::Error::custom(format!("duplicate id `{k}`")));
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

    fn sorted(t: &Table<u32>) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = t.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        v.sort();
        v
    }

    #[test]
    fn a_copy_plus_its_changes_is_the_table() {
        // Random inserts, changes and removals between checkpoints; the
        // first checkpoint is whole, the others of changes, read back onto
        // the checkpoints before.
        let mut t: Table<u32> = Table::default();
        t.track_changes();
        let mut back: Option<Table<u32>> = None;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let (mut wholes, mut deltas) = (0, 0);
        for round in 0..60u32 {
            for _ in 0..rnd(400) {
                let id = match rnd(3) {
                    0 => format!("T-{:06}", rnd(3_000)),
                    1 => format!("a-long-ticket-id-{}", rnd(3_000)),
                    _ => format!("t{}", rnd(3_000)),
                };
                match (t.slot(&id), rnd(4)) {
                    (None, _) => {
                        t.insert(&id, round);
                    }
                    (Some(s), 0) => *t.at_mut(s) += 1,
                    (Some(_), 1) => *t.get_mut(&id).unwrap() += 7,
                    (Some(_), 2) => {
                        t.remove(&id);
                        // Sometimes back at once, with another value.
                        if rnd(2) == 0 {
                            t.insert(&id, 1_000 + round);
                        }
                    }
                    (Some(_), _) => t.each_mut_where(|v| *v % 5 == 0, |_, v| *v += 1),
                }
            }
            if round % 7 == 3 {
                t.retain(|v| v % 3 != 0);
            }
            if round == 20 || round == 45 {
                // Room made between events (`[state] reserve_*` on a
                // restored engine) moves every entry at once, marks and all.
                let before = t.raw.num_buckets();
                t.reserve(t.capacity() * 2 + 1);
                assert!(t.raw.num_buckets() > before);
            }
            match (back.as_mut(), t.freeze_changes_into(Spare::default())) {
                (Some(b), Some(c)) => {
                    let bytes = postcard::to_stdvec(&c).unwrap();
                    b.apply_changes(postcard::from_bytes(&bytes).unwrap());
                    deltas += 1;
                }
                _ => {
                    let bytes = postcard::to_stdvec(&t.freeze_into(Spare::default())).unwrap();
                    t.track_changes();
                    back = Some(postcard::from_bytes(&bytes).unwrap());
                    wholes += 1;
                }
            }
            assert!(
                sorted(back.as_ref().unwrap()) == sorted(&t),
                "round {round}: the checkpoints read back are not the table"
            );
        }
        // Only the first is whole: the table grew through several moves
        // (from empty to thousands), some of them under way across
        // checkpoints, and its marks followed the entries they moved.
        assert!(
            wholes == 1 && deltas == 59,
            "{wholes} whole, {deltas} of changes"
        );
        assert!(t.raw.num_buckets() >= 1024, "{}", t.raw.num_buckets());
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
        t.retain(|v| *v != 8 && *v < 500);
        assert_eq!(t.len(), 498);
        let json = serde_json::to_string(&t).unwrap();
        let back: Table<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), 498);
        assert_eq!(back.get("T9"), Some(&9));
    }
}
