//! The snapshot hub: where partition tasks publish their latest snapshot
//! and the HTTP handlers read them. A lock is held only to swap or clone
//! `Arc`s, never per event and never across an `.await`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::locks::{read, write};
use crate::metrics::{Family, HistValue, Kind, Only, Series, Snapshot, Value};
use crate::names::BATCH_BOUNDS;

/// A partition: topic and number.
pub type TopicPartition = (String, i32);

/// Where an assigned partition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Loading its checkpoint.
    Restoring,
    /// Re-applying up to the end offset it saw at assignment; its series
    /// are not exported yet.
    CatchingUp,
    /// Caught up; exported.
    Live,
}

/// A partition's progress, for `/readyz` and the checkpoint age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartStatus {
    /// Where it is.
    pub phase: Phase,
    /// The next offset to apply (-1: not known yet).
    pub position: i64,
    /// The end offset at assignment (-1: not known yet).
    pub target: i64,
    /// Wall time (unix ms) of the oldest applied event no acknowledged
    /// checkpoint covers; `None` when every applied event is covered.
    pub dirty_since_ms: Option<i64>,
}

/// What every part of the live runtime publishes.
#[derive(Debug, Default)]
pub struct SnapshotHub {
    parts: RwLock<BTreeMap<TopicPartition, Arc<Snapshot>>>,
    /// Consumer lag per partition from librdkafka statistics.
    lag: RwLock<BTreeMap<TopicPartition, i64>>,
    /// Partitions currently assigned to this instance.
    assigned: RwLock<Vec<TopicPartition>>,
    /// Progress of each assigned partition.
    status: RwLock<BTreeMap<TopicPartition, PartStatus>>,
    /// Whether series carry a `topic` label beside `partition` (more than one topic).
    label_topic: AtomicBool,
    /// Rebalances seen.
    pub rebalances: AtomicU64,
    /// Whether the SLA event stream is on (its counters are exported).
    pub sla_events_on: AtomicBool,
    /// Whether checkpoints are off (`checkpoint.enabled = false`): no
    /// checkpoint age is exported then.
    pub checkpoints_off: AtomicBool,
    /// SLA events acknowledged by the broker (repeats after a failure included).
    pub sla_events_acked: AtomicU64,
    /// SLA state changes lost past the engine's buffer.
    pub sla_events_dropped: AtomicU64,
    /// Wall time (unix ms) of the last successful offset commit, 0 before.
    pub last_commit_ms: AtomicI64,
    /// Batch apply times over [`BATCH_BOUNDS`].
    batches: RwLock<Option<HistValue>>,
    /// Headline KPIs a minute apart for the live page's sparklines.
    pub trends: crate::live::Trends,
    started: Option<Instant>,
}

impl SnapshotHub {
    /// An empty hub.
    pub fn new() -> SnapshotHub {
        SnapshotHub {
            started: Some(Instant::now()),
            ..Default::default()
        }
    }

    /// Publishes a partition's latest snapshot. The one it replaces is
    /// freed after the lock is let go: freeing thousands of series (their
    /// labels, histograms and exemplars) takes a while, and scrapes and
    /// the other partitions' publications need not wait for it.
    pub fn publish(&self, tp: &TopicPartition, snap: Arc<Snapshot>) {
        // The guard is a temporary of this statement: gone at its end.
        let replaced = write(&self.parts).insert(tp.clone(), snap);
        drop(replaced);
    }

    /// Forgets a partition (revoked): its series leave `/metrics`.
    pub fn remove(&self, tp: &TopicPartition) {
        let removed = write(&self.parts).remove(tp);
        write(&self.lag).remove(tp);
        drop(removed);
    }

    /// Records a partition's progress.
    pub fn set_status(&self, tp: &TopicPartition, st: PartStatus) {
        write(&self.status).insert(tp.clone(), st);
    }

    /// Forgets a partition's progress (no longer assigned).
    pub fn clear_status(&self, tp: &TopicPartition) {
        write(&self.status).remove(tp);
    }

    /// Every assigned partition's progress.
    pub fn statuses(&self) -> BTreeMap<TopicPartition, PartStatus> {
        read(&self.status).clone()
    }

    /// Labels partitions' series with `topic` as well (several topics).
    pub fn set_label_topic(&self, on: bool) {
        self.label_topic.store(on, Ordering::Relaxed);
    }

    /// Records consumer lag from statistics.
    pub fn set_lag(&self, lag: BTreeMap<TopicPartition, i64>) {
        *write(&self.lag) = lag;
    }

    /// Records the current assignment.
    pub fn set_assigned(&self, tps: Vec<TopicPartition>) {
        *write(&self.assigned) = tps;
    }

    /// The current assignment.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        read(&self.assigned).clone()
    }

    /// Counts one batch's apply time.
    pub fn observe_batch(&self, secs: f64) {
        write(&self.batches)
            .get_or_insert_with(|| HistValue::empty(&BATCH_BOUNDS))
            .observe(secs);
    }

    /// Takes a trend point of the merged view (the live page's sparklines).
    pub fn sample_trends(&self, wall_ms: i64) {
        let snap = Snapshot::merge(self.snapshots().iter().map(|(_, s)| (**s).clone()));
        self.trends.sample(&snap, wall_ms);
    }

    /// The published snapshots.
    pub fn snapshots(&self) -> Vec<(TopicPartition, Arc<Snapshot>)> {
        read(&self.parts)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    /// Consumer lag per partition.
    pub fn lags(&self) -> BTreeMap<TopicPartition, i64> {
        read(&self.lag).clone()
    }

    /// The instance's view: every partition merged, plus the runtime's own
    /// metrics (build info, lag, rebalances, commit age, batches, process).
    ///
    /// Counters and histograms keep a series per partition (label
    /// `partition`, and `topic` with several topics): when a partition moves
    /// to another instance its series move with it, so no instance's series
    /// ever decreases and `sum()` over instances is the total. Gauges merge
    /// across the instance's partitions by their family's
    /// [`crate::metrics::Merge`], windows by adding their data.
    pub fn merged(&self, wall_ms: i64) -> Snapshot {
        self.merged_only(wall_ms, &Only::all())
    }

    /// [`SnapshotHub::merged`] with only the families `only` wants (windows
    /// rendered among them): the others are neither copied nor merged.
    pub fn merged_only(&self, wall_ms: i64, only: &Only) -> Snapshot {
        let label_topic = self.label_topic.load(Ordering::Relaxed);
        // Each partition's counters carry its own label: they never combine.
        let mut out = Snapshot::merge(
            self.snapshots()
                .iter()
                .map(|((t, p), s)| with_partition(s, t, *p, label_topic, only)),
        );
        // Build info describes the process, so it is there with no partition
        // assigned too. Each partition's engine exports the same series, and
        // those merge into one (`Merge::First`): added only when none came.
        if out.get(crate::names::BUILD_INFO.name).is_none() {
            out.family(crate::names::BUILD_INFO).push(
                vec![("version", Cow::Borrowed(env!("CARGO_PKG_VERSION")))],
                Value::Int(1),
            );
        }
        let mut f = out.family(crate::names::CONSUMER_LAG);
        for ((t, p), lag) in self.lags() {
            if lag >= 0 {
                f.push(
                    vec![("topic", t.into()), ("partition", p.to_string().into())],
                    Value::Int(lag as u64),
                );
            }
        }
        out.family(crate::names::REBALANCES)
            .push(vec![], Value::Int(self.rebalances.load(Ordering::Relaxed)));
        if self.sla_events_on.load(Ordering::Relaxed) {
            out.family(crate::names::SLA_EVENTS)
                .push(
                    vec![("result", "acknowledged".into())],
                    Value::Int(self.sla_events_acked.load(Ordering::Relaxed)),
                )
                .push(
                    vec![("result", "dropped".into())],
                    Value::Int(self.sla_events_dropped.load(Ordering::Relaxed)),
                );
        }
        // Partitions by phase, every phase always present once any is assigned,
        // so an alert can compare restoring/catching_up with 0.
        let statuses = self.statuses();
        if !statuses.is_empty() {
            let mut f = out.family(crate::names::PARTITIONS);
            for (phase, name) in [
                (Phase::Restoring, "restoring"),
                (Phase::CatchingUp, "catching_up"),
                (Phase::Live, "live"),
            ] {
                let n = statuses.values().filter(|s| s.phase == phase).count();
                f.push(vec![("phase", Cow::Borrowed(name))], Value::Int(n as u64));
            }
        }
        // The oldest applied event no checkpoint covers: 0 when idle and caught up.
        if !statuses.is_empty() && !self.checkpoints_off.load(Ordering::Relaxed) {
            let age = statuses
                .values()
                .filter_map(|s| s.dirty_since_ms)
                .map(|d| (wall_ms - d).max(0))
                .max()
                .unwrap_or(0);
            out.family(crate::names::CHECKPOINT_AGE)
                .push(vec![], Value::Millis(age));
        }
        let batches = read(&self.batches).clone();
        let batches = batches.unwrap_or_else(|| HistValue::empty(&BATCH_BOUNDS));
        out.family(crate::names::BATCH_SECONDS)
            .push(vec![], Value::Hist(Arc::new(batches)));
        crate::process_metrics::add_process_metrics(&mut out, self.started);
        crate::process_metrics::add_http_metrics(&mut out);
        out.keep_only(only);
        out
    }
}

/// The `partition` label of partition `p`: borrowed from a table for the
/// first [`NUMBERED`] partitions, so the label costs no allocation per
/// series and equal labels are one string (merging compares them by
/// address).
fn partition_label(p: i32) -> Cow<'static, str> {
    static NUMBERS: OnceLock<Vec<String>> = OnceLock::new();
    let numbers = NUMBERS.get_or_init(|| (0..NUMBERED).map(|n| n.to_string()).collect());
    match usize::try_from(p).ok().and_then(|p| numbers.get(p)) {
        Some(n) => Cow::Borrowed(n.as_str()),
        None => Cow::Owned(p.to_string()),
    }
}

/// Partitions whose label is borrowed from a table; a topic seldom has more.
const NUMBERED: usize = 1024;

/// A partition's snapshot with `partition` (and `topic`) added to every
/// counter and histogram series; of its families and windows only what
/// `only` wants.
fn with_partition(
    s: &Snapshot,
    topic: &str,
    partition: i32,
    label_topic: bool,
    only: &Only,
) -> Snapshot {
    let p = partition_label(partition);
    let t: Cow<'static, str> = Cow::Owned(topic.to_string());
    let families = s
        .families
        .iter()
        .filter(|f| only.wants_family(f))
        .map(|f| {
            if !matches!(f.kind, Kind::Counter | Kind::Histogram) {
                return f.clone();
            }
            let series = f
                .series
                .iter()
                .map(|x| {
                    // Sized once: the partition (and topic) labels are pushed without a copy.
                    let mut labels = Vec::with_capacity(x.labels.len() + 2);
                    labels.extend(x.labels.iter().cloned());
                    if label_topic {
                        labels.push(("topic", t.clone()));
                    }
                    labels.push(("partition", p.clone()));
                    Series {
                        labels,
                        value: x.value.clone(),
                    }
                })
                .collect();
            Family {
                series,
                name: f.name,
                help: f.help.clone(),
                kind: f.kind,
                merge: f.merge,
            }
        })
        .collect();
    Snapshot {
        families,
        windows: if only.wants_windows() {
            s.windows.clone()
        } else {
            None
        },
        progress: s.progress,
        due: s.due.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    fn part(created: u64, open: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.family(names::TICKETS_CREATED)
            .push(vec![("queue", "billing".into())], Value::Int(created));
        s.family(names::TICKETS_OPEN)
            .push(vec![("queue", "billing".into())], Value::Int(open));
        s
    }

    #[test]
    fn batch_times_keep_fractions_of_a_millisecond() {
        let hub = SnapshotHub::new();
        for _ in 0..4 {
            hub.observe_batch(0.000_25);
        }
        hub.observe_batch(0.002);
        let m = hub.merged(0);
        let Value::Hist(h) = &m.series_of("frontline_batch_seconds")[0].1 else {
            panic!("frontline_batch_seconds is a histogram");
        };
        // 4 × 0.25 ms + 2 ms; whole milliseconds would have made it 2.
        assert!((h.sum_ms - 3.0).abs() < 1e-9, "sum {} ms", h.sum_ms);
        assert_eq!(h.count, 5);
        // le 0.0001, 0.0005 (four), 0.001, 0.005 (one), …
        assert_eq!(&h.buckets[..4], &[0, 4, 0, 1]);
    }

    #[test]
    fn a_poisoned_lock_loses_no_write() {
        let hub = Arc::new(SnapshotHub::new());
        let h = Arc::clone(&hub);
        let _ = std::thread::spawn(move || {
            let _guard = h.parts.write().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(hub.parts.is_poisoned());
        hub.publish(&("t".into(), 0), Arc::new(part(5, 2)));
        assert_eq!(hub.snapshots().len(), 1);
    }

    #[test]
    fn counters_keep_a_series_per_partition_and_gauges_merge() {
        let hub = SnapshotHub::new();
        hub.publish(&("t".into(), 0), Arc::new(part(5, 2)));
        hub.publish(&("t".into(), 3), Arc::new(part(7, 1)));
        let m = hub.merged(0);
        assert_eq!(
            m.series_of("support_tickets_created"),
            vec![
                (
                    vec![("queue", "billing".into()), ("partition", "0".into())],
                    Value::Int(5)
                ),
                (
                    vec![("queue", "billing".into()), ("partition", "3".into())],
                    Value::Int(7)
                ),
            ]
        );
        assert_eq!(
            m.series_of("support_tickets_open"),
            vec![(vec![("queue", "billing".into())], Value::Int(3))]
        );
        // A partition that leaves takes its series along: the other's stay as they were.
        hub.remove(&("t".into(), 0));
        let m = hub.merged(0);
        assert_eq!(
            m.series_of("support_tickets_created"),
            vec![(
                vec![("queue", "billing".into()), ("partition", "3".into())],
                Value::Int(7)
            )]
        );
    }

    #[test]
    fn build_info_is_one_series_of_1_with_or_without_partitions() {
        let version = env!("CARGO_PKG_VERSION");
        let one = vec![(vec![("version", version.into())], Value::Int(1))];
        let hub = SnapshotHub::new();
        // No partition assigned yet.
        let m = hub.merged(0);
        assert_eq!(m.series_of("frontline_build_info"), one);
        let line = format!("frontline_build_info{{version=\"{version}\"}} 1");
        for text in [
            crate::export::prometheus_text(&m),
            crate::export::openmetrics(&m),
        ] {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("frontline_build_info"))
                .collect();
            assert_eq!(lines, [line.as_str()], "{text}");
        }
        // Two partitions, each engine with its own series: still one, not 2.
        let cfg = crate::config::Config::default();
        for p in [0, 1] {
            let snap = crate::engine::Engine::new(&cfg).snapshot(None);
            assert_eq!(snap.series_of("frontline_build_info"), one);
            hub.publish(&("t".into(), p), Arc::new(snap));
        }
        assert_eq!(hub.merged(0).series_of("frontline_build_info"), one);
        // And when they are gone again.
        hub.remove(&("t".into(), 0));
        hub.remove(&("t".into(), 1));
        assert_eq!(hub.merged(0).series_of("frontline_build_info"), one);
    }

    #[test]
    fn several_topics_add_the_topic_label() {
        let hub = SnapshotHub::new();
        hub.set_label_topic(true);
        hub.publish(&("a".into(), 1), Arc::new(part(1, 0)));
        let m = hub.merged(0);
        assert_eq!(
            m.series_of("support_tickets_created")[0].0,
            vec![
                ("queue", "billing".into()),
                ("topic", "a".into()),
                ("partition", "1".into())
            ]
        );
    }

    #[test]
    fn checkpoint_age_is_the_oldest_uncovered_event() {
        let hub = SnapshotHub::new();
        let st = |d: Option<i64>| PartStatus {
            phase: Phase::Live,
            position: 10,
            target: 10,
            dirty_since_ms: d,
        };
        hub.set_status(&("t".into(), 0), st(None));
        let age = |hub: &SnapshotHub, now: i64| {
            hub.merged(now)
                .series_of("frontline_checkpoint_age_seconds")
                .first()
                .map(|x| x.1.clone())
        };
        // Idle and covered: 0, however long ago anything happened.
        assert_eq!(age(&hub, 1_000_000), Some(Value::Millis(0)));
        // Without checkpoints there is no age at all.
        hub.checkpoints_off.store(true, Ordering::Relaxed);
        assert_eq!(age(&hub, 1_000_000), None);
        hub.checkpoints_off.store(false, Ordering::Relaxed);
        hub.set_status(&("t".into(), 1), st(Some(990_000)));
        hub.set_status(&("t".into(), 2), st(Some(995_000)));
        assert_eq!(age(&hub, 1_000_000), Some(Value::Millis(10_000)));
        hub.set_status(
            &("t".into(), 3),
            PartStatus {
                phase: Phase::CatchingUp,
                ..st(None)
            },
        );
        assert_eq!(
            hub.merged(0).series_of("frontline_partitions"),
            vec![
                (vec![("phase", "restoring".into())], Value::Int(0)),
                (vec![("phase", "catching_up".into())], Value::Int(1)),
                (vec![("phase", "live".into())], Value::Int(3)),
            ]
        );
        hub.clear_status(&("t".into(), 3));
        hub.clear_status(&("t".into(), 0));
        hub.clear_status(&("t".into(), 1));
        hub.clear_status(&("t".into(), 2));
        assert_eq!(age(&hub, 1_000_000), None);
    }
}
