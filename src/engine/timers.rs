//! Time on the event clock: the timer heaps (after-call work, held early
//! arrivals, SLA clocks), moving the clock and firing what it passes,
//! flushing at end of input, and sweeping expired state.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::settings::Settings;
use super::state::{Call, CallPhase, Ticket};
use super::Engine;
use crate::event::Id;

/// A timer on the event clock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Timer {
    due: i64,
    seq: u64,
    kind: TimerKind,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum TimerKind {
    /// After-call work of this call times out.
    Acw(Id),
    /// Held events of this ticket may have fallen behind the watermark.
    HeldTicket(Id),
    /// Held events of this call may have fallen behind the watermark.
    HeldCall(Id),
}

/// Which heap the next timer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Heap {
    General,
    SlaTicket,
    SlaCall,
}

impl Engine {
    /// Fires timers an event has put behind the clock (an SLA target
    /// shortened past its deadline, a late opening event): they are due now.
    pub(super) fn fire_overdue(&mut self) {
        let Some(clock) = self.state.clock else {
            return;
        };
        while let Some((due, heap)) = self.next_timer() {
            if due >= clock {
                break;
            }
            let cutoff = self.watermark();
            self.fire_next(heap, cutoff);
        }
    }

    /// The earliest timer over the three heaps.
    pub(super) fn next_timer(&self) -> Option<(i64, Heap)> {
        let mut best = self
            .state
            .timers
            .peek()
            .map(|Reverse(t)| (t.due, Heap::General));
        for (h, heap) in [
            (&self.state.sla_tickets, Heap::SlaTicket),
            (&self.state.sla_calls, Heap::SlaCall),
        ] {
            if let Some((due, _)) = h.peek() {
                if best.is_none_or(|(b, _)| *due < b) {
                    best = Some((*due, heap));
                }
            }
        }
        best
    }

    /// Pops the earliest timer of `heap` if it is an SLA timer no ticket or
    /// call waits on any more (its instant moved), and says so. Such a
    /// timer must not move the clock where the step would sweep: a
    /// restored engine rebuilds only the live ones, and the clock's steps
    /// set when state is swept (the other work of a step, windows and the
    /// dedup memory, ends the same whatever the steps before it).
    fn drop_stale(&mut self, heap: Heap) -> bool {
        let st = &mut self.state;
        let stale = match heap {
            Heap::General => false,
            Heap::SlaTicket => {
                let &(due, hash) = st.sla_tickets.peek().expect("peeked");
                st.tickets
                    .slots_with_hash(hash, |t| t.sla_due == due)
                    .is_empty()
            }
            Heap::SlaCall => {
                let &(due, hash) = st.sla_calls.peek().expect("peeked");
                st.calls
                    .slots_with_hash(hash, |c| c.sla_due == due)
                    .is_empty()
            }
        };
        if stale {
            match heap {
                Heap::SlaTicket => st.sla_tickets.pop(),
                _ => st.sla_calls.pop(),
            };
        }
        stale
    }

    /// Pops and fires the earliest timer of `heap`.
    pub(super) fn fire_next(&mut self, heap: Heap, held_cutoff: i64) {
        match heap {
            Heap::General => {
                let Reverse(t) = self.state.timers.pop().expect("peeked");
                self.fire(t, held_cutoff);
            }
            Heap::SlaTicket => {
                let (due, hash) = self.state.sla_tickets.pop().expect("peeked");
                self.sla_ticket_timer(due, hash);
            }
            Heap::SlaCall => {
                let (due, hash) = self.state.sla_calls.pop().expect("peeked");
                self.sla_call_timer(due, hash);
            }
        }
    }

    /// Moves the event clock forward to `ts` (no-op if it is behind), firing
    /// every timer it passes. Live drivers call this with wall time on a
    /// quiet partition.
    pub fn advance_clock(&mut self, ts: i64) {
        if self.state.clock.is_some_and(|c| c >= ts) {
            return;
        }
        while let Some((due, heap)) = self.next_timer() {
            if due >= ts {
                break;
            }
            // Only a step that sweeps can tell a stale timer from none.
            if due >= self.state.next_sweep && self.drop_stale(heap) {
                continue;
            }
            self.set_clock(due);
            // The clock is about to pass `due`: held events at or before
            // `due − lateness` fall behind the watermark.
            self.fire_next(heap, due - self.settings.lateness + 1);
        }
        self.set_clock(ts);
    }

    /// End of input: fires every timer due before the event clock, and
    /// after-call-work timeouts due at it (a held event exactly at the
    /// watermark is not behind it yet, and an SLA deadline at the clock has
    /// not passed).
    pub fn flush(&mut self) {
        let Some(clock) = self.state.clock else {
            return;
        };
        let cutoff = clock - self.settings.lateness;
        while let Some((due, heap)) = self.next_timer() {
            if due >= clock {
                break;
            }
            // Only a step that sweeps can tell a stale timer from none.
            if due >= self.state.next_sweep && self.drop_stale(heap) {
                continue;
            }
            self.set_clock(due);
            self.fire_next(heap, cutoff);
        }
        let mut keep = Vec::new();
        while let Some(Reverse(t)) = self.state.timers.peek() {
            if t.due > clock {
                break;
            }
            let Reverse(t) = self.state.timers.pop().expect("peeked");
            if matches!(t.kind, TimerKind::Acw(_)) {
                self.fire(t, cutoff);
            } else {
                keep.push(Reverse(t));
            }
        }
        self.state.timers.extend(keep);
    }

    pub(super) fn set_clock(&mut self, ts: i64) {
        if self.state.clock.is_some_and(|c| c >= ts) {
            return;
        }
        self.state.clock = Some(ts);
        self.state.windows.advance(ts);
        self.state.dedup.expire(ts - self.settings.dedup_horizon);
        if ts >= self.state.next_sweep {
            let slow = ts >= self.state.next_slow_sweep;
            if self.state.next_sweep != i64::MIN {
                self.sweep(ts, slow);
            }
            self.state.next_sweep = ts + self.settings.sweep_every;
            if slow {
                self.state.next_slow_sweep = ts + self.settings.slow_sweep_every;
            }
        }
    }

    pub(super) fn schedule(&mut self, due: i64, kind: TimerKind) {
        self.state.timer_seq += 1;
        self.state.timers.push(Reverse(Timer {
            due,
            seq: self.state.timer_seq,
            kind,
        }));
    }

    /// Fires a timer; held events older than `held_cutoff` are dropped.
    pub(super) fn fire(&mut self, t: Timer, held_cutoff: i64) {
        match t.kind {
            TimerKind::Acw(id) => {
                let Some(call) = self.state.calls.get(&id) else {
                    return;
                };
                if let CallPhase::AfterCallWork { ended } = call.phase {
                    if ended + self.settings.acw_timeout == t.due {
                        self.finish_call(&id, t.due, 0);
                    }
                }
            }
            TimerKind::HeldTicket(id) => self.expire_held(id, true, held_cutoff),
            TimerKind::HeldCall(id) => self.expire_held(id, false, held_cutoff),
        }
    }

    pub(super) fn expire_held(&mut self, id: Id, ticket: bool, cutoff: i64) {
        let map = if ticket {
            &mut self.state.held_tickets
        } else {
            &mut self.state.held_calls
        };
        let Some(list) = map.get_mut(&id) else { return };
        let before = list.len();
        let m = &mut self.state.metrics;
        list.retain(|e| {
            let keep = e.ts >= cutoff;
            if !keep {
                m.out_of_order[e.body.event_type().index()] += 1;
            }
            keep
        });
        self.state.held_count -= before - list.len();
        if list.is_empty() {
            map.remove(&id);
        }
    }

    /// Drops expired state (docs/events.md, "Expiry").
    /// Calls every time; tickets, customers and agents when `slow`.
    pub(super) fn sweep(&mut self, now: i64, slow: bool) {
        if self.sla_on() {
            // Clocks of state about to expire stop first, leaving the gauges.
            self.sla_expire(now, slow);
        }
        let settings = &self.settings;
        let m = &mut self.state.metrics;
        let live = &mut self.state.sla_live;
        self.state.calls.retain(|c| {
            let keep = !call_expired(settings, c, now);
            if !keep && c.phase == CallPhase::Waiting {
                m.waiting_add(c.queue, c.queued, -1);
            }
            if !keep && c.sla_due != i64::MAX {
                *live -= 1;
            }
            keep
        });
        self.expire_agents(now);
        if !slow {
            return;
        }
        let (settings, m, live) = (
            &self.settings,
            &mut self.state.metrics,
            &mut self.state.sla_live,
        );
        self.state.tickets.retain(|t| {
            let keep = !ticket_expired(settings, t, now);
            if !keep && !t.resolved() {
                m.open_add(t.status, t.priority, t.queue, -1);
            }
            if !keep && t.sla_due != i64::MAX {
                *live -= 1;
            }
            keep
        });
        let horizon = settings.repeat_window + settings.lateness;
        self.state
            .customers
            .expire(now, horizon, settings.repeat_window);
    }
}

/// A ticket past its time to live (docs/events.md, "Expiry"). One whose
/// SLA clock still has an instant to judge (at risk, a deadline) lives
/// until it is judged: expiry stops clocks without a verdict, and SPEC §4
/// gives none but a resolution, a close or an abandon that right.
pub(super) fn ticket_expired(settings: &Settings, t: &Ticket, now: i64) -> bool {
    if t.sla_due != i64::MAX {
        return false;
    }
    let ttl = if t.resolved() {
        settings.resolved_ticket_ttl
    } else {
        settings.idle_ticket_ttl
    };
    now - t.last_event > ttl
}

/// A call past its time to live; one with an SLA instant still to judge
/// lives until it is judged, as a ticket does.
pub(super) fn call_expired(settings: &Settings, c: &Call, now: i64) -> bool {
    if c.sla_due != i64::MAX {
        return false;
    }
    match c.phase {
        CallPhase::Done { at } => now - at > settings.finished_call_ttl,
        _ => now - c.last_event > settings.idle_call_ttl,
    }
}
