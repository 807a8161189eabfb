//! The fault matrix: `frontline run` instances against a real Apache Kafka
//! broker while a producer feeds them at a steady pace, and a fault strikes
//! under that load — kill -9, rebalances, a broker outage, SIGTERM without a
//! broker, a corrupted checkpoint, an SLA deadline passing while an instance
//! is down.
//!
//! Throughout each case a watcher scrapes every live instance once a second
//! and records any counter or histogram series that an instance (one port,
//! across restarts) exports lower than it did before: Prometheus reads that
//! as a reset. Each case ends, once the instances are quiet, by comparing the
//! `support_*` counters and histograms summed over instances and partitions
//! with `frontline replay` of exactly the produced events.
//!
//! Fault points come from a seeded generator; the seed is printed and named
//! in every failure, and `FRONTLINE_FAULT_SEED=<seed>` repeats a run's points.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::kafka::*;

/// How long a series may be missing after the broker is back (case 3).
const GAP_LIMIT: Duration = Duration::from_secs(10);

/// Families kept by the process rather than by a partition's engine: they
/// start again from zero when the process restarts, and only then.
const PROCESS_FAMILIES: &[&str] = &[
    "process_cpu_seconds_total",
    "frontline_rebalances_total",
    "frontline_batch_seconds",
    "frontline_http_refused_total",
];

// ---------------------------------------------------------------------------
// Random fault points

/// splitmix64: fault points that a printed seed reproduces.
struct Rng(u64);

impl Rng {
    fn seeded(case: &str) -> (u64, Rng) {
        let seed = std::env::var("FRONTLINE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{case}: FRONTLINE_FAULT_SEED={seed}");
        (seed, Rng(seed))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Series

/// The counter and histogram samples of an exposition (`# TYPE` says which
/// families are cumulative): `_total`, `_bucket`, `_count`, `_sum`.
fn cumulative(text: &str) -> BTreeMap<String, f64> {
    let families: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, kind)| matches!(kind.trim(), "counter" | "histogram"))
        .map(|(name, _)| name)
        .collect();
    series(text)
        .into_iter()
        .filter(|(k, _)| {
            let name = k.split('{').next().unwrap_or(k);
            families.contains(name)
                || ["_total", "_bucket", "_count", "_sum"]
                    .iter()
                    .any(|s| name.strip_suffix(s).is_some_and(|f| families.contains(f)))
        })
        .collect()
}

/// Whether a series is kept by the process (reset by a restart).
fn process_level(key: &str) -> bool {
    let name = key.split('{').next().unwrap_or(key);
    name.starts_with("process_")
        || PROCESS_FAMILIES.iter().any(|f| {
            name.strip_prefix(f)
                .is_some_and(|s| matches!(s, "" | "_bucket" | "_count" | "_sum"))
        })
}

/// `support_*` counters and histograms summed without `partition`, over
/// several expositions (instances).
fn support_sum<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, f64> {
    let mut sum = BTreeMap::new();
    for text in texts {
        for (k, v) in cumulative(text) {
            if k.starts_with("support_") {
                *sum.entry(without_label(&k, "partition")).or_default() += v;
            }
        }
    }
    sum
}

/// `support_*` counters and histograms of a replay's exposition.
fn support_of_replay(text: &str) -> BTreeMap<String, f64> {
    cumulative(text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("support_"))
        .collect()
}

// ---------------------------------------------------------------------------
// The watcher

/// What the watcher found, shared with the test thread.
#[derive(Default)]
struct Findings {
    /// Per port: the start it belongs to and the highest value of each series.
    highest: BTreeMap<u16, (u32, BTreeMap<String, f64>)>,
    /// One line per scrape of an instance that went down somewhere.
    decreases: Vec<String>,
    decrease_count: usize,
    /// Union over instances: when each series was last seen.
    last_seen: BTreeMap<String, Instant>,
    /// Absences are measured from here (e.g. the broker's return) ...
    gap_origin: Option<Instant>,
    /// ... and not at all while this is set (e.g. the broker is down).
    gaps_paused: bool,
    /// Worst absence beyond `GAP_LIMIT` per series.
    gaps: BTreeMap<String, Duration>,
    scrapes: usize,
}

/// Scrapes every live instance every second for the whole case.
struct Watcher {
    /// Live instances: port → how many times one was started on it.
    live: Mutex<BTreeMap<u16, u32>>,
    findings: Mutex<Findings>,
    stop: AtomicBool,
    t0: Instant,
}

impl Watcher {
    fn spawn() -> (Arc<Watcher>, JoinHandle<()>) {
        let w = Arc::new(Watcher {
            live: Mutex::new(BTreeMap::new()),
            findings: Mutex::new(Findings::default()),
            stop: AtomicBool::new(false),
            t0: Instant::now(),
        });
        let me = w.clone();
        let handle = std::thread::spawn(move || {
            while !me.stop.load(Ordering::SeqCst) {
                me.scrape_once();
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        (w, handle)
    }

    /// One round. The live set stays locked for the round, so an instance
    /// is never killed or restarted in the middle of it.
    fn scrape_once(&self) {
        let live = self.live.lock().unwrap();
        let now = Instant::now();
        let at = now.duration_since(self.t0).as_secs_f64();
        let mut union = BTreeSet::new();
        let mut complete = !live.is_empty();
        let mut f = self.findings.lock().unwrap();
        f.scrapes += 1;
        for (&port, &start) in live.iter() {
            let Some((200, text)) = http_get_status(port, "/metrics") else {
                complete = false;
                continue;
            };
            let now_values = cumulative(&text);
            let (seen_start, highest) = f.highest.entry(port).or_insert((start, BTreeMap::new()));
            if *seen_start != start {
                // A new process on this port: its own counters start again.
                highest.retain(|k, _| !process_level(k));
                *seen_start = start;
            }
            let mut found = Vec::new();
            for (k, v) in &now_values {
                match highest.get_mut(k) {
                    Some(h) if *v < *h => found.push(format!("{k} {h} → {v}")),
                    Some(h) => *h = *v,
                    None => {
                        highest.insert(k.clone(), *v);
                    }
                }
                union.insert(k.clone());
            }
            if !found.is_empty() {
                f.decrease_count += found.len();
                if f.decreases.len() < 30 {
                    f.decreases.push(format!(
                        "t={at:.1}s port {port} (start {start}): {} series lower, e.g.\n      {}",
                        found.len(),
                        found[..found.len().min(4)].join("\n      ")
                    ));
                }
            }
        }
        if !complete {
            return;
        }
        for k in &union {
            f.last_seen.insert(k.clone(), now);
        }
        if f.gaps_paused {
            return;
        }
        let Some(origin) = f.gap_origin else { return };
        let mut gaps = Vec::new();
        for (k, seen) in &f.last_seen {
            // Only engine series have to come back; process-level ones go
            // with their process.
            if union.contains(k) || process_level(k) {
                continue;
            }
            let absent = now.duration_since((*seen).max(origin));
            if absent > GAP_LIMIT {
                gaps.push((k.clone(), absent));
            }
        }
        for (k, d) in gaps {
            let worst = f.gaps.entry(k).or_default();
            *worst = (*worst).max(d);
        }
    }

    /// Puts `port` in the rounds: its `start`-th process.
    fn add(&self, port: u16, start: u32) {
        self.live.lock().unwrap().insert(port, start);
    }

    /// Takes `port` out of the rounds (after a round in progress).
    fn remove(&self, port: u16) {
        self.live.lock().unwrap().remove(&port);
    }
}

// ---------------------------------------------------------------------------
// The producer

/// Feeds the events to the topic through one kcat process at a steady pace,
/// then one closing event per partition.
struct Producer {
    handle: Option<JoinHandle<()>>,
    sent: Arc<AtomicUsize>,
    total: usize,
}

impl Producer {
    fn spawn(
        brokers: &str,
        topic: &str,
        keyed: &[String],
        closing: &[(i32, String)],
        per_sec: f64,
    ) -> Producer {
        let sent = Arc::new(AtomicUsize::new(0));
        let (brokers, topic) = (brokers.to_string(), topic.to_string());
        let (keyed, closing) = (keyed.to_vec(), closing.to_vec());
        let counter = sent.clone();
        let total = keyed.len();
        let handle = std::thread::spawn(move || {
            let mut args = kcat_producer_args(&brokers, &topic, None);
            // Keep going through a broker outage: librdkafka buffers and retries.
            args.push("-E".into());
            let mut child = Command::new("kcat")
                .args(args)
                .stdin(Stdio::piped())
                .spawn()
                .expect("kcat not found: run ./scripts/install-tools.sh");
            {
                let mut stdin = BufWriter::new(child.stdin.take().unwrap());
                let t0 = Instant::now();
                for (i, line) in keyed.iter().enumerate() {
                    let due = t0 + Duration::from_secs_f64(i as f64 / per_sec);
                    let now = Instant::now();
                    if due > now {
                        stdin.flush().unwrap();
                        std::thread::sleep(due - now);
                    }
                    writeln!(stdin, "{line}").unwrap();
                    counter.store(i + 1, Ordering::SeqCst);
                }
                stdin.flush().unwrap();
            }
            assert!(child.wait().unwrap().success(), "kcat produce failed");
            for (p, line) in &closing {
                kcat_produce_on(
                    &brokers,
                    &topic,
                    &[format!("closing-{p}\t{line}")],
                    Some(*p),
                );
            }
        });
        Producer {
            handle: Some(handle),
            sent,
            total,
        }
    }

    /// Waits until `fraction` of the events have been handed to kcat.
    fn wait_fraction(&self, fraction: f64) -> usize {
        let n = ((self.total as f64 * fraction) as usize).min(self.total);
        wait_until(
            Duration::from_secs(120),
            &format!("{n} events are produced"),
            || self.sent.load(Ordering::SeqCst) >= n,
        );
        n
    }

    /// Waits (bounded) until every event, closing ones included, is acknowledged.
    fn finish(mut self, limit: Duration) {
        let handle = self.handle.take().unwrap();
        wait_until(limit, "the producer has delivered every event", || {
            handle.is_finished()
        });
        if handle.join().is_err() {
            panic!("the producer failed (see its panic above)");
        }
    }
}

// ---------------------------------------------------------------------------
// The cluster of instances

/// One instance's place: its port and log outlive its process.
struct Member {
    port: u16,
    log: PathBuf,
    /// Processes started on this port so far.
    starts: u32,
    process: Option<Frontline>,
}

/// N `frontline run` instances in one group on one topic, watched.
struct Cluster {
    launch: Launch,
    members: Vec<Member>,
    watcher: Arc<Watcher>,
    watch_thread: Option<JoinHandle<()>>,
    /// What happened when (fault points), printed on failure.
    notes: Vec<String>,
    seed: u64,
    t0: Instant,
}

impl Cluster {
    /// A fresh 4-partition topic and group on `brokers`; `args` go to every
    /// instance after the defaults.
    fn new(brokers: &str, name: &str, seed: u64, args: &[String]) -> Cluster {
        let topic = unique(&format!("faults-{name}"));
        create_topic_on(brokers, &topic, PARTITIONS);
        let mut launch = Launch::new(&topic, &unique("g"));
        launch.brokers = brokers.to_string();
        // Launch checkpoints every second, so faults land between checkpoints.
        launch.args = args.to_vec();
        let (watcher, watch_thread) = Watcher::spawn();
        Cluster {
            launch,
            members: Vec::new(),
            watcher,
            watch_thread: Some(watch_thread),
            notes: Vec::new(),
            seed,
            t0: Instant::now(),
        }
    }

    fn topic(&self) -> &str {
        &self.launch.topic
    }

    fn note(&mut self, what: String) {
        let line = format!("t={:.1}s {what}", self.t0.elapsed().as_secs_f64());
        eprintln!("{}: {line}", self.launch.topic);
        self.notes.push(line);
    }

    /// Starts one more instance on a free port; its index.
    fn start(&mut self) -> usize {
        let f = Frontline::launch(&self.launch);
        let port = f.port;
        self.watcher.add(port, 1);
        self.members.push(Member {
            port,
            log: f.log.clone(),
            starts: 1,
            process: Some(f),
        });
        let i = self.members.len() - 1;
        self.note(format!("instance {i} started on port {port}"));
        i
    }

    /// Starts instance `i` again on its port.
    fn restart(&mut self, i: usize) {
        assert!(self.members[i].process.is_none(), "instance {i} is running");
        let port = self.members[i].port;
        let mut launch = self.launch.clone();
        launch.port = Some(port);
        let f = Frontline::launch(&launch);
        let m = &mut self.members[i];
        m.starts += 1;
        self.watcher.add(port, m.starts);
        m.process = Some(f);
        self.note(format!("instance {i} restarted on port {port}"));
    }

    fn kill9(&mut self, i: usize) {
        let port = self.members[i].port;
        self.watcher.remove(port);
        if let Some(mut f) = self.members[i].process.take() {
            f.kill9();
        }
        self.note(format!("instance {i} killed (kill -9)"));
    }

    /// SIGTERM, bounded by `limit`: how long the exit took (`None`: it did not).
    fn terminate(&mut self, i: usize, limit: Duration) -> Option<Duration> {
        let port = self.members[i].port;
        self.watcher.remove(port);
        let mut f = self.members[i].process.take().expect("instance is running");
        let took = f.terminate(limit);
        self.note(format!("instance {i} got SIGTERM; exit after {took:?}"));
        took
    }

    fn running(&self) -> impl Iterator<Item = &Frontline> {
        self.members.iter().filter_map(|m| m.process.as_ref())
    }

    /// Waits until instance `i` owns partitions (the rebalance happened).
    fn wait_assigned(&self, i: usize) {
        let port = self.members[i].port;
        wait_until(
            Duration::from_secs(60),
            &format!("instance {i} has partitions"),
            || {
                http_get_status(port, "/readyz")
                    .is_some_and(|(s, body)| s == 200 || !body.contains("no partitions"))
            },
        );
    }

    /// Every running instance's exposition (`None`: one did not answer).
    fn expositions(&self) -> Option<Vec<String>> {
        self.running()
            .map(|f| match http_get_status(f.port, "/metrics") {
                Some((200, text)) => Some(text),
                _ => None,
            })
            .collect()
    }

    /// Waits (bounded) until the instances are quiet: every one ready, and
    /// the summed series unchanged over three scrapes a second apart, or all
    /// `produced` events applied and unchanged once. A timeout is a finding.
    fn settle(&mut self, produced: usize) -> Option<String> {
        let start = Instant::now();
        let mut last: Option<(f64, BTreeMap<String, f64>)> = None;
        let mut same = 0;
        while start.elapsed() < Duration::from_secs(90) {
            std::thread::sleep(Duration::from_secs(1));
            let ready = self
                .running()
                .all(|f| http_get_status(f.port, "/readyz").is_some_and(|(s, _)| s == 200));
            let Some(texts) = self.expositions() else {
                continue;
            };
            let events: f64 = texts
                .iter()
                .map(|t| sum_family(t, "frontline_events_total"))
                .sum();
            let now = (events, support_sum(texts.iter().map(String::as_str)));
            same = if last.as_ref() == Some(&now) {
                same + 1
            } else {
                0
            };
            last = Some(now);
            // Three equal scrapes once every event is applied: agent status
            // time is shown from the newest written checkpoint, so it can
            // step once more after the last event (docs/metrics.md, "Agent
            // time after a restart").
            if ready && (same >= 3 || (same >= 2 && events == produced as f64)) {
                self.note(format!(
                    "quiet: {events} events applied of {produced} produced"
                ));
                return None;
            }
        }
        Some(format!(
            "not quiet after 90 s (every instance ready, sums unchanged); last events total {:?} of {produced}",
            last.map(|l| l.0)
        ))
    }

    /// Stops the watcher and fails with everything found: decreases, gaps
    /// (when `gaps` is set), a settle timeout and differences from `replay`.
    fn verdict(mut self, produced: usize, expected: &str, gaps: bool) -> BTreeMap<String, f64> {
        let mut problems = Vec::new();
        if let Some(p) = self.settle(produced) {
            problems.push(p);
        }
        let live = support_sum(
            self.expositions()
                .unwrap_or_default()
                .iter()
                .map(String::as_str),
        );
        self.watcher.stop.store(true, Ordering::SeqCst);
        self.watch_thread.take().unwrap().join().unwrap();
        let f = self.watcher.findings.lock().unwrap();
        if f.decrease_count > 0 {
            problems.push(format!(
                "{} counter/histogram samples lower than the same instance exported before:\n  {}",
                f.decrease_count,
                f.decreases.join("\n  ")
            ));
        }
        if gaps && !f.gaps.is_empty() {
            let list: Vec<String> = f
                .gaps
                .iter()
                .take(40)
                .map(|(k, d)| format!("{k} missing for {:.1}s", d.as_secs_f64()))
                .collect();
            problems.push(format!(
                "{} series missing longer than {GAP_LIMIT:?} after the broker came back (first {}):\n  {}",
                f.gaps.len(),
                list.len(),
                list.join("\n  ")
            ));
        }
        let diffs = differences(&live, &support_of_replay(expected), "live vs replay");
        if !diffs.is_empty() {
            problems.push(format!(
                "sum over instances and partitions differs from replay in {} series (first 40):\n  {}",
                diffs.len(),
                diffs[..diffs.len().min(40)].join("\n  ")
            ));
        }
        let scrapes = f.scrapes;
        drop(f);
        assert!(
            problems.is_empty(),
            "FRONTLINE_FAULT_SEED={} topic {} ({scrapes} scrapes)\nwhat happened:\n  {}\n\n{}",
            self.seed,
            self.launch.topic,
            self.notes.join("\n  "),
            problems.join("\n\n")
        );
        live
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.watcher.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// A broker of the case's own, for faults that take the broker away

/// A single-node broker in its own directory (scripts/kafka.sh), stopped
/// when dropped, that a case may halt and resume on the same port.
struct OwnBroker {
    dir: PathBuf,
    address: String,
}

impl OwnBroker {
    fn start(name: &str) -> OwnBroker {
        let dir = std::env::temp_dir().join(unique(&format!("frontline-broker-{name}")));
        let address = kafka_sh("start", &dir);
        OwnBroker { dir, address }
    }

    fn halt(&self) {
        kafka_sh("halt", &self.dir);
    }

    fn resume(&self) {
        let address = kafka_sh("resume", &self.dir);
        assert_eq!(address, self.address, "the broker came back elsewhere");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh")
}

fn kafka_sh(what: &str, dir: &std::path::Path) -> String {
    let out = Command::new(script())
        .arg(what)
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kafka.sh {what} {} failed",
        dir.display()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

// ---------------------------------------------------------------------------
// The cases

/// Events of a simulated stream at a steady pace: (keyed, closing, produced).
fn load(n: usize, seed: u64) -> (Vec<String>, Vec<(i32, String)>, usize) {
    let (keyed, closing) = scenario(n, seed);
    let produced = keyed.len() + closing.len();
    (keyed, closing, produced)
}

#[test]
fn kill_9_under_load_three_times() {
    let (seed, mut rng) = Rng::seeded("kill_9_under_load_three_times");
    let (keyed, closing, produced) = load(6000, 31);
    let mut c = Cluster::new(&broker(), "kill9", seed, &[]);
    c.start();
    c.start();
    let producer = Producer::spawn(&broker(), c.topic(), &keyed, &closing, 200.0);
    for round in 0..3 {
        // One point in each third of the stream, away from its edges.
        let at = rng.between((round as f64 + 0.15) / 3.0, (round as f64 + 0.85) / 3.0);
        let victim = rng.below(2);
        let down = Duration::from_secs_f64(rng.between(0.0, 3.0));
        let n = producer.wait_fraction(at);
        c.note(format!(
            "kill -9 of instance {victim} at event {n}, down for {down:?}"
        ));
        c.kill9(victim);
        std::thread::sleep(down);
        c.restart(victim);
    }
    producer.finish(Duration::from_secs(120));
    c.verdict(produced, &replay(&keyed, &closing), false);
}

#[test]
fn rebalances_under_load_one_two_three_one() {
    let (seed, mut rng) = Rng::seeded("rebalances_under_load_one_two_three_one");
    let (keyed, closing, produced) = load(8000, 32);
    let mut c = Cluster::new(&broker(), "rebalance", seed, &[]);
    c.start();
    let producer = Producer::spawn(&broker(), c.topic(), &keyed, &closing, 200.0);
    let n = producer.wait_fraction(rng.between(0.1, 0.25));
    c.note(format!("second instance at event {n}"));
    let b = c.start();
    c.wait_assigned(b);
    let n = producer.wait_fraction(rng.between(0.35, 0.5));
    c.note(format!("third instance at event {n}"));
    let third = c.start();
    c.wait_assigned(third);
    let n = producer.wait_fraction(rng.between(0.6, 0.75));
    c.note(format!("back to one instance at event {n}"));
    for i in [b, third] {
        assert!(
            c.terminate(i, Duration::from_secs(15)).is_some(),
            "instance {i} did not exit within 15 s of SIGTERM"
        );
    }
    producer.finish(Duration::from_secs(120));
    c.verdict(produced, &replay(&keyed, &closing), false);
}

#[test]
fn broker_outage_under_load() {
    let (seed, mut rng) = Rng::seeded("broker_outage_under_load");
    let kafka = OwnBroker::start("outage");
    let (keyed, closing, produced) = load(6000, 33);
    let mut c = Cluster::new(&kafka.address, "outage", seed, &[]);
    c.start();
    c.start();
    let producer = Producer::spawn(&kafka.address, c.topic(), &keyed, &closing, 200.0);
    let n = producer.wait_fraction(rng.between(0.2, 0.35));
    c.watcher.findings.lock().unwrap().gap_origin = Some(Instant::now());
    c.watcher.findings.lock().unwrap().gaps_paused = true;
    let outage = Duration::from_secs_f64(rng.between(20.0, 25.0));
    c.note(format!("broker halted at event {n} for {outage:?}"));
    kafka.halt();
    std::thread::sleep(outage);
    kafka.resume();
    {
        let mut f = c.watcher.findings.lock().unwrap();
        f.gap_origin = Some(Instant::now());
        f.gaps_paused = false;
    }
    c.note("broker back on the same port".into());
    producer.finish(Duration::from_secs(120));
    c.verdict(produced, &replay(&keyed, &closing), true);
}

#[test]
fn sigterm_without_a_broker_exits_in_time() {
    let (seed, mut rng) = Rng::seeded("sigterm_without_a_broker_exits_in_time");
    let kafka = OwnBroker::start("term");
    let (keyed, closing, produced) = load(3000, 34);
    let mut c = Cluster::new(&kafka.address, "term", seed, &[]);
    let i = c.start();
    let producer = Producer::spawn(&kafka.address, c.topic(), &keyed, &closing, 200.0);
    let n = producer.wait_fraction(rng.between(0.3, 0.6));
    c.note(format!("broker halted at event {n}"));
    kafka.halt();
    std::thread::sleep(Duration::from_secs_f64(rng.between(1.0, 4.0)));
    let before = std::fs::metadata(&c.members[i].log).map_or(0, |m| m.len());
    // Waits longer than the limit, so a slow exit is measured, not just failed.
    let took = c.terminate(i, Duration::from_secs(30));
    eprintln!("sigterm_without_a_broker_exits_in_time: exit took {took:?}");
    let shutdown_log: String = std::fs::read_to_string(&c.members[i].log)
        .unwrap_or_default()
        .get(before as usize..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("frontline"))
        .collect::<Vec<_>>()
        .join("\n");
    kafka.resume();
    c.note("broker back on the same port".into());
    c.restart(i);
    producer.finish(Duration::from_secs(120));
    let exit_in_time = took.is_some_and(|t| t <= Duration::from_secs(10));
    c.verdict(produced, &replay(&keyed, &closing), false);
    assert!(
        exit_in_time,
        "SIGTERM with the broker unreachable: exit took {took:?} (limit 10 s; None: still \
         running after 30 s, then killed); frontline's log lines meanwhile:\n{shutdown_log}"
    );
}

/// Defect: a broker that went away while an instance restored a partition
/// it had just been given started that partition empty ("cannot read
/// checkpoints"), and its next checkpoint replaced the state for good: the
/// sum across instances lost the partition's history. A restore now reads
/// on through the outage (or is tried again) and never starts empty for a
/// failing Kafka.
#[test]
fn a_broker_outage_during_a_restore_loses_no_state() {
    let (seed, _rng) = Rng::seeded("a_broker_outage_during_a_restore_loses_no_state");
    let kafka = OwnBroker::start("restore");
    let (keyed, closing, produced) = load(20000, 35);
    // Small chunks: a restore of many records, long enough to halt in. A
    // session that outlives the outage: the partition stays where it was
    // restoring, and what it started from is what it goes on with.
    let args = [
        "--set",
        "checkpoint.chunk_bytes=4096",
        "--set",
        "kafka.session.timeout.ms=\"45000\"",
    ]
    .map(String::from);
    let mut c = Cluster::new(&kafka.address, "restore", seed, &args);
    c.start();
    let producer = Producer::spawn(&kafka.address, c.topic(), &keyed, &closing, 1500.0);
    producer.wait_fraction(0.3);
    // Checkpoints every second: the next ones cover what came so far.
    std::thread::sleep(Duration::from_secs(2));
    let b = c.start();
    let port = c.members[b].port;
    wait_until(Duration::from_secs(60), "the new instance restores", || {
        http_get_status(port, "/readyz").is_some_and(|(_, body)| body.contains("restoring"))
    });
    c.note("broker halted while a partition restores".into());
    kafka.halt();
    kafka.resume();
    c.note("broker back on the same port".into());
    producer.finish(Duration::from_secs(120));
    c.verdict(produced, &replay(&keyed, &closing), false);
}

/// Defect: an instance started while Kafka was unreachable exited 1 once
/// its checkpoint topic's metadata request timed out (30 s), so a
/// supervisor restarting it during an outage made a crash loop. It waits
/// for the brokers, not ready, and consumes once they are back.
#[test]
fn an_instance_started_during_an_outage_waits_for_the_brokers() {
    let (seed, _rng) = Rng::seeded("an_instance_started_during_an_outage_waits_for_the_brokers");
    let kafka = OwnBroker::start("waits");
    let (keyed, closing, produced) = load(2000, 36);
    let mut c = Cluster::new(&kafka.address, "waits", seed, &[]);
    kafka.halt();
    let i = c.start();
    let port = c.members[i].port;
    // Past the 30 s a metadata request waits.
    std::thread::sleep(Duration::from_secs(40));
    assert!(
        http_get_status(port, "/readyz").is_some_and(|(status, _)| status == 503),
        "not serving, or ready without Kafka"
    );
    kafka.resume();
    c.note("broker back on the same port".into());
    let producer = Producer::spawn(&kafka.address, c.topic(), &keyed, &closing, 5000.0);
    producer.finish(Duration::from_secs(120));
    c.verdict(produced, &replay(&keyed, &closing), false);
}

/// The newest manifest of each input partition: partition → (key, changelog
/// partition, offset), from the changelog's keys.
fn newest_manifests(
    brokers: &str,
    changelog: &str,
    topic: &str,
) -> BTreeMap<i32, (String, i32, i64)> {
    let out = Command::new("kcat")
        .args([
            "-b",
            brokers,
            "-t",
            changelog,
            "-C",
            "-e",
            "-q",
            "-f",
            "%k\t%p\t%o\n",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kcat could not read the changelog {changelog}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut newest: BTreeMap<i32, (String, i32, i64)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split('\t');
        let (Some(key), Some(p), Some(o)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        // {topic}/{partition}/{slot}/m
        let mut parts = key.rsplitn(4, '/');
        let (Some("m"), Some(_slot), Some(part), Some(t)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(part), Ok(p), Ok(o)) = (part.parse::<i32>(), p.parse::<i32>(), o.parse::<i64>())
        else {
            continue;
        };
        if t != topic {
            continue;
        }
        if newest.get(&part).is_none_or(|(_, _, best)| o > *best) {
            newest.insert(part, (key.to_string(), p, o));
        }
    }
    newest
}

#[test]
fn corrupt_newest_checkpoint_falls_back_loudly() {
    let (seed, mut rng) = Rng::seeded("corrupt_newest_checkpoint_falls_back_loudly");
    let (keyed, closing, produced) = load(4000, 35);
    let mut c = Cluster::new(&broker(), "corrupt", seed, &[]);
    let i = c.start();
    let producer = Producer::spawn(&broker(), c.topic(), &keyed, &closing, 250.0);
    let n = producer.wait_fraction(rng.between(0.4, 0.6));
    c.note(format!("SIGTERM at event {n}"));
    assert!(c.terminate(i, Duration::from_secs(15)).is_some());
    let changelog = format!("{}.frontline-state", c.topic());
    let manifests = newest_manifests(&broker(), &changelog, c.topic());
    assert!(
        !manifests.is_empty(),
        "no checkpoint manifest in {changelog} (seed {seed})"
    );
    // Two partitions' newest manifests: one replaced by garbage, one with a
    // single bit flipped near its end (a well-formed header over a broken body).
    assert!(
        manifests.len() >= 2,
        "manifests of only {} partitions in {changelog} (seed {seed})",
        manifests.len()
    );
    let parts: Vec<i32> = manifests.keys().copied().collect();
    let garbled = parts[rng.below(parts.len())];
    let flipped =
        parts[(parts.iter().position(|p| *p == garbled).unwrap() + 1 + rng.below(parts.len() - 1))
            % parts.len()];
    let (key, p, o) = manifests[&garbled].clone();
    c.note(format!(
        "manifest {key} (changelog partition {p}, offset {o}) of partition {garbled} replaced by garbage"
    ));
    let garbage = format!("\u{1}\u{7f}FL-not-a-manifest-{seed}{{\"generation\":");
    kcat_produce_on(
        &broker(),
        &changelog,
        &[format!("{key}\t{garbage}")],
        Some(p),
    );
    let (key, p, o) = manifests[&flipped].clone();
    let mut value = message_value(&broker(), &changelog, p, o);
    assert!(
        value.len() > 8,
        "manifest {key} at offset {o}: {} bytes",
        value.len()
    );
    let at = value.len() - 1 - rng.below(4);
    value[at] ^= 0x01;
    c.note(format!(
        "manifest {key} (changelog partition {p}, offset {o}) of partition {flipped}: bit 0 of byte {at} of {} flipped",
        value.len()
    ));
    produce_file(&broker(), &changelog, p, &key, &value);
    let before = std::fs::metadata(&c.members[i].log).map_or(0, |m| m.len());
    c.restart(i);
    producer.finish(Duration::from_secs(120));
    let log = c.members[i].process.as_ref().unwrap().log_text();
    let after_restart = log.get(before as usize..).unwrap_or("").to_string();
    c.verdict(produced, &replay(&keyed, &closing), false);
    let loud: Vec<&str> = after_restart
        .lines()
        .filter(|l| l.contains("ERROR") && l.to_lowercase().contains("checkpoint"))
        .collect();
    for part in [garbled, flipped] {
        assert!(
            loud.iter()
                .any(|l| l.contains(&format!("partition={part}"))
                    || l.contains(&format!("/{part}/"))),
            "no ERROR line naming the checkpoint of partition {part} after its newest manifest \
             was corrupted (seed {seed}); ERROR lines about checkpoints:\n{}",
            loud.join("\n")
        );
    }
    eprintln!(
        "corrupt_newest_checkpoint_falls_back_loudly:\n{}",
        loud.join("\n")
    );
}

/// The value of one message, byte for byte.
fn message_value(brokers: &str, topic: &str, partition: i32, offset: i64) -> Vec<u8> {
    let out = Command::new("kcat")
        .args([
            "-b", brokers, "-t", topic, "-C", "-e", "-q", "-c", "1", "-f", "%s",
        ])
        .args(["-p", &partition.to_string(), "-o", &offset.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kcat could not read {topic}/{partition}@{offset}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out.stdout
}

/// Produces `value` (any bytes) under `key` to one partition: kcat sends a
/// file given as an argument as one message.
fn produce_file(brokers: &str, topic: &str, partition: i32, key: &str, value: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("value");
    std::fs::write(&file, value).unwrap();
    let status = Command::new("kcat")
        .args(["-b", brokers, "-t", topic, "-P", "-k", key])
        .args(["-p", &partition.to_string()])
        .arg(&file)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "kcat could not produce {}",
        file.display()
    );
}

const SLA_CONFIG: &str = r#"
[[sla.policies]]
name = "desk"
calendar = "24x7"
first_response = "1h"
"#;

/// One event as the customer's producer keys it.
fn ticket_event(id: &str, kind: &str, minute: i64, ticket: &str, extra: &str) -> String {
    // Monday 2026-11-16T08:00:00Z, where the simulator starts too.
    let ts = 1_794_816_000_000 + minute * 60_000;
    format!(
        r#"cust-sla	{{"event_id":"{id}","type":"{kind}","ts":{ts},"ticket_id":"{ticket}"{extra}}}"#
    )
}

#[test]
fn sla_deadline_passes_while_an_instance_is_down() {
    let (seed, mut rng) = Rng::seeded("sla_deadline_passes_while_an_instance_is_down");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("frontline.toml");
    std::fs::write(&config, SLA_CONFIG).unwrap();
    let args = vec!["--config".to_string(), config.to_str().unwrap().to_string()];
    let created =
        r#","customer_id":"cust-sla","channel":"email","priority":"normal","queue":"billing""#;
    let replied = r#","agent_id":"agent-1","public":true"#;
    // Minutes after 08:00; first response is due 60 minutes after creation.
    let before = vec![
        ticket_event("s1", "ticket.created", 0, "A", created),
        ticket_event("s2", "ticket.created", 5, "B", created), // due at 65
        ticket_event("s3", "ticket.agent_replied", 10, "A", replied), // 600 s, met
        ticket_event("s4", "ticket.created", 30, "C", created), // due at 90
    ];
    // The kill falls here: the last event is at 30, the next at 70, and B's
    // deadline (65) between them.
    let after = vec![
        ticket_event("s5", "ticket.agent_replied", 70, "C", replied), // 2400 s, met; B breaches
        ticket_event("s6", "ticket.agent_replied", 75, "B", replied), // 4200 s, breached before
        ticket_event("s7", "ticket.created", 80, "D", created),       // due at 140
        ticket_event("s8", "ticket.agent_replied", 85, "D", replied), // 300 s, met
    ];
    // Every partition's clock ends at 11:00, where the replay's does.
    let closing: Vec<(i32, String)> = (0..PARTITIONS)
        .map(|p| {
            let end: i64 = 1_794_816_000_000 + 3 * 3_600_000;
            (
                p,
                format!(
                    r#"{{"event_id":"close-sla-{p}","type":"agent.status_changed","ts":{end},"agent_id":"closing-{p}","status":"offline"}}"#
                ),
            )
        })
        .collect();
    let mut c = Cluster::new(&broker(), "sla", seed, &args);
    let i = c.start();
    kcat_produce(c.topic(), &before, None);
    wait_until(
        Duration::from_secs(60),
        "the first events are applied",
        || {
            c.expositions().is_some_and(|t| {
                t.iter()
                    .map(|t| sum_family(t, "frontline_events_total"))
                    .sum::<f64>()
                    == 4.0
            })
        },
    );
    let pause = Duration::from_secs_f64(rng.between(0.0, 2.5));
    std::thread::sleep(pause);
    c.note(format!(
        "kill -9 {pause:?} after the first 4 events were applied"
    ));
    c.kill9(i);
    kcat_produce(c.topic(), &after, None);
    for (p, line) in &closing {
        kcat_produce(c.topic(), &[format!("closing-{p}\t{line}")], Some(*p));
    }
    c.restart(i);
    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    let produced = all.len() + closing.len();
    let expected = replay_with(&all, &closing, &args);
    let live = c.verdict(produced, &expected, false);
    let labels = r#"policy="desk",priority="normal",queue="billing",sla="first_response""#;
    let get = |name: &str| -> f64 {
        live.iter()
            .filter(|(k, _)| {
                let (n, l) = common::exposition::split_key(k);
                n == name && {
                    let mut l: Vec<String> =
                        l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                    l.sort();
                    l.join(",") == labels
                }
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        get("support_sla_breaches_total"),
        1.0,
        "B breached once ({labels})"
    );
    assert_eq!(
        get("support_sla_achieved_total"),
        3.0,
        "A, C and D met ({labels})"
    );
    let fr = |suffix: &str| -> f64 {
        live.iter()
            .filter(|(k, _)| {
                k.split('{').next()
                    == Some(format!("support_first_response_seconds{suffix}").as_str())
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(fr("_count"), 4.0, "first responses of A, B, C and D");
    assert_eq!(fr("_sum"), 600.0 + 4200.0 + 2400.0 + 300.0);
}

/// The watcher's parsing, on an exposition written out by hand.
#[test]
fn series_helpers_read_the_exposition() {
    let text = "# HELP a_total A.\n# TYPE a_total counter\n\
        a_total{partition=\"3\",queue=\"q \\\"x\\\", y\"} 2\n\
        # TYPE h histogram\nh_bucket{le=\"1.0\",partition=\"0\"} 1\nh_sum{partition=\"0\"} 0.5\n\
        h_count{partition=\"0\"} 1\n# TYPE g gauge\ng{partition=\"1\"} 7\n\
        # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.25\n";
    let c = cumulative(text);
    assert_eq!(
        c.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "a_total{partition=\"3\",queue=\"q \\\"x\\\", y\"}",
            "h_bucket{le=\"1.0\",partition=\"0\"}",
            "h_count{partition=\"0\"}",
            "h_sum{partition=\"0\"}",
            "process_cpu_seconds_total",
        ]
    );
    assert_eq!(
        without_label(
            "a_total{partition=\"3\",queue=\"q \\\"x\\\", y\"}",
            "partition"
        ),
        "a_total{queue=\"q \\\"x\\\", y\"}"
    );
    assert_eq!(
        without_label("h_sum{partition=\"0\"}", "partition"),
        "h_sum"
    );
    assert!(process_level("process_cpu_seconds_total"));
    assert!(process_level("frontline_batch_seconds_bucket{le=\"0.1\"}"));
    assert!(!process_level(
        "frontline_events_total{partition=\"0\",type=\"x\"}"
    ));
    assert!(!process_level("frontline_rebalances_total_not"));
}

/// `frontline_checkpoint_age_seconds` counts from the oldest applied event
/// no acknowledged checkpoint covers, a write in flight included: an event
/// is applied, the broker halts, and the checkpoint that would cover it
/// waits on the broker; the age grows through the wait. It read 0 while a
/// write was pending, so a checkpoint stuck on timeouts could never hold
/// the alert on it.
///
/// Then, the topic quiet, the outage ends: `/readyz` stops saying Kafka is
/// unreachable and "Kafka reachable again" is logged without a message
/// coming (it waited for the next message).
#[test]
fn checkpoint_age_grows_while_a_write_is_pending_and_an_outage_ends_on_a_quiet_topic() {
    let kafka = OwnBroker::start("ckptage");
    let topic = unique("ckptage");
    create_topic_on(&kafka.address, &topic, 1);
    let event = |i: usize| {
        let ts = jiff::Timestamp::now().as_millisecond();
        format!(
            "c{i}\t{{\"event_id\":\"a{i}\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"T{i}\",\"customer_id\":\"c{i}\"}}"
        )
    };
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.brokers = kafka.address.clone();
    launch.args = [
        "--set",
        "checkpoint.interval=\"3s\"",
        "--set",
        "checkpoint.write_timeout=\"120s\"",
        // The group session outlasts the outage: the partition stays.
        "--set",
        "kafka.session.timeout.ms=\"45000\"",
        "--set",
        "kafka.heartbeat.interval.ms=\"3000\"",
    ]
    .map(String::from)
    .to_vec();
    launch.env = vec![("RUST_LOG".into(), "info,frontline::checkpoint=debug".into())];
    let f = Frontline::launch(&launch);
    let written = |f: &Frontline| f.log_text().matches("checkpoint written").count();
    // An event applied just before the broker halts is covered by no
    // acknowledged checkpoint, unless one was written in between (a
    // checkpoint comes every 3 s): then the broker resumes and it is tried
    // again with the next event.
    for i in 0..4 {
        kcat_produce_on(&kafka.address, &topic, &[event(i)], None);
        // The first event waits for the group to form on a broker just
        // started, a later one for the client to reconnect after the halt:
        // with the other fault tests on both cores, 30 s was once too short.
        wait_until(
            Duration::from_secs(90),
            "the event is applied and covered",
            || {
                let m = f.metrics();
                sum_family(&m, "frontline_events_total") == (i + 1) as f64
                    && m.contains("frontline_checkpoint_age_seconds 0.0")
            },
        );
        let before = written(&f);
        kcat_produce_on(&kafka.address, &topic, &[event(100 + i)], None);
        // As long as the first wait: on a loaded machine 30 s was once too
        // short here too.
        wait_until(Duration::from_secs(90), "the next event is applied", || {
            f.sum("frontline_events_total") == (i + 2) as f64
        });
        let applied = Instant::now();
        kafka.halt();
        std::thread::sleep(Duration::from_millis(500));
        if written(&f) > before {
            kafka.resume();
            continue;
        }
        // A checkpoint starts within 3 s and cannot finish.
        let mut ages = Vec::new();
        while applied.elapsed() < Duration::from_millis(5_500) {
            std::thread::sleep(Duration::from_millis(250));
            let m = f.metrics();
            let age = m
                .lines()
                .find_map(|l| l.strip_prefix("frontline_checkpoint_age_seconds "))
                .map(|v| v.parse::<f64>().unwrap());
            ages.push((applied.elapsed().as_secs_f64(), age));
        }
        assert_eq!(
            written(&f),
            before,
            "a checkpoint was written with the broker halted"
        );
        let seen: Vec<f64> = ages.iter().filter_map(|a| a.1).collect();
        assert!(seen.len() >= 8, "{ages:?}");
        assert!(seen.windows(2).all(|w| w[1] > w[0]), "{ages:?}");
        assert!(seen[seen.len() - 1] >= 4.0, "{ages:?}");
        kafka.resume();
        // Everything checkpointed, and the broker gone again: once it is
        // back, nothing is consumed, written or committed to tell so.
        wait_until(Duration::from_secs(30), "the event is covered", || {
            f.metrics().contains("frontline_checkpoint_age_seconds 0.0")
        });
        let readyz = || {
            http_get_status(f.port, "/readyz")
                .map(|r| r.1)
                .unwrap_or_default()
        };
        wait_until(Duration::from_secs(30), "no outage shows", || {
            !readyz().contains("Kafka unreachable")
        });
        let again = f.log_text().matches("Kafka reachable again").count();
        kafka.halt();
        wait_until(
            Duration::from_secs(40),
            "the outage shows on /readyz",
            || readyz().contains("Kafka unreachable"),
        );
        kafka.resume();
        wait_until(
            Duration::from_secs(30),
            "the outage ends without a message",
            || {
                !readyz().contains("Kafka unreachable")
                    && f.log_text().matches("Kafka reachable again").count() > again
            },
        );
        assert_eq!(f.sum("frontline_events_total"), (i + 2) as f64);
        return;
    }
    panic!("a checkpoint came between each event and the halt, four times");
}
