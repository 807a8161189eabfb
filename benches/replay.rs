//! The whole `frontline replay` process against a decode-only pass over the
//! same file (docs/performance.md, "Replay against the decode ceiling").
//!
//! The input is a simulated day (`frontline simulate`, 12 000 contacts an
//! hour at the peak, about 1 M events; FRONTLINE_BENCH_PEAK changes it).
//! Each round runs, one after another and in this order:
//!
//! - `decode`: this process reads the file through a 1 MiB buffer, splits it
//!   into lines into one reused buffer, trims them and decodes each with the
//!   project's decoder into the event the engine takes;
//! - `serde`: the same with a bare serde_json borrowed struct instead;
//! - `replay-1`: `frontline replay --threads 1` (a child process);
//! - `replay-2`: `frontline replay --threads 2` (the default: read and decode
//!   on one thread, apply on another).
//!
//! Rounds alternate the four (FRONTLINE_BENCH_ROUNDS, default 5), so a load
//! that comes and goes falls on all of them; the report is the median wall
//! time and CPU time of each and the median of the per-round ratios, against
//! each of the two decode-only passes. Under
//! `cargo test` (no `--bench`) it runs one round on a small input.

#[path = "measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::{loadavg, median};
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use frontline::decode::decode;

/// `limits.max_event_bytes` default.
const MAX_BYTES: usize = 64 * 1024;

/// The fields of an event, borrowed from the line (what a hand-written
/// serde_json consumer would decode).
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Borrowed<'a> {
    event_id: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    ts: i64,
    ticket_id: Option<&'a str>,
    call_id: Option<&'a str>,
    agent_id: Option<&'a str>,
    customer_id: Option<&'a str>,
    queue: Option<&'a str>,
    channel: Option<&'a str>,
    priority: Option<&'a str>,
    status: Option<&'a str>,
    category: Option<&'a str>,
    score: Option<u8>,
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Reads and splits `path` into lines, calling `f` on each non-blank one;
/// returns how many `f` accepted.
fn each_line(path: &Path, mut f: impl FnMut(&[u8]) -> bool) -> u64 {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path).expect("input"));
    let mut line = Vec::with_capacity(4096);
    let mut ok = 0;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).expect("read") == 0 {
            return ok;
        }
        let b = trim(&line);
        if !b.is_empty() && f(b) {
            ok += 1;
        }
    }
}

/// CPU time (user + system) of this process, or of its waited-for children.
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: `ru` is a valid rusage to write to.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

const PASSES: [&str; 4] = ["decode", "serde", "replay-1", "replay-2"];

/// Runs pass `i` once; returns (wall, cpu, events).
fn run(i: usize, bin: &str, input: &Path) -> (Duration, Duration, u64) {
    let (c0, children0) = (cpu(libc::RUSAGE_SELF), cpu(libc::RUSAGE_CHILDREN));
    let t = Instant::now();
    let n = match i {
        0 => each_line(input, |b| {
            black_box(decode(black_box(b), MAX_BYTES)).is_ok()
        }),
        1 => each_line(input, |b| {
            black_box(serde_json::from_slice::<Borrowed>(black_box(b))).is_ok()
        }),
        _ => {
            let out = Command::new(bin)
                .args(["replay", "--threads", if i == 2 { "1" } else { "2" }])
                .arg("--input")
                .arg(input)
                .args(["--metrics-out", "/dev/null"])
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .expect("run frontline replay");
            assert!(out.status.success(), "replay failed: {out:?}");
            // "replay: N lines, M events, …"
            let err = String::from_utf8_lossy(&out.stderr);
            err.split(", ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .expect("replay summary line")
        }
    };
    let wall = t.elapsed();
    let used = if i < 2 {
        cpu(libc::RUSAGE_SELF) - c0
    } else {
        cpu(libc::RUSAGE_CHILDREN) - children0
    };
    (wall, used, n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let peak = env("FRONTLINE_BENCH_PEAK", if bench { 12_000 } else { 240 });
    let rounds = env("FRONTLINE_BENCH_ROUNDS", if bench { 5 } else { 1 }) as usize;
    let bin = env!("CARGO_BIN_EXE_frontline");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let input = dir.join(format!("replay-bench-{peak}.jsonl"));
    if !input.exists() {
        let tmp = dir.join(format!("replay-bench-{peak}.jsonl.tmp"));
        let out = File::create(&tmp).expect("create input");
        let agents = (peak / 10).max(24).to_string();
        let st = Command::new(bin)
            .args(["simulate", "--duration", "1d", "--peak-per-hour"])
            .arg(peak.to_string())
            .args(["--agents", &agents])
            .stdout(out)
            .status()
            .expect("run frontline simulate");
        assert!(st.success());
        std::fs::rename(&tmp, &input).expect("rename input");
    }
    let bytes = std::fs::metadata(&input).expect("input").len();
    println!(
        "replay: input {} ({bytes} bytes), {rounds} rounds, load average before {}",
        input.display(),
        loadavg()
    );
    let mut wall = vec![Vec::new(); PASSES.len()];
    let mut cpus = vec![Vec::new(); PASSES.len()];
    let mut ratio = vec![Vec::new(); PASSES.len()];
    let mut ratio_serde = vec![Vec::new(); PASSES.len()];
    let mut events = 0;
    for round in 0..rounds {
        let mut w = [0.0; PASSES.len()];
        for (i, name) in PASSES.iter().enumerate() {
            let (t, c, n) = run(i, bin, &input);
            if i == 0 {
                events = n;
            }
            // Every pass must see every event, or the comparison is void.
            assert_eq!(n, events, "{name} decoded {n} events, decode {events}");
            w[i] = t.as_secs_f64();
            wall[i].push(t.as_secs_f64());
            cpus[i].push(c.as_secs_f64());
            println!(
                "replay:   round {round} {name:9} wall {:7.3} s  cpu {:7.3} s",
                t.as_secs_f64(),
                c.as_secs_f64()
            );
        }
        for i in 0..PASSES.len() {
            // Throughput relative to decode: decode's time over this pass's;
            // and relative to the serde_json pass, issue 16's own baseline.
            ratio[i].push(w[0] / w[i]);
            ratio_serde[i].push(w[1] / w[i]);
        }
    }
    println!("replay: {events} events, medians of {rounds} rounds:");
    println!(
        "replay:   pass       wall s   M events/s (wall)   cpu s   × decode   × serde (wall, per round)"
    );
    for (i, name) in PASSES.iter().enumerate() {
        let t = median(wall[i].clone());
        println!(
            "replay:   {name:9} {t:7.3}   {:8.3}            {:7.3}   {:.2}       {:.2}",
            events as f64 / t / 1e6,
            median(cpus[i].clone()),
            median(ratio[i].clone()),
            median(ratio_serde[i].clone())
        );
    }
    // The spread of the pipelined replay's per-round ratios, which the
    // medians above hide: a verdict near 1.0 needs it.
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}–{hi:.2}")
    };
    let r2 = PASSES
        .iter()
        .position(|&p| p == "replay-2")
        .expect("a pass");
    println!(
        "replay: replay-2 per round: × decode {}, × serde {}",
        range(&ratio[r2]),
        range(&ratio_serde[r2])
    );
    println!("replay: load average after {}", loadavg());
}
