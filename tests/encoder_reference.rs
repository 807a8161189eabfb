//! frontline's exposition writer (`src/export.rs`) against the Prometheus
//! project's own Rust encoder, `prometheus-client`, as a reference.
//!
//! frontline writes both text formats itself (the README says why:
//! `prometheus-client` writes OpenMetrics only, and cannot be handed a
//! prepared exemplar with an event-time timestamp). This test keeps the
//! writer honest: for the same snapshot, the OpenMetrics that
//! `prometheus-client` encodes through a `Collector` must equal frontline's
//! OpenMetrics byte for byte once frontline's exemplars are taken off the
//! bucket lines. Snapshots come from the golden scenarios (every KPI family,
//! SLA policies, per-agent series) and a simulated stretch, each through one
//! engine and merged over partitions as the live hub does.

use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::Engine;
use frontline::export::openmetrics;
use frontline::metrics::{Kind, Labels, Series, Snapshot, Value};
use frontline::simulate::{SimConfig, Simulator};

/// A snapshot as a `prometheus-client` collector.
#[derive(Debug)]
struct Reference(Snapshot);

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

impl Collector for Reference {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let windows = self.0.rendered_windows();
        for fam in self.0.in_order(&windows) {
            if fam.series.is_empty() {
                continue;
            }
            let ty = match fam.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut me = encoder.encode_descriptor(fam.name, &fam.help, None, ty)?;
            for series in &fam.series {
                if series.labels.is_empty() {
                    value(&mut me, series, fam.kind)?;
                } else {
                    value(
                        &mut me.encode_family(&LabelSet(&series.labels))?,
                        series,
                        fam.kind,
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn value(e: &mut MetricEncoder<'_>, series: &Series, kind: Kind) -> Result<(), std::fmt::Error> {
    match (&series.value, kind) {
        (Value::Int(v), Kind::Counter) => e.encode_counter::<NoExemplar, _, u64>(v, None),
        (Value::Float(v), Kind::Counter) => e.encode_counter::<NoExemplar, _, f64>(v, None),
        (Value::Millis(ms), Kind::Counter) => {
            e.encode_counter::<NoExemplar, _, f64>(&(*ms as f64 / 1000.0), None)
        }
        (Value::Millis(ms), _) => e.encode_gauge(&(*ms as f64 / 1000.0)),
        (Value::Int(v), _) => e.encode_gauge(v),
        (Value::Float(v), _) => e.encode_gauge(v),
        (Value::Hist(h), _) => {
            let buckets: Vec<(f64, u64)> = h
                .bounds
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.buckets.iter().copied())
                .collect();
            e.encode_histogram::<NoExemplar>(h.sum_ms / 1000.0, h.count, &buckets, None)
        }
    }
}

fn reference_openmetrics(snapshot: Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Reference(snapshot)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

/// frontline's OpenMetrics with the exemplars (` # {…} v ts` after a
/// bucket's value) taken off; returns the text and how many were taken.
fn without_exemplars(om: &str) -> (String, usize) {
    let mut out = String::with_capacity(om.len());
    let mut n = 0;
    for line in om.lines() {
        match line.find(" # {") {
            Some(i) if line.contains("_bucket{") => {
                out.push_str(&line[..i]);
                n += 1;
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    (out, n)
}

/// Engines over `lines` split by key into `parts` partitions (1: one engine),
/// advanced to the last event and merged.
fn snapshots(cfg: &Config, lines: &[(String, String)], parts: usize) -> [Snapshot; 2] {
    let mut engines: Vec<Engine> = (0..parts).map(|_| Engine::new(cfg)).collect();
    let mut end = 0;
    for (key, line) in lines {
        let Ok(ev) = decode(line.as_bytes(), 65536) else {
            continue;
        };
        end = end.max(ev.ts);
        let p = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as usize % parts;
        engines[p].apply(ev);
    }
    for e in &mut engines {
        e.advance_clock(end);
        e.flush();
    }
    let snaps: Vec<Snapshot> = engines.iter_mut().map(|e| e.snapshot(None)).collect();
    [snaps[0].clone(), Snapshot::merge(snaps)]
}

fn check(what: &str, snapshot: Snapshot, expect_exemplars: bool) {
    let ours = openmetrics(&snapshot);
    let (ours, exemplars) = without_exemplars(&ours);
    let reference = reference_openmetrics(snapshot);
    assert!(
        ours.lines().count() > 50,
        "{what}: a real exposition ({} lines)",
        ours.lines().count()
    );
    if expect_exemplars {
        assert!(exemplars > 0, "{what}: exemplars were written");
    }
    if ours != reference {
        let diff: Vec<String> = ours
            .lines()
            .zip(reference.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  frontline: {a}\n  reference: {b}", i + 1))
            .collect();
        panic!(
            "{what}: frontline's OpenMetrics ({} lines) differs from prometheus-client's ({} lines):\n{}",
            ours.lines().count(),
            reference.lines().count(),
            diff.join("\n")
        );
    }
}

fn golden(dir: &str) -> (Config, Vec<(String, String)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let cfg = Config::load(&dir.join("frontline.toml")).unwrap();
    let lines = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| (format!("k{}", i % 7), l.to_string()))
        .collect();
    (cfg, lines)
}

#[test]
fn golden_scenarios_encode_as_prometheus_client_does() {
    for dir in ["", "sla", "agents"] {
        let (cfg, lines) = golden(dir);
        let [one, merged] = snapshots(&cfg, &lines, 1);
        check(&format!("golden/{dir}"), one, dir.is_empty());
        check(
            &format!("golden/{dir} (one partition, merged)"),
            merged,
            false,
        );
        let [_, merged] = snapshots(&cfg, &lines, 3);
        check(
            &format!("golden/{dir} merged over 3 partitions"),
            merged,
            false,
        );
    }
}

#[test]
fn a_simulated_stretch_encodes_as_prometheus_client_does() {
    let lines: Vec<(String, String)> = Simulator::new(SimConfig {
        seed: 3,
        ..Default::default()
    })
    .take(20_000)
    .map(|e| (e.key, e.json))
    .collect();
    let cfg = Config::default();
    let [one, _] = snapshots(&cfg, &lines, 1);
    check("simulated", one, true);
    let [_, merged] = snapshots(&cfg, &lines, 4);
    check("simulated, merged over 4 partitions", merged, true);
}
