//! Fuzzing on stable Rust: mutated lines from the real corpus through the
//! decoder and the engine, mutated config files through the config loader
//! and an engine built from whatever it accepts. Any panic is a failure.
//!
//! A short run is part of `cargo test` (and so `make test`); `make fuzz`
//! runs long. Settings, by environment:
//!
//! - `FRONTLINE_FUZZ_SECS`: seconds per target (default 10);
//! - `FRONTLINE_FUZZ_LINES`, `FRONTLINE_FUZZ_CONFIGS`: stop after this many
//!   inputs instead (default: no limit);
//! - `FRONTLINE_FUZZ_SEED`: the seed (default: from the clock; printed, so a
//!   failing run can be repeated).
//!
//! The mutator is hand-rolled: byte flips, cuts, splices and insertions of
//! tokens that matter to a JSON or TOML reader, plus structured mutations
//! (a field or key replaced by an extreme value) so that most mutants still
//! parse and reach the engine or `validate()`. Inputs that crash are written
//! to `<target>/tmp/fuzz-crashes/` (an engine crash with every line the
//! engine had seen, to replay with `frontline replay`).
//!
//! It runs in the test profile on purpose: overflow checks and debug
//! assertions are on, so an arithmetic overflow is a crash here rather than
//! a silently wrong number.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontline::config::Config;
use frontline::engine::Engine;
use frontline::simulate::{SimConfig, Simulator};

/// xorshift64*: small and fast; quality is not the point.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

struct Settings {
    secs: u64,
    max: Option<u64>,
    seed: u64,
}

fn settings(max_var: &str) -> Settings {
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = num("FRONTLINE_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    Settings {
        secs: num("FRONTLINE_FUZZ_SECS").unwrap_or(10),
        max: num(max_var),
        seed,
    }
}

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Panics are caught and reported at the end, not printed one by one.
fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = format!("{at}: {msg}"));
    }));
}

fn last_panic() -> String {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// Distinct crashes (by panic location and message), with where the input went.
#[derive(Default)]
struct Crashes {
    seen: Vec<(String, PathBuf)>,
    total: u64,
}

impl Crashes {
    fn record(&mut self, kind: &str, what: String, input: &[u8]) {
        self.total += 1;
        if self.seen.iter().any(|(w, _)| *w == what) || self.seen.len() >= 20 {
            return;
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "{kind}-{}-{}.txt",
            std::process::id(),
            self.seen.len()
        ));
        let _ = std::fs::write(&path, input);
        eprintln!("fuzz: crash in {kind}: {what} (input: {})", path.display());
        self.seen.push((what, path));
    }

    fn assert_none(&self, kind: &str, seed: u64) {
        assert!(
            self.seen.is_empty(),
            "{kind}: {} crashing inputs, {} distinct (seed {seed}):\n{}",
            self.total,
            self.seen.len(),
            self.seen
                .iter()
                .map(|(w, p)| format!("  {w}\n    input: {}", p.display()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The real corpus: both golden streams and a simulated day.
fn line_corpus(seed: u64) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for f in ["tests/golden/events.jsonl", "tests/golden/sla/events.jsonl"] {
        let text = std::fs::read_to_string(manifest(f)).expect("golden corpus");
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.as_bytes().to_vec()),
        );
    }
    let sim = SimConfig {
        seed,
        ..Default::default()
    };
    let end = sim.start_ms + 86_400_000;
    lines.extend(
        Simulator::new(sim)
            .take_while(|e| e.ts < end)
            .map(|e| e.json.into_bytes()),
    );
    lines
}

/// Tokens that matter to a JSON reader.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\u{feff}",
    "null",
    "true",
    "false",
    "-",
    "-0",
    "0",
    "1e999",
    "-1e999",
    "1e-999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1.5",
    "00",
    "0x10",
    "NaN",
    "Infinity",
    "\u{0}",
    "\t",
    "\n",
    "\r",
    " ",
    "é",
    "\u{10ffff}",
    "\"ts\":",
    "\"type\":",
    "\"event_id\":",
    "\"ticket_id\":",
    "\"call_id\":",
    "\"agent_id\":",
];

/// Values that push a field to its edges.
fn extreme_json(rng: &mut Rng, corpus_value: Option<&serde_json::Value>) -> serde_json::Value {
    use serde_json::json;
    let choices: [fn(&mut Rng) -> serde_json::Value; 10] = [
        |r| {
            json!(*r.pick(&[
                0i64,
                -1,
                1,
                i64::MAX,
                i64::MIN,
                253_402_300_799_999,
                253_402_300_800_000,
                -62_135_596_800_000,
                7_258_118_400_000,
                1_794_816_000_000,
                u16::MAX as i64,
                11,
                -11,
            ]))
        },
        |r| {
            json!(*r.pick(&[
                0.0f64,
                -0.0,
                0.5,
                4.0,
                4.5,
                1e29,
                -1e29,
                1e308,
                f64::MIN_POSITIVE
            ]))
        },
        |r| {
            json!(*r.pick(&[
                "2026-11-16T09:00:00Z",
                "2200-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999Z",
                "9999-12-31T23:59:59.999-23:59",
                "0000-01-01T00:00:00+23:59",
                "1970-01-01T00:00:00Z",
                "1969-12-31T23:59:59.999Z",
                "2026-02-30T00:00:00Z",
                "2026-11-16T24:00:00Z",
                "2026-11-16T09:00:60Z",
                "2026-11-16T09:00:00.123456789123456789Z",
                "2026-11-16T09:00:00",
                "2026-11-16 09:00:00Z",
                "-0",
                "",
            ]))
        },
        |r| {
            json!(*r.pick(&[
                "ticket.created",
                "ticket.agent_replied",
                "ticket.customer_replied",
                "ticket.status_changed",
                "ticket.resolved",
                "ticket.reopened",
                "ticket.closed",
                "ticket.assigned",
                "call.queued",
                "call.answered",
                "call.abandoned",
                "call.hold_started",
                "call.hold_ended",
                "call.ended",
                "call.wrapup_ended",
                "call.transferred",
                "agent.status_changed",
                "survey.csat",
                "survey.nps",
                "survey.ces",
                "ticket.unknown",
            ]))
        },
        |r| {
            json!(*r.pick(&[
                "phone",
                "chat",
                "email",
                "social",
                "other",
                "urgent",
                "low",
                "open",
                "pending",
                "on_hold",
                "available",
                "busy",
                "offline",
                "break",
                "after_call_work",
                "",
            ]))
        },
        |r| {
            let n = *r.pick(&[1usize, 127, 128, 129, 1000, 70_000]);
            json!("x".repeat(n))
        },
        |r| {
            let depth = *r.pick(&[1usize, 10, 200, 5000]);
            serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
                .unwrap_or(serde_json::Value::Null)
        },
        |_| json!(null),
        |r| json!(r.chance(50)),
        |r| json!({ "nested": r.next() }),
    ];
    // Often a small move of the real value (a ts shifted by an hour, a
    // neighbouring id), so mutants stay plausible and reach deep state.
    if let Some(v) = corpus_value {
        if rng.chance(40) {
            if let Some(n) = v.as_i64() {
                let d = *rng.pick(&[1i64, -1, 1000, -1000, 3_600_000, -3_600_000, 86_400_000]);
                return serde_json::json!(n.saturating_add(d));
            }
            if let Some(s) = v.as_str() {
                let mut s = s.to_string();
                if rng.chance(50) && !s.is_empty() {
                    s.pop();
                }
                s.push(char::from(b'0' + (rng.below(10) as u8)));
                return serde_json::json!(s);
            }
        }
    }
    (rng.pick(&choices))(rng)
}

const FIELDS: &[&str] = &[
    "event_id",
    "type",
    "ts",
    "schema_version",
    "ticket_id",
    "call_id",
    "agent_id",
    "customer_id",
    "channel",
    "queue",
    "priority",
    "status",
    "score",
    "seconds",
    "level",
    "mrr",
    "from_queue",
    "to_queue",
    "public",
];

fn mutate_line(rng: &mut Rng, corpus: &[Vec<u8>], line: &mut Vec<u8>) {
    match rng.below(10) {
        // Structured: one field of the object replaced, removed or added.
        0..=4 => {
            if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice(line) {
                let key = if m.is_empty() || rng.chance(25) {
                    rng.pick(FIELDS).to_string()
                } else {
                    let i = rng.below(m.len());
                    m.keys().nth(i).cloned().unwrap_or_default()
                };
                if rng.chance(10) {
                    m.remove(&key);
                } else {
                    let v = extreme_json(rng, m.get(&key));
                    m.insert(key, v);
                }
                *line = serde_json::to_vec(&m).unwrap_or_default();
                // A repeated key, which serde_json cannot produce.
                if rng.chance(3) && line.len() > 2 {
                    let k = rng.pick(FIELDS);
                    let extra = format!(",\"{k}\":\"dup\"}}");
                    line.pop();
                    line.extend_from_slice(extra.as_bytes());
                }
            }
        }
        5 if !line.is_empty() => {
            let i = rng.below(line.len());
            line[i] ^= 1 << rng.below(8);
        }
        6 if !line.is_empty() => {
            let i = rng.below(line.len());
            let n = rng.below(16).min(line.len() - i);
            line.drain(i..i + n);
        }
        7 => {
            let i = rng.below(line.len() + 1);
            let tok = rng.pick(JSON_TOKENS).as_bytes();
            line.splice(i..i, tok.iter().copied());
        }
        8 if !line.is_empty() => {
            let i = rng.below(line.len());
            let n = rng.below(64).min(line.len() - i);
            let copy = line[i..i + n].to_vec();
            let at = rng.below(line.len() + 1);
            line.splice(at..at, copy);
        }
        _ => {
            // Splice: the head of this line, the tail of another.
            let other = rng.pick(corpus);
            let a = rng.below(line.len() + 1);
            let b = rng.below(other.len() + 1);
            line.truncate(a);
            line.extend_from_slice(&other[b..]);
        }
    }
}

fn configs() -> Vec<(String, Config)> {
    let mut out = vec![("default".to_string(), Config::default())];
    for f in [
        "tests/golden/frontline.toml",
        "tests/golden/sla/frontline.toml",
    ] {
        out.push((f.to_string(), Config::load(&manifest(f)).expect(f)));
    }
    out
}

/// Mutated events through `decode` and `Engine::apply`; every 20 000 lines
/// the engine is flushed, snapshotted, exported and started afresh.
#[test]
fn fuzz_decoder_and_engine() {
    let st = settings("FRONTLINE_FUZZ_LINES");
    quiet_panics();
    let mut rng = Rng(st.seed);
    let corpus = line_corpus(st.seed);
    let configs = configs();
    let deadline = Instant::now() + Duration::from_secs(st.secs);
    let mut crashes = Crashes::default();
    let (mut lines, mut decoded, mut rounds) = (0u64, 0u64, 0u64);
    let mut fed: Vec<u8> = Vec::new();
    'run: while Instant::now() < deadline {
        rounds += 1;
        let (name, cfg) = rng.pick(&configs);
        let mut engine = Engine::new(cfg);
        fed.clear();
        // Walk the corpus from a random point so state builds up, mutating
        // some lines on the way.
        let mut at = rng.below(corpus.len());
        let share = *rng.pick(&[5u64, 20, 50, 100]);
        for _ in 0..20_000 {
            if st.max.is_some_and(|m| lines >= m) {
                break 'run;
            }
            at = (at + 1) % corpus.len();
            let mut line = corpus[at].clone();
            if rng.chance(share) {
                for _ in 0..1 + rng.below(3) {
                    mutate_line(&mut rng, &corpus, &mut line);
                }
            }
            lines += 1;
            let max = cfg.limits.max_event_bytes;
            let ev = match panic::catch_unwind(|| frontline::decode::decode(&line, max)) {
                Ok(Ok(ev)) => ev,
                Ok(Err(_)) => continue,
                Err(_) => {
                    crashes.record("decode", last_panic(), &line);
                    continue;
                }
            };
            decoded += 1;
            fed.extend_from_slice(&line);
            fed.push(b'\n');
            if panic::catch_unwind(AssertUnwindSafe(|| engine.apply(ev))).is_err() {
                let what = format!("{} [config {name}]", last_panic());
                crashes.record("engine", what, &fed);
                continue 'run;
            }
            if lines % 4096 == 0 && Instant::now() >= deadline {
                break;
            }
        }
        let end = panic::catch_unwind(AssertUnwindSafe(|| {
            engine.flush();
            let snap = engine.snapshot(None);
            frontline::export::prometheus_text(Arc::new(snap)).len()
        }));
        if end.is_err() {
            let what = format!("{} [config {name}, at flush]", last_panic());
            crashes.record("engine", what, &fed);
        }
    }
    eprintln!(
        "fuzz decoder+engine: seed {}, {lines} lines, {decoded} decoded and applied, {rounds} engines, {} crashing inputs",
        st.seed, crashes.total
    );
    crashes.assert_none("decoder+engine", st.seed);
}

/// Values that push a config key to its edges.
fn extreme_toml(rng: &mut Rng) -> toml::Value {
    use toml::Value;
    match rng.below(8) {
        0 => Value::String(
            rng.pick(&[
                "0s",
                "1ms",
                "-1s",
                "1.5m",
                "90s",
                "1w",
                "7d",
                "90d",
                "365d",
                "3650d",
                "106751991167d",
                "9223372036854775807ms",
                "15250284452w",
                "1h30m",
                "24h",
                "10s",
                "7s",
                "",
                "s",
                "5",
            ])
            .to_string(),
        ),
        1 => Value::Integer(*rng.pick(&[
            0i64,
            -1,
            1,
            63,
            64,
            4095,
            65_534,
            65_535,
            65_536,
            100_000,
            16 * 1024 * 1024 + 1,
            i32::MAX as i64,
            i64::MAX,
            i64::MIN,
        ])),
        2 => Value::Float(*rng.pick(&[
            0.0,
            -0.0,
            0.5,
            1.0,
            1.5,
            -1.0,
            1e308,
            f64::NAN,
            f64::INFINITY,
        ])),
        3 => Value::Boolean(rng.chance(50)),
        4 => {
            let n = *rng.pick(&[0usize, 1, 3, 9, 65]);
            let item = extreme_toml_scalar(rng);
            Value::Array(vec![item; n])
        }
        5 => {
            // A long allow list, now and then.
            let n = if rng.chance(2) {
                70_000
            } else {
                rng.below(300)
            };
            Value::Array((0..n).map(|i| Value::String(format!("q{i}"))).collect())
        }
        6 => Value::String(
            rng.pick(&[
                "chat",
                "queue",
                "channel",
                "urgent",
                "office",
                "24x7",
                "Europe/Berlin",
                "Mars/Olympus",
                "09:00-09:00",
                "17:00-09:00",
                "00:00-24:00",
                "09:00-25:00",
                "2026-02-30",
                "amazon_connect",
                "127.0.0.1:0",
                "0.0.0.0:99999",
            ])
            .to_string(),
        ),
        _ => Value::String("x".repeat(*rng.pick(&[1usize, 64, 65, 10_000]))),
    }
}

fn extreme_toml_scalar(rng: &mut Rng) -> toml::Value {
    loop {
        let v = extreme_toml(rng);
        if !matches!(v, toml::Value::Array(_)) {
            return v;
        }
    }
}

/// Every config key, so mutations reach keys the corpus files leave out.
const CONFIG_KEYS: &[&str] = &[
    "time.allowed_lateness",
    "time.idle_timeout",
    "time.dedup_horizon",
    "windows.sizes",
    "windows.pane",
    "windows.labels",
    "kpi.repeat_window",
    "kpi.short_abandon",
    "kpi.service_level_threshold",
    "kpi.acw_timeout",
    "kpi.service_level_formula",
    "kpi.abandonment_formula",
    "labels.max_queues",
    "labels.max_agents",
    "labels.queue_allow_list",
    "labels.agent_allow_list",
    "cost.per_agent_hour",
    "limits.max_event_bytes",
    "state.resolved_ticket_ttl",
    "state.idle_ticket_ttl",
    "state.finished_call_ttl",
    "state.idle_call_ttl",
    "http.listen",
    "http.ready_max_lag",
    "http.ready_max_watermark_lag",
    "http.publish_interval",
    "checkpoint.interval",
    "checkpoint.chunk_bytes",
    "checkpoint.write_timeout",
    "checkpoint.replication_factor",
    "sla.warn_fraction",
    "kpi_targets.csat",
    "histograms.buckets.default",
    "histograms.buckets.first_response",
];

/// Every leaf of a TOML table, as a path of table keys and array indexes.
fn leaves(v: &toml::Value, path: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                path.push(PathStep::Key(k.clone()));
                leaves(v, path, out);
                path.pop();
            }
        }
        toml::Value::Array(a) => {
            out.push(path.clone());
            for (i, v) in a.iter().enumerate() {
                path.push(PathStep::Index(i));
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn leaf_mut<'a>(v: &'a mut toml::Value, path: &[PathStep]) -> Option<&'a mut toml::Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let next = match (first, v) {
        (PathStep::Key(k), toml::Value::Table(t)) => t.get_mut(k)?,
        (PathStep::Index(i), toml::Value::Array(a)) => a.get_mut(*i)?,
        _ => return None,
    };
    leaf_mut(next, rest)
}

const TOML_TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "\"\"\"",
    "#",
    "\n",
    ".",
    ",",
    "{",
    "}",
    "\\",
    "\\u0000",
    "1e999",
    "-",
    "inf",
    "nan",
    "0x",
    "1979-05-27T07:32:00Z",
    "\u{feff}",
    "é",
];

fn mutate_config(rng: &mut Rng, text: &str) -> String {
    match rng.below(10) {
        0..=6 => {
            let Ok(table) = toml::from_str::<toml::Table>(text) else {
                return text.to_string();
            };
            let mut root = toml::Value::Table(table);
            for _ in 0..1 + rng.below(3) {
                if rng.chance(50) {
                    let mut all = Vec::new();
                    leaves(&root, &mut Vec::new(), &mut all);
                    if let Some(path) = all.get(rng.below(all.len())).cloned() {
                        if let Some(v) = leaf_mut(&mut root, &path) {
                            *v = extreme_toml(rng);
                        }
                    }
                } else {
                    let key = rng.pick(CONFIG_KEYS);
                    let (section, rest) = key.split_once('.').unwrap_or(("time", key));
                    let mut node = &mut root;
                    for part in std::iter::once(section).chain(rest.split('.')) {
                        let toml::Value::Table(t) = node else { break };
                        node = t
                            .entry(part.to_string())
                            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    }
                    *node = extreme_toml(rng);
                }
            }
            toml::to_string(&root).unwrap_or_default()
        }
        7 => {
            let mut b = text.as_bytes().to_vec();
            let i = rng.below(b.len() + 1);
            b.splice(i..i, rng.pick(TOML_TOKENS).bytes());
            String::from_utf8_lossy(&b).into_owned()
        }
        8 if !text.is_empty() => {
            let mut b = text.as_bytes().to_vec();
            let i = rng.below(b.len());
            let n = rng.below(32).min(b.len() - i);
            b.drain(i..i + n);
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => {
            let mut b = text.as_bytes().to_vec();
            if !b.is_empty() {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(7);
            }
            String::from_utf8_lossy(&b).into_owned()
        }
    }
}

/// Mutated config files through `Config::parse` and `Config::load_with`
/// (file, environment and `--set` overrides); an accepted config builds an
/// engine that runs a slice of the golden events, is flushed and exported.
#[test]
fn fuzz_config() {
    let st = settings("FRONTLINE_FUZZ_CONFIGS");
    quiet_panics();
    let mut rng = Rng(st.seed ^ 0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<String> = [
        "deploy/frontline.toml",
        "tests/golden/frontline.toml",
        "tests/golden/sla/frontline.toml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(manifest(f)).expect(f))
    .chain(std::iter::once(String::new()))
    .collect();
    let events: Vec<frontline::event::Event> = line_corpus(st.seed)
        .iter()
        .take(2_000)
        .filter_map(|l| frontline::decode::decode(l, 65_536).ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("frontline.toml");
    let deadline = Instant::now() + Duration::from_secs(st.secs);
    let mut crashes = Crashes::default();
    let (mut tried, mut accepted) = (0u64, 0u64);
    while Instant::now() < deadline && st.max.is_none_or(|m| tried < m) {
        tried += 1;
        let mut text = rng.pick(&seeds).clone();
        for _ in 0..1 + rng.below(3) {
            text = mutate_config(&mut rng, &text);
        }
        let loaded = panic::catch_unwind(|| {
            if rng_free_choice(tried) {
                let _ = std::fs::write(&file, &text);
                let env = vec![(
                    "FRONTLINE_TIME__DEDUP_HORIZON".to_string(),
                    "2h".to_string(),
                )];
                Config::load_with(
                    Some(file.as_path()),
                    env.into_iter(),
                    &["kpi.acw_timeout=5m".into()],
                )
            } else {
                Config::parse(&text)
            }
        });
        let cfg = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                // The CLI prints this on one line.
                let msg = e.to_string();
                if msg.contains('\n') {
                    crashes.record(
                        "config-message",
                        format!("two-line error: {msg}"),
                        text.as_bytes(),
                    );
                }
                continue;
            }
            Err(_) => {
                crashes.record("config", last_panic(), text.as_bytes());
                continue;
            }
        };
        accepted += 1;
        let start = rng.below(events.len());
        let n = 1 + rng.below(300);
        let run = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut engine = Engine::new(&cfg);
            for ev in events.iter().cycle().skip(start).take(n) {
                engine.apply(ev.clone());
            }
            engine.flush();
            frontline::export::prometheus_text(Arc::new(engine.snapshot(None))).len()
        }));
        if run.is_err() {
            crashes.record("config-engine", last_panic(), text.as_bytes());
        }
    }
    eprintln!(
        "fuzz config: seed {}, {tried} configs, {accepted} accepted and run, {} crashing inputs",
        st.seed, crashes.total
    );
    crashes.assert_none("config", st.seed);
}

/// One config in eight goes through a file with overrides.
fn rng_free_choice(n: u64) -> bool {
    n.is_multiple_of(8)
}
