//! The shipped monitoring, end to end: `frontline run` against a real Apache
//! Kafka broker (FRONTLINE_TEST_KAFKA; `make integration` starts one), a
//! real Prometheus (Debian's `prometheus`) scraping it with the rule files of
//! `deploy/prometheus/`, and a real Alertmanager (Debian's
//! `prometheus-alertmanager`) routing to a webhook receiver this test runs.
//!
//! A simulated hour and a half of contacts, then VIP tickets every 3 s whose
//! first-response SLA (15 s) nobody meets. The SLA breach alert must reach
//! the webhook with the policy and queue of those tickets; no processor-health
//! alert may be pending or firing while the processor is healthy; stopping
//! frontline must fire the target-down alert. Every wait is bounded; every
//! port is a free loopback port.
//!
//! Several instances: the same events consumed by two instances sharing a
//! consumer group and by one instance alone give the same totals and, through
//! the shipped recording rules, the same KPIs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::prom::{free_port, http_get, prom_query_at, spawn, wait_until, Proc};
use frontline::simulate::{SimConfig, Simulator};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use serde_json::Value;

fn broker() -> String {
    std::env::var("FRONTLINE_TEST_KAFKA")
        .expect("FRONTLINE_TEST_KAFKA is not set: this test needs a broker; `make test` starts one")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A Prometheus instant query at the present.
fn prom_query(port: u16, q: &str) -> Result<Vec<Value>, String> {
    prom_query_at(port, q, None)
}

/// Collects the JSON bodies Alertmanager posts.
struct Webhook {
    port: u16,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end().to_ascii_lowercase();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        sink.lock().unwrap().push(v);
                    }
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        Webhook { port, got }
    }

    /// Alerts received so far with this name and status.
    fn alerts(&self, name: &str, status: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["alertname"] == name && a["status"] == status)
            .collect()
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}:{}", a["labels"]["alertname"], a["status"]))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The rule files Prometheus loads: the shipped ones.
fn rule_files() -> Vec<PathBuf> {
    ["frontline.rules.yaml", "frontline.alerts.yaml"]
        .iter()
        .map(|f| repo().join("deploy/prometheus").join(f))
        .collect()
}

const CONFIG: &str = r#"
[time]
idle_timeout = "1s"

# The per-agent families too, so the per-agent rules and panel have data.
[agents]
per_agent_metrics = true

[cost]
per_agent_hour = 36.0

[kpi_targets]
csat = 0.85
service_level = 0.8
abandonment = 0.05
first_contact_resolution = 0.7
sla_attainment = 0.95

[sla]
warn_fraction = 0.5

[[sla.policies]]
name = "vip"
match = { queue = ["vip"] }
first_response = "15s"
resolution = "1h"

[[sla.policies]]
name = "phone"
match = { channel = ["phone"] }
answer = "1m"

[[sla.policies]]
name = "standard"
calendar = "always"
first_response = "8h"
resolution = "3d"

[sla.calendars.always]
timezone = "UTC"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }
"#;

/// Everything the test runs: the broker's topic, frontline, Prometheus,
/// Alertmanager and the webhook.
struct Stack {
    dir: tempfile::TempDir,
    frontline: Option<Proc>,
    frontline_port: u16,
    prometheus: Proc,
    prom_port: u16,
    _alertmanager: Proc,
    webhook: Webhook,
    topic: String,
}

impl Stack {
    fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let topic = format!("ops-{}-{}", std::process::id(), now_ms() % 1_000_000_000);
        create_topic(&topic);

        let webhook = Webhook::start();
        let am_port = free_port();
        std::fs::write(
            d.join("alertmanager.yml"),
            format!(
                "route:\n  receiver: hook\n  group_by: [alertname, policy, queue, instance]\n  \
                 group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{}/\n    send_resolved: true\n",
                webhook.port
            ),
        )
        .unwrap();
        let alertmanager = spawn(
            Command::new("prometheus-alertmanager").args([
                &format!("--config.file={}", d.join("alertmanager.yml").display()),
                &format!("--storage.path={}", d.join("am").display()),
                &format!("--web.listen-address=127.0.0.1:{am_port}"),
                "--cluster.listen-address=",
            ]),
            &d.join("alertmanager.log"),
        );

        let frontline_port = free_port();
        std::fs::write(d.join("frontline.toml"), CONFIG).unwrap();
        let group = format!("{topic}-group");
        let frontline = spawn(
            Command::new(env!("CARGO_BIN_EXE_frontline"))
                .args([
                    "run",
                    "--config",
                    d.join("frontline.toml").to_str().unwrap(),
                    "--brokers",
                    &broker(),
                    "--topic",
                    &topic,
                    "--group",
                    &group,
                    "--listen",
                    &format!("127.0.0.1:{frontline_port}"),
                    "--set",
                    "checkpoint.interval=\"1s\"",
                    "--set",
                    "kafka.auto.commit.interval.ms=\"500\"",
                ])
                .env("RUST_LOG", "info"),
            &d.join("frontline.log"),
        );

        let prom_port = free_port();
        let rules: Vec<String> = rule_files()
            .iter()
            .map(|p| format!("  - {}\n", p.display()))
            .collect();
        std::fs::write(
            d.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\n\
                 rule_files:\n{}\
                 alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{am_port}']\n\
                 scrape_configs:\n- job_name: frontline\n  static_configs:\n  - targets: ['127.0.0.1:{frontline_port}']\n",
                rules.concat()
            ),
        )
        .unwrap();
        let prometheus = spawn(
            Command::new("prometheus").args([
                &format!("--config.file={}", d.join("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", d.join("tsdb").display()),
                &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ]),
            &d.join("prometheus.log"),
        );

        let up = |port: u16, path: &str| http_get(port, path).is_some_and(|(c, _)| c == 200);
        wait_until(Duration::from_secs(30), "frontline serves /healthz", || {
            up(frontline_port, "/healthz")
        });
        wait_until(Duration::from_secs(30), "Prometheus is ready", || {
            up(prom_port, "/-/ready")
        });
        wait_until(Duration::from_secs(30), "Alertmanager is ready", || {
            up(am_port, "/-/ready")
        });
        Stack {
            dir,
            frontline: Some(frontline),
            frontline_port,
            prometheus,
            prom_port,
            _alertmanager: alertmanager,
            webhook,
            topic,
        }
    }

    fn query(&self, q: &str) -> Result<Vec<Value>, String> {
        prom_query(self.prom_port, q)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn create_topic(topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = NewTopic::new(topic, 2, TopicReplication::Fixed(1));
    for r in rt
        .block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

/// A kcat producer fed line by line (`key\tvalue`).
fn kcat(topic: &str) -> (Proc, std::process::ChildStdin) {
    let mut child = Command::new("kcat")
        .args([
            "-b",
            &broker(),
            "-t",
            topic,
            "-P",
            "-K",
            "\t",
            "-X",
            "linger.ms=0",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat not found: run ./scripts/install-tools.sh");
    let stdin = child.stdin.take().unwrap();
    (Proc(child), stdin)
}

/// An hour and a half of simulated contacts ending now, so every KPI has
/// something to show and the watermark is where a live stream's is. Sent in
/// ten slices two seconds apart, so Prometheus sees the counters grow.
fn simulated_history(topic: &str) -> std::thread::JoinHandle<()> {
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let end = now_ms();
        let start = end - 90 * 60_000;
        // The centre's local time is chosen so that now is 11:00 there: a
        // busy morning whatever the wall clock says (nights are quiet).
        let utc_hour = (end / 3_600_000).rem_euclid(24) as i32;
        let events: Vec<_> = Simulator::new(SimConfig {
            seed: 7,
            start_ms: start,
            utc_offset_hours: 11 - utc_hour,
            ..Default::default()
        })
        .take_while(|e| e.ts < end)
        .collect();
        let (mut p, mut stdin) = kcat(&topic);
        // A CES and an NPS answer now and again at the end: a rate needs the
        // counter to move, and each partition's counter is a series of its
        // own, so both answers of a kind share a key (a partition).
        writeln!(
            stdin,
            r#"ops-c1	{{"event_id":"ops-0","type":"survey.ces","ts":{},"customer_id":"ops-c1","score":2}}"#,
            start + 1_000
        )
        .unwrap();
        writeln!(
            stdin,
            r#"ops-c1	{{"event_id":"ops-n0","type":"survey.nps","ts":{},"customer_id":"ops-c1","score":9}}"#,
            start + 1_000
        )
        .unwrap();
        // Likewise a resolution and a reopen now, of the labels the ones at
        // the end have, so the reopen ratio has a moving denominator
        // whatever the simulated stretch resolves.
        for (id, ty, dt) in [
            ("ops-r0", "ticket.created", 0),
            ("ops-r1", "ticket.resolved", 1_000),
            ("ops-r2", "ticket.reopened", 2_000),
        ] {
            let extra = if ty == "ticket.created" {
                r#","customer_id":"ops-c1","channel":"email","priority":"normal","queue":"billing""#
            } else {
                ""
            };
            writeln!(
                stdin,
                r#"ops-c1	{{"event_id":"{id}","type":"{ty}","ts":{},"ticket_id":"OPS-T0"{extra}}}"#,
                start + 1_000 + dt
            )
            .unwrap();
        }
        let slice = (end - start) / 10;
        let mut next = start + slice;
        for e in events {
            if e.ts >= next {
                stdin.flush().unwrap();
                std::thread::sleep(Duration::from_secs(2));
                next += slice;
            }
            writeln!(stdin, "{}\t{}", e.key, e.json).unwrap();
        }
        // What the simulated stretch may lack, so every series a panel or
        // rule reads exists: a reopen, a short abandon, NPS and CES answers.
        let t = end - 60_000;
        for (key, ev) in [
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-1","type":"ticket.created","ts":{},"ticket_id":"OPS-T1","customer_id":"ops-c1","channel":"email","priority":"normal","queue":"billing"}}"#,
                    t
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-2","type":"ticket.resolved","ts":{},"ticket_id":"OPS-T1"}}"#,
                    t + 1_000
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-3","type":"ticket.reopened","ts":{},"ticket_id":"OPS-T1"}}"#,
                    t + 2_000
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-4","type":"call.queued","ts":{},"call_id":"OPS-C1","customer_id":"ops-c1","queue":"billing"}}"#,
                    t
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-5","type":"call.abandoned","ts":{},"call_id":"OPS-C1"}}"#,
                    t + 2_000
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-6","type":"survey.nps","ts":{},"customer_id":"ops-c1","score":9}}"#,
                    t + 3_000
                ),
            ),
            (
                "ops-c1",
                format!(
                    r#"{{"event_id":"ops-7","type":"survey.ces","ts":{},"customer_id":"ops-c1","score":2,"ticket_id":"OPS-T1"}}"#,
                    t + 3_000
                ),
            ),
        ] {
            writeln!(stdin, "{key}\t{ev}").unwrap();
        }
        // One message that is not an event: decode errors and dead letters have a series.
        writeln!(stdin, "bad\tnot json").unwrap();
        drop(stdin);
        assert!(p.0.wait().unwrap().success(), "kcat produce failed");
    })
}

/// A VIP ticket every 3 s, created now: nobody answers, so each breaches its
/// 15 s first-response target.
fn vip_tickets(topic: &str, stop: Arc<Mutex<bool>>) -> std::thread::JoinHandle<()> {
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let (_p, mut stdin) = kcat(&topic);
        let mut n = 0;
        while !*stop.lock().unwrap() {
            let ts = now_ms();
            writeln!(
                stdin,
                "vip-customer\t{{\"event_id\":\"vip-{n}\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"VIP-{n}\",\"customer_id\":\"vip-customer\",\"channel\":\"email\",\"priority\":\"urgent\",\"queue\":\"vip\"}}"
            )
            .unwrap();
            stdin.flush().unwrap();
            n += 1;
            std::thread::sleep(Duration::from_secs(3));
        }
    })
}

/// The tests of this file each run several servers and scrape them every
/// 2 s; on a small machine running both at once makes scrapes time out and
/// series go stale, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn alerts_reach_alertmanager_from_live_metrics() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let mut s = Stack::start();
    let history = simulated_history(&s.topic);
    let stop = Arc::new(Mutex::new(false));
    let vip = vip_tickets(&s.topic, stop.clone());

    // The breach is counted when the deadline passes (15 s after creation);
    // the alert fires on the next evaluation and Alertmanager sends it after
    // group_wait (1 s).
    let took = wait_until(
        Duration::from_secs(120),
        "SupportSLABreached{policy=vip,queue=vip} reaches the webhook",
        || {
            s.webhook
                .alerts("SupportSLABreached", "firing")
                .iter()
                .any(|a| a["labels"]["policy"] == "vip" && a["labels"]["queue"] == "vip")
        },
    );
    let breach = s
        .webhook
        .alerts("SupportSLABreached", "firing")
        .into_iter()
        .find(|a| a["labels"]["policy"] == "vip")
        .unwrap();
    assert_eq!(breach["labels"]["sla"], "first_response");
    assert_eq!(breach["labels"]["priority"], "urgent");
    assert_eq!(breach["labels"]["severity"], "warning");
    assert_eq!(
        breach["annotations"]["runbook_url"],
        "docs/runbook.md#supportslabreached"
    );
    assert!(
        breach["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("policy vip was breached in queue vip"),
        "{breach}"
    );
    eprintln!("SLA breach alert at the webhook {took:?} after the first VIP ticket");

    // Healthy: no processor alert pending or firing, none sent.
    let health = s
        .query(r#"ALERTS{alertname=~"Frontline.*"}"#)
        .expect("ALERTS query");
    assert!(
        health.is_empty(),
        "processor alerts while healthy: {health:?}"
    );
    assert!(
        !s.webhook.names().iter().any(|n| n.contains("Frontline")),
        "processor alerts sent while healthy: {:?}",
        s.webhook.names()
    );
    let targets = http_get(s.prom_port, "/api/v1/targets").unwrap().1;
    assert!(
        targets.contains("\"health\":\"up\""),
        "frontline is not scraped: {targets}"
    );

    history.join().unwrap();
    // Every panel and every name, while the processor is live.
    let metrics = http_get(s.frontline_port, "/metrics").unwrap().1;
    check_dashboards(&s, &metrics);

    *stop.lock().unwrap() = true;
    vip.join().unwrap();

    // Stopped: the target is down for a minute (the rule's `for`), then the
    // alert fires and reaches the webhook.
    drop(s.frontline.take());
    let took = wait_until(
        Duration::from_secs(150),
        "FrontlineTargetDown reaches the webhook",
        || !s.webhook.alerts("FrontlineTargetDown", "firing").is_empty(),
    );
    let down = &s.webhook.alerts("FrontlineTargetDown", "firing")[0];
    assert_eq!(
        down["labels"]["instance"],
        format!("127.0.0.1:{}", s.frontline_port)
    );
    assert_eq!(down["labels"]["severity"], "critical");
    eprintln!("FrontlineTargetDown at the webhook {took:?} after frontline stopped");
    eprintln!("alerts seen: {:?}", s.webhook.names());
    eprintln!("total {:?}", t0.elapsed());
    let _ = (&s.prometheus, s.log("frontline.log"));
}

/// Panels allowed to return no data, with the reason. Keyed by
/// (dashboard uid, panel title).
const NO_DATA_EXPECTED: &[(&str, &str, &str)] = &[
    (
        "frontline-processor",
        "Label overflow",
        "only when a queue or agent cap is reached",
    ),
    (
        "frontline-processor",
        "Rebalances",
        "appears at the first rebalance only after the group has settled",
    ),
];

/// Names Prometheus makes itself, not frontline.
const PROMETHEUS_NAMES: &[&str] = &["up", "ALERTS"];

/// The metric families of an exposition, as `# TYPE` names them (counters
/// without `_total`).
fn families(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// Metric and recording-rule names in a PromQL expression: identifiers
/// outside strings and matchers that are not function calls.
fn names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    let mut in_braces = 0;
    while i < b.len() {
        let c = b[i] as char;
        if in_str {
            if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' => in_braces += 1,
            '}' => in_braces -= 1,
            _ => {}
        }
        if (c.is_ascii_alphabetic() || c == '_') && in_braces == 0 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let next = expr[i..].trim_start().chars().next();
            let is_call = next == Some('(');
            let keyword = matches!(
                word,
                "by" | "without"
                    | "on"
                    | "ignoring"
                    | "group_left"
                    | "group_right"
                    | "and"
                    | "or"
                    | "unless"
                    | "offset"
                    | "bool"
                    | "Inf"
                    | "NaN"
                    | "inf"
            );
            if !is_call
                && !keyword
                && (word.starts_with("support_")
                    || word.starts_with("frontline_")
                    || word.starts_with("process_")
                    || word.contains(':')
                    || PROMETHEUS_NAMES.contains(&word))
            {
                out.push(word.to_string());
            }
            continue;
        }
        i += 1;
    }
    out
}

/// The family a sample name belongs to.
fn family_of(name: &str) -> &str {
    for suffix in ["_total", "_bucket", "_sum", "_count"] {
        if let Some(f) = name.strip_suffix(suffix) {
            return f;
        }
    }
    name
}

fn check_dashboards(s: &Stack, metrics: &str) {
    let exported = families(metrics);
    // The rules as Prometheus loaded them from the shipped files.
    let mut rules = std::collections::BTreeSet::new();
    let mut rule_exprs = Vec::new();
    let loaded: Value =
        serde_json::from_str(&http_get(s.prom_port, "/api/v1/rules").unwrap().1).unwrap();
    for g in loaded["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            if r["type"] == "recording" {
                rules.insert(r["name"].as_str().unwrap().to_string());
            }
            rule_exprs.push(r["query"].as_str().unwrap().to_string());
        }
    }
    assert!(rules.len() > 100, "recording rules read: {}", rules.len());

    // Wait until the 24 h rules have an evaluation over at least two scrapes.
    wait_until(
        Duration::from_secs(60),
        "recording rules have values",
        || {
            s.query("job:support_csat:ratio_rate24h")
                .is_ok_and(|r| !r.is_empty())
        },
    );

    let mut failures = Vec::new();
    let mut used = Vec::new();
    let mut queries = 0;
    let dir = repo().join("deploy/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap().to_string();
        let vars: Vec<String> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        for want in [
            "datasource",
            "queue",
            "channel",
            "priority",
            "policy",
            "instance",
        ] {
            assert!(vars.iter().any(|v| v == want), "{uid}: no ${want} variable");
        }
        // Template variables: label_values(metric, label) must find values.
        for v in d["templating"]["list"].as_array().unwrap() {
            let Some(q) = v["query"]["query"].as_str() else {
                continue;
            };
            let q = q.replace("$job", "frontline");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|x| x.strip_suffix(')'))
                .unwrap();
            let (metric, label) = inner.rsplit_once(',').unwrap();
            used.push(format!("{uid} variable {}", v["name"]));
            used.extend(names_in(metric));
            match s.query(&format!("count by ({}) ({metric})", label.trim())) {
                Ok(r) if !r.is_empty() => {}
                other => failures.push(format!("{uid} variable {}: {other:?}", v["name"])),
            }
        }
        let mut panels: Vec<Value> = d["panels"].as_array().unwrap().clone();
        while let Some(p) = panels.pop() {
            if let Some(inner) = p["panels"].as_array() {
                panels.extend(inner.iter().cloned());
            }
            if p["type"] != "row" {
                assert_eq!(
                    p["datasource"]["uid"], "${datasource}",
                    "{uid}: {}",
                    p["title"]
                );
            }
            let title = p["title"].as_str().unwrap_or("");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                used.extend(names_in(expr));
                let q = expr
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "1m")
                    .replace("$queue", ".*")
                    .replace("$channel", ".*")
                    .replace("$priority", ".*")
                    .replace("$policy", ".*")
                    .replace("$instance", ".*")
                    .replace("$job", "frontline");
                assert!(
                    !q.contains('$'),
                    "{uid} {title}: unknown variable in {expr}"
                );
                queries += 1;
                let allowed = NO_DATA_EXPECTED
                    .iter()
                    .any(|(u, t, _)| *u == uid && *t == title);
                match s.query(&q) {
                    Err(e) => failures.push(format!("{uid} / {title}: {e}\n  {q}")),
                    Ok(r) if r.is_empty() && !allowed => {
                        failures.push(format!("{uid} / {title}: no data\n  {q}"))
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    for e in &rule_exprs {
        used.extend(names_in(e));
    }
    for n in used.iter().filter(|n| !n.contains(' ')) {
        if n.contains(':') {
            if !rules.contains(n.as_str()) {
                failures.push(format!("{n}: not a recording rule of deploy/prometheus"));
            }
        } else if !PROMETHEUS_NAMES.contains(&n.as_str())
            && !exported.contains(family_of(n))
            && !exported.contains(n.as_str())
        {
            failures.push(format!("{n}: not exported on /metrics"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {queries} dashboard queries or names fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{queries} dashboard queries return data; every name used exists");
}

/// The recording rules are right with several instances: one topic of 4
/// partitions, one fixed event set, consumed by two `frontline run` sharing a
/// consumer group (job `two`) and by one instance in a group of its own (job
/// `one`). One Prometheus scrapes both setups as two jobs and evaluates the
/// shipped recording rules unchanged: every rule groups by `job`, so each
/// setup gets its own outputs from the same rule, with no relabelling.
///
/// Every partition's engine sees the same events in both setups, so the
/// cumulative counters summed over instances and partitions are equal
/// exactly. The rules' rates are not: `rate()` extrapolates each series from
/// its own scrape timestamps, and targets are scraped at different phases of
/// the interval, so each series of a target born at the target's first scrape
/// gets a factor `1 + (start + end extrapolation) / sampled span` that differs
/// between targets by at most about 1.6 scrape intervals over the span. The
/// rule outputs are compared within 3 / (scrapes − 1) relative, the bound for
/// a ratio of two such sums; quantiles within one bucket (the interpolation
/// inside a bucket magnifies a count difference).
#[test]
fn two_instances_give_the_totals_and_ratios_of_one() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use common::kafka::{create_topic, kcat_produce, scenario, sum_family, Frontline, Launch};
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let topic = common::kafka::unique("ops-two");
    create_topic(&topic, common::kafka::PARTITIONS);
    // The first half is a simulated stretch; the second the same events
    // again, later, with new ticket, call, customer and event ids and the
    // same keys (partitions): each partition sees the label sets of the
    // first half again, so no series is born while Prometheus watches (a
    // series' first sample is never counted by rate(), and how much it holds
    // depends on when it was scraped).
    let (first, _) = scenario(3000, 41);
    let ts_of = |l: &str| -> i64 {
        let v: Value = serde_json::from_str(l.split_once('\t').unwrap().1).unwrap();
        v["ts"].as_i64().unwrap()
    };
    let shift = ts_of(first.last().unwrap()) - ts_of(&first[0]) + 3_600_000;
    let mut keyed = first.clone();
    for l in &first {
        let (k, j) = l.split_once('\t').unwrap();
        let mut v: Value = serde_json::from_str(j).unwrap();
        let o = v.as_object_mut().unwrap();
        let ts = o["ts"].as_i64().unwrap() + shift;
        o.insert("ts".into(), ts.into());
        for f in ["event_id", "ticket_id", "call_id", "customer_id"] {
            if let Some(Value::String(id)) = o.get_mut(f) {
                id.push_str("-b");
            }
        }
        keyed.push(format!("{k}\t{v}"));
    }
    let half = first.len();
    let launch = |group: &str| Frontline::launch(&Launch::new(&topic, group));
    let (g1, g2) = (format!("{topic}-one"), format!("{topic}-two"));
    let one = launch(&g1);
    let two = [launch(&g2), launch(&g2)];
    let live = |f: &Frontline| {
        common::kafka::samples(&f.metrics())
            .get(r#"frontline_partitions{phase="live"}"#)
            .copied()
            .unwrap_or(0.0)
    };
    wait_until(
        Duration::from_secs(60),
        "the group of two shares the partitions",
        || live(&one) == 4.0 && live(&two[0]) == 2.0 && live(&two[1]) == 2.0,
    );
    let consumed = |n: usize| {
        move |fs: &[&Frontline]| {
            fs.iter()
                .map(|f| sum_family(&f.metrics(), "frontline_events_total"))
                .sum::<f64>()
                == n as f64
        }
    };
    let both = |n: usize| {
        let c = consumed(n);
        c(&[&one]) && c(&[&two[0], &two[1]])
    };
    // Half the events before Prometheus starts: the series it will rate
    // exist from its first scrape; the other half moves them while it watches.
    kcat_produce(&topic, &keyed[..half], None);
    wait_until(
        Duration::from_secs(60),
        "both setups consumed the first half",
        || both(half),
    );

    let prom_port = free_port();
    let target = |f: &Frontline| format!("'127.0.0.1:{}'", f.port);
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n\
             - job_name: one\n  static_configs:\n  - targets: [{}]\n\
             - job_name: two\n  static_configs:\n  - targets: [{}, {}]\n",
            repo()
                .join("deploy/prometheus/frontline.rules.yaml")
                .display(),
            target(&one),
            target(&two[0]),
            target(&two[1]),
        ),
    )
    .unwrap();
    let _prometheus = spawn(
        Command::new("prometheus").args([
            &format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ]),
        &dir.path().join("prometheus.log"),
    );
    let query = |q: &str| prom_query(prom_port, q);
    let scalar = |q: &str| -> f64 {
        query(q)
            .ok()
            .and_then(|r| r.first().cloned())
            .and_then(|v| v["value"][1].as_str().and_then(|x| x.parse().ok()))
            .unwrap_or(0.0)
    };
    wait_until(
        Duration::from_secs(30),
        "Prometheus scraped every target 5 times",
        || query("count_over_time(up[5m]) >= 5").is_ok_and(|r| r.len() == 3),
    );

    kcat_produce(&topic, &keyed[half..], None);
    let all = keyed.len();
    wait_until(
        Duration::from_secs(60),
        "both setups consumed everything",
        || both(all),
    );
    // Every target scraped after that, and rules evaluated on those scrapes;
    // then more samples narrow the extrapolation's spread.
    let done = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    wait_until(
        Duration::from_secs(30),
        "every target scraped since",
        || scalar("min(timestamp(up))") > done + 1.0,
    );
    std::thread::sleep(Duration::from_secs(24));
    // A scrape of a busy machine can time out; compare when the last two
    // of every target succeeded, so no series is stale at the comparison.
    wait_until(
        Duration::from_secs(60),
        "the last scrapes succeeded",
        || query("min_over_time(up[5s]) == 1").is_ok_and(|r| r.len() == 3),
    );
    let slow = scalar("max(max_over_time(scrape_duration_seconds[5m]))");

    // Totals: every support_* series summed over instances and partitions
    // (counters, histogram buckets, sums and counts, gauges; the oldest
    // waiting call is a maximum), equal up to the order of the
    // floating-point additions. Not compared: what each instance exports
    // once (the configured targets and formula) and its event-time windows.
    let families: Vec<String> = families(&one.metrics())
        .into_iter()
        .filter(|f| f.starts_with("support_") && !f.starts_with("support_window_"))
        .filter(|f| !f.starts_with("support_kpi_"))
        .map(|f| f.strip_suffix("_total").unwrap_or(&f).to_string())
        .collect();
    assert!(families.len() > 20, "{families:?}");
    let mut exact = 0;
    for f in &families {
        for suffix in ["", "_total", "_bucket", "_count", "_sum"] {
            let name = format!("{f}{suffix}");
            let by_job = |job: &str| -> std::collections::BTreeMap<String, f64> {
                query(&format!(
                    "{} without (instance, partition, job) (last_over_time({name}{{job=\"{job}\"}}[1m]))",
                    if name.contains("oldest") { "max" } else { "sum" }
                ))
                .unwrap()
                .iter()
                .map(|s| {
                    let v = s["value"][1].as_str().unwrap().parse().unwrap();
                    (s["metric"].to_string(), v)
                })
                .collect()
            };
            let (a, b) = (by_job("one"), by_job("two"));
            assert!(a.keys().eq(b.keys()), "{name}: {a:?} against {b:?}");
            for (k, x) in &a {
                let y = b[k];
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                    "{name}{k}: {x} with one instance, {y} with two"
                );
            }
            exact += a.len();
        }
    }
    assert!(exact > 100, "only {exact} series compared");

    // The recording rules, job by job.
    let loaded: Value =
        serde_json::from_str(&http_get(prom_port, "/api/v1/rules").unwrap().1).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for g in loaded["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            names.insert(r["name"].as_str().unwrap().to_string());
        }
    }
    let scrapes = scalar("min(sum_over_time(up[5m]))");
    let tol = 3.0 / (scrapes - 1.0);
    let bounds = [
        1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        14400.0, 28800.0, 43200.0, 86400.0, 172800.0, 259200.0, 604800.0,
    ];
    let bucket = |v: f64| bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
    let (mut compared, mut worst) = (0, 0.0f64);
    let mut failures = Vec::new();
    for name in &names {
        let by_job = |job: &str| -> std::collections::BTreeMap<String, f64> {
            query(&format!("{name}{{job=\"{job}\"}}"))
                .unwrap()
                .iter()
                .map(|s| {
                    let mut m = s["metric"].clone();
                    m.as_object_mut().unwrap().remove("job");
                    (
                        m.to_string(),
                        s["value"][1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect()
        };
        let (a, b) = (by_job("one"), by_job("two"));
        if a.keys().ne(b.keys()) {
            failures.push(format!(
                "{name}: series {:?} against {:?}",
                a.keys(),
                b.keys()
            ));
            continue;
        }
        for (k, x) in &a {
            let y = b[k];
            compared += 1;
            if name.contains("histogram_quantile") {
                if bucket(*x).abs_diff(bucket(y)) > 1 {
                    failures.push(format!("{name}{k}: {x} against {y}"));
                }
                continue;
            }
            let rel = (x - y).abs() / x.abs().max(y.abs()).max(1e-12);
            worst = worst.max(rel);
            if rel > tol {
                failures.push(format!("{name}{k}: {x} against {y} ({rel:.4} > {tol:.4})"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "recording rules differ between one instance and two:\n{}",
        failures.join("\n")
    );
    // The KPI rules had values to compare (the fixed event set covers them;
    // a scrape timed out just now can leave an instant without one).
    for kpi in [
        "job:support_csat:ratio_rate5m",
        "job:support_service_level:ratio_rate5m",
        "job:support_first_contact_resolution:ratio_rate5m",
        "job:support_utilization:ratio_rate5m",
        "job:support_resolution:ratio_rate5m",
        "job:support_repeat_contact:ratio_rate5m",
        "job:support_nps:rate5m",
    ] {
        assert!(
            query(&format!("last_over_time({kpi}{{job=\"two\"}}[1m])")).is_ok_and(|r| r.len() == 1),
            "{kpi} has no value"
        );
    }
    eprintln!(
        "{exact} counter series equal exactly; {compared} rule outputs of {} rules compared, \
         largest relative difference {worst:.5} (tolerance {tol:.4} at {scrapes} scrapes, \
         the slowest {slow:.2} s); {:?}",
        names.len(),
        t0.elapsed()
    );
}

/// A dashboard panel's first query, its variables at `.*`.
fn panel_expr(dashboard: &str, title: &str) -> String {
    let path = repo().join("deploy/grafana/dashboards").join(dashboard);
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panel = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?} in {dashboard}"));
    panel["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .replace("$policy", ".*")
        .replace("$queue", ".*")
        .replace("$priority", ".*")
        .replace("$job", "frontline")
}

/// Runs `promtool test rules` over the shipped recording rules with
/// `input_series` (YAML list items, one-minute interval): `expr` at 120 m
/// must give `exp_samples` (YAML list items).
fn promtool_expect(input_series: &str, expr: &str, exp_samples: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rules = repo().join("deploy/prometheus/frontline.rules.yaml");
    let test = format!(
        "rule_files: [{}]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n{input_series}  promql_expr_test:\n  - expr: {}\n    eval_time: 120m\n    exp_samples:\n{exp_samples}",
        serde_json::to_string(rules.to_str().unwrap()).unwrap(),
        serde_json::to_string(expr).unwrap(),
    );
    let file = dir.path().join("panel.yaml");
    std::fs::write(&file, test).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool not found: run ./scripts/install-tools.sh (make test does)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SLA dashboard's attainment table keeps a policy none of whose clocks
/// was met, at 0 % (it dropped the row: its numerator had no fallback).
/// The panel's own query, variables at `.*`, over the shipped recording
/// rules in `promtool test rules`; no broker needed.
#[test]
fn the_sla_attainment_table_keeps_a_policy_at_zero() {
    let expr = panel_expr("frontline-sla.json", "Attainment by policy and clock, 24 h");
    let series = |name: &str, policy: &str, priority: &str, values: &str| {
        format!(
            "  - series: {name}{{job=\"frontline\",instance=\"a:9464\",sla=\"first_response\",policy=\"{policy}\",priority=\"{priority}\",queue=\"billing\"}}\n    values: {values}\n"
        )
    };
    let input = series("support_sla_breaches_total", "urgent", "urgent", "0+1x120")
        + &series(
            "support_sla_achieved_total",
            "standard",
            "normal",
            "0+2x120",
        );
    promtool_expect(
        &input,
        &expr,
        "    - labels: '{sla=\"first_response\",policy=\"urgent\"}'\n      value: 0\n    - labels: '{sla=\"first_response\",policy=\"standard\"}'\n      value: 1\n",
    );
}

/// The Overview's FCR headline is SPEC §3's FCR over 24 h: first-contact
/// resolutions over resolved contacts, calls counted when they end
/// resolved. Two instances' exact windows hold 8 of 10 and 18 of 30, so
/// 26 / 40 = 0.65. The cumulative counters beside them count answered calls
/// in the denominator (as the rate rules must: no counter carries resolved
/// calls): 26 resolutions over 20 tickets resolved and 32 calls answered
/// an interval would read 0.5. The headline read that rate rule once.
#[test]
fn the_overview_fcr_headline_counts_resolved_contacts() {
    let expr = panel_expr("frontline-overview.json", "First contact resolution");
    let mut input = String::new();
    for (instance, ratio, events) in [("a:9464", "0.8", "10"), ("b:9464", "0.6", "30")] {
        let labels = format!("job=\"frontline\",instance=\"{instance}\",window=\"24h\"");
        input += &format!(
            "  - series: support_window_ratio{{{labels},kpi=\"first_contact_resolution\"}}\n    values: {ratio}x120\n  - series: support_window_events{{{labels},metric=\"first_contact_resolution\"}}\n    values: {events}x120\n"
        );
    }
    let counter = |name: &str, labels: &str, per_minute: u32| {
        format!(
            "  - series: {name}{{job=\"frontline\",instance=\"a:9464\",{labels}}}\n    values: 0+{per_minute}x1500\n"
        )
    };
    let ticket = "channel=\"email\",priority=\"normal\",queue=\"billing\"";
    input += &counter("support_first_contact_resolutions_total", ticket, 26);
    input += &counter("support_tickets_resolved_total", ticket, 20);
    input += &counter("support_calls_answered_total", "queue=\"billing\"", 32);
    // Another job scraped by the same Prometheus (another frontline
    // deployment) is not the dashboard's: the headline once added its
    // ratio, 0.65 + 0.1.
    let other = "job=\"staging\",instance=\"c:9464\",window=\"24h\"";
    input += &format!(
        "  - series: support_window_ratio{{{other},kpi=\"first_contact_resolution\"}}\n    values: 0.1x120\n  - series: support_window_events{{{other},metric=\"first_contact_resolution\"}}\n    values: 10x120\n"
    );
    promtool_expect(&input, &expr, "    - labels: '{}'\n      value: 0.65\n");
}

/// The Overview's resolution rate is the recording rules' ratio: resolved
/// over created, at most 1 (a day resolving three times what it creates
/// read 300 %), and nothing rather than +Inf on a day with no new ticket.
#[test]
fn the_overview_resolution_rate_is_capped_and_needs_created_tickets() {
    let expr = panel_expr("frontline-overview.json", "Resolution rate").replace("$channel", ".*");
    let counter = |name: &str, queue: &str, per_minute: u32| {
        format!(
            "  - series: {name}{{job=\"frontline\",instance=\"a:9464\",channel=\"email\",priority=\"normal\",queue=\"{queue}\"}}\n    values: 0+{per_minute}x1500\n"
        )
    };
    let input = counter("support_tickets_resolved_total", "billing", 30)
        + &counter("support_tickets_created_total", "billing", 10);
    promtool_expect(&input, &expr, "    - labels: '{}'\n      value: 1\n");
    let input = counter("support_tickets_resolved_total", "billing", 9)
        + &counter("support_tickets_created_total", "billing", 10);
    promtool_expect(&input, &expr, "    - labels: '{}'\n      value: 0.9\n");
    let input = counter("support_tickets_resolved_total", "billing", 30)
        + &counter("support_tickets_created_total", "billing", 0);
    promtool_expect(&input, &expr, "");
}
