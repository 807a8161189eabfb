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

use super::quad_heap::QuadHeap;
use super::sla::{
    self, sla_key, Breach, ClockKind, Clocks, Policies, SlaEvent, SlaEventKind, Verdict,
};
use super::state::{Call, Metrics, Ticket};
use super::table::{hash_id, Slot, Table};
use super::window::{WindowCount, Windows};
use super::{Engine, LabelId, Settings, State, MAX_BREACH_RECORDS, MAX_SLA_EVENTS};
use crate::calendar::Hours;
use crate::event::{Channel, Priority};

/// SLA timers: (due, hash of the ticket's or call's id), earliest first.
pub(super) type SlaTimers = QuadHeap<(i64, u64)>;

/// One timer per entity with a live one, at its `sla_due`.
pub(super) fn live_timers<E: Clocked>(table: &Table<E>) -> SlaTimers {
    let mut h = SlaTimers::new();
    for (id, e) in table.iter() {
        if e.sla_due() != i64::MAX {
            h.push((e.sla_due(), hash_id(id)));
        }
    }
    h
}

/// Heap entries [`closest_due`] looks at, at most: it stays cheap however
/// many timers wait far ahead of their deadlines.
const DUE_VISITS: usize = 512;

/// An open clock near its deadline: (deadline, id, clock index, at risk).
pub(super) type Due<'a, E> = (i64, &'a str, usize, bool, &'a E);

/// The (at most) `k` open clocks of `table` with a target whose deadlines
/// come first, earliest first, found from the timer heap without a scan.
///
/// Every entity's live timer is at or before each of its open clocks'
/// deadlines, so heap entries are visited in due order (a best-first walk
/// of the heap's tree) until the next one is later than the `k`-th
/// deadline found, or [`DUE_VISITS`] entries were visited. Stale entries
/// (not the entity's live timer) are skipped.
pub(super) fn closest_due<'a, E: Clocked>(
    pol: &Policies,
    table: &'a Table<E>,
    heap: &SlaTimers,
    k: usize,
) -> Vec<Due<'a, E>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let items = heap.as_slice();
    let mut found: Vec<Due<'a, E>> = Vec::new();
    if k == 0 || items.is_empty() {
        return found;
    }
    let mut frontier = BinaryHeap::new();
    frontier.push(Reverse((items[0], 0usize)));
    let mut visits = 0;
    while let Some(Reverse(((due, hash), at))) = frontier.pop() {
        if found.len() >= k && found[k - 1].0 < due {
            break;
        }
        visits += 1;
        if visits > DUE_VISITS {
            break;
        }
        for (c, item) in items.iter().enumerate().skip(4 * at + 1).take(4) {
            frontier.push(Reverse((*item, c)));
        }
        for slot in table.slots_with_hash(hash, |e| e.sla_due() == due) {
            let (id, e) = table.entry_at(slot);
            let clocks = e.clocks();
            let Some(p) = pol.get(e.policy()) else {
                continue;
            };
            for (i, kind) in E::KINDS.iter().enumerate() {
                let Some(target) = p.targets[*kind as usize] else {
                    continue;
                };
                if !clocks.open(i) {
                    continue;
                }
                let (pauses, since) = e.pauses(i);
                let deadline = sla::deadline(&p.hours, e.start(i), pauses, since, target);
                if deadline == i64::MAX {
                    continue;
                }
                if found.iter().any(|f| f.1 == id && f.2 == i) {
                    continue;
                }
                found.push((deadline, id, i, clocks.at_risk(i), e));
            }
        }
        found.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        found.truncate(k);
    }
    found
}

/// A ticket or call, as its clocks see it.
pub(super) trait Clocked {
    /// `ticket` or `call`, for breach records.
    const ENTITY: &'static str;
    /// Clock `i` is `KINDS[i]`.
    const KINDS: &'static [ClockKind];
    fn policy(&self) -> u8;
    fn set_policy(&mut self, p: u8);
    fn clocks(&self) -> Clocks;
    fn clocks_mut(&mut self) -> &mut Clocks;
    /// Due time of its live timer (`i64::MAX`: none).
    fn sla_due(&self) -> i64;
    fn sla_due_mut(&mut self) -> &mut i64;
    /// Priority and queue labels.
    fn labels(&self) -> (Priority, LabelId);
    fn channel(&self) -> Channel;
    /// When clock `i` started (meaningful while it runs).
    fn start(&self, i: usize) -> i64;
    /// Clock `i`'s closed pauses and the start of the current one.
    fn pauses(&self, i: usize) -> (&[(i64, i64)], Option<i64>);
}

impl Clocked for Ticket {
    const ENTITY: &'static str = "ticket";
    const KINDS: &'static [ClockKind] = &[
        ClockKind::FirstResponse,
        ClockKind::NextResponse,
        ClockKind::Resolution,
    ];
    fn policy(&self) -> u8 {
        self.policy
    }
    fn set_policy(&mut self, p: u8) {
        self.policy = p;
    }
    fn clocks(&self) -> Clocks {
        self.clocks
    }
    fn clocks_mut(&mut self) -> &mut Clocks {
        &mut self.clocks
    }
    fn sla_due(&self) -> i64 {
        self.sla_due
    }
    fn sla_due_mut(&mut self) -> &mut i64 {
        &mut self.sla_due
    }
    fn labels(&self) -> (Priority, LabelId) {
        (self.priority, self.queue)
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn start(&self, i: usize) -> i64 {
        // The next-response clock starts with the customer message that
        // found no unanswered one: exactly when `unanswered_since` is set.
        if i == 1 {
            self.unanswered_since
        } else {
            self.created
        }
    }
    fn pauses(&self, i: usize) -> (&[(i64, i64)], Option<i64>) {
        match (&self.ext, i) {
            (Some(e), 2) => (&e.pauses.closed, e.pauses.since),
            _ => (&[], None),
        }
    }
}

impl Clocked for Call {
    const ENTITY: &'static str = "call";
    const KINDS: &'static [ClockKind] = &[ClockKind::Answer];
    fn policy(&self) -> u8 {
        self.policy
    }
    fn set_policy(&mut self, p: u8) {
        self.policy = p;
    }
    fn clocks(&self) -> Clocks {
        self.clocks
    }
    fn clocks_mut(&mut self) -> &mut Clocks {
        &mut self.clocks
    }
    fn sla_due(&self) -> i64 {
        self.sla_due
    }
    fn sla_due_mut(&mut self) -> &mut i64 {
        &mut self.sla_due
    }
    fn labels(&self) -> (Priority, LabelId) {
        (Priority::Normal, self.queue)
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn start(&self, _: usize) -> i64 {
        self.queued
    }
    fn pauses(&self, _: usize) -> (&[(i64, i64)], Option<i64>) {
        (&[], None)
    }
}

static ALWAYS: Hours = Hours::Always;

/// Everything SLA bookkeeping touches besides the ticket or call itself.
pub(super) struct Cx<'a> {
    pol: &'a Policies,
    m: &'a mut Metrics,
    windows: &'a mut Windows,
    breaches: &'a mut Vec<Breach>,
    dropped: &'a mut u64,
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
    s: &'a Settings,
    st: &'a mut State,
) -> (
    &'a mut Table<Ticket>,
    &'a mut Table<Call>,
    &'a mut SlaTimers,
    &'a mut SlaTimers,
    Cx<'a>,
) {
    let watermark = st.clock.map_or(i64::MIN, |c| c - s.lateness);
    (
        &mut st.tickets,
        &mut st.calls,
        &mut st.sla_tickets,
        &mut st.sla_calls,
        Cx {
            pol: &s.policies,
            m: &mut st.metrics,
            windows: &mut st.windows,
            breaches: &mut st.breaches,
            dropped: &mut st.breaches_dropped,
            live: &mut st.sla_live,
            events: if s.record_sla_events {
                Some(&mut st.sla_events)
            } else {
                None
            },
            events_dropped: &mut st.sla_events_dropped,
            watermark,
            clock: st.clock.unwrap_or(i64::MIN),
        },
    )
}

impl Cx<'_> {
    fn target(&self, policy: u8, kind: ClockKind) -> Option<i64> {
        self.pol.get(policy).and_then(|p| p.targets[kind as usize])
    }

    fn hours(&self, policy: u8) -> &Hours {
        self.pol.get(policy).map_or(&ALWAYS, |p| &p.hours)
    }

    /// When clock `i` reaches `ms` open milliseconds (`i64::MAX`: never, or paused first).
    fn reach<E: Clocked>(&self, e: &E, i: usize, ms: i64) -> i64 {
        let (pauses, since) = e.pauses(i);
        sla::deadline(self.hours(e.policy()), e.start(i), pauses, since, ms)
    }

    /// Clock `i`'s deadline (`i64::MAX` without a target).
    fn deadline<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        match self.target(e.policy(), E::KINDS[i]) {
            Some(t) => self.reach(e, i, t),
            None => i64::MAX,
        }
    }

    /// Clock `i`'s at-risk instant (`i64::MAX` without a target).
    fn warn_at<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        match self.target(e.policy(), E::KINDS[i]) {
            Some(t) => self.reach(e, i, self.warn_ms(t)),
            None => i64::MAX,
        }
    }

    fn warn_ms(&self, target: i64) -> i64 {
        ((target as f64) * self.pol.warn_fraction).round() as i64
    }

    /// Records a state change of clock `i` at `at`, when the driver asked
    /// for them and the clock is reported: it has a target under the policy
    /// in force, or has breached (docs/sla.md, "The SLA event stream").
    #[inline]
    fn note<E: Clocked>(
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
    fn record<E: Clocked>(
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
        let previous_target = previous.and_then(|p| self.target(p, clock));
        if target.is_none() && previous_target.is_none() && !breached {
            return;
        }
        let due = target
            .map(|_| self.deadline(e, i))
            .filter(|&d| d != i64::MAX);
        let (pauses, since) = e.pauses(i);
        let elapsed = sla::elapsed(self.hours(policy), e.start(i), pauses, since, at);
        let name = |p: u8| self.pol.get(p).map(|p| p.name.clone());
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
        };
        let buf = self.events.as_mut().expect("guarded");
        if buf.len() < MAX_SLA_EVENTS {
            buf.push(ev);
        } else {
            *self.events_dropped += 1;
        }
    }

    /// The next instant clock `i` needs attention: its at-risk instant, or
    /// its deadline once at risk. The at-risk instant is never after the
    /// deadline (`warn_fraction` ≤ 1), so one calendar walk suffices.
    fn next_instant<E: Clocked>(&self, e: &E, i: usize) -> i64 {
        let c = e.clocks();
        if !c.open(i) {
            return i64::MAX;
        }
        if c.at_risk(i) {
            self.deadline(e, i)
        } else {
            self.warn_at(e, i)
        }
    }

    fn key<E: Clocked>(e: &E, i: usize) -> u64 {
        let (pr, q) = e.labels();
        sla_key(E::KINDS[i], e.policy(), pr, q)
    }

    /// Adds (`sign` 1) or removes (−1) clock `i`'s share of the gauges under `key`.
    fn gauges(&mut self, c: Clocks, i: usize, key: u64, sign: i64) {
        if c.at_risk(i) {
            *{
                let k = self.m.budget.admit(&self.m.sla_at_risk, key, 1);
                self.m.sla_at_risk.entry(k).or_default()
            } += sign;
        }
        if c.active_breach(i) {
            *{
                let k = self.m.budget.admit(&self.m.sla_active, key, 1);
                self.m.sla_active.entry(k).or_default()
            } += sign;
        }
    }

    fn window_verdict(&mut self, kind: ClockKind, ts: i64, met: bool) {
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
    fn breach<E: Clocked>(&mut self, e: &mut E, id: &str, i: usize, at: i64, timer: bool) {
        let key = Self::key(e, i);
        let kind = E::KINDS[i];
        self.gauges(e.clocks(), i, key, -1);
        e.clocks_mut().judge(i, Verdict::Breached);
        self.gauges(e.clocks(), i, key, 1);
        *{
            let k = self.m.budget.admit(&self.m.sla_breaches, key, 1);
            self.m.sla_breaches.entry(k).or_default()
        } += 1;
        self.window_verdict(kind, at, false);
        self.note(e, id, i, SlaEventKind::Breached, at, timer);
        if self.breaches.len() < MAX_BREACH_RECORDS {
            let target = self.target(e.policy(), kind).unwrap_or(0);
            let name = self.pol.get(e.policy()).map_or("", |p| p.name.as_str());
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
            *self.dropped += 1;
        }
    }

    /// Clock `i`'s target event happened at `ts`: met if in time, else
    /// breached (a held early arrival is judged by its own time); then it stops.
    fn complete<E: Clocked>(&mut self, e: &mut E, id: &str, i: usize, ts: i64) {
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
                *{
                    let k = self.m.budget.admit(&self.m.sla_achieved, key, 1);
                    self.m.sla_achieved.entry(k).or_default()
                } += 1;
                self.window_verdict(E::KINDS[i], ts, true);
                self.note(e, id, i, SlaEventKind::Achieved, ts, false);
            } else {
                self.breach(e, id, i, deadline, false);
            }
        }
        self.stop(e, id, i, ts);
    }

    /// Stops clock `i` at `at` without a verdict (a breach stands).
    fn stop<E: Clocked>(&mut self, e: &mut E, id: &str, i: usize, at: i64) {
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
    fn stop_all<E: Clocked>(&mut self, e: &mut E, id: &str, at: i64) {
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
    fn due<E: Clocked>(&mut self, e: &mut E, id: &str, at: i64) -> i64 {
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
                let warn_at = self.reach(e, i, ms);
                bound(ms, warn_at);
                if warn_at > at {
                    next = next.min(warn_at);
                    continue;
                }
            }
            let target = self.target(e.policy(), E::KINDS[i]).unwrap_or(ms);
            let deadline = self.reach(e, i, target);
            bound(target, deadline);
            if deadline > at {
                if !c.at_risk(i) {
                    e.clocks_mut().set_at_risk(i, true);
                    *{
                        let k = self.m.budget.admit(&self.m.sla_at_risk, Self::key(e, i), 1);
                        self.m.sla_at_risk.entry(k).or_default()
                    } += 1;
                    if self.events.is_some() {
                        let warn_at = self.reach(e, i, ms);
                        self.note(e, id, i, SlaEventKind::AtRisk, warn_at, true);
                    }
                }
                next = next.min(deadline);
            } else {
                self.breach(e, id, i, deadline, true);
            }
        }
        next
    }

    /// Pushes a timer at `next` when that is before the entity's live one.
    fn schedule_at<E: Clocked>(&mut self, timers: &mut SlaTimers, e: &mut E, hash: u64, next: i64) {
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
    fn schedule<E: Clocked>(&mut self, timers: &mut SlaTimers, e: &mut E, hash: u64) {
        let next = self.due(e, "", i64::MIN);
        self.schedule_at(timers, e, hash, next);
    }

    /// The entity's live timer (or a catch-up to `at`): judge everything
    /// due by `at`, then schedule the next instant.
    fn fire<E: Clocked>(
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
    fn open<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        e: &mut E,
        id: &str,
        hash: u64,
        start: &[usize],
    ) {
        let (pr, q) = e.labels();
        e.set_policy(self.pol.choose(e.channel(), pr, q));
        for &i in start {
            e.clocks_mut().start(i);
            self.note(e, id, i, SlaEventKind::Applied, e.start(i), false);
        }
        self.schedule(timers, e, hash);
    }

    /// Judges the clocks up to (not including) `ts`, before an event at `ts`
    /// changes them. In arrival order the timers did this already; a held
    /// early arrival is judged by its own time this way.
    fn catch_up<E: Clocked>(&mut self, timers: &mut SlaTimers, e: &mut E, id: &str, ts: i64) {
        if e.sla_due() < ts {
            self.fire(timers, e, id, hash_id(id), ts - 1);
        }
    }

    /// A timer at `due` for the id hash `hash`: fires the entities of
    /// `table` whose live timer it is.
    fn timer<E: Clocked>(
        &mut self,
        timers: &mut SlaTimers,
        table: &mut Table<E>,
        due: i64,
        hash: u64,
    ) {
        for slot in table.slots_with_hash(hash, |e| e.sla_due() == due) {
            let (id, e) = table.entry_at_mut(slot);
            self.fire(timers, e, id, hash, due);
        }
    }

    /// Re-chooses the policy after a label change from `(old_pr, old_q)` at
    /// `ts` and moves the gauges to the new labels.
    #[allow(clippy::too_many_arguments)]
    fn relabel<E: Clocked>(
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
        e.set_policy(self.pol.choose(e.channel(), pr, q));
        for i in 0..E::KINDS.len() {
            // A clock no longer close to its (new) deadline is no longer at risk.
            if e.clocks().at_risk(i) && self.warn_at(e, i) > self.clock {
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

impl Engine {
    #[inline]
    pub(super) fn sla_on(&self) -> bool {
        !self.s.policies.list.is_empty()
    }

    /// The policy's calendar when it is a business one (for `*_business_seconds`).
    pub(super) fn business_hours(&self, policy: u8) -> Option<&Hours> {
        match self.s.policies.get(policy).map(|p| &p.hours) {
            Some(h @ Hours::Business(_)) => Some(h),
            _ => None,
        }
    }

    // ---- tickets -------------------------------------------------------

    /// Runs `f` on the ticket at `slot` with the SLA context and its timers.
    fn on_ticket(
        &mut self,
        slot: Slot,
        f: impl FnOnce(&mut Cx<'_>, &mut SlaTimers, &mut Ticket, &str),
    ) {
        if !self.sla_on() {
            return;
        }
        let (tickets, _, timers, _, mut cx) = split(&self.s, &mut self.st);
        let (id, t) = tickets.entry_at_mut(slot);
        f(&mut cx, timers, t, id);
    }

    /// Judges a ticket's clocks up to (not including) `ts` (see [`Cx::catch_up`]).
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
        let (_, _, timers, _, mut cx) = split(&self.s, &mut self.st);
        cx.open(timers, t, id, hash, &[0, 2]);
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
            cx.complete(t, id, 0, ts);
            cx.complete(t, id, 1, ts);
        });
    }

    /// A customer message that found no unanswered one (the ticket's
    /// `unanswered_since` is its time): a next-response clock starts.
    pub(super) fn sla_ticket_awaits_reply(&mut self, slot: Slot) {
        self.on_ticket(slot, |cx, timers, t, id| {
            let at = t.unanswered_since;
            cx.stop(t, id, 1, at);
            t.clocks.start(1);
            cx.note(t, id, 1, SlaEventKind::Applied, at, false);
            let next = cx.next_instant(t, 1);
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
                    if t.clocks.running(2) {
                        cx.note(t, id, 2, SlaEventKind::Paused, ts, false);
                    }
                }
            } else if let Some(e) = &mut t.ext {
                if let Some(since) = e.pauses.since.take() {
                    e.pauses.closed.push((since, ts.max(since)));
                    if t.clocks.running(2) {
                        cx.note(t, id, 2, SlaEventKind::Resumed, ts, false);
                    }
                    let next = cx.next_instant(t, 2);
                    cx.schedule_at(timers, t, hash_id(id), next);
                }
            }
        });
    }

    /// First resolution at `ts`: the resolution clock completes, reply clocks stop.
    pub(super) fn sla_ticket_resolved(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, _, t, id| {
            cx.complete(t, id, 2, ts);
            cx.stop(t, id, 0, ts);
            cx.stop(t, id, 1, ts);
        });
    }

    /// The ticket leaves state (closed at `ts`): every clock stops.
    pub(super) fn sla_ticket_gone(&mut self, slot: Slot, ts: i64) {
        self.on_ticket(slot, |cx, _, t, id| cx.stop_all(t, id, ts));
    }

    /// A ticket timer at `due` for the id hash `hash`.
    pub(super) fn sla_ticket_timer(&mut self, due: i64, hash: u64) {
        let (tickets, _, timers, _, mut cx) = split(&self.s, &mut self.st);
        cx.timer(timers, tickets, due, hash);
    }

    // ---- calls ---------------------------------------------------------

    fn on_call(
        &mut self,
        slot: Slot,
        f: impl FnOnce(&mut Cx<'_>, &mut SlaTimers, &mut Call, &str),
    ) {
        if !self.sla_on() {
            return;
        }
        let (_, calls, _, timers, mut cx) = split(&self.s, &mut self.st);
        let (id, c) = calls.entry_at_mut(slot);
        f(&mut cx, timers, c, id);
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
        let (_, _, _, timers, mut cx) = split(&self.s, &mut self.st);
        cx.open(timers, c, id, hash, &[0]);
    }

    /// Answered (`true`) or abandoned at `ts`.
    pub(super) fn sla_call_left_queue(&mut self, slot: Slot, ts: i64, answered: bool) {
        self.on_call(slot, |cx, _, c, id| {
            if answered {
                cx.complete(c, id, 0, ts)
            } else {
                cx.stop(c, id, 0, ts)
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
        let (_, calls, _, timers, mut cx) = split(&self.s, &mut self.st);
        cx.timer(timers, calls, due, hash);
    }

    /// Stops the clocks of tickets (when `slow`) and calls about to expire
    /// at `now`, leaving the gauges.
    pub(super) fn sla_expire(&mut self, now: i64, slow: bool) {
        let s = &self.s;
        let (tickets, calls, _, _, mut cx) = split(s, &mut self.st);
        if slow {
            for (id, t) in tickets.iter_mut() {
                if super::ticket_expired(s, t, now) {
                    cx.stop_all(t, id, now);
                }
            }
        }
        for (id, c) in calls.iter_mut() {
            if super::call_expired(s, c, now) {
                cx.stop_all(c, id, now);
            }
        }
    }
}
