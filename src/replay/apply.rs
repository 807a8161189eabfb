//! The applying side of a replay: each line to the engine, in input
//! order, and what it produces to the outputs; at the end, the flush and
//! the exposition.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::backfill::Backfill;
use super::{progress_bar, wall_ms, Output, ReplayArgs, ReplayError, Summary, BATCH};
use crate::breach_log::BreachLog;
use crate::config::Config;
use crate::decode::DecodeError;
use crate::engine::{Engine, EventKeys, Gate, Verdict};
use crate::event::Event;
use crate::export;
use crate::metrics::{HistValue, Snapshot, Value};
use crate::names;
use crate::names::BATCH_BOUNDS;
use crate::sla_events::{self, Cause, Source};

/// The applying side of a replay: the engine and everything each line
/// updates or writes, in input order.
pub(super) struct Apply<'a> {
    engine: Engine,
    breach_log: BreachLog,
    summary: Summary,
    dlq: Option<Output>,
    sla_out: Option<Output>,
    /// `--openmetrics-out`: the steps each admitted event's time passes.
    backfill: Option<Backfill>,
    batch: HistValue,
    batch_start: Instant,
    now: i64,
    bar: Option<indicatif::ProgressBar>,
    input_name: &'a str,
    /// The last line number seen (blank lines included).
    pub(super) lineno: u64,
}

impl<'a> Apply<'a> {
    /// Opens the outputs past the metrics (dead letters, SLA events,
    /// OpenMetrics history) and starts the engine.
    pub(super) fn open(
        cfg: &Config,
        args: &ReplayArgs,
        size: Option<u64>,
        input_name: &'a str,
    ) -> Result<Apply<'a>, ReplayError> {
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
        let bar = args.progress.then(|| progress_bar(size));
        let mut engine = Engine::new(cfg);
        engine.record_sla_events(sla_out.is_some());
        Ok(Apply {
            engine,
            breach_log: BreachLog::default(),
            summary: Summary::default(),
            dlq,
            sla_out,
            backfill,
            batch: HistValue::empty(&BATCH_BOUNDS),
            batch_start: Instant::now(),
            // The guards on event time hold in replay too (SPEC §2): an event
            // dated ahead of the real wall clock is rejected. Read once per batch.
            now: wall_ms(),
            bar,
            input_name,
            lineno: 0,
        })
    }

    /// Takes the engine's [`Gate`] out, for a reading thread to judge the
    /// events with ([`Engine::split_gate`]); not while writing the KPI
    /// history, whose steps show the dedup memory's size as it goes.
    pub(super) fn split_gate(&mut self) -> Option<Gate> {
        self.backfill.is_none().then(|| self.engine.split_gate())
    }

    /// Puts the gate back once it has judged every line applied.
    pub(super) fn join_gate(&mut self, gate: Gate) {
        self.engine.join_gate(gate);
    }

    /// The engine's cache hints for the events about to be applied
    /// ([`Engine::prefetch_ahead`]).
    #[inline]
    pub(super) fn prefetch_ahead<'e>(&self, ahead: impl Fn(usize) -> Option<&'e EventKeys>) {
        self.engine.prefetch_ahead(ahead);
    }

    /// Applies non-blank line `lineno` (its `bytes` as read, without the
    /// line ending, at most `max + 1` of them), decoded as `decoded` and,
    /// with the gate out,
    /// judged as `verdict`; `pos` is the input offset past it, for the
    /// progress bar.
    pub(super) fn line(
        &mut self,
        lineno: u64,
        pos: u64,
        bytes: &[u8],
        decoded: &Result<(Event, EventKeys), DecodeError>,
        verdict: Option<Verdict>,
    ) -> Result<(), ReplayError> {
        self.lineno = lineno;
        self.summary.lines += 1;
        let engine = &mut self.engine;
        let result = match decoded {
            Ok((ev, keys)) => match (verdict, &mut self.backfill) {
                (Some(v), _) => {
                    engine.admit_judged(ev, keys, v);
                    Ok(())
                }
                (None, Some(b)) => b.admit(engine, ev, keys, self.now)?,
                (None, None) => engine.admit_keyed(ev, keys, self.now),
            }
            .map_err(Cow::Owned),
            Err(e) => Err(Cow::Borrowed(e)),
        };
        if let Some(w) = &mut self.sla_out {
            write_sla_events(engine, w, self.input_name, lineno, Cause::Event)?;
        }
        match result {
            Ok(()) => self.summary.events += 1,
            Err(e) => {
                engine.record_decode_error(e.reason_index());
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
            self.batch.observe(self.batch_start.elapsed().as_secs_f64());
            self.batch_start = Instant::now();
            self.now = wall_ms();
            if let Some(b) = &self.bar {
                b.set_position(pos);
                b.set_message(events_per_sec(self.summary.lines, b.elapsed()));
            }
        }
        Ok(())
    }

    /// The end of input: flushes the engine, writes what the flush
    /// produced, prints the summary and commits the side outputs; returns
    /// the summary and the exposition.
    pub(super) fn finish(self) -> Result<(Summary, String), ReplayError> {
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
            input_name,
            ..
        } = self;
        engine.flush();
        if let Some(w) = &mut sla_out {
            write_sla_events(&mut engine, w, input_name, lineno, Cause::EndOfInput)?;
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
        crate::stderr::report(tracing::Level::INFO, summary.line());
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
        Ok((summary, text))
    }
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
        crate::stderr::report(
            tracing::Level::WARN,
            format!(
            "frontline: {dropped} SLA state changes of line {line} exceeded the engine's buffer and are missing from --sla-events-out"
        ));
    }
    Ok(())
}

/// The progress bar's rate (SPEC §6: events/s), of the lines read so far.
fn events_per_sec(lines: u64, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        format!("{:.0} events/s", lines as f64 / secs)
    } else {
        String::new()
    }
}

fn add_batch_family(snap: &mut Snapshot, batch: HistValue) {
    snap.family(names::BATCH_SECONDS)
        .push(vec![], Value::Hist(Arc::new(batch)));
}

/// One dead-letter record, a JSON line. `raw` holds at most the first
/// `limits.max_event_bytes` of an oversize line (cut at a character
/// boundary), marked `"truncated": true` with the line's `size` in bytes.
/// A line that is not UTF-8 has U+FFFD in `raw` for its bad bytes, and its
/// bytes as they were in `raw_base64`.
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
        // A character the size limit cut in two is left out, not replaced;
        // one the line itself leaves unfinished is the line's own.
        Err(u) if size.is_some() && u.error_len().is_none() => &kept[..u.valid_up_to()],
        _ => kept,
    };
    rec["raw"] = String::from_utf8_lossy(kept).into();
    if std::str::from_utf8(kept).is_err() {
        // `raw` replaced bytes that are not UTF-8; these are the line's own.
        use base64::Engine;
        rec["raw_base64"] = base64::engine::general_purpose::STANDARD
            .encode(kept)
            .into();
    }
    if let Some(size) = size {
        rec["truncated"] = true.into();
        rec["size"] = size.into();
    }
    let mut s = rec.to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::dead_letter;
    use crate::decode::decode;

    #[test]
    fn the_progress_rate_is_in_events_per_second() {
        use std::time::Duration;
        assert_eq!(
            super::events_per_sec(1_500_000, Duration::from_secs(2)),
            "750000 events/s"
        );
        assert_eq!(super::events_per_sec(10, Duration::ZERO), "");
    }

    #[test]
    fn a_line_that_is_not_utf8_keeps_its_bytes_in_the_dead_letter() {
        let line = b"{\"event_id\":\"e1\",\"comment\":\"\xff\xfe\"}";
        let e = decode(line, 65_536).unwrap_err();
        let rec: serde_json::Value = serde_json::from_str(&dead_letter(3, &e, line)).unwrap();
        assert_eq!(rec["reason"], "invalid_json");
        assert_eq!(
            rec["raw"],
            "{\"event_id\":\"e1\",\"comment\":\"\u{fffd}\u{fffd}\"}"
        );
        use base64::Engine;
        let back = base64::engine::general_purpose::STANDARD
            .decode(rec["raw_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(back, line);
        // A UTF-8 line has no second copy.
        let rec: serde_json::Value = serde_json::from_str(&dead_letter(4, &e, b"{oops")).unwrap();
        assert!(rec.get("raw_base64").is_none());
    }
}
