//! frontline: customer-support KPIs from a stream of events.
//!
//! The data flows one way, and no dependency points back against it: the
//! drivers ([`source`], [`replay`], [`server`], [`simulate`]) call into the
//! pipeline; the engine imports only the shared vocabulary ([`config`],
//! [`event`], [`names`], [`calendar`]), [`decode`] and the metric model
//! ([`metrics`]) it fills; no two modules import each other, directly or
//! around a cycle (`tests/module_order.rs` checks this on the source).
//!
//! ```text
//!  source ──► decode ──► engine ──► metrics ──► hub ──► export
//!  (Kafka,    (bytes →   (state,    (typed      (merge    (0.0.4 and
//!   replay)    Event)     timers,    snapshot,   of        OpenMetrics
//!                         windows)   windows)    partitions) text)
//! ```
//!
//! The engine fills a [`metrics::Snapshot`]; the model never calls back
//! into the engine (it imports only [`config`] and [`names`]); the hub
//! merges the partitions' snapshots; [`export`] reads only the model.
//!
//! - [`config`]: the TOML file, its defaults and validation.
//! - [`calendar`]: business-hours calendars (time zones, hours, holidays).
//! - [`event`]: the event model of SPEC §1 (types, dimensions).
//! - [`decode`]: bytes → [`event::Event`], with a typed reason per error.
//! - [`engine`]: the sans-IO core: `apply`, `advance_clock`, `flush`,
//!   `snapshot`. No I/O, no wall clock; time comes in as data. Its packed
//!   metric keys (channel, priority, queue, …) are packed and unpacked in
//!   one module, `engine/keys.rs`.
//! - [`metrics`]: the typed metric model: families with a kind and a merge
//!   rule across partitions, label sets, values, histogram buckets with
//!   their exemplars, window data (rendered into families when encoded),
//!   and a partition's event-time progress; merging in one linear pass.
//! - [`names`]: the one table of metric families (`MetricDef`: name, help,
//!   kind, merge rule across partitions) that every family is built from,
//!   and the one table of duration histograms (`HistId`, its config key and
//!   labels) that the config and the engine both read.
//! - [`export`]: the metric model → Prometheus text 0.0.4 / OpenMetrics,
//!   one writer for both.
//! - `process_metrics` (private): the OS process's own metrics (CPU, memory, file
//!   descriptors).
//! - [`source`]: drives one engine per Kafka partition (at least once,
//!   dead letters, lag).
//! - [`hub`]: partitions publish snapshots; HTTP reads and merges them.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `/`, with TLS, basic
//!   auth and request limits.
//! - [`webconfig`]: the exporter-toolkit web config file (TLS, basic auth),
//!   reloaded when its files change.
//! - [`replay`]: drives the engine from a JSON-lines file or stdin.
//! - [`replay::backfill`]: replay's OpenMetrics history, one sample per step, for promtool.
//! - [`simulate`]: a simulated support centre as an event source.
//! - [`huge_pages`]: the binaries' allocator, which backs the large tables
//!   with transparent huge pages.
//! - [`background`]: a lower-priority thread for work no event waits on
//!   (tables prepared ahead of need).
//! - [`stderr`]: log and progress output that drops (and counts) a failed
//!   write instead of panicking.
//! - `breach_log` (private): rate-limited INFO lines for SLA breaches.
//! - `sla_events` (private): the SLA event stream's JSON (the engine's recorded SLA
//!   state changes), for the Kafka topic and `replay --sla-events-out`.
//! - `locks` (private): locking that a panic elsewhere cannot turn into lost writes.
//! - `kafka_log` (private): librdkafka's errors and logs, summarised during an outage.
//! - [`checkpoint`]: engine state ⇄ bytes, and a compacted changelog topic that keeps it.

pub mod background;
mod breach_log;
pub mod c_blocks;
pub mod calendar;
pub mod checkpoint;
pub mod config;
pub mod decode;
pub mod engine;
pub mod event;
pub mod export;
pub mod hub;
pub mod huge_pages;
mod kafka_log;
pub mod live;
mod locks;
pub mod metrics;
pub mod names;
mod process_metrics;
pub mod replay;
pub mod server;
pub mod simulate;
mod sla_events;
pub mod source;
pub mod stderr;
pub mod webconfig;
