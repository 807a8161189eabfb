//! Checkpoints: one partition's engine state and the input offset it covers,
//! encoded so any instance can restore them (the Kafka side is [`kafka`]).
//!
//! This half is pure: the state codec, the framing of the chunks a state is
//! split into, and the manifest that ties chunks to one checkpoint. Every
//! framed piece starts with a magic, the format version it was written in
//! (this build reads [`OLDEST_FORMAT_VERSION`] to [`FORMAT_VERSION`]) and an
//! xxh3-64 of its body, so a piece from another format, a version this
//! build does not read or a damaged log is an error, never silently used.
//!
//! ```text
//!  chunk    | "FLCC" | version u32 BE | xxh3 u64 BE | body (≤ chunk_bytes of state) |
//!  manifest | "FLCM" | version u32 BE | xxh3 u64 BE | JSON Manifest                  |
//! ```
//!
//! The manifest body is JSON so that `kcat` shows it readably.
//!
//! From format 8 the state itself begins with its format version, one byte
//! ([`STATE_TAG`]), so that it is read in its own layout wherever its bytes
//! were taken from (a chain's members may be of two formats). A state of
//! formats 4 to 7 begins with 0 or 1: its first field, the event clock, is
//! an `Option`.
//!
//! The state is [`postcard`] (varint integers, no field names), not
//! compressed here. Measured once when the format was chosen (release build,
//! 800 k simulated events leaving 203 k open tickets):
//!
//! | encoding      | bytes  | per open ticket | encode | decode |
//! |---------------|--------|-----------------|--------|--------|
//! | JSON          | 184 MB | 906 B           |        |        |
//! | postcard      | 43 MB  | 212 B           | 0.24 s | 0.36 s |
//! | bincode 1.x   | 56 MB  | 276 B           | 0.36 s | 0.40 s |
//! | postcard+lz4  | 35 MB  | 172 B           | +0.20 s| +0.06 s|
//!
//! postcard is smaller (bincode's fixed-width integers dominate a state of
//! small counters) and faster both ways. lz4 saves another 19 % but nearly
//! doubles the encode time, which is spent on the partition's own task; the
//! changelog producer compresses its batches with lz4 on librdkafka's
//! threads instead ([`kafka`]), which saves the bytes on the wire and disk
//! without stalling the partition.

mod chain;
pub mod kafka;
mod log;

pub use chain::{decode_chain, wants_changes, ChainRef, StateChain, MAX_CHAIN};
pub use log::{decode_restored, DedupLog, RestoredLog, SegmentRef};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::engine::{FrozenState, Mirror, State, StateChanges, StateShape};

/// The version of the chunk, manifest and state encoding written by
/// default. 2: two more decode-error reasons (`future_timestamp`,
/// `too_old`) and the repeat-contact index of a customer. 3: the agent of
/// `ticket.resolved` and `survey.csat` in held events, and the per-agent
/// state and counters. 4: a ticket's per-agent attribution beside its SLA
/// pauses, a call's agent in the call. 5: the dedup memory's set is not
/// written (it is rebuilt from the arrival order, which holds the same
/// hashes): a fifth to a quarter of a busy partition's checkpoint. 6: in
/// a changelog, the dedup memory as a log of segments, each checkpoint
/// writing the ids that arrived since the last (`log`), the manifest
/// listing them. 7: chains of checkpoints of changes (`chain`). 8: where
/// each agent's utilization windows hold its status from, and the state's
/// own version byte ([`STATE_TAG`]).
pub const FORMAT_VERSION: u32 = crate::config::NEWEST_CHECKPOINT_FORMAT;

/// The oldest version this build reads, and can write
/// (`checkpoint.write_format`, for a rolling update from a build that
/// reads only that one: docs/operations.md, "Checkpoint format").
pub const OLDEST_FORMAT_VERSION: u32 = crate::config::OLDEST_CHECKPOINT_FORMAT;

/// Magic of a chunk.
pub const CHUNK_MAGIC: [u8; 4] = *b"FLCC";
/// Magic of a manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"FLCM";
/// Bytes a frame adds to its body: magic, version, checksum.
pub const FRAME_OVERHEAD: usize = 4 + 4 + 8;

/// Why a checkpoint could not be written or restored.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A piece is damaged or does not belong where it was found.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// Which piece (`chunk 3 at offset 120`, `manifest`, `state`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Written by a format version this build does not read.
    #[error("unknown checkpoint format version {0} (this build reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})")]
    UnknownVersion(u32),
    /// The state did not encode or decode.
    #[error("state codec: {0}")]
    Codec(String),
    /// The broker or client failed.
    #[error("kafka: {0}")]
    Kafka(String),
    /// A bounded wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The changelog topic was deleted and created again under the writer.
    #[error("changelog created again: {0}")]
    Recreated(String),
    /// A write that would overwrite the last good checkpoint's slot.
    #[error("generation {got} would overwrite the slot of the last checkpoint written (generation {last}); use {expected}")]
    Generation {
        /// The generation asked for.
        got: u64,
        /// The last generation written (or restored) for the partition.
        last: u64,
        /// The generation to write next.
        expected: u64,
    },
}

fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt {
        what: what.into(),
        reason: reason.into(),
    }
}

/// What a checkpoint covers besides the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// First input offset NOT covered: restore seeks here.
    pub next_offset: i64,
    /// +1 per checkpoint of this partition (restored generation + 1, …).
    pub generation: u64,
    /// Id of the instance that wrote it.
    pub writer: String,
    /// Wall time it was taken (unix ms).
    pub wall_ms: i64,
    /// Wall time of the last applied event (the idle-clock rule survives restarts).
    pub last_event_wall_ms: Option<i64>,
    /// The histogram bounds and SLA policies the state is laid out by
    /// (`None` in checkpoints written before it was: taken as the
    /// restoring config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<StateShape>,
    /// The consumer group of the instance that wrote it (`None` in
    /// checkpoints written before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Where one chunk of a checkpoint is, and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Its offset in the changelog partition.
    pub offset: i64,
    /// Length of its body (state bytes, without the frame).
    pub len: u64,
    /// xxh3-64 of its body.
    pub xxh3: u64,
}

/// The record that makes a checkpoint complete: written after all its chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// What the checkpoint covers.
    pub meta: Meta,
    /// Length of the encoded state.
    pub state_len: u64,
    /// xxh3-64 of the encoded state.
    pub state_xxh3: u64,
    /// The chunks, in order.
    pub chunks: Vec<ChunkRef>,
    /// From format 6: the dedup log that holds the state's dedup memory
    /// (`None`: the memory is in the state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<DedupLog>,
    /// From format 7: the chain the state is in (`None`: whole, under the
    /// slot's keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<StateChain>,
}

/// The first format whose state begins with its version byte.
pub const STATE_TAG: u32 = crate::engine::WINDOWS_FROM_FORMAT;

/// Encodes an engine state (postcard), in format [`FORMAT_VERSION`].
pub fn encode_state(st: &State) -> Result<Vec<u8>, CheckpointError> {
    postcard::to_extend(st, tagged(FORMAT_VERSION, Vec::new()))
        .map_err(|e| CheckpointError::Codec(e.to_string()))
}

/// `out`, cleared, with the version byte a state of format `version`
/// begins with (none before [`STATE_TAG`]).
fn tagged(version: u32, mut out: Vec<u8>) -> Vec<u8> {
    out.clear();
    if version >= STATE_TAG {
        out.push(u8::try_from(version).expect("a format version fits a byte"));
    }
    out
}

/// Encodes a copy of an engine state taken with [`State::freeze`] in format
/// `version`: for [`FORMAT_VERSION`], the bytes [`encode_state`] writes of
/// the state it was taken from.
pub fn encode_frozen(st: &FrozenState, version: u32) -> Result<Vec<u8>, CheckpointError> {
    encode_frozen_into(st, version, Vec::new())
}

/// [`encode_frozen`] into `out` (cleared first, its capacity kept): a
/// caller that knows about how large the state is hands a buffer of that
/// capacity, and the encode writes the state once instead of copying it
/// through every doubling of a growing buffer (each a new mapping for a
/// large one, whose pages the kernel zeroes first). Capacity never touched
/// costs no memory.
pub fn encode_frozen_into(
    st: &FrozenState,
    version: u32,
    out: Vec<u8>,
) -> Result<Vec<u8>, CheckpointError> {
    check_known(version)?;
    postcard::to_extend(&st.written(version), tagged(version, out))
        .map_err(|e| CheckpointError::Codec(e.to_string()))
}

/// Encodes, whole, the state the copy of changes `st` was taken from,
/// with the tables of a `mirror` that followed it ([`Mirror`]), into `out`
/// as [`encode_frozen_into`]. A chained format (7 on): a whole checkpoint
/// starts a chain.
pub fn encode_mirrored_into(
    st: &FrozenState,
    mirror: &Mirror,
    version: u32,
    out: Vec<u8>,
) -> Result<Vec<u8>, CheckpointError> {
    check_known(version)?;
    if version < 7 {
        return Err(CheckpointError::Codec(format!(
            "a whole checkpoint is written from a mirror from format 7 on, not {version}"
        )));
    }
    postcard::to_extend(&mirror.written_with(st, version), tagged(version, out))
        .map_err(|e| CheckpointError::Codec(e.to_string()))
}

fn check_known(version: u32) -> Result<(), CheckpointError> {
    if (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(CheckpointError::UnknownVersion(version))
    }
}

/// Decodes an engine state written by [`encode_state`]; trailing bytes are an error.
pub fn decode_state(bytes: &[u8]) -> Result<State, CheckpointError> {
    decode_all(bytes, "state")
}

/// Decodes a checkpoint of changes (a [`FrozenState`] taken with
/// [`State::freeze_changes`]); trailing bytes are an error.
pub fn decode_changes(bytes: &[u8]) -> Result<StateChanges, CheckpointError> {
    decode_all(bytes, "changes")
}

/// Decodes `bytes` whole as a `T` (`what` names it in errors), in the
/// layout of the format its first byte names ([`STATE_TAG`]).
fn decode_all<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, CheckpointError> {
    let (version, body) = match bytes.split_first() {
        Some((&tag, body)) if tag > 1 => {
            let version = u32::from(tag);
            if version > FORMAT_VERSION {
                return Err(CheckpointError::UnknownVersion(version));
            }
            if version < STATE_TAG {
                return Err(corrupt(what, format!("it begins with byte {tag}")));
            }
            (version, body)
        }
        // Formats 4 to 7, which read alike.
        _ => (STATE_TAG - 1, bytes),
    };
    let (v, rest) = crate::engine::reading_format(version, || {
        postcard::take_from_bytes::<T>(body).map_err(|e| CheckpointError::Codec(e.to_string()))
    })?;
    if !rest.is_empty() {
        return Err(CheckpointError::Codec(format!(
            "{} bytes after the end of the {what}",
            rest.len()
        )));
    }
    Ok(v)
}

fn frame(magic: [u8; 4], version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_OVERHEAD + body.len());
    frame_into(magic, version, body, &mut out);
    out
}

/// [`frame`] into `out` (cleared first); the body's checksum.
fn frame_into(magic: [u8; 4], version: u32, body: &[u8], out: &mut Vec<u8>) -> u64 {
    let sum = xxh3_64(body);
    out.clear();
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(body);
    sum
}

fn unframe<'a>(magic: [u8; 4], what: &str, bytes: &'a [u8]) -> Result<&'a [u8], CheckpointError> {
    if bytes.len() < FRAME_OVERHEAD {
        return Err(corrupt(
            what,
            format!(
                "{} bytes is shorter than the {FRAME_OVERHEAD}-byte header",
                bytes.len()
            ),
        ));
    }
    if bytes[..4] != magic {
        return Err(corrupt(
            what,
            format!(
                "magic {:?}, expected {:?}",
                String::from_utf8_lossy(&bytes[..4]),
                String::from_utf8_lossy(&magic)
            ),
        ));
    }
    let version = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
    check_known(version)?;
    let sum = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let body = &bytes[FRAME_OVERHEAD..];
    let actual = xxh3_64(body);
    if actual != sum {
        return Err(corrupt(
            what,
            format!("checksum {actual:016x}, header says {sum:016x}"),
        ));
    }
    Ok(body)
}

/// Frames one chunk body of a state encoded in format `version`.
pub fn frame_chunk(version: u32, body: &[u8]) -> Vec<u8> {
    frame(CHUNK_MAGIC, version, body)
}

/// [`frame_chunk`] into `out` (cleared first, its allocation kept: a
/// writer frames every chunk of a checkpoint in one buffer); the body's
/// checksum, as [`manifest_from_sums`] takes it.
pub fn frame_chunk_into(version: u32, body: &[u8], out: &mut Vec<u8>) -> u64 {
    frame_into(CHUNK_MAGIC, version, body, out)
}

/// The body of a framed chunk, checked; `what` names it in the error.
pub fn unframe_chunk<'a>(what: &str, bytes: &'a [u8]) -> Result<&'a [u8], CheckpointError> {
    unframe(CHUNK_MAGIC, what, bytes)
}

/// Frames a manifest of a checkpoint in format `version`.
pub fn encode_manifest(version: u32, m: &Manifest) -> Result<Vec<u8>, CheckpointError> {
    let json = serde_json::to_vec(m).map_err(|e| CheckpointError::Codec(e.to_string()))?;
    Ok(frame(MANIFEST_MAGIC, version, &json))
}

/// Reads a framed manifest.
pub fn decode_manifest(bytes: &[u8]) -> Result<Manifest, CheckpointError> {
    let body = unframe(MANIFEST_MAGIC, "manifest", bytes)?;
    serde_json::from_slice(body).map_err(|e| corrupt("manifest", e.to_string()))
}

/// Splits a state into chunk bodies of at most `chunk_bytes` (at least one,
/// so an empty state still has a chunk to point at).
pub fn split(state: &[u8], chunk_bytes: usize) -> Vec<&[u8]> {
    if state.is_empty() {
        return vec![state];
    }
    state.chunks(chunk_bytes.max(1)).collect()
}

/// A manifest for `state` split as [`split`] does, with the chunks' changelog offsets.
pub fn manifest_for(meta: &Meta, state: &[u8], bodies: &[&[u8]], offsets: &[i64]) -> Manifest {
    let sums: Vec<u64> = bodies.iter().map(|b| xxh3_64(b)).collect();
    manifest_from_sums(meta, state, bodies, &sums, offsets)
}

/// [`manifest_for`] with the bodies' checksums already taken (by
/// [`frame_chunk_into`]), so that a writer reads each chunk once for them.
pub fn manifest_from_sums(
    meta: &Meta,
    state: &[u8],
    bodies: &[&[u8]],
    sums: &[u64],
    offsets: &[i64],
) -> Manifest {
    Manifest {
        meta: meta.clone(),
        state_len: state.len() as u64,
        state_xxh3: xxh3_64(state),
        chunks: chunk_refs(bodies, sums, offsets),
        dedup: None,
        chain: None,
    }
}

/// Where chunks went (`offsets`) and what they hold (their bodies and
/// checksums), as a manifest lists them.
pub fn chunk_refs(bodies: &[&[u8]], sums: &[u64], offsets: &[i64]) -> Vec<ChunkRef> {
    bodies
        .iter()
        .zip(sums)
        .zip(offsets)
        .map(|((b, &xxh3), &offset)| ChunkRef {
            offset,
            len: b.len() as u64,
            xxh3,
        })
        .collect()
}

/// Joins the framed chunks of a manifest (in its order) into the state,
/// checking each chunk against the manifest and the whole against its sum.
pub fn assemble(m: &Manifest, framed: &[&[u8]]) -> Result<Vec<u8>, CheckpointError> {
    let whole = Whole {
        what: "state",
        len: m.state_len,
        xxh3: m.state_xxh3,
    };
    assemble_chunks("", &m.chunks, &whole, framed)
}

/// What a list of chunks adds up to.
struct Whole<'a> {
    /// Its name in errors (`state`, `segment 7`).
    what: &'a str,
    len: u64,
    xxh3: u64,
}

/// Joins framed chunks listed as `chunks` into what `whole` describes;
/// `what` goes before each chunk's name in errors.
fn assemble_chunks(
    what: &str,
    chunks: &[ChunkRef],
    whole: &Whole<'_>,
    framed: &[&[u8]],
) -> Result<Vec<u8>, CheckpointError> {
    if framed.len() != chunks.len() {
        return Err(corrupt(
            if what.is_empty() {
                "checkpoint"
            } else {
                whole.what
            },
            format!("{} chunks, manifest lists {}", framed.len(), chunks.len()),
        ));
    }
    // Room for the length the manifest gives, but never more than the
    // chunks read hold: a manifest whose checksum passes may still give any
    // length (2^40 aborted the process at every start).
    let read: usize = framed.iter().map(|f| f.len()).sum();
    let mut out = Vec::with_capacity(usize::try_from(whole.len).map_or(read, |n| n.min(read)));
    for (i, (c, f)) in chunks.iter().zip(framed).enumerate() {
        let what = format!("{what}chunk {i} at offset {}", c.offset);
        let body = unframe_chunk(&what, f)?;
        if body.len() as u64 != c.len {
            return Err(corrupt(
                what,
                format!("{} bytes, manifest says {}", body.len(), c.len),
            ));
        }
        let sum = xxh3_64(body);
        if sum != c.xxh3 {
            return Err(corrupt(
                what,
                format!(
                    "checksum {sum:016x}, manifest says {:016x} (a chunk of another checkpoint)",
                    c.xxh3
                ),
            ));
        }
        out.extend_from_slice(body);
    }
    if out.len() as u64 != whole.len {
        return Err(corrupt(
            whole.what,
            format!("{} bytes, manifest says {}", out.len(), whole.len),
        ));
    }
    let sum = xxh3_64(&out);
    if sum != whole.xxh3 {
        return Err(corrupt(
            whole.what,
            format!("checksum {sum:016x}, manifest says {:016x}", whole.xxh3),
        ));
    }
    Ok(out)
}

/// Joins the framed chunks of one piece of a checkpoint kept apart from
/// its state (a dedup log's segment, a chain's member), named `name` in
/// errors, of `len` bytes summing to `xxh3`: checked as [`assemble`]
/// checks a state's.
pub fn assemble_piece(
    name: &str,
    chunks: &[ChunkRef],
    len: u64,
    xxh3: u64,
    framed: &[&[u8]],
) -> Result<Vec<u8>, CheckpointError> {
    let whole = Whole {
        what: name,
        len,
        xxh3,
    };
    assemble_chunks(&format!("{name} "), chunks, &whole, framed)
}

#[cfg(test)]
mod tests;
