//! The SLA event stream's producer (docs/sla.md, "The SLA event stream"):
//! each worker produces the SLA state changes its engine records, keyed by
//! ticket or call id, with the idempotent producer, and keeps them until the
//! broker acknowledges them. A checkpoint (and so the committed offset)
//! covers only input whose SLA events are acknowledged: before writing one,
//! the worker settles every event produced so far ([`SlaSink::settle`]); if
//! some stay unacknowledged the checkpoint is abandoned and they are kept
//! for the next. After a crash, input past the newest checkpoint is
//! re-applied and its events produced again, with the same `event_id`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::{info, warn};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::hub::SnapshotHub;
use crate::kafka_log::Quiet;
use crate::sla_events::{self, Cause, Source};

/// Unacknowledged events a worker holds before it stops taking input until
/// a checkpoint settles them (backpressure while the topic is unreachable).
pub const MAX_PENDING: usize = 200_000;

/// One produced event not yet known to be acknowledged.
pub struct Pending {
    key: String,
    payload: String,
    /// `None`: not (or no longer) in the producer's queue; sent again when settled.
    fut: Option<DeliveryFuture>,
}

#[cfg(test)]
impl Pending {
    /// One not in the producer's queue.
    pub fn unsent(key: &str) -> Pending {
        Pending {
            key: key.to_string(),
            payload: String::new(),
            fut: None,
        }
    }

    /// Its event's id.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The topic and its idempotent producer.
pub struct SlaSink {
    producer: FutureProducer<Quiet>,
    topic: String,
    /// Where acknowledged and dropped events are counted.
    hub: Arc<SnapshotHub>,
}

impl SlaSink {
    /// The producer for `[sla_events] topic`; creates the topic (with the
    /// input's partition count and the broker's default replication) when
    /// it is missing.
    pub async fn open(
        cfg: &Config,
        topic: &str,
        partitions: i32,
        hub: Arc<SnapshotHub>,
    ) -> anyhow::Result<SlaSink> {
        let mut pc = cfg.kafka.producer_config(&[("linger.ms", "5")]);
        pc.set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "30000");
        let producer: FutureProducer<Quiet> = pc.create_with_context(Quiet)?;
        let admin: AdminClient<Quiet> =
            cfg.kafka.producer_config(&[]).create_with_context(Quiet)?;
        let t = NewTopic::new(topic, partitions.max(1), TopicReplication::Fixed(-1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        match admin.create_topics(&[t], &opts).await {
            Ok(r) => {
                for x in r {
                    match x {
                        Ok(_) => info!(topic, partitions, "SLA event topic created"),
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((_, e)) => {
                            warn!(topic, error = %e, "cannot create the SLA event topic; producing to it anyway")
                        }
                    }
                }
            }
            Err(e) => {
                warn!(topic, error = %e, "cannot create the SLA event topic; producing to it anyway")
            }
        }
        crate::kafka_log::drop_in_background(admin);
        hub.sla_events_on.store(true, Ordering::Relaxed);
        Ok(SlaSink {
            producer,
            topic: topic.to_string(),
            hub,
        })
    }

    fn send(&self, key: &str, payload: &str) -> Option<DeliveryFuture> {
        self.producer
            .send_result(FutureRecord::to(&self.topic).key(key).payload(payload))
            .ok()
    }

    /// Produces the changes `engine` recorded since the last call, caused by
    /// the input at `offset` of `(topic, partition)` (applied, or the last
    /// one applied before the idle clock moved), appending them to `pending`.
    /// Returns how many the engine dropped past its buffer.
    pub fn produce(
        &self,
        engine: &mut Engine,
        tp: (&str, i32),
        offset: i64,
        driven_by: Cause,
        pending: &mut Vec<Pending>,
    ) -> u64 {
        let (events, dropped) = engine.drain_sla_events();
        for e in events {
            let v = sla_events::to_json(
                &e,
                Source::Kafka(tp.0, tp.1, offset),
                Cause::of(&e, driven_by),
            );
            let payload = v.to_string();
            let fut = self.send(&e.id, &payload);
            pending.push(Pending {
                key: e.id,
                payload,
                fut,
            });
        }
        if dropped > 0 {
            self.hub
                .sla_events_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
        dropped
    }

    /// Waits, within `timeout`, until every event of `pending` is
    /// acknowledged, producing again those that failed or never entered the
    /// producer's queue. Returns those still unacknowledged, in order.
    pub async fn settle(&self, pending: Vec<Pending>, timeout: Duration) -> Vec<Pending> {
        let until = tokio::time::Instant::now() + timeout;
        let mut left = Vec::new();
        let mut failures = 0u64;
        let mut acked = 0u64;
        for mut p in pending {
            if !left.is_empty() {
                left.push(p);
                continue;
            }
            loop {
                let mut fut = match p.fut.take().or_else(|| self.send(&p.key, &p.payload)) {
                    Some(f) => f,
                    None => {
                        // The producer's queue is full: wait for room.
                        if tokio::time::Instant::now() >= until {
                            left.push(p);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match tokio::time::timeout_at(until, &mut fut).await {
                    Ok(Ok(Ok(_))) => {
                        acked += 1;
                        break;
                    }
                    Ok(r) => {
                        failures += 1;
                        if failures == 1 {
                            let why = match r {
                                Ok(Err((e, _))) => e.to_string(),
                                _ => "producer gone".into(),
                            };
                            warn!(topic = %self.topic, error = %why, "SLA event not delivered; producing it again");
                        }
                        if tokio::time::Instant::now() >= until {
                            left.push(p);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => {
                        p.fut = Some(fut);
                        left.push(p);
                        break;
                    }
                }
            }
        }
        self.hub
            .sla_events_acked
            .fetch_add(acked, Ordering::Relaxed);
        left
    }
}
