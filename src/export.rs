//! The metric model → exposition text: the one place that writes it.
//!
//! Both formats are written directly from a [`Snapshot`] in one pass each,
//! by one writer: the Prometheus text format 0.0.4 (what Prometheus asks
//! for by default) and OpenMetrics 1.0 (when a scraper asks for it), whose
//! histogram buckets carry exemplars naming the ticket or call behind their
//! latest observation. The two differ only where the formats do: a
//! counter's family is named with `_total` in 0.0.4 (its samples are
//! `_total` in both), exemplars and `# EOF` exist in OpenMetrics only.
//!
//! Why not `prometheus-client`'s encoder: it writes OpenMetrics only (no
//! 0.0.4), and the exemplars it encodes come from its own live metric types
//! (`Exemplar` has no public constructor, so a prepared exemplar with its
//! event-time timestamp cannot be handed to it). Going through it meant
//! splicing exemplars into its text and rewriting that text as 0.0.4. The
//! number formats are the same as its (round-trip floats from `dtoa`, with a
//! `.0`, integers as written) and so is label escaping (`\\`, `\"`, `\n`).
//! `tests/encoder_reference.rs` holds it to that: the OpenMetrics written
//! here equals `prometheus-client`'s for the same snapshot, exemplars aside.
//!
//! ```
//! use frontline::export::{openmetrics, prometheus_text};
//! use frontline::metrics::{Kind, Snapshot, Value};
//! use frontline::names;
//!
//! let mut s = Snapshot::default();
//! s.family(names::TICKETS_CREATED)
//!     .push(vec![("queue", "a \"b\"".into())], Value::Int(3));
//! s.family(names::TICKETS_OPEN).push(vec![], Value::Int(2));
//! assert_eq!(
//!     prometheus_text(&s),
//!     concat!(
//!         "# HELP support_tickets_created_total Tickets created (ticket.created).\n",
//!         "# TYPE support_tickets_created_total counter\n",
//!         "support_tickets_created_total{queue=\"a \\\"b\\\"\"} 3\n",
//!         "# HELP support_tickets_open Open tickets (created or reopened, not resolved or closed) by status.\n",
//!         "# TYPE support_tickets_open gauge\n",
//!         "support_tickets_open 2\n",
//!     )
//! );
//! assert_eq!(
//!     openmetrics(&s),
//!     concat!(
//!         "# HELP support_tickets_created Tickets created (ticket.created).\n",
//!         "# TYPE support_tickets_created counter\n",
//!         "support_tickets_created_total{queue=\"a \\\"b\\\"\"} 3\n",
//!         "# HELP support_tickets_open Open tickets (created or reopened, not resolved or closed) by status.\n",
//!         "# TYPE support_tickets_open gauge\n",
//!         "support_tickets_open 2\n",
//!         "# EOF\n",
//!     )
//! );
//! ```

use std::borrow::Borrow;
use std::sync::Arc;

use crate::metrics::{ExemplarValue, Family, HistValue, Kind, Labels, Series, Snapshot, Value};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text, with exemplars.
    OpenMetrics,
}

/// Prometheus text format (0.0.4) of a snapshot.
pub fn prometheus_text(snapshot: impl Borrow<Snapshot>) -> String {
    encode(snapshot.borrow(), Format::Prometheus)
}

/// OpenMetrics' bound on an exemplar's label names and values, together.
const EXEMPLAR_MAX_CHARS: usize = 128;

/// OpenMetrics text of a snapshot, histogram buckets carrying exemplars
/// that name the ticket or call behind their latest observation.
pub fn openmetrics(snapshot: impl Borrow<Snapshot>) -> String {
    encode(snapshot.borrow(), Format::OpenMetrics)
}

/// An exposition gzipped at the fastest level, for a scraper that takes
/// gzip: about a sixteenth of the bytes, for about half again what merging
/// and encoding it took (docs/performance.md, "Scrape").
pub fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    gz.write_all(text.as_bytes()).expect("gzip into memory");
    gz.finish().expect("gzip into memory")
}

/// A snapshot in `format`, window families rendered in their place.
pub fn encode(snapshot: &Snapshot, format: Format) -> String {
    let windows = snapshot.rendered_windows();
    // About 100 bytes a line: sized once rather than grown by copies.
    let lines: usize = snapshot
        .families
        .iter()
        .map(|f| {
            f.series
                .iter()
                .map(|s| match &s.value {
                    Value::Hist(h) => h.buckets.len() + 2,
                    _ => 1,
                })
                .sum::<usize>()
                + 2
        })
        .sum();
    let mut w = Writer {
        out: String::with_capacity(100 * lines + 16 * 1024),
        format,
        ts: None,
        le: Default::default(),
    };
    for family in snapshot.in_order(&windows) {
        w.family(family);
    }
    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

/// The `# HELP` and `# TYPE` lines of a family in OpenMetrics, for a
/// backfill file whose samples are written separately with
/// [`OpenMetricsSamples`].
pub fn openmetrics_header(out: &mut String, f: &Family) {
    let mut w = Writer {
        out: std::mem::take(out),
        format: Format::OpenMetrics,
        ts: None,
        le: Default::default(),
    };
    w.header(f);
    *out = w.out;
}

/// A backfill's sample lines in OpenMetrics, one series at a time, each
/// stamped with its step's time (written in seconds), without exemplars
/// (`frontline replay --openmetrics-out`, docs/operations.md). A
/// histogram's `le` values are formatted once for every series that shares
/// its bounds.
pub struct OpenMetricsSamples(Writer);

impl Default for OpenMetricsSamples {
    fn default() -> Self {
        OpenMetricsSamples(Writer {
            out: String::new(),
            format: Format::OpenMetrics,
            ts: None,
            le: Default::default(),
        })
    }
}

impl OpenMetricsSamples {
    /// Appends the lines of `s`, a series of `f`, at `ts_ms` to `out`.
    pub fn series(&mut self, out: &mut String, f: &Family, s: &Series, ts_ms: i64) {
        let w = &mut self.0;
        w.ts = Some(ts_ms);
        std::mem::swap(&mut w.out, out);
        w.series(f, s);
        std::mem::swap(&mut w.out, out);
    }
}

struct Writer {
    out: String,
    format: Format,
    /// A timestamp for every sample (a backfill); `None` in an exposition.
    ts: Option<i64>,
    /// The `le` values of the last histogram's bounds, as written: most
    /// histograms of a family share their bounds, formatted once.
    le: (Option<Arc<[f64]>>, Vec<String>),
}

impl Writer {
    fn family(&mut self, f: &Family) {
        self.header(f);
        self.samples(f);
    }

    fn header(&mut self, f: &Family) {
        let (type_name, suffix) = match f.kind {
            Kind::Counter => ("counter", "_total"),
            Kind::Gauge => ("gauge", ""),
            Kind::Histogram => ("histogram", ""),
        };
        // 0.0.4 names a counter's family by its sample name.
        let family_suffix = if self.format == Format::Prometheus {
            suffix
        } else {
            ""
        };
        for (comment, text) in [("# HELP ", f.help.as_ref()), ("# TYPE ", type_name)] {
            self.out.push_str(comment);
            self.out.push_str(f.name);
            self.out.push_str(family_suffix);
            self.out.push(' ');
            self.out.push_str(text);
            self.out.push('\n');
        }
    }

    fn samples(&mut self, f: &Family) {
        for s in &f.series {
            self.series(f, s);
        }
    }

    fn series(&mut self, f: &Family, s: &Series) {
        let suffix = match f.kind {
            Kind::Counter => "_total",
            Kind::Gauge | Kind::Histogram => "",
        };
        match &s.value {
            Value::Hist(h) => self.histogram(f.name, &s.labels, h),
            Value::Int(v) => self.sample(f.name, suffix, &s.labels, Number::Int(*v)),
            Value::Float(v) => self.sample(f.name, suffix, &s.labels, Number::Float(*v)),
            Value::Millis(ms) => self.sample(
                f.name,
                suffix,
                &s.labels,
                Number::Float(*ms as f64 / 1000.0),
            ),
        }
    }

    fn sample(&mut self, name: &str, suffix: &str, labels: &Labels, v: Number) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        self.labels(labels);
        self.out.push(' ');
        self.number(v);
        self.timestamp();
        self.out.push('\n');
    }

    /// ` 1794816000.5`: the sample's timestamp, seconds, when there is one.
    fn timestamp(&mut self) {
        if let Some(ms) = self.ts {
            self.out.push(' ');
            self.number(Number::Float(ms as f64 / 1000.0));
        }
    }

    fn histogram(&mut self, name: &str, labels: &Labels, h: &HistValue) {
        // The labels after `le`, written once for every line of the series:
        // `,k="v",…}`, or `}` alone.
        let mut tail = String::new();
        for (k, v) in labels {
            tail.push(',');
            tail.push_str(k);
            tail.push_str("=\"");
            push_escaped(&mut tail, v);
            tail.push('"');
        }
        tail.push('}');
        for (suffix, v) in [
            ("_sum", Number::Float(h.sum_ms / 1000.0)),
            ("_count", Number::Int(h.count)),
        ] {
            self.out.push_str(name);
            self.out.push_str(suffix);
            if !labels.is_empty() {
                self.out.push('{');
                self.out.push_str(&tail[1..]);
            }
            self.out.push(' ');
            self.number(v);
            self.timestamp();
            self.out.push('\n');
        }
        if self.le.0.as_deref() != Some(&*h.bounds) {
            let text = h
                .bounds
                .iter()
                .map(|b| dtoa::Buffer::new().format(*b).to_owned());
            self.le = (Some(h.bounds.clone()), text.collect());
        }
        let mut cumulative = 0;
        for (i, n) in h.buckets.iter().enumerate() {
            cumulative += n;
            let le = self.le.1.get(i).map_or("+Inf", String::as_str);
            self.out.push_str(name);
            self.out.push_str("_bucket{le=\"");
            self.out.push_str(le);
            self.out.push('"');
            self.out.push_str(&tail);
            self.out.push(' ');
            self.number(Number::Int(cumulative));
            self.timestamp();
            if self.format == Format::OpenMetrics && self.ts.is_none() {
                if let Some(Some(e)) = h.exemplars.get(i) {
                    // OpenMetrics caps an exemplar's label names and values
                    // at 128 characters together: a longer id (ids may have
                    // 128) would make a strict parser refuse the scrape.
                    if e.label.chars().count() + e.id.chars().count() <= EXEMPLAR_MAX_CHARS {
                        self.exemplar(e);
                    }
                }
            }
            self.out.push('\n');
        }
    }

    /// ` # {ticket_id="T1"} 120.0 1794820800.0`: the value and its event time, seconds.
    fn exemplar(&mut self, e: &ExemplarValue) {
        self.out.push_str(" # {");
        self.out.push_str(e.label);
        self.out.push_str("=\"");
        push_escaped(&mut self.out, &e.id);
        self.out.push_str("\"} ");
        self.number(Number::Float(e.value_ms as f64 / 1000.0));
        self.out.push(' ');
        self.number(Number::Float(e.ts_ms as f64 / 1000.0));
    }

    /// `{k="v",…}`; nothing for no labels.
    fn labels(&mut self, labels: &Labels) {
        if labels.is_empty() {
            return;
        }
        self.out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            push_escaped(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn number(&mut self, v: Number) {
        match v {
            Number::Int(n) => self.out.push_str(itoa::Buffer::new().format(n)),
            Number::Float(x) => self.out.push_str(dtoa::Buffer::new().format(x)),
        }
    }
}

/// A label value: `\\`, `"` and newline escaped, as both formats require.
fn push_escaped(out: &mut String, v: &str) {
    let mut last = 0;
    for (i, b) in v.bytes().enumerate() {
        let esc = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'\n' => "\\n",
            _ => continue,
        };
        out.push_str(&v[last..i]);
        out.push_str(esc);
        last = i + 1;
    }
    out.push_str(&v[last..]);
}

/// A sample value as written: integers without a fraction, floats with one.
#[derive(Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::decode::decode;
    use crate::engine::Engine;
    use crate::names;

    /// The sample lines of an exposition, exemplars cut off.
    fn samples(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(" # {").next().unwrap_or(l).to_string())
            .collect()
    }

    fn engine_snapshot() -> Snapshot {
        let mut e = Engine::new(&Config::default());
        for l in [
            r#"{"event_id":"1","type":"ticket.created","ts":0,"ticket_id":"T-1","customer_id":"c","queue":"a \"b\""}"#,
            r#"{"event_id":"2","type":"ticket.agent_replied","ts":25000,"ticket_id":"T-1","agent_id":"x"}"#,
            r#"{"event_id":"3","type":"call.queued","ts":1000,"call_id":"K-9","customer_id":"c","queue":"q"}"#,
            r#"{"event_id":"4","type":"call.answered","ts":4000,"call_id":"K-9","agent_id":"x"}"#,
        ] {
            e.apply(decode(l.as_bytes(), 65536).unwrap());
        }
        e.snapshot(None)
    }

    #[test]
    fn openmetrics_buckets_name_the_ticket_behind_them() {
        let om = openmetrics(engine_snapshot());
        assert!(
            om.contains(r#"support_first_response_seconds_bucket{le="30.0",channel="other",priority="normal",queue="a \"b\""} 1 # {ticket_id="T-1"} 25.0 25.0"#),
            "{}",
            om.lines().filter(|l| l.starts_with("support_first_response_seconds_bucket")).collect::<Vec<_>>().join("\n")
        );
        // Only the bucket the observation fell in carries it.
        assert!(om.contains("support_first_response_seconds_bucket{le=\"60.0\",channel=\"other\",priority=\"normal\",queue=\"a \\\"b\\\"\"} 1\n"));
        assert!(om.contains(
            r#"support_answer_wait_seconds_bucket{le="5.0",queue="q"} 1 # {call_id="K-9"} 3.0 4.0"#
        ));
        // The Prometheus text format has no exemplars.
        assert!(!prometheus_text(Arc::new(engine_snapshot())).contains(" # {"));
    }

    #[test]
    fn both_formats_carry_the_same_samples() {
        let snap = engine_snapshot();
        let (prom, om) = (prometheus_text(&snap), openmetrics(&snap));
        assert!(om.contains(" # {"), "the OpenMetrics text has exemplars");
        assert_eq!(samples(&prom), samples(&om));
        assert!(samples(&prom).len() > 100, "{prom}");
        // The same families, counters named by their samples in 0.0.4 only.
        let types = |t: &str| -> Vec<String> {
            t.lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .map(|l| l.replace("_total counter", " counter"))
                .collect()
        };
        assert_eq!(types(&prom), types(&om));
        assert!(prom.contains("# TYPE support_tickets_created_total counter\n"));
        assert!(om.contains("# TYPE support_tickets_created counter\n"));
        assert!(om.ends_with("# EOF\n") && !prom.contains("# EOF"));
    }

    #[test]
    fn histogram_lines_in_order_with_exemplars_in_openmetrics_only() {
        let mut s = Snapshot::default();
        s.family(names::HOLD).push(
            vec![("queue", "q".into())],
            Value::Hist(Arc::new(HistValue {
                bounds: vec![0.5, 10.0].into(),
                buckets: vec![1, 0, 2],
                sum_ms: 61_250.0,
                count: 3,
                exemplars: vec![
                    None,
                    None,
                    Some(ExemplarValue {
                        label: "call_id",
                        id: "K\\1".into(),
                        value_ms: 30_000,
                        ts_ms: 1_794_816_000_500,
                    }),
                ],
            })),
        );
        s.family(names::AGENT_STATUS_SECONDS)
            .push(vec![], Value::Millis(1500));
        let body = concat!(
            "support_hold_seconds_sum{queue=\"q\"} 61.25\n",
            "support_hold_seconds_count{queue=\"q\"} 3\n",
            "support_hold_seconds_bucket{le=\"0.5\",queue=\"q\"} 1\n",
            "support_hold_seconds_bucket{le=\"10.0\",queue=\"q\"} 1\n",
        );
        assert_eq!(
            prometheus_text(&s),
            format!(
                "# HELP support_hold_seconds {}\n# TYPE support_hold_seconds histogram\n{body}{}",
                names::HOLD.help,
                concat!(
                    "support_hold_seconds_bucket{le=\"+Inf\",queue=\"q\"} 3\n",
                    "# HELP support_agent_status_seconds_total Seconds agents spent in each status.\n",
                    "# TYPE support_agent_status_seconds_total counter\n",
                    "support_agent_status_seconds_total 1.5\n",
                )
            )
        );
        assert_eq!(
            openmetrics(&s),
            format!(
                "# HELP support_hold_seconds {}\n# TYPE support_hold_seconds histogram\n{body}{}",
                names::HOLD.help,
                concat!(
                    "support_hold_seconds_bucket{le=\"+Inf\",queue=\"q\"} 3 # {call_id=\"K\\\\1\"} 30.0 1794816000.5\n",
                    "# HELP support_agent_status_seconds Seconds agents spent in each status.\n",
                    "# TYPE support_agent_status_seconds counter\n",
                    "support_agent_status_seconds_total 1.5\n",
                    "# EOF\n",
                )
            )
        );
    }

    /// OpenMetrics allows 128 characters of exemplar labels: an id of 119
    /// characters fits after `ticket_id`, one of 120 is left out (the
    /// bucket is written without an exemplar).
    #[test]
    fn an_exemplar_over_openmetrics_bound_is_left_out() {
        let hist = |id: String| {
            let mut s = Snapshot::default();
            s.family(names::FIRST_RESPONSE).push(
                vec![],
                Value::Hist(Arc::new(HistValue {
                    bounds: vec![].into(),
                    buckets: vec![1],
                    sum_ms: 1_000.0,
                    count: 1,
                    exemplars: vec![Some(ExemplarValue {
                        label: "ticket_id",
                        id: id.into(),
                        value_ms: 1_000,
                        ts_ms: 1_794_816_000_000,
                    })],
                })),
            );
            openmetrics(&s)
        };
        let fits = hist("T".repeat(119));
        assert!(
            fits.contains(&format!("# {{ticket_id=\"{}\"}}", "T".repeat(119))),
            "{fits}"
        );
        let long = hist("T".repeat(120));
        assert!(!long.contains(" # {"), "{long}");
        assert!(
            long.contains("support_first_response_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{long}"
        );
    }

    #[test]
    fn backfill_lines_carry_the_step_time_and_no_exemplars() {
        let mut s = Snapshot::default();
        s.family(names::HOLD).push(
            vec![("queue", "q".into())],
            Value::Hist(Arc::new(HistValue {
                bounds: vec![10.0].into(),
                buckets: vec![1, 1],
                sum_ms: 30_500.0,
                count: 2,
                exemplars: vec![
                    None,
                    Some(ExemplarValue {
                        label: "call_id",
                        id: "K1".into(),
                        value_ms: 30_000,
                        ts_ms: 1_794_816_000_500,
                    }),
                ],
            })),
        );
        s.family(names::TICKETS_CREATED).push(vec![], Value::Int(7));
        let mut out = String::new();
        openmetrics_header(&mut out, &s.families[1]);
        let mut w = OpenMetricsSamples::default();
        for (f, ts) in [(1, 1_794_816_060_000), (0, 1_794_816_000_250)] {
            let f = &s.families[f];
            for series in &f.series {
                w.series(&mut out, f, series, ts);
            }
        }
        assert_eq!(
            out,
            concat!(
                "# HELP support_tickets_created Tickets created (ticket.created).\n",
                "# TYPE support_tickets_created counter\n",
                "support_tickets_created_total 7 1794816060.0\n",
                "support_hold_seconds_sum{queue=\"q\"} 30.5 1794816000.25\n",
                "support_hold_seconds_count{queue=\"q\"} 2 1794816000.25\n",
                "support_hold_seconds_bucket{le=\"10.0\",queue=\"q\"} 1 1794816000.25\n",
                "support_hold_seconds_bucket{le=\"+Inf\",queue=\"q\"} 2 1794816000.25\n",
            )
        );
    }
}
