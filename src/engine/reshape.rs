//! A state restored under another config than the one that checkpointed
//! it. The state keeps histogram buckets by position and SLA policies by
//! index; a checkpoint's [`StateShape`] says what those positions were, so
//! a restart after a config change maps them by bound and by name instead
//! of reading one bucket as another, or one policy's history as another's
//! (docs/operations.md, "Config changes and restored state").

use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::keys::{sla_key, sla_unkey};
use super::sla::NO_POLICY;
use super::sla_clocked::{live_timers, Clocked};
use super::sla_engine::{split, SlaContext};
use super::{Engine, HistId, LabelCap, Settings};
use crate::config::Config;
use crate::names::HISTOGRAMS;

/// The layout of a state's numbers under the config that wrote it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateShape {
    /// Each histogram family's bucket bounds (seconds, without `+Inf`).
    pub bounds: BTreeMap<String, Vec<f64>>,
    /// SLA policy names, by the index the state keeps.
    pub policies: Vec<String>,
}

/// Bounds are finite (the config admits positive numbers only), so
/// equality is an equivalence.
impl Eq for StateShape {}

impl StateShape {
    /// The shape of the states an engine on `cfg` (validated) keeps.
    pub fn of(cfg: &Config) -> StateShape {
        let mut queues = LabelCap::new(cfg.labels.max_queues, &cfg.labels.queue_allow_list);
        Settings::from_config(cfg, &mut queues).shape()
    }
}

impl Settings {
    /// The shape of the states kept under these settings.
    pub fn shape(&self) -> StateShape {
        StateShape {
            bounds: HistId::ALL
                .iter()
                .map(|&h| {
                    let name = HISTOGRAMS[h as usize].metric.name.to_string();
                    (name, self.bounds[h as usize].to_vec())
                })
                .collect(),
            policies: self.policies.list.iter().map(|p| p.name.clone()).collect(),
        }
    }
}

impl Engine {
    /// An engine restored from `state`, checkpointed under `shape` (`None`:
    /// a checkpoint from before shapes were written, taken as this one's),
    /// and whether the state was mapped onto another layout. With
    /// `changes`, the engine's next checkpoint may hold the changes since
    /// this one ([`super::State::track_changes`]) — unless the state was
    /// mapped: it then differs from its checkpoint in entries no event
    /// changed, so its next checkpoint is whole.
    pub fn from_checkpoint(
        cfg: &Config,
        state: super::State,
        shape: Option<&StateShape>,
        changes: bool,
    ) -> (Engine, bool) {
        let mut engine = Engine::from_state(cfg, state);
        let mapped = shape.is_some_and(|old| engine.reshape(old));
        if changes && !mapped {
            engine.state_mut().track_changes();
        }
        (engine, mapped)
    }

    /// Maps the state from `old`'s layout onto this engine's config;
    /// whether the layouts differ.
    fn reshape(&mut self, old: &StateShape) -> bool {
        let new = self.settings.shape();
        if *old == new {
            return false;
        }
        self.rebucket(old);
        self.repolicy(&old.policies, &new.policies);
        self.state.metrics.budget.used = self.state.metrics.series(&self.settings.bounds);
        true
    }

    /// Histograms whose bounds changed: each old bucket's count goes to
    /// the first new bucket whose bound is at or above the old one's, so
    /// every bound kept counts as before, and a bound added counts the
    /// history of the bucket it splits above it (only observations from
    /// now on fall below it). Exemplars are dropped with the old buckets.
    fn rebucket(&mut self, old: &StateShape) {
        for h in HistId::ALL {
            let name = HISTOGRAMS[h as usize].metric.name;
            let Some(was) = old.bounds.get(name) else {
                continue;
            };
            let now = &self.settings.bounds[h as usize];
            if was[..] == now[..] {
                continue;
            }
            let hists = &mut self.state.metrics.hists[h as usize];
            for ph in hists.values_mut() {
                let mut buckets = vec![0; now.len() + 1];
                for (i, &n) in ph.buckets.iter().enumerate() {
                    let j = was
                        .get(i)
                        .map_or(now.len(), |b| now.partition_point(|x| x < b));
                    buckets[j] += n;
                }
                ph.buckets = buckets;
                ph.exemplars.clear();
                ph.published = OnceCell::new();
            }
            if !hists.is_empty() {
                warn!(histogram = name, before = ?was, now = ?&now[..],
                      "bucket bounds changed since the checkpoint: restored counts moved to the new buckets");
            }
        }
    }

    /// SLA policies renamed, reordered, added or removed: counters and
    /// gauges follow their policy by name; a removed policy's series are
    /// dropped. Open tickets and calls keep their policy by name, or
    /// choose again under the new list; every open clock is judged again
    /// at the next step of the clock, under its policy's targets now.
    fn repolicy(&mut self, was: &[String], now: &[String]) {
        let map: Vec<Option<u8>> = was
            .iter()
            .map(|n| now.iter().position(|m| m == n).map(|p| p as u8))
            .collect();
        let to = |p: u8| -> Option<u8> {
            if p == NO_POLICY {
                Some(NO_POLICY)
            } else {
                map.get(p as usize).copied().flatten()
            }
        };
        let m = &mut self.state.metrics;
        let mut dropped = 0usize;
        for counts in [&mut m.sla_achieved, &mut m.sla_breaches] {
            let old = std::mem::take(counts);
            for (k, v) in old {
                let (kind, p, pr, q) = sla_unkey(k);
                match to(p) {
                    Some(np) => *counts.entry(sla_key(kind, np, pr, q)).or_default() += v,
                    None => dropped += 1,
                }
            }
        }
        // The gauges are counted again from the clocks: a series kept
        // stays (at 0 if nothing is at risk now).
        for gauge in [&mut m.sla_at_risk, &mut m.sla_active] {
            let old = std::mem::take(gauge);
            for k in old.into_keys() {
                let (kind, p, pr, q) = sla_unkey(k);
                if let Some(np) = to(p) {
                    gauge.insert(sla_key(kind, np, pr, q), 0);
                }
            }
        }
        let clock = self.state.clock.unwrap_or(i64::MIN);
        let (tickets, calls, _, _, mut cx) = split(&self.settings, &mut self.state);
        tickets.each_mut_where(|_| true, |_, t| cx.reshaped(t, to(t.policy), clock));
        calls.each_mut_where(|_| true, |_, c| cx.reshaped(c, to(c.policy), clock));
        self.state.sla_tickets = live_timers(&self.state.tickets);
        self.state.sla_calls = live_timers(&self.state.calls);
        self.state.sla_live = self.state.sla_tickets.len() + self.state.sla_calls.len();
        if was != now {
            warn!(before = ?was, now = ?now, series_dropped = dropped,
                  "SLA policies changed since the checkpoint: history kept by policy name");
        }
    }
}

impl SlaContext<'_> {
    /// `e` under the new policy list: its policy `kept` by name, or chosen
    /// again; clocks no longer near their (new) deadline leave at risk;
    /// its gauges counted under its labels; and, with a clock open, a
    /// timer at `clock` so that the next step judges it again.
    pub(super) fn reshaped<E: Clocked>(&mut self, e: &mut E, kept: Option<u8>, clock: i64) {
        let p = kept.unwrap_or_else(|| {
            let (pr, q) = e.labels();
            self.choose(e.channel(), pr, q)
        });
        e.set_policy(p);
        let mut open = false;
        for i in 0..E::KINDS.len() {
            if e.clocks().at_risk(i) && self.warn_at(e, i) > clock {
                e.clocks_mut().set_at_risk(i, false);
            }
            let c = e.clocks();
            if c.at_risk(i) {
                *self.gauge_at_risk(Self::key(e, i)) += 1;
            }
            if c.active_breach(i) {
                *self.gauge_active(Self::key(e, i)) += 1;
            }
            open |= c.open(i);
        }
        *e.sla_due_mut() = if open { clock } else { i64::MAX };
    }
}
