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

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use super::{
    assemble, decode_manifest, encode_manifest, frame_chunk, manifest_for, split, CheckpointError,
    Manifest, Meta, FRAME_OVERHEAD,
};
use crate::config::Config;
use crate::kafka_log::Quiet;

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
    topic: String,
    partitions: i32,
    chunk_bytes: usize,
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

        let admin: AdminClient<Quiet> = base
            .create_with_context(Quiet)
            .map_err(|e| create_err("admin client", e))?;
        let partitions = match count_partitions(&base, &topic).await? {
            Some(n) => {
                if n < min_partitions {
                    warn!(topic = %topic, partitions = n, wanted = min_partitions,
                        "the changelog topic has fewer partitions than the source; partitions share them");
                }
                warn_unless_compacted(&admin, &topic).await;
                n
            }
            None => {
                create(&admin, &topic, cfg, min_partitions.max(1), max_message).await?;
                let deadline = Instant::now() + OPEN_TIMEOUT;
                loop {
                    if let Some(n) = count_partitions(&base, &topic).await? {
                        break n;
                    }
                    if Instant::now() >= deadline {
                        return Err(CheckpointError::Timeout(format!(
                            "changelog topic {topic} created but not in the metadata"
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };

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
        let producer: FutureProducer<Quiet> = pc
            .create_with_context(Quiet)
            .map_err(|e| create_err("producer", e))?;

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
        info!(topic = %topic, partitions, chunk_bytes, "checkpoint changelog open");
        Ok(Changelog {
            producer,
            consumer_cfg,
            topic,
            partitions,
            chunk_bytes,
            write_timeout,
            book: Mutex::new(HashMap::new()),
        })
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
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
        for (i, body) in bodies.iter().enumerate() {
            let key = chunk_key(&meta.topic, meta.partition, slot, i);
            let value = frame_chunk(body);
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
        let manifest = encode_manifest(&manifest_for(meta, state, &bodies, &offsets))?;
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

    /// Blocking: the newest manifest of a source partition, without its chunks.
    pub fn latest_meta(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Option<Meta>, CheckpointError> {
        let mut scan = Scan::new(self, topic, partition, timeout)?;
        while let Some((offset, value)) = scan.next_manifest()? {
            match decode_manifest(&value) {
                Ok(m) if m.meta.topic == topic && m.meta.partition == partition => {
                    return Ok(Some(m.meta))
                }
                Ok(m) => debug!(offset, other = %format!("{}/{}", m.meta.topic, m.meta.partition),
                    "manifest under another partition's key"),
                Err(e) => debug!(offset, error = %e, "unreadable manifest skipped"),
            }
        }
        Ok(None)
    }

    /// Blocking: loads the newest checkpoint that verifies; newer ones that do
    /// not are listed in `rejected` with their reasons.
    pub fn restore(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Restore, CheckpointError> {
        let started = Instant::now();
        let mut scan = Scan::new(self, topic, partition, timeout)?;
        let mut rejected = Vec::new();
        while let Some((offset, value)) = scan.next_manifest()? {
            let m = match decode_manifest(&value) {
                Ok(m) => m,
                Err(e) => {
                    rejected.push(format!("manifest at offset {offset}: {e}"));
                    continue;
                }
            };
            if m.meta.topic != topic || m.meta.partition != partition {
                rejected.push(format!(
                    "manifest at offset {offset}: it is of {}/{}",
                    m.meta.topic, m.meta.partition
                ));
                continue;
            }
            match scan.load(offset, &m) {
                Ok(state) => {
                    let slot = m.meta.generation % 2;
                    let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
                    let b = books.entry((topic.to_string(), partition)).or_default();
                    b.last_generation = Some(m.meta.generation);
                    b.chunks[slot as usize] = b.chunks[slot as usize].max(m.chunks.len());
                    info!(
                        topic,
                        partition,
                        generation = m.meta.generation,
                        next_offset = m.meta.next_offset,
                        bytes = state.len(),
                        rejected = rejected.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "checkpoint loaded"
                    );
                    return Ok(Restore {
                        found: Some((m.meta, state)),
                        rejected,
                    });
                }
                Err(e) => rejected.push(format!(
                    "generation {} (manifest at offset {offset}): {e}",
                    m.meta.generation
                )),
            }
        }
        Ok(Restore {
            found: None,
            rejected,
        })
    }
}

async fn delivered(f: DeliveryFuture) -> Result<i64, CheckpointError> {
    match f.await {
        Ok(Ok(d)) => Ok(d.offset),
        Ok(Err((e, _))) => Err(kafka_err("delivery", e)),
        Err(_) => Err(CheckpointError::Kafka("producer dropped a delivery".into())),
    }
}

/// Partitions of `topic`; None when it does not exist.
async fn count_partitions(
    base: &ClientConfig,
    topic: &str,
) -> Result<Option<i32>, CheckpointError> {
    let (cc, name) = (base.clone(), topic.to_string());
    // Metadata is a blocking call: off the async threads.
    let md = tokio::task::spawn_blocking(move || {
        let c: BaseConsumer<Quiet> = cc.create_with_context(Quiet)?;
        c.fetch_metadata(Some(&name), OPEN_TIMEOUT)
    })
    .await
    .map_err(|e| kafka_err("metadata", e))?
    .map_err(|e| create_err("metadata", e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => Ok(Some(t.partitions().len() as i32).filter(|&n| n > 0)),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
        Some(e) => Err(kafka_err(
            &format!("metadata of {topic}"),
            RDKafkaErrorCode::from(e),
        )),
    }
}

/// A changelog under a delete policy loses checkpoints to retention: say so.
async fn warn_unless_compacted(admin: &AdminClient<Quiet>, topic: &str) {
    let spec = [ResourceSpecifier::Topic(topic)];
    // Advisory only: a cluster that cannot answer (librdkafka's mock cluster
    // of the embedded demo does not) must not hold the start up.
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let policy = match admin.describe_configs(&spec, &opts).await {
        Ok(r) => r
            .into_iter()
            .next()
            .and_then(Result::ok)
            .and_then(|c| c.get("cleanup.policy").and_then(|e| e.value.clone())),
        Err(e) => {
            debug!(topic, error = %e, "could not read the changelog topic's config");
            return;
        }
    };
    if let Some(p) = policy.filter(|p| !p.split(',').any(|x| x.trim() == "compact")) {
        warn!(topic, cleanup_policy = %p,
            "the changelog topic is not compacted: checkpoints may be deleted by retention");
    }
}

async fn create(
    admin: &AdminClient<Quiet>,
    topic: &str,
    cfg: &Config,
    partitions: i32,
    max_message: usize,
) -> Result<(), CheckpointError> {
    let max_message = max_message.to_string();
    let t = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(cfg.checkpoint.replication_factor),
    )
    .set("cleanup.policy", "compact")
    // Only closed segments are compacted: roll them often enough that the
    // two live slots per partition are what remains.
    .set("segment.ms", "600000")
    .set("segment.bytes", "67108864")
    .set("min.cleanable.dirty.ratio", "0.25")
    .set("max.message.bytes", &max_message);
    let r = admin
        .create_topics(
            &[t],
            &AdminOptions::new().operation_timeout(Some(OPEN_TIMEOUT)),
        )
        .await
        .map_err(|e| kafka_err("create changelog topic", e))?;
    for x in r {
        match x {
            Ok(_) => info!(topic, partitions, "changelog topic created (compacted)"),
            // Another instance won the race: use theirs.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(kafka_err(&format!("create changelog topic {t}"), e)),
        }
    }
    Ok(())
}

/// One record of the source partition read from the changelog.
struct Rec {
    key: String,
    value: Option<Vec<u8>>,
}

/// A backward scan of one changelog partition for one source partition.
struct Scan<'a> {
    consumer: BaseConsumer<Quiet>,
    log: &'a Changelog,
    topic: &'a str,
    partition: i32,
    cp: i32,
    prefix: String,
    deadline: Instant,
    high: i64,
    low: i64,
    /// Offsets below which the scan has not read yet.
    next_end: i64,
    window: i64,
    /// Records of this source partition read so far, by offset.
    seen: BTreeMap<i64, Rec>,
    /// Per key, the offset of its newest record among the windows read:
    /// an older record of a key is what compaction removes, so it is not used.
    newest: HashMap<String, i64>,
    /// Manifest offsets found but not handed out yet, newest last.
    manifests: Vec<i64>,
}

impl<'a> Scan<'a> {
    fn new(
        log: &'a Changelog,
        topic: &'a str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Scan<'a>, CheckpointError> {
        let deadline = Instant::now() + timeout;
        let consumer: BaseConsumer<Quiet> = log
            .consumer_cfg
            .create_with_context(Quiet)
            .map_err(|e| create_err("consumer", e))?;
        let cp = log.partition_for(partition);
        let (low, high) = consumer
            .fetch_watermarks(&log.topic, cp, remaining(deadline, "watermarks")?)
            .map_err(|e| match e {
                KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut) => {
                    CheckpointError::Timeout(format!("watermarks of {}/{cp}", log.topic))
                }
                e => kafka_err("watermarks", e),
            })?;
        Ok(Scan {
            consumer,
            log,
            topic,
            partition,
            cp,
            prefix: prefix(topic, partition),
            deadline,
            high,
            low,
            next_end: high,
            window: FIRST_WINDOW,
            seen: BTreeMap::new(),
            newest: HashMap::new(),
            manifests: Vec::new(),
        })
    }

    /// The next older manifest record of the source partition (offset, value).
    fn next_manifest(&mut self) -> Result<Option<(i64, Vec<u8>)>, CheckpointError> {
        loop {
            if let Some(o) = self.manifests.pop() {
                if let Some(Rec { value: Some(v), .. }) = self.seen.get(&o) {
                    return Ok(Some((o, v.clone())));
                }
                continue;
            }
            if self.next_end <= self.low {
                return Ok(None);
            }
            let end = self.next_end;
            let start = (end - self.window).max(self.low);
            self.read(start, end)?;
            self.next_end = start;
            self.window = (self.window * 2).min(MAX_WINDOW);
            // Windows never overlap and go down the log, so the first record
            // met of a key is its newest.
            let mut found = Vec::new();
            for (o, r) in self.seen.range(start..end).rev() {
                if !self.newest.contains_key(&r.key) {
                    self.newest.insert(r.key.clone(), *o);
                    if r.key.ends_with("/m") && r.value.is_some() {
                        found.push(*o);
                    }
                }
            }
            found.reverse();
            self.manifests.extend(found);
        }
    }

    /// The state of a manifest found at `at`, its chunks read and verified.
    fn load(&mut self, at: i64, m: &Manifest) -> Result<Vec<u8>, CheckpointError> {
        let slot = m.meta.generation % 2;
        if m.chunks.is_empty() {
            return Err(super::corrupt("manifest", "no chunks listed"));
        }
        if let Some(c) = m
            .chunks
            .iter()
            .find(|c| c.offset >= at || c.offset < self.low)
        {
            return Err(super::corrupt(
                "manifest",
                format!(
                    "chunk offset {} outside the log before it ({}..{at})",
                    c.offset, self.low
                ),
            ));
        }
        let missing: Vec<i64> = m
            .chunks
            .iter()
            .map(|c| c.offset)
            .filter(|o| !self.seen.contains_key(o))
            .collect();
        if let (Some(&first), Some(&last)) = (missing.iter().min(), missing.iter().max()) {
            self.read(first, last + 1)?;
        }
        let mut framed = Vec::with_capacity(m.chunks.len());
        for (i, c) in m.chunks.iter().enumerate() {
            let want = chunk_key(self.topic, self.partition, slot, i);
            if let Some(&n) = self.newest.get(&want).filter(|&&n| n > c.offset) {
                return Err(super::corrupt(
                    format!("chunk {i} at offset {}", c.offset),
                    format!("overwritten by a later record of {want} at offset {n}"),
                ));
            }
            match self.seen.get(&c.offset) {
                Some(Rec {
                    key,
                    value: Some(v),
                }) if *key == want => framed.push(v.as_slice()),
                Some(r) => {
                    return Err(super::corrupt(
                        format!("chunk {i} at offset {}", c.offset),
                        format!(
                            "holds {}{}, expected {want}",
                            r.key,
                            if r.value.is_none() {
                                " (a tombstone)"
                            } else {
                                ""
                            }
                        ),
                    ))
                }
                None => {
                    return Err(super::corrupt(
                        format!("chunk {i} at offset {}", c.offset),
                        "missing from the log (compacted away or never written)",
                    ))
                }
            }
        }
        assemble(m, &framed)
    }

    /// Reads offsets `start..end` of the changelog partition, keeping the
    /// records of this source partition.
    fn read(&mut self, start: i64, end: i64) -> Result<(), CheckpointError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.log.topic, self.cp, Offset::Offset(start))
            .map_err(|e| kafka_err("assign", e))?;
        self.consumer
            .assign(&tpl)
            .map_err(|e| kafka_err("assign", e))?;
        loop {
            let wait = remaining(self.deadline, "reading the changelog")?;
            let Some(r) = self.consumer.poll(wait.min(Duration::from_millis(200))) else {
                continue;
            };
            match r {
                // Only the top window may end at the end of the log; below it
                // a record at or past `end` always follows (the log's last
                // record is never compacted), and an end-of-partition event
                // there is a stale one from an earlier window.
                Err(KafkaError::PartitionEOF(p)) if p == self.cp && end >= self.high => break,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(e) => return Err(kafka_err("read changelog", e)),
                Ok(m) => {
                    if m.partition() != self.cp || m.offset() < start {
                        continue;
                    }
                    if m.offset() >= end {
                        break;
                    }
                    if let Some(k) = m.key().and_then(|k| std::str::from_utf8(k).ok()) {
                        if k.starts_with(&self.prefix) {
                            self.seen.insert(
                                m.offset(),
                                Rec {
                                    key: k.to_string(),
                                    value: m.payload().map(<[u8]>::to_vec),
                                },
                            );
                        }
                    }
                    if m.offset() + 1 >= end {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

fn remaining(deadline: Instant, what: &str) -> Result<Duration, CheckpointError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(CheckpointError::Timeout(what.to_string()));
    }
    Ok(left)
}
