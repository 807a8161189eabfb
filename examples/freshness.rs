//! Freshness for `make bench` (scripts/bench-freshness.sh): how long from an
//! event produced to its effect visible on `/metrics`, while background load
//! flows at a given rate.
//!
//! A background thread produces the simulated support centre at `RATE`
//! events/s, each event's time rewritten to the wall clock when it is sent.
//! The probes are `ticket.created` events of a queue no other event names
//! (`freshness-probe`), sent one at a time with distinct customers (so they
//! land on every partition): for each, the time from the produce call to
//! the first scrape whose `support_tickets_created_total` of that queue,
//! summed over partitions, counts it. A scrape asks for that family alone
//! (`/metrics?name[]=…`: merged and encoded from the same published
//! snapshots as a full one; `SCRAPE=full` in the environment reads every
//! family, as a scrape by Prometheus does). The scrape's end is taken (an upper
//! bound: the effect was visible somewhere during the scrape); scrapes are
//! 10 ms apart, so that the bench's own scraping does not keep a core of
//! the machine busy encoding. Probes are
//! spaced by a pseudo-random 0–100 ms so they do not keep step with the
//! partitions' publishing.
//!
//! The background flows `WARMUP` seconds (default 3) before the first
//! probe, so that the probes see a steady state rather than a broker whose
//! JIT is still compiling (docs/performance.md, "Freshness"). With `TRACE`,
//! each probe's send time (Unix ms), delay (ms) and how long the broker
//! took to acknowledge it (ms, `acks=1`: written to the leader's log, so
//! readable) are written there, one line each, to line the tail up with
//! frontline's log and to tell the broker's share of a slow probe from
//! frontline's.
//!
//! The summary line gives the rate the background actually kept beside
//! the one asked for, and a line of its own follows when it kept less
//! than 95 % of it: the delays were then measured under a lighter load.
//! A `result:` line repeats the rates and delays as bare numbers for the
//! script.
//!
//!     cargo run --release --example freshness -- BROKERS TOPIC HOST:PORT RATE PROBES [WARMUP [TRACE]]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontline::simulate::{SimConfig, Simulator};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext};

const PROBE_QUEUE: &str = "freshness-probe";

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `json` with its `"ts":` value replaced by `ts`, written into `out`
/// (reused from event to event, so the background allocates no line).
fn with_ts(json: &str, ts: i64, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let Some(i) = json.find("\"ts\":") else {
        out.push_str(json);
        return;
    };
    let start = i + 5;
    let end = start
        + json[start..]
            .find(|c: char| !c.is_ascii_digit() && c != '-')
            .unwrap_or(json.len() - start);
    out.push_str(&json[..start]);
    write!(out, "{ts}").expect("writing to a String");
    out.push_str(&json[end..]);
}

/// What a probe's scrape asks for: the one family it reads
/// (`name[]`, docs/operations.md, "HTTP"), or with `SCRAPE=full` in the
/// environment every family, as the bench scraped before `/metrics` took
/// `name[]`.
fn scrape_path() -> &'static str {
    match std::env::var("SCRAPE").as_deref() {
        Ok("full") => "/metrics",
        _ => "/metrics?name%5B%5D=support_tickets_created_total",
    }
}

/// One `GET` of [`scrape_path`]: the probe queue's created tickets, summed.
fn probes_visible(addr: &str) -> std::io::Result<u64> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        scrape_path()
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let needle = format!("queue=\"{PROBE_QUEUE}\"");
    Ok(body
        .lines()
        .filter(|l| l.starts_with("support_tickets_created_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

fn config(brokers: &str, linger_ms: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("linger.ms", linger_ms)
        .set("acks", "1");
    c
}

/// The background's producer: delivery reports only for failures (a report
/// per message is work on the generator's one thread, for nothing).
fn producer(brokers: &str, linger_ms: &str) -> BaseProducer {
    config(brokers, linger_ms)
        .set("delivery.report.only.error", "true")
        .create()
        .expect("producer")
}

/// When the broker acknowledged the last probe.
#[derive(Default)]
struct Acked(Mutex<Option<Instant>>);

impl ClientContext for Acked {}

impl ProducerContext for Acked {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if r.is_ok() {
            *self.0.lock().expect("ack lock") = Some(Instant::now());
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (brokers, topic, addr, rate, probes, rest) = match &args[..] {
        [_, b, t, a, r, p, rest @ ..] if rest.len() <= 2 => (
            b.clone(),
            t.clone(),
            a.clone(),
            r.parse::<f64>().expect("RATE"),
            p.parse::<u64>().expect("PROBES"),
            rest,
        ),
        _ => {
            eprintln!("usage: freshness BROKERS TOPIC HOST:PORT RATE PROBES [WARMUP [TRACE]]");
            std::process::exit(2);
        }
    };
    let warmup: u64 = rest.first().map_or(3, |w| w.parse().expect("WARMUP"));
    let mut trace = rest
        .get(1)
        .map(|f| std::io::BufWriter::new(std::fs::File::create(f).expect("TRACE")));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let background = {
        let (stop, sent, brokers, topic) =
            (stop.clone(), sent.clone(), brokers.clone(), topic.clone());
        std::thread::spawn(move || {
            let p = producer(&brokers, "5");
            let mut sim = Simulator::new(SimConfig {
                start_ms: wall_ms(),
                peak_per_hour: 20_000.0,
                agents: 200,
                ..Default::default()
            });
            let t0 = Instant::now();
            let mut n = 0u64;
            let mut json = String::new();
            while !stop.load(Ordering::Relaxed) {
                // Paced in steps of 5 ms.
                let due = (t0.elapsed().as_secs_f64() * rate) as u64;
                if n >= due {
                    p.poll(Duration::from_millis(5));
                    continue;
                }
                let now = wall_ms();
                while n < due {
                    let Some(ev) = sim.next() else { return };
                    with_ts(&ev.json, now, &mut json);
                    let mut rec = BaseRecord::to(&topic).key(&ev.key).payload(&json);
                    loop {
                        match p.send(rec) {
                            Ok(()) => break,
                            Err((_, r)) => {
                                rec = r;
                                p.poll(Duration::from_millis(1));
                            }
                        }
                    }
                    n += 1;
                    // Counted as it goes: a producer behind the asked rate
                    // stays in this loop, and the rate the probes report
                    // is read from this count.
                    if n.is_multiple_of(1024) {
                        sent.store(n, Ordering::Relaxed);
                    }
                }
                sent.store(n, Ordering::Relaxed);
                p.poll(Duration::ZERO);
            }
            let _ = p.flush(Duration::from_secs(10));
        })
    };
    // The background flows a while before the first probe.
    std::thread::sleep(Duration::from_secs(warmup));
    // Its own thread polls it, so an ack is timed when it arrives.
    let probe: ThreadedProducer<Acked> = config(&brokers, "0")
        .create_with_context(Acked::default())
        .expect("probe producer");
    let base = loop {
        match probes_visible(&addr) {
            Ok(n) => break n,
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let t_all = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    let mut delays = Vec::new();
    let mut scrapes = Vec::new();
    let mut acks = Vec::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let id = std::process::id();
    for i in 1..=probes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(x % 100));
        let name = format!("probe-{id}-{i}");
        let json = format!(
            r#"{{"event_id":"{name}","type":"ticket.created","ts":{},"ticket_id":"{name}","customer_id":"{name}","channel":"chat","priority":"low","queue":"{PROBE_QUEUE}","category":"probe"}}"#,
            wall_ms()
        );
        *probe.context().0.lock().expect("ack lock") = None;
        let (t0, sent_at) = (Instant::now(), wall_ms());
        probe
            .send(BaseRecord::to(&topic).key(&name).payload(&json))
            .expect("probe produced");
        loop {
            let s0 = Instant::now();
            let seen = probes_visible(&addr).expect("scrape");
            scrapes.push(s0.elapsed().as_secs_f64() * 1e3);
            if seen >= base + i {
                let delay = t0.elapsed().as_secs_f64() * 1e3;
                // Seen before its ack was read: the ack came no later.
                let acked = probe
                    .context()
                    .0
                    .lock()
                    .expect("ack lock")
                    .map_or(delay, |a| {
                        (a.duration_since(t0).as_secs_f64() * 1e3).min(delay)
                    });
                if let Some(t) = trace.as_mut() {
                    writeln!(t, "{sent_at} {delay:.1} {acked:.1}").expect("TRACE written");
                }
                delays.push(delay);
                acks.push(acked);
                break;
            }
            // Scrapes back to back would keep a core busy encoding.
            std::thread::sleep(Duration::from_millis(10));
            if t0.elapsed() > Duration::from_secs(30) {
                eprintln!("probe {i} not visible after 30 s");
                std::process::exit(1);
            }
        }
    }
    let secs = t_all.elapsed().as_secs_f64();
    if let Some(mut t) = trace {
        t.flush().expect("TRACE written");
    }
    let bg_rate = (sent.load(Ordering::Relaxed) - sent_before) as f64 / secs;
    stop.store(true, Ordering::Relaxed);
    let _ = background.join();
    delays.sort_by(f64::total_cmp);
    scrapes.sort_by(f64::total_cmp);
    acks.sort_by(f64::total_cmp);
    let (p50, p90, p99, max) = (
        pct(&delays, 0.5),
        pct(&delays, 0.9),
        pct(&delays, 0.99),
        delays[delays.len() - 1],
    );
    println!(
        "{} probes over {secs:.1} s at {bg_rate:.0} background events/s (asked {rate:.0}): \
         produce -> visible on /metrics p50 {p50:.0} ms, p90 {p90:.0} ms, p99 {p99:.0} ms, max {max:.0} ms; \
         scrape p50 {:.1} ms ({} scrapes); broker ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        pct(&scrapes, 0.5),
        scrapes.len(),
        pct(&acks, 0.5),
        pct(&acks, 0.99),
        acks[acks.len() - 1],
    );
    // The same figures for scripts/bench-freshness.sh to read: its search
    // for the rate this machine keeps live asks whether the background kept
    // the asked rate and whether the probes' delays stayed short.
    println!(
        "result: asked {rate:.0} kept {bg_rate:.0} p50 {p50:.0} p90 {p90:.0} p99 {p99:.0} max {max:.0}"
    );
    // A producer that fell behind measured a lighter load than asked: say
    // so where the figures are read, not only in the rate beside them.
    if bg_rate < 0.95 * rate {
        println!(
            "the background's producer kept {:.0} % of the asked rate: these delays are at \
             {bg_rate:.0} events/s, not {rate:.0}",
            100.0 * bg_rate / rate
        );
    }
}
