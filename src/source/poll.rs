//! The consumer thread: polls librdkafka and hands each partition's
//! messages to its worker in batches; the progress line; log rate limits.

use rdkafka::message::BorrowedMessage;

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
pub(super) fn poll_loop(consumer: &Consumer_, stopping: &AtomicBool, hub: &SnapshotHub) {
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
                    route(ctx, &mut pending, &m);
                }
                Err(KafkaError::PartitionEOF(part)) => {
                    end_of_partition(ctx, &mut pending, part);
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

/// Adds a polled message to its partition's pending batch (handed over
/// when full).
fn route(ctx: &Ctx, pending: &mut Vec<Pending>, m: &BorrowedMessage<'_>) {
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
        p.tx = lock(&ctx.workers)
            .live
            .get(&(p.topic.clone(), p.partition))
            .map(|h| h.data.clone());
    }
    p.batch.push(m);
    if p.batch.len() >= BATCH {
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
