//! frontline: customer-support KPIs from a stream of events.
//!
//! The data flows one way, and a module imports only from upstream of it:
//!
//! ```text
//!  source ──► decode ──► engine ──► snapshot ──► export
//!  (replay)   (bytes →   (state,    (finished    (prometheus-client
//!             Event)     timers,    numbers)     Collector, text)
//!                        windows)
//! ```
//!
//! - [`config`]: the TOML file, its defaults and validation.
//! - [`calendar`]: business-hours calendars (time zones, hours, holidays).
//! - [`event`]: the event model of SPEC §1 (types, dimensions).
//! - [`decode`]: bytes → [`event::Event`], with a typed reason per error.
//! - [`engine`]: the sans-IO core: `apply`, `advance_clock`, `flush`,
//!   `snapshot`. No I/O, no wall clock; time comes in as data.
//! - [`snapshot`]: an immutable picture of every metric.
//! - [`names`]: metric names and help texts.
//! - [`export`]: snapshot → OpenMetrics / Prometheus text.
//! - [`source`]: drives one engine per Kafka partition (at least once,
//!   dead letters, lag).
//! - [`hub`]: partitions publish snapshots; HTTP reads and merges them.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `/`, with TLS, basic
//!   auth and request limits.
//! - [`webconfig`]: the exporter-toolkit web config file (TLS, basic auth),
//!   reloaded when its files change.
//! - [`replay`]: drives the engine from a JSON-lines file or stdin.
//! - [`simulate`]: a simulated support centre as an event source.
//! - [`stderr`]: log and progress output that drops (and counts) a failed
//!   write instead of panicking.
//! - [`breach_log`]: rate-limited INFO lines for SLA breaches.
//! - [`sla_events`]: the SLA event stream's JSON (the engine's recorded SLA
//!   state changes), for the Kafka topic and `replay --sla-events-out`.
//! - [`kafka_log`]: librdkafka's errors and logs, summarised during an outage.
//! - [`checkpoint`]: engine state ⇄ bytes, and a compacted changelog topic that keeps it.

pub mod breach_log;
pub mod calendar;
pub mod checkpoint;
pub mod config;
pub mod decode;
pub mod engine;
pub mod event;
pub mod export;
pub mod hub;
pub mod kafka_log;
pub mod names;
pub mod process;
pub mod replay;
pub mod server;
pub mod simulate;
pub mod sla_events;
pub mod snapshot;
pub mod source;
pub mod stderr;
pub mod webconfig;
