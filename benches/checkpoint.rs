//! What checkpoints cost at one million open tickets: bytes per open
//! ticket of the encoded state, encode and decode times, the apply rate with
//! a checkpoint every 10 s against none (two engines fed side by side in
//! alternating batches, so the machine's drift hits both alike), and — with
//! a broker in FRONTLINE_BENCH_KAFKA (`make bench` starts one) — the write
//! and the restore of the state through the changelog topic; and a dedup
//! memory of an hour's event ids as format 6 logs it against format 5's
//! copy of all of it in every checkpoint (the copy and encode a checkpoint
//! costs; with a broker, its restore); a checkpoint of the changes
//! since the last one (format 7) against a whole one; and a whole one
//! written from a mirror against one copied whole. Figures, not assertions
//! (docs/performance.md, "Checkpoints").
//!
//!     cargo bench --bench checkpoint

use std::time::{Duration, Instant};

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::status_bytes;

use frontline::checkpoint::kafka::Changelog;
use frontline::checkpoint::{
    decode_restored, decode_state, encode_frozen, encode_frozen_into, encode_mirrored_into,
    encode_state, Meta, FORMAT_VERSION,
};
use frontline::config::Config;
use frontline::engine::{DedupCopy, Engine, Mirror, Spare};
use frontline::event::{AgentStatus, Body, Channel, Event, Id, Priority, TicketStatus};
use frontline::huge_pages::HugePageAlloc;

/// The binary's allocator, so the state and its copies live where they do
/// in `frontline`.
#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc;

const N: usize = 1_000_000;
/// Monday 2026-11-16 08:00Z.
const T0: i64 = 1_794_816_000_000;
/// Events applied to one engine before the other gets its turn.
const BATCH: usize = 50_000;
/// Wall time between checkpoints, as `checkpoint.interval` defaults to.
const INTERVAL: Duration = Duration::from_secs(10);
/// Rounds of the overhead measurement (each one checkpoint interval).
const ROUNDS: usize = 5;

fn id(prefix: &str, i: usize) -> Id {
    format!("{prefix}-{i:08}").into()
}

fn created(i: usize) -> Event {
    let queues = ["billing", "tech", "sales", "returns"];
    let channels = [Channel::Email, Channel::Chat, Channel::Web];
    Event {
        id: id("c", i),
        ts: T0 + (i as i64) * 10,
        body: Body::TicketCreated {
            ticket: id("T", i),
            customer: id("C", i),
            channel: channels[i % 3],
            priority: if i.is_multiple_of(10) {
                Priority::Urgent
            } else {
                Priority::Normal
            },
            queue: Some(queues[i % 4].into()),
            category: None,
        },
    }
}

/// The k-th follow-up: replies, customer messages, pending/open, on the
/// open tickets, so the number of open tickets stays a million.
fn follow_up(k: usize) -> Event {
    let t = id("T", (k * 7919) % N);
    let body = match k % 4 {
        0 => Body::TicketAgentReplied {
            ticket: t,
            agent: "A1".into(),
            public: true,
        },
        1 => Body::TicketCustomerReplied { ticket: t },
        2 => Body::TicketStatusChanged {
            ticket: t,
            status: TicketStatus::Pending,
        },
        _ => Body::TicketStatusChanged {
            ticket: t,
            status: TicketStatus::Open,
        },
    };
    Event {
        id: id("f", k),
        ts: T0 + (N as i64) * 10 + (k as i64) * 10,
        body,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn engine(cfg: &Config) -> Engine {
    let mut e = Engine::new(cfg);
    for i in 0..N {
        e.apply(created(i));
    }
    e
}

/// Checkpoints an hour of ids is written in (one every 10 s).
const SEGMENTS: usize = 360;
/// Ids a checkpoint adds (1 000 events/s on the partition).
const PER_SEGMENT: usize = 10_000;

/// An event that leaves nothing but its id in the state.
fn status(k: usize) -> Event {
    Event {
        id: id("s", k),
        ts: T0 + k as i64 / 10,
        body: Body::AgentStatusChanged {
            agent: id("A", k % 50),
            status: if k.is_multiple_of(2) {
                AgentStatus::Available
            } else {
                AgentStatus::Busy
            },
            queue: None,
        },
    }
}

/// An hour of ids (SEGMENTS × PER_SEGMENT): a checkpoint's copy and
/// encode with the memory inline (format 5) and as a log (format 6, the
/// last interval's ids), alternately; with a broker, the log written
/// checkpoint by checkpoint and its restore against the inline one's.
fn dedup_memory(cfg: &Config, rt: &tokio::runtime::Runtime, broker: Option<&str>) {
    let logs = broker.map(|_| {
        let mut c6 = cfg.clone();
        c6.checkpoint.topic = Some(format!("bench-dedup-log-{}", std::process::id()));
        let mut c5 = c6.clone();
        c5.checkpoint.topic = Some(format!("bench-dedup-inline-{}", std::process::id()));
        c5.checkpoint.write_format = 5;
        let open = |c: &Config| rt.block_on(Changelog::open(c, 1)).expect("changelog");
        (open(&c6), open(&c5))
    });
    let meta = |topic: &str, generation: u64| Meta {
        topic: topic.into(),
        partition: 0,
        next_offset: generation as i64,
        generation,
        writer: "bench".into(),
        wall_ms: 0,
        last_event_wall_ms: None,
        shape: None,
        group: None,
    };
    let mut e = Engine::new(cfg);
    let ids = SEGMENTS * PER_SEGMENT;
    let t = Instant::now();
    for s in 0..SEGMENTS {
        for k in s * PER_SEGMENT..(s + 1) * PER_SEGMENT {
            e.apply(status(k));
        }
        let Some((log, _)) = &logs else { continue };
        // As a worker asks: the log starts over at MAX_SEGMENTS.
        let copy = log.dedup_copy("dedup-log", 0, e.state().dedup_epoch());
        let mut f = e.state().freeze_with(None, copy);
        let tail = f.take_dedup_tail().expect("a segment");
        let b = encode_frozen(&f, FORMAT_VERSION).expect("encode");
        let m = meta("dedup-log", s as u64 + 1);
        rt.block_on(log.write_logged(&m, &b, Some(&tail)))
            .expect("write");
    }
    eprintln!(
        "{ids} ids applied{} in {:.1} s",
        if logs.is_some() { " and logged" } else { "" },
        t.elapsed().as_secs_f64()
    );
    // The last interval's ids (every id is remembered: they span six
    // minutes of event time, the horizon is an hour).
    let last = (ids - PER_SEGMENT) as u64;
    let (mut inline, mut as_log) = (Vec::new(), Vec::new());
    let (mut inline_len, mut log_len) = (0, 0);
    for round in 0..6 {
        for log in [round % 2 == 0, round % 2 == 1] {
            let t = Instant::now();
            let copy = if log {
                DedupCopy::LogFrom(last)
            } else {
                DedupCopy::Inline
            };
            let mut f = e.state().freeze_with(None, copy);
            let tail = f.take_dedup_tail();
            let b = encode_frozen(&f, if log { FORMAT_VERSION } else { 5 }).expect("encode");
            let secs = t.elapsed().as_secs_f64();
            let len = b.len() + tail.map_or(0, |t| t.body.len());
            if log {
                as_log.push(secs);
                log_len = len;
            } else {
                inline.push(secs);
                inline_len = len;
            }
        }
    }
    println!(
        "{ids} dedup ids, one checkpoint's copy + encode: inline (format 5) {:.1} ms, {inline_len} bytes; \
         logged (format 6, the last {PER_SEGMENT} ids) {:.2} ms, {log_len} bytes (medians of 6, alternating)",
        median(&mut inline) * 1e3,
        median(&mut as_log) * 1e3,
    );
    let Some((log, flat)) = &logs else { return };
    let bytes = encode_frozen(&e.state().freeze(), 5).expect("encode");
    rt.block_on(flat.write(&meta("dedup-inline", 1), &bytes))
        .expect("write");
    let (mut r5, mut r6) = (Vec::new(), Vec::new());
    for round in 0..6 {
        for logged in [round % 2 == 0, round % 2 == 1] {
            let (cl, topic) = if logged {
                (log, "dedup-log")
            } else {
                (flat, "dedup-inline")
            };
            let t = Instant::now();
            let r = cl
                .restore(topic, 0, Duration::from_secs(120))
                .expect("restore");
            let (_, b) = r.found.as_ref().expect("a checkpoint");
            let st = decode_restored(b, r.dedup.as_ref()).expect("decode");
            if logged { &mut r6 } else { &mut r5 }.push(t.elapsed().as_secs_f64());
            std::hint::black_box(st);
        }
    }
    println!(
        "restore of {ids} dedup ids (read + decode): inline {:.2} s, as a log written in {SEGMENTS} checkpoints {:.2} s (medians of 6, alternating)",
        median(&mut r5),
        median(&mut r6)
    );
}

/// Follow-ups between two checkpoints in [`changes`]: a partition at
/// 10 000 and at 50 000 events/s over the 10 s interval.
const CHANGED: [usize; 2] = [100_000, 500_000];

/// A checkpoint of the changes since the last one (format 7) against a
/// whole one, at a million open tickets after CHANGED follow-ups: the
/// copy on the applying thread, the encode and the bytes, alternately in
/// one engine (each copy, whole or not, starts the changes over).
fn changes(cfg: &Config) {
    let mut e = engine(cfg);
    e.state_mut().track_changes();
    let mut k = 0usize;
    for n in CHANGED {
        let mut m: [[Vec<f64>; 2]; 2] = Default::default();
        let mut len = [0usize; 2];
        for round in 0..6 {
            let whole = round % 2 == 0;
            for j in 0..n {
                e.apply(follow_up(k + j));
            }
            k += n;
            let st = e.state_mut();
            let t = Instant::now();
            let frozen = if whole {
                st.freeze_whole(None, DedupCopy::Inline)
            } else {
                st.freeze_changes(None, DedupCopy::Inline)
            };
            let copy = t.elapsed().as_secs_f64();
            assert_eq!(frozen.is_changes(), !whole);
            let t = Instant::now();
            let b = encode_frozen(&frozen, FORMAT_VERSION).expect("encode");
            let i = usize::from(!whole);
            m[i][0].push(copy);
            m[i][1].push(t.elapsed().as_secs_f64());
            len[i] = b.len();
        }
        let ms = |v: &mut Vec<f64>| median(v) * 1e3;
        let [[wc, we], [cc, ce]] = &mut m;
        let (wc, we, cc, ce) = (ms(wc), ms(we), ms(cc), ms(ce));
        println!(
            "1M open tickets, {n} follow-ups since the last checkpoint: whole copy {wc:.0} ms + encode {we:.0} ms, {} bytes; \
             changes copy {cc:.1} ms + encode {ce:.1} ms, {} bytes ({:.1}× less copy, {:.1}× fewer bytes; medians of 3, alternating)",
            len[0],
            len[1],
            wc / cc,
            len[0] as f64 / len[1] as f64
        );
    }
}

/// A whole checkpoint at a million open tickets, CHANGED[0] follow-ups
/// after the copy before: copied whole from the engine's tables on the
/// applying thread, against copied as changes there and written whole
/// from a mirror of the tables that follows each copy on the encoding
/// thread (`engine::Mirror`); alternately in one engine, the mirror
/// following every copy of either kind. A checkpoint from the mirror
/// encodes to as many bytes as the engine's state (the same entries, in
/// another order).
fn mirror(cfg: &Config) {
    let n = CHANGED[0];
    let mut e = engine(cfg);
    let before = status_bytes("VmRSS");
    let mut first = e.state_mut().freeze_whole(None, DedupCopy::Inline);
    let mut m = Mirror::of_whole(&mut first).expect("a whole copy");
    drop(first);
    let mirror_bytes = status_bytes("VmRSS").saturating_sub(before);
    let mut k = 0usize;
    // [engine, mirror] × [copy, follow, encode]
    let mut t: [[Vec<f64>; 3]; 2] = Default::default();
    let mut len = [0usize; 2];
    for round in 0..6 {
        let from_mirror = round % 2 == 1;
        for j in 0..n {
            e.apply(follow_up(k + j));
        }
        k += n;
        let st = e.state_mut();
        let t0 = Instant::now();
        let mut frozen = if from_mirror {
            st.freeze_changes(None, DedupCopy::Inline)
        } else {
            st.freeze_whole(None, DedupCopy::Inline)
        };
        let copy = t0.elapsed().as_secs_f64();
        let (follow, encode, b) = if from_mirror {
            let t1 = Instant::now();
            assert!(m.follow(&mut frozen));
            let follow = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let b = encode_mirrored_into(&frozen, &m, FORMAT_VERSION, Vec::new()).expect("encode");
            let encode = t2.elapsed().as_secs_f64();
            let direct = encode_state(e.state()).expect("encode");
            assert_eq!(b.len(), direct.len(), "the state, in another order");
            (follow, encode, b)
        } else {
            let t2 = Instant::now();
            let b = encode_frozen(&frozen, FORMAT_VERSION).expect("encode");
            let encode = t2.elapsed().as_secs_f64();
            // The mirror follows this copy too (a whole one: anew).
            m = Mirror::of_whole(&mut frozen).expect("a whole copy");
            (0.0, encode, b)
        };
        let i = usize::from(from_mirror);
        for (v, x) in t[i].iter_mut().zip([copy, follow, encode]) {
            v.push(x);
        }
        len[i] = b.len();
    }
    let ms = |v: &mut Vec<f64>| median(v) * 1e3;
    let [[ec, _, ee], [mc, mf, me]] = &mut t;
    let (ec, ee, mc, mf, me) = (ms(ec), ms(ee), ms(mc), ms(mf), ms(me));
    println!(
        "whole checkpoint, 1M open tickets, {n} follow-ups since the last copy: from the engine's tables: \
         copy {ec:.0} ms (applying thread) + encode {ee:.0} ms; from the mirror: copy {mc:.1} ms (applying thread) \
         + follow {mf:.1} ms + encode {me:.0} ms (encoding thread); {} and {} bytes; the partition held {:.1}× shorter \
         (medians of 3, alternating); the mirror took {} MB resident",
        len[0],
        len[1],
        ec / mc,
        mirror_bytes >> 20
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("checkpoint bench: run with `cargo bench --bench checkpoint`");
        return;
    }
    let broker = std::env::var("FRONTLINE_BENCH_KAFKA").ok();
    let topic = format!("bench-checkpoint-{}", std::process::id());
    let mut sets = vec![format!("checkpoint.topic=\"{topic}\"")];
    if let Some(b) = &broker {
        sets.push(format!("kafka.bootstrap.servers=\"{b}\""));
    }
    let cfg = Config::load_with(None, std::iter::empty(), &sets).expect("valid config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let changelog = broker
        .as_ref()
        .map(|_| std::sync::Arc::new(rt.block_on(Changelog::open(&cfg, 1)).expect("changelog")));

    dedup_memory(&cfg, &rt, broker.as_deref());

    let mut engines = [engine(&cfg), engine(&cfg)];
    let meta = |generation: u64, next_offset: i64| Meta {
        topic: "support-events".into(),
        partition: 0,
        next_offset,
        generation,
        writer: "bench".into(),
        wall_ms: 0,
        last_event_wall_ms: None,
        shape: None,
        group: None,
    };

    // Size, encode, decode.
    let (mut enc, mut dec, mut frz) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        bytes = encode_state(engines[0].state()).expect("encode");
        enc.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let frozen = engines[0].state().freeze();
        frz.push(t.elapsed().as_secs_f64());
        drop(frozen);
        let t = Instant::now();
        let st = decode_state(&bytes).expect("decode");
        let restored = Engine::from_state(&cfg, st);
        dec.push(t.elapsed().as_secs_f64());
        std::hint::black_box(restored);
    }
    println!(
        "1M open tickets: {} bytes encoded, {:.1} B per open ticket; encode {:.0} ms, decode + restore engine {:.0} ms; \
         freeze (the copy a live partition encodes off its thread) {:.0} ms (medians of 3)",
        bytes.len(),
        bytes.len() as f64 / N as f64,
        median(&mut enc) * 1e3,
        median(&mut dec) * 1e3,
        median(&mut frz) * 1e3
    );

    // The copy itself into new memory (as before a partition kept the
    // allocations of its last copy) against into the emptied allocations
    // of the previous one (as a partition now takes it), alternately.
    let (mut fresh, mut reused) = (Vec::new(), Vec::new());
    let mut spare = Some(engines[0].state().freeze().into_spare());
    for round in 0..6 {
        for reuse in [round % 2 == 0, round % 2 == 1] {
            let t = Instant::now();
            let frozen = if reuse {
                engines[0].state().freeze_reusing(spare.take())
            } else {
                engines[0].state().freeze()
            };
            let secs = t.elapsed().as_secs_f64();
            if reuse {
                reused.push(secs);
                spare = Some(frozen.into_spare());
            } else {
                fresh.push(secs);
                drop(frozen);
            }
        }
    }
    drop(spare);
    let (f, r) = (median(&mut fresh), median(&mut reused));
    println!(
        "freeze into new memory {:.0} ms, into the last copy's allocations {:.0} ms ({:.2}×; medians of 6, alternating)",
        f * 1e3,
        r * 1e3,
        f / r
    );

    // The frozen copy's encode as a live partition runs it: into a buffer
    // of the previous checkpoint's size and an eighth (what the worker
    // hands the encoder) against a buffer grown from empty, alternately.
    let (mut grown, mut sized) = (Vec::new(), Vec::new());
    let frozen = engines[0].state().freeze();
    let hint = bytes.len() + bytes.len() / 8;
    for round in 0..5 {
        for presized in [round % 2 == 0, round % 2 == 1] {
            let t = Instant::now();
            let b = if presized {
                encode_frozen_into(&frozen, FORMAT_VERSION, Vec::with_capacity(hint))
            } else {
                encode_frozen(&frozen, FORMAT_VERSION)
            }
            .expect("encode");
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(b, bytes, "the frozen copy encodes to the state's bytes");
            drop(std::hint::black_box(b));
            if presized { &mut sized } else { &mut grown }.push(secs);
        }
    }
    drop(frozen);
    let (g, z) = (median(&mut grown), median(&mut sized));
    println!(
        "encode of the frozen copy: into a growing buffer {:.0} ms, into one of the last size {:.0} ms ({:.2}×; medians of 5, alternating)",
        g * 1e3,
        z * 1e3,
        g / z
    );

    changes(&cfg);
    mirror(&cfg);

    // Through Kafka: write, then restore (read + decode + engine).
    if let Some(cl) = &changelog {
        let (mut w, mut r) = (Vec::new(), Vec::new());
        for g in 1..=3u64 {
            let t = Instant::now();
            rt.block_on(cl.write(&meta(g, g as i64), &bytes))
                .expect("write");
            w.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let got = cl
                .restore("support-events", 0, Duration::from_secs(60))
                .expect("restore");
            let (m, b) = got.found.expect("a checkpoint");
            assert_eq!(m.generation, g);
            let restored = Engine::from_state(&cfg, decode_state(&b).expect("decode"));
            r.push(t.elapsed().as_secs_f64());
            std::hint::black_box(restored);
        }
        println!(
            "through the changelog topic: write {:.2} s, restore (read + decode + engine) {:.2} s (medians of 3)",
            median(&mut w),
            median(&mut r)
        );
    }

    // Overhead: engine 0 never checkpoints, engine 1 does every INTERVAL of
    // its own apply time (a frozen copy taken on the applying thread, its
    // encode and write in the background, as a live worker does).
    let mut k = 0usize;
    let mut ratios = Vec::new();
    let mut pending: Option<tokio::task::JoinHandle<(Option<Spare>, usize)>> = None;
    for round in 0..ROUNDS {
        let mut secs = [0.0f64; 2];
        let mut events = [0usize; 2];
        while secs[1] < INTERVAL.as_secs_f64() {
            for i in [round % 2, 1 - round % 2] {
                let t = Instant::now();
                for j in 0..BATCH {
                    engines[i].apply(follow_up(k + j));
                }
                secs[i] += t.elapsed().as_secs_f64();
                events[i] += BATCH;
            }
            k += BATCH;
        }
        // The interval is over: engine 1 checkpoints, once the previous
        // write is done (as a worker: one in flight), into the previous
        // copy's allocations and with room for the previous encoding.
        let (spare, last) = match pending.take() {
            Some(p) => rt.block_on(p).expect("written"),
            None => (None, 0),
        };
        let t = Instant::now();
        let frozen = engines[1].state().freeze_reusing(spare);
        secs[1] += t.elapsed().as_secs_f64();
        let cl = changelog.clone();
        let m = meta(10 + round as u64, k as i64);
        pending = Some(rt.spawn(async move {
            let (b, spare) = tokio::task::spawn_blocking(move || {
                let out = Vec::with_capacity(last + last / 8);
                let b = encode_frozen_into(&frozen, FORMAT_VERSION, out).expect("encode");
                (b, frozen.into_spare())
            })
            .await
            .expect("encoded");
            let len = b.len();
            match cl {
                Some(cl) => cl.write(&m, &b).await.expect("write"),
                None => drop(std::hint::black_box(b)),
            }
            (Some(spare), len)
        }));
        let rate = |i: usize| events[i] as f64 / secs[i];
        let ratio = rate(1) / rate(0);
        eprintln!(
            "round {round}: {:.0} ev/s without checkpoints, {:.0} with, ratio {ratio:.3}",
            rate(0),
            rate(1)
        );
        ratios.push(ratio);
    }
    if let Some(p) = pending.take() {
        let _ = rt.block_on(p);
    }
    println!(
        "apply with a checkpoint every 10 s / without: {:.3} (median of {ROUNDS} rounds{})",
        median(&mut ratios),
        if changelog.is_some() {
            ", writes to the broker included"
        } else {
            "; encodes in the background, no broker"
        }
    );
}
