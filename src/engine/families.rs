//! Engine state → the metric model ([`Snapshot`]): finished numbers,
//! labelled, in SPEC order. Window data goes out as data; the model renders
//! it after partitions merge.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::keys::{csat_unkey, open_unkey, sla_unkey, status_unkey, undims};
use super::state::{agent_count, agent_sum, KeyCounts, PromHist};
use super::{Engine, LabelCap, LabelId};
use crate::decode::REASONS;
use crate::event::{Channel, EventType};
use crate::metrics::{
    DurKey, ExemplarValue, HistValue, LabelValue, Labels, Progress, Snapshot, Value, WindowData,
    WindowSet,
};
use crate::names::{self, HistDef, HistLabels, MetricDef, HISTOGRAMS};

/// A label value from a closed set.
fn fixed(v: &'static str) -> LabelValue {
    Cow::Borrowed(v)
}

/// The label value a capped label (queue, agent) has for `id`.
fn capped(cap: &LabelCap, id: LabelId) -> LabelValue {
    cap.value(id)
}

/// `channel`, `priority` and `queue` of a [`super::keys::dims`] key.
fn by_channel_priority_queue(cap: &LabelCap, k: u32) -> Labels {
    let (ch, pr, id) = undims(k);
    vec![
        ("channel", fixed(ch.as_str())),
        ("priority", fixed(pr.as_str())),
        ("queue", capped(cap, id)),
    ]
}

/// `channel` and `queue` of a [`super::keys::dims`] key.
fn by_channel_queue(cap: &LabelCap, k: u32) -> Labels {
    let (ch, _, id) = undims(k);
    vec![("channel", fixed(ch.as_str())), ("queue", capped(cap, id))]
}

/// `queue` of a queue key.
fn by_queue(cap: &LabelCap, k: u32) -> Labels {
    vec![("queue", capped(cap, k as LabelId))]
}

/// `status` and `queue` of a [`super::keys::status_key`].
fn status_queue(cap: &LabelCap, k: u32) -> Labels {
    let (st, q) = status_unkey(k);
    vec![("status", fixed(st.as_str())), ("queue", capped(cap, q))]
}

impl Engine {
    /// Takes a snapshot of every metric at the current event clock.
    /// `wall_ms` (live only) gives `frontline_watermark_lag_seconds`.
    pub fn snapshot(&mut self, wall_ms: Option<i64>) -> Snapshot {
        self.materialize_agents();
        let mut out = Snapshot::default();
        self.cumulative(&mut out);
        self.windowed(&mut out);
        self.health(&mut out, wall_ms);
        out.due = self.closest_due(crate::metrics::DUE_LIST);
        out.prune();
        out
    }

    /// The `k` open SLA clocks (tickets and calls) closest to their
    /// deadlines, earliest first (the live page's "closest to breaching").
    pub fn closest_due(&self, k: usize) -> Vec<crate::metrics::DueClock> {
        use super::sla_clocked::{closest_due, Clocked};
        let pol = &self.settings.policies;
        let cap = &self.state.queues;
        fn item<E: Clocked>(
            pol: &super::sla::Policies,
            cap: &LabelCap,
            (due_ms, id, i, at_risk, e): super::sla_clocked::Due<'_, E>,
        ) -> crate::metrics::DueClock {
            let (priority, queue) = e.labels();
            crate::metrics::DueClock {
                entity: E::ENTITY,
                id: id.to_string(),
                clock: E::KINDS[i].as_str(),
                policy: pol
                    .get(e.policy())
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                priority: priority.as_str(),
                queue: cap.name(queue).to_string(),
                channel: e.channel().as_str(),
                due_ms,
                at_risk,
            }
        }
        let mut out: Vec<_> = closest_due(pol, &self.state.tickets, &self.state.sla_tickets, k)
            .into_iter()
            .map(|d| item(pol, cap, d))
            .chain(
                closest_due(pol, &self.state.calls, &self.state.sla_calls, k)
                    .into_iter()
                    .map(|d| item(pol, cap, d)),
            )
            .collect();
        out.sort_by(|a, b| (a.due_ms, &a.id).cmp(&(b.due_ms, &b.id)));
        out.truncate(k);
        out
    }

    /// The cumulative families, in SPEC order: ticket and call counters
    /// and histograms, agent and survey counters, SLA and customer
    /// counters, then the maintained gauges.
    fn cumulative(&self, out: &mut Snapshot) {
        self.contact_counters(out);
        self.agent_and_survey_counters(out);
        self.sla_and_customer_counters(out);
        self.gauges(out);
    }

    /// Tickets, contacts, calls and their duration histograms.
    fn contact_counters(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let cap = &self.state.queues;
        let by_channel_priority_queue = |k: u32| by_channel_priority_queue(cap, k);
        let by_channel_queue = |k: u32| by_channel_queue(cap, k);
        let by_queue = |k: u32| by_queue(cap, k);
        for (name, counts) in [
            (names::TICKETS_CREATED, &m.tickets_created),
            (names::TICKETS_RESOLVED, &m.tickets_resolved),
            (names::TICKETS_REOPENED, &m.tickets_reopened),
            (names::ESCALATIONS, &m.escalations),
            (names::FCR, &m.fcr),
        ] {
            counter(out, name, counts, by_channel_priority_queue);
        }
        counter(out, names::CONTACTS, &m.contacts, by_channel_queue);
        counter(out, names::REPEAT_CONTACTS, &m.repeats, by_channel_queue);
        for (name, counts) in [
            (names::CALLS_OFFERED, &m.calls_offered),
            (names::CALLS_ANSWERED, &m.calls_answered),
            (names::CALLS_WITHIN, &m.calls_within),
            (names::CALLS_ABANDONED, &m.calls_abandoned),
            (names::CALLS_SHORT_ABANDONED, &m.calls_short),
        ] {
            counter(out, name, counts, by_queue);
        }
        for h in &HISTOGRAMS {
            match h.labels {
                HistLabels::ChannelPriorityQueue => self.hist(out, h, by_channel_priority_queue),
                HistLabels::ChannelQueue => self.hist(out, h, by_channel_queue),
                HistLabels::Queue => self.hist(out, h, by_queue),
            }
        }
    }

    /// Agent status time, CSAT, the per-agent families, NPS, CES and the
    /// cost of handle time.
    fn agent_and_survey_counters(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let cap = &self.state.queues;
        let mut f = out.family(names::AGENT_STATUS_SECONDS);
        for (k, ms) in &self.shown_agent_time().status_ms {
            f.push(status_queue(cap, *k), Value::Millis(*ms));
        }
        let mut f = out.family(names::CSAT);
        for (k, n) in &m.csat {
            let (score, ch, q) = csat_unkey(*k);
            let l = vec![
                ("score", Cow::Owned(score.to_string())),
                ("channel", fixed(ch.as_str())),
                ("queue", capped(cap, q)),
            ];
            f.push(l, Value::Int(*n));
        }
        self.per_agent_families(out);
        let mut f = out.family(names::NPS);
        for (i, cat) in ["promoter", "passive", "detractor"].iter().enumerate() {
            if m.nps[i] > 0 {
                f.push(vec![("category", fixed(cat))], Value::Int(m.nps[i]));
            }
        }
        let mut f = out.family(names::CES);
        for (i, n) in m.ces.iter().enumerate() {
            if *n > 0 {
                f.push(
                    vec![("score", Cow::Owned((i + 1).to_string()))],
                    Value::Int(*n),
                );
            }
        }
        let mut f = out.family(names::HANDLE_COST);
        for (k, v) in &m.handle_cost {
            f.push(by_channel_queue(cap, *k), Value::Float(*v));
        }
    }

    /// SLA verdicts, churn, and the active-customer gauge beside them.
    fn sla_and_customer_counters(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let mut f = out.family(names::SLA_ACHIEVED);
        for (k, n) in &m.sla_achieved {
            f.push(self.sla_labels(*k), Value::Int(*n));
        }
        let mut f = out.family(names::SLA_BREACHES);
        for (k, n) in &m.sla_breaches {
            f.push(self.sla_labels(*k), Value::Int(*n));
        }
        let mut f = out.family(names::CUSTOMERS_CHURNED);
        if m.churned > 0 {
            f.push(vec![], Value::Int(m.churned));
        }
        let mut f = out.family(names::CUSTOMERS_ACTIVE);
        if m.active_customers > 0 || m.churned > 0 {
            f.push(vec![], Value::Int(m.active_customers.max(0) as u64));
        }
    }

    /// The maintained gauges (open tickets, queues, agents, SLA clocks) and
    /// the configured KPI targets.
    fn gauges(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let cap = &self.state.queues;
        let mut f = out.family(names::TICKETS_OPEN);
        for (k, n) in &m.tickets_open {
            let (st, pr, id) = open_unkey(*k);
            f.push(
                vec![
                    ("status", fixed(st.as_str())),
                    ("priority", fixed(pr.as_str())),
                    ("queue", capped(cap, id)),
                ],
                Value::Int((*n).max(0) as u64),
            );
        }
        let clock = self.state.clock.unwrap_or(0);
        let mut f = out.family(names::CALLS_IN_QUEUE);
        for (k, w) in &m.waiting {
            f.push(by_queue(cap, *k), Value::Int(w.total()));
        }
        let mut f = out.family(names::OLDEST_CALL_WAIT);
        for (k, w) in &m.waiting {
            let age = w.oldest().map_or(0, |t| (clock - t).max(0));
            f.push(by_queue(cap, *k), Value::Float(age as f64 / 1000.0));
        }
        let mut f = out.family(names::AGENTS);
        for (k, n) in &m.agents {
            f.push(status_queue(cap, *k), Value::Int((*n).max(0) as u64));
        }
        for (name, counts) in [
            (names::SLA_AT_RISK, &m.sla_at_risk),
            (names::SLA_ACTIVE_BREACHES, &m.sla_active),
        ] {
            let mut f = out.family(name);
            for (k, n) in counts {
                f.push(self.sla_labels(*k), Value::Int((*n).max(0) as u64));
            }
        }
        let mut f = out.family(names::KPI_TARGET);
        for (k, v) in &self.settings.kpi_targets {
            f.push(vec![("kpi", Cow::Owned(k.clone()))], Value::Float(*v));
        }
    }

    /// The labels of an SLA series ([`super::keys::sla_key`]).
    fn sla_labels(&self, k: u64) -> Labels {
        let (kind, policy, pr, id) = sla_unkey(k);
        let name = self
            .settings
            .policies
            .get(policy)
            .map_or("", |p| p.name.as_str());
        vec![
            ("sla", fixed(kind.as_str())),
            ("policy", Cow::Owned(name.to_string())),
            ("priority", fixed(pr.as_str())),
            ("queue", capped(&self.state.queues, id)),
        ]
    }

    /// The maintained SLA gauges (`support_sla_at_risk`,
    /// `support_sla_active_breaches`) as the engine holds them, before
    /// [`Engine::snapshot`] clamps them at zero: for property tests that
    /// must be able to see a count go negative.
    #[doc(hidden)]
    pub fn sla_gauges_unclamped(&self) -> Vec<(&'static str, Labels, i64)> {
        let m = &self.state.metrics;
        let at_risk = m
            .sla_at_risk
            .iter()
            .map(|(k, n)| (names::SLA_AT_RISK.name, *k, *n));
        let active = m
            .sla_active
            .iter()
            .map(|(k, n)| (names::SLA_ACTIVE_BREACHES.name, *k, *n));
        at_risk
            .chain(active)
            .map(|(name, k, n)| (name, self.sla_labels(k), n))
            .collect()
    }

    fn hist(&self, out: &mut Snapshot, h: &HistDef, labels: impl Fn(u32) -> Labels) {
        let bounds: Arc<[f64]> = self.settings.bounds[h.id as usize].clone();
        let mut f = out.family(h.metric);
        for (k, ph) in &self.state.metrics.hists[h.id as usize] {
            f.push(labels(*k), hist_value(&bounds, ph));
        }
    }

    /// The windows as mergeable data; the model renders them into families
    /// at encode time (after snapshots of several partitions are merged).
    fn windowed(&mut self, out: &mut Snapshot) {
        let settings = &self.settings;
        let (by_channel, by_queue) = (settings.window_by_channel, settings.window_by_queue);
        let queues = &self.state.queues;
        let aggs = self.state.windows.read();
        let mut windows = Vec::with_capacity(aggs.len());
        for (agg, wname) in aggs.iter().zip(&settings.window_names) {
            let mut durs = BTreeMap::new();
            for ((metric, key), d) in agg.series() {
                let dk = DurKey {
                    metric: metric.as_str(),
                    channel: by_channel
                        .then(|| Channel::ALL[(key.channel as usize).saturating_sub(1)].as_str()),
                    queue: by_queue.then(|| {
                        let i = (key.queue as usize).saturating_sub(1);
                        if i < queues.len() {
                            queues.value(i as LabelId)
                        } else {
                            Cow::Borrowed("unknown")
                        }
                    }),
                };
                durs.insert(dk, d.data());
            }
            windows.push(WindowData {
                name: wname.clone(),
                counts: agg.counts.0.to_vec(),
                durs,
            });
        }
        out.windows = Some(WindowSet {
            formula: settings.sl_formula,
            abandonment: settings.abandonment_formula,
            windows,
        });
    }

    /// frontline's own health: input counters, the clocks, state size.
    fn health(&self, out: &mut Snapshot, wall_ms: Option<i64>) {
        self.input_counters(out);
        self.clock_gauges(out, wall_ms);
        self.state_gauges(out);
    }

    /// What happened to the input: events by type, decode errors, dead
    /// letters, duplicates, late and out-of-order events.
    fn input_counters(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let mut f = out.family(names::EVENTS);
        for t in EventType::ALL {
            if m.events[t.index()] > 0 {
                f.push(
                    vec![("type", fixed(t.as_str()))],
                    Value::Int(m.events[t.index()]),
                );
            }
        }
        let mut f = out.family(names::DECODE_ERRORS);
        for (i, r) in REASONS.iter().enumerate() {
            if m.decode_errors[i] > 0 {
                f.push(vec![("reason", fixed(r))], Value::Int(m.decode_errors[i]));
            }
        }
        out.family(names::DEAD_LETTERS)
            .push(vec![], Value::Int(m.dead_letters));
        out.family(names::DUPLICATES)
            .push(vec![], Value::Int(m.duplicates));
        out.family(names::LATE).push(vec![], Value::Int(m.late));
        let mut f = out.family(names::OUT_OF_ORDER);
        for t in EventType::ALL {
            if m.out_of_order[t.index()] > 0 {
                f.push(
                    vec![("type", fixed(t.as_str()))],
                    Value::Int(m.out_of_order[t.index()]),
                );
            }
        }
    }

    /// The event clock, the watermark and (live) its lag behind the wall
    /// clock, once an event has been seen.
    fn clock_gauges(&self, out: &mut Snapshot, wall_ms: Option<i64>) {
        if let Some(clock) = self.state.clock {
            out.family(names::EVENT_CLOCK)
                .push(vec![], Value::Float(clock as f64 / 1000.0));
            let wm = self.watermark();
            out.progress = Some(Progress {
                clock_ms: clock,
                watermark_ms: wm,
            });
            out.family(names::WATERMARK)
                .push(vec![], Value::Float(wm as f64 / 1000.0));
            if let Some(wall) = wall_ms {
                out.family(names::WATERMARK_LAG)
                    .push(vec![], Value::Float((wall - wm) as f64 / 1000.0));
            }
        }
    }

    /// Entries held in state by kind, label overflow, build info.
    fn state_gauges(&self, out: &mut Snapshot) {
        let state = &self.state;
        let mut f = out.family(names::STATE_ENTRIES);
        for (kind, n) in [
            ("ticket", state.tickets.len()),
            ("call", state.calls.len()),
            ("agent", state.agents.len()),
            ("customer", state.customers.len()),
            ("held_event", state.held_count),
            ("dedup_id", state.dedup.len()),
            // General timers, and one per ticket or call with a live SLA timer.
            ("timer", state.timers.len() + state.sla_live),
            ("window_pane", state.windows.pane_count()),
        ] {
            f.push(vec![("kind", fixed(kind))], Value::Int(n as u64));
        }
        let mut f = out.family(names::LABEL_OVERFLOW);
        f.push(
            vec![("label", fixed("queue"))],
            Value::Int(state.queues.overflow),
        );
        // Label combinations moved to `queue="other"` by `labels.max_series`.
        f.push(
            vec![("label", fixed("series"))],
            Value::Int(state.metrics.budget.overflow),
        );
        f.push(
            vec![("label", fixed("agent"))],
            Value::Int(state.agent_labels.overflow),
        );
        out.family(names::BUILD_INFO).push(
            vec![("version", fixed(env!("CARGO_PKG_VERSION")))],
            Value::Int(1),
        );
    }
}

impl Engine {
    /// The per-agent families (empty unless `agents.per_agent_metrics`).
    fn per_agent_families(&self, out: &mut Snapshot) {
        let m = &self.state.metrics;
        let (queues, agents) = (&self.state.queues, &self.state.agent_labels);
        let labels = |agent: LabelId, id: LabelId| -> Labels {
            vec![
                ("agent", capped(agents, agent)),
                ("queue", capped(queues, id)),
            ]
        };
        for (family, name) in [
            (agent_count::HANDLED, names::AGENT_CONTACTS_HANDLED),
            (agent_count::FCR, names::AGENT_FCR),
            (agent_count::ESCALATIONS, names::AGENT_ESCALATIONS),
            (agent_count::CSAT, names::AGENT_CSAT),
        ] {
            let mut f = out.family(name);
            for (agent, id, score, n) in m.per_agent.counts(family) {
                let mut l = labels(agent, id);
                if family == agent_count::CSAT {
                    l.push(("score", Cow::Owned(score.to_string())));
                }
                f.push(l, Value::Int(n));
            }
        }
        // Sum and count only: a `+Inf` bucket and no other (docs/metrics.md).
        let no_bounds: Arc<[f64]> = Arc::from(Vec::new());
        for (family, name) in [
            (agent_sum::HANDLE, names::AGENT_HANDLE),
            (agent_sum::FIRST_RESPONSE, names::AGENT_FIRST_RESPONSE),
        ] {
            let mut f = out.family(name);
            for (agent, id, sum_ms, count) in m.per_agent.sums(family) {
                let h = HistValue {
                    bounds: no_bounds.clone(),
                    buckets: vec![count],
                    sum_ms: sum_ms as f64,
                    count,
                    exemplars: Vec::new(),
                };
                f.push(labels(agent, id), Value::Hist(Arc::new(h)));
            }
        }
        let mut f = out.family(names::AGENT_TIME_IN_STATUS);
        for &(agent, id, st, ms) in &self.shown_agent_time().per_agent {
            let mut l = labels(agent, id);
            l.push(("status", fixed(st.as_str())));
            f.push(l, Value::Millis(ms));
        }
    }
}

fn counter(out: &mut Snapshot, name: MetricDef, m: &KeyCounts, labels: impl Fn(u32) -> Labels) {
    let mut f = out.family(name);
    for (k, n) in m {
        f.push(labels(*k), Value::Int(*n));
    }
}

/// A histogram's value: the one its last snapshot published when nothing
/// was observed since ([`PromHist::published`]), else a new one.
fn hist_value(bounds: &Arc<[f64]>, h: &PromHist) -> Value {
    let v = h.published.get_or_init(|| {
        Arc::new(HistValue {
            bounds: bounds.clone(),
            buckets: h.buckets.clone(),
            sum_ms: h.sum_ms as f64,
            count: h.count,
            exemplars: h
                .exemplars
                .iter()
                .map(|e| {
                    e.as_ref().map(|e| ExemplarValue {
                        label: if e.call { "call_id" } else { "ticket_id" },
                        id: e.shared_id(),
                        value_ms: e.ms,
                        ts_ms: e.ts,
                    })
                })
                .collect(),
        })
    });
    Value::Hist(v.clone())
}
