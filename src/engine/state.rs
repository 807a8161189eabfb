//! Per-entity state and the cumulative metric store.

use std::cell::OnceCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub use super::customers::Customer;
use super::keys::{open_key, status_key};
use super::labels::{LabelId, UNKNOWN};
use super::per_agent::{AgentSeries, NONE};
use super::sla::{Clocks, Pauses, NO_POLICY};
use super::waiting::Waiting;
use super::NHIST;
use crate::decode::REASONS;
use crate::event::{AgentStatus, Channel, EventType, Priority, TicketStatus};

/// [`Ticket::unanswered_since`] when no customer message waits for a reply.
pub const NOT_WAITING: i64 = i64::MIN;

/// [`Ticket::flags`] bits.
pub mod flag {
    /// Has had a public reply.
    pub const REPLIED: u8 = 1;
    /// Escalated at least once.
    pub const ESCALATED: u8 = 2;
    /// Resolved now.
    pub const RESOLVED: u8 = 4;
    /// Resolved at least once.
    pub const EVER_RESOLVED: u8 = 8;
    /// Has logged work.
    pub const WORKED: u8 = 16;
    /// [`super::Ticket::agent`] is its last assignee.
    pub const AGENT_ASSIGNED: u8 = 32;
    /// [`super::Ticket::agent`] is whom its first resolution was credited to.
    pub const AGENT_RESOLVER: u8 = 64;
    /// The bits of [`super::Ticket::agent`], not in a checkpoint's flags.
    pub const AGENT: u8 = AGENT_ASSIGNED | AGENT_RESOLVER;
}

/// One ticket: 56 bytes with its SLA clocks, so that with its id's eight
/// bytes (packed, or a pointer) an open ticket's table entry is 64 bytes. Its checkpoint form is
/// in `ticket_form`.
#[derive(Clone, Debug)]
pub struct Ticket {
    pub created: i64,
    pub last_event: i64,
    /// Since when the customer waits for a public reply, or [`NOT_WAITING`];
    /// also the start of a running next-response clock.
    pub unanswered_since: i64,
    /// Due time of this ticket's live SLA timer (`i64::MAX`: none).
    pub sla_due: i64,
    /// What few tickets need, once they need it: the pauses of the
    /// resolution clock.
    pub ext: Option<Box<TicketExt>>,
    /// Logged work (`ticket.work_logged`), saturating at `u32::MAX` ms.
    pub work_ms: u32,
    /// Public replies, saturating (only "at most one" is asked).
    pub public_replies: u8,
    /// The `agent` label the ticket is credited to (`[agents]
    /// per_agent_metrics`; [`NONE`] until an event names one): whom its
    /// first resolution was credited to ([`flag::AGENT_RESOLVER`]), else its
    /// last assignee ([`flag::AGENT_ASSIGNED`]), else its last public
    /// replier. Only the first of these that exists is ever asked for, so
    /// one label and two flags hold them, in the ticket's own cache line.
    pub agent: LabelId,
    pub queue: LabelId,
    pub channel: Channel,
    pub priority: Priority,
    pub status: TicketStatus,
    /// [`flag`] bits.
    pub flags: u8,
    /// SLA policy in force, or [`NO_POLICY`].
    pub policy: u8,
    /// First response, next response and resolution clocks.
    pub clocks: Clocks,
}

impl Ticket {
    pub fn new(ts: i64, channel: Channel, priority: Priority, queue: LabelId) -> Ticket {
        Ticket {
            created: ts,
            last_event: ts,
            // The creation is the first customer message.
            unanswered_since: ts,
            sla_due: i64::MAX,
            ext: None,
            work_ms: 0,
            public_replies: 0,
            agent: NONE,
            queue,
            channel,
            priority,
            status: TicketStatus::Open,
            flags: 0,
            policy: NO_POLICY,
            clocks: Clocks::default(),
        }
    }

    /// Whether a [`flag`] is set.
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Sets or clears a [`flag`].
    #[inline]
    pub fn set(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    /// Whether it is resolved now.
    #[inline]
    pub fn resolved(&self) -> bool {
        self.has(flag::RESOLVED)
    }
}

/// The part of a [`Ticket`] kept behind a pointer, so that an open
/// ticket's table entry stays one cache line.
#[derive(Clone, Debug, Default)]
pub struct TicketExt {
    /// Pending intervals of the resolution clock (empty until it pauses).
    pub pauses: Pauses,
}

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallPhase {
    Waiting,
    Talking {
        answered: i64,
        hold_since: Option<i64>,
    },
    AfterCallWork {
        ended: i64,
    },
    Done {
        at: i64,
    },
}

/// One call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Call {
    pub queued: i64,
    pub last_event: i64,
    pub phase: CallPhase,
    pub hold_ms: i64,
    pub talk_ms: i64,
    pub queue: LabelId,
    pub channel: Channel,
    pub transferred: bool,
    pub escalated: bool,
    /// SLA policy in force, or [`NO_POLICY`].
    pub policy: u8,
    /// The answer clock.
    pub clocks: Clocks,
    /// Due time of this call's live SLA timer (`i64::MAX`: none).
    pub sla_due: i64,
    /// The `agent` label of the agent who answered it, [`UNKNOWN`] before
    /// (`[agents] per_agent_metrics` only).
    pub agent: LabelId,
}

impl Call {
    pub fn new(ts: i64, channel: Channel, queue: LabelId) -> Call {
        Call {
            queued: ts,
            last_event: ts,
            phase: CallPhase::Waiting,
            hold_ms: 0,
            talk_ms: 0,
            queue,
            channel,
            transferred: false,
            escalated: false,
            policy: NO_POLICY,
            clocks: Clocks::default(),
            sla_due: i64::MAX,
            agent: UNKNOWN,
        }
    }
}

/// One agent. Its checkpoint layout depends on the format
/// (`super::agent_codec`): `windows_from` is last, from format 8.
#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub status: AgentStatus,
    /// Start of the interval not yet booked: the counters took the status
    /// up to here, and a snapshot may have exported it.
    pub since: i64,
    pub queue: LabelId,
    pub last_event: i64,
    /// Its `agent` label, resolved when it was first seen.
    pub label: LabelId,
    /// Where the utilization windows hold the status from (at most
    /// `since`): before `since` when a snapshot booked the open interval,
    /// so that a change dated between the two can take that time back from
    /// the windows, which are gauges (docs/metrics.md, "Agent time that
    /// has been exported is not taken back").
    pub windows_from: i64,
}

/// The ticket or call behind an observation, for exemplars.
#[derive(Clone, Copy, Debug)]
pub struct ExemplarSource<'a> {
    /// Its id.
    pub id: &'a str,
    /// A call (`call_id`) rather than a ticket (`ticket_id`).
    pub call: bool,
    /// Event time of the observation.
    pub ts: i64,
}

impl<'a> ExemplarSource<'a> {
    /// A ticket's observation.
    pub fn ticket(id: &'a str, ts: i64) -> ExemplarSource<'a> {
        ExemplarSource {
            id,
            call: false,
            ts,
        }
    }
    /// A call's observation.
    pub fn call(id: &'a str, ts: i64) -> ExemplarSource<'a> {
        ExemplarSource { id, call: true, ts }
    }
    /// No entity (driver-level histograms).
    pub fn none() -> ExemplarSource<'static> {
        ExemplarSource {
            id: "",
            call: false,
            ts: 0,
        }
    }
}

/// The latest observation of a bucket, for OpenMetrics exemplars.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Exemplar {
    pub id: String,
    pub call: bool,
    pub ms: i64,
    pub ts: i64,
    /// `id` as the snapshots share it, made by the first snapshot after
    /// the id changed: a bucket whose latest observation is of the same
    /// entity is published again and again without a copy. Not written to
    /// checkpoints.
    #[serde(skip)]
    pub shared: OnceCell<Arc<str>>,
}

impl Exemplar {
    /// `id`, shared ([`Exemplar::shared`]).
    pub fn shared_id(&self) -> Arc<str> {
        self.shared.get_or_init(|| Arc::from(&*self.id)).clone()
    }
}

/// A Prometheus histogram's counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PromHist {
    /// Per bucket, the last one `+Inf`.
    pub buckets: Vec<u64>,
    pub sum_ms: i64,
    pub count: u64,
    /// Per bucket, its latest observation (empty until the first one).
    #[serde(default)]
    pub exemplars: Vec<Option<Exemplar>>,
    /// The histogram as the last snapshot published it, made by the first
    /// snapshot after an observation: a histogram not observed between two
    /// snapshots is published again without a copy of its buckets and
    /// exemplars. Not written to checkpoints.
    #[serde(skip)]
    pub published: OnceCell<Arc<crate::metrics::HistValue>>,
}

impl PromHist {
    pub fn new(bounds: usize) -> PromHist {
        PromHist {
            buckets: vec![0; bounds + 1],
            sum_ms: 0,
            count: 0,
            exemplars: Vec::new(),
            published: OnceCell::new(),
        }
    }

    pub fn observe(&mut self, bounds: &[f64], ms: i64, ex: ExemplarSource<'_>) {
        self.published.take();
        let secs = ms as f64 / 1000.0;
        let i = bounds.partition_point(|b| *b < secs);
        self.buckets[i] += 1;
        self.sum_ms += ms;
        self.count += 1;
        if !ex.id.is_empty() {
            if self.exemplars.is_empty() {
                self.exemplars = vec![None; self.buckets.len()];
            }
            // The slot's string is reused: no allocation once it has grown
            // to the longest id seen in this bucket.
            match &mut self.exemplars[i] {
                Some(e) => {
                    if e.id != ex.id {
                        e.id.clear();
                        e.id.push_str(ex.id);
                        e.shared = OnceCell::new();
                    }
                    e.call = ex.call;
                    e.ms = ms;
                    e.ts = ex.ts;
                }
                slot => {
                    *slot = Some(Exemplar {
                        id: ex.id.to_owned(),
                        call: ex.call,
                        ms,
                        ts: ex.ts,
                        shared: OnceCell::new(),
                    })
                }
            }
        }
    }
}

/// A metric map key whose low 16 bits are the `queue` label id.
pub trait QueueKey: Copy + Eq + std::hash::Hash {
    /// The same key with `queue="other"`.
    fn other(self) -> Self;
    /// The key's `queue` label id.
    fn queue(self) -> LabelId;
}

impl QueueKey for u32 {
    fn other(self) -> Self {
        self & !0xffff | super::labels::OTHER as u32
    }
    fn queue(self) -> LabelId {
        self as LabelId
    }
}

impl QueueKey for u64 {
    fn other(self) -> Self {
        self & !0xffff | super::labels::OTHER as u64
    }
    fn queue(self) -> LabelId {
        self as LabelId
    }
}

/// The series budget of the cumulative families (`labels.max_series`):
/// a label combination is admitted where it would be created, and past
/// the budget it is counted under `queue="other"` instead — unless its
/// queue is one the config names (an SLA policy's or the allow-list's),
/// which always keeps its label. Series are never removed while the
/// process lives, so the budget only fills.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SeriesBudget {
    /// Series created so far (histograms count buckets, `_sum` and `_count`).
    #[serde(skip)]
    pub used: usize,
    #[serde(skip)]
    pub max: usize,
    /// The queues the config names, sorted: admitted past the budget.
    #[serde(skip)]
    pub named: Vec<LabelId>,
    /// Observations moved to `queue="other"` by the budget.
    pub overflow: u64,
}

impl SeriesBudget {
    /// Whether a new combination of queue `q` costing `cost` series is
    /// admitted (then counted): within the budget, or a queue the config
    /// names.
    pub fn take(&mut self, q: LabelId, cost: usize) -> bool {
        if self.used + cost <= self.max || self.named.binary_search(&q).is_ok() {
            self.used += cost;
            return true;
        }
        false
    }

    /// The key to count `k` under in `map`, where a new key costs `cost` series.
    pub fn admit<K: QueueKey, V>(&mut self, map: &FxHashMap<K, V>, k: K, cost: usize) -> K {
        if map.contains_key(&k) {
            return k;
        }
        if self.take(k.queue(), cost) {
            return k;
        }
        let o = k.other();
        if o != k {
            self.overflow += 1;
        }
        // The `other` combinations are bounded by the closed labels alone.
        if !map.contains_key(&o) {
            self.used += cost;
        }
        o
    }

    /// Hands `f` the value of `k` in `map`; a new key is admitted as
    /// [`SeriesBudget::admit`] admits it (`cost` series) and its value
    /// made by `make`. A key already counted is found with one lookup;
    /// only a new one asks the budget. (Inlined at every counter and
    /// histogram: left as a call, it cost the applying thread 1 % more
    /// instructions.)
    #[inline(always)]
    pub fn update<K: QueueKey, V>(
        &mut self,
        map: &mut FxHashMap<K, V>,
        k: K,
        cost: usize,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V),
    ) {
        if let Some(v) = map.get_mut(&k) {
            f(v);
            return;
        }
        let k = self.admit(map, k, cost);
        f(map.entry(k).or_insert_with(make));
    }

    /// Adds `by` to the counter of `k` in `map` (one series):
    /// [`SeriesBudget::update`].
    #[inline(always)]
    pub fn add<K: QueueKey, V: Default + std::ops::AddAssign>(
        &mut self,
        map: &mut FxHashMap<K, V>,
        k: K,
        by: V,
    ) {
        self.update(map, k, 1, V::default, |v| *v += by);
    }
}

/// Counts per map key (packed by `engine::keys`).
pub type KeyCounts = FxHashMap<u32, u64>;

/// The cumulative metrics of SPEC §5.1 and §5.4.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Metrics {
    pub tickets_created: KeyCounts,
    pub tickets_resolved: KeyCounts,
    pub tickets_reopened: KeyCounts,
    pub escalations: KeyCounts,
    pub fcr: KeyCounts,
    pub contacts: KeyCounts,
    pub repeats: KeyCounts,
    pub hists: [FxHashMap<u32, PromHist>; NHIST],
    pub calls_offered: KeyCounts,
    pub calls_answered: KeyCounts,
    pub calls_within: KeyCounts,
    pub calls_abandoned: KeyCounts,
    pub calls_short: KeyCounts,
    /// `keys::status_key` → ms.
    pub agent_status_ms: FxHashMap<u32, i64>,
    /// `keys::csat_key` → responses.
    pub csat: KeyCounts,
    /// promoter, passive, detractor.
    pub nps: [u64; 3],
    /// Scores 1..=7.
    pub ces: [u64; 7],
    pub handle_cost: FxHashMap<u32, f64>,
    pub churned: u64,
    pub active_customers: i64,
    /// `keys::open_key` → open tickets.
    pub tickets_open: FxHashMap<u32, i64>,
    /// queue → waiting calls by queued time.
    pub waiting: FxHashMap<u32, Waiting>,
    /// `keys::status_key` → agents.
    pub agents: FxHashMap<u32, i64>,
    /// sla_key → met targets.
    pub sla_achieved: FxHashMap<u64, u64>,
    /// sla_key → breaches.
    pub sla_breaches: FxHashMap<u64, u64>,
    /// sla_key → clocks at risk now.
    pub sla_at_risk: FxHashMap<u64, i64>,
    /// sla_key → breached clocks still running.
    pub sla_active: FxHashMap<u64, i64>,
    pub events: [u64; EventType::ALL.len()],
    pub decode_errors: [u64; REASONS.len()],
    pub dead_letters: u64,
    pub duplicates: u64,
    pub late: u64,
    pub out_of_order: [u64; EventType::ALL.len()],
    /// Per-agent counters, durations and status time (`[agents]
    /// per_agent_metrics`).
    pub per_agent: AgentSeries,
    /// `max` is set from the config and `used` recounted on restore.
    pub budget: SeriesBudget,
}

/// The per-agent counters in [`Metrics::per_agent`].
pub mod agent_count {
    /// `support_agent_contacts_handled_total`
    pub const HANDLED: u8 = 0;
    /// `support_agent_first_contact_resolutions_total`
    pub const FCR: u8 = 1;
    /// `support_agent_escalations_total`
    pub const ESCALATIONS: u8 = 2;
    /// `support_agent_csat_responses_total` (with a score)
    pub const CSAT: u8 = 3;
}

/// The per-agent durations in [`Metrics::per_agent`].
pub mod agent_sum {
    /// `support_agent_handle_seconds`
    pub const HANDLE: u8 = 0;
    /// `support_agent_first_response_seconds`
    pub const FIRST_RESPONSE: u8 = 1;
}

/// Series a per-agent duration costs: the `+Inf` bucket, `_sum` and `_count`.
pub const AGENT_SUM_SERIES: usize = 3;

impl Metrics {
    pub fn open_add(&mut self, s: TicketStatus, pr: Priority, q: LabelId, n: i64) {
        self.budget
            .add(&mut self.tickets_open, open_key(s, pr, q), n);
    }

    pub fn waiting_add(&mut self, q: LabelId, queued: i64, n: i32) {
        // Two series: calls in queue and the oldest wait.
        let k = self.budget.admit(&self.waiting, q as u32, 2);
        self.waiting.entry(k).or_default().add(queued, n);
    }

    pub fn agents_add(&mut self, s: AgentStatus, q: LabelId, n: i64) {
        self.budget.add(&mut self.agents, status_key(s, q), n);
    }

    /// Series the maps hold now (after a restore), as the budget counts them.
    pub fn series(&self, bounds: &[std::sync::Arc<[f64]>]) -> usize {
        let counters = [
            &self.tickets_created,
            &self.tickets_resolved,
            &self.tickets_reopened,
            &self.escalations,
            &self.fcr,
            &self.contacts,
            &self.repeats,
            &self.calls_offered,
            &self.calls_answered,
            &self.calls_within,
            &self.calls_abandoned,
            &self.calls_short,
            &self.csat,
        ]
        .iter()
        .map(|m| m.len())
        .sum::<usize>();
        let hists: usize = self
            .hists
            .iter()
            .zip(bounds)
            .map(|(m, b)| m.len() * (b.len() + 3))
            .sum();
        counters
            + hists
            + self.agent_status_ms.len()
            + self.handle_cost.len()
            + self.tickets_open.len()
            + 2 * self.waiting.len()
            + self.agents.len()
            + self.sla_achieved.len()
            + self.sla_breaches.len()
            + self.sla_at_risk.len()
            + self.sla_active.len()
            + self.per_agent.series()
    }
}

#[cfg(test)]
mod size_tests {
    use super::super::customers::{Contact, Covers, COVERS_INLINE};
    use super::*;

    /// Every open ticket holds one of each; docs/performance.md counts on these sizes.
    #[test]
    fn per_entity_state_stays_small() {
        assert_eq!(std::mem::size_of::<Ticket>(), 56);
        // A ticket table entry: eight-byte id and ticket, one cache line.
        assert_eq!(
            std::mem::size_of::<(super::super::thin_id::ThinId, Ticket)>(),
            64
        );
        assert_eq!(std::mem::size_of::<Contact>(), 24);
        assert_eq!(std::mem::size_of::<Customer>(), 48);
        // A customer's box of covers: its capacity and four inline, three
        // lines where the boxed `Vec` it replaced took 24 bytes and 128 more.
        assert_eq!(std::mem::size_of::<Covers>(), 8 + COVERS_INLINE * 32);
    }
}

#[cfg(test)]
mod exemplar_tests {
    use super::*;

    fn id_of(h: &PromHist, bucket: usize) -> Arc<str> {
        h.exemplars[bucket]
            .as_ref()
            .expect("an exemplar")
            .shared_id()
    }

    /// Snapshots share a bucket's exemplar id until a newer observation
    /// of another entity lands in that bucket; then they show that one.
    #[test]
    fn an_exemplar_id_is_shared_until_another_entity_replaces_it() {
        let bounds = [1.0, 10.0];
        let mut h = PromHist::new(bounds.len());
        h.observe(&bounds, 5_000, ExemplarSource::ticket("T-1", 100));
        let first = id_of(&h, 1);
        assert_eq!(&*first, "T-1");
        assert!(Arc::ptr_eq(&first, &id_of(&h, 1)), "no copy when unchanged");
        // The same ticket again: still the same copy, the newer values.
        h.observe(&bounds, 6_000, ExemplarSource::ticket("T-1", 200));
        assert!(Arc::ptr_eq(&first, &id_of(&h, 1)));
        assert_eq!(h.exemplars[1].as_ref().unwrap().ms, 6_000);
        // Another call in that bucket: the next snapshot names it.
        h.observe(&bounds, 7_000, ExemplarSource::call("C-22", 300));
        let second = id_of(&h, 1);
        assert_eq!(&*second, "C-22");
        assert!(h.exemplars[1].as_ref().unwrap().call);
        // A copy (a checkpoint's frozen state) says the same.
        assert_eq!(&*id_of(&h.clone(), 1), "C-22");
        // Read back from a checkpoint: the id, made anew.
        let back: PromHist = postcard::from_bytes(&postcard::to_stdvec(&h).unwrap()).unwrap();
        assert_eq!(&*id_of(&back, 1), "C-22");
        assert!(h.exemplars[0].is_none() && h.exemplars[2].is_none());
    }
}
