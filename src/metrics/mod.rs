//! The typed metric model: an immutable picture of every metric at one
//! moment. The engine fills it ([`crate::engine::Engine::snapshot`]), the hub
//! merges the partitions' pictures, [`crate::export`] encodes it. It holds
//! finished numbers only, so merging and encoding never touch engine state,
//! and it imports nothing from the engine.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

pub use crate::names::{Kind, Merge, MetricDef};

pub mod only;
pub mod secs_hist;
pub mod windows;

pub use only::Only;

pub use windows::{DurData, DurKey, DurMetric, WindowCount, WindowData, WindowSet, WINDOW_COUNTS};

/// A label value: static for closed sets, owned for free strings.
pub type LabelValue = Cow<'static, str>;

/// A label set, in the order it is written.
pub type Labels = Vec<(&'static str, LabelValue)>;

/// A histogram's state.
#[derive(Clone, Debug, PartialEq)]
pub struct HistValue {
    /// Upper bounds, ascending, without `+Inf`.
    pub bounds: Arc<[f64]>,
    /// Observations per bucket (not cumulative); one more than `bounds` (`+Inf`).
    pub buckets: Vec<u64>,
    /// Sum of observations, milliseconds (seconds when encoded). Whole
    /// milliseconds for event-time durations, so sums over partitions stay
    /// exact (integers up to 2^53); fractions for wall-clock timings shorter
    /// than a millisecond.
    pub sum_ms: f64,
    /// Number of observations.
    pub count: u64,
    /// Per bucket, the latest observation (empty when none are kept).
    pub exemplars: Vec<Option<ExemplarValue>>,
}

impl HistValue {
    /// No observations over `bounds`.
    pub fn empty(bounds: &[f64]) -> HistValue {
        HistValue {
            bounds: bounds.into(),
            buckets: vec![0; bounds.len() + 1],
            sum_ms: 0.0,
            count: 0,
            exemplars: Vec::new(),
        }
    }

    /// Counts one observation of `secs` seconds (`le` bounds: a value equal
    /// to a bound falls in that bucket).
    pub fn observe(&mut self, secs: f64) {
        let i = self.bounds.partition_point(|b| *b < secs);
        self.buckets[i] += 1;
        self.sum_ms += secs * 1000.0;
        self.count += 1;
    }
}

/// The ticket or call behind a bucket's latest observation.
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarValue {
    /// `ticket_id` or `call_id`.
    pub label: &'static str,
    /// The id (shared: a merged view clones it without copying).
    pub id: Arc<str>,
    /// The observed value, ms.
    pub value_ms: i64,
    /// Event time of the observation, ms.
    pub ts_ms: i64,
}

/// One sample's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer count.
    Int(u64),
    /// A float.
    Float(f64),
    /// Milliseconds, exported as seconds (sums stay exact when merged).
    Millis(i64),
    /// A histogram (shared: a partition publishes a histogram nothing was
    /// observed in since its last snapshot again without a copy).
    Hist(Arc<HistValue>),
}

/// One labelled series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: Value,
}

/// A metric family.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Name (counters without `_total`).
    pub name: &'static str,
    /// Help text.
    pub help: Cow<'static, str>,
    /// Kind.
    pub kind: Kind,
    /// How its series combine across partitions.
    pub merge: Merge,
    /// Series, sorted by labels.
    pub series: Vec<Series>,
}

/// Where a partition's engine is in event time, published beside its
/// families so `/readyz` and the progress log need not read it back out of
/// a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The event clock (latest event time applied), ms.
    pub clock_ms: i64,
    /// The watermark (SPEC §2), ms.
    pub watermark_ms: i64,
}

/// Every family at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Families in exposition order.
    pub families: Vec<Family>,
    /// Window data, rendered into `support_window_*` families at encode
    /// time (after the partitions' data is merged).
    pub windows: Option<WindowSet>,
    /// Event-time progress; `None` before the first event. Merged, the
    /// latest clock and the earliest watermark.
    pub progress: Option<Progress>,
    /// The open SLA clocks closest to their deadlines, earliest first, at
    /// most [`DUE_LIST`]; merged, the earliest of every partition's.
    pub due: Vec<DueClock>,
}

/// How many clocks closest to their deadlines a snapshot carries.
pub const DUE_LIST: usize = 10;

/// An open SLA clock (running, no verdict yet) with a target, for the live
/// page's "closest to breaching" list: no aggregate metric names tickets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueClock {
    /// `ticket` or `call`.
    pub entity: &'static str,
    /// The ticket's or call's id.
    pub id: String,
    /// The clock (`sla` label): first_response, next_response, resolution, answer.
    pub clock: &'static str,
    /// The SLA policy's name.
    pub policy: String,
    /// Priority label.
    pub priority: &'static str,
    /// Queue label (capped as on `/metrics`).
    pub queue: String,
    /// Channel label.
    pub channel: &'static str,
    /// Event time of the deadline, ms.
    pub due_ms: i64,
    /// At or past the policy's `warn_fraction` of its target.
    pub at_risk: bool,
}

fn merge_value(into: &mut Value, from: &Value, merge: Merge) {
    match (into, from) {
        (Value::Int(a), Value::Int(b)) => {
            *a = match merge {
                Merge::Sum => *a + b,
                Merge::Max => (*a).max(*b),
                Merge::Min => (*a).min(*b),
                Merge::First => *a,
            }
        }
        (Value::Float(a), Value::Float(b)) => {
            *a = match merge {
                Merge::Sum => *a + b,
                Merge::Max => a.max(*b),
                Merge::Min => a.min(*b),
                Merge::First => *a,
            }
        }
        (Value::Millis(a), Value::Millis(b)) => *a += b,
        (Value::Hist(a), Value::Hist(b)) if a.bounds == b.bounds => {
            let a = Arc::make_mut(a);
            for (x, y) in a.buckets.iter_mut().zip(&b.buckets) {
                *x += y;
            }
            a.sum_ms += b.sum_ms;
            a.count += b.count;
            if a.exemplars.is_empty() {
                a.exemplars = b.exemplars.clone();
            } else {
                // The newer observation wins each bucket.
                for (x, y) in a.exemplars.iter_mut().zip(&b.exemplars) {
                    if let Some(y) = y {
                        if x.as_ref().is_none_or(|x| y.ts_ms > x.ts_ms) {
                            *x = Some(y.clone());
                        }
                    }
                }
            }
        }
        // Mismatched shapes cannot come from one configuration; keep the first.
        _ => {}
    }
}

/// Orders two label sets as `Labels`' own `Ord` does (name, then value,
/// pair by pair; a prefix first), faster: label names are `'static` and
/// the same names are the same strings, so equal pointers settle most
/// comparisons without reading bytes. Merging sorted series is mostly
/// these comparisons.
fn cmp_labels(a: &Labels, b: &Labels) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        if !same_str(ka, kb) {
            match ka.cmp(kb) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        if !same_str(va, vb) {
            match va.as_bytes().cmp(vb.as_bytes()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
    }
    a.len().cmp(&b.len())
}

/// The same string in memory (so equal without comparing bytes).
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()
}

/// Sorts series by labels unless they already are.
fn sort_series(series: &mut [Series]) {
    if !series.is_sorted_by(|a, b| cmp_labels(&a.labels, &b.labels).is_le()) {
        series.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
    }
}

/// Merges two runs of series, both sorted by labels, in one pass: series
/// of equal labels combine by `merge` (`a`'s value first), the others
/// interleave in order.
fn merge_sorted(a: Vec<Series>, b: Vec<Series>, merge: Merge) -> Vec<Series> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut mine = a.into_iter().peekable();
    let mut theirs = b.into_iter().peekable();
    loop {
        let next = match (mine.peek(), theirs.peek()) {
            (Some(a), Some(b)) => match cmp_labels(&a.labels, &b.labels) {
                Ordering::Less => mine.next(),
                Ordering::Greater => theirs.next(),
                Ordering::Equal => {
                    let mut a = mine.next().expect("peeked");
                    let b = theirs.next().expect("peeked");
                    merge_value(&mut a.value, &b.value, merge);
                    Some(a)
                }
            },
            (Some(_), None) => {
                out.extend(mine);
                break;
            }
            (None, Some(_)) => {
                out.extend(theirs);
                break;
            }
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// Merges the runs of one family (each sorted by labels, in partition
/// order) pairwise, neighbours first, so each series moves about
/// log2(runs) times rather than once for every run after its own; the
/// earlier run's value comes first, so `Merge::First` keeps the first
/// partition's.
fn merge_runs(mut runs: Vec<Vec<Series>>, merge: Merge) -> Vec<Series> {
    while runs.len() > 1 {
        let mut next = Vec::with_capacity(runs.len().div_ceil(2));
        let mut it = runs.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => merge_sorted(a, b, merge),
                None => a,
            });
        }
        runs = next;
    }
    runs.pop().unwrap_or_default()
}

impl Snapshot {
    /// Starts the family `def` (name, help, kind and merge rule from
    /// [`crate::names`]); series are added with [`FamilyBuilder::push`].
    pub fn family(&mut self, def: MetricDef) -> FamilyBuilder<'_> {
        self.families.push(Family {
            name: def.name,
            help: Cow::Borrowed(def.help),
            kind: def.kind,
            merge: def.merge,
            series: Vec::new(),
        });
        FamilyBuilder(self.families.last_mut().expect("just pushed"))
    }

    /// Looks a family up by name (tests).
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The series of family `name` as (labels, value) pairs, none when
    /// there is no such family (unit tests).
    #[cfg(test)]
    pub(crate) fn series_of(&self, name: &str) -> Vec<(Labels, Value)> {
        self.get(name)
            .map(|f| {
                f.series
                    .iter()
                    .map(|x| (x.labels.clone(), x.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The watermark, ms, when an event has been applied.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.progress.map(|p| p.watermark_ms)
    }

    /// Combines the snapshots of several partitions into the instance's
    /// view: series of one label set combine by their family's [`Merge`],
    /// windows merge. Families are found through an index by name; the
    /// series of each family (sorted by labels) merge run by run, in
    /// O(series × log2(partitions)).
    pub fn merge(parts: impl IntoIterator<Item = Snapshot>) -> Snapshot {
        let mut out = Snapshot::default();
        let mut index: rustc_hash::FxHashMap<&'static str, usize> = Default::default();
        // Per family of `out`, the parts' runs of series, merged at the end.
        let mut runs: Vec<Vec<Vec<Series>>> = Vec::new();
        for part in parts {
            for mut fam in part.families {
                sort_series(&mut fam.series);
                let series = std::mem::take(&mut fam.series);
                match index.get(fam.name) {
                    Some(&i) => runs[i].push(series),
                    None => {
                        index.insert(fam.name, out.families.len());
                        out.families.push(fam);
                        runs.push(vec![series]);
                    }
                }
            }
            match (&mut out.windows, part.windows) {
                (Some(w), Some(p)) => w.merge(&p),
                (None, Some(p)) => out.windows = Some(p),
                _ => {}
            }
            out.progress = match (out.progress, part.progress) {
                (Some(a), Some(b)) => Some(Progress {
                    clock_ms: a.clock_ms.max(b.clock_ms),
                    watermark_ms: a.watermark_ms.min(b.watermark_ms),
                }),
                (a, b) => a.or(b),
            };
            out.due.extend(part.due);
        }
        for (fam, runs) in out.families.iter_mut().zip(runs) {
            fam.series = merge_runs(runs, fam.merge);
        }
        out.due
            .sort_by(|a, b| (a.due_ms, &a.id).cmp(&(b.due_ms, &b.id)));
        out.due.truncate(DUE_LIST);
        // Sorted by the merge already: only the empty families go.
        out.families.retain(|f| !f.series.is_empty());
        out
    }

    /// The window families, rendered from the window data (SPEC §5.2).
    pub fn rendered_windows(&self) -> Vec<Family> {
        self.windows
            .as_ref()
            .map(windows::render)
            .unwrap_or_default()
    }

    /// Every family in exposition order, with `windows` (from
    /// [`Snapshot::rendered_windows`]) after the support families and
    /// before the processor's own `frontline_*` families.
    pub fn in_order<'a>(&'a self, windows: &'a [Family]) -> impl Iterator<Item = &'a Family> {
        let (support, own) = self.families.split_at(self.own_start());
        support.iter().chain(windows).chain(own)
    }

    /// Where the processor's own `frontline_*` families start (the window
    /// families go just before).
    fn own_start(&self) -> usize {
        self.families
            .iter()
            .position(|f| f.name.starts_with("frontline_"))
            .unwrap_or(self.families.len())
    }

    /// Keeps the families `only` wants, the windows' among them rendered
    /// into their place (so an exposition of the result carries no others).
    pub fn keep_only(&mut self, only: &Only) {
        if only.is_all() {
            return;
        }
        self.families.retain(|f| only.wants_family(f));
        if let Some(w) = self.windows.take().filter(|_| only.wants_windows()) {
            let at = self.own_start();
            let wanted = windows::render(&w)
                .into_iter()
                .filter(|f| only.wants_family(f));
            self.families.splice(at..at, wanted);
        }
    }

    /// Drops families with no series and sorts each family's series by labels.
    pub fn prune(&mut self) {
        self.families.retain(|f| !f.series.is_empty());
        for f in &mut self.families {
            sort_series(&mut f.series);
        }
    }
}

/// Adds series to a family.
pub struct FamilyBuilder<'a>(&'a mut Family);

impl FamilyBuilder<'_> {
    /// Adds one series.
    pub fn push(&mut self, labels: Labels, value: Value) -> &mut Self {
        self.0.series.push(Series { labels, value });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    fn queue(q: &'static str) -> Labels {
        vec![("queue", Cow::Borrowed(q))]
    }

    /// One partition: series pushed out of label order on purpose.
    fn part(open: [u64; 2], oldest: f64, watermark_ms: i64, target: f64) -> Snapshot {
        let mut s = Snapshot::default();
        s.family(names::TICKETS_OPEN)
            .push(queue("sales"), Value::Int(open[1]))
            .push(queue("billing"), Value::Int(open[0]));
        s.family(names::OLDEST_CALL_WAIT)
            .push(queue("billing"), Value::Float(oldest));
        s.family(names::WATERMARK)
            .push(vec![], Value::Float(watermark_ms as f64 / 1000.0));
        s.family(names::KPI_TARGET)
            .push(vec![("kpi", "csat".into())], Value::Float(target));
        s.progress = Some(Progress {
            clock_ms: watermark_ms + 5000,
            watermark_ms,
        });
        s
    }

    #[test]
    fn gauges_merge_by_their_rule_and_series_come_out_sorted() {
        let merged = Snapshot::merge([
            part([1, 2], 30.0, 9000, 0.8),
            part([10, 20], 45.0, 7000, 0.9),
            part([100, 0], 5.0, 8000, 0.7),
        ]);
        assert_eq!(
            merged.series_of("support_tickets_open"),
            vec![
                (queue("billing"), Value::Int(111)),
                (queue("sales"), Value::Int(22)),
            ]
        );
        assert_eq!(
            merged.series_of("support_oldest_call_wait_seconds"),
            vec![(queue("billing"), Value::Float(45.0))]
        );
        assert_eq!(
            merged.series_of("frontline_watermark_seconds"),
            vec![(vec![], Value::Float(7.0))]
        );
        assert_eq!(
            merged.series_of("support_kpi_target"),
            vec![(vec![("kpi", "csat".into())], Value::Float(0.8))]
        );
        assert_eq!(merged.watermark_ms(), Some(7000));
        assert_eq!(merged.progress.map(|p| p.clock_ms), Some(14000));
    }

    #[test]
    fn label_sets_order_as_their_own_ord_does() {
        // Owned copies of the same text (other addresses), prefixes, other
        // names, empty values.
        let owned = |v: &str| -> LabelValue { Cow::Owned(v.to_string()) };
        let sets: Vec<Labels> = vec![
            vec![],
            vec![("queue", "billing".into())],
            vec![("queue", owned("billing"))],
            vec![("queue", "billing".into()), ("partition", "2".into())],
            vec![("queue", owned("billing")), ("partition", owned("10"))],
            vec![("queue", "sales".into())],
            vec![("queue", "".into())],
            vec![("channel", "email".into()), ("queue", "billing".into())],
            vec![("channel", "chat".into()), ("queue", "billing".into())],
            vec![("channel", owned("chat")), ("queue", "b".into())],
            vec![("priority", "high".into())],
        ];
        for a in &sets {
            for b in &sets {
                assert_eq!(cmp_labels(a, b), a.cmp(b), "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn many_parts_merge_as_one_after_another() {
        // Twelve parts, pairwise: the first part's value is kept (First),
        // sums and maxima over all, and every series once, in label order.
        let parts: Vec<Snapshot> = (0..12u64)
            .map(|p| {
                let mut s = Snapshot::default();
                s.family(names::TICKETS_OPEN)
                    .push(queue("billing"), Value::Int(p))
                    .push(
                        vec![("queue", Cow::Owned(format!("q{p:02}")))],
                        Value::Int(1),
                    );
                s.family(names::OLDEST_CALL_WAIT)
                    .push(queue("billing"), Value::Float((p * 7 % 12) as f64));
                s.family(names::KPI_TARGET)
                    .push(vec![("kpi", "csat".into())], Value::Float(p as f64));
                s
            })
            .collect();
        let merged = Snapshot::merge(parts);
        let open = merged.series_of("support_tickets_open");
        assert_eq!(open.len(), 13);
        assert_eq!(open[0], (queue("billing"), Value::Int(66)));
        assert!(open.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            merged.series_of("support_oldest_call_wait_seconds"),
            vec![(queue("billing"), Value::Float(11.0))]
        );
        assert_eq!(
            merged.series_of("support_kpi_target"),
            vec![(vec![("kpi", "csat".into())], Value::Float(0.0))]
        );
    }

    #[test]
    fn series_only_one_part_has_interleave_in_label_order() {
        let mut a = Snapshot::default();
        a.family(names::TICKETS_CREATED)
            .push(queue("a"), Value::Int(1))
            .push(queue("c"), Value::Int(3));
        let mut b = Snapshot::default();
        b.family(names::TICKETS_CREATED)
            .push(queue("d"), Value::Int(4))
            .push(queue("b"), Value::Int(2))
            .push(queue("c"), Value::Int(30));
        let merged = Snapshot::merge([a, b]);
        assert_eq!(
            merged.series_of("support_tickets_created"),
            vec![
                (queue("a"), Value::Int(1)),
                (queue("b"), Value::Int(2)),
                (queue("c"), Value::Int(33)),
                (queue("d"), Value::Int(4)),
            ]
        );
    }
}
