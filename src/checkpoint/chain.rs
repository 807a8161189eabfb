//! The state chain of format 7: a checkpoint writes the tickets, calls and
//! customers changed since the checkpoint before (`State::freeze_changes`)
//! instead of all of them, on top of a whole one written now and then.
//!
//! Each checkpoint's state goes under keys of its own generation, and its
//! manifest lists the checkpoints it is applied on (`earlier`: a whole one
//! first, then changes, oldest first). A whole checkpoint starts a chain
//! over and names the members of the last one (`dropped`); as with the
//! dedup log (`super::log`), the checkpoint after it tombstones them once
//! its own manifest is acknowledged, when neither slot's manifest lists
//! them.
//!
//! A chain starts over when it has [`MAX_CHAIN`] members or its changes
//! add up to as many bytes as its whole checkpoint (a restore then reads
//! at most twice the state), and when a write failed (the changes it held
//! are no longer marked in the engine).

use serde::{Deserialize, Serialize};

use super::log::adopt_log;
use super::{corrupt, decode_changes, decode_state, CheckpointError, ChunkRef, RestoredLog, State};

/// Members a chain has at most, the whole checkpoint included: a restore
/// fetches each.
pub const MAX_CHAIN: usize = 32;

/// What a format-7 manifest says of its state's chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChain {
    /// The checkpoints this one's changes apply to, a whole one first;
    /// empty when this one is whole.
    pub earlier: Vec<ChainRef>,
    /// Members of the chain before, which this one (whole) no longer
    /// lists: the next checkpoint tombstones them.
    pub dropped: Vec<ChainRef>,
}

/// One checkpoint's state in a chain: where its chunks are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRef {
    /// The generation that wrote it (its keys).
    pub generation: u64,
    /// Length of the encoded state.
    pub len: u64,
    /// xxh3-64 of the encoded state.
    pub xxh3: u64,
    /// Its chunks, in order.
    pub chunks: Vec<ChunkRef>,
}

impl StateChain {
    /// Whether the list adds up before anything is read: members of
    /// older generations than `generation`'s, in order, each with chunks,
    /// and not more than [`MAX_CHAIN`] with this one.
    pub fn check(&self, generation: u64) -> Result<(), String> {
        if self.earlier.len() >= MAX_CHAIN {
            return Err(format!(
                "a chain of {} checkpoints before this one, at most {} are written",
                self.earlier.len(),
                MAX_CHAIN - 1
            ));
        }
        let mut before = None;
        for (i, c) in self.earlier.iter().enumerate() {
            if c.chunks.is_empty() {
                return Err(format!("chain member {i} has no chunks"));
            }
            if before.is_some_and(|b| c.generation <= b) || c.generation >= generation {
                return Err(format!(
                    "chain member {i} is of generation {}, after {before:?} and before {generation}",
                    c.generation
                ));
            }
            before = Some(c.generation);
        }
        Ok(())
    }

    /// The members `prev` (the last chain written or restored) dropped
    /// that may be tombstoned once a manifest with this chain (of
    /// `generation`) is acknowledged: none this one uses.
    pub fn to_tombstone<'a>(&self, prev: &'a [ChainRef], generation: u64) -> Vec<&'a ChainRef> {
        prev.iter()
            .filter(|d| d.generation != generation)
            .filter(|d| self.earlier.iter().all(|c| c.generation != d.generation))
            .collect()
    }
}

/// Whether a partition whose last chain is `chain` (oldest first, the last
/// checkpoint's own state last; empty: none) should write changes next.
pub fn wants_changes(chain: &[ChainRef]) -> bool {
    let Some((whole, changes)) = chain.split_first() else {
        return false;
    };
    let sum: u64 = changes.iter().map(|c| c.len).sum();
    chain.len() < MAX_CHAIN && sum < whole.len
}

/// Decodes a restored checkpoint: its state alone when `earlier` is empty,
/// else the first of `earlier` (whole) with the changes of the others and
/// then of `own` applied in turn; then the dedup memory from its log.
pub fn decode_chain(
    earlier: &[Vec<u8>],
    own: &[u8],
    log: Option<&RestoredLog>,
) -> Result<State, CheckpointError> {
    let mut st = match earlier.split_first() {
        None => decode_state(own)?,
        Some((whole, changes)) => {
            let mut st = decode_state(whole)?;
            for (i, c) in changes.iter().map(Vec::as_slice).chain([own]).enumerate() {
                let c = decode_changes(c)
                    .map_err(|e| corrupt(format!("chain member {}", i + 1), e.to_string()))?;
                st.apply_changes(c);
            }
            st
        }
    };
    if let Some(log) = log {
        adopt_log(&mut st, log)?;
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(generation: u64, len: u64) -> ChainRef {
        ChainRef {
            generation,
            len,
            xxh3: 0,
            chunks: vec![ChunkRef {
                offset: generation as i64,
                len,
                xxh3: 0,
            }],
        }
    }

    #[test]
    fn a_chain_follows_until_its_changes_weigh_as_much_as_its_whole() {
        assert!(!wants_changes(&[]));
        assert!(wants_changes(&[r(1, 100)]));
        assert!(wants_changes(&[r(1, 100), r(2, 60), r(3, 39)]));
        assert!(!wants_changes(&[r(1, 100), r(2, 60), r(3, 40)]));
        let long: Vec<ChainRef> = (1..=MAX_CHAIN as u64).map(|g| r(g, 1)).collect();
        assert!(!wants_changes(
            &[vec![r(0, 1_000)], long[1..].to_vec()].concat()
        ));
        assert!(wants_changes(
            &[vec![r(0, 1_000)], long[2..].to_vec()].concat()
        ));
    }

    #[test]
    fn a_manifest_whose_chain_does_not_add_up_is_refused() {
        let ok = StateChain {
            earlier: vec![r(3, 10), r(4, 1), r(6, 1)],
            dropped: vec![],
        };
        assert!(ok.check(7).is_ok());
        for (earlier, g, why) in [
            (vec![r(3, 10), r(3, 1)], 7, "generation 3"),
            (vec![r(3, 10), r(8, 1)], 7, "generation 8"),
            (vec![r(7, 10)], 7, "generation 7"),
        ] {
            let e = StateChain {
                earlier,
                dropped: vec![],
            }
            .check(g)
            .unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let mut no_chunks = ok.clone();
        no_chunks.earlier[1].chunks.clear();
        assert!(no_chunks.check(7).unwrap_err().contains("no chunks"));
        let long = StateChain {
            earlier: (1..=MAX_CHAIN as u64).map(|g| r(g, 1)).collect(),
            dropped: vec![],
        };
        assert!(long.check(100).unwrap_err().contains("at most"));
    }

    #[test]
    fn dropped_members_are_tombstoned_unless_in_use() {
        let prev_dropped = vec![r(1, 10), r(2, 1), r(5, 1)];
        let next = StateChain {
            earlier: vec![r(2, 1)],
            dropped: vec![],
        };
        let t: Vec<u64> = next
            .to_tombstone(&prev_dropped, 5)
            .iter()
            .map(|c| c.generation)
            .collect();
        assert_eq!(t, vec![1]);
    }
}
