//! Duplicate detection: `event_id`s remembered for `dedup_horizon` of event
//! time (rounded up to the whole second), as 64-bit hashes so memory per id
//! is small and fixed: 8 bytes in the set, 8 in the arrival order, and one
//! run entry per second of event clock.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

/// A hasher for keys that are already uniform 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// The ids seen within the horizon.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Dedup {
    seen: IdSet,
    /// Hashes in the order they were seen, oldest first.
    order: VecDeque<u64>,
    /// Runs of `order`: (second of the event clock, ids seen in it). The
    /// clock never goes back, so the runs are in time order.
    seconds: VecDeque<(i64, u32)>,
}

impl Dedup {
    /// Records `id` as seen at `now`; false when it was seen before.
    pub fn insert(&mut self, id: &str, now: i64) -> bool {
        let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        if !self.seen.insert(h) {
            return false;
        }
        self.order.push_back(h);
        let second = now.div_euclid(1000);
        match self.seconds.back_mut() {
            Some((s, n)) if *s >= second && *n < u32::MAX => *n += 1,
            _ => self.seconds.push_back((second, 1)),
        }
        true
    }

    /// Forgets ids seen in whole seconds that ended before `cutoff`.
    pub fn expire(&mut self, cutoff: i64) {
        while let Some(&(second, n)) = self.seconds.front() {
            if second * 1000 + 999 >= cutoff {
                break;
            }
            self.seconds.pop_front();
            for h in self.order.drain(..n as usize) {
                self.seen.remove(&h);
            }
        }
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_the_horizon_then_forgets() {
        let mut d = Dedup::default();
        assert!(d.insert("a", 1_000));
        assert!(!d.insert("a", 2_000));
        assert!(d.insert("b", 5_000));
        d.expire(1_000);
        assert!(!d.insert("a", 6_000));
        // "a" was seen in the second [1000, 2000): kept until it has passed.
        d.expire(1_999);
        assert!(!d.insert("a", 6_000));
        d.expire(2_000);
        assert_eq!(d.len(), 1);
        assert!(d.insert("a", 7_000));
        assert!(!d.insert("b", 7_000));
    }
}
