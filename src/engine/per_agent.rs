//! Per-agent performance (SPEC §3, §5.1; opt-in with `[agents]
//! per_agent_metrics`): which agent a contact, a first response or a CSAT
//! response is credited to (docs/metrics.md, "Per-agent performance").
//!
//! The agents of a ticket and of a call live beside the ticket and call
//! tables, not in them, so that an open ticket stays one cache line when the
//! option is off; with it off these maps stay empty and nothing here runs.

use serde::{Deserialize, Serialize};

use super::labels::LabelId;
use super::state::{agent_count, agent_key, agent_sum, AGENT_SUM_SERIES};
use super::Engine;
use crate::event::Id;

/// The agents a ticket names, for crediting.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TicketAgents {
    /// Of the last `ticket.assigned`.
    pub assigned: Option<Id>,
    /// Of the last public `ticket.agent_replied`.
    pub replied: Option<Id>,
    /// Whom its first resolution was credited to.
    pub resolver: Option<Id>,
}

impl TicketAgents {
    /// The agent of the ticket: its resolver, else its assignee, else the
    /// last agent who replied publicly.
    fn agent(&self) -> Option<&str> {
        self.resolver
            .as_deref()
            .or(self.assigned.as_deref())
            .or(self.replied.as_deref())
    }
}

impl Engine {
    /// Whether the per-agent families are on.
    #[inline]
    pub(super) fn per_agent(&self) -> bool {
        self.s.per_agent
    }

    /// The `agent` label of `name` under the agent cap (`None`: `unknown`).
    fn agent_label(&mut self, name: Option<&str>) -> LabelId {
        self.st.agent_labels.resolve(name)
    }

    /// Adds one to a per-agent counter.
    pub(super) fn agent_bump(&mut self, family: u8, score: u8, agent: LabelId, q: LabelId) {
        let m = &mut self.st.metrics;
        let k = m
            .budget
            .admit(&m.agent_counts, agent_key(family, score, agent, q), 1);
        *m.agent_counts.entry(k).or_default() += 1;
    }

    /// Adds one observation to a per-agent duration.
    fn agent_observe(&mut self, family: u8, agent: LabelId, q: LabelId, ms: i64) {
        let m = &mut self.st.metrics;
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
    pub(super) fn agent_assigned(&mut self, ticket: &str, agent: Id) {
        match self.st.ticket_agents.get_mut(ticket) {
            Some(t) => t.assigned = Some(agent),
            None => {
                self.st.ticket_agents.insert(
                    ticket.into(),
                    TicketAgents {
                        assigned: Some(agent),
                        ..Default::default()
                    },
                );
            }
        }
    }

    /// A public reply by `agent`; the first one of the ticket took `frt_ms`.
    pub(super) fn agent_replied(
        &mut self,
        ticket: &str,
        agent: Id,
        q: LabelId,
        frt_ms: Option<i64>,
    ) {
        if let Some(ms) = frt_ms {
            let a = self.agent_label(Some(&agent));
            self.agent_observe(agent_sum::FIRST_RESPONSE, a, q, ms);
        }
        match self.st.ticket_agents.get_mut(ticket) {
            Some(t) => t.replied = Some(agent),
            None => {
                self.st.ticket_agents.insert(
                    ticket.into(),
                    TicketAgents {
                        replied: Some(agent),
                        ..Default::default()
                    },
                );
            }
        }
    }

    /// A ticket's first escalation: credited to the agent of the ticket.
    pub(super) fn agent_ticket_escalated(&mut self, ticket: &str, q: LabelId) {
        let name = self.st.ticket_agents.get(ticket).and_then(|t| t.agent());
        let a = self.st.agent_labels.resolve(name);
        self.agent_bump(agent_count::ESCALATIONS, 0, a, q);
    }

    /// A ticket's first resolution: credited to `own` (the event's
    /// `agent_id`), else its assignee, else its last public replier.
    pub(super) fn agent_ticket_resolved(
        &mut self,
        ticket: &str,
        own: Option<Id>,
        q: LabelId,
        fcr: bool,
        work_ms: Option<i64>,
    ) {
        let t = self.st.ticket_agents.get(ticket);
        let name = own.or_else(|| t.and_then(|t| t.agent()).map(Id::from));
        let a = self.agent_label(name.as_deref());
        self.agent_bump(agent_count::HANDLED, 0, a, q);
        if fcr {
            self.agent_bump(agent_count::FCR, 0, a, q);
        }
        if let Some(ms) = work_ms {
            self.agent_observe(agent_sum::HANDLE, a, q, ms);
        }
        if let Some(name) = name {
            self.st
                .ticket_agents
                .entry(ticket.into())
                .or_default()
                .resolver = Some(name);
        }
    }

    /// `call.answered` by `agent`.
    pub(super) fn agent_answered(&mut self, call: &str, agent: Id) {
        self.st.call_agents.insert(call.into(), agent);
    }

    /// The `agent` label of the agent who answered a call (`unknown` if none).
    fn call_agent(&mut self, call: &str) -> LabelId {
        let name = self.st.call_agents.get(call).map(|a| &**a);
        self.st.agent_labels.resolve(name)
    }

    /// A call's first escalation by transfer, labelled with the queue that
    /// escalated it.
    pub(super) fn agent_call_escalated(&mut self, call: &str, q: LabelId) {
        let a = self.call_agent(call);
        self.agent_bump(agent_count::ESCALATIONS, 0, a, q);
    }

    /// A call resolved at first contact (`call.ended` with `resolved`, never
    /// transferred).
    pub(super) fn agent_call_fcr(&mut self, call: &str, q: LabelId) {
        let a = self.call_agent(call);
        self.agent_bump(agent_count::FCR, 0, a, q);
    }

    /// A call's handle observation.
    pub(super) fn agent_call_handled(&mut self, call: &str, q: LabelId, ms: i64) {
        let a = self.call_agent(call);
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
        let st = &mut self.st;
        let name = own.or_else(|| {
            let t = ticket.filter(|t| st.tickets.contains_key(t));
            match t {
                Some(t) => st.ticket_agents.get(t).and_then(|t| t.agent()),
                None => call
                    .filter(|c| st.calls.contains_key(c))
                    .and_then(|c| st.call_agents.get(c))
                    .map(|a| &**a),
            }
        });
        let a = st.agent_labels.resolve(name);
        self.agent_bump(agent_count::CSAT, score, a, q);
    }
}
