//! `frontline replay`: the engine driven by a JSON-lines file or stdin, to
//! the end, then flushed and exported (SPEC §6).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::backfill::Backfill;
use crate::breach_log::BreachLog;
use crate::config::Config;
use crate::decode::REASONS;
use crate::engine::{Engine, PromHist};
use crate::export;
use crate::metrics::{HistValue, Kind, Snapshot, Value};
use crate::names;
use crate::sla_events::{self, Cause, Source};

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
    /// OpenMetrics history for promtool, one sample per step
    /// ([`crate::backfill`]).
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

/// Bounds of `frontline_batch_seconds`.
const BATCH_BOUNDS: [f64; 8] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0];
/// Lines applied per batch (one `frontline_batch_seconds` observation).
const BATCH: u64 = 4096;

/// An output: stdout, a device or pipe written in place, or a regular file
/// written to a temporary file beside it and renamed over it by
/// [`Output::commit`], so a run that fails never leaves a truncated file
/// (the temporary file is removed when the output is dropped uncommitted).
pub(crate) struct Output {
    /// The path as the user gave it, for errors.
    shown: String,
    w: Box<dyn Write>,
    temp: Option<TempFile>,
}

struct TempFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
    committed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Output {
    pub(crate) fn create(path: &Path) -> Result<Output, ReplayError> {
        let shown = path.display().to_string();
        let err = |source| ReplayError::Output {
            path: shown.clone(),
            source,
        };
        if path == Path::new("-") {
            return Ok(Output {
                w: Box::new(BufWriter::new(io::stdout())),
                shown,
                temp: None,
            });
        }
        // Through a symlink to the file it names; a device or a pipe
        // (`/dev/null`, a FIFO) is written in place, never replaced.
        let dest = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let existing = fs::metadata(&dest).ok();
        if existing.as_ref().is_some_and(|m| !m.is_file()) {
            let f = File::create(&dest).map_err(err)?;
            return Ok(Output {
                w: Box::new(BufWriter::new(f)),
                shown,
                temp: None,
            });
        }
        let name = dest
            .file_name()
            .ok_or_else(|| err(io::Error::other("not a file name")))?;
        let tmp = dest.with_file_name(format!(
            ".{}.tmp{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp).map_err(err)?;
        let temp = TempFile {
            tmp,
            dest,
            file: file.try_clone().map_err(err)?,
            committed: false,
        };
        if let Some(m) = existing {
            // The replaced file keeps its mode.
            let _ = fs::set_permissions(&temp.tmp, m.permissions());
        }
        Ok(Output {
            w: Box::new(BufWriter::new(file)),
            shown,
            temp: Some(temp),
        })
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), ReplayError> {
        self.w.write_all(bytes).map_err(|e| self.err(e))
    }

    fn err(&self, source: io::Error) -> ReplayError {
        ReplayError::Output {
            path: self.shown.clone(),
            source,
        }
    }

    /// Flushes, and puts a temporary file in place of the destination.
    pub(crate) fn commit(mut self) -> Result<(), ReplayError> {
        self.w.flush().map_err(|e| self.err(e))?;
        if let Some(t) = &mut self.temp {
            let r = t.file.sync_all().and_then(|()| fs::rename(&t.tmp, &t.dest));
            if let Err(e) = r {
                return Err(self.err(e));
            }
            t.committed = true;
        }
        Ok(())
    }
}

/// What a path names, to tell whether two paths are one file: a regular
/// file by device and inode (so another path or a hard link to it is the
/// same), a file not yet created by its directory and name; `None` for
/// what may be shared harmlessly (a terminal, `/dev/null`, a pipe).
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    Inode(u64, u64),
    New(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Some(FileId::Inode(m.dev(), m.ino())),
        Ok(_) => None,
        Err(_) => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
            Some(FileId::New(dir.join(path.file_name()?)))
        }
    }
}

/// Refuses paths that would destroy data: an output that is the input, or
/// two outputs that are one file (stdout included).
fn check_paths(input: &Path, outputs: &[(&str, &Path)]) -> Result<(), ReplayError> {
    let stdio = |p: &Path, dev: &str| {
        if p == Path::new("-") {
            PathBuf::from(dev)
        } else {
            p.to_path_buf()
        }
    };
    let input_id = file_id(&stdio(input, "/dev/stdin"));
    let on_stdout: Vec<&str> = outputs
        .iter()
        .filter(|(_, p)| *p == Path::new("-"))
        .map(|(flag, _)| *flag)
        .collect();
    if on_stdout.len() > 1 {
        return Err(ReplayError::Paths(format!(
            "{} would all write to stdout (the metrics go there by default); give all but one of them a file",
            on_stdout.join(" and ")
        )));
    }
    let ids: Vec<Option<FileId>> = outputs
        .iter()
        .map(|(_, p)| file_id(&stdio(p, "/dev/stdout")))
        .collect();
    for (i, ((flag, p), id)) in outputs.iter().zip(&ids).enumerate() {
        if id.is_some() && *id == input_id {
            return Err(ReplayError::Paths(format!(
                "{flag} {} is the input file: refusing to overwrite it",
                p.display()
            )));
        }
        for ((flag2, p2), id2) in outputs[..i].iter().zip(&ids) {
            if id.is_some() && id == id2 {
                return Err(ReplayError::Paths(format!(
                    "{flag2} {} and {flag} {} are the same file",
                    p2.display(),
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

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
    let (reader, size): (Box<dyn Read>, Option<u64>) = if args.input == Path::new("-") {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(&args.input).map_err(in_err)?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let out_path = args
        .metrics_out
        .clone()
        .unwrap_or_else(|| PathBuf::from("-"));
    let mut outputs = vec![("--metrics-out", out_path.as_path())];
    if let Some(d) = &args.dead_letter {
        outputs.push(("--dead-letter", d.as_path()));
    }
    if let Some(e) = &args.sla_events_out {
        outputs.push(("--sla-events-out", e.as_path()));
    }
    if let Some(o) = &args.openmetrics_out {
        outputs.push(("--openmetrics-out", o.as_path()));
    }
    check_paths(&args.input, &outputs)?;
    // Open outputs before reading, so an unwritable path fails fast.
    let out = Output::create(&out_path)?;
    let mut dlq = match &args.dead_letter {
        Some(p) => Some(Output::create(p)?),
        None => None,
    };
    let mut sla_out = match &args.sla_events_out {
        Some(p) => Some(Output::create(p)?),
        None => None,
    };
    let mut backfill = match &args.openmetrics_out {
        Some(p) => Some(Backfill::create(p, args.step_ms)?),
        None => None,
    };
    let input_name = args.input.display().to_string();

    let bar = args.progress.then(|| progress_bar(size));
    let mut engine = Engine::new(cfg);
    engine.record_sla_events(sla_out.is_some());
    let mut breach_log = BreachLog::default();
    let mut summary = Summary::default();
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::with_capacity(4096);
    let max = cfg.limits.max_event_bytes;
    let mut batch = PromHist::new(BATCH_BOUNDS.len());
    let mut batch_start = Instant::now();
    let mut lineno = 0u64;
    let mut pos = 0u64;
    // The guards on event time hold in replay too (SPEC §2): an event dated
    // ahead of the real wall clock is rejected. Read once per batch.
    let mut now = wall_ms();
    loop {
        let (n, full_len) = read_line_capped(&mut reader, &mut line, max).map_err(in_err)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        lineno += 1;
        let bytes = trim(&line);
        if bytes.is_empty() && full_len <= max {
            continue;
        }
        summary.lines += 1;
        let result = if full_len > max {
            let e = crate::decode::DecodeError::TooLarge {
                size: full_len,
                max,
            };
            engine.record_decode_error(e.reason_index());
            Err(e)
        } else if let Some(b) = &mut backfill {
            b.ingest(&mut engine, bytes, max, now)?
        } else {
            engine.ingest(bytes, max, now)
        };
        if let Some(w) = &mut sla_out {
            write_sla_events(&mut engine, w, &input_name, lineno, Cause::Event)?;
        }
        match result {
            Ok(()) => summary.events += 1,
            Err(e) => {
                summary.bad[e.reason_index()] += 1;
                if let Some(w) = &mut dlq {
                    let rec = dead_letter(lineno, &e, bytes);
                    w.write_all(rec.as_bytes())?;
                    engine.record_dead_letter();
                }
            }
        }
        if summary.lines % BATCH == 0 {
            let (breaches, dropped) = engine.drain_breaches();
            breach_log.log(&breaches, dropped);
            let ms = batch_start.elapsed().as_secs_f64() * 1000.0;
            batch.observe(
                &BATCH_BOUNDS,
                ms.round() as i64,
                crate::engine::ExemplarSource::none(),
            );
            batch_start = Instant::now();
            now = wall_ms();
            if let Some(b) = &bar {
                b.set_position(pos);
            }
        }
    }
    engine.flush();
    if let Some(w) = &mut sla_out {
        write_sla_events(&mut engine, w, &input_name, lineno, Cause::EndOfInput)?;
    }
    let (breaches, dropped) = engine.drain_breaches();
    breach_log.log(&breaches, dropped);
    breach_log.flush();
    if let Some(b) = backfill {
        b.finish(&mut engine)?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The summary goes first, so a failure to write it is in the metrics.
    crate::stderr::line(summary.line());
    let mut snap = engine.snapshot(None);
    add_batch_family(&mut snap, batch);
    crate::stderr::add_metric(&mut snap);
    let text = export::prometheus_text(Arc::new(snap));
    if let Some(w) = dlq {
        w.commit()?;
    }
    if let Some(w) = sla_out {
        w.commit()?;
    }
    let mut out = out;
    out.write_all(text.as_bytes())?;
    out.commit()?;
    Ok(summary)
}

/// Writes the SLA state changes the engine recorded since the last call,
/// caused by line `line` (or the end of input), as JSON lines.
fn write_sla_events(
    engine: &mut Engine,
    w: &mut Output,
    input: &str,
    line: u64,
    driven_by: Cause,
) -> Result<(), ReplayError> {
    let (events, dropped) = engine.drain_sla_events();
    for e in events {
        let v = sla_events::to_json(&e, Source::File(input, line), Cause::of(&e, driven_by));
        let mut text = v.to_string();
        text.push('\n');
        w.write_all(text.as_bytes())?;
    }
    if dropped > 0 {
        crate::stderr::line(format!(
            "frontline: {dropped} SLA state changes of line {line} exceeded the engine's buffer and are missing from --sla-events-out"
        ));
    }
    Ok(())
}

fn add_batch_family(snap: &mut Snapshot, batch: PromHist) {
    snap.family(names::BATCH_SECONDS, Kind::Histogram).push(
        vec![],
        Value::Hist(HistValue {
            bounds: BATCH_BOUNDS.to_vec().into(),
            buckets: batch.buckets,
            sum_ms: batch.sum_ms,
            count: batch.count,
            exemplars: Vec::new(),
        }),
    );
}

/// One dead-letter record, a JSON line. `raw` holds at most the first
/// `limits.max_event_bytes` of an oversize line (cut at a character
/// boundary), marked `"truncated": true` with the line's `size` in bytes.
fn dead_letter(line: u64, e: &crate::decode::DecodeError, raw: &[u8]) -> String {
    let mut rec = serde_json::json!({
        "line": line,
        "reason": e.reason(),
        "error": e.to_string(),
    });
    let (max, size) = match e {
        crate::decode::DecodeError::TooLarge { max, size } => (*max, Some(*size)),
        _ => (usize::MAX, None),
    };
    let kept = &raw[..raw.len().min(max)];
    let kept = match std::str::from_utf8(kept) {
        // A character cut in two at the end is left out, not replaced.
        Err(u) if u.error_len().is_none() => &kept[..u.valid_up_to()],
        _ => kept,
    };
    rec["raw"] = String::from_utf8_lossy(kept).into();
    if let Some(size) = size {
        rec["truncated"] = true.into();
        rec["size"] = size.into();
    }
    let mut s = rec.to_string();
    s.push('\n');
    s
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Reads one line (without its newline) into `buf`, keeping at most
/// `max + 1` bytes of it. Returns (bytes consumed, full line length).
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, usize)> {
    buf.clear();
    let mut consumed = 0;
    let mut len = 0;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, len));
        }
        let (part, done) = match chunk.iter().position(|&c| c == b'\n') {
            Some(i) => (&chunk[..i], i + 1),
            None => (chunk, chunk.len()),
        };
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        len += part.len();
        let found = done > part.len();
        r.consume(done);
        consumed += done;
        if found {
            return Ok((consumed, len));
        }
    }
}

fn progress_bar(size: Option<u64>) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = match size {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec}")
                .expect("valid template"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines_report_their_full_length() {
        let data = b"short\nthis line is long\n\nlast";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (6, 5));
        assert_eq!(buf, b"short");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (18, 17));
        assert_eq!(buf, b"this line");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (1, 0));
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (4, 4));
        assert_eq!(buf, b"last");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (0, 0));
    }
}
