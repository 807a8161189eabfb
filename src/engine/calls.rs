//! Call events (SPEC §1.3): a call's phases from queue to wrap-up, and the
//! waits, hold and handle times they yield.

use super::keys::dims;
use super::state::CallPhase;
use super::timers::TimerKind;
use super::window::{DurMetric, WindowCount};
use super::{Engine, ExemplarSource, HistId};
use crate::event::{Body, EntityRef, Priority};

impl Engine {
    pub(super) fn call_event(&mut self, ts: i64, mut body: Body) {
        let ty = body.event_type();
        if !matches!(body.entity(), EntityRef::Call(_)) {
            return;
        }
        // The id is moved out, not copied: the arms below take other fields.
        let Some(id) = body.take_entity_id() else {
            return;
        };
        let Some(slot) = self.state.calls.slot(&id) else {
            return self.out_of_order(ty);
        };
        if ts < self.state.calls.at(slot).queued {
            return self.out_of_order(ty);
        }
        self.sla_call_catch_up(slot, ts);
        let c = self.state.calls.at_mut(slot);
        c.last_event = c.last_event.max(ts);
        let (ch, q, queued, phase) = (c.channel, c.queue, c.queued, c.phase);
        match (body, phase) {
            (Body::CallAnswered { agent, .. }, CallPhase::Waiting) => {
                c.phase = CallPhase::Talking {
                    answered: ts,
                    hold_since: None,
                };
                let wait = ts - queued;
                self.state.metrics.waiting_add(q, queued, -1);
                let m = &mut self.state.metrics;
                *bump!(*m, calls_answered, q as u32) += 1;
                self.observe(
                    HistId::AnswerWait,
                    q as u32,
                    wait,
                    ExemplarSource::call(&id, ts),
                );
                self.win_count(ts, WindowCount::Answered, 1);
                self.win_observe(ts, DurMetric::AnswerWait, ch, q, wait);
                if wait <= self.settings.sl_threshold {
                    *bump!(self.state.metrics, calls_within, q as u32) += 1;
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
                self.state.metrics.waiting_add(q, queued, -1);
                *bump!(self.state.metrics, calls_abandoned, q as u32) += 1;
                self.observe(
                    HistId::AbandonWait,
                    q as u32,
                    wait,
                    ExemplarSource::call(&id, ts),
                );
                self.win_count(ts, WindowCount::Abandoned, 1);
                if wait < self.settings.short_abandon {
                    *bump!(self.state.metrics, calls_short, q as u32) += 1;
                    self.win_count(ts, WindowCount::ShortAbandoned, 1);
                }
                if wait <= self.settings.sl_threshold {
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
                let nq = self.state.queues.resolve(queue.as_deref());
                self.state.calls.at_mut(slot).queue = nq;
                if nq != q {
                    self.sla_call_relabel(slot, q, ts);
                }
                if p == CallPhase::Waiting {
                    self.state.metrics.waiting_add(q, queued, -1);
                    self.state.metrics.waiting_add(nq, queued, 1);
                }
                if first_escalation {
                    *bump!(
                        self.state.metrics,
                        escalations,
                        dims(ch, Priority::Normal, q)
                    ) += 1;
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
                        *bump!(self.state.metrics, fcr, dims(ch, Priority::Normal, q)) += 1;
                        self.win_count(ts, WindowCount::Fcr, 1);
                        if self.per_agent() {
                            self.agent_call_fcr(slot, q);
                        }
                    }
                }
                self.schedule(ts + self.settings.acw_timeout, TimerKind::Acw(id));
            }
            (Body::CallWrapupEnded { .. }, CallPhase::AfterCallWork { ended }) if ts >= ended => {
                self.finish_call(&id, ts, (ts - ended).max(0));
            }
            _ => self.out_of_order(ty),
        }
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
