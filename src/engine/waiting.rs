//! The calls waiting in one queue, by the time each was queued: what
//! `support_calls_in_queue` and `support_oldest_call_wait_seconds` read.
//!
//! A call joins at its `call.queued` time and leaves at any time after
//! (answered, abandoned, transferred, expired). Calls join in time order
//! but for late events, so the times are kept in a list in time order, a
//! new one appended at its end (or put among the last [`NEAR_END`]); a
//! time whose calls have all left stays in the list, empty, until it
//! reaches the front or the empty times outnumber the others. A change is
//! a look at the list's end or a binary search of contiguous memory,
//! where the ordered map this replaces searched its nodes: replaying a
//! partition of an overloaded simulated centre took 62 instructions an
//! event fewer (docs/performance.md, "Live", "Waiting calls in a list").
//! A time that would go further from the end (an event late by more than
//! the last [`NEAR_END`] times) goes to an ordered map beside the list
//! instead, so that no input makes a change cost more than a search and
//! [`NEAR_END`] moves: a list would move half its entries for each such
//! time.
//!
//! A checkpoint holds it as it held that map (time → calls, in time
//! order, no empty times), so the bytes are the same.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Empty times kept before the list is compacted, whatever its length.
const KEEP_EMPTY: usize = 64;

/// How far from its end a new time is put into the list; one further goes
/// to the map of late times.
const NEAR_END: usize = 64;

/// The waiting calls of one queue.
#[derive(Clone, Default)]
pub struct Waiting {
    /// (queued time, calls) in time order, each time once; the first has
    /// calls (or the list is empty).
    times: VecDeque<(i64, u32)>,
    /// Times that came too late to go into the list: none of them is in
    /// it, and none has no calls.
    late: BTreeMap<i64, u32>,
    /// Calls in all.
    total: u64,
    /// Times in `times` without calls.
    empty: usize,
}

impl Waiting {
    /// Adds `n` calls queued at `queued` (removes them when negative; a
    /// count never goes below zero).
    pub fn add(&mut self, queued: i64, n: i32) {
        let at = match self.times.back() {
            Some(&(t, _)) if t < queued => Err(self.times.len()),
            None => Err(0),
            Some(_) => self.times.binary_search_by_key(&queued, |&(t, _)| t),
        };
        match at {
            Ok(i) => {
                let count = &mut self.times[i].1;
                let was = change(count, n, &mut self.total);
                match (was, *count) {
                    (0, 0) => {}
                    (0, _) => self.empty -= 1,
                    (_, 0) => self.empty += 1,
                    _ => {}
                }
            }
            // Not in the list: a late time, or a new one (looking it up
            // in an empty map of late times costs nothing).
            Err(i) => match self.late.entry(queued) {
                Entry::Occupied(mut e) => {
                    change(e.get_mut(), n, &mut self.total);
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
                Entry::Vacant(e) if n > 0 => {
                    if self.times.len() - i <= NEAR_END {
                        self.times.insert(i, (queued, n as u32));
                    } else {
                        e.insert(n as u32);
                    }
                    self.total += n as u64;
                }
                Entry::Vacant(_) => {}
            },
        }
        self.drop_empty();
    }

    /// Drops the empty times at the front, and all of them once they
    /// outnumber the others.
    fn drop_empty(&mut self) {
        while self.times.front().is_some_and(|&(_, n)| n == 0) {
            self.times.pop_front();
            self.empty -= 1;
        }
        if self.empty > KEEP_EMPTY && 2 * self.empty > self.times.len() {
            self.times.retain(|&(_, n)| n > 0);
            self.empty = 0;
        }
    }

    /// Calls waiting.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When the longest-waiting call was queued.
    pub fn oldest(&self) -> Option<i64> {
        let listed = self.times.front().map(|&(t, _)| t);
        match self.late.keys().next() {
            Some(&t) => Some(listed.map_or(t, |l| l.min(t))),
            None => listed,
        }
    }

    /// Times with calls.
    fn len(&self) -> usize {
        self.times.len() - self.empty + self.late.len()
    }

    /// (queued time, calls) of every time with calls, in time order: the
    /// list's and the late times', merged.
    fn iter(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        let mut listed = self
            .times
            .iter()
            .copied()
            .filter(|&(_, n)| n > 0)
            .peekable();
        let mut late = self.late.iter().map(|(&t, &n)| (t, n)).peekable();
        std::iter::from_fn(move || match (listed.peek(), late.peek()) {
            (Some(a), Some(b)) if b.0 < a.0 => late.next(),
            (Some(_), _) => listed.next(),
            (None, _) => late.next(),
        })
    }
}

/// Changes `count` by `n`, never below zero, and `total` with it; returns
/// the count before.
fn change(count: &mut u32, n: i32, total: &mut u64) -> u32 {
    let was = *count;
    *count = (i64::from(was) + i64::from(n)).max(0) as u32;
    *total = *total - u64::from(was) + u64::from(*count);
    was
}

impl fmt::Debug for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// As the map it replaces: time → calls, in time order.
impl Serialize for Waiting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (t, n) in self.iter() {
            m.serialize_entry(&t, &n)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Waiting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<i64, u32>::deserialize(d)?;
        let times: VecDeque<(i64, u32)> = map.into_iter().filter(|&(_, n)| n > 0).collect();
        let total = times.iter().map(|&(_, n)| u64::from(n)).sum();
        Ok(Waiting {
            times,
            late: BTreeMap::new(),
            total,
            empty: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `Waiting` replaces.
    fn reference(m: &mut BTreeMap<i64, u32>, queued: i64, n: i32) {
        let e = m.entry(queued).or_default();
        *e = (i64::from(*e) + i64::from(n)).max(0) as u32;
        if *e == 0 {
            m.remove(&queued);
        }
    }

    #[test]
    fn counts_calls_and_finds_the_oldest() {
        let mut w = Waiting::default();
        assert_eq!((w.total(), w.oldest()), (0, None));
        w.add(20, 1);
        w.add(10, 1); // a late `call.queued`
        w.add(30, 2);
        assert_eq!((w.total(), w.oldest()), (4, Some(10)));
        w.add(10, -1);
        assert_eq!((w.total(), w.oldest()), (3, Some(20)));
        w.add(25, -1); // no call queued then: nothing changes
        w.add(30, -5); // never below zero
        assert_eq!((w.total(), w.oldest()), (1, Some(20)));
        w.add(20, -1);
        assert_eq!((w.total(), w.oldest()), (0, None));
        assert!(w.times.is_empty());
    }

    #[test]
    fn empty_times_are_dropped_once_they_outnumber_the_rest() {
        let mut w = Waiting::default();
        w.add(0, 1);
        for t in 1..=1000 {
            w.add(t, 1);
            w.add(t, -1);
        }
        // The first call still waits, so the empty times behind it are
        // not at the front; they are dropped all the same.
        assert_eq!((w.total(), w.oldest()), (1, Some(0)));
        assert!(w.times.len() <= 2 * KEEP_EMPTY + 2, "{}", w.times.len());
    }

    #[test]
    fn times_far_from_the_end_go_beside_the_list() {
        let mut w = Waiting::default();
        // Calls queued at the even times 1000..5000.
        for t in (1000..5000).step_by(2) {
            w.add(t, 1);
        }
        // A new time among the last `NEAR_END`: into the list.
        w.add(4991, 1);
        // New times far before the end (late events): beside it, where
        // the list would have moved a thousand entries or more for each.
        for t in (1..1000).rev().step_by(2) {
            w.add(t, 1);
        }
        assert_eq!((w.times.len(), w.late.len()), (2001, 500));
        assert_eq!((w.total(), w.oldest()), (2501, Some(1)));
        // A late time is changed where it is, and leaves when empty.
        w.add(1, 2);
        w.add(1, -3);
        assert_eq!((w.total(), w.oldest(), w.late.len()), (2500, Some(3), 499));
        let times: Vec<i64> = w.iter().map(|(t, _)| t).collect();
        let mut expected: Vec<i64> = (3..1000)
            .step_by(2)
            .chain((1000..5000).step_by(2))
            .collect();
        expected.push(4991);
        expected.sort();
        assert_eq!(times, expected);
    }

    #[test]
    fn checkpoint_bytes_are_those_of_the_map() {
        let mut w = Waiting::default();
        let mut m = BTreeMap::new();
        let far = (0..200).map(|t| (1000 + t, 1));
        let late = [(5, 2), (3, 1), (9, 1), (5, -2), (7, 4), (1100, 3)];
        for (t, n) in far.chain(late) {
            w.add(t, n);
            reference(&mut m, t, n);
        }
        let bytes = postcard::to_allocvec(&w).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&m).unwrap());
        let back: Waiting = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            m.into_iter().collect::<Vec<_>>()
        );
        assert_eq!(back.total(), 209);
    }

    proptest! {
        /// Any sequence of changes leaves what the map would hold.
        #[test]
        fn agrees_with_the_map(changes in prop::collection::vec((0i64..400, -3i32..4), 0..900)) {
            let mut w = Waiting::default();
            let mut m = BTreeMap::new();
            for (t, n) in changes {
                w.add(t, n);
                reference(&mut m, t, n);
                prop_assert_eq!(w.total(), m.values().map(|&n| u64::from(n)).sum::<u64>());
                prop_assert_eq!(w.oldest(), m.keys().next().copied());
            }
            prop_assert_eq!(w.iter().collect::<Vec<_>>(), m.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(w.empty, w.times.iter().filter(|&&(_, n)| n == 0).count());
            prop_assert!(w.late.keys().all(|t| w.times.binary_search_by_key(t, |&(x, _)| x).is_err()));
        }
    }
}
