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
//! From format 6 a checkpoint's dedup memory is a log (`checkpoint::log`):
//! the ids that arrived since the last checkpoint go, after its chunks, to
//!
//! ```text
//!  t/p/d/g/0, … t/p/d/g/k-1     segment of generation g, ≤ chunk_bytes each
//! ```
//!
//! and the manifest lists every segment still remembered, with its chunks'
//! offsets. A segment is tombstoned once neither slot's manifest lists it.
//! A log of [`MAX_SEGMENTS`] starts over: the next checkpoint writes the
//! whole memory as one segment.
//!
//! From format 7 the worker's checkpoints are a chain (`checkpoint::chain`):
//! each one's state goes, instead of to its slot, to
//!
//! ```text
//!  t/p/c/g/0, … t/p/c/g/n-1     state of generation g, whole or changes
//! ```
//!
//! and its manifest lists the checkpoints its changes apply to. A whole
//! one starts the chain over; the members of the last one are tombstoned
//! once neither slot's manifest lists them.
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
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::{debug, info, warn};

use super::{
    chunk_refs, encode_manifest, frame_chunk_into, manifest_from_sums, split, wants_changes,
    CheckpointError, DedupLog, Manifest, Meta, RestoredLog, StateChain, FRAME_OVERHEAD,
};
use crate::config::Config;
use crate::engine::{DedupCopy, LogTail};
use crate::kafka_log::Quiet;

mod book;
mod restore;
mod topic;

use book::Book;

/// Messages read by the first backward window; each further one doubles.
const FIRST_WINDOW: i64 = 64;
/// The largest backward window.
const MAX_WINDOW: i64 = 1024;
/// Room on top of a chunk for its key, frame and record-batch headers.
const RECORD_HEADROOM: usize = 64 * 1024;
/// Segments a dedup log lists at most: at this many the next checkpoint
/// writes the whole memory as one segment and the log starts over. It
/// bounds a restore's fetches (one a segment) and the manifest's size, for
/// one copy of the memory every this many checkpoints (at the 10 s
/// default, one every 10 minutes against one every checkpoint in format 5).
pub const MAX_SEGMENTS: usize = 64;
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

/// What `restore` found.
#[derive(Debug)]
pub struct Restore {
    /// The newest checkpoint that verified, and its encoded state.
    pub found: Option<(Meta, Vec<u8>)>,
    /// Newer checkpoints that did not verify, newest first, each with its reason.
    pub rejected: Vec<String>,
    /// The found checkpoint's dedup log, when its dedup memory is in one
    /// (`checkpoint::decode_restored` reads the two together).
    pub dedup: Option<RestoredLog>,
    /// The states of the checkpoints the found one's changes apply to, a
    /// whole one first (empty: the found state is whole;
    /// `checkpoint::decode_chain` reads them together).
    pub earlier: Vec<Vec<u8>>,
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

fn segment_key(topic: &str, partition: i32, generation: u64, index: usize) -> String {
    format!("{topic}/{partition}/d/{generation}/{index}")
}

fn chain_key(topic: &str, partition: i32, generation: u64, index: usize) -> String {
    format!("{topic}/{partition}/c/{generation}/{index}")
}

impl Changelog {
    /// Connects; creates the changelog topic when missing (compacted, at least
    /// `min_partitions` partitions), else uses it as it is.
    pub async fn open(cfg: &Config, min_partitions: i32) -> Result<Changelog, CheckpointError> {
        Changelog::open_counting(cfg, std::future::ready(min_partitions)).await
    }

    /// [`Changelog::open`] while the source's partition count is still
    /// being found: the topic is looked for meanwhile, and the count
    /// awaited only to create it or to warn that it has fewer partitions.
    pub async fn open_counting(
        cfg: &Config,
        min_partitions: impl Future<Output = i32>,
    ) -> Result<Changelog, CheckpointError> {
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

    /// How a partition's next checkpoint copies its dedup memory, whose
    /// numbering is `epoch`: into the state below format 6; else as a log,
    /// from where the last checkpoint's log ends when that log is of the
    /// same numbering and lists fewer than [`MAX_SEGMENTS`], or all of it.
    pub fn dedup_copy(&self, topic: &str, partition: i32, epoch: u64) -> DedupCopy {
        if self.version < 6 {
            return DedupCopy::Inline;
        }
        let books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let log = books
            .get(&(topic.to_string(), partition))
            .and_then(|b| b.log.as_ref());
        match log {
            Some(l) if l.epoch == epoch && l.segments.len() < MAX_SEGMENTS => {
                DedupCopy::LogFrom(l.end())
            }
            _ => DedupCopy::LogFrom(0),
        }
    }

    /// Whether a partition's next checkpoint should hold only the changes
    /// since its last one (format 7; `checkpoint::wants_changes`): its
    /// last checkpoint was chained and written by this instance's engine
    /// or restored into it, and the chain is still short.
    pub fn wants_changes(&self, topic: &str, partition: i32) -> bool {
        if self.version < 7 {
            return false;
        }
        let books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        books
            .get(&(topic.to_string(), partition))
            .is_some_and(|b| b.follows && wants_changes(&b.chain))
    }

    /// A partition's state is copied for its next checkpoint (called
    /// before [`Changelog::wants_changes`] decides what the copy holds).
    /// A copy takes the changes marked in the engine with it, so when the
    /// copy before was never written — however its checkpoint ended: a
    /// failed write, SLA events not acknowledged, an encode that failed, a
    /// write abandoned or aborted — changes on top of the last checkpoint
    /// written would restore without what it took: this one is whole.
    pub fn copy_taken(&self, topic: &str, partition: i32) {
        let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = books.get_mut(&(topic.to_string(), partition)) {
            if b.copied {
                b.follows = false;
            }
            b.copied = true;
        }
    }

    /// Writes one checkpoint: every chunk of `state`, awaits their acks, then
    /// the manifest and its ack. An error or `write_timeout` abandons it; the
    /// previous checkpoint stays restorable.
    pub async fn write(&self, meta: &Meta, state: &[u8]) -> Result<(), CheckpointError> {
        self.write_logged(meta, state, None).await
    }

    /// [`Changelog::write`] of a state whose dedup memory is logged: the
    /// segment `tail` (of a copy taken as [`Changelog::dedup_copy`] said)
    /// is written after the state's chunks, and the manifest lists the log.
    pub async fn write_logged(
        &self,
        meta: &Meta,
        state: &[u8],
        tail: Option<&LogTail>,
    ) -> Result<(), CheckpointError> {
        self.write_checkpoint(meta, state, tail, None).await
    }

    /// [`Changelog::write_logged`] of a state in a chain (format 7): whole
    /// (starting a chain) or, when `changes`, the changes since the last
    /// checkpoint written or restored (as [`Changelog::wants_changes`]
    /// said). A partition's checkpoints are all chained or none.
    pub async fn write_chained(
        &self,
        meta: &Meta,
        state: &[u8],
        tail: Option<&LogTail>,
        changes: bool,
    ) -> Result<(), CheckpointError> {
        self.write_checkpoint(meta, state, tail, Some(changes))
            .await
    }

    async fn write_checkpoint(
        &self,
        meta: &Meta,
        state: &[u8],
        tail: Option<&LogTail>,
        chained: Option<bool>,
    ) -> Result<(), CheckpointError> {
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
        let log = match tail {
            Some(t) => Some((t, self.next_log(&key, &book, t, meta.generation)?)),
            None => None,
        };
        let chain = chained
            .map(|changes| book.next_chain(self.version, meta.generation, changes))
            .transpose()?;
        let slot = meta.generation % 2;
        let started = Instant::now();
        let result = tokio::time::timeout(
            self.write_timeout,
            self.write_inner(meta, state, slot, &book, log, chain),
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
        match result {
            Ok(m) => b.written(&m, chunks),
            Err(e) => {
                b.failed(meta.generation, chunks, chained.is_some());
                if matches!(e, CheckpointError::Recreated(_)) {
                    b.start_over();
                }
                return Err(e);
            }
        }
        debug!(topic = %meta.topic, partition = meta.partition, generation = meta.generation,
            bytes = state.len(), chunks, dedup_log_bytes = tail.map_or(0, |t| t.body.len()),
            elapsed_ms = started.elapsed().as_millis() as u64, "checkpoint written");
        Ok(())
    }

    /// The log a checkpoint of `generation` adding `tail` writes
    /// ([`DedupLog::next`]). One that cannot follow the log last written
    /// is an error, and the next copy starts the log over ([`Changelog::dedup_copy`]).
    fn next_log(
        &self,
        key: &(String, i32),
        book: &Book,
        tail: &LogTail,
        generation: u64,
    ) -> Result<DedupLog, CheckpointError> {
        if self.version < 6 {
            return Err(CheckpointError::Codec(format!(
                "a dedup log is written from format 6 on, this changelog writes {}",
                self.version
            )));
        }
        DedupLog::next(book.log.as_ref(), tail, generation).inspect_err(|_| {
            let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
            books.entry(key.clone()).or_default().log = None;
        })
    }

    /// Forgets the generation and dedup log of a partition's last
    /// checkpoint: one that was loaded but could not be decoded, whose
    /// partition starts empty and checkpoints from generation 1 (which the
    /// loaded one's generation would refuse). A restore takes the newest
    /// checkpoint in the log, whatever its generation.
    pub fn forget(&self, topic: &str, partition: i32) {
        let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = books.get_mut(&(topic.to_string(), partition)) {
            b.last_generation = None;
            b.log = None;
            b.follows = false;
        }
    }

    fn book_of(&self, key: &(String, i32)) -> Book {
        let books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        books.get(key).cloned().unwrap_or_default()
    }

    /// Produces the chunks, the dedup log's new segment, then the manifest,
    /// then tombstones; the manifest written.
    async fn write_inner(
        &self,
        meta: &Meta,
        state: &[u8],
        slot: u64,
        book: &Book,
        log: Option<(&LogTail, DedupLog)>,
        chain: Option<StateChain>,
    ) -> Result<Manifest, CheckpointError> {
        let (t, p, g) = (&meta.topic, meta.partition, meta.generation);
        let bodies = split(state, self.chunk_bytes);
        let keys = (0..bodies.len()).map(|i| match chain {
            Some(_) => chain_key(t, p, g, i),
            None => chunk_key(t, p, slot, i),
        });
        let (offsets, sums) = self.produce_chunks(p, keys, &bodies).await?;
        if let (Some(&first), Some(reach)) = (offsets.first(), book.reach()) {
            if first <= reach {
                // Offsets only grow in a partition: these went back, so the
                // changelog is another topic under the same name, and the
                // chain and dedup log this checkpoint would point at are
                // not in it. Acknowledging it would commit offsets no
                // restore can reach.
                return Err(CheckpointError::Recreated(format!(
                    "the changelog's offsets went back (a chunk at {first}, the last \
                     checkpoint reaching {reach}): was {} deleted and created again? \
                     the next checkpoint is whole",
                    self.topic
                )));
            }
        }
        let mut manifest = manifest_from_sums(meta, state, &bodies, &sums, &offsets);
        manifest.chain = chain;
        if let Some((tail, mut log)) = log {
            if let Some(new) = log
                .segments
                .last_mut()
                .filter(|s| s.generation == meta.generation)
            {
                let bodies = split(&tail.body, self.chunk_bytes);
                let keys = (0..bodies.len()).map(|i| segment_key(t, p, meta.generation, i));
                let (offsets, sums) = self.produce_chunks(p, keys, &bodies).await?;
                new.chunks = chunk_refs(&bodies, &sums, &offsets);
            }
            manifest.dedup = Some(log);
        }
        let framed = encode_manifest(self.version, &manifest)?;
        let cp = self.partition_for(p);
        let (mut pending, mut offsets) = (Vec::new(), Vec::new());
        let f = self
            .enqueue(
                &manifest_key(t, p, slot),
                Some(framed.as_slice()),
                cp,
                &mut pending,
                &mut offsets,
            )
            .await?;
        delivered(f).await?;

        self.tombstone(meta, &book::leftovers(&manifest, slot, book))
            .await?;
        Ok(manifest)
    }

    /// Produces framed chunks under `keys` to the changelog partition of
    /// source partition `p` in order, and awaits them: their offsets and
    /// checksums.
    async fn produce_chunks(
        &self,
        p: i32,
        keys: impl Iterator<Item = String>,
        bodies: &[&[u8]],
    ) -> Result<(Vec<i64>, Vec<u64>), CheckpointError> {
        let cp = self.partition_for(p);
        let mut pending: Vec<DeliveryFuture> = Vec::new();
        let mut offsets = Vec::with_capacity(bodies.len());
        // One buffer frames every chunk: the producer copies each as it is sent.
        let most = bodies.iter().map(|b| b.len()).max().unwrap_or(0);
        let mut value = Vec::with_capacity(most + FRAME_OVERHEAD);
        let mut sums = Vec::with_capacity(bodies.len());
        for (key, body) in keys.zip(bodies) {
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
        Ok((offsets, sums))
    }

    /// Tombstones `keys`; one that fails is logged (compaction keeps it).
    async fn tombstone(&self, meta: &Meta, keys: &[String]) -> Result<(), CheckpointError> {
        let cp = self.partition_for(meta.partition);
        let mut tombstones = Vec::new();
        let mut ignored = Vec::new();
        for key in keys {
            let f = self
                .enqueue(key, None, cp, &mut tombstones, &mut ignored)
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
