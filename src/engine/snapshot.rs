//! Engine state → [`Snapshot`]: finished numbers, labelled, in SPEC order.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::sla::sla_unkey;
use super::state::{agent_count, agent_sum, agent_unkey, undims, KeyCounts, PromHist};
use super::window::{DurMetric, C};
use super::{Engine, HistId, LabelCap, LabelId};
use crate::config::ServiceLevelFormula;
use crate::decode::REASONS;
use crate::event::{AgentStatus, Channel, EventType, TicketStatus};
use crate::names::{self, Name};
use crate::snapshot::{
    DurKey, ExemplarValue, Family, HistValue, Kind, LabelValue, Labels, Snapshot, Value,
    WindowData, WindowSet,
};

/// Quantiles exported for window durations.
pub const QUANTILES: [(f64, &str); 4] =
    [(0.5, "0.5"), (0.9, "0.9"), (0.95, "0.95"), (0.99, "0.99")];

fn s(v: &'static str) -> LabelValue {
    Cow::Borrowed(v)
}

fn q(cap: &LabelCap, id: LabelId) -> LabelValue {
    Cow::Owned(cap.name(id).to_string())
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
        out.prune();
        out
    }

    fn cumulative(&self, out: &mut Snapshot) {
        let m = &self.st.metrics;
        let cap = &self.st.queues;
        let cpq = |k: u32| -> Labels {
            let (ch, pr, id) = undims(k);
            vec![
                ("channel", s(ch.as_str())),
                ("priority", s(pr.as_str())),
                ("queue", q(cap, id)),
            ]
        };
        let cq = |k: u32| -> Labels {
            let (ch, _, id) = undims(k);
            vec![("channel", s(ch.as_str())), ("queue", q(cap, id))]
        };
        let qo = |k: u32| -> Labels { vec![("queue", q(cap, k as LabelId))] };

        counter(out, names::TICKETS_CREATED, &m.tickets_created, cpq);
        counter(out, names::TICKETS_RESOLVED, &m.tickets_resolved, cpq);
        counter(out, names::TICKETS_REOPENED, &m.tickets_reopened, cpq);
        counter(out, names::ESCALATIONS, &m.escalations, cpq);
        counter(out, names::FCR, &m.fcr, cpq);
        counter(out, names::CONTACTS, &m.contacts, cq);
        counter(out, names::REPEAT_CONTACTS, &m.repeats, cq);
        self.hist(out, names::FIRST_RESPONSE, HistId::FirstResponse, cpq);
        self.hist(out, names::REPLY, HistId::Reply, cpq);
        self.hist(out, names::RESOLUTION, HistId::Resolution, cpq);
        self.hist(out, names::FULL_RESOLUTION, HistId::FullResolution, cpq);
        self.hist(out, names::HANDLE, HistId::Handle, cq);
        self.hist(out, names::HOLD, HistId::Hold, qo);
        counter(out, names::CALLS_OFFERED, &m.calls_offered, qo);
        counter(out, names::CALLS_ANSWERED, &m.calls_answered, qo);
        counter(out, names::CALLS_WITHIN, &m.calls_within, qo);
        counter(out, names::CALLS_ABANDONED, &m.calls_abandoned, qo);
        counter(out, names::CALLS_SHORT_ABANDONED, &m.calls_short, qo);
        self.hist(out, names::ANSWER_WAIT, HistId::AnswerWait, qo);
        self.hist(out, names::ABANDON_WAIT, HistId::AbandonWait, qo);
        self.hist(
            out,
            names::FIRST_RESPONSE_BUSINESS,
            HistId::FirstResponseBusiness,
            cpq,
        );
        self.hist(out, names::REPLY_BUSINESS, HistId::ReplyBusiness, cpq);
        self.hist(
            out,
            names::RESOLUTION_BUSINESS,
            HistId::ResolutionBusiness,
            cpq,
        );

        let status_queue = |k: u32| -> Labels {
            let st = AgentStatus::ALL[(k >> 16) as usize % AgentStatus::ALL.len()];
            vec![
                ("status", s(st.as_str())),
                ("queue", q(cap, (k & 0xffff) as LabelId)),
            ]
        };
        let mut f = out.family(names::AGENT_STATUS_SECONDS, Kind::Counter);
        for (k, ms) in &m.agent_status_ms {
            f.push(status_queue(*k), Value::Millis(*ms));
        }
        let mut f = out.family(names::CSAT, Kind::Counter);
        for (k, n) in &m.csat {
            let mut l = vec![("score", Cow::Owned((k >> 20 & 0xf).to_string()))];
            l.extend(cq(k & !(0xf << 20)));
            f.push(l, Value::Int(*n));
        }
        self.per_agent_families(out);
        let mut f = out.family(names::NPS, Kind::Counter);
        for (i, cat) in ["promoter", "passive", "detractor"].iter().enumerate() {
            if m.nps[i] > 0 {
                f.push(vec![("category", s(cat))], Value::Int(m.nps[i]));
            }
        }
        let mut f = out.family(names::CES, Kind::Counter);
        for (i, n) in m.ces.iter().enumerate() {
            if *n > 0 {
                f.push(
                    vec![("score", Cow::Owned((i + 1).to_string()))],
                    Value::Int(*n),
                );
            }
        }
        let mut f = out.family(names::HANDLE_COST, Kind::Counter);
        for (k, v) in &m.handle_cost {
            f.push(cq(*k), Value::Float(*v));
        }
        let sla_labels = |k: u64| -> Labels {
            let (kind, policy, pr, id) = sla_unkey(k);
            let name = self.s.policies.get(policy).map_or("", |p| p.name.as_str());
            vec![
                ("sla", s(kind.as_str())),
                ("policy", Cow::Owned(name.to_string())),
                ("priority", s(pr.as_str())),
                ("queue", q(cap, id)),
            ]
        };
        let mut f = out.family(names::SLA_ACHIEVED, Kind::Counter);
        for (k, n) in &m.sla_achieved {
            f.push(sla_labels(*k), Value::Int(*n));
        }
        let mut f = out.family(names::SLA_BREACHES, Kind::Counter);
        for (k, n) in &m.sla_breaches {
            f.push(sla_labels(*k), Value::Int(*n));
        }
        let mut f = out.family(names::CUSTOMERS_CHURNED, Kind::Counter);
        if m.churned > 0 {
            f.push(vec![], Value::Int(m.churned));
        }
        let mut f = out.family(names::CUSTOMERS_ACTIVE, Kind::Gauge);
        if m.active_customers > 0 || m.churned > 0 {
            f.push(vec![], Value::Int(m.active_customers.max(0) as u64));
        }

        let mut f = out.family(names::TICKETS_OPEN, Kind::Gauge);
        for (k, n) in &m.tickets_open {
            let (_, pr, id) = undims(*k);
            let st = TicketStatus::ALL[(k >> 24) as usize % TicketStatus::ALL.len()];
            f.push(
                vec![
                    ("status", s(st.as_str())),
                    ("priority", s(pr.as_str())),
                    ("queue", q(cap, id)),
                ],
                Value::Int((*n).max(0) as u64),
            );
        }
        let clock = self.st.clock.unwrap_or(0);
        let mut f = out.family(names::CALLS_IN_QUEUE, Kind::Gauge);
        for (k, w) in &m.waiting {
            f.push(qo(*k), Value::Int(w.values().map(|n| *n as u64).sum()));
        }
        let mut f = out.family(names::OLDEST_CALL_WAIT, Kind::Gauge);
        for (k, w) in &m.waiting {
            let age = w.keys().next().map_or(0, |t| (clock - t).max(0));
            f.push(qo(*k), Value::Float(age as f64 / 1000.0));
        }
        let mut f = out.family(names::AGENTS, Kind::Gauge);
        for (k, n) in &m.agents {
            f.push(status_queue(*k), Value::Int((*n).max(0) as u64));
        }
        let mut f = out.family(names::SLA_AT_RISK, Kind::Gauge);
        for (k, n) in &m.sla_at_risk {
            f.push(sla_labels(*k), Value::Int((*n).max(0) as u64));
        }
        let mut f = out.family(names::SLA_ACTIVE_BREACHES, Kind::Gauge);
        for (k, n) in &m.sla_active {
            f.push(sla_labels(*k), Value::Int((*n).max(0) as u64));
        }
        let mut f = out.family(names::KPI_TARGET, Kind::Gauge);
        for (k, v) in &self.s.kpi_targets {
            f.push(vec![("kpi", Cow::Owned(k.clone()))], Value::Float(*v));
        }
    }

    fn hist(&self, out: &mut Snapshot, name: Name, h: HistId, labels: impl Fn(u32) -> Labels) {
        let bounds: Arc<[f64]> = self.s.bounds[h as usize].clone();
        let mut f = out.family(name, Kind::Histogram);
        for (k, ph) in &self.st.metrics.hists[h as usize] {
            f.push(labels(*k), hist_value(&bounds, ph));
        }
    }

    /// The windows as mergeable data; rendered into families at encode time
    /// (after snapshots of several partitions are merged).
    fn windowed(&mut self, out: &mut Snapshot) {
        let names_: Vec<String> = self.s.window_names.clone();
        let by_channel = self.s.window_by_channel;
        let by_queue = self.s.window_by_queue;
        let queue_names: Vec<String> = (0..self.st.queues.len())
            .map(|i| self.st.queues.name(i as LabelId).to_string())
            .collect();
        let aggs = self.st.windows.read();
        let mut windows = Vec::with_capacity(aggs.len());
        for (agg, wname) in aggs.iter().zip(&names_) {
            let mut durs = BTreeMap::new();
            for ((metric, key), d) in &agg.durs {
                let dk = DurKey {
                    metric: metric.as_str(),
                    channel: by_channel
                        .then(|| Channel::ALL[(key.channel as usize).saturating_sub(1)].as_str()),
                    queue: by_queue.then(|| {
                        queue_names
                            .get((key.queue as usize).saturating_sub(1))
                            .cloned()
                            .unwrap_or_else(|| "unknown".into())
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
            formula: self.s.sl_formula,
            windows,
            render: render_windows,
        });
    }

    fn health(&self, out: &mut Snapshot, wall_ms: Option<i64>) {
        let m = &self.st.metrics;
        let mut f = out.family(names::EVENTS, Kind::Counter);
        for t in EventType::ALL {
            if m.events[t.index()] > 0 {
                f.push(
                    vec![("type", s(t.as_str()))],
                    Value::Int(m.events[t.index()]),
                );
            }
        }
        let mut f = out.family(names::DECODE_ERRORS, Kind::Counter);
        for (i, r) in REASONS.iter().enumerate() {
            if m.decode_errors[i] > 0 {
                f.push(vec![("reason", s(r))], Value::Int(m.decode_errors[i]));
            }
        }
        out.family(names::DEAD_LETTERS, Kind::Counter)
            .push(vec![], Value::Int(m.dead_letters));
        out.family(names::DUPLICATES, Kind::Counter)
            .push(vec![], Value::Int(m.duplicates));
        out.family(names::LATE, Kind::Counter)
            .push(vec![], Value::Int(m.late));
        let mut f = out.family(names::OUT_OF_ORDER, Kind::Counter);
        for t in EventType::ALL {
            if m.out_of_order[t.index()] > 0 {
                f.push(
                    vec![("type", s(t.as_str()))],
                    Value::Int(m.out_of_order[t.index()]),
                );
            }
        }
        if let Some(clock) = self.st.clock {
            out.family(names::EVENT_CLOCK, Kind::Gauge)
                .push(vec![], Value::Float(clock as f64 / 1000.0));
            let wm = self.watermark();
            out.family(names::WATERMARK, Kind::Gauge)
                .push(vec![], Value::Float(wm as f64 / 1000.0));
            if let Some(wall) = wall_ms {
                out.family(names::WATERMARK_LAG, Kind::Gauge)
                    .push(vec![], Value::Float((wall - wm) as f64 / 1000.0));
            }
        }
        let st = &self.st;
        let mut f = out.family(names::STATE_ENTRIES, Kind::Gauge);
        for (kind, n) in [
            ("ticket", st.tickets.len()),
            ("call", st.calls.len()),
            ("agent", st.agents.len()),
            ("customer", st.customers.len()),
            ("held_event", st.held_count),
            ("dedup_id", st.dedup.len()),
            // General timers, and one per ticket or call with a live SLA timer.
            ("timer", st.timers.len() + st.sla_live),
            ("window_pane", st.windows.pane_count()),
        ] {
            f.push(vec![("kind", s(kind))], Value::Int(n as u64));
        }
        let mut f = out.family(names::LABEL_OVERFLOW, Kind::Counter);
        f.push(vec![("label", s("queue"))], Value::Int(st.queues.overflow));
        // Label combinations moved to `queue="other"` by `labels.max_series`.
        f.push(
            vec![("label", s("series"))],
            Value::Int(st.metrics.budget.overflow),
        );
        f.push(
            vec![("label", s("agent"))],
            Value::Int(st.agent_labels.overflow),
        );
        out.family(names::BUILD_INFO, Kind::Gauge).push(
            vec![("version", s(env!("CARGO_PKG_VERSION")))],
            Value::Int(1),
        );
    }
}

impl Engine {
    /// The per-agent families (empty unless `agents.per_agent_metrics`).
    fn per_agent_families(&self, out: &mut Snapshot) {
        let m = &self.st.metrics;
        let (queues, agents) = (&self.st.queues, &self.st.agent_labels);
        let labels = |agent: LabelId, id: LabelId| -> Labels {
            vec![("agent", q(agents, agent)), ("queue", q(queues, id))]
        };
        for (family, name) in [
            (agent_count::HANDLED, names::AGENT_CONTACTS_HANDLED),
            (agent_count::FCR, names::AGENT_FCR),
            (agent_count::ESCALATIONS, names::AGENT_ESCALATIONS),
            (agent_count::CSAT, names::AGENT_CSAT),
        ] {
            let mut f = out.family(name, Kind::Counter);
            for (k, n) in &m.agent_counts {
                let (fam, score, agent, id) = agent_unkey(*k);
                if fam != family {
                    continue;
                }
                let mut l = labels(agent, id);
                if family == agent_count::CSAT {
                    l.push(("score", Cow::Owned(score.to_string())));
                }
                f.push(l, Value::Int(*n));
            }
        }
        // Sum and count only: a `+Inf` bucket and no other (docs/metrics.md).
        let no_bounds: Arc<[f64]> = Arc::from(Vec::new());
        for (family, name) in [
            (agent_sum::HANDLE, names::AGENT_HANDLE),
            (agent_sum::FIRST_RESPONSE, names::AGENT_FIRST_RESPONSE),
        ] {
            let mut f = out.family(name, Kind::Histogram);
            for (k, (sum_ms, count)) in &m.agent_sums {
                let (fam, _, agent, id) = agent_unkey(*k);
                if fam != family {
                    continue;
                }
                let h = HistValue {
                    bounds: no_bounds.clone(),
                    buckets: vec![*count],
                    sum_ms: *sum_ms,
                    count: *count,
                    exemplars: Vec::new(),
                };
                f.push(labels(agent, id), Value::Hist(h));
            }
        }
        let mut f = out.family(names::AGENT_TIME_IN_STATUS, Kind::Counter);
        for (k, ms) in &m.agent_time_ms {
            let (_, status, agent, id) = agent_unkey(*k);
            let st = AgentStatus::ALL[status as usize % AgentStatus::ALL.len()];
            let mut l = labels(agent, id);
            l.push(("status", s(st.as_str())));
            f.push(l, Value::Millis(*ms));
        }
    }
}

fn counter(out: &mut Snapshot, name: Name, m: &KeyCounts, labels: impl Fn(u32) -> Labels) {
    let mut f = out.family(name, Kind::Counter);
    for (k, n) in m {
        f.push(labels(*k), Value::Int(*n));
    }
}

fn hist_value(bounds: &Arc<[f64]>, h: &PromHist) -> Value {
    Value::Hist(HistValue {
        bounds: bounds.clone(),
        buckets: h.buckets.clone(),
        sum_ms: h.sum_ms,
        count: h.count,
        exemplars: h
            .exemplars
            .iter()
            .map(|e| {
                e.as_ref().map(|e| ExemplarValue {
                    label: if e.call { "call_id" } else { "ticket_id" },
                    id: e.id.to_string(),
                    value_ms: e.ms,
                    ts_ms: e.ts,
                })
            })
            .collect(),
    })
}

/// Window data → the `support_window_*` families (SPEC §5.2).
fn render_windows(set: &WindowSet) -> Vec<Family> {
    let sl_formula = set.formula;
    let mut out = Snapshot::default();

    let mut quant = Vec::new();
    let mut mean = Vec::new();
    let mut ratio = Vec::new();
    let mut nps = Vec::new();
    let mut ces = Vec::new();
    let mut events = Vec::new();
    for win in &set.windows {
        let w = || Cow::Owned(win.name.clone());
        // Durations: quantiles per key; mean and count per metric.
        let mut totals: FxHashMap<&'static str, (i64, u64)> = FxHashMap::default();
        for (key, d) in &win.durs {
            if d.count == 0 {
                continue;
            }
            let t = totals.entry(key.metric).or_default();
            t.0 += d.sum_ms;
            t.1 += d.count;
            for (qv, qs) in QUANTILES {
                let mut l: Labels = vec![
                    ("metric", s(key.metric)),
                    ("window", w()),
                    ("quantile", s(qs)),
                ];
                if let Some(ch) = key.channel {
                    l.push(("channel", s(ch)));
                }
                if let Some(q) = &key.queue {
                    l.push(("queue", Cow::Owned(q.clone())));
                }
                quant.push((l, Value::Float(d.quantile(qv) as f64)));
            }
        }
        for m in DurMetric::ALL {
            if let Some((sum, n)) = totals.get(m.as_str()).filter(|t| t.1 > 0) {
                let l = || vec![("metric", s(m.as_str())), ("window", w())];
                mean.push((l(), Value::Float(*sum as f64 / 1000.0 / *n as f64)));
                events.push((l(), Value::Int(*n)));
            }
        }
        let c = |k: C| win.counts.get(k as usize).copied().unwrap_or(0);
        let kept_abandons = c(C::Abandoned) - c(C::ShortAbandoned);
        let offered_sl = c(C::Answered) + kept_abandons;
        let left_queue = c(C::Answered) + c(C::Abandoned);
        let (sl_num, sl_den) = match sl_formula {
            ServiceLevelFormula::Default => (c(C::AnsweredWithin), offered_sl),
            ServiceLevelFormula::AmazonConnect => {
                (c(C::AnsweredWithin) + c(C::AbandonedWithin), left_queue)
            }
            ServiceLevelFormula::Genesys => (c(C::AnsweredWithin), left_queue),
            ServiceLevelFormula::TwilioFlex => {
                (c(C::AnsweredWithin) + c(C::ShortAbandoned), left_queue)
            }
        };
        let sla_ratio = |met: C, breached: C| (c(met), c(met) + c(breached));
        let (fr_met, fr_all) = sla_ratio(C::SlaFirstResponseMet, C::SlaFirstResponseBreached);
        let (res_met, res_all) = sla_ratio(C::SlaResolutionMet, C::SlaResolutionBreached);
        let ratios: [(&'static str, i64, i64); 11] = [
            (
                "first_contact_resolution",
                c(C::Fcr),
                c(C::ResolvedContacts),
            ),
            ("escalation", c(C::Escalations), c(C::Contacts)),
            ("reopen", c(C::Reopens), c(C::FirstResolutions)),
            ("resolution", c(C::FirstResolutions), c(C::TicketsCreated)),
            ("repeat_contact", c(C::Repeats), c(C::Contacts)),
            ("abandonment", kept_abandons, offered_sl),
            ("service_level", sl_num, sl_den),
            ("csat", c(C::CsatPositive), c(C::CsatResponses)),
            ("sla_first_response", fr_met, fr_all),
            ("sla_resolution", res_met, res_all),
            (
                "utilization",
                c(C::AgentBusyMs) + c(C::AgentAcwMs),
                c(C::AgentAvailableMs) + c(C::AgentBusyMs) + c(C::AgentAcwMs),
            ),
        ];
        for (kpi, num, den) in ratios {
            if den > 0 {
                let r = (num as f64 / den as f64).clamp(0.0, 1.0);
                ratio.push((vec![("kpi", s(kpi)), ("window", w())], Value::Float(r)));
                let n = if kpi == "utilization" {
                    Value::Float(den as f64 / 1000.0)
                } else {
                    Value::Int(den as u64)
                };
                // `resolution` is also a duration metric; its ratio's count is named apart.
                let metric = if kpi == "resolution" {
                    "resolution_rate"
                } else {
                    kpi
                };
                events.push((vec![("metric", s(metric)), ("window", w())], n));
            }
        }
        let (p, pa, d) = (c(C::NpsPromoters), c(C::NpsPassives), c(C::NpsDetractors));
        let n = p + pa + d;
        if n > 0 {
            nps.push((
                vec![("window", w())],
                Value::Float(100.0 * (p - d) as f64 / n as f64),
            ));
            events.push((
                vec![("metric", s("nps")), ("window", w())],
                Value::Int(n as u64),
            ));
        }
        let n = c(C::CesCount);
        if n > 0 {
            ces.push((
                vec![("window", w())],
                Value::Float(c(C::CesSum) as f64 / n as f64),
            ));
            events.push((
                vec![("metric", s("ces")), ("window", w())],
                Value::Int(n as u64),
            ));
        }
    }
    let ratio_help = format!(
        "{} service_level: {} ({}).",
        names::WINDOW_RATIO.1,
        sl_formula.definition(),
        sl_formula.as_str()
    );
    for (name, series) in [
        (names::WINDOW_SECONDS, quant),
        (names::WINDOW_MEAN, mean),
        (names::WINDOW_RATIO, ratio),
        (names::WINDOW_NPS, nps),
        (names::WINDOW_CES, ces),
        (names::WINDOW_EVENTS, events),
    ] {
        let mut f = out.family(name, Kind::Gauge);
        for (l, v) in series {
            f.push(l, v);
        }
        if name == names::WINDOW_RATIO {
            if let Some(fam) = out.families.last_mut() {
                fam.help = Cow::Owned(ratio_help.clone());
            }
        }
    }
    out.family(names::KPI_FORMULA_INFO, Kind::Gauge).push(
        vec![
            ("kpi", s("service_level")),
            ("formula", s(sl_formula.as_str())),
        ],
        Value::Int(1),
    );
    out.prune();
    out.families
}
