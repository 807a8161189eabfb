//! `frontline replay --openmetrics-out FILE [--step 1m]`: the KPI series
//! with event-time timestamps, one sample per step across the replayed
//! period, as OpenMetrics text for `promtool tsdb create-blocks-from
//! openmetrics` (SPEC §7, docs/operations.md "Backfill").
//!
//! **What a step's sample is.** Steps are the multiples of `step` since the
//! epoch, from the first at or after the first event to the first at or
//! after the last one. The sample at step `T` is the engine's picture after
//! every input line that comes before the first admitted event dated after
//! `T` — what `/metrics` would have shown at wall time `T` had frontline
//! been consuming the input live, each event arriving at its `ts` in input
//! order: the event clock is the latest `ts` applied (≤ `T`), the watermark
//! that clock minus `allowed_lateness`, every timer due before the clock has
//! fired, windows end at the clock. An event dated at or before `T` that
//! comes after a later-dated one arrived late, live as here, and shows from
//! the next step on. The last step is written after the end-of-input flush,
//! so it equals `--metrics-out`. As in replay (SPEC §2), the event clock
//! never follows wall time: through a quiet gap the samples repeat the
//! picture at the gap's last event, where a live instance past
//! `idle_timeout` would have slid its windows on.
//!
//! **Which series.** The `support_*` families, window gauges included. The
//! processor's own `frontline_*` and `process_*` series describe the replay
//! run (its batches, its wall-clock lag), not the support centre at `T`, so
//! they are left out. Histogram exemplars are left out: promtool ignores
//! them, and the buckets' counts carry the history.
//!
//! **Streaming.** OpenMetrics wants every sample of a family together,
//! each series' samples together, and a series' timestamps rising; a
//! step-after-step pass interleaves them. So each family's lines go to a
//! spool file of its own (in a directory beside the output, removed at the
//! end), step after step, a record for each series naming its rank (its
//! order of first appearance), and at the end each spool is regrouped by
//! series (`super::regroup`, an external merge sort by rank) under its
//! `# HELP`/`# TYPE` lines, then `# EOF`. Memory is the engine's state, one snapshot, a write
//! buffer per family and one sort run, whatever the number of steps; disk
//! is the output's size twice at the end.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::regroup::{self, RUN_BYTES};
use super::{Output, ReplayError};
use crate::decode::DecodeError;
use crate::engine::Engine;
use crate::export;
use crate::metrics::{Family, HistValue, Kind, Labels, Series, Snapshot, Value};
use std::sync::Arc;

/// The default step.
pub const DEFAULT_STEP_MS: i64 = 60_000;

/// Steps of one quiet gap from which a WARN names it: a week of `1m`
/// steps (10 080) and more. A stray event dated years before the others
/// makes a gap of millions of steps, each repeating one sample.
pub const LONG_GAP_STEPS: i64 = 10_000;

/// A backfill being written.
pub struct Backfill {
    step: i64,
    /// The next step to write; `None` before the first admitted event.
    next: Option<i64>,
    out: Output,
    spool: SpoolDir,
    families: Vec<Spool>,
    index: FxHashMap<&'static str, usize>,
    buf: String,
    samples: export::OpenMetricsSamples,
    steps: u64,
}

/// One family's samples so far: a record for each series at each step,
/// its series' rank (the order of first appearance), its length and its
/// lines (`super::regroup` reads them back).
struct Spool {
    header: String,
    path: PathBuf,
    w: BufWriter<File>,
    /// The rank of every series written so far.
    ranks: FxHashMap<Labels, u32>,
}

/// The `support_*` families of a picture, in exposition order, window
/// families (rendered into `windows`) in their place: what a backfill step
/// holds.
fn support_families<'a>(snap: &'a Snapshot, windows: &'a [Family]) -> Vec<&'a Family> {
    snap.in_order(windows)
        .filter(|f| f.name.starts_with("support_"))
        .collect()
}

/// A series valued 0: a counter or histogram series the step before its
/// first value.
fn zero(x: &Series) -> Series {
    let value = match &x.value {
        Value::Hist(h) => Value::Hist(Arc::new(HistValue::empty(&h.bounds))),
        Value::Float(_) => Value::Float(0.0),
        Value::Millis(_) => Value::Millis(0),
        Value::Int(_) => Value::Int(0),
    };
    Series {
        labels: x.labels.clone(),
        value,
    }
}

/// A spool write or read that failed, naming the spool directory.
fn spool_err(dir: &SpoolDir, source: io::Error) -> ReplayError {
    ReplayError::Output {
        path: dir.0.display().to_string(),
        source,
    }
}

/// The spool directory, removed when dropped.
struct SpoolDir(PathBuf);

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        super::output::finished(&self.0);
    }
}

impl Backfill {
    /// Opens the output (written to a temporary file and renamed into place
    /// by [`Backfill::finish`]) and its spool directory beside it.
    pub fn create(path: &Path, step_ms: i64) -> Result<Backfill, ReplayError> {
        let out = Output::create(path)?;
        let err = |source| ReplayError::Output {
            path: path.display().to_string(),
            source,
        };
        let dest = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        // Beside a file; stdout, a device or a pipe has no folder to share.
        let dir = match dest.parent() {
            _ if path == Path::new("-") || fs::metadata(&dest).is_ok_and(|m| !m.is_file()) => {
                std::env::temp_dir()
            }
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().unwrap_or("openmetrics".as_ref());
        let spool = SpoolDir(dir.join(super::output::hidden_name(name, "spool")));
        super::output::unfinished(&spool.0);
        fs::create_dir_all(&spool.0).map_err(err)?;
        Ok(Backfill {
            step: step_ms.max(1),
            next: None,
            out,
            spool,
            families: Vec::new(),
            index: FxHashMap::default(),
            buf: String::with_capacity(1 << 16),
            samples: Default::default(),
            steps: 0,
        })
    }

    /// Steps written so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies a decoded event with its keys (as [`Engine::admit_keyed`]),
    /// first writing every step its time passes.
    pub fn admit(
        &mut self,
        engine: &mut Engine,
        ev: &crate::event::Event,
        keys: &crate::engine::EventKeys,
        now_ms: i64,
    ) -> Result<Result<(), DecodeError>, ReplayError> {
        // Only an event the guards let in moves time: a bad timestamp far
        // ahead must not write steps up to it.
        if engine.admissible(ev.ts, now_ms) {
            self.before(engine, ev.ts)?;
        }
        Ok(engine.admit_keyed(ev, keys, now_ms))
    }

    /// Writes the steps before an admitted event at `ts`.
    fn before(&mut self, engine: &mut Engine, ts: i64) -> Result<(), ReplayError> {
        let step = self.step;
        let next = *self.next.get_or_insert_with(|| {
            ts.div_euclid(step) * step + if ts.rem_euclid(step) == 0 { 0 } else { step }
        });
        if ts <= next {
            return Ok(());
        }
        let steps = (ts - next).div_euclid(step) + i64::from((ts - next).rem_euclid(step) != 0);
        if steps >= LONG_GAP_STEPS {
            let at = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map_or_else(|_| ms.to_string(), |t| t.to_string())
            };
            tracing::warn!(
                steps,
                from = %at(next),
                to = %at(ts),
                "backfill: a gap without events, each of its steps repeating one sample \
                 (an event dated far before the others?); a signal stops the replay and \
                 removes its unfinished files"
            );
        }
        // Nothing changes between the steps of a gap: one picture for all.
        let snap = engine.snapshot(None);
        let windows = snap.rendered_windows();
        let families = support_families(&snap, &windows);
        let mut t = next;
        while t < ts {
            self.write_step(&families, t)?;
            t += step;
        }
        self.next = Some(t);
        Ok(())
    }

    fn write_step(&mut self, families: &[&Family], t: i64) -> Result<(), ReplayError> {
        let first = self.steps == 0;
        for f in families {
            let i = match self.index.get(f.name) {
                Some(&i) => i,
                None => {
                    let path = self.spool.0.join(format!("{}.om", self.families.len()));
                    let file = File::create(&path).map_err(|e| spool_err(&self.spool, e))?;
                    let mut header = String::new();
                    export::openmetrics_header(&mut header, f);
                    self.families.push(Spool {
                        header,
                        path,
                        w: BufWriter::with_capacity(1 << 16, file),
                        ranks: FxHashMap::default(),
                    });
                    self.index.insert(f.name, self.families.len() - 1);
                    self.families.len() - 1
                }
            };
            let spool = &mut self.families[i];
            for x in &f.series {
                let (rank, new) = match spool.ranks.get(&x.labels) {
                    Some(&r) => (r, false),
                    None => {
                        let r = spool.ranks.len() as u32;
                        spool.ranks.insert(x.labels.clone(), r);
                        (r, true)
                    }
                };
                if new && !first && f.kind != Kind::Gauge {
                    // A counter or histogram series born after the first
                    // step starts from 0 a step before its first value, so
                    // that rate() and increase() over the history count its
                    // first increments (a scrape would miss them; a
                    // backfill need not).
                    let born = zero(x);
                    self.buf.clear();
                    self.samples.series(&mut self.buf, f, &born, t - self.step);
                    regroup::write_record(&mut spool.w, rank, self.buf.as_bytes())
                        .map_err(|e| spool_err(&self.spool, e))?;
                }
                self.buf.clear();
                self.samples.series(&mut self.buf, f, x, t);
                regroup::write_record(&mut spool.w, rank, self.buf.as_bytes())
                    .map_err(|e| spool_err(&self.spool, e))?;
            }
        }
        self.steps += 1;
        Ok(())
    }

    /// After the end-of-input flush: writes the last step (the final
    /// picture, at the first step at or after the event clock), then the
    /// file, families in order of first appearance, and `# EOF`.
    pub fn finish(mut self, engine: &mut Engine) -> Result<u64, ReplayError> {
        if let (Some(clock), Some(next)) = (engine.clock(), self.next) {
            // Every step before the clock is written; the last is at or after it.
            let last = next.max(clock);
            let last = last.div_euclid(self.step) * self.step
                + if last.rem_euclid(self.step) == 0 {
                    0
                } else {
                    self.step
                };
            let snap = engine.snapshot(None);
            let windows = snap.rendered_windows();
            self.write_step(&support_families(&snap, &windows), last)?;
        }
        let families = std::mem::take(&mut self.families);
        for s in families {
            let Spool {
                header, path, w, ..
            } = s;
            w.into_inner()
                .map_err(|e| spool_err(&self.spool, e.into_error()))?;
            self.out.write_all(header.as_bytes())?;
            let spool = &self.spool;
            self.out.copy_with(
                |w| super::regroup::regroup(&path, &spool.0, RUN_BYTES, w),
                |e| spool_err(spool, e),
            )?;
            // Disk held at once: the output so far and the spools not yet copied.
            let _ = fs::remove_file(&path);
        }
        self.out.write_all(b"# EOF\n")?;
        let steps = self.steps;
        let Backfill { out, spool, .. } = self;
        out.commit()?;
        drop(spool);
        Ok(steps)
    }
}
