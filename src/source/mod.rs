//! Kafka → engines: a consumer in a consumer group, one task per assigned
//! partition owning that partition's [`Engine`].
//!
//! Delivery is at least once: a partition task stores an offset only after
//! the event (and every event before it) has been applied, or — for a
//! message that does not decode — after its dead-letter copy has been
//! acknowledged. librdkafka commits stored offsets periodically and on
//! revoke; shutdown commits synchronously.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::breach_log::BreachLog;
use crate::config::Config;
use crate::decode::{decode, DecodeError};
use crate::engine::Engine;
use crate::hub::{SnapshotHub, Tp};

/// Messages buffered per partition before the consumer waits (backpressure).
const PARTITION_QUEUE: usize = 4096;
/// How long shutdown waits for partition tasks before committing anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// librdkafka callbacks: statistics (lag), rebalances, commits.
pub struct Ctx {
    hub: Arc<SnapshotHub>,
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        let mut lag = BTreeMap::new();
        for (topic, t) in stats.topics {
            for (p, part) in t.partitions {
                if p < 0 {
                    continue;
                }
                // -1 means unknown: nothing fetched yet. An empty partition has no lag.
                if part.consumer_lag >= 0 {
                    lag.insert((topic.clone(), p), part.consumer_lag);
                } else if part.hi_offset == 0 {
                    lag.insert((topic.clone(), p), 0);
                }
            }
        }
        self.hub.set_lag(lag);
    }
}

impl ConsumerContext for Ctx {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.hub.rebalances.fetch_add(1, Ordering::Relaxed);
        let assigned: Vec<Tp> = consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        match rebalance {
            Rebalance::Assign(_) => info!(partitions = ?assigned, "partitions assigned"),
            Rebalance::Revoke(_) => info!(partitions = ?assigned, "partitions revoked"),
            Rebalance::Error(e) => warn!(error = %e, "rebalance error"),
        }
        self.hub.set_assigned(assigned);
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.hub.last_commit_ms.store(wall_ms(), Ordering::Relaxed),
            Err(e) => debug!(error = %e, "offset commit"),
        }
    }
}

type Consumer_ = StreamConsumer<Ctx>;

/// librdkafka consumer properties the dead-letter producer does not take.
pub(crate) const CONSUMER_ONLY: [&str; 16] = [
    "group.id",
    "group.instance.id",
    "group.protocol",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "partition.assignment.strategy",
    "isolation.level",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "queued.min.messages",
];

/// librdkafka settings: frontline's defaults, overridden by `[kafka]`.
fn client_config(cfg: &Config, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in &cfg.kafka.client {
        c.set(k, v);
    }
    c
}

/// Runs the consumer until `shutdown` turns true, then commits and returns.
pub async fn run(
    cfg: Arc<Config>,
    hub: Arc<SnapshotHub>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut cc = client_config(
        &cfg,
        &[
            ("auto.offset.reset", "earliest"),
            ("statistics.interval.ms", "5000"),
            ("auto.commit.interval.ms", "2000"),
        ],
    );
    // At least once: offsets are stored by the partition tasks only.
    cc.set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false");
    let consumer: Arc<Consumer_> = Arc::new(cc.create_with_context(Ctx { hub: hub.clone() })?);
    let topics: Vec<&str> = cfg.kafka.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut pc = client_config(&cfg, &[("acks", "all"), ("message.timeout.ms", "30000")]);
    for k in CONSUMER_ONLY {
        pc.remove(k);
    }
    let producer: FutureProducer = pc.create()?;
    let dlq = Arc::new(cfg.kafka.dlq());
    info!(topics = ?topics, dead_letter_topic = %dlq, "consuming");

    let mut tasks: Vec<(Tp, mpsc::Sender<OwnedMessage>, JoinHandle<()>)> = Vec::new();
    let mut reconcile = tokio::time::interval(Duration::from_millis(500));
    let mut summary = tokio::time::interval(Duration::from_secs(10));
    let mut seen = 0u64;
    let mut seen_at = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            m = consumer.recv() => match m {
                Ok(m) => {
                    seen += 1;
                    let (topic, part) = (m.topic(), m.partition());
                    let i = match tasks.iter().position(|(tp, _, _)| tp.0 == topic && tp.1 == part) {
                        Some(i) => i,
                        None => {
                            let tp: Tp = (topic.to_string(), part);
                            let (tx, rx) = mpsc::channel(PARTITION_QUEUE);
                            let task = tokio::spawn(partition_task(
                                tp.clone(), rx, consumer.clone(), producer.clone(), hub.clone(),
                                cfg.clone(), dlq.clone(), shutdown.clone(),
                            ));
                            tasks.push((tp, tx, task));
                            tasks.len() - 1
                        }
                    };
                    let owned = m.detach();
                    // Backpressure: a slow engine slows its partition's consumption.
                    let _ = tasks[i].1.send(owned).await;
                }
                Err(e) => {
                    warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            _ = reconcile.tick() => {
                // Partitions no longer assigned: their tasks finish and leave /metrics.
                let assigned = hub.assigned();
                tasks.retain(|(tp, _, _)| {
                    let keep = assigned.contains(tp);
                    if !keep {
                        info!(topic = %tp.0, partition = tp.1, "partition released");
                    }
                    keep
                });
            }
            _ = summary.tick() => {
                let secs = seen_at.elapsed().as_secs_f64();
                let lag: i64 = hub.lags().values().sum();
                let wm = hub.snapshots().iter().filter_map(|(_, s)| {
                    s.get("frontline_watermark_seconds").and_then(|f| f.series.first()).map(|x| x.value.clone())
                }).filter_map(|v| match v { crate::snapshot::Value::Float(f) => Some(f), _ => None })
                  .fold(f64::INFINITY, f64::min);
                info!(events_per_s = (seen as f64 / secs).round(), lag, partitions = tasks.len(),
                      watermark = %if wm.is_finite() { jiff::Timestamp::from_millisecond((wm * 1000.0) as i64).map(|t| t.to_string()).unwrap_or_default() } else { "-".into() },
                      "progress");
                seen = 0;
                seen_at = Instant::now();
            }
        }
    }
    info!("shutting down: finishing events in hand");
    let handles: Vec<JoinHandle<()>> = tasks
        .into_iter()
        .map(|(_, tx, h)| {
            drop(tx);
            h
        })
        .collect();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, futures_join_all(handles)).await;
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {
            hub.last_commit_ms.store(wall_ms(), Ordering::Relaxed);
            info!("offsets committed");
        }
        Err(e) => warn!(error = %e, "final commit failed"),
    }
    Ok(())
}

async fn futures_join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Rate-limits one kind of log line: at most `per_sec` a second.
struct Limiter {
    per_sec: u32,
    start: Instant,
    n: u32,
    suppressed: u64,
}

impl Limiter {
    fn new(per_sec: u32) -> Limiter {
        Limiter {
            per_sec,
            start: Instant::now(),
            n: 0,
            suppressed: 0,
        }
    }
    /// Whether to log now; how many were suppressed since the last line.
    fn allow(&mut self) -> Option<u64> {
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

#[allow(clippy::too_many_arguments)]
async fn partition_task(
    tp: Tp,
    mut rx: mpsc::Receiver<OwnedMessage>,
    consumer: Arc<Consumer_>,
    producer: FutureProducer,
    hub: Arc<SnapshotHub>,
    cfg: Arc<Config>,
    dlq: Arc<String>,
    shutdown: watch::Receiver<bool>,
) {
    info!(topic = %tp.0, partition = tp.1, "partition task started");
    let mut engine = Engine::new(&cfg);
    let max = cfg.limits.max_event_bytes;
    let idle = Duration::from_millis(cfg.time.idle_timeout.ms() as u64);
    let mut publish =
        tokio::time::interval(Duration::from_millis(cfg.http.publish_interval.ms() as u64));
    let mut breach_log = BreachLog::default();
    let mut warn_limit = Limiter::new(10);
    // The last fully handled message's offset, and the last one stored.
    // (librdkafka's offset store commits the stored offset + 1.)
    let mut last: Option<i64> = None;
    let mut stored: Option<i64> = None;
    let mut last_event_wall = Instant::now();
    let mut last_event_clock: Option<i64> = None;
    let mut stop = shutdown.clone();
    let store = |last: Option<i64>, stored: &mut Option<i64>| {
        if let Some(n) = last {
            if *stored != Some(n) && consumer.store_offset(&tp.0, tp.1, n).is_ok() {
                *stored = Some(n);
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            // Shutdown: stop after the batch in hand; what is still queued is
            // not stored and is consumed again after the restart.
            _ = stop.changed() => break,
            m = rx.recv() => {
                let Some(m) = m else { break };
                let t0 = Instant::now();
                let mut batch = vec![m];
                while batch.len() < 1024 {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                let mut interrupted = false;
                for m in batch {
                    let result = match m.payload() {
                        Some(p) => decode(p, max),
                        None => Err(DecodeError::InvalidJson("empty message".into())),
                    };
                    match result {
                        Ok(ev) => engine.apply(ev),
                        Err(e) => {
                            engine.record_decode_error(e.reason_index());
                            if let Some(suppressed) = warn_limit.allow() {
                                warn!(topic = %tp.0, partition = tp.1, offset = m.offset(), reason = e.reason(),
                                      error = %e, suppressed, "bad event sent to the dead-letter topic");
                            }
                            if !dead_letter(&producer, &dlq, &m, &e, shutdown.clone()).await {
                                // Shutting down before the dead letter was acknowledged:
                                // do not store its offset; it is consumed again.
                                interrupted = true;
                                break;
                            }
                            engine.record_dead_letter();
                        }
                    }
                    last = Some(m.offset());
                }
                last_event_wall = Instant::now();
                last_event_clock = engine.clock();
                hub.observe_batch(t0.elapsed().as_secs_f64());
                if interrupted {
                    break;
                }
            }
            _ = publish.tick() => {
                // A quiet partition's clock follows wall time, so timers and windows move.
                if let Some(c) = last_event_clock {
                    let quiet = last_event_wall.elapsed();
                    if quiet >= idle {
                        engine.advance_clock(c + quiet.as_millis() as i64);
                    }
                }
                store(last, &mut stored);
                let (breaches, dropped) = engine.drain_breaches();
                breach_log.log(&breaches, dropped);
                hub.publish(&tp, Arc::new(engine.snapshot(Some(wall_ms()))));
            }
        }
    }
    store(last, &mut stored);
    hub.remove(&tp);
    info!(topic = %tp.0, partition = tp.1, offset = ?stored, "partition task stopped");
}

/// Writes a message that did not decode to the dead-letter topic, with the
/// reason and its origin in headers, and waits for the acknowledgement
/// (retrying). False if shutdown came first.
async fn dead_letter(
    producer: &FutureProducer,
    dlq: &str,
    m: &OwnedMessage,
    e: &DecodeError,
    mut shutdown: watch::Receiver<bool>,
) -> bool {
    let error = e.to_string();
    let partition = m.partition().to_string();
    let offset = m.offset().to_string();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "frontline.reason",
            value: Some(e.reason()),
        })
        .insert(Header {
            key: "frontline.error",
            value: Some(error.as_str()),
        })
        .insert(Header {
            key: "frontline.source.topic",
            value: Some(m.topic()),
        })
        .insert(Header {
            key: "frontline.source.partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "frontline.source.offset",
            value: Some(offset.as_str()),
        });
    let payload: &[u8] = m.payload().unwrap_or_default();
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut record = FutureRecord::to(dlq)
            .payload(payload)
            .headers(headers.clone());
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        tokio::select! {
            r = producer.send(record, Duration::from_secs(10)) => match r {
                Ok(_) => return true,
                Err((err, _)) => warn!(error = %err, topic = dlq, "dead-letter write failed; retrying"),
            },
            _ = shutdown.changed() => return false,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return false,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
