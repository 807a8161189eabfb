//! Configuration: one TOML file, validated once, before anything is consumed.
//!
//! Every default the spec names is a key here. Unknown keys are errors, and
//! every error names the key (`windows.pane`) and the reason, so the CLI can
//! print one line and exit 2.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

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

/// A duration written as `30s`, `15m`, `8h`, `2d`, `500ms` (or a combination
/// such as `1h30m`), held in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dur(pub i64);

impl Dur {
    /// Milliseconds.
    pub fn ms(self) -> i64 {
        self.0
    }
    /// From whole seconds.
    pub const fn secs(s: i64) -> Dur {
        Dur(s * 1000)
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        let bytes = t.as_bytes();
        let mut i = 0;
        let mut total: i64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(format!("`{s}` is not a duration like 30s, 15m, 8h, 2d"));
            }
            let n: i64 = t[start..i]
                .parse()
                .map_err(|_| format!("`{s}`: number too large"))?;
            let fstart = i;
            if i < bytes.len() && bytes[i] == b'.' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let fraction = &t[fstart..i];
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit_ms = match &t[ustart..i] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                "" if fraction.is_empty() => {
                    return Err(format!("`{s}`: a unit is required (ms, s, m, h, d, w)"))
                }
                "" => return Err(format!("`{s}`: decimals are not supported")),
                u => return Err(format!("`{s}`: unknown unit `{u}` (ms, s, m, h, d, w)")),
            };
            if !fraction.is_empty() {
                return Err(decimal_hint(s, n, &fraction[1..], unit_ms));
            }
            total = n
                .checked_mul(unit_ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{s}`: duration too large"))?;
        }
        Ok(Dur(total))
    }
}

/// The error for a decimal duration such as `1.5m`, with the whole-number
/// spelling of the same length when there is one (`90s`).
fn decimal_hint(s: &str, whole: i64, fraction: &str, unit_ms: i64) -> String {
    let digits = fraction.len().min(18) as u32;
    let frac: i128 = fraction[..digits as usize].parse().unwrap_or(0);
    let scale = 10i128.pow(digits);
    let num = (i128::from(whole) * scale + frac) * i128::from(unit_ms);
    let same = (num % scale == 0)
        .then(|| i64::try_from(num / scale).ok())
        .flatten()
        .filter(|ms| *ms > 0);
    match same {
        Some(ms) => format!(
            "`{s}`: decimals are not supported; write whole units, e.g. {}",
            Dur(ms)
        ),
        None => format!("`{s}`: decimals are not supported; write whole units (ms, s, m, h, d, w)"),
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole days only past one day, so `24h` reads as people write it.
        let ms = self.0;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms != 0 && ms % size == 0 && (unit != "d" || ms > size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Distinct values a free-string label (`queue`, `agent`) can take: label
/// ids are 16-bit, and `unknown` and `other` take two of them.
pub const LABEL_VALUES: usize = u16::MAX as usize + 1 - 2;

/// Most entries of the config's lists that grow series or per-event work:
/// SLA policies, calendars, `kpi_targets`, topics.
pub const MAX_LIST: usize = 100;

const MS: i64 = 1;
const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Largest `limits.max_event_bytes` (16 MiB).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Most holidays per calendar (ten years of dates).
pub const MAX_HOLIDAYS: usize = 3660;
/// Most opening ranges per calendar day.
pub const MAX_DAY_RANGES: usize = 96;

/// The accepted range of each duration key, in milliseconds (inclusive).
/// Past these a value is a typo, not a choice, and at the extremes event
/// time arithmetic would overflow (docs/operations.md lists them).
pub const DURATION_RANGES: [(&str, i64, i64); 23] = [
    ("time.allowed_lateness", 0, 7 * DAY),
    ("time.idle_timeout", SEC, DAY),
    ("time.dedup_horizon", SEC, 7 * DAY),
    ("time.max_future_skew", SEC, DAY),
    ("time.max_event_age", MIN, 365 * DAY),
    ("agents.idle_timeout", MIN, 30 * DAY),
    ("windows.pane", SEC, HOUR),
    ("windows.sizes", SEC, 31 * DAY),
    ("kpi.repeat_window", MIN, 90 * DAY),
    ("kpi.short_abandon", 0, HOUR),
    ("kpi.service_level_threshold", 0, DAY),
    ("kpi.acw_timeout", SEC, DAY),
    ("state.resolved_ticket_ttl", MIN, 365 * DAY),
    ("state.idle_ticket_ttl", HOUR, 365 * DAY),
    ("state.finished_call_ttl", MIN, 30 * DAY),
    ("state.idle_call_ttl", MIN, 30 * DAY),
    ("sla.policies.*", SEC, 365 * DAY),
    ("http.ready_max_watermark_lag", SEC, 30 * DAY),
    ("http.publish_interval", 10 * MS, MIN),
    ("http.read_timeout", 100 * MS, 10 * MIN),
    ("http.write_timeout", 100 * MS, 10 * MIN),
    ("checkpoint.interval", 100 * MS, HOUR),
    ("checkpoint.write_timeout", SEC, 10 * MIN),
];

/// Checks `d` against the range of `range_key` in [`DURATION_RANGES`],
/// naming `key` (which may carry an index, `windows.sizes[2]`).
fn duration_in_range(key: &str, range_key: &str, d: Dur) -> Result<(), ConfigError> {
    let (_, min, max) = DURATION_RANGES
        .iter()
        .find(|(k, _, _)| *k == range_key)
        .copied()
        .unwrap_or((range_key, 0, i64::MAX));
    if d.ms() < min || d.ms() > max {
        let low = if min == 0 {
            "0s".to_string()
        } else {
            Dur(min).to_string()
        };
        return Err(ConfigError::invalid(
            key,
            format!(
                "{d} is out of range: must be between {low} and {}",
                Dur(max)
            ),
        ));
    }
    Ok(())
}

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

/// The SLA event stream: every SLA state change produced to a Kafka topic
/// as JSON (SPEC §7; docs/sla.md).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaEventsConfig {
    /// The topic; the stream is off when unset.
    pub topic: Option<String>,
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

/// Whether a librdkafka property holds a secret, whose value is never
/// printed or logged: any `*password*`, `*secret*`, a private key in PEM
/// (`ssl.key.pem`), or the OAUTHBEARER config (which carries credentials).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k == "ssl.key.pem"
        || k == "ssl_key"
        || k == "sasl.oauthbearer.config"
}

/// A librdkafka error as text, without the value of a config property:
/// librdkafka reports a rejected property with its value, which may be a
/// secret (or a misspelled secret's key).
pub fn kafka_error_text(e: &rdkafka::error::KafkaError) -> String {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, desc, key, _) => {
            format!("invalid config key `kafka.\"{key}\"`: {desc}")
        }
        other => other.to_string(),
    }
}

/// Kafka settings. `topic` (one or a list) and `dead_letter_topic` are
/// frontline's; every other key is a librdkafka property passed through
/// unchanged (`bootstrap.servers`, `group.id`, `security.protocol`,
/// `sasl.mechanisms`, …).
#[derive(Clone, PartialEq)]
pub struct KafkaConfig {
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Where undecodable messages go (default `<first topic>.dlq`).
    pub dead_letter_topic: Option<String>,
    /// librdkafka properties.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        let mut client = BTreeMap::new();
        client.insert("bootstrap.servers".into(), "127.0.0.1:9092".into());
        client.insert("group.id".into(), "frontline".into());
        KafkaConfig {
            topics: vec!["support-events".into()],
            dead_letter_topic: None,
            client,
        }
    }
}

/// librdkafka properties of a group consumer that producers and plain
/// (group-less) consumers do not take.
pub const CONSUMER_ONLY: [&str; 17] = [
    "group.id",
    "group.instance.id",
    "group.protocol",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "partition.assignment.strategy",
    "isolation.level",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "queued.min.messages",
];

/// Secrets (see [`is_secret_key`]) show as `[redacted]`.
impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("topics", &self.topics)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("client", &self.redacted())
            .finish()
    }
}

impl KafkaConfig {
    /// The librdkafka properties with every secret's value replaced by
    /// `[redacted]`: the form to print or log.
    pub fn redacted(&self) -> BTreeMap<&str, &str> {
        self.client
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_key(k) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect()
    }

    /// librdkafka settings: `defaults`, overridden by the `[kafka]` properties.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }

    /// The same for a producer (or a group-less consumer): without the
    /// consumer-group properties.
    pub fn producer_config(&self, defaults: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut c = self.client_config(defaults);
        for k in CONSUMER_ONLY {
            c.remove(k);
        }
        c
    }

    /// The dead-letter topic.
    pub fn dlq(&self) -> String {
        self.dead_letter_topic.clone().unwrap_or_else(|| {
            format!(
                "{}.dlq",
                self.topics.first().map_or("support-events", |t| t)
            )
        })
    }
}

impl<'de> Deserialize<'de> for KafkaConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = BTreeMap::<String, toml::Value>::deserialize(d)?;
        let mut out = KafkaConfig::default();
        for (k, v) in table {
            match (k.as_str(), v) {
                ("topic", toml::Value::String(t)) => out.topics = vec![t],
                ("topic", toml::Value::Array(a)) => {
                    out.topics = a
                        .into_iter()
                        .map(|t| match t {
                            toml::Value::String(t) => Ok(t),
                            _ => Err(D::Error::custom("kafka.topic: a list of strings")),
                        })
                        .collect::<Result<_, _>>()?
                }
                ("dead_letter_topic", toml::Value::String(t)) => out.dead_letter_topic = Some(t),
                ("topic" | "dead_letter_topic", _) => {
                    return Err(D::Error::custom(format!("kafka.{k}: must be a string")))
                }
                (_, toml::Value::String(v)) => {
                    out.client.insert(k, v);
                }
                (_, toml::Value::Integer(v)) => {
                    out.client.insert(k, v.to_string());
                }
                (_, toml::Value::Boolean(v)) => {
                    out.client.insert(k, v.to_string());
                }
                (_, toml::Value::Float(v)) => {
                    out.client.insert(k, v.to_string());
                }
                _ => {
                    return Err(D::Error::custom(format!(
                        "kafka.{k}: a librdkafka property must be a string, number or boolean"
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// The HTTP server (`/metrics`, `/healthz`, `/readyz`, `/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: String,
    /// `/readyz` is ready while every partition's consumer lag is at most this many messages…
    pub ready_max_lag: i64,
    /// …or its watermark is at most this far behind wall time.
    pub ready_max_watermark_lag: Dur,
    /// How often each partition publishes its snapshot.
    pub publish_interval: Dur,
    /// Prometheus exporter-toolkit web config file (TLS, basic auth,
    /// response headers); `--web-config`. None: plain HTTP, no auth.
    pub web_config: Option<std::path::PathBuf>,
    /// Answer `/healthz` without basic auth (Kubernetes probes).
    pub healthz_open: bool,
    /// Deadline for the TLS handshake and for each request head; also how
    /// long an idle keep-alive connection is kept.
    pub read_timeout: Dur,
    /// A response write that makes no progress for this long closes the connection.
    pub write_timeout: Dur,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Largest request body, bytes (every endpoint is a GET).
    pub max_body_bytes: u64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// `/metrics` requests answered at once; more get 503 at once.
    pub max_concurrent_scrapes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".into(),
            ready_max_lag: 10_000,
            ready_max_watermark_lag: Dur::secs(900),
            publish_interval: Dur(250),
            web_config: None,
            healthz_open: false,
            read_timeout: Dur::secs(10),
            write_timeout: Dur::secs(30),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4096,
            max_connections: 1024,
            max_concurrent_scrapes: 4,
        }
    }
}

/// Checkpoints: each partition's engine state and the input offset it
/// covers, written to a compacted changelog topic (docs/operations.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Whether live partitions checkpoint and restore their state.
    pub enabled: bool,
    /// The changelog topic (default `<first topic>.frontline-state`); created
    /// with `cleanup.policy=compact` when missing.
    pub topic: Option<String>,
    /// How often each partition writes a checkpoint (also on revoke and shutdown).
    pub interval: Dur,
    /// The largest changelog message; a larger state is split into chunks.
    pub chunk_bytes: usize,
    /// How long one checkpoint write may take before it is abandoned (the
    /// previous checkpoint stands).
    pub write_timeout: Dur,
    /// Replication factor of a changelog topic frontline creates (-1: the broker's default).
    pub replication_factor: i32,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            enabled: true,
            topic: None,
            interval: Dur::secs(10),
            chunk_bytes: 512 * 1024,
            write_timeout: Dur::secs(30),
            replication_factor: -1,
        }
    }
}

impl CheckpointConfig {
    /// The changelog topic for a configuration whose first source topic is `first`.
    pub fn topic_for(&self, first: &str) -> String {
        self.topic
            .clone()
            .unwrap_or_else(|| format!("{first}.frontline-state"))
    }
}

/// One value or a list of values (`priority = "urgent"` or `["high", "urgent"]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Any of several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// What a policy matches; an absent field matches anything.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyMatch {
    /// Channels.
    pub channel: Option<OneOrMany>,
    /// Priorities.
    pub priority: Option<OneOrMany>,
    /// Queues.
    pub queue: Option<OneOrMany>,
}

/// One SLA policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// The `policy` label.
    pub name: String,
    /// Which tickets and calls it applies to.
    #[serde(default, rename = "match")]
    pub matches: PolicyMatch,
    /// `24x7` or a calendar of `[sla.calendars]`.
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// First public reply target.
    pub first_response: Option<Dur>,
    /// Reply target after each customer message.
    pub next_response: Option<Dur>,
    /// First resolution target (pending time excluded).
    pub resolution: Option<Dur>,
    /// Call answer target.
    pub answer: Option<Dur>,
}

fn default_calendar() -> String {
    "24x7".into()
}

/// A business-hours calendar.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Opening hours per weekday (`mon` … `sun`), e.g. `["09:00-12:30", "13:30-17:00"]`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// SLA settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// A clock is at risk from this fraction of its target.
    pub warn_fraction: f64,
    /// Policies, matched in order; the first match wins.
    pub policies: Vec<SlaPolicy>,
    /// Business calendars by name.
    pub calendars: BTreeMap<String, CalendarConfig>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            warn_fraction: 0.8,
            policies: Vec::new(),
            calendars: BTreeMap::new(),
        }
    }
}

impl SlaConfig {
    /// Compiles the calendars, naming the bad key on error.
    pub fn calendars(
        &self,
    ) -> Result<BTreeMap<String, std::sync::Arc<crate::calendar::Calendar>>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, c) in &self.calendars {
            let hours = c.hours.iter().map(|(d, r)| (d.as_str(), r.as_slice()));
            let cal =
                crate::calendar::Calendar::new(&c.timezone, hours, &c.holidays).map_err(|e| {
                    ConfigError::invalid(format!("sla.calendars.{name}.{}", e.key), e.reason)
                })?;
            out.insert(name.clone(), std::sync::Arc::new(cal));
        }
        Ok(out)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.warn_fraction > 0.0 && self.warn_fraction <= 1.0) {
            return Err(ConfigError::invalid(
                "sla.warn_fraction",
                "must be in (0, 1]",
            ));
        }
        if self.policies.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "sla.policies",
                format!("at most {MAX_LIST} policies"),
            ));
        }
        if self.calendars.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "sla.calendars",
                format!("at most {MAX_LIST} calendars"),
            ));
        }
        for (name, c) in &self.calendars {
            if c.holidays.len() > MAX_HOLIDAYS {
                return Err(ConfigError::invalid(
                    format!("sla.calendars.{name}.holidays"),
                    format!("at most {MAX_HOLIDAYS} dates"),
                ));
            }
            if let Some((day, _)) = c.hours.iter().find(|(_, r)| r.len() > MAX_DAY_RANGES) {
                return Err(ConfigError::invalid(
                    format!("sla.calendars.{name}.hours.{day}"),
                    format!("at most {MAX_DAY_RANGES} ranges a day"),
                ));
            }
        }
        if self.calendars.contains_key("24x7") {
            return Err(ConfigError::invalid(
                "sla.calendars.24x7",
                "`24x7` is reserved for always-open",
            ));
        }
        self.calendars()?;
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            let key = |k: &str| format!("sla.policies[{i}].{k}");
            if p.name.is_empty() || p.name.len() > 64 {
                return Err(ConfigError::invalid(
                    key("name"),
                    "must be 1..64 characters",
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("`{}` is used twice", p.name),
                ));
            }
            if p.calendar != "24x7" && !self.calendars.contains_key(&p.calendar) {
                return Err(ConfigError::invalid(
                    key("calendar"),
                    format!(
                        "unknown calendar `{}` (define it under [sla.calendars.{}] or use 24x7)",
                        p.calendar, p.calendar
                    ),
                ));
            }
            for (k, t) in [
                ("first_response", p.first_response),
                ("next_response", p.next_response),
                ("resolution", p.resolution),
                ("answer", p.answer),
            ] {
                if let Some(t) = t {
                    duration_in_range(&key(k), "sla.policies.*", t)?;
                }
            }
            if let Some(c) = &p.matches.channel {
                for v in c.values() {
                    if crate::event::Channel::parse(&v).is_none() {
                        return Err(ConfigError::invalid(
                            key("match.channel"),
                            format!("unknown channel `{v}`"),
                        ));
                    }
                }
            }
            if let Some(c) = &p.matches.priority {
                for v in c.values() {
                    if crate::event::Priority::parse(&v).is_none() {
                        return Err(ConfigError::invalid(
                            key("match.priority"),
                            format!("unknown priority `{v}`"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

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
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            repeat_window: Dur::secs(7 * 86_400),
            short_abandon: Dur::secs(5),
            service_level_threshold: Dur::secs(20),
            acw_timeout: Dur::secs(600),
            service_level_formula: ServiceLevelFormula::Default,
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

/// Default `labels.max_series`: a default-config scrape stays under ~5 MB
/// (docs/metrics.md, "Worst case of the default config").
pub const DEFAULT_MAX_SERIES: usize = 20_000;

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
    /// label combination past it is reported with `queue="other"`.
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
    fn validate(&self, sla: &SlaConfig) -> Result<(), ConfigError> {
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
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            resolved_ticket_ttl: Dur::secs(7 * 86_400),
            idle_ticket_ttl: Dur::secs(90 * 86_400),
            finished_call_ttl: Dur::secs(3600),
            idle_call_ttl: Dur::secs(86_400),
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(Some(path), std::iter::empty(), &[])
    }

    /// Reads a config file (or none: defaults), applies overrides from the
    /// environment (`FRONTLINE_<SECTION>__<KEY>`) and from `--set
    /// section.key=value` flags, in that order, then validates.
    ///
    /// In `FRONTLINE_KAFKA__<KEY>`, `_` stands for `.` (librdkafka's
    /// separator): `FRONTLINE_KAFKA__BOOTSTRAP_SERVERS` sets
    /// `kafka."bootstrap.servers"`; `TOPIC` and `DEAD_LETTER_TOPIC` keep theirs.
    pub fn load_with(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        Config::load_layers(path, env, sets, &Flags::default())
    }

    /// [`Config::load_with`], then the command line's own flags
    /// ([`Flags`]) over everything else, then validation.
    pub fn load_layers(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        sets: &[String],
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError::Unreadable {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
            None => String::new(),
        };
        if let Ok(table) = toml::from_str::<toml::Table>(&text) {
            let mut table = table;
            let mut overridden = false;
            for (k, v) in env {
                let Some(rest) = k.strip_prefix("FRONTLINE_") else {
                    continue;
                };
                let Some((section, key)) = rest.split_once("__") else {
                    continue;
                };
                let section = section.to_ascii_lowercase();
                let mut key = key.to_ascii_lowercase();
                if section == "kafka" && key != "topic" && key != "dead_letter_topic" {
                    key = key.replace('_', ".");
                }
                set_key(&mut table, &section, &key, &v);
                overridden = true;
            }
            for s in sets {
                let Some((path, v)) = s.split_once('=') else {
                    return Err(ConfigError::invalid(
                        s.clone(),
                        "--set takes section.key=value",
                    ));
                };
                let Some((section, key)) = path.split_once('.') else {
                    return Err(ConfigError::invalid(path, "--set takes section.key=value"));
                };
                set_key(&mut table, section, key, v);
                overridden = true;
            }
            overridden |= flags.apply(&mut table);
            if overridden {
                let text =
                    toml::to_string(&table).map_err(|e| ConfigError::Parse(e.to_string()))?;
                return Config::parse(&text);
            }
        }
        Config::parse_from(&text, path)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_from(text, None)
    }

    /// Parses and validates TOML text read from `origin`, which a syntax
    /// error names as `file:line:column`.
    fn parse_from(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let msg = one_line(e.message());
            let at = e.span().map(|sp| location(text, sp.start));
            match e.span().and_then(|sp| key_at(text, sp.start)) {
                Some(key) => match (origin, at) {
                    (Some(p), Some((l, c))) => {
                        ConfigError::invalid(key, format!("{msg} ({}:{l}:{c})", p.display()))
                    }
                    _ => ConfigError::invalid(key, msg),
                },
                None => ConfigError::Parse(match (origin, at) {
                    (Some(p), Some((l, c))) => format!("{}:{l}:{c}: {msg}", p.display()),
                    (None, Some((l, c))) => format!("line {l}, column {c}: {msg}"),
                    (Some(p), None) => format!("{}: {msg}", p.display()),
                    (None, None) => msg,
                }),
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

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
        Ok(())
    }

    /// `kafka.topic`: one to `MAX_LIST` non-empty names.
    fn validate_kafka(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }
}

/// Values of the command line's own flags (`run --listen`, `--brokers`,
/// `--topic`, `--group`, `--web-config`): applied last, each as the string
/// it is. Unlike `--set`, nothing is read as TOML, so a value holding `"`
/// or `\` arrives unchanged.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `http.listen`.
    pub listen: Option<String>,
    /// `kafka."bootstrap.servers"`.
    pub brokers: Option<String>,
    /// `kafka.topic` (one topic).
    pub topic: Option<String>,
    /// `kafka."group.id"`.
    pub group: Option<String>,
    /// `http.web_config`.
    pub web_config: Option<PathBuf>,
}

impl Flags {
    /// Writes the given flags into `table`; whether there were any.
    fn apply(&self, table: &mut toml::Table) -> bool {
        let web_config = self.web_config.as_ref().map(|p| p.display().to_string());
        let mut any = false;
        for (section, key, value) in [
            ("http", "listen", &self.listen),
            ("kafka", "bootstrap.servers", &self.brokers),
            ("kafka", "topic", &self.topic),
            ("kafka", "group.id", &self.group),
            ("http", "web_config", &web_config),
        ] {
            let Some(v) = value else { continue };
            // A section that is not a table stays as it is: parsing names it.
            if let toml::Value::Table(t) = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                t.insert(key.into(), toml::Value::String(v.clone()));
            }
            any = true;
        }
        any
    }
}

/// Sets `[section] key = value`, reading `value` as a TOML value when it is
/// one (`5`, `true`, `["a", "b"]`) and as a string otherwise.
fn set_key(table: &mut toml::Table, section: &str, key: &str, raw: &str) {
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = entry {
        t.insert(key.to_string(), value);
    }
}

/// The dotted key (`time.dedup_horizon`) of the `key = value` line holding
/// byte `offset`, from the nearest `[table]` header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

/// A parser message on one line.
fn one_line(msg: &str) -> String {
    msg.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Line and column (both from 1, the column in characters) of byte `offset`.
fn location(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before, |i| &before[i + 1..])
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_secrets_are_redacted_when_printed() {
        let c = Config::parse(
            "[kafka]\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"pw-1\"\n\
             \"ssl.key.password\" = \"pw-2\"\n\"sasl.oauthbearer.client.secret\" = \"pw-3\"\n\
             \"ssl.key.pem\" = \"pw-4\"\n\"ssl.keystore.password\" = \"pw-5\"\n",
        )
        .unwrap();
        let shown = format!("{c:?} {:#?}", c.kafka);
        assert!(!shown.contains("pw-"), "{shown}");
        assert!(shown.contains("\"sasl.username\": \"svc\""), "{shown}");
        assert_eq!(c.kafka.redacted()["sasl.password"], "[redacted]");
        // The real value still reaches librdkafka.
        assert_eq!(
            c.kafka.client_config(&[]).get("sasl.password"),
            Some("pw-1")
        );
        let e = rdkafka::error::KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
            "No such configuration property".into(),
            "sasl.pasword".into(),
            "pw-6".into(),
        );
        assert_eq!(
            kafka_error_text(&e),
            "invalid config key `kafka.\"sasl.pasword\"`: No such configuration property"
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!("30s".parse::<Dur>().unwrap(), Dur(30_000));
        assert_eq!("15m".parse::<Dur>().unwrap(), Dur(900_000));
        assert_eq!("8h".parse::<Dur>().unwrap(), Dur(28_800_000));
        assert_eq!("2d".parse::<Dur>().unwrap(), Dur(172_800_000));
        assert_eq!("1h30m".parse::<Dur>().unwrap(), Dur(5_400_000));
        assert_eq!("250ms".parse::<Dur>().unwrap(), Dur(250));
        assert!("30".parse::<Dur>().is_err());
        assert!("3x".parse::<Dur>().is_err());
        assert!("".parse::<Dur>().is_err());
        assert_eq!(Dur(300_000).to_string(), "5m");
        assert_eq!(Dur(86_400_000).to_string(), "24h");
        assert_eq!(Dur(7 * 86_400_000).to_string(), "7d");
    }

    #[test]
    fn empty_file_gives_spec_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.time.allowed_lateness, Dur(600_000));
        assert_eq!(c.time.idle_timeout, Dur(30_000));
        assert_eq!(c.time.dedup_horizon, Dur(3_600_000));
        assert_eq!(c.kpi.repeat_window, Dur(7 * 86_400_000));
        assert_eq!(c.kpi.short_abandon, Dur(5_000));
        assert_eq!(c.kpi.service_level_threshold, Dur(20_000));
        assert_eq!(c.kpi.acw_timeout, Dur(600_000));
        assert_eq!(c.labels.max_queues, 200);
        assert_eq!(c.labels.max_agents, 500);
        assert_eq!(c.limits.max_event_bytes, 65_536);
        assert_eq!(c.limits.max_held_events, 100_000);
        assert_eq!(c.time.max_future_skew, Dur(300_000));
        assert_eq!(c.time.max_event_age, Dur(7 * 86_400_000));
        assert_eq!(c.agents.idle_timeout, Dur(12 * 3_600_000));
        assert!(!c.agents.per_agent_metrics, "per-agent families are opt-in");
        assert_eq!(c.labels.max_series, 20_000);
        assert_eq!(c.windows.max_label_sets, 64);
        assert_eq!(
            c.windows.sizes,
            vec![Dur(300_000), Dur(3_600_000), Dur(86_400_000)]
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[time]\nallowed_latenes = \"5m\"\n").unwrap_err();
        assert!(e.to_string().contains("`time.allowed_latenes`"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Config::parse("[windows]\npane = \"7s\"\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::invalid(
                "windows.sizes[0]",
                "5m is not a multiple of windows.pane (7s)"
            )
        );
        let e = Config::parse("[kpi]\nacw_timeout = \"0s\"\n").unwrap_err();
        assert!(e.to_string().contains("kpi.acw_timeout"), "{e}");
        let e = Config::parse("[histograms.buckets]\nfirst_respons = [1.0]\n").unwrap_err();
        assert!(
            e.to_string().contains("histograms.buckets.first_respons"),
            "{e}"
        );
        let e = Config::parse("[cost]\nper_agent_hour = -1.0\n").unwrap_err();
        assert!(e.to_string().contains("cost.per_agent_hour"), "{e}");
        let e = Config::parse("[time]\ndedup_horizon = \"soon\"\n").unwrap_err();
        assert!(e.to_string().contains("`time.dedup_horizon`"), "{e}");
        let e = Config::parse("[labels]\nmax_queues = \"many\"\n").unwrap_err();
        assert!(e.to_string().contains("`labels.max_queues`"), "{e}");
    }

    const SPEC_SLA: &str = r#"
[sla]
warn_fraction = 0.8

[[sla.policies]]
name = "urgent"
match = { priority = ["urgent"] }
calendar = "office"
first_response = "1h"
next_response = "2h"
resolution = "8h"

[[sla.policies]]
name = "phone"
match = { channel = ["phone"] }
answer = "20s"

[[sla.policies]]
name = "standard"
first_response = "8h"
resolution = "3d"

[sla.calendars.office]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-12:30", "13:30-17:00"], thu = ["09:00-17:00"], fri = ["09:00-15:00"] }
holidays = ["2026-12-24", "2026-12-25", "2026-12-26"]
"#;

    #[test]
    fn the_spec_sla_example_parses() {
        let c = Config::parse(SPEC_SLA).unwrap();
        assert_eq!(c.sla.policies.len(), 3);
        assert_eq!(c.sla.policies[0].resolution, Some(Dur(8 * 3_600_000)));
        assert_eq!(c.sla.policies[2].calendar, "24x7");
        assert_eq!(c.sla.calendars().unwrap().len(), 1);
    }

    #[test]
    fn sla_errors_name_their_key() {
        let bad = |from: &str, to: &str| {
            Config::parse(&SPEC_SLA.replace(from, to))
                .unwrap_err()
                .to_string()
        };
        let e = bad("calendar = \"office\"", "calendar = \"ofice\"");
        assert!(
            e.contains("`sla.policies[0].calendar`") && e.contains("ofice"),
            "{e}"
        );
        let e = bad("Europe/Berlin", "Europe/Berlinn");
        assert!(e.contains("`sla.calendars.office.timezone`"), "{e}");
        let e = bad(
            "\"09:00-12:30\", \"13:30-17:00\"",
            "\"09:00-14:00\", \"13:30-17:00\"",
        );
        assert!(
            e.contains("`sla.calendars.office.hours.wed`") && e.contains("overlap"),
            "{e}"
        );
        let e = bad("fri = [\"09:00-15:00\"]", "fri = [\"15:00-09:00\"]");
        assert!(e.contains("`sla.calendars.office.hours.fri`"), "{e}");
        let e = bad("answer = \"20s\"", "answer = \"0s\"");
        assert!(e.contains("`sla.policies[1].answer`"), "{e}");
        let e = bad("\"2026-12-26\"", "\"26.12.2026\"");
        assert!(e.contains("`sla.calendars.office.holidays[2]`"), "{e}");
        let e = bad("name = \"phone\"", "name = \"urgent\"");
        assert!(e.contains("`sla.policies[1].name`"), "{e}");
        let e = bad("warn_fraction = 0.8", "warn_fraction = 1.5");
        assert!(e.contains("`sla.warn_fraction`"), "{e}");
        let e = bad("priority = [\"urgent\"]", "priority = [\"asap\"]");
        assert!(e.contains("`sla.policies[0].match.priority`"), "{e}");
    }

    #[test]
    fn kafka_keys_pass_through_and_env_overrides_apply() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.toml");
        std::fs::write(
            &p,
            "[kafka]\ntopic = \"events\"\n\"security.protocol\" = \"SASL_SSL\"\n\"fetch.max.bytes\" = 1048576\n[time]\nallowed_lateness = \"5m\"\n",
        )
        .unwrap();
        let env = vec![
            (
                "FRONTLINE_KAFKA__BOOTSTRAP_SERVERS".to_string(),
                "10.0.0.1:9092".to_string(),
            ),
            (
                "FRONTLINE_TIME__DEDUP_HORIZON".to_string(),
                "2h".to_string(),
            ),
            ("FRONTLINE_LOG_FORMAT".to_string(), "json".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let c = Config::load_with(
            Some(&p),
            env.into_iter(),
            &["http.listen=127.0.0.1:9999".into()],
        )
        .unwrap();
        assert_eq!(c.kafka.topics, vec!["events".to_string()]);
        assert_eq!(c.kafka.dlq(), "events.dlq");
        assert_eq!(c.kafka.client["security.protocol"], "SASL_SSL");
        assert_eq!(c.kafka.client["fetch.max.bytes"], "1048576");
        assert_eq!(c.kafka.client["bootstrap.servers"], "10.0.0.1:9092");
        assert_eq!(c.kafka.client["group.id"], "frontline");
        assert_eq!(c.time.allowed_lateness, Dur(300_000));
        assert_eq!(c.time.dedup_horizon, Dur(7_200_000));
        assert_eq!(c.http.listen, "127.0.0.1:9999");
        let e = Config::load_with(None, std::iter::empty(), &["http.listen=nowhere".into()])
            .unwrap_err();
        assert!(e.to_string().contains("`http.listen`"), "{e}");
        let e = Config::load_with(
            None,
            vec![(
                "FRONTLINE_KPI__SHORT_ABANDON".to_string(),
                "soon".to_string(),
            )]
            .into_iter(),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("kpi.short_abandon"), "{e}");
    }

    /// Defect: a duration far past any sane value (`106751991167d`, ~2^63 ms
    /// away from overflow) was accepted and changed results.
    #[test]
    fn durations_out_of_range_name_their_key() {
        let e = Config::parse("[kpi]\nacw_timeout = \"106751991167d\"\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::invalid(
                "kpi.acw_timeout",
                "106751991167d is out of range: must be between 1s and 24h"
            )
        );
        for (section, key, bad) in [
            ("time", "allowed_lateness", "8d"),
            ("time", "idle_timeout", "500ms"),
            ("time", "dedup_horizon", "30d"),
            ("windows", "pane", "2h"),
            ("kpi", "repeat_window", "91d"),
            ("kpi", "short_abandon", "2h"),
            ("kpi", "service_level_threshold", "2d"),
            ("state", "resolved_ticket_ttl", "366d"),
            ("state", "idle_ticket_ttl", "1m"),
            ("state", "finished_call_ttl", "31d"),
            ("state", "idle_call_ttl", "1s"),
            ("http", "ready_max_watermark_lag", "31d"),
            ("http", "publish_interval", "5ms"),
            ("checkpoint", "interval", "2h"),
            ("checkpoint", "write_timeout", "11m"),
        ] {
            let e = Config::parse(&format!("[{section}]\n{key} = \"{bad}\"\n")).unwrap_err();
            assert!(
                e.to_string().contains(&format!("`{section}.{key}`"))
                    && e.to_string().contains("out of range"),
                "{section}.{key} = {bad}: {e}"
            );
        }
        let e = Config::parse("[windows]\nsizes = [\"5m\", \"60d\"]\n").unwrap_err();
        assert!(e.to_string().contains("`windows.sizes[1]`"), "{e}");
        let e =
            Config::parse("[[sla.policies]]\nname = \"a\"\nresolution = \"400d\"\n").unwrap_err();
        assert!(
            e.to_string().contains("`sla.policies[0].resolution`"),
            "{e}"
        );
        // The bounds themselves are accepted, and so is every default.
        // (A 7-day lateness needs a longer max_event_age than its 7-day default.)
        Config::parse("[kpi]\nacw_timeout = \"1d\"\nshort_abandon = \"0s\"\n[time]\nallowed_lateness = \"7d\"\nmax_event_age = \"8d\"\n").unwrap();
        Config::parse(&std::fs::read_to_string("deploy/frontline.toml").unwrap()).unwrap();
    }

    /// Counts past their ranges name their key.
    #[test]
    fn counts_out_of_range_name_their_key() {
        for (text, key) in [
            (
                "[limits]\nmax_event_bytes = 17000000\n",
                "limits.max_event_bytes",
            ),
            ("[labels]\nmax_agents = 65535\n", "labels.max_agents"),
            ("[labels]\nmax_queues = 0\n", "labels.max_queues"),
            ("[http]\nready_max_lag = -1\n", "http.ready_max_lag"),
            (
                "[checkpoint]\nreplication_factor = 40000\n",
                "checkpoint.replication_factor",
            ),
            ("[sla_events]\ntopic = \"\"\n", "sla_events.topic"),
            ("[sla_events]\ntopics = \"x\"\n", "sla_events.topics"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().contains(&format!("`{key}`")), "{text}: {e}");
        }
        let targets: String = (0..101).map(|i| format!("k{i} = 1.0\n")).collect();
        let e = Config::parse(&format!("[kpi_targets]\n{targets}")).unwrap_err();
        assert!(e.to_string().contains("`kpi_targets`"), "{e}");
        let policies: String = (0..101)
            .map(|i| format!("[[sla.policies]]\nname = \"p{i}\"\nanswer = \"20s\"\n"))
            .collect();
        let e = Config::parse(&policies).unwrap_err();
        assert!(e.to_string().contains("`sla.policies`"), "{e}");
    }

    /// Defect: ids are 16-bit, so a queue allow list of more than 65 534
    /// values wrapped (`q65534` became `unknown`, `q69999` became `q4463`).
    #[test]
    fn allow_lists_past_the_label_id_space_are_refused() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("\"q{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let e = Config::parse(&format!(
            "[labels]\nqueue_allow_list = [{}]\n",
            list(65_535)
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`labels.queue_allow_list`"), "{e}");
        let e = Config::parse(&format!(
            "[labels]\nagent_allow_list = [{}]\n",
            list(70_000)
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`labels.agent_allow_list`"), "{e}");
        Config::parse(&format!(
            "[labels]\nqueue_allow_list = [{}]\n",
            list(LABEL_VALUES)
        ))
        .unwrap();
        // Queues named by SLA policies take ids of their own.
        let e = Config::parse(&format!(
            "[labels]\nqueue_allow_list = [{}]\n[[sla.policies]]\nname = \"x\"\nmatch = {{ queue = \"extra\" }}\nanswer = \"20s\"\n",
            list(LABEL_VALUES)
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`labels.queue_allow_list`"), "{e}");
    }

    /// Defect: `1.5m` said "a unit is required"; it has one, it is the
    /// decimal that is not supported.
    #[test]
    fn a_decimal_duration_says_so_and_suggests_whole_units() {
        let e = "1.5m".parse::<Dur>().unwrap_err();
        assert_eq!(
            e,
            "`1.5m`: decimals are not supported; write whole units, e.g. 90s"
        );
        assert!("0.5h".parse::<Dur>().unwrap_err().ends_with("e.g. 30m"));
        assert!("1.5s".parse::<Dur>().unwrap_err().ends_with("e.g. 1500ms"));
        assert!("0.0001ms"
            .parse::<Dur>()
            .unwrap_err()
            .contains("decimals are not supported"));
        assert!("1.5"
            .parse::<Dur>()
            .unwrap_err()
            .contains("decimals are not supported"));
        let e = Config::parse("[kpi]\nacw_timeout = \"1.5m\"\n").unwrap_err();
        assert!(
            e.to_string().contains("`kpi.acw_timeout`") && e.to_string().contains("90s"),
            "{e}"
        );
    }

    /// Defect: `09:00-09:00` said "ends before it starts"; it is empty.
    #[test]
    fn an_empty_opening_range_is_called_empty() {
        let e =
            Config::parse(&SPEC_SLA.replace("fri = [\"09:00-15:00\"]", "fri = [\"09:00-09:00\"]"))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("`sla.calendars.office.hours.fri`") && e.contains("is empty"),
            "{e}"
        );
        assert!(!e.contains("before it starts"), "{e}");
    }

    /// Defect: a TOML syntax error was reported on two lines, without the file.
    #[test]
    fn a_syntax_error_is_one_line_with_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.toml");
        std::fs::write(&p, "[time]\nallowed_lateness = \"5m\"\n[kpi\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with(&format!("invalid config: {}:3:", p.display())),
            "{e}"
        );
        let e = Config::parse("[kpi\n").unwrap_err().to_string();
        assert!(!e.contains('\n') && e.contains("line 1, column"), "{e}");
        // On a key's line the key is named, and the place too.
        std::fs::write(&p, "[time]\nallowed_lateness = = \"5m\"\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("`time.allowed_lateness`"), "{e}");
        assert!(e.contains(&format!("{}:2:", p.display())), "{e}");
    }

    #[test]
    fn bucket_bounds_fall_back_to_default() {
        let c = Config::parse("[histograms.buckets]\nreply = [60.0, 5.0, 60.0]\n").unwrap();
        assert_eq!(c.histograms.bounds("reply"), vec![5.0, 60.0]);
        assert_eq!(c.histograms.bounds("handle"), DEFAULT_BUCKETS.to_vec());
    }
}
