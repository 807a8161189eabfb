//! The golden scenarios, run through the real `frontline replay` binary and
//! compared, series by series, with their expected exposition:
//!
//! - `tests/golden/`: a few hundred events with duplicates, early arrivals,
//!   late events and bad lines, every KPI family;
//! - `tests/golden/sla/`: SLA policies on business-hours calendars (Berlin
//!   and New York, a DST night, a holiday, a lunch break), pauses, policy
//!   changes and held early arrivals, with the `support_sla_*` series and
//!   the SLA event stream's verdicts and at-risk changes;
//! - `tests/golden/agents/`: `[agents] per_agent_metrics` on and the agent
//!   cap reached, with the `support_agent_*` per-agent series.
//!
//! The expected expositions are not produced by frontline: each `gen.py` is
//! an independent model of SPEC.md and docs/ (Python, standard library only)
//! that writes the scenario, the config and the expected series, and asserts
//! the values its comments work out by hand. A test runs each model again
//! and checks the checked-in files are exactly what it writes, so an
//! expected file cannot be edited to match the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use frontline::checkpoint::{decode_state, encode_state};
use frontline::config::Config;
use frontline::engine::Engine;
use frontline::export::prometheus_text;

mod common;
use common::exposition::parse;
use common::promtool_check;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn family(name: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            return base;
        }
    }
    name
}

fn same_value(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    match (expected.parse::<f64>(), actual.parse::<f64>()) {
        (Ok(e), Ok(a)) if e.is_nan() && a.is_nan() => true,
        (Ok(e), Ok(a)) => (e - a).abs() <= 1e-9 * e.abs().max(a.abs()),
        _ => false,
    }
}

/// Families frontline emits that the oracle does not model, and why.
const NOT_MODELLED: &[&str] = &[
    // Build and process facts, not functions of the events.
    "frontline_build_info",
    "frontline_batch_seconds",
    "frontline_state_entries",
    // Failed writes to stderr: a fact of where stderr goes.
    "frontline_stderr_write_errors_total",
    // Replay counts bad lines here whether or not --dead-letter is given;
    // the model leaves that reading to tests/cli.rs.
    "frontline_dead_letters_total",
    // No label reaches a cap in this scenario.
    "frontline_label_overflow_total",
];

/// Compares every series of the families `expected` holds; any other
/// family `actual` holds must be one `not_modelled` says yes to.
pub fn compare(expected: &str, actual: &str, not_modelled: impl Fn(&str) -> bool) -> Vec<String> {
    let expected = parse(expected);
    let actual = parse(actual);
    let families: BTreeSet<&str> = expected.keys().map(|(n, _)| family(n)).collect();
    let mut problems = Vec::new();
    for (key, value) in &expected {
        match actual.get(key) {
            None => problems.push(format!("missing  {} {:?} = {value}", key.0, key.1)),
            Some(a) if !same_value(value, a) => problems.push(format!(
                "differs  {} {:?}: expected {value}, got {a}",
                key.0, key.1
            )),
            Some(_) => {}
        }
    }
    for (key, value) in &actual {
        let fam = family(&key.0);
        if families.contains(fam) {
            if !expected.contains_key(key) {
                problems.push(format!("extra    {} {:?} = {value}", key.0, key.1));
            }
        } else if !not_modelled(fam) {
            problems.push(format!("family not in the expected file: {}", key.0));
        }
    }
    problems
}

pub fn replay(dir: &Path) -> (String, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let run = replay_scenario(dir, &["--metrics-out".as_ref(), out.path().as_os_str()]);
    (
        std::fs::read_to_string(out.path()).unwrap(),
        String::from_utf8(run.stderr).unwrap(),
    )
}

/// `frontline replay` of the scenario in `dir` (its `events.jsonl` with
/// its `frontline.toml`) with `more` arguments; fails unless it succeeds.
fn replay_scenario(dir: &Path, more: &[&std::ffi::OsStr]) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .arg("replay")
        .arg("--input")
        .arg(dir.join("events.jsonl"))
        .arg("--config")
        .arg(dir.join("frontline.toml"))
        .args(more)
        .output()
        .expect("run frontline replay");
    assert!(
        run.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

fn check_scenario(dir: &Path, not_modelled: impl Fn(&str) -> bool, min_series: usize) -> String {
    let expected = std::fs::read_to_string(dir.join("expected.prom")).unwrap();
    let (actual, stderr) = replay(dir);
    promtool_check(&actual);
    let problems = compare(&expected, &actual, not_modelled);
    assert!(
        problems.is_empty(),
        "{} series differ from {}:\n{}",
        problems.len(),
        dir.join("expected.prom").display(),
        problems.join("\n")
    );
    // The scenario is not trivially small, and the comparison is not vacuous.
    assert!(parse(&expected).len() > min_series);
    stderr
}

fn check_model_output(dir: &Path) {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("python3")
        .arg("-B")
        .arg(dir.join("gen.py"))
        .arg(out.path())
        .output()
        .expect("python3 runs the golden model (gen.py)");
    assert!(
        run.status.success(),
        "{}/gen.py failed: {}",
        dir.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [
        "events.jsonl",
        "frontline.toml",
        "expected.prom",
        SLA_EVENTS,
    ] {
        if file == SLA_EVENTS && !dir.join(file).exists() {
            continue; // only the SLA model writes the stream
        }
        let written = std::fs::read(out.path().join(file)).unwrap();
        let checked_in = std::fs::read(dir.join(file)).unwrap();
        assert!(
            written == checked_in,
            "{}/{file} is not what gen.py writes: run python3 {}/gen.py",
            dir.display(),
            dir.display()
        );
    }
}

#[test]
fn golden_replay_matches_the_independent_model() {
    check_scenario(&golden_dir(), listed(NOT_MODELLED), 2000);
}

/// The families on `list`.
fn listed(list: &'static [&'static str]) -> impl Fn(&str) -> bool {
    move |f| list.contains(&f)
}

/// The final exposition of an engine fed the scenario in `dir` as replay
/// feeds it (a line that does not decode is counted, the others admitted
/// at the wall clock) and flushed. With `restart_every`, before every that
/// many lines the engine is checkpointed through the binary codec and goes
/// on restored from it, as a restarted instance does.
fn in_process(dir: &Path, restart_every: Option<usize>) -> String {
    let cfg = Config::parse(&std::fs::read_to_string(dir.join("frontline.toml")).unwrap())
        .expect("the scenario's config");
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut engine = Engine::new(&cfg);
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        if restart_every.is_some_and(|n| i > 0 && i % n == 0) {
            let bytes = encode_state(engine.state()).expect("a checkpoint encodes");
            engine = Engine::from_state(&cfg, decode_state(&bytes).expect("and decodes"));
        }
        // A decode error and a guard's refusal are counted at once, as in replay.
        let _ = engine.ingest(line.as_bytes(), cfg.limits.max_event_bytes, now);
    }
    engine.flush();
    prometheus_text(Arc::new(engine.snapshot(None)))
}

/// The scenario in `dir` gives the same exposition with the engine
/// checkpointed and restored every 97 lines as without: a restart between
/// two events loses nothing (held early arrivals, timers, the dedup memory,
/// SLA clocks and windows included).
fn assert_restarts_change_nothing(dir: &Path) {
    let straight = in_process(dir, None);
    let restarted = in_process(dir, Some(97));
    assert!(
        straight == restarted,
        "{}: restarts every 97 lines change the exposition (expected: straight through):\n{}",
        dir.display(),
        compare(&straight, &restarted, |_| false).join("\n")
    );
}

/// The hand-written scenarios, restarted every 97 lines, expose what they
/// expose straight through.
#[test]
fn golden_scenarios_lose_nothing_across_restarts() {
    for dir in [
        golden_dir(),
        golden_dir().join("sla"),
        golden_dir().join("agents"),
    ] {
        assert_restarts_change_nothing(&dir);
    }
}

/// The seeds `random_traffic` runs: 1 to 16, or `FRONTLINE_WILD_SEEDS=FROM-TO`.
fn wild_seeds() -> std::ops::RangeInclusive<u64> {
    match std::env::var("FRONTLINE_WILD_SEEDS") {
        Ok(s) => {
            let (a, b) = s.split_once('-').expect("FRONTLINE_WILD_SEEDS=FROM-TO");
            a.parse().unwrap()..=b.parse().unwrap()
        }
        Err(_) => 1..=16,
    }
}

/// Runs the model in `dir` with random traffic added for each seed
/// (`gen.py --wild SEED`) and replays what it writes: every seed the model
/// accepts must agree series by series in every family but those
/// `not_modelled` says, and lose nothing across restarts; the model refuses
/// a seed whose scenario it finds ambiguous (exit 3), and at least
/// `min_share` of the seeds must be taken.
fn random_traffic(dir: &Path, not_modelled: impl Fn(&str) -> bool, min_share: f64) {
    let seeds = wild_seeds();
    let mut compared = 0;
    for seed in seeds.clone() {
        let out = tempfile::tempdir().unwrap();
        let run = Command::new("python3")
            .arg("-B")
            .arg(dir.join("gen.py"))
            .args(["--wild", &seed.to_string()])
            .arg(out.path())
            .output()
            .expect("python3 runs the golden model (gen.py)");
        match run.status.code() {
            Some(0) => {}
            Some(3) => continue,
            _ => panic!(
                "{}/gen.py --wild {seed} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&run.stderr)
            ),
        }
        let expected = std::fs::read_to_string(out.path().join("expected.prom")).unwrap();
        if out.path().join(SLA_EVENTS).exists() {
            let problems = sla_events_differ(out.path());
            assert!(
                problems.is_empty(),
                "{} --wild {seed}: the SLA event stream differs from the model:\n{}",
                dir.display(),
                problems.join("\n")
            );
        }
        assert_restarts_change_nothing(out.path());
        let (actual, _) = replay(out.path());
        let problems = compare(&expected, &actual, &not_modelled);
        assert!(
            problems.is_empty(),
            "{} --wild {seed}: {} series differ from the model:\n{}",
            dir.display(),
            problems.len(),
            problems.join("\n")
        );
        compared += 1;
    }
    let n = seeds.count();
    assert!(
        compared as f64 >= min_share * n as f64,
        "the model of {} found {} of {n} seeds ambiguous",
        dir.display(),
        n - compared
    );
}

/// The golden scenario with random traffic added: tickets and calls with
/// random steps on shared customers, agents changing status, surveys, and
/// events sent on time, minutes after they happen, beyond the allowed
/// lateness, twice, ahead of earlier events of their own ticket or call, or
/// dated before the step before them.
#[test]
fn random_traffic_matches_the_independent_model() {
    random_traffic(&golden_dir(), listed(NOT_MODELLED), 2.0 / 3.0);
}

/// The SLA model pins every family but these.
const SLA_NOT_MODELLED: &[&str] = &[
    "frontline_build_info",
    "frontline_batch_seconds",
    "frontline_state_entries",
    "frontline_stderr_write_errors_total",
];

#[test]
fn golden_sla_replay_matches_the_independent_model() {
    let dir = golden_dir().join("sla");
    let stderr = check_scenario(&dir, listed(SLA_NOT_MODELLED), 1500);
    // One INFO line per breach (not rate-limited at this size), naming the
    // ticket or call, policy, clock, target and elapsed time; plain text
    // when stderr is not a terminal.
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in a pipe: {stderr}"
    );
    let breach_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("SLA breached"))
        .collect();
    let expected = std::fs::read_to_string(dir.join("expected.prom")).unwrap();
    let breaches: f64 = parse(&expected)
        .iter()
        .filter(|((name, _), _)| name == "support_sla_breaches_total")
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum();
    assert!(breaches >= 10.0);
    assert_eq!(breach_lines.len() as f64, breaches, "{stderr}");
    for line in &breach_lines {
        assert!(
            (line.contains("ticket=") || line.contains("call="))
                && line.contains("policy=")
                && line.contains("sla=")
                && line.contains("target_s=")
                && line.contains("elapsed_s="),
            "{line}"
        );
    }
    // The clock's name is written bare, so `grep sla=first_response` finds
    // its lines (docs/sla.md, "Logs").
    assert!(
        breach_lines
            .iter()
            .any(|l| l.contains(" sla=first_response ")),
        "{stderr}"
    );
}

/// The SLA scenario with random traffic added: tickets matched to every
/// policy at random times of the week (the holiday and the DST night
/// included), with replies, pauses, priority and queue changes,
/// resolutions and closes, and calls answered, abandoned or left waiting;
/// some tickets and calls sent behind the event clock or late, and the
/// clock passing deadlines by small steps and by jumps.
#[test]
fn random_sla_traffic_matches_the_independent_model() {
    random_traffic(&golden_dir().join("sla"), listed(SLA_NOT_MODELLED), 0.8);
}

/// The agents model pins the per-agent families, the status time they split
/// by agent and the overflow counter; the others are the main scenario's
/// business.
fn per_agent(family: &str) -> bool {
    family.starts_with("support_agent_") || family == "frontline_label_overflow_total"
}

#[test]
fn golden_agents_replay_matches_the_independent_model() {
    let dir = golden_dir().join("agents");
    check_scenario(&dir, |f| !per_agent(f), 40);
}

/// The per-agent scenario with random traffic after it: eight agents for
/// five `agent` places, tickets and calls credited to them (calls handled
/// at their wrap-up or at the after-call-work timeout), surveys (some on
/// calls expired from state), and three ticket, call and status-change
/// events in ten sent up to 8 minutes after they happen, overtaking earlier
/// events of their ticket or call, their opening event, or a later change
/// of their agent's status (out of order: it changes nothing).
#[test]
fn random_per_agent_traffic_matches_the_independent_model() {
    random_traffic(&golden_dir().join("agents"), |f| !per_agent(f), 1.0);
}

/// The families `[agents] per_agent_metrics` adds (names as exposed).
const PER_AGENT_FAMILIES: &[&str] = &[
    "support_agent_contacts_handled_total",
    "support_agent_handle_seconds",
    "support_agent_first_contact_resolutions_total",
    "support_agent_escalations_total",
    "support_agent_first_response_seconds",
    "support_agent_csat_responses_total",
    "support_agent_time_in_status_seconds_total",
];

/// The exposition without `frontline_batch_seconds` (wall-clock timings)
/// and, with `drop_per_agent`, without the per-agent families.
fn comparable(text: &str, drop_per_agent: bool) -> String {
    text.lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            let name = name.split([' ', '{']).next().unwrap_or("");
            let timing = family(name).starts_with("frontline_batch_seconds");
            let per_agent = PER_AGENT_FAMILIES.contains(&family(name));
            let dropped = timing || (drop_per_agent && per_agent);
            !dropped
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn per_agent_option_adds_its_families_and_changes_nothing_else() {
    // The main scenario: the option off (its default), then on.
    let (off, _) = replay(&golden_dir());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("events.jsonl"),
        dir.path().join("events.jsonl"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(golden_dir().join("frontline.toml")).unwrap();
    std::fs::write(
        dir.path().join("frontline.toml"),
        format!("{toml}\n[agents]\nper_agent_metrics = true\n"),
    )
    .unwrap();
    let (on, _) = replay(dir.path());
    // On, every per-agent family has series (not a vacuous comparison)...
    for f in PER_AGENT_FAMILIES {
        assert!(
            on.lines()
                .any(|l| l.starts_with(f) && l.contains("agent=\"")),
            "no {f} series with the option on"
        );
    }
    // ...and the rest of the exposition is byte for byte the one without
    // the option, which names none of them: off, the exposition is what it
    // was before the option existed (its series are golden_replay's).
    let off = comparable(&off, false);
    assert_eq!(comparable(&on, true), off);
    assert!(!off.contains("agent=\""));
}

#[test]
fn golden_comparison_catches_a_changed_value() {
    let dir = golden_dir();
    let expected = std::fs::read_to_string(dir.join("expected.prom")).unwrap();
    let tampered = expected.replacen(
        "support_tickets_created_total{channel=\"chat\",priority=\"high\",queue=\"tech\"} 1",
        "support_tickets_created_total{channel=\"chat\",priority=\"high\",queue=\"tech\"} 2",
        1,
    );
    assert_ne!(tampered, expected);
    assert_eq!(compare(&expected, &tampered, listed(NOT_MODELLED)).len(), 1);
    let dropped: String = expected
        .lines()
        .filter(|l| !l.starts_with("support_escalations_total"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(compare(&expected, &dropped, listed(NOT_MODELLED)).len(), 4);
}

#[test]
fn golden_files_are_what_the_models_write() {
    check_model_output(&golden_dir());
    check_model_output(&golden_dir().join("sla"));
    check_model_output(&golden_dir().join("agents"));
}

/// The SLA event stream as the SLA model writes it (`gen.py`'s
/// `sla_events`).
const SLA_EVENTS: &str = "expected-sla-events.jsonl";

/// One SLA event as the model writes it: entity id, clock, kind, `at` in
/// epoch ms (none for a stop by state expiry, whose sweep time the model
/// leaves open), policy.
type StreamEvent = (String, String, String, Option<i64>, Option<String>);

fn stream_event(e: &serde_json::Value, id: &str, at: Option<i64>) -> StreamEvent {
    (
        id.to_string(),
        e["clock"].as_str().unwrap().to_string(),
        e["kind"].as_str().unwrap().to_string(),
        at,
        e["policy"].as_str().map(str::to_string),
    )
}

/// The scenario in `dir` replayed with `--sla-events-out`: its events
/// against the model's `expected-sla-events.jsonl` (entity, clock, kind,
/// `at`, policy), as multisets; what differs, one line each.
fn sla_events_differ(dir: &Path) -> Vec<String> {
    let out = tempfile::NamedTempFile::new().unwrap();
    replay_scenario(
        dir,
        &[
            "--metrics-out".as_ref(),
            "/dev/null".as_ref(),
            "--sla-events-out".as_ref(),
            out.path().as_os_str(),
        ],
    );
    let mut want = Vec::new();
    for line in std::fs::read_to_string(dir.join(SLA_EVENTS))
        .unwrap()
        .lines()
    {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let (id, at) = (e["id"].as_str().unwrap(), e["at"].as_i64());
        want.push(stream_event(&e, id, at));
    }
    // The clocks stopped by expiry: their stop's time is the sweep's.
    let expired: BTreeSet<(String, String)> = want
        .iter()
        .filter(|v| v.2 == "stopped" && v.3.is_none())
        .map(|v| (v.0.clone(), v.1.clone()))
        .collect();
    let mut got = Vec::new();
    for line in std::fs::read_to_string(out.path()).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = e["ticket_id"].as_str().or(e["call_id"].as_str()).unwrap();
        let at: jiff::Timestamp = e["at"].as_str().unwrap().parse().unwrap();
        let mut v = stream_event(&e, id, Some(at.as_millisecond()));
        if v.2 == "stopped" && expired.contains(&(v.0.clone(), v.1.clone())) {
            v.3 = None;
        }
        got.push(v);
    }
    got.sort();
    want.sort();
    let mut problems = Vec::new();
    let (mut g, mut w) = (got.iter().peekable(), want.iter().peekable());
    loop {
        match (g.peek(), w.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {
                g.next();
                w.next();
            }
            (Some(a), Some(b)) if a < b => {
                problems.push(format!("extra   {:?}", g.next().unwrap()))
            }
            (Some(_), None) => problems.push(format!("extra   {:?}", g.next().unwrap())),
            _ => problems.push(format!("missing {:?}", w.next().unwrap())),
        }
    }
    problems
}

/// The SLA event stream of the SLA scenario (`replay --sla-events-out`)
/// agrees with the independent model: every event, of every kind, with its
/// entity, clock, `at` and policy, is one the model finds (business
/// calendars, a DST night, pauses, policy changes, held early arrivals,
/// late events, expiry); per clock and policy, as many `breached` and
/// `achieved` events as the model's `support_sla_*` counters; and each
/// breach's `at` is its `due`.
#[test]
fn golden_sla_events_agree_with_the_independent_model() {
    let dir = golden_dir().join("sla");
    let problems = sla_events_differ(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let events = tempfile::NamedTempFile::new().unwrap();
    replay_scenario(
        &dir,
        &[
            "--metrics-out".as_ref(),
            "/dev/null".as_ref(),
            "--sla-events-out".as_ref(),
            events.path().as_os_str(),
        ],
    );
    let mut got: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for line in std::fs::read_to_string(events.path()).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = e["kind"].as_str().unwrap();
        if kind == "breached" {
            assert_eq!(e["at"], e["due"], "{e}");
        }
        if kind == "breached" || kind == "achieved" {
            let key = (
                kind.to_string(),
                e["clock"].as_str().unwrap().to_string(),
                e["policy"].as_str().unwrap().to_string(),
            );
            *got.entry(key).or_default() += 1.0;
        }
    }
    let expected = std::fs::read_to_string(dir.join("expected.prom")).unwrap();
    let mut want: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for ((name, labels), v) in parse(&expected) {
        let kind = match name.as_str() {
            "support_sla_breaches_total" => "breached",
            "support_sla_achieved_total" => "achieved",
            _ => continue,
        };
        let label = |k: &str| {
            labels
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        *want
            .entry((kind.to_string(), label("sla"), label("policy")))
            .or_default() += v.parse::<f64>().unwrap();
    }
    want.retain(|_, v| *v > 0.0);
    assert!(want.len() >= 4, "{want:?}");
    assert_eq!(got, want);
}
