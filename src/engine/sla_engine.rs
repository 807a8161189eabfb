//! The engine's side of SLA clocks: starting, pausing, judging and
//! relabelling them as ticket and call events arrive, and firing at-risk
//! and breach timers as the event clock passes them.
//!
//! A ticket or call keeps four bits per clock ([`Clocks`]), its policy, and
//! the due time of its live timer. Deadlines and at-risk instants are
//! computed from the clock's start when a verdict or a timer needs them.
//! The live timer is at or before the entity's earliest instant: a change
//! that brings an instant earlier pushes a new timer, a change that moves
//! them later leaves the old one to fire early and reschedule, so the heap
//! holds about one entry per entity.

use super::sla::{
    self, sla_key, Breach, ClockKind, Clocks, Policies, SlaEvent, SlaEventKind, Verdict,
};
use super::sla_clocked::{Clocked, SlaTimers};
use super::state::{Call, Metrics, Ticket};
use super::table::{hash_id, Table};
use super::window::{WindowCount, Windows};
use super::{LabelId, Settings, State, MAX_BREACH_RECORDS, MAX_SLA_EVENTS};
use crate::calendar::Hours;
use crate::event::{Channel, Priority};

static ALWAYS: Hours = Hours::Always;

/// Everything SLA bookkeeping touches besides the ticket or call itself.
pub(super) struct SlaContext<'a> {
    policies: &'a Policies,
    metrics: &'a mut Metrics,
    windows: &'a mut Windows,
    breaches: &'a mut Vec<Breach>,
    breaches_dropped: &'a mut u64,
    /// Tickets and calls with a live SLA timer (`sla_due` set).
    live: &'a mut usize,
    /// SLA state changes for the driver, when it asked for them.
    events: Option<&'a mut Vec<SlaEvent>>,
    events_dropped: &'a mut u64,
    watermark: i64,
    clock: i64,
}

/// Splits the state into the tables, the two timer heaps and the rest.
pub(super) fn split<'a>(
    settings: &'a Settings,
    state: &'a mut State,
) -> (
    &'a mut Table<Ticket>,
    &'a mut Table<Call>,
    &'a mut SlaTimers,
    &'a mut SlaTimers,
    SlaContext<'a>,
) {
    let watermark = state.clock.map_or(i64::MIN, |c| c - settings.lateness);
    (
        &mut state.tickets,
        &mut state.calls,
        &mut state.sla_tickets,
        &mut state.sla_calls,
        SlaContext {
            policies: &settings.policies,
            metrics: &mut state.metrics,
            windows: &mut state.windows,
            breaches: &mut state.breaches,
            breaches_dropped: &mut state.breaches_dropped,
            live: &mut state.sla_live,
            events: if settings.record_sla_events {
                Some(&mut state.sla_events)
            } else {
                None
            },
            events_dropped: &mut state.sla_events_dropped,
            watermark,
            clock: state.clock.unwrap_or(i64::MIN),
        },
    )
}

impl SlaContext<'_> {
    pub(super) fn target(&self, policy: u8, kind: ClockKind) -> Option<i64> {
        self.policies
            .get(policy)
            .and_then(|p| p.targets[kind as usize])
    }

    pub(super) fn hours(&self, policy: u8) -> &Hours {
        self.policies.get(policy).map_or(&ALWAYS, |p| &p.hours)
    }

    /// When clock `i` reaches `ms` open milliseconds (`i64::MAX`: never, or paused first).
    pub(super) fn reach<E: Clocked>(&self, e: &E, i: usize, ms: i64) -> i64 {
        let (pauses, since) = e.pauses(i);
        sla::deadline(self.hours(e.policy()), e.start(i), pauses, since, ms)
    }

    /// Clock `i`'s deadline (`i64::MAX` without a target).
    pub(super) fn deadline<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        match self.target(e.policy(), E::KINDS[i]) {
            Some(t) => self.reach(e, i, t),
            None => i64::MAX,
        }
    }

    /// Clock `i`'s at-risk instant (`i64::MAX` without a target).
    pub(super) fn warn_at<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        match self.target(e.policy(), E::KINDS[i]) {
            Some(t) => self.reach(e, i, self.warn_ms(t)),
            None => i64::MAX,
        }
    }

    pub(super) fn warn_ms(&self, target: i64) -> i64 {
        ((target as f64) * self.policies.warn_fraction).round() as i64
    }

    /// Records a state change of clock `i` at `at`, when the driver asked
    /// for them and the clock is reported: it has a target under the policy
    /// in force, or has breached (docs/sla.md, "The SLA event stream").
    #[inline]
    pub(super) fn note<E: Clocked>(
        &mut self,
        e: &E,
        id: &str,
        i: usize,
        kind: SlaEventKind,
        at: i64,
        timer: bool,
    ) {
        if self.events.is_some() {
            self.record(e, id, i, kind, at, timer, None);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record<E: Clocked>(
        &mut self,
        e: &E,
        id: &str,
        i: usize,
        kind: SlaEventKind,
        at: i64,
        timer: bool,
        previous: Option<u8>,
    ) {
        let clock = E::KINDS[i];
        let policy = e.policy();
        let target = self.target(policy, clock);
        let breached = e.clocks().verdict(i) == Verdict::Breached;
        // A stop is recorded before the clock stops; an at-risk change
        // also when the clock went past its deadline in the same step.
        let at_risk = match kind {
            SlaEventKind::AtRisk => true,
            SlaEventKind::Stopped => false,
            _ => e.clocks().at_risk(i),
        };
        let previous_target = previous.and_then(|p| self.target(p, clock));
        if target.is_none() && previous_target.is_none() && !breached {
            return;
        }
        let due = target
            .map(|_| self.deadline(e, i))
            .filter(|&d| d != i64::MAX);
        let (pauses, since) = e.pauses(i);
        let elapsed = sla::elapsed(self.hours(policy), e.start(i), pauses, since, at);
        let name = |p: u8| self.policies.get(p).map(|p| p.name.clone());
        let ev = SlaEvent {
            kind,
            entity: E::ENTITY,
            id: id.to_string(),
            clock,
            policy: name(policy),
            previous_policy: previous.and_then(name),
            target_ms: target,
            due_ms: due,
            elapsed_ms: elapsed,
            at,
            timer,
            breached,
            at_risk,
        };
        let buf = self.events.as_mut().expect("guarded");
        if buf.len() < MAX_SLA_EVENTS {
            buf.push(ev);
        } else {
            *self.events_dropped += 1;
        }
    }

    /// The next instant clock `i` needs attention: a millisecond before its
    /// at-risk instant (at risk on reaching it, docs/sla.md), or its deadline
    /// once at risk. The at-risk instant is never after the
    /// deadline (`warn_fraction` ≤ 1), so one calendar walk suffices.
    pub(super) fn next_instant<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        let c = e.clocks();
        if !c.open(i) {
            return i64::MAX;
        }
        if c.at_risk(i) {
            self.deadline(e, i)
        } else {
            just_before(self.warn_at(e, i))
        }
    }

    /// The policy the list chooses for these labels.
    pub(super) fn choose(&self, ch: Channel, pr: Priority, q: LabelId) -> u8 {
        self.policies.choose(ch, pr, q)
    }

    /// The at-risk gauge of `key`.
    pub(super) fn gauge_at_risk(&mut self, key: u64) -> &mut i64 {
        self.metrics.sla_at_risk.entry(key).or_default()
    }

    /// The active-breach gauge of `key`.
    pub(super) fn gauge_active(&mut self, key: u64) -> &mut i64 {
        self.metrics.sla_active.entry(key).or_default()
    }

    pub(super) fn key<E: Clocked>(e: &E, i: usize) -> u64 {
        let (pr, q) = e.labels();
        sla_key(E::KINDS[i], e.policy(), pr, q)
    }

    /// Adds (`sign` 1) or removes (−1) clock `i`'s share of the gauges under `key`.
    pub(super) fn gauges(&mut self, c: Clocks, i: usize, key: u64, sign: i64) {
        if c.at_risk(i) {
            bump!(*self.metrics, sla_at_risk, key, sign);
        }
        if c.active_breach(i) {
            bump!(*self.metrics, sla_active, key, sign);
        }
    }

    /// Clock `i` is marked at risk, but its at-risk instant, under its
    /// policy and pauses now, is beyond the event clock.
    fn short_of_risk<E: Clocked>(&self, e: &E, i: usize) -> bool {
        e.clocks().at_risk(i) && self.warn_at(e, i) > self.clock
    }

    /// Clock `i` is no longer at risk if it is short of its at-risk instant.
    pub(super) fn recheck_risk<E: Clocked>(&mut self, e: &mut E, i: usize) {
        if self.short_of_risk(e, i) {
            bump!(*self.metrics, sla_at_risk, Self::key(e, i), -1);
            e.clocks_mut().set_at_risk(i, false);
        }
    }

    pub(super) fn window_verdict(&mut self, kind: ClockKind, ts: i64, met: bool) {
        let c = match (kind, met) {
            (ClockKind::FirstResponse, true) => WindowCount::SlaFirstResponseMet,
            (ClockKind::FirstResponse, false) => WindowCount::SlaFirstResponseBreached,
            (ClockKind::Resolution, true) => WindowCount::SlaResolutionMet,
            (ClockKind::Resolution, false) => WindowCount::SlaResolutionBreached,
            _ => return,
        };
        if ts >= self.watermark {
            self.windows.count(ts, c, 1);
        }
    }

    /// Clock `i` breached at its deadline `at` (found by a timer, or by
    /// its late target event).
    pub(super) fn breach<E: Clocked>(
        &mut self,
        e: &mut E,
        id: &str,
        i: usize,
        at: i64,
        timer: bool,
    ) {
        let key = Self::key(e, i);
        let kind = E::KINDS[i];
        self.gauges(e.clocks(), i, key, -1);
        e.clocks_mut().judge(i, Verdict::Breached);
        self.gauges(e.clocks(), i, key, 1);
        bump!(*self.metrics, sla_breaches, key, 1);
        self.window_verdict(kind, at, false);
        self.note(e, id, i, SlaEventKind::Breached, at, timer);
        if self.breaches.len() < MAX_BREACH_RECORDS {
            let target = self.target(e.policy(), kind).unwrap_or(0);
            let name = self
                .policies
                .get(e.policy())
                .map_or("", |p| p.name.as_str());
            self.breaches.push(Breach {
                entity: E::ENTITY,
                id: id.to_string(),
                policy: name.to_string(),
                sla: kind.as_str(),
                target_ms: target,
                elapsed_ms: target,
                at,
            });
        } else {
            *self.breaches_dropped += 1;
        }
    }

    /// Clock `i`'s target event happened at `ts`: met if in time, else
    /// breached (a held early arrival is judged by its own time); then it stops.
    pub(super) fn complete<E: Clocked>(&mut self, e: &mut E, id: &str, i: usize, ts: i64) {
        let c = e.clocks();
        if !c.running(i) {
            return;
        }
        if c.verdict(i) == Verdict::None && self.target(e.policy(), E::KINDS[i]).is_some() {
            let deadline = self.deadline(e, i);
            if ts <= deadline {
                let key = Self::key(e, i);
                self.gauges(c, i, key, -1);
                e.clocks_mut().judge(i, Verdict::Met);
                bump!(*self.metrics, sla_achieved, key, 1);
                self.window_verdict(E::KINDS[i], ts, true);
                self.note(e, id, i, SlaEventKind::Achieved, ts, false);
            } else {
                self.breach(e, id, i, deadline, false);
            }
        }
        self.stop(e, id, i, ts);
    }

    /// Stops clock `i` at `at` without a verdict (a breach stands).
    pub(super) fn stop<E: Clocked>(&mut self, e: &mut E, id: &str, i: usize, at: i64) {
        let c = e.clocks();
        if !c.running(i) {
            return;
        }
        if c.verdict(i) != Verdict::Met {
            self.note(e, id, i, SlaEventKind::Stopped, at, false);
        }
        self.gauges(c, i, Self::key(e, i), -1);
        e.clocks_mut().stop(i);
    }

    /// Stops every clock at `at` (the entity leaves state).
    pub(super) fn stop_all<E: Clocked>(&mut self, e: &mut E, id: &str, at: i64) {
        for i in 0..E::KINDS.len() {
            self.stop(e, id, i, at);
        }
    }

    /// Marks clocks at risk and breached up to `at` (the event clock is
    /// passing it); returns the earliest instant after `at` that needs
    /// attention. With `at` = `i64::MIN` it only finds that instant.
    ///
    /// Clocks go in order of the open time they wait for (the at-risk
    /// share of the target, or the target once at risk). A clock whose
    /// instant is known, without pauses, and that started no later and
    /// waits no longer than another, bounds that other from below: if its
    /// instant is after `at`, the other's is too and cannot be the earliest,
    /// so its calendar walk is skipped (a new ticket's resolution clock,
    /// behind its first-response clock, costs nothing).
    pub(super) fn due<E: Clocked>(&mut self, e: &mut E, id: &str, at: i64) -> i64 {
        let mut order: smallvec::SmallVec<[(i64, usize); 3]> = smallvec::SmallVec::new();
        for i in 0..E::KINDS.len() {
            let c = e.clocks();
            if !c.open(i) {
                continue;
            }
            if let Some(t) = self.target(e.policy(), E::KINDS[i]) {
                order.push((if c.at_risk(i) { t } else { self.warn_ms(t) }, i));
            }
        }
        order.sort_unstable();
        // (start, open ms, instant) of pause-free clocks computed so far.
        let mut bounds: smallvec::SmallVec<[(i64, i64, i64); 3]> = smallvec::SmallVec::new();
        let mut next = i64::MAX;
        for (ms, i) in order {
            let start = e.start(i);
            if bounds
                .iter()
                .any(|&(s, m, t)| s <= start && m <= ms && t > at)
            {
                continue;
            }
            let pause_free = matches!(e.pauses(i), ([], None));
            let mut bound = |ms: i64, t: i64| {
                if pause_free {
                    bounds.push((start, ms, t));
                }
            };
            let c = e.clocks();
            if !c.at_risk(i) {
                // At risk once elapsed ≥ the share (SPEC §4): at the instant
                // itself, so its timer is due a millisecond before, which
                // the clock passes on reaching the instant.
                let due = just_before(self.reach(e, i, ms));
                bound(ms, due);
                if due > at {
                    next = next.min(due);
                    continue;
                }
            }
            let target = self.target(e.policy(), E::KINDS[i]).unwrap_or(ms);
            let deadline = self.reach(e, i, target);
            // (Bounds are kept a millisecond early for both kinds, so that
            // one of either kind bounds the other.)
            bound(target, just_before(deadline));
            if deadline > at {
                if !c.at_risk(i) {
                    e.clocks_mut().set_at_risk(i, true);
                    bump!(*self.metrics, sla_at_risk, Self::key(e, i), 1);
                    if self.events.is_some() {
                        let warn_at = self.reach(e, i, ms);
                        self.note(e, id, i, SlaEventKind::AtRisk, warn_at, true);
                    }
                }
                next = next.min(deadline);
            } else {
                // Past its warn share and its deadline at once (a held
                // early arrival judged by its own ts): it was at risk in
                // between, which the event stream says too, and its gauge
                // series is kept (at 0) as for any state that lasted
                // within one step (docs/sla.md, "Gauges keep their series").
                if !c.at_risk(i) {
                    self.gauge_at_risk(Self::key(e, i));
                    if self.events.is_some() {
                        let warn_at = self.reach(e, i, ms);
                        self.note(e, id, i, SlaEventKind::AtRisk, warn_at, true);
                    }
                }
                self.breach(e, id, i, deadline, true);
            }
        }
        next
    }

    /// Pushes a timer at `next` when that is before the entity's live one.
    pub(super) fn schedule_at<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        hash: u64,
        next: i64,
    ) {
        let due = e.sla_due_mut();
        if next < *due {
            if *due == i64::MAX {
                *self.live += 1;
            }
            *due = next;
            timers.push((next, hash));
        }
    }

    /// After instants may have moved earlier: schedules the earliest.
    pub(super) fn schedule<E: Clocked>(&mut self, timers: &mut SlaTimers, e: &mut E, hash: u64) {
        let next = self.due(e, "", i64::MIN);
        self.schedule_at(timers, e, hash, next);
    }

    /// The entity's live timer (or a catch-up to `at`): judge everything
    /// due by `at`, then schedule the next instant.
    pub(super) fn fire<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        id: &str,
        hash: u64,
        at: i64,
    ) {
        let due = e.sla_due_mut();
        if *due != i64::MAX {
            *due = i64::MAX;
            *self.live -= 1;
        }
        let next = self.due(e, id, at);
        self.schedule_at(timers, e, hash, next);
    }

    /// A new ticket or call `id`: chooses its policy, starts clocks
    /// `start`, and schedules the first instant.
    pub(super) fn open<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        id: &str,
        hash: u64,
        start: &[usize],
    ) {
        let (pr, q) = e.labels();
        e.set_policy(self.policies.choose(e.channel(), pr, q));
        for &i in start {
            e.clocks_mut().start(i);
            self.note(e, id, i, SlaEventKind::Applied, e.start(i), false);
        }
        self.schedule(timers, e, hash);
    }

    /// Judges the clocks up to (not including) `ts`, before an event at `ts`
    /// changes them. In arrival order the timers did this already; a held
    /// early arrival is judged by its own time this way.
    pub(super) fn catch_up<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        id: &str,
        ts: i64,
    ) {
        if e.sla_due() < ts {
            self.fire(timers, e, id, hash_id(id), ts - 1);
        }
    }

    /// A timer at `due` for the id hash `hash`: fires the entities of
    /// `table` whose live timer it is.
    pub(super) fn timer<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        table: &mut Table<E>,
        due: i64,
        hash: u64,
    ) {
        for slot in table.slots_with_hash(hash, |e| e.sla_due() == due) {
            let (id, e) = table.entry_at_mut(slot);
            self.fire(timers, e, &id, hash, due);
        }
    }

    /// Re-chooses the policy after a label change from `(old_pr, old_q)` at
    /// `ts` and moves the gauges to the new labels.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn relabel<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        id: &str,
        hash: u64,
        old_pr: Priority,
        old_q: LabelId,
        ts: i64,
    ) {
        let old_policy = e.policy();
        for i in 0..E::KINDS.len() {
            let key = sla_key(E::KINDS[i], e.policy(), old_pr, old_q);
            self.gauges(e.clocks(), i, key, -1);
        }
        let (pr, q) = e.labels();
        e.set_policy(self.policies.choose(e.channel(), pr, q));
        for i in 0..E::KINDS.len() {
            // A clock no longer close to its (new) deadline is no longer at
            // risk (its gauges are off while the labels change: no bump).
            if self.short_of_risk(e, i) {
                e.clocks_mut().set_at_risk(i, false);
            }
            self.gauges(e.clocks(), i, Self::key(e, i), 1);
            if self.events.is_some() && e.policy() != old_policy && e.clocks().running(i) {
                self.record(
                    e,
                    id,
                    i,
                    SlaEventKind::PolicyChanged,
                    ts,
                    false,
                    Some(old_policy),
                );
            }
        }
        self.schedule(timers, e, hash);
    }
}

/// The instant a millisecond before `t`, which the event clock passes on
/// reaching `t` (`i64::MAX`, never, stays never).
fn just_before(t: i64) -> i64 {
    if t == i64::MAX {
        t
    } else {
        t - 1
    }
}
