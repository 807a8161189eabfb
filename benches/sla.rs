//! What SLA clocks cost: one million open tickets without policies, under
//! business-calendar policies, and under the same policies recording every
//! SLA state change for the SLA event stream (drained after each event, as
//! the live driver does), in the same process, fed side by side in
//! alternating batches so that the machine's drift hits all alike.
//! Reports events/s of `apply` and bytes of engine state per open ticket,
//! and their ratios. Figures, not assertions (see docs/performance.md).
//!
//!     cargo bench --bench sla

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use frontline::config::Config;
use frontline::engine::Engine;
use frontline::event::{Body, Channel, Event, Id, Priority};

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

fn id(prefix: &str, i: usize) -> Id {
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

/// The configurations compared.
const K: usize = 3;

/// Applies `events` to the engines in alternating batches (the order
/// rotates every batch), adding up each engine's time. After each event
/// the SLA state changes are drained, as a driver does (nothing to drain
/// when recording is off).
fn interleave(engines: &mut [Engine; K], events: [Vec<Event>; K], secs: &mut [f64; K]) {
    let mut its = events.map(|v| v.into_iter());
    let mut turn = 0;
    let mut drained = 0usize;
    loop {
        let mut any = false;
        for k in 0..K {
            let i = (turn + k) % K;
            let t = Instant::now();
            for e in its[i].by_ref().take(BATCH) {
                engines[i].apply(e);
                drained += engines[i].drain_sla_events().0.count();
                any = true;
            }
            secs[i] += t.elapsed().as_secs_f64();
        }
        std::hint::black_box(drained);
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

/// One round: the configurations side by side, so that whatever else the
/// machine does in the meantime slows all alike. `record`: whether the
/// engine records SLA state changes.
fn round(
    cfgs: [(&Config, bool); K],
    created: &[Event],
    follow: &[Event],
    totals: &mut [Totals; K],
) {
    let created = [(); K].map(|_| created.to_vec());
    let follow = [(); K].map(|_| follow.to_vec());
    let mut engines = cfgs.map(|(c, record)| {
        let mut e = Engine::new(c);
        e.record_sla_events(record);
        e
    });
    let (mut create_secs, mut follow_secs) = ([0.0; K], [0.0; K]);
    interleave(&mut engines, created, &mut create_secs);
    interleave(&mut engines, follow, &mut follow_secs);
    std::hint::black_box(&engines);
    for i in 0..K {
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
    let mut totals: [Totals; K] = Default::default();
    for r in 0..ROUNDS {
        let before: Vec<(f64, f64)> = totals
            .iter()
            .map(|t| (t.create_secs, t.follow_secs))
            .collect();
        round(
            [(&plain, false), (&sla, false), (&sla, true)],
            &created,
            &follow,
            &mut totals,
        );
        let rate = |i: usize, create: bool| {
            let (c, f) = before[i];
            let t = &totals[i];
            N as f64
                / if create {
                    t.create_secs - c
                } else {
                    t.follow_secs - f
                }
        };
        eprintln!(
            "round {r}: created {:.0} / {:.0} / {:.0} ev/s, follow-ups {:.0} / {:.0} / {:.0} ev/s (no policies / SLA / SLA recording events)",
            rate(0, true),
            rate(1, true),
            rate(2, true),
            rate(0, false),
            rate(1, false),
            rate(2, false),
        );
    }
    let eps = |secs: f64| (N * ROUNDS) as f64 / secs;
    let bytes = [state_bytes(&plain, &created), state_bytes(&sla, &created)];
    let (p, s, e) = (&totals[0], &totals[1], &totals[2]);
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
    println!();
    println!("SLA event stream       recording off   recording on   ratio (on time / off time)");
    println!(
        "ticket.created ev/s    {:>13.0}   {:>12.0}   {:.3}",
        eps(s.create_secs),
        eps(e.create_secs),
        e.create_secs / s.create_secs
    );
    println!(
        "follow-up ev/s         {:>13.0}   {:>12.0}   {:.3}",
        eps(s.follow_secs),
        eps(e.follow_secs),
        e.follow_secs / s.follow_secs
    );
}
