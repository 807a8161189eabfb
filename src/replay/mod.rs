//! `frontline replay`: the engine driven by a JSON-lines file or stdin, to
//! the end, then flushed and exported (SPEC §6).
//!
//! What lives where: this file holds the arguments, the errors, the
//! summary and [`run`]; `output.rs` the outputs (written to a temporary
//! file and renamed into place) and the check that no two paths are one
//! file; `read.rs` reading lines within the size cap, on one thread or
//! with decoding on a second; `apply.rs` applying each line to the engine
//! and writing what it produces.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::decode::REASONS;

mod apply;
pub mod backfill;
mod handoff;
mod output;
mod read;
mod regroup;

use apply::Apply;
use output::check_paths;
pub use output::remove_unfinished;
pub(crate) use output::Output;
use read::{pipelined, single_threaded};

/// What to replay and where to write.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    /// Input file, or `-` for stdin.
    pub input: PathBuf,
    /// Prometheus text output, `-` for stdout; `None` writes to stdout.
    pub metrics_out: Option<PathBuf>,
    /// Bad lines with their reason, as JSON lines.
    pub dead_letter: Option<PathBuf>,
    /// Every SLA state change, as JSON lines (docs/sla.md).
    pub sla_events_out: Option<PathBuf>,
    /// Draw a progress bar (stderr is a terminal).
    pub progress: bool,
    /// 1: read, decode and apply on one thread; more: read and decode on
    /// a second thread while the engine applies (the same output).
    pub threads: usize,
    /// OpenMetrics history for promtool, one sample per step
    /// ([`backfill`]).
    pub openmetrics_out: Option<PathBuf>,
    /// The step of `openmetrics_out`, ms.
    pub step_ms: i64,
}

/// A failure that ends the replay with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The input cannot be opened or read.
    #[error("cannot read input {path}: {source}")]
    Input {
        /// The input path.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// An output cannot be created or written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The output path.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Two of the paths name the same file, so one would destroy the other.
    #[error("{0}")]
    Paths(String),
}

/// Totals of a replay, for the stderr summary.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines that decoded into events.
    pub events: u64,
    /// Bad lines by reason (order of [`REASONS`]).
    pub bad: [u64; REASONS.len()],
}

impl Summary {
    /// Bad lines in all.
    pub fn bad_total(&self) -> u64 {
        self.bad.iter().sum()
    }

    /// One line for stderr.
    pub fn line(&self) -> String {
        let mut s = format!(
            "replay: {} lines, {} events, {} bad lines",
            self.lines,
            self.events,
            self.bad_total()
        );
        let parts: Vec<String> = REASONS
            .iter()
            .zip(self.bad.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        if !parts.is_empty() {
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
        s
    }
}

/// Lines applied per batch (one `frontline_batch_seconds` observation).
const BATCH: u64 = 4096;

/// Wall-clock time, epoch milliseconds.
fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Runs a replay; returns the summary. Bad lines are not errors.
pub fn run(cfg: &Config, args: &ReplayArgs) -> Result<Summary, ReplayError> {
    let in_err = |source| ReplayError::Input {
        path: args.input.display().to_string(),
        source,
    };
    let (reader, size) = open_input(&args.input).map_err(in_err)?;
    let out_path = args
        .metrics_out
        .clone()
        .unwrap_or_else(|| PathBuf::from("-"));
    check_paths(&args.input, &outputs(args, &out_path))?;
    // Open outputs before reading, so an unwritable path fails fast.
    let mut out = Output::create(&out_path)?;
    let input_name = args.input.display().to_string();
    let mut a = Apply::open(cfg, args, size, &input_name)?;
    let max = cfg.limits.max_event_bytes;
    let reader = BufReader::with_capacity(1 << 20, reader);
    let read = if args.threads <= 1 {
        single_threaded(reader, max, &mut a)
    } else {
        pipelined(reader, max, &mut a)
    };
    read.map_err(|e| e.into_replay(&in_err))?;
    let (summary, text) = a.finish()?;
    out.write_all(text.as_bytes())?;
    out.commit()?;
    Ok(summary)
}

/// The input (`-`: stdin) and its size when known, for the progress bar.
fn open_input(input: &Path) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
    if input == Path::new("-") {
        return Ok((Box::new(io::stdin()), None));
    }
    let f = File::open(input)?;
    let size = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), size))
}

/// Each output path with the flag that names it, metrics first.
fn outputs<'a>(args: &'a ReplayArgs, metrics: &'a Path) -> Vec<(&'static str, &'a Path)> {
    let mut outputs = vec![("--metrics-out", metrics)];
    if let Some(d) = &args.dead_letter {
        outputs.push(("--dead-letter", d.as_path()));
    }
    if let Some(e) = &args.sla_events_out {
        outputs.push(("--sla-events-out", e.as_path()));
    }
    if let Some(o) = &args.openmetrics_out {
        outputs.push(("--openmetrics-out", o.as_path()));
    }
    outputs
}

fn progress_bar(size: Option<u64>) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = match size {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} eta {eta}")
                .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {msg}").expect("valid template"),
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(
        crate::stderr::ProgressTerm::new(),
    )));
    bar
}

/// Whether stderr is a terminal (progress bar on).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}
