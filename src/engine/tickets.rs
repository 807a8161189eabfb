//! Ticket events (SPEC §1.2): the ticket's life from creation to close,
//! and the response, resolution and handle-time observations it yields.
//! [`Engine::ticket_event`] finds the ticket once and hands the event to
//! one named handler per event type.

use super::keys::dims;
use super::state::{flag, Ticket, NOT_WAITING};
use super::table::Slot;
use super::window::{DurMetric, WindowCount};
use super::{Engine, EventKeys, ExemplarSource, HistId, LabelId};
use crate::event::{Body, Channel, EntityRef, EventType, Priority, TicketStatus};

/// The ticket an event applies to, as it was before the event.
#[derive(Clone, Copy)]
struct Before {
    slot: Slot,
    /// The event's time and type.
    ts: i64,
    ty: EventType,
    channel: Channel,
    priority: Priority,
    queue: LabelId,
    status: TicketStatus,
    resolved: bool,
}

impl Before {
    /// The key of the channel × priority × queue families.
    fn dims(&self) -> u32 {
        dims(self.channel, self.priority, self.queue)
    }
}

impl Engine {
    /// `ticket.created`: a new ticket (a second one with the same id is
    /// out of order), its SLA clocks, its contact, then the events held
    /// for it.
    pub(super) fn ticket_created(&mut self, ts: i64, body: &Body, keys: &EventKeys) {
        let ty = body.event_type();
        let Body::TicketCreated {
            ticket,
            customer: _, // keyed in `keys`
            channel,
            priority,
            queue,
            category,
        } = body
        else {
            unreachable!("dispatch routes only ticket.created here")
        };
        let (channel, priority) = (*channel, *priority);
        let hash = keys.entity().expect("a new ticket's keys hash its id");
        if self.state.tickets.slot_hashed(hash, ticket).is_some() {
            return self.out_of_order(ty);
        }
        let q = self.state.queues.resolve(queue.as_deref());
        let mut t = Ticket::new(ts, channel, priority, q);
        self.state.metrics.open_add(t.status, priority, q, 1);
        self.sla_ticket_created(&mut t, ticket, hash);
        self.state.tickets.insert_hashed(hash, ticket, t);
        bump!(
            self.state.metrics,
            tickets_created,
            dims(channel, priority, q),
            1
        );
        self.win_count(ts, WindowCount::TicketsCreated, 1);
        let cust = keys
            .customer()
            .expect("a new ticket's keys key its customer");
        self.contact(ts, ticket, cust, category.as_deref(), channel, q);
        self.release_held(ticket, true);
    }

    /// Every other ticket event: an unknown ticket, or an event dated
    /// before the ticket's creation, is out of order.
    pub(super) fn ticket_event(&mut self, ts: i64, body: &Body, found: Option<Slot>) {
        let ty = body.event_type();
        let EntityRef::Ticket(id) = body.entity() else {
            return;
        };
        // One lookup (the router's, when it made it): the slot stays valid
        // until a ticket is added or removed.
        let Some(slot) = found.or_else(|| self.state.tickets.slot(id)) else {
            return self.out_of_order(ty);
        };
        if ts < self.state.tickets.at(slot).created {
            return self.out_of_order(ty);
        }
        // SLA clocks catch up first (a held early arrival is judged by its own ts).
        self.sla_ticket_catch_up(slot, ts);
        let t = self.state.tickets.at_mut(slot);
        t.last_event = t.last_event.max(ts);
        let before = Before {
            slot,
            ts,
            ty,
            channel: t.channel,
            priority: t.priority,
            queue: t.queue,
            status: t.status,
            resolved: t.resolved(),
        };
        match body {
            Body::TicketAssigned { agent, queue, .. } => {
                self.ticket_assigned(before, agent, queue.as_deref())
            }
            Body::TicketAgentReplied { agent, public, .. } => {
                if *public {
                    self.ticket_agent_replied(before, id, agent);
                }
            }
            Body::TicketCustomerReplied { .. } => self.ticket_customer_replied(before),
            Body::TicketStatusChanged { status, .. } => self.ticket_status_changed(before, *status),
            Body::TicketPriorityChanged { priority, .. } => {
                self.ticket_priority_changed(before, *priority)
            }
            Body::TicketEscalated { .. } => self.ticket_escalated(before),
            Body::TicketWorkLogged { ms, .. } => self.ticket_work_logged(before, *ms),
            Body::TicketResolved { agent, .. } => {
                self.ticket_resolved(before, id, agent.as_deref())
            }
            Body::TicketReopened { .. } => self.ticket_reopened(before),
            Body::TicketClosed { .. } => self.ticket_closed(before, id),
            _ => unreachable!("only ticket events are routed here"),
        }
    }

    /// `ticket.assigned`: credits the agent; a new queue moves the open
    /// gauge and may re-choose the SLA policy.
    fn ticket_assigned(&mut self, t: Before, agent: &str, queue: Option<&str>) {
        if self.per_agent() {
            self.agent_assigned(t.slot, agent);
        }
        let Some(queue) = queue else { return };
        let nq = self.state.queues.resolve(Some(queue));
        self.state.tickets.at_mut(t.slot).queue = nq;
        if !t.resolved {
            self.state
                .metrics
                .open_add(t.status, t.priority, t.queue, -1);
            self.state.metrics.open_add(t.status, t.priority, nq, 1);
        }
        if nq != t.queue {
            self.sla_ticket_relabel(t.slot, t.priority, t.queue, t.ts);
        }
    }

    /// A public `ticket.agent_replied`: the first response (once) and the
    /// reply to a waiting customer message, in elapsed and business time.
    fn ticket_agent_replied(&mut self, t: Before, id: &str, agent: &str) {
        let ts = t.ts;
        // A reply dated before the customer message it would answer
        // measures nothing (SPEC §2): it is out of order.
        let since = self.state.tickets.at(t.slot).unanswered_since;
        if since != NOT_WAITING && ts < since {
            return self.out_of_order(t.ty);
        }
        // Before `unanswered_since`, the next-response clock's start, is cleared.
        self.sla_ticket_replied(t.slot, ts);
        let ticket = self.state.tickets.at_mut(t.slot);
        ticket.public_replies = ticket.public_replies.saturating_add(1);
        // A ticket solved before its first public reply has no first
        // response, even if a reply follows (SPEC §3).
        let first = !ticket.has(flag::REPLIED) && !ticket.has(flag::EVER_RESOLVED);
        ticket.set(flag::REPLIED, true);
        let created = ticket.created;
        let policy = ticket.policy;
        let waiting = std::mem::replace(&mut ticket.unanswered_since, NOT_WAITING);
        if first {
            let business = self.business_hours(policy).map(|h| h.elapsed(created, ts));
            let hists = (HistId::FirstResponse, HistId::FirstResponseBusiness);
            self.observe_response(t, id, hists, ts - created, business);
            self.win_observe(
                ts,
                DurMetric::FirstResponse,
                t.channel,
                t.queue,
                ts - created,
            );
        }
        if waiting != NOT_WAITING {
            let business = self.business_hours(policy).map(|h| h.elapsed(waiting, ts));
            let ms = (ts - waiting).max(0);
            let hists = (HistId::Reply, HistId::ReplyBusiness);
            self.observe_response(t, id, hists, ms, business);
            self.win_observe(ts, DurMetric::Reply, t.channel, t.queue, ms);
        }
        if self.per_agent() {
            self.agent_replied(t.slot, agent, t.queue, first.then_some(ts - created));
        }
    }

    /// A response time: `ms` in `elapsed`, and (under a business-hours
    /// policy) `business` ms in `business_hist`.
    fn observe_response(
        &mut self,
        t: Before,
        id: &str,
        (elapsed, business_hist): (HistId, HistId),
        ms: i64,
        business: Option<i64>,
    ) {
        let ex = || ExemplarSource::ticket(id, t.ts);
        self.observe(elapsed, t.dims(), ms, ex());
        if let Some(business_ms) = business {
            self.observe(business_hist, t.dims(), business_ms, ex());
        }
    }

    /// `ticket.customer_replied`: starts a wait for a reply (unless one is
    /// running) and reopens a pending or solved-but-unresolved ticket.
    fn ticket_customer_replied(&mut self, t: Before) {
        let ticket = self.state.tickets.at_mut(t.slot);
        let starts_wait = ticket.unanswered_since == NOT_WAITING;
        if starts_wait {
            ticket.unanswered_since = t.ts;
        }
        if !t.resolved && t.status != TicketStatus::Open {
            ticket.status = TicketStatus::Open;
            self.state
                .metrics
                .open_add(t.status, t.priority, t.queue, -1);
            self.state
                .metrics
                .open_add(TicketStatus::Open, t.priority, t.queue, 1);
            if t.status == TicketStatus::Pending {
                self.sla_ticket_pending(t.slot, t.ts, false);
            }
        }
        if starts_wait {
            self.sla_ticket_awaits_reply(t.slot);
        }
    }

    /// `ticket.status_changed`: moves the open gauge; entering or leaving
    /// `pending` pauses or resumes the resolution clock.
    fn ticket_status_changed(&mut self, t: Before, new: TicketStatus) {
        if t.resolved {
            return self.out_of_order(t.ty);
        }
        self.state.tickets.at_mut(t.slot).status = new;
        self.state
            .metrics
            .open_add(t.status, t.priority, t.queue, -1);
        self.state.metrics.open_add(new, t.priority, t.queue, 1);
        let (was, is) = (
            t.status == TicketStatus::Pending,
            new == TicketStatus::Pending,
        );
        if was != is {
            self.sla_ticket_pending(t.slot, t.ts, is);
        }
    }

    /// `ticket.priority_changed`: moves the open gauge and may re-choose
    /// the SLA policy.
    fn ticket_priority_changed(&mut self, t: Before, priority: Priority) {
        self.state.tickets.at_mut(t.slot).priority = priority;
        if !t.resolved {
            self.state
                .metrics
                .open_add(t.status, t.priority, t.queue, -1);
            self.state.metrics.open_add(t.status, priority, t.queue, 1);
        }
        if priority != t.priority {
            self.sla_ticket_relabel(t.slot, t.priority, t.queue, t.ts);
        }
    }

    /// `ticket.escalated`: counted once per ticket.
    fn ticket_escalated(&mut self, t: Before) {
        let ticket = self.state.tickets.at_mut(t.slot);
        if ticket.has(flag::ESCALATED) {
            return;
        }
        ticket.set(flag::ESCALATED, true);
        bump!(self.state.metrics, escalations, t.dims(), 1);
        self.win_count(t.ts, WindowCount::Escalations, 1);
        if self.per_agent() {
            self.agent_ticket_escalated(t.slot, t.queue);
        }
    }

    /// `ticket.work_logged`: adds to the ticket's handle time.
    fn ticket_work_logged(&mut self, t: Before, ms: i64) {
        let ticket = self.state.tickets.at_mut(t.slot);
        // Saturates at 49 days of logged work on one ticket.
        ticket.work_ms = ticket
            .work_ms
            .saturating_add(ms.clamp(0, u32::MAX as i64) as u32);
        ticket.set(flag::WORKED, true);
    }

    /// `ticket.resolved`: the first resolution counts (resolution time,
    /// FCR, handle time, the SLA verdict); a later one only observes the
    /// full resolution time.
    fn ticket_resolved(&mut self, t: Before, id: &str, agent: Option<&str>) {
        if t.resolved {
            return self.out_of_order(t.ty);
        }
        let ticket = self.state.tickets.at_mut(t.slot);
        ticket.set(flag::RESOLVED, true);
        let first = !ticket.has(flag::EVER_RESOLVED);
        ticket.set(flag::EVER_RESOLVED, true);
        let created = ticket.created;
        self.state
            .metrics
            .open_add(t.status, t.priority, t.queue, -1);
        if first {
            self.ticket_first_resolved(t, id, agent);
        } else {
            let ex = ExemplarSource::ticket(id, t.ts);
            self.observe(HistId::FullResolution, t.dims(), t.ts - created, ex);
        }
    }

    /// The first resolution of a ticket.
    fn ticket_first_resolved(&mut self, t: Before, id: &str, agent: Option<&str>) {
        let ts = t.ts;
        let ticket = self.state.tickets.at(t.slot);
        let (created, fcr, worked, work_ms, policy) = (
            ticket.created,
            ticket.public_replies <= 1 && !ticket.has(flag::ESCALATED),
            ticket.has(flag::WORKED),
            i64::from(ticket.work_ms),
            ticket.policy,
        );
        let key = t.dims();
        bump!(self.state.metrics, tickets_resolved, key, 1);
        let ex = || ExemplarSource::ticket(id, ts);
        self.observe(HistId::Resolution, key, ts - created, ex());
        if let Some(ms) = self.business_hours(policy).map(|h| h.elapsed(created, ts)) {
            self.observe(HistId::ResolutionBusiness, key, ms, ex());
        }
        self.sla_ticket_resolved(t.slot, ts);
        self.win_observe(ts, DurMetric::Resolution, t.channel, t.queue, ts - created);
        self.win_count(ts, WindowCount::FirstResolutions, 1);
        self.win_count(ts, WindowCount::ResolvedContacts, 1);
        if fcr {
            bump!(self.state.metrics, fcr, key, 1);
            self.win_count(ts, WindowCount::Fcr, 1);
        }
        if worked {
            self.handled(ex(), t.channel, t.queue, work_ms);
        }
        if self.per_agent() {
            let work = worked.then_some(work_ms);
            self.agent_ticket_resolved(t.slot, agent, t.queue, fcr, work);
        }
    }

    /// `ticket.reopened`: a resolved ticket is open again.
    fn ticket_reopened(&mut self, t: Before) {
        if !t.resolved {
            return self.out_of_order(t.ty);
        }
        let ticket = self.state.tickets.at_mut(t.slot);
        ticket.set(flag::RESOLVED, false);
        ticket.status = TicketStatus::Open;
        self.state
            .metrics
            .open_add(TicketStatus::Open, t.priority, t.queue, 1);
        bump!(self.state.metrics, tickets_reopened, t.dims(), 1);
        self.win_count(t.ts, WindowCount::Reopens, 1);
    }

    /// `ticket.closed`: the ticket leaves state.
    fn ticket_closed(&mut self, t: Before, id: &str) {
        if !t.resolved {
            self.state
                .metrics
                .open_add(t.status, t.priority, t.queue, -1);
        }
        self.sla_ticket_gone(t.slot, t.ts);
        if self.state.tickets.at(t.slot).sla_due != i64::MAX {
            self.state.sla_live -= 1;
        }
        self.state.tickets.remove(id);
    }
}
