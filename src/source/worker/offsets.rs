//! A partition whose offsets go back while its worker reads it: the topic
//! was deleted and created again, or the broker truncated its log (an
//! unclean leader election). librdkafka then finds the worker's position
//! out of range and reads the partition again from `auto.offset.reset`;
//! every message it delivers is new to the state, and skipping those below
//! the offset the worker had reached would leave them uncounted until the
//! partition passed that offset again.

use super::*;

/// Where the offsets of `b` go back: the offset delivered before and the
/// lower one after it, if they do. `prev` is the offset of the message
/// delivered before the batch (none yet: the first batch of the worker,
/// which may begin below its start with messages fetched before that start
/// took effect, and they are not a step back).
fn went_back(b: &Batch, prev: Option<i64>) -> Option<(i64, i64)> {
    let mut prev = prev;
    for i in 0..b.len() {
        let o = b.get(i).offset;
        if let Some(p) = prev.filter(|&p| o <= p) {
            return Some((p, o));
        }
        prev = Some(o);
    }
    None
}

impl Worker {
    /// Notes the offsets `b` delivers, following the partition back if
    /// they go back.
    pub(super) fn follow_offsets(&mut self, b: &Batch) {
        if let Some((from, to)) = went_back(b, self.delivered) {
            self.offsets_went_back(from, to);
        }
        if let Some(last) = b.len().checked_sub(1) {
            self.delivered = Some(b.get(last).offset);
        }
    }

    /// Follows the partition back to `to`: the state is kept, the messages
    /// from `to` on are applied (the dedup memory drops any event seen
    /// before), and the checkpoints go on as a new line from generation 1,
    /// whose offsets are the new log's. The line starts over once no write
    /// is in flight: a write begun before would otherwise record the old
    /// line's generation after it started over.
    fn offsets_went_back(&mut self, from: i64, to: i64) {
        error!(topic = %self.tp.0, partition = self.tp.1, offset = from, now = to,
               "the partition's offsets went back (was the topic deleted and created again, or its log truncated?): keeping the state and applying the messages from the lower offset");
        self.next_offset = Some(to);
        self.new_line = true;
        self.commit_below = Some(self.commit_below.map_or(from + 1, |b| b.max(from + 1)));
        if self.writing.is_none() {
            self.start_new_line();
        }
    }

    /// Starts the new line of checkpoints: nothing of the old one is
    /// committed as covered, and the next checkpoint is whole.
    pub(super) fn start_new_line(&mut self) {
        self.new_line = false;
        self.last = None;
        self.stored = None;
        if let Some(c) = &self.env.changelog {
            c.forget(&self.tp.0, self.tp.1);
        }
    }
}

impl Worker {
    /// Stores `offset` (the next to read) for the group commit; below
    /// [`Worker::commit_below`] it is committed at once as well (again at
    /// each store until one passes it, as an asynchronous commit may fail
    /// unseen).
    pub(super) fn store_next(&mut self, offset: i64) -> bool {
        // librdkafka commits the stored offset + 1.
        if self
            .env
            .consumer
            .store_offset(&self.tp.0, self.tp.1, offset - 1)
            .is_err()
        {
            return false;
        }
        match self.commit_below {
            Some(below) if offset > below => self.commit_below = None,
            // At most one a second (without checkpoints a store comes
            // with every round of batches).
            Some(_)
                if self
                    .commit_sent
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(1)) => {}
            Some(_) => {
                self.commit_sent = Some(Instant::now());
                let mut tpl = rdkafka::TopicPartitionList::new();
                let committing = tpl
                    .add_partition_offset(&self.tp.0, self.tp.1, rdkafka::Offset::Offset(offset))
                    .is_ok()
                    && self
                        .env
                        .consumer
                        .commit(&tpl, rdkafka::consumer::CommitMode::Async)
                        .is_ok();
                if !committing {
                    warn!(topic = %self.tp.0, partition = self.tp.1, offset,
                          "cannot commit the partition's lower offset yet; trying again at the next one");
                }
            }
            None => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(offsets: &[i64]) -> Batch {
        let mut b = Batch::default();
        for &o in offsets {
            b.push_parts(o, Some(b"{}"), None);
        }
        b
    }

    #[test]
    fn offsets_that_go_back_are_found_within_and_across_batches() {
        assert_eq!(went_back(&batch(&[5, 6, 7]), Some(4)), None);
        // Offsets may skip (transaction markers, compaction).
        assert_eq!(went_back(&batch(&[9, 12]), Some(7)), None);
        assert_eq!(went_back(&batch(&[0, 1]), Some(49)), Some((49, 0)));
        assert_eq!(went_back(&batch(&[48, 49, 0, 1]), Some(47)), Some((49, 0)));
        // The same offset again is a step back too.
        assert_eq!(went_back(&batch(&[7]), Some(7)), Some((7, 7)));
        // A worker's first batch has nothing before it.
        assert_eq!(went_back(&batch(&[3, 4]), None), None);
    }
}
