//! Tickets and calls as their SLA clocks see them ([`Clocked`]), the
//! timer heap of SLA instants, and finding the open clocks closest to
//! their deadlines from that heap.

use super::quad_heap::QuadHeap;
use super::sla::{self, ClockKind, Clocks, Policies};
use super::state::{Call, Ticket};
use super::table::{hash_id, IdStr, Table};
use super::LabelId;
use crate::event::{Channel, Priority};

/// SLA timers: (due, hash of the ticket's or call's id), earliest first.
pub(super) type SlaTimers = QuadHeap<(i64, u64)>;

/// One timer per entity with a live one, at its `sla_due`.
pub(super) fn live_timers<E: Clocked>(table: &Table<E>) -> SlaTimers {
    let mut h = SlaTimers::new();
    for (id, e) in table.iter() {
        if e.sla_due() != i64::MAX {
            h.push((e.sla_due(), hash_id(&id)));
        }
    }
    h
}

/// Heap entries [`closest_due`] looks at, at most: it stays cheap however
/// many timers wait far ahead of their deadlines.
const DUE_VISITS: usize = 512;

/// An open clock near its deadline: (deadline, id, clock index, at risk).
pub(super) type Due<'a, E> = (i64, IdStr<'a>, usize, bool, &'a E);

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

/// A ticket's SLA clocks by name: indices into its [`Clocks`], clock `i`
/// being `Ticket::KINDS[i]`.
pub(super) mod ticket_clock {
    pub const FIRST_RESPONSE: usize = 0;
    pub const NEXT_RESPONSE: usize = 1;
    pub const RESOLUTION: usize = 2;
}

/// A call's SLA clock by name (`Call::KINDS[ANSWER]`).
pub(super) mod call_clock {
    pub const ANSWER: usize = 0;
}

// The names above and the `KINDS` tables below agree.
const _: () = {
    use ticket_clock::*;
    assert!(matches!(
        <Ticket as Clocked>::KINDS[FIRST_RESPONSE],
        ClockKind::FirstResponse
    ));
    assert!(matches!(
        <Ticket as Clocked>::KINDS[NEXT_RESPONSE],
        ClockKind::NextResponse
    ));
    assert!(matches!(
        <Ticket as Clocked>::KINDS[RESOLUTION],
        ClockKind::Resolution
    ));
    assert!(<Ticket as Clocked>::KINDS.len() == 3);
    assert!(matches!(
        <Call as Clocked>::KINDS[call_clock::ANSWER],
        ClockKind::Answer
    ));
    assert!(<Call as Clocked>::KINDS.len() == 1);
};

/// A ticket or call, as its clocks see it.
pub(super) trait Clocked: Send + 'static {
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

/// The accessors of the fields a ticket and a call both have, under the
/// same names.
macro_rules! same_named_fields {
    () => {
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
    };
}

impl Clocked for Ticket {
    const ENTITY: &'static str = "ticket";
    const KINDS: &'static [ClockKind] = &[
        ClockKind::FirstResponse,
        ClockKind::NextResponse,
        ClockKind::Resolution,
    ];
    same_named_fields!();
    fn labels(&self) -> (Priority, LabelId) {
        (self.priority, self.queue)
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn start(&self, i: usize) -> i64 {
        // The next-response clock starts with the customer message that
        // found no unanswered one: exactly when `unanswered_since` is set.
        if i == ticket_clock::NEXT_RESPONSE {
            self.unanswered_since
        } else {
            self.created
        }
    }
    fn pauses(&self, i: usize) -> (&[(i64, i64)], Option<i64>) {
        match (&self.ext, i) {
            (Some(e), ticket_clock::RESOLUTION) => (&e.pauses.closed, e.pauses.since),
            _ => (&[], None),
        }
    }
}

impl Clocked for Call {
    const ENTITY: &'static str = "call";
    const KINDS: &'static [ClockKind] = &[ClockKind::Answer];
    same_named_fields!();
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
