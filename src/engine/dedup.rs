//! Duplicate detection: `event_id`s remembered for `dedup_horizon` of event
//! time (rounded up to the whole second), as 64-bit hashes so memory per id
//! is small and fixed: 8 bytes in the set, 8 in the arrival order, and one
//! run entry per second of event clock.

use std::collections::VecDeque;
use std::fmt;

use hashbrown::HashTable;
use serde::de::{SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::probe::{Probe, Step};

/// A set of id hashes (each its own hash in the table), with cache hints;
/// serialized as a sequence of them, as a `HashSet<u64>` is.
#[derive(Clone, Default)]
struct IdSet {
    raw: HashTable<u64>,
    probe: Probe,
}

/// Hashes removed together: their control groups are asked for, then
/// their entries, then they are removed, so the misses overlap.
const WARM_CHUNK: usize = 32;

impl IdSet {
    fn insert(&mut self, h: u64) -> bool {
        match self.raw.entry(h, |&x| x == h, |&x| x) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(h);
                true
            }
        }
    }

    fn remove(&mut self, h: u64) {
        if let Ok(e) = self.raw.find_entry(h, |&x| x == h) {
            e.remove();
        }
    }

    fn len(&self) -> usize {
        self.raw.len()
    }
}

impl fmt::Debug for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.raw.iter()).finish()
    }
}

impl Serialize for IdSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.raw.len()))?;
        for h in self.raw.iter() {
            seq.serialize_element(h)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for IdSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of id hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<IdSet, A::Error> {
                let mut set = IdSet::default();
                set.raw.reserve(a.size_hint().unwrap_or(0), |&x| x);
                while let Some(h) = a.next_element::<u64>()? {
                    set.insert(h);
                }
                Ok(set)
            }
        }
        d.deserialize_seq(V)
    }
}

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

fn hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl Dedup {
    /// Records `id` as seen at `now`; false when it was seen before.
    pub fn insert(&mut self, id: &str, now: i64) -> bool {
        let h = hash(id);
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

    /// Cache hints ahead of [`Dedup::insert`] of `id` (see
    /// [`super::probe`]): the control group its probe reads, then the
    /// entries a new id is written to; nothing while the set fits in cache.
    #[inline]
    pub fn prefetch(&self, id: &str, step: Step) {
        if step == Step::Key || !Probe::wants(&self.seen.raw) {
            return;
        }
        let (set, h) = (&self.seen, hash(id));
        if step == Step::Group {
            set.probe.group(&set.raw, h);
        } else {
            set.probe.vacancy(&set.raw, h);
        }
    }

    /// Forgets ids seen in whole seconds that ended before `cutoff`.
    pub fn expire(&mut self, cutoff: i64) {
        let mut removed = false;
        while let Some(&(second, n)) = self.seconds.front() {
            if second * 1000 + 999 >= cutoff {
                break;
            }
            self.seconds.pop_front();
            let mut left = n as usize;
            while left > 0 {
                let k = left.min(WARM_CHUNK);
                let (set, order) = (&self.seen, &self.order);
                for &h in order.range(..k) {
                    set.probe.group(&set.raw, h);
                }
                for &h in order.range(..k) {
                    set.probe.entry(&set.raw, h);
                }
                for h in self.order.drain(..k) {
                    self.seen.remove(h);
                }
                left -= k;
            }
            removed = true;
        }
        if removed {
            // The next ones to go, whose groups can come in meanwhile.
            for &h in self.order.iter().take(WARM_CHUNK) {
                self.seen.probe.group(&self.seen.raw, h);
            }
        }
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        debug_assert_eq!(self.order.len(), self.seen.len());
        self.order.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// A copy of a [`Dedup`] to encode elsewhere (`State::freeze`). It
/// serializes as the memory it was taken from, except that the set comes
/// out in arrival order: the same hashes (the set holds exactly those in
/// `order`), which is all that decoding the set reads. So the set itself,
/// the larger half, is not copied.
pub struct FrozenDedup {
    order: Vec<u64>,
    seconds: Vec<(i64, u32)>,
}

impl Dedup {
    /// A copy of the ids remembered now.
    pub fn freeze(&self) -> FrozenDedup {
        fn flat<T: Copy>(q: &VecDeque<T>) -> Vec<T> {
            let (a, b) = q.as_slices();
            let mut v = Vec::with_capacity(q.len());
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            v
        }
        FrozenDedup {
            order: flat(&self.order),
            seconds: flat(&self.seconds),
        }
    }
}

impl Serialize for FrozenDedup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The fields of `Dedup`, in its order.
        let mut w = s.serialize_struct("Dedup", 3)?;
        w.serialize_field("seen", &self.order)?;
        w.serialize_field("order", &self.order)?;
        w.serialize_field("seconds", &self.seconds)?;
        w.end()
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
