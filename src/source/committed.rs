//! The group's committed offsets at an assignment, beside the restores:
//! where a partition without one starts, and what a committed offset says
//! of a partition's checkpoint.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{error, info};

use super::rebalance::Ctx;
use super::worker::{Env, Start};
use crate::hub::TopicPartition;

/// The partitions of `assigned` for which the group has no committed offset.
///
/// A partition assigned without an offset starts from its committed one,
/// which librdkafka asks the group for; when there is none it resets to
/// `auto.offset.reset`, but treats that reset as an error's retry and
/// waits 100 ms before asking for the position. Every first start of a
/// group paid it. Asked here (one request, beside the restores), such a
/// partition is assigned at the reset position itself. Empty when the
/// group cannot answer: librdkafka then asks as before.
pub(super) fn uncommitted(
    consumer: &BaseConsumer<Ctx>,
    assigned: &TopicPartitionList,
) -> Committed {
    let mut out = Committed::default();
    if assigned.count() == 0 {
        return out;
    }
    match consumer.committed_offsets(assigned.clone(), Duration::from_secs(10)) {
        Ok(c) => {
            for e in c.elements().iter().filter(|e| e.error().is_ok()) {
                let tp = (e.topic().to_string(), e.partition());
                match e.offset() {
                    Offset::Invalid => {
                        out.none.insert(tp);
                    }
                    Offset::Offset(o) => {
                        out.some.insert(tp, o);
                    }
                    _ => {}
                }
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "committed offsets not known at assignment");
        }
    }
    out
}

/// The assigned partitions the group answered for: without a committed
/// offset, and with one. A partition in neither is not known.
#[derive(Default)]
pub(super) struct Committed {
    pub(super) none: HashSet<TopicPartition>,
    some: HashMap<TopicPartition, i64>,
}

/// The group has read `tp` (it has committed offsets), so a checkpoint
/// should cover it, and the changelog holds none: its state went where
/// this instance does not look.
fn no_checkpoint_found(env: &Env, tp: &TopicPartition) {
    if let Some(changelog) = env.changelog.as_ref() {
        error!(topic = %tp.0, partition = tp.1, checkpoint_topic = changelog.topic(),
               "no checkpoint of the partition although the group has committed offsets for it: if checkpoint.topic, its partition count or the first of kafka.topic changed since they were written, its state is under the old layout (or checkpoints were off then); starting empty at the committed offset");
    }
}

impl Committed {
    /// Logs what the group's committed offset says of `start`: an ERROR
    /// for a partition it has read that no checkpoint covers, an INFO for
    /// a checkpointed one whose committed offset is another.
    pub(super) fn note(&self, env: &Env, start: &Start) {
        let tp = &start.tp;
        match (self.some.get(tp), &start.last) {
            (Some(_), None) if start.no_checkpoint => no_checkpoint_found(env, tp),
            (Some(&committed), Some(last))
                if start.next_offset.is_some() && committed != last.next_offset =>
            {
                // A checkpointed partition resumes at its checkpoint's
                // offset, whose state it restores, whatever the group
                // committed: behind it after a crash between a
                // checkpoint and its commit, or anywhere after an
                // operator reset the group's offsets to replay or skip.
                info!(topic = %tp.0, partition = tp.1, committed,
                          checkpoint_offset = last.next_offset,
                          "the group's committed offset is not the checkpoint's: the partition resumes at its checkpoint's, whose state it restores");
            }
            _ => {}
        }
    }
}
