//! The engine's side of SLA clocks: starting, pausing, judging and
//! relabelling them as ticket and call events arrive, and firing at-risk
//! and breach timers as the event clock passes them.

use std::cmp::Reverse;

use super::sla::{self, sla_key, Breach, CallSla, Clock, ClockKind, TicketSla, Verdict, NO_POLICY};
use super::window::C;
use super::{Engine, LabelId, Timer, TimerKind, MAX_BREACH_RECORDS};
use crate::calendar::Hours;
use crate::event::{Channel, Priority};

/// Who a clock belongs to, for labels and log lines.
#[derive(Clone, Copy)]
struct Owner<'a> {
    entity: &'static str,
    id: &'a str,
    priority: Priority,
    queue: LabelId,
}

impl Engine {
    #[inline]
    pub(super) fn sla_on(&self) -> bool {
        !self.s.policies.list.is_empty()
    }

    fn target(&self, policy: u8, kind: ClockKind) -> Option<i64> {
        self.s
            .policies
            .get(policy)
            .and_then(|p| p.targets[kind as usize])
    }

    fn hours(&self, policy: u8) -> Hours {
        self.s
            .policies
            .get(policy)
            .map_or(Hours::Always, |p| p.hours.clone())
    }

    /// The policy's calendar when it is a business one (for `*_business_seconds`).
    pub(super) fn business_hours(&self, policy: u8) -> Option<Hours> {
        match self.hours(policy) {
            Hours::Always => None,
            h => Some(h),
        }
    }

    /// Sets a running clock's deadline and at-risk instant under `policy`.
    fn recompute(
        &self,
        c: &mut Clock,
        kind: ClockKind,
        policy: u8,
        pauses: &[(i64, i64)],
        paused: Option<i64>,
    ) {
        if !c.open() {
            return;
        }
        match self.target(policy, kind) {
            None => {
                c.deadline = i64::MAX;
                c.warn_at = i64::MAX;
            }
            Some(t) => {
                let h = self.hours(policy);
                c.deadline = sla::deadline(&h, c.start, pauses, paused, t);
                let warn = ((t as f64) * self.s.policies.warn_fraction).round() as i64;
                c.warn_at = sla::deadline(&h, c.start, pauses, paused, warn);
            }
        }
    }

    /// Adds (`sign` 1) or removes (−1) a clock's share of the gauges.
    fn gauges(&mut self, c: &Clock, key: u64, sign: i64) {
        if c.at_risk {
            *self.st.metrics.sla_at_risk.entry(key).or_default() += sign;
        }
        if c.running && c.verdict == Verdict::Breached {
            *self.st.metrics.sla_active.entry(key).or_default() += sign;
        }
    }

    fn window_verdict(&mut self, kind: ClockKind, ts: i64, met: bool) {
        let c = match (kind, met) {
            (ClockKind::FirstResponse, true) => C::SlaFirstResponseMet,
            (ClockKind::FirstResponse, false) => C::SlaFirstResponseBreached,
            (ClockKind::Resolution, true) => C::SlaResolutionMet,
            (ClockKind::Resolution, false) => C::SlaResolutionBreached,
            _ => return,
        };
        self.win_count(ts, c, 1);
    }

    fn breach(&mut self, c: &mut Clock, kind: ClockKind, policy: u8, o: Owner<'_>) {
        let key = sla_key(kind, policy, o.priority, o.queue);
        self.gauges(c, key, -1);
        c.verdict = Verdict::Breached;
        c.at_risk = false;
        self.gauges(c, key, 1);
        *self.st.metrics.sla_breaches.entry(key).or_default() += 1;
        self.window_verdict(kind, c.deadline, false);
        if self.st.breaches.len() < MAX_BREACH_RECORDS {
            let target = self.target(policy, kind).unwrap_or(0);
            let name = self.s.policies.get(policy).map_or("", |p| p.name.as_str());
            self.st.breaches.push(Breach {
                entity: o.entity,
                id: o.id.to_string(),
                policy: name.to_string(),
                sla: kind.as_str(),
                target_ms: target,
                elapsed_ms: target,
                at: c.deadline,
            });
        } else {
            self.st.breaches_dropped += 1;
        }
    }

    /// The clock's target event happened at `ts`: met if in time, else breached.
    fn complete(&mut self, c: &mut Clock, kind: ClockKind, policy: u8, o: Owner<'_>, ts: i64) {
        if !c.running {
            return;
        }
        if c.verdict == Verdict::None && self.target(policy, kind).is_some() {
            if ts <= c.deadline {
                let key = sla_key(kind, policy, o.priority, o.queue);
                self.gauges(c, key, -1);
                c.verdict = Verdict::Met;
                c.at_risk = false;
                *self.st.metrics.sla_achieved.entry(key).or_default() += 1;
                self.window_verdict(kind, ts, true);
            } else {
                // Judged by its own ts (a held early arrival): the deadline came first.
                self.breach(c, kind, policy, o);
            }
        }
        self.stop(c, kind, policy, o);
    }

    /// Stops a clock without a verdict (a breach stands).
    fn stop(&mut self, c: &mut Clock, kind: ClockKind, policy: u8, o: Owner<'_>) {
        if !c.running {
            return;
        }
        let key = sla_key(kind, policy, o.priority, o.queue);
        self.gauges(c, key, -1);
        c.running = false;
        c.at_risk = false;
    }

    /// Marks at-risk and breaches due at `due` (the event clock is passing it).
    fn due(&mut self, c: &mut Clock, kind: ClockKind, policy: u8, o: Owner<'_>, due: i64) {
        if !c.open() {
            return;
        }
        if !c.at_risk && c.warn_at <= due && c.deadline > due {
            c.at_risk = true;
            *self
                .st
                .metrics
                .sla_at_risk
                .entry(sla_key(kind, policy, o.priority, o.queue))
                .or_default() += 1;
        }
        if c.deadline <= due {
            self.breach(c, kind, policy, o);
        }
    }

    /// Pushes a timer only when the entity's next due time moved earlier
    /// than its live timer (a later one simply fires early and reschedules),
    /// so the heap holds about one entry per entity.
    fn schedule_sla(&mut self, next: i64, scheduled: &mut i64, kind: impl FnOnce() -> TimerKind) {
        if next < *scheduled {
            *scheduled = next;
            self.st.timer_seq += 1;
            self.st.timers.push(Reverse(Timer {
                due: next,
                seq: self.st.timer_seq,
                kind: kind(),
            }));
        }
    }

    // ---- tickets -------------------------------------------------------

    /// Runs `f` on a ticket's SLA state with its owner labels, then reschedules.
    fn with_ticket_sla(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Engine, &mut TicketSla, Owner<'_>),
    ) {
        // Without policies no ticket has SLA state: skip the lookup.
        if !self.sla_on() {
            return;
        }
        let Some(t) = self.st.tickets.get_mut(id) else {
            return;
        };
        let Some(mut sla) = t.sla.take() else { return };
        let o = Owner {
            entity: "ticket",
            id,
            priority: t.priority,
            queue: t.queue,
        };
        f(self, &mut sla, o);
        let next = sla
            .clocks
            .iter()
            .map(Clock::next_due)
            .min()
            .unwrap_or(i64::MAX);
        let mut scheduled = sla.scheduled;
        self.schedule_sla(next, &mut scheduled, || TimerKind::SlaTicket(id.into()));
        sla.scheduled = scheduled;
        if let Some(t) = self.st.tickets.get_mut(id) {
            t.sla = Some(sla);
        }
    }

    fn recompute_ticket(&self, sla: &mut TicketSla) {
        let (policy, pauses, paused) = (
            sla.policy,
            std::mem::take(&mut sla.pauses),
            sla.paused_since,
        );
        for (i, kind) in [
            ClockKind::FirstResponse,
            ClockKind::NextResponse,
            ClockKind::Resolution,
        ]
        .into_iter()
        .enumerate()
        {
            let (p, ps): (&[(i64, i64)], Option<i64>) = if kind == ClockKind::Resolution {
                (&pauses, paused)
            } else {
                (&[], None)
            };
            self.recompute(&mut sla.clocks[i], kind, policy, p, ps);
        }
        sla.pauses = pauses;
    }

    /// Judges a ticket's clocks up to (not including) `ts`, before an event
    /// at `ts` changes them. In arrival order the timers did this already; a
    /// held early arrival is judged by its own time this way.
    pub(super) fn sla_ticket_catch_up(&mut self, id: &str, ts: i64) {
        self.with_ticket_sla(id, |e, sla, o| {
            for i in 0..3 {
                let kind = [
                    ClockKind::FirstResponse,
                    ClockKind::NextResponse,
                    ClockKind::Resolution,
                ][i];
                let mut c = std::mem::take(&mut sla.clocks[i]);
                e.due(&mut c, kind, sla.policy, o, ts - 1);
                sla.clocks[i] = c;
            }
        });
    }

    /// The call's answer clock, judged up to (not including) `ts`.
    pub(super) fn sla_call_catch_up(&mut self, id: &str, ts: i64) {
        self.with_call_sla(id, |e, sla, o| {
            let mut c = std::mem::take(&mut sla.clock);
            e.due(&mut c, ClockKind::Answer, sla.policy, o, ts - 1);
            sla.clock = c;
        });
    }

    /// A new ticket: choose its policy and start first-response and resolution clocks.
    pub(super) fn sla_ticket_created(&mut self, id: &str, ts: i64, ch: Channel) {
        if !self.sla_on() {
            return;
        }
        let Some(t) = self.st.tickets.get_mut(id) else {
            return;
        };
        let (pr, q) = (t.priority, t.queue);
        t.sla = Some(Box::new(TicketSla {
            policy: self.s.policies.choose(ch, pr, q),
            clocks: [Clock::started(ts), Clock::default(), Clock::started(ts)],
            pauses: Vec::new(),
            paused_since: None,
            scheduled: i64::MAX,
        }));
        self.with_ticket_sla(id, |e, sla, _| e.recompute_ticket(sla));
    }

    /// The ticket's priority or queue is about to change from `old`: re-choose the
    /// policy and move the gauges to the new labels. Call after updating the ticket.
    pub(super) fn sla_ticket_relabel(&mut self, id: &str, old_pr: Priority, old_q: LabelId) {
        let Some(t) = self.st.tickets.get(id) else {
            return;
        };
        let ch = t.channel;
        self.with_ticket_sla(id, |e, sla, o| {
            for (i, kind) in [
                ClockKind::FirstResponse,
                ClockKind::NextResponse,
                ClockKind::Resolution,
            ]
            .into_iter()
            .enumerate()
            {
                let c = sla.clocks[i].clone();
                e.gauges(&c, sla_key(kind, sla.policy, old_pr, old_q), -1);
            }
            sla.policy = e.s.policies.choose(ch, o.priority, o.queue);
            e.recompute_ticket(sla);
            for (i, kind) in [
                ClockKind::FirstResponse,
                ClockKind::NextResponse,
                ClockKind::Resolution,
            ]
            .into_iter()
            .enumerate()
            {
                let c = sla.clocks[i].clone();
                // A clock that is no longer close to its (new) deadline is no longer at risk.
                if c.at_risk && c.warn_at > e.st.clock.unwrap_or(i64::MIN) {
                    sla.clocks[i].at_risk = false;
                }
                let c = sla.clocks[i].clone();
                e.gauges(&c, sla_key(kind, sla.policy, o.priority, o.queue), 1);
            }
        });
    }

    /// A public agent reply at `ts`: first and next response clocks complete.
    pub(super) fn sla_ticket_replied(&mut self, id: &str, ts: i64) {
        self.with_ticket_sla(id, |e, sla, o| {
            for (i, kind) in [(0, ClockKind::FirstResponse), (1, ClockKind::NextResponse)] {
                let mut c = std::mem::take(&mut sla.clocks[i]);
                e.complete(&mut c, kind, sla.policy, o, ts);
                sla.clocks[i] = c;
            }
        });
    }

    /// A customer message that found no unanswered one: a next-response clock starts.
    pub(super) fn sla_ticket_awaits_reply(&mut self, id: &str, ts: i64) {
        self.with_ticket_sla(id, |e, sla, o| {
            let mut c = std::mem::take(&mut sla.clocks[1]);
            e.stop(&mut c, ClockKind::NextResponse, sla.policy, o);
            sla.clocks[1] = Clock::started(ts);
            e.recompute_ticket(sla);
        });
    }

    /// The ticket entered (`true`) or left (`false`) `pending` at `ts`.
    pub(super) fn sla_ticket_pending(&mut self, id: &str, ts: i64, pending: bool) {
        self.with_ticket_sla(id, |e, sla, _| {
            match (pending, sla.paused_since) {
                (true, None) => sla.paused_since = Some(ts),
                (false, Some(since)) => {
                    sla.pauses.push((since, ts.max(since)));
                    sla.paused_since = None;
                }
                _ => return,
            }
            e.recompute_ticket(sla);
        });
    }

    /// First resolution at `ts`: the resolution clock completes, reply clocks stop.
    pub(super) fn sla_ticket_resolved(&mut self, id: &str, ts: i64) {
        self.with_ticket_sla(id, |e, sla, o| {
            let mut c = std::mem::take(&mut sla.clocks[2]);
            e.complete(&mut c, ClockKind::Resolution, sla.policy, o, ts);
            sla.clocks[2] = c;
            for (i, kind) in [(0, ClockKind::FirstResponse), (1, ClockKind::NextResponse)] {
                let mut c = std::mem::take(&mut sla.clocks[i]);
                e.stop(&mut c, kind, sla.policy, o);
                sla.clocks[i] = c;
            }
        });
    }

    /// The ticket leaves state (closed or expired): every clock stops.
    pub(super) fn sla_ticket_gone(&mut self, id: &str) {
        self.with_ticket_sla(id, |e, sla, o| {
            for (i, kind) in [
                ClockKind::FirstResponse,
                ClockKind::NextResponse,
                ClockKind::Resolution,
            ]
            .into_iter()
            .enumerate()
            {
                let mut c = std::mem::take(&mut sla.clocks[i]);
                e.stop(&mut c, kind, sla.policy, o);
                sla.clocks[i] = c;
            }
        });
    }

    pub(super) fn sla_ticket_timer(&mut self, id: &str, due: i64) {
        let live = self
            .st
            .tickets
            .get(id)
            .and_then(|t| t.sla.as_ref())
            .is_some_and(|s| s.scheduled == due);
        if !live {
            return;
        }
        self.with_ticket_sla(id, |e, sla, o| {
            sla.scheduled = i64::MAX;
            for (i, kind) in [
                ClockKind::FirstResponse,
                ClockKind::NextResponse,
                ClockKind::Resolution,
            ]
            .into_iter()
            .enumerate()
            {
                let mut c = std::mem::take(&mut sla.clocks[i]);
                e.due(&mut c, kind, sla.policy, o, due);
                sla.clocks[i] = c;
            }
        });
    }

    /// The ticket's policy, for business-time histograms.
    pub(super) fn ticket_policy(&self, id: &str) -> u8 {
        if !self.sla_on() {
            return NO_POLICY;
        }
        self.st
            .tickets
            .get(id)
            .and_then(|t| t.sla.as_ref())
            .map_or(NO_POLICY, |s| s.policy)
    }

    // ---- calls ---------------------------------------------------------

    fn with_call_sla(&mut self, id: &str, f: impl FnOnce(&mut Engine, &mut CallSla, Owner<'_>)) {
        if !self.sla_on() {
            return;
        }
        let Some(c) = self.st.calls.get_mut(id) else {
            return;
        };
        let Some(mut sla) = c.sla.take() else { return };
        let o = Owner {
            entity: "call",
            id,
            priority: Priority::Normal,
            queue: c.queue,
        };
        f(self, &mut sla, o);
        let mut scheduled = sla.scheduled;
        self.schedule_sla(sla.clock.next_due(), &mut scheduled, || {
            TimerKind::SlaCall(id.into())
        });
        sla.scheduled = scheduled;
        if let Some(c) = self.st.calls.get_mut(id) {
            c.sla = Some(sla);
        }
    }

    /// A call entered a queue: its answer clock starts.
    pub(super) fn sla_call_queued(&mut self, id: &str, ts: i64, ch: Channel) {
        if !self.sla_on() {
            return;
        }
        let Some(c) = self.st.calls.get_mut(id) else {
            return;
        };
        let q = c.queue;
        c.sla = Some(Box::new(CallSla {
            policy: self.s.policies.choose(ch, Priority::Normal, q),
            clock: Clock::started(ts),
            scheduled: i64::MAX,
        }));
        self.with_call_sla(id, |e, sla, _| {
            let policy = sla.policy;
            e.recompute(&mut sla.clock, ClockKind::Answer, policy, &[], None);
        });
    }

    /// Answered (`Some(ts)`) or abandoned (`None`).
    pub(super) fn sla_call_left_queue(&mut self, id: &str, answered: Option<i64>) {
        self.with_call_sla(id, |e, sla, o| {
            let mut c = std::mem::take(&mut sla.clock);
            match answered {
                Some(ts) => e.complete(&mut c, ClockKind::Answer, sla.policy, o, ts),
                None => e.stop(&mut c, ClockKind::Answer, sla.policy, o),
            }
            sla.clock = c;
        });
    }

    /// The call moved from queue `old_q`: re-choose the policy.
    pub(super) fn sla_call_relabel(&mut self, id: &str, old_q: LabelId) {
        let Some(call) = self.st.calls.get(id) else {
            return;
        };
        let ch = call.channel;
        self.with_call_sla(id, |e, sla, o| {
            let c = sla.clock.clone();
            e.gauges(
                &c,
                sla_key(ClockKind::Answer, sla.policy, Priority::Normal, old_q),
                -1,
            );
            sla.policy = e.s.policies.choose(ch, Priority::Normal, o.queue);
            let policy = sla.policy;
            e.recompute(&mut sla.clock, ClockKind::Answer, policy, &[], None);
            if sla.clock.at_risk && sla.clock.warn_at > e.st.clock.unwrap_or(i64::MIN) {
                sla.clock.at_risk = false;
            }
            let c = sla.clock.clone();
            e.gauges(
                &c,
                sla_key(ClockKind::Answer, sla.policy, Priority::Normal, o.queue),
                1,
            );
        });
    }

    /// The call leaves state.
    pub(super) fn sla_call_gone(&mut self, id: &str) {
        self.with_call_sla(id, |e, sla, o| {
            let mut c = std::mem::take(&mut sla.clock);
            e.stop(&mut c, ClockKind::Answer, sla.policy, o);
            sla.clock = c;
        });
    }

    pub(super) fn sla_call_timer(&mut self, id: &str, due: i64) {
        let live = self
            .st
            .calls
            .get(id)
            .and_then(|c| c.sla.as_ref())
            .is_some_and(|s| s.scheduled == due);
        if !live {
            return;
        }
        self.with_call_sla(id, |e, sla, o| {
            sla.scheduled = i64::MAX;
            let mut c = std::mem::take(&mut sla.clock);
            e.due(&mut c, ClockKind::Answer, sla.policy, o, due);
            sla.clock = c;
        });
    }
}
