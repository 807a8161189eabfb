//! The packed map keys of the cumulative metric store, each with its
//! `pack`/`unpack` pair, in one place. A key's low 16 bits are always the
//! `queue` label id (the series budget replaces them with `other`,
//! [`super::state::QueueKey`]). The layouts are part of the checkpoint
//! format: changing one makes old checkpoints unreadable.
//!
//! | key | bits |
//! |---|---|
//! | [`dims`] (u32) | channel `<< 24`, priority `<< 16`, queue |
//! | [`open_key`] (u32) | ticket status `<< 24`, priority `<< 16`, queue |
//! | [`status_key`] (u32) | agent status `<< 16`, queue |
//! | [`csat_key`] (u32) | channel `<< 24`, score `<< 20`, queue (priority 0) |
//! | [`agent_key`] (u64) | family `<< 48`, score `<< 40`, agent `<< 16`, queue |
//! | [`sla_key`] (u64) | clock `<< 40`, policy `<< 32`, priority `<< 16`, queue |

use super::labels::LabelId;
use super::sla::ClockKind;
use crate::event::{AgentStatus, Channel, Priority, TicketStatus};

/// Packs channel, priority and queue into one map key.
pub fn dims(ch: Channel, pr: Priority, q: LabelId) -> u32 {
    (ch.index() as u32) << 24 | (pr.index() as u32) << 16 | q as u32
}

/// Unpacks [`dims`].
pub fn undims(k: u32) -> (Channel, Priority, LabelId) {
    (
        Channel::ALL[(k >> 24 & 0xff) as usize % Channel::ALL.len()],
        Priority::ALL[(k >> 16 & 0xff) as usize % Priority::ALL.len()],
        (k & 0xffff) as LabelId,
    )
}

/// Packs a ticket status (in the channel's byte), priority and queue: the
/// key of `support_tickets_open`.
pub fn open_key(s: TicketStatus, pr: Priority, q: LabelId) -> u32 {
    (s.index() as u32) << 24 | (pr.index() as u32) << 16 | q as u32
}

/// Unpacks [`open_key`].
pub fn open_unkey(k: u32) -> (TicketStatus, Priority, LabelId) {
    let (_, pr, q) = undims(k);
    (
        TicketStatus::ALL[(k >> 24) as usize % TicketStatus::ALL.len()],
        pr,
        q,
    )
}

/// Packs an agent status and queue: the key of
/// `support_agent_status_seconds_total` and `support_agents`.
pub fn status_key(s: AgentStatus, q: LabelId) -> u32 {
    (s.index() as u32) << 16 | q as u32
}

/// Unpacks [`status_key`].
pub fn status_unkey(k: u32) -> (AgentStatus, LabelId) {
    (
        AgentStatus::ALL[(k >> 16) as usize % AgentStatus::ALL.len()],
        (k & 0xffff) as LabelId,
    )
}

/// Packs a CSAT score (1..=5, four bits at 20, inside the priority byte,
/// which CSAT does not use) with channel and queue.
pub fn csat_key(score: u8, ch: Channel, q: LabelId) -> u32 {
    (score as u32 & 0xf) << 20 | dims(ch, Priority::Low, q)
}

/// Unpacks [`csat_key`]: (score, channel, queue).
pub fn csat_unkey(k: u32) -> (u8, Channel, LabelId) {
    let (ch, _, q) = undims(k & !(0xf << 20));
    ((k >> 20 & 0xf) as u8, ch, q)
}

/// Packs a per-agent family, score (CSAT; the status for status time;
/// else 0), agent and queue into one key: the checkpoint form of
/// [`super::state::Metrics::per_agent`].
pub fn agent_key(family: u8, score: u8, agent: LabelId, q: LabelId) -> u64 {
    (family as u64) << 48 | (score as u64) << 40 | (agent as u64) << 16 | q as u64
}

/// Unpacks [`agent_key`]: (family, score, agent, queue).
pub fn agent_unkey(k: u64) -> (u8, u8, LabelId, LabelId) {
    (
        (k >> 48) as u8,
        (k >> 40) as u8,
        (k >> 16) as LabelId,
        k as LabelId,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn channel() -> impl Strategy<Value = Channel> {
        proptest::sample::select(Channel::ALL.to_vec())
    }
    fn priority() -> impl Strategy<Value = Priority> {
        proptest::sample::select(Priority::ALL.to_vec())
    }

    proptest! {
        /// Every key unpacks to what was packed, and keeps the queue in its
        /// low 16 bits.
        #[test]
        fn every_key_round_trips(
            ch in channel(),
            pr in priority(),
            q in any::<LabelId>(),
            agent in any::<LabelId>(),
            ts in proptest::sample::select(TicketStatus::ALL.to_vec()),
            st in proptest::sample::select(AgentStatus::ALL.to_vec()),
            kind in proptest::sample::select(ClockKind::ALL.to_vec()),
            csat in 1u8..=5,
            family in any::<u8>(),
            score in any::<u8>(),
            policy in any::<u8>(),
        ) {
            prop_assert_eq!(undims(dims(ch, pr, q)), (ch, pr, q));
            prop_assert_eq!(open_unkey(open_key(ts, pr, q)), (ts, pr, q));
            prop_assert_eq!(status_unkey(status_key(st, q)), (st, q));
            prop_assert_eq!(csat_unkey(csat_key(csat, ch, q)), (csat, ch, q));
            prop_assert_eq!(agent_unkey(agent_key(family, score, agent, q)), (family, score, agent, q));
            prop_assert_eq!(sla_unkey(sla_key(kind, policy, pr, q)), (kind, policy, pr, q));
            for low in [
                dims(ch, pr, q) as u64,
                open_key(ts, pr, q) as u64,
                status_key(st, q) as u64,
                csat_key(csat, ch, q) as u64,
                agent_key(family, score, agent, q),
                sla_key(kind, policy, pr, q),
            ] {
                prop_assert_eq!(low & 0xffff, q as u64);
            }
        }
    }

    /// The layouts are the checkpoint format: pinned bit for bit.
    #[test]
    fn layouts_are_pinned() {
        assert_eq!(
            dims(Channel::ALL[2], Priority::ALL[3], 7),
            2 << 24 | 3 << 16 | 7
        );
        assert_eq!(csat_key(5, Channel::ALL[1], 9), 1 << 24 | 5 << 20 | 9);
        assert_eq!(status_key(AgentStatus::ALL[3], 4), 3 << 16 | 4);
        assert_eq!(agent_key(1, 2, 3, 4), 1 << 48 | 2 << 40 | 3 << 16 | 4);
        assert_eq!(
            sla_key(ClockKind::ALL[2], 5, Priority::ALL[1], 6),
            2 << 40 | 5 << 32 | 1 << 16 | 6
        );
    }
}
