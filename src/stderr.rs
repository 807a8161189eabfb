//! stderr that never takes the process down: log lines, the progress bar
//! and summaries go through [`Stderr`], which drops a write that fails (a
//! closed pipe, a full disk) and counts it in
//! `frontline_stderr_write_errors_total`, so the work goes on.
//!
//! `eprintln!` panics when stderr is broken, and Rust ignores SIGPIPE, so a
//! reader that goes away (`2>&1 | head -1`) shows up as failed writes.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::metrics::{Snapshot, Value};
use crate::names;

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Writes to stderr that failed and were dropped, since the process started.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A stderr handle whose writes always succeed: a failure is counted and
/// the bytes are dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // One write_all per call, so a log line is never split by a retry.
        if io::stderr().lock().write_all(buf).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if io::stderr().flush().is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Writes one line to stderr (what `eprintln!` does, without the panic).
pub fn line(text: impl std::fmt::Display) {
    let _ = Stderr.write_all(format!("{text}\n").as_bytes());
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Says that logs are JSON lines (`--log-format json`), so that
/// [`report`] writes JSON lines too.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// A line a command reports outside its logs (a replay's summary, the
/// error it stops on): as text, or with JSON logs as a JSON log line at
/// `level` with the text as its message, so that a collector reading
/// stderr parses every line.
pub fn report(level: tracing::Level, text: impl std::fmt::Display) {
    if !JSON.load(Ordering::Relaxed) {
        return line(text);
    }
    match level {
        tracing::Level::ERROR => tracing::error!("{text}"),
        tracing::Level::WARN => tracing::warn!("{text}"),
        _ => tracing::info!("{text}"),
    }
}

/// Adds `frontline_stderr_write_errors_total` to a snapshot.
pub fn add_metric(out: &mut Snapshot) {
    out.family(names::STDERR_WRITE_ERRORS)
        .push(vec![], Value::Int(dropped()));
}

/// The progress bar's terminal: the real one, through [`Stderr`].
#[derive(Debug)]
pub struct ProgressTerm(console::Term);

impl ProgressTerm {
    /// The terminal on stderr.
    pub fn new() -> ProgressTerm {
        ProgressTerm(console::Term::stderr())
    }

    fn write(&self, s: &str) -> io::Result<()> {
        Stderr.write_all(s.as_bytes())
    }
}

impl Default for ProgressTerm {
    fn default() -> Self {
        ProgressTerm::new()
    }
}

impl indicatif::TermLike for ProgressTerm {
    fn width(&self) -> u16 {
        self.0.size().1
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}A"))
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}B"))
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}C"))
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}D"))
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.write("\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        Stderr.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_always_reports_the_whole_buffer() {
        let mut e = Stderr;
        assert_eq!(e.write(b"").unwrap(), 0);
        assert!(e.flush().is_ok());
    }
}
