//! The consumer's librdkafka context: statistics (lag), errors and logs,
//! and rebalances — restoring each newly assigned partition (its parked
//! engine, else its newest checkpoint, else empty) and stopping and parking
//! the workers of revoked ones.

use std::sync::{Condvar, PoisonError};

use super::committed::{uncommitted, Committed};
use super::*;
use crate::checkpoint::kafka::Restore;
use crate::checkpoint::{CheckpointError, Meta};
use crate::locks::lock;

/// A worker's channels, held by the consumer thread and the callbacks.
pub(super) struct Handle {
    pub(super) data: mpsc::Sender<Item>,
    pub(super) ctrl: mpsc::UnboundedSender<Control>,
    pub(super) stop: watch::Sender<bool>,
}

/// The workers of the assigned partitions and the engines of revoked ones.
#[derive(Default)]
pub(super) struct Workers {
    pub(super) live: HashMap<TopicPartition, Handle>,
    pub(super) parked: HashMap<TopicPartition, Parked>,
}

/// librdkafka callbacks: statistics (lag), rebalances (restore, revoke),
/// errors and logs (rate-limited).
pub struct Ctx {
    pub(super) hub: Arc<SnapshotHub>,
    pub(super) cfg: Arc<Config>,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) workers: Mutex<Workers>,
    /// What the workers share, opened while the group is joined (workers
    /// store offsets through the consumer it holds).
    pub(super) env: EnvSlot,
    /// The queue the assigned partitions' messages are fetched into.
    pub(super) fetched: Arc<Fetched>,
    /// Batches the workers hand back to the consumer thread.
    pub(super) batches: Arc<BatchPool>,
    /// Where a partition with neither a checkpoint nor a committed offset
    /// starts (`auto.offset.reset`; None: librdkafka decides).
    pub(super) no_offset: Option<Offset>,
}

/// The workers' [`Env`]: opening (the changelog topic is found or created
/// while the consumer joins its group), open, or closed (it failed to
/// open, or the consumer is stopping; dropping it breaks the cycle
/// consumer → context → env → consumer).
pub(super) type EnvSlot = Slot<Env>;

/// A value that is being made, then is there, then is gone; readers wait
/// while it is being made.
pub(super) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    changed: Condvar,
}

/// Where a [`Slot`]'s value is.
enum SlotState<T> {
    Opening,
    Open(T),
    Closed,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(SlotState::Opening),
            changed: Condvar::new(),
        }
    }
}

impl<T: Clone> Slot<T> {
    /// There: those waiting get it.
    pub(super) fn open(&self, value: T) {
        *lock(&self.state) = SlotState::Open(value);
        self.changed.notify_all();
    }

    /// Gone (or never to be): those waiting get None.
    pub(super) fn close(&self) {
        *lock(&self.state) = SlotState::Closed;
        self.changed.notify_all();
    }

    /// The value once it is there; None once it is gone. The rebalance
    /// callback (on the consumer thread) waits here while the env opens:
    /// an assignment that arrives first waits for the changelog it
    /// restores from.
    pub(super) fn wait(&self) -> Option<T> {
        let state = self
            .changed
            .wait_while(lock(&self.state), |s| matches!(s, SlotState::Opening))
            .unwrap_or_else(PoisonError::into_inner);
        match &*state {
            SlotState::Open(v) => Some(v.clone()),
            SlotState::Opening | SlotState::Closed => None,
        }
    }
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        // The consumer's fetches and heartbeats are answered all the time:
        // a broker connected and heard from within the last 5 s ends an
        // outage, on a quiet topic too (no message comes to say so).
        if stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP" && (0..5_000_000).contains(&b.rxidle))
        {
            kafka_log::ok();
        }
        let assigned = self.hub.assigned();
        let mut lag = BTreeMap::new();
        for (topic, t) in stats.topics {
            for (p, part) in t.partitions {
                let tp = (topic.clone(), p);
                // Only partitions this instance owns: a revoked one's lag is another's.
                if p < 0 || !assigned.contains(&tp) {
                    continue;
                }
                if let Some(l) = consumer_lag(&part) {
                    lag.insert(tp, l);
                }
            }
        }
        self.hub.set_lag(lag);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        kafka_log::client_error(&error, reason);
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        kafka_log::client_log(level, fac, message);
    }
}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.hub.rebalances.fetch_add(1, Ordering::Relaxed);
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Assigned from now: `/readyz` names them restoring while
                // they are, rather than counting only the partitions held.
                let mut now = if cooperative {
                    consumer
                        .assignment()
                        .map(|t| partitions(&t))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                for tp in partitions(tpl) {
                    if !now.contains(&tp) {
                        now.push(tp);
                    }
                }
                self.hub.set_assigned(now);
                self.assign(consumer, tpl);
                // Before the fetches start, so none goes to the consumer queue.
                self.fetched
                    .forward(consumer.client().native_ptr(), &partitions(tpl));
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = r {
                    error!(error = %e, "cannot take the assigned partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoke(tpl, consumer.assignment_lost());
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    warn!(error = %e, "unassign failed");
                }
            }
            e => {
                warn!(error = %RDKafkaErrorCode::from(e), "rebalance error");
                let _ = consumer.unassign();
            }
        }
        let assigned = consumer
            .assignment()
            .map(|t| partitions(&t))
            .unwrap_or_default();
        info!(partitions = ?assigned, "assignment");
        self.hub.set_assigned(assigned.clone());
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            // Engines parked for partitions that went elsewhere are dropped.
            self.drop_parked(|tp, _| !assigned.contains(tp));
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                self.hub.last_commit_ms.store(wall_ms(), Ordering::Relaxed);
                kafka_log::ok();
            }
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::debug!(error = %e, "offset commit"),
        }
    }
}

impl Ctx {
    /// Builds a worker for each newly assigned partition and sets the
    /// offset it starts from.
    pub(super) fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let new: Vec<TopicPartition> = partitions(tpl)
            .into_iter()
            .filter(|tp| !lock(&self.workers).live.contains_key(tp))
            .collect();
        let assigned: &TopicPartitionList = tpl;
        let opened = std::thread::scope(|scope| {
            // What needs no changelog is asked for while it opens (at a
            // first start it is being created): the group's committed
            // offsets (see `uncommitted`) and each partition's end offset.
            let uncommitted = scope.spawn(|| match self.no_offset {
                Some(_) => uncommitted(consumer, assigned),
                None => Committed::default(),
            });
            let targets: Vec<_> = new
                .iter()
                .map(|tp| {
                    scope.spawn(move || {
                        consumer
                            .fetch_watermarks(&tp.0, tp.1, Duration::from_secs(10))
                            .map(|(_, high)| high)
                            .ok()
                    })
                })
                .collect();
            // A changelog that failed to open (or a shutdown) ends the
            // assignment here, once those requests have (at most 10 s).
            let env = self.env.wait()?;
            // Partitions restore side by side: an instance taking over
            // several large partitions waits for the largest, not for
            // their sum.
            let running: Vec<_> = new
                .iter()
                .zip(targets)
                .map(|(tp, target)| {
                    self.hub.set_status(tp, RESTORING);
                    let parked = lock(&self.workers).parked.remove(tp);
                    let env = env.clone();
                    scope.spawn(move || {
                        let end = target.join().ok().flatten();
                        self.start(&env, tp, end, parked)
                    })
                })
                .collect();
            let starts: Vec<Start> = running
                .into_iter()
                .zip(&new)
                .map(|(h, tp)| h.join().unwrap_or_else(|_| self.failed_start(&env, tp)))
                .collect();
            Some((env, starts, uncommitted.join().unwrap_or_default()))
        });
        let Some((env, starts, uncommitted)) = opened else {
            return;
        };
        for start in starts {
            let tp = start.tp.clone();
            uncommitted.note(&env, &start);
            let offset = match (start.next_offset, self.no_offset) {
                (Some(o), _) => Some(Offset::Offset(o)),
                // Where the group has no offset, or its offset is the old
                // log's (`commit_below`: a log that went back).
                (None, Some(reset))
                    if uncommitted.none.contains(&tp) || start.commit_below.is_some() =>
                {
                    Some(reset)
                }
                // The group's committed offset (librdkafka asks for it).
                (None, _) => None,
            };
            if let Some(o) = offset {
                if let Err(e) = tpl.set_partition_offset(&tp.0, tp.1, o) {
                    error!(topic = %tp.0, partition = tp.1, error = %e, "cannot set the start offset");
                }
            }
            let (data, ctrl, stop) = worker::spawn(env.clone(), start, &self.rt);
            lock(&self.workers)
                .live
                .insert(tp, Handle { data, ctrl, stop });
        }
    }

    /// The start of a partition whose start panicked (a bug, its panic
    /// logged): empty, so that the partition is consumed all the same
    /// rather than never.
    fn failed_start(&self, env: &Env, tp: &TopicPartition) -> Start {
        error!(topic = %tp.0, partition = tp.1,
               "starting the partition failed; starting empty at the committed offset");
        if let Some(c) = env.changelog.as_ref() {
            c.forget(&tp.0, tp.1);
        }
        empty_start(&self.cfg, tp, 0)
    }

    /// Where a newly assigned partition starts: its parked engine if no one
    /// else has checkpointed it since, else its newest valid checkpoint,
    /// else an empty engine at the group's committed offset.
    pub(super) fn start(
        &self,
        env: &Env,
        tp: &TopicPartition,
        end: Option<i64>,
        parked: Option<Parked>,
    ) -> Start {
        let cfg = &self.cfg;
        let target = end.unwrap_or(0);
        let Some(changelog) = env.changelog.as_ref() else {
            return empty_start(cfg, tp, target);
        };
        // A write the parked engine left in flight ends first (bounded by
        // its own timeouts): what the changelog holds is then settled.
        if let Some(p) = parked {
            match p
                .settle(tp, &self.rt)
                .and_then(|p| resume_parked(changelog, tp, end, p))
            {
                Some(start) => return start,
                None => self.hub.remove(tp),
            }
        }
        restore(cfg, changelog, tp, end)
    }

    /// Stops the workers of revoked partitions (each writes its final
    /// checkpoint unless the partition was lost) and parks their engines.
    pub(super) fn revoke(&self, tpl: &TopicPartitionList, lost: bool) {
        let tps = partitions(tpl);
        let mut waiting = Vec::new();
        for tp in tps {
            let Some(h) = lock(&self.workers).live.remove(&tp) else {
                continue;
            };
            let _ = h.stop.send(true);
            let (reply, rx) = std::sync::mpsc::channel();
            if h.ctrl.send(Control::Revoke { lost, reply }).is_ok() {
                waiting.push((tp, rx));
            }
        }
        // Bounded: a worker that cannot finish in time is left to finish
        // alone; its partition then starts from its newest checkpoint.
        let until = Instant::now() + Duration::from_secs(12);
        for (tp, rx) in waiting {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(p) => {
                    lock(&self.workers).parked.insert(tp, p);
                }
                Err(_) => warn!(topic = %tp.0, partition = tp.1, "worker did not stop in time"),
            }
        }
    }

    /// Drops parked engines matching `f` (and their published series),
    /// with any checkpoint write they left under way: it is stopped before
    /// this returns.
    pub(super) fn drop_parked(&self, f: impl Fn(&TopicPartition, &Parked) -> bool) {
        let mut w = lock(&self.workers);
        let gone: Vec<TopicPartition> = w
            .parked
            .iter()
            .filter(|(tp, p)| f(tp, p))
            .map(|(tp, _)| tp.clone())
            .collect();
        let mut writes = Vec::new();
        for tp in gone {
            writes.extend(w.parked.remove(&tp).and_then(|p| p.writing));
            self.hub.remove(&tp);
        }
        drop(w);
        // Its partition is another instance's now (or it waited too long):
        // a late write would land among the new owner's checkpoints, or,
        // should the partition come back here, among those of the engine
        // restored then.
        for w in writes {
            w.stop(&self.rt);
        }
    }

    /// Stops every worker with a final checkpoint, bounded by `deadline`.
    pub(super) fn shutdown(&self, deadline: Duration) {
        let handles: Vec<(TopicPartition, Handle)> = lock(&self.workers).live.drain().collect();
        let mut waiting = Vec::new();
        for (tp, h) in handles {
            let _ = h.stop.send(true);
            let (reply, rx) = std::sync::mpsc::channel();
            if h.ctrl.send(Control::Shutdown { deadline, reply }).is_ok() {
                waiting.push((tp, rx));
            }
        }
        let until = Instant::now() + deadline + Duration::from_millis(500);
        for (tp, rx) in waiting {
            if rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .is_err()
            {
                warn!(topic = %tp.0, partition = tp.1, "worker did not stop in time");
            }
        }
    }
}

pub(crate) type Consumer_ = BaseConsumer<Ctx>;

/// Where `auto.offset.reset` (librdkafka's names for it; unset: `latest`)
/// starts a partition that has no committed offset; None for `error` (or
/// a value librdkafka would refuse): librdkafka reports it.
pub(super) fn reset_offset(auto_offset_reset: Option<&str>) -> Option<Offset> {
    match auto_offset_reset.unwrap_or("latest") {
        "smallest" | "earliest" | "beginning" => Some(Offset::Beginning),
        "largest" | "latest" | "end" => Some(Offset::End),
        _ => None,
    }
}

/// A partition's progress while it restores.
const RESTORING: PartStatus = PartStatus {
    phase: Phase::Restoring,
    position: -1,
    target: -1,
    dirty_since_ms: None,
};

/// An empty engine at the group's committed offset.
fn empty_start(cfg: &Config, tp: &TopicPartition, target: i64) -> Start {
    Start {
        tp: tp.clone(),
        engine: Engine::new(cfg),
        next_offset: None,
        last: None,
        target,
        idle: IdleClock::default(),
        caught_up: false,
        sla_pending: Vec::new(),
        encoded_len: 0,
        dirty_since_ms: None,
        no_checkpoint: false,
        commit_below: None,
    }
}

/// The parked engine of a partition that came back, if no other instance
/// has checkpointed the partition since it left (else `None`: restore).
fn resume_parked(
    changelog: &Changelog,
    tp: &TopicPartition,
    end: Option<i64>,
    p: Parked,
) -> Option<Start> {
    match changelog.latest_meta(&tp.0, tp.1, RESTORE_TIMEOUT) {
        Ok(latest) if latest == p.last => {
            info!(topic = %tp.0, partition = tp.1, offset = ?p.next_offset,
                  "partition back: its engine resumes where it stopped");
            // Back shorter than it was read (deleted and created again
            // while parked): read from `auto.offset.reset`, as `resume_at`.
            let behind = p.next_offset.filter(|&o| end.is_some_and(|end| end < o));
            if let Some(o) = behind {
                error!(topic = %tp.0, partition = tp.1, offset = o, end_offset = ?end,
                       "the partition ends before the offset its engine reached (was the topic deleted and created again?): keeping the state and reading the partition from auto.offset.reset");
            }
            let new_line = p.new_line || behind.is_some();
            if new_line {
                changelog.forget(&tp.0, tp.1);
            }
            Some(Start {
                tp: tp.clone(),
                engine: p.engine,
                next_offset: p.next_offset.filter(|_| behind.is_none()),
                last: p.last.filter(|_| !new_line),
                target: end.unwrap_or(0),
                idle: p.idle,
                caught_up: true,
                sla_pending: p.sla_pending,
                encoded_len: p.encoded_len,
                dirty_since_ms: p.dirty_since_ms,
                no_checkpoint: false,
                commit_below: behind.max(p.commit_below),
            })
        }
        Ok(_) => {
            info!(topic = %tp.0, partition = tp.1,
                  "partition back, but checkpointed elsewhere since: restoring");
            None
        }
        Err(e) => {
            warn!(topic = %tp.0, partition = tp.1, error = %e,
                  "cannot read the changelog; restoring");
            None
        }
    }
}

/// The partition's newest valid checkpoint as a start; else an empty
/// start (there is none, `no_checkpoint`, or none can be read or decoded,
/// each logged) whose checkpoints count generations from 1.
fn restore(cfg: &Config, changelog: &Changelog, tp: &TopicPartition, end: Option<i64>) -> Start {
    restore_found(cfg, changelog, tp, end).unwrap_or_else(|no_checkpoint| {
        // What this process remembers of the partition's checkpoints (it
        // may have held it before) would refuse generation 1.
        changelog.forget(&tp.0, tp.1);
        Start {
            no_checkpoint,
            ..empty_start(cfg, tp, end.unwrap_or(0))
        }
    })
}

/// The partition's checkpoints, read again while Kafka fails (the broker
/// away), each reading given what is left of [`RESTORE_GIVE_UP`], so a
/// slow one has all of it. A partition whose checkpoints cannot be read is
/// never started empty: its next checkpoint would replace the state for
/// good. Once the time is up the process exits 1 instead (a shutdown's
/// watchdog ends it sooner); nothing it acknowledged is lost, and the
/// partition restores at the next start, here or elsewhere.
fn read_checkpoints<T>(
    changelog: &Changelog,
    tp: &TopicPartition,
    mut decode: impl FnMut(&Restore) -> Result<T, CheckpointError>,
) -> (Restore, Option<T>) {
    let (t0, again) = (Instant::now(), Duration::from_secs(2));
    loop {
        let left = RESTORE_GIVE_UP.saturating_sub(t0.elapsed());
        let e = match changelog.restore_with(&tp.0, tp.1, left, &mut decode) {
            Ok(r) => return r,
            Err(e) => e,
        };
        if RESTORE_GIVE_UP.saturating_sub(t0.elapsed()) < again * 5 {
            error!(topic = %tp.0, partition = tp.1, error = %e, seconds = t0.elapsed().as_secs(),
                   "cannot read the partition's checkpoints; exiting rather than starting it empty, which would lose its state");
            std::process::exit(1);
        }
        warn!(topic = %tp.0, partition = tp.1, error = %e,
              "cannot read the partition's checkpoints; trying again");
        std::thread::sleep(again);
    }
}

/// [`restore`]'s checkpoint, or whether there was none at all.
fn restore_found(
    cfg: &Config,
    changelog: &Changelog,
    tp: &TopicPartition,
    end: Option<i64>,
) -> Result<Start, bool> {
    let t0 = Instant::now();
    // A checkpoint that verifies but does not decode is skipped for the one
    // before it, like one that does not verify.
    let decode = |r: &Restore| {
        let (_, bytes) = r.found.as_ref().expect("a found checkpoint");
        decode_chain(&r.earlier, bytes, r.dedup.as_ref())
    };
    let (r, decoded) = read_checkpoints(changelog, tp, decode);
    for why in &r.rejected {
        error!(topic = %tp.0, partition = tp.1, reason = %why,
               "corrupt or unreadable checkpoint skipped");
    }
    let (Some((meta, bytes)), Some(st)) = (r.found, decoded) else {
        if !r.rejected.is_empty() {
            error!(topic = %tp.0, partition = tp.1,
                   "no usable checkpoint; starting empty at the committed offset");
        }
        return Err(r.rejected.is_empty());
    };
    let group = cfg.kafka.client.get("group.id");
    if let Some(theirs) = meta.group.as_ref().filter(|g| Some(*g) != group) {
        // Restored all the same: a group renamed keeps its state. Two
        // groups writing one changelog topic overwrite each other's.
        warn!(topic = %tp.0, partition = tp.1, checkpoint_group = %theirs,
              group = group.map_or("", String::as_str),
              "restoring a checkpoint another consumer group wrote: if it is another deployment, give each its own checkpoint.topic");
    }
    // Its next checkpoint may hold the changes since this one (not after a
    // config change mapped the state: whole then).
    let changes = changelog.format_version() >= 7;
    let (engine, _) = Engine::from_checkpoint(cfg, st, meta.shape.as_ref(), changes);
    let idle = IdleClock::from_checkpoint(&meta, engine.clock(), cfg.time.idle_timeout.ms());
    info!(topic = %tp.0, partition = tp.1, offset = meta.next_offset,
          generation = meta.generation, bytes = bytes.len(),
          ms = t0.elapsed().as_millis() as u64, "state restored");
    let checkpoint_offset = meta.next_offset;
    let (next_offset, last) = resume_at(changelog, tp, meta, end);
    Ok(Start {
        tp: tp.clone(),
        engine,
        next_offset,
        last,
        target: end.unwrap_or(0),
        idle,
        caught_up: false,
        sla_pending: Vec::new(),
        encoded_len: bytes.len(),
        dirty_since_ms: None,
        no_checkpoint: false,
        commit_below: next_offset.is_none().then_some(checkpoint_offset),
    })
}

/// Where a restored partition is read from, and the checkpoint it goes on
/// from: the checkpoint's offset and the checkpoint, unless the partition
/// ends before that offset.
fn resume_at(
    changelog: &Changelog,
    tp: &TopicPartition,
    meta: Meta,
    end: Option<i64>,
) -> (Option<i64>, Option<Meta>) {
    let next_offset = match end {
        // The partition ends before the checkpoint's offset: the topic was
        // deleted and created again (or the broker lost what it had
        // acknowledged). Every message it holds is new to the state, which
        // starting at the checkpoint's offset would skip, as it would all
        // those to come until the partition passed that offset again. The
        // state is kept; the partition is read from where the consumer's
        // `auto.offset.reset` puts it, as for an offset out of range.
        Some(end) if end < meta.next_offset => {
            error!(topic = %tp.0, partition = tp.1, checkpoint_offset = meta.next_offset,
                   end_offset = end,
                   "the partition ends before its checkpoint's offset (was the topic deleted and created again?): keeping the state and reading the partition from auto.offset.reset");
            None
        }
        _ => Some(meta.next_offset),
    };
    // Past the end, the checkpoint's offset is not where the partition
    // is read from, and must not be committed as covered: the state goes
    // on as a new line of checkpoints, from generation 1.
    let last = if next_offset.is_some() {
        Some(meta)
    } else {
        changelog.forget(&tp.0, tp.1);
        None
    };
    (next_offset, last)
}

/// Messages of a partition's end (its last stable offset, or high
/// watermark) this instance has not consumed yet: from its position, not
/// from its committed offset (librdkafka's `consumer_lag`), which trails by
/// a checkpoint interval by design — offsets are committed once a
/// checkpoint covering them is acknowledged — so a caught-up instance read
/// as 10 s of events behind, and as not ready. `None`: not known yet.
fn consumer_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    let end = if p.ls_offset >= 0 {
        p.ls_offset
    } else {
        p.hi_offset
    };
    if end < 0 {
        return None;
    }
    if p.app_offset >= 0 {
        return Some((end - p.app_offset).max(0));
    }
    // Nothing consumed since the assignment: behind by what it starts from.
    if p.consumer_lag >= 0 {
        Some(p.consumer_lag)
    } else if end == 0 {
        // An empty partition has no lag.
        Some(0)
    } else {
        None
    }
}

#[cfg(test)]
mod lag_tests {
    use super::consumer_lag;

    /// A partition of librdkafka's statistics with these offsets.
    fn partition(hi: i64, ls: i64, app: i64, committed: i64) -> rdkafka::statistics::Partition {
        let lag = if committed >= 0 { hi - committed } else { -1 };
        let json = format!(
            r#"{{"partition":0,"broker":1,"leader":1,"desired":true,"unknown":false,
            "msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,
            "fetchq_cnt":0,"fetchq_size":0,"fetch_state":"active","query_offset":-1001,
            "next_offset":{app},"app_offset":{app},"stored_offset":{committed},
            "committed_offset":{committed},"eof_offset":-1001,"lo_offset":0,
            "hi_offset":{hi},"ls_offset":{ls},"consumer_lag":{lag},"consumer_lag_stored":-1,
            "txmsgs":0,"txbytes":0,"rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,
            "msgs_inflight":0,"next_ack_seq":0,"next_err_seq":0,"acked_msgid":0}}"#
        );
        serde_json::from_str(&json).expect("a partition of librdkafka's statistics")
    }

    #[test]
    fn lag_counts_from_what_was_consumed_not_from_what_was_committed() {
        // Consumed to the end, nothing committed yet (the first checkpoint
        // is still to come): caught up.
        assert_eq!(consumer_lag(&partition(5000, 5000, 5000, -1001)), Some(0));
        // Committed at 1000 (the last acknowledged checkpoint), consumed
        // to 4800 of 5000: 200 behind, not 4000.
        assert_eq!(consumer_lag(&partition(5000, 5000, 4800, 1000)), Some(200));
        // The last stable offset is the end under read_committed.
        assert_eq!(consumer_lag(&partition(5000, 4900, 4800, 1000)), Some(100));
        // Nothing consumed since the assignment: from the committed offset.
        assert_eq!(
            consumer_lag(&partition(5000, 5000, -1001, 1000)),
            Some(4000)
        );
        // Nothing consumed or committed: unknown, unless the partition is empty.
        assert_eq!(consumer_lag(&partition(5000, 5000, -1001, -1001)), None);
        assert_eq!(consumer_lag(&partition(0, 0, -1001, -1001)), Some(0));
        // No watermark yet.
        assert_eq!(consumer_lag(&partition(-1001, -1001, -1001, -1001)), None);
    }
}

#[cfg(test)]
mod reset_tests {
    use super::reset_offset;
    use crate::config::Config;
    use rdkafka::Offset;

    #[test]
    fn the_reset_position_follows_librdkafkas_names_for_it() {
        for v in ["smallest", "earliest", "beginning"] {
            assert_eq!(reset_offset(Some(v)), Some(Offset::Beginning), "{v}");
        }
        for v in ["largest", "latest", "end"] {
            assert_eq!(reset_offset(Some(v)), Some(Offset::End), "{v}");
        }
        // librdkafka's own default.
        assert_eq!(reset_offset(None), Some(Offset::End));
        // Left to librdkafka, which reports the partition's missing offset.
        assert_eq!(reset_offset(Some("error")), None);
        // The group consumer resets to the earliest unless told otherwise.
        let cfg = Config::parse("").unwrap();
        let cc = crate::source::consumer_config(&cfg);
        assert_eq!(
            reset_offset(cc.get("auto.offset.reset")),
            Some(Offset::Beginning)
        );
    }
}

#[cfg(test)]
mod slot_tests {
    use super::Slot;
    use std::time::Duration;

    #[test]
    fn a_reader_waits_until_the_value_is_there_or_gone() {
        let slot = Slot::<u32>::default();
        std::thread::scope(|s| {
            let reader = s.spawn(|| slot.wait());
            std::thread::sleep(Duration::from_millis(50));
            assert!(!reader.is_finished(), "returned before the value was there");
            slot.open(7);
            assert_eq!(reader.join().unwrap(), Some(7));
        });
        assert_eq!(slot.wait(), Some(7));
        slot.close();
        assert_eq!(slot.wait(), None);

        let never = Slot::<u32>::default();
        std::thread::scope(|s| {
            let reader = s.spawn(|| never.wait());
            std::thread::sleep(Duration::from_millis(50));
            assert!(!reader.is_finished());
            never.close();
            assert_eq!(reader.join().unwrap(), None);
        });
    }
}
