//! SLA policies and clocks (SPEC §4).
//!
//! Every ticket has three clocks (first response, next response,
//! resolution) and every call one (answer). A clock knows when it started,
//! its pauses, and — under the policy in force — its deadline and the
//! instant it becomes at risk. The engine keeps one timer per entity at the
//! earliest of those instants, so thousands of open clocks cost O(log n) per
//! change, never a scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

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

/// One clock.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Clock {
    /// When it started.
    pub start: i64,
    /// Started and not yet stopped (a breached clock keeps running).
    pub running: bool,
    /// Its verdict.
    pub verdict: Verdict,
    /// Counted in the at-risk gauge.
    pub at_risk: bool,
    /// When the target is reached (`i64::MAX`: never, or paused).
    pub deadline: i64,
    /// When it becomes at risk (`i64::MAX`: never).
    pub warn_at: i64,
}

impl Clock {
    /// A running clock from `start`.
    pub fn started(start: i64) -> Clock {
        Clock {
            start,
            running: true,
            verdict: Verdict::None,
            at_risk: false,
            deadline: i64::MAX,
            warn_at: i64::MAX,
        }
    }

    /// Whether it still waits for a verdict.
    pub fn open(&self) -> bool {
        self.running && self.verdict == Verdict::None
    }

    /// The next instant this clock needs the engine's attention.
    pub fn next_due(&self) -> i64 {
        if !self.open() {
            return i64::MAX;
        }
        if self.at_risk {
            self.deadline
        } else {
            self.warn_at.min(self.deadline)
        }
    }
}

/// The instant at which `target` open milliseconds have elapsed on a clock
/// that started at `start`, excluding the closed `pauses` and, when
/// `paused_since` is set, everything after it (then: never).
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

/// SLA state of a ticket.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketSla {
    /// Index of the policy in force, or [`NO_POLICY`].
    pub policy: u8,
    /// First response, next response, resolution.
    pub clocks: [Clock; 3],
    /// Closed pending intervals of the resolution clock.
    pub pauses: Vec<(i64, i64)>,
    /// Start of the current pending interval.
    pub paused_since: Option<i64>,
    /// Due time of this ticket's live timer (`i64::MAX`: none).
    pub scheduled: i64,
}

/// SLA state of a call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallSla {
    /// Index of the policy in force, or [`NO_POLICY`].
    pub policy: u8,
    /// The answer clock.
    pub clock: Clock,
    /// Due time of this call's live timer.
    pub scheduled: i64,
}

/// Packs the labels of an SLA series: clock, policy, priority, queue.
pub fn sla_key(kind: ClockKind, policy: u8, pr: Priority, q: LabelId) -> u64 {
    (kind as u64) << 40 | (policy as u64) << 32 | (pr.index() as u64) << 16 | q as u64
}

/// Unpacks [`sla_key`].
pub fn sla_unkey(k: u64) -> (ClockKind, u8, Priority, LabelId) {
    (
        ClockKind::ALL[(k >> 40) as usize & 3],
        (k >> 32 & 0xff) as u8,
        Priority::ALL[(k >> 16 & 0xff) as usize % Priority::ALL.len()],
        (k & 0xffff) as LabelId,
    )
}

/// A breach, for the log line (and, later, the SLA event stream).
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

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

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
    }
}
