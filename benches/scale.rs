//! How the engine's cost grows with its state: apply events/s and bytes
//! per open ticket at 10 k, 1 M and 10 M open tickets (docs/performance.md,
//! "Cost as state grows").
//!
//! One engine per size is grown by `ticket.created` lines (distinct tickets
//! and customers, 1 ms apart) and the process's resident set is read before
//! and after each, so bytes per open ticket is the growth of RSS over the
//! tickets. Then the engines take turns (10 k, 1 M, 10 M, 10 k, …) applying
//! chunks of a steady workload on their open tickets — replies, customer
//! replies, status changes between open and pending and assignments, each
//! on a ticket drawn uniformly from that engine's open tickets, so no ticket
//! opens or closes — decoded beforehand, with their keys' hashes
//! (`EventKeys`, which `frontline replay` computes ahead of applying), so the
//! timing is apply alone. Each engine applies two chunks a round,
//! alternately `hinted` (with `Engine::prefetch_ahead` and
//! `Engine::apply_keyed`, as `frontline replay`'s applying thread) and
//! `plain` (`Engine::apply`, which hashes the keys itself, one event after
//! another), the order swapped each round. Each
//! chunk's wall and thread CPU time are kept; the report is the median
//! events/s of each size and mode, the median of the per-round ratios to
//! 10 k, and of hinted to plain. Last, a `machine:` line says whether the
//! machine caches address translations per 2 MiB or per 4 KiB page
//! ([`translation_probe`]), which decides much of the 10 M engine's cost.
//!
//! FRONTLINE_BENCH_SIZES (comma-separated, default 10000,1000000,10000000),
//! FRONTLINE_BENCH_ROUNDS (default 5), FRONTLINE_BENCH_CHUNK (events per
//! chunk, default 200000), FRONTLINE_BENCH_RESERVE=1 (each engine reserves
//! room for its size up front, `[state] reserve_*`), FRONTLINE_BENCH_MODES
//! (`hinted`, `plain` or both, the default: one alone is for a profile of
//! that path, and leaves the hinted/plain column empty),
//! FRONTLINE_BENCH_DEDUP_HORIZON (`[time] dedup_horizon`, default `1h`: a
//! shorter one shrinks the dedup memory both sizes share, to measure its
//! share of an event's time). Under `cargo test`
//! (no `--bench`) it runs 1 000 and 10 000 tickets, one round of 2 000
//! events.

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::{loadavg, median, proc_bytes, status_bytes, thread_cpu};
use std::io::Write as _;
use std::time::{Duration, Instant};

use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::{Engine, EventKeys};
use frontline::event::Event;
use frontline::huge_pages::HugePageAlloc;

#[path = "corpus.rs"]
#[allow(dead_code)]
mod corpus;

use corpus::{Rng, StateLines};

/// The binary's allocator, so the tables live where they do in `frontline`.
#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc;

/// `limits.max_event_bytes` default.
const MAX_BYTES: usize = 64 * 1024;

/// The two ways of applying, by their index in the report.
const MODES: [&str; 2] = ["hinted", "plain"];

/// Nanoseconds per read of a chain of dependent reads through 16 384
/// lines (1 MiB of them, which the second-level cache holds), packed
/// together and then one per 4 KiB page of 32 2 MiB ones (64 MiB, advised
/// for huge pages as the tables are), and the bytes of that buffer the
/// kernel put on huge pages. Where translations are cached per 2 MiB page,
/// 32 pages' translations stay cached and both cost about the same; where
/// they are cached per 4 KiB page (a virtual machine whose host backs its
/// memory with small pages, whatever the guest's own), the second walks a
/// page table on most reads. The 10 M engine's lookups pay for the same
/// walks (docs/performance.md, "Translations per 4 KiB page").
fn translation_probe() -> (f64, f64, u64) {
    const LINES: usize = 16_384;
    const PAGE: usize = 4096;
    const HUGE: usize = 2 << 20;
    let huge_before = proc_bytes("/proc/self/smaps_rollup", "AnonHugePages");
    let mut buf = vec![0usize; (LINES * PAGE + HUGE) / 8];
    let start = (HUGE - buf.as_ptr() as usize % HUGE) % HUGE / 8;
    let mut order: Vec<usize> = (0..LINES).collect();
    let mut rng = Rng::new(0x7_1b);
    for i in (1..LINES).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut time = |stride: usize| {
        // Line `i`'s word; spread lines start at a different line of
        // their page each, so they do not crowd a few cache sets.
        let at = |i: usize| start + (i * stride + if stride > 64 { i % 64 * 64 } else { 0 }) / 8;
        for w in 0..LINES {
            buf[at(order[w])] = at(order[(w + 1) % LINES]);
        }
        let reads = 10_000_000;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let mut p = at(order[0]);
            let t = Instant::now();
            for _ in 0..reads {
                p = buf[p];
            }
            std::hint::black_box(p);
            best = best.min(t.elapsed().as_nanos() as f64 / reads as f64);
        }
        best
    };
    let packed = time(64);
    let spread = time(PAGE);
    let huge = proc_bytes("/proc/self/smaps_rollup", "AnonHugePages").saturating_sub(huge_before);
    (packed, spread, huge)
}

/// An engine with `n` open tickets, and the event time it has reached.
struct Sized {
    n: u64,
    engine: Engine,
    ts: i64,
    next_event: u64,
    rng: Rng,
    buf: Vec<u8>,
}

impl Sized {
    /// The engine (with `cfg`) and the longest single apply while growing
    /// it (what a table's growth holds one event up for).
    fn grow(n: u64, seed: u64, cfg: &Config) -> (Sized, Duration) {
        let mut lines = StateLines::new(seed);
        let mut engine = Engine::new(cfg);
        let mut longest = Duration::ZERO;
        for i in 0..n {
            let ev = decode(lines.ticket_created(i, i), MAX_BYTES).expect("valid line");
            let t = Instant::now();
            engine.apply(ev);
            longest = longest.max(t.elapsed());
        }
        let ts = engine.clock().expect("events applied");
        let s = Sized {
            n,
            engine,
            ts,
            next_event: 0,
            rng: Rng::new(seed ^ 0x5ca1e),
            buf: Vec::with_capacity(256),
        };
        (s, longest)
    }

    /// Applies `events`, with cache hints from the keys of each and by
    /// those keys (as `frontline replay`'s applying thread does, its reading
    /// thread having computed the keys), or one after another.
    fn apply(&mut self, events: &mut Vec<Event>, keys: &[EventKeys], hinted: bool) {
        if hinted {
            for (i, ev) in events.iter().enumerate() {
                self.engine.prefetch_ahead(|k| keys.get(i + k));
                self.engine.apply_keyed(ev, &keys[i]);
            }
            events.clear();
        } else {
            for ev in events.drain(..) {
                self.engine.apply(ev);
            }
        }
    }

    /// The next event of the steady workload, decoded.
    fn next(&mut self) -> Event {
        self.next_event += 1;
        self.ts += 1;
        let ticket = self.rng.below(self.n);
        let agent = self.rng.below(200);
        self.buf.clear();
        write!(
            self.buf,
            r#"{{"event_id":"w-{}","ts":{},"ticket_id":"T-{ticket:08}","#,
            self.next_event, self.ts
        )
        .expect("vec");
        match self.rng.below(4) {
            0 => write!(
                self.buf,
                r#""type":"ticket.agent_replied","agent_id":"A-{agent:04}","public":true}}"#
            ),
            1 => write!(self.buf, r#""type":"ticket.customer_replied"}}"#),
            2 => {
                let s = if self.rng.chance(0.5) {
                    "pending"
                } else {
                    "open"
                };
                write!(
                    self.buf,
                    r#""type":"ticket.status_changed","status":"{s}"}}"#
                )
            }
            _ => write!(
                self.buf,
                r#""type":"ticket.assigned","agent_id":"A-{agent:04}"}}"#
            ),
        }
        .expect("vec");
        decode(&self.buf, MAX_BYTES).expect("workload lines are valid")
    }
}

fn main() {
    // As the binaries do: successors of growing tables prepared ahead.
    frontline::engine::prepare_tables_with(frontline::background::prepare);
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let env = |k: &str| std::env::var(k).ok();
    let sizes: Vec<u64> = env("FRONTLINE_BENCH_SIZES")
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("FRONTLINE_BENCH_SIZES"))
                .collect()
        })
        .unwrap_or(if bench {
            vec![10_000, 1_000_000, 10_000_000]
        } else {
            vec![1_000, 10_000]
        });
    let rounds: usize = env("FRONTLINE_BENCH_ROUNDS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 5 } else { 1 });
    let chunk: usize = env("FRONTLINE_BENCH_CHUNK")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 200_000 } else { 2_000 });
    let warm: usize = env("FRONTLINE_BENCH_WARM")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 3_600_000 } else { 2_000 });
    // With FRONTLINE_BENCH_RESERVE=1 each engine reserves room for its
    // size up front (`[state] reserve_*`): its tickets and customers, and
    // the horizon of event ids its dedup memory holds once warmed.
    let reserve = env("FRONTLINE_BENCH_RESERVE").is_some_and(|v| v == "1");
    // The dedup memory's horizon: at 1 ms apart, 1 h is 3.6 M ids at
    // either size.
    let horizon: frontline::config::Dur =
        env("FRONTLINE_BENCH_DEDUP_HORIZON").map_or(Config::default().time.dedup_horizon, |v| {
            v.parse()
                .unwrap_or_else(|e| panic!("FRONTLINE_BENCH_DEDUP_HORIZON: {e}"))
        });
    // Which ways of applying run (both unless one is named).
    let wanted: [bool; 2] = match env("FRONTLINE_BENCH_MODES") {
        None => [true, true],
        Some(v) => {
            let names: Vec<&str> = v.split(',').map(str::trim).collect();
            for n in &names {
                assert!(
                    MODES.contains(n),
                    "FRONTLINE_BENCH_MODES: {n:?} is not one of {MODES:?}"
                );
            }
            MODES.map(|m| names.contains(&m))
        }
    };
    // Hinted against plain is measured only when both run.
    let both = wanted == [true, true];
    println!(
        "scale: load average before {}; room reserved up front: {}; dedup horizon {}",
        loadavg(),
        if reserve { "yes" } else { "no" },
        horizon
    );

    let mut engines = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let before = status_bytes("VmRSS");
        let t = Instant::now();
        let mut cfg = Config::default();
        cfg.time.dedup_horizon = horizon;
        if reserve {
            let s = &mut cfg.state;
            (s.reserve_tickets, s.reserve_customers) = (n as usize, n as usize);
            // The horizon's ids a 1 ms apart history holds, and its last
            // second.
            let held = cfg.time.dedup_horizon.ms() as usize + 1_000;
            s.reserve_event_ids = (n as usize + warm).min(held);
        }
        let (s, longest) = Sized::grow(n, i as u64 + 1, &cfg);
        let after = status_bytes("VmRSS");
        println!(
            "scale: {n:>9} open tickets: grown in {:6.1} s (longest event {:7.1} ms), \
             RSS +{:>11} bytes = {:6.1} bytes/ticket; process RSS {} MB, peak {} MB",
            t.elapsed().as_secs_f64(),
            longest.as_secs_f64() * 1e3,
            after.saturating_sub(before),
            after.saturating_sub(before) as f64 / n as f64,
            after >> 20,
            status_bytes("VmHWM") >> 20
        );
        engines.push(s);
    }
    // The same hour of workload for every engine, untimed: each one's
    // dedup memory then holds a horizon of ids and expires as it inserts.
    let mut events = Vec::with_capacity(chunk);
    let mut keys = Vec::with_capacity(chunk);
    for s in &mut engines {
        let t = Instant::now();
        let mut left = warm;
        while left > 0 {
            let k = left.min(chunk.max(1));
            events.extend((0..k).map(|_| s.next()));
            keys.clear();
            keys.extend(events.iter().map(EventKeys::of));
            s.apply(&mut events, &keys, true);
            left -= k;
        }
        println!(
            "scale: {:>9} open tickets: warmed by {warm} workload events in {:5.1} s; process RSS {} MB",
            s.n,
            t.elapsed().as_secs_f64(),
            status_bytes("VmRSS") >> 20
        );
    }

    // Two ways of applying, alternated chunk by chunk and their order
    // swapped each round: `hinted` as the applying thread of `frontline
    // replay` does (Engine::prefetch_ahead, then apply), `plain` one event
    // after another with no look-ahead.
    let n = sizes.len();
    let mut wall = vec![vec![Vec::new(); n]; 2];
    let mut cpu = vec![vec![Vec::new(); n]; 2];
    let mut ratio_wall = vec![vec![Vec::new(); n]; 2];
    let mut ratio_cpu = vec![vec![Vec::new(); n]; 2];
    let mut by_mode = vec![Vec::new(); n];
    for round in 0..rounds {
        let mut w = [vec![0.0; n], vec![0.0; n]];
        let mut c = [vec![0.0; n], vec![0.0; n]];
        for (i, s) in engines.iter_mut().enumerate() {
            for m in [round % 2, 1 - round % 2] {
                if !wanted[m] {
                    continue;
                }
                events.clear();
                events.extend((0..chunk).map(|_| s.next()));
                keys.clear();
                keys.extend(events.iter().map(EventKeys::of));
                let (t0, c0) = (Instant::now(), thread_cpu());
                s.apply(&mut events, &keys, m == 0);
                let (tw, tc) = (t0.elapsed(), thread_cpu() - c0);
                w[m][i] = chunk as f64 / tw.as_secs_f64();
                c[m][i] = chunk as f64 / tc.as_secs_f64();
                println!(
                    "scale:   round {round} {:>9} tickets {:>6}: {:6.3} M events/s wall, {:6.3} M/s cpu",
                    s.n,
                    MODES[m],
                    w[m][i] / 1e6,
                    c[m][i] / 1e6
                );
            }
            if both {
                by_mode[i].push(c[0][i] / c[1][i]);
            }
        }
        for m in (0..2).filter(|&m| wanted[m]) {
            for i in 0..n {
                wall[m][i].push(w[m][i]);
                cpu[m][i].push(c[m][i]);
                ratio_wall[m][i].push(w[m][i] / w[m][0]);
                ratio_cpu[m][i].push(c[m][i] / c[m][0]);
            }
        }
    }
    println!(
        "scale: apply, medians of {rounds} rounds of {chunk} events (ratios to {} tickets, per round, same mode):",
        sizes[0]
    );
    println!("scale:   mode     open tickets   M events/s wall   ×      M events/s cpu   ×     hinted/plain (cpu)");
    for m in (0..2).filter(|&m| wanted[m]) {
        for (i, size) in sizes.iter().enumerate() {
            let vs = if m == 0 && both {
                format!("{:5.2}", median(by_mode[i].clone()))
            } else {
                String::new()
            };
            println!(
                "scale:   {:6} {size:>12}   {:8.3}        {:5.2}   {:8.3}         {:5.2}     {vs}",
                MODES[m],
                median(wall[m][i].clone()) / 1e6,
                median(ratio_wall[m][i].clone()),
                median(cpu[m][i].clone()) / 1e6,
                median(ratio_cpu[m][i].clone()),
            );
        }
    }
    println!(
        "scale: process RSS {} MB, peak {} MB; load average after {}",
        status_bytes("VmRSS") >> 20,
        status_bytes("VmHWM") >> 20,
        loadavg()
    );
    // What the machine's page walks cost, to read the 10 M figures by.
    if bench {
        let (packed, spread, huge) = translation_probe();
        println!(
            "scale: machine: a chain of reads through 1 MiB of lines: {packed:.1} ns a read packed, \
             {spread:.1} ns one per 4 KiB page of 32 2 MiB pages ({} MiB of them on huge pages): \
             translations cached per {} page",
            huge >> 20,
            if spread > 2.0 * packed { "4 KiB" } else { "2 MiB" }
        );
    }
}
