//! `frontline run` against a real Apache Kafka broker (started by
//! `scripts/kafka.sh`, address in FRONTLINE_TEST_KAFKA; `make test` does
//! both). Producers are `kcat`, a third-party client. Every wait is bounded;
//! topics and groups are unique per test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontline::simulate::{SimConfig, Simulator};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

fn broker() -> String {
    std::env::var("FRONTLINE_TEST_KAFKA").expect(
        "FRONTLINE_TEST_KAFKA is not set: these tests need a broker; `make test` starts one \
         (scripts/kafka.sh start DIR prints its address)",
    )
}

fn unique(name: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{}", std::process::id(), n % 1_000_000_000)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let r = rt()
        .block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap();
    for x in r {
        x.unwrap();
    }
}

/// Produces `key\tvalue` lines with kcat; `partition` pins them (else by key).
fn kcat_produce(topic: &str, lines: &[String], partition: Option<i32>) {
    let mut args = vec![
        "-b".to_string(),
        broker(),
        "-t".into(),
        topic.into(),
        "-P".into(),
        "-K".into(),
        "\t".into(),
    ];
    if let Some(p) = partition {
        args.push("-p".into());
        args.push(p.to_string());
    }
    // Empty values are sent as NULL (a tombstone).
    args.push("-Z".into());
    let mut child = Command::new("kcat")
        .args(&args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat not found: run ./scripts/install-tools.sh");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success(), "kcat produce failed");
}

/// Consumes a whole topic with kcat: (headers, payload) per message.
fn kcat_consume(topic: &str) -> Vec<(String, String)> {
    let out = Command::new("kcat")
        .args([
            "-b",
            &broker(),
            "-t",
            topic,
            "-C",
            "-e",
            "-q",
            "-f",
            "%h\u{1}%s\u{2}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split('\u{2}')
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (h, s) = m.split_once('\u{1}').unwrap_or(("", m));
            (h.to_string(), s.to_string())
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Frontline {
    child: Child,
    port: u16,
}

impl Frontline {
    fn start(topic: &str, group: &str) -> Frontline {
        let port = free_port();
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("frontline-{group}-{port}.log")),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args([
                "run",
                "--brokers",
                &broker(),
                "--topic",
                topic,
                "--group",
                group,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--set",
                "time.idle_timeout=\"1h\"",
                "--set",
                "kafka.auto.commit.interval.ms=\"500\"",
                "--set",
                "checkpoint.interval=\"1s\"",
                // A killed member leaves the group in seconds, not the default 45 s.
                "--set",
                "kafka.session.timeout.ms=\"6000\"",
                "--set",
                "kafka.heartbeat.interval.ms=\"1000\"",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let f = Frontline { child, port };
        wait_until(Duration::from_secs(30), "frontline serves /healthz", || {
            http_get(f.port, "/healthz").is_some_and(|b| b.starts_with("ok"))
        });
        f
    }

    fn metrics(&self) -> String {
        http_get(self.port, "/metrics").unwrap_or_default()
    }

    fn sum(&self, family: &str) -> f64 {
        sum_family(&self.metrics(), family)
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Frontline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

/// Samples by series (`name{labels}`), summed over the `partition` label
/// live counters carry (replay has none).
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((k, v)) = l.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = v.parse::<f64>() else { continue };
        *out.entry(without_partition(k)).or_insert(0.0) += v;
    }
    out
}

/// A series key without its `partition` label.
fn without_partition(k: &str) -> String {
    let Some(i) = k.find("partition=\"") else {
        return k.to_string();
    };
    // Not `...topic_partition="` or the like: the label starts after `{` or `,`.
    if !matches!(k.as_bytes().get(i.wrapping_sub(1)), Some(b'{') | Some(b',')) {
        return k.to_string();
    }
    let end = i + k[i + 11..].find('"').map_or(k.len() - i, |e| e + 12);
    let (head, tail) = (&k[..i], &k[end..]);
    match (head.ends_with('{'), tail.strip_prefix(',')) {
        (_, Some(rest)) => format!("{head}{rest}"),
        (true, None) if tail == "}" => head.trim_end_matches('{').to_string(),
        (false, None) => format!("{}{tail}", head.trim_end_matches(',')),
        _ => format!("{head}{tail}"),
    }
}

fn sum_family(text: &str, family: &str) -> f64 {
    samples(text)
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(family))
        .map(|(_, v)| v)
        .sum()
}

/// A simulated stream, keyed by customer, plus one closing event per
/// partition at the same time, so every partition's clock ends where a
/// replay's does.
fn scenario(n: usize, seed: u64) -> (Vec<String>, Vec<(i32, String)>) {
    let events: Vec<_> = Simulator::new(SimConfig {
        seed,
        ..Default::default()
    })
    .take(n)
    .collect();
    let end = events.last().unwrap().ts + 2 * 3_600_000;
    let keyed = events
        .iter()
        .map(|e| format!("{}\t{}", e.key, e.json))
        .collect();
    let closing = (0..PARTITIONS)
        .map(|p| {
            (
                p,
                format!(
                    r#"{{"event_id":"close-{seed}-{p}","type":"agent.status_changed","ts":{end},"agent_id":"closing-{p}","status":"offline"}}"#
                ),
            )
        })
        .collect();
    (keyed, closing)
}

fn produce_scenario(topic: &str, keyed: &[String], closing: &[(i32, String)]) {
    kcat_produce(topic, keyed, None);
    for (p, line) in closing {
        kcat_produce(topic, &[format!("closing-{p}\t{line}")], Some(*p));
    }
}

/// What `frontline replay` prints for the same events.
fn replay(keyed: &[String], closing: &[(i32, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = String::new();
    for l in keyed {
        text.push_str(l.split_once('\t').unwrap().1);
        text.push('\n');
    }
    for (_, l) in closing {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args([
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--set",
            "time.idle_timeout=\"1h\"",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn support(text: &str, filter: impl Fn(&str) -> bool) -> BTreeMap<String, f64> {
    samples(text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("support_") && filter(k))
        .collect()
}

fn assert_same(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in {what}[0]: {k} {v}")),
            Some(w) if (v - w).abs() > 1e-9 * v.abs().max(1.0) => {
                diffs.push(format!("{k}: {v} vs {w}"))
            }
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            diffs.push(format!("only in {what}[1]: {k} {v}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(40)].join("\n")
    );
}

fn committed(group: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

#[test]
fn live_metrics_equal_replay() {
    let topic = unique("same");
    create_topic(&topic, PARTITIONS);
    let (keyed, closing) = scenario(4000, 11);
    produce_scenario(&topic, &keyed, &closing);
    let total = (keyed.len() + closing.len()) as f64;
    let f = Frontline::start(&topic, &unique("g"));
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == total
    });
    // Snapshots are published every 250 ms: one more period so the last is out.
    std::thread::sleep(Duration::from_millis(600));
    let live = f.metrics();
    let expected = replay(&keyed, &closing);
    assert_same(
        &support(&live, |_| true),
        &support(&expected, |_| true),
        "live vs replay",
    );
    assert!(live.contains("frontline_consumer_lag") || live.contains("frontline_rebalances_total"));
}

#[test]
fn poison_messages_go_to_the_dead_letter_topic() {
    let topic = unique("poison");
    create_topic(&topic, 1);
    let good = |i: usize| {
        format!(
            "c{i}\t{{\"event_id\":\"g{i}\",\"type\":\"ticket.created\",\"ts\":1794816000000,\"ticket_id\":\"T{i}\",\"customer_id\":\"c{i}\"}}"
        )
    };
    let big = format!(
        "big\t{{\"event_id\":\"b\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let mut lines = Vec::new();
    let bad: Vec<String> = vec![
        "k\tnot json".into(),
        "k\t{\"event_id\":\"m1\",\"type\":\"ticket.created\",\"ts\":1}".into(),
        "k\t{\"event_id\":\"w1\",\"type\":\"survey.csat\",\"ts\":1,\"score\":\"five\"}".into(),
        big,
        "k\t".into(),
    ];
    for i in 0..50 {
        lines.push(good(i));
        if i % 10 == 0 {
            lines.push(bad[i / 10].clone());
        }
    }
    kcat_produce(&topic, &lines, None);
    let f = Frontline::start(&topic, &unique("g"));
    wait_until(
        Duration::from_secs(60),
        "good and bad messages are all handled",
        || {
            let m = f.metrics();
            sum_family(&m, "frontline_events_total") == 50.0
                && sum_family(&m, "frontline_dead_letters_total") == 5.0
        },
    );
    let m = f.metrics();
    assert_eq!(sum_family(&m, "support_tickets_created_total"), 50.0);
    assert_eq!(sum_family(&m, "frontline_decode_errors_total"), 5.0);
    let dlq = kcat_consume(&format!("{topic}.dlq"));
    assert_eq!(dlq.len(), 5, "{dlq:?}");
    let reasons: Vec<String> = dlq
        .iter()
        .map(|(h, _)| {
            h.split(',')
                .find_map(|kv| kv.strip_prefix("frontline.reason="))
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            "invalid_json",
            "missing_field",
            "wrong_type",
            "too_large",
            "invalid_json"
        ]
    );
    assert!(
        dlq[0]
            .0
            .contains(&format!("frontline.source.topic={topic}")),
        "{}",
        dlq[0].0
    );
    assert!(dlq[0].0.contains("frontline.source.partition=0"));
    assert!(
        dlq[0].0.contains("frontline.source.offset=1"),
        "{}",
        dlq[0].0
    );
    assert_eq!(dlq[0].1, "not json");
}

#[test]
fn restart_after_kill_9_restores_state_and_applies_each_event_once() {
    let topic = unique("restart");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, closing) = scenario(6000, 12);
    let (first, second) = keyed.split_at(3000);
    kcat_produce(&topic, first, None);
    let mut f = Frontline::start(&topic, &group);
    wait_until(Duration::from_secs(60), "the first half is applied", || {
        f.sum("frontline_events_total") == 3000.0
    });
    // The committed offset follows the checkpoints (every second in this test).
    wait_until(
        Duration::from_secs(20),
        "the first half is checkpointed and committed",
        || committed(&group, &topic) == 3000,
    );
    produce_scenario(&topic, second, &closing);
    f.kill9();
    let at_kill = committed(&group, &topic);
    assert!((3000..=6004).contains(&at_kill), "committed {at_kill}");
    // A new instance restores each partition's checkpoint and re-applies
    // exactly what it does not cover: every event counted once.
    let g = Frontline::start(&topic, &group);
    let total = (keyed.len() + closing.len()) as f64;
    wait_until(Duration::from_secs(60), "every event is applied", || {
        g.sum("frontline_events_total") == total
    });
    wait_until(Duration::from_secs(20), "the end is committed", || {
        committed(&group, &topic) == total as i64
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        g.sum("frontline_events_total"),
        total,
        "no more, no less than every event"
    );
    let cumulative = |k: &str| {
        k.contains("_total") || k.contains("_bucket") || k.contains("_count") || k.contains("_sum")
    };
    assert_same(
        &support(&g.metrics(), cumulative),
        &support(&replay(&keyed, &closing), cumulative),
        "restored instance vs replay",
    );
}

#[test]
fn two_instances_split_the_partitions() {
    let topic = unique("pair");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let a = Frontline::start(&topic, &group);
    let b = Frontline::start(&topic, &group);
    wait_until(
        Duration::from_secs(60),
        "both instances have partitions",
        || {
            let ready = |f: &Frontline| http_get(f.port, "/readyz").unwrap_or_default();
            ready(&a).starts_with("ready: 2 partitions")
                && ready(&b).starts_with("ready: 2 partitions")
        },
    );
    let (keyed, closing) = scenario(3000, 13);
    produce_scenario(&topic, &keyed, &closing);
    let total = (keyed.len() + closing.len()) as f64;
    wait_until(
        Duration::from_secs(60),
        "both together applied every event",
        || a.sum("frontline_events_total") + b.sum("frontline_events_total") == total,
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(a.sum("frontline_events_total") > 0.0 && b.sum("frontline_events_total") > 0.0);
    // sum() over both instances of every counter and histogram equals the single view.
    let cumulative = |k: &str| {
        k.contains("_total") || k.contains("_bucket") || k.contains("_count") || k.contains("_sum")
    };
    let mut summed = support(&a.metrics(), cumulative);
    for (k, v) in support(&b.metrics(), cumulative) {
        *summed.entry(k).or_default() += v;
    }
    let expected = replay(&keyed, &closing);
    assert_same(
        &summed,
        &support(&expected, cumulative),
        "sum of two instances vs replay",
    );
}

#[test]
fn sigterm_commits_and_exits_quickly() {
    let topic = unique("term");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, _) = scenario(2000, 14);
    kcat_produce(&topic, &keyed, None);
    let mut f = Frontline::start(&topic, &group);
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == 2000.0
    });
    let t0 = Instant::now();
    let pid = f.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = f.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        committed(&group, &topic),
        2000,
        "shutdown committed every applied event"
    );
}
