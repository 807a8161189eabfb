//! The dedup log's bookkeeping, and restoring a state through its log.

use super::*;
use crate::checkpoint::{encode_frozen, FORMAT_VERSION};
use crate::config::{Config, Dur};
use crate::decode::decode;
use crate::engine::{DedupCopy, Engine, LogMark};
use crate::simulate::{SimConfig, Simulator};

fn tail(epoch: u64, base: u64, first: u64, count: u64) -> LogTail {
    LogTail {
        mark: LogMark { epoch, base, first },
        count,
        body: vec![first as u8; 3],
    }
}

fn ids(log: &DedupLog) -> Vec<(u64, u64, u64)> {
    log.segments
        .iter()
        .map(|s| (s.generation, s.first, s.end()))
        .collect()
}

#[test]
fn each_log_keeps_what_is_remembered_and_drops_the_rest() {
    let one = DedupLog::next(None, &tail(7, 0, 0, 10), 1).unwrap();
    assert_eq!(ids(&one), [(1, 0, 10)]);
    assert!(one.dropped.is_empty());
    let two = DedupLog::next(Some(&one), &tail(7, 4, 10, 5), 2).unwrap();
    assert_eq!(ids(&two), [(1, 0, 10), (2, 10, 15)]);
    // Nothing new: no segment, and the first forgotten.
    let three = DedupLog::next(Some(&two), &tail(7, 10, 15, 0), 3).unwrap();
    assert_eq!(ids(&three), [(2, 10, 15)]);
    assert_eq!(three.dropped.len(), 1);
    assert_eq!(three.end(), 15);
    // The next one tombstones what three dropped, and drops nothing itself.
    let four = DedupLog::next(Some(&three), &tail(7, 10, 15, 1), 4).unwrap();
    let gone: Vec<u64> = four
        .to_tombstone(Some(&three))
        .iter()
        .map(|s| s.generation)
        .collect();
    assert_eq!(gone, [1]);
    assert!(four.dropped.is_empty());
    assert_eq!(four.end(), 16);
}

#[test]
fn a_log_of_another_numbering_is_replaced_by_one_that_starts_over() {
    let old = DedupLog::next(None, &tail(7, 0, 0, 10), 5).unwrap();
    // Another memory (a restart that restored nothing): all of it.
    let new = DedupLog::next(Some(&old), &tail(9, 0, 0, 3), 6).unwrap();
    assert_eq!(ids(&new), [(6, 0, 3)]);
    assert_eq!(new.dropped.len(), 1);
    // A copy that does not start at its memory's oldest id cannot follow.
    let e = DedupLog::next(Some(&old), &tail(9, 0, 2, 3), 6).unwrap_err();
    assert!(e.to_string().contains("ends elsewhere"), "{e}");
    let e = DedupLog::next(Some(&old), &tail(7, 0, 12, 3), 6).unwrap_err();
    assert!(e.to_string().contains("(id 10 of 0000000000000007)"), "{e}");
    // A generation written again after a restart: the dropped segment of
    // that generation's key is the new one's key, and is not tombstoned.
    let again = DedupLog::next(Some(&old), &tail(9, 0, 0, 3), 5).unwrap();
    assert!(again.dropped.is_empty());
    let mut dropping = old.clone();
    dropping.dropped = old.segments.clone();
    let next = DedupLog::next(Some(&dropping), &tail(7, 0, 10, 1), 5).unwrap();
    assert!(next.to_tombstone(Some(&dropping)).is_empty());
}

fn apply(engine: &mut Engine, lines: &[String]) {
    for l in lines {
        engine.apply(decode(l.as_bytes(), 1 << 20).expect("simulated events decode"));
    }
}

/// An engine checkpointed through its log twelve times, the dedup horizon
/// short enough that it forgets between them, restores to its state each
/// time (the dedup memory, the restored one inline, included).
#[test]
fn a_state_restores_through_its_log() {
    let mut cfg = Config::parse("").unwrap();
    cfg.time.dedup_horizon = Dur::secs(4 * 3600);
    let lines: Vec<String> = Simulator::new(SimConfig::default())
        .take(9_000)
        .map(|e| e.json)
        .collect();
    let mut engine = Engine::new(&cfg);
    let mut log: Option<DedupLog> = None;
    let mut bodies: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let mut forgot_and_kept = false;
    for (g, part) in lines.chunks(750).enumerate() {
        apply(&mut engine, part);
        let st = engine.state();
        let copy = match &log {
            Some(l) => DedupCopy::LogFrom(l.end()),
            None => DedupCopy::LogFrom(0),
        };
        let mut frozen = st.freeze_with(None, copy);
        let t = frozen.take_dedup_tail().unwrap();
        let bytes = encode_frozen(&frozen, FORMAT_VERSION).unwrap();
        let next = DedupLog::next(log.as_ref(), &t, g as u64 + 1).unwrap();
        bodies.push((g as u64 + 1, t.mark.first, t.body));
        bodies.retain(|(gen, _, _)| next.segments.iter().any(|s| s.generation == *gen));
        let restored = RestoredLog {
            epoch: next.epoch,
            base: next.base,
            segments: bodies.iter().map(|(_, f, b)| (*f, b.clone())).collect(),
        };
        let back = decode_restored(&bytes, Some(&restored)).unwrap();
        // As JSON values: maps compare by content, not by iteration order.
        let json = |s: &State| serde_json::to_value(s).unwrap();
        assert!(
            json(&back) == json(st),
            "checkpoint {g} restores another state"
        );
        assert_eq!(back.dedup_epoch(), st.dedup_epoch());
        // Without its log the state has no dedup memory at all.
        let bare = decode_restored(&bytes, None).unwrap();
        assert!(json(&bare) != json(st));
        forgot_and_kept |= next.base > 0 && next.segments.len() >= 2 && !next.dropped.is_empty();
        log = Some(next);
    }
    assert!(
        forgot_and_kept,
        "no checkpoint both dropped a segment and kept two: {:?}",
        ids(&log.unwrap())
    );
}

#[test]
fn a_list_that_does_not_add_up_is_rejected_before_it_is_read() {
    let mut log = DedupLog::next(None, &tail(7, 0, 0, 10), 1).unwrap();
    let chunk = ChunkRef {
        offset: 3,
        len: 84,
        xxh3: 0,
    };
    log.segments[0].len = 84;
    log.segments[0].chunks = vec![chunk.clone()];
    log.check().unwrap();
    let mut gap = log.clone();
    let mut second = log.segments[0].clone();
    second.first = 11;
    gap.segments.push(second);
    let e = gap.check().unwrap_err();
    assert!(
        e.contains("segment 1 starts at id 11, the one before ends at 10"),
        "{e}"
    );
    let mut past = log.clone();
    past.base = 11;
    assert!(past
        .check()
        .unwrap_err()
        .contains("the oldest id remembered is 11, the log holds 0 to 10"));
    let mut short = log.clone();
    short.segments[0].len = 50;
    assert!(short
        .check()
        .unwrap_err()
        .contains("50 bytes in 1 chunks cannot hold 10 ids"));
    let mut none = log;
    none.segments[0].chunks.clear();
    assert!(none.check().is_err());
}
