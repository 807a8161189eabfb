//! An immutable picture of the metrics at one moment: what the engine
//! publishes and the exporter encodes. It holds finished numbers only, so
//! encoding never touches engine state.

use std::borrow::Cow;
use std::sync::Arc;

use crate::names::Name;

/// A label value: static for closed sets, owned for free strings.
pub type LabelValue = Cow<'static, str>;

/// A label set, in the order it is written.
pub type Labels = Vec<(&'static str, LabelValue)>;

/// Metric kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter (name without `_total`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram with cumulative buckets.
    Histogram,
}

/// A histogram's state.
#[derive(Clone, Debug, PartialEq)]
pub struct HistValue {
    /// Upper bounds, ascending, without `+Inf`.
    pub bounds: Arc<[f64]>,
    /// Observations per bucket (not cumulative); one more than `bounds` (`+Inf`).
    pub buckets: Vec<u64>,
    /// Sum of observations, milliseconds (exact; seconds when encoded).
    pub sum_ms: i64,
    /// Number of observations.
    pub count: u64,
    /// Per bucket, the latest observation (empty when none are kept).
    pub exemplars: Vec<Option<ExemplarValue>>,
}

/// The ticket or call behind a bucket's latest observation.
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarValue {
    /// `ticket_id` or `call_id`.
    pub label: &'static str,
    /// The id.
    pub id: String,
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
    /// A histogram.
    Hist(HistValue),
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
    /// Series, sorted by labels.
    pub series: Vec<Series>,
}

/// Every family at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Families in exposition order.
    pub families: Vec<Family>,
    /// Window data, rendered into `support_window_*` families at encode time.
    pub windows: Option<WindowSet>,
}

/// Which series of a window's duration metric.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurKey {
    /// `metric` label.
    pub metric: &'static str,
    /// `channel` label, when windows are split by channel.
    pub channel: Option<&'static str>,
    /// `queue` label, when windows are split by queue.
    pub queue: Option<String>,
}

/// A window's durations of one series.
#[derive(Clone, Debug)]
pub struct DurData {
    /// Whole seconds, HDR with 3 significant digits.
    pub hist: hdrhistogram::Histogram<u64>,
    /// Exact sum, ms.
    pub sum_ms: i64,
    /// Observations.
    pub count: u64,
}

impl DurData {
    /// Nearest-rank quantile in whole seconds, as the lowest value of its HDR bucket.
    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.lowest_equivalent(self.hist.value_at_quantile(q))
    }

    fn add(&mut self, other: &DurData) {
        // Both auto-resize, so adding cannot run out of range.
        let _ = self.hist.add(&other.hist);
        self.sum_ms += other.sum_ms;
        self.count += other.count;
    }
}

/// One window's data.
#[derive(Clone, Debug)]
pub struct WindowData {
    /// The `window` label.
    pub name: String,
    /// Counts, in the engine's order.
    pub counts: Vec<i64>,
    /// Durations by series.
    pub durs: std::collections::BTreeMap<DurKey, DurData>,
}

/// The windows of a snapshot and how to render them.
#[derive(Clone, Debug)]
pub struct WindowSet {
    /// Service-level formula of the ratio.
    pub formula: crate::config::ServiceLevelFormula,
    /// Windows in configured order.
    pub windows: Vec<WindowData>,
    /// Renders the windows into families.
    pub render: fn(&WindowSet) -> Vec<Family>,
}

impl WindowSet {
    fn merge(&mut self, other: &WindowSet) {
        for w in &other.windows {
            match self.windows.iter_mut().find(|x| x.name == w.name) {
                None => self.windows.push(w.clone()),
                Some(mine) => {
                    if mine.counts.len() < w.counts.len() {
                        mine.counts.resize(w.counts.len(), 0);
                    }
                    for (a, b) in mine.counts.iter_mut().zip(&w.counts) {
                        *a += b;
                    }
                    for (k, d) in &w.durs {
                        match mine.durs.get_mut(k) {
                            Some(m) => m.add(d),
                            None => {
                                mine.durs.insert(k.clone(), d.clone());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How a gauge family combines across partitions.
fn gauge_merge(name: &str) -> fn(f64, f64) -> f64 {
    match name {
        "support_oldest_call_wait_seconds"
        | "frontline_event_clock_seconds"
        | "frontline_watermark_lag_seconds" => f64::max,
        "frontline_watermark_seconds" => f64::min,
        "support_kpi_target" | "support_kpi_formula_info" | "frontline_build_info" => |a, _| a,
        _ => |a, b| a + b,
    }
}

fn merge_value(into: &mut Value, from: &Value, kind: Kind, name: &str) {
    match (into, from, kind) {
        (Value::Int(a), Value::Int(b), Kind::Gauge) => {
            *a = gauge_merge(name)(*a as f64, *b as f64) as u64;
        }
        (Value::Int(a), Value::Int(b), _) => *a += b,
        (Value::Float(a), Value::Float(b), Kind::Gauge) => *a = gauge_merge(name)(*a, *b),
        (Value::Float(a), Value::Float(b), _) => *a += b,
        (Value::Millis(a), Value::Millis(b), _) => *a += b,
        (Value::Hist(a), Value::Hist(b), _) if a.bounds == b.bounds => {
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

impl Snapshot {
    /// Starts a family; series are added with [`FamilyBuilder::push`].
    pub fn family(&mut self, name: Name, kind: Kind) -> FamilyBuilder<'_> {
        self.families.push(Family {
            name: name.0,
            help: Cow::Borrowed(name.1),
            kind,
            series: Vec::new(),
        });
        FamilyBuilder(self.families.last_mut().expect("just pushed"))
    }

    /// Looks a family up by name (tests and merging).
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Combines the snapshots of several partitions into the instance's view:
    /// counters and histograms add up, gauges add up (or take the maximum,
    /// minimum or first value where a sum means nothing), windows merge.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Snapshot>) -> Snapshot {
        Snapshot::merge_with(parts, |_| false)
    }

    /// [`Snapshot::merge`], where the series of families for which
    /// `disjoint` holds are known to differ between parts (each carries its
    /// partition's label): they are concatenated without being compared.
    pub fn merge_with<'a>(
        parts: impl IntoIterator<Item = &'a Snapshot>,
        disjoint: impl Fn(&Family) -> bool,
    ) -> Snapshot {
        let mut out = Snapshot::default();
        for part in parts {
            for fam in &part.families {
                let mine = match out.families.iter_mut().find(|f| f.name == fam.name) {
                    Some(f) => f,
                    None => {
                        out.families.push(Family {
                            series: Vec::new(),
                            ..fam.clone()
                        });
                        out.families.last_mut().expect("just pushed")
                    }
                };
                if disjoint(fam) {
                    mine.series.extend(fam.series.iter().cloned());
                    continue;
                }
                for s in &fam.series {
                    match mine.series.iter_mut().find(|x| x.labels == s.labels) {
                        Some(x) => merge_value(&mut x.value, &s.value, fam.kind, fam.name),
                        None => mine.series.push(s.clone()),
                    }
                }
            }
            match (&mut out.windows, &part.windows) {
                (Some(w), Some(p)) => w.merge(p),
                (None, Some(p)) => out.windows = Some(p.clone()),
                _ => {}
            }
        }
        out.prune();
        out
    }

    /// Every family, windows rendered.
    pub fn rendered(&self) -> Vec<Family> {
        let mut all = self.families.clone();
        if let Some(w) = &self.windows {
            let rendered = (w.render)(w);
            // Window families go before the processor's own health families.
            let at = all
                .iter()
                .position(|f| f.name.starts_with("frontline_"))
                .unwrap_or(all.len());
            all.splice(at..at, rendered);
        }
        all
    }

    /// Drops families with no series.
    pub fn prune(&mut self) {
        self.families.retain(|f| !f.series.is_empty());
        for f in &mut self.families {
            f.series.sort_by(|a, b| a.labels.cmp(&b.labels));
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
