//! Per-agent performance (SPEC §3, §5.1; opt-in with `[agents]
//! per_agent_metrics`): which agent a contact, a first response or a CSAT
//! response is credited to (docs/metrics.md, "Per-agent performance").
//!
//! The agent of a ticket lives in the ticket ([`Ticket::agent`]), the agent
//! of a call in the call; both as their `agent` label, interned when the
//! event names them, so crediting compares and copies two bytes, allocates
//! nothing and reads no cache line the event does not read anyway. With the
//! option off nothing here runs.

use rustc_hash::FxHashMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keys::{agent_key, agent_unkey};
use super::labels::{LabelId, OTHER, UNKNOWN};
use super::state::{agent_count, agent_sum, flag, Metrics, SeriesBudget, AGENT_SUM_SERIES};
use super::table::Slot;
use super::Engine;
use crate::event::AgentStatus;

/// No agent (not yet named by an event).
pub(super) const NONE: LabelId = LabelId::MAX;

/// The agents a ticket's agent is chosen from, as `agent` labels
/// ([`NONE`]: not named yet): its form in a checkpoint.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct TicketAgents {
    /// Of the last `ticket.assigned`.
    assigned: LabelId,
    /// Of the last public `ticket.agent_replied`.
    replied: LabelId,
    /// Whom its first resolution was credited to.
    resolver: LabelId,
}

impl TicketAgents {
    /// The form of a ticket's `agent` and its [`flag::AGENT`] bits. The
    /// agents a ticket's agent takes precedence over are not kept, so they
    /// are written as none; that chooses the same agent.
    pub(super) fn of(agent: LabelId, flags: u8) -> TicketAgents {
        let mut f = TicketAgents {
            assigned: NONE,
            replied: NONE,
            resolver: NONE,
        };
        if flags & flag::AGENT_RESOLVER != 0 {
            f.resolver = agent;
        } else if flags & flag::AGENT_ASSIGNED != 0 {
            f.assigned = agent;
        } else {
            f.replied = agent;
        }
        f
    }

    /// The agent of the ticket, with its [`flag::AGENT`] bits: its
    /// resolver, else its assignee, else its last public replier.
    pub(super) fn inline(self) -> (LabelId, u8) {
        if self.resolver != NONE {
            (self.resolver, flag::AGENT_RESOLVER)
        } else if self.assigned != NONE {
            (self.assigned, flag::AGENT_ASSIGNED)
        } else {
            (self.replied, 0)
        }
    }
}

impl Engine {
    /// Whether the per-agent families are on.
    #[inline]
    pub(super) fn per_agent(&self) -> bool {
        self.settings.per_agent
    }

    /// The label of an agent named by an event, to credit later: interned
    /// now (`other` over the cap), the overflow counted when it is credited.
    fn agent_intern(&mut self, name: &str) -> LabelId {
        self.state.agent_labels.intern(name)
    }

    /// The label a stored agent is credited under: [`NONE`] is `unknown`;
    /// `other` counts in `frontline_label_overflow_total` at each credit,
    /// as a name resolved then would.
    fn agent_credit(&mut self, a: LabelId) -> LabelId {
        match a {
            NONE => UNKNOWN,
            OTHER => {
                self.state.agent_labels.overflow += 1;
                OTHER
            }
            a => a,
        }
    }

    /// Adds one to a per-agent counter.
    #[inline]
    pub(super) fn agent_bump(&mut self, family: u8, score: u8, agent: LabelId, q: LabelId) {
        self.state.metrics.agent_count_add(family, score, agent, q);
    }

    /// Adds one observation to a per-agent duration.
    #[inline]
    fn agent_observe(&mut self, family: u8, agent: LabelId, q: LabelId, ms: i64) {
        self.state.metrics.agent_sum_add(family, agent, q, ms);
    }

    /// `ticket.assigned`: the ticket's assignee from now on, the agent it
    /// is credited to unless its first resolution was credited already.
    pub(super) fn agent_assigned(&mut self, slot: Slot, agent: &str) {
        let a = self.agent_intern(agent);
        let t = self.state.tickets.at_mut(slot);
        if !t.has(flag::AGENT_RESOLVER) {
            t.agent = a;
            t.set(flag::AGENT_ASSIGNED, true);
        }
    }

    /// A public reply by `agent`; the first one of the ticket took `frt_ms`.
    /// The replier is the ticket's agent while it has no assignee and no
    /// resolver.
    pub(super) fn agent_replied(
        &mut self,
        slot: Slot,
        agent: &str,
        q: LabelId,
        frt_ms: Option<i64>,
    ) {
        let a = self.agent_intern(agent);
        if let Some(ms) = frt_ms {
            let a = self.agent_credit(a);
            self.agent_observe(agent_sum::FIRST_RESPONSE, a, q, ms);
        }
        let t = self.state.tickets.at_mut(slot);
        if t.flags & flag::AGENT == 0 {
            t.agent = a;
        }
    }

    /// A ticket's first escalation: credited to the agent of the ticket.
    pub(super) fn agent_ticket_escalated(&mut self, slot: Slot, q: LabelId) {
        let a = self.state.tickets.at(slot).agent;
        let a = self.agent_credit(a);
        self.agent_bump(agent_count::ESCALATIONS, 0, a, q);
    }

    /// A ticket's first resolution: credited to `own` (the event's
    /// `agent_id`), else its assignee, else its last public replier; that
    /// agent is the ticket's from now on.
    pub(super) fn agent_ticket_resolved(
        &mut self,
        slot: Slot,
        own: Option<&str>,
        q: LabelId,
        fcr: bool,
        work_ms: Option<i64>,
    ) {
        let stored = match own {
            Some(name) => self.agent_intern(name),
            None => self.state.tickets.at(slot).agent,
        };
        let a = self.agent_credit(stored);
        self.agent_bump(agent_count::HANDLED, 0, a, q);
        if fcr {
            self.agent_bump(agent_count::FCR, 0, a, q);
        }
        if let Some(ms) = work_ms {
            self.agent_observe(agent_sum::HANDLE, a, q, ms);
        }
        if stored != NONE {
            let t = self.state.tickets.at_mut(slot);
            t.agent = stored;
            t.set(flag::AGENT_RESOLVER, true);
        }
    }

    /// `call.answered` by `agent`.
    pub(super) fn agent_answered(&mut self, slot: Slot, agent: &str) {
        let a = self.agent_intern(agent);
        self.state.calls.at_mut(slot).agent = a;
    }

    /// The `agent` label of the agent who answered the call at `slot`
    /// (`unknown` if none did).
    fn call_agent(&mut self, slot: Slot) -> LabelId {
        let a = self.state.calls.at(slot).agent;
        self.agent_credit(a)
    }

    /// A call's first escalation by transfer, labelled with the queue that
    /// escalated it.
    pub(super) fn agent_call_escalated(&mut self, slot: Slot, q: LabelId) {
        let a = self.call_agent(slot);
        self.agent_bump(agent_count::ESCALATIONS, 0, a, q);
    }

    /// A call resolved at first contact (`call.ended` with `resolved`, never
    /// transferred).
    pub(super) fn agent_call_fcr(&mut self, slot: Slot, q: LabelId) {
        let a = self.call_agent(slot);
        self.agent_bump(agent_count::FCR, 0, a, q);
    }

    /// A call's handle observation, `agent` the call's.
    pub(super) fn agent_call_handled(&mut self, agent: LabelId, q: LabelId, ms: i64) {
        let a = self.agent_credit(agent);
        self.agent_bump(agent_count::HANDLED, 0, a, q);
        self.agent_observe(agent_sum::HANDLE, a, q, ms);
    }

    /// A CSAT response: credited to its own `agent_id`, else to `stored`,
    /// the agent of the ticket (or else the call) it names while that is in
    /// state ([`NONE`] if neither is).
    pub(super) fn agent_csat(&mut self, score: u8, own: Option<&str>, stored: LabelId, q: LabelId) {
        let a = match own {
            Some(name) => self.state.agent_labels.resolve(Some(name)),
            None => self.agent_credit(stored),
        };
        self.agent_bump(agent_count::CSAT, score, a, q);
    }
}

/// Statuses an agent books time in.
const STATUSES: usize = AgentStatus::ALL.len();
/// CSAT scores (1..=5).
const SCORES: usize = 5;

/// [`Cell::touched`] bits: one per series of the cell that exists.
mod bit {
    use super::{SCORES, STATUSES};
    /// `counts[i]`: `1 << i`.
    pub const COUNTS: u32 = 0;
    /// `sums[i]`: `1 << (SUMS + i)`.
    pub const SUMS: u32 = 3;
    /// `csat[score - 1]`: `1 << (CSAT + score - 1)`.
    pub const CSAT: u32 = 5;
    /// `time_ms[status]`: `1 << (TIME + status)`.
    pub const TIME: u32 = CSAT + SCORES as u32;
    /// Bits of series that are one series each.
    pub const ONE_SERIES: u32 = !(3 << SUMS) & ((1 << (TIME + STATUSES as u32)) - 1);
    /// Bits of per-agent durations (`AGENT_SUM_SERIES` series each).
    pub const DURATIONS: u32 = 3 << SUMS;
}

/// The per-agent series of one agent in one queue: two cache lines. The
/// series bits and the counters an event updates most (handled, its
/// duration, first response) fill the first; status time and CSAT the
/// second.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Cell {
    /// The series that exist ([`bit`]): admitted by the series budget.
    touched: u32,
    /// The series the budget refused ([`bit`]): counted under this agent's
    /// `queue="other"` cell. The budget only fills, so a refusal stands and
    /// is not asked again.
    refused: u32,
    /// By [`agent_count`] below `CSAT`.
    counts: [u64; 3],
    /// By [`agent_sum`]: (sum ms, count).
    sums: [(i64, u64); 2],
    /// `support_agent_time_in_status_seconds_total` by status.
    time_ms: [i64; STATUSES],
    /// `support_agent_csat_responses_total` by score − 1, saturating: one
    /// agent's surveys of one score in one queue do not reach 2^32, and
    /// 32 bits keep the cell at two cache lines instead of three
    /// (docs/metrics.md).
    csat: [u32; SCORES],
}

/// The per-agent series (`[agents] per_agent_metrics`), dense: by `agent`
/// label id, then by `queue` label id. Both are capped labels, so the rows
/// are bounded by `labels.max_agents` (+ `unknown`, `other`) and a row by
/// the highest queue id the agent was counted in; an update is two indexed
/// loads, not a hash and a probe. Which series exist is kept per cell, so
/// the exposition holds exactly the series counted, as a map would.
///
/// In a checkpoint it is three maps by `keys::agent_key` (counters,
/// durations, status time), the layout of the keyed maps it replaced.
#[derive(Clone, Debug, Default)]
pub struct AgentSeries {
    rows: Vec<Vec<Cell>>,
}

/// A series of a [`Cell`], for [`AgentSeries::admit`].
#[derive(Clone, Copy)]
enum Series {
    /// A counter by [`agent_count`] (`CSAT`: with its score).
    Count(u8, u8),
    /// A duration by [`agent_sum`].
    Sum(u8),
    /// Status time.
    Time(AgentStatus),
}

impl Series {
    fn bit(self) -> u32 {
        1 << match self {
            Series::Count(agent_count::CSAT, score) => {
                bit::CSAT + (score.clamp(1, SCORES as u8) - 1) as u32
            }
            Series::Count(family, _) => bit::COUNTS + family as u32,
            Series::Sum(family) => bit::SUMS + family as u32,
            Series::Time(s) => bit::TIME + s.index() as u32,
        }
    }

    fn cost(self) -> usize {
        match self {
            Series::Sum(_) => AGENT_SUM_SERIES,
            _ => 1,
        }
    }
}

impl AgentSeries {
    /// The cell of (`agent`, `q`), created empty on first use.
    #[inline]
    fn cell(&mut self, agent: LabelId, q: LabelId) -> &mut Cell {
        let (a, q) = (agent as usize, q as usize);
        if a >= self.rows.len() || q >= self.rows[a].len() {
            self.grow(a, q);
        }
        &mut self.rows[a][q]
    }

    #[cold]
    fn grow(&mut self, a: usize, q: usize) {
        if a >= self.rows.len() {
            self.rows.resize_with(a + 1, Vec::new);
        }
        let row = &mut self.rows[a];
        if q >= row.len() {
            row.resize(q + 1, Cell::default());
        }
    }

    /// Whether the series exists.
    fn has(&self, agent: LabelId, q: LabelId, s: Series) -> bool {
        self.rows
            .get(agent as usize)
            .and_then(|r| r.get(q as usize))
            .is_some_and(|c| c.touched & s.bit() != 0)
    }

    /// The cell to count a new series `s` of (`agent`, `q`) in, admitted
    /// by the series budget as [`super::state::SeriesBudget::admit`] admits
    /// a map key: past the budget under `queue="other"`.
    #[cold]
    #[inline(never)]
    fn admit(
        &mut self,
        budget: &mut SeriesBudget,
        agent: LabelId,
        q: LabelId,
        s: Series,
    ) -> &mut Cell {
        let cost = s.cost();
        let q = if budget.take(q, cost) {
            q
        } else {
            if q != OTHER {
                budget.overflow += 1;
                self.cell(agent, q).refused |= s.bit();
            }
            // The `other` combinations are bounded by the closed labels alone.
            if !self.has(agent, OTHER, s) {
                budget.used += cost;
            }
            OTHER
        };
        let c = self.cell(agent, q);
        c.touched |= s.bit();
        c
    }

    /// The cell series `s` of (`agent`, `q`) is counted in: its own, or
    /// this agent's `queue="other"` cell if the budget refused it before.
    #[inline]
    fn slot(
        &mut self,
        budget: &mut SeriesBudget,
        agent: LabelId,
        q: LabelId,
        s: Series,
    ) -> &mut Cell {
        let (a, qi, bit) = (agent as usize, q as usize, s.bit());
        if let Some(c) = self.rows.get(a).and_then(|r| r.get(qi)) {
            if c.touched & bit != 0 {
                return &mut self.rows[a][qi];
            }
            if c.refused & bit != 0 {
                budget.overflow += 1;
                return &mut self.rows[a][OTHER as usize];
            }
        }
        self.admit(budget, agent, q, s)
    }

    /// Series held, as the budget counts them.
    pub fn series(&self) -> usize {
        self.cells()
            .map(|(_, _, c)| {
                (c.touched & bit::ONE_SERIES).count_ones() as usize
                    + AGENT_SUM_SERIES * (c.touched & bit::DURATIONS).count_ones() as usize
            })
            .sum()
    }

    /// Every cell with a series: (agent, queue, cell).
    fn cells(&self) -> impl Iterator<Item = (LabelId, LabelId, &Cell)> {
        self.rows.iter().enumerate().flat_map(|(a, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, c)| c.touched != 0)
                .map(move |(q, c)| (a as LabelId, q as LabelId, c))
        })
    }

    /// The counters of `family` ([`agent_count`]): (agent, queue, score
    /// (CSAT, else 0), count).
    pub fn counts(&self, family: u8) -> Vec<(LabelId, LabelId, u8, u64)> {
        let mut out = Vec::new();
        for (a, q, c) in self.cells() {
            if family == agent_count::CSAT {
                for (i, &n) in c.csat.iter().enumerate() {
                    if c.touched & 1 << (bit::CSAT + i as u32) != 0 {
                        out.push((a, q, i as u8 + 1, n.into()));
                    }
                }
            } else if c.touched & 1 << (bit::COUNTS + family as u32) != 0 {
                out.push((a, q, 0, c.counts[family as usize]));
            }
        }
        out
    }

    /// The durations of `family` ([`agent_sum`]): (agent, queue, sum ms, count).
    pub fn sums(&self, family: u8) -> Vec<(LabelId, LabelId, i64, u64)> {
        self.cells()
            .filter(|(_, _, c)| c.touched & 1 << (bit::SUMS + family as u32) != 0)
            .map(|(a, q, c)| {
                let (sum, n) = c.sums[family as usize];
                (a, q, sum, n)
            })
            .collect()
    }

    /// Status time: (agent, queue, status, ms).
    pub fn times(&self) -> Vec<(LabelId, LabelId, AgentStatus, i64)> {
        let mut out = Vec::new();
        for (a, q, c) in self.cells() {
            for (i, &s) in AgentStatus::ALL.iter().enumerate() {
                if c.touched & 1 << (bit::TIME + i as u32) != 0 {
                    out.push((a, q, s, c.time_ms[i]));
                }
            }
        }
        out
    }
}

/// The checkpoint form: the three maps the series were once kept in.
type AgentMaps = (
    FxHashMap<u64, u64>,
    FxHashMap<u64, (i64, u64)>,
    FxHashMap<u64, i64>,
);

impl Serialize for AgentSeries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut counts = FxHashMap::default();
        for family in [
            agent_count::HANDLED,
            agent_count::FCR,
            agent_count::ESCALATIONS,
            agent_count::CSAT,
        ] {
            for (a, q, score, n) in self.counts(family) {
                counts.insert(agent_key(family, score, a, q), n);
            }
        }
        let mut sums = FxHashMap::default();
        for family in [agent_sum::HANDLE, agent_sum::FIRST_RESPONSE] {
            for (a, q, sum, n) in self.sums(family) {
                sums.insert(agent_key(family, 0, a, q), (sum, n));
            }
        }
        let times: FxHashMap<u64, i64> = self
            .times()
            .into_iter()
            .map(|(a, q, st, ms)| (agent_key(0, st.index() as u8, a, q), ms))
            .collect();
        (counts, sums, times).serialize(s)
    }
}

impl<'de> Deserialize<'de> for AgentSeries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (counts, sums, times) = AgentMaps::deserialize(d)?;
        let bad = |what: &str, k: u64| {
            D::Error::custom(format!("per-agent {what} key {k:#x} out of range"))
        };
        let mut out = AgentSeries::default();
        for (k, n) in counts {
            let (family, score, a, q) = agent_unkey(k);
            let s = Series::Count(family, score);
            let c = out.cell(a, q);
            match family {
                agent_count::CSAT if (1..=SCORES as u8).contains(&score) => {
                    c.csat[score as usize - 1] = u32::try_from(n).unwrap_or(u32::MAX)
                }
                f if f < agent_count::CSAT && score == 0 => c.counts[f as usize] = n,
                _ => return Err(bad("counter", k)),
            }
            c.touched |= s.bit();
        }
        for (k, (sum, n)) in sums {
            let (family, _, a, q) = agent_unkey(k);
            if family > agent_sum::FIRST_RESPONSE {
                return Err(bad("duration", k));
            }
            let c = out.cell(a, q);
            c.sums[family as usize] = (sum, n);
            c.touched |= Series::Sum(family).bit();
        }
        for (k, ms) in times {
            let (_, status, a, q) = agent_unkey(k);
            let Some(&st) = AgentStatus::ALL.get(status as usize) else {
                return Err(bad("status time", k));
            };
            let c = out.cell(a, q);
            c.time_ms[st.index()] = ms;
            c.touched |= Series::Time(st).bit();
        }
        Ok(out)
    }
}

impl Metrics {
    /// Adds one to a per-agent counter (`score`: CSAT's, else 0).
    #[inline]
    pub(super) fn agent_count_add(&mut self, family: u8, score: u8, agent: LabelId, q: LabelId) {
        let s = Series::Count(family, score);
        let c = self.per_agent.slot(&mut self.budget, agent, q, s);
        if family == agent_count::CSAT {
            let n = &mut c.csat[(score.clamp(1, SCORES as u8) - 1) as usize];
            *n = n.saturating_add(1);
        } else {
            c.counts[family as usize] += 1;
        }
    }

    /// Adds one observation of `ms` to a per-agent duration.
    #[inline]
    pub(super) fn agent_sum_add(&mut self, family: u8, agent: LabelId, q: LabelId, ms: i64) {
        let c = self
            .per_agent
            .slot(&mut self.budget, agent, q, Series::Sum(family));
        let e = &mut c.sums[family as usize];
        e.0 += ms;
        e.1 += 1;
    }

    /// Books `ms` in `status` to an agent's own status time.
    #[inline]
    pub(super) fn agent_time_add(
        &mut self,
        status: AgentStatus,
        agent: LabelId,
        q: LabelId,
        ms: i64,
    ) {
        let c = self
            .per_agent
            .slot(&mut self.budget, agent, q, Series::Time(status));
        c.time_ms[status.index()] += ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(max_series: usize) -> Metrics {
        let mut m = Metrics::default();
        m.budget.max = max_series;
        m
    }

    #[test]
    fn new_series_count_against_the_budget_then_go_to_queue_other() {
        let mut m = metrics(5);
        let (ann, billing) = (2, 3);
        m.agent_count_add(agent_count::HANDLED, 0, ann, billing);
        m.agent_sum_add(agent_sum::HANDLE, ann, billing, 1_500);
        m.agent_sum_add(agent_sum::HANDLE, ann, billing, 500);
        // 1 + 3 series used; the CSAT series takes the last place.
        m.agent_count_add(agent_count::CSAT, 4, ann, billing);
        assert_eq!(m.budget.used, 5);
        // Over the budget: counted under queue `other`, which costs a
        // series once.
        m.agent_count_add(agent_count::FCR, 0, ann, billing);
        m.agent_count_add(agent_count::FCR, 0, ann, billing);
        m.agent_time_add(AgentStatus::Busy, ann, billing, 60_000);
        m.agent_count_add(agent_count::HANDLED, 0, ann, billing);
        assert_eq!(m.budget.used, 7);
        assert_eq!(m.budget.overflow, 3);
        assert_eq!(m.per_agent.series(), 7);
        assert_eq!(
            m.per_agent.counts(agent_count::HANDLED),
            [(ann, billing, 0, 2)]
        );
        assert_eq!(m.per_agent.counts(agent_count::FCR), [(ann, OTHER, 0, 2)]);
        assert_eq!(
            m.per_agent.counts(agent_count::CSAT),
            [(ann, billing, 4, 1)]
        );
        assert_eq!(m.per_agent.counts(agent_count::ESCALATIONS), []);
        assert_eq!(
            m.per_agent.sums(agent_sum::HANDLE),
            [(ann, billing, 2_000, 2)]
        );
        assert_eq!(m.per_agent.sums(agent_sum::FIRST_RESPONSE), []);
        assert_eq!(
            m.per_agent.times(),
            [(ann, OTHER, AgentStatus::Busy, 60_000)]
        );
    }

    #[test]
    fn checkpoint_form_is_the_keyed_maps() {
        let mut m = metrics(100);
        m.agent_count_add(agent_count::ESCALATIONS, 0, 7, 2);
        m.agent_count_add(agent_count::CSAT, 5, 7, 2);
        m.agent_count_add(agent_count::CSAT, 5, 7, 2);
        m.agent_sum_add(agent_sum::FIRST_RESPONSE, UNKNOWN, 4, 90_000);
        m.agent_time_add(AgentStatus::Break, 3, UNKNOWN, 300_000);
        let bytes = postcard::to_stdvec(&m.per_agent).unwrap();
        let (counts, sums, times): AgentMaps = postcard::from_bytes(&bytes).unwrap();
        let expected_counts: FxHashMap<u64, u64> = [
            (2 << 48 | 7 << 16 | 2, 1),
            (3 << 48 | 5 << 40 | 7 << 16 | 2, 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, expected_counts);
        let expected_sums: FxHashMap<u64, (i64, u64)> =
            [(1 << 48 | 4, (90_000, 1))].into_iter().collect();
        assert_eq!(sums, expected_sums);
        // Break is status 3.
        let expected_times: FxHashMap<u64, i64> =
            [(3 << 40 | 3 << 16, 300_000)].into_iter().collect();
        assert_eq!(times, expected_times);
        // And back: the same series, the same count for the budget.
        let back: AgentSeries = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.series(), m.per_agent.series());
        assert_eq!(back.series(), 6);
        assert_eq!(back.counts(agent_count::CSAT), [(7, 2, 5, 2)]);
        assert_eq!(back.counts(agent_count::ESCALATIONS), [(7, 2, 0, 1)]);
        assert_eq!(
            back.sums(agent_sum::FIRST_RESPONSE),
            [(UNKNOWN, 4, 90_000, 1)]
        );
        assert_eq!(back.times(), [(3, UNKNOWN, AgentStatus::Break, 300_000)]);
    }

    /// A CSAT score of 9 has no place in a cell: refused, not wrapped.
    #[test]
    fn a_key_out_of_range_is_refused() {
        let counts: FxHashMap<u64, u64> =
            [(3 << 48 | 9 << 40 | 7 << 16 | 2, 1)].into_iter().collect();
        let maps: AgentMaps = (counts, FxHashMap::default(), FxHashMap::default());
        let bytes = postcard::to_stdvec(&maps).unwrap();
        let err = postcard::from_bytes::<AgentSeries>(&bytes).unwrap_err();
        // postcard keeps the kind of a custom error, not its text.
        assert_eq!(err, postcard::Error::SerdeDeCustom);
    }

    /// A cell is two cache lines; its CSAT counters are 32-bit and
    /// saturate: a checkpointed count past 2^32 − 1 reads as 2^32 − 1 and
    /// stays there, never wrapping down.
    #[test]
    fn csat_counts_saturate_in_a_two_line_cell() {
        assert_eq!(std::mem::size_of::<Cell>(), 128);
        let key = 3 << 48 | 4 << 40 | 7 << 16 | 2;
        let counts: FxHashMap<u64, u64> = [(key, 1 << 40)].into_iter().collect();
        let maps: AgentMaps = (counts, FxHashMap::default(), FxHashMap::default());
        let bytes = postcard::to_stdvec(&maps).unwrap();
        let mut m = metrics(100);
        m.per_agent = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            m.per_agent.counts(agent_count::CSAT),
            [(7, 2, 4, 4_294_967_295)]
        );
        m.agent_count_add(agent_count::CSAT, 4, 7, 2);
        m.agent_count_add(agent_count::CSAT, 3, 7, 2);
        assert_eq!(
            m.per_agent.counts(agent_count::CSAT),
            [(7, 2, 3, 1), (7, 2, 4, 4_294_967_295)]
        );
    }
}
