//! Settings derived from the config: what the engine reads on every event
//! but never checkpoints.

use std::sync::Arc;

use super::sla::Policies;
use super::{HistId, LabelCap, NHIST};
use crate::config::{AbandonmentFormula, Config, ServiceLevelFormula, WindowLabel};

/// Settings derived from the config, not part of the checkpointed state.
#[derive(Clone, Debug)]
pub struct Settings {
    pub(super) lateness: i64,
    pub(super) dedup_horizon: i64,
    pub(super) repeat_window: i64,
    pub(super) short_abandon: i64,
    pub(super) sl_threshold: i64,
    pub(super) acw_timeout: i64,
    pub(super) cost_per_hour: f64,
    pub(super) bounds: [Arc<[f64]>; NHIST],
    pub(super) window_names: Vec<String>,
    pub(super) window_sizes: Vec<i64>,
    pub(super) pane: i64,
    pub(super) window_by_channel: bool,
    pub(super) window_by_queue: bool,
    pub(super) kpi_targets: Vec<(String, f64)>,
    pub(super) resolved_ticket_ttl: i64,
    pub(super) idle_ticket_ttl: i64,
    pub(super) finished_call_ttl: i64,
    pub(super) idle_call_ttl: i64,
    pub(super) sweep_every: i64,
    /// Tickets, customers and agents live for days: swept less often than calls.
    pub(super) slow_sweep_every: i64,
    pub(super) max_held: usize,
    pub(super) max_label_sets: usize,
    pub(super) max_future_skew: i64,
    pub(super) max_event_age: i64,
    pub(super) agent_idle: i64,
    pub(super) max_agents: usize,
    pub(super) agent_allow: Vec<String>,
    pub(super) policies: Policies,
    pub(super) sl_formula: ServiceLevelFormula,
    pub(super) abandonment_formula: AbandonmentFormula,
    /// `agents.per_agent_metrics`.
    pub(super) per_agent: bool,
    /// Whether SLA state changes are recorded for the driver
    /// ([`Engine::record_sla_events`]).
    pub(super) record_sla_events: bool,
}

impl Settings {
    /// Derives engine settings from a validated config; SLA policies are
    /// compiled against (and reserve their queues in) `queues`.
    pub fn from_config(c: &Config, queues: &mut LabelCap) -> Settings {
        // Config::validate compiled these already; a config built by hand
        // must be validated first.
        let policies = Policies::compile(c, queues)
            .unwrap_or_else(|e| panic!("engine config must be validated first: {e}"));
        let targets = policies.target_bounds();
        let hist = |h: HistId| -> Arc<[f64]> {
            let mut b = c.histograms.bounds(h.key());
            if let Some(t) = targets.get(h.key()) {
                b.extend(t);
                b.sort_by(f64::total_cmp);
                b.dedup();
            }
            b.into()
        };
        Settings {
            lateness: c.time.allowed_lateness.ms(),
            dedup_horizon: c.time.dedup_horizon.ms(),
            repeat_window: c.kpi.repeat_window.ms(),
            short_abandon: c.kpi.short_abandon.ms(),
            sl_threshold: c.kpi.service_level_threshold.ms(),
            acw_timeout: c.kpi.acw_timeout.ms(),
            cost_per_hour: c.cost.per_agent_hour,
            bounds: HistId::ALL.map(hist),
            window_names: c.windows.sizes.iter().map(|d| d.to_string()).collect(),
            window_sizes: c.windows.sizes.iter().map(|d| d.ms()).collect(),
            pane: c.windows.pane.ms(),
            window_by_channel: c.windows.labels.contains(&WindowLabel::Channel),
            window_by_queue: c.windows.labels.contains(&WindowLabel::Queue),
            kpi_targets: c.kpi_targets.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            resolved_ticket_ttl: c.state.resolved_ticket_ttl.ms(),
            idle_ticket_ttl: c.state.idle_ticket_ttl.ms(),
            finished_call_ttl: c.state.finished_call_ttl.ms(),
            idle_call_ttl: c.state.idle_call_ttl.ms(),
            sweep_every: (c.state.finished_call_ttl.ms() / 4).clamp(10_000, 3_600_000),
            slow_sweep_every: (c
                .state
                .resolved_ticket_ttl
                .ms()
                .min(c.kpi.repeat_window.ms())
                / 24)
                .clamp(60_000, 6 * 3_600_000),
            max_held: c.limits.max_held_events,
            max_label_sets: c.windows.max_label_sets,
            max_future_skew: c.time.max_future_skew.ms(),
            max_event_age: c.time.max_event_age.ms(),
            agent_idle: c.agents.idle_timeout.ms(),
            max_agents: c.labels.max_agents,
            agent_allow: c.labels.agent_allow_list.clone(),
            policies,
            sl_formula: c.kpi.service_level_formula,
            abandonment_formula: c.kpi.abandonment_formula,
            per_agent: c.agents.per_agent_metrics,
            record_sla_events: false,
        }
    }
}
