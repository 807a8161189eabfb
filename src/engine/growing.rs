//! A hash table that grows a few entries at a time.
//!
//! A `hashbrown` table that is full grows in one go: the insert that finds
//! no room allocates a table twice the size and moves every entry into it
//! before it returns (and one whose room the marks of removed entries have
//! used up is rebuilt in place the same way). At ten million open tickets
//! that held the partition for 2.4 to 5.5 seconds, and every table of a
//! busy partition (tickets, calls, customers, the dedup memory) does it
//! once per doubling. A [`Growing`] table instead starts the new table
//! then, with room for twice the entries it holds (the same room when the
//! marks of removed entries filled it), and moves the old one's
//! entries a few at a time: [`MOVES`] on each later call that may insert,
//! and as many as its owner asks between those ([`Growing::advance`]: the
//! engine moves a few per event, a partition's worker more per publish
//! tick). Until the old table is empty, lookups read the new table and
//! then the old one, and both are held in memory, as `hashbrown` holds
//! both while it moves them all; tables whose moves overlap hold theirs at
//! once.
//!
//! The new table is prepared ahead of need: when the table in use has an
//! eighth of its room left, and its successor would take [`PREPARE_FROM`]
//! bytes or more, a background thread allocates that successor with its
//! pages faulted in (what [`prepare_with`] installed: in the binaries
//! `crate::background::prepare`), and the move begins into it. The kernel zeroes a huge
//! page the first time it is touched (under virtualisation, a page the
//! host has not backed yet faults there too), and the moves and inserts
//! into a new table of hundreds of megabytes touch all its pages within a
//! few batches: the thread applying events spent up to 150 ms of a batch
//! of a thousand events in that zeroing (docs/performance.md, "Tables
//! prepared ahead"). A successor not ready in time, or with the wrong room
//! by then (removed entries changed what the move needs), is dropped and
//! the table allocated as before.
//!
//! An entry's index is its bucket in the new table, or the old table's
//! base plus its bucket there. Like a bucket of `hashbrown` it stays
//! valid until the next call that may insert, remove or move; a caller
//! that keeps indices (the change marks of `super::changes`) is told of
//! every move ([`Follow`]).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::probe::Probe;

/// Entries moved to the new table per call that may insert. The new table
/// has room for twice the entries the old one held when the move began,
/// so with more than one move per insert the old one is empty well before
/// the new one is full. Owners move more on their own time
/// ([`Growing::advance`]), so that a move ends soon where inserts are few.
pub const MOVES: usize = 4;

/// Successor tables of this many bytes or more are prepared ahead on the
/// background thread: the size from which the process's allocator maps a
/// block of its own on huge pages (`crate::huge_pages::LARGE`). Smaller
/// ones are allocated when the move begins, in microseconds.
pub const PREPARE_FROM: usize = 8 << 20;

/// Runs `job` on a thread of its own, with the large blocks it allocates
/// faulted in until `stop` is raised; false when it cannot (the job is
/// dropped unrun). The engine does no work off the caller's thread itself:
/// the binaries install `crate::background::prepare` ([`prepare_with`]).
pub type Prepare = fn(stop: Arc<AtomicBool>, job: Box<dyn FnOnce() + Send>) -> bool;

static PREPARE: OnceLock<Prepare> = OnceLock::new();

/// Where successor tables are prepared ahead, for the whole process (the
/// first call wins). Without it none is: each table is allocated when its
/// move begins.
pub fn prepare_with(p: Prepare) {
    let _ = PREPARE.set(p);
}

/// Locks `m`, poisoned or not (a successor is replaced whole under it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A successor table being prepared on the background thread. Not cloned
/// (a clone prepares its own); dropped, it is no longer wanted.
struct Prepared<T>(Option<Arc<Successor<T>>>);

/// A successor table and whether it is still wanted.
struct Successor<T> {
    /// Raised when the table is not wanted any more: its preparing stops
    /// (the move began without it, or its `Growing` is gone).
    unwanted: Arc<AtomicBool>,
    /// The table, once ready.
    table: Mutex<Option<HashTable<T>>>,
}

impl<T> Clone for Prepared<T> {
    fn clone(&self) -> Self {
        Prepared(None)
    }
}

impl<T> Drop for Prepared<T> {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.unwanted.store(true, Ordering::Relaxed);
        }
    }
}

/// What keeps indices of a [`Growing`] table's entries, told when they
/// change.
pub trait Follow {
    /// Every index is now `by` higher (a move began: the new table became
    /// the old one). `by` is a multiple of 64.
    fn shift(&mut self, by: usize);
    /// The entry at `from` is now at `to`.
    fn moved(&mut self, from: usize, to: usize);
}

/// Nothing to follow.
impl Follow for () {
    fn shift(&mut self, _: usize) {}
    fn moved(&mut self, _: usize, _: usize) {}
}

/// A hash table of `T` that moves its entries into a larger table a few
/// at a time (see the module's text).
#[derive(Clone)]
pub struct Growing<T> {
    new: HashTable<T>,
    /// Entries not moved yet; no allocation when there are none.
    old: HashTable<T>,
    /// Where the old table's indices start: the new table's buckets,
    /// rounded up to a whole 64.
    base: usize,
    /// The old table's next bucket to move.
    next: usize,
    /// Cache hints, for the new table.
    probe: Probe,
    /// Cache hints, for the old table (the new table's, when it became
    /// the old one).
    old_probe: Probe,
    /// The table the next move goes into, when one is being prepared.
    next_table: Prepared<T>,
    /// Bytes from which successors are prepared ahead ([`PREPARE_FROM`]).
    prepare_from: usize,
    /// Moves begun into a prepared table.
    #[cfg(test)]
    prepared_used: usize,
}

impl<T> Default for Growing<T> {
    fn default() -> Self {
        Growing {
            new: HashTable::new(),
            old: HashTable::new(),
            base: 0,
            next: 0,
            probe: Probe::default(),
            old_probe: Probe::default(),
            next_table: Prepared(None),
            prepare_from: PREPARE_FROM,
            #[cfg(test)]
            prepared_used: 0,
        }
    }
}

impl<T> Growing<T> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }

    /// Room for entries before the next move begins.
    pub fn capacity(&self) -> usize {
        self.new.capacity() - self.old.len()
    }

    /// Successors of `bytes` or more are prepared ahead (not the default
    /// [`PREPARE_FROM`]: tests grow small tables).
    #[cfg(test)]
    pub fn prepare_from(mut self, bytes: usize) -> Self {
        self.prepare_from = bytes;
        self
    }

    /// Whether entries are being moved.
    #[cfg(test)]
    pub fn moving(&self) -> bool {
        !self.old.is_empty()
    }

    /// The buckets of the new table.
    #[cfg(test)]
    pub fn num_buckets(&self) -> usize {
        self.new.num_buckets()
    }

    /// The index of the entry for which `eq` holds among those filed under
    /// `hash`.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<usize> {
        if let Some(i) = self.new.find_bucket_index(hash, &mut eq) {
            return Some(i);
        }
        if self.old.is_empty() {
            return None;
        }
        self.old.find_bucket_index(hash, eq).map(|i| self.base + i)
    }

    /// The entry for which `eq` holds among those filed under `hash`.
    #[inline]
    pub fn find_ref(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<&T> {
        if let Some(e) = self.new.find(hash, &mut eq) {
            return Some(e);
        }
        if self.old.is_empty() {
            return None;
        }
        self.old.find(hash, eq)
    }

    /// The entry at index `i`, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i < self.base {
            self.new.get_bucket(i)
        } else {
            self.old.get_bucket(i - self.base)
        }
    }

    /// The entry at index `i`, to change.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i < self.base {
            self.new.get_bucket_mut(i)
        } else {
            self.old.get_bucket_mut(i - self.base)
        }
    }

    /// Removes the entry at index `i`, if there is one.
    pub fn remove_at(&mut self, i: usize) -> Option<T> {
        let e = if i < self.base {
            self.new.get_bucket_entry(i)
        } else {
            self.old.get_bucket_entry(i - self.base)
        };
        e.ok().map(|e| e.remove().0)
    }

    /// Removes the entry for which `eq` holds among those filed under
    /// `hash`.
    pub fn remove(&mut self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<T> {
        if let Ok(e) = self.new.find_entry(hash, &mut eq) {
            return Some(e.remove().0);
        }
        match self.old.find_entry(hash, eq) {
            Ok(e) => Some(e.remove().0),
            Err(_) => None,
        }
    }

    /// Every index that may hold an entry (some do not).
    pub fn indices(&self) -> std::iter::Chain<Range<usize>, Range<usize>> {
        let old = if self.old.is_empty() {
            0..0
        } else {
            self.base..self.base + self.old.num_buckets()
        };
        (0..self.new.num_buckets()).chain(old)
    }

    /// The indices of the entries filed under `hash` (and perhaps of
    /// others).
    pub fn indices_with_hash(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let old = (!self.old.is_empty())
            .then(|| self.old.iter_hash_buckets(hash).map(|i| self.base + i))
            .into_iter()
            .flatten();
        self.new.iter_hash_buckets(hash).chain(old)
    }

    /// Every entry: the new table's, then the old one's.
    pub fn iter(&self) -> impl Iterator<Item = &T> + Clone {
        self.new.iter().chain(self.old.iter())
    }

    /// Keeps the entries for which `f` says so.
    pub fn retain(&mut self, mut f: impl FnMut(&mut T) -> bool) {
        self.new.retain(&mut f);
        self.old.retain(f);
    }

    /// Takes every entry out.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.next = 0;
        self.next_table = Prepared(None);
        self.new.drain().chain(self.old.drain())
    }

    /// Cache hints into the new table (see [`super::probe`]): where
    /// entries are added.
    pub fn probe(&self) -> (&Probe, &HashTable<T>) {
        (&self.probe, &self.new)
    }

    /// Cache hints into the new table, then the old one while entries
    /// are left in it: where an entry may be.
    #[inline]
    pub fn probes(&self) -> impl Iterator<Item = (&Probe, &HashTable<T>)> {
        let old = (!self.old.is_empty()).then_some((&self.old_probe, &self.old));
        std::iter::once((&self.probe, &self.new)).chain(old)
    }

    /// Moves up to `n` entries, if a move is under way.
    #[inline]
    pub fn advance(&mut self, n: usize, hasher: impl Fn(&T) -> u64, follow: &mut impl Follow) {
        if !self.old.is_empty() {
            self.step(n, &hasher, follow);
        }
    }

    /// Moves up to `n` entries from the old table to the new one.
    fn step(&mut self, n: usize, hasher: &impl Fn(&T) -> u64, follow: &mut impl Follow) {
        let mut moved = 0;
        while moved < n && !self.old.is_empty() {
            let at = self.next;
            self.next += 1;
            if let Ok(e) = self.old.get_bucket_entry(at) {
                let v = e.remove().0;
                let to = self.new.insert_unique(hasher(&v), v, hasher).bucket_index();
                follow.moved(self.base + at, to);
                moved += 1;
            }
        }
        if self.old.is_empty() {
            // Its memory goes back now.
            self.old = HashTable::new();
            self.next = 0;
        }
    }

    /// Moves every entry left in the old table.
    fn finish(&mut self, hasher: &impl Fn(&T) -> u64, follow: &mut impl Follow) {
        self.step(usize::MAX, hasher, follow);
    }
}

/// What inserts: a successor table may be prepared on the background
/// thread, so entries cross threads.
impl<T: Send + 'static> Growing<T> {
    /// Adds an entry for which no entry is filed (the caller knows);
    /// returns its index. May move entries first.
    pub fn insert_unique(
        &mut self,
        hash: u64,
        v: T,
        hasher: impl Fn(&T) -> u64,
        follow: &mut impl Follow,
    ) -> usize {
        self.make_room(&hasher, follow);
        self.new.insert_unique(hash, v, hasher).bucket_index()
    }

    /// The index of the entry for which `eq` holds among those filed under
    /// `hash`, added from `make` if there is none, the entry, and whether
    /// it was added. May move entries first.
    pub fn find_or_insert(
        &mut self,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
        make: impl FnOnce() -> T,
        hasher: impl Fn(&T) -> u64,
        follow: &mut impl Follow,
    ) -> (usize, &mut T, bool) {
        self.make_room(&hasher, follow);
        if !self.old.is_empty() {
            if let Some(i) = self.old.find_bucket_index(hash, &mut eq) {
                let e = self.old.get_bucket_mut(i).expect("found");
                return (self.base + i, e, false);
            }
        }
        match self.new.entry(hash, eq, hasher) {
            Entry::Occupied(o) => (o.bucket_index(), o.into_mut(), false),
            Entry::Vacant(v) => {
                let o = v.insert(make());
                (o.bucket_index(), o.into_mut(), true)
            }
        }
    }

    /// Makes room for `n` entries in all, at once: no move begins until the
    /// table holds more. Every entry moves if the table grows.
    pub fn reserve(&mut self, n: usize, hasher: impl Fn(&T) -> u64, follow: &mut impl Follow) {
        if n > self.capacity() {
            self.finish(&hasher, follow);
            self.begin(n, follow);
            self.finish(&hasher, follow);
        }
    }

    /// Before an insert: a few entries moved, and a move begun if the new
    /// table has no room left (an insert would make `hashbrown` grow or
    /// rebuild it, moving every entry at once).
    #[inline]
    fn make_room(&mut self, hasher: &impl Fn(&T) -> u64, follow: &mut impl Follow) {
        if !self.old.is_empty() {
            self.step(MOVES, hasher, follow);
        }
        if self.new.len() == self.new.capacity() {
            // The old table is empty by now: the new one had room for
            // twice its entries, and each insert moved `MOVES` of them
            // first. (Were it not, `finish` would let `hashbrown` grow the
            // new table itself, moving entries without telling `follow`.)
            debug_assert!(self.old.is_empty(), "a move outpaced by inserts");
            self.finish(hasher, follow);
            // Twice the entries, or the same room when removed entries'
            // marks used it up (as `hashbrown` would, in place): a table
            // never shrinks, and room reserved stays.
            let room = (2 * self.new.len()).max(self.new.capacity()).max(8);
            self.begin(room, follow);
        } else if self.next_table.0.is_none()
            && self.old.is_empty()
            && self.new.len() >= self.new.capacity() - self.new.capacity() / 8
            && 2 * self.new.len() * std::mem::size_of::<T>() >= self.prepare_from
        {
            self.prepare();
        }
    }

    /// Starts preparing the table the next move will go into, with the
    /// room the move will ask for if no entry is removed meanwhile (twice
    /// the entries: the table is full at its capacity, but removed
    /// entries' marks may lower that). Asked when an eighth of the room
    /// is left and the successor would take [`PREPARE_FROM`] bytes or more.
    #[cold]
    fn prepare(&mut self) {
        let room = 2 * self.new.len();
        let Some(run) = PREPARE.get() else {
            return;
        };
        let slot = Arc::new(Successor {
            unwanted: Arc::new(AtomicBool::new(false)),
            table: Mutex::new(None),
        });
        let fill = slot.clone();
        let queued = run(
            slot.unwanted.clone(),
            Box::new(move || {
                // Not made once no longer wanted (and `run` stops faulting
                // it in).
                if !fill.unwanted.load(Ordering::Relaxed) {
                    let t = HashTable::<T>::with_capacity(room);
                    *lock(&fill.table) = Some(t);
                }
            }),
        );
        if queued {
            self.next_table = Prepared(Some(slot));
        }
    }

    /// The prepared table, if it is ready and has the room a move needs
    /// for `room` entries and no more than an allocation now would give;
    /// one with other room is dropped on the background thread.
    fn take_prepared(&mut self, room: usize) -> Option<HashTable<T>> {
        // Dropped when it is not ready: its preparing stops.
        let prepared = std::mem::replace(&mut self.next_table, Prepared(None));
        let t = lock(&prepared.0.as_ref()?.table).take()?;
        if t.capacity() >= room && t.capacity() / 2 < room {
            #[cfg(test)]
            {
                self.prepared_used += 1;
            }
            return Some(t);
        }
        // Dropped where it was made, when it can be.
        if let Some(run) = PREPARE.get() {
            run(Arc::new(AtomicBool::new(true)), Box::new(move || drop(t)));
        }
        None
    }

    /// The new table becomes the old one, and a new one with room for
    /// `room` entries is started. The old one must be empty.
    fn begin(&mut self, room: usize, follow: &mut impl Follow) {
        debug_assert!(self.old.is_empty());
        let fresh = self
            .take_prepared(room)
            .unwrap_or_else(|| HashTable::with_capacity(room));
        self.old = std::mem::replace(&mut self.new, fresh);
        self.next = 0;
        self.old_probe = std::mem::take(&mut self.probe);
        if self.old.is_empty() {
            self.old = HashTable::new();
            self.base = self.new.num_buckets().next_multiple_of(64);
        } else {
            // The old table's indices move up above the new table's.
            self.base = self.new.num_buckets().next_multiple_of(64);
            follow.shift(self.base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(h: &u64) -> u64 {
        *h
    }

    /// Remembers where each key's index is, as marks do, and checks it.
    #[derive(Default)]
    struct Where(std::collections::HashMap<usize, u64>);

    impl Follow for Where {
        fn shift(&mut self, by: usize) {
            assert_eq!(by % 64, 0);
            self.0 = self.0.drain().map(|(i, k)| (i + by, k)).collect();
        }
        fn moved(&mut self, from: usize, to: usize) {
            let k = self.0.remove(&from).expect("a known index moved");
            assert!(self.0.insert(to, k).is_none(), "moved onto another");
        }
    }

    fn key(i: u64) -> u64 {
        // Spread, so probes are not all in one group.
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn no_insert_moves_more_than_a_few_entries() {
        let mut t: Growing<u64> = Growing::default();
        let mut w = Where::default();
        /// Counts moves of one call.
        struct Count<'a>(&'a mut Where, usize);
        impl Follow for Count<'_> {
            fn shift(&mut self, by: usize) {
                self.0.shift(by);
            }
            fn moved(&mut self, from: usize, to: usize) {
                self.0.moved(from, to);
                self.1 += 1;
            }
        }
        let mut moves_began = 0;
        for i in 0..30_000u64 {
            let k = key(i);
            let was_moving = t.moving();
            let mut c = Count(&mut w, 0);
            let at = t.insert_unique(k, k, id, &mut c);
            assert!(c.1 <= MOVES, "insert {i} moved {} entries", c.1);
            assert!(w.0.insert(at, k).is_none());
            if t.moving() && !was_moving {
                moves_began += 1;
            }
            if i % 2_999 == 0 {
                // Every key where its index says, and found by its hash.
                for (&at, &k) in &w.0 {
                    assert_eq!(t.get(at), Some(&k));
                    assert_eq!(t.find(k, |&x| x == k), Some(at));
                }
            }
        }
        assert_eq!(t.len(), 30_000);
        assert!(moves_began >= 10, "grew through {moves_began} moves");
        let mut all: Vec<u64> = t.iter().copied().collect();
        all.sort_unstable();
        let mut want: Vec<u64> = (0..30_000).map(key).collect();
        want.sort_unstable();
        assert_eq!(all, want);
    }

    #[test]
    fn a_sliding_window_is_all_found_and_stays_in_its_room() {
        let mut t: Growing<u64> = Growing::default();
        let mut w = Where::default();
        // A window of 6 000 keys slides over 20 000: each insert after the
        // first 6 000 removes the oldest.
        let (mut most, mut moves_began, mut was_moving) = (0, 0, false);
        for i in 0..20_000u64 {
            if i >= 6_000 {
                let old = key(i - 6_000);
                let at = t.find(old, |&x| x == old).expect("in the window");
                assert_eq!(w.0.remove(&at), Some(old));
                assert_eq!(t.remove(old, |&x| x == old), Some(old));
            }
            let k = key(i);
            let (at, _, added) = t.find_or_insert(k, |&x| x == k, || k, id, &mut w);
            assert!(added && t.get(at) == Some(&k));
            w.0.insert(at, k);
            moves_began += usize::from(t.moving() && !was_moving);
            was_moving = t.moving();
            // Found again (a move may run first, or begin), where the index
            // says.
            let (at, &mut found, added) = t.find_or_insert(k, |&x| x == k, || k, id, &mut w);
            assert!(found == k && !added && t.get(at) == Some(&k) && w.0.get(&at) == Some(&k));
            moves_began += usize::from(t.moving() && !was_moving);
            was_moving = t.moving();
            most = most.max(t.num_buckets());
        }
        assert!(moves_began >= 8, "grew through {moves_began} moves");
        assert!(most <= 16_384, "{most} buckets: more than twice the window");
        assert_eq!(t.len(), 6_000);
        for i in 14_000..20_000 {
            let k = key(i);
            assert!(t.find_ref(k, |&x| x == k).is_some());
        }
    }

    #[test]
    fn a_move_also_advances_between_inserts() {
        let mut t: Growing<u64> = Growing::default();
        let mut w = Where::default();
        let mut i = 0;
        while t.len() < 1_000 || !t.moving() {
            let k = key(i);
            let at = t.insert_unique(k, k, id, &mut w);
            w.0.insert(at, k);
            i += 1;
        }
        let left = t.old.len();
        assert!(left > 300, "{left} entries to move");
        let mut calls = 0;
        while t.moving() {
            let before = t.old.len();
            t.advance(7, id, &mut w);
            assert!(before - t.old.len() <= 7);
            calls += 1;
        }
        assert_eq!(calls, left.div_ceil(7));
        for (&at, &k) in &w.0 {
            assert_eq!(t.get(at), Some(&k));
        }
        t.advance(7, id, &mut w);
        assert_eq!(t.len(), i as usize);
    }

    #[test]
    fn reserve_moves_everything_at_once_and_keeps_indices_followed() {
        let mut t: Growing<u64> = Growing::default();
        let mut w = Where::default();
        for i in 0..1_000 {
            let k = key(i);
            let at = t.insert_unique(k, k, id, &mut w);
            w.0.insert(at, k);
        }
        t.reserve(50_000, id, &mut w);
        assert!(!t.moving() && t.capacity() >= 50_000);
        assert_eq!(w.0.len(), 1_000);
        for (&at, &k) in &w.0 {
            assert_eq!(t.get(at), Some(&k));
        }
        // Removing by index and by hash, in either table.
        let (at, &k) = w.0.iter().next().unwrap();
        assert_eq!(t.remove_at(*at), Some(k));
        assert_eq!(t.find(k, |&x| x == k), None);
        assert_eq!(t.len(), 999);
        assert_eq!(t.indices().filter(|&i| t.get(i).is_some()).count(), 999);
    }

    /// Prepares successors on a thread of their own each (the binaries'
    /// background thread is not installed in these tests).
    fn install() {
        prepare_with(|_, job| {
            std::thread::spawn(job);
            true
        });
    }

    /// Waits until the successor being prepared, if any, is ready.
    fn wait_prepared(t: &Growing<u64>) {
        let Some(slot) = &t.next_table.0 else { return };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while lock(&slot.table).is_none() {
            assert!(std::time::Instant::now() < until, "never prepared");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Successors are prepared from the size the allocator maps on huge
    /// pages.
    #[test]
    fn successors_are_prepared_from_the_allocators_large_blocks() {
        assert_eq!(PREPARE_FROM, crate::huge_pages::LARGE);
    }

    #[test]
    fn a_table_near_full_moves_into_a_successor_prepared_ahead() {
        install();
        let mut t: Growing<u64> = Growing::default().prepare_from(0);
        let mut w = Where::default();
        let (mut moves_began, mut prepared) = (0, 0);
        for i in 0..30_000u64 {
            let had = t.next_table.0.is_some();
            wait_prepared(&t);
            let was_moving = t.moving();
            let k = key(i);
            let at = t.insert_unique(k, k, id, &mut w);
            assert!(w.0.insert(at, k).is_none());
            prepared += usize::from(!had && t.next_table.0.is_some());
            if t.moving() && !was_moving {
                moves_began += 1;
                // The prepared table, if any, is the one moved into.
                assert!(t.next_table.0.is_none());
            }
        }
        // Every move but the first few (tables too small to have an
        // eighth of room left before they are full) went into a table
        // prepared ahead, and none was prepared that was not used.
        assert!(moves_began >= 10, "grew through {moves_began} moves");
        assert!(
            t.prepared_used >= moves_began - 2,
            "{} of {moves_began}",
            t.prepared_used
        );
        assert_eq!(
            prepared,
            t.prepared_used + usize::from(t.next_table.0.is_some())
        );
        for (&at, &k) in &w.0 {
            assert_eq!(t.get(at), Some(&k));
            assert_eq!(t.find(k, |&x| x == k), Some(at));
        }
        assert_eq!(t.len(), 30_000);
    }

    #[test]
    fn large_successors_only_are_prepared_ahead() {
        install();
        let mut t: Growing<u64> = Growing::default().prepare_from(1 << 20);
        for i in 0..40_000u64 {
            let k = key(i);
            t.insert_unique(k, k, id, &mut ());
            assert!(t.next_table.0.is_none(), "prepared at {} entries", t.len());
        }
        // 2^17 entries of 8 bytes: a successor from a megabyte.
        let mut i = 40_000;
        while t.next_table.0.is_none() {
            assert!(i < 1 << 20, "never prepared");
            let k = key(i);
            t.insert_unique(k, k, id, &mut ());
            i += 1;
        }
        assert!(
            2 * t.len() * 8 >= 1 << 20,
            "prepared at {} entries",
            t.len()
        );
        // With an eighth of its room left, no sooner.
        let cap = t.capacity();
        assert!(
            t.len() >= cap - cap / 8 && t.len() <= cap - cap / 8 + 1,
            "{} of {cap}",
            t.len()
        );
    }

    #[test]
    fn a_successor_is_used_only_when_ready_and_sized_for_the_move() {
        let mut t: Growing<u64> = Growing::default();
        let successor = |table| {
            Arc::new(Successor {
                unwanted: Arc::new(AtomicBool::new(false)),
                table: Mutex::new(table),
            })
        };
        let ready = |room| Prepared(Some(successor(Some(HashTable::<u64>::with_capacity(room)))));
        // Not ready yet: allocated as before, and the preparing told to stop.
        let pending = successor(None);
        t.next_table = Prepared(Some(pending.clone()));
        assert!(t.take_prepared(1_000).is_none());
        assert!(t.next_table.0.is_none());
        assert!(pending.unwanted.load(Ordering::Relaxed));
        // A table gone: the same.
        let pending = successor(None);
        let gone: Growing<u64> = Growing {
            next_table: Prepared(Some(pending.clone())),
            ..Growing::default()
        };
        drop(gone);
        assert!(pending.unwanted.load(Ordering::Relaxed));
        // More room than an allocation now would give (entries removed
        // since it was asked for), or less: not used.
        t.next_table = ready(4_000);
        assert!(t.take_prepared(1_000).is_none());
        t.next_table = ready(500);
        assert!(t.take_prepared(1_000).is_none());
        t.next_table = ready(1_000);
        let got = t.take_prepared(1_000).expect("the room asked");
        assert_eq!(
            got.capacity(),
            HashTable::<u64>::with_capacity(1_000).capacity()
        );
        assert_eq!(t.prepared_used, 1);
        // A clone prepares its own.
        t.next_table = ready(1_000);
        assert!(t.clone().next_table.0.is_none());
    }
}
