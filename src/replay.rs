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
use crate::decode::{DecodeError, REASONS};
use crate::engine::{Engine, PromHist};
use crate::event::Event;
use crate::export;
use crate::metrics::{HistValue, Snapshot, Value};
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
    /// 1: read, decode and apply on one thread; more: read and decode on
    /// a second thread while the engine applies (the same output).
    pub threads: usize,
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
    let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if args.input == Path::new("-") {
        (Box::new(io::stdin()), None)
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
    let dlq = match &args.dead_letter {
        Some(p) => Some(Output::create(p)?),
        None => None,
    };
    let sla_out = match &args.sla_events_out {
        Some(p) => Some(Output::create(p)?),
        None => None,
    };
    let backfill = match &args.openmetrics_out {
        Some(p) => Some(Backfill::create(p, args.step_ms)?),
        None => None,
    };
    let input_name = args.input.display().to_string();

    let bar = args.progress.then(|| progress_bar(size));
    let mut engine = Engine::new(cfg);
    engine.record_sla_events(sla_out.is_some());
    let mut a = Apply {
        engine,
        breach_log: BreachLog::default(),
        summary: Summary::default(),
        dlq,
        sla_out,
        backfill,
        batch: PromHist::new(BATCH_BOUNDS.len()),
        batch_start: Instant::now(),
        // The guards on event time hold in replay too (SPEC §2): an event
        // dated ahead of the real wall clock is rejected. Read once per batch.
        now: wall_ms(),
        bar,
        input_name: &input_name,
        lineno: 0,
    };
    let max = cfg.limits.max_event_bytes;
    let reader = BufReader::with_capacity(1 << 20, reader);
    if args.threads <= 1 {
        single_threaded(reader, max, &mut a).map_err(|e| e.into_replay(&in_err))?;
    } else {
        pipelined(reader, max, &mut a).map_err(|e| e.into_replay(&in_err))?;
    }
    let Apply {
        mut engine,
        mut breach_log,
        summary,
        dlq,
        mut sla_out,
        backfill,
        batch,
        bar,
        lineno,
        ..
    } = a;
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

/// Lines handed from the reading thread to the applying one at a time.
const HANDOFF: usize = 2048;
/// Batches in flight between the two threads (the reader's lead).
const IN_FLIGHT: usize = 4;

/// Why reading and applying stopped early.
enum Stop {
    /// Reading the input failed.
    Input(io::Error),
    /// Writing an output failed.
    Replay(ReplayError),
}

impl From<ReplayError> for Stop {
    fn from(e: ReplayError) -> Stop {
        Stop::Replay(e)
    }
}

impl Stop {
    fn into_replay(self, in_err: &dyn Fn(io::Error) -> ReplayError) -> ReplayError {
        match self {
            Stop::Input(e) => in_err(e),
            Stop::Replay(e) => e,
        }
    }
}

/// The applying side of a replay: the engine and everything each line
/// updates or writes, in input order.
struct Apply<'a> {
    engine: Engine,
    breach_log: BreachLog,
    summary: Summary,
    dlq: Option<Output>,
    sla_out: Option<Output>,
    /// `--openmetrics-out`: the steps each admitted event's time passes.
    backfill: Option<Backfill>,
    batch: PromHist,
    batch_start: Instant,
    now: i64,
    bar: Option<indicatif::ProgressBar>,
    input_name: &'a str,
    /// The last line number seen (blank lines included).
    lineno: u64,
}

impl Apply<'_> {
    /// Applies non-blank line `lineno` (its `bytes` trimmed, at most
    /// `max + 1` of them), decoded as `decoded`; `pos` is the input offset
    /// past it, for the progress bar.
    fn line(
        &mut self,
        lineno: u64,
        pos: u64,
        bytes: &[u8],
        decoded: Result<Event, DecodeError>,
    ) -> Result<(), ReplayError> {
        self.lineno = lineno;
        self.summary.lines += 1;
        let engine = &mut self.engine;
        let result = match decoded {
            Ok(ev) => match &mut self.backfill {
                Some(b) => b.admit(engine, ev, self.now)?,
                None => engine.admit(ev, self.now),
            },
            Err(e) => {
                engine.record_decode_error(e.reason_index());
                Err(e)
            }
        };
        if let Some(w) = &mut self.sla_out {
            write_sla_events(engine, w, self.input_name, lineno, Cause::Event)?;
        }
        match result {
            Ok(()) => self.summary.events += 1,
            Err(e) => {
                self.summary.bad[e.reason_index()] += 1;
                if let Some(w) = &mut self.dlq {
                    let rec = dead_letter(lineno, &e, bytes);
                    w.write_all(rec.as_bytes())?;
                    engine.record_dead_letter();
                }
            }
        }
        if self.summary.lines.is_multiple_of(BATCH) {
            let (breaches, dropped) = engine.drain_breaches();
            self.breach_log.log(&breaches, dropped);
            let ms = self.batch_start.elapsed().as_secs_f64() * 1000.0;
            self.batch.observe(
                &BATCH_BOUNDS,
                ms.round() as i64,
                crate::engine::ExemplarSource::none(),
            );
            self.batch_start = Instant::now();
            self.now = wall_ms();
            if let Some(b) = &self.bar {
                b.set_position(pos);
            }
        }
        Ok(())
    }
}

/// Decodes a line as the engine's [`Engine::ingest`] would: a line longer
/// than `max` (its full length `full_len`) is refused unread.
fn decode_line(bytes: &[u8], full_len: usize, max: usize) -> Result<Event, DecodeError> {
    if full_len > max {
        Err(DecodeError::TooLarge {
            size: full_len,
            max,
        })
    } else {
        crate::decode::decode(bytes, max)
    }
}

/// `--threads 1`: reads, decodes and applies each line in turn.
fn single_threaded<R: BufRead>(mut reader: R, max: usize, a: &mut Apply) -> Result<(), Stop> {
    let mut line = Vec::with_capacity(4096);
    let mut lineno = 0u64;
    let mut pos = 0u64;
    loop {
        let (n, full_len) = read_line_capped(&mut reader, &mut line, max).map_err(Stop::Input)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        lineno += 1;
        let bytes = trim(&line);
        if bytes.is_empty() && full_len <= max {
            a.lineno = lineno;
            continue;
        }
        let decoded = decode_line(bytes, full_len, max);
        a.line(lineno, pos, bytes, decoded)?;
    }
    a.lineno = lineno;
    Ok(())
}

/// Up to [`HANDOFF`] non-blank lines, read and decoded, in input order.
/// Buffers are handed back to the reader for reuse, so reading allocates
/// nothing per line.
#[derive(Default)]
struct Batch {
    /// The lines' bytes (trimmed, at most `max + 1` each), back to back.
    text: Vec<u8>,
    lines: Vec<Decoded>,
    /// The line number of the last line read (blank lines included).
    last_lineno: u64,
    /// A read error after the lines above.
    error: Option<io::Error>,
}

/// One non-blank line of a [`Batch`].
struct Decoded {
    lineno: u64,
    /// Input offset past the line.
    pos: u64,
    /// Its bytes in [`Batch::text`].
    start: usize,
    end: usize,
    event: Result<Event, DecodeError>,
}

/// The reading thread: reads, splits and decodes batches of lines and
/// sends them in order; stops at the end of input, on a read error (sent
/// last) or when the applying side hangs up.
fn read_batches<R: BufRead>(
    mut reader: R,
    max: usize,
    tx: std::sync::mpsc::SyncSender<Batch>,
    spare: std::sync::mpsc::Receiver<Batch>,
) {
    let mut lineno = 0u64;
    let mut pos = 0u64;
    loop {
        let mut b = spare.try_recv().unwrap_or_default();
        b.text.clear();
        b.lines.clear();
        let mut done = false;
        while b.lines.len() < HANDOFF {
            let start = b.text.len();
            match read_line_appended(&mut reader, &mut b.text, max) {
                Ok((0, _)) => {
                    done = true;
                    break;
                }
                Ok((n, full_len)) => {
                    pos += n as u64;
                    lineno += 1;
                    let (s, e) = trim_range(&b.text[start..]);
                    let (s, e) = (start + s, start + e);
                    if s == e && full_len <= max {
                        b.text.truncate(start);
                        continue;
                    }
                    let event = decode_line(&b.text[s..e], full_len, max);
                    b.lines.push(Decoded {
                        lineno,
                        pos,
                        start: s,
                        end: e,
                        event,
                    });
                }
                Err(e) => {
                    b.error = Some(e);
                    done = true;
                    break;
                }
            }
        }
        b.last_lineno = lineno;
        if tx.send(b).is_err() || done {
            return;
        }
    }
}

/// Two threads: one reads and decodes batches of lines while this one
/// applies the previous batch, line by line in input order.
fn pipelined<R: BufRead + Send>(reader: R, max: usize, a: &mut Apply) -> Result<(), Stop> {
    use std::sync::mpsc;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::channel::<Batch>();
        std::thread::Builder::new()
            .name("replay-read".into())
            .spawn_scoped(scope, move || read_batches(reader, max, tx, spare_rx))
            .map_err(Stop::Input)?;
        for mut b in rx {
            for d in b.lines.drain(..) {
                a.line(d.lineno, d.pos, &b.text[d.start..d.end], d.event)?;
            }
            a.lineno = b.last_lineno;
            if let Some(e) = b.error.take() {
                return Err(Stop::Input(e));
            }
            // The reader may have finished: the buffer is then dropped.
            let _ = spare_tx.send(b);
        }
        Ok(())
    })
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
    snap.family(names::BATCH_SECONDS).push(
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
    let (start, end) = trim_range(b);
    &b[start..end]
}

/// The range of `b` without leading and trailing ASCII whitespace.
fn trim_range(b: &[u8]) -> (usize, usize) {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    (start, end.max(start))
}

/// Reads one line (without its newline) into `buf`, keeping at most
/// `max + 1` bytes of it. Returns (bytes consumed, full line length).
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, usize)> {
    buf.clear();
    read_line_appended(r, buf, max)
}

/// [`read_line_capped`] appending to `buf` instead of replacing it.
fn read_line_appended<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, usize)> {
    let base = buf.len();
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
        let room = (max + 1).saturating_sub(buf.len() - base);
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

    #[test]
    fn appended_lines_are_capped_on_their_own_length() {
        let data = b"abc\nthis line is long\n";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = b"earlier".to_vec();
        assert_eq!(read_line_appended(&mut r, &mut buf, 8).unwrap(), (4, 3));
        assert_eq!(buf, b"earlierabc");
        assert_eq!(read_line_appended(&mut r, &mut buf, 8).unwrap(), (18, 17));
        assert_eq!(buf, b"earlierabcthis line");
    }
}
