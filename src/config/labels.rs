//! `[labels]`: cardinality caps (SPEC §5.3) and their validation.

use serde::Deserialize;

use super::{ConfigError, OneOrMany, SlaConfig, LABEL_VALUES};

/// Default `labels.max_series`: above the ~563 000 series the default caps
/// allow at most, so by default the caps alone (SPEC §5.3) decide the
/// labels (docs/metrics.md, "Series budget").
pub const DEFAULT_MAX_SERIES: usize = 1_000_000;

/// Cardinality caps (SPEC §5.3).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// Distinct `queue` values kept before the rest become `other`.
    pub max_queues: usize,
    /// Distinct `agent` values kept before the rest become `other`.
    pub max_agents: usize,
    /// When not empty, exactly these queues keep their own label.
    pub queue_allow_list: Vec<String>,
    /// When not empty, exactly these agents keep their own label.
    pub agent_allow_list: Vec<String>,
    /// Series the cumulative `support_*` families may hold in all; a new
    /// label combination past it is reported with `queue="other"`, unless
    /// its queue is named by an SLA policy or the allow-list.
    pub max_series: usize,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            max_queues: 200,
            max_agents: 500,
            queue_allow_list: Vec::new(),
            agent_allow_list: Vec::new(),
            max_series: DEFAULT_MAX_SERIES,
        }
    }
}

impl LabelConfig {
    /// Caps and allow lists within the label id space. Queues named by SLA
    /// policies always get an id, so they count against the queue list.
    pub(super) fn validate(&self, sla: &SlaConfig) -> Result<(), ConfigError> {
        for (key, max) in [
            ("labels.max_queues", self.max_queues),
            ("labels.max_agents", self.max_agents),
        ] {
            if !(1..=LABEL_VALUES).contains(&max) {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be between 1 and {LABEL_VALUES}"),
                ));
            }
        }
        let sla_queues: std::collections::BTreeSet<String> = sla
            .policies
            .iter()
            .filter_map(|p| p.matches.queue.as_ref())
            .flat_map(OneOrMany::values)
            .collect();
        for (key, list, reserved) in [
            (
                "labels.queue_allow_list",
                &self.queue_allow_list,
                &sla_queues,
            ),
            (
                "labels.agent_allow_list",
                &self.agent_allow_list,
                &Default::default(),
            ),
        ] {
            let mut distinct: std::collections::BTreeSet<&str> =
                list.iter().map(String::as_str).collect();
            distinct.extend(reserved.iter().map(String::as_str));
            if distinct.len() > LABEL_VALUES {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{} distinct values (with the queues SLA policies name) exceed the {LABEL_VALUES} a label can take",
                        distinct.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}
