//! librdkafka's own errors and log lines, from every Kafka client of the
//! process (the group consumer, the dead-letter and changelog producers, the
//! checkpoint readers), summarised: while Kafka is failing, the first error
//! is one WARN line, then one line every 30 s counts the rest, and one INFO
//! line says when Kafka answers again. An outage is a state, not a flood.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use tracing::{info, warn};

use crate::locks::lock;

/// How often a continuing outage is summarised.
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

struct Outage {
    since: Option<(Instant, i64)>,
    errors: u64,
    last_line: Option<Instant>,
    last: String,
}

static OUTAGE: Mutex<Outage> = Mutex::new(Outage {
    since: None,
    errors: 0,
    last_line: None,
    last: String::new(),
});

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Drops a librdkafka client off the caller's path: dropping one joins its
/// threads, which sleep in steps of about 100 ms, and a drop on the
/// start-up's path (an admin client, a restore's changelog reader in the
/// rebalance callback) would wait for them. On the runtime's blocking
/// pool when called within the runtime, else on a thread of its own (if
/// none can be started, here).
pub fn drop_in_background<T: Send + 'static>(client: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(move || drop(client));
        }
        Err(_) => {
            let _ = std::thread::Builder::new()
                .name("kafka-client-drop".into())
                .spawn(move || drop(client));
        }
    }
}

/// Records a Kafka error: logged if it starts an outage or a summary is due.
pub fn error(what: &str) {
    let mut o = lock(&OUTAGE);
    let now = Instant::now();
    o.errors += 1;
    o.last.clear();
    o.last.push_str(what);
    match o.since {
        None => {
            o.since = Some((now, wall_ms()));
            o.last_line = Some(now);
            o.errors = 0;
            warn!(
                error = what,
                "Kafka error; further errors are summarised every 30 s"
            );
        }
        Some((since, _))
            if o.last_line
                .is_none_or(|l| now.duration_since(l) >= SUMMARY_EVERY) =>
        {
            warn!(errors = o.errors, last = %o.last, for_s = now.duration_since(since).as_secs(),
                  "Kafka still failing");
            o.last_line = Some(now);
            o.errors = 0;
        }
        Some(_) => {}
    }
}

/// Records that Kafka answered: ends an outage.
pub fn ok() {
    let mut o = lock(&OUTAGE);
    if let Some((since, _)) = o.since.take() {
        info!(
            after_s = since.elapsed().as_secs(),
            errors = o.errors,
            "Kafka reachable again"
        );
        o.errors = 0;
    }
}

/// Since when (unix ms) Kafka has been failing, if it is.
pub fn down_since_ms() -> Option<i64> {
    lock(&OUTAGE).since.map(|(_, ms)| ms)
}

/// Routes a client's error callback: the end of a partition is news, not an error.
pub fn client_error(error: &KafkaError, reason: &str) {
    if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
        self::error(&format!("{error}: {reason}"));
    }
}

/// Where a client's log line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// An error: Kafka failing (the outage summary).
    Failing,
    /// A fetch offset out of range and reset: the broker answered, so it
    /// is no outage, but messages were skipped (retention passed the
    /// consumer) or the log went back (the topic created again, truncated).
    OffsetReset,
    Debug,
}

/// Warnings and worse are errors, but for an offset reset; the rest is
/// debug.
fn route(level: RDKafkaLogLevel, fac: &str, message: &str) -> Route {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error
        | RDKafkaLogLevel::Warning => {
            if fac == "OFFSET" && message.contains("offset reset") {
                Route::OffsetReset
            } else {
                Route::Failing
            }
        }
        _ => Route::Debug,
    }
}

/// Routes a client's log line ([`route`]).
pub fn client_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match route(level, fac, message) {
        Route::Failing => self::error(&format!("{fac}: {message}")),
        Route::OffsetReset => warn!(
            librdkafka = message,
            "a partition's fetch offset was out of range and was reset: messages were skipped (retention passed the consumer), or its log went back (the topic created again, or truncated)"
        ),
        Route::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{message}"),
    }
}

/// The client context of every Kafka client but the group consumer: its
/// errors and logs go through the summary above.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        client_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }

    fn stats(&self, _: Statistics) {}
}

impl ConsumerContext for Quiet {}

/// A source partition: its topic and number (as `crate::hub` names them;
/// not imported from there, which imports this module's metrics).
type TopicPartition = (String, i32);

/// The partitions whose dead letter is being retried, with since when (wall
/// ms) its writes have failed. A message waits for its dead letter to be
/// written (SPEC §1.7: nothing is dropped), so its partition stops until
/// one is: `/readyz` names them.
static DEAD_LETTERS_FAILING: Mutex<BTreeMap<TopicPartition, i64>> = Mutex::new(BTreeMap::new());

/// Dead-letter writes that failed, since the process started.
static DEAD_LETTER_WRITE_ERRORS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// A dead-letter write of a message of `tp` failed at `now_ms`.
pub fn dead_letter_failed(tp: &TopicPartition, now_ms: i64) {
    DEAD_LETTER_WRITE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    lock(&DEAD_LETTERS_FAILING)
        .entry(tp.clone())
        .or_insert(now_ms);
}

/// `tp` no longer waits for a dead letter: it was written, or the
/// partition stopped (revoked, or the process shutting down).
pub fn dead_letter_done(tp: &TopicPartition) {
    lock(&DEAD_LETTERS_FAILING).remove(tp);
}

/// Since when dead-letter writes have been failing (the earliest of the
/// partitions waiting), and those partitions as `topic/partition`.
pub fn dead_letters_failing() -> Option<(i64, Vec<String>)> {
    let failing = lock(&DEAD_LETTERS_FAILING);
    let since = *failing.values().min()?;
    let names = failing.keys().map(|(t, p)| format!("{t}/{p}")).collect();
    Some((since, names))
}

/// Adds `frontline_dead_letter_write_errors_total` to a snapshot.
pub fn add_metric(out: &mut crate::metrics::Snapshot) {
    let n = DEAD_LETTER_WRITE_ERRORS.load(std::sync::atomic::Ordering::Relaxed);
    out.family(crate::names::DEAD_LETTER_WRITE_ERRORS)
        .push(vec![], crate::metrics::Value::Int(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_reset_is_no_outage_and_other_warnings_are() {
        let reset = "recreated [0]: offset reset (at offset 50 (leader epoch 0), broker 1) to offset BEGINNING (leader epoch -1): fetch failed due to requested offset not available on the broker: Broker: Offset out of range";
        assert_eq!(
            route(RDKafkaLogLevel::Warning, "OFFSET", reset),
            Route::OffsetReset
        );
        let down =
            "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused";
        assert_eq!(route(RDKafkaLogLevel::Error, "FAIL", down), Route::Failing);
        assert_eq!(
            route(RDKafkaLogLevel::Warning, "OFFSET", "offset commit failed"),
            Route::Failing
        );
        assert_eq!(route(RDKafkaLogLevel::Info, "OFFSET", reset), Route::Debug);
    }
}
