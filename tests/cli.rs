//! The `frontline replay` command as a user runs it: exit codes, outputs,
//! dead letters, and Prometheus text that promtool accepts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::exposition;
use common::prom::free_port;
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

/// Writes `text` to the config file `cfg` and replays [`GOOD`] with it.
fn replay_with_config(cfg: &Path, text: &str) -> Output {
    std::fs::write(cfg, text).unwrap();
    frontline(
        &["replay", "--input", "-", "--config", cfg.to_str().unwrap()],
        Some(GOOD),
    )
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
    let out = replay_with_config(&cfg, "[kpi]\nshort_abandon = \"five seconds\"\n");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`kpi.short_abandon`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing was written to stdout: nothing was consumed.
    assert!(out.stdout.is_empty());

    let out = replay_with_config(&cfg, "[windows]\nsizes = [\"5m\", \"7m\"]\npane = \"2m\"\n");
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

    // `--step` means nothing without `--openmetrics-out`: a forgotten one
    // is said, not a replay that writes no history.
    let out = frontline(&["replay", "--input", "-", "--step", "5m"], Some(GOOD));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--openmetrics-out"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
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

/// Defects: an output whose name nearly fills a file name's 255 bytes was
/// refused ("File name too long", from the temporary name beside it), and
/// a failed write of `--openmetrics-out` named its spool folder (made in
/// `/dev` for `/dev/full`), not the output.
#[test]
fn outputs_with_long_names_are_written_and_a_failed_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let long = |ext: &str| dir.path().join(format!("{}.{ext}", "m".repeat(250)));
    let (prom, om, dlq) = (long("prom"), long("om"), long("dlq"));
    let out = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            prom.to_str().unwrap(),
            "--openmetrics-out",
            om.to_str().unwrap(),
            "--dead-letter",
            dlq.to_str().unwrap(),
        ],
        Some(&format!("{GOOD}{{oops\n")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let prom = std::fs::read_to_string(prom).unwrap();
    assert!(prom.contains("support_tickets_created_total"), "{prom}");
    assert!(std::fs::read_to_string(om).unwrap().ends_with("# EOF\n"));
    assert!(std::fs::read_to_string(dlq)
        .unwrap()
        .contains("invalid_json"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "only the outputs"
    );

    let out = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            "/dev/null",
            "--openmetrics-out",
            "/dev/full",
        ],
        Some(GOOD),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("cannot write /dev/full: No space left"),
        "{err}"
    );
    assert!(!err.contains("spool"), "{err}");
}

/// Defect: with `--log-format json` a replay's summary and the error a
/// command stopped on were plain text among the JSON log lines, which a
/// collector reading stderr cannot parse.
#[test]
fn json_logs_make_every_line_of_stderr_json() {
    let json = |o: &Output| -> Vec<serde_json::Value> {
        let err = stderr(o);
        assert!(!err.is_empty());
        err.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    };
    let message = |v: &serde_json::Value| v["fields"]["message"].as_str().unwrap_or("").to_string();
    let input = format!("{GOOD}{{oops\n");
    let args = [
        "--log-format",
        "json",
        "replay",
        "--input",
        "-",
        "--metrics-out",
        "/dev/null",
    ];
    let out = frontline(&args, Some(&input));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json(&out);
    assert!(
        lines.iter().any(|v| v["level"] == "INFO"
            && message(v) == "replay: 3 lines, 2 events, 1 bad lines (invalid_json: 1)"),
        "{lines:?}"
    );
    let out = frontline(
        &[
            "--log-format",
            "json",
            "replay",
            "--input",
            "/nonexistent/e.jsonl",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let lines = json(&out);
    assert!(
        lines.iter().any(|v| v["level"] == "ERROR"
            && message(v).starts_with("frontline: cannot read input /nonexistent/e.jsonl")),
        "{lines:?}"
    );
    // Without it, the same lines as text.
    let out = frontline(&args[2..], Some(&input));
    assert!(stderr(&out).contains("replay: 3 lines, 2 events, 1 bad lines (invalid_json: 1)\n"));
    // A command line that cannot be read (defect: printed as text before
    // the logs were set up), asked for JSON by flag or by the environment.
    for (json_args, env) in [
        (&["--log-format", "json"][..], None),
        (&["--log-format=json"][..], None),
        (&[][..], Some("json")),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontline"));
        cmd.args(json_args)
            .args(["replay", "--input", "-", "--step", "5m"]);
        if let Some(v) = env {
            cmd.env("FRONTLINE_LOG_FORMAT", v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let lines = json(&out);
        assert!(
            lines.len() == 1
                && lines[0]["level"] == "ERROR"
                && message(&lines[0]).contains("--openmetrics-out"),
            "{lines:?}"
        );
    }
    // `--help` is still help, on stdout.
    let out = frontline(&["--log-format", "json", "replay", "--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: frontline replay"));
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
    exposition::sum(text, family).unwrap_or(0.0)
}

/// `frontline run --embedded` (its own broker and simulator) serving on
/// `port`, logging at INFO to `stderr`.
fn run_embedded(port: u16, stderr: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args([
            "run",
            "--embedded",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("KAFKA_BROKERS")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
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
    let mut child = run_embedded(port, Stdio::null());
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

/// A day of simulated events with SLA breaches (INFO log lines) to replay.
fn simulated_day(dir: &Path) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["simulate", "--duration", "6h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let p = dir.join("day.jsonl");
    std::fs::write(&p, &out.stdout).unwrap();
    p
}

fn sla_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("sla.toml");
    std::fs::write(
        &p,
        "[[sla.policies]]\nname = \"all\"\nfirst_response = \"1m\"\nanswer = \"5s\"\n",
    )
    .unwrap();
    p
}

/// Defect: a broken stderr (`2>&1 | head -1`: the reader is gone, writes
/// fail with EPIPE) made `replay` panic with exit 101 and an empty metrics
/// file. Now every line is dropped and counted; the metrics are complete.
#[test]
fn replay_with_a_closed_stderr_pipe_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_day(dir.path());
    let prom = dir.path().join("out.prom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(sla_config(dir.path()))
        .arg("--metrics-out")
        .arg(&prom)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader goes away at once
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(exposition::sum(&text, "support_contacts_total").unwrap_or(0.0) > 0.0);
    // At least the summary line and some breach lines were dropped.
    let dropped = exposition::sum(&text, "frontline_stderr_write_errors_total").unwrap();
    assert!(dropped >= 2.0, "{dropped}");
    promtool_check(&text);
}

/// Defect: `2>/dev/full` (every write to stderr fails with ENOSPC) made
/// `replay` panic with exit 101.
#[test]
fn replay_with_stderr_on_a_full_disk_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_day(dir.path());
    let prom = dir.path().join("out.prom");
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(sla_config(dir.path()))
        .arg("--metrics-out")
        .arg(&prom)
        .stderr(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(exposition::sum(&text, "frontline_stderr_write_errors_total").unwrap() >= 1.0);
    assert!(text.contains("support_contacts_total"));
}

/// Defect: `frontline run ... 2>&1 >/dev/null | head -1` aborted (134)
/// once its log reader went away. Now it keeps serving and counts the
/// dropped lines; SIGTERM still stops it cleanly.
#[test]
fn run_with_a_closed_stderr_pipe_keeps_serving() {
    let port = free_port();
    let mut child = run_embedded(port, Stdio::piped());
    drop(child.stderr.take());
    let start = std::time::Instant::now();
    let mut dropped = 0.0;
    while start.elapsed() < std::time::Duration::from_secs(45) {
        if let Some(m) = http_get(port, "/metrics") {
            dropped = exposition::sum(&m, "frontline_stderr_write_errors_total").unwrap_or(0.0);
            if dropped > 0.0 {
                break;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("frontline run exited: {status:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(dropped > 0.0, "no dropped stderr write counted");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

fn replay_paths(args: &[&Path], flags: &[&str]) -> Output {
    let mut all: Vec<String> = vec!["replay".into()];
    for (f, p) in flags.iter().zip(args) {
        all.push(f.to_string());
        all.push(p.to_str().unwrap().to_string());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    frontline(&refs, Some(GOOD))
}

/// Defect: `--metrics-out` naming the input (by the same path, another
/// path, or a hard link) replaced the input with the exposition, exit 0.
#[test]
fn metrics_out_that_is_the_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, GOOD).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let other_path = sub.join("..").join("in.jsonl");
    let link = dir.path().join("link.jsonl");
    std::fs::hard_link(&input, &link).unwrap();
    for (flag, out) in [
        ("--metrics-out", &input),
        ("--metrics-out", &other_path),
        ("--metrics-out", &link),
        ("--dead-letter", &link),
    ] {
        let o = replay_paths(&[&input, out], &["--input", flag]);
        assert_eq!(o.status.code(), Some(2), "{flag} {}", out.display());
        let err = stderr(&o);
        assert!(err.contains("is the input file"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), GOOD);
    }
    // `--input -` with stdin redirected from the file is caught too.
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["replay", "--input", "-", "--metrics-out"])
        .arg(&link)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&input).unwrap(), GOOD);
}

/// Defect: `--metrics-out X --dead-letter X` interleaved both into one
/// invalid file, and `--dead-letter -` mixed dead letters into the metrics
/// on stdout, exit 0.
#[test]
fn two_outputs_on_one_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.out");
    let same = dir.path().join(".").join("x.out");
    let o = replay_paths(
        &[Path::new("-"), &x, &same],
        &["--input", "--metrics-out", "--dead-letter"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("are the same file"), "{}", stderr(&o));
    assert!(!x.exists());

    for args in [
        &["replay", "--input", "-", "--dead-letter", "-"][..],
        &[
            "replay",
            "--input",
            "-",
            "--dead-letter",
            "-",
            "--metrics-out",
            "-",
        ][..],
    ] {
        let o = frontline(args, Some(GOOD));
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("stdout"), "{}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1);
        assert!(o.stdout.is_empty());
    }
    // A shared device is fine, and is written in place, not replaced.
    let o = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            "/dev/null",
            "--dead-letter",
            "/dev/null",
        ],
        Some("{oops\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

/// Defect: outputs were truncated when the run started, so a run that
/// failed (here: the input cannot be read) left empty files in place of
/// the previous results. Now they are written beside and renamed at the end.
#[test]
fn a_failed_replay_leaves_previous_outputs_whole() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("out.prom");
    let dlq = dir.path().join("bad.jsonl");
    std::fs::write(&prom, "previous metrics\n").unwrap();
    std::fs::write(&dlq, "previous dead letters\n").unwrap();
    // A directory opens but cannot be read.
    let input = dir.path().join("input-dir");
    std::fs::create_dir(&input).unwrap();
    let o = replay_paths(
        &[&input, &prom, &dlq],
        &["--input", "--metrics-out", "--dead-letter"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read input"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&prom).unwrap(),
        "previous metrics\n"
    );
    assert_eq!(
        std::fs::read_to_string(&dlq).unwrap(),
        "previous dead letters\n"
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["bad.jsonl", "input-dir", "out.prom"]);

    // A run that succeeds replaces them, keeping their mode.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prom, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            prom.to_str().unwrap(),
        ],
        Some(GOOD),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&prom)
        .unwrap()
        .contains("support_tickets_created_total"));
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

/// Defect: the dead-letter `raw` of an oversize line was cut at the size
/// limit without a mark; now it says so and gives the line's size.
#[test]
fn an_oversize_dead_letter_is_marked_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let dlq = dir.path().join("bad.jsonl");
    let big = format!("{{\"event_id\":\"x\",\"pad\":\"{}é\"}}", "a".repeat(70_000));
    let o = frontline(
        &[
            "replay",
            "--input",
            "-",
            "--metrics-out",
            "/dev/null",
            "--dead-letter",
            dlq.to_str().unwrap(),
        ],
        Some(&format!("{big}\n{{oops\n")),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["reason"], "too_large");
    assert_eq!(lines[0]["truncated"], true);
    assert_eq!(lines[0]["size"], big.len());
    assert_eq!(lines[0]["raw"].as_str().unwrap().len(), 65_536);
    assert!(big.starts_with(lines[0]["raw"].as_str().unwrap()));
    // A line within the limit is whole and carries no mark.
    assert_eq!(lines[1]["raw"], "{oops");
    assert!(lines[1].get("truncated").is_none());
}

/// Defects: a line's surrounding form feeds were trimmed as whitespace, so
/// replay took a message JSON does not (and a line of one form feed was
/// skipped as blank); a dead letter's `raw` was the line trimmed, and a
/// character the line left unfinished at its end was dropped from it,
/// with no `raw_base64`. Whitespace is JSON's (space, tab, CR, LF), and a
/// dead letter holds the line as it was, without its line ending, with
/// either number of threads.
#[test]
fn a_dead_letter_holds_the_line_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let event = |id: &str| {
        format!(
            r#"{{"event_id":"{id}","type":"ticket.created","ts":"2026-11-16T09:00:00Z","ticket_id":"T{id}","customer_id":"C1"}}"#
        )
    };
    let mut input: Vec<u8> = Vec::new();
    let lines: [Vec<u8>; 7] = [
        format!(" \t{} \t", event("1")).into_bytes(),
        format!("\x0c{}\x0c", event("2")).into_bytes(),
        b"  {oops  \t".to_vec(),
        [event("3").as_bytes(), b"\xc3"].concat(),
        b"\x0c".to_vec(),
        b"   ".to_vec(),
        b" {oops} \r".to_vec(),
    ];
    for l in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, &input).unwrap();
    for threads in ["1", "2"] {
        let dlq = dir.path().join(format!("bad{threads}.jsonl"));
        let prom = dir.path().join(format!("out{threads}.prom"));
        let o = frontline(
            &[
                "replay",
                "--threads",
                threads,
                "--input",
                path.to_str().unwrap(),
                "--metrics-out",
                prom.to_str().unwrap(),
                "--dead-letter",
                dlq.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let numbers: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [2, 3, 4, 5, 7], "threads {threads}: {dead:?}");
        assert!(
            dead.iter().all(|d| d["reason"] == "invalid_json"),
            "{dead:?}"
        );
        assert_eq!(dead[0]["raw"], format!("\u{c}{}\u{c}", event("2")));
        assert_eq!(dead[1]["raw"], "  {oops  \t");
        // Not UTF-8: every byte is in `raw_base64`, the unfinished one too.
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(dead[2]["raw_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes, lines[3]);
        assert_eq!(dead[3]["raw"], "\u{c}");
        // A CRLF ending is the line's ending, not its content.
        assert_eq!(dead[4]["raw"], " {oops} ");
        let text = std::fs::read_to_string(&prom).unwrap();
        assert!(
            text.contains("support_tickets_created_total{channel=\"other\",priority=\"normal\",queue=\"unknown\"} 1\n"),
            "only the first line is an event: {text}"
        );
        assert!(
            stderr(&o).contains("replay: 6 lines, 1 events, 5 bad lines (invalid_json: 5)"),
            "{}",
            stderr(&o)
        );
    }
}

/// Defect: `kpi.acw_timeout = "106751991167d"` (and other absurd durations
/// and counts) were accepted and changed results.
#[test]
fn out_of_range_config_values_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    for (text, key) in [
        (
            "[kpi]\nacw_timeout = \"106751991167d\"\n",
            "`kpi.acw_timeout`",
        ),
        (
            "[time]\nallowed_lateness = \"30d\"\n",
            "`time.allowed_lateness`",
        ),
        (
            "[limits]\nmax_event_bytes = 1000000000\n",
            "`limits.max_event_bytes`",
        ),
        ("[labels]\nmax_queues = 70000\n", "`labels.max_queues`"),
    ] {
        let o = replay_with_config(&cfg, text);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let err = stderr(&o);
        assert!(err.contains(key), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// Defect: a queue allow list longer than the label id space (16 bits)
/// silently mislabelled queues (`q65534` as `unknown`, `q69999` as `q4463`).
#[test]
fn an_allow_list_past_the_label_id_space_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    let list: Vec<String> = (0..70_000).map(|i| format!("\"q{i}\"")).collect();
    let o = replay_with_config(
        &cfg,
        &format!("[labels]\nqueue_allow_list = [{}]\n", list.join(",")),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`labels.queue_allow_list`"),
        "{}",
        stderr(&o)
    );
}

/// Defect: a malformed TOML file gave a two-line error without the file.
#[test]
fn a_malformed_config_is_one_line_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    let o = replay_with_config(
        &cfg,
        "[time]\nallowed_lateness = \"5m\"\n[kpi\nacw_timeout = \"1m\"\n",
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{}:3:", cfg.display())), "{err}");
}

/// Defect: `frontline run` exited 1 (not 2) when its listen port was in
/// use, and accepted an empty `--brokers`.
#[test]
fn run_start_up_failures_exit_2_with_one_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["run", "--brokers", "127.0.0.1:1", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    for brokers in ["", " "] {
        let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["run", "--brokers", brokers, "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("--brokers"), "{}", stderr(&o));
    }

    // A librdkafka property it does not know is a bad config.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    std::fs::write(&cfg, "[kafka]\n\"no.such.property\" = \"1\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["run", "--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no.such.property"), "{}", stderr(&o));
    // Defect: a property librdkafka refused was found after the listener
    // was bound, its "serving metrics" line printed before the error.
    // Likewise a value librdkafka refuses, and an empty group id.
    for set in [
        "kafka.no.such.property=1",
        "kafka.session.timeout.ms=abc",
        "kafka.group.id=",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["run", "--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0"])
            .args(["--set", set])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{set}: {err}");
        let key = set
            .split_once('=')
            .unwrap()
            .0
            .strip_prefix("kafka.")
            .unwrap();
        assert!(err.contains(&format!("`kafka.\"{key}\"`")), "{set}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{set}: {err}");
    }
}

/// Defect: an output file its user may not write (mode 0444, say) was
/// replaced all the same, by the rename a replay writes through; a shell's
/// `>` refuses it. Now it is an unwritable output: exit 2, the file as it
/// was. (Run as an unprivileged user when the tests run as root, for whom
/// every file is writable.)
#[test]
fn an_output_its_user_may_not_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(dir.path(), 0o777).unwrap();
    // A copy of the binary the unprivileged user can run.
    let exe = dir.path().join("frontline");
    std::fs::copy(env!("CARGO_BIN_EXE_frontline"), &exe).unwrap();
    mode(&exe, 0o755).unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, GOOD).unwrap();
    mode(&input, 0o644).unwrap();
    let out = dir.path().join("out.prom");
    std::fs::write(&out, "previous\n").unwrap();
    mode(&out, 0o444).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args(["replay", "--input"])
        .arg(&input)
        .arg("--metrics-out")
        .arg(&out);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("out.prom") && err.contains("ermission denied"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous\n");
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".out.prom"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Defect: `simulate` took a negative or NaN `--speed` or `--rate`, a
/// `--start` before 1970 (whose events every reader refuses), an empty
/// `--brokers` (`,`) and a topic Kafka refuses, and failed later or never.
/// Each is refused with exit 2 before anything is produced.
#[test]
fn simulate_refuses_bad_arguments() {
    for args in [
        &["--speed=-1"][..],
        &["--speed", "nan"],
        &["--rate=-1"],
        &["--rate", "inf"],
        &["--start", "now-1000000d"],
        &["--start", "1969-12-31T23:59:59Z"],
        &["--brokers", " , ", "--topic", "t"],
        &["--brokers", "127.0.0.1:1", "--topic", "bad topic"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["simulate", "--duration", "1m"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}: nothing is written");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["run", "--brokers", " , ", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--brokers"), "{}", stderr(&o));
}

/// Defect: `run --simulate-for` without `--embedded` was taken and did
/// nothing. It is an argument error (exit 2) naming `--embedded`.
#[test]
fn simulate_for_needs_the_embedded_demo() {
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["run", "--simulate-for", "3h", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--embedded"), "{}", stderr(&o));
}

/// Defect: a variable of the environment that is not UTF-8, even one that
/// is not frontline's, panicked both commands (exit 101). Now one that is
/// not frontline's is left out, and one of frontline's is a bad config.
#[test]
fn a_variable_that_is_not_utf8_is_left_out_or_named() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["replay", "--input", "-", "--metrics-out", "/dev/null"])
        .env("SOME_UNRELATED", latin1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for cmd in [
        &["replay", "--input", "-", "--metrics-out", "/dev/null"][..],
        &["run", "--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0"][..],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(cmd)
            .env("FRONTLINE_KAFKA__SASL_PASSWORD", latin1)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains(
                "environment variable FRONTLINE_KAFKA__SASL_PASSWORD: its value is not UTF-8"
            ),
            "{cmd:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{cmd:?}: {err}");
    }
}

/// `replay --sla-events-out`: the SLA event stream as JSON lines, the same
/// schema as the Kafka topic (docs/sla.md).
#[test]
fn replay_writes_sla_events_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    std::fs::write(
        &cfg,
        "[[sla.policies]]\nname = \"chat\"\nfirst_response = \"30m\"\n",
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    // T1 (line 1) is answered after 1 min (line 2); T2 (line 3) is not
    // answered: the last line (4) moves the clock past its deadline,
    // 09:40 + 30 min, at risk from 09:40 + 24 min (warn_fraction 0.8).
    let text = format!(
        "{GOOD}{}\n{}\n",
        r#"{"event_id":"3","type":"ticket.created","ts":"2026-11-16T09:40:00Z","ticket_id":"T2","customer_id":"C2"}"#,
        r#"{"event_id":"4","type":"survey.ces","ts":"2026-11-16T11:00:00Z","score":3}"#
    );
    std::fs::write(&input, text).unwrap();
    let events = dir.path().join("sla.jsonl");
    let o = frontline(
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--metrics-out",
            "/dev/null",
            "--sla-events-out",
            events.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, String, String, String, u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["ticket_id"].as_str().unwrap().into(),
                r["at"].as_str().unwrap().into(),
                r["due"].as_str().unwrap().into(),
                r["source"]["line"].as_u64().unwrap(),
                r["source"]["cause"].as_str().unwrap().into(),
            )
        })
        .collect();
    let row = |k: &str, t: &str, at: &str, due: &str, line: u64, cause: &str| {
        (
            k.to_string(),
            t.to_string(),
            format!("2026-11-16T{at}Z"),
            format!("2026-11-16T{due}Z"),
            line,
            cause.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            row("applied", "T1", "09:00:00", "09:30:00", 1, "event"),
            row("achieved", "T1", "09:01:00", "09:30:00", 2, "event"),
            row("applied", "T2", "09:40:00", "10:10:00", 3, "event"),
            row("at_risk", "T2", "10:04:00", "10:10:00", 4, "timer"),
            row("breached", "T2", "10:10:00", "10:10:00", 4, "timer"),
        ]
    );
    assert!(rows.iter().all(|r| r["schema_version"] == 1
        && r["policy"] == "chat"
        && r["clock"] == "first_response"
        && r["target_seconds"] == 1800
        && r["source"]["file"] == input.to_str().unwrap()));
    // Only the at-risk change finds T2's clock at risk; its breach ends that.
    let at_risk: Vec<bool> = rows.iter().map(|r| r["at_risk"] == true).collect();
    assert_eq!(at_risk, [false, false, false, true, false]);
    // A third output on the metrics' file is refused like the others.
    let o = frontline(
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--metrics-out",
            events.to_str().unwrap(),
            "--sla-events-out",
            events.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("are the same file"), "{}", stderr(&o));
}

/// `replay --threads 2` (read and decode on one thread, apply on another)
/// writes what `--threads 1` writes: the same metrics, dead letters with the
/// same line numbers and the same SLA event stream, over an input of many
/// hand-off batches with bad, blank, oversize, future-dated and too old
/// lines and duplicates at known places (the guards and the dedup memory
/// run on the reading thread with two).
#[test]
fn replay_threads_1_and_2_write_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["simulate", "--duration", "1d"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let day = String::from_utf8(out.stdout).unwrap();
    let cfg = dir.path().join("f.toml");
    std::fs::write(
        &cfg,
        "[limits]\nmax_event_bytes = 1024\n[[sla.policies]]\nname = \"all\"\nfirst_response = \"1m\"\nanswer = \"5s\"\n",
    )
    .unwrap();
    let big = format!("{{\"event_id\":\"big\",\"pad\":\"{}\"}}", "a".repeat(5000));
    let future = r#"{"event_id":"f","type":"survey.nps","ts":"2999-01-01T00:00:00Z","score":3,"customer_id":"C"}"#;
    let old = r#"{"event_id":"o","type":"survey.nps","ts":"2000-01-01T00:00:00Z","score":3,"customer_id":"C"}"#;
    let mut lines: Vec<&str> = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in day.lines().enumerate() {
        lines.push(line);
        let extra = match i % 997 {
            3 => Some(("{oops", true)),
            5 => Some(("   ", false)),
            7 => Some(("", false)),
            11 => Some((big.as_str(), true)),
            13 => Some((future, true)),
            17 => Some((line, false)),
            19 => Some((old, true)),
            _ => None,
        };
        if let Some((s, is_bad)) = extra {
            lines.push(s);
            if is_bad {
                bad.push(lines.len() as u64);
            }
        }
    }
    let text = lines.join("\n") + "\n";
    assert!(day.lines().count() > 3 * 2048, "several hand-off batches");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, &text).unwrap();
    let run = |threads: &str| {
        let m = dir.path().join(format!("m{threads}.prom"));
        let d = dir.path().join(format!("d{threads}.jsonl"));
        let s = dir.path().join(format!("s{threads}.jsonl"));
        let o = frontline(
            &[
                "replay",
                "--threads",
                threads,
                "--input",
                input.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "--metrics-out",
                m.to_str().unwrap(),
                "--dead-letter",
                d.to_str().unwrap(),
                "--sla-events-out",
                s.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        // The batch timings differ from run to run; nothing else may.
        let metrics: Vec<String> = read(&m)
            .lines()
            .filter(|l| !l.contains("frontline_batch_seconds"))
            .map(String::from)
            .collect();
        // A future timestamp's message says how far ahead of the wall
        // clock it is, which moves between runs.
        let dead: Vec<serde_json::Value> = read(&d)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if v["reason"] == "future_timestamp" {
                    v["error"] = "(wall-clock dependent)".into();
                }
                v
            })
            .collect();
        // The breach log on stderr is rate-limited by wall time; the
        // summary line is not.
        let summary: Vec<String> = stderr(&o)
            .lines()
            .filter(|l| l.starts_with("replay:"))
            .map(String::from)
            .collect();
        assert_eq!(summary.len(), 1, "{}", stderr(&o));
        (metrics, dead, read(&s), summary)
    };
    let one = run("1");
    let two = run("2");
    assert_eq!(one.0, two.0, "metrics");
    assert_eq!(one.1, two.1, "dead letters");
    assert_eq!(one.2, two.2, "SLA events");
    assert_eq!(one.3, two.3, "summary");
    let lines: Vec<u64> = two.1.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, bad);
    assert!(two.2.lines().count() > 100, "SLA events written");
    assert!(
        two.1.iter().any(|v| v["reason"] == "too_old"),
        "too old lines refused"
    );
    let dups = two
        .0
        .iter()
        .find(|l| l.starts_with("frontline_duplicate_events"))
        .expect("the duplicates counter");
    assert!(!dups.ends_with(" 0"), "duplicates counted: {dups}");
}

/// A status change dated before a step it arrives after (8 min behind the
/// clock, within the 10 min lateness): the steps of `--openmetrics-out`
/// export the open interval, and the counters keep that time with the old
/// status, but the utilization windows give it to the new status from its
/// `ts`, as a replay with no steps does (docs/metrics.md, "Agent time that
/// has been exported is not taken back").
#[test]
fn steps_leave_the_utilization_windows_as_a_replay_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("agents.jsonl");
    let line = |id: u32, ts: &str, body: &str| {
        format!(r#"{{"event_id":"e{id}","ts":"2026-11-16T{ts}Z",{body}}}"#)
    };
    let status = |s: &str| {
        format!(r#""type":"agent.status_changed","agent_id":"A1","status":"{s}","queue":"q""#)
    };
    let survey = r#""type":"survey.ces","score":2"#;
    // The step at 09:15 is written before 09:16 is applied, at the clock
    // of 09:14; the change dated 09:12 arrives after it.
    let lines = [
        line(1, "09:00:00", &status("available")),
        line(2, "09:14:00", survey),
        line(3, "09:16:00", survey),
        line(4, "09:12:00", &status("busy")),
        line(5, "09:30:00", survey),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let replay = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["replay", "--input", input.to_str().unwrap()];
        args.extend_from_slice(&["--metrics-out", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let o = frontline(&args, None);
        assert!(o.status.success(), "{}", stderr(&o));
        exposition::values(&std::fs::read_to_string(out).unwrap())
    };
    let om = dir.path().join("steps.om");
    let stepped = replay(
        &["--step", "5m", "--openmetrics-out", om.to_str().unwrap()],
        "a.prom",
    );
    let plain = replay(&[], "b.prom");
    let ratio = r#"support_window_ratio{kpi="utilization",window="1h"}"#;
    // Busy 09:12–09:30 of 09:00–09:30, with or without the steps.
    assert_eq!(plain[ratio], 0.6);
    assert_eq!(stepped[ratio], 0.6);
    let secs = |m: &std::collections::BTreeMap<String, f64>, s: &str| {
        m[&format!(r#"support_agent_status_seconds_total{{queue="q",status="{s}"}}"#)]
    };
    assert_eq!(
        (secs(&plain, "available"), secs(&plain, "busy")),
        (720.0, 1080.0)
    );
    // The step exported available up to 09:14: it stays there.
    assert_eq!(
        (secs(&stepped, "available"), secs(&stepped, "busy")),
        (840.0, 960.0)
    );
}

/// SIGHUP, which Prometheus's servers take as "reload", is logged and
/// changes nothing: the process serves on and stops on SIGTERM with 0
/// (SIGHUP's default action ended it at once, with no last checkpoint).
#[test]
fn run_logs_sighup_and_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = run_embedded(port, std::fs::File::create(&log).unwrap().into());
    let wait_for = |what: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(45) && !what() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        what()
    };
    assert!(
        wait_for(&|| http_get(port, "/healthz").is_some()),
        "never served"
    );
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    signal("-HUP");
    let logged = || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("SIGHUP ignored")
    };
    assert!(
        wait_for(&logged),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the process"
    );
    assert!(http_get(port, "/healthz").is_some());
    signal("-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Defect: a replay stopped by a signal left its outputs' temporary files
/// and the backfill's spool directory behind (a spool of a large backfill
/// is gigabytes). Stopped by SIGTERM, SIGINT or SIGHUP while it reads, it
/// removes them, leaves the destinations as they were, and exits with 128
/// + the signal's number.
#[test]
fn a_replay_stopped_by_a_signal_leaves_nothing_behind() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        std::fs::write(at("old.prom"), "# the file before\n").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["replay", "--input", "-", "--metrics-out", &at("old.prom")])
            .args([
                "--openmetrics-out",
                &at("om.txt"),
                "--dead-letter",
                &at("dl.jsonl"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The input stays open: the replay is still reading when stopped.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(GOOD.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let names = || -> Vec<String> {
            let mut n: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        // Every output's temporary file, and the spool, made.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while names().iter().filter(|n| n.starts_with('.')).count() < 4 {
            assert!(std::time::Instant::now() < deadline, "{:?}", names());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{signal}: {}", stderr(&out));
        assert_eq!(names(), ["old.prom"], "{signal}");
        assert_eq!(
            std::fs::read_to_string(at("old.prom")).unwrap(),
            "# the file before\n"
        );
        drop(stdin);
    }
}

/// A backfill whose input has a quiet gap of a week of steps or more
/// (a stray event dated years before the others makes millions) says so
/// on stderr, with the gap's ends; a shorter one does not.
#[test]
fn a_backfill_names_a_long_gap_without_events() {
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("om.txt");
    let created = |id: u32, ts: &str| {
        format!(
            "{{\"event_id\":\"e{id}\",\"type\":\"ticket.created\",\"ts\":\"{ts}\",\"ticket_id\":\"T{id}\",\"customer_id\":\"C\"}}\n"
        )
    };
    let run = |second: &str| {
        let input = created(1, "2026-01-01T00:00:00Z") + &created(2, second);
        frontline(
            &[
                "replay",
                "--input",
                "-",
                "--metrics-out",
                "/dev/null",
                "--openmetrics-out",
                om.to_str().unwrap(),
            ],
            Some(&input),
        )
    };
    let long = run("2026-01-08T00:00:00Z");
    assert_eq!(long.status.code(), Some(0));
    assert!(
        stderr(&long).contains("backfill: a gap without events")
            && stderr(&long).contains("steps=10080")
            && stderr(&long).contains("from=2026-01-01T00:00:00Z to=2026-01-08T00:00:00Z"),
        "{}",
        stderr(&long)
    );
    let short = run("2026-01-07T00:00:00Z");
    assert_eq!(short.status.code(), Some(0));
    assert!(!stderr(&short).contains("gap"), "{}", stderr(&short));
}
