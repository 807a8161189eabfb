//! The changelog: checkpoints in a compacted Kafka topic.
//!
//! ## Layout
//!
//! Source partition `p` of topic `t` checkpoints to changelog partition
//! `p % partitions`. A checkpoint of generation `g` lives in slot `s = g % 2`
//! under the keys
//!
//! ```text
//!  t/p/s/0, t/p/s/1, … t/p/s/n-1   chunks: the encoded state, ≤ chunk_bytes each
//!  t/p/s/m                         manifest: Meta, state length and xxh3, and
//!                                  per chunk its changelog offset, length, xxh3
//! ```
//!
//! All chunks go to one partition in order and their acks are awaited before
//! the manifest is produced, so the manifest knows their offsets and a
//! manifest in the log means its chunks are there. A crash in the middle of
//! generation `g` only overwrites keys of slot `g % 2`, whose manifest is
//! older than the other slot's; the other slot's manifest and chunks stay
//! intact, even after compaction keeps only the newest value per key. When a
//! checkpoint has fewer chunks than the one this writer last put in the same
//! slot, the leftover chunk keys get tombstones so compaction drops them.
//!
//! Two consecutive checkpoints of a partition must use different slots: after
//! a failed write the next write retries the same generation
//! ([`CheckpointError::Generation`] otherwise).
//!
//! ## Restore
//!
//! Without scanning the whole log: read the changelog partition backwards in
//! windows (64 messages below the high watermark, then the 128 before, …,
//! at most 1024 at a time) with an unsubscribed consumer, take the newest
//! manifest of the source partition, fetch its chunks by offset (most are in
//! the windows already read) and verify them; a manifest that does not
//! verify is rejected with its reason and the scan goes on to the previous one.
//! A record whose key has a newer record is ignored, manifest or chunk: the
//! log is read as compaction will leave it, so what restores does not depend
//! on whether the cleaner has run yet.
//!
//! ## What lives where
//!
//! This file: [`Changelog`], opening it and writing checkpoints; `topic.rs`:
//! finding or creating the compacted topic; `restore.rs`: the backward
//! scan that finds and loads checkpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::{debug, info, warn};

use super::{
    encode_manifest, frame_chunk_into, manifest_from_sums, split, CheckpointError, Meta,
    FRAME_OVERHEAD,
};
use crate::config::Config;
use crate::kafka_log::Quiet;

mod restore;
mod topic;

/// Messages read by the first backward window; each further one doubles.
const FIRST_WINDOW: i64 = 64;
/// The largest backward window.
const MAX_WINDOW: i64 = 1024;
/// Room on top of a chunk for its key, frame and record-batch headers.
const RECORD_HEADROOM: usize = 64 * 1024;
/// How long `open` waits for the broker.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A changelog topic: writes checkpoints, finds and loads them.
pub struct Changelog {
    producer: FutureProducer<Quiet>,
    /// Settings for the short-lived consumers of `restore` and `latest_meta`.
    consumer_cfg: ClientConfig,
    /// The changelog's metadata and watermarks.
    meta: Arc<BaseConsumer<Quiet>>,
    topic: String,
    partitions: i32,
    chunk_bytes: usize,
    /// The format version written (`checkpoint.write_format`).
    version: u32,
    write_timeout: Duration,
    /// Per source partition: what this instance last wrote or restored.
    book: Mutex<HashMap<(String, i32), Book>>,
}

/// What a writer remembers of a source partition's slots.
#[derive(Clone, Debug, Default)]
struct Book {
    /// Generation of the last checkpoint written or restored.
    last_generation: Option<u64>,
    /// Chunks of the newest checkpoint known in each slot.
    chunks: [usize; 2],
}

/// What `restore` found.
#[derive(Debug)]
pub struct Restore {
    /// The newest checkpoint that verified, and its encoded state.
    pub found: Option<(Meta, Vec<u8>)>,
    /// Newer checkpoints that did not verify, newest first, each with its reason.
    pub rejected: Vec<String>,
}

fn kafka_err(what: &str, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Kafka(format!("{what}: {e}"))
}

/// A client that could not be created: the error without the config value
/// librdkafka echoes (it may be a secret).
fn create_err(what: &str, e: KafkaError) -> CheckpointError {
    kafka_err(what, crate::config::kafka_error_text(&e))
}

/// librdkafka settings from `[kafka]` without the consumer-group keys.
fn base_config(cfg: &Config) -> ClientConfig {
    let mut c = cfg.kafka.producer_config(&[]);
    // A metadata request must never create the changelog with broker defaults.
    c.set("allow.auto.create.topics", "false");
    c
}

/// The keys of one source partition's slot.
fn prefix(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}/")
}

fn manifest_key(topic: &str, partition: i32, slot: u64) -> String {
    format!("{topic}/{partition}/{slot}/m")
}

fn chunk_key(topic: &str, partition: i32, slot: u64, index: usize) -> String {
    format!("{topic}/{partition}/{slot}/{index}")
}

impl Changelog {
    /// Connects; creates the changelog topic when missing (compacted, at least
    /// `min_partitions` partitions), else uses it as it is.
    pub async fn open(cfg: &Config, min_partitions: i32) -> Result<Changelog, CheckpointError> {
        let first = cfg
            .kafka
            .topics
            .first()
            .map_or("support-events", String::as_str);
        let topic = cfg.checkpoint.topic_for(first);
        let chunk_bytes = cfg.checkpoint.chunk_bytes.max(1);
        let write_timeout = Duration::from_millis(cfg.checkpoint.write_timeout.ms().max(1) as u64);
        let base = base_config(cfg);
        let max_message = chunk_bytes + FRAME_OVERHEAD + RECORD_HEADROOM;
        let consumer_cfg = reader_config(base.clone(), cfg);
        // One client for metadata and watermarks, connected here, so that a
        // restore asks for a partition's watermarks without a client of its
        // own (and an empty partition's restore needs no other).
        let meta: Arc<BaseConsumer<Quiet>> = Arc::new(
            consumer_cfg
                .create_with_context(Quiet)
                .map_err(|e| create_err("metadata client", e))?,
        );
        let partitions =
            topic::ensure(&base, &meta, &topic, cfg, min_partitions, max_message).await?;
        let producer: FutureProducer<Quiet> = producer_config(&base, max_message, write_timeout)
            .create_with_context(Quiet)
            .map_err(|e| create_err("producer", e))?;
        let version = cfg.checkpoint.write_format;
        info!(topic = %topic, partitions, chunk_bytes, format = version, "checkpoint changelog open");
        Ok(Changelog {
            producer,
            consumer_cfg,
            meta,
            topic,
            partitions,
            chunk_bytes,
            version,
            write_timeout,
            book: Mutex::new(HashMap::new()),
        })
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The checkpoint format version this changelog writes: states given
    /// to [`Changelog::write`] must be encoded in it.
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// Partitions of the changelog topic.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The changelog partition of a source partition.
    pub fn partition_for(&self, source_partition: i32) -> i32 {
        source_partition.rem_euclid(self.partitions)
    }

    /// Writes one checkpoint: every chunk of `state`, awaits their acks, then
    /// the manifest and its ack. An error or `write_timeout` abandons it; the
    /// previous checkpoint stays restorable.
    pub async fn write(&self, meta: &Meta, state: &[u8]) -> Result<(), CheckpointError> {
        let key = (meta.topic.clone(), meta.partition);
        let book = self.book_of(&key);
        if let Some(last) = book.last_generation {
            if meta.generation <= last || (meta.generation - last).is_multiple_of(2) {
                return Err(CheckpointError::Generation {
                    got: meta.generation,
                    last,
                    expected: last + 1,
                });
            }
        }
        let slot = meta.generation % 2;
        let started = Instant::now();
        let result = tokio::time::timeout(
            self.write_timeout,
            self.write_inner(meta, state, slot, &book),
        )
        .await
        .map_err(|_| {
            CheckpointError::Timeout(format!(
                "checkpoint of {}/{} generation {} not acknowledged within {:?}",
                meta.topic, meta.partition, meta.generation, self.write_timeout
            ))
        })
        .and_then(|r| r);
        let chunks = split(state, self.chunk_bytes).len();
        let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let b = books.entry(key).or_default();
        let known = &mut b.chunks[slot as usize];
        if let Err(e) = result {
            // Some of its chunks may be in the log: the next checkpoint of
            // this slot tombstones them if it is shorter.
            *known = (*known).max(chunks);
            return Err(e);
        }
        b.last_generation = Some(meta.generation);
        *known = chunks;
        debug!(topic = %meta.topic, partition = meta.partition, generation = meta.generation,
            bytes = state.len(), chunks, elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint written");
        Ok(())
    }

    fn book_of(&self, key: &(String, i32)) -> Book {
        let books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        books.get(key).cloned().unwrap_or_default()
    }

    /// Produces the chunks, then the manifest, then tombstones.
    async fn write_inner(
        &self,
        meta: &Meta,
        state: &[u8],
        slot: u64,
        book: &Book,
    ) -> Result<(), CheckpointError> {
        let cp = self.partition_for(meta.partition);
        let bodies = split(state, self.chunk_bytes);
        let mut pending: Vec<DeliveryFuture> = Vec::new();
        let mut offsets = Vec::with_capacity(bodies.len());
        // One buffer frames every chunk: the producer copies each as it is sent.
        let mut value = Vec::with_capacity(self.chunk_bytes.min(state.len()) + FRAME_OVERHEAD);
        let mut sums = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let key = chunk_key(&meta.topic, meta.partition, slot, i);
            sums.push(frame_chunk_into(self.version, body, &mut value));
            let f = self
                .enqueue(&key, Some(value.as_slice()), cp, &mut pending, &mut offsets)
                .await?;
            pending.push(f);
        }
        for f in pending.drain(..) {
            offsets.push(delivered(f).await?);
        }
        if offsets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CheckpointError::Kafka(format!(
                "chunks acknowledged out of order: offsets {offsets:?}"
            )));
        }
        let manifest = encode_manifest(
            self.version,
            &manifest_from_sums(meta, state, &bodies, &sums, &offsets),
        )?;
        let mkey = manifest_key(&meta.topic, meta.partition, slot);
        let f = self
            .enqueue(
                &mkey,
                Some(manifest.as_slice()),
                cp,
                &mut pending,
                &mut offsets,
            )
            .await?;
        delivered(f).await?;

        // Chunks of an older, longer checkpoint in this slot: no manifest
        // points at them any more.
        let n = bodies.len();
        let mut tombstones = Vec::new();
        let mut ignored = Vec::new();
        for i in n..book.chunks[slot as usize] {
            let key = chunk_key(&meta.topic, meta.partition, slot, i);
            let f = self
                .enqueue(&key, None, cp, &mut tombstones, &mut ignored)
                .await?;
            tombstones.push(f);
        }
        for f in tombstones {
            if let Err(e) = delivered(f).await {
                warn!(topic = %meta.topic, partition = meta.partition, error = %e,
                    "a tombstone for a leftover checkpoint chunk failed; compaction keeps it");
            }
        }
        Ok(())
    }

    /// Enqueues one record; when librdkafka's queue is full, awaits the oldest
    /// pending delivery (recording its offset) and tries again.
    async fn enqueue(
        &self,
        key: &str,
        value: Option<&[u8]>,
        cp: i32,
        pending: &mut Vec<DeliveryFuture>,
        offsets: &mut Vec<i64>,
    ) -> Result<DeliveryFuture, CheckpointError> {
        loop {
            let mut rec: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&self.topic).key(key).partition(cp);
            if let Some(v) = value {
                rec = rec.payload(v);
            }
            match self.producer.send_result(rec) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if !pending.is_empty() =>
                {
                    let f = pending.remove(0);
                    offsets.push(delivered(f).await?);
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => return Err(kafka_err("produce", e)),
            }
        }
    }
}

/// The changelog producer's settings: every write acknowledged by all
/// replicas, idempotent, batches that fit the topic's message limit, and
/// `checkpoint.write_timeout` for delivery.
fn producer_config(
    base: &ClientConfig,
    max_message: usize,
    write_timeout: Duration,
) -> ClientConfig {
    let mut pc = base.clone();
    pc.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.max.bytes", max_message.max(1_000_000).to_string())
        // The topic's max.message.bytes limits a whole record batch, not
        // one record: batches must fit it as well.
        .set(
            "batch.size",
            (max_message - RECORD_HEADROOM / 2).to_string(),
        )
        .set(
            "message.timeout.ms",
            write_timeout
                .as_millis()
                .clamp(1, i32::MAX as u128)
                .to_string(),
        );
    // Compressed on librdkafka's threads, not the partition's (see the
    // measurements in the parent module), unless `[kafka]` chose a codec.
    if pc.get("compression.type").is_none() && pc.get("compression.codec").is_none() {
        pc.set("compression.type", "lz4");
    }
    pc
}

/// Settings for the short-lived readers of `restore` and `latest_meta`.
fn reader_config(base: ClientConfig, cfg: &Config) -> ClientConfig {
    let mut consumer_cfg = base;
    // librdkafka wants a group for `assign`; the group is never joined
    // (no subscribe) and nothing is committed to it.
    let group = cfg
        .kafka
        .client
        .get("group.id")
        .map_or("frontline", String::as_str);
    consumer_cfg
        .set("group.id", format!("{group}.checkpoint-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    consumer_cfg
}

async fn delivered(f: DeliveryFuture) -> Result<i64, CheckpointError> {
    match f.await {
        Ok(Ok(d)) => Ok(d.offset),
        Ok(Err((e, _))) => Err(kafka_err("delivery", e)),
        Err(_) => Err(CheckpointError::Kafka("producer dropped a delivery".into())),
    }
}
