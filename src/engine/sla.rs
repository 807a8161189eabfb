//! SLA policies and clocks (SPEC §4).
//!
//! Every ticket has three clocks (first response, next response,
//! resolution) and every call one (answer). A clock's state is four bits
//! ([`Clocks`]); its start is a time the ticket or call keeps anyway
//! (creation, the unanswered customer message, queueing), and its deadline
//! and at-risk instant follow from the start, the pauses and the policy in
//! force, so they are computed when needed rather than stored. The engine
//! keeps one timer per entity at or before the earliest of those instants,
//! so thousands of open clocks cost O(log n) per change, never a scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use super::keys::{sla_key, sla_unkey};
use super::labels::{LabelCap, LabelId};
use crate::calendar::Hours;
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Priority};

/// The clocks, in label order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockKind {
    /// Creation → first public reply.
    FirstResponse = 0,
    /// Customer message → next public reply.
    NextResponse = 1,
    /// Creation → first resolution, paused while pending.
    Resolution = 2,
    /// Queued → answered.
    Answer = 3,
}

impl ClockKind {
    /// The `sla` label.
    pub fn as_str(self) -> &'static str {
        ["first_response", "next_response", "resolution", "answer"][self as usize]
    }
    /// All kinds.
    pub const ALL: [ClockKind; 4] = [
        ClockKind::FirstResponse,
        ClockKind::NextResponse,
        ClockKind::Resolution,
        ClockKind::Answer,
    ];
}

/// A compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The `policy` label.
    pub name: String,
    channels: u8,
    priorities: u8,
    queues: Option<Vec<LabelId>>,
    /// Its hours.
    pub hours: Hours,
    /// Target per [`ClockKind`], ms.
    pub targets: [Option<i64>; 4],
}

/// No policy applies.
pub const NO_POLICY: u8 = u8::MAX;

/// The configured policies, in match order.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    /// Policies.
    pub list: Vec<Policy>,
    /// At-risk threshold as a fraction of the target.
    pub warn_fraction: f64,
}

impl Policies {
    /// Compiles the policies; queues they name are registered in `queues`
    /// first so that they always keep their own label.
    pub fn compile(cfg: &Config, queues: &mut LabelCap) -> Result<Policies, ConfigError> {
        let calendars = cfg.sla.calendars()?;
        let mut list = Vec::new();
        for p in cfg.sla.policies.iter().take(NO_POLICY as usize) {
            let mask = |vals: Option<Vec<String>>, parse: &dyn Fn(&str) -> Option<usize>| -> u8 {
                vals.map_or(0, |v| {
                    v.iter()
                        .filter_map(|s| parse(s))
                        .fold(0u8, |m, i| m | 1 << i)
                })
            };
            let channels = mask(p.matches.channel.as_ref().map(|c| c.values()), &|s| {
                Channel::parse(s).map(Channel::index)
            });
            let priorities = mask(p.matches.priority.as_ref().map(|c| c.values()), &|s| {
                Priority::parse(s).map(Priority::index)
            });
            let queues = p
                .matches
                .queue
                .as_ref()
                .map(|q| q.values().iter().map(|q| queues.reserve(q)).collect());
            let hours = match calendars.get(&p.calendar) {
                Some(c) => Hours::Business(Arc::clone(c)),
                None => Hours::Always,
            };
            list.push(Policy {
                name: p.name.clone(),
                channels,
                priorities,
                queues,
                hours,
                targets: [p.first_response, p.next_response, p.resolution, p.answer]
                    .map(|t| t.map(|d| d.ms())),
            });
        }
        Ok(Policies {
            list,
            warn_fraction: cfg.sla.warn_fraction,
        })
    }

    /// The first policy matching, or [`NO_POLICY`].
    pub fn choose(&self, ch: Channel, pr: Priority, q: LabelId) -> u8 {
        self.list
            .iter()
            .position(|p| {
                (p.channels == 0 || p.channels & 1 << ch.index() != 0)
                    && (p.priorities == 0 || p.priorities & 1 << pr.index() != 0)
                    && p.queues.as_ref().is_none_or(|qs| qs.contains(&q))
            })
            .map_or(NO_POLICY, |i| i as u8)
    }

    /// The policy at an index.
    pub fn get(&self, i: u8) -> Option<&Policy> {
        self.list.get(i as usize)
    }

    /// The queue label ids the policies' `match` names.
    pub fn queues(&self) -> impl Iterator<Item = LabelId> + '_ {
        self.list
            .iter()
            .flat_map(|p| p.queues.iter().flatten().copied())
    }

    /// Configured targets per histogram key, in seconds (added to bucket bounds).
    pub fn target_bounds(&self) -> BTreeMap<&'static str, Vec<f64>> {
        let mut out: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for p in &self.list {
            for (kind, keys) in [
                (ClockKind::FirstResponse, &["first_response"][..]),
                (ClockKind::NextResponse, &["reply"][..]),
                (ClockKind::Resolution, &["resolution"][..]),
                (ClockKind::Answer, &["answer_wait"][..]),
            ] {
                if let Some(t) = p.targets[kind as usize] {
                    for k in keys {
                        out.entry(k).or_default().push(t as f64 / 1000.0);
                    }
                }
            }
        }
        out
    }
}

/// What a clock ended with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Still open.
    #[default]
    None,
    /// Target achieved.
    Met,
    /// Deadline passed first.
    Breached,
}

/// The state of up to three clocks, four bits each: running, met,
/// breached, at risk. Clock `i` of a ticket is [`ClockKind`] `i`; a call's
/// answer clock is clock 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clocks(u16);

const RUNNING: u16 = 1;
const MET: u16 = 2;
const BREACHED: u16 = 4;
const AT_RISK: u16 = 8;

impl Clocks {
    #[inline]
    fn bits(self, i: usize) -> u16 {
        self.0 >> (4 * i) & 0xf
    }

    #[inline]
    fn put(&mut self, i: usize, bit: u16, on: bool) {
        if on {
            self.0 |= bit << (4 * i);
        } else {
            self.0 &= !(bit << (4 * i));
        }
    }

    /// Started and not yet stopped (a breached clock keeps running).
    pub fn running(self, i: usize) -> bool {
        self.bits(i) & RUNNING != 0
    }

    /// Its verdict.
    pub fn verdict(self, i: usize) -> Verdict {
        match self.bits(i) & (MET | BREACHED) {
            0 => Verdict::None,
            MET => Verdict::Met,
            _ => Verdict::Breached,
        }
    }

    /// Counted in the at-risk gauge.
    pub fn at_risk(self, i: usize) -> bool {
        self.bits(i) & AT_RISK != 0
    }

    /// Counted in the active-breach gauge.
    pub fn active_breach(self, i: usize) -> bool {
        self.bits(i) & (RUNNING | BREACHED) == RUNNING | BREACHED
    }

    /// Running and still waiting for a verdict.
    pub fn open(self, i: usize) -> bool {
        self.bits(i) & (RUNNING | MET | BREACHED) == RUNNING
    }

    /// (Re)starts clock `i`: running, no verdict, not at risk.
    pub fn start(&mut self, i: usize) {
        self.0 = self.0 & !(0xf << (4 * i)) | RUNNING << (4 * i);
    }

    /// Stops clock `i` (its verdict stays).
    pub fn stop(&mut self, i: usize) {
        self.put(i, RUNNING | AT_RISK, false);
    }

    /// Sets clock `i`'s verdict (and clears at risk).
    pub fn judge(&mut self, i: usize, v: Verdict) {
        self.put(i, MET | BREACHED | AT_RISK, false);
        match v {
            Verdict::None => {}
            Verdict::Met => self.put(i, MET, true),
            Verdict::Breached => self.put(i, BREACHED, true),
        }
    }

    /// Marks clock `i` at risk or not.
    pub fn set_at_risk(&mut self, i: usize, on: bool) {
        self.put(i, AT_RISK, on);
    }
}

/// The pending intervals of a ticket's resolution clock.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Pauses {
    /// Closed intervals, in time order and disjoint.
    pub closed: Vec<(i64, i64)>,
    /// Start of the current one.
    pub since: Option<i64>,
}

impl Pauses {
    /// Adds the closed interval `from..to` (`from <= to`), merged with those
    /// it overlaps or touches, so that the clock stops for the union of
    /// the ticket's pending time whatever order its status changes arrived
    /// in (a later-dated interval may be recorded first).
    pub fn close(&mut self, from: i64, to: i64) {
        let (mut lo, mut hi) = (from, to);
        // Intervals before `i` end before `from`; from `i` on, those
        // starting by `to` touch the new one.
        let i = self.closed.partition_point(|&(_, e)| e < from);
        let mut j = i;
        while j < self.closed.len() && self.closed[j].0 <= to {
            lo = lo.min(self.closed[j].0);
            hi = hi.max(self.closed[j].1);
            j += 1;
        }
        self.closed.splice(i..j, [(lo, hi)]);
        // A hard bound: past it the two intervals nearest each other are
        // joined, so their gap counts as pending too.
        while self.closed.len() > MAX_PAUSES {
            let k = (1..self.closed.len())
                .min_by_key(|&k| self.closed[k].0 - self.closed[k - 1].1)
                .expect("more than one interval");
            self.closed[k - 1].1 = self.closed[k].1;
            self.closed.remove(k);
        }
    }
}

/// Most closed pending intervals a ticket keeps ([`Pauses::close`]). Each
/// verdict, resume and policy change walks them, so a ticket flipped
/// between `pending` and `open` without end made every change on it cost
/// more (docs/sla.md, "Timers and cost").
pub const MAX_PAUSES: usize = 64;

/// The instant at which `target` open milliseconds have elapsed on a clock
/// that started at `start`, excluding the closed `pauses` (in time order,
/// disjoint) and, when `paused_since` is set, everything after it (then:
/// never), so that the clock stops for the union of them all.
pub fn deadline(
    hours: &Hours,
    start: i64,
    pauses: &[(i64, i64)],
    paused_since: Option<i64>,
    target: i64,
) -> i64 {
    let mut left = target;
    let mut seg_start = start;
    for &(p0, p1) in pauses {
        if paused_since.is_some_and(|p| p <= p0) {
            break; // the open pause covers this one and all after it
        }
        if p1 <= seg_start {
            continue;
        }
        let seg_end = p0.max(seg_start);
        let in_seg = hours.elapsed(seg_start, seg_end);
        if in_seg >= left {
            return hours.add(seg_start, left).unwrap_or(i64::MAX);
        }
        left -= in_seg;
        seg_start = p1;
    }
    match paused_since {
        Some(p) => {
            // Running from `seg_start` to the pause; the deadline falls
            // before it only if the target is reached there.
            if p > seg_start && hours.elapsed(seg_start, p) >= left {
                hours.add(seg_start, left).unwrap_or(i64::MAX)
            } else {
                i64::MAX
            }
        }
        None => hours.add(seg_start, left).unwrap_or(i64::MAX),
    }
}

/// A breach, for the log line (the SLA event stream has [`SlaEvent`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// `ticket` or `call`.
    pub entity: &'static str,
    /// Its id.
    pub id: String,
    /// Policy name.
    pub policy: String,
    /// Clock name.
    pub sla: &'static str,
    /// Target, ms.
    pub target_ms: i64,
    /// Elapsed on the clock when it breached (= the target), ms.
    pub elapsed_ms: i64,
    /// Event time of the breach (the deadline), ms.
    pub at: i64,
}

/// The open time a clock that started at `start` has run by `at`: business
/// time in `hours`, the closed `pauses` and, when `paused_since` is set,
/// everything after it excluded.
pub fn elapsed(
    hours: &Hours,
    start: i64,
    pauses: &[(i64, i64)],
    paused_since: Option<i64>,
    at: i64,
) -> i64 {
    let mut total = 0;
    let mut seg_start = start;
    for &(p0, p1) in pauses {
        if p0 >= at || paused_since.is_some_and(|p| p <= p0) {
            break; // beyond `at`, or covered by the open pause
        }
        if p1 <= seg_start {
            continue;
        }
        total += hours.elapsed(seg_start, p0.max(seg_start));
        seg_start = p1;
        if seg_start >= at {
            return total;
        }
    }
    let end = match paused_since {
        Some(p) if p < at => p.max(seg_start),
        _ => at,
    };
    if end > seg_start {
        total += hours.elapsed(seg_start, end);
    }
    total
}

/// What happened to a clock (the `kind` of an SLA event, docs/sla.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlaEventKind {
    /// The clock started under a policy with a target for it.
    Applied,
    /// Its elapsed time reached `warn_fraction` of the target.
    AtRisk,
    /// The deadline passed before the target event.
    Breached,
    /// The target event came in time.
    Achieved,
    /// The resolution clock stopped while the ticket is `pending`.
    Paused,
    /// The resolution clock runs again.
    Resumed,
    /// A priority or queue change chose another policy for a running clock.
    PolicyChanged,
    /// The clock stopped without being achieved: cancelled (resolution,
    /// close, abandon, expiry, a new next-response clock) or the end of an
    /// active breach.
    Stopped,
}

impl SlaEventKind {
    /// Its name in the event stream.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaEventKind::Applied => "applied",
            SlaEventKind::AtRisk => "at_risk",
            SlaEventKind::Breached => "breached",
            SlaEventKind::Achieved => "achieved",
            SlaEventKind::Paused => "paused",
            SlaEventKind::Resumed => "resumed",
            SlaEventKind::PolicyChanged => "policy_changed",
            SlaEventKind::Stopped => "stopped",
        }
    }

    /// All kinds.
    pub const ALL: [SlaEventKind; 8] = [
        SlaEventKind::Applied,
        SlaEventKind::AtRisk,
        SlaEventKind::Breached,
        SlaEventKind::Achieved,
        SlaEventKind::Paused,
        SlaEventKind::Resumed,
        SlaEventKind::PolicyChanged,
        SlaEventKind::Stopped,
    ];
}

/// One SLA state change, as the engine records it for the driver (the
/// SLA event stream, docs/sla.md). Times are epoch ms.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaEvent {
    /// What happened.
    pub kind: SlaEventKind,
    /// `ticket` or `call`.
    pub entity: &'static str,
    /// The ticket's or call's id.
    pub id: String,
    /// The clock.
    pub clock: ClockKind,
    /// The policy in force after the change (`None`: no policy matches).
    pub policy: Option<String>,
    /// For [`SlaEventKind::PolicyChanged`]: the policy before.
    pub previous_policy: Option<String>,
    /// The clock's target under `policy`, ms.
    pub target_ms: Option<i64>,
    /// The deadline under `policy` (`None`: no target, or paused short of it).
    pub due_ms: Option<i64>,
    /// Open (business, pauses excluded) time on the clock at `at`, ms.
    pub elapsed_ms: i64,
    /// Event time of the change: the event's `ts`, or the instant the event
    /// clock passed (at risk, breached).
    pub at: i64,
    /// Caused by the event clock passing an instant (a timer) rather than
    /// by the event being applied.
    pub timer: bool,
    /// For [`SlaEventKind::Stopped`]: the clock had breached.
    pub breached: bool,
    /// The clock is at risk after the change (SPEC §4).
    pub at_risk: bool,
}

impl SlaEvent {
    /// A deterministic id: the same change gets the same id however often
    /// it is produced (a re-applied input after a restart, a timer that
    /// fires during another event): a hash of the entity, its id, the clock,
    /// the kind, the policy and the event time of the change. Not the input
    /// offset, which a timer-driven change does not have a fixed one of.
    pub fn event_id(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [
            self.entity.as_bytes(),
            self.id.as_bytes(),
            self.clock.as_str().as_bytes(),
            self.kind.as_str().as_bytes(),
            self.policy.as_deref().unwrap_or("").as_bytes(),
        ] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&self.at.to_le_bytes());
        format!("{:032x}", h.digest128())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn clock_bits_are_independent_per_clock() {
        let mut c = Clocks::default();
        assert!(!c.running(0) && !c.open(2));
        c.start(0);
        c.start(2);
        assert!(c.open(0) && !c.running(1) && c.open(2));
        c.set_at_risk(2, true);
        assert!(c.at_risk(2) && !c.at_risk(0));
        c.judge(2, Verdict::Breached);
        assert_eq!(c.verdict(2), Verdict::Breached);
        assert!(!c.at_risk(2) && c.active_breach(2) && !c.open(2));
        c.judge(0, Verdict::Met);
        c.stop(0);
        assert_eq!(c.verdict(0), Verdict::Met);
        assert!(!c.running(0) && !c.active_breach(0));
        c.stop(2);
        assert!(!c.active_breach(2));
        assert_eq!(c.verdict(2), Verdict::Breached);
        // Restarting clears the old verdict; the other clocks are untouched.
        c.start(2);
        assert!(c.open(2));
        assert_eq!(c.verdict(0), Verdict::Met);
        assert!(!c.running(1));
    }

    #[test]
    fn deadline_moves_later_by_each_pause() {
        let h = Hours::Always;
        assert_eq!(deadline(&h, 0, &[], None, 8 * H), 8 * H);
        // Paused 1 h..3 h: 2 h later.
        assert_eq!(deadline(&h, 0, &[(H, 3 * H)], None, 8 * H), 10 * H);
        // Still paused since 2 h, target 8 h not reached before: no deadline.
        assert_eq!(deadline(&h, 0, &[], Some(2 * H), 8 * H), i64::MAX);
        // Paused after the target was reached: the deadline stands.
        assert_eq!(deadline(&h, 0, &[], Some(9 * H), 8 * H), 8 * H);
        // A pause that started before the clock counts from the clock's start.
        assert_eq!(deadline(&h, 5 * H, &[(4 * H, 6 * H)], None, H), 7 * H);
        // An open pause dated before a closed one covers it: paused from 6 h.
        let closed = [(7 * H, 8 * H)];
        assert_eq!(deadline(&h, 0, &closed, Some(6 * H), 8 * H), i64::MAX);
        assert_eq!(deadline(&h, 0, &closed, Some(6 * H), 5 * H), 5 * H);
        assert_eq!(elapsed(&h, 0, &closed, Some(6 * H), 9 * H), 6 * H);
        // Dated inside it: paused from its start.
        assert_eq!(elapsed(&h, 0, &closed, Some(7 * H + 30), 9 * H), 7 * H);
        assert_eq!(elapsed(&h, 0, &closed, None, 9 * H), 8 * H);
    }

    #[test]
    fn pauses_closed_in_any_order_are_kept_sorted_and_merged() {
        let mut p = Pauses::default();
        p.close(30, 40);
        p.close(10, 20);
        assert_eq!(p.closed, [(10, 20), (30, 40)]);
        // Overlapping one, touching another: merged into one.
        p.close(15, 30);
        assert_eq!(p.closed, [(10, 40)]);
        p.close(50, 50);
        p.close(45, 47);
        p.close(60, 70);
        assert_eq!(p.closed, [(10, 40), (45, 47), (50, 50), (60, 70)]);
        // Covering several at once.
        p.close(41, 65);
        assert_eq!(p.closed, [(10, 40), (41, 70)]);
        p.close(0, 100);
        assert_eq!(p.closed, [(0, 100)]);
    }

    /// Defect: a ticket flipped between `pending` and `open` without end
    /// kept every interval, and each change on it walked them all (400 000
    /// flips took 25 s of one partition's time). Past [`MAX_PAUSES`] the
    /// two intervals nearest each other are joined.
    #[test]
    fn pauses_are_bounded_by_joining_the_nearest_two() {
        let mut p = Pauses::default();
        for i in 0..MAX_PAUSES as i64 {
            p.close(i * 100, i * 100 + 10);
        }
        assert_eq!(p.closed.len(), MAX_PAUSES);
        // A gap of 5 after the last: the nearest two, joined.
        let last = (MAX_PAUSES as i64 - 1) * 100 + 10;
        p.close(last + 5, last + 20);
        assert_eq!(p.closed.len(), MAX_PAUSES);
        assert_eq!(p.closed[MAX_PAUSES - 1], (last - 10, last + 20));
        for i in 0..100_000 {
            p.close(1_000_000 + i * 3, 1_000_000 + i * 3 + 1);
        }
        assert_eq!(p.closed.len(), MAX_PAUSES);
        assert!(
            p.closed.windows(2).all(|w| w[0].1 < w[1].0),
            "{:?}",
            p.closed
        );
        // The first far one made the first two (90 apart) the nearest; each
        // after it, 2 from the one before, joined that one.
        assert_eq!(p.closed[0], (0, 110));
        assert_eq!(p.closed[MAX_PAUSES - 1], (1_000_000, 1_000_000 + 299_998));
    }
}
