//! Configuration: one TOML file, validated once, before anything is consumed.
//!
//! Every default the spec names is a key here. Unknown keys are errors, and
//! every error names the key (`windows.pane`) and the reason, so the CLI can
//! print one line and exit 2.
//!
//! What lives where:
//! - this file: [`Config`] (the whole file), [`ConfigError`] and the list
//!   limits shared by several sections;
//! - `duration.rs`: [`Dur`] (`30s`, `1h30m`) and [`DURATION_RANGES`], the
//!   accepted range of every duration key;
//! - `sections.rs`: the engine's sections (`[time]`, `[windows]`, `[kpi]`,
//!   `[histograms]`, `[cost]`, `[limits]`, `[state]`, `[agents]`);
//! - `labels.rs`: `[labels]`, the cardinality caps, and their validation;
//! - `sla.rs`: `[sla]` policies and calendars, and their validation;
//! - `kafka.rs`: `[kafka]` (librdkafka pass-through, secrets redacted),
//!   `[checkpoint]` and `[sla_events]`, the sections that name topics;
//! - `http.rs`: `[http]`;
//! - `load.rs`: reading the file and layering the environment, `--set` and
//!   the command line's own [`Flags`] over it;
//! - `validate.rs`: [`Config::validate`], one check per section.

use std::collections::BTreeMap;

use serde::Deserialize;

mod duration;
mod http;
mod kafka;
mod labels;
mod load;
mod overrides;
mod sections;
mod sla;
mod validate;

pub use duration::{Dur, DURATION_RANGES};
pub use http::HttpConfig;
pub use kafka::{
    is_secret_key, kafka_error_text, CheckpointConfig, KafkaConfig, SlaEventsConfig, CONSUMER_ONLY,
    NEWEST_CHECKPOINT_FORMAT, OLDEST_CHECKPOINT_FORMAT,
};
pub use labels::{LabelConfig, DEFAULT_MAX_SERIES};
pub use load::Flags;
pub use overrides::environment;
pub use sections::{
    AbandonmentFormula, AgentsConfig, CostConfig, HistogramConfig, KpiConfig, LimitsConfig,
    ServiceLevelFormula, StateConfig, TimeConfig, WindowConfig, WindowLabel, DEFAULT_BUCKETS,
};
pub use sla::{CalendarConfig, OneOrMany, PolicyMatch, SlaConfig, SlaPolicy};
pub use validate::topic_name;

/// A configuration that cannot be used: the key and why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// TOML syntax or a type mismatch, as reported by the parser.
    #[error("invalid config: {0}")]
    Parse(String),
    /// A value that parsed but is not acceptable.
    #[error("invalid config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Distinct values a free-string label (`queue`, `agent`) can take: label
/// ids are 16-bit, and `unknown` and `other` take two of them.
pub const LABEL_VALUES: usize = u16::MAX as usize + 1 - 2;

/// Most entries of the config's lists that grow series or per-event work:
/// SLA policies, calendars, `kpi_targets`, topics.
pub const MAX_LIST: usize = 100;

/// Largest `limits.max_event_bytes` (16 MiB).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Most holidays per calendar (ten years of dates).
pub const MAX_HOLIDAYS: usize = 3660;
/// Most opening ranges per calendar day.
pub const MAX_DAY_RANGES: usize = 96;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Event-time behaviour: lateness, idle clock, dedup memory.
    pub time: TimeConfig,
    /// Sliding event-time windows.
    pub windows: WindowConfig,
    /// KPI parameters (thresholds and horizons of SPEC §3).
    pub kpi: KpiConfig,
    /// Histogram bucket bounds per metric.
    pub histograms: HistogramConfig,
    /// Label cardinality caps.
    pub labels: LabelConfig,
    /// Cost per contact.
    pub cost: CostConfig,
    /// KPI targets exported as `support_kpi_target{kpi}`.
    pub kpi_targets: BTreeMap<String, f64>,
    /// Input limits.
    pub limits: LimitsConfig,
    /// State expiry.
    pub state: StateConfig,
    /// SLA policies and business calendars (SPEC §4).
    pub sla: SlaConfig,
    /// Kafka: `topic`, `dead_letter_topic`, and any librdkafka property.
    pub kafka: KafkaConfig,
    /// The HTTP server.
    pub http: HttpConfig,
    /// Partition state checkpointed to a compacted Kafka topic.
    pub checkpoint: CheckpointConfig,
    /// Agent state.
    pub agents: AgentsConfig,
    /// The SLA event stream (docs/sla.md).
    pub sla_events: SlaEventsConfig,
}

#[cfg(test)]
mod tests;
