use super::*;
use crate::engine::dedup::{DedupCopy, FrozenDedup};

/// The memory as a checkpoint of format 5 holds it: order and runs.
fn inline(d: &Dedup) -> Vec<u8> {
    postcard::to_stdvec(d).unwrap()
}

/// A log kept as a changelog keeps it: each checkpoint appends what arrived
/// since the one before and drops the segments wholly forgotten; restored
/// after every step, it is the live memory, run for run.
#[test]
fn a_log_of_tails_restores_the_memory_after_every_checkpoint() {
    let mut live = Dedup::default();
    let mut log: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let mut logged = 0u64;
    let mut id = 0u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for step in 0..60 {
        // Some ids over some event time (several in one second, seconds
        // split between checkpoints), then the horizon moves.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = x % 400;
        for _ in 0..n {
            id += 1;
            assert!(live.insert(&format!("ev-{id}"), (id * 7) as i64));
        }
        if step % 3 == 0 {
            live.expire((id * 7) as i64 - 5_000);
        }
        let mut frozen = live.freeze_into(FrozenDedup::default(), DedupCopy::LogFrom(logged));
        let tail = frozen.take_tail().unwrap();
        assert_eq!(tail.mark.epoch, live.log_epoch());
        assert_eq!(tail.mark.base, live.base);
        logged = tail.mark.first + tail.count;
        assert_eq!(logged, live.base + live.len() as u64);
        if tail.count > 0 {
            log.push((tail.mark.first, tail.count, tail.body));
        }
        // A segment is kept while any of its ids is remembered.
        log.retain(|(first, count, _)| first + count > tail.mark.base);
        let segments: Vec<Segment<'_>> = log.iter().map(|(f, _, b)| (*f, b.as_slice())).collect();
        let back = Dedup::from_log(tail.mark.epoch, tail.mark.base, &segments).unwrap();
        assert_eq!(inline(&back), inline(&live), "step {step}");
        assert_eq!((back.base, back.epoch), (live.base, live.epoch));
    }
    assert!(live.base > 0, "the test forgot nothing");
    // What was forgotten is new again; what is remembered is not.
    let segments: Vec<Segment<'_>> = log.iter().map(|(f, _, b)| (*f, b.as_slice())).collect();
    let mut back = Dedup::from_log(live.epoch, live.base, &segments).unwrap();
    assert!(back.insert("ev-1", 1 << 40));
    assert!(!back.insert(&format!("ev-{id}"), 1 << 40));
}

/// A copy from a number before the oldest id remembered (a log that
/// starts over, `LogFrom(0)`) holds every id remembered; one from the
/// end holds none.
#[test]
fn a_copy_from_before_the_memory_holds_all_of_it() {
    let mut d = Dedup::default();
    for i in 0..100 {
        d.insert(&format!("e{i}"), i * 100);
    }
    d.expire(3_000);
    assert_eq!(d.base, 30);
    let all = d
        .freeze_into(FrozenDedup::default(), DedupCopy::LogFrom(0))
        .take_tail()
        .unwrap();
    assert_eq!((all.mark.first, all.count), (30, 70));
    let back = Dedup::from_log(d.epoch, 30, &[(30, &all.body)]).unwrap();
    assert_eq!(inline(&back), inline(&d));
    let none = d
        .freeze_into(FrozenDedup::default(), DedupCopy::LogFrom(100))
        .take_tail()
        .unwrap();
    assert_eq!((none.mark.first, none.count), (100, 0));
    // An inline copy has no log, and a logged one writes an empty memory
    // into the state.
    let mut inl = d.freeze_into(FrozenDedup::default(), DedupCopy::Inline);
    assert!(inl.take_tail().is_none());
    let mut logged = d.freeze_into(FrozenDedup::default(), DedupCopy::LogFrom(0));
    assert!(logged.take_tail().is_some());
    assert!(logged.take_tail().is_none(), "a segment is taken once");
    let empty: Dedup =
        postcard::from_bytes(&postcard::to_stdvec(&logged.written(6)).unwrap()).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn a_log_that_does_not_add_up_is_an_error() {
    let mut d = Dedup::default();
    for i in 0..10 {
        d.insert(&format!("e{i}"), i * 1000);
    }
    let tail = |from| {
        d.freeze_into(FrozenDedup::default(), DedupCopy::LogFrom(from))
            .take_tail()
            .unwrap()
            .body
    };
    let (all, last4) = (tail(0), tail(6));
    let err = |base, segs: &[Segment<'_>]| Dedup::from_log(1, base, segs).unwrap_err();
    assert!(err(0, &[(0, &all), (11, &last4)])
        .contains("segment 1 starts at id 11, the one before ends at 10"));
    assert!(err(11, &[(0, &all)]).contains("the oldest id remembered is 11, the log holds 0 to 10"));
    assert!(err(0, &[(6, &last4)]).contains("the log holds 6 to 10"));
    assert!(err(0, &[(0, &all[..all.len() - 3])]).contains("not whole 8-byte hashes"));
    assert!(err(0, &[(0, &all[..2])]).contains("cut short"));
    let mut short = all.clone();
    short.truncate(all.len() - 8);
    assert!(err(0, &[(0, &short)]).contains("segment 0 holds 9 ids, 10 in its runs"));
    // The same ids twice.
    assert!(err(0, &[(0, &all), (10, &all)]).contains("remembered twice"));
    // Within the log, any base from its first id to its end.
    assert_eq!(Dedup::from_log(1, 6, &[(0, &all)]).unwrap().len(), 4);
}

#[test]
fn a_state_takes_a_logged_memory_only_in_place_of_an_empty_one() {
    let cfg = crate::config::Config::parse("").unwrap();
    let mut st = crate::engine::Engine::new(&cfg).state().clone();
    let mut d = Dedup::default();
    d.insert("x", 0);
    st.adopt_dedup(d.clone()).unwrap();
    let e = st.adopt_dedup(d).unwrap_err();
    assert!(e.contains("holds 1 dedup ids of its own"), "{e}");
}
