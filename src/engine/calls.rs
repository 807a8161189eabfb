//! Call events (SPEC §1.3): a call's phases from queue to wrap-up, and the
//! waits, hold and handle times they yield. [`Engine::call_event`] finds
//! the call once and hands the event to one named handler per event type
//! and phase; an event its phase does not allow is out of order.

use super::keys::dims;
use super::state::{Call, CallPhase};
use super::table::Slot;
use super::timers::TimerKind;
use super::window::{DurMetric, WindowCount};
use super::{Engine, EventKeys, ExemplarSource, HistId, LabelId};
use crate::event::{Body, Channel, EntityRef, Priority};

/// The call an event applies to, as it was before the event.
#[derive(Clone, Copy)]
struct Before {
    slot: Slot,
    /// The event's time.
    ts: i64,
    channel: Channel,
    queue: LabelId,
    queued: i64,
}

impl Engine {
    /// `call.queued`: a new call (a second one with the same id is out of
    /// order), its answer clock, its contact, then the events held for it.
    pub(super) fn call_queued(&mut self, ts: i64, body: &Body, keys: &EventKeys) {
        let ty = body.event_type();
        let Body::CallQueued {
            call,
            customer: _, // keyed in `keys`
            queue,
            channel,
            category,
        } = body
        else {
            unreachable!("dispatch routes only call.queued here")
        };
        let channel = *channel;
        let hash = keys.entity().expect("a new call's keys hash its id");
        if self.state.calls.slot_hashed(hash, call).is_some() {
            return self.out_of_order(ty);
        }
        let q = self.state.queues.resolve(queue.as_deref());
        let mut c = Call::new(ts, channel, q);
        self.sla_call_queued(&mut c, call, hash);
        self.state.calls.insert_hashed(hash, call, c);
        self.state.metrics.waiting_add(q, ts, 1);
        bump!(self.state.metrics, calls_offered, q as u32, 1);
        let cust = keys.customer().expect("a new call's keys key its customer");
        self.contact(ts, call, cust, category.as_deref(), channel, q);
        self.release_held(call, false);
    }

    /// Every other call event: an unknown call, or an event dated before
    /// the call was queued, is out of order.
    pub(super) fn call_event(&mut self, ts: i64, body: &Body, found: Option<Slot>) {
        let ty = body.event_type();
        let EntityRef::Call(id) = body.entity() else {
            return;
        };
        let Some(slot) = found.or_else(|| self.state.calls.slot(id)) else {
            return self.out_of_order(ty);
        };
        if ts < self.state.calls.at(slot).queued {
            return self.out_of_order(ty);
        }
        self.sla_call_catch_up(slot, ts);
        let c = self.state.calls.at_mut(slot);
        c.last_event = c.last_event.max(ts);
        let phase = c.phase;
        let before = Before {
            slot,
            ts,
            channel: c.channel,
            queue: c.queue,
            queued: c.queued,
        };
        use CallPhase::{AfterCallWork, Done, Talking, Waiting};
        match (body, phase) {
            (Body::CallAnswered { agent, .. }, Waiting) => self.call_answered(before, id, agent),
            (Body::CallAbandoned { .. }, Waiting) => self.call_abandoned(before, id),
            (
                Body::CallHoldStarted { .. },
                Talking {
                    answered,
                    hold_since: None,
                },
            ) => self.call_hold_started(before, answered),
            // A step dated before the step it ends measures nothing (SPEC
            // §2): it falls through to out of order below.
            (
                Body::CallHoldEnded { .. },
                Talking {
                    answered,
                    hold_since: Some(since),
                },
            ) if ts >= since => self.call_hold_ended(before, answered, since),
            (
                Body::CallTransferred {
                    queue, escalation, ..
                },
                p,
            ) if !matches!(p, Done { .. }) => {
                self.call_transferred(before, p, queue.as_deref(), *escalation)
            }
            (
                Body::CallEnded { resolved, .. },
                Talking {
                    answered,
                    hold_since,
                },
            ) if ts >= answered && hold_since.is_none_or(|s| ts >= s) => {
                self.call_ended(before, id, *resolved, answered, hold_since)
            }
            (Body::CallWrapupEnded { .. }, AfterCallWork { ended }) if ts >= ended => {
                self.finish_call(id, ts, (ts - ended).max(0));
            }
            _ => self.out_of_order(ty),
        }
    }

    /// `call.answered` of a waiting call: the answer wait, the service
    /// level, the SLA verdict.
    fn call_answered(&mut self, c: Before, id: &str, agent: &str) {
        let ts = c.ts;
        self.state.calls.at_mut(c.slot).phase = CallPhase::Talking {
            answered: ts,
            hold_since: None,
        };
        let (q, wait) = (c.queue, ts - c.queued);
        self.state.metrics.waiting_add(q, c.queued, -1);
        bump!(self.state.metrics, calls_answered, q as u32, 1);
        let ex = ExemplarSource::call(id, ts);
        self.observe(HistId::AnswerWait, q as u32, wait, ex);
        self.win_count(ts, WindowCount::Answered, 1);
        self.win_observe(ts, DurMetric::AnswerWait, c.channel, q, wait);
        if wait <= self.settings.sl_threshold {
            bump!(self.state.metrics, calls_within, q as u32, 1);
            self.win_count(ts, WindowCount::AnsweredWithin, 1);
        }
        self.sla_call_left_queue(c.slot, ts, true);
        if self.per_agent() {
            self.agent_answered(c.slot, agent);
        }
    }

    /// `call.abandoned` by a waiting caller: the abandon wait, short
    /// abandons, the SLA clock stops.
    fn call_abandoned(&mut self, c: Before, id: &str) {
        let ts = c.ts;
        self.state.calls.at_mut(c.slot).phase = CallPhase::Done { at: ts };
        let (q, wait) = (c.queue, ts - c.queued);
        self.state.metrics.waiting_add(q, c.queued, -1);
        bump!(self.state.metrics, calls_abandoned, q as u32, 1);
        let ex = ExemplarSource::call(id, ts);
        self.observe(HistId::AbandonWait, q as u32, wait, ex);
        self.win_count(ts, WindowCount::Abandoned, 1);
        if wait < self.settings.short_abandon {
            bump!(self.state.metrics, calls_short, q as u32, 1);
            self.win_count(ts, WindowCount::ShortAbandoned, 1);
        }
        if wait <= self.settings.sl_threshold {
            self.win_count(ts, WindowCount::AbandonedWithin, 1);
        }
        self.sla_call_left_queue(c.slot, ts, false);
    }

    /// `call.hold_started` while talking and not on hold.
    fn call_hold_started(&mut self, c: Before, answered: i64) {
        self.state.calls.at_mut(c.slot).phase = CallPhase::Talking {
            answered,
            hold_since: Some(c.ts),
        };
    }

    /// `call.hold_ended` of a hold that started at `since`.
    fn call_hold_ended(&mut self, c: Before, answered: i64, since: i64) {
        let call = self.state.calls.at_mut(c.slot);
        call.hold_ms += (c.ts - since).max(0);
        call.phase = CallPhase::Talking {
            answered,
            hold_since: None,
        };
    }

    /// `call.transferred` before the call is done: to a new queue (which
    /// moves the waiting gauge of a waiting call and may re-choose the SLA
    /// policy), counted as an escalation the first time it is one.
    fn call_transferred(
        &mut self,
        c: Before,
        phase: CallPhase,
        queue: Option<&str>,
        escalation: bool,
    ) {
        let call = self.state.calls.at_mut(c.slot);
        call.transferred = true;
        let first_escalation = escalation && !call.escalated;
        if escalation {
            call.escalated = true;
        }
        let (q, nq) = (c.queue, self.state.queues.resolve(queue));
        self.state.calls.at_mut(c.slot).queue = nq;
        if nq != q {
            self.sla_call_relabel(c.slot, q, c.ts);
        }
        if phase == CallPhase::Waiting {
            self.state.metrics.waiting_add(q, c.queued, -1);
            self.state.metrics.waiting_add(nq, c.queued, 1);
        }
        if first_escalation {
            let key = dims(c.channel, Priority::Normal, q);
            bump!(self.state.metrics, escalations, key, 1);
            self.win_count(c.ts, WindowCount::Escalations, 1);
            if self.per_agent() {
                self.agent_call_escalated(c.slot, q);
            }
        }
    }

    /// `call.ended` while talking: talk and hold time so far, first-contact
    /// resolution, and after-call work until wrap-up or its timeout.
    fn call_ended(
        &mut self,
        c: Before,
        id: &str,
        resolved: bool,
        answered: i64,
        hold_since: Option<i64>,
    ) {
        let ts = c.ts;
        let call = self.state.calls.at_mut(c.slot);
        if let Some(since) = hold_since {
            call.hold_ms += (ts - since).max(0);
        }
        call.talk_ms = (ts - answered).max(0);
        call.phase = CallPhase::AfterCallWork { ended: ts };
        let transferred = call.transferred;
        if resolved {
            self.win_count(ts, WindowCount::ResolvedContacts, 1);
            if !transferred {
                let key = dims(c.channel, Priority::Normal, c.queue);
                bump!(self.state.metrics, fcr, key, 1);
                self.win_count(ts, WindowCount::Fcr, 1);
                if self.per_agent() {
                    self.agent_call_fcr(c.slot, c.queue);
                }
            }
        }
        self.schedule(ts + self.settings.acw_timeout, TimerKind::Acw(id.into()));
    }

    /// Observes a call's handle and hold time at `ts` and marks it done.
    pub(super) fn finish_call(&mut self, id: &str, ts: i64, acw_ms: i64) {
        let Some(c) = self.state.calls.get_mut(id) else {
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
}
