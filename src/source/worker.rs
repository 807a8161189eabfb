//! One assigned partition: its engine, the offsets it has applied, and its
//! checkpoints. A worker is a task that owns all three; the consumer thread
//! feeds it messages and the rebalance callback sends it `Control`s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::breach_log::BreachLog;
use crate::checkpoint::kafka::Changelog;
use crate::checkpoint::{encode_frozen_into, CheckpointError, Meta};
use crate::config::Config;
use crate::decode::{decode, DecodeError};
use crate::engine::{Engine, EventKeys, FrozenState, StateShape};
use crate::event::Event;
use crate::hub::{PartStatus, Phase, SnapshotHub, TopicPartition};
use crate::kafka_log::Quiet;

mod checkpoints;
mod dead_letter;
mod offsets;
mod parked;

use checkpoints::checkpoint_phase;
use dead_letter::send_ahead;
pub(super) use dead_letter::DLQ_MESSAGE_MAX_BYTES;
pub(super) use parked::Parked;

pub(super) use super::batch::{Batch, BatchPool, Item, Msg};
use super::sla_sink::{Pending, SlaSink, MAX_PENDING};
use super::{wall_ms, Consumer_, Limiter};
use crate::sla_events::Cause;

/// How many messages a worker applies before it looks at its control
/// channel and timers again.
const APPLY_MAX: usize = 1024;

/// A partition spends at most 1/`PUBLISH_SHARE` of its time publishing.
const PUBLISH_SHARE: u32 = 20;

/// Entries each growing table of a partition moves into its larger table
/// per publish tick, besides those moved per event (`Engine::advance_moves`).
const IDLE_MOVES: usize = 32_768;

/// The time from one publication to the next: `http.publish_interval`, or
/// [`PUBLISH_SHARE`] times what the last one took when that is longer. A
/// partition with few series publishes at the configured period; one whose
/// snapshot is expensive (tens of thousands of series, per-agent metrics)
/// publishes less often rather than spending its thread on snapshots
/// nothing reads between two scrapes.
fn publish_gap(period: Duration, took: Duration) -> Duration {
    period.max(took * PUBLISH_SHARE)
}

/// CPU time of the calling thread: what a publication costs, without the
/// time the thread waited for a core (wall time on a busy machine would
/// stretch the gap exactly when events already wait).
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write; the clock id is a constant.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Elsewhere no thread clock is read: every publication counts as free,
/// so partitions publish at the configured period.
#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}

/// How long the calling thread has been ready to run but waiting for a
/// core, in all (the second field of Linux's schedstat): what, beside its
/// CPU time, tells a slow step that waited for the CPU from one that was
/// blocked. `None` where the kernel does not say.
#[cfg(target_os = "linux")]
fn thread_waited() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(not(target_os = "linux"))]
fn thread_waited() -> Option<Duration> {
    None
}

/// What the rebalance callback and shutdown tell a worker.
pub(super) enum Control {
    /// The partition is revoked. `lost`: the group took it without asking
    /// (session timeout), so this instance may no longer write its
    /// checkpoints; its last snapshot stays published until the partition
    /// comes back or goes elsewhere. Otherwise a final checkpoint is written
    /// and its series leave `/metrics`.
    Revoke {
        lost: bool,
        reply: std::sync::mpsc::Sender<Parked>,
    },
    /// Shutdown: a final checkpoint (bounded), then reply.
    Shutdown {
        deadline: Duration,
        reply: std::sync::mpsc::Sender<Parked>,
    },
}

/// The idle-clock rule's memory: the last applied event's time and the
/// wall time it was applied at (SPEC §2; docs/operations.md).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IdleClock {
    /// Event clock right after the last applied event.
    pub event_clock: Option<i64>,
    /// Wall time (unix ms) of the last applied event.
    pub wall_ms: i64,
}

impl IdleClock {
    /// Where a checkpoint leaves the rule: if the partition was already
    /// idle when it was taken, its clock had followed wall time, and the
    /// last event's clock is what it was before.
    pub fn from_checkpoint(meta: &Meta, clock: Option<i64>, idle_ms: i64) -> IdleClock {
        let wall_ms = meta.last_event_wall_ms.unwrap_or(meta.wall_ms);
        let quiet = meta.wall_ms - wall_ms;
        let event_clock = clock.map(|c| if quiet >= idle_ms { c - quiet } else { c });
        IdleClock {
            event_clock,
            wall_ms,
        }
    }
}

/// What a worker starts from.
pub(super) struct Start {
    pub tp: TopicPartition,
    pub engine: Engine,
    /// The first offset not applied to `engine`, when known.
    pub next_offset: Option<i64>,
    /// The newest checkpoint `engine` is (or descends from).
    pub last: Option<Meta>,
    /// The partition's end offset when it was assigned: series appear once
    /// the worker has applied up to it.
    pub target: i64,
    pub idle: IdleClock,
    /// Whether the engine's state has never been exported by anyone else
    /// since `last` (a parked engine resumed): publish at once.
    pub caught_up: bool,
    /// SLA events produced and not yet acknowledged (a parked engine's).
    pub sla_pending: Vec<Pending>,
    /// The size of the checkpoint it was restored from, or of the parked
    /// engine's last one (0: none): the first checkpoint's encode starts
    /// with room for it instead of growing its buffer from nothing.
    pub encoded_len: usize,
    /// Wall time of the first event applied and not covered by `last`
    /// (a parked engine's).
    pub dirty_since_ms: Option<i64>,
    /// Empty because its changelog holds no checkpoint of it at all (not
    /// one that could not be read).
    pub no_checkpoint: bool,
    /// The group's offset may be past the log's end (the log went back):
    /// see `Worker::commit_below`.
    pub commit_below: Option<i64>,
}

/// Everything a worker shares with the rest of the runtime.
#[derive(Clone)]
pub(super) struct Env {
    pub cfg: Arc<Config>,
    pub hub: Arc<SnapshotHub>,
    pub consumer: Arc<Consumer_>,
    pub producer: FutureProducer<Quiet>,
    pub dlq: Arc<String>,
    pub changelog: Option<Arc<Changelog>>,
    /// The SLA event stream, when configured.
    pub sla_events: Option<Arc<SlaSink>>,
    /// This instance, as named in the checkpoints it writes.
    pub writer: Arc<String>,
    /// The layout of the states this config keeps, written with each
    /// checkpoint.
    pub shape: Arc<StateShape>,
    /// Where applied batches go back to the consumer thread.
    pub batches: Arc<BatchPool>,
}

/// A checkpoint write: its result and the SLA events it could not settle.
type Write = JoinHandle<WriteOutput>;

/// What a checkpoint write ends with.
type WriteOutput = (Result<(), CheckpointError>, Vec<Pending>);

/// A checkpoint being written.
pub(super) struct Writing {
    meta: Meta,
    write: Write,
    /// The `dirty_since_ms` it clears: put back if it is not written.
    covered_since: Option<i64>,
    /// The agent status time its state holds: shown once it is written.
    agent_time: Option<crate::engine::AgentTime>,
}

impl Writing {
    /// Aborts the write and waits until it has stopped (off the runtime).
    pub(super) fn stop(self, rt: &tokio::runtime::Handle) {
        self.write.abort();
        let _ = rt.block_on(self.write);
    }
}

struct Worker {
    env: Env,
    tp: TopicPartition,
    engine: Engine,
    next_offset: Option<i64>,
    last: Option<Meta>,
    target: i64,
    caught_up: bool,
    idle: IdleClock,
    /// Wall time of the first event applied since the newest checkpoint
    /// (`None`: every applied event is covered).
    dirty_since_ms: Option<i64>,
    /// A checkpoint being written.
    writing: Option<Writing>,
    /// Set by the rebalance callback to interrupt a dead-letter retry loop.
    stop: watch::Receiver<bool>,
    /// An end-of-partition mark taken from the queue while batching.
    eof_pending: bool,
    /// A dead letter was interrupted by a revoke or shutdown: nothing more
    /// is applied (what follows it is consumed again by the next owner).
    halted: bool,
    /// The offset last stored for the group commit.
    stored: Option<i64>,
    /// The offset of the last message delivered (applied or not).
    delivered: Option<i64>,
    /// The partition's offsets went back while a checkpoint was being
    /// written: its checkpoints start a new line once that write ends.
    new_line: bool,
    /// The offset the partition's log went back from (or a checkpoint's
    /// past the end of a new log): until a stored offset passes it, each
    /// one is also committed explicitly, since librdkafka's own commits
    /// only ever raise the group's.
    commit_below: Option<i64>,
    /// When the last explicit commit below `commit_below` was sent.
    commit_sent: Option<Instant>,
    breach_log: BreachLog,
    warn_limit: Limiter,
    /// SLA events produced since the newest checkpoint and not yet
    /// acknowledged: the next checkpoint settles them first.
    sla_pending: Vec<Pending>,
    /// Whether input is held back because `sla_pending` is full (logged once).
    sla_full: bool,
    /// The batch being applied, decoded (kept for its allocation).
    decoded: Vec<Decoded>,
    /// What the last checkpoint left for the next one.
    reuse: Arc<checkpoints::Reuse>,
}

/// A message decoded ahead of applying it, with its keys' hashes (for
/// its cache hints and its lookups) when it decoded; `None`: already
/// applied.
type Decoded = Option<Result<(Event, EventKeys), DecodeError>>;

/// Starts a worker task for an assigned partition.
pub(super) fn spawn(
    env: Env,
    start: Start,
    rt: &tokio::runtime::Handle,
) -> (
    mpsc::Sender<Item>,
    mpsc::UnboundedSender<Control>,
    watch::Sender<bool>,
) {
    let (data_tx, data_rx) = mpsc::channel(super::PARTITION_QUEUE);
    let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut w = Worker {
        env,
        tp: start.tp,
        engine: start.engine,
        next_offset: start.next_offset,
        last: start.last,
        target: start.target,
        caught_up: start.caught_up,
        idle: start.idle,
        dirty_since_ms: start.dirty_since_ms,
        writing: None,
        stop: stop_rx,
        eof_pending: false,
        halted: false,
        stored: None,
        delivered: None,
        new_line: false,
        commit_below: start.commit_below,
        commit_sent: None,
        breach_log: BreachLog::default(),
        warn_limit: Limiter::new(10),
        sla_pending: start.sla_pending,
        sla_full: false,
        decoded: Vec::new(),
        reuse: Arc::new(checkpoints::Reuse::after(start.encoded_len)),
    };
    if w.env.sla_events.is_some() {
        w.engine.record_sla_events(true);
    }
    // A checkpointed partition shows the agent status time of its newest
    // written checkpoint (a restored engine holds that checkpoint's; a
    // resumed one already shows its own).
    if w.env.changelog.is_some() && !w.engine.shows_written_agent_time() {
        let t = w.engine.agent_time();
        w.engine.show_agent_time(t);
    }
    rt.spawn(w.run(data_rx, ctrl_rx));
    (data_tx, ctrl_tx, stop_tx)
}

impl Worker {
    async fn run(
        mut self,
        mut data: mpsc::Receiver<Item>,
        mut ctrl: mpsc::UnboundedReceiver<Control>,
    ) {
        let cfg = self.env.cfg.clone();
        let publish_period = Duration::from_millis(cfg.http.publish_interval.ms() as u64);
        let mut publish = tokio::time::interval(publish_period);
        // A worker held up (a long batch, a state copy) publishes once
        // after, not once per period it missed.
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let checkpoint_period = Duration::from_millis(cfg.checkpoint.interval.ms() as u64);
        // The first checkpoint comes at this partition's phase of the
        // period, so the partitions of one instance do not all copy, encode
        // and write at the same moment.
        let first =
            tokio::time::Instant::now() + checkpoint_period.mul_f64(checkpoint_phase(&self.tp));
        let mut checkpoint = tokio::time::interval_at(first, checkpoint_period);
        checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // At the end it saw at assignment already (an empty or restored
        // partition): the first publish tick, at once, publishes it.
        self.caught_up |= self.reached_target();
        self.status();
        let mut data_closed = false;
        loop {
            tokio::select! {
                biased;
                c = ctrl.recv() => match c {
                    Some(Control::Revoke { lost, reply }) => {
                        let parked = self.revoke(lost).await;
                        let _ = reply.send(parked);
                        return;
                    }
                    Some(Control::Shutdown { deadline, reply }) => {
                        let parked = self.finish(deadline).await;
                        let _ = reply.send(parked);
                        return;
                    }
                    None => return,
                },
                r = async { (&mut self.writing.as_mut().expect("guarded").write).await }, if self.writing.is_some() => {
                    self.written(r);
                }
                m = data.recv(), if !data_closed && !self.halted && self.sla_room() => match m {
                    Some(Item::Batch(b)) => self.batch(b, &mut data).await,
                    // Everything up to the end is applied.
                    Some(Item::Eof) => self.caught_up_now(),
                    // Only the control channel is left to say what to do.
                    None => data_closed = true,
                },
                _ = publish.tick() => {
                    let t0 = thread_cpu();
                    self.tick();
                    let gap = publish_gap(publish_period, thread_cpu().saturating_sub(t0));
                    if gap > publish_period {
                        publish.reset_after(gap);
                    }
                }
                _ = checkpoint.tick() => self.start_checkpoint(),
            }
        }
    }

    /// Applies a batch and the batches queued behind it (up to
    /// [`APPLY_MAX`] messages, stopping at an end-of-partition mark, which
    /// is handled after them).
    async fn batch(&mut self, first: Batch, data: &mut mpsc::Receiver<Item>) {
        let t0 = Instant::now();
        let max = self.env.cfg.limits.max_event_bytes;
        let mut next = Some(first);
        let mut n = 0;
        // Whether an event was accepted: bad input is not an event to the
        // idle clock (SPEC §2).
        let mut events = false;
        let mut decoded = std::mem::take(&mut self.decoded);
        'batches: while let Some(b) = next.take() {
            // The wall clock the guards on event time compare against, read
            // for each batch: a batch takes milliseconds, far below
            // `time.max_future_skew`, but a dead letter may hold one for
            // minutes, and a batch queued meanwhile without an end of the
            // partition before it (a backlog) is in the same round.
            let mut now = wall_ms();
            self.follow_offsets(&b);
            decode_batch(&b, self.next_offset, max, &mut decoded);
            // Not once told to stop: the next owner writes them.
            let stopping = *self.stop.borrow();
            let mut ahead = send_ahead(&self.env, &self.tp, &b, &decoded, stopping).peekable();
            for i in 0..b.len() {
                let m = b.get(i);
                // Already applied (a message fetched before a seek took effect).
                let Some(event) = &decoded[i] else {
                    continue;
                };
                self.engine
                    .prefetch_ahead(|k| decoded.get(i + k)?.as_ref()?.as_ref().ok().map(|d| &d.1));
                let result = self.engine.admit_decoded(event, now);
                events |= result.is_ok();
                self.produce_sla(m.offset, Cause::Event);
                if let Err(e) = result {
                    let first = ahead.next_if(|(j, _)| *j == i).map(|(_, f)| f);
                    if !self.dead_lettered(&m, &e, first).await {
                        // Revoked or shutting down before the dead letter was
                        // acknowledged: the message and those after it stay
                        // unapplied and are consumed again by whoever owns
                        // the partition next.
                        self.halted = true;
                        break 'batches;
                    }
                    // What follows in the batch is checked against the
                    // clock after the wait.
                    now = wall_ms();
                }
                self.next_offset = Some(m.offset + 1);
            }
            n += b.len();
            self.env.batches.put(b);
            next = self.next_in_batch(n, data);
        }
        decoded.clear();
        self.decoded = decoded;
        self.applied(t0, events);
    }

    /// After a round of batches (begun at `t0`): the end of the partition
    /// or its catching up, offsets stored without checkpoints, the idle
    /// clock (restarted only when the round had `events`: a partition that
    /// gets nothing but bad input is quiet, and its clock follows wall time).
    fn applied(&mut self, t0: Instant, events: bool) {
        if std::mem::take(&mut self.eof_pending) {
            self.caught_up_now();
        }
        if self.env.changelog.is_none() && self.env.sla_events.is_none() {
            // Without checkpoints (or SLA events to settle first) an
            // applied event's offset may be committed at once.
            if let Some(o) = self.next_offset {
                self.store_next(o);
            }
        }
        let now = wall_ms();
        if events {
            self.idle = IdleClock {
                event_clock: self.engine.clock(),
                wall_ms: now,
            };
        }
        self.dirty_since_ms.get_or_insert(now);
        self.env.hub.observe_batch(t0.elapsed().as_secs_f64());
        if self.reached_target() {
            self.caught_up_now();
        }
    }

    /// The next batch, if one is queued and the round is not full.
    fn next_in_batch(&mut self, n: usize, data: &mut mpsc::Receiver<Item>) -> Option<Batch> {
        if n >= APPLY_MAX || self.eof_pending {
            return None;
        }
        match data.try_recv() {
            Ok(Item::Batch(b)) => Some(b),
            Ok(Item::Eof) => {
                self.eof_pending = true;
                None
            }
            Err(_) => None,
        }
    }

    /// Applied up to the end offset it saw at assignment.
    fn reached_target(&self) -> bool {
        self.next_offset.unwrap_or(0) >= self.target
    }

    /// Caught up (the end of the partition, or the end it saw at
    /// assignment, applied): its series appear at once, not up to a
    /// publish period later; the tick moves an idle clock first.
    fn caught_up_now(&mut self) {
        if !self.caught_up {
            self.caught_up = true;
            self.tick();
        }
    }

    /// Publish tick: the idle clock, breach lines, the snapshot, the status.
    fn tick(&mut self) {
        let idle_ms = self.env.cfg.time.idle_timeout.ms();
        if let Some(c) = self.idle.event_clock {
            let quiet = wall_ms() - self.idle.wall_ms;
            // Not of itself a reason to checkpoint: a restored partition
            // recomputes the same clock from the last event's time and wall
            // time (a breach it fires is, below).
            if quiet >= idle_ms && self.engine.clock().is_some_and(|now| now < c + quiet) {
                self.engine.advance_clock(c + quiet);
                // But agent status time goes on only as checkpoints book it
                // (docs/metrics.md, "Agent time after a restart").
                if self.engine.shows_written_agent_time() && self.engine.has_agents() {
                    self.dirty_since_ms.get_or_insert(wall_ms());
                }
                if let Some(o) = self.next_offset {
                    self.produce_sla(o - 1, Cause::IdleClock);
                }
            }
        }
        // A table that grew moves its entries a few per event; between
        // batches it moves more, so a move ends within seconds when events
        // are few (about 5 ms of work per tick at most).
        self.engine.advance_moves(IDLE_MOVES);
        let (breaches, dropped) = self.engine.drain_breaches();
        if !breaches.is_empty() {
            // A breach the idle clock fired is logged once: checkpointed,
            // a restart does not fire (and log) it again.
            self.dirty_since_ms.get_or_insert(wall_ms());
        }
        self.breach_log.log(&breaches, dropped);
        self.publish();
        if self.env.changelog.is_some() || self.env.sla_events.is_some() {
            self.store_covered();
        }
    }

    /// Produces the SLA events the engine recorded, caused by the input at `offset`.
    fn produce_sla(&mut self, offset: i64, driven_by: Cause) {
        let Some(sink) = &self.env.sla_events else {
            return;
        };
        let tp = (self.tp.0.as_str(), self.tp.1);
        let dropped = sink.produce(
            &mut self.engine,
            tp,
            offset,
            driven_by,
            &mut self.sla_pending,
        );
        if dropped > 0 {
            error!(topic = %self.tp.0, partition = self.tp.1, offset, dropped,
                   "SLA state changes of one step exceeded the engine's buffer and are not in the SLA event stream");
        }
    }

    /// Whether more input may be applied: not while the SLA events waiting
    /// for acknowledgement are at their bound (the topic is unreachable).
    fn sla_room(&mut self) -> bool {
        let room = self.sla_pending.len() < MAX_PENDING;
        if room == self.sla_full {
            self.sla_full = !room;
            if room {
                info!(topic = %self.tp.0, partition = self.tp.1, "SLA events acknowledged; consuming again");
            } else {
                warn!(topic = %self.tp.0, partition = self.tp.1, pending = self.sla_pending.len(),
                      "SLA events not acknowledged; input held back until they are");
            }
        }
        room
    }

    fn publish(&mut self) {
        if self.caught_up {
            let snap = self.engine.snapshot(Some(wall_ms()));
            self.env.hub.publish(&self.tp, Arc::new(snap));
        }
        self.status();
    }

    fn status(&self) {
        let phase = if self.caught_up {
            Phase::Live
        } else {
            Phase::CatchingUp
        };
        self.env.hub.set_status(
            &self.tp,
            PartStatus {
                phase,
                position: self.next_offset.unwrap_or(-1),
                target: self.target,
                // What a write in flight would cover is not covered until
                // it is acknowledged.
                dirty_since_ms: if self.env.changelog.is_some() {
                    let writing = self.writing.as_ref().and_then(|w| w.covered_since);
                    checkpoints::earliest(self.dirty_since_ms, writing)
                } else {
                    None
                },
            },
        );
    }

    async fn revoke(mut self, lost: bool) -> Parked {
        if lost {
            // Another instance may own it already: write nothing more. The
            // last snapshot stays published (the partition is most likely
            // back here once the group is reachable again).
            if let Some(w) = &self.writing {
                w.write.abort();
            }
            info!(topic = %self.tp.0, partition = self.tp.1, offset = ?self.next_offset,
                  "partition lost; engine kept in case it comes back");
        } else {
            let deadline = Duration::from_millis(self.env.cfg.checkpoint.write_timeout.ms() as u64)
                .min(Duration::from_secs(10));
            self.final_checkpoint(deadline).await;
            self.env.hub.remove(&self.tp);
            info!(topic = %self.tp.0, partition = self.tp.1, offset = ?self.next_offset,
                  checkpoint = ?self.last.as_ref().map(|m| m.next_offset), "partition revoked");
        }
        self.env.hub.clear_status(&self.tp);
        self.park()
    }

    async fn finish(mut self, deadline: Duration) -> Parked {
        self.final_checkpoint(deadline).await;
        info!(topic = %self.tp.0, partition = self.tp.1, offset = ?self.next_offset,
              checkpoint = ?self.last.as_ref().map(|m| m.next_offset), "partition stopped");
        self.park()
    }

    fn park(self) -> Parked {
        Parked {
            engine: self.engine,
            next_offset: self.next_offset,
            last: self.last,
            idle: self.idle,
            since: Instant::now(),
            sla_pending: self.sla_pending,
            encoded_len: self.reuse.encoded_len(),
            dirty_since_ms: self.dirty_since_ms,
            writing: self.writing,
            new_line: self.new_line,
            commit_below: self.commit_below,
        }
    }
}

/// A batch's messages decoded into `out` before any is applied, so the
/// engine can warm its caches for the ones a few places ahead of the one it
/// applies; `None` for a message before `next_offset`, already applied
/// (offsets rise within a batch, so only its head can be). Decode errors
/// are counted when their message is reached, not here: a batch may stop
/// half-way.
fn decode_batch(b: &Batch, next_offset: Option<i64>, max: usize, out: &mut Vec<Decoded>) {
    let from = next_offset.unwrap_or(i64::MIN);
    out.clear();
    out.extend((0..b.len()).map(|i| {
        let m = b.get(i);
        (m.offset >= from).then(|| match m.payload {
            Some(p) => decode(p, max).map(EventKeys::with),
            None => Err(DecodeError::InvalidJson("empty message".into())),
        })
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn meta(wall_ms: i64, last_event_wall_ms: Option<i64>) -> Meta {
        Meta {
            topic: "t".into(),
            partition: 0,
            next_offset: 5,
            generation: 1,
            writer: "w".into(),
            wall_ms,
            last_event_wall_ms,
            shape: None,
            group: None,
        }
    }

    #[test]
    fn idle_clock_resumes_from_the_last_event_not_the_checkpoint() {
        // Checkpoint taken 100 s after the last event, idle after 30 s: the
        // clock had followed wall time from 1 000 000 to 1 100 000.
        let ic = IdleClock::from_checkpoint(&meta(600_000, Some(500_000)), Some(1_100_000), 30_000);
        assert_eq!(ic.event_clock, Some(1_000_000));
        assert_eq!(ic.wall_ms, 500_000);
        // Taken 10 s after the last event: not idle yet, the clock is the event's.
        let ic = IdleClock::from_checkpoint(&meta(510_000, Some(500_000)), Some(1_000_000), 30_000);
        assert_eq!(ic.event_clock, Some(1_000_000));
        assert_eq!(ic.wall_ms, 500_000);
        // No event yet: no clock.
        let ic = IdleClock::from_checkpoint(&meta(510_000, None), None, 30_000);
        assert_eq!(ic.event_clock, None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn thread_cpu_counts_work_not_sleep() {
        let t0 = thread_cpu();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu() - t0;
        let t1 = thread_cpu();
        let mut x = 0u64;
        while thread_cpu() - t1 < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(slept < Duration::from_millis(10), "{slept:?}");
        assert!(thread_cpu() - t1 >= Duration::from_millis(20));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn thread_waited_counts_time_ready_without_a_core() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // This thread and three spinning ones on the same core: it runs
        // about a quarter of the time and waits for the core the rest.
        fn pin(cpu: usize) {
            // SAFETY: a zeroed cpu_set_t is an empty set; both calls get
            // valid pointers and the set's own size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                let r = libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                assert_eq!(r, 0, "sched_setaffinity");
            }
        }
        // SAFETY: `was` is a valid set to write, of its own size; the
        // second call takes no arguments.
        let (was, cpu) = unsafe {
            let mut was: libc::cpu_set_t = std::mem::zeroed();
            let r = libc::sched_getaffinity(0, std::mem::size_of_val(&was), &mut was);
            assert_eq!(r, 0, "sched_getaffinity");
            (was, libc::sched_getcpu())
        };
        assert!(cpu >= 0);
        let cpu = cpu as usize;
        pin(cpu);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    pin(cpu);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            }
            let (w0, c0) = (thread_waited().expect("schedstat on Linux"), thread_cpu());
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_millis(400) {
                std::hint::spin_loop();
            }
            let waited = thread_waited().unwrap() - w0;
            let ran = thread_cpu() - c0;
            stop.store(true, Ordering::Relaxed);
            // SAFETY: the set read above, of its own size.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&was), &was) };
            assert!(
                waited >= Duration::from_millis(100) && waited > ran,
                "waited {waited:?}, ran {ran:?}"
            );
        });
    }

    #[test]
    fn publishing_takes_at_most_a_twentieth_of_a_partitions_time() {
        let ms = Duration::from_millis;
        // Cheap snapshots: the configured period.
        assert_eq!(publish_gap(ms(100), Duration::from_micros(500)), ms(100));
        assert_eq!(publish_gap(ms(100), ms(5)), ms(100));
        // Expensive ones: twenty times their cost.
        assert_eq!(publish_gap(ms(100), ms(6)), ms(120));
        assert_eq!(publish_gap(ms(250), ms(40)), ms(800));
    }

    #[test]
    fn the_partitions_of_a_topic_checkpoint_spread_over_the_interval() {
        for topic in ["events", "support.tickets", "t"] {
            for n in [2, 3, 4, 6, 12, 32] {
                let mut phases: Vec<f64> = (0..n)
                    .map(|p| checkpoint_phase(&(topic.to_string(), p)))
                    .collect();
                assert!(phases.iter().all(|&x| x > 0.0 && x <= 1.0), "{phases:?}");
                phases.sort_by(f64::total_cmp);
                // The gaps between neighbours, the last one around the period.
                let gaps: Vec<f64> = phases
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .chain([1.0 - phases[n as usize - 1] + phases[0]])
                    .collect();
                let (min, max) = gaps
                    .iter()
                    .fold((1.0f64, 0.0f64), |(a, b), &g| (a.min(g), b.max(g)));
                // Evenly spread would be 1/n each; the golden ratio's steps
                // stay within a factor of about 2.6 of it on either side.
                assert!(max <= 2.7 / f64::from(n), "{topic} {n}: {gaps:?}");
                assert!(min >= 0.35 / f64::from(n), "{topic} {n}: {gaps:?}");
            }
        }
        // The same partition of two topics is not at the same phase.
        assert_ne!(
            checkpoint_phase(&("a".into(), 0)),
            checkpoint_phase(&("b".into(), 0))
        );
    }
}
