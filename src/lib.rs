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
//! - [`metrics`]: an immutable picture of every metric.
//! - [`names`]: metric names and help texts.
//! - [`export`]: snapshot → OpenMetrics / Prometheus text.
//! - [`source`]: drives one engine per Kafka partition (at least once,
//!   dead letters, lag).
//! - [`process_metrics`]: the OS process's own metrics (CPU, memory, file
//!   descriptors).
//! - [`hub`]: partitions publish snapshots; HTTP reads and merges them.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `/`.
//! - [`replay`]: drives the engine from a JSON-lines file or stdin.
//! - [`simulate`]: a simulated support centre as an event source.
//! - [`stderr`]: log and progress output that drops (and counts) a failed
//!   write instead of panicking.
//! - [`breach_log`]: rate-limited INFO lines for SLA breaches.
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
pub mod metrics;
pub mod names;
pub mod process_metrics;
pub mod replay;
pub mod server;
pub mod simulate;
pub mod source;
pub mod stderr;
