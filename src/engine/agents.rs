//! Agents: status changes, booking status time (SPEC §3 utilization and
//! occupancy), materializing open intervals for a snapshot, and expiring
//! silent agents.

use super::keys;
use super::state::Agent;
use super::window::WindowCount;
use super::{Engine, LabelId, UNKNOWN};
use crate::event::{AgentStatus, EventType, Id};

impl Engine {
    pub(super) fn agent_status(
        &mut self,
        ts: i64,
        agent: &Id,
        status: AgentStatus,
        queue: Option<&str>,
    ) {
        let nq = queue.map(|q| self.state.queues.resolve(Some(q)));
        let (clock, watermark) = (self.state.clock, self.watermark());
        // One lookup: the agent is updated first, then its old interval
        // booked (booking does not read the agents).
        match self.state.agents.get_mut(agent) {
            None => {
                let q = nq.unwrap_or(UNKNOWN);
                let label = self.state.agent_labels.resolve(Some(agent));
                // A late first status changes no window either.
                let windows_from = windows_from(clock, watermark, ts, ts);
                self.state.agents.insert(
                    agent.clone(),
                    Agent {
                        status,
                        since: windows_from,
                        windows_from,
                        queue: q,
                        last_event: ts,
                        label,
                    },
                );
                let until = ts.saturating_add(self.settings.agent_idle);
                self.book_counters(status, q, label, ts, windows_from.min(until));
                self.state.metrics.agents_add(status, q, 1);
            }
            // A change dated before the agent's latest one arrived late: the
            // status it would start is already over, and the time since was
            // booked to the later status and may have been exported, which a
            // counter cannot take back. Ignored and counted (docs/events.md).
            Some(a) if ts < a.last_event => self.out_of_order(EventType::AgentStatusChanged),
            Some(a) => {
                let (old, booked, start, oq, label) =
                    (a.status, a.since, a.windows_from, a.queue, a.label);
                // The counters cannot take back what they booked (a snapshot
                // may have exported it): the new status counts from `eff`.
                let eff = ts.max(booked);
                // Silent past the idle timeout: offline from then (not yet swept).
                let until = a.last_event.saturating_add(self.settings.agent_idle);
                // The windows are gauges and take the new status from its
                // `ts`, but for a late change (older than the watermark),
                // which changes no window (SPEC §2): they keep the old
                // status up to the event clock, the counters take the new
                // one from `eff`.
                let windows_from = windows_from(clock, watermark, ts, ts.max(start));
                let q = nq.unwrap_or(oq);
                a.status = status;
                a.since = windows_from.max(eff);
                a.windows_from = windows_from;
                a.queue = q;
                a.last_event = a.last_event.max(ts);
                // The new status is silent from this event on.
                let until_new = a.last_event.saturating_add(self.settings.agent_idle);
                self.book_counters(old, oq, label, booked, eff.min(until));
                if windows_from >= booked {
                    self.book_window(old, booked, windows_from.min(until));
                } else {
                    // A snapshot booked the old status past the change's
                    // `ts`: the windows give that time to the new one.
                    self.take_back_window(old, windows_from, booked.min(until));
                    self.book_window(status, windows_from, booked.min(until_new));
                }
                // A late change's new status, from `eff` to the clock.
                self.book_counters(status, q, label, eff, windows_from.min(until_new));
                self.state.metrics.agents_add(old, oq, -1);
                self.state.metrics.agents_add(status, q, 1);
            }
        }
    }

    /// Books `from..to` in `status` and queue `q` to the agent labelled
    /// `agent`: in `support_agent_status_seconds_total`, the utilization
    /// window and, with per-agent metrics, the agent's own status time.
    pub(super) fn book_agent(
        &mut self,
        status: AgentStatus,
        q: LabelId,
        agent: LabelId,
        from: i64,
        to: i64,
    ) {
        self.book_counters(status, q, agent, from, to);
        self.book_window(status, from, to);
    }

    /// Books `from..to` in `support_agent_status_seconds_total` and, with
    /// per-agent metrics, the agent's own status time.
    fn book_counters(
        &mut self,
        status: AgentStatus,
        q: LabelId,
        agent: LabelId,
        from: i64,
        to: i64,
    ) {
        if to <= from {
            return;
        }
        bump!(
            self.state.metrics,
            agent_status_ms,
            keys::status_key(status, q),
            to - from
        );
        if self.per_agent() {
            self.state
                .metrics
                .agent_time_add(status, agent, q, to - from);
        }
    }

    /// Books `from..to` in the utilization window.
    fn book_window(&mut self, status: AgentStatus, from: i64, to: i64) {
        if let Some(c) = window_count(status) {
            self.state.windows.book_interval(from, to, c);
        }
    }

    /// Takes back what [`Engine::book_window`] booked of `from..to`.
    fn take_back_window(&mut self, status: AgentStatus, from: i64, to: i64) {
        if let Some(c) = window_count(status) {
            self.state.windows.take_back_interval(from, to, c);
        }
    }

    /// For a snapshot: with agent status time shown live, books every
    /// agent's open interval up to the event clock, so exported time is
    /// never taken back (docs/metrics.md); then expires agents silent for
    /// `agents.idle_timeout`.
    pub(super) fn materialize_agents(&mut self) {
        let Some(clock) = self.state.clock else {
            return;
        };
        if self.shown_agent_time.is_none() {
            self.book_open_agents(clock);
        }
        self.expire_agents(clock);
    }

    /// Books every agent's open interval up to the event clock, and returns
    /// the agent status time so far: what a checkpoint copied right after
    /// holds, for [`Engine::show_agent_time`] once it is written.
    pub fn book_agent_time(&mut self) -> AgentTime {
        if let Some(clock) = self.state.clock {
            self.book_open_agents(clock);
        }
        self.agent_time()
    }

    /// The agent status time the state holds now.
    pub fn agent_time(&self) -> AgentTime {
        let m = &self.state.metrics;
        AgentTime {
            status_ms: m.agent_status_ms.iter().map(|(k, ms)| (*k, *ms)).collect(),
            per_agent: m.per_agent.times(),
        }
    }

    /// From now on snapshots show `t` as the agent status time
    /// (`support_agent_status_seconds_total`, and the per-agent
    /// `support_agent_time_in_status_seconds_total`) instead of the live
    /// time, and leave the open intervals unbooked: a partition whose state
    /// is checkpointed shows the time of its newest written checkpoint
    /// (docs/metrics.md, "Agent time after a restart").
    pub fn show_agent_time(&mut self, t: AgentTime) {
        self.shown_agent_time = Some(t);
    }

    /// The agent status time snapshots show: the written one given by
    /// [`Engine::show_agent_time`], else the live one.
    pub(super) fn shown_agent_time(&self) -> std::borrow::Cow<'_, AgentTime> {
        match &self.shown_agent_time {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(self.agent_time()),
        }
    }

    /// Whether any agent's status is kept (its time goes on).
    pub fn has_agents(&self) -> bool {
        !self.state.agents.is_empty()
    }

    /// Whether snapshots show agent status time from
    /// [`Engine::show_agent_time`].
    pub fn shows_written_agent_time(&self) -> bool {
        self.shown_agent_time.is_some()
    }

    /// Books every agent's open interval up to `clock` (an agent silent
    /// past the idle timeout up to the timeout).
    fn book_open_agents(&mut self, clock: i64) {
        let idle = self.settings.agent_idle;
        let open: Vec<(AgentStatus, LabelId, LabelId, i64, i64)> = self
            .state
            .agents
            .values_mut()
            .filter_map(|a| {
                // An agent silent past the idle timeout is offline from then.
                let to = clock.min(a.last_event.saturating_add(idle));
                (a.since < to).then(|| {
                    let from = a.since;
                    a.since = to;
                    (a.status, a.queue, a.label, from, to)
                })
            })
            .collect();
        for (status, q, agent, from, to) in open {
            self.book_agent(status, q, agent, from, to);
        }
    }

    /// Drops agents silent for `agents.idle_timeout` (any status) and
    /// offline agents kept `state.resolved_ticket_ttl`. Their time is booked
    /// up to the idle timeout first (by [`Engine::materialize_agents`]).
    pub(super) fn expire_agents(&mut self, now: i64) {
        let settings = &self.settings;
        let m = &mut self.state.metrics;
        let mut booked = Vec::new();
        self.state.agents.retain(|_, a| {
            let silent = now - a.last_event;
            let keep = silent <= settings.agent_idle
                && (a.status != AgentStatus::Offline || silent <= settings.resolved_ticket_ttl);
            if !keep {
                m.agents_add(a.status, a.queue, -1);
                let to = now.min(a.last_event.saturating_add(settings.agent_idle));
                if a.since < to {
                    booked.push((a.status, a.queue, a.label, a.since, to));
                }
            }
            keep
        });
        for (status, q, agent, from, to) in booked {
            self.book_agent(status, q, agent, from, to);
        }
    }
}

/// Agent status time at one point of a partition's state: by
/// `support_agent_status_seconds_total` key, and per agent (agent, queue,
/// status, ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentTime {
    pub(super) status_ms: Vec<(u32, i64)>,
    pub(super) per_agent: Vec<(LabelId, LabelId, AgentStatus, i64)>,
}

/// Where the windows take a status change dated `ts` (effective at `eff`)
/// from: `eff`, or the event clock when `ts` is older than the watermark.
fn windows_from(clock: Option<i64>, watermark: i64, ts: i64, eff: i64) -> i64 {
    match clock {
        Some(clock) if ts < watermark => clock.max(eff),
        _ => eff,
    }
}

/// The window count a status's time goes to (none for a break or offline).
fn window_count(status: AgentStatus) -> Option<WindowCount> {
    match status {
        AgentStatus::Available => Some(WindowCount::AgentAvailableMs),
        AgentStatus::Busy => Some(WindowCount::AgentBusyMs),
        AgentStatus::AfterCallWork => Some(WindowCount::AgentAcwMs),
        AgentStatus::Break | AgentStatus::Offline => None,
    }
}
