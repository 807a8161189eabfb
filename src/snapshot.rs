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
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// One sample's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer count.
    Int(u64),
    /// A float.
    Float(f64),
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Families in exposition order.
    pub families: Vec<Family>,
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
