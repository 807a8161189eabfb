//! The dedup log of format 6: which segments a checkpoint's dedup memory
//! is in, how the next checkpoint's list follows from the last one's, and
//! reading a restored state with its log (the memory's side is
//! `src/engine/dedup_log.rs`).
//!
//! Each logged checkpoint writes the ids that arrived since the last one
//! as a segment under a key of its own (its generation), lists every
//! segment that still holds a remembered id, and names the segments the
//! last checkpoint listed and it does not (`dropped`). Those are still
//! listed by the checkpoint before — the other slot — until the next
//! checkpoint overwrites that slot, so the next checkpoint tombstones them
//! once its manifest is acknowledged: a segment is removed only when
//! neither manifest in the log lists it.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{corrupt, decode_state, CheckpointError, ChunkRef};
use crate::engine::{Dedup, LogTail, Segment, State};

/// A logged checkpoint's dedup memory: the segments that hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupLog {
    /// The memory's numbering (`Dedup` module docs).
    pub epoch: u64,
    /// The number of the oldest id remembered.
    pub base: u64,
    /// The segments holding ids from `base` on, oldest first, each starting
    /// where the one before ends.
    pub segments: Vec<SegmentRef>,
    /// Segments the checkpoint before listed and this one does not: the
    /// next checkpoint tombstones them.
    pub dropped: Vec<SegmentRef>,
}

/// One segment of a dedup log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    /// The generation of the checkpoint that wrote it (its key).
    pub generation: u64,
    /// The number of its first id.
    pub first: u64,
    /// Ids in it.
    pub count: u64,
    /// Length of its body.
    pub len: u64,
    /// xxh3-64 of its body.
    pub xxh3: u64,
    /// Its chunks, in order.
    pub chunks: Vec<ChunkRef>,
}

impl SegmentRef {
    /// The number after its last id.
    pub fn end(&self) -> u64 {
        self.first + self.count
    }
}

impl DedupLog {
    /// The number after the last id logged.
    pub fn end(&self) -> u64 {
        self.segments.last().map_or(self.base, SegmentRef::end)
    }

    /// The log of a checkpoint of `generation` that adds `tail` to `prev`,
    /// the log of the last checkpoint written or restored: its segments
    /// still remembered, and `tail`'s (its chunks left for the writer to
    /// fill). A tail that starts over (at the memory's oldest id) replaces
    /// a log of another numbering or none; one that does not follow `prev`
    /// is an error.
    pub fn next(
        prev: Option<&DedupLog>,
        tail: &LogTail,
        generation: u64,
    ) -> Result<DedupLog, CheckpointError> {
        let m = tail.mark;
        let follows = prev.filter(|p| p.epoch == m.epoch && p.end() == m.first);
        let (mut segments, mut dropped): (Vec<SegmentRef>, Vec<SegmentRef>) = match follows {
            Some(p) => p.segments.iter().cloned().partition(|s| s.end() > m.base),
            None if m.first == m.base => (
                Vec::new(),
                prev.map(|p| p.segments.clone()).unwrap_or_default(),
            ),
            None => {
                return Err(CheckpointError::Codec(format!(
                    "the dedup log would go on from id {} of numbering {:016x}, \
                     and the log last written ends elsewhere{}",
                    m.first,
                    m.epoch,
                    prev.map_or(String::new(), |p| format!(
                        " (id {} of {:016x})",
                        p.end(),
                        p.epoch
                    ))
                )))
            }
        };
        // A segment of this generation's key is overwritten by this one.
        dropped.retain(|s| s.generation != generation);
        if tail.count > 0 {
            segments.push(SegmentRef {
                generation,
                first: m.first,
                count: tail.count,
                len: tail.body.len() as u64,
                xxh3: xxh3_64(&tail.body),
                chunks: Vec::new(),
            });
        }
        Ok(DedupLog {
            epoch: m.epoch,
            base: m.base,
            segments,
            dropped,
        })
    }

    /// Whether the list adds up, before any segment is read: each segment
    /// starts where the one before ends, has chunks and room for its ids,
    /// and the oldest id remembered is within the log. A manifest whose
    /// log does not is rejected like one with a damaged chunk, so a
    /// restore falls back to the checkpoint before it.
    pub fn check(&self) -> Result<(), String> {
        let first = self.segments.first().map_or(self.base, |s| s.first);
        let mut next = first;
        for (i, s) in self.segments.iter().enumerate() {
            if s.first != next {
                return Err(format!(
                    "dedup log segment {i} starts at id {}, the one before ends at {next}",
                    s.first
                ));
            }
            if s.chunks.is_empty() || s.len < 4 + s.count.saturating_mul(8) {
                return Err(format!(
                    "dedup log segment {i}: {} bytes in {} chunks cannot hold {} ids",
                    s.len,
                    s.chunks.len(),
                    s.count
                ));
            }
            next = s.end();
        }
        if self.base < first || self.base > next {
            return Err(format!(
                "dedup log: the oldest id remembered is {}, the log holds {first} to {next}",
                self.base
            ));
        }
        Ok(())
    }

    /// The segments `prev` dropped that may be tombstoned once a manifest
    /// with this log is acknowledged: not one under a key this log uses.
    pub fn to_tombstone<'a>(&self, prev: Option<&'a DedupLog>) -> Vec<&'a SegmentRef> {
        let Some(p) = prev else {
            return Vec::new();
        };
        p.dropped
            .iter()
            .filter(|d| self.segments.iter().all(|s| s.generation != d.generation))
            .collect()
    }
}

/// A restored checkpoint's dedup log: its numbering, oldest id, and the
/// bodies of its segments, each with the number of its first id.
#[derive(Debug)]
pub struct RestoredLog {
    /// The memory's numbering.
    pub epoch: u64,
    /// The number of the oldest id remembered.
    pub base: u64,
    /// The segments, oldest first.
    pub segments: Vec<(u64, Vec<u8>)>,
}

/// Decodes a restored checkpoint: its state, and the dedup memory from
/// its log when it has one (the state's own is then empty).
pub fn decode_restored(bytes: &[u8], log: Option<&RestoredLog>) -> Result<State, CheckpointError> {
    let mut st = decode_state(bytes)?;
    if let Some(log) = log {
        adopt_log(&mut st, log)?;
    }
    Ok(st)
}

/// Gives a restored state (with no dedup memory of its own) the memory its
/// log holds.
pub(super) fn adopt_log(st: &mut State, log: &RestoredLog) -> Result<(), CheckpointError> {
    let segments: Vec<Segment<'_>> = log
        .segments
        .iter()
        .map(|(first, body)| (*first, body.as_slice()))
        .collect();
    let dedup =
        Dedup::from_log(log.epoch, log.base, &segments).map_err(|e| corrupt("dedup log", e))?;
    st.adopt_dedup(dedup).map_err(|e| corrupt("dedup log", e))
}

#[cfg(test)]
mod tests;
