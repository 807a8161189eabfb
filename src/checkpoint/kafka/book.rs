//! What a writer remembers of each source partition's checkpoints — the
//! last generation, what its slots hold, its dedup log and state chain —
//! and what follows from it: the next chain, and the keys a checkpoint
//! leaves behind to tombstone.

use super::{chain_key, chunk_key, segment_key};
use crate::checkpoint::{wants_changes, ChainRef, CheckpointError, DedupLog, Manifest, StateChain};

/// What a writer remembers of a source partition's slots.
#[derive(Clone, Debug, Default)]
pub(super) struct Book {
    /// Generation of the last checkpoint written or restored.
    pub(super) last_generation: Option<u64>,
    /// Chunks of the newest checkpoint known in each slot.
    pub(super) chunks: [usize; 2],
    /// The dedup log of the last checkpoint written or restored.
    pub(super) log: Option<DedupLog>,
    /// The chain of the last checkpoint written or restored, its own state
    /// last (empty: none, or not a chained checkpoint).
    pub(super) chain: Vec<ChainRef>,
    /// Whether the engine's changes since that checkpoint are what the
    /// next checkpoint of changes holds (not after a failed write).
    pub(super) follows: bool,
    /// A state copy was taken since the last checkpoint written or
    /// restored (`Changelog::copy_taken`).
    pub(super) copied: bool,
    /// The members of a chain that checkpoint dropped (`StateChain::dropped`).
    chain_dropped: Vec<ChainRef>,
    /// A chained write that failed: its generation and how many chunks it
    /// may have left under its keys.
    partial: Option<(u64, usize)>,
}

impl Book {
    /// A checkpoint of `m`'s (with `chunks` of its own) was acknowledged.
    pub(super) fn written(&mut self, m: &Manifest, chunks: usize) {
        self.took(m, chunks);
    }

    /// A checkpoint of `m`'s was restored (the engine restored from it
    /// marks its changes from there on).
    ///
    /// Of a whole checkpoint in its slot (format 6 and older), the other
    /// slot holds the one before, of about the same size: its chunks are
    /// taken to be up to twice as many, so that the next checkpoint of that
    /// slot tombstones them when it does not overwrite them (a chained one
    /// overwrites none). Tombstones of keys never written are harmless.
    pub(super) fn restored(&mut self, m: &Manifest) {
        let slot = (m.meta.generation % 2) as usize;
        if m.chain.is_none() {
            let other = &mut self.chunks[1 - slot];
            *other = (*other).max(2 * m.chunks.len());
        }
        self.took(m, self.chunks[slot].max(m.chunks.len()));
    }

    fn took(&mut self, m: &Manifest, slot_chunks: usize) {
        let slot = (m.meta.generation % 2) as usize;
        self.last_generation = Some(m.meta.generation);
        self.log = m.dedup.clone();
        self.partial = None;
        self.copied = false;
        match &m.chain {
            Some(c) => {
                // The slot's chunks of an older checkpoint are gone.
                self.chunks[slot] = 0;
                self.chain = c.earlier.clone();
                self.chain.push(ChainRef {
                    generation: m.meta.generation,
                    len: m.state_len,
                    xxh3: m.state_xxh3,
                    chunks: m.chunks.clone(),
                });
                self.chain_dropped = c.dropped.clone();
                self.follows = true;
            }
            None => {
                self.chunks[slot] = slot_chunks;
                self.chain.clear();
                self.follows = false;
            }
        }
    }

    /// The highest changelog offset the next checkpoint would point at
    /// without writing it again: the chain's members and the dedup log's
    /// segments.
    pub(super) fn reach(&self) -> Option<i64> {
        let chain = self.chain.iter().flat_map(|c| &c.chunks);
        let log = self
            .log
            .iter()
            .flat_map(|l| &l.segments)
            .flat_map(|s| &s.chunks);
        chain.chain(log).map(|c| c.offset).max()
    }

    /// The changelog was deleted and created again under the writer: what
    /// the chain and the dedup log point at is gone, and the next
    /// checkpoint writes both whole.
    pub(super) fn start_over(&mut self) {
        self.chain.clear();
        self.chain_dropped.clear();
        self.log = None;
        self.follows = false;
        self.partial = None;
        self.chunks = [0, 0];
    }

    /// A write of `generation` (of `chunks` chunks, `chained` or not) failed.
    pub(super) fn failed(&mut self, generation: u64, chunks: usize, chained: bool) {
        if chained {
            // The changes it held are no longer marked in the engine: the
            // next checkpoint is whole.
            self.follows = false;
            self.partial = Some((generation, chunks));
        } else {
            // Some of its chunks may be in the log: the next checkpoint of
            // this slot tombstones them if it is shorter.
            let known = &mut self.chunks[(generation % 2) as usize];
            *known = (*known).max(chunks);
        }
    }

    /// The chain a checkpoint of `generation` in format `version` writes:
    /// on the last chain when it holds `changes`, else a new one dropping
    /// the last.
    pub(super) fn next_chain(
        &self,
        version: u32,
        generation: u64,
        changes: bool,
    ) -> Result<StateChain, CheckpointError> {
        if version < 7 {
            return Err(CheckpointError::Codec(format!(
                "a state chain is written from format 7 on, this changelog writes {version}"
            )));
        }
        if !changes {
            let mut dropped = self.chain.clone();
            // A member of this generation's keys is overwritten by this one.
            dropped.retain(|c| c.generation != generation);
            return Ok(StateChain {
                earlier: Vec::new(),
                dropped,
            });
        }
        if !(self.follows && wants_changes(&self.chain)) {
            return Err(CheckpointError::Codec(format!(
                "changes of generation {generation} do not follow the last checkpoint's chain \
                 ({} members)",
                self.chain.len()
            )));
        }
        Ok(StateChain {
            earlier: self.chain.clone(),
            dropped: Vec::new(),
        })
    }
}

/// The keys a checkpoint leaves behind once its manifest is acknowledged:
/// chunks of an older, longer checkpoint in its slot (no manifest points
/// at them any more), chunks of a failed write of its generation past its
/// own, and segments and chain members neither slot's manifest lists.
pub(super) fn leftovers(m: &Manifest, slot: u64, book: &Book) -> Vec<String> {
    let (t, p, g) = (&m.meta.topic, m.meta.partition, m.meta.generation);
    let own_slot = if m.chain.is_some() { 0 } else { m.chunks.len() };
    let mut keys: Vec<String> = (own_slot..book.chunks[slot as usize])
        .map(|i| chunk_key(t, p, slot, i))
        .collect();
    if let Some((pg, n)) = book.partial {
        let own = if m.chain.is_some() && pg == g {
            m.chunks.len()
        } else {
            0
        };
        keys.extend((own..n).map(|i| chain_key(t, p, pg, i)));
    }
    if let Some(log) = &m.dedup {
        for s in log.to_tombstone(book.log.as_ref()) {
            keys.extend((0..s.chunks.len()).map(|i| segment_key(t, p, s.generation, i)));
        }
    }
    if let Some(chain) = &m.chain {
        for c in chain.to_tombstone(&book.chain_dropped, g) {
            keys.extend((0..c.chunks.len()).map(|i| chain_key(t, p, c.generation, i)));
        }
    }
    keys
}
