//! The consumer thread: polls librdkafka and hands each partition's
//! messages to its worker in batches; the progress line; log rate limits.

use super::fetched::Fetch;
use super::*;
use crate::locks::lock;

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
        // Its successor is taken from the pool when a message comes.
        let batch = std::mem::take(&mut self.batch);
        if let Some(tx) = &self.tx {
            let _ = tx.blocking_send(Item::Batch(batch));
        }
    }
}

/// The consumer thread: serves the consumer's events (rebalances,
/// statistics, commits and errors are handled inside `poll`), then takes
/// the fetched messages in rounds from their own queue ([`Fetched`]) and
/// routes them to their workers in batches: whatever librdkafka has
/// already fetched is taken at once, handed over [`BATCH`] messages (or
/// [`BATCH_BYTES`]) a partition at most, so a worker is woken once per
/// batch rather than once per message. Events are served only between
/// rounds, so what a round took goes to the workers of before a
/// rebalance, and librdkafka drops what was fetched for an assignment
/// that has since changed.
pub(super) fn poll_loop(consumer: &Consumer_, stopping: &AtomicBool, hub: &SnapshotHub) {
    let ctx = consumer.context();
    let mut seen = 0u64;
    let mut seen_at = Instant::now();
    let mut last_park_check = Instant::now();
    let mut last_forward = Instant::now();
    let mut pending: Vec<Pending> = Vec::new();
    let wait = Duration::from_millis(100);
    while !stopping.load(Ordering::Relaxed) {
        serve_events(consumer, ctx, &mut pending);
        let polled = ctx
            .fetched
            .take(wait, &mut |m| take_one(ctx, &mut pending, &mut seen, m));
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
        if last_forward.elapsed() >= Duration::from_secs(1) {
            // Fetch responses' slots free for a second go back to the system.
            crate::c_blocks::C_BLOCKS.trim(Duration::from_secs(1));
            let live: Vec<TopicPartition> = lock(&ctx.workers).live.keys().cloned().collect();
            ctx.fetched.forward(consumer.client().native_ptr(), &live);
            last_forward = Instant::now();
        }
        if last_park_check.elapsed() >= Duration::from_secs(5) {
            ctx.drop_parked(|_, p| p.since.elapsed() >= PARK_FOR);
            last_park_check = Instant::now();
        }
    }
    ctx.shutdown(SHUTDOWN_CHECKPOINT);
    // Commit what the final checkpoints stored; never wait on an unreachable cluster.
    let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Async);
    ctx.fetched.close();
    info!("consumer stopped");
}

/// Routes one fetched message (or end of partition, or fetch error).
fn take_one(ctx: &Ctx, pending: &mut Vec<Pending>, seen: &mut u64, m: &Fetch) {
    match m.error() {
        None => {
            *seen += 1;
            route(ctx, pending, m.topic(), m.partition(), |b| {
                b.push_with(m.offset(), m.payload(), m.key(), |buf| m.put_headers(buf))
            });
        }
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR__PARTITION_EOF) => {
            end_of_partition(ctx, pending, m.partition());
            kafka_log::ok();
        }
        Some(e) => kafka_log::error(&format!(
            "{} (partition {}): {}",
            RDKafkaErrorCode::from(e),
            m.partition(),
            m.error_text()
        )),
    }
}

/// Serves what waits on the consumer queue: rebalances, statistics,
/// commits, errors. A message there (a partition whose fetching was not
/// forwarded to [`Fetched`]) is routed like any other.
fn serve_events(consumer: &Consumer_, ctx: &Ctx, pending: &mut Vec<Pending>) {
    // Bounded, so a flood of events cannot starve the messages.
    for _ in 0..64 {
        if !ctx.fetched.events_waiting() {
            break;
        }
        match consumer.poll(Duration::ZERO) {
            Some(Ok(m)) => route(ctx, pending, m.topic().as_bytes(), m.partition(), |b| {
                b.push(&m)
            }),
            Some(Err(KafkaError::PartitionEOF(part))) => {
                end_of_partition(ctx, pending, part);
                kafka_log::ok();
            }
            Some(Err(e)) => kafka_log::error(&e.to_string()),
            None => {}
        }
        // What came before a rebalance goes to the workers of then.
        for p in pending.iter_mut() {
            p.flush();
        }
    }
}

/// Adds a message to its partition's pending batch (`push` copies it in;
/// the batch is handed over when full).
fn route(
    ctx: &Ctx,
    pending: &mut Vec<Pending>,
    topic: &[u8],
    partition: i32,
    push: impl FnOnce(&mut Batch),
) {
    let i = match pending
        .iter()
        .position(|p| p.partition == partition && p.topic.as_bytes() == topic)
    {
        Some(i) => i,
        None => {
            pending.push(Pending {
                topic: String::from_utf8_lossy(topic).into_owned(),
                partition,
                tx: None,
                batch: Batch::default(),
            });
            pending.len() - 1
        }
    };
    let p = &mut pending[i];
    if p.batch.is_empty() {
        if p.batch.capacity() == 0 {
            p.batch = ctx.batches.take();
        }
        p.tx = lock(&ctx.workers)
            .live
            .get(&(p.topic.clone(), p.partition))
            .map(|h| h.data.clone());
    }
    push(&mut p.batch);
    if p.batch.is_full(BATCH, BATCH_BYTES) {
        p.flush();
    }
}

/// The end of a partition: what was polled before it is handed over, then
/// the end itself.
fn end_of_partition(ctx: &Ctx, pending: &mut [Pending], part: i32) {
    tracing::debug!(partition = part, "end of partition");
    for p in pending.iter_mut().filter(|p| p.partition == part) {
        p.flush();
    }
    // EOF names only the partition number: with one topic it is exact.
    let tx = {
        let w = lock(&ctx.workers);
        let mut mine = w.live.iter().filter(|(tp, _)| tp.1 == part);
        match (mine.next(), mine.next()) {
            (Some((_, h)), None) => Some(h.data.clone()),
            _ => None,
        }
    };
    if let Some(tx) = tx {
        let _ = tx.blocking_send(Item::Eof);
    }
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
