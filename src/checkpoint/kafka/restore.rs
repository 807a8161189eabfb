//! Finding and loading checkpoints: a backward scan of one changelog
//! partition, read as compaction will leave it (see the parent module).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info};

use super::{
    chain_key, chunk_key, create_err, kafka_err, prefix, segment_key, Changelog, Restore,
    FIRST_WINDOW, MAX_WINDOW,
};
use crate::checkpoint::{
    assemble, assemble_piece, corrupt, decode_manifest, CheckpointError, ChunkRef, DedupLog,
    Manifest, Meta, RestoredLog,
};
use crate::kafka_log::Quiet;

impl Changelog {
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
        self.restore_with(topic, partition, timeout, |_| Ok(()))
            .map(|(r, _)| r)
    }

    /// Blocking: [`Changelog::restore`], with each checkpoint that verifies
    /// also given to `accept` (which decodes it): one it refuses is listed
    /// in `rejected` with its reason like one that does not verify, and the
    /// one before it is tried.
    pub fn restore_with<T>(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
        mut accept: impl FnMut(&Restore) -> Result<T, CheckpointError>,
    ) -> Result<(Restore, Option<T>), CheckpointError> {
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
            let loaded = scan.load(offset, &m).and_then(|state| {
                let earlier = scan.load_chain(offset, &m)?;
                let log = m
                    .dedup
                    .as_ref()
                    .map(|l| scan.load_log(offset, l))
                    .transpose()?;
                Ok((state, earlier, log))
            });
            let generation = m.meta.generation;
            let loaded = loaded.and_then(|(state, earlier, dedup)| {
                let found = Restore {
                    found: Some((m.meta.clone(), state)),
                    rejected: Vec::new(),
                    dedup,
                    earlier,
                };
                let accepted = accept(&found).map_err(|e| {
                    corrupt("checkpoint", format!("its state does not decode: {e}"))
                })?;
                Ok((found, accepted))
            });
            match loaded {
                Ok((mut found, accepted)) => {
                    self.loaded(&m, &found, rejected.len(), started);
                    found.rejected = rejected;
                    return Ok((found, Some(accepted)));
                }
                // Kafka failing is not the checkpoint's fault: the restore
                // fails (and is tried again) rather than fall back to an
                // older checkpoint, or to none.
                Err(e @ (CheckpointError::Kafka(_) | CheckpointError::Timeout(_))) => {
                    return Err(e)
                }
                Err(e) => rejected.push(format!(
                    "generation {generation} (manifest at offset {offset}): {e}"
                )),
            }
        }
        let none = Restore {
            found: None,
            rejected,
            dedup: None,
            earlier: Vec::new(),
        };
        Ok((none, None))
    }

    /// The checkpoint of `m`, loaded as `found` after `rejected` newer
    /// ones were skipped, is the one restored: the writer's book takes it
    /// and it is logged.
    fn loaded(&self, m: &Manifest, found: &Restore, rejected: usize, started: Instant) {
        let mut books = self.book.lock().unwrap_or_else(|p| p.into_inner());
        books
            .entry((m.meta.topic.clone(), m.meta.partition))
            .or_default()
            .restored(m);
        info!(
            topic = %m.meta.topic,
            partition = m.meta.partition,
            generation = m.meta.generation,
            next_offset = m.meta.next_offset,
            bytes = found.found.as_ref().map_or(0, |(_, s)| s.len()),
            chain = found.earlier.len(),
            chain_bytes = found.earlier.iter().map(Vec::len).sum::<usize>(),
            dedup_log_bytes = found.dedup.as_ref().map_or(0, |l: &RestoredLog| {
                l.segments.iter().map(|s| s.1.len()).sum::<usize>()
            }),
            rejected,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint loaded"
        );
    }
}

/// Records between two chunks of a dedup log that a restore reads through
/// rather than fetching each chunk on its own.
const READ_THROUGH: i64 = 32;

/// One record of the source partition read from the changelog.
struct Rec {
    key: String,
    value: Option<Vec<u8>>,
}

/// A backward scan of one changelog partition for one source partition.
struct Scan<'a> {
    /// The scan's own reader, created at its first read (an empty
    /// partition needs none).
    consumer: Option<BaseConsumer<Quiet>>,
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

impl Drop for Scan<'_> {
    /// A restore runs on the path to its partition's assignment, so the
    /// scan's reader is not dropped there.
    fn drop(&mut self) {
        if let Some(c) = self.consumer.take() {
            crate::kafka_log::drop_in_background(c);
        }
    }
}

impl<'a> Scan<'a> {
    fn new(
        log: &'a Changelog,
        topic: &'a str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Scan<'a>, CheckpointError> {
        let deadline = Instant::now() + timeout;
        let cp = log.partition_for(partition);
        let (low, high) = watermarks(log, cp, deadline)?;
        Ok(Scan {
            consumer: None,
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
        let (slot, g) = (m.meta.generation % 2, m.meta.generation);
        if m.chunks.is_empty() {
            return Err(corrupt("manifest", "no chunks listed"));
        }
        let (t, p) = (self.topic, self.partition);
        let framed = self.fetched(at, "", &m.chunks, |i| match m.chain {
            Some(_) => chain_key(t, p, g, i),
            None => chunk_key(t, p, slot, i),
        })?;
        assemble(m, &framed)
    }

    /// The states of the checkpoints a manifest's changes apply to, read
    /// and verified, a whole one first (none for a whole checkpoint).
    fn load_chain(&mut self, at: i64, m: &Manifest) -> Result<Vec<Vec<u8>>, CheckpointError> {
        let Some(chain) = &m.chain else {
            return Ok(Vec::new());
        };
        chain
            .check(m.meta.generation)
            .map_err(|e| corrupt("manifest", e))?;
        let offsets = chain
            .earlier
            .iter()
            .flat_map(|c| c.chunks.iter().map(|k| k.offset));
        self.read_near(at, offsets.collect())?;
        let mut states = Vec::with_capacity(chain.earlier.len());
        for c in &chain.earlier {
            let (t, p, g) = (self.topic, self.partition, c.generation);
            let name = format!("chain member {g}");
            let key = |i| chain_key(t, p, g, i);
            states.push(self.piece(at, &name, &c.chunks, (c.len, c.xxh3), key)?);
        }
        Ok(states)
    }

    /// The segments of a manifest's dedup log, read and verified, each with
    /// the number of its first id.
    fn load_log(&mut self, at: i64, log: &DedupLog) -> Result<RestoredLog, CheckpointError> {
        log.check().map_err(|e| corrupt("manifest", e))?;
        let offsets = log
            .segments
            .iter()
            .flat_map(|s| s.chunks.iter().map(|c| c.offset));
        self.read_near(at, offsets.collect())?;
        let mut segments = Vec::with_capacity(log.segments.len());
        for s in &log.segments {
            let (t, p, g) = (self.topic, self.partition, s.generation);
            let name = format!("segment {g}");
            let key = |i| segment_key(t, p, g, i);
            segments.push((
                s.first,
                self.piece(at, &name, &s.chunks, (s.len, s.xxh3), key)?,
            ));
        }
        Ok(RestoredLog {
            epoch: log.epoch,
            base: log.base,
            segments,
        })
    }

    /// Reads the chunks at `offsets` not read yet (of a dedup log's
    /// segments or a chain's members), in as few fetches as their offsets
    /// allow: chunks at most [`READ_THROUGH`] records apart are read in one
    /// range (a partition whose checkpoints are small holds them a few
    /// records apart), others each on their own. Chunks outside the log
    /// are left to `fetch` to reject.
    fn read_near(&mut self, at: i64, offsets: Vec<i64>) -> Result<(), CheckpointError> {
        let mut want: Vec<i64> = offsets
            .into_iter()
            .filter(|&o| o < at && o >= self.low && !self.seen.contains_key(&o))
            .collect();
        want.sort_unstable();
        let mut i = 0;
        while i < want.len() {
            let (start, mut end) = (want[i], want[i]);
            while i + 1 < want.len() && want[i + 1] - end <= READ_THROUGH {
                i += 1;
                end = want[i];
            }
            self.read(start, end + 1)?;
            i += 1;
        }
        Ok(())
    }

    /// The framed chunks listed, read and checked (`fetch`) under the keys
    /// `key(i)`, in order.
    fn fetched(
        &mut self,
        at: i64,
        what: &str,
        chunks: &[ChunkRef],
        key: impl Fn(usize) -> String,
    ) -> Result<Vec<&[u8]>, CheckpointError> {
        let keys: Vec<String> = (0..chunks.len()).map(key).collect();
        self.fetch(at, what, chunks, &keys)?;
        Ok(chunks.iter().map(|c| self.value(c.offset)).collect())
    }

    /// One piece kept apart from a state (a segment, a chain member) named
    /// `name`, of `(length, xxh3)` `whole`: its chunks fetched, checked
    /// under the keys `key(i)` and joined.
    fn piece(
        &mut self,
        at: i64,
        name: &str,
        chunks: &[ChunkRef],
        whole: (u64, u64),
        key: impl Fn(usize) -> String,
    ) -> Result<Vec<u8>, CheckpointError> {
        let framed = self.fetched(at, &format!("{name} "), chunks, key)?;
        assemble_piece(name, chunks, whole.0, whole.1, &framed)
    }

    /// The value of a record read (`fetch` checked it has one).
    fn value(&self, offset: i64) -> &[u8] {
        match self.seen.get(&offset) {
            Some(Rec { value: Some(v), .. }) => v,
            _ => &[],
        }
    }

    /// Reads the chunks listed (before the manifest at `at`) that are not
    /// read yet, and checks each is there, under its key, and the newest
    /// record of it. `what` goes before each chunk's name in errors.
    fn fetch(
        &mut self,
        at: i64,
        what: &str,
        chunks: &[ChunkRef],
        keys: &[String],
    ) -> Result<(), CheckpointError> {
        if let Some(c) = chunks
            .iter()
            .find(|c| c.offset >= at || c.offset < self.low)
        {
            return Err(corrupt(
                "manifest",
                format!(
                    "{what}chunk offset {} outside the log before it ({}..{at})",
                    c.offset, self.low
                ),
            ));
        }
        let missing: Vec<i64> = chunks
            .iter()
            .map(|c| c.offset)
            .filter(|o| !self.seen.contains_key(o))
            .collect();
        if let (Some(&first), Some(&last)) = (missing.iter().min(), missing.iter().max()) {
            self.read(first, last + 1)?;
        }
        for (i, (c, want)) in chunks.iter().zip(keys).enumerate() {
            let name = || format!("{what}chunk {i} at offset {}", c.offset);
            if let Some(&n) = self.newest.get(want).filter(|&&n| n > c.offset) {
                return Err(corrupt(
                    name(),
                    format!("overwritten by a later record of {want} at offset {n}"),
                ));
            }
            match self.seen.get(&c.offset) {
                Some(Rec {
                    key,
                    value: Some(_),
                }) if key == want => {}
                Some(r) => {
                    let tomb = if r.value.is_none() {
                        " (a tombstone)"
                    } else {
                        ""
                    };
                    return Err(corrupt(
                        name(),
                        format!("holds {}{tomb}, expected {want}", r.key),
                    ));
                }
                None => {
                    return Err(corrupt(
                        name(),
                        "missing from the log (compacted away or never written)",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Reads offsets `start..end` of the changelog partition, keeping the
    /// records of this source partition.
    fn read(&mut self, start: i64, end: i64) -> Result<(), CheckpointError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.log.topic, self.cp, Offset::Offset(start))
            .map_err(|e| kafka_err("assign", e))?;
        let consumer = match &mut self.consumer {
            Some(c) => c,
            None => self.consumer.insert(
                self.log
                    .consumer_cfg
                    .create_with_context(Quiet)
                    .map_err(|e| create_err("consumer", e))?,
            ),
        };
        consumer.assign(&tpl).map_err(|e| kafka_err("assign", e))?;
        // Whether the consumer's position has been seen short of the log's
        // end since this assignment: until then it may still be the last
        // window's, which reached the end.
        let mut moved = false;
        loop {
            moved = moved || !at_end(consumer, &self.log.topic, self.cp, self.high);
            let wait = remaining(self.deadline, "reading the changelog")?;
            let Some(r) = consumer.poll(wait.min(Duration::from_millis(200))) else {
                continue;
            };
            match r {
                // Only the top window may end at the end of the log; below it
                // a record at or past `end` follows (the log's last record
                // is never compacted), and an end-of-partition event there
                // is mostly a stale one from an earlier window — unless the
                // consumer has moved since the assignment and is at the
                // log's end: what lies past `end` is
                // then records of an aborted transaction, never delivered
                // (a foreign producer's in the checkpoint topic), and
                // waiting for one would time the restore out.
                Err(KafkaError::PartitionEOF(p))
                    if p == self.cp
                        && (end >= self.high
                            || (moved && at_end(consumer, &self.log.topic, p, self.high))) =>
                {
                    break
                }
                Err(KafkaError::PartitionEOF(_)) => continue,
                // A broker that went away, a leader that moved: librdkafka
                // reconnects and fetches on, within the restore's deadline.
                Err(KafkaError::MessageConsumption(code)) => {
                    tracing::debug!(topic = %self.log.topic, partition = self.cp, error = %code,
                                    "changelog read interrupted; reading on");
                    continue;
                }
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

/// Whether `consumer`'s position in `topic`/`partition` is at or past
/// `high`.
fn at_end(consumer: &BaseConsumer<Quiet>, topic: &str, partition: i32, high: i64) -> bool {
    consumer.position().is_ok_and(|tpl| {
        tpl.find_partition(topic, partition)
            .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= high))
    })
}

/// The changelog partition's watermarks. A partition without a leader yet
/// (a topic just created, a leader moving) is asked again until the
/// deadline: failing would start the source partition empty.
fn watermarks(log: &Changelog, cp: i32, deadline: Instant) -> Result<(i64, i64), CheckpointError> {
    let mut pause = Duration::from_millis(10);
    loop {
        let wait = remaining(deadline, "watermarks")?;
        match log.meta.fetch_watermarks(&log.topic, cp, wait) {
            Ok(w) => return Ok(w),
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)) => {
                return Err(CheckpointError::Timeout(format!(
                    "watermarks of {}/{cp}",
                    log.topic
                )))
            }
            Err(KafkaError::MetadataFetch(
                e @ (RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition),
            )) => {
                debug!(topic = %log.topic, partition = cp, error = %e, "watermarks: asking again");
                std::thread::sleep(pause.min(remaining(deadline, "watermarks")?));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(kafka_err("watermarks", e)),
        }
    }
}

fn remaining(deadline: Instant, what: &str) -> Result<Duration, CheckpointError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(CheckpointError::Timeout(what.to_string()));
    }
    Ok(left)
}
