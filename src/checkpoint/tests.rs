//! The codec and framing, on engines fed real event streams.

use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::decode::decode;
use crate::engine::{DedupCopy, Engine, Mirror, StateShape};
use crate::export::prometheus_text;
use crate::simulate::{SimConfig, Simulator};

const GOLDEN_CFG: &str = include_str!("../../tests/golden/sla/frontline.toml");
const GOLDEN_EVENTS: &str = include_str!("../../tests/golden/sla/events.jsonl");

fn apply(engine: &mut Engine, lines: &[&str]) {
    for l in lines {
        let ev = decode(l.as_bytes(), 1 << 20).expect("test events decode");
        engine.apply(ev);
    }
}

fn metrics(engine: &mut Engine) -> String {
    prometheus_text(Arc::new(engine.snapshot(None)))
}

/// Checkpoints `engine` through the binary codec and checks the restored
/// engine is the same now and after `rest` is applied to both.
///
/// Also: a copy frozen now (what a live worker encodes while it applies
/// more) encodes to the engine's bytes, and to the same bytes after the
/// engine has gone on; in format 4 (`checkpoint.write_format`), to a state
/// the same as the engine's.
fn assert_round_trip(cfg: &Config, mut engine: Engine, rest: &[&str]) {
    let bytes = encode_state(engine.state()).unwrap();
    let restored = decode_state(&bytes).unwrap();
    assert_same_state(engine.state(), &restored);
    let frozen = engine.state().freeze();
    let frozen_bytes = encode_frozen(&frozen, FORMAT_VERSION).unwrap();
    assert!(frozen_bytes == bytes, "a frozen copy encodes differently");
    let old_format = encode_frozen(&frozen, 4).unwrap();
    assert_same_state_before_8(engine.state(), &decode_state(&old_format).unwrap());
    let mut again = Engine::from_state(cfg, restored);
    assert_eq!(metrics(&mut engine), metrics(&mut again));
    apply(&mut engine, rest);
    apply(&mut again, rest);
    assert_eq!(metrics(&mut engine), metrics(&mut again));
    assert!(encode_state(engine.state()).unwrap() != bytes);
    assert!(
        encode_frozen(&frozen, FORMAT_VERSION).unwrap() == frozen_bytes,
        "a frozen copy changed when its engine went on"
    );
    // The next copy goes into this one's emptied allocations (as a live
    // worker takes it, the tables grown or shrunk since) and encodes from
    // a buffer too small for it: the engine's bytes now.
    let next = engine.state().freeze_reusing(Some(frozen.into_spare()));
    assert!(
        encode_frozen_into(&next, FORMAT_VERSION, Vec::with_capacity(16)).unwrap()
            == encode_state(engine.state()).unwrap(),
        "a copy into an earlier copy's allocations encodes differently"
    );
    // A smaller state into the larger copy's allocations, into a buffer
    // with bytes in it (cleared first).
    let mut small = Engine::new(cfg);
    apply(&mut small, &rest[..rest.len().min(50)]);
    let copy = small.state().freeze_reusing(Some(next.into_spare()));
    assert!(
        encode_frozen_into(&copy, FORMAT_VERSION, vec![7; 64]).unwrap()
            == encode_state(small.state()).unwrap(),
        "a smaller copy into a larger copy's allocations encodes differently"
    );
    engine.flush();
    again.flush();
    assert_eq!(metrics(&mut engine), metrics(&mut again));
}

/// Panics where two states differ.
fn assert_same_state(x: &State, y: &State) {
    // As JSON values: maps compare by content, not by hash-map iteration order.
    let (a, b) = (
        serde_json::to_value(x).unwrap(),
        serde_json::to_value(y).unwrap(),
    );
    if let Some(path) = first_difference(&a, &b, String::new()) {
        panic!("state differs after the round trip at {path}");
    }
}

/// Panics where two states differ, as formats before 8 keep them: an
/// agent's windows hold its status from its `since`.
fn assert_same_state_before_8(x: &State, y: &State) {
    let mut a = serde_json::to_value(x).unwrap();
    for agent in a["agents"].as_object_mut().unwrap().values_mut() {
        agent["windows_from"] = agent["since"].clone();
    }
    let b = serde_json::to_value(y).unwrap();
    if let Some(path) = first_difference(&a, &b, String::new()) {
        panic!("state differs after the round trip at {path}");
    }
}

/// Panics where two states differ, but for the instants the timers wait
/// for and the sweeps they step: the format 4 fixture was written before
/// at-risk timers fell due a millisecond before their instant (at risk on
/// reaching it), so its tickets' `sla_due` are a millisecond later, and its
/// sweeps ran at other steps of the clock.
fn assert_same_state_but_instants(x: &State, y: &State) {
    let strip = |st: &State| {
        let mut v = serde_json::to_value(st).unwrap();
        let top = v.as_object_mut().unwrap();
        top.remove("next_sweep");
        top.remove("next_slow_sweep");
        for table in ["tickets", "calls"] {
            for e in top[table].as_object_mut().unwrap().values_mut() {
                e.as_object_mut().unwrap().remove("sla_due");
            }
        }
        v
    };
    if let Some(path) = first_difference(&strip(x), &strip(y), String::new()) {
        panic!("state differs after the round trip at {path}");
    }
}

/// Where two JSON values first differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(p) = first_difference(v, w, format!("{at}.{k}")) {
                            return Some(p);
                        }
                    }
                    None => return Some(format!("{at}.{k} (missing)")),
                }
            }
            (x.len() != y.len()).then(|| format!("{at} (extra keys)"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, format!("{at}[{i}]"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

#[test]
fn golden_sla_state_round_trips_mid_stream() {
    let cfg = Config::parse(GOLDEN_CFG).unwrap();
    let lines: Vec<&str> = GOLDEN_EVENTS.lines().filter(|l| !l.is_empty()).collect();
    let cut = lines.len() * 2 / 3;
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &lines[..cut]);
    let text = metrics(&mut engine);
    // The cut leaves live SLA clocks behind, so the timers are rebuilt on restore.
    assert!(text.contains("support_tickets_open{"), "{text}");
    assert_round_trip(&cfg, engine, &lines[cut..]);
}

/// An SLA timer left behind when its instant moved earlier (a priority
/// change shortening the target) is not rebuilt on restore, so it must not
/// step the clock of the engine that never stopped either: the steps set
/// when state is swept, and an offline agent swept at another instant books
/// other offline time.
#[test]
fn a_timer_left_behind_steps_no_clock() {
    let cfg = Config::parse(
        "[state]\nresolved_ticket_ttl = \"1m\"\nfinished_call_ttl = \"4m\"\n\
         [[sla.policies]]\nname = \"urgent\"\nmatch = { priority = [\"urgent\"] }\n\
         first_response = \"30m\"\n\
         [[sla.policies]]\nname = \"standard\"\nfirst_response = \"1h\"\n",
    )
    .unwrap();
    const T0: i64 = 1_795_000_000_000;
    const MIN: i64 = 60_000;
    let ev =
        |n: u32, at: i64, rest: &str| format!(r#"{{"event_id":"e{n}","ts":{},{rest}}}"#, T0 + at);
    // T1's first response is at risk at 48 min under `standard`; urgent at
    // 10 min, it is at risk at 24 min, and the 48 min timer is left behind.
    let before = [
        ev(
            1,
            0,
            r#""type":"ticket.created","ticket_id":"T1","customer_id":"c1""#,
        ),
        ev(
            2,
            10 * MIN,
            r#""type":"ticket.priority_changed","ticket_id":"T1","priority":"urgent""#,
        ),
    ];
    let after = [
        ev(
            3,
            29 * MIN,
            r#""type":"ticket.agent_replied","ticket_id":"T1","agent_id":"a1""#,
        ),
        // Offline at 46.5 min, kept a minute: swept at the first step of
        // the clock after 47.5 min, with its offline time booked to then.
        ev(
            4,
            46 * MIN + 30_000,
            r#""type":"agent.status_changed","agent_id":"a2","status":"offline""#,
        ),
        ev(
            5,
            50 * MIN,
            r#""type":"survey.nps","customer_id":"c2","score":9"#,
        ),
    ];
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    let after: Vec<&str> = after.iter().map(String::as_str).collect();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &before);
    let back = decode_state(&encode_state(engine.state()).unwrap()).unwrap();
    let mut again = Engine::from_state(&cfg, back);
    apply(&mut engine, &after);
    apply(&mut again, &after);
    let (a, b) = (metrics(&mut engine), metrics(&mut again));
    assert_eq!(a, b);
    // Swept at 50 min: 210 s offline.
    assert!(
        a.contains(r#"support_agent_status_seconds_total{status="offline",queue="unknown"} 210"#),
        "{a}"
    );
}

/// A restart under a changed config: buckets are matched by bound and SLA
/// history by policy name, not by position (before, a 45 s answer target
/// replaced by 90 s read the `le="60"` bucket from the old `le="45"`, and
/// policy `a`'s counters came back as policy `b`'s).
#[test]
fn a_restart_under_another_config_maps_buckets_by_bound_and_policies_by_name() {
    let before = Config::parse(
        "[[sla.policies]]\nname = \"a\"\nmatch = { queue = [\"qa\"] }\nanswer = \"45s\"\n\
         [[sla.policies]]\nname = \"b\"\nanswer = \"20s\"\n",
    )
    .unwrap();
    // `b` first, `a` answered in 90 s, and a policy `c` that was not there.
    let after = Config::parse(
        "[[sla.policies]]\nname = \"b\"\nmatch = { queue = [\"qb\"] }\nanswer = \"20s\"\n\
         [[sla.policies]]\nname = \"a\"\nmatch = { queue = [\"qa\"] }\nanswer = \"90s\"\n\
         [[sla.policies]]\nname = \"c\"\nanswer = \"1h\"\n",
    )
    .unwrap();
    const T0: i64 = 1_795_000_000_000;
    let mut lines = Vec::new();
    // Calls of queue qa answered after 10, 50 and 100 s; one of qb after 30 s.
    for (i, (q, wait)) in [("qa", 10), ("qa", 50), ("qa", 100), ("qb", 30)]
        .iter()
        .enumerate()
    {
        let at = T0 + i as i64 * 1_000;
        lines.push(format!(
            r#"{{"event_id":"q{i}","type":"call.queued","ts":{at},"call_id":"K{i}","customer_id":"c{i}","queue":"{q}"}}"#
        ));
        lines.push(format!(
            r#"{{"event_id":"a{i}","type":"call.answered","ts":{},"call_id":"K{i}","agent_id":"x"}}"#,
            at + wait * 1_000
        ));
    }
    let mut order: Vec<&str> = lines.iter().map(String::as_str).collect();
    order.sort_by_key(|l| {
        l.split("\"ts\":").nth(1).unwrap()[..13]
            .parse::<i64>()
            .unwrap()
    });
    let mut engine = Engine::new(&before);
    apply(&mut engine, &order);
    let back = decode_state(&encode_state(engine.state()).unwrap()).unwrap();
    let shape = StateShape::of(&before);
    let (mut again, mapped) = Engine::from_checkpoint(&after, back, Some(&shape), false);
    assert!(mapped);
    let text = metrics(&mut again);
    let line =
        |prefix: &str| -> Vec<&str> { text.lines().filter(|l| l.starts_with(prefix)).collect() };
    let qa = line(r#"support_answer_wait_seconds_bucket{le="#);
    let qa: Vec<&str> = qa
        .into_iter()
        .filter(|l| l.contains(r#"queue="qa""#))
        .collect();
    let bucket = |le: &str| {
        let want = format!(r#"le="{le}","#);
        let found: Vec<&&str> = qa.iter().filter(|l| l.contains(&want)).collect();
        assert_eq!(found.len(), 1, "{le}: {qa:?}");
        found[0].rsplit(' ').next().unwrap().to_string()
    };
    // Cumulative counts at every new bound: 10 s and 50 s are within 60 s
    // and 90 s; 100 s within 120 s.
    assert_eq!(bucket("60.0"), "2");
    assert_eq!(bucket("90.0"), "2");
    assert_eq!(bucket("120.0"), "3");
    assert_eq!(bucket("+Inf"), "3");
    assert!(qa.iter().all(|l| !l.contains(r#"le="45.0""#)), "{qa:?}");
    // Policy a's history stays a's, b's stays b's; c has none.
    let count = |family: &str, p: &str, q: &str| {
        let want =
            format!(r#"{family}{{sla="answer",policy="{p}",priority="normal",queue="{q}"}} "#);
        text.lines()
            .find(|l| l.starts_with(&want))
            .map(|l| l[want.len()..].to_string())
    };
    // Under `a` (45 s): 10 s met, 50 s and 100 s breached; under `b` (20 s): 30 s breached.
    let achieved = |p, q| count("support_sla_achieved_total", p, q);
    let breaches = |p, q| count("support_sla_breaches_total", p, q);
    assert_eq!(achieved("a", "qa").as_deref(), Some("1"));
    assert_eq!(breaches("a", "qa").as_deref(), Some("2"));
    assert_eq!(breaches("b", "qb").as_deref(), Some("1"));
    assert!(!text.contains(r#"policy="c""#), "{text}");
    assert!(!text.contains(r#"policy="""#), "{text}");
}

fn simulated(n: usize, sim: SimConfig) -> Vec<String> {
    Simulator::new(sim).take(n).map(|e| e.json).collect()
}

#[test]
fn simulated_centre_round_trips_with_calls_and_agents() {
    let cfg = Config::parse(GOLDEN_CFG).unwrap();
    let lines = simulated(6_000, SimConfig::default());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &lines[..4_000]);
    let text = metrics(&mut engine);
    for family in ["support_tickets_open{", "support_calls_", "support_agents{"] {
        assert!(text.contains(family), "no {family} in\n{text}");
    }
    assert_round_trip(&cfg, engine, &lines[4_000..]);
}

#[test]
fn per_agent_state_round_trips() {
    // A ticket's agents in its TicketExt, a call's in the call, the
    // per-agent counters and status time: a restored engine credits on
    // exactly as the one that never stopped.
    let cfg = Config::parse(&format!(
        "{GOLDEN_CFG}\n[agents]\nper_agent_metrics = true\n"
    ))
    .unwrap();
    let lines = simulated(6_000, SimConfig::default());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &lines[..4_000]);
    let text = metrics(&mut engine);
    for family in [
        "support_agent_contacts_handled_total{",
        "support_agent_first_response_seconds_sum{",
        "support_agent_time_in_status_seconds_total{",
    ] {
        assert!(text.contains(family), "no {family} in\n{text}");
    }
    assert_round_trip(&cfg, engine, &lines[4_000..]);
}

/// A checkpoint of format 4, written by the last build of that format: the
/// first two thirds of the golden SLA stream as it was then (kept beside
/// it, since the scenario has grown), encoded and framed as one chunk.
const V4_CHUNK: &[u8] = include_bytes!("../../tests/golden/sla/checkpoint-v4.bin");
const V4_EVENTS: &str = include_str!("../../tests/golden/sla/checkpoint-v4-events.jsonl");

#[test]
fn a_format_4_checkpoint_restores_and_remembers_its_ids() {
    let cfg = Config::parse(GOLDEN_CFG).unwrap();
    let lines: Vec<&str> = V4_EVENTS.lines().filter(|l| !l.is_empty()).collect();
    let cut = lines.len() * 2 / 3;
    assert_eq!(&V4_CHUNK[..8], b"FLCC\0\0\0\x04");
    let body = unframe_chunk("chunk 0", V4_CHUNK).unwrap();
    let restored = decode_state(body).unwrap();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &lines[..cut]);
    assert_same_state_but_instants(engine.state(), &restored);
    // Format 4 again is as long as that build wrote it (the set's hashes
    // in another order); format 5 leaves them out.
    let frozen = engine.state().freeze();
    assert_eq!(encode_frozen(&frozen, 4).unwrap().len(), body.len());
    let v5 = encode_frozen(&frozen, 5).unwrap();
    assert!(v5.len() < body.len(), "{} >= {}", v5.len(), body.len());
    // Events it had seen are duplicates to it, as to the engine that
    // never stopped.
    let mut again = Engine::from_state(&cfg, restored);
    let replayed = &lines[cut / 2..];
    apply(&mut engine, replayed);
    apply(&mut again, replayed);
    assert_eq!(metrics(&mut engine), metrics(&mut again));
}

#[test]
fn decode_state_rejects_damaged_bytes() {
    let cfg = Config::parse(GOLDEN_CFG).unwrap();
    let lines: Vec<&str> = GOLDEN_EVENTS.lines().filter(|l| !l.is_empty()).collect();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &lines);
    let bytes = encode_state(engine.state()).unwrap();
    assert!(matches!(
        decode_state(&bytes[..bytes.len() / 2]),
        Err(CheckpointError::Codec(_))
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    let e = decode_state(&longer).unwrap_err().to_string();
    assert!(e.contains("1 bytes after the end"), "{e}");
    // The state's own version byte: format 8 on, none before.
    assert_eq!(bytes[0], 8);
    let v7 = encode_frozen(&engine.state().freeze(), 7).unwrap();
    assert_eq!(v7[0], 1, "a clock that is Some");
    let mut tagged = bytes.clone();
    tagged[0] = 9;
    assert!(matches!(
        decode_state(&tagged),
        Err(CheckpointError::UnknownVersion(9))
    ));
    tagged[0] = 5;
    let e = decode_state(&tagged).unwrap_err().to_string();
    assert!(e.contains("begins with byte 5"), "{e}");
}

fn meta(generation: u64) -> Meta {
    Meta {
        topic: "support-events".into(),
        partition: 3,
        next_offset: 1234,
        generation,
        writer: "host-a".into(),
        wall_ms: 1_794_816_000_000,
        last_event_wall_ms: Some(1_794_815_999_000),
        shape: None,
        group: Some("frontline".into()),
    }
}

/// A state of 10 000 bytes in chunks of 4 096: 4096 + 4096 + 1808.
fn checkpoint() -> (Vec<u8>, Manifest, Vec<Vec<u8>>) {
    let state: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let bodies = split(&state, 4096);
    assert_eq!(
        bodies.iter().map(|b| b.len()).collect::<Vec<_>>(),
        [4096, 4096, 1808]
    );
    let m = manifest_for(&meta(7), &state, &bodies, &[10, 11, 13]);
    let framed = bodies
        .iter()
        .map(|b| frame_chunk(FORMAT_VERSION, b))
        .collect();
    (state, m, framed)
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

/// The writer frames every chunk in one buffer and takes the checksums
/// for the manifest as it frames: the same bytes and the same manifest as
/// framing each chunk alone and summing them again.
#[test]
fn chunks_framed_in_one_buffer_are_the_chunks_framed_alone() {
    let (state, m, framed) = checkpoint();
    let bodies = split(&state, 4096);
    let mut buf = Vec::new();
    let mut sums = Vec::new();
    for (b, alone) in bodies.iter().zip(&framed) {
        sums.push(frame_chunk_into(FORMAT_VERSION, b, &mut buf));
        assert_eq!(&buf, alone);
    }
    assert_eq!(
        manifest_from_sums(&meta(7), &state, &bodies, &sums, &[10, 11, 13]),
        m
    );
}

#[test]
fn chunks_and_manifest_round_trip() {
    let (state, m, framed) = checkpoint();
    assert_eq!(framed[2].len(), 1808 + FRAME_OVERHEAD);
    assert_eq!(&framed[0][..4], b"FLCC");
    let wire = encode_manifest(FORMAT_VERSION, &m).unwrap();
    assert_eq!(&wire[..8], b"FLCM\0\0\0\x08");
    // Readable in kcat: JSON after the 16-byte header.
    let json = std::str::from_utf8(&wire[FRAME_OVERHEAD..]).unwrap();
    assert!(json.contains(r#""next_offset":1234"#), "{json}");
    let back = decode_manifest(&wire).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
        [10, 11, 13]
    );
    assert_eq!(assemble(&back, &refs(&framed)).unwrap(), state);
}

/// A manifest names the state's shape and the writer's group; one from
/// before they were written reads as naming neither.
#[test]
fn a_manifest_carries_the_shape_and_group_and_reads_without_them() {
    let cfg = Config::parse("[[sla.policies]]\nname = \"p\"\nanswer = \"45s\"\n").unwrap();
    let (_, mut m, _) = checkpoint();
    m.meta.shape = Some(StateShape::of(&cfg));
    let back = decode_manifest(&encode_manifest(FORMAT_VERSION, &m).unwrap()).unwrap();
    assert_eq!(back, m);
    let shape = back.meta.shape.unwrap();
    assert_eq!(shape.policies, ["p"]);
    assert!(shape.bounds["support_answer_wait_seconds"].contains(&45.0));
    assert_eq!(back.meta.group.as_deref(), Some("frontline"));
    // The same manifest as an earlier build wrote it.
    let mut old = serde_json::to_value(&m).unwrap();
    let meta = old["meta"].as_object_mut().unwrap();
    meta.remove("shape");
    meta.remove("group");
    let body = serde_json::to_vec(&old).unwrap();
    let back = decode_manifest(&super::frame(MANIFEST_MAGIC, 7, &body)).unwrap();
    assert_eq!((back.meta.shape, back.meta.group), (None, None));
}

#[test]
fn empty_state_is_one_empty_chunk() {
    let bodies = split(&[], 4096);
    assert_eq!(bodies, [&[] as &[u8]]);
    let m = manifest_for(&meta(1), &[], &bodies, &[0]);
    assert_eq!(
        assemble(&m, &[&frame_chunk(FORMAT_VERSION, &[])]).unwrap(),
        Vec::<u8>::new()
    );
}

fn reason(r: Result<impl std::fmt::Debug, CheckpointError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn a_flipped_byte_in_a_chunk_names_the_chunk() {
    let (_, m, mut framed) = checkpoint();
    framed[1][FRAME_OVERHEAD + 100] ^= 0x40;
    let e = reason(assemble(&m, &refs(&framed)));
    assert!(
        e.starts_with("corrupt chunk 1 at offset 11: checksum"),
        "{e}"
    );
}

#[test]
fn a_flipped_byte_in_a_chunk_header_checksum_is_caught() {
    let (_, m, mut framed) = checkpoint();
    framed[0][12] ^= 1;
    let e = reason(assemble(&m, &refs(&framed)));
    assert!(
        e.starts_with("corrupt chunk 0 at offset 10: checksum"),
        "{e}"
    );
}

#[test]
fn a_truncated_chunk_is_an_error() {
    let (_, m, mut framed) = checkpoint();
    framed[2].truncate(FRAME_OVERHEAD + 1000);
    let e = reason(assemble(&m, &refs(&framed)));
    // The frame's own checksum no longer matches the shorter body.
    assert!(e.starts_with("corrupt chunk 2 at offset 13"), "{e}");
    framed[2].truncate(10);
    let e = reason(assemble(&m, &refs(&framed)));
    assert!(
        e.contains("10 bytes is shorter than the 16-byte header"),
        "{e}"
    );
}

#[test]
fn a_valid_chunk_of_another_checkpoint_is_rejected() {
    let (_, m, mut framed) = checkpoint();
    framed[1] = frame_chunk(FORMAT_VERSION, &[9u8; 4096]);
    let e = reason(assemble(&m, &refs(&framed)));
    assert!(e.contains("chunk 1 at offset 11"), "{e}");
    assert!(e.contains("manifest says"), "{e}");
}

#[test]
fn a_missing_chunk_is_an_error() {
    let (_, m, framed) = checkpoint();
    let e = reason(assemble(&m, &refs(&framed[..2])));
    assert_eq!(e, "corrupt checkpoint: 2 chunks, manifest lists 3");
}

#[test]
fn a_manifest_whose_sum_disagrees_with_the_chunks_is_rejected() {
    let (_, mut m, framed) = checkpoint();
    m.state_xxh3 ^= 1;
    let e = reason(assemble(&m, &refs(&framed)));
    assert!(e.starts_with("corrupt state: checksum"), "{e}");
}

/// Defect: a manifest whose checksum passes but whose state length is
/// huge was allocated for before the chunks were compared with it: 2^40
/// aborted the process at every start, u64::MAX panicked the restore. It
/// is a corrupt checkpoint like any other.
#[test]
fn a_manifest_giving_a_huge_state_length_is_rejected_without_allocating_it() {
    for len in [1u64 << 40, u64::MAX] {
        let (_, mut m, framed) = checkpoint();
        m.state_len = len;
        let e = reason(assemble(&m, &refs(&framed)));
        assert!(e.starts_with("corrupt state"), "{len}: {e}");
    }
}

#[test]
fn a_flipped_byte_in_the_manifest_is_an_error() {
    let (_, m, _) = checkpoint();
    let mut wire = encode_manifest(FORMAT_VERSION, &m).unwrap();
    let at = wire.len() - 5;
    wire[at] ^= 0x01;
    let e = reason(decode_manifest(&wire));
    assert!(e.starts_with("corrupt manifest: checksum"), "{e}");
}

#[test]
fn a_truncated_manifest_is_an_error() {
    let (_, m, _) = checkpoint();
    let wire = encode_manifest(FORMAT_VERSION, &m).unwrap();
    let e = reason(decode_manifest(&wire[..wire.len() - 1]));
    assert!(e.starts_with("corrupt manifest: checksum"), "{e}");
}

#[test]
fn an_unknown_version_is_an_error() {
    let (_, m, mut framed) = checkpoint();
    let mut wire = encode_manifest(FORMAT_VERSION, &m).unwrap();
    wire[7] = 9;
    assert!(matches!(
        decode_manifest(&wire),
        Err(CheckpointError::UnknownVersion(9))
    ));
    framed[0][4] = 1;
    let e = reason(assemble(&m, &refs(&framed)));
    assert_eq!(
        e,
        "unknown checkpoint format version 16777224 (this build reads 4 to 8)"
    );
}

#[test]
fn wrong_magic_is_an_error() {
    let (_, m, framed) = checkpoint();
    let wire = encode_manifest(FORMAT_VERSION, &m).unwrap();
    // A chunk where a manifest should be, and the other way round.
    let e = reason(decode_manifest(&framed[0]));
    assert_eq!(e, r#"corrupt manifest: magic "FLCC", expected "FLCM""#);
    let e = reason(unframe_chunk("chunk 0", &wire));
    assert_eq!(e, r#"corrupt chunk 0: magic "FLCM", expected "FLCC""#);
    let e = reason(decode_manifest(b"{\"meta\":{}} plain json, no header"));
    assert!(e.starts_with("corrupt manifest: magic"), "{e}");
}

#[test]
fn a_manifest_body_that_is_not_a_manifest_is_an_error() {
    let wire = super::frame(MANIFEST_MAGIC, FORMAT_VERSION, br#"{"meta":1}"#);
    let e = reason(decode_manifest(&wire));
    assert!(e.starts_with("corrupt manifest: invalid type"), "{e}");
}

/// The golden SLA config (live SLA clocks, each sweep stopping some) with
/// short lifetimes, and a simulated stream on it: tickets, calls and
/// customers come and are removed by events and by sweeps all along.
fn churning() -> (Config, Vec<String>) {
    let short = "\n[kpi]\nrepeat_window = \"2h\"\n[state]\nresolved_ticket_ttl = \"1m\"\n\
                 idle_ticket_ttl = \"1h\"\nfinished_call_ttl = \"1m\"\nidle_call_ttl = \"1m\"\n";
    let cfg = Config::parse(&format!("{GOLDEN_CFG}{short}")).unwrap();
    let sim = SimConfig {
        peak_per_hour: 600.0,
        ..SimConfig::default()
    };
    (cfg, simulated(40_000, sim))
}

/// An engine restored from `back` (the state `engine` checkpointed last)
/// exports what `engine` does, now and after both apply `rest`.
fn assert_goes_on_alike(cfg: &Config, mut engine: Engine, back: State, rest: &[&str]) {
    let mut again = Engine::from_state(cfg, back);
    assert_eq!(metrics(&mut engine), metrics(&mut again));
    apply(&mut engine, rest);
    apply(&mut again, rest);
    engine.flush();
    again.flush();
    assert_eq!(metrics(&mut engine), metrics(&mut again));
}

/// Checkpoints of changes (what changed since the checkpoint before, on a
/// whole one now and then), read back and applied in turn, are the state
/// at each checkpoint: on the golden SLA config (live SLA clocks, each
/// sweep stopping some) with short lifetimes, so tickets, calls and
/// customers are removed by events and by sweeps between checkpoints.
#[test]
fn checkpoints_of_changes_applied_in_turn_are_the_state() {
    let (cfg, lines) = churning();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (parts, rest) = lines.split_at(36_000);
    let mut engine = Engine::new(&cfg);
    engine.state_mut().track_changes();
    let mut back: Option<State> = None;
    let (mut wholes, mut changes, mut spare) = (0, 0, None);
    for (i, part) in parts.chunks(900).enumerate() {
        apply(&mut engine, part);
        let st = engine.state_mut();
        let copy = match back {
            // Every tenth whole, as a chain that starts over.
            Some(_) if i % 10 != 0 => st.freeze_changes(spare.take(), DedupCopy::Inline),
            _ => st.freeze_whole(spare.take(), DedupCopy::Inline),
        };
        // The chain of copies 10 to 19 is of two formats, as after a
        // rolling update: each member reads in its own.
        let version = if i < 15 { 7 } else { FORMAT_VERSION };
        let bytes = encode_frozen(&copy, version).unwrap();
        if copy.is_changes() {
            let b = back.as_mut().expect("a chain starts whole");
            b.apply_changes(decode_changes(&bytes).unwrap());
            changes += 1;
        } else {
            back = Some(decode_state(&bytes).unwrap());
            wholes += 1;
        }
        assert_same_state(engine.state(), back.as_ref().unwrap());
        spare = Some(copy.into_spare());
    }
    // Whole only when asked, although the tables grew all along.
    assert!(
        wholes == 4 && changes == 36,
        "{wholes} whole, {changes} of changes"
    );
    assert_goes_on_alike(&cfg, engine, back.unwrap(), rest);
}

/// Whole checkpoints written from a mirror that followed every copy of
/// changes since one whole copy are the state, and so are the checkpoints
/// of changes between them (encoded before the mirror takes their
/// entries): on the stream of the test above, tables growing and entries
/// removed by events and sweeps between copies.
#[test]
fn whole_checkpoints_from_a_mirror_are_the_state() {
    let (cfg, lines) = churning();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (parts, rest) = lines.split_at(36_000);
    let mut engine = Engine::new(&cfg);
    let mut mirror: Option<Mirror> = None;
    let mut back: Option<State> = None;
    let (mut wholes, mut spare) = (0, None);
    for (i, part) in parts.chunks(900).enumerate() {
        apply(&mut engine, part);
        let st = engine.state_mut();
        let Some(m) = mirror.as_mut() else {
            // The one whole copy of the engine's tables.
            let mut copy = st.freeze_whole(spare.take(), DedupCopy::Inline);
            back = Some(decode_state(&encode_frozen(&copy, FORMAT_VERSION).unwrap()).unwrap());
            mirror = Mirror::of_whole(&mut copy);
            assert!(mirror.is_some());
            spare = Some(copy.into_spare());
            continue;
        };
        let mut copy = st.freeze_changes(spare.take(), DedupCopy::Inline);
        assert!(copy.is_changes());
        if i % 4 == 0 {
            assert!(m.follow(&mut copy));
            let bytes = encode_mirrored_into(&copy, m, FORMAT_VERSION, Vec::new()).unwrap();
            back = Some(decode_state(&bytes).unwrap());
            wholes += 1;
        } else {
            let bytes = encode_frozen(&copy, FORMAT_VERSION).unwrap();
            assert!(m.follow(&mut copy));
            let b = back.as_mut().expect("a chain starts whole");
            b.apply_changes(decode_changes(&bytes).unwrap());
        }
        assert_same_state(engine.state(), back.as_ref().unwrap());
        spare = Some(copy.into_spare());
    }
    assert_eq!(wholes, 9);
    // The mirror takes no whole copy, nor a copy of changes for a format
    // without chains.
    let mut whole = engine.state().freeze();
    assert!(!mirror.as_mut().unwrap().follow(&mut whole));
    assert!(encode_mirrored_into(&whole, mirror.as_ref().unwrap(), 6, Vec::new()).is_err());
    assert_goes_on_alike(&cfg, engine, back.unwrap(), rest);
}

/// After a restore under another config mapped the state (here a policy
/// removed, so the later policies' indices move, in resolved tickets no
/// event touches too), the next checkpoint is whole: the checkpoints read
/// back in turn, as a restore reads a chain, are the state. Without a
/// mapping the next one holds the changes since, as usual.
#[test]
fn the_checkpoint_after_a_mapped_restore_is_whole() {
    let before = Config::parse(GOLDEN_CFG).unwrap();
    let vip = "[[sla.policies]]\nname = \"vip\"\nmatch = { queue = [\"vip\"] }\n\
               calendar = \"office\"\nfirst_response = \"45m\"\nresolution = \"20h\"\n";
    assert!(GOLDEN_CFG.contains(vip));
    let after = Config::parse(&GOLDEN_CFG.replace(vip, "")).unwrap();
    let lines = simulated(8_000, SimConfig::default());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut engine = Engine::new(&before);
    apply(&mut engine, &lines[..6_000]);
    let first = encode_frozen(
        &engine.state_mut().freeze_whole(None, DedupCopy::Inline),
        FORMAT_VERSION,
    )
    .unwrap();
    for (cfg, mapped) in [(&after, true), (&before, false)] {
        let shape = StateShape::of(&before);
        let restored = decode_state(&first).unwrap();
        let (mut again, was) = Engine::from_checkpoint(cfg, restored, Some(&shape), true);
        assert_eq!(was, mapped);
        apply(&mut again, &lines[6_000..6_100]);
        let copy = again.state_mut().freeze_changes(None, DedupCopy::Inline);
        assert_eq!(copy.is_changes(), !mapped, "mapped: {mapped}");
        let bytes = encode_frozen(&copy, FORMAT_VERSION).unwrap();
        let mut back = decode_state(&first).unwrap();
        if copy.is_changes() {
            back.apply_changes(decode_changes(&bytes).unwrap());
        } else {
            back = decode_state(&bytes).unwrap();
        }
        assert_same_state(again.state(), &back);
    }
}

/// Format 8 keeps where an agent's windows hold its status from. After a
/// snapshot exported an agent's open interval, a status change dated
/// before the exported point takes that time in the windows: the engine
/// restored from format 8 does as the engine that went on, the one
/// restored from format 7 holds the new status from the exported point
/// (docs/metrics.md, "Agent time that has been exported is not taken back").
#[test]
fn format_8_keeps_where_an_agents_windows_hold_its_status_from() {
    let cfg = Config::default();
    let line = |id: u32, hm: &str, body: &str| {
        format!(r#"{{"event_id":"e{id}","ts":"2026-11-16T{hm}:00Z",{body}}}"#)
    };
    let status = |s: &str| {
        format!(r#""type":"agent.status_changed","agent_id":"A1","status":"{s}","queue":"q""#)
    };
    let survey = r#""type":"survey.ces","score":2"#;
    let before = [
        line(1, "09:00", &status("available")),
        line(2, "09:14", survey),
    ];
    let after = [line(3, "09:12", &status("busy")), line(4, "09:30", survey)];
    let utilization = |e: &mut Engine| -> f64 {
        let text = metrics(e);
        let key = r#"support_window_ratio{kpi="utilization",window="1h"} "#;
        let v = text.lines().find_map(|l| l.strip_prefix(key));
        v.unwrap_or_else(|| panic!("{text}")).parse().unwrap()
    };
    let mut engine = Engine::new(&cfg);
    apply(
        &mut engine,
        &before.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    engine.snapshot(None);
    let frozen = engine.state().freeze();
    let mut restored: Vec<Engine> = [FORMAT_VERSION, 7]
        .iter()
        .map(|&v| {
            let bytes = encode_frozen(&frozen, v).unwrap();
            Engine::from_state(&cfg, decode_state(&bytes).unwrap())
        })
        .collect();
    let after: Vec<&str> = after.iter().map(String::as_str).collect();
    for e in std::iter::once(&mut engine).chain(restored.iter_mut()) {
        apply(e, &after);
    }
    // Busy 09:12–09:30 of 09:00–09:30.
    assert_eq!(utilization(&mut engine), 0.6);
    assert_eq!(utilization(&mut restored[0]), 0.6);
    // Busy from the exported 09:14.
    assert_eq!(utilization(&mut restored[1]), 16.0 / 30.0);
}
