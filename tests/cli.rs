//! The `frontline replay` command as a user runs it: exit codes, outputs,
//! dead letters, and Prometheus text that promtool accepts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::promtool_check;

fn frontline(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontline"));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn frontline");
    if let Some(input) = stdin {
        // The process may exit before reading (a bad config): a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    child.wait_with_output().expect("wait frontline")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &str = r#"{"event_id":"1","type":"ticket.created","ts":"2026-11-16T09:00:00Z","ticket_id":"T1","customer_id":"C1","channel":"chat","queue":"weird \"queue\"\\name"}
{"event_id":"2","type":"ticket.agent_replied","ts":"2026-11-16T09:01:00Z","ticket_id":"T1","agent_id":"A1"}
"#;

#[test]
fn replay_reads_stdin_and_writes_stdout() {
    let input = format!("{GOOD}\n   \n{{oops\n");
    let out = frontline(
        &["replay", "--input", "-", "--metrics-out", "-"],
        Some(&input),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains(
        "support_first_response_seconds_sum{channel=\"chat\",priority=\"normal\",queue=\"weird \\\"queue\\\"\\\\name\"} 60.0"
    ), "{text}");
    assert!(text.contains("frontline_decode_errors_total{reason=\"invalid_json\"} 1"));
    // Blank lines are skipped, the bad line is summarised.
    assert!(
        stderr(&out).contains("replay: 3 lines, 2 events, 1 bad lines (invalid_json: 1)"),
        "{}",
        stderr(&out)
    );
    promtool_check(&text);
}

#[test]
fn dead_letters_name_their_reason_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let dlq = dir.path().join("bad.jsonl");
    let prom = dir.path().join("out.prom");
    let big = format!(r#"{{"event_id":"x","pad":"{}"}}"#, "a".repeat(70_000));
    std::fs::write(
        &input,
        format!("{GOOD}{{\"event_id\":\"3\",\"type\":\"survey.nps\",\"ts\":1,\"score\":11,\"customer_id\":\"c\"}}\n{big}\nnull\n"),
    )
    .unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let out = frontline(
        &[
            "replay",
            "--input",
            &p(&input),
            "--metrics-out",
            &p(&prom),
            "--dead-letter",
            &p(&dlq),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["reason"], "out_of_range");
    assert_eq!(lines[0]["line"], 3);
    assert!(lines[0]["error"].as_str().unwrap().contains("score"));
    assert_eq!(lines[1]["reason"], "too_large");
    assert_eq!(lines[2]["reason"], "invalid_json");
    assert_eq!(lines[2]["raw"], "null");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("frontline_dead_letters_total 3"), "{text}");
    assert!(text.contains("frontline_decode_errors_total{reason=\"too_large\"} 1"));
    promtool_check(&text);
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    std::fs::write(&cfg, "[kpi]\nshort_abandon = \"five seconds\"\n").unwrap();
    let out = frontline(
        &["replay", "--input", "-", "--config", cfg.to_str().unwrap()],
        Some(GOOD),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`kpi.short_abandon`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing was written to stdout: nothing was consumed.
    assert!(out.stdout.is_empty());

    std::fs::write(&cfg, "[windows]\nsizes = [\"5m\", \"7m\"]\npane = \"2m\"\n").unwrap();
    let out = frontline(
        &["replay", "--input", "-", "--config", cfg.to_str().unwrap()],
        Some(GOOD),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`windows.sizes[0]`"),
        "{}",
        stderr(&out)
    );

    let out = frontline(
        &["replay", "--input", "-", "--config", "/nonexistent/f.toml"],
        Some(GOOD),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/f.toml"));
}

#[test]
fn unreadable_input_and_unwritable_output_exit_2() {
    let out = frontline(&["replay", "--input", "/nonexistent/events.jsonl"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read input /nonexistent/events.jsonl"),
        "{}",
        stderr(&out)
    );

    let out = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            "/nonexistent/dir/out.prom",
        ],
        Some(GOOD),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot write /nonexistent/dir/out.prom"),
        "{}",
        stderr(&out)
    );
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_get_with(port, path, "")
}

fn http_get_with(port: u16, path: &str, headers: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{headers}\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn family_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(family))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `make run`: the embedded broker, the simulator and the consumer in one
/// process; /metrics shows tickets and calls within a minute.
#[test]
fn embedded_demo_serves_live_metrics() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args([
            "run",
            "--embedded",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("KAFKA_BROKERS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut seen = (0.0, 0.0);
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(m) = http_get(port, "/metrics") {
            seen = (
                family_sum(&m, "support_tickets_created_total"),
                family_sum(&m, "support_calls_offered_total"),
            );
            if seen.0 > 0.0 && seen.1 > 0.0 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // A scraper that asks for OpenMetrics gets it, with exemplars on buckets.
    let om = http_get_with(
        port,
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    )
    .unwrap_or_default();
    let plain = http_get(port, "/metrics").unwrap_or_default();
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = child.wait().unwrap();
    assert!(
        seen.0 > 0.0 && seen.1 > 0.0,
        "after 60 s: tickets {}, calls {}",
        seen.0,
        seen.1
    );
    assert!(om.trim_end().ends_with("# EOF"), "not OpenMetrics");
    assert!(
        om.contains("_bucket{")
            && (om.contains(" # {call_id=\"") || om.contains(" # {ticket_id=\"")),
        "no exemplar"
    );
    assert!(!plain.contains("# EOF") && !plain.contains(" # {"));
    promtool_check(&plain);
    assert!(status.success(), "{status:?}");
}
