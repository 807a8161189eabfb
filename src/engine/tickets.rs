//! Ticket events (SPEC §1.2): the ticket's life from assignment to close,
//! and the response, resolution and handle-time observations it yields.

use super::keys::dims;
use super::state::{flag, NOT_WAITING};
use super::window::{DurMetric, WindowCount};
use super::{Engine, ExemplarSource, HistId};
use crate::event::{Body, EntityRef, TicketStatus};

impl Engine {
    pub(super) fn ticket_event(&mut self, ts: i64, mut body: Body) {
        let ty = body.event_type();
        if !matches!(body.entity(), EntityRef::Ticket(_)) {
            return;
        }
        // The id is moved out, not copied: the arms below take other fields.
        let Some(id) = body.take_entity_id() else {
            return;
        };
        // One lookup: the slot stays valid until a ticket is added or removed.
        let Some(slot) = self.state.tickets.slot(&id) else {
            return self.out_of_order(ty);
        };
        if ts < self.state.tickets.at(slot).created {
            return self.out_of_order(ty);
        }
        // SLA clocks catch up first (a held early arrival is judged by its own ts).
        self.sla_ticket_catch_up(slot, ts);
        let t = self.state.tickets.at_mut(slot);
        t.last_event = t.last_event.max(ts);
        let (ch, pr, q, status, resolved) =
            (t.channel, t.priority, t.queue, t.status, t.resolved());
        match body {
            Body::TicketAssigned { agent, queue, .. } => {
                if self.per_agent() {
                    self.agent_assigned(slot, &agent);
                }
                if let Some(queue) = queue {
                    let nq = self.state.queues.resolve(Some(&queue));
                    self.state.tickets.at_mut(slot).queue = nq;
                    if !resolved {
                        self.state.metrics.open_add(status, pr, q, -1);
                        self.state.metrics.open_add(status, pr, nq, 1);
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
                let since = self.state.tickets.at(slot).unanswered_since;
                if since != NOT_WAITING && ts < since {
                    return self.out_of_order(ty);
                }
                // Before `unanswered_since`, the next-response clock's start, is cleared.
                self.sla_ticket_replied(slot, ts);
                let t = self.state.tickets.at_mut(slot);
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
                let t = self.state.tickets.at_mut(slot);
                let starts_wait = t.unanswered_since == NOT_WAITING;
                if starts_wait {
                    t.unanswered_since = ts;
                }
                if !resolved && status != TicketStatus::Open {
                    t.status = TicketStatus::Open;
                    self.state.metrics.open_add(status, pr, q, -1);
                    self.state.metrics.open_add(TicketStatus::Open, pr, q, 1);
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
                self.state.tickets.at_mut(slot).status = new;
                self.state.metrics.open_add(status, pr, q, -1);
                self.state.metrics.open_add(new, pr, q, 1);
                let (was, is) = (
                    status == TicketStatus::Pending,
                    new == TicketStatus::Pending,
                );
                if was != is {
                    self.sla_ticket_pending(slot, ts, is);
                }
            }
            Body::TicketPriorityChanged { priority, .. } => {
                self.state.tickets.at_mut(slot).priority = priority;
                if !resolved {
                    self.state.metrics.open_add(status, pr, q, -1);
                    self.state.metrics.open_add(status, priority, q, 1);
                }
                if priority != pr {
                    self.sla_ticket_relabel(slot, pr, q, ts);
                }
            }
            Body::TicketEscalated { .. } => {
                let t = self.state.tickets.at_mut(slot);
                if !t.has(flag::ESCALATED) {
                    t.set(flag::ESCALATED, true);
                    *bump!(self.state.metrics, escalations, dims(ch, pr, q)) += 1;
                    self.win_count(ts, WindowCount::Escalations, 1);
                    if self.per_agent() {
                        self.agent_ticket_escalated(slot, q);
                    }
                }
            }
            Body::TicketWorkLogged { ms, .. } => {
                let t = self.state.tickets.at_mut(slot);
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
                let t = self.state.tickets.at_mut(slot);
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
                self.state.metrics.open_add(status, pr, q, -1);
                let key = dims(ch, pr, q);
                if first {
                    *bump!(self.state.metrics, tickets_resolved, key) += 1;
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
                        *bump!(self.state.metrics, fcr, key) += 1;
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
                let t = self.state.tickets.at_mut(slot);
                t.set(flag::RESOLVED, false);
                t.status = TicketStatus::Open;
                self.state.metrics.open_add(TicketStatus::Open, pr, q, 1);
                *bump!(self.state.metrics, tickets_reopened, dims(ch, pr, q)) += 1;
                self.win_count(ts, WindowCount::Reopens, 1);
            }
            Body::TicketClosed { .. } => {
                if !resolved {
                    self.state.metrics.open_add(status, pr, q, -1);
                }
                self.sla_ticket_gone(slot, ts);
                if self.state.tickets.at(slot).sla_due != i64::MAX {
                    self.state.sla_live -= 1;
                }
                self.state.tickets.remove(&id);
            }
            _ => unreachable!("only ticket events are routed here"),
        }
    }
}
