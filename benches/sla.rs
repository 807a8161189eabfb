//! What SLA clocks cost: one million open tickets without policies and
//! under business-calendar policies, in the same process, fed side by side
//! in alternating batches so that the machine's drift hits both alike.
//! Reports events/s of `apply` and bytes of engine state per open ticket
//! for both, and their ratio. Figures, not assertions (see
//! docs/performance.md).
//!
//!     cargo bench --bench sla

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use frontline::config::Config;
use frontline::engine::Engine;
use frontline::event::{Body, Channel, Event, Priority};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const POLICIES: &str = r#"
[[sla.policies]]
name = "urgent"
match = { priority = ["urgent"] }
calendar = "office"
first_response = "1h"
next_response = "2h"
resolution = "8h"

[[sla.policies]]
name = "standard"
calendar = "office"
first_response = "8h"
next_response = "8h"
resolution = "3d"

[sla.calendars.office]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-12:30", "13:30-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-15:00"] }
holidays = ["2026-12-24", "2026-12-25", "2026-12-26"]
"#;

const N: usize = 1_000_000;
/// Alternating rounds per configuration.
const ROUNDS: usize = 3;
/// Monday 2026-11-16 08:00Z.
const T0: i64 = 1_794_816_000_000;

fn id(prefix: &str, i: usize) -> Box<str> {
    format!("{prefix}-{i:08}").into()
}

/// One million ticket.created over ~3 hours, then a million follow-ups
/// (replies, customer messages, pending/open) on those tickets.
fn events() -> (Vec<Event>, Vec<Event>) {
    let queues = ["billing", "tech", "sales", "returns"];
    let channels = [Channel::Email, Channel::Chat, Channel::Web];
    let created = (0..N)
        .map(|i| Event {
            id: id("c", i),
            ts: T0 + (i as i64) * 10,
            body: Body::TicketCreated {
                ticket: id("T", i),
                customer: id("C", i),
                channel: channels[i % 3],
                priority: if i % 10 == 0 {
                    Priority::Urgent
                } else {
                    Priority::Normal
                },
                queue: Some(queues[i % 4].into()),
                category: None,
            },
        })
        .collect();
    let base = T0 + N as i64 * 10;
    let follow = (0..N)
        .map(|i| {
            let t = id("T", (i * 7919) % N);
            let body = match i % 4 {
                0 => Body::TicketAgentReplied {
                    ticket: t,
                    agent: "A1".into(),
                    public: true,
                },
                1 => Body::TicketCustomerReplied { ticket: t },
                2 => Body::TicketStatusChanged {
                    ticket: t,
                    status: frontline::event::TicketStatus::Pending,
                },
                _ => Body::TicketStatusChanged {
                    ticket: t,
                    status: frontline::event::TicketStatus::Open,
                },
            };
            Event {
                id: id("f", i),
                ts: base + (i as i64) * 10,
                body,
            }
        })
        .collect();
    (created, follow)
}

/// Events applied to one engine before the other gets its turn.
const BATCH: usize = 100_000;

/// Totals of one configuration over the rounds.
#[derive(Default)]
struct Totals {
    create_secs: f64,
    follow_secs: f64,
}

/// Applies `events` to both engines in alternating batches (the order
/// flips every batch), adding up each engine's time.
fn interleave(engines: &mut [Engine; 2], events: [Vec<Event>; 2], secs: &mut [f64; 2]) {
    let mut its = events.map(|v| v.into_iter());
    let mut turn = 0;
    loop {
        let mut any = false;
        for k in 0..2 {
            let i = (turn + k) % 2;
            let t = Instant::now();
            for e in its[i].by_ref().take(BATCH) {
                engines[i].apply(e);
                any = true;
            }
            secs[i] += t.elapsed().as_secs_f64();
        }
        if !any {
            return;
        }
        turn += 1;
    }
}

/// Bytes the engine holds after the creations: live bytes from before the
/// engine and its input existed to after the input is gone.
fn state_bytes(cfg: &Config, created: &[Event]) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let mut engine = Engine::new(cfg);
    for e in created.iter().cloned() {
        engine.apply(e);
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    std::hint::black_box(&engine);
    bytes as f64 / N as f64
}

/// One round: both configurations side by side, so that whatever else the
/// machine does in the meantime slows both alike.
fn round(cfgs: [&Config; 2], created: &[Event], follow: &[Event], totals: &mut [Totals; 2]) {
    let created = [created.to_vec(), created.to_vec()];
    let follow = [follow.to_vec(), follow.to_vec()];
    let mut engines = cfgs.map(Engine::new);
    let (mut create_secs, mut follow_secs) = ([0.0; 2], [0.0; 2]);
    interleave(&mut engines, created, &mut create_secs);
    interleave(&mut engines, follow, &mut follow_secs);
    std::hint::black_box(&engines);
    for i in 0..2 {
        totals[i].create_secs += create_secs[i];
        totals[i].follow_secs += follow_secs[i];
    }
}

fn main() {
    // `cargo test --benches` runs benches with --bench absent: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sla bench: run with `cargo bench --bench sla`");
        return;
    }
    let (created, follow) = events();
    let plain = Config::default();
    let sla = Config::parse(POLICIES).expect("valid policies");
    let mut totals: [Totals; 2] = Default::default();
    for r in 0..ROUNDS {
        let before = [
            totals[0].create_secs,
            totals[0].follow_secs,
            totals[1].create_secs,
            totals[1].follow_secs,
        ];
        round([&plain, &sla], &created, &follow, &mut totals);
        let d = |i: usize, now: f64| now - before[i];
        eprintln!(
            "round {r}: created {:.0} vs {:.0} ev/s, follow-ups {:.0} vs {:.0} ev/s (no policies vs SLA)",
            N as f64 / d(0, totals[0].create_secs),
            N as f64 / d(2, totals[1].create_secs),
            N as f64 / d(1, totals[0].follow_secs),
            N as f64 / d(3, totals[1].follow_secs),
        );
    }
    let eps = |secs: f64| (N * ROUNDS) as f64 / secs;
    let bytes = [state_bytes(&plain, &created), state_bytes(&sla, &created)];
    let (p, s) = (&totals[0], &totals[1]);
    println!("1M open tickets        no policies   business-calendar SLA   ratio");
    println!(
        "ticket.created ev/s    {:>11.0}   {:>21.0}   {:.2}",
        eps(p.create_secs),
        eps(s.create_secs),
        p.create_secs / s.create_secs
    );
    println!(
        "follow-up ev/s         {:>11.0}   {:>21.0}   {:.2}",
        eps(p.follow_secs),
        eps(s.follow_secs),
        p.follow_secs / s.follow_secs
    );
    println!(
        "bytes per open ticket  {:>11.0}   {:>21.0}   {:.2}",
        bytes[0],
        bytes[1],
        bytes[1] / bytes[0]
    );
}
