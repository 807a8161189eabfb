//! The standard `process_*` metrics, read from `/proc` (Linux); absent elsewhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::metrics::{Snapshot, Value};
use crate::names;

fn clock_ticks() -> f64 {
    // The kernel's USER_HZ is 100 on every Linux architecture frontline targets.
    100.0
}

fn page_size() -> u64 {
    4096
}

/// Why the HTTP server turned a connection or request away
/// (`frontline_http_refused_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `http.max_connections` were open.
    Connections,
    /// `http.max_concurrent_scrapes` scrapes were being answered.
    Scrapes,
    /// `http.max_concurrent_scrapes` live-page summaries were being answered.
    Summaries,
    /// Too many bcrypt checks at once.
    PasswordChecks,
    /// Missing or wrong basic-auth credentials.
    Unauthorized,
    /// A request body over `http.max_body_bytes`.
    TooLarge,
    /// No (or a failed) TLS handshake, or plain HTTP on the TLS port.
    Tls,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::Connections,
        Refusal::Scrapes,
        Refusal::Summaries,
        Refusal::PasswordChecks,
        Refusal::Unauthorized,
        Refusal::TooLarge,
        Refusal::Tls,
    ];
    fn label(self) -> &'static str {
        match self {
            Refusal::Connections => "connections",
            Refusal::Scrapes => "scrapes",
            Refusal::Summaries => "summaries",
            Refusal::PasswordChecks => "password_checks",
            Refusal::Unauthorized => "unauthorized",
            Refusal::TooLarge => "too_large",
            Refusal::Tls => "tls",
        }
    }
}

static REFUSED: [AtomicU64; Refusal::ALL.len()] = [const { AtomicU64::new(0) }; Refusal::ALL.len()];

/// Counts one refusal.
pub fn refused(why: Refusal) {
    REFUSED[why as usize].fetch_add(1, Ordering::Relaxed);
}

/// Adds frontline_http_refused_total{reason} (every reason, zeros included).
pub fn add_http_metrics(out: &mut Snapshot) {
    let mut f = out.family(names::HTTP_REFUSED);
    for r in Refusal::ALL {
        f.push(
            vec![("reason", std::borrow::Cow::Borrowed(r.label()))],
            Value::Int(REFUSED[r as usize].load(Ordering::Relaxed)),
        );
    }
}

/// Adds frontline_stderr_write_errors_total, frontline_dead_letter_write_errors_total,
/// process_cpu_seconds_total, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds and
/// process_start_time_seconds.
pub fn add_process_metrics(out: &mut Snapshot, _started: Option<Instant>) {
    crate::stderr::add_metric(out);
    crate::kafka_log::add_metric(out);
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // stat(5) numbering from field 3 (state) = index 0.
    let (utime, stime, starttime, vsize, rss) = (num(11), num(12), num(19), num(20), num(21));
    out.family(names::PROCESS_CPU)
        .push(vec![], Value::Float((utime + stime) as f64 / clock_ticks()));
    out.family(names::PROCESS_RSS)
        .push(vec![], Value::Int(rss * page_size()));
    out.family(names::PROCESS_VSIZE)
        .push(vec![], Value::Int(vsize));
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.family(names::PROCESS_OPEN_FDS)
            .push(vec![], Value::Int(fds.count() as u64));
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        if let Some(max) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<u64>().ok())
        {
            out.family(names::PROCESS_MAX_FDS)
                .push(vec![], Value::Int(max));
        }
    }
    if let Some(btime) = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("btime "))
            .and_then(|l| l[6..].trim().parse::<u64>().ok())
    }) {
        out.family(names::PROCESS_START).push(
            vec![],
            Value::Float(btime as f64 + starttime as f64 / clock_ticks()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut s = Snapshot::default();
        add_process_metrics(&mut s, None);
        let rss = s.get("process_resident_memory_bytes").expect("on Linux");
        assert!(matches!(rss.series[0].value, Value::Int(n) if n > 1_000_000));
        let start = s.get("process_start_time_seconds").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            matches!(start.series[0].value, Value::Float(t) if t <= now + 1.0 && t > now - 3600.0)
        );
    }
}
