//! Writing a message that did not decode to the dead-letter topic.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tracing::warn;

use super::{Msg, TopicPartition};
use crate::decode::DecodeError;
use crate::kafka_log::Quiet;

/// The dead-letter producer's `message.max.bytes` unless the config sets
/// one: librdkafka's default (1 000 000) is below what a topic takes by
/// default (1 048 588), so a message the source topic took, with the
/// dead letter's headers, could be refused by the client before the broker
/// saw it. The broker's limit for the dead-letter topic decides;
/// past it, [`dead_letter`] writes the dead letter without the payload.
pub const DLQ_MESSAGE_MAX_BYTES: &str = "16777216";

/// Writes a message that did not decode to the dead-letter topic, with the
/// reason and its origin in headers, and waits for the acknowledgement
/// (retrying). A tombstone stays one (no payload). A message too large for
/// the producer or the topic is written without its payload, with the
/// header `frontline.payload_omitted` giving its size (the source topic
/// still holds it at the offset the headers give). `waiting` runs after
/// each failed write. False if the worker was told to stop first.
pub(super) async fn dead_letter(
    producer: &FutureProducer<Quiet>,
    dlq: &str,
    tp: &TopicPartition,
    m: &Msg<'_>,
    e: &DecodeError,
    mut stop: watch::Receiver<bool>,
    mut waiting: impl FnMut(),
) -> bool {
    if *stop.borrow() {
        return false;
    }
    let mut headers = headers(tp, m, e);
    let mut payload = m.payload;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut record = FutureRecord::to(dlq).headers(headers.clone());
        if let Some(p) = payload {
            record = record.payload(p);
        }
        if let Some(k) = m.key {
            record = record.key(k);
        }
        tokio::select! {
            r = producer.send(record, Duration::from_secs(10)) => match r {
                Ok(_) => {
                    crate::kafka_log::dead_letters_written();
                    return true;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _))
                    if payload.is_some_and(|p| !p.is_empty()) =>
                {
                    let size = payload.map_or(0, <[u8]>::len);
                    warn!(topic = dlq, bytes = size,
                          "message too large for the dead-letter topic; writing its dead letter without the payload");
                    let omitted = format!("{size} bytes");
                    headers = headers.insert(Header {
                        key: "frontline.payload_omitted",
                        value: Some(omitted.as_str()),
                    });
                    // Empty, not none: a dead letter is never a tombstone
                    // unless its message was one.
                    payload = Some(&[]);
                    continue;
                }
                Err((err, _)) => {
                    crate::kafka_log::dead_letter_failed(super::wall_ms());
                    warn!(error = %err, topic = dlq, "dead-letter write failed; retrying");
                    waiting();
                }
            },
            _ = stop.changed() => return false,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return false,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The headers of a dead letter: the reason and where the message was.
fn headers(tp: &TopicPartition, m: &Msg<'_>, e: &DecodeError) -> OwnedHeaders {
    let (error, partition, offset) = (e.to_string(), tp.1.to_string(), m.offset.to_string());
    [
        ("frontline.reason", e.reason()),
        ("frontline.error", error.as_str()),
        ("frontline.source.topic", tp.0.as_str()),
        ("frontline.source.partition", partition.as_str()),
        ("frontline.source.offset", offset.as_str()),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value),
        })
    })
}
