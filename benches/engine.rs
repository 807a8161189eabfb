//! Throughput of decoding and applying events, and bytes of engine state per
//! open ticket. See docs/performance.md for what the figures mean.
//!
//! `cargo bench --bench engine` prints the state figures first (outside any
//! timing), then runs the criterion benchmarks. Under `cargo test` the same
//! code runs once on small inputs, as a smoke test.

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::thread_cpu;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::Engine;
use frontline::event::Event;
use frontline::metrics::{Snapshot, Value};

#[path = "corpus.rs"]
mod corpus;

use corpus::{Corpus, Params, StateLines};

/// `limits.max_event_bytes` default.
const MAX_BYTES: usize = 64 * 1024;

// ---- a counting allocator ------------------------------------------------

/// The system allocator, counting live bytes while [`COUNTING`] is on. Off,
/// it costs one relaxed load per call, so the timed benchmarks run with it off.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes requested and not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The same in glibc malloc chunks (header and 16-byte rounding included).
static CHUNKS: AtomicIsize = AtomicIsize::new(0);
/// Live allocations.
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

/// A glibc malloc chunk's size for a request (x86-64: 8-byte header,
/// 16-byte granularity, 32-byte minimum). Large requests are mmapped and
/// page-rounded, which this ignores (it is < 0.1 % of them).
fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

fn count(size: usize, sign: isize) {
    LIVE.fetch_add(sign * size as isize, Relaxed);
    CHUNKS.fetch_add(sign * chunk(size), Relaxed);
    BLOCKS.fetch_add(sign, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() && COUNTING.load(Relaxed) {
            count(l.size(), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() && COUNTING.load(Relaxed) {
            count(l.size(), 1);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        if COUNTING.load(Relaxed) {
            count(l.size(), -1);
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() && COUNTING.load(Relaxed) {
            count(l.size(), -1);
            count(new, 1);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap in use at one moment, by three measures.
#[derive(Clone, Copy, Debug)]
struct Heap {
    live: isize,
    chunks: isize,
    blocks: isize,
    rss: isize,
}

impl Heap {
    fn now() -> Heap {
        Heap {
            live: LIVE.load(Relaxed),
            chunks: CHUNKS.load(Relaxed),
            blocks: BLOCKS.load(Relaxed),
            rss: rss(),
        }
    }

    fn since(self, base: Heap) -> Heap {
        Heap {
            live: self.live - base.live,
            chunks: self.chunks - base.chunks,
            blocks: self.blocks - base.blocks,
            rss: self.rss - base.rss,
        }
    }
}

/// Resident set size from `/proc/self/statm` (0 where there is none).
fn rss() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map_or(0, |pages| pages * 4096)
}

// ---- bytes of state per open ticket ---------------------------------------

/// A fresh engine grown by `n` lines; returns its growth and state entries.
fn grow(
    n: u64,
    seed: u64,
    mut line: impl FnMut(&mut StateLines, u64) -> &[u8],
    mut at: impl FnMut(u64, Heap),
) -> (Heap, Duration, Vec<(String, u64)>) {
    let mut lines = StateLines::new(seed);
    let cfg = Config::default();
    let mut engine = Engine::new(&cfg);
    let base = Heap::now();
    let start = Instant::now();
    for i in 0..n {
        let ev = decode(line(&mut lines, i), MAX_BYTES).expect("generated lines are valid");
        engine.apply(ev);
        if (i + 1) % 100_000 == 0 {
            at(i + 1, Heap::now().since(base));
        }
    }
    let took = start.elapsed();
    let grown = Heap::now().since(base);
    let entries = state_entries(&mut engine);
    (grown, took, entries)
}

/// `frontline_state_entries` by kind, skipping zeros.
fn state_entries(engine: &mut Engine) -> Vec<(String, u64)> {
    let snap: Snapshot = engine.snapshot(None);
    let Some(f) = snap.get("frontline_state_entries") else {
        return Vec::new();
    };
    f.series
        .iter()
        .filter_map(|s| match s.value {
            Value::Int(n) if n > 0 => Some((s.labels[0].1.to_string(), n)),
            _ => None,
        })
        .collect()
}

fn per(bytes: isize, n: u64) -> f64 {
    bytes as f64 / n as f64
}

fn entries(e: &[(String, u64)]) -> String {
    e.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints the bytes of state per open ticket and its parts.
///
/// Four fresh engines, `n` lines each, 1 ms of event time apart (so the
/// dedup memory keeps every id, as within any one hour of traffic):
/// A. `ticket.created`, every ticket by a different customer (the figure);
/// B. `ticket.created`, two tickets per customer;
/// C. `survey.nps`: no entity state, so only the dedup memory grows;
/// D. `customer.subscribed`: a customer entry without contacts.
///
/// A customer's first contact is stored inline in its map entry, so per
/// ticket A = dedup + ticket + customer and D = dedup + customer:
/// ticket = A − D; customer = D − C; dedup = C. B shows what a customer's
/// second contact costs (it moves the contacts to the heap).
fn state_report(n: u64) {
    COUNTING.store(true, Relaxed);
    println!("state: applying {n} ticket.created (distinct tickets and customers) …");
    let (a, took, a_entries) = grow(
        n,
        1,
        |l, i| l.ticket_created(i, i),
        |i, h| {
            if (n >= 500_000 && i % 250_000 == 0) || i == 900_000 {
                println!(
                    "state:   after {i:>8}: {:>11} bytes live, {:6.1} bytes/ticket",
                    h.live,
                    per(h.live, i)
                );
            }
        },
    );
    println!(
        "state: {n} open tickets, {} bytes live, {:.1} bytes/ticket \
         (glibc chunks {:.1}, RSS {:.1}; {:.2} allocations/ticket; \
         {:.2} s including line generation and allocation counting)",
        a.live,
        per(a.live, n),
        per(a.chunks, n),
        per(a.rss, n),
        a.blocks as f64 / n as f64,
        took.as_secs_f64(),
    );
    println!("state:   entries: {}", entries(&a_entries));
    let (b, _, b_entries) = grow(n, 2, |l, i| l.ticket_created(i, i / 2), |_, _| {});
    println!(
        "state:   two tickets per customer: {:.1} bytes/ticket ({})",
        per(b.live, n),
        entries(&b_entries)
    );
    let (c, _, c_entries) = grow(n, 3, |l, i| l.nps(i), |_, _| {});
    println!(
        "state:   survey.nps only: {:.1} bytes/event ({})",
        per(c.live, n),
        entries(&c_entries)
    );
    let (d, _, d_entries) = grow(n, 4, |l, i| l.subscribed(i), |_, _| {});
    println!(
        "state:   customer.subscribed only: {:.1} bytes/customer ({})",
        per(d.live, n),
        entries(&d_entries)
    );
    COUNTING.store(false, Relaxed);

    let dedup = per(c.live, n);
    let customer = per(d.live - c.live, n);
    let ticket = per(a.live - d.live, n);
    println!("state: per open ticket, by component (live bytes):");
    println!("state:   ticket map entry (slot + id):          {ticket:7.1}");
    println!("state:   customer map entry (first contact inline): {customer:7.1}");
    println!("state:   dedup memory (per event id in horizon): {dedup:7.1}");
    println!(
        "state:   total:                                  {:7.1}",
        per(a.live, n)
    );
}

// ---- throughput --------------------------------------------------------------

fn print_corpus(c: &Corpus) {
    let hours = (c.span.1 - c.span.0) as f64 / 3_600_000.0;
    println!(
        "corpus: {} events, {} bytes ({:.0} bytes/event), {:.1} h of event time",
        c.len(),
        c.bytes.len(),
        c.bytes.len() as f64 / c.len() as f64,
        hours
    );
    let mut mix = c.mix.clone();
    mix.sort_by_key(|m| std::cmp::Reverse(m.1));
    let mix: Vec<String> = mix
        .iter()
        .map(|(t, n)| format!("{t} {:.1}%", 100.0 * *n as f64 / c.len() as f64))
        .collect();
    println!("corpus: {}", mix.join(", "));
    println!(
        "corpus: an Event is {} bytes plus its id strings on the heap",
        std::mem::size_of::<Event>()
    );
}

/// Decodes the corpus (every line must be valid) and reports what applying
/// it leaves behind, so the corpus's own health is visible.
fn decoded(c: &Corpus) -> Vec<Event> {
    let events: Vec<Event> = c
        .iter()
        .map(|l| {
            decode(l, MAX_BYTES).unwrap_or_else(|e| {
                panic!(
                    "corpus line is invalid: {e}: {}",
                    String::from_utf8_lossy(l)
                )
            })
        })
        .collect();
    let mut engine = Engine::new(&Config::default());
    for ev in events.iter().cloned() {
        engine.apply(ev);
    }
    engine.flush();
    let snap = engine.snapshot(None);
    let total = |name: &str| -> u64 {
        snap.get(name).map_or(0, |f| {
            f.series
                .iter()
                .map(|s| match s.value {
                    Value::Int(n) => n,
                    _ => 0,
                })
                .sum()
        })
    };
    let by_type = |name: &str| -> String {
        let Some(f) = snap.get(name) else {
            return String::new();
        };
        f.series
            .iter()
            .filter_map(|s| match s.value {
                Value::Int(n) if n > 0 => Some(format!("{} {n}", s.labels[0].1)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "corpus: after applying: {}; late {}, duplicates {}, out-of-order {} ({})",
        entries(&state_entries(&mut engine)),
        total("frontline_late_events"),
        total("frontline_duplicate_events"),
        total("frontline_out_of_order_events"),
        by_type("frontline_out_of_order_events"),
    );
    events
}

/// `[agents] per_agent_metrics`: the series and exposition bytes it adds
/// per agent, and apply throughput with it on against off, measured in
/// alternating rounds so that drift of the machine hits both alike.
fn per_agent_report(corpus: &Corpus, events: &[Event], rounds: usize) {
    let off = Config::default();
    let on = Config::parse("[agents]\nper_agent_metrics = true\n").expect("valid config");
    // Wall time and this thread's CPU time: on a machine shared with other
    // work, CPU time leaves out the time the thread waited for a core.
    // Decode and apply, as the process does (an event's strings are in
    // cache when it is applied, as they are after decoding; pre-decoded
    // copies would make every string the option reads a cache miss the
    // process does not have). The first half of the corpus warms the
    // engine up untimed (its state, its labels, the first credit of each
    // per-agent cell, which a fresh engine pays once); the second half is
    // timed: the steady state of a running process.
    let lines: Vec<&[u8]> = corpus.iter().collect();
    let half = lines.len() / 2;
    let feed = |engine: &mut Engine, lines: &[&[u8]]| {
        for l in lines {
            engine.apply(decode(l, MAX_BYTES).expect("the corpus is valid"));
        }
    };
    let run = |cfg: &Config| -> ((Duration, Duration), Engine) {
        let mut engine = Engine::new(cfg);
        feed(&mut engine, &lines[..half]);
        let (t, c) = (Instant::now(), thread_cpu());
        feed(&mut engine, &lines[half..]);
        ((t.elapsed(), thread_cpu() - c), engine)
    };
    let agent_families = |engine: &mut Engine| -> (usize, usize, usize) {
        engine.flush();
        let snap = engine.snapshot(None);
        let text = frontline::export::prometheus_text(std::sync::Arc::new(snap));
        let mut agents = std::collections::BTreeSet::new();
        let (mut series, mut bytes) = (0, 0);
        for line in text.lines() {
            if line.starts_with("support_agent_") && !line.starts_with("support_agent_status") {
                series += 1;
                bytes += line.len() + 1;
                if let Some(a) = line.split("agent=\"").nth(1) {
                    agents.insert(a.split('"').next().unwrap_or("").to_string());
                }
            }
        }
        (series, bytes, agents.len())
    };
    // State bytes the side maps add: live heap of an engine after the corpus.
    let live = |cfg: &Config| -> (isize, u64) {
        let events = events.to_vec();
        COUNTING.store(true, Relaxed);
        let base = Heap::now();
        let mut engine = Engine::new(cfg);
        for ev in events {
            engine.apply(ev);
        }
        let grown = Heap::now().since(base).live;
        COUNTING.store(false, Relaxed);
        let open = state_entries(&mut engine)
            .iter()
            .filter(|(k, _)| k == "ticket" || k == "call")
            .map(|(_, n)| n)
            .sum();
        drop(engine);
        (grown, open)
    };
    let ((b_off, open), (b_on, _)) = (live(&off), live(&on));
    // Only the difference means something: both runs free the events'
    // strings, allocated before the counting started.
    println!(
        "per-agent: the option adds {} bytes of engine state: {:.1} per ticket or call in \
         state ({open})",
        b_on - b_off,
        (b_on - b_off) as f64 / open.max(1) as f64
    );
    let (_, mut e) = run(&on);
    let (series, bytes, agents) = agent_families(&mut e);
    println!(
        "per-agent: {series} series, {bytes} bytes of text exposition over {agents} agent \
         label values: {:.1} series and {:.0} bytes per agent",
        series as f64 / agents.max(1) as f64,
        bytes as f64 / agents.max(1) as f64
    );
    // Alternating rounds; each round's ratio compares runs made side by side.
    // Which of the two runs first alternates too: the second of two runs in
    // a row is slower by a few per cent whatever it runs (the off-against-
    // off control below measures it), so a round's ratio leans on its order,
    // and the ratio quoted is the median over pairs of consecutive rounds,
    // one of each order, of their geometric mean.
    let rounds: usize = std::env::var("FRONTLINE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(rounds)
        .max(2)
        .next_multiple_of(2);
    let mut off_on = Vec::with_capacity(rounds);
    let mut off_off = Vec::with_capacity(rounds);
    for i in 0..rounds {
        if i.is_multiple_of(2) {
            let a = run(&off).0;
            off_on.push((a, run(&on).0));
        } else {
            let b = run(&on).0;
            off_on.push((run(&off).0, b));
        }
        off_off.push((run(&off).0, run(&off).0));
    }
    let rate = |t: Duration| (lines.len() - half) as f64 / t.as_secs_f64();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (what, pick) in [
        (
            "wall",
            (|t: (Duration, Duration)| t.0) as fn((Duration, Duration)) -> Duration,
        ),
        ("cpu", |t: (Duration, Duration)| t.1),
    ] {
        let ratios: Vec<f64> = off_on
            .iter()
            .map(|&(off, on)| rate(pick(on)) / rate(pick(off)))
            .collect();
        let ratio = median(ratios.chunks(2).map(|p| (p[0] * p[1]).sqrt()).collect());
        let on_second = median(ratios.iter().step_by(2).copied().collect());
        let on_first = median(ratios.iter().skip(1).step_by(2).copied().collect());
        println!(
            "per-agent: decode+apply {:.0} events/s off, {:.0} events/s on by {what} time (medians of \
             {rounds} alternating rounds): on/off = {ratio:.3} (median over {} pairs of rounds; \
             {on_second:.3} with on run second, {on_first:.3} with on run first)",
            median(off_on.iter().map(|r| rate(pick(r.0))).collect()),
            median(off_on.iter().map(|r| rate(pick(r.1))).collect()),
            rounds / 2,
        );
        let control = median(
            off_off
                .iter()
                .map(|&(a, b)| rate(pick(b)) / rate(pick(a)))
                .collect(),
        );
        println!(
            "per-agent: control, off run second against off run first by {what} time: \
             {control:.3} (median of {rounds} rounds)"
        );
    }
    // Interleaved: two engines warmed up alike, then the timed half fed to
    // both a chunk at a time, alternately (ABBA from chunk to chunk), so
    // that a slow spell of the machine, which lasts longer than a chunk
    // (about 15 ms), falls on both; the rounds above give each run about
    // 200 ms, and their ratios spread by several per cent. Each engine's
    // chunks are timed by the thread's CPU time and summed; a round's ratio
    // is of those sums. Each chunk starts with the other engine's state in
    // the caches, which costs the engine with more state (the option's)
    // more: it leans the ratio down, not up.
    const CHUNK: usize = 10_000;
    let interleaved = |a: &Config, b: &Config, flip: bool| -> (Duration, Duration) {
        let (mut ea, mut eb) = (Engine::new(a), Engine::new(b));
        feed(&mut ea, &lines[..half]);
        feed(&mut eb, &lines[..half]);
        let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
        let time = |e: &mut Engine, c: &[&[u8]]| {
            let t = thread_cpu();
            feed(e, c);
            thread_cpu() - t
        };
        for (i, c) in lines[half..].chunks(CHUNK).enumerate() {
            if (i % 2 == 0) != flip {
                ta += time(&mut ea, c);
                tb += time(&mut eb, c);
            } else {
                tb += time(&mut eb, c);
                ta += time(&mut ea, c);
            }
        }
        (ta, tb)
    };
    // Which engine is made and warmed first alternates every two rounds
    // (the off-against-off control leans a per cent or two towards one of
    // them), which one is fed first every round.
    let both = |a: &Config, b: &Config, i: usize| {
        if i % 4 < 2 {
            interleaved(a, b, i % 2 == 1)
        } else {
            let (tb, ta) = interleaved(b, a, i % 2 == 1);
            (ta, tb)
        }
    };
    // A round's engines keep their heap layout for the whole round, and
    // rounds differ by several per cent from that alone (the control's
    // range), so many rounds: 48 when benching (about two minutes), or
    // FRONTLINE_BENCH_AGENT_ROUNDS.
    let rounds: usize = std::env::var("FRONTLINE_BENCH_AGENT_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(if rounds >= 6 { 48 } else { 4 })
        .max(4)
        .next_multiple_of(4);
    let (mut ratios, mut controls) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let (t_off, t_on) = both(&off, &on, i);
        ratios.push(t_off.as_secs_f64() / t_on.as_secs_f64());
        let (t_a, t_b) = both(&off, &off, i);
        controls.push(t_a.as_secs_f64() / t_b.as_secs_f64());
    }
    let (lo, hi) = (
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "per-agent: interleaved by {CHUNK}-event chunks, by cpu time: on/off = {:.3} (median of \
         {rounds} rounds; range {lo:.3}-{hi:.3}); control off/off {:.3} (range {:.3}-{:.3})",
        median(ratios),
        median(controls.clone()),
        controls.iter().copied().fold(f64::INFINITY, f64::min),
        controls.iter().copied().fold(0.0, f64::max),
    );
}

fn throughput(c: &mut Criterion, corpus: &Corpus, events: &[Event]) {
    let cfg = Config::default();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for line in corpus.iter() {
                let _ = black_box(decode(black_box(line), MAX_BYTES));
            }
        })
    });
    g.bench_function("decode_apply", |b| {
        b.iter_batched(
            || Engine::new(&cfg),
            |mut engine| {
                for line in corpus.iter() {
                    if let Ok(ev) = decode(black_box(line), MAX_BYTES) {
                        engine.apply(ev);
                    }
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("apply", |b| {
        b.iter_batched(
            || (events.to_vec(), Engine::new(&cfg)),
            |(events, mut engine)| {
                for ev in events {
                    engine.apply(ev);
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    // The same with `[agents] per_agent_metrics` on, to profile what the
    // option costs (`-- --profile-time 10 engine/apply` runs both).
    let on = Config::parse("[agents]\nper_agent_metrics = true\n").expect("valid config");
    g.bench_function("apply_per_agent", |b| {
        b.iter_batched(
            || (events.to_vec(), Engine::new(&on)),
            |(events, mut engine)| {
                for ev in events {
                    engine.apply(ev);
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // Criterion's own rule: without `--bench` (under `cargo test`) it runs
    // each benchmark once; the inputs shrink to match.
    let bench = has("--bench") && !has("--test") && !has("--list");
    let profiling = args.iter().any(|a| a.starts_with("--profile-time"));

    if !has("--list") && !profiling {
        let n = std::env::var("FRONTLINE_BENCH_TICKETS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if bench { 1_000_000 } else { 20_000 });
        state_report(n);
    }

    let params = if bench {
        Params::default()
    } else {
        Params {
            events: 20_000,
            open_tickets: 1_000,
            ..Params::default()
        }
    };
    let corpus = corpus::generate(&params);
    print_corpus(&corpus);
    let events = decoded(&corpus);
    if !has("--list") && !profiling {
        per_agent_report(&corpus, &events, if bench { 6 } else { 2 });
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    throughput(&mut c, &corpus, &events);
    c.final_summary();
}
