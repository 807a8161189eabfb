//! A [`Ticket`] in a checkpoint: the form format version 4 has written
//! since per-agent metrics came in, kept when the ticket's agent moved from
//! its [`TicketExt`] into the ticket itself, so that a checkpoint written
//! before an upgrade restores after it, and the other way round.

use serde::{Deserialize, Serialize};

use super::labels::LabelId;
use super::per_agent::{TicketAgents, NONE};
use super::sla::{Clocks, Pauses};
use super::state::{flag, Ticket, TicketExt};
use crate::event::{Channel, Priority, TicketStatus};

/// No pauses, for the checkpoint form of a ticket without a [`TicketExt`].
static NO_PAUSES: Pauses = Pauses {
    closed: Vec::new(),
    since: None,
};

/// A [`Ticket`] in a checkpoint (format version 4): its agent as the three
/// agents it was chosen from, beside the pauses behind the pointer, as
/// tickets were kept before the agent moved into the ticket. `P`: the
/// pauses, read owned and written borrowed.
#[derive(Serialize, Deserialize)]
struct TicketForm<P> {
    created: i64,
    last_event: i64,
    unanswered_since: i64,
    sla_due: i64,
    ext: Option<ExtForm<P>>,
    work_ms: u32,
    public_replies: u16,
    queue: LabelId,
    channel: Channel,
    priority: Priority,
    status: TicketStatus,
    flags: u8,
    policy: u8,
    clocks: Clocks,
}

#[derive(Serialize, Deserialize)]
struct ExtForm<P> {
    pauses: P,
    agents: TicketAgents,
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ext = (self.ext.is_some() || self.agent != NONE).then(|| ExtForm {
            pauses: self.ext.as_ref().map_or(&NO_PAUSES, |e| &e.pauses),
            agents: TicketAgents::of(self.agent, self.flags),
        });
        TicketForm::<&Pauses> {
            created: self.created,
            last_event: self.last_event,
            unanswered_since: self.unanswered_since,
            sla_due: self.sla_due,
            ext,
            work_ms: self.work_ms,
            public_replies: self.public_replies.into(),
            queue: self.queue,
            channel: self.channel,
            priority: self.priority,
            status: self.status,
            flags: self.flags & !flag::AGENT,
            policy: self.policy,
            clocks: self.clocks,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ticket {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ticket, D::Error> {
        let f = TicketForm::<Pauses>::deserialize(d)?;
        let (mut agent, mut flags) = (NONE, f.flags & !flag::AGENT);
        let mut ext = None;
        if let Some(e) = f.ext {
            let (a, bits) = e.agents.inline();
            (agent, flags) = (a, flags | bits);
            // Empty pauses behave as none: no box for them.
            if !e.pauses.closed.is_empty() || e.pauses.since.is_some() {
                // Kept sorted and merged since pending intervals arriving out
                // of order came in; a checkpoint from before may hold them in
                // arrival order.
                let mut pauses = Pauses {
                    closed: Vec::with_capacity(e.pauses.closed.len()),
                    since: e.pauses.since,
                };
                for (from, to) in e.pauses.closed {
                    pauses.close(from, to);
                }
                ext = Some(Box::new(TicketExt { pauses }));
            }
        }
        Ok(Ticket {
            created: f.created,
            last_event: f.last_event,
            unanswered_since: f.unanswered_since,
            sla_due: f.sla_due,
            ext,
            work_ms: f.work_ms,
            public_replies: f.public_replies.min(u8::MAX.into()) as u8,
            agent,
            queue: f.queue,
            channel: f.channel,
            priority: f.priority,
            status: f.status,
            flags,
            policy: f.policy,
            clocks: f.clocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sla::NO_POLICY;
    use crate::engine::state::flag;
    use crate::engine::state::NOT_WAITING;

    /// A ticket as format version 4 wrote it before its agent moved into
    /// it (the derived form of the `Ticket` and `TicketExt` of then).
    #[derive(Serialize)]
    struct Before {
        created: i64,
        last_event: i64,
        unanswered_since: i64,
        sla_due: i64,
        ext: Option<Box<BeforeExt>>,
        work_ms: u32,
        public_replies: u16,
        queue: LabelId,
        channel: Channel,
        priority: Priority,
        status: TicketStatus,
        flags: u8,
        policy: u8,
        clocks: Clocks,
    }

    #[derive(Serialize)]
    struct BeforeExt {
        pauses: Pauses,
        agents: (LabelId, LabelId, LabelId),
    }

    fn before(ext: Option<(Pauses, [LabelId; 3])>, public_replies: u16) -> Before {
        Before {
            created: 1,
            last_event: 2,
            unanswered_since: NOT_WAITING,
            sla_due: i64::MAX,
            ext: ext.map(|(pauses, [a, r, s])| {
                Box::new(BeforeExt {
                    pauses,
                    agents: (a, r, s),
                })
            }),
            work_ms: 7,
            public_replies,
            queue: 3,
            channel: Channel::Email,
            priority: Priority::High,
            status: TicketStatus::Pending,
            flags: flag::REPLIED | flag::WORKED,
            policy: NO_POLICY,
            clocks: Clocks::default(),
        }
    }

    fn read(b: &Before) -> Ticket {
        postcard::from_bytes(&postcard::to_stdvec(b).unwrap()).unwrap()
    }

    #[test]
    fn tickets_written_before_read_with_their_agent() {
        let paused = Pauses {
            closed: vec![(5, 6)],
            since: Some(9),
        };
        // (assigned, replied, resolver) → the agent and its flag.
        for (agents, agent, bits) in [
            ([4, 5, 6], 6, flag::AGENT_RESOLVER),
            ([NONE, 5, 6], 6, flag::AGENT_RESOLVER),
            ([4, 5, NONE], 4, flag::AGENT_ASSIGNED),
            ([4, NONE, NONE], 4, flag::AGENT_ASSIGNED),
            ([NONE, 5, NONE], 5, 0),
            ([NONE, NONE, NONE], NONE, 0),
        ] {
            let t = read(&before(Some((Pauses::default(), agents)), 2));
            assert_eq!(
                (t.agent, t.flags & flag::AGENT),
                (agent, bits),
                "{agents:?}"
            );
            assert!(t.ext.is_none(), "no pauses, no box: {agents:?}");
            assert_eq!(t.flags & !flag::AGENT, flag::REPLIED | flag::WORKED);
            let t = read(&before(Some((paused.clone(), agents)), 2));
            assert_eq!(
                (t.agent, t.flags & flag::AGENT),
                (agent, bits),
                "{agents:?}"
            );
            let p = &t.ext.as_ref().expect("pauses kept").pauses;
            assert_eq!((p.closed.as_slice(), p.since), (&[(5, 6)][..], Some(9)));
        }
        let t = read(&before(None, 1));
        assert_eq!(
            (t.agent, t.flags, t.public_replies),
            (NONE, flag::REPLIED | flag::WORKED, 1)
        );
        assert!(t.ext.is_none());
        // Replies past what a ticket counts saturate.
        assert_eq!(read(&before(None, 300)).public_replies, u8::MAX);
    }

    /// A checkpoint written before pending intervals were kept in time
    /// order holds them in arrival order: they are read sorted and merged.
    #[test]
    fn pauses_written_in_arrival_order_are_read_sorted() {
        let paused = Pauses {
            closed: vec![(30, 40), (10, 20), (15, 25)],
            since: Some(50),
        };
        let t = read(&before(Some((paused, [NONE, NONE, NONE])), 2));
        let p = &t.ext.as_ref().expect("pauses kept").pauses;
        assert_eq!(
            (p.closed.as_slice(), p.since),
            (&[(10, 25), (30, 40)][..], Some(50))
        );
    }

    #[test]
    fn tickets_are_written_as_before() {
        let write = |t: &Ticket| postcard::to_stdvec(t).unwrap();
        let old = |b: &Before| postcard::to_stdvec(b).unwrap();
        // Without an agent or pauses: no ext.
        let b = before(None, 2);
        assert_eq!(write(&read(&b)), old(&b));
        // An agent alone: the ext of before, with empty pauses.
        for agents in [[4, NONE, NONE], [NONE, 5, NONE], [NONE, NONE, 6]] {
            let b = before(Some((Pauses::default(), agents)), 2);
            assert_eq!(write(&read(&b)), old(&b), "{agents:?}");
        }
        // Pauses without an agent, and both.
        let paused = Pauses {
            closed: vec![(5, 6)],
            since: None,
        };
        for agents in [[NONE, NONE, NONE], [NONE, NONE, 6]] {
            let b = before(Some((paused.clone(), agents)), 2);
            assert_eq!(write(&read(&b)), old(&b), "{agents:?}");
        }
        // The agent flags are not written.
        let mut t = read(&before(None, 2));
        (t.agent, t.flags) = (4, t.flags | flag::AGENT_ASSIGNED);
        assert_eq!(
            write(&t),
            old(&before(Some((Pauses::default(), [4, NONE, NONE])), 2))
        );
    }
}
