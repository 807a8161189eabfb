//! The live page's budgets: the page's payload (everything inlined, no
//! compression) against its 100 KB budget, and what one `/api/summary`
//! costs next to one `/metrics` scrape of the same hub. The hub holds a
//! simulated day split over four partitions by message key (as Kafka
//! would), with SLA policies and KPI targets. Rounds alternate summary,
//! scrape, summary, scrape…; medians are printed with their ratio.
//! Figures (docs/performance.md, "Live page"); only the payload budget fails.
//!
//!     cargo bench --bench live

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::Engine;
use frontline::hub::SnapshotHub;
use frontline::live::{self, Query, Trends, PAGE};
use frontline::simulate::{SimConfig, Simulator};

const PARTITIONS: usize = 4;
const ROUNDS: usize = 11;
const PAGE_BUDGET: usize = 100 * 1024;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    println!(
        "live page payload: {} bytes (budget {PAGE_BUDGET})",
        PAGE.len()
    );
    assert!(
        PAGE.len() <= PAGE_BUDGET,
        "the live page is {} bytes, over its {PAGE_BUDGET}-byte budget",
        PAGE.len()
    );
    let cfg = Config::parse(
        "[kpi_targets]\ncsat = 0.85\nservice_level = 0.8\nabandonment = 0.05\n\
         first_contact_resolution = 0.7\nsla_attainment = 0.95\n\
         [[sla.policies]]\nname = \"phone\"\nmatch = { channel = \"phone\" }\nanswer = \"20s\"\n\
         [[sla.policies]]\nname = \"standard\"\nfirst_response = \"1h\"\nresolution = \"8h\"\n",
    )
    .expect("valid config");
    let sim = Simulator::new(SimConfig::default());
    let start = SimConfig::default().start_ms;
    let mut engines: Vec<Engine> = (0..PARTITIONS).map(|_| Engine::new(&cfg)).collect();
    let mut n = 0u64;
    for ev in sim.take_while(|e| e.ts < start + 86_400_000) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ev.key.hash(&mut h);
        let p = (h.finish() % PARTITIONS as u64) as usize;
        let e = decode(ev.json.as_bytes(), 65536).expect("simulated lines are valid");
        engines[p].apply(e);
        n += 1;
    }
    let hub = SnapshotHub::new();
    for (p, e) in engines.iter_mut().enumerate() {
        e.flush();
        hub.publish(
            &("support-events".into(), p as i32),
            Arc::new(e.snapshot(None)),
        );
    }
    // A full ring, as after a day of running.
    let trends = Trends::default();
    let snap = hub.merged(0);
    for i in 0..live::TREND_POINTS as i64 {
        trends.sample(&snap, i * live::TREND_STEP_MS);
    }
    println!("hub: a simulated day, {n} events over {PARTITIONS} partitions");
    let q = Query {
        window: Some("1h".into()),
        ..Default::default()
    };
    let (mut summary, mut scrape) = (Vec::new(), Vec::new());
    let mut sizes = (0, 0);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let doc = live::summary(&hub.merged(0), &trends, &q, &cfg.windows, 0)
            .expect("window configured")
            .to_string();
        summary.push(t.elapsed());
        sizes.0 = doc.len();
        let t = Instant::now();
        let text = frontline::export::prometheus_text(hub.merged(0));
        scrape.push(t.elapsed());
        sizes.1 = text.len();
    }
    let (a, b) = (median(summary), median(scrape));
    println!(
        "/api/summary: median {a:?} ({} bytes), /metrics: median {b:?} ({} bytes), ratio {:.2} ({ROUNDS} rounds, alternating)",
        sizes.0,
        sizes.1,
        a.as_secs_f64() / b.as_secs_f64()
    );
}
