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

use crate::snapshot::{Kind, Labels, Snapshot, Value};

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
    series: &crate::snapshot::Series,
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

/// OpenMetrics text of a snapshot.
pub fn openmetrics(snapshot: Arc<Snapshot>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
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
