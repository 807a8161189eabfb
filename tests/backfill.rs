//! Backfill end to end, no Kafka: a simulated week replayed with
//! `--openmetrics-out --step 1h`, turned into TSDB blocks by `promtool tsdb
//! create-blocks-from openmetrics`, served by a real Prometheus (Debian's
//! `prometheus`, on a free loopback port) and queried at three past
//! instants. `support_tickets_created_total` and the `support_window_ratio`
//! gauges there must equal what separate `frontline replay` runs report on
//! the input cut at those instants (every line before the first one dated
//! after the instant: the definition in src/backfill.rs).
//!
//! A week, as a team backfilling would load at least, with a 1 h step:
//! about 200 000 events and a 140 MB file, so promtool's passes over it
//! (one per 24 h block) take most of the test's time: 80–140 s in all in a
//! debug build on a loaded machine; a 1 m step would be 60 times the file
//! for the same check.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::prom::{free_port, http_get, prom_query_at, spawn, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_frontline");
/// The simulator's default start, 2026-11-16T08:00:00Z.
const START_MS: i64 = 1_794_816_000_000;
const HOUR_MS: i64 = 3_600_000;

/// A series by its sorted labels, without the metric name.
type Series = BTreeMap<Vec<(String, String)>, f64>;

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The samples of `name` in a Prometheus text exposition.
fn family(text: &str, name: &str) -> Series {
    let mut out = Series::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => {
                let (l, v) = r.rsplit_once("} ").unwrap();
                (parse_labels(l), v)
            }
            None => (Vec::new(), &rest[1..]),
        };
        out.insert(labels, value.trim().parse().unwrap());
    }
    out
}

/// `k="v",k2="v2"` (the simulator's values carry no quotes or commas).
fn parse_labels(l: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = l
        .split("\",")
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once("=\"").unwrap();
            (k.to_string(), v.trim_end_matches('"').to_string())
        })
        .collect();
    v.sort();
    v
}

/// The answer of an instant query as series.
fn queried(port: u16, q: &str, t_ms: i64) -> Series {
    let res = prom_query_at(port, q, Some(t_ms as f64 / 1000.0)).unwrap();
    res.iter()
        .map(|r| {
            let mut labels: Vec<(String, String)> = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (labels, v)
        })
        .collect()
}

/// `frontline replay` of the input's lines before the first one dated
/// after `t_ms`: its final exposition.
fn replay_cut(input: &str, t_ms: i64, dir: &Path) -> String {
    let mut cut = String::new();
    for line in input.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["ts"].as_i64().unwrap() > t_ms {
            break;
        }
        cut.push_str(line);
        cut.push('\n');
    }
    let path = dir.join(format!("cut-{t_ms}.jsonl"));
    std::fs::write(&path, cut).unwrap();
    let out = run(Command::new(BIN).args(["replay", "--input"]).arg(&path));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_backfilled_week_in_prometheus_equals_replays_cut_at_three_instants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = d.join("week.jsonl");
    let sim = run(Command::new(BIN).args(["simulate", "--duration", "7d"]));
    std::fs::write(&events, &sim.stdout).unwrap();
    let input = String::from_utf8(sim.stdout).unwrap();

    let om = d.join("week.om");
    let replay = run(Command::new(BIN)
        .args(["replay", "--step", "1h", "--input"])
        .arg(&events)
        .arg("--openmetrics-out")
        .arg(&om));
    let final_text = String::from_utf8(replay.stdout).unwrap();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&om).unwrap();
        let mut head = [0u8; 7];
        f.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"# HELP ");
        f.seek(SeekFrom::End(-6)).unwrap();
        let mut tail = String::new();
        f.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "# EOF\n");
    }
    // No spool left behind: the output and nothing else beside the input.
    let mut left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["week.jsonl", "week.om"]);

    let tsdb = d.join("tsdb");
    let blocks = Command::new("promtool")
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
        ])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .expect("promtool not found: run ./scripts/install-tools.sh (make test does)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&blocks.stdout),
        String::from_utf8_lossy(&blocks.stderr)
    );
    assert!(
        blocks.status.success() && !report.to_lowercase().contains("error"),
        "promtool: {report}"
    );
    assert!(report.contains("BLOCK ULID"), "{report}");

    let port = free_port();
    std::fs::write(d.join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
    let _prometheus = spawn(
        Command::new("prometheus").args([
            &format!("--config.file={}", d.join("prometheus.yml").display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            "--storage.tsdb.retention.time=100y",
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ]),
        &d.join("prometheus.log"),
    );
    wait_until(Duration::from_secs(60), "Prometheus is ready", || {
        http_get(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });

    // A Monday morning, a Wednesday afternoon, a Sunday evening.
    for t in [
        START_MS + 26 * HOUR_MS,
        START_MS + 3 * 24 * HOUR_MS + 7 * HOUR_MS,
        START_MS + 6 * 24 * HOUR_MS + 11 * HOUR_MS,
    ] {
        let expected = replay_cut(&input, t, d);
        for name in ["support_tickets_created_total", "support_window_ratio"] {
            let want = family(&expected, name);
            assert!(!want.is_empty(), "{name} at {t}: nothing in the cut replay");
            let mut got = queried(port, name, t);
            // A counter born at the next step starts from 0 at this one.
            got.retain(|labels, v| want.contains_key(labels) || *v != 0.0);
            assert_eq!(got, want, "{name} at {t} ms");
        }
    }

    // The last step, at the first hour at or after the last event, is the
    // final picture as --metrics-out writes it.
    let max_ts = input
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["ts"]
                .as_i64()
                .unwrap()
        })
        .max()
        .unwrap();
    let last_ms = (max_ts + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
    let want = family(&final_text, "support_tickets_created_total");
    assert!(!want.is_empty());
    assert_eq!(
        queried(port, "support_tickets_created_total", last_ms),
        want
    );
    // And nothing after it.
    assert!(queried(port, "support_tickets_created_total", last_ms + 10 * 60_000).is_empty());
}

/// The steps of a small input: where they fall, that a line dated far
/// ahead (rejected by the guards) writes no steps up to it, and that a bad
/// `--step` or an output on the input is refused with exit 2.
#[test]
fn steps_fall_on_the_step_from_the_first_event_to_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t0 = START_MS + 20_000; // 08:00:20
    let lines = [
        format!(r#"{{"event_id":"1","type":"ticket.created","ts":{t0},"ticket_id":"T-1","customer_id":"c","queue":"q"}}"#),
        r#"{"event_id":"2","type":"ticket.created","ts":4102444800000,"ticket_id":"T-2","customer_id":"c","queue":"q"}"#.to_string(),
        format!(r#"{{"event_id":"4","type":"ticket.created","ts":{},"ticket_id":"T-4","customer_id":"c","queue":"r"}}"#, t0 + 130_000),
        format!(r#"{{"event_id":"3","type":"ticket.created","ts":{},"ticket_id":"T-3","customer_id":"c","queue":"q"}}"#, t0 + 150_000),
    ];
    let input = d.join("in.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let om = d.join("out.om");
    let out = Command::new(BIN)
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--openmetrics-out")
        .arg(&om)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&om).unwrap();
    let created: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("support_tickets_created_total"))
        .collect();
    // Steps at 08:01, 08:02 (one ticket) and 08:03 (after 08:02:50: two in
    // q, one in r); nothing for the rejected line of 2100.
    let at = |q: &str, s: i64, n: u32| {
        format!(
            "support_tickets_created_total{{channel=\"other\",priority=\"normal\",queue=\"{q}\"}} {n} {}.0",
            (START_MS + s * 60_000) / 1000
        )
    };
    // Queue r's series, born at 08:03 (T-4 at 08:02:30), starts from 0 a
    // step before, so that increase() over the history counts T-4 (queue
    // q's, there from the first step, needs no such sample). Each series'
    // samples are together and in time order (strict OpenMetrics: "Metrics
    // MUST NOT be interleaved"), the series as they first appear.
    assert_eq!(
        created,
        [
            at("q", 1, 1),
            at("q", 2, 1),
            at("q", 3, 2),
            at("r", 2, 0),
            at("r", 3, 1)
        ]
    );
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("frontline_") && !text.contains("process_"));

    for (args, why) in [
        (vec!["--step", "0s"], "at least 1s"),
        (vec!["--step", "fortnight"], "duration"),
    ] {
        let out = Command::new(BIN)
            .args(["replay", "--input"])
            .arg(&input)
            .args(["--openmetrics-out", "x.om"])
            .args(&args)
            .current_dir(d)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{args:?}"
        );
    }
    let out = Command::new(BIN)
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--openmetrics-out")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the input file"));
    assert_eq!(std::fs::read_to_string(&input).unwrap(), lines.join("\n"));
}
