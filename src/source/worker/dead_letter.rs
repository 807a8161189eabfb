//! Writing a message that did not decode to the dead-letter topic.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::watch;
use tracing::warn;

use super::{Batch, Decoded, Env, Msg, TopicPartition};
use crate::decode::DecodeError;
use crate::kafka_log::Quiet;

/// The dead-letter producer's `message.max.bytes` unless the config sets
/// one: librdkafka's default (1 000 000) is below what a topic takes by
/// default (1 048 588), so a message the source topic took, with the
/// dead letter's headers, could be refused by the client before the broker
/// saw it. The broker's limit for the dead-letter topic decides;
/// past it, [`dead_letter`] writes the dead letter without the payload.
pub const DLQ_MESSAGE_MAX_BYTES: &str = "16777216";

/// Writes a message that did not decode to the dead-letter topic, with its
/// own headers and then the reason and its origin in headers of
/// frontline's, and waits for the acknowledgement (retrying). A tombstone
/// stays one (no payload). A dead letter too large for the producer or the
/// topic is written without the larger of the message's payload and its
/// own headers, then if need be without both: the header
/// `frontline.payload_omitted` gives the payload's size, and
/// `frontline.headers_omitted` the count of headers left out (the source
/// topic still holds the message at the offset the headers give).
/// `waiting` runs after each failed write. False if the worker was told to
/// stop first.
///
/// `ahead` is its first write when [`send_ahead_one`] started it: an
/// acknowledged one is all it needs, any other outcome writes it again
/// here.
#[allow(clippy::too_many_arguments)]
async fn dead_letter(
    producer: &FutureProducer<Quiet>,
    dlq: &str,
    tp: &TopicPartition,
    m: &Msg<'_>,
    e: &DecodeError,
    ahead: Option<DeliveryFuture>,
    mut stop: watch::Receiver<bool>,
    mut waiting: impl FnMut(),
) -> bool {
    if *stop.borrow() {
        return false;
    }
    if let Some(first) = ahead {
        tokio::select! {
            r = first => if let Ok(Ok(_)) = r {
                crate::kafka_log::dead_letter_done(tp);
                return true;
            },
            _ = stop.changed() => return false,
        }
    }
    // What the dead letter carries of the message besides frontline's
    // headers: its payload, its own headers.
    let mut with_payload = m.payload.is_some_and(|p| !p.is_empty());
    let mut with_own = m.header_bytes() > 0;
    let mut backoff = Duration::from_millis(100);
    loop {
        let record = record(dlq, tp, m, e, with_payload, with_own);
        tokio::select! {
            r = producer.send(record, Duration::from_secs(10)) => match r {
                Ok(_) => {
                    crate::kafka_log::dead_letter_done(tp);
                    return true;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _))
                    if with_payload || with_own =>
                {
                    // The larger of what is left goes first.
                    let payload = if with_payload { m.payload.map_or(0, <[u8]>::len) } else { 0 };
                    let own = if with_own { m.header_bytes() } else { 0 };
                    if payload >= own {
                        warn!(topic = dlq, bytes = payload,
                              "message too large for the dead-letter topic; writing its dead letter without the payload");
                        with_payload = false;
                    } else {
                        warn!(topic = dlq, bytes = own,
                              "message too large for the dead-letter topic; writing its dead letter without the message's own headers");
                        with_own = false;
                    }
                    continue;
                }
                Err((err, _)) => {
                    crate::kafka_log::dead_letter_failed(tp, super::wall_ms());
                    warn!(error = %err, topic = dlq, source_topic = %tp.0, partition = tp.1,
                          offset = m.offset, "dead-letter write failed; retrying");
                    waiting();
                }
            },
            _ = stop.changed() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    // Stopped while its dead letter failed: the partition's next owner
    // retries it, and this instance no longer waits for it.
    crate::kafka_log::dead_letter_done(tp);
    false
}

impl super::Worker {
    /// Writes the dead letter of `m`, refused as `e` (`first`: its first
    /// write, started ahead), and counts it once acknowledged: not by a
    /// snapshot while the write waits, nor, if the partition goes first,
    /// by its last checkpoint (whoever applies the message next counts it).
    /// While it waits, what the batch applied before it shows. False if
    /// the worker was told to stop first.
    pub(super) async fn dead_lettered(
        &mut self,
        m: &Msg<'_>,
        e: &DecodeError,
        first: Option<DeliveryFuture>,
    ) -> bool {
        if let Some(suppressed) = self.warn_limit.allow() {
            warn!(topic = %self.tp.0, partition = self.tp.1, offset = m.offset, reason = e.reason(),
                  error = %e, suppressed, "bad event; writing it to the dead-letter topic");
        }
        let (producer, dlq, tp) = (
            self.env.producer.clone(),
            self.env.dlq.clone(),
            self.tp.clone(),
        );
        let stop = self.stop.clone();
        let waiting = || {
            self.dirty_since_ms.get_or_insert(super::wall_ms());
            self.publish();
        };
        if !dead_letter(&producer, &dlq, &tp, m, e, first, stop, waiting).await {
            return false;
        }
        self.engine.record_decode_error(e.reason_index());
        self.engine.record_dead_letter();
        true
    }
}

/// Starts the first write of a message's dead letter, whole, without
/// waiting for it: the worker starts those of a batch's messages that did
/// not decode before it applies the batch, so that they are written
/// together rather than one round trip after another, and a stream of bad
/// input does not slow its partition (SPEC §1.7). `None` if the producer
/// did not take it (its queue full): [`dead_letter`] writes it then.
pub(super) fn send_ahead_one(
    producer: &FutureProducer<Quiet>,
    dlq: &str,
    tp: &TopicPartition,
    m: &Msg<'_>,
    e: &DecodeError,
) -> Option<DeliveryFuture> {
    let (with_payload, with_own) = (
        m.payload.is_some_and(|p| !p.is_empty()),
        m.header_bytes() > 0,
    );
    producer
        .send_result(record(dlq, tp, m, e, with_payload, with_own))
        .ok()
}

/// [`send_ahead_one`] for each message of `b` that did not decode, with
/// its index in the batch (none when `stopping`).
pub(super) fn send_ahead(
    env: &Env,
    tp: &TopicPartition,
    b: &Batch,
    decoded: &[Decoded],
    stopping: bool,
) -> std::vec::IntoIter<(usize, DeliveryFuture)> {
    if stopping {
        return Vec::new().into_iter();
    }
    let bad = |(i, d): (usize, &Decoded)| match d {
        Some(Err(e)) => Some((
            i,
            send_ahead_one(&env.producer, &env.dlq, tp, &b.get(i), e)?,
        )),
        _ => None,
    };
    // No allocation for a batch without bad messages.
    let started: Vec<_> = decoded.iter().enumerate().filter_map(bad).collect();
    started.into_iter()
}

/// A dead letter's record: its headers, its message's payload
/// (`with_payload`) and key.
fn record<'a>(
    dlq: &'a str,
    tp: &TopicPartition,
    m: &Msg<'a>,
    e: &DecodeError,
    with_payload: bool,
    with_own: bool,
) -> FutureRecord<'a, [u8], [u8]> {
    let mut record = FutureRecord::to(dlq).headers(headers(tp, m, e, with_payload, with_own));
    match m.payload {
        Some(p) if with_payload => record = record.payload(p),
        // Empty, not none: a dead letter is never a tombstone unless its
        // message was one.
        Some(_) => record = record.payload(&[][..]),
        None => {}
    }
    if let Some(k) = m.key {
        record = record.key(k);
    }
    record
}

/// The headers of a dead letter: the message's own (`with_own`), then
/// the reason, where the message was, and what of it was left out.
fn headers(
    tp: &TopicPartition,
    m: &Msg<'_>,
    e: &DecodeError,
    with_payload: bool,
    with_own: bool,
) -> OwnedHeaders {
    let (error, partition, offset) = (e.to_string(), tp.1.to_string(), m.offset.to_string());
    let own = m
        .headers()
        .filter(|_| with_own)
        .fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key: &String::from_utf8_lossy(key),
                value,
            })
        });
    let payload_omitted = (!with_payload && m.payload.is_some_and(|p| !p.is_empty()))
        .then(|| format!("{} bytes", m.payload.map_or(0, <[u8]>::len)));
    let headers_omitted =
        (!with_own && m.header_bytes() > 0).then(|| m.headers().count().to_string());
    [
        ("frontline.reason", Some(e.reason())),
        ("frontline.error", Some(error.as_str())),
        ("frontline.source.topic", Some(tp.0.as_str())),
        ("frontline.source.partition", Some(partition.as_str())),
        ("frontline.source.offset", Some(offset.as_str())),
        ("frontline.payload_omitted", payload_omitted.as_deref()),
        ("frontline.headers_omitted", headers_omitted.as_deref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .fold(own, |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value),
        })
    })
}
