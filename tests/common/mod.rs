//! Helpers shared by the integration test crates (`mod common;`).

// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

pub mod exposition;
#[cfg(feature = "kafka-tests")]
pub mod kafka;
pub mod prom;

use std::io::Write;
use std::process::{Command, Stdio};

/// Lints a Prometheus text exposition with promtool (installed by
/// `scripts/install-tools.sh`). `support_window_seconds` is a gauge with a
/// `quantile` label by SPEC §5.2; promtool's lint notes that and nothing
/// else may be reported.
pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run ./scripts/install-tools.sh (make test does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            *l != "support_window_seconds non-summary metrics should not have \"quantile\" label"
        })
        .collect();
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)) && unexpected.is_empty(),
        "promtool rejected the exposition (exit {:?}):\n{}",
        out.status.code(),
        unexpected.join("\n")
    );
}
