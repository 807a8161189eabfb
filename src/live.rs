//! The live page at `/` and its JSON endpoint `/api/summary`
//! (docs/operations.md, "The live page").
//!
//! The summary is computed from the same merged snapshot `/metrics`
//! encodes: window ratios, NPS and CES are the `support_window_*` values,
//! window quantiles come from the same HDR data by the same function, and
//! the "right now" figures are the gauges' series. Trends are a bounded
//! in-process ring ([`Trends`]), one point a minute for 24 h per window,
//! sampled from the unfiltered summary.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Map, Value as Json};

use crate::config::WindowConfig;
use crate::locks::lock;
use crate::metrics::windows::{render, DurData, DurMetric};
use crate::metrics::{Family, Snapshot, Value};
use crate::names;

/// Version of the `/api/summary` document; bumped when a field changes
/// meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// The page: HTML with its CSS and JS inlined, compiled into the binary.
pub const PAGE: &str = include_str!("live/page.html");

/// Trend points kept per window: one a minute for 24 hours.
pub const TREND_POINTS: usize = 24 * 60;

/// How often the trend ring takes a point, ms.
pub const TREND_STEP_MS: i64 = 60_000;

/// Points a summary returns per KPI trend, at most (older ones are thinned).
pub const TREND_SHOWN: usize = 120;

/// Whether a lower or a higher value is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Times, abandonment, effort.
    Lower,
    /// Rates and scores.
    Higher,
}

/// Where a headline KPI's value comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// A window quantile of a duration metric.
    Quantile(DurMetric, f64),
    /// `support_window_ratio{kpi}`.
    Ratio(&'static str),
    /// `support_window_nps`.
    Nps,
    /// `support_window_ces`.
    Ces,
}

/// A headline KPI.
struct Kpi {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    better: Better,
    source: Source,
    /// `support_kpi_target{kpi}` keys tried in order.
    targets: &'static [&'static str],
}

const KPIS: [Kpi; 13] = [
    Kpi {
        key: "first_response_p50",
        label: "First response p50",
        unit: "seconds",
        better: Better::Lower,
        source: Source::Quantile(DurMetric::FirstResponse, 0.5),
        targets: &["first_response_p50"],
    },
    Kpi {
        key: "first_response_p90",
        label: "First response p90",
        unit: "seconds",
        better: Better::Lower,
        source: Source::Quantile(DurMetric::FirstResponse, 0.9),
        targets: &["first_response_p90"],
    },
    Kpi {
        key: "resolution_p50",
        label: "Resolution p50",
        unit: "seconds",
        better: Better::Lower,
        source: Source::Quantile(DurMetric::Resolution, 0.5),
        targets: &["resolution_p50"],
    },
    Kpi {
        key: "resolution_p90",
        label: "Resolution p90",
        unit: "seconds",
        better: Better::Lower,
        source: Source::Quantile(DurMetric::Resolution, 0.9),
        targets: &["resolution_p90"],
    },
    Kpi {
        key: "first_contact_resolution",
        label: "First contact resolution",
        unit: "ratio",
        better: Better::Higher,
        source: Source::Ratio("first_contact_resolution"),
        targets: &["first_contact_resolution"],
    },
    Kpi {
        key: "service_level",
        label: "Service level",
        unit: "ratio",
        better: Better::Higher,
        source: Source::Ratio("service_level"),
        targets: &["service_level"],
    },
    Kpi {
        key: "abandonment",
        label: "Abandonment",
        unit: "ratio",
        better: Better::Lower,
        source: Source::Ratio("abandonment"),
        targets: &["abandonment"],
    },
    Kpi {
        key: "csat",
        label: "CSAT",
        unit: "ratio",
        better: Better::Higher,
        source: Source::Ratio("csat"),
        targets: &["csat"],
    },
    Kpi {
        key: "nps",
        label: "NPS",
        unit: "score",
        better: Better::Higher,
        source: Source::Nps,
        targets: &["nps"],
    },
    Kpi {
        key: "ces",
        label: "CES",
        unit: "score",
        better: Better::Lower,
        source: Source::Ces,
        targets: &["ces"],
    },
    Kpi {
        key: "sla_first_response",
        label: "SLA first response",
        unit: "ratio",
        better: Better::Higher,
        source: Source::Ratio("sla_first_response"),
        targets: &["sla_first_response", "sla_attainment"],
    },
    Kpi {
        key: "sla_resolution",
        label: "SLA resolution",
        unit: "ratio",
        better: Better::Higher,
        source: Source::Ratio("sla_resolution"),
        targets: &["sla_resolution", "sla_attainment"],
    },
    Kpi {
        key: "escalation",
        label: "Escalation",
        unit: "ratio",
        better: Better::Lower,
        source: Source::Ratio("escalation"),
        targets: &["escalation"],
    },
];

/// What `/api/summary` was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// `window`: a configured window (default: the first).
    pub window: Option<String>,
    /// `queue`: keep series of this queue.
    pub queue: Option<String>,
    /// `channel`: keep series of this channel.
    pub channel: Option<String>,
}

impl Query {
    /// Parses a query string (`window=1h&queue=billing`); unknown keys are ignored.
    pub fn parse(q: Option<&str>) -> Query {
        let mut out = Query::default();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let v = (!v.is_empty()).then_some(v);
            match k {
                "window" => out.window = v,
                "queue" => out.queue = v,
                "channel" => out.channel = v,
                _ => {}
            }
        }
        out
    }

    fn filters(&self) -> Vec<(&'static str, &str)> {
        let mut f = Vec::new();
        if let Some(q) = &self.queue {
            f.push(("queue", q.as_str()));
        }
        if let Some(c) = &self.channel {
            f.push(("channel", c.as_str()));
        }
        f
    }
}

/// A query component with its `%XX` escapes and `+` decoded.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(x)) => {
                out.push(x);
                i += 2;
            }
            (x, _) => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The headline values of one window, unfiltered, for the trend ring.
type Headline = [Option<f64>; KPIS.len()];

/// The trend ring: per window, (wall ms, headline values), oldest first,
/// at most [`TREND_POINTS`] each.
#[derive(Debug, Default)]
pub struct Trends {
    ring: Mutex<BTreeMap<String, VecDeque<(i64, Headline)>>>,
}

impl Trends {
    /// Takes a point of every window of `snap` at `wall_ms`.
    pub fn sample(&self, snap: &Snapshot, wall_ms: i64) {
        let Some(set) = &snap.windows else {
            return;
        };
        let rendered = render(set);
        let mut ring = lock(&self.ring);
        for w in &set.windows {
            let mut h: Headline = [None; KPIS.len()];
            for (i, k) in KPIS.iter().enumerate() {
                h[i] = value(snap, &rendered, &w.name, k.source, &[]);
            }
            let r = ring.entry(w.name.clone()).or_default();
            if r.len() >= TREND_POINTS {
                r.pop_front();
            }
            r.push_back((wall_ms, h));
        }
    }

    /// The points of `window` for KPI `i`, thinned to [`TREND_SHOWN`]
    /// (the last point of each run kept), as `[ms, value]` pairs.
    fn series(&self, window: &str, i: usize) -> Vec<Json> {
        let ring = lock(&self.ring);
        let Some(r) = ring.get(window) else {
            return Vec::new();
        };
        let every = r.len().div_ceil(TREND_SHOWN).max(1);
        let skip = r.len() % every;
        r.iter()
            .enumerate()
            .filter(|(n, _)| n + 1 == r.len() || (n + every - skip) % every == every - 1)
            .filter_map(|(_, (ms, h))| h[i].map(|v| json!([ms, v])))
            .collect()
    }

    /// Points held for `window`.
    pub fn points(&self, window: &str) -> usize {
        lock(&self.ring).get(window).map_or(0, |x| x.len())
    }
}

/// Whether a series' labels pass the filters: each filtered label, when
/// the series has it, must equal the wanted value.
fn passes(labels: &crate::metrics::Labels, filters: &[(&'static str, &str)]) -> bool {
    filters.iter().all(|(k, want)| {
        labels
            .iter()
            .find(|(l, _)| l == k)
            .is_none_or(|(_, v)| v == want)
    })
}

fn label<'a>(labels: &'a crate::metrics::Labels, k: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(l, _)| *l == k)
        .map(|(_, v)| v.as_ref())
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Millis(ms) => *ms as f64 / 1000.0,
        Value::Hist(h) => h.count as f64,
    }
}

fn find<'a>(snap: &'a Snapshot, rendered: &'a [Family], name: &str) -> Option<&'a Family> {
    snap.get(name)
        .or_else(|| rendered.iter().find(|f| f.name == name))
}

/// The sample of `name` whose labels include all of `want`.
fn sample(snap: &Snapshot, rendered: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    find(snap, rendered, name)?
        .series
        .iter()
        .find(|s| want.iter().all(|(k, v)| label(&s.labels, k) == Some(v)))
        .map(|s| number(&s.value))
}

/// A headline value of `window`. Quantiles honour the filters (window
/// durations carry `channel`/`queue` where `[windows] labels` splits them);
/// the other window values are per instance and ignore them.
fn value(
    snap: &Snapshot,
    rendered: &[Family],
    window: &str,
    source: Source,
    filters: &[(&'static str, &str)],
) -> Option<f64> {
    match source {
        Source::Quantile(m, q) => {
            let set = snap.windows.as_ref()?;
            let w = set.windows.iter().find(|w| w.name == window)?;
            let mut merged: Option<DurData> = None;
            for (k, d) in &w.durs {
                if k.metric != m.as_str() || d.count() == 0 {
                    continue;
                }
                let ok = filters.iter().all(|(l, want)| match *l {
                    "queue" => k.queue.as_deref().is_none_or(|x| x == *want),
                    "channel" => k.channel.is_none_or(|x| x == *want),
                    _ => true,
                });
                if !ok {
                    continue;
                }
                match &mut merged {
                    None => merged = Some(d.clone()),
                    Some(x) => x.add(d),
                }
            }
            merged
                .filter(|d| d.count() > 0)
                .map(|d| d.quantile(q) as f64)
        }
        Source::Ratio(kpi) => sample(
            snap,
            rendered,
            names::WINDOW_RATIO.name,
            &[("kpi", kpi), ("window", window)],
        ),
        Source::Nps => sample(
            snap,
            rendered,
            names::WINDOW_NPS.name,
            &[("window", window)],
        ),
        Source::Ces => sample(
            snap,
            rendered,
            names::WINDOW_CES.name,
            &[("window", window)],
        ),
    }
}

/// Whether window quantiles are split by `l` (some duration key carries it).
fn durs_split_by(snap: &Snapshot, l: &str) -> bool {
    snap.windows.as_ref().is_some_and(|s| {
        s.windows.iter().any(|w| {
            w.durs.keys().any(|k| match l {
                "queue" => k.queue.is_some(),
                "channel" => k.channel.is_some(),
                _ => false,
            })
        })
    })
}

/// Sums a gauge's series passing the filters, grouped by the label `by`
/// (or all together when `by` is empty); `max` takes the largest instead.
fn gauge(
    snap: &Snapshot,
    name: &str,
    by: &str,
    filters: &[(&'static str, &str)],
    max: bool,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(f) = snap.get(name) {
        for s in f.series.iter().filter(|s| passes(&s.labels, filters)) {
            let k = if by.is_empty() {
                String::new()
            } else {
                label(&s.labels, by).unwrap_or("").to_string()
            };
            let v = number(&s.value);
            let e: &mut f64 = out.entry(k).or_insert(0.0);
            *e = if max { e.max(v) } else { *e + v };
        }
    }
    out
}

/// The sum of `m`'s values; 0 when it has none (an empty `f64` sum is -0.0).
fn total(m: &BTreeMap<String, f64>) -> f64 {
    m.values().fold(0.0, |a, b| a + b)
}

fn whole(m: BTreeMap<String, f64>) -> Json {
    Json::Object(
        m.into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// The `/api/summary` document (docs/operations.md, "The live page") of
/// `snap`, for an instance with `windows` configured. `Err` names a window
/// that is not configured.
pub fn summary(
    snap: &Snapshot,
    trends: &Trends,
    q: &Query,
    windows: &WindowConfig,
    wall_ms: i64,
) -> Result<Json, String> {
    let (window, window_names) = chosen_window(windows, q)?;
    let filters = q.filters();
    let rendered = snap.rendered_windows();
    let kpis = kpis(snap, &rendered, trends, &window, &filters);
    let now = now(snap, &filters);
    let due = closest_to_breach(snap, q);
    let (queues, channels) = label_values(snap);
    Ok(json!({
        "schema_version": SCHEMA_VERSION,
        "generated_ms": wall_ms,
        "event_clock_ms": snap.progress.map(|p| p.clock_ms),
        "watermark_ms": snap.watermark_ms(),
        "window": window,
        "windows": window_names,
        "filter": { "queue": q.queue, "channel": q.channel },
        "queues": queues,
        "channels": channels,
        "trend_step_seconds": TREND_STEP_MS / 1000,
        "kpis": kpis,
        "now": now,
        "closest_to_breach": due,
    }))
}

/// The window asked for (or the first configured), and every configured
/// window's name, as the engine names it (`5m`, `1h`); an unknown window is
/// an error. From the config, not the snapshot: with no partition assigned
/// the snapshot has no windows, and the configured ones are still the choice.
fn chosen_window(windows: &WindowConfig, q: &Query) -> Result<(String, Vec<String>), String> {
    let window_names: Vec<String> = windows.sizes.iter().map(|d| d.to_string()).collect();
    let window = match &q.window {
        Some(w) if !window_names.contains(w) => {
            return Err(format!(
                "unknown window {w:?}: the configured windows are {}",
                window_names.join(", ")
            ))
        }
        Some(w) => w.clone(),
        None => window_names.first().cloned().unwrap_or_default(),
    };
    Ok((window, window_names))
}

/// Each KPI of [`KPIS`] over `window`: value, target, whether it meets it,
/// whether the filters applied, and its trend.
fn kpis(
    snap: &Snapshot,
    rendered: &[Family],
    trends: &Trends,
    window: &str,
    filters: &[(&'static str, &str)],
) -> Vec<Json> {
    let mut kpis = Vec::new();
    for (i, k) in KPIS.iter().enumerate() {
        let v = value(snap, rendered, window, k.source, filters);
        let (target_key, target) = k
            .targets
            .iter()
            .find_map(|t| {
                sample(snap, rendered, names::KPI_TARGET.name, &[("kpi", t)]).map(|v| (*t, v))
            })
            .map_or((None, None), |(k, v)| (Some(k), Some(v)));
        let meets = match (v, target) {
            (Some(v), Some(t)) => Some(match k.better {
                Better::Lower => v <= t,
                Better::Higher => v >= t,
            }),
            _ => None,
        };
        let filtered = match k.source {
            Source::Quantile(..) => filters.iter().all(|(l, _)| durs_split_by(snap, l)),
            _ => filters.is_empty(),
        };
        kpis.push(json!({
            "kpi": k.key,
            "label": k.label,
            "unit": k.unit,
            "better": match k.better { Better::Lower => "lower", Better::Higher => "higher" },
            "value": v,
            "target": target,
            "target_kpi": target_key,
            "meets_target": meets,
            "filtered": filtered,
            "trend": trends.series(window, i),
        }));
    }
    kpis
}

/// The gauges of the moment: queue, agents, open tickets, SLA clocks.
fn now(snap: &Snapshot, filters: &[(&'static str, &str)]) -> Json {
    let oldest = gauge(snap, names::OLDEST_CALL_WAIT.name, "", filters, true);
    let queued = gauge(snap, names::CALLS_IN_QUEUE.name, "", filters, false);
    let agents = gauge(snap, names::AGENTS.name, "status", filters, false);
    let by_status = gauge(snap, names::TICKETS_OPEN.name, "status", filters, false);
    let by_priority = gauge(snap, names::TICKETS_OPEN.name, "priority", filters, false);
    let at_risk = gauge(snap, names::SLA_AT_RISK.name, "sla", filters, false);
    let breaches = gauge(snap, names::SLA_ACTIVE_BREACHES.name, "sla", filters, false);
    json!({
        "calls_in_queue": total(&queued),
        "oldest_call_wait_seconds": oldest.values().copied().fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b)))),
        "agents_by_status": whole(agents),
        "tickets_open": total(&by_status),
        "tickets_open_by_status": whole(by_status),
        "tickets_open_by_priority": whole(by_priority),
        "sla_at_risk": total(&at_risk),
        "sla_at_risk_by_clock": whole(at_risk),
        "sla_active_breaches": total(&breaches),
        "sla_active_breaches_by_clock": whole(breaches),
    })
}

/// The running SLA clocks closest to breach that pass the filters.
fn closest_to_breach(snap: &Snapshot, q: &Query) -> Vec<Json> {
    snap.due
        .iter()
        .filter(|d| {
            q.queue.as_deref().is_none_or(|x| x == d.queue)
                && q.channel.as_deref().is_none_or(|x| x == d.channel)
        })
        .map(|d| {
            let left = snap
                .progress
                .map(|p| (d.due_ms - p.clock_ms) as f64 / 1000.0);
            json!({
                "entity": d.entity,
                "id": d.id,
                "clock": d.clock,
                "policy": d.policy,
                "priority": d.priority,
                "queue": d.queue,
                "channel": d.channel,
                "due_ms": d.due_ms,
                "time_left_seconds": left,
                "at_risk": d.at_risk,
            })
        })
        .collect()
}

/// The `queue` and `channel` values of the support families, for the
/// page's filter lists.
fn label_values(snap: &Snapshot) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut queues = BTreeSet::new();
    let mut channels = BTreeSet::new();
    for f in snap
        .families
        .iter()
        .filter(|f| f.name.starts_with("support_"))
    {
        for s in &f.series {
            if let Some(v) = label(&s.labels, "queue") {
                queues.insert(v.to_string());
            }
            if let Some(v) = label(&s.labels, "channel") {
                channels.insert(v.to_string());
            }
        }
    }
    (queues, channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_parse_and_decode() {
        let q = Query::parse(Some("window=1h&queue=tier%202&channel=&x=1"));
        assert_eq!(q.window.as_deref(), Some("1h"));
        assert_eq!(q.queue.as_deref(), Some("tier 2"));
        assert_eq!(q.channel, None);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a+b%41"), "a bA");
    }

    #[test]
    fn the_trend_ring_is_bounded_and_thinned() {
        let t = Trends::default();
        let mut r = VecDeque::new();
        for i in 0..(TREND_POINTS + 10) as i64 {
            let mut h: Headline = [None; KPIS.len()];
            h[0] = Some(i as f64);
            if r.len() >= TREND_POINTS {
                r.pop_front();
            }
            r.push_back((i, h));
        }
        t.ring.lock().unwrap().insert("5m".into(), r);
        assert_eq!(t.points("5m"), TREND_POINTS);
        let s = t.series("5m", 0);
        assert!(s.len() <= TREND_SHOWN, "{}", s.len());
        // The newest point is always shown.
        assert_eq!(s.last().unwrap()[1], json!((TREND_POINTS + 9) as f64));
        assert!(t.series("5m", 1).is_empty());
    }

    fn doc(snap: &Snapshot, query: &str) -> Result<Json, String> {
        let q = Query::parse(Some(query));
        summary(snap, &Trends::default(), &q, &WindowConfig::default(), 0)
    }

    #[test]
    fn windows_are_the_configured_ones_before_any_data() {
        // No partition assigned: a snapshot with no windows at all.
        let empty = Snapshot::default();
        let v = doc(&empty, "").unwrap();
        assert_eq!(v["window"], "5m");
        assert_eq!(v["windows"], json!(["5m", "1h", "24h"]));
        assert_eq!(doc(&empty, "window=24h").unwrap()["window"], "24h");
        assert_eq!(
            doc(&empty, "window=zzz").unwrap_err(),
            "unknown window \"zzz\": the configured windows are 5m, 1h, 24h"
        );
    }

    #[test]
    fn counts_of_nothing_are_zero_not_negative_zero() {
        let mut s = Snapshot::default();
        s.family(names::TICKETS_OPEN).push(
            vec![("status", "new".into()), ("queue", "billing".into())],
            Value::Int(2),
        );
        s.family(names::SLA_AT_RISK).push(
            vec![("sla", "resolution".into()), ("queue", "billing".into())],
            Value::Int(1),
        );
        for (snap, query) in [(&Snapshot::default(), ""), (&s, "queue=nosuch")] {
            let now = &doc(snap, query).unwrap()["now"];
            for k in [
                "calls_in_queue",
                "tickets_open",
                "sla_at_risk",
                "sla_active_breaches",
            ] {
                // `-0.0 == 0.0`: the text written shows the sign.
                assert_eq!(now[k].to_string(), "0.0", "{k} of {query:?}");
            }
        }
        // The filter keeps the billing series.
        let now = &doc(&s, "queue=billing").unwrap()["now"];
        assert_eq!(now["tickets_open"], json!(2.0));
        assert_eq!(now["sla_at_risk"], json!(1.0));
    }
}
