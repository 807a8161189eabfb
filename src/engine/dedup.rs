//! Duplicate detection: `event_id`s remembered for `dedup_horizon` of event
//! time (rounded up to the whole second), as 64-bit hashes so memory per id
//! is small and fixed: 8 bytes in the set, 8 in the arrival order, and one
//! run entry per second of event clock.
//!
//! A checkpoint holds the arrival order and the runs; the set holds exactly
//! the hashes of the order, so it is rebuilt from them when a checkpoint is
//! read rather than written twice (format 5: the set's field is written
//! empty). Format 4 wrote the set's hashes too; reading one skips them.
//! From format 6 a checkpoint in a changelog logs the order instead: each
//! writes only the ids that arrived since the one before
//! (`src/engine/dedup_log.rs`), and the state's own field is left empty.

use std::collections::VecDeque;
use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::dedup_log::LogTail;
use super::growing::Growing;
use super::probe::{prefetch, Probe, Step};

/// A set of id hashes (each its own hash in the table), with cache hints.
#[derive(Clone, Default)]
struct IdSet {
    raw: Growing<u64>,
    /// How many ids at the front of the arrival order had their lines
    /// asked for ahead of their removal ([`Dedup::expire`]).
    warm: usize,
}

/// Hashes removed together: their control groups are asked for, then
/// their entries, then they are removed, so the misses overlap.
const WARM_CHUNK: usize = 32;

/// The ids next to go whose lines are asked for when others are removed,
/// each once: an id is removed a horizon after it came, its lines long
/// gone from the caches whatever the set's size (with a partition's
/// memory of a few thousand ids, the entry's miss was half of `expire`).
const WARM_AHEAD: usize = 32;

/// How far past the ids whose lines are asked for [`Dedup::expire`] asks
/// for the arrival order's own line: two lines of it.
const ORDER_AHEAD: usize = 16;

/// How far into the runs [`Dedup::expire`] asks for their line: two lines
/// of them.
const RUNS_AHEAD: usize = 8;

impl IdSet {
    fn insert(&mut self, h: u64) -> bool {
        self.raw
            .find_or_insert(h, |&x| x == h, || h, |&x| x, &mut ())
            .2
    }

    fn remove(&mut self, h: u64) {
        self.raw.remove(h, |&x| x == h);
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

/// The ids seen within the horizon.
#[derive(Clone, Debug)]
pub struct Dedup {
    seen: IdSet,
    /// Hashes in the order they were seen, oldest first.
    order: VecDeque<u64>,
    /// Runs of `order`: (second of the event clock, ids seen in it). The
    /// clock never goes back, so the runs are in time order.
    seconds: VecDeque<(i64, u32)>,
    /// Ids forgotten so far: the arrival number of `order`'s front, ids
    /// numbered from 0 as they arrive (a logged checkpoint names the ids
    /// it holds by these numbers).
    pub(super) base: u64,
    /// Which numbering `base` counts in: new for every memory not restored
    /// from a logged checkpoint, so a log is only ever continued by the
    /// memory it was written from.
    pub(super) epoch: u64,
}

impl Default for Dedup {
    fn default() -> Dedup {
        Dedup {
            seen: IdSet::default(),
            order: VecDeque::new(),
            seconds: VecDeque::new(),
            base: 0,
            epoch: super::dedup_log::fresh_epoch(),
        }
    }
}

pub(super) fn hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl Dedup {
    /// Records `id` as seen at `now`; false when it was seen before. (The
    /// engine and the gate insert by the hash the event's keys carry:
    /// [`Dedup::insert_at_clock`].)
    #[cfg(test)]
    pub fn insert(&mut self, id: &str, now: i64) -> bool {
        self.insert_hashed(hash(id), now)
    }

    /// Records the id that hashes to `h` ([`hash`]) for an event at `ts`
    /// when the event clock is `clock`, as applying it does: seen at the
    /// later of the two. False when it was seen before.
    pub fn insert_at_clock(&mut self, h: u64, clock: Option<i64>, ts: i64) -> bool {
        self.insert_hashed(h, clock.map_or(ts, |c| c.max(ts)))
    }

    /// [`Dedup::insert`] of the id that hashes to `h` ([`hash`]).
    pub fn insert_hashed(&mut self, h: u64, now: i64) -> bool {
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

    /// Makes room for `n` ids in all, so that neither the set nor the
    /// arrival order grows until the memory holds more. The set gets room
    /// for twice as many: a memory of a full horizon forgets an id for
    /// each it learns, and the marks removed ids leave behind use up a
    /// hash table's room; once they have, the set moves to a new table
    /// (`super::growing`), twice the size if more than half of its room
    /// is taken.
    pub fn reserve(&mut self, n: usize) {
        self.seen.raw.reserve(2 * n, |&x| x, &mut ());
        self.order.reserve(n.saturating_sub(self.order.len()));
    }

    /// Moves up to `n` ids into a larger set, if the set is growing (as
    /// `Table::advance_moves`).
    #[inline]
    pub fn advance_moves(&mut self, n: usize) {
        self.seen.raw.advance(n, |&x| x, &mut ());
    }

    /// Room for ids before the set grows.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.seen.raw.capacity()
    }

    /// Cache hints ahead of [`Dedup::insert`] of the id hashed `h` (see
    /// `src/engine/probe.rs`), all in the first step: the control group
    /// its probe reads, and the entries a new id is written to, whose
    /// address the hash gives without reading the group; nothing while the
    /// set fits in cache.
    #[inline]
    pub fn prefetch(&self, h: u64, step: Step) {
        if step != Step::Group {
            return;
        }
        // Where the id is looked for: the new set, and the old one while
        // the set grows.
        for (probe, raw) in self.seen.raw.probes() {
            if Probe::wants(raw) {
                probe.group(raw, h);
            }
        }
        // Where a new id goes.
        let (probe, raw) = self.seen.raw.probe();
        if Probe::wants(raw) {
            probe.vacancy(raw, h);
        }
    }

    /// Forgets ids seen in whole seconds that ended before `cutoff`.
    pub fn expire(&mut self, cutoff: i64) {
        let mut gone = 0usize;
        while let Some(&(second, n)) = self.seconds.front() {
            if second * 1000 + 999 >= cutoff {
                break;
            }
            self.seconds.pop_front();
            self.base += u64::from(n);
            gone += n as usize;
        }
        if gone == 0 {
            return;
        }
        while gone > 0 {
            let k = gone.min(WARM_CHUNK);
            // Those not asked for ahead: their groups, then their entries.
            let cold = self.seen.warm.min(k)..k;
            if !cold.is_empty() {
                let order = &self.order;
                for (probe, raw) in self.seen.raw.probes() {
                    for &h in order.range(cold.clone()) {
                        probe.group_always(raw, h);
                    }
                }
                for (probe, raw) in self.seen.raw.probes() {
                    for &h in order.range(cold.clone()) {
                        probe.entry_always(raw, h);
                    }
                }
            }
            for h in self.order.drain(..k) {
                self.seen.remove(h);
            }
            self.seen.warm = self.seen.warm.saturating_sub(k);
            gone -= k;
        }
        // The next ones to go: their groups and the entries their probes
        // start at, which come in meanwhile.
        let ahead = WARM_AHEAD.min(self.order.len());
        // The arrival order and its runs are read at their front, where
        // they were written a horizon ago: their next lines, too.
        if let Some(h) = self.order.get(ahead + ORDER_AHEAD) {
            prefetch(h as *const u64 as usize);
        }
        if let Some(run) = self.seconds.get(RUNS_AHEAD) {
            prefetch(run as *const (i64, u32) as usize);
        }
        if self.seen.warm < ahead {
            for (probe, raw) in self.seen.raw.probes() {
                for &h in self.order.range(self.seen.warm..ahead) {
                    probe.near_always(raw, h);
                }
            }
            self.seen.warm = ahead;
        }
        debug_assert!(self.seen.warm <= self.order.len());
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

/// Writes a dedup memory as a checkpoint holds it: the set's field (`set`:
/// empty from format 5 on), the arrival order, the runs.
fn write_dedup<S: Serializer>(
    s: S,
    set: &impl Serialize,
    order: &impl Serialize,
    seconds: &impl Serialize,
) -> Result<S::Ok, S::Error> {
    let mut w = s.serialize_struct("Dedup", 3)?;
    w.serialize_field("seen", set)?;
    w.serialize_field("order", order)?;
    w.serialize_field("seconds", seconds)?;
    w.end()
}

/// The set's field of format 5: no hashes.
const NO_HASHES: &[u64] = &[];

impl Serialize for Dedup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_dedup(s, &NO_HASHES, &self.order, &self.seconds)
    }
}

/// A sequence of hashes read and dropped: the set's field, which format 4
/// filled and format 5 leaves empty.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skipped;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of id hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Skipped, A::Error> {
                while a.next_element::<u64>()?.is_some() {}
                Ok(Skipped)
            }
        }
        d.deserialize_seq(V)
    }
}

/// A dedup memory as a checkpoint holds it.
#[derive(Deserialize)]
#[serde(rename = "Dedup")]
struct Written {
    #[serde(rename = "seen")]
    _set: Skipped,
    order: VecDeque<u64>,
    seconds: VecDeque<(i64, u32)>,
}

impl<'de> Deserialize<'de> for Dedup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Written { order, seconds, .. } = Written::deserialize(d)?;
        Dedup::from_parts(order, seconds, 0, super::dedup_log::fresh_epoch())
            .map_err(D::Error::custom)
    }
}

impl Dedup {
    /// A memory of `order` in `seconds`' runs (which must count it), the
    /// set rebuilt; `base` and `epoch` as [`Dedup`] has them.
    pub(super) fn from_parts(
        order: VecDeque<u64>,
        seconds: VecDeque<(i64, u32)>,
        base: u64,
        epoch: u64,
    ) -> Result<Dedup, String> {
        let counted: u64 = seconds.iter().map(|&(_, n)| u64::from(n)).sum();
        if counted != order.len() as u64 {
            return Err(format!(
                "dedup memory: {} ids in order, {counted} in its runs",
                order.len()
            ));
        }
        let mut seen = IdSet::default();
        seen.raw.reserve(order.len(), |&x| x, &mut ());
        for &h in &order {
            if !seen.insert(h) {
                return Err(format!("dedup memory: id hash {h:016x} remembered twice"));
            }
        }
        Ok(Dedup {
            seen,
            order,
            seconds,
            base,
            epoch,
        })
    }
}

/// A copy of a [`Dedup`] to encode elsewhere (`State::freeze`): the
/// arrival order and the runs, which is all a checkpoint holds. The set,
/// the larger half, is not copied. A copy for a logged checkpoint holds
/// only the ids the log does not have yet.
#[derive(Default)]
pub struct FrozenDedup {
    order: Vec<u64>,
    seconds: Vec<(i64, u32)>,
    /// A copy for a logged checkpoint: it writes an empty memory.
    logged: bool,
    /// The segment of the ids a logged checkpoint's log lacks (taken out
    /// by [`FrozenDedup::take_tail`] before the copy is encoded).
    tail: Option<LogTail>,
}

/// What part of the dedup memory a checkpoint copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DedupCopy {
    /// All of it, in the state (formats 4 and 5, and files).
    Inline,
    /// The ids from the one numbered so on, for the dedup log (format 6 in
    /// a changelog): the ones its last checkpoint did not log. A number
    /// below the memory's oldest id copies all of it.
    LogFrom(u64),
}

/// Where a logged copy of a dedup memory starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogMark {
    /// The memory's numbering ([`Dedup::log_epoch`]).
    pub epoch: u64,
    /// The number of its oldest id remembered.
    pub base: u64,
    /// The number of the first id copied.
    pub first: u64,
}

impl Dedup {
    /// A copy of the ids remembered now, into the vectors of an earlier
    /// copy (emptied by `FrozenDedup::into_spare`) where they are large
    /// enough.
    pub fn freeze_into(&self, spare: FrozenDedup, copy: DedupCopy) -> FrozenDedup {
        fn flat<T: Copy>(q: &VecDeque<T>, mut v: Vec<T>) -> Vec<T> {
            v.clear();
            if v.capacity() < q.len() {
                v = Vec::with_capacity(q.len() + q.len() / 8);
            }
            let (a, b) = q.as_slices();
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            v
        }
        let DedupCopy::LogFrom(first) = copy else {
            return FrozenDedup {
                order: flat(&self.order, spare.order),
                seconds: flat(&self.seconds, spare.seconds),
                logged: false,
                tail: None,
            };
        };
        let arrived = self.base + self.order.len() as u64;
        let first = first.clamp(self.base, arrived);
        let skip = (first - self.base) as usize;
        let (runs_skip, split) = self.runs_before(skip);
        // The first run counts only the ids from `first` on.
        let runs = self.seconds.range(runs_skip..).enumerate();
        let runs = runs.map(|(i, &(s, n))| (s, if i == 0 { n - split } else { n }));
        let mark = LogMark {
            epoch: self.epoch,
            base: self.base,
            first,
        };
        // The ids go straight into the segment's body: the one copy of
        // them this checkpoint makes.
        FrozenDedup {
            order: spare.order,
            seconds: spare.seconds,
            logged: true,
            tail: Some(super::dedup_log::encode_tail(mark, &self.order, skip, runs)),
        }
    }

    /// The runs wholly before the `skip`-th id, and how many ids of the
    /// next run are before it too.
    fn runs_before(&self, skip: usize) -> (usize, u32) {
        let mut left = skip as u64;
        for (i, &(_, n)) in self.seconds.iter().enumerate() {
            if left < u64::from(n) {
                return (i, left as u32);
            }
            left -= u64::from(n);
        }
        (self.seconds.len(), 0)
    }

    /// The numbering a dedup log of this memory is in.
    pub fn log_epoch(&self) -> u64 {
        self.epoch
    }
}

impl FrozenDedup {
    /// Empties the copy and keeps its allocations.
    pub fn into_spare(mut self) -> FrozenDedup {
        self.order.clear();
        self.seconds.clear();
        self.logged = false;
        self.tail = None;
        self
    }

    /// The copy as checkpoint format `version` writes it in the state: as
    /// the memory it was taken from writes itself, or, for format 4, with
    /// the set's hashes too (in arrival order: the same hashes, which is
    /// all that reading the set takes); a logged copy as an empty memory
    /// (its ids go to the log).
    pub fn written(&self, version: u32) -> impl Serialize + '_ {
        WrittenCopy {
            copy: self,
            with_set: version < 5,
        }
    }

    /// The segment of a logged copy (`None`: a copy for the state itself,
    /// or one taken already); the copy still writes an empty memory.
    pub fn take_tail(&mut self) -> Option<LogTail> {
        self.tail.take()
    }
}

struct WrittenCopy<'a> {
    copy: &'a FrozenDedup,
    with_set: bool,
}

impl Serialize for WrittenCopy<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.copy.logged {
            return write_dedup(s, &NO_HASHES, &NO_HASHES, &NO_RUNS);
        }
        let (order, seconds) = (&self.copy.order, &self.copy.seconds);
        let set = if self.with_set { &order[..] } else { NO_HASHES };
        write_dedup(s, &set, order, seconds)
    }
}

/// No runs: the runs of a logged copy go to the log.
const NO_RUNS: &[(i64, u32)] = &[];

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

    #[test]
    fn reserved_room_holds_a_full_horizon_as_it_turns_over() {
        // Ten ids a second and a horizon of 100 s: 1 000 ids held, one
        // forgotten for each learnt, for 40 horizons.
        let mut d = Dedup::default();
        d.reserve(1_010);
        let buckets = d.seen.raw.num_buckets();
        for i in 0..40_000i64 {
            let now = i * 100;
            assert!(d.insert(&format!("e{i}"), now));
            d.expire(now - 100_000);
            assert!(d.len() <= 1_010);
        }
        assert_eq!(d.len(), 1_010);
        // The removed ids' marks never made the set grow.
        assert_eq!(d.seen.raw.num_buckets(), buckets);
    }

    /// A memory of `n` ids, one per 10 ms of event time.
    fn remembering(n: usize) -> Dedup {
        let mut d = Dedup::default();
        for i in 0..n {
            assert!(d.insert(&format!("ev-{i}"), i as i64 * 10));
        }
        d
    }

    /// The set, the order and the runs as a checkpoint holds them.
    type Fields = (Vec<u64>, Vec<u64>, Vec<(i64, u32)>);

    #[test]
    fn a_checkpoint_holds_each_id_once_and_rebuilds_the_set() {
        let d = remembering(1_000);
        let bytes = postcard::to_stdvec(&d).unwrap();
        let (set, order, runs): Fields = postcard::from_bytes(&bytes).unwrap();
        assert!(set.is_empty());
        assert_eq!(order.len(), 1_000);
        assert_eq!(runs.iter().map(|r| r.1 as usize).sum::<usize>(), 1_000);
        assert_eq!(
            postcard::to_stdvec(
                &d.freeze_into(FrozenDedup::default(), DedupCopy::Inline)
                    .written(5)
            )
            .unwrap(),
            bytes
        );

        let mut back: Dedup = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), 1_000);
        assert!(!back.insert("ev-0", 20_000));
        assert!(!back.insert("ev-999", 20_000));
        assert!(back.insert("ev-1000", 20_000));
        // The first 5 s (500 ids) pass; the rest are still remembered.
        back.expire(5_000);
        assert!(back.insert("ev-0", 20_000));
        assert!(!back.insert("ev-500", 20_000));
    }

    #[test]
    fn format_4_writes_the_set_too_and_reads_back_the_same() {
        let d = remembering(300);
        let bytes = postcard::to_stdvec(
            &d.freeze_into(FrozenDedup::default(), DedupCopy::Inline)
                .written(4),
        )
        .unwrap();
        let (mut set, mut order, _): Fields = postcard::from_bytes(&bytes).unwrap();
        set.sort_unstable();
        order.sort_unstable();
        assert_eq!(set.len(), 300);
        assert_eq!(set, order);
        let back: Dedup = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            postcard::to_stdvec(&back).unwrap(),
            postcard::to_stdvec(&d).unwrap()
        );
    }

    #[test]
    fn an_inconsistent_memory_is_an_error() {
        let read = |json: &str| serde_json::from_str::<Dedup>(json).map_err(|e| e.to_string());
        let e = read(r#"{"seen":[],"order":[7,9,7],"seconds":[[1,3]]}"#).unwrap_err();
        assert!(
            e.contains("id hash 0000000000000007 remembered twice"),
            "{e}"
        );
        let e = read(r#"{"seen":[],"order":[7,9,8],"seconds":[[1,2]]}"#).unwrap_err();
        assert!(e.contains("3 ids in order, 2 in its runs"), "{e}");
        let d = read(r#"{"seen":[],"order":[7,9,8],"seconds":[[1,2],[2,1]]}"#).unwrap();
        assert_eq!(d.len(), 3);
        // The same through the checkpoint codec.
        let twice: Fields = (vec![], vec![7, 9, 7], vec![(1, 3)]);
        let bytes = postcard::to_stdvec(&twice).unwrap();
        assert!(postcard::from_bytes::<Dedup>(&bytes).is_err());
    }
}
