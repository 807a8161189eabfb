//! Kafka → engines: a consumer in a consumer group, one [`worker`] per
//! assigned partition owning that partition's [`Engine`], its offsets and
//! its checkpoints.
//!
//! - **Restore on assignment.** The rebalance callback loads each newly
//!   assigned partition's newest valid checkpoint from the changelog topic
//!   (or takes back the engine it parked when the partition left, if no
//!   other instance has checkpointed it since) and assigns the partition at
//!   the offset the checkpoint covers, so what is re-applied is exactly what
//!   the state does not hold: effectively once.
//! - **Checkpoints.** Each worker writes its state with the offset it covers
//!   every `checkpoint.interval`, on revoke and on shutdown; once the
//!   changelog acknowledges one, its offset is stored for the group commit.
//! - **Series that never go down.** A restored partition publishes its
//!   snapshot only once it has re-applied up to the end offset it saw at
//!   assignment, so it never exports less than its previous owner did, and
//!   the hub labels each partition's counters with `partition`.
//! - **SLA events.** With `[sla_events] topic`, each worker produces its
//!   engine's SLA state changes ([`sla_sink`]); a checkpoint covers only
//!   input whose SLA events the broker acknowledged.
//! - **Dead letters.** A message that does not decode is written to the
//!   dead-letter topic and applied (counted) only once that is acknowledged.
//!
//! One thread polls the consumer (librdkafka serves rebalances and
//! statistics there) and hands messages to the workers' bounded queues, so a
//! slow engine slows its partition's consumption.

pub mod sla_sink;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::checkpoint::decode_state;
use crate::checkpoint::kafka::Changelog;
use crate::config::Config;
use crate::engine::Engine;
use crate::hub::{PartStatus, Phase, SnapshotHub, TopicPartition};
use crate::kafka_log::{self, Quiet};
use worker::{Batch, Control, Env, IdleClock, Item, Parked, Start};

/// Messages of a partition handed to its worker at once, at most.
const BATCH: usize = 512;
/// Batches queued per partition before the consumer waits (backpressure):
/// 4096 messages at most.
const PARTITION_QUEUE: usize = 4096 / BATCH;
/// Messages taken in one round before they are handed over.
const DRAIN: usize = 4096;
/// How long shutdown gives the workers' final checkpoints.
const SHUTDOWN_CHECKPOINT: Duration = Duration::from_secs(4);
/// How long a revoked partition's engine is kept in case it comes back.
const PARK_FOR: Duration = Duration::from_secs(120);
/// How long a restore may take before the partition starts empty.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(60);

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A worker's channels, held by the consumer thread and the callbacks.
struct Handle {
    data: mpsc::Sender<Item>,
    ctrl: mpsc::UnboundedSender<Control>,
    stop: watch::Sender<bool>,
}

/// The workers of the assigned partitions and the engines of revoked ones.
#[derive(Default)]
struct Workers {
    live: HashMap<TopicPartition, Handle>,
    parked: HashMap<TopicPartition, Parked>,
}

/// librdkafka callbacks: statistics (lag), rebalances (restore, revoke),
/// errors and logs (rate-limited).
pub struct Ctx {
    hub: Arc<SnapshotHub>,
    cfg: Arc<Config>,
    rt: tokio::runtime::Handle,
    workers: Mutex<Workers>,
    /// Set once the consumer exists (workers store offsets through it).
    env: Mutex<Option<Env>>,
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        let assigned = self.hub.assigned();
        let mut lag = BTreeMap::new();
        for (topic, t) in stats.topics {
            for (p, part) in t.partitions {
                let tp = (topic.clone(), p);
                // Only partitions this instance owns: a revoked one's lag is another's.
                if p < 0 || !assigned.contains(&tp) {
                    continue;
                }
                // -1 means unknown: nothing fetched yet. An empty partition has no lag.
                if part.consumer_lag >= 0 {
                    lag.insert(tp, part.consumer_lag);
                } else if part.hi_offset == 0 {
                    lag.insert(tp, 0);
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
                self.assign(consumer, tpl);
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
    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let Some(env) = self.env.lock().ok().and_then(|e| e.clone()) else {
            return;
        };
        let tps = partitions(tpl);
        let mut todo = Vec::new();
        for tp in tps {
            if self.workers.lock().is_ok_and(|w| w.live.contains_key(&tp)) {
                continue;
            }
            self.hub.set_status(
                &tp,
                PartStatus {
                    phase: Phase::Restoring,
                    position: -1,
                    target: -1,
                    dirty_since_ms: None,
                },
            );
            let target = consumer
                .fetch_watermarks(&tp.0, tp.1, Duration::from_secs(10))
                .map(|(_, high)| high)
                .unwrap_or(0);
            let parked = self
                .workers
                .lock()
                .ok()
                .and_then(|mut w| w.parked.remove(&tp));
            todo.push((tp, target, parked));
        }
        // Partitions restore side by side: an instance taking over several
        // large partitions waits for the largest, not for their sum.
        let starts: Vec<Start> = std::thread::scope(|scope| {
            let running: Vec<_> = todo
                .into_iter()
                .map(|(tp, target, parked)| {
                    let env = &env;
                    scope.spawn(move || self.start(env, &tp, target, parked))
                })
                .collect();
            running.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for start in starts {
            let tp = start.tp.clone();
            if let Some(o) = start.next_offset {
                if let Err(e) = tpl.set_partition_offset(&tp.0, tp.1, Offset::Offset(o)) {
                    error!(topic = %tp.0, partition = tp.1, error = %e, "cannot set the start offset");
                }
            }
            let (data, ctrl, stop) = worker::spawn(env.clone(), start, &self.rt);
            if let Ok(mut w) = self.workers.lock() {
                w.live.insert(tp, Handle { data, ctrl, stop });
            }
        }
    }

    /// Where a newly assigned partition starts: its parked engine if no one
    /// else has checkpointed it since, else its newest valid checkpoint,
    /// else an empty engine at the group's committed offset.
    fn start(&self, env: &Env, tp: &TopicPartition, target: i64, parked: Option<Parked>) -> Start {
        let cfg = &self.cfg;
        let idle_ms = cfg.time.idle_timeout.ms();
        let Some(changelog) = env.changelog.as_ref() else {
            return Start {
                tp: tp.clone(),
                engine: Engine::new(cfg),
                next_offset: None,
                last: None,
                target,
                idle: IdleClock::default(),
                caught_up: false,
                sla_pending: Vec::new(),
            };
        };
        if let Some(p) = parked {
            match changelog.latest_meta(&tp.0, tp.1, RESTORE_TIMEOUT) {
                Ok(latest) if latest == p.last => {
                    info!(topic = %tp.0, partition = tp.1, offset = ?p.next_offset,
                          "partition back: its engine resumes where it stopped");
                    return Start {
                        tp: tp.clone(),
                        engine: p.engine,
                        next_offset: p.next_offset,
                        last: p.last,
                        target,
                        idle: p.idle,
                        caught_up: true,
                        sla_pending: p.sla_pending,
                    };
                }
                Ok(_) => info!(topic = %tp.0, partition = tp.1,
                               "partition back, but checkpointed elsewhere since: restoring"),
                Err(e) => warn!(topic = %tp.0, partition = tp.1, error = %e,
                                "cannot read the changelog; restoring"),
            }
            self.hub.remove(tp);
        }
        let t0 = Instant::now();
        match changelog.restore(&tp.0, tp.1, RESTORE_TIMEOUT) {
            Ok(r) => {
                for why in &r.rejected {
                    error!(topic = %tp.0, partition = tp.1, reason = %why,
                           "corrupt or unreadable checkpoint skipped");
                }
                if let Some((meta, bytes)) = r.found {
                    match decode_state(&bytes) {
                        Ok(st) => {
                            let engine = Engine::from_state(cfg, st);
                            let idle = IdleClock::from_checkpoint(&meta, engine.clock(), idle_ms);
                            info!(topic = %tp.0, partition = tp.1, offset = meta.next_offset,
                                  generation = meta.generation, bytes = bytes.len(),
                                  ms = t0.elapsed().as_millis() as u64, "state restored");
                            return Start {
                                tp: tp.clone(),
                                engine,
                                next_offset: Some(meta.next_offset),
                                last: Some(meta),
                                target,
                                idle,
                                caught_up: false,
                                sla_pending: Vec::new(),
                            };
                        }
                        Err(e) => error!(topic = %tp.0, partition = tp.1, error = %e,
                                         "checkpoint cannot be decoded; starting empty at the committed offset"),
                    }
                } else if !r.rejected.is_empty() {
                    error!(topic = %tp.0, partition = tp.1,
                           "no usable checkpoint; starting empty at the committed offset");
                }
            }
            Err(e) => error!(topic = %tp.0, partition = tp.1, error = %e,
                             "cannot read checkpoints; starting empty at the committed offset"),
        }
        Start {
            tp: tp.clone(),
            engine: Engine::new(cfg),
            next_offset: None,
            last: None,
            target,
            idle: IdleClock::default(),
            caught_up: false,
            sla_pending: Vec::new(),
        }
    }

    /// Stops the workers of revoked partitions (each writes its final
    /// checkpoint unless the partition was lost) and parks their engines.
    fn revoke(&self, tpl: &TopicPartitionList, lost: bool) {
        let tps = partitions(tpl);
        let mut waiting = Vec::new();
        for tp in tps {
            let Some(h) = self
                .workers
                .lock()
                .ok()
                .and_then(|mut w| w.live.remove(&tp))
            else {
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
                    if let Ok(mut w) = self.workers.lock() {
                        w.parked.insert(tp, p);
                    }
                }
                Err(_) => warn!(topic = %tp.0, partition = tp.1, "worker did not stop in time"),
            }
        }
    }

    /// Drops parked engines matching `f` (and their published series).
    fn drop_parked(&self, f: impl Fn(&TopicPartition, &Parked) -> bool) {
        let Ok(mut w) = self.workers.lock() else {
            return;
        };
        let gone: Vec<TopicPartition> = w
            .parked
            .iter()
            .filter(|(tp, p)| f(tp, p))
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in gone {
            w.parked.remove(&tp);
            self.hub.remove(&tp);
        }
    }

    /// Stops every worker with a final checkpoint, bounded by `deadline`.
    fn shutdown(&self, deadline: Duration) {
        let handles: Vec<(TopicPartition, Handle)> = match self.workers.lock() {
            Ok(mut w) => w.live.drain().collect(),
            Err(_) => return,
        };
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

/// The largest partition count among `topics` (for the changelog topic).
fn partitions_of(consumer: &Consumer_, topics: &[&str]) -> i32 {
    let mut n = 1;
    for t in topics {
        if let Ok(md) = consumer.fetch_metadata(Some(t), Duration::from_secs(10)) {
            for mt in md.topics() {
                n = n.max(mt.partitions().len() as i32);
            }
        }
    }
    n
}

/// The partitions of a list.
fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// This instance's name in the checkpoints it writes.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "frontline".into());
    format!("{host}-{}-{}", std::process::id(), wall_ms())
}

/// Runs the consumer until `shutdown` turns true, then stops every
/// partition with a final checkpoint and returns.
pub async fn run(
    cfg: Arc<Config>,
    hub: Arc<SnapshotHub>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut cc = cfg.kafka.client_config(&[
        ("auto.offset.reset", "earliest"),
        ("statistics.interval.ms", "5000"),
        ("auto.commit.interval.ms", "2000"),
        // A rebalance moves as few partitions as possible.
        ("partition.assignment.strategy", "cooperative-sticky"),
    ]);
    // Offsets are stored by the workers once a checkpoint covering them is
    // acknowledged (without checkpoints: once applied).
    cc.set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    let ctx = Ctx {
        hub: hub.clone(),
        cfg: cfg.clone(),
        rt: tokio::runtime::Handle::current(),
        workers: Mutex::new(Workers::default()),
        env: Mutex::new(None),
    };
    let consumer: Arc<Consumer_> = Arc::new(cc.create_with_context(ctx)?);
    let topics: Vec<&str> = cfg.kafka.topics.iter().map(String::as_str).collect();
    hub.set_label_topic(topics.len() > 1);
    let producer: FutureProducer<Quiet> = cfg
        .kafka
        .producer_config(&[("acks", "all"), ("message.timeout.ms", "30000")])
        .create_with_context(Quiet)?;
    let dlq = Arc::new(cfg.kafka.dlq());
    let min = if cfg.checkpoint.enabled || cfg.sla_events.topic.is_some() {
        let c = consumer.clone();
        let t: Vec<String> = cfg.kafka.topics.clone();
        tokio::task::spawn_blocking(move || {
            let t: Vec<&str> = t.iter().map(String::as_str).collect();
            partitions_of(&c, &t)
        })
        .await?
    } else {
        1
    };
    let sla_events = match &cfg.sla_events.topic {
        Some(t) => Some(Arc::new(
            sla_sink::SlaSink::open(&cfg, t, min, hub.clone()).await?,
        )),
        None => None,
    };
    let changelog = if cfg.checkpoint.enabled {
        let cl = Changelog::open(&cfg, min)
            .await
            .map_err(|e| anyhow::anyhow!("checkpoint topic: {e}"))?;
        Some(Arc::new(cl))
    } else {
        None
    };
    let env = Env {
        cfg: cfg.clone(),
        hub: hub.clone(),
        consumer: consumer.clone(),
        producer,
        dlq: dlq.clone(),
        changelog,
        sla_events,
        writer: Arc::new(instance_name()),
    };
    if let Ok(mut e) = consumer.context().env.lock() {
        *e = Some(env);
    }
    consumer.subscribe(&topics)?;
    info!(topics = ?topics, dead_letter_topic = %dlq,
          checkpoint_topic = %if cfg.checkpoint.enabled { cfg.checkpoint.topic_for(topics.first().copied().unwrap_or_default()) } else { "-".into() },
          "consuming");

    let stopping = Arc::new(AtomicBool::new(false));
    let poller = {
        let consumer = consumer.clone();
        let stopping = stopping.clone();
        let hub = hub.clone();
        std::thread::Builder::new()
            .name("kafka-consumer".into())
            .spawn(move || poll_loop(&consumer, &stopping, &hub))?
    };
    let mut shutdown = shutdown;
    let _ = shutdown.changed().await;
    info!("shutting down: final checkpoints");
    stopping.store(true, Ordering::Relaxed);
    // The poll thread finishes its step and stops the workers.
    let _ = tokio::task::spawn_blocking(move || poller.join()).await;
    // The workers are gone; without their `Env` the consumer is no longer
    // referenced from its own context, and dropping it leaves the group
    // (so the partitions move at once). Leaving waits for the cluster, so
    // it is bounded.
    if let Ok(mut e) = consumer.context().env.lock() {
        *e = None;
    }
    let close = tokio::task::spawn_blocking(move || drop(consumer));
    if tokio::time::timeout(Duration::from_secs(3), close)
        .await
        .is_err()
    {
        warn!("leaving the consumer group timed out");
    }
    Ok(())
}

/// A partition's messages polled and not yet handed to its worker, with
/// the worker's queue as it was when the first of them was polled (if the
/// partition moves meanwhile, that worker is gone and they are dropped, as
/// a revoked worker drops what is queued for it).
struct Pending {
    topic: String,
    partition: i32,
    tx: Option<mpsc::Sender<Item>>,
    batch: Batch,
}

impl Pending {
    /// Hands the batch over (backpressure: a slow engine slows its
    /// partition's consumption).
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Batch::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            let _ = tx.blocking_send(Item::Batch(batch));
        }
    }
}

/// The consumer thread: polls messages (rebalances and statistics are
/// served inside `poll`) and routes them to their workers in batches:
/// whatever librdkafka has already fetched is taken without waiting, up to
/// [`BATCH`] messages a partition, then handed over, so a worker is woken
/// once per batch rather than once per message.
fn poll_loop(consumer: &Consumer_, stopping: &AtomicBool, hub: &SnapshotHub) {
    let ctx = consumer.context();
    let mut seen = 0u64;
    let mut seen_at = Instant::now();
    let mut last_park_check = Instant::now();
    let mut pending: Vec<Pending> = Vec::new();
    let mut rebalances = hub.rebalances.load(Ordering::Relaxed);
    while !stopping.load(Ordering::Relaxed) {
        let mut wait = Duration::from_millis(100);
        let mut polled = 0;
        // One round: wait for a first message, then take what is already
        // there without waiting, up to DRAIN messages.
        while polled < DRAIN {
            let Some(r) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            polled += 1;
            // A rebalance was served inside that poll: what was polled
            // before it goes to the workers of then, what comes after to
            // those of now.
            let r_now = hub.rebalances.load(Ordering::Relaxed);
            if r_now != rebalances {
                rebalances = r_now;
                for p in pending.iter_mut() {
                    p.flush();
                }
            }
            match r {
                Ok(m) => {
                    seen += 1;
                    let i = match pending
                        .iter()
                        .position(|p| p.partition == m.partition() && p.topic == m.topic())
                    {
                        Some(i) => i,
                        None => {
                            pending.push(Pending {
                                topic: m.topic().to_string(),
                                partition: m.partition(),
                                tx: None,
                                batch: Batch::with_capacity(BATCH),
                            });
                            pending.len() - 1
                        }
                    };
                    let p = &mut pending[i];
                    if p.batch.is_empty() {
                        p.tx = ctx.workers.lock().ok().and_then(|w| {
                            w.live
                                .get(&(p.topic.clone(), p.partition))
                                .map(|h| h.data.clone())
                        });
                    }
                    p.batch.push(&m);
                    if p.batch.len() >= BATCH {
                        p.flush();
                    }
                }
                Err(KafkaError::PartitionEOF(part)) => {
                    tracing::debug!(partition = part, "end of partition");
                    // Every message before the end goes first.
                    for p in pending.iter_mut().filter(|p| p.partition == part) {
                        p.flush();
                    }
                    // EOF names only the partition number: with one topic it is exact.
                    let tx = ctx.workers.lock().ok().and_then(|w| {
                        let mut mine = w.live.iter().filter(|(tp, _)| tp.1 == part);
                        match (mine.next(), mine.next()) {
                            (Some((_, h)), None) => Some(h.data.clone()),
                            _ => None,
                        }
                    });
                    if let Some(tx) = tx {
                        let _ = tx.blocking_send(Item::Eof);
                    }
                    kafka_log::ok();
                }
                Err(e) => {
                    kafka_log::error(&e.to_string());
                }
            }
        }
        for p in pending.iter_mut() {
            p.flush();
        }
        if polled > 0 {
            kafka_log::ok();
        }
        if seen_at.elapsed() >= Duration::from_secs(10) {
            progress(hub, seen, seen_at.elapsed());
            seen = 0;
            seen_at = Instant::now();
            // Partitions no longer polled here.
            pending.retain(|p| p.tx.as_ref().is_some_and(|tx| !tx.is_closed()));
        }
        if last_park_check.elapsed() >= Duration::from_secs(5) {
            ctx.drop_parked(|_, p| p.since.elapsed() >= PARK_FOR);
            last_park_check = Instant::now();
        }
    }
    ctx.shutdown(SHUTDOWN_CHECKPOINT);
    // Commit what the final checkpoints stored; never wait on an unreachable cluster.
    let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Async);
    info!("consumer stopped");
}

/// The `progress` line every 10 s.
fn progress(hub: &SnapshotHub, seen: u64, over: Duration) {
    let lag: i64 = hub.lags().values().sum();
    let watermark = hub
        .snapshots()
        .iter()
        .filter_map(|(_, s)| s.watermark_ms())
        .min()
        .and_then(|wm| jiff::Timestamp::from_millisecond(wm).ok())
        .map_or_else(|| "-".into(), |t| t.to_string());
    let kafka = if kafka_log::down_since_ms().is_some() {
        "unreachable"
    } else {
        "ok"
    };
    info!(events_per_s = (seen as f64 / over.as_secs_f64()).round(), lag,
          partitions = hub.assigned().len(), watermark = %watermark, kafka, "progress");
}

/// Rate-limits one kind of log line: at most `per_sec` a second.
pub(crate) struct Limiter {
    per_sec: u32,
    start: Instant,
    n: u32,
    suppressed: u64,
}

impl Limiter {
    pub(crate) fn new(per_sec: u32) -> Limiter {
        Limiter {
            per_sec,
            start: Instant::now(),
            n: 0,
            suppressed: 0,
        }
    }
    /// Whether to log now; how many were suppressed since the last line.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        if self.start.elapsed() >= Duration::from_secs(1) {
            self.start = Instant::now();
            self.n = 0;
        }
        if self.n < self.per_sec {
            self.n += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}
