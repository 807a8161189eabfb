//! The snapshot hub: where partition tasks publish their latest snapshot
//! and the HTTP handlers read them. A lock is held only to swap or clone
//! `Arc`s, never per event and never across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::snapshot::{HistValue, Kind, Snapshot, Value};

/// A partition: topic and number.
pub type Tp = (String, i32);

/// What every part of the live runtime publishes.
#[derive(Debug, Default)]
pub struct SnapshotHub {
    parts: RwLock<BTreeMap<Tp, Arc<Snapshot>>>,
    /// Consumer lag per partition from librdkafka statistics.
    lag: RwLock<BTreeMap<Tp, i64>>,
    /// Partitions currently assigned to this instance.
    assigned: RwLock<Vec<Tp>>,
    /// Rebalances seen.
    pub rebalances: AtomicU64,
    /// Wall time (unix ms) of the last successful offset commit, 0 before.
    pub last_commit_ms: AtomicI64,
    /// Batch apply times (non-cumulative buckets over [`BATCH_BOUNDS`]), ms sums.
    batches: RwLock<(Vec<u64>, i64, u64)>,
    started: Option<Instant>,
}

/// Bounds of `frontline_batch_seconds`.
pub const BATCH_BOUNDS: [f64; 8] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0];

impl SnapshotHub {
    /// An empty hub.
    pub fn new() -> SnapshotHub {
        SnapshotHub {
            started: Some(Instant::now()),
            batches: RwLock::new((vec![0; BATCH_BOUNDS.len() + 1], 0, 0)),
            ..Default::default()
        }
    }

    /// Publishes a partition's latest snapshot.
    pub fn publish(&self, tp: &Tp, snap: Arc<Snapshot>) {
        if let Ok(mut p) = self.parts.write() {
            p.insert(tp.clone(), snap);
        }
    }

    /// Forgets a partition (revoked): its series leave `/metrics`.
    pub fn remove(&self, tp: &Tp) {
        if let Ok(mut p) = self.parts.write() {
            p.remove(tp);
        }
        if let Ok(mut l) = self.lag.write() {
            l.remove(tp);
        }
    }

    /// Records consumer lag from statistics.
    pub fn set_lag(&self, lag: BTreeMap<Tp, i64>) {
        if let Ok(mut l) = self.lag.write() {
            *l = lag;
        }
    }

    /// Records the current assignment.
    pub fn set_assigned(&self, tps: Vec<Tp>) {
        if let Ok(mut a) = self.assigned.write() {
            *a = tps;
        }
    }

    /// The current assignment.
    pub fn assigned(&self) -> Vec<Tp> {
        self.assigned.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Counts one batch's apply time.
    pub fn observe_batch(&self, secs: f64) {
        if let Ok(mut b) = self.batches.write() {
            let i = BATCH_BOUNDS.partition_point(|x| *x < secs);
            b.0[i] += 1;
            b.1 += (secs * 1000.0).round() as i64;
            b.2 += 1;
        }
    }

    /// The published snapshots.
    pub fn snapshots(&self) -> Vec<(Tp, Arc<Snapshot>)> {
        self.parts
            .read()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect())
            .unwrap_or_default()
    }

    /// Consumer lag per partition.
    pub fn lags(&self) -> BTreeMap<Tp, i64> {
        self.lag.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// The instance's view: every partition merged, plus the runtime's own
    /// metrics (lag, rebalances, commit age, batches, process).
    pub fn merged(&self, wall_ms: i64) -> Snapshot {
        let snaps = self.snapshots();
        let mut out = Snapshot::merge(snaps.iter().map(|(_, s)| s.as_ref()));
        let mut f = out.family(crate::names::CONSUMER_LAG, Kind::Gauge);
        for ((t, p), lag) in self.lags() {
            if lag >= 0 {
                f.push(
                    vec![("topic", t.into()), ("partition", p.to_string().into())],
                    Value::Int(lag as u64),
                );
            }
        }
        out.family(crate::names::REBALANCES, Kind::Counter)
            .push(vec![], Value::Int(self.rebalances.load(Ordering::Relaxed)));
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        if last > 0 {
            out.family(crate::names::CHECKPOINT_AGE, Kind::Gauge)
                .push(vec![], Value::Millis((wall_ms - last).max(0)));
        }
        if let Ok(b) = self.batches.read() {
            out.family(crate::names::BATCH_SECONDS, Kind::Histogram)
                .push(
                    vec![],
                    Value::Hist(HistValue {
                        bounds: BATCH_BOUNDS.to_vec().into(),
                        buckets: b.0.clone(),
                        sum_ms: b.1,
                        count: b.2,
                        exemplars: Vec::new(),
                    }),
                );
        }
        crate::process::add_process_metrics(&mut out, self.started);
        out
    }
}
