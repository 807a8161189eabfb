//! The changelog topic: found with its partition count, or created
//! compacted.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use tracing::{debug, info, warn};

use super::{create_err, kafka_err, CheckpointError, OPEN_TIMEOUT};
use crate::config::Config;
use crate::kafka_log::Quiet;

/// The partitions of the changelog topic `topic`: an existing topic is used
/// as it is (with a warning when it has fewer than `min_partitions` or is
/// not compacted); a missing one is created and awaited in the metadata.
/// The topic is looked for before `min_partitions` is awaited, so that the
/// two requests overlap.
pub(super) async fn ensure(
    base: &ClientConfig,
    meta: &Arc<BaseConsumer<Quiet>>,
    topic: &str,
    cfg: &Config,
    min_partitions: impl Future<Output = i32>,
    max_message: usize,
) -> Result<i32, CheckpointError> {
    let admin: AdminClient<Quiet> = base
        .create_with_context(Quiet)
        .map_err(|e| create_err("admin client", e))?;
    let found: Result<i32, CheckpointError> = async {
        match count_partitions(meta, topic).await? {
            Some((n, _)) => {
                let min_partitions = min_partitions.await;
                if n < min_partitions {
                    warn!(topic = %topic, partitions = n, wanted = min_partitions,
                        "the changelog topic has fewer partitions than the source; partitions share them");
                }
                warn_unless_compacted(&admin, topic).await;
                Ok(n)
            }
            None => {
                let partitions = min_partitions.await.max(1);
                create(&admin, topic, cfg, partitions, max_message).await?;
                let deadline = Instant::now() + OPEN_TIMEOUT;
                // A new topic is usually in the metadata within tens of
                // milliseconds: ask again soon, then less often.
                let mut pause = Duration::from_millis(10);
                let asked = Instant::now();
                loop {
                    if let Some((n, true)) = count_partitions(meta, topic).await? {
                        debug!(
                            topic,
                            ms = asked.elapsed().as_millis() as u64,
                            "new changelog topic in the metadata, every partition led"
                        );
                        return Ok(n);
                    }
                    if Instant::now() >= deadline {
                        return Err(CheckpointError::Timeout(format!(
                            "changelog topic {topic} created but not in the metadata with a leader for each partition"
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }
    .await;
    crate::kafka_log::drop_in_background(admin);
    found
}

/// Partitions of `topic`, and whether each has a leader (a new topic's
/// partitions can be in the metadata before their leaders are: reading
/// their watermarks then fails); None when it does not exist.
async fn count_partitions(
    meta: &Arc<BaseConsumer<Quiet>>,
    topic: &str,
) -> Result<Option<(i32, bool)>, CheckpointError> {
    let (c, name) = (Arc::clone(meta), topic.to_string());
    // Metadata is a blocking call: off the async threads.
    let md = tokio::task::spawn_blocking(move || c.fetch_metadata(Some(&name), OPEN_TIMEOUT))
        .await
        .map_err(|e| kafka_err("metadata", e))?
        .map_err(|e| create_err("metadata", e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => {
            let p = t.partitions();
            let led = p.iter().all(|p| p.leader() >= 0 && p.error().is_none());
            Ok(Some((p.len() as i32, led)).filter(|&(n, _)| n > 0))
        }
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
    if let Some(p) = policy.filter(|p| loses_checkpoints(p)) {
        warn!(topic, cleanup_policy = %p,
            "the changelog topic is not compacted only: checkpoints may be deleted by retention (set cleanup.policy=compact)");
    }
}

/// Whether a changelog under `cleanup.policy` `policy` may lose its
/// checkpoints to retention: unless it is `compact` alone (`compact,delete`
/// deletes old segments too, the newest checkpoint's among them when it was
/// written long enough ago).
fn loses_checkpoints(policy: &str) -> bool {
    let parts: Vec<&str> = policy.split(',').map(str::trim).collect();
    !parts.contains(&"compact") || parts.contains(&"delete")
}

#[cfg(test)]
#[test]
fn only_compact_alone_keeps_checkpoints() {
    assert!(!loses_checkpoints("compact"));
    assert!(!loses_checkpoints(" compact "));
    assert!(loses_checkpoints("delete"));
    assert!(loses_checkpoints("compact,delete"));
    assert!(loses_checkpoints("delete, compact"));
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
