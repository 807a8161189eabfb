//! Counts of whole seconds in the buckets of an HDR histogram of three
//! significant digits, for the window quantiles (SPEC §5.2).
//!
//! The buckets, and the quantile read from them, are those of
//! `hdrhistogram::Histogram::<u64>::new(3)` (unit 1, 2 048 sub-buckets):
//! exact up to 2 047 s, then within 1/1 024 of the value. What differs is
//! the bookkeeping. An observation leaving a window is taken out of its
//! bucket at once, where the HDR histogram, which only adds, recorded it
//! into a second histogram subtracted at the next read; and a record is a
//! few instructions instead of the HDR histogram's range, minimum, maximum
//! and total upkeep. Every observation is recorded once into each window
//! that covers it and removed once as it leaves, so this is the windows'
//! per-event cost (docs/performance.md, "Window quantiles counted in
//! place").

/// log2 of half the sub-buckets: 2 048 sub-buckets give 3 significant
/// digits (the first power of two of at least 2 × 10³).
const HALF_MAGNITUDE: u32 = 10;
/// Half the sub-buckets.
const HALF: u64 = 1 << HALF_MAGNITUDE;
/// Values below this share bucket 0, one sub-bucket each.
const SUB_MASK: u64 = (2 * HALF) - 1;
/// 64 less the bits of the sub-buckets (unit magnitude 0).
const LEADING_BASE: u32 = 64 - (HALF_MAGNITUDE + 1);

/// The bucket of `v`.
#[inline]
fn index(v: u64) -> usize {
    let bucket = LEADING_BASE - (v | SUB_MASK).leading_zeros();
    let sub = v >> bucket;
    (((u64::from(bucket) + 1) << HALF_MAGNITUDE) + sub - HALF) as usize
}

/// The lowest value of bucket `i`.
fn lowest(i: usize) -> u64 {
    let i = i as u64;
    let bucket = (i >> HALF_MAGNITUDE) as i64 - 1;
    let sub = (i & (HALF - 1)) + HALF;
    if bucket < 0 {
        sub - HALF
    } else {
        sub << bucket
    }
}

/// How many observations of each bucket a window holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecsHist {
    /// By bucket; as long as the highest bucket ever used.
    counts: Vec<u64>,
    /// Observations held.
    total: u64,
}

impl SecsHist {
    /// Counts one observation of `secs`.
    #[inline]
    pub fn record(&mut self, secs: u64) {
        let i = index(secs);
        if i >= self.counts.len() {
            self.grow(i);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Takes out one observation of `secs`, which must have been recorded.
    #[inline]
    pub fn remove(&mut self, secs: u64) {
        let i = index(secs);
        debug_assert!(self.counts.get(i).is_some_and(|&c| c > 0));
        self.counts[i] -= 1;
        self.total -= 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        self.counts.resize(i + 1, 0);
    }

    /// Adds `other`'s observations.
    pub fn add(&mut self, other: &SecsHist) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Observations held.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The nearest-rank quantile `q` (capped at 1) as the lowest value of
    /// its bucket: the bucket where the running count first reaches
    /// `⌈q × total⌉` (at least 1). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let q = q.min(1.0);
        let want = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return lowest(i);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    /// What the windows read before: an HDR histogram of three significant
    /// digits, the quantile as the lowest value of its bucket.
    fn hdr_quantile(h: &Histogram<u64>, q: f64) -> u64 {
        h.lowest_equivalent(h.value_at_quantile(q))
    }

    #[test]
    fn buckets_are_the_hdr_histograms() {
        let h = Histogram::<u64>::new(3).unwrap();
        let mut v = 0u64;
        // Every value to 10 000, then a walk to ten years in steps of about
        // a thousandth.
        while v < 10 * 366 * 86_400 {
            let i = index(v);
            assert_eq!(lowest(i), h.lowest_equivalent(v), "value {v}");
            assert!(lowest(i) <= v && (i + 1 == index(lowest(i + 1))));
            v = if v < 10_000 { v + 1 } else { v + v / 997 };
        }
    }

    proptest! {
        /// Recorded, removed and merged as the windows do, the quantiles
        /// are the HDR histogram's, for values that fall in a few buckets or
        /// spread over all.
        #[test]
        fn quantiles_are_the_hdr_histograms(
            kept in prop::collection::vec(prop_oneof![0u64..3_000, 0u64..400_000_000], 1..300),
            gone in prop::collection::vec(0u64..400_000_000, 0..100),
            other in prop::collection::vec(0u64..5_000_000, 0..50),
            q in 0.0f64..1.2,
        ) {
            let (mut mine, mut theirs) = (SecsHist::default(), Histogram::<u64>::new(3).unwrap());
            let mut removed = Histogram::<u64>::new(3).unwrap();
            for &v in kept.iter().chain(&gone) {
                mine.record(v);
                theirs.record(v).unwrap();
            }
            for &v in &gone {
                mine.remove(v);
                removed.record(v).unwrap();
            }
            theirs.subtract(&removed).unwrap();
            let (mut more, mut more_hdr) = (SecsHist::default(), Histogram::<u64>::new(3).unwrap());
            for &v in &other {
                more.record(v);
                more_hdr.record(v).unwrap();
            }
            mine.add(&more);
            theirs.add(&more_hdr).unwrap();
            prop_assert_eq!(mine.len(), theirs.len());
            for q in [q, 0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
                prop_assert_eq!(mine.quantile(q), hdr_quantile(&theirs, q), "q {}", q);
            }
        }
    }

    #[test]
    fn an_empty_histogram_reads_zero_and_removing_all_empties_it() {
        let mut h = SecsHist::default();
        assert_eq!(h.quantile(0.5), 0);
        h.record(5_001);
        h.record(7);
        // 5 001 shares the bucket of 5 000 to 5 003.
        assert_eq!((h.quantile(0.5), h.quantile(1.0)), (7, 5_000));
        h.remove(7);
        h.remove(5_001);
        assert!(h.is_empty());
        assert_eq!(h.quantile(0.99), 0);
    }
}
