//! The dedup memory as a log (checkpoint format 6 in a changelog).
//!
//! A busy partition's dedup memory is most of its checkpoint: every event
//! id of the last `dedup_horizon`, about 10 bytes each. Written whole into
//! every checkpoint, it is copied and encoded again every interval although
//! it only ever grows at the back and is forgotten at the front. A logged
//! checkpoint writes only what arrived since the checkpoint before it, as a
//! segment; the checkpoint's manifest lists the segments that still hold
//! remembered ids (`src/checkpoint/kafka/mod.rs`), and the memory is their
//! concatenation less the ids forgotten since.
//!
//! Ids are numbered as they arrive (`Dedup::base` is the number of the
//! oldest remembered), so a segment is named by the number of its first id.
//! The numbering belongs to one memory (its `epoch`): a memory not restored
//! from a logged checkpoint starts a numbering of its own, and a changelog
//! continues a log only in the numbering it was written in.
//!
//! A segment's body, all little-endian:
//!
//! ```text
//! | runs u32 | runs × (second i64, ids u32) | ids × hash u64 |
//! ```
//!
//! The hashes are written as they are (8 bytes, against about 10 for a
//! varint of a 64-bit hash), so encoding one is a copy.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use super::dedup::{Dedup, LogMark};
use super::State;

/// A numbering no other memory of this process, or likely of any other,
/// has: the process id, the time and a counter, hashed (never 0).
pub(super) fn fresh_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut seed = [0u8; 24];
    seed[..8].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
    seed[8..16].copy_from_slice(&nanos.to_le_bytes());
    seed[16..].copy_from_slice(&n.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&seed).max(1)
}

/// The part of a logged checkpoint's dedup memory its log does not hold
/// yet: the ids numbered `mark.first` to `mark.first + count`, encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTail {
    /// The numbering, the oldest id remembered, the first id here.
    pub mark: LogMark,
    /// Ids in the segment.
    pub count: u64,
    /// The segment's body (module docs).
    pub body: Vec<u8>,
}

/// The segment of the ids of `order` from the `skip`-th on, in `runs`
/// (which count exactly those).
pub(super) fn encode_tail(
    mark: LogMark,
    order: &VecDeque<u64>,
    skip: usize,
    runs: impl ExactSizeIterator<Item = (i64, u32)>,
) -> LogTail {
    let n = order.len() - skip;
    let mut body = Vec::with_capacity(4 + runs.len() * 12 + n * 8);
    body.extend_from_slice(&(runs.len() as u32).to_le_bytes());
    for (second, k) in runs {
        body.extend_from_slice(&second.to_le_bytes());
        body.extend_from_slice(&k.to_le_bytes());
    }
    for &h in order.range(skip..) {
        body.extend_from_slice(&h.to_le_bytes());
    }
    LogTail {
        mark,
        count: n as u64,
        body,
    }
}

/// A segment's runs: (second, ids seen in it).
type Runs = Vec<(i64, u32)>;

/// The runs and hashes of a segment's body.
fn decode_segment(body: &[u8]) -> Result<(Runs, &[u8]), String> {
    let short = || format!("a segment of {} bytes is cut short", body.len());
    let runs = u32::from_le_bytes(body.get(..4).ok_or_else(short)?.try_into().expect("4"));
    let runs_end = 4 + runs as usize * 12;
    let raw_runs = body.get(4..runs_end).ok_or_else(short)?;
    let hashes = &body[runs_end..];
    if !hashes.len().is_multiple_of(8) {
        return Err(format!(
            "a segment's hashes are {} bytes, not whole 8-byte hashes",
            hashes.len()
        ));
    }
    let runs = raw_runs
        .chunks_exact(12)
        .map(|r| {
            let second = i64::from_le_bytes(r[..8].try_into().expect("8"));
            (second, u32::from_le_bytes(r[8..].try_into().expect("4")))
        })
        .collect();
    Ok((runs, hashes))
}

/// One segment of a log as a checkpoint lists it: the number of its first
/// id, and its body.
pub type Segment<'a> = (u64, &'a [u8]);

impl Dedup {
    /// The memory a log holds: its segments in order, each starting where
    /// the one before ended, less the ids before `base`. A run of one
    /// second split between two segments is joined again.
    pub fn from_log(epoch: u64, base: u64, segments: &[Segment<'_>]) -> Result<Dedup, String> {
        let ids: usize = segments.iter().map(|(_, b)| b.len() / 8).sum();
        let mut order = VecDeque::with_capacity(ids);
        let mut seconds: VecDeque<(i64, u32)> = VecDeque::new();
        let first = segments.first().map_or(base, |s| s.0);
        let mut next = first;
        for (i, &(at, body)) in segments.iter().enumerate() {
            if at != next {
                return Err(format!(
                    "dedup log: segment {i} starts at id {at}, the one before ends at {next}"
                ));
            }
            let (runs, hashes) = decode_segment(body).map_err(|e| format!("dedup log: {e}"))?;
            let counted: u64 = runs.iter().map(|&(_, n)| u64::from(n)).sum();
            let held = (hashes.len() / 8) as u64;
            if counted != held {
                return Err(format!(
                    "dedup log: segment {i} holds {held} ids, {counted} in its runs"
                ));
            }
            for (second, n) in runs {
                match seconds.back_mut() {
                    Some((s, m)) if *s == second && m.checked_add(n).is_some() => *m += n,
                    _ => seconds.push_back((second, n)),
                }
            }
            order.extend(
                hashes
                    .chunks_exact(8)
                    .map(|h| u64::from_le_bytes(h.try_into().expect("8"))),
            );
            next = at + held;
        }
        if base < first || base > next {
            return Err(format!(
                "dedup log: the oldest id remembered is {base}, the log holds {first} to {next}"
            ));
        }
        let mut skip = base - first;
        order.drain(..skip as usize);
        while skip > 0 {
            let front = seconds.front_mut().expect("the runs count the ids");
            if u64::from(front.1) > skip {
                front.1 -= skip as u32;
                break;
            }
            skip -= u64::from(front.1);
            seconds.pop_front();
        }
        Dedup::from_parts(order, seconds, base, epoch)
    }
}

impl State {
    /// Takes a dedup memory restored from a log ([`Dedup::from_log`]); the
    /// state's own, as a logged checkpoint writes it, must be empty.
    pub fn adopt_dedup(&mut self, dedup: Dedup) -> Result<(), String> {
        if !self.dedup.is_empty() {
            return Err(format!(
                "the state holds {} dedup ids of its own beside a dedup log",
                self.dedup.len()
            ));
        }
        self.dedup = dedup;
        Ok(())
    }

    /// The numbering of this state's dedup memory, for its log.
    pub fn dedup_epoch(&self) -> u64 {
        self.dedup.log_epoch()
    }
}

#[cfg(test)]
mod tests;
