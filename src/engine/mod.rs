//! The sans-IO engine: typed events in, KPI state and snapshots out.
//!
//! One [`Engine`] owns the state of one partition: tickets, calls, agents,
//! customers, held early arrivals, timers, dedup memory, cumulative metrics
//! and windows. Time enters only as data (`ts` of events, and
//! [`Engine::advance_clock`] for a live clock on a quiet topic), so replay,
//! Kafka, tests and benchmarks drive the very same code.
//!
//! This module holds the [`Engine`] and [`State`] types, the public API
//! (construction, [`Engine::ingest`], [`Engine::admit`], [`Engine::apply`],
//! draining breaches and SLA events) and the routing of an event to its
//! handler. The rest lives by entity:
//!
//! - `tickets` — ticket events; `calls` — call events;
//! - `agents` — agent status, booking status time, expiring silent agents;
//! - `customers` — the customer key, contacts and repeat contacts;
//! - `timers` — the event clock, timers, held early arrivals, flush, sweeps;
//! - `settings` — what the engine derives from the config;
//! - `sla_engine`, `sla_clocked`, `sla_hooks` — SLA clocks;
//! - `per_agent` — per-agent credit; `families` — state → [`crate::metrics::Snapshot`];
//! - `state`, `keys`, `labels`, `table`, `window`, `dedup`, `quad_heap` — the
//!   data structures they share; `probe` — cache hints for their lookups,
//!   `hints` — the engine's hints for the events about to be applied;
//! - `freeze`, `held_ids` — the copy of the state a checkpoint is encoded
//!   from while the engine goes on; `agent_codec` — an agent in each
//!   checkpoint format; `changes`, `customer_table` — what
//!   changed since the last copy, for checkpoints of changes.

/// Adds `by` to the counter of `map` for key `k`, admitted by the series
/// budget (one series per key): [`state::SeriesBudget::add`].
macro_rules! bump {
    ($m:expr, $map:ident, $k:expr, $by:expr) => {{
        let m = &mut $m;
        m.budget.add(&mut m.$map, $k, $by)
    }};
}

mod agent_codec;
pub use agent_codec::{reading_format, WINDOWS_FROM_FORMAT};
mod changes;
mod customer_table;
mod gate;
mod growing;
mod held_ids;
pub use gate::{Gate, Verdict};
mod hints;
pub use hints::{EventKeys, HINTS_AHEAD};
mod id_pool;
mod keys;
mod labels;
mod per_agent;
mod probe;
pub use probe::prefetch_value;
mod quad_heap;
mod reshape;
pub use reshape::StateShape;
mod state;
mod table;
mod thin_id;
mod waiting;
pub mod window;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::config::{Config, StateConfig};
use crate::decode::DecodeError;
use crate::event::{Body, Channel, EntityRef, Event, EventType, Id, Priority};

pub use keys::dims;
pub use labels::{LabelCap, LabelId, OTHER, UNKNOWN};
use state::{Agent, Call, Ticket};
pub use state::{ExemplarSource, Metrics, PromHist};
use table::Table;
use window::{DimKey, DurMetric, WindowCount, Windows};

pub mod sla;
mod sla_clocked;
mod sla_engine;
#[cfg(test)]
mod sla_event_tests;
mod sla_hooks;
use sla_clocked::SlaTimers;

mod dedup;
pub use dedup::{Dedup, DedupCopy, LogMark};
mod dedup_log;
pub use dedup_log::{LogTail, Segment};

mod freeze;
pub use freeze::{FrozenState, Mirror, Spare, StateChanges};

mod families;

pub use crate::names::{HistId, NHIST};

mod agents;
pub use agents::AgentTime;
mod calls;
mod customers;
mod settings;
mod surveys;
mod ticket_form;
mod tickets;
mod timers;

use customer_table::Customers;
pub use growing::{prepare_with as prepare_tables_with, Prepare};
pub use settings::Settings;
use timers::{Timer, TimerKind};

/// Everything an engine remembers; serializable for checkpoints (its
/// serialization is in `freeze`, beside the copy encoded off the applying
/// thread).
#[derive(Clone, Debug, Deserialize)]
pub struct State {
    clock: Option<i64>,
    tickets: Table<Ticket>,
    calls: Table<Call>,
    agents: FxHashMap<Id, Agent>,
    /// Keyed by [`customer_key`]: the id itself is never needed again.
    customers: Customers,
    held_tickets: FxHashMap<Id, Vec<Event>>,
    held_calls: FxHashMap<Id, Vec<Event>>,
    held_count: usize,
    timers: BinaryHeap<Reverse<Timer>>,
    /// SLA timers of tickets and calls, by the hash of the id. Not
    /// checkpointed: rebuilt from each entity's `sla_due` on restore, so a
    /// checkpoint does not depend on the hash function.
    #[serde(skip)]
    sla_tickets: SlaTimers,
    #[serde(skip)]
    sla_calls: SlaTimers,
    /// Tickets and calls with a live SLA timer (rebuilt on restore).
    #[serde(skip)]
    sla_live: usize,
    timer_seq: u64,
    next_sweep: i64,
    #[serde(default)]
    next_slow_sweep: i64,
    dedup: Dedup,
    queues: LabelCap,
    agent_labels: LabelCap,
    metrics: Metrics,
    windows: Windows,
    /// Breaches not yet taken by the driver (bounded; not checkpointed).
    #[serde(skip)]
    breaches: Vec<sla::Breach>,
    #[serde(skip)]
    breaches_dropped: u64,
    /// SLA state changes not yet taken by the driver (bounded; not checkpointed).
    #[serde(skip)]
    sla_events: Vec<sla::SlaEvent>,
    #[serde(skip)]
    sla_events_dropped: u64,
}

/// Entries each growing table moves into its larger table per event
/// applied, besides those its own inserts move (`growing::MOVES`).
const MOVES_PER_EVENT: usize = 16;

impl State {
    /// Makes the room `[state]` asks each partition to reserve
    /// (`reserve_*`; none by default), so that these tables do not grow
    /// until they hold more: growing starts a table twice the size and
    /// moves the entries into it a few at a time (`growing`), and holds
    /// both tables' memory meanwhile.
    fn reserve(&mut self, cfg: &StateConfig) {
        self.tickets.reserve(cfg.reserve_tickets);
        self.calls.reserve(cfg.reserve_calls);
        self.customers.reserve(cfg.reserve_customers);
        self.dedup.reserve(cfg.reserve_event_ids);
    }

    /// Moves up to `n` entries of each table that is growing.
    #[inline]
    fn advance_moves(&mut self, n: usize) {
        self.tickets.advance_moves(n);
        self.calls.advance_moves(n);
        self.customers.advance_moves(n);
        self.dedup.advance_moves(n);
    }
}

/// Breach records kept for the driver between drains.
const MAX_BREACH_RECORDS: usize = 10_000;

/// SLA state changes kept for the driver between drains: the changes of
/// one apply or clock advance (a clock jump may breach every open clock at
/// once); past it they are counted as dropped.
pub const MAX_SLA_EVENTS: usize = 1 << 18;

/// The engine of one partition.
#[derive(Clone, Debug)]
pub struct Engine {
    settings: Settings,
    state: State,
    /// The dedup memory is out with a [`Gate`] ([`Engine::split_gate`]).
    gate_out: bool,
    /// Agent status time as of the last state written to the changelog,
    /// which snapshots show in its place ([`Engine::show_agent_time`]);
    /// none: snapshots show it live.
    shown_agent_time: Option<AgentTime>,
}

impl Engine {
    /// A fresh engine.
    pub fn new(cfg: &Config) -> Engine {
        let mut queues = LabelCap::new(cfg.labels.max_queues, &cfg.labels.queue_allow_list);
        let settings = Settings::from_config(cfg, &mut queues);
        let state = State {
            clock: None,
            tickets: Table::default(),
            calls: Table::default(),
            agents: FxHashMap::default(),
            customers: Customers::default(),
            held_tickets: FxHashMap::default(),
            held_calls: FxHashMap::default(),
            held_count: 0,
            timers: BinaryHeap::new(),
            sla_tickets: SlaTimers::new(),
            sla_calls: SlaTimers::new(),
            sla_live: 0,
            timer_seq: 0,
            next_sweep: i64::MIN,
            next_slow_sweep: i64::MIN,
            dedup: Dedup::default(),
            queues,
            agent_labels: LabelCap::new(settings.max_agents, &settings.agent_allow),
            metrics: Metrics {
                budget: state::SeriesBudget {
                    max: cfg.labels.max_series,
                    ..Default::default()
                },
                ..Default::default()
            },
            windows: Windows::new(settings.pane, &settings.window_sizes),
            breaches: Vec::new(),
            breaches_dropped: 0,
            sla_events: Vec::new(),
            sla_events_dropped: 0,
        };
        let mut e = Engine {
            settings,
            state,
            gate_out: false,
            shown_agent_time: None,
        };
        e.name_queues(cfg);
        e.state.reserve(&cfg.state);
        e
    }

    /// The queues the config names (its SLA policies' and allow-list's),
    /// which keep their label past the series budget.
    fn name_queues(&mut self, cfg: &Config) {
        let queues = &mut self.state.queues;
        let mut named: Vec<_> = self.settings.policies.queues().collect();
        named.extend(
            cfg.labels
                .queue_allow_list
                .iter()
                .map(|q| queues.reserve(q)),
        );
        named.sort_unstable();
        named.dedup();
        self.state.metrics.budget.named = named;
    }

    /// Restores an engine from checkpointed state.
    pub fn from_state(cfg: &Config, mut state: State) -> Engine {
        let settings = Settings::from_config(cfg, &mut state.queues);
        state
            .windows
            .configure(settings.pane, &settings.window_sizes);
        state.sla_tickets = sla_clocked::live_timers(&state.tickets);
        state.sla_calls = sla_clocked::live_timers(&state.calls);
        state.sla_live = state.sla_tickets.len() + state.sla_calls.len();
        state.metrics.budget.used = state.metrics.series(&settings.bounds);
        state.metrics.budget.max = cfg.labels.max_series;
        state.reserve(&cfg.state);
        let mut e = Engine {
            settings,
            state,
            gate_out: false,
            shown_agent_time: None,
        };
        e.name_queues(cfg);
        e
    }

    /// Takes the breaches recorded since the last call (for logs and the
    /// SLA event stream), and how many were dropped because nobody took them.
    pub fn drain_breaches(&mut self) -> (Vec<sla::Breach>, u64) {
        let dropped = std::mem::take(&mut self.state.breaches_dropped);
        (std::mem::take(&mut self.state.breaches), dropped)
    }

    /// Records every SLA state change from now on (or stops), for the
    /// driver to take with [`Engine::drain_sla_events`] after each
    /// [`Engine::apply`] or [`Engine::advance_clock`]. Off by default, and
    /// then free: the engine records nothing.
    pub fn record_sla_events(&mut self, on: bool) {
        self.settings.record_sla_events = on;
        if !on {
            self.state.sla_events = Vec::new();
        }
    }

    /// Takes the SLA state changes recorded since the last call, in the
    /// order they happened, and how many were dropped past
    /// [`MAX_SLA_EVENTS`] since then.
    pub fn drain_sla_events(&mut self) -> (std::vec::Drain<'_, sla::SlaEvent>, u64) {
        let dropped = std::mem::take(&mut self.state.sla_events_dropped);
        (self.state.sla_events.drain(..), dropped)
    }

    /// The state, for checkpointing.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state, for checkpoints that take its changes
    /// ([`State::freeze_changes`]).
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The event clock (epoch ms), if any event has been seen.
    pub fn clock(&self) -> Option<i64> {
        self.state.clock
    }

    /// The watermark: event clock minus allowed lateness.
    pub fn watermark(&self) -> i64 {
        self.state
            .clock
            .map_or(i64::MIN, |c| c - self.settings.lateness)
    }

    /// Counts a message that failed to decode, or an event the guards on
    /// event time refused (SPEC §1.7). The engine's own steps hand such a
    /// message back uncounted: its source counts it once it has accepted
    /// it (replay at once, the Kafka source once its dead letter is
    /// acknowledged), so that a message handed on to another owner is
    /// counted by that owner alone.
    pub fn record_decode_error(&mut self, reason_index: usize) {
        self.state.metrics.decode_errors[reason_index] += 1;
    }

    /// Counts a raw message written to the dead-letter output.
    pub fn record_dead_letter(&mut self) {
        self.state.metrics.dead_letters += 1;
    }

    /// Decodes, guards and applies a message at wall-clock time `now_ms`
    /// (epoch ms), counting a refusal at once: the whole step of a source
    /// with nothing to wait for before it accepts a bad message. The error
    /// is handed back for the dead-letter output (the caller calls
    /// [`Engine::record_dead_letter`] once it is written).
    pub fn ingest(
        &mut self,
        bytes: &[u8],
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        let result = crate::decode::decode(bytes, max_bytes).and_then(|ev| self.admit(ev, now_ms));
        if let Err(e) = &result {
            self.record_decode_error(e.reason_index());
        }
        result
    }

    /// [`Engine::admit_keyed`] of a decoded message (the event and its
    /// hashed keys); a decode error is handed back as it is (a copy: the
    /// caller keeps the decoded line), uncounted.
    pub fn admit_decoded(
        &mut self,
        decoded: &Result<(Event, EventKeys), DecodeError>,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        match decoded {
            Ok((ev, keys)) => self.admit_keyed(ev, keys, now_ms),
            Err(e) => Err(e.clone()),
        }
    }

    /// Applies a decoded event that passes the guards on event time (SPEC
    /// §2) at wall-clock time `now_ms`; one that does not changes nothing
    /// and is handed back, uncounted (see [`Engine::record_decode_error`]).
    pub fn admit(&mut self, ev: Event, now_ms: i64) -> Result<(), DecodeError> {
        let keys = EventKeys::of(&ev);
        self.admit_keyed(&ev, &keys, now_ms)
    }

    /// [`Engine::admit`] of an event whose keys the caller has hashed.
    pub fn admit_keyed(
        &mut self,
        ev: &Event,
        keys: &EventKeys,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        self.guard(ev.ts, now_ms)?;
        self.apply_keyed(ev, keys);
        Ok(())
    }

    /// Whether an event at `ts` would pass the guards on event time at
    /// wall-clock time `now_ms` (what [`Engine::admit`] checks first).
    pub fn admissible(&self, ts: i64, now_ms: i64) -> bool {
        self.guard(ts, now_ms).is_ok()
    }

    /// The guards on event time: not too far ahead of the wall clock, not
    /// too far behind the event clock.
    fn guard(&self, ts: i64, now_ms: i64) -> Result<(), DecodeError> {
        gate::guard(ts, now_ms, self.state.clock, &self.settings)
    }

    /// Moves up to `n` entries of each table that is growing into its
    /// larger table: what a driver does between events, so that a table
    /// that grew stops holding two tables soon even when few events come.
    pub fn advance_moves(&mut self, n: usize) {
        self.state.advance_moves(n);
    }

    /// Applies one valid event.
    pub fn apply(&mut self, ev: Event) {
        let keys = EventKeys::of(&ev);
        self.apply_keyed(&ev, &keys);
    }

    /// [`Engine::apply`] of an event whose keys the caller has hashed
    /// ([`EventKeys::of`] of this event: the lookups go by them).
    pub fn apply_keyed(&mut self, ev: &Event, keys: &EventKeys) {
        debug_assert_eq!(*keys, EventKeys::of(ev), "keys of another event");
        debug_assert!(!self.gate_out, "the dedup memory is out with a gate");
        self.count_event(ev);
        let clock = self.state.clock;
        if !self.state.dedup.insert_at_clock(keys.id(), clock, ev.ts) {
            self.state.metrics.duplicates += 1;
            return;
        }
        self.apply_fresh(ev, keys);
    }

    /// The first step of applying any event the guards let in: the moves
    /// of growing tables, and the count of events by type.
    fn count_event(&mut self, ev: &Event) {
        self.state.advance_moves(MOVES_PER_EVENT);
        let ty = ev.body.event_type();
        self.state.metrics.events[ty.index()] += 1;
    }

    /// Applies an event the dedup memory had not seen.
    fn apply_fresh(&mut self, ev: &Event, keys: &EventKeys) {
        if ev.ts < self.watermark() {
            self.state.metrics.late += 1;
        }
        self.advance_clock(ev.ts);
        self.route(ev, keys);
        self.fire_overdue();
    }

    fn out_of_order(&mut self, ty: EventType) {
        self.state.metrics.out_of_order[ty.index()] += 1;
    }

    /// Holds early arrivals, applies the rest.
    fn route(&mut self, ev: &Event, keys: &EventKeys) {
        // The entity's slot, found once: the handler starts from it.
        let (found, ticket) = match (ev.body.entity(), keys.entity()) {
            (EntityRef::Ticket(id), Some(h)) => (self.state.tickets.slot_hashed(h, id), true),
            (EntityRef::Call(id), Some(h)) => (self.state.calls.slot_hashed(h, id), false),
            _ => return self.dispatch(ev, None, keys),
        };
        if found.is_some() {
            return self.dispatch(ev, found, keys);
        }
        let ty = ev.body.event_type();
        if ev.ts < self.watermark() || self.state.held_count >= self.settings.max_held {
            return self.out_of_order(ty);
        }
        let id: Id = match ev.body.entity() {
            EntityRef::Ticket(id) | EntityRef::Call(id) => id.into(),
            EntityRef::None => unreachable!("handled above"),
        };
        let due = ev.ts + self.settings.lateness;
        let (map, kind) = if ticket {
            (
                &mut self.state.held_tickets,
                TimerKind::HeldTicket(id.clone()),
            )
        } else {
            (&mut self.state.held_calls, TimerKind::HeldCall(id.clone()))
        };
        map.entry(id).or_default().push(ev.clone());
        self.state.held_count += 1;
        self.schedule(due, kind);
    }

    /// Applies events held for an entity that has just opened, in `ts` order.
    fn release_held(&mut self, id: &str, ticket: bool) {
        let map = if ticket {
            &mut self.state.held_tickets
        } else {
            &mut self.state.held_calls
        };
        let Some(mut list) = map.remove(id) else {
            return;
        };
        self.state.held_count -= list.len();
        list.sort_by_key(|e| e.ts);
        for ev in &list {
            let keys = EventKeys::of(ev);
            self.dispatch(ev, None, &keys);
        }
    }

    fn in_window(&self, ts: i64) -> bool {
        ts >= self.watermark()
    }

    fn win_count(&mut self, ts: i64, c: WindowCount, n: i64) {
        if self.in_window(ts) {
            self.state.windows.count(ts, c, n);
        }
    }

    fn dim_key(&self, ch: Channel, q: LabelId) -> DimKey {
        DimKey {
            channel: if self.settings.window_by_channel {
                ch.index() as u8 + 1
            } else {
                0
            },
            queue: if self.settings.window_by_queue {
                q as u32 + 1
            } else {
                0
            },
        }
    }

    fn win_observe(&mut self, ts: i64, m: DurMetric, ch: Channel, q: LabelId, ms: i64) {
        if self.in_window(ts) {
            let key = self.dim_key(ch, q);
            let key = self.state.windows.admit_key(
                key,
                self.dim_key(ch, OTHER),
                self.settings.max_label_sets,
            );
            self.state.windows.observe(ts, m, key, ms);
        }
    }

    fn observe(&mut self, h: HistId, key: u32, ms: i64, ex: ExemplarSource<'_>) {
        let bounds = &self.settings.bounds[h as usize];
        let m = &mut self.state.metrics;
        // Buckets with `+Inf`, `_sum` and `_count`.
        m.budget.update(
            &mut m.hists[h as usize],
            key,
            bounds.len() + 3,
            || PromHist::new(bounds.len()),
            |hist| hist.observe(bounds, ms, ex),
        );
    }

    /// Hands an event to its handler.
    fn dispatch(&mut self, ev: &Event, found: Option<table::Slot>, keys: &EventKeys) {
        let ts = ev.ts;
        match &ev.body {
            body @ Body::TicketCreated { .. } => self.ticket_created(ts, body, keys),
            body @ Body::CallQueued { .. } => self.call_queued(ts, body, keys),
            Body::AgentStatusChanged {
                agent,
                status,
                queue,
            } => self.agent_status(ts, agent, *status, queue.as_deref()),
            body @ Body::SurveyCsat { .. } => self.survey_csat(ts, body),
            Body::SurveyNps { score, .. } => self.survey_nps(ts, *score),
            Body::SurveyCes { score, .. } => self.survey_ces(ts, *score),
            Body::CustomerSubscribed { customer } => self.customer_subscribed(customer),
            Body::CustomerChurned { customer } => self.customer_churned(customer),
            body => match body.entity() {
                EntityRef::Ticket(_) => self.ticket_event(ts, body, found),
                EntityRef::Call(_) => self.call_event(ts, body, found),
                EntityRef::None => unreachable!("every other event names a ticket or call"),
            },
        }
    }

    /// A handle-time observation (ticket or call) and its cost.
    fn handled(&mut self, ex: ExemplarSource<'_>, ch: Channel, q: LabelId, ms: i64) {
        let ts = ex.ts;
        let key = dims(ch, Priority::Low, q);
        self.observe(HistId::Handle, key, ms, ex);
        self.win_observe(ts, DurMetric::Handle, ch, q, ms);
        if self.settings.cost_per_hour > 0.0 {
            // One rounding, as SPEC's seconds × per_agent_hour / 3600 has:
            // 120 s at 36 an hour is 1.2, not 1.2000000000000002.
            bump!(
                self.state.metrics,
                handle_cost,
                key,
                ms as f64 * self.settings.cost_per_hour / 3_600_000.0
            );
        }
    }
}

#[cfg(test)]
mod tests;
