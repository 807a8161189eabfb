//! The sans-IO engine: typed events in, KPI state and snapshots out.
//!
//! One [`Engine`] owns the state of one partition: tickets, calls, agents,
//! customers, held early arrivals, timers, dedup memory, cumulative metrics
//! and windows. Time enters only as data (`ts` of events, and
//! [`Engine::advance_clock`] for a live clock on a quiet topic), so replay,
//! Kafka, tests and benchmarks drive the very same code.

mod keys;
mod labels;
mod per_agent;
mod quad_heap;
mod state;
mod table;
pub mod window;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ServiceLevelFormula, WindowLabel};
use crate::decode::DecodeError;
use crate::event::{
    AgentStatus, Body, Channel, EntityRef, Event, EventType, Id, Priority, TicketStatus,
};

pub use keys::dims;
pub use labels::{LabelCap, LabelId, OTHER, UNKNOWN};
use state::{
    flag, Agent, Call, CallPhase, Contact, Cover, Customer, Ticket, MAX_CONTACT_ENTRIES,
    NOT_WAITING,
};
pub use state::{ExemplarSource, Metrics, PromHist};
use table::Table;
use window::{DimKey, DurMetric, WindowCount, Windows};

pub mod sla;
mod sla_engine;
#[cfg(test)]
mod sla_event_tests;
use sla::Policies;
use sla_engine::SlaTimers;

mod dedup;
pub use dedup::Dedup;

mod families;

pub use crate::names::{HistId, NHIST};

/// Settings derived from the config, not part of the checkpointed state.
#[derive(Clone, Debug)]
pub struct Settings {
    lateness: i64,
    dedup_horizon: i64,
    repeat_window: i64,
    short_abandon: i64,
    sl_threshold: i64,
    acw_timeout: i64,
    cost_per_ms: f64,
    bounds: [Arc<[f64]>; NHIST],
    window_names: Vec<String>,
    window_sizes: Vec<i64>,
    pane: i64,
    window_by_channel: bool,
    window_by_queue: bool,
    kpi_targets: Vec<(String, f64)>,
    resolved_ticket_ttl: i64,
    idle_ticket_ttl: i64,
    finished_call_ttl: i64,
    idle_call_ttl: i64,
    sweep_every: i64,
    /// Tickets, customers and agents live for days: swept less often than calls.
    slow_sweep_every: i64,
    max_held: usize,
    max_label_sets: usize,
    max_future_skew: i64,
    max_event_age: i64,
    agent_idle: i64,
    max_agents: usize,
    agent_allow: Vec<String>,
    policies: Policies,
    sl_formula: ServiceLevelFormula,
    /// `agents.per_agent_metrics`.
    per_agent: bool,
    /// Whether SLA state changes are recorded for the driver
    /// ([`Engine::record_sla_events`]).
    record_sla_events: bool,
}

impl Settings {
    /// Derives engine settings from a validated config; SLA policies are
    /// compiled against (and reserve their queues in) `queues`.
    pub fn from_config(c: &Config, queues: &mut LabelCap) -> Settings {
        // Config::validate compiled these already; a config built by hand
        // must be validated first.
        let policies = Policies::compile(c, queues)
            .unwrap_or_else(|e| panic!("engine config must be validated first: {e}"));
        let targets = policies.target_bounds();
        let hist = |h: HistId| -> Arc<[f64]> {
            let mut b = c.histograms.bounds(h.key());
            if let Some(t) = targets.get(h.key()) {
                b.extend(t);
                b.sort_by(f64::total_cmp);
                b.dedup();
            }
            b.into()
        };
        Settings {
            lateness: c.time.allowed_lateness.ms(),
            dedup_horizon: c.time.dedup_horizon.ms(),
            repeat_window: c.kpi.repeat_window.ms(),
            short_abandon: c.kpi.short_abandon.ms(),
            sl_threshold: c.kpi.service_level_threshold.ms(),
            acw_timeout: c.kpi.acw_timeout.ms(),
            cost_per_ms: c.cost.per_agent_hour / 3_600_000.0,
            bounds: HistId::ALL.map(hist),
            window_names: c.windows.sizes.iter().map(|d| d.to_string()).collect(),
            window_sizes: c.windows.sizes.iter().map(|d| d.ms()).collect(),
            pane: c.windows.pane.ms(),
            window_by_channel: c.windows.labels.contains(&WindowLabel::Channel),
            window_by_queue: c.windows.labels.contains(&WindowLabel::Queue),
            kpi_targets: c.kpi_targets.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            resolved_ticket_ttl: c.state.resolved_ticket_ttl.ms(),
            idle_ticket_ttl: c.state.idle_ticket_ttl.ms(),
            finished_call_ttl: c.state.finished_call_ttl.ms(),
            idle_call_ttl: c.state.idle_call_ttl.ms(),
            sweep_every: (c.state.finished_call_ttl.ms() / 4).clamp(10_000, 3_600_000),
            slow_sweep_every: (c
                .state
                .resolved_ticket_ttl
                .ms()
                .min(c.kpi.repeat_window.ms())
                / 24)
                .clamp(60_000, 6 * 3_600_000),
            max_held: c.limits.max_held_events,
            max_label_sets: c.windows.max_label_sets,
            max_future_skew: c.time.max_future_skew.ms(),
            max_event_age: c.time.max_event_age.ms(),
            agent_idle: c.agents.idle_timeout.ms(),
            max_agents: c.labels.max_agents,
            agent_allow: c.labels.agent_allow_list.clone(),
            policies,
            sl_formula: c.kpi.service_level_formula,
            per_agent: c.agents.per_agent_metrics,
            record_sla_events: false,
        }
    }
}

/// A timer on the event clock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Timer {
    due: i64,
    seq: u64,
    kind: TimerKind,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum TimerKind {
    /// After-call work of this call times out.
    Acw(Id),
    /// Held events of this ticket may have fallen behind the watermark.
    HeldTicket(Id),
    /// Held events of this call may have fallen behind the watermark.
    HeldCall(Id),
}

/// Which heap the next timer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Heap {
    General,
    SlaTicket,
    SlaCall,
}

/// The key of a customer: a 128-bit hash of the id. Two of a billion
/// customers share one with a probability near 10^-21; the id is not kept.
/// Two `u64`s rather than a `u128`, whose 16-byte alignment would pad every
/// map slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u128", into = "u128")]
struct CustomerKey(u64, u64);

impl From<u128> for CustomerKey {
    fn from(k: u128) -> Self {
        CustomerKey((k >> 64) as u64, k as u64)
    }
}

impl From<CustomerKey> for u128 {
    fn from(k: CustomerKey) -> Self {
        (k.0 as u128) << 64 | k.1 as u128
    }
}

fn customer_key(id: &str) -> CustomerKey {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes()).into()
}

/// Everything an engine remembers; serializable for checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    clock: Option<i64>,
    tickets: Table<Ticket>,
    calls: Table<Call>,
    agents: FxHashMap<Id, Agent>,
    /// Keyed by [`customer_key`]: the id itself is never needed again.
    customers: FxHashMap<CustomerKey, Customer>,
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

/// The counter of `map` for key `k`, admitted by the series budget (one
/// series per key).
macro_rules! bump {
    ($m:expr, $map:ident, $k:expr) => {{
        let m = &mut $m;
        let k = m.budget.admit(&m.$map, $k, 1);
        m.$map.entry(k).or_default()
    }};
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
    s: Settings,
    st: State,
}

impl Engine {
    /// A fresh engine.
    pub fn new(cfg: &Config) -> Engine {
        let mut queues = LabelCap::new(cfg.labels.max_queues, &cfg.labels.queue_allow_list);
        let s = Settings::from_config(cfg, &mut queues);
        let st = State {
            clock: None,
            tickets: Table::default(),
            calls: Table::default(),
            agents: FxHashMap::default(),
            customers: FxHashMap::default(),
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
            agent_labels: LabelCap::new(s.max_agents, &s.agent_allow),
            metrics: Metrics {
                budget: state::SeriesBudget {
                    max: cfg.labels.max_series,
                    ..Default::default()
                },
                ..Default::default()
            },
            windows: Windows::new(s.pane, &s.window_sizes),
            breaches: Vec::new(),
            breaches_dropped: 0,
            sla_events: Vec::new(),
            sla_events_dropped: 0,
        };
        Engine { s, st }
    }

    /// Restores an engine from checkpointed state.
    pub fn from_state(cfg: &Config, mut st: State) -> Engine {
        st.windows.rebuild();
        st.sla_tickets = sla_engine::live_timers(&st.tickets);
        st.sla_calls = sla_engine::live_timers(&st.calls);
        st.sla_live = st.sla_tickets.len() + st.sla_calls.len();
        let s = Settings::from_config(cfg, &mut st.queues);
        st.metrics.budget.used = st.metrics.series(&s.bounds);
        st.metrics.budget.max = cfg.labels.max_series;
        Engine { s, st }
    }

    /// Takes the breaches recorded since the last call (for logs and the
    /// SLA event stream), and how many were dropped because nobody took them.
    pub fn drain_breaches(&mut self) -> (Vec<sla::Breach>, u64) {
        let dropped = std::mem::take(&mut self.st.breaches_dropped);
        (std::mem::take(&mut self.st.breaches), dropped)
    }

    /// Records every SLA state change from now on (or stops), for the
    /// driver to take with [`Engine::drain_sla_events`] after each
    /// [`Engine::apply`] or [`Engine::advance_clock`]. Off by default, and
    /// then free: the engine records nothing.
    pub fn record_sla_events(&mut self, on: bool) {
        self.s.record_sla_events = on;
        if !on {
            self.st.sla_events = Vec::new();
        }
    }

    /// Takes the SLA state changes recorded since the last call, in the
    /// order they happened, and how many were dropped past
    /// [`MAX_SLA_EVENTS`] since then.
    pub fn drain_sla_events(&mut self) -> (std::vec::Drain<'_, sla::SlaEvent>, u64) {
        let dropped = std::mem::take(&mut self.st.sla_events_dropped);
        (self.st.sla_events.drain(..), dropped)
    }

    /// The state, for checkpointing.
    pub fn state(&self) -> &State {
        &self.st
    }

    /// The event clock (epoch ms), if any event has been seen.
    pub fn clock(&self) -> Option<i64> {
        self.st.clock
    }

    /// The watermark: event clock minus allowed lateness.
    pub fn watermark(&self) -> i64 {
        self.st.clock.map_or(i64::MIN, |c| c - self.s.lateness)
    }

    /// Counts a message that failed to decode (SPEC §1.7).
    pub fn record_decode_error(&mut self, reason_index: usize) {
        self.st.metrics.decode_errors[reason_index] += 1;
    }

    /// Counts a raw message written to the dead-letter output.
    pub fn record_dead_letter(&mut self) {
        self.st.metrics.dead_letters += 1;
    }

    /// The one step every source takes per message: decode, guard its
    /// event time against `now_ms` (the driver's wall clock, epoch ms) and
    /// apply it, or count the error and hand it back for the dead-letter
    /// output (the caller calls [`Engine::record_dead_letter`] once it is
    /// written).
    pub fn ingest(
        &mut self,
        bytes: &[u8],
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        match crate::decode::decode(bytes, max_bytes) {
            Ok(ev) => self.admit(ev, now_ms),
            Err(e) => {
                self.record_decode_error(e.reason_index());
                Err(e)
            }
        }
    }

    /// Applies a decoded event that passes the guards on event time (SPEC
    /// §2) at wall-clock time `now_ms`; one that does not is counted like a
    /// decode error and handed back, and changes nothing else.
    pub fn admit(&mut self, ev: Event, now_ms: i64) -> Result<(), DecodeError> {
        if let Err(e) = self.guard(ev.ts, now_ms) {
            self.record_decode_error(e.reason_index());
            return Err(e);
        }
        self.apply(ev);
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
        let ahead = ts.saturating_sub(now_ms);
        if ahead > self.s.max_future_skew {
            return Err(DecodeError::FutureTimestamp {
                ahead_ms: ahead,
                max_ms: self.s.max_future_skew,
            });
        }
        if let Some(clock) = self.st.clock {
            let behind = clock.saturating_sub(ts);
            if behind > self.s.max_event_age {
                return Err(DecodeError::TooOld {
                    behind_ms: behind,
                    max_ms: self.s.max_event_age,
                });
            }
        }
        Ok(())
    }

    /// Applies one valid event.
    pub fn apply(&mut self, ev: Event) {
        let ty = ev.body.event_type();
        self.st.metrics.events[ty.index()] += 1;
        let now = self.st.clock.map_or(ev.ts, |c| c.max(ev.ts));
        if !self.st.dedup.insert(&ev.id, now) {
            self.st.metrics.duplicates += 1;
            return;
        }
        if ev.ts < self.watermark() {
            self.st.metrics.late += 1;
        }
        self.advance_clock(ev.ts);
        self.route(ev);
        self.fire_overdue();
    }

    /// Fires timers an event has put behind the clock (an SLA target
    /// shortened past its deadline, a late opening event): they are due now.
    fn fire_overdue(&mut self) {
        let Some(clock) = self.st.clock else { return };
        while let Some((due, heap)) = self.next_timer() {
            if due >= clock {
                break;
            }
            let cutoff = self.watermark();
            self.fire_next(heap, cutoff);
        }
    }

    /// The earliest timer over the three heaps.
    fn next_timer(&self) -> Option<(i64, Heap)> {
        let mut best = self
            .st
            .timers
            .peek()
            .map(|Reverse(t)| (t.due, Heap::General));
        for (h, heap) in [
            (&self.st.sla_tickets, Heap::SlaTicket),
            (&self.st.sla_calls, Heap::SlaCall),
        ] {
            if let Some((due, _)) = h.peek() {
                if best.is_none_or(|(b, _)| *due < b) {
                    best = Some((*due, heap));
                }
            }
        }
        best
    }

    /// Pops and fires the earliest timer of `heap`.
    fn fire_next(&mut self, heap: Heap, held_cutoff: i64) {
        match heap {
            Heap::General => {
                let Reverse(t) = self.st.timers.pop().expect("peeked");
                self.fire(t, held_cutoff);
            }
            Heap::SlaTicket => {
                let (due, hash) = self.st.sla_tickets.pop().expect("peeked");
                self.sla_ticket_timer(due, hash);
            }
            Heap::SlaCall => {
                let (due, hash) = self.st.sla_calls.pop().expect("peeked");
                self.sla_call_timer(due, hash);
            }
        }
    }

    /// Moves the event clock forward to `ts` (no-op if it is behind), firing
    /// every timer it passes. Live drivers call this with wall time on a
    /// quiet partition.
    pub fn advance_clock(&mut self, ts: i64) {
        if self.st.clock.is_some_and(|c| c >= ts) {
            return;
        }
        while let Some((due, heap)) = self.next_timer() {
            if due >= ts {
                break;
            }
            self.set_clock(due);
            // The clock is about to pass `due`: held events at or before
            // `due − lateness` fall behind the watermark.
            self.fire_next(heap, due - self.s.lateness + 1);
        }
        self.set_clock(ts);
    }

    /// End of input: fires every timer due before the event clock, and
    /// after-call-work timeouts due at it (a held event exactly at the
    /// watermark is not behind it yet, and an SLA deadline at the clock has
    /// not passed).
    pub fn flush(&mut self) {
        let Some(clock) = self.st.clock else { return };
        let cutoff = clock - self.s.lateness;
        while let Some((due, heap)) = self.next_timer() {
            if due >= clock {
                break;
            }
            self.set_clock(due);
            self.fire_next(heap, cutoff);
        }
        let mut keep = Vec::new();
        while let Some(Reverse(t)) = self.st.timers.peek() {
            if t.due > clock {
                break;
            }
            let Reverse(t) = self.st.timers.pop().expect("peeked");
            if matches!(t.kind, TimerKind::Acw(_)) {
                self.fire(t, cutoff);
            } else {
                keep.push(Reverse(t));
            }
        }
        self.st.timers.extend(keep);
    }

    fn set_clock(&mut self, ts: i64) {
        if self.st.clock.is_some_and(|c| c >= ts) {
            return;
        }
        self.st.clock = Some(ts);
        self.st.windows.advance(ts);
        self.st.dedup.expire(ts - self.s.dedup_horizon);
        if ts >= self.st.next_sweep {
            let slow = ts >= self.st.next_slow_sweep;
            if self.st.next_sweep != i64::MIN {
                self.sweep(ts, slow);
            }
            self.st.next_sweep = ts + self.s.sweep_every;
            if slow {
                self.st.next_slow_sweep = ts + self.s.slow_sweep_every;
            }
        }
    }

    fn schedule(&mut self, due: i64, kind: TimerKind) {
        self.st.timer_seq += 1;
        self.st.timers.push(Reverse(Timer {
            due,
            seq: self.st.timer_seq,
            kind,
        }));
    }

    /// Fires a timer; held events older than `held_cutoff` are dropped.
    fn fire(&mut self, t: Timer, held_cutoff: i64) {
        match t.kind {
            TimerKind::Acw(id) => {
                let Some(call) = self.st.calls.get(&id) else {
                    return;
                };
                if let CallPhase::AfterCallWork { ended } = call.phase {
                    if ended + self.s.acw_timeout == t.due {
                        self.finish_call(&id, t.due, 0);
                    }
                }
            }
            TimerKind::HeldTicket(id) => self.expire_held(id, true, held_cutoff),
            TimerKind::HeldCall(id) => self.expire_held(id, false, held_cutoff),
        }
    }

    fn expire_held(&mut self, id: Id, ticket: bool, cutoff: i64) {
        let map = if ticket {
            &mut self.st.held_tickets
        } else {
            &mut self.st.held_calls
        };
        let Some(list) = map.get_mut(&id) else { return };
        let before = list.len();
        let m = &mut self.st.metrics;
        list.retain(|e| {
            let keep = e.ts >= cutoff;
            if !keep {
                m.out_of_order[e.body.event_type().index()] += 1;
            }
            keep
        });
        self.st.held_count -= before - list.len();
        if list.is_empty() {
            map.remove(&id);
        }
    }

    fn out_of_order(&mut self, ty: EventType) {
        self.st.metrics.out_of_order[ty.index()] += 1;
    }

    /// Holds early arrivals, applies the rest.
    fn route(&mut self, ev: Event) {
        let (known, ticket) = match ev.body.entity() {
            EntityRef::Ticket(id) => (self.st.tickets.contains_key(id), true),
            EntityRef::Call(id) => (self.st.calls.contains_key(id), false),
            EntityRef::None => return self.dispatch(ev),
        };
        if known {
            return self.dispatch(ev);
        }
        let ty = ev.body.event_type();
        if ev.ts < self.watermark() || self.st.held_count >= self.s.max_held {
            return self.out_of_order(ty);
        }
        let id: Id = match ev.body.entity() {
            EntityRef::Ticket(id) | EntityRef::Call(id) => id.into(),
            EntityRef::None => unreachable!("handled above"),
        };
        let due = ev.ts + self.s.lateness;
        let (map, kind) = if ticket {
            (&mut self.st.held_tickets, TimerKind::HeldTicket(id.clone()))
        } else {
            (&mut self.st.held_calls, TimerKind::HeldCall(id.clone()))
        };
        map.entry(id).or_default().push(ev);
        self.st.held_count += 1;
        self.schedule(due, kind);
    }

    /// Applies events held for an entity that has just opened, in `ts` order.
    fn release_held(&mut self, id: &str, ticket: bool) {
        let map = if ticket {
            &mut self.st.held_tickets
        } else {
            &mut self.st.held_calls
        };
        let Some(mut list) = map.remove(id) else {
            return;
        };
        self.st.held_count -= list.len();
        list.sort_by_key(|e| e.ts);
        for ev in list {
            self.dispatch(ev);
        }
    }

    fn in_window(&self, ts: i64) -> bool {
        ts >= self.watermark()
    }

    fn win_count(&mut self, ts: i64, c: WindowCount, n: i64) {
        if self.in_window(ts) {
            self.st.windows.count(ts, c, n);
        }
    }

    fn dim_key(&self, ch: Channel, q: LabelId) -> DimKey {
        DimKey {
            channel: if self.s.window_by_channel {
                ch.index() as u8 + 1
            } else {
                0
            },
            queue: if self.s.window_by_queue {
                q as u32 + 1
            } else {
                0
            },
        }
    }

    fn win_observe(&mut self, ts: i64, m: DurMetric, ch: Channel, q: LabelId, ms: i64) {
        if self.in_window(ts) {
            let key = self.dim_key(ch, q);
            let key =
                self.st
                    .windows
                    .admit_key(key, self.dim_key(ch, OTHER), self.s.max_label_sets);
            self.st.windows.observe(ts, m, key, ms);
        }
    }

    fn observe(&mut self, h: HistId, key: u32, ms: i64, ex: ExemplarSource<'_>) {
        let bounds = &self.s.bounds[h as usize];
        let m = &mut self.st.metrics;
        // Buckets with `+Inf`, `_sum` and `_count`.
        let key = m.budget.admit(&m.hists[h as usize], key, bounds.len() + 3);
        m.hists[h as usize]
            .entry(key)
            .or_insert_with(|| PromHist::new(bounds.len()))
            .observe(bounds, ms, ex);
    }

    fn dispatch(&mut self, ev: Event) {
        let ty = ev.body.event_type();
        let ts = ev.ts;
        match ev.body {
            Body::TicketCreated {
                ticket,
                customer,
                channel,
                priority,
                queue,
                category,
            } => {
                if self.st.tickets.contains_key(&ticket) {
                    return self.out_of_order(ty);
                }
                let q = self.st.queues.resolve(queue.as_deref());
                let mut t = Ticket::new(ts, channel, priority, q);
                self.st.metrics.open_add(t.status, priority, q, 1);
                let hash = table::hash_id(&ticket);
                self.sla_ticket_created(&mut t, &ticket, hash);
                self.st.tickets.insert_hashed(hash, &ticket, t);
                *bump!(self.st.metrics, tickets_created, dims(channel, priority, q)) += 1;
                self.win_count(ts, WindowCount::TicketsCreated, 1);
                self.contact(ts, &ticket, &customer, category.as_deref(), channel, q);
                self.release_held(&ticket, true);
            }
            Body::CallQueued {
                call,
                customer,
                queue,
                channel,
                category,
            } => {
                if self.st.calls.contains_key(&call) {
                    return self.out_of_order(ty);
                }
                let q = self.st.queues.resolve(queue.as_deref());
                let mut c = Call::new(ts, channel, q);
                let hash = table::hash_id(&call);
                self.sla_call_queued(&mut c, &call, hash);
                self.st.calls.insert_hashed(hash, &call, c);
                self.st.metrics.waiting_add(q, ts, 1);
                *bump!(self.st.metrics, calls_offered, q as u32) += 1;
                self.contact(ts, &call, &customer, category.as_deref(), channel, q);
                self.release_held(&call, false);
            }
            Body::AgentStatusChanged {
                agent,
                status,
                queue,
            } => self.agent_status(ts, agent, status, queue),
            Body::SurveyCsat {
                score,
                ticket,
                call,
                channel,
                queue,
                agent,
            } => {
                let (ech, eq) = self.entity_dims(ticket.as_deref(), call.as_deref());
                let ch = channel.or(ech).unwrap_or(Channel::Other);
                let q = match queue {
                    Some(q) => self.st.queues.resolve(Some(&q)),
                    None => eq.unwrap_or(UNKNOWN),
                };
                let key = keys::csat_key(score, ch, q);
                *bump!(self.st.metrics, csat, key) += 1;
                if self.per_agent() {
                    self.agent_csat(
                        score,
                        agent.as_deref(),
                        ticket.as_deref(),
                        call.as_deref(),
                        q,
                    );
                }
                self.win_count(ts, WindowCount::CsatResponses, 1);
                if score >= 4 {
                    self.win_count(ts, WindowCount::CsatPositive, 1);
                }
            }
            Body::SurveyNps { score, .. } => {
                let (i, c) = match score {
                    9..=10 => (0, WindowCount::NpsPromoters),
                    7..=8 => (1, WindowCount::NpsPassives),
                    _ => (2, WindowCount::NpsDetractors),
                };
                self.st.metrics.nps[i] += 1;
                self.win_count(ts, c, 1);
            }
            Body::SurveyCes { score, .. } => {
                self.st.metrics.ces[score as usize - 1] += 1;
                self.win_count(ts, WindowCount::CesCount, 1);
                self.win_count(ts, WindowCount::CesSum, score as i64);
            }
            Body::CustomerSubscribed { customer } => {
                let c = self
                    .st
                    .customers
                    .entry(customer_key(&customer))
                    .or_default();
                if !c.active {
                    c.active = true;
                    self.st.metrics.active_customers += 1;
                }
            }
            Body::CustomerChurned { customer } => {
                self.st.metrics.churned += 1;
                if let Some(c) = self.st.customers.get_mut(&customer_key(&customer)) {
                    if c.active {
                        c.active = false;
                        self.st.metrics.active_customers -= 1;
                    }
                }
            }
            body => match body.entity() {
                EntityRef::Ticket(_) => self.ticket_event(ts, body),
                EntityRef::Call(_) => self.call_event(ts, body),
                EntityRef::None => unreachable!("every other event names a ticket or call"),
            },
        }
    }

    fn entity_dims(
        &self,
        ticket: Option<&str>,
        call: Option<&str>,
    ) -> (Option<Channel>, Option<LabelId>) {
        if let Some(t) = ticket.and_then(|t| self.st.tickets.get(t)) {
            return (Some(t.channel), Some(t.queue));
        }
        if let Some(c) = call.and_then(|c| self.st.calls.get(c)) {
            return (Some(c.channel), Some(c.queue));
        }
        (None, None)
    }

    /// A new contact: counts it, and decides repeats in both directions so
    /// that the result does not depend on arrival order.
    fn contact(
        &mut self,
        ts: i64,
        contact_id: &str,
        customer: &str,
        category: Option<&str>,
        ch: Channel,
        q: LabelId,
    ) {
        *bump!(self.st.metrics, contacts, dims(ch, Priority::Low, q)) += 1;
        self.win_count(ts, WindowCount::Contacts, 1);
        let cat = category.map_or(0, |c| xxhash_rust::xxh3::xxh3_64(c.as_bytes()) as u32 | 1);
        let w = self.s.repeat_window;
        let cust = self.st.customers.entry(customer_key(customer)).or_default();
        // Contacts are ordered by (ts, id hash): at equal times the order
        // still does not depend on which arrived first.
        let key = xxhash_rust::xxh3::xxh3_64(contact_id.as_bytes());
        let is_repeat = cust.has_earlier(ts, key, cat, w);
        // Later contacts not yet repeats that this one makes repeats (an
        // earlier contact arriving late).
        let mut newly: Vec<(i64, Channel, LabelId)> = Vec::new();
        let mut i = 0;
        while i < cust.contacts.len() {
            let c = &cust.contacts[i];
            let same = c.cat == 0 || cat == 0 || c.cat == cat;
            if (c.ts, c.key) >= (ts, key) && c.ts - ts <= w && same {
                let c = cust.contacts.swap_remove(i);
                newly.push((c.ts, c.channel, c.queue));
                cust.add_cover(cover(&c, w));
            } else {
                i += 1;
            }
        }
        let c = Contact {
            ts,
            key,
            cat,
            channel: ch,
            queue: q,
        };
        if is_repeat {
            cust.add_cover(cover(&c, w));
            newly.push((ts, ch, q));
        } else {
            cust.contacts.push(c);
            if cust.contacts.len() > MAX_CONTACT_ENTRIES {
                let oldest = (0..cust.contacts.len())
                    .min_by_key(|&i| (cust.contacts[i].ts, cust.contacts[i].key))
                    .expect("not empty");
                let c = cust.contacts.swap_remove(oldest);
                cust.add_cover(cover(&c, w));
            }
        }
        for (t, ch, q) in newly {
            *bump!(self.st.metrics, repeats, dims(ch, Priority::Low, q)) += 1;
            self.win_count(t, WindowCount::Repeats, 1);
        }
    }

    fn ticket_event(&mut self, ts: i64, mut body: Body) {
        let ty = body.event_type();
        if !matches!(body.entity(), EntityRef::Ticket(_)) {
            return;
        }
        // The id is moved out, not copied: the arms below take other fields.
        let Some(id) = body.take_entity_id() else {
            return;
        };
        // One lookup: the slot stays valid until a ticket is added or removed.
        let Some(slot) = self.st.tickets.slot(&id) else {
            return self.out_of_order(ty);
        };
        if ts < self.st.tickets.at(slot).created {
            return self.out_of_order(ty);
        }
        // SLA clocks catch up first (a held early arrival is judged by its own ts).
        self.sla_ticket_catch_up(slot, ts);
        let t = self.st.tickets.at_mut(slot);
        t.last_event = t.last_event.max(ts);
        let (ch, pr, q, status, resolved) =
            (t.channel, t.priority, t.queue, t.status, t.resolved());
        match body {
            Body::TicketAssigned { agent, queue, .. } => {
                if self.per_agent() {
                    self.agent_assigned(slot, &agent);
                }
                if let Some(queue) = queue {
                    let nq = self.st.queues.resolve(Some(&queue));
                    self.st.tickets.at_mut(slot).queue = nq;
                    if !resolved {
                        self.st.metrics.open_add(status, pr, q, -1);
                        self.st.metrics.open_add(status, pr, nq, 1);
                    }
                    if nq != q {
                        self.sla_ticket_relabel(slot, pr, q, ts);
                    }
                }
            }
            Body::TicketAgentReplied { agent, public, .. } => {
                if !public {
                    return;
                }
                // A reply dated before the customer message it would answer
                // measures nothing (SPEC §2): it is out of order.
                let since = self.st.tickets.at(slot).unanswered_since;
                if since != NOT_WAITING && ts < since {
                    return self.out_of_order(ty);
                }
                // Before `unanswered_since`, the next-response clock's start, is cleared.
                self.sla_ticket_replied(slot, ts);
                let t = self.st.tickets.at_mut(slot);
                t.public_replies = t.public_replies.saturating_add(1);
                let first = !t.has(flag::REPLIED);
                t.set(flag::REPLIED, true);
                let created = t.created;
                let policy = t.policy;
                let waiting = std::mem::replace(&mut t.unanswered_since, NOT_WAITING);
                let waiting = (waiting != NOT_WAITING).then_some(waiting);
                let key = dims(ch, pr, q);
                let business = self.business_hours(policy).map(|h| {
                    (
                        first.then(|| h.elapsed(created, ts)),
                        waiting.map(|since| h.elapsed(since, ts)),
                    )
                });
                if first {
                    self.observe(
                        HistId::FirstResponse,
                        key,
                        ts - created,
                        ExemplarSource::ticket(&id, ts),
                    );
                    self.win_observe(ts, DurMetric::FirstResponse, ch, q, ts - created);
                    if let Some((Some(ms), _)) = business {
                        self.observe(
                            HistId::FirstResponseBusiness,
                            key,
                            ms,
                            ExemplarSource::ticket(&id, ts),
                        );
                    }
                }
                if let Some(since) = waiting {
                    let ms = (ts - since).max(0);
                    self.observe(HistId::Reply, key, ms, ExemplarSource::ticket(&id, ts));
                    self.win_observe(ts, DurMetric::Reply, ch, q, ms);
                    if let Some((_, Some(ms))) = business {
                        self.observe(
                            HistId::ReplyBusiness,
                            key,
                            ms,
                            ExemplarSource::ticket(&id, ts),
                        );
                    }
                }
                if self.per_agent() {
                    self.agent_replied(slot, &agent, q, first.then_some(ts - created));
                }
            }
            Body::TicketCustomerReplied { .. } => {
                let t = self.st.tickets.at_mut(slot);
                let starts_wait = t.unanswered_since == NOT_WAITING;
                if starts_wait {
                    t.unanswered_since = ts;
                }
                if !resolved && status != TicketStatus::Open {
                    t.status = TicketStatus::Open;
                    self.st.metrics.open_add(status, pr, q, -1);
                    self.st.metrics.open_add(TicketStatus::Open, pr, q, 1);
                    if status == TicketStatus::Pending {
                        self.sla_ticket_pending(slot, ts, false);
                    }
                }
                if starts_wait {
                    self.sla_ticket_awaits_reply(slot);
                }
            }
            Body::TicketStatusChanged { status: new, .. } => {
                if resolved {
                    return self.out_of_order(ty);
                }
                self.st.tickets.at_mut(slot).status = new;
                self.st.metrics.open_add(status, pr, q, -1);
                self.st.metrics.open_add(new, pr, q, 1);
                let (was, is) = (
                    status == TicketStatus::Pending,
                    new == TicketStatus::Pending,
                );
                if was != is {
                    self.sla_ticket_pending(slot, ts, is);
                }
            }
            Body::TicketPriorityChanged { priority, .. } => {
                self.st.tickets.at_mut(slot).priority = priority;
                if !resolved {
                    self.st.metrics.open_add(status, pr, q, -1);
                    self.st.metrics.open_add(status, priority, q, 1);
                }
                if priority != pr {
                    self.sla_ticket_relabel(slot, pr, q, ts);
                }
            }
            Body::TicketEscalated { .. } => {
                let t = self.st.tickets.at_mut(slot);
                if !t.has(flag::ESCALATED) {
                    t.set(flag::ESCALATED, true);
                    *bump!(self.st.metrics, escalations, dims(ch, pr, q)) += 1;
                    self.win_count(ts, WindowCount::Escalations, 1);
                    if self.per_agent() {
                        self.agent_ticket_escalated(slot, q);
                    }
                }
            }
            Body::TicketWorkLogged { ms, .. } => {
                let t = self.st.tickets.at_mut(slot);
                // Saturates at 49 days of logged work on one ticket.
                t.work_ms = t
                    .work_ms
                    .saturating_add(ms.clamp(0, u32::MAX as i64) as u32);
                t.set(flag::WORKED, true);
            }
            Body::TicketResolved { agent, .. } => {
                if resolved {
                    return self.out_of_order(ty);
                }
                let t = self.st.tickets.at_mut(slot);
                t.set(flag::RESOLVED, true);
                let first = !t.has(flag::EVER_RESOLVED);
                t.set(flag::EVER_RESOLVED, true);
                let (created, fcr, worked, work_ms, policy) = (
                    t.created,
                    t.public_replies <= 1 && !t.has(flag::ESCALATED),
                    t.has(flag::WORKED),
                    i64::from(t.work_ms),
                    t.policy,
                );
                self.st.metrics.open_add(status, pr, q, -1);
                let key = dims(ch, pr, q);
                if first {
                    *bump!(self.st.metrics, tickets_resolved, key) += 1;
                    self.observe(
                        HistId::Resolution,
                        key,
                        ts - created,
                        ExemplarSource::ticket(&id, ts),
                    );
                    if let Some(ms) = self.business_hours(policy).map(|h| h.elapsed(created, ts)) {
                        self.observe(
                            HistId::ResolutionBusiness,
                            key,
                            ms,
                            ExemplarSource::ticket(&id, ts),
                        );
                    }
                    self.sla_ticket_resolved(slot, ts);
                    self.win_observe(ts, DurMetric::Resolution, ch, q, ts - created);
                    self.win_count(ts, WindowCount::FirstResolutions, 1);
                    self.win_count(ts, WindowCount::ResolvedContacts, 1);
                    if fcr {
                        *bump!(self.st.metrics, fcr, key) += 1;
                        self.win_count(ts, WindowCount::Fcr, 1);
                    }
                    if worked {
                        self.handled(ExemplarSource::ticket(&id, ts), ch, q, work_ms);
                    }
                    if self.per_agent() {
                        let work = worked.then_some(work_ms);
                        self.agent_ticket_resolved(slot, agent.as_deref(), q, fcr, work);
                    }
                } else {
                    self.observe(
                        HistId::FullResolution,
                        key,
                        ts - created,
                        ExemplarSource::ticket(&id, ts),
                    );
                }
            }
            Body::TicketReopened { .. } => {
                if !resolved {
                    return self.out_of_order(ty);
                }
                let t = self.st.tickets.at_mut(slot);
                t.set(flag::RESOLVED, false);
                t.status = TicketStatus::Open;
                self.st.metrics.open_add(TicketStatus::Open, pr, q, 1);
                *bump!(self.st.metrics, tickets_reopened, dims(ch, pr, q)) += 1;
                self.win_count(ts, WindowCount::Reopens, 1);
            }
            Body::TicketClosed { .. } => {
                if !resolved {
                    self.st.metrics.open_add(status, pr, q, -1);
                }
                self.sla_ticket_gone(slot, ts);
                if self.st.tickets.at(slot).sla_due != i64::MAX {
                    self.st.sla_live -= 1;
                }
                self.st.tickets.remove(&id);
            }
            _ => unreachable!("only ticket events are routed here"),
        }
    }

    /// A handle-time observation (ticket or call) and its cost.
    fn handled(&mut self, ex: ExemplarSource<'_>, ch: Channel, q: LabelId, ms: i64) {
        let ts = ex.ts;
        let key = dims(ch, Priority::Low, q);
        self.observe(HistId::Handle, key, ms, ex);
        self.win_observe(ts, DurMetric::Handle, ch, q, ms);
        if self.s.cost_per_ms > 0.0 {
            *bump!(self.st.metrics, handle_cost, key) += ms as f64 * self.s.cost_per_ms;
        }
    }

    fn call_event(&mut self, ts: i64, mut body: Body) {
        let ty = body.event_type();
        if !matches!(body.entity(), EntityRef::Call(_)) {
            return;
        }
        // The id is moved out, not copied: the arms below take other fields.
        let Some(id) = body.take_entity_id() else {
            return;
        };
        let Some(slot) = self.st.calls.slot(&id) else {
            return self.out_of_order(ty);
        };
        if ts < self.st.calls.at(slot).queued {
            return self.out_of_order(ty);
        }
        self.sla_call_catch_up(slot, ts);
        let c = self.st.calls.at_mut(slot);
        c.last_event = c.last_event.max(ts);
        let (ch, q, queued, phase) = (c.channel, c.queue, c.queued, c.phase);
        match (body, phase) {
            (Body::CallAnswered { agent, .. }, CallPhase::Waiting) => {
                c.phase = CallPhase::Talking {
                    answered: ts,
                    hold_since: None,
                };
                let wait = ts - queued;
                self.st.metrics.waiting_add(q, queued, -1);
                let m = &mut self.st.metrics;
                *bump!(*m, calls_answered, q as u32) += 1;
                self.observe(
                    HistId::AnswerWait,
                    q as u32,
                    wait,
                    ExemplarSource::call(&id, ts),
                );
                self.win_count(ts, WindowCount::Answered, 1);
                self.win_observe(ts, DurMetric::AnswerWait, ch, q, wait);
                if wait <= self.s.sl_threshold {
                    *bump!(self.st.metrics, calls_within, q as u32) += 1;
                    self.win_count(ts, WindowCount::AnsweredWithin, 1);
                }
                self.sla_call_left_queue(slot, ts, true);
                if self.per_agent() {
                    self.agent_answered(slot, &agent);
                }
            }
            (Body::CallAbandoned { .. }, CallPhase::Waiting) => {
                c.phase = CallPhase::Done { at: ts };
                let wait = ts - queued;
                self.st.metrics.waiting_add(q, queued, -1);
                *bump!(self.st.metrics, calls_abandoned, q as u32) += 1;
                self.observe(
                    HistId::AbandonWait,
                    q as u32,
                    wait,
                    ExemplarSource::call(&id, ts),
                );
                self.win_count(ts, WindowCount::Abandoned, 1);
                if wait < self.s.short_abandon {
                    *bump!(self.st.metrics, calls_short, q as u32) += 1;
                    self.win_count(ts, WindowCount::ShortAbandoned, 1);
                }
                if wait <= self.s.sl_threshold {
                    self.win_count(ts, WindowCount::AbandonedWithin, 1);
                }
                self.sla_call_left_queue(slot, ts, false);
            }
            (
                Body::CallHoldStarted { .. },
                CallPhase::Talking {
                    answered,
                    hold_since: None,
                },
            ) => {
                c.phase = CallPhase::Talking {
                    answered,
                    hold_since: Some(ts),
                };
            }
            // A step dated before the step it ends measures nothing (SPEC
            // §2): it falls through to out of order below.
            (
                Body::CallHoldEnded { .. },
                CallPhase::Talking {
                    answered,
                    hold_since: Some(since),
                },
            ) if ts >= since => {
                c.hold_ms += (ts - since).max(0);
                c.phase = CallPhase::Talking {
                    answered,
                    hold_since: None,
                };
            }
            (
                Body::CallTransferred {
                    queue, escalation, ..
                },
                p,
            ) if !matches!(p, CallPhase::Done { .. }) => {
                c.transferred = true;
                let first_escalation = escalation && !c.escalated;
                if escalation {
                    c.escalated = true;
                }
                let nq = self.st.queues.resolve(queue.as_deref());
                self.st.calls.at_mut(slot).queue = nq;
                if nq != q {
                    self.sla_call_relabel(slot, q, ts);
                }
                if p == CallPhase::Waiting {
                    self.st.metrics.waiting_add(q, queued, -1);
                    self.st.metrics.waiting_add(nq, queued, 1);
                }
                if first_escalation {
                    *bump!(self.st.metrics, escalations, dims(ch, Priority::Normal, q)) += 1;
                    self.win_count(ts, WindowCount::Escalations, 1);
                    if self.per_agent() {
                        self.agent_call_escalated(slot, q);
                    }
                }
            }
            (
                Body::CallEnded { resolved, .. },
                CallPhase::Talking {
                    answered,
                    hold_since,
                },
            ) if ts >= answered && hold_since.is_none_or(|s| ts >= s) => {
                if let Some(since) = hold_since {
                    c.hold_ms += (ts - since).max(0);
                }
                c.talk_ms = (ts - answered).max(0);
                c.phase = CallPhase::AfterCallWork { ended: ts };
                let transferred = c.transferred;
                if resolved {
                    self.win_count(ts, WindowCount::ResolvedContacts, 1);
                    if !transferred {
                        *bump!(self.st.metrics, fcr, dims(ch, Priority::Normal, q)) += 1;
                        self.win_count(ts, WindowCount::Fcr, 1);
                        if self.per_agent() {
                            self.agent_call_fcr(slot, q);
                        }
                    }
                }
                self.schedule(ts + self.s.acw_timeout, TimerKind::Acw(id));
            }
            (Body::CallWrapupEnded { .. }, CallPhase::AfterCallWork { ended }) if ts >= ended => {
                self.finish_call(&id, ts, (ts - ended).max(0));
            }
            _ => self.out_of_order(ty),
        }
    }

    /// Observes a call's handle and hold time at `ts` and marks it done.
    fn finish_call(&mut self, id: &str, ts: i64, acw_ms: i64) {
        let Some(c) = self.st.calls.get_mut(id) else {
            return;
        };
        c.phase = CallPhase::Done { at: ts };
        let (ch, q, talk, hold, agent) = (c.channel, c.queue, c.talk_ms, c.hold_ms, c.agent);
        self.handled(ExemplarSource::call(id, ts), ch, q, talk + acw_ms);
        self.observe(HistId::Hold, q as u32, hold, ExemplarSource::call(id, ts));
        if self.per_agent() {
            self.agent_call_handled(agent, q, talk + acw_ms);
        }
    }

    fn agent_status(&mut self, ts: i64, agent: Id, status: AgentStatus, queue: Option<Id>) {
        let nq = queue.as_deref().map(|q| self.st.queues.resolve(Some(q)));
        match self.st.agents.get(&agent) {
            None => {
                let q = nq.unwrap_or(UNKNOWN);
                let label = self.st.agent_labels.resolve(Some(&agent));
                self.st.agents.insert(
                    agent,
                    Agent {
                        status,
                        since: ts,
                        queue: q,
                        last_event: ts,
                        label,
                    },
                );
                self.st.metrics.agents_add(status, q, 1);
            }
            Some(a) => {
                let (old, since, oq, label) = (a.status, a.since, a.queue, a.label);
                let eff = ts.max(since);
                // Silent past the idle timeout: offline from then (not yet swept).
                let until = a.last_event.saturating_add(self.s.agent_idle);
                self.book_agent(old, oq, label, since, eff.min(until));
                let q = nq.unwrap_or(oq);
                let a = self.st.agents.get_mut(&agent).expect("present");
                a.status = status;
                a.since = eff;
                a.queue = q;
                a.last_event = a.last_event.max(ts);
                self.st.metrics.agents_add(old, oq, -1);
                self.st.metrics.agents_add(status, q, 1);
            }
        }
    }

    /// Books `from..to` in `status` and queue `q` to the agent labelled
    /// `agent`: in `support_agent_status_seconds_total`, the utilization
    /// window and, with per-agent metrics, the agent's own status time.
    fn book_agent(&mut self, status: AgentStatus, q: LabelId, agent: LabelId, from: i64, to: i64) {
        if to <= from {
            return;
        }
        *bump!(
            self.st.metrics,
            agent_status_ms,
            keys::status_key(status, q)
        ) += to - from;
        if self.per_agent() {
            self.st.metrics.agent_time_add(status, agent, q, to - from);
        }
        let c = match status {
            AgentStatus::Available => WindowCount::AgentAvailableMs,
            AgentStatus::Busy => WindowCount::AgentBusyMs,
            AgentStatus::AfterCallWork => WindowCount::AgentAcwMs,
            AgentStatus::Break | AgentStatus::Offline => return,
        };
        self.st.windows.book_interval(from, to, c);
    }

    /// Books every agent's open interval up to the event clock, so exported
    /// time is never taken back (docs/metrics.md), and expires agents silent
    /// for `agents.idle_timeout`.
    fn materialize_agents(&mut self) {
        let Some(clock) = self.st.clock else { return };
        let idle = self.s.agent_idle;
        let open: Vec<(AgentStatus, LabelId, LabelId, i64, i64)> = self
            .st
            .agents
            .values_mut()
            .filter_map(|a| {
                // An agent silent past the idle timeout is offline from then.
                let to = clock.min(a.last_event.saturating_add(idle));
                (a.since < to).then(|| {
                    let from = a.since;
                    a.since = to;
                    (a.status, a.queue, a.label, from, to)
                })
            })
            .collect();
        for (status, q, agent, from, to) in open {
            self.book_agent(status, q, agent, from, to);
        }
        self.expire_agents(clock);
    }

    /// Drops agents silent for `agents.idle_timeout` (any status) and
    /// offline agents kept `state.resolved_ticket_ttl`. Their time is booked
    /// up to the idle timeout first (by [`Engine::materialize_agents`]).
    fn expire_agents(&mut self, now: i64) {
        let s = &self.s;
        let m = &mut self.st.metrics;
        let mut booked = Vec::new();
        self.st.agents.retain(|_, a| {
            let silent = now - a.last_event;
            let keep = silent <= s.agent_idle
                && (a.status != AgentStatus::Offline || silent <= s.resolved_ticket_ttl);
            if !keep {
                m.agents_add(a.status, a.queue, -1);
                let to = now.min(a.last_event.saturating_add(s.agent_idle));
                if a.since < to {
                    booked.push((a.status, a.queue, a.label, a.since, to));
                }
            }
            keep
        });
        for (status, q, agent, from, to) in booked {
            self.book_agent(status, q, agent, from, to);
        }
    }

    /// Drops expired state (docs/events.md, "Expiry").
    /// Calls every time; tickets, customers and agents when `slow`.
    fn sweep(&mut self, now: i64, slow: bool) {
        if self.sla_on() {
            // Clocks of state about to expire stop first, leaving the gauges.
            self.sla_expire(now, slow);
        }
        let s = &self.s;
        let m = &mut self.st.metrics;
        let live = &mut self.st.sla_live;
        self.st.calls.retain(|_, c| {
            let keep = !call_expired(s, c, now);
            if !keep && c.phase == CallPhase::Waiting {
                m.waiting_add(c.queue, c.queued, -1);
            }
            if !keep && c.sla_due != i64::MAX {
                *live -= 1;
            }
            keep
        });
        self.expire_agents(now);
        if !slow {
            return;
        }
        let (s, m, live) = (&self.s, &mut self.st.metrics, &mut self.st.sla_live);
        self.st.tickets.retain(|_, t| {
            let keep = !ticket_expired(s, t, now);
            if !keep && !t.resolved() {
                m.open_add(t.status, t.priority, t.queue, -1);
            }
            if !keep && t.sla_due != i64::MAX {
                *live -= 1;
            }
            keep
        });
        let horizon = s.repeat_window + s.lateness;
        self.st
            .customers
            .retain(|_, c| c.expire(now, horizon, s.repeat_window));
    }
}

/// The window in which later contacts are repeats of `c`.
fn cover(c: &Contact, w: i64) -> Cover {
    Cover {
        from_ts: c.ts,
        from_key: c.key,
        to: c.ts.saturating_add(w),
        cat: c.cat,
    }
}

/// A ticket past its time to live (docs/events.md, "Expiry").
fn ticket_expired(s: &Settings, t: &Ticket, now: i64) -> bool {
    let ttl = if t.resolved() {
        s.resolved_ticket_ttl
    } else {
        s.idle_ticket_ttl
    };
    now - t.last_event > ttl
}

/// A call past its time to live.
fn call_expired(s: &Settings, c: &Call, now: i64) -> bool {
    match c.phase {
        CallPhase::Done { at } => now - at > s.finished_call_ttl,
        _ => now - c.last_event > s.idle_call_ttl,
    }
}

#[cfg(test)]
mod tests;
