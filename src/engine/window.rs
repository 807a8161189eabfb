//! Sliding event-time windows (SPEC §5.2).
//!
//! Time is cut into panes (`windows.pane`). Each pane keeps the counts and
//! the raw duration observations whose event time falls in it. Each window
//! keeps a running aggregate of the panes it covers: an observation is added
//! to the aggregates of the windows covering its pane when it arrives, and a
//! pane is subtracted from a window's aggregate when the event clock slides
//! the window past it. Quantiles come from the counts of HDR buckets per
//! window, metric and label set (`crate::metrics::secs_hist`), to which an
//! observation is added and from which it is taken out, so every event
//! costs O(windows) and every snapshot O(windows × metrics), never a scan
//! of the window's events.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::metrics::secs_hist::SecsHist;
pub use crate::metrics::{DurMetric, WindowCount, WINDOW_COUNTS};

/// The counts of a pane or window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts(#[serde(with = "counts_serde")] pub [i64; WINDOW_COUNTS]);

mod counts_serde {
    use super::WINDOW_COUNTS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &[i64; WINDOW_COUNTS], s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[i64; WINDOW_COUNTS], D::Error> {
        let v = Vec::<i64>::deserialize(d)?;
        let mut out = [0; WINDOW_COUNTS];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x;
        }
        Ok(out)
    }
}

impl Default for Counts {
    fn default() -> Self {
        Counts([0; WINDOW_COUNTS])
    }
}

impl Counts {
    /// One count.
    pub fn get(&self, c: WindowCount) -> i64 {
        self.0[c as usize]
    }
    fn add(&mut self, other: &Counts, sign: i64) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += sign * b;
        }
    }
}

/// Optional dimensions of a windowed duration (when configured).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct DimKey {
    /// Channel index + 1, or 0 when not split by channel.
    pub channel: u8,
    /// Queue label id + 1, or 0 when not split by queue.
    pub queue: u32,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Obs {
    ms: i64,
    metric: DurMetric,
    key: DimKey,
    /// Its series' index in every window's [`WindowAgg::durs`]: given
    /// when observed, and again by [`Windows::rebuild`] after a restore.
    #[serde(skip)]
    series: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Pane {
    counts: Counts,
    obs: Vec<Obs>,
}

/// A window's view of one duration metric.
#[derive(Clone, Debug, Default)]
pub struct DurAgg {
    /// The observations in whole seconds, by HDR bucket.
    hist: SecsHist,
    /// Exact sum of the observations, milliseconds.
    pub sum_ms: i64,
}

impl DurAgg {
    fn add(&mut self, o: &Obs) {
        self.hist.record(secs(o.ms));
        self.sum_ms += o.ms;
    }

    fn remove(&mut self, o: &Obs) {
        self.hist.remove(secs(o.ms));
        self.sum_ms -= o.ms;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Nearest-rank quantile in whole seconds, as the lowest value of its HDR bucket.
    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.quantile(q)
    }

    /// A copy for a snapshot.
    pub fn data(&self) -> crate::metrics::DurData {
        crate::metrics::DurData {
            hist: self.hist.clone(),
            sum_ms: self.sum_ms,
        }
    }
}

/// Milliseconds → whole seconds, rounded half up, at most ten years.
fn secs(ms: i64) -> u64 {
    (((ms.max(0) + 500) / 1000) as u64).min(MAX_SECS)
}

/// The largest duration a window histogram tracks (ten years).
const MAX_SECS: u64 = 10 * 366 * 86_400;

/// One window's running aggregate.
#[derive(Clone, Debug)]
pub struct WindowAgg {
    /// Length in panes.
    pub panes: i64,
    /// Counts of the panes covered.
    pub counts: Counts,
    /// Duration aggregates by series (metric and dimension key), in the
    /// order the series were first observed: every window has every
    /// series, at the same index, so an observation finds its aggregates
    /// without a lookup. Empty ones are kept for the series' return.
    durs: Vec<((DurMetric, DimKey), DurAgg)>,
}

impl WindowAgg {
    fn add_pane(&mut self, p: &Pane, sign: i64) {
        self.counts.add(&p.counts, sign);
        for o in &p.obs {
            let agg = &mut self.durs[o.series as usize].1;
            if sign > 0 {
                agg.add(o)
            } else {
                agg.remove(o)
            }
        }
    }

    /// The series with observations in the window, and their aggregates.
    pub fn series(&self) -> impl Iterator<Item = (&(DurMetric, DimKey), &DurAgg)> {
        self.durs
            .iter()
            .filter(|(_, d)| d.count() > 0)
            .map(|(k, d)| (k, d))
    }

    /// The aggregate of one series, if it has observations in the window.
    #[cfg(test)]
    pub fn dur(&self, metric: DurMetric, key: DimKey) -> Option<&DurAgg> {
        self.series()
            .find(|(k, _)| **k == (metric, key))
            .map(|(_, d)| d)
    }
}

/// The panes and the windows over them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Windows {
    pane_ms: i64,
    /// Pane index of `panes[0]`.
    first: i64,
    panes: VecDeque<Pane>,
    /// Pane index of the event clock (`None` before the first event).
    cur: Option<i64>,
    /// Window lengths in panes.
    lengths: Vec<i64>,
    /// Derived from the panes; rebuilt after a restore.
    #[serde(skip)]
    aggs: Vec<WindowAgg>,
    /// Label sets that have window quantiles (bounded by
    /// `windows.max_label_sets`); rebuilt from the panes after a restore.
    #[serde(skip)]
    keys: rustc_hash::FxHashSet<DimKey>,
    /// Each series' index in the windows' [`WindowAgg::durs`]; rebuilt
    /// from the panes after a restore.
    #[serde(skip)]
    series: FxHashMap<(DurMetric, DimKey), u32>,
    /// The longest window's length in panes (from `lengths`; set by
    /// [`Windows::rebuild`], which a restore calls).
    #[serde(skip)]
    longest: i64,
}

impl Windows {
    /// Windows of the given lengths (ms), sliding by `pane_ms`.
    pub fn new(pane_ms: i64, sizes_ms: &[i64]) -> Windows {
        let lengths: Vec<i64> = sizes_ms.iter().map(|s| s / pane_ms).collect();
        let mut w = Windows {
            pane_ms,
            first: 0,
            panes: VecDeque::new(),
            cur: None,
            lengths,
            aggs: Vec::new(),
            keys: Default::default(),
            series: Default::default(),
            longest: 0,
        };
        w.rebuild();
        w
    }

    /// Windows restored from a checkpoint, under the config given now (the
    /// state keeps the lengths it was written with): with the same pane
    /// the panes kept are read again by the configured windows (one longer
    /// than the longest before holds only what they cover), with another
    /// pane the windows start over empty. Either change is logged at WARN.
    pub fn configure(&mut self, pane_ms: i64, sizes_ms: &[i64]) {
        let lengths: Vec<i64> = sizes_ms.iter().map(|s| s / pane_ms).collect();
        if pane_ms != self.pane_ms {
            tracing::warn!(before_ms = self.pane_ms, now_ms = pane_ms,
                "windows.pane changed since the checkpoint: the event-time windows start over empty");
            *self = Windows::new(pane_ms, sizes_ms);
            return;
        }
        if lengths != self.lengths {
            tracing::warn!(before_ms = ?self.lengths.iter().map(|l| l * pane_ms).collect::<Vec<_>>(),
                now_ms = ?sizes_ms,
                "windows.sizes changed since the checkpoint: each window is read again from the panes kept");
            self.lengths = lengths;
        }
        self.rebuild();
    }

    /// Recomputes the window aggregates from the panes (after deserializing).
    pub fn rebuild(&mut self) {
        self.longest = self.lengths.iter().copied().max().unwrap_or(0);
        self.aggs = self
            .lengths
            .iter()
            .map(|&panes| WindowAgg {
                panes,
                counts: Counts::default(),
                durs: Vec::new(),
            })
            .collect();
        // Every series in the panes again, and with them their label sets.
        self.keys.clear();
        self.series.clear();
        let mut panes = std::mem::take(&mut self.panes);
        for o in panes.iter_mut().flat_map(|p| p.obs.iter_mut()) {
            o.series = self.series_of(o.metric, o.key);
        }
        self.panes = panes;
        let Some(cur) = self.cur else { return };
        for (i, p) in self.panes.iter().enumerate() {
            let idx = self.first + i as i64;
            for agg in &mut self.aggs {
                if idx > cur - agg.panes {
                    agg.add_pane(p, 1);
                }
            }
        }
    }

    fn max_len(&self) -> i64 {
        self.longest
    }

    /// Slides every window to end at event time `clock`.
    pub fn advance(&mut self, clock: i64) {
        let Some(cur) = self.cur else {
            let new_cur = clock.div_euclid(self.pane_ms);
            self.cur = Some(new_cur);
            self.first = new_cur;
            return;
        };
        let new_cur = self.pane_index(clock, cur);
        if new_cur <= cur {
            return;
        }
        let last = self.first + self.panes.len() as i64 - 1;
        for agg in &mut self.aggs {
            let from = (cur - agg.panes + 1).max(self.first);
            let to = (new_cur - agg.panes).min(last);
            for idx in from..=to {
                agg.add_pane(&self.panes[(idx - self.first) as usize], -1);
            }
        }
        let keep_from = new_cur - self.max_len() + 1;
        while self.first < keep_from && !self.panes.is_empty() {
            self.panes.pop_front();
            self.first += 1;
        }
        if self.panes.is_empty() {
            self.first = keep_from.max(self.first);
        }
        self.cur = Some(new_cur);
    }

    /// The index of the pane holding time `ts`, the clock's pane being
    /// `cur`: most times fall in it, and need no division.
    #[inline]
    fn pane_index(&self, ts: i64, cur: i64) -> i64 {
        let since = ts.wrapping_sub(cur.wrapping_mul(self.pane_ms));
        if (0..self.pane_ms).contains(&since) {
            cur
        } else {
            ts.div_euclid(self.pane_ms)
        }
    }

    /// The pane for event time `ts`, created if needed; `None` when no window covers it.
    #[inline]
    fn pane_mut(&mut self, ts: i64) -> Option<(i64, &mut Pane)> {
        let cur = self.cur?;
        let idx = self.pane_index(ts, cur);
        if idx > cur || idx <= cur - self.max_len() {
            return None;
        }
        if idx < self.first || idx >= self.first + self.panes.len() as i64 {
            self.add_panes_to(idx);
        }
        let i = (idx - self.first) as usize;
        Some((idx, &mut self.panes[i]))
    }

    /// Adds empty panes up to pane `idx`, before or after the ones held
    /// (once per pane of event time, so kept out of [`Windows::pane_mut`]).
    #[cold]
    #[inline(never)]
    fn add_panes_to(&mut self, idx: i64) {
        if self.panes.is_empty() {
            self.first = idx;
        }
        while idx < self.first {
            self.panes.push_front(Pane::default());
            self.first -= 1;
        }
        while idx >= self.first + self.panes.len() as i64 {
            self.panes.push_back(Pane::default());
        }
    }

    fn covering(
        aggs: &mut [WindowAgg],
        cur: i64,
        idx: i64,
    ) -> impl Iterator<Item = &mut WindowAgg> {
        aggs.iter_mut().filter(move |a| idx > cur - a.panes)
    }

    /// Adds `n` to count `c` at event time `ts`.
    pub fn count(&mut self, ts: i64, c: WindowCount, n: i64) {
        let Some(cur) = self.cur else { return };
        let Some((idx, pane)) = self.pane_mut(ts) else {
            return;
        };
        pane.counts.0[c as usize] += n;
        for agg in Self::covering(&mut self.aggs, cur, idx) {
            agg.counts.0[c as usize] += n;
        }
    }

    /// The label set an observation with labels `key` is kept under: its
    /// own while fewer than `max` sets exist, else `fallback` (the same
    /// channel, queue `other`). Each set costs its own HDR histograms.
    pub fn admit_key(&self, key: DimKey, fallback: DimKey, max: usize) -> DimKey {
        if self.keys.len() < max || self.keys.contains(&key) {
            key
        } else {
            fallback
        }
    }

    /// Records a duration observation at event time `ts`.
    pub fn observe(&mut self, ts: i64, metric: DurMetric, key: DimKey, ms: i64) {
        let Some(cur) = self.cur else { return };
        let Some((idx, _)) = self.pane_mut(ts) else {
            return;
        };
        let series = self.series_of(metric, key);
        let o = Obs {
            ms,
            metric,
            key,
            series,
        };
        self.panes[(idx - self.first) as usize].obs.push(o);
        for agg in Self::covering(&mut self.aggs, cur, idx) {
            agg.durs[series as usize].1.add(&o);
        }
    }

    /// The index of series (`metric`, `key`) in every window's
    /// [`WindowAgg::durs`], added to them all (and its label set to the
    /// sets with quantiles) when new.
    fn series_of(&mut self, metric: DurMetric, key: DimKey) -> u32 {
        let n = self.series.len() as u32;
        let series = *self.series.entry((metric, key)).or_insert(n);
        if series == n {
            self.keys.insert(key);
            for agg in &mut self.aggs {
                agg.durs.push(((metric, key), DurAgg::default()));
            }
        }
        series
    }

    /// Books the part of the interval `[from, to)` that falls in retained
    /// panes to count `c`, in milliseconds.
    pub fn book_interval(&mut self, from: i64, to: i64, c: WindowCount) {
        self.add_interval(from, to, c, 1);
    }

    /// Takes back what [`Windows::book_interval`] booked of `[from, to)` to
    /// count `c`: the windows are gauges, so a booking may be undone.
    pub fn take_back_interval(&mut self, from: i64, to: i64, c: WindowCount) {
        self.add_interval(from, to, c, -1);
    }

    /// Adds `sign` times the part of `[from, to)` in retained panes to `c`.
    fn add_interval(&mut self, from: i64, to: i64, c: WindowCount, sign: i64) {
        let Some(cur) = self.cur else { return };
        if to <= from {
            return;
        }
        let lo = from.div_euclid(self.pane_ms).max(cur - self.max_len() + 1);
        let hi = (to - 1).div_euclid(self.pane_ms).min(cur);
        if hi < lo {
            return;
        }
        // Panes get their share one by one; each window gets its overlap at once.
        self.pane_mut(lo * self.pane_ms);
        self.pane_mut(hi * self.pane_ms);
        let pane = self.pane_ms;
        // Every pane from `lo` to `hi` overlaps the interval (`lo` ends after
        // `from`, `hi` starts before `to`), and all but the two at its ends
        // wholly: each gets a whole pane, then the ends give back what lies
        // outside it. (An agent's interval spans minutes to hours, so this
        // loop is most of the cost of booking it.)
        let (i_lo, i_hi) = ((lo - self.first) as usize, (hi - self.first) as usize);
        for p in self.panes.range_mut(i_lo..=i_hi) {
            p.counts.0[c as usize] += sign * pane;
        }
        self.panes[i_lo].counts.0[c as usize] -= sign * (from - lo * pane).max(0);
        self.panes[i_hi].counts.0[c as usize] -= sign * ((hi + 1) * pane - to).max(0);
        for agg in &mut self.aggs {
            let win_start = (cur - agg.panes + 1) * pane;
            let overlap = to.min((cur + 1) * pane) - from.max(win_start);
            if overlap > 0 {
                agg.counts.0[c as usize] += sign * overlap;
            }
        }
    }

    /// The window aggregates, in configured order.
    pub fn read(&self) -> &[WindowAgg] {
        &self.aggs
    }

    /// Panes held.
    pub fn pane_count(&self) -> usize {
        self.panes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i64 = 10_000;

    fn get(w: &mut Windows, i: usize, c: WindowCount) -> i64 {
        w.read()[i].counts.get(c)
    }

    #[test]
    fn counts_slide_out_by_pane() {
        // Windows of 30 s and 60 s over 10 s panes.
        let mut w = Windows::new(P, &[30_000, 60_000]);
        w.advance(100_000);
        w.count(100_000, WindowCount::Contacts, 1); // pane 10
        w.advance(125_000); // pane 12: the 30 s window covers panes 10..=12
        w.count(121_000, WindowCount::Contacts, 2);
        assert_eq!(get(&mut w, 0, WindowCount::Contacts), 3);
        w.advance(130_000); // pane 13: pane 10 leaves the 30 s window
        assert_eq!(get(&mut w, 0, WindowCount::Contacts), 2);
        assert_eq!(get(&mut w, 1, WindowCount::Contacts), 3);
        w.advance(160_000); // pane 16: pane 10 leaves the 60 s window, pane 12 the 30 s one
        assert_eq!(get(&mut w, 0, WindowCount::Contacts), 0);
        assert_eq!(get(&mut w, 1, WindowCount::Contacts), 2);
        // An event for a pane no window covers any more is not kept.
        w.count(100_000, WindowCount::Contacts, 5);
        assert_eq!(get(&mut w, 1, WindowCount::Contacts), 2);
        // A late event for a pane still covered by the long window only.
        w.count(125_000, WindowCount::Contacts, 7);
        assert_eq!(get(&mut w, 0, WindowCount::Contacts), 0);
        assert_eq!(get(&mut w, 1, WindowCount::Contacts), 9);
    }

    /// Defect: a state restored under other `windows.sizes` kept the
    /// lengths it was written with, and they were exported under the
    /// configured names by position (the 5 m window's count as `1h`).
    #[test]
    fn restored_windows_take_the_configured_lengths() {
        let fill = |w: &mut Windows| {
            for (t, n) in [(100_000, 1), (125_000, 2), (150_000, 4)] {
                w.advance(t);
                w.count(t, WindowCount::Contacts, n);
            }
        };
        let mut restored = Windows::new(P, &[30_000, 60_000]);
        fill(&mut restored);
        let mut json = serde_json::to_value(&restored).unwrap();
        restored = serde_json::from_value(json.take()).unwrap();
        restored.configure(P, &[60_000]);
        let mut fresh = Windows::new(P, &[60_000]);
        fill(&mut fresh);
        assert_eq!(restored.read().len(), 1);
        assert_eq!(get(&mut restored, 0, WindowCount::Contacts), 7);
        assert_eq!(get(&mut fresh, 0, WindowCount::Contacts), 7);
        // Another pane: the panes cannot be read again; empty.
        restored.configure(5_000, &[60_000]);
        assert_eq!(get(&mut restored, 0, WindowCount::Contacts), 0);
    }

    #[test]
    fn quantiles_follow_the_window() {
        let mut w = Windows::new(P, &[20_000]);
        w.advance(0);
        for s in [10, 20, 30, 40] {
            w.observe(0, DurMetric::Reply, DimKey::default(), s * 1000);
        }
        w.advance(10_000);
        w.observe(10_000, DurMetric::Reply, DimKey::default(), 5_000_400);
        {
            let agg = w.read()[0]
                .dur(DurMetric::Reply, DimKey::default())
                .unwrap();
            assert_eq!(agg.count(), 5);
            // Nearest rank: ceil(0.5 × 5) = 3rd of 10, 20, 30, 40, 5000 → 30.
            assert_eq!(agg.quantile(0.5), 30);
            // 5000 s lies in an HDR bucket of width 4 (4096..8191): 5000 is its lowest value.
            assert_eq!(agg.quantile(0.99), 5000);
            assert_eq!(agg.sum_ms, 100_000 + 5_000_400);
        }
        w.advance(20_000);
        let agg = w.read()[0]
            .dur(DurMetric::Reply, DimKey::default())
            .unwrap();
        assert_eq!(agg.count(), 1);
        assert_eq!(agg.quantile(0.5), 5000);
    }

    #[test]
    fn intervals_are_split_over_panes() {
        let mut w = Windows::new(P, &[30_000]);
        w.advance(45_000); // pane 4: the window covers panes 2..=4 (20 s..50 s)
        w.book_interval(5_000, 45_000, WindowCount::AgentBusyMs);
        // Only 20 s..45 s is inside retained panes.
        assert_eq!(get(&mut w, 0, WindowCount::AgentBusyMs), 25_000);
    }

    proptest::proptest! {
        /// Intervals booked as the clock moves on give each window exactly
        /// the milliseconds of theirs it covers, also once panes have slid
        /// out of it (checked against the overlaps worked out one by one).
        #[test]
        fn booked_intervals_match_their_overlaps(
            steps in proptest::collection::vec((0i64..40_000, 0i64..200_000, 0i64..50_000), 1..40),
        ) {
            let sizes = [30_000, 60_000];
            let mut w = Windows::new(P, &sizes);
            let mut clock = 0;
            w.advance(clock);
            // The part of each interval inside the retained panes when booked.
            let mut booked: Vec<(i64, i64)> = Vec::new();
            for (gap, len, back) in steps {
                clock += gap;
                w.advance(clock);
                let to = clock - back.min(clock);
                let from = to - len;
                w.book_interval(from, to, WindowCount::AgentBusyMs);
                let cur = clock.div_euclid(P);
                let kept_from = (cur - 60_000 / P + 1) * P;
                booked.push((from.max(kept_from), to.min((cur + 1) * P)));
                for (i, size) in sizes.iter().enumerate() {
                    let (ws, we) = ((cur + 1) * P - size, (cur + 1) * P);
                    let want: i64 = booked
                        .iter()
                        .map(|&(f, t)| (t.min(we) - f.max(ws)).max(0))
                        .sum();
                    proptest::prop_assert_eq!(get(&mut w, i, WindowCount::AgentBusyMs), want);
                }
            }
        }
    }

    #[test]
    fn rebuild_after_restore_matches() {
        let mut w = Windows::new(P, &[30_000, 60_000]);
        w.advance(0);
        for t in (0..100_000).step_by(7_000) {
            w.advance(t);
            w.count(t, WindowCount::Answered, 1);
            w.observe(t, DurMetric::AnswerWait, DimKey::default(), t / 10);
        }
        let json = serde_json::to_string(&w).unwrap();
        let mut r: Windows = serde_json::from_str(&json).unwrap();
        r.rebuild();
        for i in 0..2 {
            assert_eq!(w.read()[i].counts, r.read()[i].counts);
            let a = w.read()[i]
                .dur(DurMetric::AnswerWait, DimKey::default())
                .unwrap();
            let b = r.read()[i]
                .dur(DurMetric::AnswerWait, DimKey::default())
                .unwrap();
            assert_eq!(
                (a.count(), a.sum_ms, a.quantile(0.9)),
                (b.count(), b.sum_ms, b.quantile(0.9))
            );
        }
    }
}
