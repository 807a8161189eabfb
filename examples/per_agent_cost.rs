//! What `[agents] per_agent_metrics` costs `apply`, one configuration per
//! process, so that no run inherits another's heap or caches:
//!
//!     per_agent_cost off|on [RUNS]
//!     per_agent_cost off|on steady
//!
//! Generates the engine bench's corpus (`benches/corpus.rs`: 300 000
//! events, 200 agents, 20 queues), decodes it, applies it once to an engine
//! with the option off or on, and prints the events and the apply's CPU
//! time; with RUNS > 1, a first apply warms the process up uncounted and
//! the median of RUNS more is printed. `scripts/bench-per-agent.sh` runs it
//! alternately, natively for time and, in `steady` mode, under valgrind's
//! callgrind for instructions (docs/performance.md, "Per-agent metrics").
//!
//! `steady`: the steady state of a running process, as the engine bench's
//! per-agent report times it: the corpus's first half decoded and applied
//! to warm the engine up, then its second half decoded and applied in
//! [`steady`], which valgrind's callgrind counts alone with
//! `--toggle-collect='*steady*'`.

#[path = "../benches/measure.rs"]
#[allow(dead_code)]
mod measure;

#[path = "../benches/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::Engine;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let on = match mode.as_str() {
        "off" => false,
        "on" => true,
        _ => {
            eprintln!("usage: per_agent_cost off|on [RUNS | steady]");
            std::process::exit(2);
        }
    };
    // FRONTLINE_MAX_SERIES: `labels.max_series`, for both modes (default:
    // the default budget, which the option overfills on this corpus).
    let mut toml = format!("[agents]\nper_agent_metrics = {on}\n");
    if let Ok(max) = std::env::var("FRONTLINE_MAX_SERIES") {
        toml.push_str(&format!("[labels]\nmax_series = {max}\n"));
    }
    let config = Config::parse(&toml).expect("valid config");
    let corpus = corpus::generate(&corpus::Params::default());
    if std::env::args().nth(2).as_deref() == Some("steady") {
        let lines: Vec<&[u8]> = corpus.iter().collect();
        let (warm, timed) = lines.split_at(lines.len() / 2);
        let mut engine = Engine::new(&config);
        for line in warm {
            engine.apply(decode(line, 64 * 1024).expect("the corpus is valid"));
        }
        let cpu = measure::thread_cpu();
        steady(&mut engine, timed);
        let cpu = measure::thread_cpu() - cpu;
        println!(
            "{mode} {} events, steady decode+apply {:.6} s cpu",
            timed.len(),
            cpu.as_secs_f64()
        );
        std::mem::forget(std::hint::black_box(engine));
        return;
    }
    let events: Vec<_> = corpus
        .iter()
        .map(|line| decode(line, 64 * 1024).expect("the corpus is valid"))
        .collect();
    let n = events.len();
    // `runs` > 1: a first apply warms the heap and caches and is not
    // counted; the median of the others is printed.
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut times = Vec::new();
    for run in 0..runs.max(1) + usize::from(runs > 1) {
        let events = events.clone();
        let mut engine = Engine::new(&config);
        let cpu = measure::thread_cpu();
        for ev in events {
            engine.apply(ev);
        }
        let cpu = measure::thread_cpu() - cpu;
        if runs == 1 || run > 0 {
            times.push(cpu.as_secs_f64());
        }
        // Not dropped: the process ends.
        std::mem::forget(std::hint::black_box(engine));
    }
    let cpu = measure::median(times);
    println!("{mode} {n} events, apply {cpu:.6} s cpu");
}

/// Decodes and applies `lines`.
#[inline(never)]
fn steady(engine: &mut Engine, lines: &[&[u8]]) {
    for line in lines {
        engine.apply(decode(line, 64 * 1024).expect("the corpus is valid"));
    }
}
