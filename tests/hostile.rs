//! The hostile stream (issue 10): a realistic simulated day mixed with
//! about 1 % each of future and ancient timestamps, cardinality floods,
//! one-customer floods and oversize lines. The KPIs of the clean events
//! must be what the clean day alone gives, and series stay in budget.

use std::collections::BTreeMap;
use std::sync::Arc;

use frontline::config::Config;
use frontline::engine::Engine;
use frontline::export::prometheus_text;
use frontline::simulate::{SimConfig, Simulator};

mod common;
use common::exposition::{self, Labels, Series};

const START: i64 = 1_794_816_000_000;
const DAY: i64 = 86_400_000;
/// The wall clock the guards compare against: an hour after the day.
const WALL: i64 = START + DAY + 3_600_000;

fn day() -> Vec<(i64, String)> {
    Simulator::new(SimConfig {
        start_ms: START,
        ..Default::default()
    })
    .take_while(|e| e.ts < START + DAY)
    .map(|e| (e.ts, e.json))
    .collect()
}

/// Replays lines through the one ingest step; the exposition by series.
fn replay(lines: &[String]) -> Series {
    let cfg = Config::default();
    let mut e = Engine::new(&cfg);
    for l in lines {
        let _ = e.ingest(l.as_bytes(), cfg.limits.max_event_bytes, WALL);
    }
    e.flush();
    exposition::parse(&prometheus_text(Arc::new(e.snapshot(None))))
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Hostile lines interleaved with the clean day; `floods` adds the
/// cardinality and one-customer floods (valid events of their own).
fn hostile(clean: &[(i64, String)], floods: bool) -> Vec<String> {
    let mut r = Rng(0x5eed);
    let mut out = Vec::new();
    for (i, (ts, json)) in clean.iter().enumerate() {
        out.push(json.clone());
        let id = format!("h{i}");
        match r.below(100) {
            // A year ahead of the wall clock, and 1970.
            0 => out.push(json.replacen(&format!("\"ts\":{ts}"), &format!("\"ts\":{}", WALL + 365 * DAY), 1).replacen("\"event_id\":\"", "\"event_id\":\"f", 1)),
            1 => out.push(format!(r#"{{"event_id":"{id}","type":"agent.status_changed","ts":0,"agent_id":"A1","status":"busy"}}"#)),
            2 => out.push(format!(r#"{{"event_id":"{id}","type":"survey.ces","ts":{ts},"score":1,"pad":"{}"}}"#, "x".repeat(70_000))),
            3 if floods => out.push(format!(
                r#"{{"event_id":"{id}","type":"agent.status_changed","ts":{ts},"agent_id":"flood-{}","status":"offline","queue":"flood-{}"}}"#,
                r.below(1 << 40),
                r.below(1 << 40)
            )),
            4 if floods => out.push(format!(
                r#"{{"event_id":"{id}","type":"ticket.created","ts":{ts},"ticket_id":"G{i}","customer_id":"guest","queue":"guest-queue","channel":"other","priority":"low"}}"#
            )),
            _ => {}
        }
    }
    out
}

fn support(m: &Series, windows: bool) -> BTreeMap<&(String, Labels), &String> {
    m.iter()
        .filter(|((name, _), _)| name.starts_with("support_"))
        .filter(|((name, _), _)| windows || !name.starts_with("support_window"))
        .collect()
}

/// Issue 10, defect 3: guarded and oversize lines change no KPI at all,
/// windows included.
#[test]
fn hostile_timestamps_and_oversize_lines_change_no_kpi() {
    let clean = day();
    let base = replay(&clean.iter().map(|(_, j)| j.clone()).collect::<Vec<_>>());
    let hostile = replay(&hostile(&clean, false));
    assert!(support(&base, true).len() > 500);
    assert_eq!(support(&base, true), support(&hostile, true));
    let errs = |r: &str| {
        let labels = Labels::from([("reason".to_string(), r.to_string())]);
        hostile
            .get(&("frontline_decode_errors_total".to_string(), labels))
            .cloned()
    };
    assert!(errs("future_timestamp").is_some());
    assert!(errs("too_old").is_some());
    assert!(errs("too_large").is_some());
}

/// Issue 10, defects 4 and 5: with cardinality and one-customer floods
/// too, every series of the clean day keeps its value, and the flood's
/// queues are capped (SPEC §5.3): 200 values keep their own label, the
/// rest are reported as `other`.
#[test]
fn floods_leave_the_clean_series_alone_and_stay_in_budget() {
    let clean = day();
    let base = replay(&clean.iter().map(|(_, j)| j.clone()).collect::<Vec<_>>());
    let hostile = replay(&hostile(&clean, true));
    let (b, h) = (support(&base, false), support(&hostile, false));
    for (k, v) in &b {
        // Contacts and repeats of the guest flood land in their own queue;
        // clean series keep their value.
        assert_eq!(h.get(k), Some(v), "{k:?}");
    }
    let series = support(&hostile, true);
    let queues: std::collections::BTreeSet<&str> = series
        .keys()
        .flat_map(|(_, l)| l.iter())
        .filter(|(k, _)| k == "queue")
        .map(|(_, v)| v.as_str())
        .collect();
    let own = queues.iter().filter(|q| !["unknown", "other"].contains(q));
    assert_eq!(own.count(), 200, "{queues:?}");
    assert!(queues.contains("other"));
    let overflow = hostile
        .get(&(
            "frontline_label_overflow_total".into(),
            [("label".into(), "queue".into())].into(),
        ))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(overflow.is_some_and(|n| n > 0.0), "{overflow:?}");
}
