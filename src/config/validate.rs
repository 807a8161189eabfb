//! [`Config::validate`]: every value and cross-field rule, one check per
//! section, each error naming its key.

use super::duration::duration_in_range;
use super::kafka::{NEWEST_CHECKPOINT_FORMAT, OLDEST_CHECKPOINT_FORMAT};
use super::{Config, ConfigError, Dur, MAX_EVENT_BYTES, MAX_LIST};

/// The most `state.reserve_*` may ask of each partition: past it a value
/// is a typo (at 100 M tickets a partition's table is 8 GiB).
const MAX_RESERVE: usize = 100_000_000;

impl Config {
    /// Checks every value and cross-field rule, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_time()?;
        duration_in_range(
            "agents.idle_timeout",
            "agents.idle_timeout",
            self.agents.idle_timeout,
        )?;
        self.validate_windows()?;
        self.validate_kpi()?;
        self.validate_checkpoint()?;
        self.validate_histograms()?;
        self.labels.validate(&self.sla)?;
        self.validate_cost_and_targets()?;
        self.validate_limits()?;
        self.validate_state()?;
        self.sla.validate()?;
        self.validate_kafka()?;
        self.validate_http()
    }

    /// `[time]`: each duration in range, `max_event_age` past `allowed_lateness`.
    fn validate_time(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        range("time.allowed_lateness", self.time.allowed_lateness)?;
        range("time.idle_timeout", self.time.idle_timeout)?;
        range("time.dedup_horizon", self.time.dedup_horizon)?;
        range("time.max_future_skew", self.time.max_future_skew)?;
        range("time.max_event_age", self.time.max_event_age)?;
        if self.time.max_event_age.ms() <= self.time.allowed_lateness.ms() {
            return Err(ConfigError::invalid(
                "time.max_event_age",
                "must be longer than time.allowed_lateness",
            ));
        }
        Ok(())
    }

    /// `[windows]` and `labels.max_series`: the series bounds, the pane,
    /// and each window a distinct multiple of it.
    fn validate_windows(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        for (key, n, max) in [
            ("labels.max_series", self.labels.max_series, 10_000_000),
            (
                "windows.max_label_sets",
                self.windows.max_label_sets,
                100_000,
            ),
        ] {
            if !(1..=max).contains(&n) {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        range("windows.pane", self.windows.pane)?;
        if self.windows.sizes.len() > 8 {
            return Err(ConfigError::invalid("windows.sizes", "at most 8 windows"));
        }
        for (i, w) in self.windows.sizes.iter().enumerate() {
            let key = format!("windows.sizes[{i}]");
            duration_in_range(&key, "windows.sizes", *w)?;
            if w.ms() % self.windows.pane.ms() != 0 {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{w} is not a multiple of windows.pane ({})",
                        self.windows.pane
                    ),
                ));
            }
            if w.ms() / self.windows.pane.ms() > 100_000 {
                return Err(ConfigError::invalid(
                    key,
                    format!("{w} spans more than 100000 panes of {}", self.windows.pane),
                ));
            }
            if self.windows.sizes[..i].contains(w) {
                return Err(ConfigError::invalid(key, format!("{w} is listed twice")));
            }
        }
        Ok(())
    }

    /// `[kpi]` durations.
    fn validate_kpi(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        range("kpi.repeat_window", self.kpi.repeat_window)?;
        range("kpi.short_abandon", self.kpi.short_abandon)?;
        range(
            "kpi.service_level_threshold",
            self.kpi.service_level_threshold,
        )?;
        range("kpi.acw_timeout", self.kpi.acw_timeout)?;
        Ok(())
    }

    /// `[checkpoint]` and the SLA event topic.
    fn validate_checkpoint(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        range("checkpoint.interval", self.checkpoint.interval)?;
        range("checkpoint.write_timeout", self.checkpoint.write_timeout)?;
        if !(4096..=16 * 1024 * 1024).contains(&self.checkpoint.chunk_bytes) {
            return Err(ConfigError::invalid(
                "checkpoint.chunk_bytes",
                "must be between 4096 and 16777216",
            ));
        }
        let (oldest, newest) = (OLDEST_CHECKPOINT_FORMAT, NEWEST_CHECKPOINT_FORMAT);
        if !(oldest..=newest).contains(&self.checkpoint.write_format) {
            return Err(ConfigError::invalid(
                "checkpoint.write_format",
                format!("must be between {oldest} and {newest} (the checkpoint formats this build writes)"),
            ));
        }
        let rf = self.checkpoint.replication_factor;
        if rf != -1 && !(1..=i32::from(i16::MAX)).contains(&rf) {
            return Err(ConfigError::invalid(
                "checkpoint.replication_factor",
                "must be -1 (the broker's default) or between 1 and 32767",
            ));
        }
        if self.sla_events.topic.as_deref() == Some("") {
            return Err(ConfigError::invalid(
                "sla_events.topic",
                "must not be empty (leave it unset to turn the stream off)",
            ));
        }
        if self.checkpoint.topic.as_deref() == Some("") {
            return Err(ConfigError::invalid(
                "checkpoint.topic",
                "must not be empty",
            ));
        }
        Ok(())
    }

    /// `[histograms.buckets]`: known keys, 1 to 64 positive bounds.
    fn validate_histograms(&self) -> Result<(), ConfigError> {
        for (key, bounds) in &self.histograms.buckets {
            let keys = crate::names::histogram_keys();
            if !keys.contains(&key.as_str()) {
                return Err(ConfigError::invalid(
                    format!("histograms.buckets.{key}"),
                    format!("unknown histogram; one of {}", keys.join(", ")),
                ));
            }
            if bounds.is_empty() || bounds.len() > 64 {
                return Err(ConfigError::invalid(
                    format!("histograms.buckets.{key}"),
                    "needs 1 to 64 bounds",
                ));
            }
            if let Some(b) = bounds.iter().find(|b| !b.is_finite() || **b <= 0.0) {
                return Err(ConfigError::invalid(
                    format!("histograms.buckets.{key}"),
                    format!("bound {b} is not a positive number of seconds"),
                ));
            }
        }
        Ok(())
    }

    /// `cost.per_agent_hour` and `[kpi_targets]`.
    fn validate_cost_and_targets(&self) -> Result<(), ConfigError> {
        if !self.cost.per_agent_hour.is_finite() || self.cost.per_agent_hour < 0.0 {
            return Err(ConfigError::invalid(
                "cost.per_agent_hour",
                "must be a number ≥ 0",
            ));
        }
        if self.kpi_targets.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "kpi_targets",
                format!("at most {MAX_LIST} targets"),
            ));
        }
        for (k, v) in &self.kpi_targets {
            if !v.is_finite() {
                return Err(ConfigError::invalid(
                    format!("kpi_targets.{k}"),
                    "must be a finite number",
                ));
            }
            if k.is_empty() || k.len() > 64 {
                return Err(ConfigError::invalid(
                    "kpi_targets",
                    "a KPI name must be 1..64 characters",
                ));
            }
        }
        Ok(())
    }

    /// `[limits]`.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        if !(1..=100_000_000).contains(&self.limits.max_held_events) {
            return Err(ConfigError::invalid(
                "limits.max_held_events",
                "must be between 1 and 100000000",
            ));
        }
        if !(64..=MAX_EVENT_BYTES).contains(&self.limits.max_event_bytes) {
            return Err(ConfigError::invalid(
                "limits.max_event_bytes",
                format!("must be between 64 and {MAX_EVENT_BYTES}"),
            ));
        }
        Ok(())
    }

    /// `[state]` time-to-live durations.
    fn validate_state(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        range("state.resolved_ticket_ttl", self.state.resolved_ticket_ttl)?;
        range("state.idle_ticket_ttl", self.state.idle_ticket_ttl)?;
        range("state.finished_call_ttl", self.state.finished_call_ttl)?;
        range("state.idle_call_ttl", self.state.idle_call_ttl)?;
        let s = &self.state;
        for (key, n) in [
            ("state.reserve_tickets", s.reserve_tickets),
            ("state.reserve_calls", s.reserve_calls),
            ("state.reserve_customers", s.reserve_customers),
            ("state.reserve_event_ids", s.reserve_event_ids),
        ] {
            if n > MAX_RESERVE {
                return Err(ConfigError::invalid(
                    key,
                    format!("at most {MAX_RESERVE} (each partition reserves it)"),
                ));
            }
        }
        Ok(())
    }

    /// `kafka.topic`: one to `MAX_LIST` non-empty names.
    fn validate_kafka(&self) -> Result<(), ConfigError> {
        // librdkafka takes an empty group id and fails later, naming no key.
        if self
            .kafka
            .client
            .get("group.id")
            .is_some_and(|g| g.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "kafka.\"group.id\"",
                "empty; give the consumer group's name",
            ));
        }
        if self.kafka.topics.is_empty() || self.kafka.topics.iter().any(|t| t.is_empty()) {
            return Err(ConfigError::invalid(
                "kafka.topic",
                "needs at least one topic name",
            ));
        }
        if self.kafka.topics.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "kafka.topic",
                format!("at most {MAX_LIST} topics"),
            ));
        }
        for t in &self.kafka.topics {
            topic_name("kafka.topic", t)?;
        }
        // The names derived from the first topic must be legal too.
        let first = &self.kafka.topics[0];
        if self.kafka.dead_letter_topic.is_none() {
            topic_name("kafka.topic", &format!("{first}.dlq"))?;
        }
        if self.checkpoint.topic.is_none() {
            topic_name("kafka.topic", &format!("{first}.frontline-state"))?;
        }
        if let Some(t) = &self.kafka.dead_letter_topic {
            topic_name("kafka.dead_letter_topic", t)?;
        }
        if let Some(t) = &self.checkpoint.topic {
            topic_name("checkpoint.topic", t)?;
        }
        if let Some(t) = &self.sla_events.topic {
            topic_name("sla_events.topic", t)?;
        }
        Ok(())
    }

    /// `[http]`: the listen address, durations, and request limits.
    fn validate_http(&self) -> Result<(), ConfigError> {
        let range = |key: &str, d: Dur| duration_in_range(key, key, d);
        if !(0..=1_000_000_000).contains(&self.http.ready_max_lag) {
            return Err(ConfigError::invalid(
                "http.ready_max_lag",
                "must be between 0 and 1000000000 messages",
            ));
        }
        range(
            "http.ready_max_watermark_lag",
            self.http.ready_max_watermark_lag,
        )?;
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "http.listen",
                format!("`{}` is not an address like 0.0.0.0:9464", self.http.listen),
            ));
        }
        range("http.publish_interval", self.http.publish_interval)?;
        range("http.read_timeout", self.http.read_timeout)?;
        range("http.write_timeout", self.http.write_timeout)?;
        for (key, v, lo, hi) in [
            (
                "http.max_header_bytes",
                self.http.max_header_bytes,
                1024,
                1 << 20,
            ),
            (
                "http.max_connections",
                self.http.max_connections,
                1,
                1 << 20,
            ),
            (
                "http.max_concurrent_scrapes",
                self.http.max_concurrent_scrapes,
                1,
                1024,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{v} is outside {lo}..={hi}"),
                ));
            }
        }
        // Every endpoint is a GET: a body is never read, only bounded.
        let body = self.http.max_body_bytes;
        if body > 1 << 20 {
            return Err(ConfigError::invalid(
                "http.max_body_bytes",
                format!("{body} is outside 0..=1048576"),
            ));
        }
        Ok(())
    }
}

/// A name Kafka takes for a topic: 1 to 249 of `a-z A-Z 0-9 . _ -`, not
/// `.` or `..` (a bad one failed only once frontline ran, or, as the
/// dead-letter topic, stalled every partition at the first bad message).
pub fn topic_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > 249
        || name == "."
        || name == ".."
        || !name.chars().all(legal)
    {
        return Err(ConfigError::invalid(
            key,
            format!(
                "`{name}` is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, `.`, `_` and `-`; not `.` or `..`)"
            ),
        ));
    }
    Ok(())
}
