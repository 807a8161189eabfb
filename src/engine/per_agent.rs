//! Per-agent performance (SPEC §3, §5.1; opt-in with `[agents]
//! per_agent_metrics`): which agent a contact, a first response or a CSAT
//! response is credited to (docs/metrics.md, "Per-agent performance").
//!
//! The agents of a ticket live in its [`TicketExt`] (allocated only for
//! tickets that need one, so an open ticket stays one cache line when the
//! option is off), the agent of a call in the call; both as their `agent`
//! label, interned when the event names them, so crediting compares and
//! copies two bytes and allocates nothing. With the option off nothing here
//! runs.

use serde::{Deserialize, Serialize};

use super::keys::agent_key;
use super::labels::{LabelId, OTHER, UNKNOWN};
use super::state::{agent_count, agent_sum, TicketExt, AGENT_SUM_SERIES};
use super::table::Slot;
use super::Engine;

/// No agent (not yet named by an event).
const NONE: LabelId = LabelId::MAX;

/// The agents a ticket names, for crediting, as `agent` labels ([`NONE`]:
/// not named yet).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct TicketAgents {
    /// Of the last `ticket.assigned`.
    assigned: LabelId,
    /// Of the last public `ticket.agent_replied`.
    replied: LabelId,
    /// Whom its first resolution was credited to.
    resolver: LabelId,
}

impl Default for TicketAgents {
    fn default() -> TicketAgents {
        TicketAgents {
            assigned: NONE,
            replied: NONE,
            resolver: NONE,
        }
    }
}

impl TicketAgents {
    /// The agent of the ticket: its resolver, else its assignee, else the
    /// last agent who replied publicly ([`NONE`] if none).
    fn agent(&self) -> LabelId {
        [self.resolver, self.assigned, self.replied]
            .into_iter()
            .find(|&a| a != NONE)
            .unwrap_or(NONE)
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

    /// The agents of the ticket at `slot`, allocated on first use.
    fn ticket_agents(&mut self, slot: Slot) -> &mut TicketAgents {
        let t = self.state.tickets.at_mut(slot);
        &mut t.ext.get_or_insert_with(Box::<TicketExt>::default).agents
    }

    /// The agents of the ticket at `slot` (none named yet without one).
    fn ticket_agents_of(&self, slot: Slot) -> TicketAgents {
        let t = self.state.tickets.at(slot);
        t.ext.as_ref().map(|e| e.agents).unwrap_or_default()
    }

    /// Adds one to a per-agent counter.
    pub(super) fn agent_bump(&mut self, family: u8, score: u8, agent: LabelId, q: LabelId) {
        let m = &mut self.state.metrics;
        let k = m
            .budget
            .admit(&m.agent_counts, agent_key(family, score, agent, q), 1);
        *m.agent_counts.entry(k).or_default() += 1;
    }

    /// Adds one observation to a per-agent duration.
    fn agent_observe(&mut self, family: u8, agent: LabelId, q: LabelId, ms: i64) {
        let m = &mut self.state.metrics;
        let k = m.budget.admit(
            &m.agent_sums,
            agent_key(family, 0, agent, q),
            AGENT_SUM_SERIES,
        );
        let e = m.agent_sums.entry(k).or_default();
        e.0 += ms;
        e.1 += 1;
    }

    /// `ticket.assigned`: the ticket's assignee from now on.
    pub(super) fn agent_assigned(&mut self, slot: Slot, agent: &str) {
        let a = self.agent_intern(agent);
        self.ticket_agents(slot).assigned = a;
    }

    /// A public reply by `agent`; the first one of the ticket took `frt_ms`.
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
        self.ticket_agents(slot).replied = a;
    }

    /// A ticket's first escalation: credited to the agent of the ticket.
    pub(super) fn agent_ticket_escalated(&mut self, slot: Slot, q: LabelId) {
        let a = self.ticket_agents_of(slot).agent();
        let a = self.agent_credit(a);
        self.agent_bump(agent_count::ESCALATIONS, 0, a, q);
    }

    /// A ticket's first resolution: credited to `own` (the event's
    /// `agent_id`), else its assignee, else its last public replier.
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
            None => self.ticket_agents_of(slot).agent(),
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
            self.ticket_agents(slot).resolver = stored;
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

    /// A CSAT response: credited to its own `agent_id`, else to the agent of
    /// the ticket (or else the call) it names while that is in state.
    pub(super) fn agent_csat(
        &mut self,
        score: u8,
        own: Option<&str>,
        ticket: Option<&str>,
        call: Option<&str>,
        q: LabelId,
    ) {
        let a = match own {
            Some(name) => self.state.agent_labels.resolve(Some(name)),
            None => {
                let st = &self.state;
                let stored = match ticket.and_then(|t| st.tickets.get(t)) {
                    Some(t) => t.ext.as_ref().map_or(NONE, |e| e.agents.agent()),
                    None => call.and_then(|c| st.calls.get(c)).map_or(NONE, |c| c.agent),
                };
                self.agent_credit(stored)
            }
        };
        self.agent_bump(agent_count::CSAT, score, a, q);
    }
}
