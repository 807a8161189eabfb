//! Sliding-window data as the engine publishes it, merged across
//! partitions, and rendered into the `support_window_*` families (SPEC §5.2)
//! only when encoded: quantiles and ratios do not add up, their inputs do.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Family, LabelValue, Labels, MetricDef, Snapshot, Value};
use crate::config::{AbandonmentFormula, ServiceLevelFormula};
use crate::names;

/// Quantiles exported for window durations.
pub const QUANTILES: [(f64, &str); 4] =
    [(0.5, "0.5"), (0.9, "0.9"), (0.95, "0.95"), (0.99, "0.99")];

/// The duration metrics that have window quantiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DurMetric {
    /// First response time.
    FirstResponse = 0,
    /// Reply time.
    Reply = 1,
    /// Resolution time.
    Resolution = 2,
    /// Handle time (tickets and calls).
    Handle = 3,
    /// Call answer wait.
    AnswerWait = 4,
}

impl DurMetric {
    /// All, in label order.
    pub const ALL: [DurMetric; 5] = [
        DurMetric::FirstResponse,
        DurMetric::Reply,
        DurMetric::Resolution,
        DurMetric::Handle,
        DurMetric::AnswerWait,
    ];
    /// The `metric` label.
    pub fn as_str(self) -> &'static str {
        [
            "first_response",
            "reply",
            "resolution",
            "handle",
            "answer_wait",
        ][self as usize]
    }
}

macro_rules! window_counts {
    ($($name:ident),+ $(,)?) => {
        /// Which count of a window pane (an index into its counts).
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum WindowCount { $($name),+ }
        /// How many counts a pane has.
        pub const WINDOW_COUNTS: usize = [$(WindowCount::$name),+].len();
    };
}

window_counts!(
    TicketsCreated,
    Contacts,
    Escalations,
    FirstResolutions,
    Reopens,
    Fcr,
    ResolvedContacts,
    Repeats,
    Answered,
    AnsweredWithin,
    Abandoned,
    ShortAbandoned,
    AbandonedWithin,
    CsatResponses,
    CsatPositive,
    NpsPromoters,
    NpsPassives,
    NpsDetractors,
    CesCount,
    CesSum,
    SlaFirstResponseMet,
    SlaFirstResponseBreached,
    SlaResolutionMet,
    SlaResolutionBreached,
    AgentAvailableMs,
    AgentBusyMs,
    AgentAcwMs,
);

/// Which series of a window's duration metric.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurKey {
    /// `metric` label.
    pub metric: &'static str,
    /// `channel` label, when windows are split by channel.
    pub channel: Option<&'static str>,
    /// `queue` label, when windows are split by queue.
    pub queue: Option<super::LabelValue>,
}

/// A window's durations of one series.
#[derive(Clone, Debug)]
pub struct DurData {
    /// Whole seconds, in HDR buckets of 3 significant digits.
    pub hist: super::secs_hist::SecsHist,
    /// Exact sum, ms.
    pub sum_ms: i64,
}

impl DurData {
    /// Observations.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Nearest-rank quantile in whole seconds, as the lowest value of its HDR bucket.
    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.quantile(q)
    }

    /// Adds `other`'s observations (another partition's, same series).
    pub fn add(&mut self, other: &DurData) {
        self.hist.add(&other.hist);
        self.sum_ms += other.sum_ms;
    }
}

/// One window's data.
#[derive(Clone, Debug)]
pub struct WindowData {
    /// The `window` label.
    pub name: String,
    /// Counts, indexed by [`WindowCount`].
    pub counts: Vec<i64>,
    /// Durations by series.
    pub durs: BTreeMap<DurKey, DurData>,
}

impl WindowData {
    fn count(&self, c: WindowCount) -> i64 {
        self.counts.get(c as usize).copied().unwrap_or(0)
    }
}

/// The windows of a snapshot and the formulas of their service level and
/// abandonment.
#[derive(Clone, Debug)]
pub struct WindowSet {
    /// Service-level formula of the ratio.
    pub formula: ServiceLevelFormula,
    /// Abandonment formula of the ratio.
    pub abandonment: AbandonmentFormula,
    /// Windows in configured order.
    pub windows: Vec<WindowData>,
}

impl WindowSet {
    pub(super) fn merge(&mut self, other: &WindowSet) {
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

fn label(v: &'static str) -> LabelValue {
    Cow::Borrowed(v)
}

/// The series of the window families, gathered window by window.
#[derive(Default)]
struct WindowSeries {
    quantiles: Vec<(Labels, Value)>,
    means: Vec<(Labels, Value)>,
    ratios: Vec<(Labels, Value)>,
    nps: Vec<(Labels, Value)>,
    ces: Vec<(Labels, Value)>,
    events: Vec<(Labels, Value)>,
}

/// The families [`render`] writes, in its order: the windows' values,
/// then the formula they are computed with.
pub const FAMILIES: [MetricDef; 7] = [
    names::WINDOW_SECONDS,
    names::WINDOW_MEAN,
    names::WINDOW_RATIO,
    names::WINDOW_NPS,
    names::WINDOW_CES,
    names::WINDOW_EVENTS,
    names::KPI_FORMULA_INFO,
];

/// Window data → the `support_window_*` families (SPEC §5.2).
pub fn render(set: &WindowSet) -> Vec<Family> {
    let mut series = WindowSeries::default();
    for win in &set.windows {
        durations(win, &mut series);
        ratios(win, set.formula, set.abandonment, &mut series);
        surveys(win, &mut series);
    }
    let ratio_help = format!(
        "{} service_level: {} ({}). abandonment: {} ({}).",
        names::WINDOW_RATIO.help,
        set.formula.definition(),
        set.formula.as_str(),
        set.abandonment.definition(),
        set.abandonment.as_str()
    );
    let mut out = Snapshot::default();
    let lists = [
        series.quantiles,
        series.means,
        series.ratios,
        series.nps,
        series.ces,
        series.events,
    ];
    // The values' families; the formula's is the last.
    for (name, list) in FAMILIES.into_iter().zip(lists) {
        let mut f = out.family(name);
        for (l, v) in list {
            f.push(l, v);
        }
        if name == names::WINDOW_RATIO {
            if let Some(fam) = out.families.last_mut() {
                fam.help = Cow::Owned(ratio_help.clone());
            }
        }
    }
    let mut info = out.family(names::KPI_FORMULA_INFO);
    info.push(
        vec![
            ("kpi", label("service_level")),
            ("formula", label(set.formula.as_str())),
        ],
        Value::Int(1),
    );
    info.push(
        vec![
            ("kpi", label("abandonment")),
            ("formula", label(set.abandonment.as_str())),
        ],
        Value::Int(1),
    );
    out.prune();
    out.families
}

/// Durations: quantiles per key; mean and count per metric.
fn durations(win: &WindowData, out: &mut WindowSeries) {
    let window = || Cow::Owned(win.name.clone());
    let mut totals: FxHashMap<&'static str, (i64, u64)> = FxHashMap::default();
    for (key, d) in &win.durs {
        if d.count() == 0 {
            continue;
        }
        let t = totals.entry(key.metric).or_default();
        t.0 += d.sum_ms;
        t.1 += d.count();
        for (q, q_label) in QUANTILES {
            let mut l: Labels = vec![
                ("metric", label(key.metric)),
                ("window", window()),
                ("quantile", label(q_label)),
            ];
            if let Some(ch) = key.channel {
                l.push(("channel", label(ch)));
            }
            if let Some(queue) = &key.queue {
                l.push(("queue", queue.clone()));
            }
            out.quantiles.push((l, Value::Float(d.quantile(q) as f64)));
        }
    }
    for m in DurMetric::ALL {
        if let Some((sum, n)) = totals.get(m.as_str()).filter(|t| t.1 > 0) {
            let l = || vec![("metric", label(m.as_str())), ("window", window())];
            out.means
                .push((l(), Value::Float(*sum as f64 / 1000.0 / *n as f64)));
            out.events.push((l(), Value::Int(*n)));
        }
    }
}

/// The KPI ratios and their denominators.
fn ratios(
    win: &WindowData,
    formula: ServiceLevelFormula,
    abandonment: AbandonmentFormula,
    out: &mut WindowSeries,
) {
    use WindowCount as W;
    let window = || Cow::Owned(win.name.clone());
    let c = |k: WindowCount| win.count(k);
    let kept_abandons = c(W::Abandoned) - c(W::ShortAbandoned);
    let offered_sl = c(W::Answered) + kept_abandons;
    let left_queue = c(W::Answered) + c(W::Abandoned);
    let (sl_num, sl_den) = match formula {
        ServiceLevelFormula::Default => (c(W::AnsweredWithin), offered_sl),
        ServiceLevelFormula::AmazonConnect => {
            (c(W::AnsweredWithin) + c(W::AbandonedWithin), left_queue)
        }
        ServiceLevelFormula::Genesys => (c(W::AnsweredWithin), left_queue),
        ServiceLevelFormula::TwilioFlex => {
            (c(W::AnsweredWithin) + c(W::ShortAbandoned), left_queue)
        }
    };
    let sla_ratio = |met: W, breached: W| (c(met), c(met) + c(breached));
    let (fr_met, fr_all) = sla_ratio(W::SlaFirstResponseMet, W::SlaFirstResponseBreached);
    let (res_met, res_all) = sla_ratio(W::SlaResolutionMet, W::SlaResolutionBreached);
    let ratios: [(&'static str, i64, i64); 11] = [
        (
            "first_contact_resolution",
            c(W::Fcr),
            c(W::ResolvedContacts),
        ),
        ("escalation", c(W::Escalations), c(W::Contacts)),
        ("reopen", c(W::Reopens), c(W::FirstResolutions)),
        ("resolution", c(W::FirstResolutions), c(W::TicketsCreated)),
        ("repeat_contact", c(W::Repeats), c(W::Contacts)),
        if abandonment.keeps_short_abandons() {
            ("abandonment", c(W::Abandoned), left_queue)
        } else {
            ("abandonment", kept_abandons, offered_sl)
        },
        ("service_level", sl_num, sl_den),
        ("csat", c(W::CsatPositive), c(W::CsatResponses)),
        ("sla_first_response", fr_met, fr_all),
        ("sla_resolution", res_met, res_all),
        (
            "utilization",
            c(W::AgentBusyMs) + c(W::AgentAcwMs),
            c(W::AgentAvailableMs) + c(W::AgentBusyMs) + c(W::AgentAcwMs),
        ),
    ];
    for (kpi, num, den) in ratios {
        if den > 0 {
            let r = (num as f64 / den as f64).clamp(0.0, 1.0);
            out.ratios.push((
                vec![("kpi", label(kpi)), ("window", window())],
                Value::Float(r),
            ));
            let n = if kpi == "utilization" {
                Value::Float(den as f64 / 1000.0)
            } else {
                Value::Int(den as u64)
            };
            // `resolution` is also a duration metric; its ratio's count is named apart.
            let metric = if kpi == "resolution" {
                "resolution_rate"
            } else {
                kpi
            };
            out.events
                .push((vec![("metric", label(metric)), ("window", window())], n));
        }
    }
}

/// NPS and CES.
fn surveys(win: &WindowData, out: &mut WindowSeries) {
    use WindowCount as W;
    let window = || Cow::Owned(win.name.clone());
    let c = |k: WindowCount| win.count(k);
    let (p, pa, d) = (c(W::NpsPromoters), c(W::NpsPassives), c(W::NpsDetractors));
    let n = p + pa + d;
    if n > 0 {
        out.nps.push((
            vec![("window", window())],
            Value::Float(100.0 * (p - d) as f64 / n as f64),
        ));
        out.events.push((
            vec![("metric", label("nps")), ("window", window())],
            Value::Int(n as u64),
        ));
    }
    let n = c(W::CesCount);
    if n > 0 {
        out.ces.push((
            vec![("window", window())],
            Value::Float(c(W::CesSum) as f64 / n as f64),
        ));
        out.events.push((
            vec![("metric", label("ces")), ("window", window())],
            Value::Int(n as u64),
        ));
    }
}
