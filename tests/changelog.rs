//! Checkpoints in a compacted changelog topic of a real Apache Kafka broker
//! (address in FRONTLINE_TEST_KAFKA; `make test` starts one). Topics are
//! unique per test; every wait is bounded.

use std::time::{Duration, Instant};

use frontline::checkpoint::kafka::{Changelog, MAX_SEGMENTS};
use frontline::checkpoint::{
    decode_chain, decode_manifest, decode_restored, encode_frozen, frame_chunk, CheckpointError,
    Manifest, Meta, FORMAT_VERSION,
};
use frontline::config::{Config, Dur};
use frontline::decode::decode;
use frontline::engine::{Engine, LogTail, State};
use frontline::simulate::{SimConfig, Simulator};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

mod common;

use common::kafka::{broker, rt, unique};

const WAIT: Duration = Duration::from_secs(20);

/// A config whose changelog is a fresh topic, in chunks of `chunk_bytes`.
fn config(chunk_bytes: usize) -> Config {
    let mut cfg = Config::parse("").unwrap();
    cfg.kafka
        .client
        .insert("bootstrap.servers".into(), broker());
    cfg.kafka.topics = vec![unique("source")];
    cfg.checkpoint.topic = Some(unique("changelog"));
    cfg.checkpoint.chunk_bytes = chunk_bytes;
    cfg.checkpoint.replication_factor = 1;
    cfg
}

fn meta(cfg: &Config, partition: i32, generation: u64) -> Meta {
    Meta {
        topic: cfg.kafka.topics[0].clone(),
        partition,
        next_offset: 1000 * generation as i64,
        generation,
        writer: "test-writer".into(),
        wall_ms: 1_794_816_000_000 + generation as i64,
        last_event_wall_ms: Some(1_794_815_000_000),
        shape: None,
        group: None,
    }
}

/// `len` bytes that do not repeat (xorshift), different per seed.
fn state(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("acks", "all")
        .create()
        .unwrap()
}

/// Produces one raw record to the changelog, as a crash or a bad writer would leave it.
fn produce_raw(topic: &str, partition: i32, key: &str, value: &[u8]) {
    let p = producer();
    let deadline = Instant::now() + WAIT;
    // A new producer can fail a record for an explicit partition with
    // "Unknown partition" before its first metadata of the topic is in: ask
    // for the metadata first, and try again while that error persists.
    loop {
        let md = p.client().fetch_metadata(Some(topic), WAIT).unwrap();
        let known = md.topics().iter().any(|t| {
            t.name() == topic && t.error().is_none() && t.partitions().len() as i32 > partition
        });
        let sent = known
            && match rt().block_on(
                p.send(
                    FutureRecord::to(topic)
                        .key(key)
                        .payload(value)
                        .partition(partition),
                    WAIT,
                ),
            ) {
                Ok(_) => true,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::UnknownPartition,
                    ),
                    _,
                )) => false,
                Err((e, _)) => panic!("producing {key}: {e}"),
            };
        if sent {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} [{partition}] unknown to a producer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every record of a changelog partition, in order: key and value (none
/// for a tombstone).
fn records(topic: &str, partition: i32) -> Vec<(String, Option<Vec<u8>>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", unique("reader"))
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no end of partition");
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                m.payload().map(<[u8]>::to_vec),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return out,
            _ => {}
        }
    }
}

#[test]
fn a_large_state_round_trips_in_small_chunks_through_a_compacted_topic() {
    let cfg = config(64 * 1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 3)).unwrap();
    assert_eq!(log.partitions(), 3);
    let st = state(5 * 1024 * 1024 + 17, 1);
    let m = meta(&cfg, 4, 1);
    let t = Instant::now();
    rt.block_on(log.write(&m, &st)).unwrap();
    let wrote = t.elapsed();

    assert_eq!(log.latest_meta(&m.topic, 4, WAIT).unwrap(), Some(m.clone()));
    let t = Instant::now();
    let r = log.restore(&m.topic, 4, WAIT).unwrap();
    eprintln!(
        "{} bytes in 81 chunks: write {wrote:?}, restore {:?}",
        st.len(),
        t.elapsed()
    );
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (got, bytes) = r.found.expect("a checkpoint");
    assert_eq!(got, m);
    assert!(bytes == st, "restored state differs");
    // Another source partition of the same changelog partition (4 % 3 = 1) has none.
    assert_eq!(log.latest_meta(&m.topic, 1, WAIT).unwrap(), None);
    assert!(log.restore(&m.topic, 1, WAIT).unwrap().found.is_none());

    // Created compacted, with room for a chunk.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let res = rt
        .block_on(admin.describe_configs(
            &[ResourceSpecifier::Topic(log.topic())],
            &AdminOptions::new(),
        ))
        .unwrap();
    let res = res.into_iter().next().unwrap().unwrap();
    let get = |k: &str| res.get(k).and_then(|e| e.value.clone()).unwrap();
    assert_eq!(get("cleanup.policy"), "compact");
    assert!(get("max.message.bytes").parse::<usize>().unwrap() > 64 * 1024 + 16);

    // Opening an existing topic uses it as it is.
    let again = rt.block_on(Changelog::open(&cfg, 8)).unwrap();
    assert_eq!(again.partitions(), 3);
    let (got, bytes) = again.restore(&m.topic, 4, WAIT).unwrap().found.unwrap();
    assert_eq!((got, bytes == st), (m, true));
}

#[test]
fn a_corrupt_newest_manifest_falls_back_to_the_older_checkpoint() {
    let cfg = config(16 * 1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 2)).unwrap();
    let (a, b) = (state(40_000, 2), state(50_000, 3));
    let (m1, m2) = (meta(&cfg, 1, 1), meta(&cfg, 1, 2));
    rt.block_on(log.write(&m1, &a)).unwrap();
    rt.block_on(log.write(&m2, &b)).unwrap();
    assert_eq!(
        log.latest_meta(&m1.topic, 1, WAIT).unwrap(),
        Some(m2.clone())
    );

    // Generation 2 is slot 0: garbage replaces its manifest.
    let key = format!("{}/1/0/m", m1.topic);
    // The right magic and version, so what is rejected is the checksum.
    let mut garbage = b"FLCM".to_vec();
    garbage.extend(FORMAT_VERSION.to_be_bytes());
    garbage.extend(b"not a checksum, not json");
    produce_raw(log.topic(), 1, &key, &garbage);
    let r = log.restore(&m1.topic, 1, WAIT).unwrap();
    let (got, bytes) = r.found.expect("the older checkpoint");
    assert_eq!(got, m1);
    assert!(bytes == a);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert!(
        r.rejected[0].contains("corrupt manifest: checksum"),
        "{:?}",
        r.rejected
    );
    // latest_meta skips what does not decode as well.
    assert_eq!(log.latest_meta(&m1.topic, 1, WAIT).unwrap(), Some(m1));
}

/// Defect: a newest checkpoint whose checksums pass but whose state does
/// not decode (a writer's bug, or a record forged with a right checksum)
/// left its partition empty: the decode came after the restore had chosen
/// it. `restore_with` decodes each checkpoint that verifies, and skips one
/// that does not decode for the one before it, as for a corrupt one.
#[test]
fn a_checkpoint_that_does_not_decode_falls_back_to_the_older_one() {
    let cfg = config(16 * 1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let source = cfg.kafka.topics[0].clone();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &simulated(2_000));
    engine.flush();
    let good = encode_frozen(&engine.state().freeze(), FORMAT_VERSION).unwrap();
    let (m1, m2) = (meta(&cfg, 0, 1), meta(&cfg, 0, 2));
    rt.block_on(log.write(&m1, &good)).unwrap();
    // Framed and summed like any other: only decoding it fails.
    rt.block_on(log.write(&m2, &state(30_000, 7))).unwrap();
    let decode = |r: &frontline::checkpoint::kafka::Restore| {
        let (_, bytes) = r.found.as_ref().unwrap();
        decode_chain(&r.earlier, bytes, r.dedup.as_ref())
    };
    let (r, st) = log.restore_with(&source, 0, WAIT, decode).unwrap();
    let (got, _) = r.found.expect("the older checkpoint");
    assert_eq!(got, m1);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert!(
        r.rejected[0].starts_with("generation 2 (manifest at offset")
            && r.rejected[0].contains("its state does not decode"),
        "{:?}",
        r.rejected
    );
    let st = st.expect("decoded");
    assert_eq!(as_json(&st), as_json(engine.state()));
}

/// Defect: records of an aborted transaction written after a checkpoint
/// (a foreign producer's, in the checkpoint topic) are never delivered, and
/// the restore waited for a record past them until it timed out, starting
/// the partition empty. It stops at the log's end.
#[test]
fn an_aborted_transaction_after_a_checkpoint_does_not_hold_the_restore() {
    let cfg = config(16 * 1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let (m, st) = (meta(&cfg, 0, 1), state(40_000, 4));
    rt.block_on(log.write(&m, &st)).unwrap();
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("transactional.id", unique("foreign"))
        .create()
        .unwrap();
    p.init_transactions(WAIT).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..100 {
        let key = format!("{}/0/x/{i}", m.topic);
        rt.block_on(
            p.send(
                FutureRecord::to(log.topic())
                    .key(&key)
                    .payload("aborted")
                    .partition(0),
                WAIT,
            ),
        )
        .unwrap();
    }
    p.abort_transaction(WAIT).unwrap();
    // Another instance, which knows nothing of what this one wrote.
    let other = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let r = other.restore(&m.topic, 0, WAIT).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (got, bytes) = r.found.expect("the checkpoint before the transaction");
    assert_eq!(got, m);
    assert!(bytes == st);
}

/// Defect: with the checkpoint topic deleted and created again under a
/// running writer, its next checkpoints went on pointing at chain members
/// and dedup segments of the old topic; they were acknowledged, offsets
/// committed, and no restore could read them. The write whose offsets went
/// back fails, and the next one is whole and restores.
#[test]
fn a_changelog_created_again_under_its_writer_gets_a_whole_checkpoint() {
    let cfg = config(16 * 1024);
    let source = cfg.kafka.topics[0].clone();
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let mut engine = Engine::new(&cfg);
    let lines = simulated(3_400);
    apply(&mut engine, &lines[..3_000]);
    for (g, part) in [(1u64, &lines[..0]), (2, &lines[3_000..3_100])] {
        apply(&mut engine, part);
        let (bytes, tail, changes) = chained(&log, &source, &mut engine);
        assert_eq!(changes, g == 2, "generation {g}");
        rt.block_on(log.write_chained(&meta(&cfg, 0, g), &bytes, Some(&tail), changes))
            .unwrap();
    }
    common::kafka::delete_topic(log.topic());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !common::kafka::try_create_topic(log.topic(), 1) {
        assert!(
            Instant::now() < deadline,
            "the changelog is not created again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    apply(&mut engine, &lines[3_100..3_200]);
    // The writer's producer learns of the new topic in its own time: a
    // write may fail on that first, then on the offsets.
    let refused = loop {
        assert!(Instant::now() < deadline, "no write reached the new topic");
        let (bytes, tail, changes) = chained(&log, &source, &mut engine);
        match rt.block_on(log.write_chained(&meta(&cfg, 0, 3), &bytes, Some(&tail), changes)) {
            Err(CheckpointError::Recreated(why)) => break why,
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
            Ok(()) => panic!("a checkpoint pointing into the old topic was acknowledged"),
        }
    };
    assert!(refused.contains("offsets went back"), "{refused}");
    apply(&mut engine, &lines[3_200..]);
    let (bytes, tail, changes) = chained(&log, &source, &mut engine);
    assert!(!changes, "the checkpoint after is whole");
    rt.block_on(log.write_chained(&meta(&cfg, 0, 3), &bytes, Some(&tail), changes))
        .unwrap();
    let (m, back, earlier) = restored_chain(&cfg, &source);
    assert_eq!((m.generation, earlier), (3, 0));
    assert!(
        as_json(&back) == as_json(engine.state()),
        "restores another state"
    );
}

#[test]
fn a_checkpoint_cut_short_before_its_manifest_leaves_the_previous_one() {
    // One changelog partition shared by two source partitions.
    let cfg = config(8 * 1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let topic = cfg.kafka.topics[0].clone();
    let states: Vec<Vec<u8>> = (0..4)
        .map(|i| state(30_000 + i * 1000, 10 + i as u64))
        .collect();
    for g in 1..=2u64 {
        for p in [0, 1] {
            let st = &states[(g as usize - 1) * 2 + p as usize];
            rt.block_on(log.write(&meta(&cfg, p, g), st)).unwrap();
        }
    }
    // Generation 3 of partition 0 (slot 1) crashes after two of its chunks.
    for i in 0..2 {
        let key = format!("{topic}/0/1/{i}");
        produce_raw(
            log.topic(),
            0,
            &key,
            &frame_chunk(FORMAT_VERSION, &state(8 * 1024, 99)),
        );
    }
    for (p, st) in [(0, &states[2]), (1, &states[3])] {
        let r = log.restore(&topic, p, WAIT).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        let (got, bytes) = r.found.unwrap();
        assert_eq!(got, meta(&cfg, p, 2));
        assert!(bytes == *st);
    }
    assert_eq!(
        log.latest_meta(&topic, 0, WAIT).unwrap(),
        Some(meta(&cfg, 0, 2))
    );

    // The manifest of generation 2 is lost too: generation 1 is in slot 1,
    // whose first chunks the crash overwrote, so compaction may drop them at
    // any time; it is not used although its old records are still there.
    produce_raw(log.topic(), 0, &format!("{topic}/0/0/m"), b"garbage");
    let r = log.restore(&topic, 0, WAIT).unwrap();
    assert!(r.found.is_none(), "{:?}", r.found.map(|f| f.0));
    assert_eq!(r.rejected.len(), 2, "{:?}", r.rejected);
    assert!(
        r.rejected[0].contains("corrupt manifest: 7 bytes is shorter"),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].starts_with("generation 1 ")
            && r.rejected[1].contains(&format!("overwritten by a later record of {topic}/0/1/0")),
        "{:?}",
        r.rejected
    );
    // Partition 1 is untouched.
    let (got, _) = log.restore(&topic, 1, WAIT).unwrap().found.unwrap();
    assert_eq!(got, meta(&cfg, 1, 2));
}

#[test]
fn a_write_that_would_overwrite_the_last_good_slot_is_refused_and_shrinking_leaves_tombstones() {
    let cfg = config(1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let topic = cfg.kafka.topics[0].clone();
    rt.block_on(log.write(&meta(&cfg, 0, 1), &state(5 * 1024, 1)))
        .unwrap();
    match rt.block_on(log.write(&meta(&cfg, 0, 3), &state(10, 1))) {
        Err(CheckpointError::Generation {
            got: 3,
            last: 1,
            expected: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    rt.block_on(log.write(&meta(&cfg, 0, 2), &state(100, 2)))
        .unwrap();
    // Slot 1 again, with 2 chunks where generation 1 had 5.
    let small = state(1500, 3);
    rt.block_on(log.write(&meta(&cfg, 0, 3), &small)).unwrap();
    let (got, bytes) = log.restore(&topic, 0, WAIT).unwrap().found.unwrap();
    assert_eq!((got.generation, bytes == small), (3, true));

    let tombstones: Vec<String> = records(log.topic(), 0)
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    let want: Vec<String> = (2..5).map(|i| format!("{topic}/0/1/{i}")).collect();
    assert_eq!(tombstones, want);
}

#[test]
fn write_format_4_frames_a_checkpoint_as_4_and_either_restores() {
    // A build that writes format 4 during a rolling update from one that
    // reads only 4, then the default: each checkpoint is framed in the
    // version written, and both restore here.
    let mut old = config(16 * 1024);
    old.checkpoint.write_format = 4;
    let mut new = old.clone();
    new.checkpoint.write_format = FORMAT_VERSION;
    let rt = rt();
    let log4 = rt.block_on(Changelog::open(&old, 1)).unwrap();
    assert_eq!(log4.format_version(), 4);
    let (a, b) = (state(40_000, 5), state(30_000, 6));
    rt.block_on(log4.write(&meta(&old, 0, 1), &a)).unwrap();
    let versions = |v: &[(String, Option<Vec<u8>>)]| -> Vec<u32> {
        v.iter()
            .filter_map(|(_, x)| x.as_ref())
            .map(|x| u32::from_be_bytes(x[4..8].try_into().unwrap()))
            .collect()
    };
    let written = records(log4.topic(), 0);
    // Three chunks and the manifest, all format 4.
    assert_eq!(versions(&written), [4, 4, 4, 4]);
    // The generation restored, and whether its state is `want`.
    let newest = |want: &[u8]| {
        let r = log4.restore(&old.kafka.topics[0], 0, WAIT).unwrap();
        let (got, bytes) = r.found.unwrap();
        (got.generation, bytes == want)
    };
    assert_eq!(newest(&a), (1, true));

    let log5 = rt.block_on(Changelog::open(&new, 1)).unwrap();
    rt.block_on(log5.write(&meta(&new, 0, 2), &b)).unwrap();
    let written = records(log5.topic(), 0);
    assert_eq!(versions(&written)[4..], [FORMAT_VERSION; 3]);
    assert_eq!(newest(&b), (2, true));
}

/// A changelog topic this instance just created: its partitions can be in
/// the metadata before their leaders answer, and a restore asked for at
/// once (as the first assignment does) must find nothing rather than fail,
/// which would start the partition empty with an error. Several fresh
/// topics, every partition restored side by side, to meet that moment.
#[test]
fn a_changelog_restores_nothing_without_error_the_moment_it_is_created() {
    let rt = rt();
    for _ in 0..4 {
        let cfg = config(64 * 1024);
        let log = rt.block_on(Changelog::open(&cfg, 8)).unwrap();
        assert_eq!(log.partitions(), 8);
        let source = cfg.kafka.topics[0].as_str();
        let restores: Vec<_> = std::thread::scope(|s| {
            let log = &log;
            let running: Vec<_> = (0..8)
                .map(|p| s.spawn(move || log.restore(source, p, WAIT)))
                .collect();
            running.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (p, r) in restores.into_iter().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("partition {p}: {e}"));
            assert!(
                r.found.is_none() && r.rejected.is_empty(),
                "partition {p}: {r:?}"
            );
        }
    }
}

fn simulated(n: usize) -> Vec<String> {
    Simulator::new(SimConfig::default())
        .take(n)
        .map(|e| e.json)
        .collect()
}

fn apply(engine: &mut Engine, lines: &[String]) {
    for l in lines {
        engine.apply(decode(l.as_bytes(), 1 << 20).unwrap());
    }
}

/// A checkpoint of source partition `source`/0 as a worker takes it from
/// format 6: the dedup memory's ids the log lacks as a segment, the rest
/// encoded.
fn logged(log: &Changelog, source: &str, engine: &Engine) -> (Vec<u8>, LogTail) {
    let st = engine.state();
    let copy = log.dedup_copy(source, 0, st.dedup_epoch());
    let mut frozen = st.freeze_with(None, copy);
    let tail = frozen
        .take_dedup_tail()
        .expect("format 6 logs the dedup memory");
    (encode_frozen(&frozen, FORMAT_VERSION).unwrap(), tail)
}

/// The state restored from the changelog by an instance of its own.
fn restored(cfg: &Config, source: &str) -> (Meta, State) {
    let rt = rt();
    let log = rt.block_on(Changelog::open(cfg, 1)).unwrap();
    let r = log.restore(source, 0, WAIT).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (m, bytes) = r.found.expect("a checkpoint");
    let st = decode_restored(&bytes, r.dedup.as_ref()).unwrap();
    (m, st)
}

type Generations = std::collections::BTreeSet<u64>;

/// Of the keys `t/p/<kind>/<generation>/<i>` written, the generations with
/// a chunk whose newest record is not a tombstone, and those with a
/// tombstone.
fn generations(written: &[(String, Option<Vec<u8>>)], kind: &str) -> (Generations, Generations) {
    let of_kind = |k: &str| k.split('/').nth(2) == Some(kind);
    let generation = |k: &str| k.split('/').nth(3).map(|g| g.parse::<u64>().unwrap());
    let tombstoned: Generations = written
        .iter()
        .filter(|(k, v)| of_kind(k) && v.is_none())
        .filter_map(|(k, _)| generation(k))
        .collect();
    let live = written
        .iter()
        .filter(|(k, v)| of_kind(k) && v.is_some())
        .filter_map(|(k, _)| generation(k))
        .filter(|g| !tombstoned.contains(g))
        .collect();
    (live, tombstoned)
}

/// The two newest manifests written (one per slot), newest first.
fn newest_manifests(written: &[(String, Option<Vec<u8>>)]) -> impl Iterator<Item = Manifest> + '_ {
    written
        .iter()
        .filter(|(k, v)| k.ends_with("/m") && v.is_some())
        .rev()
        .take(2)
        .map(|(_, v)| decode_manifest(v.as_ref().unwrap()).unwrap())
}

fn as_json(st: &State) -> serde_json::Value {
    serde_json::to_value(st).unwrap()
}

/// Format 6 logs the dedup memory: each checkpoint writes only the ids
/// that arrived since the one before; a segment whose ids are all
/// forgotten is tombstoned once neither slot's manifest lists it; another
/// instance restores the state whole, dedup memory included, and goes on
/// with the same log.
#[test]
fn the_dedup_memory_is_logged_once_and_restores_whole() {
    let mut cfg = config(64 * 1024);
    cfg.time.dedup_horizon = Dur::secs(2 * 3600);
    let source = cfg.kafka.topics[0].clone();
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let lines = simulated(10_000);
    let (before, after) = lines.split_at(9_000);
    let mut engine = Engine::new(&cfg);
    let mut logged_ids = 0;
    let mut next_first = 0;
    for (g, part) in before.chunks(750).enumerate() {
        apply(&mut engine, part);
        let (bytes, tail) = logged(&log, &source, &engine);
        assert_eq!(tail.mark.first.max(tail.mark.base), tail.mark.first);
        assert_eq!(
            tail.mark.first, next_first,
            "checkpoint {g} does not follow"
        );
        next_first = tail.mark.first + tail.count;
        logged_ids += tail.count;
        let m = meta(&cfg, 0, g as u64 + 1);
        rt.block_on(log.write_logged(&m, &bytes, Some(&tail)))
            .unwrap();
    }
    // Every id went to the log once: as many as the events' distinct ids.
    let distinct: std::collections::HashSet<String> = before
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"].to_string())
        .collect();
    assert_eq!(logged_ids, distinct.len() as u64);

    let (m, back) = restored(&cfg, &source);
    assert_eq!(m.generation, 12);
    assert!(
        as_json(&back) == as_json(engine.state()),
        "restored another state"
    );

    // Another instance goes on from where the log ends.
    let other = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let r = other.restore(&source, 0, WAIT).unwrap();
    let (m, bytes) = r.found.unwrap();
    let mut again = Engine::from_state(&cfg, decode_restored(&bytes, r.dedup.as_ref()).unwrap());
    apply(&mut again, after);
    apply(&mut engine, after);
    let (bytes, tail) = logged(&other, &source, &again);
    assert_eq!(
        tail.mark.first, next_first,
        "the restored log is not continued"
    );
    let m = Meta {
        generation: m.generation + 1,
        ..m
    };
    rt.block_on(other.write_logged(&m, &bytes, Some(&tail)))
        .unwrap();
    let (m, back) = restored(&cfg, &source);
    assert_eq!(m.generation, 13);
    assert!(
        as_json(&back) == as_json(engine.state()),
        "restored another state"
    );
    // Segments forgotten were tombstoned, and only those: every segment
    // key without a tombstone is listed by one of the two slots' manifests.
    let written = records(log.topic(), 0);
    let (live, tombstoned) = generations(&written, "d");
    assert!(
        tombstoned.len() >= 2,
        "{tombstoned:?}: too few segments forgotten; the test needs a shorter horizon"
    );
    let listed: Generations = newest_manifests(&written)
        .flat_map(|m| m.dedup.unwrap().segments)
        .map(|s| s.generation)
        .collect();
    assert_eq!(live, listed);
    assert!(tombstoned.iter().all(|g| !listed.contains(g)));

    // The last events the first instance logged are still known as
    // duplicates after two restores.
    let mut engine = Engine::from_state(&cfg, back);
    let dups = |e: &Engine| {
        as_json(e.state())["metrics"]["duplicates"]
            .as_u64()
            .unwrap()
    };
    let was = dups(&engine);
    apply(&mut engine, &before[before.len() - 100..]);
    assert_eq!(dups(&engine), was + 100);
}

/// A checkpoint that loads but whose state cannot be decoded leaves the
/// partition empty, checkpointing from generation 1 again: once the
/// changelog forgets the loaded one's generation, that is written and is
/// what the next restore finds.
#[test]
fn a_forgotten_checkpoint_lets_an_empty_state_start_again_at_generation_1() {
    let cfg = config(1024);
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let topic = cfg.kafka.topics[0].clone();
    // Bytes that frame and verify but are no state.
    rt.block_on(log.write(&meta(&cfg, 0, 8), &state(3000, 4)))
        .unwrap();
    let other = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let (found, bytes) = other.restore(&topic, 0, WAIT).unwrap().found.unwrap();
    assert_eq!(found.generation, 8);
    assert!(decode_restored(&bytes, None).is_err());
    let first = state(200, 5);
    assert!(matches!(
        rt.block_on(other.write(&meta(&cfg, 0, 1), &first)),
        Err(CheckpointError::Generation { last: 8, .. })
    ));
    other.forget(&topic, 0);
    rt.block_on(other.write(&meta(&cfg, 0, 1), &first)).unwrap();
    let (found, bytes) = log.restore(&topic, 0, WAIT).unwrap().found.unwrap();
    assert_eq!((found.generation, bytes == first), (1, true));
}

/// A dedup log of MAX_SEGMENTS segments starts over: the next checkpoint
/// writes the whole memory as one segment, the one after tombstones the
/// old ones, and what restores is the engine's state all along.
#[test]
fn a_long_dedup_log_starts_over_in_one_segment() {
    let mut cfg = config(64 * 1024);
    cfg.time.dedup_horizon = Dur::secs(7 * 24 * 3600);
    let source = cfg.kafka.topics[0].clone();
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let lines = simulated(20 * (MAX_SEGMENTS + 2));
    let mut engine = Engine::new(&cfg);
    let mut starts = Vec::new();
    for (g, part) in lines.chunks(20).enumerate() {
        apply(&mut engine, part);
        let (bytes, tail) = logged(&log, &source, &engine);
        starts.push(tail.mark.first);
        let m = meta(&cfg, 0, g as u64 + 1);
        rt.block_on(log.write_logged(&m, &bytes, Some(&tail)))
            .unwrap();
    }
    // Checkpoints 1 to MAX_SEGMENTS each add their own ids; the next one
    // starts over from the oldest id, the last goes on from there.
    assert_eq!(starts[0], 0);
    assert!(starts[1..MAX_SEGMENTS].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(starts[MAX_SEGMENTS], 0);
    assert!(starts[MAX_SEGMENTS + 1] > starts[MAX_SEGMENTS - 1]);
    let written = records(log.topic(), 0);
    let last = written
        .iter()
        .rev()
        .find(|(k, v)| k.ends_with("/m") && v.is_some())
        .map(|(_, v)| decode_manifest(v.as_ref().unwrap()).unwrap())
        .unwrap();
    let gens: Vec<u64> = last
        .dedup
        .unwrap()
        .segments
        .iter()
        .map(|s| s.generation)
        .collect();
    let n = MAX_SEGMENTS as u64;
    assert_eq!(gens, [n + 1, n + 2]);
    let tombstoned: std::collections::BTreeSet<u64> = written
        .iter()
        .filter(|(k, v)| k.split('/').nth(2) == Some("d") && v.is_none())
        .map(|(k, _)| k.split('/').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(tombstoned, (1..=n).collect());
    let (m, back) = restored(&cfg, &source);
    assert_eq!(m.generation, n + 2);
    assert!(
        as_json(&back) == as_json(engine.state()),
        "restored another state"
    );
}

/// A checkpoint of source partition `source`/0 as a worker takes it from
/// format 7: the changes since the last one when the changelog wants them
/// (else the whole state), the dedup memory as a log; and whether it holds
/// changes.
fn chained(log: &Changelog, source: &str, engine: &mut Engine) -> (Vec<u8>, LogTail, bool) {
    let st = engine.state_mut();
    let copy = log.dedup_copy(source, 0, st.dedup_epoch());
    let mut frozen = if log.wants_changes(source, 0) {
        st.freeze_changes(None, copy)
    } else {
        st.freeze_whole(None, copy)
    };
    let tail = frozen
        .take_dedup_tail()
        .expect("the dedup memory is logged");
    let changes = frozen.is_changes();
    (
        encode_frozen(&frozen, FORMAT_VERSION).unwrap(),
        tail,
        changes,
    )
}

/// The state of a chained checkpoint restored by an instance of its own,
/// and the members its changes applied to.
fn restored_chain(cfg: &Config, source: &str) -> (Meta, State, usize) {
    let rt = rt();
    let log = rt.block_on(Changelog::open(cfg, 1)).unwrap();
    let r = log.restore(source, 0, WAIT).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (m, bytes) = r.found.expect("a checkpoint");
    let st = decode_chain(&r.earlier, &bytes, r.dedup.as_ref()).unwrap();
    (m, st, r.earlier.len())
}

/// Format 7 writes the changes since the last checkpoint on a whole one
/// now and then: another instance restores the state whole from the chain
/// and goes on with it; members of a chain that started over are
/// tombstoned once neither slot's manifest lists them, and only those.
#[test]
fn a_chain_of_changes_restores_whole_and_leaves_only_what_a_slot_lists() {
    let mut cfg = config(16 * 1024);
    // Short lifetimes: tickets, calls and customers leave between checkpoints.
    cfg.kpi.repeat_window = Dur::secs(2 * 3600);
    cfg.state.resolved_ticket_ttl = Dur::secs(60);
    cfg.state.finished_call_ttl = Dur::secs(60);
    cfg.time.dedup_horizon = Dur::secs(2 * 3600);
    let source = cfg.kafka.topics[0].clone();
    let rt = rt();
    let log = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    // A busy centre: many tickets open at once.
    let sim = SimConfig {
        peak_per_hour: 6_000.0,
        ..SimConfig::default()
    };
    let lines: Vec<String> = Simulator::new(sim).take(30_000).map(|e| e.json).collect();
    let (before, after) = lines.split_at(28_000);
    let mut engine = Engine::new(&cfg);
    let (mut wholes, mut changes, mut longest) = (0, 0, 0);
    let mut generation = 0;
    // A state of some size first, then checkpoints a few hundred events
    // apart: chains of several changes before one starts over.
    let (first, rest) = before.split_at(16_000);
    for (i, part) in std::iter::once(first).chain(rest.chunks(400)).enumerate() {
        apply(&mut engine, part);
        let (bytes, tail, is_changes) = chained(&log, &source, &mut engine);
        *(if is_changes {
            &mut changes
        } else {
            &mut wholes
        }) += 1;
        generation = i as u64 + 1;
        let m = meta(&cfg, 0, generation);
        rt.block_on(log.write_chained(&m, &bytes, Some(&tail), is_changes))
            .unwrap();
        if i % 3 == 2 {
            let (m, back, earlier) = restored_chain(&cfg, &source);
            longest = longest.max(earlier);
            assert_eq!(m.generation, generation);
            assert!(
                as_json(&back) == as_json(engine.state()),
                "checkpoint {generation} restores another state"
            );
        }
    }
    assert!(
        wholes >= 2 && changes >= 12 && longest >= 3,
        "{wholes} whole, {changes} of changes, longest chain restored {longest}"
    );

    // Another instance restores and goes on with the same chain.
    let other = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let r = other.restore(&source, 0, WAIT).unwrap();
    let (m, bytes) = r.found.unwrap();
    let st = decode_chain(&r.earlier, &bytes, r.dedup.as_ref()).unwrap();
    let mut again = Engine::from_state(&cfg, st);
    again.state_mut().track_changes();
    assert_eq!(
        other.wants_changes(&source, 0),
        log.wants_changes(&source, 0),
        "the restoring instance knows the chain as its writer does"
    );
    let wanted = other.wants_changes(&source, 0);
    apply(&mut again, after);
    apply(&mut engine, after);
    let (bytes, tail, is_changes) = chained(&other, &source, &mut again);
    assert_eq!(is_changes, wanted);
    let m = Meta {
        generation: m.generation + 1,
        ..m
    };
    rt.block_on(other.write_chained(&m, &bytes, Some(&tail), is_changes))
        .unwrap();
    let (m, back, _) = restored_chain(&cfg, &source);
    assert_eq!(m.generation, generation + 1);
    assert!(
        as_json(&back) == as_json(engine.state()),
        "the continued chain restores another state"
    );

    // Chain members without a tombstone are those the two slots' newest
    // manifests list; the others were tombstoned.
    let written = records(log.topic(), 0);
    let (live, tombstoned) = generations(&written, "c");
    let listed: Generations = newest_manifests(&written)
        .flat_map(|m| {
            let chain = m.chain.expect("a chained checkpoint");
            let own = m.meta.generation;
            chain.earlier.into_iter().map(|c| c.generation).chain([own])
        })
        .collect();
    assert!(tombstoned.len() >= 2, "{tombstoned:?}");
    assert_eq!(live, listed);
    assert!(tombstoned.iter().all(|g| !listed.contains(g)));
}

/// A partition checkpointed whole in its slots (format 6 and older) and
/// then restored by a build that chains its checkpoints leaves no slot
/// chunk behind: once two chained checkpoints are acknowledged, the newest
/// record of every slot chunk key is a tombstone.
#[test]
fn chained_checkpoints_after_whole_ones_in_slots_leave_no_slot_chunk_behind() {
    let cfg = config(1024);
    let source = cfg.kafka.topics[0].clone();
    let rt = rt();
    let old = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let mut engine = Engine::new(&cfg);
    apply(&mut engine, &simulated(3_000));
    // Generations 1 and 2 whole, in slots 1 and 0 (a few chunks each).
    for g in 1..=2u64 {
        let bytes = encode_frozen(&engine.state().freeze(), FORMAT_VERSION).unwrap();
        rt.block_on(old.write(&meta(&cfg, 0, g), &bytes)).unwrap();
    }
    let new = rt.block_on(Changelog::open(&cfg, 1)).unwrap();
    let r = new.restore(&source, 0, WAIT).unwrap();
    let (m, bytes) = r.found.unwrap();
    assert_eq!(m.generation, 2);
    let mut engine = Engine::from_state(&cfg, decode_chain(&r.earlier, &bytes, None).unwrap());
    engine.state_mut().track_changes();
    for g in 3..=4u64 {
        apply(&mut engine, &simulated(100));
        let (bytes, tail, changes) = chained(&new, &source, &mut engine);
        rt.block_on(new.write_chained(&meta(&cfg, 0, g), &bytes, Some(&tail), changes))
            .unwrap();
    }
    let mut newest = std::collections::BTreeMap::new();
    for (k, v) in records(new.topic(), 0) {
        newest.insert(k, v.is_some());
    }
    let slot_chunks: Vec<(&String, &bool)> = newest
        .iter()
        .filter(|(k, _)| {
            let parts: Vec<&str> = k.split('/').collect();
            parts.len() == 4 && (parts[2] == "0" || parts[2] == "1") && parts[3] != "m"
        })
        .collect();
    assert!(slot_chunks.len() >= 4, "{slot_chunks:?}");
    let left: Vec<&String> = slot_chunks
        .iter()
        .filter(|(_, live)| **live)
        .map(|(k, _)| *k)
        .collect();
    assert!(left.is_empty(), "slot chunks left behind: {left:?}");
    let (m, back, _) = restored_chain(&cfg, &source);
    assert_eq!(m.generation, 4);
    assert!(as_json(&back) == as_json(engine.state()));
}
