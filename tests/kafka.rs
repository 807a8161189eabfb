//! `frontline run` against a real Apache Kafka broker (started by
//! `scripts/kafka.sh`, address in FRONTLINE_TEST_KAFKA; `make test` does
//! both). Producers are `kcat`, a third-party client. Every wait is bounded;
//! topics and groups are unique per test.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::*;

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
    let expected = support(&replay(&keyed, &closing), |_| true);
    assert_eventually_same(
        Duration::from_secs(5),
        || support(&f.metrics(), |_| true),
        &expected,
        "live vs replay",
    );
    let live = f.metrics();
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

/// Defect: a dead letter carried frontline's headers only, and the
/// message's own (a trace id, a producer's schema id) were lost. They come
/// first, in their order, then frontline's. Where they would make the
/// dead letter too large for its topic, they are left out before a
/// smaller payload, and counted in `frontline.headers_omitted`.
#[test]
fn a_dead_letter_keeps_the_message_s_own_headers() {
    let topic = unique("poison-headers");
    create_topic(&topic, 1);
    let dlq_topic = unique("dlq-headers");
    create_topic(&dlq_topic, 1);
    set_topic_config(&dlq_topic, "max.message.bytes", "1000");
    let produce = |headers: &[String], line: &str| {
        let more: Vec<String> = headers
            .iter()
            .flat_map(|h| ["-H".to_string(), h.clone()])
            .collect();
        kcat_produce_with(&broker(), &topic, &[line.to_string()], None, &more);
    };
    let small = [
        "traceparent=00-4bf92f-00f067-01".to_string(),
        "tenant=eu".to_string(),
    ];
    produce(&small, "k\tnot json");
    produce(&[], "k\talso not json");
    let big: Vec<String> = (0..3)
        .map(|i| format!("h{i}={}", "v".repeat(600)))
        .collect();
    produce(&big, "k\tnot json, headers too large");
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = vec![
        "--set".into(),
        format!("kafka.dead_letter_topic=\"{dlq_topic}\""),
    ];
    let f = Frontline::launch(&launch);
    wait_until(
        Duration::from_secs(60),
        "the dead letters are written",
        || f.sum("frontline_dead_letters_total") == 3.0,
    );
    let dlq = kcat_consume(&dlq_topic);
    assert_eq!(dlq.len(), 3, "{dlq:?}");
    assert!(
        dlq[0].0.starts_with(
            "traceparent=00-4bf92f-00f067-01,tenant=eu,frontline.reason=invalid_json,"
        ),
        "{}",
        dlq[0].0
    );
    assert_eq!(dlq[0].1, "not json");
    assert!(
        dlq[1].0.starts_with("frontline.reason=invalid_json,"),
        "{}",
        dlq[1].0
    );
    assert!(
        dlq[2].0.starts_with("frontline.reason=invalid_json,"),
        "{}",
        dlq[2].0
    );
    assert!(
        dlq[2].0.ends_with(",frontline.headers_omitted=3"),
        "{}",
        dlq[2].0
    );
    assert!(!dlq[2].0.contains("payload_omitted"), "{}", dlq[2].0);
    assert_eq!(dlq[2].1, "not json, headers too large");
}

/// Defect: agent status time a snapshot had booked and shown, past the
/// newest checkpoint, was lost with a kill -9: the restored partition
/// applied the events after its checkpoint without that booking, so a
/// status change dated before the booked point took the time back and
/// the counter went down (Prometheus reads a reset). A checkpointed
/// partition shows the agent status time of its newest written
/// checkpoint, which a restore starts from.
#[test]
fn agent_status_time_never_goes_down_across_a_kill_9() {
    let topic = unique("agent-kill");
    create_topic(&topic, 1);
    let group = unique("g");
    let t0 = jiff::Timestamp::now().as_millisecond() - 3 * 3_600_000;
    let status = |id: &str, agent: &str, st: &str, ts: i64| {
        format!(
            "{agent}\t{{\"event_id\":\"{id}\",\"type\":\"agent.status_changed\",\"ts\":{ts},\"agent_id\":\"{agent}\",\"status\":\"{st}\",\"queue\":\"billing\"}}"
        )
    };
    let time_in = |text: &str, st: &str| -> f64 {
        series(text)
            .iter()
            .filter(|(k, _)| {
                k.starts_with("support_agent_status_seconds_total{")
                    && k.contains(&format!("status=\"{st}\""))
            })
            .map(|(_, v)| v)
            .sum()
    };
    let mut launch = Launch::new(&topic, &group);
    launch.args = vec!["--set".into(), "checkpoint.interval=\"5s\"".into()];
    kcat_produce(&topic, &[status("s1", "AG", "available", t0)], None);
    let mut f = Frontline::launch(&launch);
    // Another agent moves the partition's clock an hour on: AG's open
    // interval is booked up to it and shown.
    kcat_produce(&topic, &[status("s2", "AX", "busy", t0 + 3_600_000)], None);
    wait_until(Duration::from_secs(60), "an hour available shown", || {
        time_in(&f.metrics(), "available") == 3600.0
    });
    // AG's change dated half an hour back, then a kill before the next
    // checkpoint.
    kcat_produce(&topic, &[status("s3", "AG", "busy", t0 + 1_800_000)], None);
    wait_until(Duration::from_secs(60), "the late change applied", || {
        f.sum("frontline_events_total") == 3.0
    });
    let before = f.metrics();
    f.kill9();
    let f = Frontline::launch(&launch);
    wait_until(
        Duration::from_secs(60),
        "caught up after the restart",
        || f.sum("frontline_events_total") == 3.0,
    );
    let after = f.metrics();
    for st in ["available", "busy"] {
        assert!(
            time_in(&after, st) >= time_in(&before, st),
            "{st}: {} before the kill, {} after",
            time_in(&before, st),
            time_in(&after, st)
        );
    }
    assert_eq!(time_in(&after, "available"), 3600.0);
}

/// A new topic whose partition 0 holds 50 `ticket.created` (ids
/// `{prefix}{i}`), applied and committed by a running instance: the topic,
/// the group, the events `from..to` of that kind, and the instance.
fn fifty_applied(
    name: &str,
    prefix: &'static str,
) -> (
    String,
    String,
    impl Fn(usize, usize) -> Vec<String>,
    Frontline,
) {
    let topic = unique(name);
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let ts = jiff::Timestamp::now().as_millisecond() - 60_000;
    let created = move |from: usize, to: usize| -> Vec<String> {
        (from..to)
            .map(|i| {
                format!(
                    "c{i}\t{{\"event_id\":\"{prefix}{i}\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"T{i}\",\"customer_id\":\"c{i}\"}}"
                )
            })
            .collect()
    };
    kcat_produce(&topic, &created(0, 50), Some(0));
    let f = Frontline::start(&topic, &group);
    wait_until(
        Duration::from_secs(60),
        "the first 50 are applied and committed",
        || f.sum("frontline_events_total") == 50.0 && committed(&group, &topic) == 50,
    );
    (topic, group, created, f)
}

/// Deletes `topic` and creates it again, empty. The broker finishes a
/// deletion in the background: it is created again until it takes the
/// name.
fn create_again(topic: &str) {
    delete_topic(topic);
    wait_until(
        Duration::from_secs(60),
        "the topic is created again",
        || try_create_topic(topic, PARTITIONS),
    );
}

/// Defect: with the topic deleted and created again while frontline was
/// down, the restored partition skipped every message below its
/// checkpoint's offset as already applied: the new events went uncounted
/// while `/readyz` said ready. The state is kept and the partition is read
/// from where `auto.offset.reset` puts it (earliest by default).
#[test]
fn a_topic_created_again_is_read_from_its_start_and_the_state_kept() {
    let (topic, group, created, mut f) = fifty_applied("recreated", "r");
    f.terminate(Duration::from_secs(20));
    create_again(&topic);
    kcat_produce(&topic, &created(50, 60), Some(0));
    let g = Frontline::start(&topic, &group);
    wait_until(
        Duration::from_secs(60),
        "the 10 new events are applied on top of the 50 restored",
        || g.sum("frontline_events_total") == 60.0,
    );
    assert!(
        g.log_text()
            .contains("the partition ends before its checkpoint's offset"),
        "{}",
        g.log_text()
    );
    assert_eq!(
        sum_family(&g.metrics(), "support_tickets_created_total"),
        60.0
    );
}

/// Defect: an input topic deleted and created again while frontline ran
/// was consumed from its start by librdkafka, but the worker skipped every
/// message below the offset it had reached, so the new events went
/// uncounted. They are applied on top of the state.
#[test]
fn a_topic_created_again_under_a_running_instance_is_read() {
    let (topic, group, created, mut f) = fifty_applied("recreated-live", "l");
    create_again(&topic);
    kcat_produce(&topic, &created(50, 60), Some(0));
    wait_until(
        Duration::from_secs(90),
        "the 10 new events are applied on top of the 50",
        || f.sum("frontline_events_total") == 60.0,
    );
    let log = f.log_text();
    assert!(log.contains("the partition's offsets went back"), "{log}");
    // librdkafka's own line about it names the reset.
    assert!(
        log.contains("fetch offset was out of range and was reset"),
        "{log}"
    );
    assert_eq!(
        sum_family(&f.metrics(), "support_tickets_created_total"),
        60.0
    );
    // The checkpoints follow the new log: its offset is committed, and a
    // restart resumes there with all 60, counting none twice.
    wait_until(
        Duration::from_secs(60),
        "the new offset is committed",
        || committed(&group, &topic) == 10,
    );
    f.terminate(Duration::from_secs(20));
    kcat_produce(&topic, &created(60, 65), Some(0));
    let g = Frontline::start(&topic, &group);
    wait_until(Duration::from_secs(60), "the 5 after the restart", || {
        g.sum("frontline_events_total") == 65.0
    });
    assert_eq!(
        sum_family(&g.metrics(), "support_tickets_created_total"),
        65.0
    );
}

/// A new topic holding 400 keyed events of scenario `seed`, applied and
/// committed by an instance (`check`ed before it stops), then stopped:
/// topic, group and events.
fn applied_committed_and_stopped(
    name: &str,
    seed: u64,
    check: impl FnOnce(&Frontline),
) -> (String, String, Vec<String>) {
    let topic = unique(name);
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, _) = scenario(400, seed);
    kcat_produce(&topic, &keyed, None);
    let mut f = Frontline::start(&topic, &group);
    wait_until(Duration::from_secs(60), "applied and committed", || {
        committed(&group, &topic) == keyed.len() as i64
    });
    check(&f);
    f.terminate(Duration::from_secs(20));
    (topic, group, keyed)
}

/// Defect: a restart whose checkpoints went where it does not look (another
/// `checkpoint.topic`, a partition count changed, another first topic)
/// started its partitions empty without a word. Where the group has
/// committed offsets, a partition without a checkpoint is an ERROR naming
/// the checkpoint topic read.
#[test]
fn a_partition_without_a_checkpoint_the_group_has_read_is_an_error() {
    let (topic, group, _) = applied_committed_and_stopped("moved", 5, |f| {
        assert!(!f.log_text().contains("no checkpoint of the partition"));
    });
    let mut launch = Launch::new(&topic, &group);
    let elsewhere = unique("elsewhere");
    launch.args = vec!["--set".into(), format!("checkpoint.topic=\"{elsewhere}\"")];
    let g = Frontline::launch(&launch);
    wait_until(Duration::from_secs(60), "every partition is named", || {
        let log = g.log_text();
        (0..PARTITIONS).all(|p| {
            log.lines().any(|l| {
                l.contains("no checkpoint of the partition")
                    && l.contains(&format!("partition={p}"))
            })
        })
    });
}

/// The group's offsets reset by an operator while frontline is down (to
/// replay) do not move a checkpointed partition, which resumes at its
/// checkpoint's offset with that state: nothing is counted twice. That was
/// so before, without a word; now an INFO line says so, with both offsets.
#[test]
fn a_reset_of_the_group_s_offsets_is_named_and_counts_nothing_twice() {
    let (topic, group, keyed) = applied_committed_and_stopped("reset", 9, |_| {});
    // The operator's reset: every partition's committed offset to 0.
    let c: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&topic, p, rdkafka::Offset::Offset(0))
            .unwrap();
    }
    rdkafka::consumer::Consumer::commit(&c, &tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
    drop(c);
    assert_eq!(committed(&group, &topic), 0);
    let g = Frontline::start(&topic, &group);
    wait_until(Duration::from_secs(60), "every partition is named", || {
        g.log_text()
            .matches("the group's committed offset is not the checkpoint's")
            .count()
            >= PARTITIONS as usize
    });
    wait_until(
        Duration::from_secs(30),
        "the checkpoints' offsets are committed again",
        || committed(&group, &topic) == keyed.len() as i64,
    );
    assert_eq!(g.sum("frontline_events_total"), keyed.len() as f64);
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
    // The changelog, created at this first start while the source's
    // partition count was still being asked for, has as many partitions.
    assert_eq!(
        partition_count(&format!("{topic}.frontline-state")),
        PARTITIONS as usize,
        "the changelog created at a first start has the source's partitions"
    );
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
    // The commit reached the end, so nothing is left to re-apply: the count
    // cannot move past `total` from here.
    assert_eq!(
        g.sum("frontline_events_total"),
        total,
        "no more, no less than every event"
    );
    // Agent status time shows the newest written checkpoint, one
    // checkpoint behind at most (docs/metrics.md, "Agent time after a
    // restart").
    assert_eventually_same(
        Duration::from_secs(20),
        || support(&g.metrics(), is_cumulative),
        &support(&replay(&keyed, &closing), is_cumulative),
        "restored instance vs replay",
    );
}

/// The partitions of `topic` on the shared broker, as kcat lists them.
fn partition_count(topic: &str) -> usize {
    let out = Command::new("kcat")
        .args(["-b", &broker(), "-L", "-t", topic])
        .output()
        .expect("kcat");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("partition "))
        .count()
}

/// Whole checkpoints after a partition's first are written from its
/// mirror (the tables as of its last copy, kept by the encoding thread),
/// not from a whole copy of the engine's tables. Events come in rounds,
/// each checkpointed and committed, until a partition's chain starts over
/// on one; killed then, the instance that restores the chains counts what
/// a replay counts.
#[test]
fn whole_checkpoints_from_the_mirror_restore_the_state() {
    let topic = unique("mirror");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, closing) = scenario(8000, 13);
    let mut l = Launch::new(&topic, &group);
    l.args = vec!["--set".into(), "checkpoint.mirror=true".into()];
    l.env = vec![(
        "RUST_LOG".into(),
        "info,frontline::source::worker::checkpoints=debug".into(),
    )];
    let mut f = Frontline::launch(&l);
    let mut sent = 0;
    for round in keyed[..6000].chunks(500) {
        kcat_produce(&topic, round, None);
        sent += round.len();
        wait_until(Duration::from_secs(60), "the round is committed", || {
            committed(&group, &topic) == sent as i64
        });
        if f.log_text().contains("whole_from_mirror=true") {
            break;
        }
    }
    let log = f.log_text();
    let from_mirror = log
        .lines()
        .filter(|l| l.contains("checkpoint state copied") && l.contains("whole_from_mirror=true"))
        .count();
    assert!(from_mirror > 0, "no whole checkpoint from a mirror:\n{log}");
    f.kill9();
    let g = Frontline::start(&topic, &group);
    produce_scenario(&topic, &keyed[sent..], &closing);
    let total = (keyed.len() + closing.len()) as f64;
    wait_until(Duration::from_secs(60), "the end is committed", || {
        committed(&group, &topic) == total as i64
    });
    assert_eventually_same(
        Duration::from_secs(5),
        || support(&g.metrics(), is_cumulative),
        &support(&replay(&keyed, &closing), is_cumulative),
        "restored from the mirror's checkpoints vs replay",
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
    assert!(a.sum("frontline_events_total") > 0.0 && b.sum("frontline_events_total") > 0.0);
    // sum() over both instances of every counter and histogram equals the single view.
    let summed = || summed_support(&[&a, &b], is_cumulative);
    assert_eventually_same(
        Duration::from_secs(5),
        summed,
        &support(&replay(&keyed, &closing), is_cumulative),
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

#[test]
fn an_eager_rebalance_hands_partitions_back_with_their_engines() {
    let topic = unique("eager");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    // The eager protocol revokes every partition on each rebalance and
    // assigns them anew: the ones that come back keep their engines.
    let eager = |l: &mut Launch| {
        l.args.extend([
            "--set".to_string(),
            "kafka.partition.assignment.strategy=\"range\"".to_string(),
        ])
    };
    let mut la = Launch::new(&topic, &group);
    eager(&mut la);
    let a = Frontline::launch(&la);
    let (keyed, closing) = scenario(4000, 15);
    let (first, second) = keyed.split_at(2000);
    kcat_produce(&topic, first, None);
    wait_until(Duration::from_secs(60), "the first half is applied", || {
        a.sum("frontline_events_total") == 2000.0
    });
    let mut lb = Launch::new(&topic, &group);
    eager(&mut lb);
    let b = Frontline::launch(&lb);
    wait_until(
        Duration::from_secs(60),
        "both instances have partitions",
        || {
            let ready = |f: &Frontline| http_get(f.port, "/readyz").unwrap_or_default();
            ready(&a).starts_with("ready: 2 partitions")
                && ready(&b).starts_with("ready: 2 partitions")
        },
    );
    let count = |f: &Frontline, what: &str| f.log_text().matches(what).count();
    assert_eq!(
        count(&a, "partition back: its engine resumes"),
        2,
        "the two partitions that stayed kept their engines:\n{}",
        a.log_text()
    );
    assert_eq!(
        count(&b, "state restored"),
        2,
        "the two that moved were restored from the checkpoints written on revoke:\n{}",
        b.log_text()
    );
    produce_scenario(&topic, second, &closing);
    let total = (keyed.len() + closing.len()) as f64;
    wait_until(Duration::from_secs(60), "every event is applied", || {
        a.sum("frontline_events_total") + b.sum("frontline_events_total") == total
    });
    // Agent status time shows the newest written checkpoint, one
    // checkpoint behind at most (docs/metrics.md, "Agent time after a
    // restart").
    assert_eventually_same(
        Duration::from_secs(20),
        || summed_support(&[&a, &b], is_cumulative),
        &support(&replay(&keyed, &closing), is_cumulative),
        "sum of two instances vs replay",
    );
}

/// The dedup memory survives a kill -9 (from checkpoint format 6, as a log
/// of segments in the changelog): every event of before the kill produced
/// again after it is dropped as a duplicate and changes no KPI.
#[test]
fn events_sent_again_after_a_restart_are_dropped_as_duplicates() {
    let topic = unique("dedup-restart");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, closing) = scenario(4000, 21);
    let (first, second) = keyed.split_at(2000);
    let mut launch = Launch::new(&topic, &group);
    // Nothing of the scenario is forgotten before it is sent again.
    launch.args = vec!["--set".into(), "time.dedup_horizon=\"7d\"".into()];
    kcat_produce(&topic, first, None);
    let mut f = Frontline::launch(&launch);
    wait_until(Duration::from_secs(60), "the first half is applied", || {
        f.sum("frontline_events_total") == 2000.0
    });
    wait_until(
        Duration::from_secs(20),
        "the first half is checkpointed",
        || committed(&group, &topic) == 2000,
    );
    // A second checkpoint of each partition adds to its log.
    produce_scenario(&topic, second, &closing);
    let total = (keyed.len() + closing.len()) as f64;
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == total
    });
    wait_until(
        Duration::from_secs(20),
        "every event is checkpointed",
        || committed(&group, &topic) == total as i64,
    );
    let dups = f.sum("frontline_duplicate_events_total");
    f.kill9();
    let g = Frontline::launch(&launch);
    kcat_produce(&topic, &keyed, None);
    wait_until(
        Duration::from_secs(60),
        "the events sent again are counted",
        || g.sum("frontline_events_total") == total + keyed.len() as f64,
    );
    assert_eq!(
        g.sum("frontline_duplicate_events_total"),
        dups + keyed.len() as f64,
        "every event sent again is a duplicate"
    );
    // Agent status time shows the newest written checkpoint, one
    // checkpoint behind at most (docs/metrics.md, "Agent time after a
    // restart").
    assert_eventually_same(
        Duration::from_secs(20),
        || support(&g.metrics(), is_cumulative),
        &support(&replay(&keyed, &closing), is_cumulative),
        "restored instance after duplicates vs replay",
    );
}

#[test]
fn a_partition_publishes_the_moment_it_catches_up() {
    use std::io::Write;
    use std::process::Stdio;
    let topic = unique("caughtup");
    create_topic(&topic, 1);
    let (keyed, _) = scenario(60_000, 17);
    // Produced over about six seconds, from before frontline starts to
    // well after: the partition's end moves past the offset it had at
    // assignment, so it catches up on an applied batch, and the end-of-
    // partition mark (which also publishes) comes only after that.
    let mut kcat = Command::new("kcat")
        .args(kcat_producer_args(&broker(), &topic, Some(0)))
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat");
    let mut stdin = kcat.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for chunk in keyed.chunks(500) {
            for l in chunk {
                writeln!(stdin, "{l}").unwrap();
            }
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    // A publish period far longer than the test: series can appear only
    // because the partition caught up.
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = vec!["--set".into(), "http.publish_interval=\"1m\"".into()];
    let f = Frontline::launch(&launch);
    wait_until(
        Duration::from_secs(20),
        "the caught-up partition's series are published",
        || {
            let m = f.metrics();
            sum_family(&m, "frontline_events_total") > 0.0
                && m.contains("frontline_partitions{phase=\"live\"} 1")
        },
    );
    feeder.join().unwrap();
    assert!(kcat.wait().unwrap().success(), "kcat produce failed");
}

#[test]
fn a_caught_up_partition_shows_no_lag_and_is_ready_before_any_checkpoint() {
    let topic = unique("lag");
    create_topic(&topic, 1);
    let (keyed, _) = scenario(3000, 23);
    kcat_produce(&topic, &keyed, Some(0));
    // Checkpoints an hour apart (the first at the partition's phase of
    // it): offsets are committed only once one is acknowledged, so the
    // group's committed offset stays behind while the partition is current.
    // The events are weeks old, so readiness rests on the lag alone.
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = vec!["--set".into(), "checkpoint.interval=\"1h\"".into()];
    let f = Frontline::launch(&launch);
    wait_until(Duration::from_secs(60), "every event is applied", || {
        f.sum("frontline_events_total") == keyed.len() as f64
    });
    // librdkafka's statistics come every 5 s.
    wait_until(Duration::from_secs(30), "the instance is ready", || {
        http_get_status(f.port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let m = f.metrics();
    assert!(
        m.contains(&format!(
            "frontline_consumer_lag{{topic=\"{topic}\",partition=\"0\"}} 0"
        )),
        "no lag once everything is consumed: {}",
        m.lines()
            .filter(|l| l.starts_with("frontline_consumer_lag"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_partition_without_a_checkpoint_starts_at_the_committed_offset_else_at_the_reset_position() {
    let topic = unique("start-at");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let (keyed, _) = scenario(3000, 25);
    let (first, rest) = keyed.split_at(1000);
    let (second, third) = rest.split_at(1000);
    // No changelog: where each partition starts is the group's committed
    // offset, or `auto.offset.reset` where the group has none.
    let mut launch = Launch::new(&topic, &group);
    launch.args = vec!["--set".into(), "checkpoint.enabled=false".into()];
    kcat_produce(&topic, first, None);
    // An instance applies a third of the scenario alone (from where its
    // partitions start), and its offsets are committed up to `total`.
    let settle = |f: &Frontline, third: &str, total: i64| {
        wait_until(
            Duration::from_secs(60),
            &format!("the {third} third alone is applied"),
            || f.sum("frontline_events_total") == 1000.0,
        );
        wait_until(
            Duration::from_secs(20),
            &format!("the {third} third is committed"),
            || committed(&group, &topic) == total,
        );
    };
    let mut f = Frontline::launch(&launch);
    settle(&f, "first", 1000);
    // No checkpoints, no checkpoint age (docs/metrics.md).
    let m = f.metrics();
    assert!(m.contains("frontline_partitions{"), "{m}");
    assert!(!m.contains("frontline_checkpoint_age_seconds"), "{m}");
    assert!(f.terminate(Duration::from_secs(10)).is_some());
    kcat_produce(&topic, second, None);
    let g = Frontline::launch(&launch);
    // Started again from the beginning, it would count 2000.
    settle(&g, "second", 2000);
    assert_eq!(g.sum("frontline_events_total"), 1000.0);
    drop(g);

    // A new group that starts at the end reads only what comes after.
    let mut latest = Launch::new(&topic, &unique("g"));
    latest.args = vec!["--set".into(), "kafka.auto.offset.reset=\"latest\"".into()];
    let h = Frontline::launch(&latest);
    wait_until(
        Duration::from_secs(30),
        "every partition is live at its end",
        || {
            h.metrics().contains(&format!(
                "frontline_partitions{{phase=\"live\"}} {PARTITIONS}"
            ))
        },
    );
    kcat_produce(&topic, third, None);
    wait_until(
        Duration::from_secs(60),
        "the last third alone is applied",
        || h.sum("frontline_events_total") == 1000.0,
    );
}

/// A new one-partition topic holding one ticket created a second ago under
/// a 3 s first-response policy, and the launch of an instance whose idle
/// clock moves after 2 s (its config in the directory returned).
fn one_ticket_due_in_2_s(name: &str) -> (tempfile::TempDir, Launch) {
    let topic = unique(name);
    create_topic(&topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sla.toml");
    std::fs::write(
        &cfg,
        "[[sla.policies]]\nname = \"p\"\nfirst_response = \"3s\"\n",
    )
    .unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let created = format!(
        r#"{{"event_id":"{name}-1","type":"ticket.created","ts":{},"ticket_id":"T1","customer_id":"c1"}}"#,
        now - 1_000
    );
    kcat_produce(&topic, &[created], None);
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = [
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        "time.idle_timeout=\"2s\"",
    ]
    .map(String::from)
    .to_vec();
    (dir, launch)
}

/// Defect: a breach the idle clock fired on a quiet partition was never
/// checkpointed (the idle clock was not a reason to), so every restart
/// restored the state before it and logged the same breach again.
#[test]
fn a_breach_on_a_quiet_topic_is_logged_once_across_restarts() {
    let (_dir, mut launch) = one_ticket_due_in_2_s("quietbreach");
    launch.port = Some(free_port());
    let mut f = Frontline::launch(&launch);
    // Quiet after the creation: the idle clock passes the 3 s deadline.
    wait_until(
        Duration::from_secs(30),
        "the breach fires on the idle clock",
        || f.sum("support_sla_breaches_total") == 1.0,
    );
    // A checkpoint interval (1 s here) for it to be written, then a stop.
    std::thread::sleep(Duration::from_secs(3));
    assert!(f.terminate(Duration::from_secs(10)).is_some());
    let g = Frontline::launch(&launch);
    wait_until(Duration::from_secs(30), "the state is restored", || {
        g.sum("support_tickets_created_total") == 1.0
    });
    // Past another idle timeout: a state from before the breach would have
    // fired it again by now.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(g.sum("support_sla_breaches_total"), 1.0);
    let lines = g.log_text().matches("SLA breached").count();
    assert_eq!(lines, 1, "{}", g.log_text());
}

/// Defect: every message restarted the idle clock's wait, bad ones too, so
/// a producer sending anything undecodable more often than
/// `time.idle_timeout` held a quiet partition's clock, and no SLA breach
/// fired on it. Bad input is not an event to the idle clock (SPEC §2).
#[test]
fn bad_input_does_not_hold_a_quiet_partition_s_clock() {
    let (_dir, launch) = one_ticket_due_in_2_s("quietbad");
    let topic = launch.topic.clone();
    let f = Frontline::launch(&launch);
    wait_until(Duration::from_secs(30), "the creation is applied", || {
        f.sum("support_tickets_created_total") == 1.0
    });
    // A bad message about every half second, well within the idle timeout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (stop, topic) = (stop.clone(), topic.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kcat_produce(&topic, &[format!("{{\"garbage\":{sent}")], None);
                sent += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            sent
        })
    };
    wait_until(
        Duration::from_secs(30),
        "the breach fires on the idle clock while bad input flows",
        || f.sum("support_sla_breaches_total") == 1.0,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = producer.join().unwrap();
    assert!(sent >= 4, "only {sent} bad messages were sent");
    assert!(f.sum("frontline_decode_errors_total") >= 4.0);
}

/// A restart under a changed config maps the restored state by bucket bound
/// and by policy name (docs/operations.md, "Config changes and restored
/// state"), and writes its next checkpoint whole: a chain of changes would
/// have left an open call's policy as the old config numbered it, so a
/// second restart under the same new config read it as another policy.
/// That second restart is under a renamed consumer group: the state is
/// restored all the same, with a WARN naming the group that wrote it.
#[test]
fn a_restart_under_a_changed_config_keeps_buckets_and_policies_by_name() {
    let topic = unique("reshape");
    create_topic(&topic, 1);
    let group = unique("g");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, toml: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, toml).unwrap();
        p.to_str().unwrap().to_string()
    };
    let a = write(
        "a.toml",
        "[[sla.policies]]\nname = \"a\"\nmatch = { queue = [\"qa\"] }\nanswer = \"45s\"\n\
         [[sla.policies]]\nname = \"b\"\nanswer = \"20s\"\n",
    );
    let b = write(
        "b.toml",
        "[[sla.policies]]\nname = \"b\"\nmatch = { queue = [\"qb\"] }\nanswer = \"20s\"\n\
         [[sla.policies]]\nname = \"a\"\nmatch = { queue = [\"qa\"] }\nanswer = \"90s\"\n",
    );
    let t0 = jiff::Timestamp::now().as_millisecond() - 20 * 60_000;
    let mut n = 0;
    let mut ev = |at_s: i64, body: String| {
        n += 1;
        format!(
            r#"{{"event_id":"rs-{n}","ts":{},{body}}}"#,
            t0 + at_s * 1000
        )
    };
    let queued = |k: &str, q: &str| {
        format!(r#""type":"call.queued","call_id":"{k}","customer_id":"c","queue":"{q}""#)
    };
    let answered = |k: &str| format!(r#""type":"call.answered","call_id":"{k}","agent_id":"x""#);
    // Under `a` (45 s): answered after 10, 50 and 100 s; under `b` (20 s):
    // after 30 s; K4 still waits in qa.
    let first = vec![
        ev(0, queued("K0", "qa")),
        ev(1, queued("K1", "qa")),
        ev(2, queued("K2", "qa")),
        ev(3, queued("K3", "qb")),
        ev(10, answered("K0")),
        ev(33, answered("K3")),
        ev(51, answered("K1")),
        ev(102, answered("K2")),
        ev(200, queued("K4", "qa")),
    ];
    let second = vec![ev(205, queued("K5", "qb")), ev(210, answered("K5"))];
    let third = vec![ev(300, answered("K4"))];
    let start_as = |cfg: &str, group: &str| {
        let mut l = Launch::new(&topic, group);
        l.args = vec!["--config".into(), cfg.into()];
        Frontline::launch(&l)
    };
    let start = |cfg: &str| start_as(cfg, &group);
    let get = |f: &Frontline, key: &str| samples(&f.metrics()).get(key).copied();
    // Keys as `samples` writes them: labels sorted, `partition` summed out.
    let bucket =
        |le: &str| format!(r#"support_answer_wait_seconds_bucket{{le="{le}",queue="qa"}}"#);
    let breaches = |p: &str, q: &str| {
        format!(
            r#"support_sla_breaches_total{{policy="{p}",priority="normal",queue="{q}",sla="answer"}}"#
        )
    };
    kcat_produce(&topic, &first, None);
    let mut f = start(&a);
    wait_until(
        Duration::from_secs(60),
        "the first events are applied",
        || f.sum("frontline_events_total") == 9.0,
    );
    assert_eq!(get(&f, &breaches("a", "qa")), Some(2.0));
    std::thread::sleep(Duration::from_secs(2));
    assert!(f.terminate(Duration::from_secs(10)).is_some());
    // Under b.toml: `a` is second and answers in 90 s.
    let mut g = start(&b);
    wait_until(Duration::from_secs(60), "the state is restored", || {
        g.sum("frontline_events_total") == 9.0
    });
    assert_eq!(get(&g, &bucket("60.0")), Some(2.0), "{}", g.metrics());
    assert_eq!(get(&g, &bucket("90.0")), Some(2.0));
    assert_eq!(get(&g, &bucket("120.0")), Some(3.0));
    assert_eq!(get(&g, &breaches("a", "qa")), Some(2.0));
    assert_eq!(get(&g, &breaches("b", "qb")), Some(1.0));
    kcat_produce(&topic, &second, None);
    wait_until(Duration::from_secs(60), "more events are applied", || {
        g.sum("frontline_events_total") == 11.0
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(g.terminate(Duration::from_secs(10)).is_some());
    let foreign = "restoring a checkpoint another consumer group wrote";
    assert!(!g.log_text().contains(foreign), "{}", g.log_text());
    // Under b.toml again: K4 is still `a`'s, answered after 100 s of its 90.
    let renamed = unique("g");
    let h = start_as(&b, &renamed);
    kcat_produce(&topic, &third, None);
    wait_until(Duration::from_secs(60), "the answer is applied", || {
        h.sum("frontline_events_total") == 12.0
    });
    assert_eq!(get(&h, &breaches("a", "qa")), Some(3.0), "{}", h.metrics());
    assert_eq!(get(&h, &breaches("b", "qa")), None, "{}", h.metrics());
    let log = h.log_text();
    let warn = log.lines().find(|l| l.contains(foreign));
    let warn = warn.unwrap_or_else(|| panic!("no WARN in {log}"));
    assert!(warn.contains(&group) && warn.contains(&renamed), "{warn}");
}

/// A dead letter the broker refuses (here: larger than its topic's
/// `max.message.bytes`) holds its partition, since nothing is dropped:
/// the event after it waits, each failed write is counted in
/// `frontline_dead_letter_write_errors_total`, and `/readyz` answers 503.
/// Once the topic takes it, it is written once and the partition goes on.
#[test]
fn a_refused_dead_letter_holds_its_partition_and_is_counted() {
    let topic = unique("dlqrefused");
    create_topic(&topic, 1);
    let dlq = unique("dlq-refusing");
    create_topic(&dlq, 1);
    set_topic_config(&dlq, "max.message.bytes", "100");
    let ts = jiff::Timestamp::now().as_millisecond() - 60_000;
    let good = |i: usize| {
        format!(
            "c{i}\t{{\"event_id\":\"d{i}\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"T{i}\",\"customer_id\":\"c{i}\"}}"
        )
    };
    kcat_produce(&topic, &[good(0)], None);
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = vec!["--set".into(), format!("kafka.dead_letter_topic=\"{dlq}\"")];
    let f = Frontline::launch(&launch);
    wait_until(
        Duration::from_secs(30),
        "the first event is applied",
        || f.sum("frontline_events_total") == 1.0,
    );
    let bad = format!("k\tnot json {}", "x".repeat(300));
    kcat_produce(&topic, &[bad, good(1)], None);
    let errors = "frontline_dead_letter_write_errors_total";
    wait_until(Duration::from_secs(30), "dead-letter writes fail", || {
        f.sum(errors) >= 2.0
    });
    assert_eq!(f.sum("frontline_events_total"), 1.0, "{}", f.metrics());
    assert_eq!(f.sum("frontline_dead_letters_total"), 0.0);
    let (status, body) = http_get_status(f.port, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    // It names the partition that waits.
    assert!(body.contains("dead-letter writes failing"), "{body}");
    assert!(body.contains(&format!(" on {topic}/0")), "{body}");
    set_topic_config(&dlq, "max.message.bytes", "1048588");
    wait_until(
        Duration::from_secs(30),
        "the dead letter is written and the partition goes on",
        || f.sum("frontline_events_total") == 2.0 && f.sum("frontline_dead_letters_total") == 1.0,
    );
    let failed = f.sum(errors);
    wait_until(Duration::from_secs(30), "ready again", || {
        http_get_status(f.port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(f.sum(errors), failed);
    // Over the topic's limit when first tried: written without its payload.
    let letters = kcat_consume(&dlq);
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].0.contains("frontline.payload_omitted="),
        "{letters:?}"
    );
    assert_eq!(letters[0].1, "");
}

/// A partition revoked while its dead letter waits is no longer waited for
/// by the instance that gave it up. The wait was one process-wide flag,
/// cleared only by a later successful write, so the instance stayed not
/// ready for a partition it no longer held; `/readyz` names what waits.
#[test]
fn a_partition_revoked_while_its_dead_letter_waits_is_no_longer_waited_for() {
    let topic = unique("dlqrevoked");
    create_topic(&topic, 2);
    let dlq = unique("dlq-refusing");
    create_topic(&dlq, 1);
    set_topic_config(&dlq, "max.message.bytes", "100");
    let bad = format!("k\tnot json {}", "x".repeat(300));
    kcat_produce(&topic, std::slice::from_ref(&bad), Some(0));
    kcat_produce(&topic, &[bad], Some(1));
    let group = unique("g");
    let mut launch = Launch::new(&topic, &group);
    launch.args = vec!["--set".into(), format!("kafka.dead_letter_topic=\"{dlq}\"")];
    let a = Frontline::launch(&launch);
    let waiting = |f: &Frontline| {
        let (status, body) = http_get_status(f.port, "/readyz").unwrap_or((0, String::new()));
        let named: Vec<i32> = (0..2)
            .filter(|p| body.contains(&format!("{topic}/{p}")))
            .collect();
        (status, named, body)
    };
    wait_until(
        Duration::from_secs(60),
        "A waits on both partitions",
        || waiting(&a).1 == [0, 1],
    );
    let b = Frontline::launch(&launch);
    // B takes one partition; A names only the one it kept.
    wait_until(
        Duration::from_secs(60),
        "each instance names only its own partition",
        || {
            let (na, nb) = (waiting(&a).1, waiting(&b).1);
            na.len() == 1 && nb.len() == 1 && na != nb
        },
    );
    let (status, _, body) = waiting(&a);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("dead-letter writes failing"), "{body}");
}

/// An instance taking over partitions names them restoring on `/readyz`
/// until they are restored. It answered 200 for the partitions it already
/// held while the new ones restored, so a rolling restart's readiness gate
/// passed an instance that was not yet counting them. The partitions B
/// hands over hold enough open tickets that their restore on A lasts long
/// enough to be seen by polls a few milliseconds apart.
#[test]
fn readyz_names_partitions_restoring_while_they_restore() {
    const TICKETS: usize = 200_000;
    let topic = unique("takeover");
    create_topic(&topic, PARTITIONS);
    let group = unique("g");
    let a = Frontline::start(&topic, &group);
    let mut b = Frontline::start(&topic, &group);
    let ready_with = |f: &Frontline, n: usize| {
        http_get(f.port, "/readyz")
            .is_some_and(|r| r.starts_with(&format!("ready: {n} partitions")))
    };
    wait_until(Duration::from_secs(60), "both have 2 partitions", || {
        ready_with(&a, 2) && ready_with(&b, 2)
    });
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    let lines: Vec<String> = (0..TICKETS)
        .map(|i| {
            format!(
                "T-{i}\t{{\"event_id\":\"e-{i}\",\"type\":\"ticket.created\",\"ts\":{},\"ticket_id\":\"T-{i}\",\"customer_id\":\"C-{i}\",\"channel\":\"email\",\"priority\":\"normal\",\"queue\":\"billing\"}}",
                t0 + i as i64 / 100
            )
        })
        .collect();
    kcat_produce(&topic, &lines, None);
    wait_until(
        Duration::from_secs(180),
        "both applied every ticket",
        || {
            a.sum("support_tickets_created_total") + b.sum("support_tickets_created_total")
                == TICKETS as f64
        },
    );
    // A's answers from before B leaves until it is ready with all four.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, port) = (stop.clone(), a.port);
        std::thread::spawn(move || {
            let mut answers: Vec<(u16, String)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(r) = http_get_status(port, "/readyz") {
                    if answers.last() != Some(&r) {
                        answers.push(r);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            answers
        })
    };
    // SIGTERM: B writes its last checkpoint and leaves the group.
    assert!(b.terminate(Duration::from_secs(30)).is_some());
    wait_until(
        Duration::from_secs(60),
        "A is ready with 4 partitions",
        || ready_with(&a, 4),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = poller.join().unwrap();
    let restoring = answers
        .iter()
        .position(|(s, body)| *s == 503 && body.contains("(restoring)"));
    assert!(
        restoring.is_some(),
        "A never named a partition restoring: {answers:?}"
    );
    // Once it names them, no 200 before all four are ready.
    let after = &answers[restoring.unwrap()..];
    assert!(
        after
            .iter()
            .all(|(s, body)| *s == 503 || body.starts_with("ready: 4 partitions")),
        "{answers:?}"
    );
    assert_eq!(
        a.sum("support_tickets_created_total"),
        TICKETS as f64,
        "A holds every ticket"
    );
}

/// Dead letters of large messages and of a tombstone.
/// - A message the source topic took but over librdkafka's default
///   `message.max.bytes` (1 000 000) once its dead letter's headers are
///   added: written whole (the dead-letter producer's own limit is higher;
///   the topic's decides). It held the partition for good.
/// - One over the dead-letter topic's `max.message.bytes`: written without
///   its payload, with `frontline.payload_omitted`.
/// - A tombstone (no payload): a tombstone in the dead-letter topic too.
///
/// Each counted once, and the event after them applied.
#[test]
fn large_messages_and_tombstones_are_dead_lettered() {
    let topic = unique("dlqlarge");
    create_topic(&topic, 1);
    set_topic_config(&topic, "max.message.bytes", "3000000");
    let ts = jiff::Timestamp::now().as_millisecond() - 60_000;
    let good = format!(
        "g\t{{\"event_id\":\"g1\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"T1\",\"customer_id\":\"c1\"}}"
    );
    let lines = [
        format!("a\t{}", "x".repeat(999_990)),
        format!("b\t{}", "y".repeat(2_000_000)),
        "c\t".to_string(),
        good,
    ];
    let more = ["-X".to_string(), "message.max.bytes=3000000".to_string()];
    kcat_produce_with(&broker(), &topic, &lines, Some(0), &more);
    let f = Frontline::launch(&Launch::new(&topic, &unique("g")));
    wait_until(
        Duration::from_secs(60),
        "three dead letters and the event after them",
        || {
            let m = f.metrics();
            sum_family(&m, "frontline_events_total") == 1.0
                && sum_family(&m, "frontline_dead_letters_total") == 3.0
        },
    );
    assert_eq!(f.sum("frontline_decode_errors_total"), 3.0);
    let out = Command::new("kcat")
        .args([
            "-b",
            &broker(),
            "-C",
            "-e",
            "-q",
            "-t",
            &format!("{topic}.dlq"),
        ])
        .args(["-f", "%k %S %h\n"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // By key: the dead-letter topic's partitions hold them in any order.
    let mut letters: Vec<&str> = text.lines().collect();
    letters.sort();
    assert_eq!(letters.len(), 3, "{text}");
    assert!(letters[0].starts_with("a 999990 "), "{}", letters[0]);
    assert!(!letters[0].contains("payload_omitted"), "{}", letters[0]);
    assert!(letters[1].starts_with("b 0 "), "{}", letters[1]);
    assert!(
        letters[1].contains("frontline.payload_omitted=2000000 bytes"),
        "{}",
        letters[1]
    );
    assert!(letters[2].starts_with("c -1 "), "{}", letters[2]);
}

/// A bad message whose dead letter is still refused when its instance
/// stops is counted once, by the instance that writes it: the last
/// checkpoint of the first did not count it, and the restored partition
/// applies it again. It was counted twice (the checkpoint held the count
/// but not the offset past it).
#[test]
fn a_dead_letter_pending_at_shutdown_is_counted_once() {
    let topic = unique("dlqpending");
    create_topic(&topic, 1);
    let dlq = unique("dlq-pending");
    create_topic(&dlq, 1);
    set_topic_config(&dlq, "max.message.bytes", "100");
    let ts = jiff::Timestamp::now().as_millisecond() - 60_000;
    let good = |i: usize| {
        format!(
            "c{i}\t{{\"event_id\":\"p{i}\",\"type\":\"ticket.created\",\"ts\":{ts},\"ticket_id\":\"T{i}\",\"customer_id\":\"c{i}\"}}"
        )
    };
    kcat_produce(&topic, &[good(0)], None);
    let mut launch = Launch::new(&topic, &unique("g"));
    launch.args = vec!["--set".into(), format!("kafka.dead_letter_topic=\"{dlq}\"")];
    let mut f = Frontline::launch(&launch);
    wait_until(Duration::from_secs(60), "caught up", || {
        f.sum("frontline_events_total") == 1.0
    });
    // In one batch: an event, the bad message, an event.
    kcat_produce(&topic, &[good(1), "k\tnot json".into(), good(2)], None);
    wait_until(Duration::from_secs(60), "dead-letter writes fail", || {
        f.sum("frontline_dead_letter_write_errors_total") >= 2.0
    });
    // The event before it shows while it waits (nothing of its batch did);
    // the bad message is not counted yet.
    assert_eq!(f.sum("frontline_events_total"), 2.0, "{}", f.metrics());
    assert_eq!(f.sum("frontline_decode_errors_total"), 0.0);
    assert!(
        f.terminate(Duration::from_secs(15)).is_some(),
        "no exit after SIGTERM"
    );
    set_topic_config(&dlq, "max.message.bytes", "1048588");
    let f = Frontline::launch(&launch);
    wait_until(
        Duration::from_secs(60),
        "the dead letter is written and the partition goes on",
        || f.sum("frontline_events_total") == 3.0 && f.sum("frontline_dead_letters_total") == 1.0,
    );
    assert_eq!(
        f.sum("frontline_decode_errors_total"),
        1.0,
        "{}",
        f.metrics()
    );
    assert_eq!(kcat_consume(&dlq).len(), 1);
}
