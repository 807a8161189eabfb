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
//! statistics there), takes the fetched messages from their own queue
//! ([`fetched`]) and hands them to the workers' bounded queues, so a slow
//! engine slows its partition's consumption.

mod batch;
mod committed;
mod fetched;
mod poll;
mod rebalance;
pub mod sla_sink;
pub mod worker;

use fetched::Fetched;
use poll::poll_loop;
pub(crate) use poll::Limiter;
pub(crate) use rebalance::Consumer_;
pub use rebalance::Ctx;
use rebalance::{EnvSlot, Workers};

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

use crate::checkpoint::decode_chain;
use crate::checkpoint::kafka::Changelog;
use crate::config::Config;
use crate::engine::{Engine, StateShape};
use crate::hub::{PartStatus, Phase, SnapshotHub, TopicPartition};
use crate::kafka_log::{self, Quiet};
use worker::{Batch, BatchPool, Control, Env, IdleClock, Item, Parked, Start};

/// Messages of a partition handed to its worker at once, at most.
const BATCH: usize = 512;
/// Payload and key bytes of a batch, at most (and one message more): with
/// [`PARTITION_QUEUE`], what bounds a partition's queue in memory whatever
/// its messages' sizes.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches queued per partition before the consumer thread waits
/// (backpressure): 16 384 messages and 8 MiB (and one message a batch) at
/// most. The consumer thread waits on the first partition whose queue is
/// full, and every other partition's worker then runs dry: a worker
/// shares the runtime's threads with the others and waits its turn for
/// milliseconds. With 4 096 messages a queue (about 3 ms of work) that
/// held a catch-up back; with 16 384 it ran 1.12× as fast (alternating,
/// docs/performance.md, "Live").
const PARTITION_QUEUE: usize = 16384 / BATCH;
/// How long shutdown gives the workers' final checkpoints.
const SHUTDOWN_CHECKPOINT: Duration = Duration::from_secs(4);
/// How long a revoked partition's engine is kept in case it comes back.
const PARK_FOR: Duration = Duration::from_secs(120);
/// How long a parked engine's partition is looked up in the changelog.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a partition's checkpoints are read, and read again while Kafka
/// fails, before the process exits (within librdkafka's default
/// `max.poll.interval.ms`, 300 s, as the rebalance callback waits for the
/// restores).
const RESTORE_GIVE_UP: Duration = Duration::from_secs(240);

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

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
    let cc = consumer_config(&cfg);
    let fetched = Arc::new(Fetched::new());
    let ctx = Ctx {
        hub: hub.clone(),
        cfg: cfg.clone(),
        rt: tokio::runtime::Handle::current(),
        workers: Mutex::new(Workers::default()),
        env: EnvSlot::default(),
        fetched: fetched.clone(),
        batches: Arc::new(BatchPool::new(PARTITION_QUEUE, BATCH)),
        no_offset: rebalance::reset_offset(cc.get("auto.offset.reset")),
    };
    let mut consumer: Consumer_ = cc.create_with_context(ctx)?;
    if !fetched.open(consumer.client().native_ptr()) {
        anyhow::bail!("librdkafka gave no queue to fetch into");
    }
    // Events arriving on the consumer queue wake the thread waiting for
    // messages on the other.
    consumer.set_nonempty_callback(move || fetched.wake());
    let consumer = Arc::new(consumer);
    let topics: Vec<&str> = cfg.kafka.topics.iter().map(String::as_str).collect();
    hub.set_label_topic(topics.len() > 1);
    // The group is joined while the changelog topic is found or created:
    // an assignment that arrives first waits for it in the rebalance
    // callback (`EnvSlot::wait`), so a start pays for the longer of the
    // two, not for their sum.
    consumer.subscribe(&topics)?;
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
    let env = match open_env_waiting(&cfg, &hub, &consumer, &mut shutdown).await {
        Some(Ok(env)) => env,
        failed_or_stopped => {
            consumer.context().env.close();
            stopping.store(true, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || poller.join()).await;
            leave(consumer).await;
            return failed_or_stopped.map_or(Ok(()), |r| r.map(drop));
        }
    };
    let dlq = env.dlq.clone();
    consumer.context().env.open(env);
    info!(topics = ?topics, dead_letter_topic = %dlq,
          checkpoint_topic = %if cfg.checkpoint.enabled { cfg.checkpoint.topic_for(topics.first().copied().unwrap_or_default()) } else { "-".into() },
          "consuming");

    let _ = shutdown.changed().await;
    info!("shutting down: final checkpoints");
    stopping.store(true, Ordering::Relaxed);
    // The poll thread finishes its step and stops the workers.
    let _ = tokio::task::spawn_blocking(move || poller.join()).await;
    leave(consumer).await;
    Ok(())
}

/// [`open_env`], tried again every 5 s while Kafka is unreachable: an
/// instance started during an outage waits for the brokers, not ready, as
/// a running one does, rather than exit and be restarted in a loop. An
/// error with Kafka reachable (a topic it may not create, say) ends the
/// start. `None`: shut down while waiting.
async fn open_env_waiting(
    cfg: &Arc<Config>,
    hub: &Arc<SnapshotHub>,
    consumer: &Arc<Consumer_>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<anyhow::Result<Env>> {
    loop {
        let e = match open_env(cfg, hub, consumer).await {
            Ok(env) => return Some(Ok(env)),
            Err(e) if crate::kafka_log::down_since_ms().is_some() => e,
            Err(e) => return Some(Err(e)),
        };
        warn!(error = %e, "Kafka unreachable while its topics open; trying again in 5 s");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return None,
        }
    }
}

/// The consumer's librdkafka configuration.
fn consumer_config(cfg: &Config) -> rdkafka::ClientConfig {
    let mut cc = cfg.kafka.client_config(&[
        ("auto.offset.reset", "earliest"),
        ("statistics.interval.ms", "5000"),
        ("auto.commit.interval.ms", "2000"),
        // A rebalance moves as few partitions as possible.
        ("partition.assignment.strategy", "cooperative-sticky"),
        // While a backlog is read, the fetch queue fills to
        // `queued.min.messages` faster than the workers drain it, and
        // librdkafka then waits `fetch.queue.backoff.ms` (1 s by default)
        // before fetching again, long after the queue has emptied: the
        // partitions sat idle for most of a catch-up. With a 5 ms backoff
        // a queue of 20 000 messages (not 100 000) keeps the workers fed
        // and holds 20-30 MiB less at the peak (docs/performance.md,
        // "Live").
        ("queued.min.messages", "20000"),
        ("fetch.queue.backoff.ms", "5"),
    ]);
    // Offsets are stored by the workers once a checkpoint covering them is
    // acknowledged (without checkpoints: once applied).
    cc.set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    cc
}

/// What every worker shares: clients, topics, the changelog and the SLA
/// event sink (both opened here, their topics created if need be).
async fn open_env(
    cfg: &Arc<Config>,
    hub: &Arc<SnapshotHub>,
    consumer: &Arc<Consumer_>,
) -> anyhow::Result<Env> {
    let producer: FutureProducer<Quiet> = cfg
        .kafka
        .producer_config(&[
            ("acks", "all"),
            ("message.timeout.ms", "30000"),
            ("message.max.bytes", worker::DLQ_MESSAGE_MAX_BYTES),
            // A partition waits for its dead letters' acknowledgement: they
            // go at once rather than after librdkafka's 5 ms linger.
            ("linger.ms", "0"),
        ])
        .create_with_context(Quiet)?;
    let dlq = Arc::new(cfg.kafka.dlq());
    // The source's partition count, asked for once by whichever of the two
    // topics below needs it first. The changelog is looked for meanwhile: a
    // start waits for the longer of the two requests, not their sum.
    let count = tokio::sync::OnceCell::new();
    let min = || async {
        *count
            .get_or_init(|| async {
                let c = consumer.clone();
                let t: Vec<String> = cfg.kafka.topics.clone();
                tokio::task::spawn_blocking(move || {
                    let t: Vec<&str> = t.iter().map(String::as_str).collect();
                    partitions_of(&c, &t)
                })
                .await
                // Its thread cannot panic short of a bug; a count not had
                // is taken as 1, as `partitions_of` takes a failed request.
                .unwrap_or(1)
            })
            .await
    };
    // The SLA event topic and the changelog topic open side by side.
    let sla_events = async {
        match &cfg.sla_events.topic {
            Some(t) => Ok(Some(Arc::new(
                sla_sink::SlaSink::open(cfg, t, min().await, hub.clone()).await?,
            ))),
            None => Ok(None),
        }
    };
    let changelog = async {
        if !cfg.checkpoint.enabled {
            hub.checkpoints_off.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        Changelog::open_counting(cfg, min())
            .await
            .map(|cl| Some(Arc::new(cl)))
            .map_err(|e| anyhow::anyhow!("checkpoint topic: {e}"))
    };
    let (sla_events, changelog) = tokio::try_join!(sla_events, changelog)?;
    Ok(Env {
        cfg: Arc::clone(cfg),
        hub: Arc::clone(hub),
        consumer: Arc::clone(consumer),
        producer,
        dlq,
        changelog,
        sla_events,
        writer: Arc::new(instance_name()),
        shape: Arc::new(StateShape::of(cfg)),
        batches: consumer.context().batches.clone(),
    })
}

/// Leaves the consumer group (bounded).
async fn leave(consumer: Arc<Consumer_>) {
    // The workers are gone; without their `Env` the consumer is no longer
    // referenced from its own context, and dropping it leaves the group
    // (so the partitions move at once). Leaving waits for the cluster, so
    // it is bounded.
    consumer.context().env.close();
    let close = tokio::task::spawn_blocking(move || drop(consumer));
    if tokio::time::timeout(Duration::from_secs(3), close)
        .await
        .is_err()
    {
        warn!("leaving the consumer group timed out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_consumer_keeps_a_short_queue_and_refetches_soon_unless_told_otherwise() {
        let cfg = Config::parse("").unwrap();
        let cc = consumer_config(&cfg);
        assert_eq!(cc.get("fetch.queue.backoff.ms"), Some("5"));
        assert_eq!(cc.get("queued.min.messages"), Some("20000"));
        // librdkafka takes it (an unknown property fails here).
        let _: rdkafka::consumer::BaseConsumer = cc.create().expect("a valid consumer config");
        // A value the user sets wins; producers never get it.
        let cfg = Config::parse("[kafka]\n\"fetch.queue.backoff.ms\" = \"1000\"\n").unwrap();
        assert_eq!(
            consumer_config(&cfg).get("fetch.queue.backoff.ms"),
            Some("1000")
        );
        assert_eq!(
            cfg.kafka.producer_config(&[]).get("fetch.queue.backoff.ms"),
            None
        );
    }
}
