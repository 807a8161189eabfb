//! What a scrape costs: merging 12 partitions' snapshots into the
//! instance's view (as `/metrics` does, through the hub) and encoding it,
//! in each format, for an exposition of about 10 k and about 100 k series
//! (sample lines), and gzipping it as for a scraper that takes gzip.
//! Rounds alternate between the four cases; the medians are printed.
//! Figures, not assertions (docs/performance.md, "Scrape").
//!
//!     cargo bench --bench scrape
//!
//! Run against the code before the typed model (docs/performance.md,
//! "Scrape"), the maximum gauge was declared with `family(…, Kind::Gauge)`:
//! the merge rule then came from the name.
//!
//! Each partition holds the same label sets, as when every partition sees
//! every queue: per label set (channel, priority, queue) four counters and a
//! histogram of eight bounds with exemplars, which keep a series per
//! partition, and two gauges (one summed, one by maximum), which merge
//! across the partitions.

use std::sync::Arc;
use std::time::Instant;

use frontline::export;
use frontline::hub::SnapshotHub;
use frontline::metrics::{ExemplarValue, HistValue, Labels, Snapshot, Value};
use frontline::names;

const PARTITIONS: i32 = 12;
const ROUNDS: usize = 11;
const CHANNELS: [&str; 4] = ["email", "chat", "phone", "web"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const BOUNDS: [f64; 8] = [1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];

fn labels(i: usize) -> Labels {
    vec![
        ("channel", CHANNELS[i % 4].into()),
        ("priority", PRIORITIES[(i / 4) % 4].into()),
        ("queue", format!("queue-{}", i / 16).into()),
    ]
}

/// One partition's snapshot with `sets` label sets.
fn partition(p: usize, sets: usize) -> Snapshot {
    let mut s = Snapshot::default();
    let bounds: Arc<[f64]> = BOUNDS.to_vec().into();
    for (n, name) in [
        names::TICKETS_CREATED,
        names::TICKETS_RESOLVED,
        names::ESCALATIONS,
        names::FCR,
    ]
    .into_iter()
    .enumerate()
    {
        let mut f = s.family(name);
        for i in 0..sets {
            f.push(labels(i), Value::Int((i * 7 + p * 3 + n) as u64));
        }
    }
    let mut f = s.family(names::FIRST_RESPONSE);
    for i in 0..sets {
        let buckets: Vec<u64> = (0..=BOUNDS.len())
            .map(|b| ((i + b + p) % 5) as u64)
            .collect();
        let count = buckets.iter().sum();
        let exemplars = (0..=BOUNDS.len())
            .map(|b| {
                (b % 3 == 0).then(|| ExemplarValue {
                    label: "ticket_id",
                    id: format!("T-{p}-{i}-{b}").into(),
                    value_ms: 1500 * b as i64,
                    ts_ms: 1_794_816_000_000 + (i * 1000) as i64,
                })
            })
            .collect();
        f.push(
            labels(i),
            Value::Hist(Arc::new(HistValue {
                bounds: bounds.clone(),
                buckets,
                sum_ms: (i * 1234) as f64,
                count,
                exemplars,
            })),
        );
    }
    let mut f = s.family(names::TICKETS_OPEN);
    for i in 0..sets {
        f.push(labels(i), Value::Int((i % 17) as u64));
    }
    let mut f = s.family(names::OLDEST_CALL_WAIT);
    for i in 0..sets {
        f.push(labels(i), Value::Float((i % 13) as f64 * 1.5));
    }
    s.prune();
    s
}

fn hub(sets: usize) -> SnapshotHub {
    let hub = SnapshotHub::new();
    for p in 0..PARTITIONS {
        hub.publish(
            &("support-events".into(), p),
            Arc::new(partition(p as usize, sets)),
        );
    }
    hub
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // 182 lines per label set: 12 partitions × (4 counters + 11 histogram
    // lines) + 2 merged gauges.
    let cases = [("10k", hub(55)), ("100k", hub(550))];
    for (name, h) in &cases {
        let text = export::prometheus_text(Arc::new(h.merged(0)));
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        println!("{name}: {series} series, {} bytes (0.0.4)", text.len());
    }
    // Per case and format: merge+encode, and of it the merge alone.
    let mut times = vec![Vec::new(); 4];
    let mut merge_times = vec![Vec::new(); 4];
    // And the gzip a scraper that takes it gets on top (`export::gzip`).
    let mut gzip_times = vec![Vec::new(); 4];
    let mut gzip_bytes = [0; 4];
    for _ in 0..ROUNDS {
        for (c, (_, h)) in cases.iter().enumerate() {
            for om in [false, true] {
                let t = Instant::now();
                let snap = Arc::new(h.merged(0));
                let merged = t.elapsed();
                let text = if om {
                    export::openmetrics(snap)
                } else {
                    export::prometheus_text(snap)
                };
                times[c * 2 + om as usize].push(t.elapsed().as_secs_f64() * 1000.0);
                merge_times[c * 2 + om as usize].push(merged.as_secs_f64() * 1000.0);
                let t = Instant::now();
                let gz = export::gzip(&text);
                gzip_times[c * 2 + om as usize].push(t.elapsed().as_secs_f64() * 1000.0);
                gzip_bytes[c * 2 + om as usize] = gz.len();
                std::hint::black_box((text, gz));
            }
        }
    }
    for (c, (name, _)) in cases.iter().enumerate() {
        for (f, format) in ["0.0.4", "OpenMetrics"].into_iter().enumerate() {
            let i = c * 2 + f;
            println!(
                "scrape {name} {format}: merge+encode median {:.2} ms (merge {:.2} ms), then \
                 gzip {:.2} ms to {} bytes, over {ROUNDS} alternating rounds",
                median(times[i].clone()),
                median(merge_times[i].clone()),
                median(gzip_times[i].clone()),
                gzip_bytes[i]
            );
        }
    }
}
