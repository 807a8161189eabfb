//! Partitions merge into the instance's view: a simulated day split by
//! message key across several engines (as Kafka partitions split it), with
//! their snapshots merged, exports exactly what one engine exports for the
//! whole stream.

use std::sync::Arc;

use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::Engine;
use frontline::export::prometheus_text;
use frontline::metrics::Snapshot;
use frontline::simulate::{SimConfig, Simulator};

fn support_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("support_"))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn merged_partitions_equal_one_engine() {
    let cfg = Config::default();
    let events: Vec<_> = Simulator::new(SimConfig {
        seed: 7,
        ..Default::default()
    })
    .take(30_000)
    .collect();
    let end = events.last().unwrap().ts;

    let mut whole = Engine::new(&cfg);
    let mut parts: Vec<Engine> = (0..3).map(|_| Engine::new(&cfg)).collect();
    for e in &events {
        let ev = decode(e.json.as_bytes(), 65536).unwrap();
        let p = xxhash_rust::xxh3::xxh3_64(e.key.as_bytes()) as usize % parts.len();
        parts[p].apply(ev.clone());
        whole.apply(ev);
    }
    // Every partition's clock reaches the end of the stream (as a live
    // clock would), so timers and windows end at the same instant.
    for p in &mut parts {
        p.advance_clock(end);
        p.flush();
    }
    whole.flush();
    let snaps: Vec<Snapshot> = parts.iter_mut().map(|p| p.snapshot(None)).collect();
    let merged = Snapshot::merge(snaps);
    let one = support_lines(&prometheus_text(Arc::new(whole.snapshot(None))));
    let many = support_lines(&prometheus_text(Arc::new(merged)));
    assert!(
        one.len() > 500,
        "a simulated day exports plenty: {}",
        one.len()
    );
    let missing: Vec<&String> = one.iter().filter(|l| !many.contains(l)).collect();
    let extra: Vec<&String> = many.iter().filter(|l| !one.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "merged differs from one engine:\n only in one engine: {missing:#?}\n only merged: {extra:#?}"
    );
}
