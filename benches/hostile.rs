//! What hostile input costs: the worst case of the default config (every
//! label combination it allows: series, bytes of exposition, peak memory),
//! a one-customer flood (100 000 contacts of one `customer_id`) against
//! the same number of distinct customers, and half of 200 000 calls of one
//! queue queued late against the same calls in time order, each pair fed
//! in alternating rounds.
//! Figures, not assertions (docs/performance.md, "Hostile input").
//!
//!     cargo bench --bench hostile

use std::sync::Arc;
use std::time::Instant;

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::status_bytes;

use frontline::config::Config;
use frontline::engine::Engine;
use frontline::export;

/// Monday 2026-11-16 08:00Z.
const T0: i64 = 1_794_816_000_000;
const MAX: usize = 64 * 1024;
const CHANNELS: [&str; 7] = ["email", "chat", "phone", "social", "web", "sms", "other"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const STATUSES: [&str; 5] = ["available", "busy", "after_call_work", "break", "offline"];

/// Every combination the default caps let through: 400 queues (200 keep
/// their name), 7 channels, 4 priorities, 700 agents, every survey score,
/// tickets resolved, reopened and escalated, calls answered, abandoned and
/// transferred.
fn worst_case(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n * 2);
    let mut i = 0usize;
    while out.len() < n {
        let q = format!("q{}", i % 400);
        let ch = CHANNELS[i % 7];
        let pr = PRIORITIES[(i / 7) % 4];
        let agent = format!("a{}", i % 700);
        let ts = T0 + i as i64 * 1_000;
        let t = format!("T{i}");
        let c = format!("C{i}");
        let cust = format!("cu{}", i % 5_000);
        let ev = |k: &str, body: String, dt: i64| {
            format!(r#"{{"event_id":"{k}-{i}","ts":{},{body}}}"#, ts + dt)
        };
        out.push(ev("tc", format!(r#""type":"ticket.created","ticket_id":"{t}","customer_id":"{cust}","channel":"{ch}","priority":"{pr}","queue":"{q}","category":"k{}""#, i % 3), 0));
        out.push(ev(
            "ta",
            format!(r#""type":"ticket.agent_replied","ticket_id":"{t}","agent_id":"{agent}""#),
            60_000,
        ));
        if i.is_multiple_of(3) {
            out.push(ev(
                "te",
                format!(r#""type":"ticket.escalated","ticket_id":"{t}""#),
                90_000,
            ));
        }
        out.push(ev("tw", format!(r#""type":"ticket.work_logged","ticket_id":"{t}","agent_id":"{agent}","seconds":{}"#, 60 + i % 600), 100_000));
        out.push(ev(
            "tr",
            format!(r#""type":"ticket.resolved","ticket_id":"{t}","agent_id":"{agent}""#),
            120_000 + (i % 50) as i64 * 60_000,
        ));
        if i.is_multiple_of(5) {
            out.push(ev(
                "to",
                format!(r#""type":"ticket.reopened","ticket_id":"{t}""#),
                4_000_000,
            ));
        }
        out.push(ev("cq", format!(r#""type":"call.queued","call_id":"{c}","customer_id":"{cust}","queue":"{q}","channel":"{ch}""#), 0));
        if i.is_multiple_of(4) {
            out.push(ev(
                "cb",
                format!(r#""type":"call.abandoned","call_id":"{c}""#),
                (i % 60) as i64 * 1_000,
            ));
        } else {
            out.push(ev(
                "cn",
                format!(r#""type":"call.answered","call_id":"{c}","agent_id":"{agent}""#),
                (i % 90) as i64 * 1_000,
            ));
            if i % 6 == 1 {
                out.push(ev("ct", format!(r#""type":"call.transferred","call_id":"{c}","queue":"q{}","escalation":true"#, (i + 1) % 400), 100_000));
            }
            out.push(ev(
                "ce",
                format!(
                    r#""type":"call.ended","call_id":"{c}","resolved":{}"#,
                    i.is_multiple_of(2)
                ),
                300_000,
            ));
            out.push(ev(
                "cw",
                format!(r#""type":"call.wrapup_ended","call_id":"{c}""#),
                360_000,
            ));
        }
        out.push(ev(
            "as",
            format!(
                r#""type":"agent.status_changed","agent_id":"{agent}","status":"{}","queue":"{q}""#,
                STATUSES[i % 5]
            ),
            0,
        ));
        out.push(ev("sc", format!(r#""type":"survey.csat","ticket_id":"{t}","score":{},"channel":"{ch}","queue":"{q}""#, 1 + i % 5), 200_000));
        out.push(ev(
            "sn",
            format!(
                r#""type":"survey.nps","customer_id":"{cust}","score":{}"#,
                i % 11
            ),
            200_000,
        ));
        out.push(ev(
            "se",
            format!(
                r#""type":"survey.ces","call_id":"{c}","score":{}"#,
                1 + i % 7
            ),
            400_000,
        ));
        i += 1;
    }
    out.sort_by_key(|l| {
        l.split("\"ts\":")
            .nth(1)
            .and_then(|r| r.split(&[',', '}'][..]).next())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    });
    out.truncate(n);
    out
}

fn contacts(n: usize, one_customer: bool, round: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let cust = if one_customer { "guest".to_string() } else { format!("c{i}") };
            format!(
                r#"{{"event_id":"r{round}-{i}","type":"ticket.created","ts":{},"ticket_id":"r{round}-T{i}","customer_id":"{cust}","channel":"web","queue":"q{}","category":"k{}"}}"#,
                T0 + i as i64 * 1_000,
                i % 4,
                i % 3
            )
        })
        .collect()
}

/// `2n` calls queued in one queue: `n` in time order, 4 ms apart, then
/// `n` more at random times among them (late, within
/// `allowed_lateness`); with `sorted`, the same events in time order.
fn late_calls(n: usize, sorted: bool, round: usize) -> Vec<String> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ round as u64;
    let mut ts: Vec<i64> = (0..n as i64).map(|i| T0 + 4 * i).collect();
    ts.extend((0..n).map(|_| {
        // xorshift64: a fixed sequence, no dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        T0 + (x % (4 * n as u64)) as i64
    }));
    if sorted {
        ts.sort();
    }
    ts.iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                r#"{{"event_id":"l{round}-{i}","type":"call.queued","ts":{t},"call_id":"l{round}-C{i}","customer_id":"cu{}","channel":"phone","queue":"q1"}}"#,
                i % 5_000
            )
        })
        .collect()
}

fn feed(cfg: &Config, lines: &[String], now: i64) -> (Engine, f64) {
    let mut engine = Engine::new(cfg);
    let t = Instant::now();
    for l in lines {
        let _ = engine.ingest(l.as_bytes(), MAX, now);
    }
    engine.flush();
    (engine, t.elapsed().as_secs_f64())
}

/// Events/s of the inputs `make(true, round)` and `make(false, round)`
/// (named by `names`), fed alternately in three rounds, each round
/// printed; their medians.
fn alternate(
    cfg: &Config,
    now: i64,
    names: [&str; 2],
    make: impl Fn(bool, usize) -> Vec<String>,
) -> (f64, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let (x, y) = (make(true, round), make(false, round));
        for (lines, out) in [(&x, &mut a), (&y, &mut b)] {
            let (_, secs) = feed(cfg, lines, now);
            out.push(lines.len() as f64 / secs);
        }
        eprintln!(
            "round {round}: {} {:.0} ev/s, {} {:.0} ev/s",
            names[0], a[round], names[1], b[round]
        );
    }
    (median(a), median(b))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("hostile bench: run with `cargo bench --bench hostile`");
        return;
    }
    let cfg = Config::default();
    // Every event is in the past of this wall clock, and none older than
    // max_event_age behind the clock.
    let now = T0 + 400 * 86_400_000;

    let lines = worst_case(400_000);
    let (mut engine, secs) = feed(&cfg, &lines, now);
    let snap = Arc::new(engine.snapshot(None));
    let text = export::prometheus_text(snap.clone());
    let om = export::openmetrics(snap);
    let series = text.lines().filter(|l| l.starts_with("support_")).count();
    let all = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "worst case of the default config: {} events in {:.2} s; {series} support_* samples ({all} in all), {} bytes of text exposition, {} of OpenMetrics; peak RSS {} MB (input {} MB of it at most)",
        lines.len(),
        secs,
        text.len(),
        om.len(),
        status_bytes("VmHWM") / 1_000_000,
        lines.iter().map(String::len).sum::<usize>() / 1_000_000,
    );
    drop(engine);

    // One customer with 100 000 contacts against 100 000 customers.
    let n = 100_000;
    let (o, m) = alternate(
        &cfg,
        now,
        ["one customer", "distinct customers"],
        |one, round| contacts(n, one, round),
    );
    println!(
        "one-customer flood: {o:.0} ev/s against {m:.0} ev/s for distinct customers (medians of 3, alternating): ratio {:.2}",
        o / m
    );

    // Half of 200 000 calls of one queue queued late, at random times
    // among the others, against the same calls in time order.
    let (l, o) = alternate(&cfg, now, ["late calls", "in time order"], |late, round| {
        late_calls(n, !late, round)
    });
    println!(
        "late calls into one queue: {l:.0} ev/s against {o:.0} ev/s in time order (medians of 3, alternating): ratio {:.2}",
        l / o
    );
}
