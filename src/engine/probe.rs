//! Cache hints for hash-table lookups that are about to happen.
//!
//! When a table outgrows the caches, each lookup of a key drawn from all of
//! it waits on memory two or three times in a row: the control group its
//! hash starts probing at, then the entry, then what the entry points to.
//! A caller that knows the next keys (a batch of decoded events) can ask
//! for those lines early, a few events ahead, so the waits overlap with the
//! work on the events in between instead of adding up.
//!
//! A [`Probe`] remembers where its table's control bytes are (hashbrown
//! lays the entries out below them, entry `i` at `ctrl - (i + 1) * size`,
//! and a hash starts probing at `ctrl + (hash & (buckets - 1))`). Only
//! prefetch instructions use these addresses: a prefetch never faults and
//! changes no data, so an address that is wrong (a different hashbrown
//! layout) costs a wasted hint, never a wrong result. Tables smaller than
//! [`MIN_BYTES`] are not hinted at all: they stay in cache, where the
//! hashing a hint takes would be pure cost. The exception is a table whose
//! entries point to more that a lookup reads (a customer's contacts on the
//! heap), hinted through the `*_always` steps whatever its size.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use hashbrown::HashTable;

/// Tables whose entries take fewer bytes than this are not hinted: half
/// the 2 MiB second-level cache of the machines frontline is sized for.
pub const MIN_BYTES: usize = 1 << 20;

/// Asks the CPU to bring the cache line at `addr` in; no effect on data.
#[inline(always)]
pub fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and never faults,
    // whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks the CPU to bring in every cache line of `v` without reading it: for
/// a value another thread wrote (a decoded batch handed over), whose first
/// read would otherwise wait on the other core's cache.
#[inline(always)]
pub fn prefetch_value<T>(v: &T) {
    prefetch_bytes(v as *const T as usize, std::mem::size_of::<T>());
}

/// Asks the CPU to bring in every cache line that `len` bytes from
/// `start` touch, however they are aligned.
#[inline(always)]
pub fn prefetch_bytes(start: usize, len: usize) {
    let end = start + len;
    let mut line = start & !63;
    while line < end {
        prefetch(line);
        line += 64;
    }
}

/// The steps of warming one lookup, each issued a few events after the
/// one before it, so that what it reads was asked for by the step before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The control group the probe starts at.
    Group,
    /// The entry the group points to.
    Entry,
    /// What the entry points to (a table's id bytes).
    Key,
    /// What that points to in turn (a customer's covers spilled from their
    /// box).
    Spilled,
}

/// Where a table's control bytes are, found again after it reallocates.
#[derive(Default)]
pub struct Probe {
    /// Address of the control bytes, 0 when not known.
    ctrl: AtomicUsize,
    /// Bucket count `ctrl` was found at.
    buckets: AtomicUsize,
}

impl Probe {
    /// Whether `t` is large enough to hint (cheap: asked before hashing).
    #[inline]
    pub fn wants<T>(t: &HashTable<T>) -> bool {
        t.num_buckets() * std::mem::size_of::<T>() >= MIN_BYTES
    }

    /// The address of `t`'s control bytes and its bucket mask, when `t` is
    /// large enough to hint and not empty.
    #[inline]
    fn ctrl<T>(&self, t: &HashTable<T>) -> Option<(usize, usize)> {
        if !Self::wants(t) {
            return None;
        }
        self.ctrl_of(t)
    }

    /// As `ctrl`, whatever `t`'s size.
    #[inline]
    fn ctrl_of<T>(&self, t: &HashTable<T>) -> Option<(usize, usize)> {
        let buckets = t.num_buckets();
        if self.buckets.load(Relaxed) == buckets {
            return Some((self.ctrl.load(Relaxed), buckets - 1));
        }
        // The table grew (or this is the first hint): any full bucket
        // gives the control bytes' address.
        let i = t.iter_buckets().next()?;
        let e = t.get_bucket(i)? as *const T as usize;
        let ctrl = e + (i + 1) * std::mem::size_of::<T>();
        self.ctrl.store(ctrl, Relaxed);
        self.buckets.store(buckets, Relaxed);
        Some((ctrl, buckets - 1))
    }

    /// First step: the control group a lookup of `hash` reads first.
    #[inline]
    pub fn group<T>(&self, t: &HashTable<T>, hash: u64) {
        if Self::wants(t) {
            self.group_always(t, hash);
        }
    }

    /// The entries at the bucket a probe of `hash` starts at, without
    /// reading the group: where an insert puts a new key (the first empty
    /// one), and where many keys already filed are (a lookup's entry is
    /// there, one after it or a few more, on the same page).
    #[inline]
    pub fn vacancy<T>(&self, t: &HashTable<T>, hash: u64) {
        if let Some((ctrl, mask)) = self.ctrl(t) {
            start_entries::<T>(ctrl, hash as usize & mask);
        }
    }

    /// Second step, once the group is in: the first entry filed under
    /// `hash` (almost always the one looked for), which is returned.
    #[inline]
    pub fn entry<'t, T>(&self, t: &'t HashTable<T>, hash: u64) -> Option<&'t T> {
        if Self::wants(t) {
            self.entry_always(t, hash)
        } else {
            None
        }
    }
}

/// Asks for the entries from bucket `at` on, of a table of `T` whose
/// control bytes are at `ctrl`. Entry `i` lies at `ctrl - (i + 1) * size`:
/// a group's entries run downwards from its first one.
#[inline(always)]
fn start_entries<T>(ctrl: usize, at: usize) {
    let first = ctrl - (at + 1) * std::mem::size_of::<T>();
    prefetch(first);
    prefetch(first.wrapping_sub(64));
}

/// Hints for a table whose entries point to more of what a lookup reads
/// (a customer's contacts): hinted whatever its size, because what its
/// entries point to may not stay in cache when the entries do.
impl Probe {
    /// [`Probe::group`], whatever the table's size.
    #[inline]
    pub fn group_always<T>(&self, t: &HashTable<T>, hash: u64) {
        if let Some((ctrl, mask)) = self.ctrl_of(t) {
            prefetch(ctrl + (hash as usize & mask));
        }
    }

    /// The control group a probe of `hash` starts at and the entries
    /// there ([`Probe::vacancy`]) at once, whatever the table's size: for
    /// a key known to be filed, whose entry is there almost always.
    #[inline]
    pub fn near_always<T>(&self, t: &HashTable<T>, hash: u64) {
        if let Some((ctrl, mask)) = self.ctrl_of(t) {
            let at = hash as usize & mask;
            prefetch(ctrl + at);
            start_entries::<T>(ctrl, at);
        }
    }

    /// [`Probe::entry`], whatever the table's size.
    #[inline]
    pub fn entry_always<'t, T>(&self, t: &'t HashTable<T>, hash: u64) -> Option<&'t T> {
        let e = t.get_bucket(t.iter_hash_buckets(hash).next()?)?;
        let at = e as *const T as usize;
        prefetch(at);
        prefetch(at + std::mem::size_of::<T>() - 1);
        Some(e)
    }
}

impl Clone for Probe {
    /// A clone is of another table: it finds its own address.
    fn clone(&self) -> Probe {
        Probe::default()
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout the hints assume: entries below the control bytes, and a
    /// key inserted into a sparse table at the bucket its hash starts at.
    /// (If hashbrown changes either, the hints go astray, never the data;
    /// this test says so.)
    #[test]
    fn hints_find_where_hashbrown_puts_control_bytes_and_entries() {
        let mut t: HashTable<u64> = HashTable::new();
        let n = MIN_BYTES / 8;
        t.reserve(n, |&h| h);
        let p = Probe::default();
        // Keys whose hashes are far apart in the low bits: each lands at
        // the bucket its probe starts at.
        let keys: Vec<u64> = (0..64u64).map(|i| i * 4099 * 16 + 7).collect();
        for &k in &keys {
            t.insert_unique(k, k, |&h| h);
        }
        let (ctrl, mask) = p.ctrl(&t).expect("a table of MIN_BYTES is hinted");
        assert_eq!(mask + 1, t.num_buckets());
        for &k in &keys {
            let i = t.find_bucket_index(k, |&x| x == k).expect("present");
            assert_eq!(i, k as usize & mask, "key {k} probes from its hash");
            let at = t.get_bucket(i).expect("full") as *const u64 as usize;
            assert_eq!(at, ctrl - (i + 1) * 8, "entry {i} below the control bytes");
            assert_eq!(p.entry(&t, k), Some(&k));
        }
        // After growing, the address is found again.
        t.reserve(4 * t.num_buckets(), |&h| h);
        let (ctrl, _) = p.ctrl(&t).expect("hinted");
        let i = t.find_bucket_index(keys[0], |&x| x == keys[0]).unwrap();
        assert_eq!(
            t.get_bucket(i).unwrap() as *const u64 as usize,
            ctrl - (i + 1) * 8
        );
    }

    /// What the group step's [`Probe::vacancy`] counts on for a lookup:
    /// in a table as full as a grown one gets, most keys are filed at the
    /// bucket their probe starts at or the one after (the two entries it
    /// asks for), nearly all within their first group, and so on the page
    /// of that bucket's entry.
    #[test]
    fn most_keys_are_filed_at_or_just_after_their_start_bucket() {
        let mut t: HashTable<[u64; 8]> = HashTable::new();
        let buckets = 1 << 16;
        t.reserve(buckets * 7 / 8 - 1, |e| e[0]);
        assert_eq!(t.num_buckets(), buckets);
        // Three fifths full, as ten million tickets fill their 2^24
        // buckets (a table is between 7/16 full, just after it doubles,
        // and 7/8, when it doubles again).
        let n = buckets * 3 / 5;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            hashes.push(x);
            t.insert_unique(x, [x; 8], |e| e[0]);
        }
        let mask = buckets - 1;
        let (mut near, mut in_group) = (0, 0);
        for &h in &hashes {
            let i = t.find_bucket_index(h, |e| e[0] == h).expect("present");
            let d = i.wrapping_sub(h as usize & mask) & mask;
            near += usize::from(d <= 1);
            in_group += usize::from(d < 16);
        }
        assert!(near * 10 >= n * 7, "{near} of {n} at or after their start");
        assert!(
            in_group * 100 >= n * 99,
            "{in_group} of {n} in their first group"
        );
    }

    #[test]
    fn small_tables_are_not_hinted() {
        let mut t: HashTable<u64> = HashTable::new();
        t.insert_unique(1, 1, |&h| h);
        let p = Probe::default();
        assert!(p.ctrl(&t).is_none());
        assert!(p.entry(&t, 1).is_none());
    }

    /// A table hinted whatever its size finds its entries as a large one
    /// does.
    #[test]
    fn small_tables_hinted_always_find_their_entries() {
        let mut t: HashTable<u64> = HashTable::new();
        let p = Probe::default();
        assert!(p.entry_always(&t, 1).is_none(), "empty: nothing to find");
        let keys: Vec<u64> = (0..5u64).map(|i| i * 4099 + 3).collect();
        for &k in &keys {
            t.insert_unique(k, k, |&h| h);
        }
        assert!(!Probe::wants(&t));
        let (ctrl, mask) = p.ctrl_of(&t).expect("not empty");
        assert_eq!(mask + 1, t.num_buckets());
        for &k in &keys {
            let i = t.find_bucket_index(k, |&x| x == k).expect("present");
            let at = t.get_bucket(i).expect("full") as *const u64 as usize;
            assert_eq!(at, ctrl - (i + 1) * 8, "entry {i} below the control bytes");
            assert_eq!(p.entry_always(&t, k), Some(&k));
        }
    }
}
