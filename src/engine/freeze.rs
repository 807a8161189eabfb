//! Checkpoints encoded off the applying thread. [`State::freeze`] copies
//! the state between two events — the tables' entries into flat vectors
//! (`table::Frozen`), the dedup memory's arrival order, the rest cloned —
//! and the [`FrozenState`] serializes to the same bytes as the [`State`] it
//! was taken from, so a checkpoint encoded from it restores exactly as one
//! encoded from the state itself. Both
//! serializations go through [`write_state`], so the order of the fields,
//! which is the checkpoint format, is written once.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::agent_codec::AgentsWritten;
use super::customer_table::{CustomerChanges, Customers, FrozenCustomers};
use super::customers::CustomerKey;
use super::dedup::{Dedup, DedupCopy, FrozenDedup};
use super::dedup_log::LogTail;
use super::labels::LabelCap;
use super::sla_clocked::SlaTimers;
use super::state::{Agent, Call, Customer, Metrics, Ticket};
use super::table::{self, Table, TableChanges};
use super::timers::Timer;
use super::window::Windows;
use super::State;
use crate::config::NEWEST_CHECKPOINT_FORMAT;
use crate::event::{Event, Id};

/// A copy of an engine's [`State`] taken between two events, to encode as
/// a checkpoint while the engine goes on.
pub struct FrozenState {
    /// Everything but the tickets, calls, customers and dedup memory
    /// (empty here).
    rest: State,
    tickets: TableCopy<Ticket>,
    calls: TableCopy<Call>,
    customers: FrozenCustomers,
    dedup: FrozenDedup,
}

/// A table's entries, all of them or those changed since the last copy.
enum TableCopy<V> {
    Whole(table::Frozen<V>),
    Changes(table::FrozenChanges<V>),
}

impl<V: Send + 'static> TableCopy<V> {
    fn into_spare(self) -> table::Spare<V> {
        match self {
            TableCopy::Whole(f) => f.into_spare(),
            TableCopy::Changes(c) => c.into_spare(),
        }
    }
}

impl<V: serde::Serialize + Send + 'static> Serialize for TableCopy<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TableCopy::Whole(f) => f.serialize(s),
            TableCopy::Changes(c) => c.serialize(s),
        }
    }
}

/// The allocations of an encoded [`FrozenState`], emptied, for the next
/// copy to fill ([`State::freeze_reusing`]): the large parts of a copy —
/// the tables' entries, the dedup memory, the customers — which would
/// otherwise be new memory every checkpoint.
#[derive(Default)]
pub struct Spare {
    tickets: table::Spare<Ticket>,
    calls: table::Spare<Call>,
    dedup: FrozenDedup,
    customers: Vec<(CustomerKey, Customer)>,
}

impl FrozenState {
    /// Empties the copy (on the thread that encoded it, so the applying
    /// thread does not pay for the drop) and keeps its large allocations.
    pub fn into_spare(self) -> Spare {
        let FrozenState {
            rest: _,
            tickets,
            calls,
            customers,
            dedup,
        } = self;
        Spare {
            tickets: tickets.into_spare(),
            calls: calls.into_spare(),
            dedup: dedup.into_spare(),
            customers: customers.into_spare(),
        }
    }
}

impl State {
    /// A copy to encode elsewhere: it serializes as `self` does now.
    /// Copying the entries of the tables costs a fraction of encoding them
    /// (docs/performance.md, "Checkpoints off the applying thread").
    pub fn freeze(&self) -> FrozenState {
        self.freeze_reusing(None)
    }

    /// [`State::freeze`] into the allocations of an earlier copy where they
    /// are large enough. In a profile of live partitions at 197 000
    /// events/s, half of the copy's samples were the kernel faulting in
    /// and zeroing its new pages (docs/performance.md, "Copies into the
    /// last copy's memory"); memory written before costs the copy alone.
    pub fn freeze_reusing(&self, spare: Option<Spare>) -> FrozenState {
        self.freeze_with(spare, DedupCopy::Inline)
    }

    /// [`State::freeze_reusing`], where `dedup` says whether the dedup
    /// memory goes into the state or, for a logged checkpoint, which of its
    /// ids the log still lacks (`src/engine/dedup_log.rs`).
    pub fn freeze_with(&self, spare: Option<Spare>, dedup: DedupCopy) -> FrozenState {
        let s = spare.unwrap_or_default();
        FrozenState {
            tickets: TableCopy::Whole(self.tickets.freeze_into(s.tickets)),
            calls: TableCopy::Whole(self.calls.freeze_into(s.calls)),
            customers: self.customers.freeze_into(s.customers),
            dedup: self.dedup.freeze_into(s.dedup, dedup),
            rest: self.rest(),
        }
    }

    /// From now on the tickets, calls and customers changed are marked,
    /// for checkpoints of changes ([`State::freeze_changes`]); the first
    /// checkpoint after this holds what changed since.
    pub fn track_changes(&mut self) {
        self.tickets.track_changes();
        self.calls.track_changes();
        self.customers.track_changes();
    }

    /// Whether the changes of the tickets, calls and customers are marked
    /// ([`State::track_changes`]): a copy of changes can be taken.
    pub fn tracks_changes(&self) -> bool {
        self.tickets.tracks_changes()
            && self.calls.tracks_changes()
            && self.customers.tracks_changes()
    }

    /// [`State::freeze_with`], and changes marked from here on
    /// ([`State::track_changes`]): the next copy of changes holds those
    /// after this copy.
    pub fn freeze_whole(&mut self, spare: Option<Spare>, dedup: DedupCopy) -> FrozenState {
        let f = self.freeze_with(spare, dedup);
        self.track_changes();
        f
    }

    /// A copy of the tickets, calls and customers changed since the last
    /// copy (and the ids removed), with the rest of the state whole: read
    /// back as [`StateChanges`] and applied to the state of the copy
    /// before ([`State::apply_changes`]), it gives the state now. When
    /// changes are not marked (no [`State::track_changes`] yet) the copy is
    /// whole ([`State::freeze_whole`]; [`FrozenState::is_changes`] tells
    /// which).
    pub fn freeze_changes(&mut self, spare: Option<Spare>, dedup: DedupCopy) -> FrozenState {
        if !self.tracks_changes() {
            return self.freeze_whole(spare, dedup);
        }
        let s = spare.unwrap_or_default();
        let changes = "marked, as checked above";
        FrozenState {
            tickets: TableCopy::Changes(
                self.tickets.freeze_changes_into(s.tickets).expect(changes),
            ),
            calls: TableCopy::Changes(self.calls.freeze_changes_into(s.calls).expect(changes)),
            customers: self
                .customers
                .freeze_changes_into(s.customers)
                .expect(changes),
            dedup: self.dedup.freeze_into(s.dedup, dedup),
            rest: self.rest(),
        }
    }

    /// Applies a checkpoint of changes read back onto the state of the
    /// checkpoint before it.
    pub fn apply_changes(&mut self, c: StateChanges) {
        // No `..`: a new field of the state must be placed here too.
        let StateChanges {
            clock,
            tickets,
            calls,
            agents,
            customers,
            held_tickets,
            held_calls,
            held_count,
            timers,
            timer_seq,
            next_sweep,
            next_slow_sweep,
            dedup,
            queues,
            agent_labels,
            metrics,
            windows,
        } = c;
        self.clock = clock;
        self.tickets.apply_changes(tickets);
        self.calls.apply_changes(calls);
        self.agents = agents;
        self.customers.apply_changes(customers);
        self.held_tickets = held_tickets;
        self.held_calls = held_calls;
        self.held_count = held_count;
        self.timers = timers;
        self.timer_seq = timer_seq;
        self.next_sweep = next_sweep;
        self.next_slow_sweep = next_slow_sweep;
        self.dedup = dedup;
        self.queues = queues;
        self.agent_labels = agent_labels;
        self.metrics = metrics;
        self.windows = windows;
    }

    /// A copy of all but the tables and the dedup memory.
    fn rest(&self) -> State {
        State {
            // No `..`: a new field of the state must be placed here too.
            clock: self.clock,
            tickets: Table::default(),
            calls: Table::default(),
            agents: self.agents.clone(),
            customers: Customers::default(),
            held_tickets: self.held_tickets.clone(),
            held_calls: self.held_calls.clone(),
            held_count: self.held_count,
            timers: self.timers.clone(),
            sla_tickets: SlaTimers::new(),
            sla_calls: SlaTimers::new(),
            sla_live: 0,
            timer_seq: self.timer_seq,
            next_sweep: self.next_sweep,
            next_slow_sweep: self.next_slow_sweep,
            dedup: Dedup::default(),
            queues: self.queues.clone(),
            agent_labels: self.agent_labels.clone(),
            metrics: self.metrics.clone(),
            windows: self.windows.clone(),
            breaches: Vec::new(),
            breaches_dropped: 0,
            sla_events: Vec::new(),
            sla_events_dropped: 0,
        }
    }
}

/// A checkpoint of changes read back: the state's fields in their order,
/// the tickets, calls and customers as changes.
#[derive(Deserialize)]
pub struct StateChanges {
    clock: Option<i64>,
    tickets: TableChanges<Ticket>,
    calls: TableChanges<Call>,
    agents: FxHashMap<Id, Agent>,
    customers: CustomerChanges,
    held_tickets: FxHashMap<Id, Vec<Event>>,
    held_calls: FxHashMap<Id, Vec<Event>>,
    held_count: usize,
    timers: BinaryHeap<Reverse<Timer>>,
    timer_seq: u64,
    next_sweep: i64,
    next_slow_sweep: i64,
    dedup: Dedup,
    queues: LabelCap,
    agent_labels: LabelCap,
    metrics: Metrics,
    windows: Windows,
}

/// The checkpointed fields of `st` in declaration order (what the derived
/// `Deserialize` reads), with its tickets, calls and dedup memory as given.
fn write_state<S: Serializer>(
    s: S,
    st: &State,
    tickets: &impl Serialize,
    calls: &impl Serialize,
    customers: &impl Serialize,
    dedup: &impl Serialize,
    version: u32,
) -> Result<S::Ok, S::Error> {
    // No `..`: a new field of the state must be placed here too.
    let State {
        clock,
        tickets: _,
        calls: _,
        agents,
        customers: _,
        held_tickets,
        held_calls,
        held_count,
        timers,
        sla_tickets: _,
        sla_calls: _,
        sla_live: _,
        timer_seq,
        next_sweep,
        next_slow_sweep,
        dedup: _,
        queues,
        agent_labels,
        metrics,
        windows,
        breaches: _,
        breaches_dropped: _,
        sla_events: _,
        sla_events_dropped: _,
    } = st;
    let mut w = s.serialize_struct("State", 17)?;
    w.serialize_field("clock", clock)?;
    w.serialize_field("tickets", tickets)?;
    w.serialize_field("calls", calls)?;
    w.serialize_field("agents", &AgentsWritten { agents, version })?;
    w.serialize_field("customers", customers)?;
    w.serialize_field("held_tickets", held_tickets)?;
    w.serialize_field("held_calls", held_calls)?;
    w.serialize_field("held_count", held_count)?;
    w.serialize_field("timers", timers)?;
    w.serialize_field("timer_seq", timer_seq)?;
    w.serialize_field("next_sweep", next_sweep)?;
    w.serialize_field("next_slow_sweep", next_slow_sweep)?;
    w.serialize_field("dedup", dedup)?;
    w.serialize_field("queues", queues)?;
    w.serialize_field("agent_labels", agent_labels)?;
    w.serialize_field("metrics", metrics)?;
    w.serialize_field("windows", windows)?;
    w.end()
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_state(
            s,
            self,
            &self.tickets,
            &self.calls,
            &self.customers,
            &self.dedup,
            NEWEST_CHECKPOINT_FORMAT,
        )
    }
}

impl FrozenState {
    /// Whether this is a copy of changes ([`State::freeze_changes`]).
    pub fn is_changes(&self) -> bool {
        matches!(self.tickets, TableCopy::Changes(_))
    }

    /// The segment of the dedup log this copy adds, taken out of it
    /// (`None`: its dedup memory is in the state).
    pub fn take_dedup_tail(&mut self) -> Option<LogTail> {
        self.dedup.take_tail()
    }

    /// The copy as checkpoint format `version` writes it: formats differ in
    /// the dedup memory (`FrozenDedup::written`) and the agents
    /// (`super::agent_codec`).
    pub fn written(&self, version: u32) -> impl Serialize + '_ {
        Written { st: self, version }
    }
}

struct Written<'a> {
    st: &'a FrozenState,
    version: u32,
}

impl Serialize for Written<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.st;
        let dedup = st.dedup.written(self.version);
        let (rest, version) = (&st.rest, self.version);
        write_state(
            s,
            rest,
            &st.tickets,
            &st.calls,
            &st.customers,
            &dedup,
            version,
        )
    }
}

/// The tickets, calls and customers as of a partition's last state copy,
/// kept apart from the engine by the thread that encodes its checkpoints.
/// Each copy of changes is applied to it there ([`Mirror::follow`]), so a
/// whole checkpoint is written from it ([`Mirror::written_with`]) and the
/// copy the applying thread takes for that checkpoint is one of changes:
/// the engine's tables are copied whole once, to start a mirror, instead
/// of at every whole checkpoint (docs/performance.md, "Whole checkpoints
/// from a mirror").
pub struct Mirror {
    tickets: Table<Ticket>,
    calls: Table<Call>,
    customers: Customers,
}

impl Mirror {
    /// A mirror of a whole copy, its entries moved out of it (it encodes
    /// no more after); `None` for a copy of changes.
    pub fn of_whole(f: &mut FrozenState) -> Option<Mirror> {
        let (TableCopy::Whole(t), TableCopy::Whole(c)) = (&mut f.tickets, &mut f.calls) else {
            return None;
        };
        Some(Mirror {
            tickets: Table::take_whole(t),
            calls: Table::take_whole(c),
            customers: Customers::take_whole(&mut f.customers)?,
        })
    }

    /// Applies a copy of changes taken right after the last copy this
    /// mirror holds, its entries moved out of it (it encodes no more
    /// after); false, and nothing applied, for a whole copy.
    pub fn follow(&mut self, f: &mut FrozenState) -> bool {
        let (TableCopy::Changes(t), TableCopy::Changes(c)) = (&mut f.tickets, &mut f.calls) else {
            return false;
        };
        self.tickets.follow(t);
        self.calls.follow(c);
        self.customers.follow(&mut f.customers)
    }

    /// The state `f` was copied from, as format `version` writes it whole:
    /// `f`'s own fields but the tables, which are the mirror's once it
    /// followed `f`.
    pub fn written_with<'a>(&'a self, f: &'a FrozenState, version: u32) -> impl Serialize + 'a {
        MirrorWritten {
            mirror: self,
            st: f,
            version,
        }
    }
}

struct MirrorWritten<'a> {
    mirror: &'a Mirror,
    st: &'a FrozenState,
    version: u32,
}

impl Serialize for MirrorWritten<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (m, st) = (self.mirror, self.st);
        let dedup = st.dedup.written(self.version);
        let (rest, version) = (&st.rest, self.version);
        write_state(s, rest, &m.tickets, &m.calls, &m.customers, &dedup, version)
    }
}
