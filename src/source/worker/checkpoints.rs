//! A worker's checkpoints: when one is written, what it covers, and the
//! offsets stored for the group commit once the changelog acknowledges it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::checkpoint::encode_mirrored_into;
use crate::engine::{LogTail, Mirror, Spare};

use super::*;

impl Worker {
    /// Starts writing a checkpoint when something is not covered yet and
    /// no write is in flight.
    ///
    /// With the SLA event stream, the write first settles every SLA event
    /// produced so far (all of them caused by input before `next_offset`):
    /// a checkpoint never covers input whose SLA events are not
    /// acknowledged. Without checkpoints, the same settling decides which
    /// offset may be committed.
    pub(super) fn start_checkpoint(&mut self) {
        let changelog = self.env.changelog.clone();
        let sink = self.env.sla_events.clone();
        if changelog.is_none() && sink.is_none() {
            return;
        }
        // SLA events produced by the idle clock alone need settling too.
        if self.writing.is_some() || (self.dirty_since_ms.is_none() && self.sla_pending.is_empty())
        {
            return;
        }
        let Some(next_offset) = self.next_offset else {
            return;
        };
        let meta = self.meta(next_offset);
        // A copy of the state now, encoded off this thread: the partition's
        // events are not held up by the encode (docs/performance.md,
        // "Checkpoints off the applying thread").
        // Open agent intervals are booked to the clock first, so that the
        // checkpoint holds them; the time is shown once it is written.
        let agent_time = changelog.as_ref().map(|_| self.engine.book_agent_time());
        let frozen = changelog.as_ref().map(|c| self.freeze(c));
        let tp = self.tp.clone();
        let m = meta.clone();
        let timeout = Duration::from_millis(self.env.cfg.checkpoint.write_timeout.ms() as u64);
        let pending = std::mem::take(&mut self.sla_pending);
        let reuse = self.reuse.clone();
        let write = tokio::spawn(async move {
            // The encode starts at once, beside the SLA events' settling.
            let encoded = frozen.zip(changelog).map(|((copy, tail), c)| {
                let changes = copy.f.is_changes() && !copy.whole;
                let encode = encode_in_background(tp, copy, c.format_version(), reuse.clone());
                let e = Encoded {
                    encode,
                    tail,
                    changes,
                };
                (c, e)
            });
            if let Some(sink) = sink {
                let left = sink.settle(pending, timeout).await;
                if !left.is_empty() {
                    let e = CheckpointError::Timeout(format!(
                        "{} SLA events not acknowledged within {timeout:?}",
                        left.len()
                    ));
                    return (Err(e), left);
                }
            }
            let Some((changelog, encoded)) = encoded else {
                return (Ok(()), Vec::new());
            };
            let r = encoded.write(&changelog, &m, timeout, &reuse).await;
            (r, Vec::new())
        });
        // Events applied from now on are not covered by this checkpoint.
        let covered_since = self.dirty_since_ms.take();
        self.writing = Some(Writing {
            meta,
            write,
            covered_since,
            agent_time,
        });
    }

    /// A copy of the state now, and from format 6 the ids of the dedup
    /// memory since the last checkpoint as its log's next segment
    /// (src/engine/dedup_log.rs); from format 7 only the tickets, calls
    /// and customers changed since the last copy when the changelog
    /// wants changes and the engine knows them (src/checkpoint/chain.rs),
    /// and also when it wants a whole checkpoint and the partition's
    /// mirror holds every copy so far (that checkpoint is then written
    /// whole from the mirror, [`Mirror`]).
    fn freeze(&mut self, c: &Changelog) -> (Copy, Option<LogTail>) {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let w0 = tracing::enabled!(tracing::Level::DEBUG)
            .then(thread_waited)
            .flatten();
        let spare = crate::locks::lock(&self.reuse.spare).take();
        let (topic, p) = (&self.tp.0, self.tp.1);
        let st = self.engine.state_mut();
        let copy = c.dedup_copy(topic, p, st.dedup_epoch());
        c.copy_taken(topic, p);
        let seq = self.reuse.copies.fetch_add(1, Ordering::Relaxed) + 1;
        let mirrored = self.reuse.mirrored.load(Ordering::Acquire) && st.tracks_changes();
        let (mut f, whole) = if c.format_version() < 7 {
            (st.freeze_with(spare, copy), false)
        } else if c.wants_changes(topic, p) {
            (st.freeze_changes(spare, copy), false)
        } else if mirrored {
            (st.freeze_changes(spare, copy), true)
        } else {
            (st.freeze_whole(spare, copy), false)
        };
        let tail = f.take_dedup_tail();
        tracing::debug!(topic = %topic, partition = p,
                        freeze_ms = t0.elapsed().as_millis() as u64,
                        cpu_ms = thread_cpu().saturating_sub(c0).as_millis() as u64,
                        waited_ms = w0.and_then(|w0| Some(thread_waited()?.saturating_sub(w0).as_millis() as u64)),
                        dedup_log_ids = tail.as_ref().map_or(0, |t| t.count),
                        changes = f.is_changes(),
                        whole_from_mirror = whole,
                        "checkpoint state copied");
        let mirror = self.env.cfg.checkpoint.mirror;
        (
            Copy {
                f,
                seq,
                whole,
                mirror,
            },
            tail,
        )
    }

    /// Stores the offset the newest checkpoint covers for the group commit,
    /// once (also a restored one: the process that wrote it may have died
    /// before committing it).
    pub(super) fn store_covered(&mut self) {
        // The old line's offset is not committed (src/source/worker/offsets.rs).
        if self.new_line {
            return;
        }
        let Some(o) = self.last.as_ref().map(|m| m.next_offset) else {
            return;
        };
        if self.stored != Some(o) && o > 0 && self.store_next(o) {
            self.stored = Some(o);
        }
    }

    fn meta(&self, next_offset: i64) -> Meta {
        Meta {
            topic: self.tp.0.clone(),
            partition: self.tp.1,
            next_offset,
            generation: self.last.as_ref().map_or(1, |m| m.generation + 1),
            writer: self.env.writer.as_ref().clone(),
            wall_ms: wall_ms(),
            last_event_wall_ms: Some(self.idle.wall_ms),
            shape: Some(self.env.shape.as_ref().clone()),
            group: self.env.cfg.kafka.client.get("group.id").cloned(),
        }
    }

    /// A write finished: on success it is the newest checkpoint and its
    /// offset may be committed; on failure what it covered is dirty again.
    pub(super) fn written(&mut self, r: Result<WriteOutput, tokio::task::JoinError>) {
        let Some(Writing {
            meta,
            covered_since,
            agent_time,
            ..
        }) = self.writing.take()
        else {
            return;
        };
        let ended = write_ended(
            &self.tp,
            r,
            covered_since,
            &mut self.sla_pending,
            &mut self.dirty_since_ms,
        );
        if ended == Ended::Written {
            // Unless the offsets went back while it was written: then it is
            // the old line's last, and the new line starts below.
            if !self.new_line {
                self.last = Some(meta);
                self.store_covered();
            }
            if let Some(t) = agent_time {
                self.engine.show_agent_time(t);
            }
        }
        if self.new_line {
            self.start_new_line();
        }
        self.status();
    }

    /// Waits for a write in flight, then writes what is left, all within `deadline`.
    pub(super) async fn final_checkpoint(&mut self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        if let Some(w) = self.writing.as_mut() {
            match tokio::time::timeout_at(until, &mut w.write).await {
                Ok(r) => self.written(r),
                Err(_) => {
                    // Kept: the parked engine learns how it ended before
                    // it resumes or its partition restores (`Parked::settle`).
                    warn!(topic = %self.tp.0, partition = self.tp.1, "checkpoint in flight not finished at the deadline");
                    return;
                }
            }
        }
        self.start_checkpoint();
        if let Some(w) = self.writing.as_mut() {
            match tokio::time::timeout_at(until, &mut w.write).await {
                Ok(r) => self.written(r),
                Err(_) => {
                    warn!(topic = %self.tp.0, partition = self.tp.1,
                          "final checkpoint not finished at the deadline; the previous one stands until it is");
                }
            }
        }
    }
}

/// How a checkpoint write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// Acknowledged: the newest checkpoint.
    Written,
    /// Given up; the previous checkpoint stands.
    Failed,
    /// Its task was aborted (a lost partition) or panicked: whether it was
    /// written, and which SLA events it still held, is not known.
    Unknown,
}

/// Folds a finished write into what its engine knows (a worker's, or a
/// parked engine's): SLA events it could not settle go first in the next
/// checkpoint, and what a write that failed would have covered
/// (`covered_since`) is dirty again.
pub(super) fn write_ended(
    tp: &TopicPartition,
    r: Result<WriteOutput, tokio::task::JoinError>,
    covered_since: Option<i64>,
    sla_pending: &mut Vec<Pending>,
    dirty_since_ms: &mut Option<i64>,
) -> Ended {
    let ended = match r {
        Ok((r, mut left)) => {
            left.append(sla_pending);
            *sla_pending = left;
            match r {
                Ok(()) => return Ended::Written,
                Err(e) => {
                    warn!(topic = %tp.0, partition = tp.1, error = %e,
                          "checkpoint abandoned; the previous one stands");
                    Ended::Failed
                }
            }
        }
        Err(e) if e.is_cancelled() => {
            info!(topic = %tp.0, partition = tp.1, "checkpoint write aborted; whether it was written is not known");
            Ended::Unknown
        }
        Err(e) => {
            error!(topic = %tp.0, partition = tp.1, error = %e, "checkpoint task failed");
            Ended::Unknown
        }
    };
    *dirty_since_ms = earliest(*dirty_since_ms, covered_since);
    ended
}

/// The earlier of two instants, either of which may be unknown.
pub(super) fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When in `checkpoint.interval` a partition's checkpoints fall, as a
/// fraction of it in (0, 1]: the first comes that far into the period after
/// the partition is assigned, the next ones a period apart.
///
/// Partitions assigned together (every partition at start-up) would
/// otherwise all copy, encode and write their state in the same instant,
/// and the events applied meanwhile wait behind the sum of that load on
/// the cores and the broker (docs/performance.md, "Checkpoints spread over
/// the interval"). Consecutive partitions of a topic step by the golden
/// ratio, which leaves the phases of any number of them close to evenly
/// spread; the topic's hash offsets each topic's sequence.
pub(super) fn checkpoint_phase(tp: &TopicPartition) -> f64 {
    const GOLDEN: f64 = 0.618_033_988_749_894_9;
    let topic = xxhash_rust::xxh3::xxh3_64(tp.0.as_bytes()) as f64 / 2f64.powi(64);
    let x = (topic + f64::from(tp.1) * GOLDEN).fract();
    // (0, 1]: a phase of 0 would checkpoint at once on assignment.
    1.0 - x
}

/// What a partition's checkpoint leaves for its next one: the size of its
/// encoding, the emptied allocations of its state copy once encoded, and
/// the buffer it was encoded into once written (a write starts only after
/// the previous one finished, so the next checkpoint finds them there).
///
/// Keeping the buffer keeps its memory between two checkpoints (up to
/// four times what the next one asks, [`Reuse::buffer`]), which the encode
/// would take again at the next one anyway: a buffer of 8 MiB or more is
/// mapped on its own, and a new one is zeroed page by page by the kernel
/// as the encode first writes it, a few per cent of the process's CPU at
/// a steady high rate (docs/performance.md, "Where a steady rate's CPU
/// goes").
pub(super) struct Reuse {
    encoded_len: AtomicUsize,
    spare: Mutex<Option<Spare>>,
    buffer: Mutex<Option<Vec<u8>>>,
    /// Copies taken of the partition's state (their numbers, from 1).
    copies: AtomicU64,
    /// The partition's tables as of a copy (`None`: no whole copy yet, or
    /// out of step), and that copy's number.
    mirror: Mutex<(Option<Mirror>, u64)>,
    /// Whether the mirror holds the last copy encoded: the next whole
    /// checkpoint may be written from it.
    mirrored: AtomicBool,
}

/// A copy of a partition's state to encode: its number, whether it is a
/// copy of changes to write whole from the mirror, and whether a whole
/// copy starts a mirror (`checkpoint.mirror`).
pub(super) struct Copy {
    f: FrozenState,
    seq: u64,
    whole: bool,
    mirror: bool,
}

impl Reuse {
    /// After a checkpoint of `encoded_len` bytes (restored, or a parked
    /// engine's last), with no spare copy yet.
    pub(super) fn after(encoded_len: usize) -> Reuse {
        Reuse {
            encoded_len: AtomicUsize::new(encoded_len),
            spare: Mutex::default(),
            buffer: Mutex::default(),
            copies: AtomicU64::new(0),
            mirror: Mutex::default(),
            mirrored: AtomicBool::new(false),
        }
    }

    /// An empty buffer with room for `want` bytes: the last one written,
    /// grown when it has less room (a large buffer grows by moving its
    /// pages, [`crate::huge_pages`]: those it had are neither copied nor
    /// zeroed again); a new one before the first write, and when the last
    /// one has more than four times the room (the state shrank: its memory
    /// goes back).
    fn buffer(&self, want: usize) -> Vec<u8> {
        // One with too much room is freed here, before `reserve` allocates.
        let kept = crate::locks::lock(&self.buffer).take();
        let mut b = kept
            .filter(|b| b.capacity() / 4 <= want)
            .unwrap_or_default();
        b.clear();
        b.reserve(want);
        b
    }

    /// Keeps a written checkpoint's buffer for the next encode.
    fn keep_buffer(&self, bytes: Vec<u8>) {
        *crate::locks::lock(&self.buffer) = Some(bytes);
    }

    /// The size of the last checkpoint's encoding (0: none yet).
    pub(super) fn encoded_len(&self) -> usize {
        self.encoded_len.load(Ordering::Relaxed)
    }
}

/// Encodes a checkpoint's frozen state on a thread of its own, one per
/// checkpoint (at most one in flight per partition), at a lower scheduling
/// priority: encoding is background work, and on a busy machine the
/// threads that apply events go first.
///
/// The encode starts with room for an eighth more than the partition's
/// previous checkpoint took, so it seldom grows its buffer, into the
/// previous checkpoint's buffer ([`Reuse::buffer`]); once done it
/// empties the copy and leaves its allocations for the next one (`reuse`).
///
/// With `checkpoint.mirror` (format 7) the partition's mirror follows
/// every copy here: a whole copy starts it, each copy of changes is
/// applied to it (after it is encoded, or before when it is to be written
/// whole from the mirror), and a copy out of turn (one before it was
/// never encoded) drops it.
fn encode_in_background(
    tp: TopicPartition,
    copy: Copy,
    version: u32,
    reuse: Arc<Reuse>,
) -> EncodeResult {
    spawn_encode(tp, copy, version, reuse).0
}

/// Where an encoding thread sends the checkpoint's bytes.
type EncodeResult = tokio::sync::oneshot::Receiver<Result<Vec<u8>, CheckpointError>>;

/// [`encode_in_background`], with the encoding thread's handle (`None`
/// when it could not be started): the thread leaves the spare copy after
/// it has sent the result, so a test that looks at the spare joins it.
fn spawn_encode(
    tp: TopicPartition,
    copy: Copy,
    version: u32,
    reuse: Arc<Reuse>,
) -> (EncodeResult, Option<std::thread::JoinHandle<()>>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("checkpoint-encode".into())
        .spawn(move || {
            crate::background::lower_priority();
            let last = reuse.encoded_len.load(Ordering::Relaxed);
            let out = reuse.buffer(last + last / 8);
            let mut copy = copy;
            let (r, keep_spare) = {
                let mut mirror = crate::locks::lock(&reuse.mirror);
                let r = encode_following(&tp, &mut copy, version, &mut mirror, out);
                reuse.mirrored.store(mirror.0.is_some(), Ordering::Release);
                r
            };
            if let Ok(b) = &r {
                reuse.encoded_len.store(b.len(), Ordering::Relaxed);
            }
            let _ = tx.send(r);
            *crate::locks::lock(&reuse.spare) = keep_spare.then(|| copy.f.into_spare());
        });
    // Not spawned: the sender is dropped with the closure, so the write
    // fails and the partition stays dirty for the next checkpoint.
    match spawned {
        Ok(h) => (rx, Some(h)),
        Err(e) => {
            error!(error = %e, "cannot start a thread to encode a checkpoint");
            (rx, None)
        }
    }
}

/// A checkpoint's state being encoded, and what its write needs besides.
struct Encoded {
    encode: tokio::sync::oneshot::Receiver<Result<Vec<u8>, CheckpointError>>,
    /// The dedup log's next segment.
    tail: Option<LogTail>,
    /// Whether the state holds the changes since the last checkpoint.
    changes: bool,
}

impl Encoded {
    /// Waits for the encode, then writes the checkpoint of `m` within
    /// `timeout`; the encode's buffer goes back to `reuse`.
    async fn write(
        self,
        changelog: &Changelog,
        m: &Meta,
        timeout: Duration,
        reuse: &Reuse,
    ) -> Result<(), CheckpointError> {
        let bytes = match self.encode.await {
            Ok(r) => r?,
            Err(_) => return Err(CheckpointError::Codec("the encoding thread failed".into())),
        };
        let tail = self.tail.as_ref();
        let written = async {
            if changelog.format_version() >= 7 {
                changelog.write_chained(m, &bytes, tail, self.changes).await
            } else {
                changelog.write_logged(m, &bytes, tail).await
            }
        };
        let r = match tokio::time::timeout(timeout, written).await {
            Ok(r) => r,
            Err(_) => Err(CheckpointError::Timeout(format!(
                "checkpoint not acknowledged within {timeout:?}"
            ))),
        };
        reuse.keep_buffer(bytes);
        r
    }
}

/// Encodes a copy and keeps `mirror` (the mirror and the number of the
/// copy it holds) in step with it: a whole copy starts it (with
/// `checkpoint.mirror`), a copy of changes right after the one it holds
/// is applied to it, any other drops it. Also says whether the copy's
/// allocations are kept for the next copy: not a whole copy that started
/// the mirror (the copies after it are of changes, and need far less
/// room).
fn encode_following(
    tp: &TopicPartition,
    copy: &mut Copy,
    version: u32,
    mirror: &mut (Option<Mirror>, u64),
    out: Vec<u8>,
) -> (Result<Vec<u8>, CheckpointError>, bool) {
    let Copy {
        f,
        seq,
        whole,
        mirror: start,
    } = copy;
    let (seq, whole, start) = (*seq, *whole, *start);
    let (m, at) = mirror;
    // Whether the mirror holds the copy before this one.
    let in_step = m.is_some() && *at + 1 == seq;
    let t0 = Instant::now();
    if whole {
        let Some(m) = m.as_mut().filter(|_| in_step) else {
            *m = None;
            let e = "the mirror to write a whole checkpoint from missed a copy";
            return (Err(CheckpointError::Codec(e.into())), true);
        };
        m.follow(f);
        *at = seq;
        let t1 = Instant::now();
        let r = encode_mirrored_into(f, m, version, out);
        log_encoded(tp, &r, t1, Some(t1 - t0));
        return (r, true);
    }
    let r = encode(tp, f, version, out);
    if version < 7 {
        return (r, true);
    }
    if !f.is_changes() {
        *m = if start { Mirror::of_whole(f) } else { None };
        *at = seq;
        return (r, m.is_none());
    }
    match m.as_mut().filter(|_| in_step) {
        Some(mm) => {
            let t1 = Instant::now();
            mm.follow(f);
            *at = seq;
            tracing::debug!(topic = %tp.0, partition = tp.1,
                            follow_ms = t1.elapsed().as_millis() as u64,
                            "checkpoint mirror followed");
        }
        None => *m = None,
    }
    (r, true)
}

/// Encodes a checkpoint's frozen state in format `version`.
fn encode(
    tp: &TopicPartition,
    f: &FrozenState,
    version: u32,
    out: Vec<u8>,
) -> Result<Vec<u8>, CheckpointError> {
    let t0 = Instant::now();
    let r = encode_frozen_into(f, version, out);
    log_encoded(tp, &r, t0, None);
    r
}

/// Logs an encode that started at `t0`; `followed`: written whole from
/// the mirror, which took that long to follow the copy first.
fn log_encoded(
    tp: &TopicPartition,
    r: &Result<Vec<u8>, CheckpointError>,
    t0: Instant,
    followed: Option<Duration>,
) {
    match r {
        Ok(b) => tracing::debug!(topic = %tp.0, partition = tp.1, bytes = b.len(),
                                 encode_ms = t0.elapsed().as_millis() as u64,
                                 mirror_follow_ms = followed.map(|d| d.as_millis() as u64),
                                 "checkpoint encoded"),
        Err(e) => error!(topic = %tp.0, partition = tp.1, error = %e, "cannot encode a checkpoint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::FORMAT_VERSION;

    /// Encodes `engine`'s state as a worker's checkpoint does, and waits.
    fn encode_now(engine: &Engine, reuse: &Arc<Reuse>) -> Vec<u8> {
        let tp: TopicPartition = ("t".into(), 0);
        let f = engine.state().freeze();
        let seq = reuse.copies.fetch_add(1, Ordering::Relaxed) + 1;
        let copy = Copy {
            f,
            seq,
            whole: false,
            mirror: true,
        };
        let rx = encode_in_background(tp, copy, FORMAT_VERSION, reuse.clone());
        rx.blocking_recv().unwrap().unwrap()
    }

    /// Encodes a copy as the worker does: numbered in turn, `whole` from
    /// the mirror or not.
    fn encode_copy(
        reuse: &Arc<Reuse>,
        f: FrozenState,
        whole: bool,
    ) -> Result<Vec<u8>, CheckpointError> {
        encode_copy_with(reuse, f, whole, true)
    }

    /// [`encode_copy`], `mirror` as `checkpoint.mirror` says.
    fn encode_copy_with(
        reuse: &Arc<Reuse>,
        f: FrozenState,
        whole: bool,
        mirror: bool,
    ) -> Result<Vec<u8>, CheckpointError> {
        let seq = reuse.copies.fetch_add(1, Ordering::Relaxed) + 1;
        let copy = Copy {
            f,
            seq,
            whole,
            mirror,
        };
        let (rx, thread) = spawn_encode(("t".into(), 0), copy, FORMAT_VERSION, reuse.clone());
        let r = rx.blocking_recv().unwrap();
        // Each step starts after the one before has left its spare: a
        // thread still running could leave it after a later one.
        thread.expect("an encoding thread").join().unwrap();
        r
    }

    fn feed(engine: &mut Engine, lines: &[String]) {
        for l in lines {
            engine.apply(crate::decode::decode(l.as_bytes(), 1 << 20).unwrap());
        }
    }

    /// The state as JSON: maps compare by content, not by order.
    fn json(st: &crate::engine::State) -> serde_json::Value {
        serde_json::to_value(st).unwrap()
    }

    /// A whole copy starts the mirror, each copy of changes after it keeps
    /// it in step, and a whole checkpoint from it is the state; a copy
    /// missed (one whose encode never ran) puts it out of step: the
    /// checkpoint that asks it for a whole state fails, and the worker is
    /// told to copy the tables whole again.
    #[test]
    fn the_mirror_follows_every_copy_and_writes_the_state_whole() {
        use crate::checkpoint::decode_state;
        use crate::engine::DedupCopy;
        use crate::simulate::{SimConfig, Simulator};
        let cfg = Config::parse("").unwrap();
        let lines: Vec<String> = Simulator::new(SimConfig::default())
            .take(4_000)
            .map(|e| e.json)
            .collect();
        let mut engine = Engine::new(&cfg);
        let reuse = Arc::new(Reuse::after(0));
        feed(&mut engine, &lines[..1_000]);
        let copy = engine.state_mut().freeze_whole(None, DedupCopy::Inline);
        encode_copy(&reuse, copy, false).unwrap();
        assert!(
            reuse.mirrored.load(Ordering::Acquire),
            "a whole copy starts it"
        );
        feed(&mut engine, &lines[1_000..2_000]);
        let copy = engine.state_mut().freeze_changes(None, DedupCopy::Inline);
        assert!(copy.is_changes());
        encode_copy(&reuse, copy, false).unwrap();
        feed(&mut engine, &lines[2_000..3_000]);
        let copy = engine.state_mut().freeze_changes(None, DedupCopy::Inline);
        let bytes = encode_copy(&reuse, copy, true).unwrap();
        assert_eq!(
            json(&decode_state(&bytes).unwrap()),
            json(engine.state()),
            "whole from the mirror"
        );
        assert!(reuse.mirrored.load(Ordering::Acquire));
        // A copy taken whose encode never ran.
        feed(&mut engine, &lines[3_000..3_500]);
        reuse.copies.fetch_add(1, Ordering::Relaxed);
        let _lost = engine.state_mut().freeze_changes(None, DedupCopy::Inline);
        feed(&mut engine, &lines[3_500..]);
        let copy = engine.state_mut().freeze_changes(None, DedupCopy::Inline);
        let e = encode_copy(&reuse, copy, true).unwrap_err();
        assert!(e.to_string().contains("missed a copy"), "{e}");
        assert!(!reuse.mirrored.load(Ordering::Acquire));
        assert!(crate::locks::lock(&reuse.mirror).0.is_none());
        // Copies of changes to write as changes do not start one.
        let copy = engine.state_mut().freeze_changes(None, DedupCopy::Inline);
        encode_copy(&reuse, copy, false).unwrap();
        assert!(!reuse.mirrored.load(Ordering::Acquire));
        // Nor does a whole copy with `checkpoint.mirror = false`; it is
        // kept for the next copy instead. (`encode_copy_with` returns once
        // the encoding thread has left the spare.)
        let spare = || crate::locks::lock(&reuse.spare).is_some();
        crate::locks::lock(&reuse.spare).take();
        let copy = engine.state_mut().freeze_whole(None, DedupCopy::Inline);
        encode_copy_with(&reuse, copy, false, false).unwrap();
        assert!(!reuse.mirrored.load(Ordering::Acquire));
        assert!(spare(), "the whole copy is kept for the next copy");
        let copy = engine.state_mut().freeze_whole(None, DedupCopy::Inline);
        encode_copy(&reuse, copy, false).unwrap();
        assert!(reuse.mirrored.load(Ordering::Acquire));
        assert!(!spare(), "the copy that started the mirror is not kept");
    }

    /// A worker started from a restored checkpoint (or a parked engine)
    /// gives its first encode room for that checkpoint's size, an eighth
    /// more, instead of a buffer grown from nothing; the size of what it
    /// encodes is what the next one starts from.
    #[test]
    fn the_first_encode_starts_with_room_for_the_checkpoint_it_came_from() {
        let cfg = Config::parse("").unwrap();
        let engine = Engine::new(&cfg);
        let mb = 1 << 20;
        let reuse = Arc::new(Reuse::after(mb));
        let bytes = encode_now(&engine, &reuse);
        assert!(bytes.len() < mb);
        assert!(bytes.capacity() >= mb + mb / 8, "{}", bytes.capacity());
        assert_eq!(reuse.encoded_len(), bytes.len());
    }

    /// The next encode writes into the buffer the last checkpoint was
    /// written from (the same allocation when it has the room), grown to
    /// the room the last checkpoint's size asks when it has not.
    #[test]
    fn the_next_encode_reuses_the_written_buffer() {
        let cfg = Config::parse("").unwrap();
        let engine = Engine::new(&cfg);
        let mb = 1 << 20;
        let reuse = Arc::new(Reuse::after(mb));
        let first = encode_now(&engine, &reuse);
        let (at, cap) = (first.as_ptr(), first.capacity());
        reuse.keep_buffer(first);
        // As if the first had taken what the one before did (this state
        // encodes to a few bytes).
        reuse.encoded_len.store(mb, Ordering::Relaxed);
        let second = encode_now(&engine, &reuse);
        assert_eq!(second.as_ptr(), at, "the kept buffer is written again");
        assert_eq!(second.capacity(), cap);
        // Too small for what the last checkpoint took: grown.
        reuse.keep_buffer(Vec::with_capacity(16));
        reuse.encoded_len.store(mb, Ordering::Relaxed);
        let third = encode_now(&engine, &reuse);
        assert!(third.capacity() >= mb + mb / 8, "{}", third.capacity());
        // Far more room than the last checkpoint took: a new one.
        reuse.keep_buffer(Vec::with_capacity(8 * mb));
        reuse.encoded_len.store(mb, Ordering::Relaxed);
        let fourth = encode_now(&engine, &reuse);
        assert!(fourth.capacity() < 8 * mb, "{}", fourth.capacity());
    }
}
