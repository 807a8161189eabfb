//! Helpers for tests of `frontline run` against a real Apache Kafka broker
//! (started by `scripts/kafka.sh`, address in FRONTLINE_TEST_KAFKA; `make
//! test` does both). Producers are `kcat`, a third-party client. Every wait
//! is bounded; topics and groups are unique per test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontline::simulate::{SimConfig, Simulator};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::exposition;

/// Partitions of the topics the tests create.
pub const PARTITIONS: i32 = 4;

/// The shared test broker's address.
pub fn broker() -> String {
    std::env::var("FRONTLINE_TEST_KAFKA").expect(
        "FRONTLINE_TEST_KAFKA is not set: these tests need a broker; `make test` starts one \
         (scripts/kafka.sh start DIR prints its address)",
    )
}

/// A name no other test (or earlier run) uses: the process and the time
/// tell runs apart, a count the tests of one process, which start side by
/// side and can read the same clock value.
pub fn unique(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{}-{k}", std::process::id(), n % 1_000_000_000)
}

/// A single-threaded runtime for a test's async calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Creates `topic` on the shared broker.
pub fn create_topic(topic: &str, partitions: i32) {
    create_topic_on(&broker(), topic, partitions)
}

/// Creates `topic` on the broker at `brokers`.
pub fn create_topic_on(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
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

/// Deletes `topic` on the shared broker (the broker ends the deletion in
/// the background).
pub fn delete_topic(topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    for r in rt()
        .block_on(admin.delete_topics(&[topic], &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

/// Creates `topic` on the shared broker; false while the name is taken
/// (a deletion not finished yet).
pub fn try_create_topic(topic: &str, partitions: i32) -> bool {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    rt().block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap()
        .into_iter()
        .all(|r| r.is_ok())
}

/// kcat's producer arguments: `key\tvalue` lines from stdin, idempotent (a
/// retry after a broker outage neither duplicates nor reorders), pinned to
/// `partition` when given (else by key).
pub fn kcat_producer_args(brokers: &str, topic: &str, partition: Option<i32>) -> Vec<String> {
    let mut args: Vec<String> = [
        "-b",
        brokers,
        "-t",
        topic,
        "-P",
        "-K",
        "\t",
        "-X",
        "enable.idempotence=true",
    ]
    .map(String::from)
    .to_vec();
    if let Some(p) = partition {
        args.push("-p".into());
        args.push(p.to_string());
    }
    // Empty values are sent as NULL (a tombstone).
    args.push("-Z".into());
    args
}

/// Produces `key\tvalue` lines with kcat to the shared broker.
pub fn kcat_produce(topic: &str, lines: &[String], partition: Option<i32>) {
    kcat_produce_on(&broker(), topic, lines, partition)
}

/// Produces `key\tvalue` lines with kcat; `partition` pins them (else by key).
pub fn kcat_produce_on(brokers: &str, topic: &str, lines: &[String], partition: Option<i32>) {
    kcat_produce_with(brokers, topic, lines, partition, &[])
}

/// [`kcat_produce_on`] with more kcat arguments: headers (`-H name=value`)
/// or client properties (`-X name=value`).
pub fn kcat_produce_with(
    brokers: &str,
    topic: &str,
    lines: &[String],
    partition: Option<i32>,
    more: &[String],
) {
    let mut child = Command::new("kcat")
        .args(kcat_producer_args(brokers, topic, partition))
        .args(more)
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
pub fn kcat_consume(topic: &str) -> Vec<(String, String)> {
    kcat_consume_with(topic, "%h")
}

/// Consumes a whole topic with kcat: (key, payload) per message.
pub fn kcat_consume_keyed(topic: &str) -> Vec<(String, String)> {
    kcat_consume_with(topic, "%k")
}

/// Consumes a whole topic with kcat: (`first` as kcat formats it, payload).
fn kcat_consume_with(topic: &str, first: &str) -> Vec<(String, String)> {
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
            &format!("{first}\u{1}%s\u{2}"),
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

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start one `frontline run`.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Bootstrap servers.
    pub brokers: String,
    /// The input topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// The HTTP port (a free one when `None`).
    pub port: Option<u16>,
    /// More arguments (`--set k=v`, `--config FILE`), after the defaults.
    pub args: Vec<String>,
    /// More environment (`RUST_LOG` is `info` unless set here).
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// On the shared broker, a free port, the defaults only.
    pub fn new(topic: &str, group: &str) -> Launch {
        Launch {
            brokers: broker(),
            topic: topic.into(),
            group: group.into(),
            port: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A `frontline run` process; killed when dropped.
pub struct Frontline {
    pub child: Child,
    pub port: u16,
    /// Its stderr (the log), appended to across restarts on the same port.
    pub log: PathBuf,
}

impl Frontline {
    /// Starts an instance on the shared broker and waits until it serves HTTP.
    pub fn start(topic: &str, group: &str) -> Frontline {
        Frontline::launch(&Launch::new(topic, group))
    }

    /// Starts an instance as `l` says and waits until it serves HTTP.
    pub fn launch(l: &Launch) -> Frontline {
        let port = l.port.unwrap_or_else(free_port);
        let log = std::env::temp_dir().join(format!("frontline-{}-{port}.log", l.group));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut args: Vec<String> = [
            "run",
            "--brokers",
            &l.brokers,
            "--topic",
            &l.topic,
            "--group",
            &l.group,
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
        ]
        .map(String::from)
        .to_vec();
        args.extend(l.args.iter().cloned());
        let child = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(&args)
            .env("RUST_LOG", "info")
            .envs(l.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut f = Frontline { child, port, log };
        let start = Instant::now();
        while !http_get(f.port, "/healthz").is_some_and(|b| b.starts_with("ok")) {
            if let Some(status) = f.child.try_wait().unwrap() {
                panic!(
                    "frontline exited ({status}) before serving /healthz; its log:\n{}",
                    f.log_text()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "frontline does not serve /healthz after 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        f
    }

    pub fn metrics(&self) -> String {
        http_get(self.port, "/metrics").unwrap_or_default()
    }

    pub fn sum(&self, family: &str) -> f64 {
        sum_family(&self.metrics(), family)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `limit`: how long the exit took, or
    /// `None` (then the process is killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        while t0.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit after SIGTERM: {status}");
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        None
    }

    /// What it has logged so far (every start on this port and group).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Frontline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the answer (whatever its status), or `None`.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    http_get_status(port, path).map(|(_, body)| body)
}

/// The status and body of any answer, or `None` when nothing answers.
pub fn http_get_status(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

pub fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
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
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, v) in series(text) {
        *out.entry(without_label(&k, "partition")).or_insert(0.0) += v;
    }
    out
}

/// Samples by series (`name{labels}`, labels sorted; see
/// [`exposition::key`]).
pub fn series(text: &str) -> BTreeMap<String, f64> {
    exposition::values(text)
}

/// The key without the label `drop` (as `sum without(drop)` groups it).
pub fn without_label(key: &str, drop: &str) -> String {
    let (name, mut labels) = exposition::split_key(key);
    labels.retain(|(k, _)| k != drop);
    exposition::key(&name, &labels)
}

pub fn sum_family(text: &str, family: &str) -> f64 {
    samples(text)
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(family))
        .map(|(_, v)| v)
        .sum()
}

/// A simulated stream, keyed by customer, plus one closing event per
/// partition at the same time, so every partition's clock ends where a
/// replay's does.
pub fn scenario(n: usize, seed: u64) -> (Vec<String>, Vec<(i32, String)>) {
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

pub fn produce_scenario(topic: &str, keyed: &[String], closing: &[(i32, String)]) {
    kcat_produce(topic, keyed, None);
    for (p, line) in closing {
        kcat_produce(topic, &[format!("closing-{p}\t{line}")], Some(*p));
    }
}

/// What `frontline replay` prints for the same events.
pub fn replay(keyed: &[String], closing: &[(i32, String)]) -> String {
    replay_with(keyed, closing, &[])
}

/// What `frontline replay` with more arguments (`--config FILE`) prints.
pub fn replay_with(keyed: &[String], closing: &[(i32, String)], args: &[String]) -> String {
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
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn support(text: &str, filter: impl Fn(&str) -> bool) -> BTreeMap<String, f64> {
    samples(text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("support_") && filter(k))
        .collect()
}

/// Whether a series key is of a counter or a histogram (what adds up
/// across instances and partitions), by its name.
pub fn is_cumulative(k: &str) -> bool {
    k.contains("_total") || k.contains("_bucket") || k.contains("_count") || k.contains("_sum")
}

/// [`support`] of each instance's `/metrics`, summed series by series.
pub fn summed_support(
    instances: &[&Frontline],
    filter: impl Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    let mut summed = BTreeMap::new();
    for f in instances {
        for (k, v) in support(&f.metrics(), &filter) {
            *summed.entry(k).or_default() += v;
        }
    }
    summed
}

/// The differences between two sets of series (empty when equal).
pub fn differences(
    a: &BTreeMap<String, f64>,
    b: &BTreeMap<String, f64>,
    what: &str,
) -> Vec<String> {
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
    diffs
}

/// Waits (bounded) until `current()` has no differences from `expected`,
/// then asserts it: a published snapshot may trail the applied events by one
/// publishing period, so a comparison right after a count is reached polls
/// instead of sleeping a guessed period.
pub fn assert_eventually_same(
    limit: Duration,
    mut current: impl FnMut() -> BTreeMap<String, f64>,
    expected: &BTreeMap<String, f64>,
    what: &str,
) {
    let start = Instant::now();
    loop {
        let got = current();
        if differences(&got, expected, what).is_empty() || start.elapsed() >= limit {
            return assert_same(&got, expected, what);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn assert_same(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, what: &str) {
    let diffs = differences(a, b, what);
    assert!(
        diffs.is_empty(),
        "{what}: {} differences:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(40)].join("\n")
    );
}

/// Offsets `group` has committed on `topic`, summed over its partitions.
pub fn committed(group: &str, topic: &str) -> i64 {
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

/// Sets a topic config on the shared broker (the other configs of the
/// topic go back to their defaults: the SLA topics here set no other).
pub fn set_topic_config(topic: &str, key: &str, value: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let c = AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, value);
    for r in rt()
        .block_on(admin.alter_configs(&[c], &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}
