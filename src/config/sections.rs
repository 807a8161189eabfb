//! The engine's sections: `[time]`, `[windows]`, `[kpi]`, `[histograms]`,
//! `[cost]`, `[limits]`, `[state]` and `[agents]` (their checks are in
//! `validate.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Dur;

/// Event-time settings (SPEC §2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    /// How far behind the event clock the watermark runs.
    pub allowed_lateness: Dur,
    /// Wall time without events after which the event clock follows wall time (live only).
    pub idle_timeout: Dur,
    /// How long (event time) an `event_id` is remembered for duplicate detection.
    pub dedup_horizon: Dur,
    /// An event dated more than this ahead of wall-clock time is rejected (`future_timestamp`).
    pub max_future_skew: Dur,
    /// An event dated more than this behind its partition's event clock is rejected (`too_old`).
    pub max_event_age: Dur,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            allowed_lateness: Dur::secs(600),
            idle_timeout: Dur::secs(30),
            dedup_horizon: Dur::secs(3600),
            max_future_skew: Dur::secs(300),
            max_event_age: Dur::secs(7 * 86_400),
        }
    }
}

/// Optional extra labels on `support_window_seconds`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WindowLabel {
    /// Split window quantiles by channel.
    Channel,
    /// Split window quantiles by queue.
    Queue,
}

/// Sliding windows (SPEC §5.2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Window lengths, each a multiple of `pane`.
    pub sizes: Vec<Dur>,
    /// The step by which windows slide.
    pub pane: Dur,
    /// Extra labels for `support_window_seconds` (`channel`, `queue`).
    pub labels: Vec<WindowLabel>,
    /// Distinct (channel, queue) label sets that get their own window
    /// quantiles; later ones share the set with `queue="other"`. Bounds
    /// window memory (docs/metrics.md).
    pub max_label_sets: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            sizes: vec![Dur::secs(300), Dur::secs(3600), Dur::secs(86_400)],
            pane: Dur::secs(10),
            labels: Vec::new(),
            max_label_sets: 64,
        }
    }
}

/// Which vendor's service-level formula to use (SPEC §3, §7).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevelFormula {
    /// answered ≤ threshold / (answered + abandoned − short abandons).
    #[default]
    Default,
    /// (answered ≤ threshold + abandoned ≤ threshold) / (answered + abandoned).
    AmazonConnect,
    /// answered ≤ threshold / (answered + abandoned), short abandons kept.
    Genesys,
    /// (answered ≤ threshold + short abandons) / (answered + abandoned).
    TwilioFlex,
}

impl ServiceLevelFormula {
    /// The `formula` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceLevelFormula::Default => "default",
            ServiceLevelFormula::AmazonConnect => "amazon_connect",
            ServiceLevelFormula::Genesys => "genesys",
            ServiceLevelFormula::TwilioFlex => "twilio_flex",
        }
    }

    /// The formula in words, for HELP texts.
    pub fn definition(self) -> &'static str {
        match self {
            ServiceLevelFormula::Default => {
                "answered within threshold / (answered + abandoned - short abandons)"
            }
            ServiceLevelFormula::AmazonConnect => {
                "(answered within threshold + abandoned within threshold) / (answered + abandoned)"
            }
            ServiceLevelFormula::Genesys => "answered within threshold / (answered + abandoned)",
            ServiceLevelFormula::TwilioFlex => {
                "(answered within threshold + short abandons) / (answered + abandoned)"
            }
        }
    }
}

/// Which vendor's abandonment-rate formula to use (SPEC §3, §7). The three
/// platforms agree: every abandon, short ones included, over every call
/// that left the queue; SPEC's default leaves short abandons out of both.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbandonmentFormula {
    /// (abandoned − short abandons) / (answered + abandoned − short abandons).
    #[default]
    Default,
    /// Contacts abandoned / contacts queued.
    AmazonConnect,
    /// Abandoned / offered (Abandon %).
    Genesys,
    /// Abandoned conversations / conversations including abandoned.
    TwilioFlex,
}

impl AbandonmentFormula {
    /// The `formula` label.
    pub fn as_str(self) -> &'static str {
        match self {
            AbandonmentFormula::Default => "default",
            AbandonmentFormula::AmazonConnect => "amazon_connect",
            AbandonmentFormula::Genesys => "genesys",
            AbandonmentFormula::TwilioFlex => "twilio_flex",
        }
    }

    /// Whether short abandons count (in both terms).
    pub fn keeps_short_abandons(self) -> bool {
        self != AbandonmentFormula::Default
    }

    /// The formula in words, for HELP texts.
    pub fn definition(self) -> &'static str {
        if self.keeps_short_abandons() {
            "abandoned / (answered + abandoned)"
        } else {
            "(abandoned - short abandons) / (answered + abandoned - short abandons)"
        }
    }
}

/// KPI parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KpiConfig {
    /// A contact of the same customer within this time before is a repeat.
    pub repeat_window: Dur,
    /// Abandons that waited less than this are short abandons.
    pub short_abandon: Dur,
    /// Answers within this wait are within the service level.
    pub service_level_threshold: Dur,
    /// After-call work that has not ended after this long is closed at 0.
    pub acw_timeout: Dur,
    /// Service-level formula.
    pub service_level_formula: ServiceLevelFormula,
    /// Abandonment-rate formula.
    pub abandonment_formula: AbandonmentFormula,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            repeat_window: Dur::secs(7 * 86_400),
            short_abandon: Dur::secs(5),
            service_level_threshold: Dur::secs(20),
            acw_timeout: Dur::secs(600),
            service_level_formula: ServiceLevelFormula::Default,
            abandonment_formula: AbandonmentFormula::Default,
        }
    }
}

/// Default bucket bounds in seconds: support work from seconds to a week,
/// with a bound at each common SLA target.
pub const DEFAULT_BUCKETS: [f64; 20] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0, 43200.0, 86400.0, 172800.0, 259200.0, 604800.0,
];

/// Histogram settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// Bucket upper bounds (seconds) per metric, e.g. `first_response = [60, 3600]`;
    /// `default` applies to every metric without its own list.
    pub buckets: BTreeMap<String, Vec<f64>>,
}

impl HistogramConfig {
    /// The bounds for one histogram key, sorted and without duplicates.
    pub fn bounds(&self, key: &str) -> Vec<f64> {
        let mut b = self
            .buckets
            .get(key)
            .or_else(|| self.buckets.get("default"))
            .cloned()
            .unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
        b.sort_by(f64::total_cmp);
        b.dedup();
        b
    }
}

/// Cost per contact.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Cost of one agent hour in currency units; 0 disables `support_handle_cost_total`.
    pub per_agent_hour: f64,
}

/// Input limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Messages larger than this are decode errors (`too_large`).
    pub max_event_bytes: usize,
    /// Early arrivals (events before their ticket's or call's opening
    /// event) held per partition; past it they are counted out of order.
    pub max_held_events: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_event_bytes: 64 * 1024,
            max_held_events: 100_000,
        }
    }
}

/// State expiry, on the event clock.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// A resolved ticket is kept this long after its last event (reopens, survey labels).
    pub resolved_ticket_ttl: Dur,
    /// Any ticket without an event for this long is dropped.
    pub idle_ticket_ttl: Dur,
    /// A finished call is kept this long (survey labels).
    pub finished_call_ttl: Dur,
    /// A call without an event for this long is dropped.
    pub idle_call_ttl: Dur,
    /// Tickets each partition's engine has room for from the start (0:
    /// starts small, and grows as needed).
    pub reserve_tickets: usize,
    /// Calls each partition's engine has room for from the start.
    pub reserve_calls: usize,
    /// Customers each partition's engine has room for from the start.
    pub reserve_customers: usize,
    /// Event ids each partition's dedup memory has room for from the start.
    pub reserve_event_ids: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            resolved_ticket_ttl: Dur::secs(7 * 86_400),
            idle_ticket_ttl: Dur::secs(90 * 86_400),
            finished_call_ttl: Dur::secs(3600),
            idle_call_ttl: Dur::secs(86_400),
            reserve_tickets: 0,
            reserve_calls: 0,
            reserve_customers: 0,
            reserve_event_ids: 0,
        }
    }
}

/// Agent state (SPEC §1.4).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// An agent with no `agent.status_changed` for this long is taken as
    /// offline from then on: its status time stops and it leaves `support_agents`.
    pub idle_timeout: Dur,
    /// Exports the per-agent performance families (`support_agent_*` with
    /// an `agent` label, SPEC §3), capped by `labels.max_agents`.
    pub per_agent_metrics: bool,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            idle_timeout: Dur::secs(12 * 3600),
            per_agent_metrics: false,
        }
    }
}
