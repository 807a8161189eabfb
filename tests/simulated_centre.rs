//! The simulated centre looks like a real one (docs/simulation.md): a
//! simulated day (`frontline simulate --duration 1d`) replayed with the
//! shipped `deploy/frontline.toml` gives the headline KPIs within the bands
//! the KPI guides quote, and its lunchtime incident shows in them.
//!
//! Every figure is computed here from the exposition's cumulative counters
//! (as a recording rule would), not read from the processor's window
//! ratios; the one denominator no counter carries (calls ended resolved,
//! for FCR) is counted from the simulated events themselves.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOUR_MS: i64 = 3_600_000;
/// `frontline simulate`'s default start: Monday 2026-11-16T08:00:00Z.
const START_MS: i64 = 1_794_816_000_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The events of the simulated day (seed 1), as `frontline simulate` prints them.
fn simulated_day() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["simulate", "--seed", "1", "--duration", "1d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn ts(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["ts"].as_i64().unwrap()
}

/// Replays the events before `end_ms` with the shipped config and returns
/// the exposition.
fn replay_until(dir: &Path, events: &[String], end_ms: i64) -> Metrics {
    let input = dir.join(format!("until-{end_ms}.jsonl"));
    let lines: Vec<&str> = events
        .iter()
        .filter(|l| ts(l) < end_ms)
        .map(String::as_str)
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let prom = dir.join(format!("until-{end_ms}.prom"));
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(repo().join("deploy/frontline.toml"))
        .arg("--metrics-out")
        .arg(&prom)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Metrics(std::fs::read_to_string(prom).unwrap())
}

/// A text exposition, read as Prometheus would sum it.
struct Metrics(String);

impl Metrics {
    /// The sum of every sample of `name` whose labels include each of `with`
    /// (`label="value"`).
    fn sum(&self, name: &str, with: &[&str]) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .filter(|(k, _)| with.iter().all(|w| k.contains(w)))
            .map(|(_, v)| v.parse::<f64>().unwrap())
            .sum()
    }
}

/// The cumulative counts the KPIs are made of, for one replay.
#[derive(Clone, Copy, Debug)]
struct Counts {
    answered: f64,
    within: f64,
    abandoned: f64,
    short: f64,
    answer_breaches: f64,
}

impl Counts {
    fn of(m: &Metrics) -> Counts {
        Counts {
            answered: m.sum("support_calls_answered_total", &[]),
            within: m.sum("support_calls_answered_within_threshold_total", &[]),
            abandoned: m.sum("support_calls_abandoned_total", &[]),
            short: m.sum("support_calls_short_abandoned_total", &[]),
            answer_breaches: m.sum("support_sla_breaches_total", &[r#"sla="answer""#]),
        }
    }

    /// What happened between `earlier` and this one (an `increase()`).
    fn since(self, e: Counts) -> Counts {
        Counts {
            answered: self.answered - e.answered,
            within: self.within - e.within,
            abandoned: self.abandoned - e.abandoned,
            short: self.short - e.short,
            answer_breaches: self.answer_breaches - e.answer_breaches,
        }
    }

    /// SPEC §3, the default formula.
    fn service_level(&self) -> f64 {
        self.within / (self.answered + self.abandoned - self.short)
    }

    fn abandonment(&self) -> f64 {
        (self.abandoned - self.short) / (self.answered + self.abandoned - self.short)
    }
}

fn within(what: &str, v: f64, lo: f64, hi: f64) {
    assert!(
        (lo..=hi).contains(&v),
        "{what} = {v:.3}, outside its documented band [{lo}, {hi}] (docs/simulation.md)"
    );
    eprintln!("{what} = {v:.3}  (band {lo}..{hi})");
}

#[test]
fn a_simulated_day_reads_like_a_real_centre() {
    let dir = tempfile::tempdir().unwrap();
    let events = simulated_day();
    let day = replay_until(dir.path(), &events, START_MS + 24 * HOUR_MS);
    let m = |n: &str| day.sum(n, &[]);

    // Calls.
    let c = Counts::of(&day);
    within(
        "service level (20 s, default formula)",
        c.service_level(),
        0.72,
        0.90,
    );
    within("abandonment", c.abandonment(), 0.02, 0.12);

    // Agents: (busy + after-call work) / (available + busy + after-call work).
    let status = |s: &str| {
        day.sum(
            "support_agent_status_seconds_total",
            &[&format!("status=\"{s}\"")],
        )
    };
    let occupied = status("busy") + status("after_call_work");
    within(
        "utilization",
        occupied / (occupied + status("available")),
        0.70,
        0.85,
    );

    // Tickets.
    let created = m("support_tickets_created_total");
    let resolved = m("support_tickets_resolved_total");
    within("resolution rate", resolved / created, 0.90, 0.96);

    // FCR: the denominator's calls (ended with `resolved: true`) are in no
    // counter; count them in the events, once per event id.
    let mut seen = HashSet::new();
    let mut calls_resolved = 0.0;
    for l in &events {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if seen.insert(v["event_id"].as_str().unwrap().to_string())
            && v["type"] == "call.ended"
            && v["resolved"] == true
        {
            calls_resolved += 1.0;
        }
    }
    within(
        "first contact resolution",
        m("support_first_contact_resolutions_total") / (resolved + calls_resolved),
        0.65,
        0.80,
    );

    // Surveys.
    let csat = |s: &str| day.sum("support_csat_responses_total", &[&format!("score=\"{s}\"")]);
    let responses = m("support_csat_responses_total");
    assert!(responses > 300.0, "CSAT responses: {responses}");
    within(
        "CSAT (4-5 of 5)",
        (csat("4") + csat("5")) / responses,
        0.75,
        0.87,
    );
    let nps = |c: &str| {
        day.sum(
            "support_nps_responses_total",
            &[&format!("category=\"{c}\"")],
        )
    };
    let answers = m("support_nps_responses_total");
    within(
        "NPS",
        100.0 * (nps("promoter") - nps("detractor")) / answers,
        10.0,
        45.0,
    );

    within(
        "repeat contacts",
        m("support_repeat_contacts_total") / m("support_contacts_total"),
        0.08,
        0.20,
    );
    within(
        "escalation",
        m("support_escalations_total") / m("support_contacts_total"),
        0.02,
        0.10,
    );

    // The daily curve: the small hours are quiet, business hours busy.
    let contacts_between = |from: i64, to: i64| {
        events
            .iter()
            .filter(|l| l.contains("\"ticket.created\"") || l.contains("\"call.queued\""))
            .filter(|l| (from..to).contains(&ts(l)))
            .count() as f64
    };
    let night = contacts_between(START_MS + 18 * HOUR_MS, START_MS + 21 * HOUR_MS); // 02:00-05:00
    let morning = contacts_between(START_MS + HOUR_MS, START_MS + 4 * HOUR_MS); // 09:00-12:00
    assert!(
        night * 8.0 < morning,
        "night {night} contacts against {morning} in the morning"
    );

    // The lunchtime incident (12:00-13:30): what Prometheus's increase()
    // over it would show, from replays of the day up to its start and end,
    // against the morning before it.
    let at = |h: i64| {
        Counts::of(&replay_until(
            dir.path(),
            &events,
            START_MS + h * HOUR_MS / 2,
        ))
    };
    let (t0900, t1200, t1330) = (at(2), at(8), at(11));
    let (calm, surge) = (t1200.since(t0900), t1330.since(t1200));
    eprintln!("09:00-12:00 {calm:?}\n12:00-13:30 {surge:?}");
    within("service level 09:00-12:00", calm.service_level(), 0.85, 1.0);
    within(
        "service level in the incident",
        surge.service_level(),
        0.0,
        0.65,
    );
    assert!(
        surge.abandonment() > 2.0 * calm.abandonment() && surge.abandonment() > 0.1,
        "abandonment {:.3} in the incident against {:.3} before",
        surge.abandonment(),
        calm.abandonment()
    );
    assert!(
        surge.answer_breaches > 20.0 && surge.answer_breaches > 3.0 * calm.answer_breaches,
        "answer SLA breaches: {} in the incident, {} in the three hours before",
        surge.answer_breaches,
        calm.answer_breaches
    );
}

/// The same seed gives the same day; another seed another one.
#[test]
fn the_simulation_is_deterministic_for_a_seed() {
    let run = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["simulate", "--seed", seed, "--duration", "6h"])
            .output()
            .unwrap()
            .stdout
    };
    let a = run("5");
    assert!(a.len() > 100_000, "{} bytes", a.len());
    assert_eq!(a, run("5"));
    assert_ne!(a, run("6"));
}
