//! The sections that name Kafka topics: `[kafka]` (frontline's keys and
//! librdkafka properties passed through, secrets never printed),
//! `[checkpoint]` and `[sla_events]`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use super::Dur;

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

/// The keys of `[kafka]` that are frontline's own; every other key is a
/// librdkafka property.
pub const OWN_KEYS: [&str; 2] = ["topic", "dead_letter_topic"];

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

/// librdkafka properties every client of this process starts from.
///
/// `reconnect.backoff.ms`: a new client connects to its bootstrap server,
/// learns the broker's own address and connects again, and librdkafka
/// spaces connections to a cluster by half this backoff (50 ms at its
/// default of 100 ms, 11 ms at least). A start creates its clients one
/// after another (the changelog's metadata client, then its admin client,
/// then its producer), and a first request could wait out that spacing;
/// a first start waited 50-100 ms in all. At 20 ms it is 11 ms. A broker
/// that goes away is retried from 20 ms instead of 100, still doubling up
/// to `reconnect.backoff.max.ms` (docs/performance.md, "Live").
pub const CLIENT_DEFAULTS: [(&str, &str); 1] = [("reconnect.backoff.ms", "20")];

/// librdkafka properties of a group consumer that producers and plain
/// (group-less) consumers do not take.
pub const CONSUMER_ONLY: [&str; 18] = [
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
    "fetch.queue.backoff.ms",
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

    /// librdkafka settings: [`CLIENT_DEFAULTS`], then `defaults`, each
    /// overridden by the `[kafka]` properties.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        for (k, v) in CLIENT_DEFAULTS {
            c.set(k, v);
        }
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

/// The newest checkpoint format version, the default of
/// `checkpoint.write_format` (what each version holds:
/// `checkpoint::FORMAT_VERSION`).
pub const NEWEST_CHECKPOINT_FORMAT: u32 = 8;
/// The oldest checkpoint format version this build reads and can write.
pub const OLDEST_CHECKPOINT_FORMAT: u32 = 4;

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
    /// The checkpoint format version written: the newest by default; the
    /// one before it during a rolling update from a build that reads only
    /// that one (docs/operations.md, "Checkpoint format").
    pub write_format: u32,
    /// Whether whole checkpoints after a partition's first are written
    /// from a mirror of its tables kept on the encoding side (from format
    /// 7): its applying thread then copies only changes, for one more copy
    /// of its tables in memory and the CPU of keeping it in step
    /// (docs/operations.md, "Checkpoints do not pause a partition"). Off by
    /// default.
    pub mirror: bool,
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
            write_format: NEWEST_CHECKPOINT_FORMAT,
            mirror: false,
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

/// The SLA event stream: every SLA state change produced to a Kafka topic
/// as JSON (SPEC §7; docs/sla.md).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaEventsConfig {
    /// The topic; the stream is off when unset.
    pub topic: Option<String>,
}
