//! The SLA event stream (`[sla_events] topic`, docs/sla.md) against a real
//! Apache Kafka broker (started by `scripts/kafka.sh`, address in
//! FRONTLINE_TEST_KAFKA; `make test` does both), read back with `kcat`.
//! Every expected event is derived by hand from the scenario below.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::kafka::*;
use serde_json::Value;

const POLICIES: &str = r#"
[sla]
warn_fraction = 0.5

[[sla.policies]]
name = "phone"
match = { channel = "phone" }
answer = "20s"

[[sla.policies]]
name = "urgent"
match = { priority = ["urgent"] }
first_response = "1h"
resolution = "4h"

[[sla.policies]]
name = "standard"
first_response = "8h"
resolution = "3d"
"#;

/// The scenario, one partition, on Monday 2026-11-16 (UTC). Offsets are
/// the line numbers from 0. With warn_fraction 0.5:
///  0 09:00 T-1 created urgent → applied FR (due 10:00), RES (due 13:00)
///  1 09:05 T-2 created normal (standard) → applied FR (due 17:05), RES (due 11-19 09:05)
///  2 09:10 K-1 queued (phone, 20 s) → applied (due 09:10:20)
///  3 09:10:15 K-1 answered → at risk at 09:10:10, achieved
///  4 09:20 K-2 queued → applied (due 09:20:20)
///  5 09:25 T-1 replied → K-2 at risk 09:20:10 and breached 09:20:20 (timers); T-1 FR achieved
///  6 09:26 K-2 answered → stopped (breached)
///  7 10:00 T-2 made urgent → policy changed FR (due 10:05), RES (due 13:05);
///          FR at risk at 09:35, already passed (timer)
///  8 12:00 T-3 created normal → T-2 FR breached 10:05, T-1 RES at risk 11:00,
///          T-2 RES at risk 11:05 (timers); applied T-3 FR, RES
///  9 12:10 T-3 pending → paused
/// 10 12:30 T-1 resolved → RES achieved (due 13:00)
/// 11 12:40 T-2 replied → FR stopped (breached)
/// 12 12:45 T-3 open → resumed
/// 13 15:30 a survey → T-2 RES breached at 13:05 (timer)
fn scenario() -> Vec<String> {
    let t = |hm: &str| format!("2026-11-16T{hm}Z");
    let ticket = |id: &str, at: &str, pr: &str| {
        format!(
            r#"{{"event_id":"{id}-c","type":"ticket.created","ts":"{}","ticket_id":"{id}","customer_id":"C1","channel":"email","priority":"{pr}"}}"#,
            t(at)
        )
    };
    let ev = |n: u32, ty: &str, at: &str, rest: &str| {
        format!(
            r#"{{"event_id":"e{n}","type":"{ty}","ts":"{}",{rest}}}"#,
            t(at)
        )
    };
    [
        ticket("T-1", "09:00:00", "urgent"),
        ticket("T-2", "09:05:00", "normal"),
        ev(
            2,
            "call.queued",
            "09:10:00",
            r#""call_id":"K-1","customer_id":"C1","queue":"q","channel":"phone""#,
        ),
        ev(
            3,
            "call.answered",
            "09:10:15",
            r#""call_id":"K-1","agent_id":"A""#,
        ),
        ev(
            4,
            "call.queued",
            "09:20:00",
            r#""call_id":"K-2","customer_id":"C1","queue":"q","channel":"phone""#,
        ),
        ev(
            5,
            "ticket.agent_replied",
            "09:25:00",
            r#""ticket_id":"T-1","agent_id":"A""#,
        ),
        ev(
            6,
            "call.answered",
            "09:26:00",
            r#""call_id":"K-2","agent_id":"A""#,
        ),
        ev(
            7,
            "ticket.priority_changed",
            "10:00:00",
            r#""ticket_id":"T-2","priority":"urgent""#,
        ),
        ticket("T-3", "12:00:00", "normal"),
        ev(
            9,
            "ticket.status_changed",
            "12:10:00",
            r#""ticket_id":"T-3","status":"pending""#,
        ),
        ev(10, "ticket.resolved", "12:30:00", r#""ticket_id":"T-1""#),
        ev(
            11,
            "ticket.agent_replied",
            "12:40:00",
            r#""ticket_id":"T-2","agent_id":"A""#,
        ),
        ev(
            12,
            "ticket.status_changed",
            "12:45:00",
            r#""ticket_id":"T-3","status":"open""#,
        ),
        ev(13, "survey.ces", "15:30:00", r#""score":4"#),
    ]
    .into_iter()
    .map(|v| format!("C1\t{v}"))
    .collect()
}

/// Events per kind the scenario produces (see [`scenario`]).
const EXPECTED: [(&str, usize); 8] = [
    ("applied", 8),
    ("at_risk", 5),
    ("achieved", 3),
    ("breached", 3),
    ("stopped", 2),
    ("paused", 1),
    ("resumed", 1),
    ("policy_changed", 2),
];
const TOTAL: usize = 25;

fn config_file(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("frontline.toml");
    std::fs::write(&p, POLICIES).unwrap();
    p.display().to_string()
}

fn launch(topic: &str, group: &str, sla_topic: &str, cfg: &str, extra: &[&str]) -> Frontline {
    let mut l = Launch::new(topic, group);
    l.args = [
        "--config",
        cfg,
        "--set",
        &format!("sla_events.topic=\"{sla_topic}\""),
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    Frontline::launch(&l)
}

fn parse(msgs: &[(String, String)]) -> Vec<(String, Value)> {
    msgs.iter()
        .map(|(k, v)| {
            let j: Value = serde_json::from_str(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            (k.clone(), j)
        })
        .collect()
}

fn by_kind(events: &[(String, Value)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, e) in events {
        *m.entry(e["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

fn expected_by_kind() -> BTreeMap<String, usize> {
    EXPECTED.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// The three breaches: (id field, id, clock, policy, due, caused by offset).
const BREACHES: [(&str, &str, &str, &str, &str, i64); 3] = [
    (
        "call_id",
        "K-2",
        "answer",
        "phone",
        "2026-11-16T09:20:20Z",
        5,
    ),
    (
        "ticket_id",
        "T-2",
        "first_response",
        "urgent",
        "2026-11-16T10:05:00Z",
        8,
    ),
    (
        "ticket_id",
        "T-2",
        "resolution",
        "urgent",
        "2026-11-16T13:05:00Z",
        13,
    ),
];

#[test]
fn known_breaches_produce_exactly_the_expected_events() {
    let topic = unique("sla-in");
    let sla_topic = unique("sla-out");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&dir);
    let lines = scenario();
    kcat_produce(&topic, &lines, Some(0));
    let f = launch(&topic, &group, &sla_topic, &cfg, &[]);
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == lines.len() as f64
    });
    // The committed offset follows acknowledged SLA events: once it is at
    // the end, every event is in the topic.
    wait_until(Duration::from_secs(30), "the end is committed", || {
        committed(&group, &topic) == lines.len() as i64
    });
    let text = f.metrics();
    let events = parse(&kcat_consume_keyed(&sla_topic));
    assert_eq!(events.len(), TOTAL, "{events:#?}");
    let kinds = by_kind(&events);
    assert_eq!(kinds, expected_by_kind());
    let samples = series(&text);
    let stream = |result: &str| {
        samples
            .iter()
            .filter(|(k, _)| {
                k.starts_with("frontline_sla_events_total{")
                    && k.contains(&format!("result=\"{result}\""))
            })
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert_eq!(stream("acknowledged"), TOTAL as f64, "{text}");
    assert_eq!(stream("dropped"), 0.0);
    // Counts per kind equal the counters.
    assert_eq!(
        kinds["breached"] as f64,
        sum_family(&text, "support_sla_breaches_total")
    );
    assert_eq!(
        kinds["achieved"] as f64,
        sum_family(&text, "support_sla_achieved_total")
    );
    // Every breach names the right ticket or call, policy and due time,
    // and the input that made the event clock pass it.
    let breaches: Vec<&Value> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e["kind"] == "breached")
        .collect();
    for (idk, id, clock, policy, due, offset) in BREACHES {
        let b = breaches
            .iter()
            .find(|e| e[idk] == id && e["clock"] == clock)
            .unwrap_or_else(|| panic!("no breach of {id} {clock}: {breaches:#?}"));
        assert_eq!(b["policy"], policy, "{b}");
        assert_eq!(b["due"], due, "{b}");
        assert_eq!(b["at"], due, "{b}");
        assert_eq!(b["schema_version"], 1);
        assert_eq!(b["source"]["topic"], topic.as_str());
        assert_eq!(b["source"]["partition"], 0);
        assert_eq!(b["source"]["offset"], offset, "{b}");
        assert_eq!(b["source"]["cause"], "timer");
    }
    // T-2's first response: 1 h target, breached with 1 h on the clock.
    let fr = breaches
        .iter()
        .find(|e| e["clock"] == "first_response")
        .unwrap();
    assert_eq!(
        (fr["target_seconds"].clone(), fr["elapsed_seconds"].clone()),
        (3600.into(), 3600.into())
    );
    // The policy change names both policies.
    let pc: Vec<&Value> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e["kind"] == "policy_changed")
        .collect();
    assert!(
        pc.iter().all(|e| e["ticket_id"] == "T-2"
            && e["previous_policy"] == "standard"
            && e["policy"] == "urgent"),
        "{pc:#?}"
    );
    // Keyed by the ticket or call id; ids are unique.
    for (k, e) in &events {
        let id = e.get("ticket_id").or_else(|| e.get("call_id")).unwrap();
        assert_eq!(id, k.as_str(), "{e}");
    }
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|(_, e)| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), TOTAL);
    // `replay --sla-events-out` writes the same events, each ticket's and
    // call's in the same order (only `source` differs: a file line instead
    // of a partition offset; the topic's partitions interleave entities).
    let out = dir.path().join("sla.jsonl");
    replay_with(
        &lines,
        &[],
        &[
            "--config".into(),
            cfg.clone(),
            "--sla-events-out".into(),
            out.display().to_string(),
        ],
    );
    let per_entity = |evs: Vec<Value>| {
        let mut m: BTreeMap<String, Vec<(Value, Value)>> = BTreeMap::new();
        for mut v in evs {
            let id = v
                .get("ticket_id")
                .or_else(|| v.get("call_id"))
                .unwrap()
                .to_string();
            let src = v.as_object_mut().unwrap().remove("source").unwrap();
            m.entry(id).or_default().push((v, src["cause"].clone()));
        }
        m
    };
    let replayed = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let live = events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(per_entity(live), per_entity(replayed));
}

#[test]
fn kill_9_loses_no_state_change_and_repeats_only_uncommitted_ones() {
    let topic = unique("sla-in");
    let sla_topic = unique("sla-out");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&dir);
    let lines = scenario();
    let (first, second) = lines.split_at(8);
    kcat_produce(&topic, first, Some(0));
    // Checkpoints every 3 s: the second half is applied (and its events
    // produced) well before the next one covers it.
    let extra = ["--set", "checkpoint.interval=\"3s\""];
    let mut f = launch(&topic, &group, &sla_topic, &cfg, &extra);
    wait_until(
        Duration::from_secs(30),
        "the first half is committed",
        || committed(&group, &topic) == first.len() as i64,
    );
    kcat_produce(&topic, second, Some(0));
    wait_until(Duration::from_secs(30), "every event is applied", || {
        f.sum("frontline_events_total") == lines.len() as f64
    });
    f.kill9();
    let at_kill = committed(&group, &topic);
    assert!(
        (first.len() as i64..=lines.len() as i64).contains(&at_kill),
        "committed {at_kill}"
    );
    let g = launch(&topic, &group, &sla_topic, &cfg, &extra);
    wait_until(
        Duration::from_secs(60),
        "the end is committed after the restart",
        || committed(&group, &topic) == lines.len() as i64,
    );
    let text = g.metrics();
    let events = parse(&kcat_consume_keyed(&sla_topic));
    // Nothing lost: one event per id, per kind exactly the scenario's.
    let mut first_seen: BTreeMap<String, &Value> = BTreeMap::new();
    let mut repeats = 0;
    for (_, e) in &events {
        let id = e["event_id"].as_str().unwrap().to_string();
        match first_seen.get(&id) {
            None => {
                first_seen.insert(id, e);
            }
            Some(was) => {
                repeats += 1;
                // A repeat is the same change, from input the committed
                // offset did not cover at the kill.
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    v.as_object_mut().unwrap().remove("source");
                    v
                };
                assert_eq!(strip(was), strip(e));
                assert!(
                    e["source"]["offset"].as_i64().unwrap() >= at_kill,
                    "{e} (committed {at_kill})"
                );
            }
        }
    }
    let unique_events: Vec<(String, Value)> = first_seen
        .values()
        .map(|e| (String::new(), (*e).clone()))
        .collect();
    assert_eq!(by_kind(&unique_events), expected_by_kind());
    assert_eq!(unique_events.len(), TOTAL);
    // The counters of the restored instance agree with the stream.
    assert_eq!(sum_family(&text, "support_sla_breaches_total"), 3.0);
    assert_eq!(sum_family(&text, "support_sla_achieved_total"), 3.0);
    eprintln!(
        "kill -9: committed {at_kill} of {}, {repeats} events produced twice",
        lines.len()
    );
}

/// SLA events the broker does not acknowledge (here: a topic whose largest
/// message is smaller than an SLA event; a name the broker refuses is now
/// a config error) hold the checkpoints, and so the committed offset, back:
/// the input stays uncommitted rather than its SLA events being lost.
#[test]
fn unacknowledged_sla_events_hold_the_committed_offset_back() {
    let topic = unique("sla-in");
    create_topic(&topic, PARTITIONS);
    let sla_topic = unique("sla-refusing");
    create_topic(&sla_topic, 1);
    set_topic_config(&sla_topic, "max.message.bytes", "100");
    let group = unique("g");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&dir);
    let lines = scenario();
    kcat_produce(&topic, &lines, Some(0));
    let extra = ["--set", "checkpoint.write_timeout=\"1s\""];
    let f = launch(&topic, &group, &sla_topic, &cfg, &extra);
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == lines.len() as f64
    });
    wait_until(
        Duration::from_secs(30),
        "a checkpoint abandoned for unacknowledged SLA events",
        || f.log_text().contains("SLA events not acknowledged"),
    );
    assert_eq!(committed(&group, &topic), 0);
    let text = f.metrics();
    assert!(
        text.contains(r#"frontline_sla_events_total{result="acknowledged"} 0"#),
        "{text}"
    );
    assert_eq!(sum_family(&text, "support_sla_breaches_total"), 3.0);
}

/// A source topic, an SLA topic, a group and the policies' config, for
/// instances that checkpoint every second and give a write `write_timeout`.
struct Staged {
    topic: String,
    sla_topic: String,
    group: String,
    cfg: String,
    write_timeout: String,
    _dir: tempfile::TempDir,
}

impl Staged {
    fn new(name: &str, write_timeout: &str) -> Staged {
        let (topic, sla_topic) = (unique(name), unique(&format!("{name}-out")));
        create_topic(&topic, PARTITIONS);
        create_topic(&sla_topic, 1);
        let dir = tempfile::tempdir().unwrap();
        Staged {
            cfg: config_file(&dir),
            topic,
            sla_topic,
            group: unique("g"),
            write_timeout: format!("checkpoint.write_timeout=\"{write_timeout}\""),
            _dir: dir,
        }
    }

    fn launch(&self) -> Frontline {
        let extra = [
            "--set",
            "checkpoint.interval=\"1s\"",
            "--set",
            &self.write_timeout,
        ];
        launch(&self.topic, &self.group, &self.sla_topic, &self.cfg, &extra)
    }
}

/// A checkpoint abandoned because its SLA events were not acknowledged
/// took its copy of the state's changes with it: the next checkpoint must
/// not write only the changes since that copy on top of the last one
/// written (the chain would miss what the abandoned copy held, and a
/// restart would restore a state without it). Here the SLA topic refuses
/// writes for a while (its largest message is made smaller than an SLA
/// event), a killed instance restarts from the checkpoint written
/// after it accepts them again, and what it counts for the rest of the
/// scenario is what a replay of the whole scenario counts.
#[test]
fn a_checkpoint_abandoned_for_sla_events_loses_no_change_of_its_copy() {
    let st = Staged::new("sla-in", "1s");
    let (topic, sla_topic, group, cfg) = (&st.topic, &st.sla_topic, &st.group, &st.cfg);
    let lines = scenario();
    let mut f = st.launch();
    // T-1 and T-2 opened, checkpointed and committed.
    kcat_produce(topic, &lines[..2], Some(0));
    wait_until(
        Duration::from_secs(60),
        "the first two are committed",
        || committed(group, topic) == 2,
    );
    // The SLA topic refuses writes: checkpoints are copied, then abandoned.
    set_topic_config(sla_topic, "max.message.bytes", "100");
    kcat_produce(topic, &lines[2..9], Some(0));
    wait_until(Duration::from_secs(60), "a checkpoint is abandoned", || {
        f.log_text().contains("SLA events not acknowledged")
    });
    assert_eq!(committed(group, topic), 2);
    set_topic_config(sla_topic, "max.message.bytes", "1048588");
    wait_until(
        Duration::from_secs(60),
        "the changes are committed once the SLA events are",
        || committed(group, topic) == 9,
    );
    f.kill9();
    let g = st.launch();
    kcat_produce(topic, &lines[9..], Some(0));
    wait_until(Duration::from_secs(60), "the end is committed", || {
        committed(group, topic) == lines.len() as i64
    });
    let replayed = replay_with(&lines, &[], &["--config".into(), cfg.clone()]);
    let sla = |k: &str| k.starts_with("support_sla_") && is_cumulative(k);
    assert_eventually_same(
        Duration::from_secs(10),
        || support(&g.metrics(), sla),
        &support(&replayed, sla),
        "restarted, replayed",
    );
    assert_eq!(sum_family(&g.metrics(), "support_sla_breaches_total"), 3.0);
}

/// A revoke waits a bounded time for the partition's final checkpoint; a
/// write still under way then must not land later among the checkpoints
/// of whoever has the partition next — here the same instance, which
/// restores the partition when it comes back: its next checkpoint took the
/// generation the late write had written, was refused, and so was every
/// one after, so the partition's offsets were never committed again. The
/// SLA topic refuses writes (its largest message made smaller than an SLA
/// event) while a second instance joins (half of the partitions move to
/// it with their checkpoints unfinished) and leaves (they come back), then
/// accepts them again: the first instance must go on committing all four
/// partitions.
#[test]
fn a_partition_back_after_an_unfinished_final_checkpoint_goes_on_checkpointing() {
    // The revoke waits min(write_timeout, 10 s) for the final checkpoint;
    // the write itself goes on for write_timeout.
    let st = Staged::new("sla-back", "90s");
    let (topic, sla_topic, group) = (&st.topic, &st.sla_topic, &st.group);
    let lines = scenario();
    let all = |n: usize| {
        for p in 0..PARTITIONS {
            kcat_produce(topic, &lines[..n], Some(p));
        }
    };
    let mut a = st.launch();
    all(2);
    wait_until(
        Duration::from_secs(60),
        "the first two of each partition are committed",
        || committed(group, topic) == 2 * i64::from(PARTITIONS),
    );
    // Every partition's next checkpoint waits for its SLA events.
    set_topic_config(sla_topic, "max.message.bytes", "100");
    for p in 0..PARTITIONS {
        kcat_produce(topic, &lines[2..9], Some(p));
    }
    wait_until(
        Duration::from_secs(60),
        "checkpoints wait for SLA events",
        || a.log_text().contains("SLA event not delivered"),
    );
    // Half of the partitions move to a second instance; its own
    // checkpoints wait too. Then it leaves, and they come back.
    let mut b = st.launch();
    wait_until(
        Duration::from_secs(90),
        "the second instance consumes",
        || b.log_text().contains("SLA event not delivered"),
    );
    assert!(b.terminate(Duration::from_secs(30)).is_some());
    std::thread::sleep(Duration::from_secs(5));
    // The unfinished writes land; only then does anything new arrive.
    set_topic_config(sla_topic, "max.message.bytes", "1048588");
    std::thread::sleep(Duration::from_secs(5));
    for p in 0..PARTITIONS {
        kcat_produce(topic, &lines[9..], Some(p));
    }
    wait_until(
        Duration::from_secs(60),
        "every partition is committed to its end",
        || committed(group, topic) == (lines.len() * PARTITIONS as usize) as i64,
    );
    a.kill9();
}
