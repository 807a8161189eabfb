//! The engine's entry points into SLA bookkeeping: what ticket and call
//! events, timers and sweeps tell the clocks (through [`SlaContext`]).

use super::sla::SlaEventKind;
use super::sla_clocked::call_clock::ANSWER;
use super::sla_clocked::ticket_clock::{FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION};
use super::sla_clocked::SlaTimers;
use super::sla_engine::{split, SlaContext};
use super::state::{Call, Ticket};
use super::table::{hash_id, Slot};
use super::{Engine, LabelId};
use crate::calendar::Hours;
use crate::event::Priority;

impl Engine {
    #[inline]
    pub(super) fn sla_on(&self) -> bool {
        !self.settings.policies.list.is_empty()
    }

    /// The policy's calendar when it is a business one (for `*_business_seconds`).
    pub(super) fn business_hours(&self, policy: u8) -> Option<&Hours> {
        match self.settings.policies.get(policy).map(|p| &p.hours) {
            Some(h @ Hours::Business(_)) => Some(h),
            _ => None,
        }
    }

    // ---- tickets -------------------------------------------------------

    /// Runs `f` on the ticket at `slot` with the SLA context and its timers.
    fn on_ticket(
        &mut self,
        slot: Slot,
        f: impl FnOnce(&mut SlaContext<'_>, &mut SlaTimers, &mut Ticket, &str),
    ) {
        if !self.sla_on() {
            return;
        }
        let (tickets, _, timers, _, mut cx) = split(&self.settings, &mut self.state);
        let (id, t) = tickets.entry_at_mut(slot);
        f(&mut cx, timers, t, &id);
    }

    /// Judges a ticket's clocks up to (not including) `ts` (see [`SlaContext::catch_up`]).
    pub(super) fn sla_ticket_catch_up(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, timers, t, id| cx.catch_up(timers, t, id, ts));
    }

    /// A new ticket, before it enters the table (so that its entry is
    /// written once, not read back): choose its policy and start the
    /// first-response and resolution clocks.
    pub(super) fn sla_ticket_created(&mut self, t: &mut Ticket, id: &str, hash: u64) {
        if !self.sla_on() {
            return;
        }
        let (_, _, timers, _, mut cx) = split(&self.settings, &mut self.state);
        cx.open(timers, t, id, hash, &[FIRST_RESPONSE, RESOLUTION]);
    }

    /// The ticket's priority or queue changed from `(old_pr, old_q)` at `ts`:
    /// re-choose the policy and move the gauges to the new labels. Call
    /// after updating the ticket.
    pub(super) fn sla_ticket_relabel(
        &mut self,
        slot: Slot,
        old_pr: Priority,
        old_q: LabelId,
        ts: i64,
    ) {
        self.on_ticket(slot, |cx, timers, t, id| {
            cx.relabel(timers, t, id, hash_id(id), old_pr, old_q, ts)
        });
    }

    /// A public agent reply at `ts`: first and next response clocks complete.
    pub(super) fn sla_ticket_replied(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, _, t, id| {
            cx.complete(t, id, FIRST_RESPONSE, ts);
            cx.complete(t, id, NEXT_RESPONSE, ts);
        });
    }

    /// A customer message that found no unanswered one (the ticket's
    /// `unanswered_since` is its time): a next-response clock starts.
    pub(super) fn sla_ticket_awaits_reply(&mut self, slot: Slot) {
        self.on_ticket(slot, |cx, timers, t, id| {
            let at = t.unanswered_since;
            cx.stop(t, id, NEXT_RESPONSE, at);
            t.clocks.start(NEXT_RESPONSE);
            cx.note(t, id, NEXT_RESPONSE, SlaEventKind::Applied, at, false);
            let next = cx.next_instant(t, NEXT_RESPONSE);
            cx.schedule_at(timers, t, hash_id(id), next);
        });
    }

    /// The ticket entered (`true`) or left (`false`) `pending` at `ts`.
    pub(super) fn sla_ticket_pending(&mut self, slot: Slot, ts: i64, pending: bool) {
        self.on_ticket(slot, |cx, timers, t, id| {
            if pending {
                let p = &mut t.ext.get_or_insert_with(Default::default).pauses;
                if p.since.is_none() {
                    // Instants only move later: the live timer fires early.
                    p.since = Some(ts);
                    // A pause that arrived after its clock was marked at
                    // risk but is dated before the at-risk instant: the
                    // clock never reached its warn share (SPEC §4).
                    cx.recheck_risk(t, RESOLUTION);
                    if t.clocks.running(RESOLUTION) {
                        cx.note(t, id, RESOLUTION, SlaEventKind::Paused, ts, false);
                    }
                }
            } else if let Some(e) = &mut t.ext {
                if let Some(since) = e.pauses.since.take() {
                    e.pauses.close(since, ts.max(since));
                    if t.clocks.running(RESOLUTION) {
                        cx.note(t, id, RESOLUTION, SlaEventKind::Resumed, ts, false);
                    }
                    let next = cx.next_instant(t, RESOLUTION);
                    cx.schedule_at(timers, t, hash_id(id), next);
                }
            }
        });
    }

    /// First resolution at `ts`: the resolution clock completes, reply clocks stop.
    pub(super) fn sla_ticket_resolved(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, _, t, id| {
            cx.complete(t, id, RESOLUTION, ts);
            cx.stop(t, id, FIRST_RESPONSE, ts);
            cx.stop(t, id, NEXT_RESPONSE, ts);
        });
    }

    /// The ticket leaves state (closed at `ts`): every clock stops.
    pub(super) fn sla_ticket_gone(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, _, t, id| cx.stop_all(t, id, ts));
    }

    /// A ticket timer at `due` for the id hash `hash`.
    pub(super) fn sla_ticket_timer(&mut self, due: i64, hash: u64) {
        let (tickets, _, timers, _, mut cx) = split(&self.settings, &mut self.state);
        cx.timer(timers, tickets, due, hash);
    }

    // ---- calls ---------------------------------------------------------

    fn on_call(
        &mut self,
        slot: Slot,
        f: impl FnOnce(&mut SlaContext<'_>, &mut SlaTimers, &mut Call, &str),
    ) {
        if !self.sla_on() {
            return;
        }
        let (_, calls, _, timers, mut cx) = split(&self.settings, &mut self.state);
        let (id, c) = calls.entry_at_mut(slot);
        f(&mut cx, timers, c, &id);
    }

    /// The call's answer clock, judged up to (not including) `ts`.
    pub(super) fn sla_call_catch_up(&mut self, slot: Slot, ts: i64) {
        self.on_call(slot, |cx, timers, c, id| cx.catch_up(timers, c, id, ts));
    }

    /// A call entered a queue, before it enters the table: its answer clock starts.
    pub(super) fn sla_call_queued(&mut self, c: &mut Call, id: &str, hash: u64) {
        if !self.sla_on() {
            return;
        }
        let (_, _, _, timers, mut cx) = split(&self.settings, &mut self.state);
        cx.open(timers, c, id, hash, &[ANSWER]);
    }

    /// Answered (`true`) or abandoned at `ts`.
    pub(super) fn sla_call_left_queue(&mut self, slot: Slot, ts: i64, answered: bool) {
        self.on_call(slot, |cx, _, c, id| {
            if answered {
                cx.complete(c, id, ANSWER, ts)
            } else {
                cx.stop(c, id, ANSWER, ts)
            }
        });
    }

    /// The call moved from queue `old_q` at `ts`: re-choose the policy.
    pub(super) fn sla_call_relabel(&mut self, slot: Slot, old_q: LabelId, ts: i64) {
        self.on_call(slot, |cx, timers, c, id| {
            cx.relabel(timers, c, id, hash_id(id), Priority::Normal, old_q, ts)
        });
    }

    /// A call timer at `due` for the id hash `hash`.
    pub(super) fn sla_call_timer(&mut self, due: i64, hash: u64) {
        let (_, calls, _, timers, mut cx) = split(&self.settings, &mut self.state);
        cx.timer(timers, calls, due, hash);
    }

    /// Stops the clocks of tickets (when `slow`) and calls about to expire
    /// at `now`, leaving the gauges.
    pub(super) fn sla_expire(&mut self, now: i64, slow: bool) {
        let settings = &self.settings;
        let (tickets, calls, _, _, mut cx) = split(settings, &mut self.state);
        if slow {
            tickets.each_mut_where(
                |t| super::timers::ticket_expired(settings, t, now),
                |id, t| cx.stop_all(t, &id, now),
            );
        }
        calls.each_mut_where(
            |c| super::timers::call_expired(settings, c, now),
            |id, c| cx.stop_all(c, &id, now),
        );
    }
}
