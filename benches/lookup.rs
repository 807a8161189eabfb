//! What one lookup into a large table costs on this machine, whatever the
//! table's layout: the floor under target 5's ratio (docs/performance.md,
//! "Cost as state grows", "A lookup's floor at 10 M").
//!
//! Each event here is one lookup of a 64-byte entry (a ticket's size in
//! the engine), drawn uniformly from a table of N entries and changed in
//! place. Beside it, each event reads and writes four random lines of a
//! 72 MiB buffer standing for the dedup memory, which every event touches
//! at either size (`FRONTLINE_BENCH_SIDE_MIB`, 0 for none), and does
//! arithmetic standing in for the rest of its work, about the 10 k
//! engine's time per event, of two kinds in turn: one chain of dependent
//! multiplies, which hides a wait on memory behind it, and eight chains,
//! which the processor overlaps as it does the engine's work, so that a
//! wait shows. Lookups are hinted as the engine hints its ticket table
//! (`src/engine/hints.rs`): six events ahead the control bytes and the
//! entries at the start bucket, four events ahead the entry the control
//! bytes point to.
//!
//! Three layouts take turns, the order rotated every round, at each size:
//! - `hashbrown`: the engine's table, control bytes in one array and the
//!   entries in another, hundreds of megabytes apart at 10 M;
//! - `grouped`: fifteen entries and their control bytes in one aligned
//!   1 KiB block, so a lookup's control bytes and entry share a page;
//! - `linear`: no control bytes, the entries probed one after another from
//!   the start bucket, a lookup mostly one line.
//!
//! The report, for each kind of other work, is each layout's median
//! nanoseconds per event at each size,
//! the median of the per-round ratios of the smallest size's time to each
//! size's (the figure target 5 asks ≥ 0.7 of), and at the largest size the
//! median of each layout's per-round time over hashbrown's.
//!
//! FRONTLINE_BENCH_SIZES (default 10000,10000000), FRONTLINE_BENCH_ROUNDS
//! (default 5), FRONTLINE_BENCH_EVENTS (lookups per pass, default
//! 2000000). Under `cargo test` (no `--bench`) it runs 1 000 and 10 000
//! entries, one round of 20 000 lookups, and checks every layout finds
//! and counts every lookup.

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::{loadavg, median};

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

use frontline::huge_pages::HugePageAlloc;
use hashbrown::HashTable;

#[path = "corpus.rs"]
#[allow(dead_code)]
mod corpus;
use corpus::Rng;

/// The binary's allocator, so the tables live where they do in `frontline`.
#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc;

/// An entry of a ticket's size: a key and the rest of a ticket.
#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    rest: [u64; 7],
}

/// Events ahead at which the two hint steps are taken (the engine's
/// `Group` and `Entry` steps).
const GROUP_AHEAD: usize = 6;
const ENTRY_AHEAD: usize = 4;

#[inline(always)]
fn hash(k: u64) -> u64 {
    let x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29) ^ (x << 17).rotate_left(7)
}

/// The control byte of a full slot: the hash's top seven bits.
#[inline(always)]
fn tag(h: u64) -> u8 {
    (h >> 57) as u8
}

#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and never faults.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The layouts compared.
trait Layout {
    const NAME: &'static str;
    fn build(keys: &[u64]) -> Self;
    /// The step `GROUP_AHEAD` events before a lookup of `key`.
    fn hint_group(&self, key: u64);
    /// The step `ENTRY_AHEAD` events before it.
    fn hint_entry(&self, key: u64);
    fn find(&mut self, key: u64) -> Option<&mut Entry>;
}

/// hashbrown, hinted at its layout: entry `i` at `ctrl - (i + 1) * 64`.
struct Brown {
    t: HashTable<Entry>,
    ctrl: usize,
    mask: usize,
}

impl Layout for Brown {
    const NAME: &'static str = "hashbrown";

    fn build(keys: &[u64]) -> Self {
        let mut t = HashTable::with_capacity(keys.len());
        for &k in keys {
            t.insert_unique(
                hash(k),
                Entry {
                    key: k,
                    rest: [0; 7],
                },
                |e| hash(e.key),
            );
        }
        let i = t.iter_buckets().next().expect("not empty");
        let ctrl = t.get_bucket(i).expect("full") as *const Entry as usize + (i + 1) * 64;
        let mask = t.num_buckets() - 1;
        Brown { t, ctrl, mask }
    }

    #[inline(always)]
    fn hint_group(&self, key: u64) {
        let at = hash(key) as usize & self.mask;
        prefetch(self.ctrl + at);
        let first = self.ctrl - (at + 1) * 64;
        prefetch(first);
        prefetch(first.wrapping_sub(64));
    }

    #[inline(always)]
    fn hint_entry(&self, key: u64) {
        let h = hash(key);
        if let Some(e) = self.t.iter_hash_buckets(h).next() {
            prefetch(self.t.get_bucket(e).expect("full") as *const Entry as usize);
        }
    }

    #[inline(always)]
    fn find(&mut self, key: u64) -> Option<&mut Entry> {
        self.t.find_mut(hash(key), |e| e.key == key)
    }
}

/// Slots of a [`Group`]: its control line and fifteen entries fill 1 KiB.
const SLOTS: usize = 15;
const EMPTY: u8 = 0x80;

/// Fifteen entries and their control bytes, on one page.
#[repr(C, align(1024))]
struct Group {
    ctrl: [u8; 16],
    _line: [u8; 48],
    entries: [MaybeUninit<Entry>; SLOTS],
}

/// Groups probed from the hash's group, triangularly as hashbrown does.
struct Grouped {
    groups: Vec<Group>,
    mask: usize,
}

impl Grouped {
    /// The slots of `g` whose control byte is `byte`, as bits.
    #[inline(always)]
    fn matching(g: &Group, byte: u8) -> u32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `ctrl` is 16 readable bytes; SSE2 is in every x86_64.
        unsafe {
            use std::arch::x86_64::*;
            let c = _mm_loadu_si128(g.ctrl.as_ptr() as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi8(c, _mm_set1_epi8(byte as i8))) as u32
                & ((1 << SLOTS) - 1)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut m = 0;
            for (i, &c) in g.ctrl[..SLOTS].iter().enumerate() {
                m |= u32::from(c == byte) << i;
            }
            m
        }
    }
}

impl Layout for Grouped {
    const NAME: &'static str = "grouped";

    fn build(keys: &[u64]) -> Self {
        // At most 7/8 full, as hashbrown.
        let n = (keys.len() * 8 / 7 / SLOTS + 1).next_power_of_two();
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            groups.push(Group {
                ctrl: [EMPTY; 16],
                _line: [0; 48],
                entries: [const { MaybeUninit::uninit() }; SLOTS],
            });
        }
        let mut t = Grouped {
            groups,
            mask: n - 1,
        };
        for &k in keys {
            let h = hash(k);
            let (mut g, mut step) = (h as usize & t.mask, 0);
            loop {
                let free = Self::matching(&t.groups[g], EMPTY);
                if free != 0 {
                    let s = free.trailing_zeros() as usize;
                    t.groups[g].ctrl[s] = tag(h);
                    t.groups[g].entries[s].write(Entry {
                        key: k,
                        rest: [0; 7],
                    });
                    break;
                }
                step += 1;
                g = (g + step) & t.mask;
            }
        }
        t
    }

    #[inline(always)]
    fn hint_group(&self, key: u64) {
        prefetch(&self.groups[hash(key) as usize & self.mask] as *const Group as usize);
    }

    #[inline(always)]
    fn hint_entry(&self, key: u64) {
        let h = hash(key);
        let g = &self.groups[h as usize & self.mask];
        let m = Self::matching(g, tag(h));
        if m != 0 {
            prefetch(g.entries[m.trailing_zeros() as usize].as_ptr() as usize);
        }
    }

    #[inline(always)]
    fn find(&mut self, key: u64) -> Option<&mut Entry> {
        let h = hash(key);
        let (mut g, mut step) = (h as usize & self.mask, 0);
        loop {
            let mut m = Self::matching(&self.groups[g], tag(h));
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                m &= m - 1;
                // SAFETY: a slot with a full control byte was written.
                let e = unsafe { self.groups[g].entries[s].assume_init_ref() };
                if e.key == key {
                    // SAFETY: as above.
                    return Some(unsafe { self.groups[g].entries[s].assume_init_mut() });
                }
            }
            if Self::matching(&self.groups[g], EMPTY) != 0 {
                return None;
            }
            step += 1;
            g = (g + step) & self.mask;
        }
    }
}

/// Entries alone, key 0 meaning empty, probed one after another.
struct Linear {
    entries: Vec<Entry>,
    mask: usize,
}

impl Layout for Linear {
    const NAME: &'static str = "linear";

    fn build(keys: &[u64]) -> Self {
        let n = (keys.len() * 8 / 7 + 1).next_power_of_two();
        let mut t = Linear {
            entries: vec![
                Entry {
                    key: 0,
                    rest: [0; 7]
                };
                n
            ],
            mask: n - 1,
        };
        for &k in keys {
            let mut i = hash(k) as usize & t.mask;
            while t.entries[i].key != 0 {
                i = (i + 1) & t.mask;
            }
            t.entries[i].key = k;
        }
        t
    }

    #[inline(always)]
    fn hint_group(&self, key: u64) {
        let at = hash(key) as usize & self.mask;
        prefetch(self.entries.as_ptr() as usize + at * 64);
    }

    #[inline(always)]
    fn hint_entry(&self, _: u64) {}

    #[inline(always)]
    fn find(&mut self, key: u64) -> Option<&mut Entry> {
        let mut i = hash(key) as usize & self.mask;
        loop {
            match self.entries[i].key {
                k if k == key => return Some(&mut self.entries[i]),
                0 => return None,
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// The rest of an event's work: `steps` rounds of a multiply on each of
/// `C` independent chains. One chain is work the processor cannot
/// overlap with itself, so a wait on memory hides behind it; eight are
/// work it overlaps, as it does the engine's, so a wait shows.
#[inline(always)]
fn work<const C: usize>(steps: u32, x: u64) -> u64 {
    let mut a: [u64; C] = std::array::from_fn(|i| x ^ i as u64);
    for _ in 0..steps {
        for v in a.iter_mut() {
            *v = v
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
        }
        a = black_box(a);
    }
    a.iter().fold(0, |s, v| s ^ v)
}

/// The two kinds of other work: chains, and steps each (about 140 ns an
/// event either way, the 10 k engine's time per event).
const WORK: [(usize, u32); 2] = [(1, 130), (8, 60)];

/// Memory every event also reads and writes at random, as the engine's
/// dedup memory (an hour of ids, about 72 MB at either size): a few lines
/// an event, hinted as far ahead as the lookup's first step. Its traffic
/// is what evicts the lookup's page-table entries from the caches.
struct Side {
    lines: Vec<[u64; 8]>,
    mask: usize,
}

/// Lines of [`Side`] each event reads and writes (the dedup memory's
/// group and entry for the new id, and for the id it forgets).
const SIDE_TOUCHES: usize = 4;

impl Side {
    fn new(mib: usize) -> Side {
        let n = (mib << 20) / 64;
        let n = if n == 0 { 0 } else { n.next_power_of_two() };
        Side {
            lines: vec![[0; 8]; n],
            mask: n.wrapping_sub(1),
        }
    }

    /// The `j`th line event `i` touches.
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> usize {
        hash((i * SIDE_TOUCHES + j) as u64 ^ 0x5EED) as usize & self.mask
    }

    #[inline(always)]
    fn hint(&self, i: usize) {
        if !self.lines.is_empty() {
            for j in 0..SIDE_TOUCHES {
                prefetch(self.lines.as_ptr() as usize + self.at(i, j) * 64);
            }
        }
    }

    #[inline(always)]
    fn touch(&mut self, i: usize) -> u64 {
        let mut x = 0;
        if !self.lines.is_empty() {
            for j in 0..SIDE_TOUCHES {
                let at = self.at(i, j);
                self.lines[at][0] += 1;
                x ^= self.lines[at][1];
            }
        }
        x
    }
}

/// One pass of `queries`, hinted ahead; nanoseconds per event. Panics if
/// a key is not found.
fn pass<L: Layout, const C: usize>(t: &mut L, side: &mut Side, queries: &[u64], steps: u32) -> f64 {
    let n = queries.len();
    let start = Instant::now();
    let mut acc = 0u64;
    for i in 0..n {
        if let Some(&k) = queries.get(i + GROUP_AHEAD) {
            t.hint_group(k);
            side.hint(i + GROUP_AHEAD);
        }
        if let Some(&k) = queries.get(i + ENTRY_AHEAD) {
            t.hint_entry(k);
        }
        let e = t.find(queries[i]).expect("every query is a key");
        e.rest[0] += 1;
        acc = work::<C>(steps, acc ^ e.rest[1] ^ side.touch(i));
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / n as f64
}

/// The three layouts of one size, and the lookups drawn from its keys.
struct Size {
    n: usize,
    brown: Brown,
    grouped: Grouped,
    linear: Linear,
    queries: Vec<u64>,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (sizes, rounds, events) = if bench {
        let sizes = env("FRONTLINE_BENCH_SIZES", "10000,10000000")
            .split(',')
            .map(|s| s.trim().parse::<usize>().expect("FRONTLINE_BENCH_SIZES"))
            .collect::<Vec<_>>();
        let rounds: usize = env("FRONTLINE_BENCH_ROUNDS", "5").parse().expect("rounds");
        let events: usize = env("FRONTLINE_BENCH_EVENTS", "2000000")
            .parse()
            .expect("FRONTLINE_BENCH_EVENTS");
        (sizes, rounds, events)
    } else {
        (vec![1_000, 10_000], 1, 20_000)
    };
    let side_mib: usize = env("FRONTLINE_BENCH_SIDE_MIB", if bench { "72" } else { "1" })
        .parse()
        .expect("FRONTLINE_BENCH_SIDE_MIB");
    let mut side = Side::new(side_mib);

    let mut rng = Rng::new(0x1234_5678_9ABC_DEF1);
    let mut tables: Vec<Size> = sizes
        .iter()
        .map(|&n| {
            // Distinct: the generator's outputs are a bijection of its
            // counter. Not 0, which `Linear` takes for an empty slot.
            let keys: Vec<u64> = std::iter::repeat_with(|| rng.next_u64())
                .filter(|&k| k != 0)
                .take(n)
                .collect();
            let queries = (0..events)
                .map(|_| keys[rng.below(n as u64) as usize])
                .collect();
            Size {
                n,
                brown: Brown::build(&keys),
                grouped: Grouped::build(&keys),
                linear: Linear::build(&keys),
                queries,
            }
        })
        .collect();

    // The other work alone, for scale.
    let work_ns: Vec<f64> = WORK
        .iter()
        .map(|&(chains, steps)| {
            let t = Instant::now();
            let f = |a, i| match chains {
                1 => work::<1>(steps, a ^ i),
                _ => work::<8>(steps, a ^ i),
            };
            black_box((0..events as u64).fold(0, f));
            t.elapsed().as_nanos() as f64 / events as f64
        })
        .collect();

    const NAMES: [&str; 3] = [Brown::NAME, Grouped::NAME, Linear::NAME];
    // ns per event by [work][size][layout][round].
    let mut ns = vec![vec![vec![Vec::new(); 3]; tables.len()]; WORK.len()];
    for round in 0..rounds {
        for (w, &(chains, steps)) in WORK.iter().enumerate() {
            for (s, size) in tables.iter_mut().enumerate() {
                for k in 0..3 {
                    let layout = (k + round) % 3;
                    let (q, side) = (&size.queries, &mut side);
                    let t = match (layout, chains) {
                        (0, 1) => pass::<_, 1>(&mut size.brown, side, q, steps),
                        (0, _) => pass::<_, 8>(&mut size.brown, side, q, steps),
                        (1, 1) => pass::<_, 1>(&mut size.grouped, side, q, steps),
                        (1, _) => pass::<_, 8>(&mut size.grouped, side, q, steps),
                        (_, 1) => pass::<_, 1>(&mut size.linear, side, q, steps),
                        (_, _) => pass::<_, 8>(&mut size.linear, side, q, steps),
                    };
                    ns[w][s][layout].push(t);
                    if bench {
                        eprintln!(
                            "lookup:   round {round} {chains} chain(s) {:>9} entries {:>9}: {t:6.1} ns an event",
                            size.n, NAMES[layout]
                        );
                    }
                }
            }
        }
    }

    println!(
        "lookup: one hinted lookup of a 64-byte entry and {SIDE_TOUCHES} lines of {side_mib} MiB an event, medians of {rounds} rounds of {events} events"
    );
    let last = tables.len() - 1;
    for (w, &(chains, steps)) in WORK.iter().enumerate() {
        println!(
            "lookup: other work {chains} chain(s) of {steps} steps ({:.1} ns an event)",
            work_ns[w]
        );
        println!("lookup:   layout       entries   ns an event   × smallest (per round)");
        for (layout, name) in NAMES.iter().enumerate() {
            for (s, size) in tables.iter().enumerate() {
                let ratio: Vec<f64> = (0..rounds)
                    .map(|r| ns[w][0][layout][r] / ns[w][s][layout][r])
                    .collect();
                println!(
                    "lookup:   {name:<10} {:>10}   {:>11.1}   {:.2}",
                    size.n,
                    median(ns[w][s][layout].clone()),
                    median(ratio)
                );
            }
        }
        for (layout, name) in NAMES.iter().enumerate().skip(1) {
            let against: Vec<f64> = (0..rounds)
                .map(|r| ns[w][last][layout][r] / ns[w][last][0][r])
                .collect();
            println!(
                "lookup:   at {} entries, {name} / hashbrown per round: median {:.2} (range {:.2}–{:.2})",
                tables[last].n,
                median(against.clone()),
                against.iter().copied().fold(f64::INFINITY, f64::min),
                against.iter().copied().fold(0.0, f64::max)
            );
        }
    }
    println!("lookup: load average after {}", loadavg());

    // Every layout found every query (a miss panics in `pass`) and counted
    // it: each size's counts add up to its passes' lookups.
    for size in &tables {
        let total = (rounds * WORK.len() * events) as u64;
        let brown: u64 = size.brown.t.iter().map(|e| e.rest[0]).sum();
        let linear: u64 = size.linear.entries.iter().map(|e| e.rest[0]).sum();
        let mut grouped = 0;
        for g in &size.grouped.groups {
            for s in (0..SLOTS).filter(|&s| g.ctrl[s] != EMPTY) {
                // SAFETY: a slot with a full control byte was written.
                grouped += unsafe { g.entries[s].assume_init_ref() }.rest[0];
            }
        }
        assert_eq!(brown, total, "hashbrown counted every lookup");
        assert_eq!(linear, total, "linear counted every lookup");
        assert_eq!(grouped, total, "grouped counted every lookup");
    }
}
