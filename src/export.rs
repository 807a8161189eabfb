//! Snapshot → exposition text, through `prometheus-client`.
//!
//! A [`SnapshotCollector`] encodes prepared snapshots at scrape time and
//! never aggregates raw events. `prometheus-client` writes OpenMetrics; the
//! classic Prometheus text format (0.0.4) is derived from it by
//! [`openmetrics_to_prometheus`].

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabel;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{Kind, Labels, Snapshot, Value};

/// Encodes a set of snapshots (one per partition, merged first by the caller).
#[derive(Debug)]
pub struct SnapshotCollector(pub Arc<Snapshot>);

struct LabelSet<'a>(&'a Labels);

impl EncodeLabelSet for LabelSet<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        for (k, v) in self.0 {
            (*k, v.as_ref()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

type NoExemplar = Vec<(String, String)>;

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for fam in &self.0.rendered() {
            let ty = match fam.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut me = encoder.encode_descriptor(fam.name, &fam.help, None, ty)?;
            for series in &fam.series {
                let labels = LabelSet(&series.labels);
                if series.labels.is_empty() {
                    encode_value(&mut me, series, fam.kind)?;
                } else {
                    encode_value(&mut me.encode_family(&labels)?, series, fam.kind)?;
                }
            }
        }
        Ok(())
    }
}

fn encode_value(
    e: &mut prometheus_client::encoding::MetricEncoder<'_>,
    series: &crate::metrics::Series,
    kind: Kind,
) -> Result<(), std::fmt::Error> {
    match (&series.value, kind) {
        (Value::Int(v), Kind::Counter) => e.encode_counter::<NoExemplar, _, u64>(v, None)?,
        (Value::Float(v), Kind::Counter) => e.encode_counter::<NoExemplar, _, f64>(v, None)?,
        (Value::Millis(ms), Kind::Counter) => {
            e.encode_counter::<NoExemplar, _, f64>(&(*ms as f64 / 1000.0), None)?
        }
        (Value::Millis(ms), _) => e.encode_gauge(&(*ms as f64 / 1000.0))?,
        (Value::Int(v), _) => e.encode_gauge(v)?,
        (Value::Float(v), _) => e.encode_gauge(v)?,
        (Value::Hist(h), _) => {
            let buckets: Vec<(f64, u64)> = h
                .bounds
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.buckets.iter().copied())
                .collect();
            e.encode_histogram::<NoExemplar>(h.sum_ms as f64 / 1000.0, h.count, &buckets, None)?
        }
    }
    Ok(())
}

/// OpenMetrics text of a snapshot, histogram buckets carrying exemplars
/// that name the ticket or call behind their latest observation.
pub fn openmetrics(snapshot: Arc<Snapshot>) -> String {
    let exemplars = exemplar_suffixes(&snapshot);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    if exemplars.is_empty() {
        return text;
    }
    // prometheus-client builds exemplars only from its own live metric types,
    // so they are added to the encoded bucket lines of prepared snapshots here.
    let mut out = String::with_capacity(text.len() + exemplars.len() * 48);
    for line in text.lines() {
        out.push_str(line);
        if let Some((series, _)) = line.rsplit_once(' ') {
            if let Some(suffix) = exemplars.get(series) {
                out.push_str(suffix);
            }
        }
        out.push('\n');
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `series text before the value` → ` # {ticket_id="T1"} 120.0 1794820800.0`.
fn exemplar_suffixes(snap: &Snapshot) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for fam in snap.families.iter().filter(|f| f.kind == Kind::Histogram) {
        for s in &fam.series {
            let Value::Hist(h) = &s.value else { continue };
            for (i, e) in h.exemplars.iter().enumerate() {
                let Some(e) = e else { continue };
                let le = match h.bounds.get(i) {
                    Some(b) => dtoa::Buffer::new().format(*b).to_string(),
                    None => "+Inf".to_string(),
                };
                let mut series = format!("{}_bucket{{le=\"{le}\"", fam.name);
                for (k, v) in &s.labels {
                    series.push_str(&format!(",{k}=\"{}\"", escape(v)));
                }
                series.push('}');
                let suffix = format!(
                    " # {{{}=\"{}\"}} {} {}",
                    e.label,
                    escape(&e.id),
                    dtoa::Buffer::new().format(e.value_ms as f64 / 1000.0),
                    dtoa::Buffer::new().format(e.ts_ms as f64 / 1000.0)
                );
                out.insert(series, suffix);
            }
        }
    }
    out
}

/// Prometheus text format (0.0.4) of a snapshot.
pub fn prometheus_text(snapshot: Arc<Snapshot>) -> String {
    openmetrics_to_prometheus(&openmetrics(snapshot))
}

/// Rewrites OpenMetrics text as Prometheus text format 0.0.4: counter
/// families are named with their `_total` sample name, exemplars, `# UNIT`
/// and `# EOF` are dropped.
pub fn openmetrics_to_prometheus(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut counters = std::collections::HashSet::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        if let Some((prefix, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(prefix);
            out.push_str(name);
            if counters.contains(name) {
                out.push_str("_total");
            }
            out.push(' ');
            out.push_str(tail);
            out.push('\n');
            continue;
        }
        // A sample: drop an exemplar (` # {...} v`) after the value.
        let sample = match line.find(" # {") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_total_in_both_formats() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total{x=\"1\"} 3\n# HELP g G.\n# TYPE g gauge\ng 1.5\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 3\n# HELP g G.\n# TYPE g gauge\ng 1.5\n"
        );
    }

    #[test]
    fn exemplars_are_dropped() {
        let om = "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1 # {ticket_id=\"T1\"} 0.5\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1\n"
        );
    }
}

#[cfg(test)]
mod exemplar_tests {
    use super::*;
    use crate::config::Config;
    use crate::decode::decode;
    use crate::engine::Engine;

    #[test]
    fn openmetrics_buckets_name_the_ticket_behind_them() {
        let mut e = Engine::new(&Config::default());
        for l in [
            r#"{"event_id":"1","type":"ticket.created","ts":0,"ticket_id":"T-1","customer_id":"c","queue":"a \"b\""}"#,
            r#"{"event_id":"2","type":"ticket.agent_replied","ts":25000,"ticket_id":"T-1","agent_id":"x"}"#,
            r#"{"event_id":"3","type":"call.queued","ts":1000,"call_id":"K-9","customer_id":"c","queue":"q"}"#,
            r#"{"event_id":"4","type":"call.answered","ts":4000,"call_id":"K-9","agent_id":"x"}"#,
        ] {
            e.apply(decode(l.as_bytes(), 65536).unwrap());
        }
        let om = openmetrics(Arc::new(e.snapshot(None)));
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
        assert!(!prometheus_text(Arc::new(e.snapshot(None))).contains(" # {"));
    }
}
