//! Survey responses (SPEC §1.5): CSAT by score, channel and queue (and
//! agent, with per-agent metrics), NPS by category, CES by score.

use super::keys;
use super::per_agent::NONE;
use super::window::WindowCount;
use super::{Engine, LabelId, UNKNOWN};
use crate::event::{Body, Channel};

impl Engine {
    /// `survey.csat`: labelled by its own channel and queue, else by those
    /// of the ticket or call it names.
    pub(super) fn survey_csat(&mut self, ts: i64, body: &Body) {
        let Body::SurveyCsat {
            score,
            ticket,
            call,
            channel,
            queue,
            agent,
        } = body
        else {
            unreachable!("dispatch routes only survey.csat here")
        };
        let (score, channel) = (*score, *channel);
        let named = self.named_entity(ticket.as_deref(), call.as_deref());
        let (ech, eq) = (named.channel, named.queue);
        let ch = channel.or(ech).unwrap_or(Channel::Other);
        let q = match queue {
            Some(q) => self.state.queues.resolve(Some(q)),
            None => eq.unwrap_or(UNKNOWN),
        };
        let key = keys::csat_key(score, ch, q);
        bump!(self.state.metrics, csat, key, 1);
        if self.per_agent() {
            self.agent_csat(score, agent.as_deref(), named.agent, q);
        }
        self.win_count(ts, WindowCount::CsatResponses, 1);
        if score >= 4 {
            self.win_count(ts, WindowCount::CsatPositive, 1);
        }
    }

    /// `survey.nps`: promoter (9–10), passive (7–8) or detractor.
    pub(super) fn survey_nps(&mut self, ts: i64, score: u8) {
        let (i, c) = match score {
            9..=10 => (0, WindowCount::NpsPromoters),
            7..=8 => (1, WindowCount::NpsPassives),
            _ => (2, WindowCount::NpsDetractors),
        };
        self.state.metrics.nps[i] += 1;
        self.win_count(ts, c, 1);
    }

    /// `survey.ces` (score 1–7).
    pub(super) fn survey_ces(&mut self, ts: i64, score: u8) {
        self.state.metrics.ces[score as usize - 1] += 1;
        self.win_count(ts, WindowCount::CesCount, 1);
        self.win_count(ts, WindowCount::CesSum, score as i64);
    }

    /// The ticket a survey names, else its call, while in state: its
    /// channel, queue and (for per-agent crediting) agent.
    fn named_entity(&self, ticket: Option<&str>, call: Option<&str>) -> NamedEntity {
        if let Some(t) = ticket.and_then(|t| self.state.tickets.get(t)) {
            return NamedEntity {
                channel: Some(t.channel),
                queue: Some(t.queue),
                agent: t.agent,
            };
        }
        if let Some(c) = call.and_then(|c| self.state.calls.get(c)) {
            return NamedEntity {
                channel: Some(c.channel),
                queue: Some(c.queue),
                agent: c.agent,
            };
        }
        NamedEntity {
            channel: None,
            queue: None,
            agent: NONE,
        }
    }
}

/// What a survey's ticket or call says about it.
struct NamedEntity {
    channel: Option<Channel>,
    queue: Option<LabelId>,
    /// The agent of the ticket or call, [`NONE`] if none.
    agent: LabelId,
}
