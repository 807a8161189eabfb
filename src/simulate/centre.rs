//! The centre's scheduling: arrivals on the daily curve, shifts and
//! breaks planned from the forecast, contacts, dispatch to the longest-idle
//! agent, answers and surveys.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;

use super::{
    Action, Agent, Call, Rng, SimConfig, SimEvent, Simulator, Team, Ticket, ACW_MEDIAN, ACW_SIGMA,
    CATEGORIES, DAILY_CURVE, DAY, H, INCIDENT, INCIDENT_PEAK, M, ON_DUTY_SHARE, PATIENCE_MEAN,
    PHONE_OCCUPANCY, PRIORITIES, REPLIES_PER_TICKET, S, TALK_MEDIAN, TALK_SIGMA, TICKET_OCCUPANCY,
    WORK_MEDIAN, WORK_SIGMA,
};

impl Simulator {
    /// A simulation from its config.
    pub fn new(cfg: SimConfig) -> Simulator {
        let queues = cfg.queues.len().max(1);
        let (phone_peak, ticket_peak) = Self::needs(&cfg, 1.0);
        // The roster splits between the teams as their peak needs do.
        let phone_roster = ((cfg.agents as f64 * phone_peak / (phone_peak + ticket_peak)).round()
            as usize)
            .clamp(1.min(cfg.agents), cfg.agents.saturating_sub(1).max(1));
        let agents = (0..cfg.agents)
            .map(|i| Agent {
                id: format!("agent-{:03}", i + 1),
                queue: i % queues,
                team: if i < phone_roster {
                    Team::Phone
                } else {
                    Team::Tickets
                },
                on_shift: false,
                busy: false,
                on_break: false,
                free_since: 0,
                work_started: 0,
            })
            .collect();
        let mut sim = Simulator {
            rng: Rng::new(cfg.seed),
            now: cfg.start_ms,
            seq: 0,
            next_id: 1,
            agenda: BinaryHeap::new(),
            waiting: VecDeque::new(),
            backlog: Default::default(),
            agents,
            calls: HashMap::new(),
            tickets: HashMap::new(),
            out: VecDeque::new(),
            phone_roster,
            cfg,
        };
        let start = sim.now;
        sim.at(start, Action::Staffing);
        let first = start + sim.gap();
        sim.at(first, Action::Arrival);
        sim
    }

    /// Agents each team needs (fractional) for the forecast share `curve`
    /// of the peak rate.
    pub(super) fn needs(cfg: &SimConfig, curve: f64) -> (f64, f64) {
        let rate = cfg.peak_per_hour * curve / H as f64; // contacts per ms
        let aht = TALK_MEDIAN * (TALK_SIGMA * TALK_SIGMA / 2.0).exp()
            + ACW_MEDIAN * (ACW_SIGMA * ACW_SIGMA / 2.0).exp();
        let work = WORK_MEDIAN * (WORK_SIGMA * WORK_SIGMA / 2.0).exp() * REPLIES_PER_TICKET;
        let phone = rate * cfg.call_share * aht / PHONE_OCCUPANCY / ON_DUTY_SHARE;
        let tickets = rate * (1.0 - cfg.call_share) * work / TICKET_OCCUPANCY;
        (phone, tickets)
    }

    pub(super) fn at(&mut self, t: i64, a: Action) {
        self.seq += 1;
        self.agenda.push(Reverse((t, self.seq, a)));
    }

    /// Local hour of day at `t`, 0..24.
    pub(super) fn hour(&self, t: i64) -> f64 {
        (t + i64::from(self.cfg.utc_offset_hours) * H).rem_euclid(DAY) as f64 / H as f64
    }

    /// The forecast share of the peak rate at local hour `h`.
    pub(super) fn curve(h: f64) -> f64 {
        let i = (h.floor() as usize).min(23);
        let f = h - i as f64;
        DAILY_CURVE[i] * (1.0 - f) + DAILY_CURVE[i + 1] * f
    }

    /// The incident's extra share of the peak rate at local hour `h`.
    pub(super) fn incident(h: f64) -> f64 {
        let (a, b, c, d) = INCIDENT;
        INCIDENT_PEAK
            * if h < a || h >= d {
                0.0
            } else if h < b {
                (h - a) / (b - a)
            } else if h < c {
                1.0
            } else {
                (d - h) / (d - c)
            }
    }

    /// Time to the next candidate arrival at the highest rate; `arrival`
    /// keeps it with probability rate(now) / highest (thinning), so
    /// arrivals follow the curve exactly.
    pub(super) fn gap(&mut self) -> i64 {
        let max = self.cfg.peak_per_hour * (1.0 + INCIDENT_PEAK) / H as f64;
        self.rng.exp(1.0 / max).max(1)
    }

    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A customer of the pool, mildly skewed (some contact more often).
    pub(super) fn customer(&mut self) -> usize {
        let u = self.rng.f();
        ((u * u) * self.cfg.customers.max(1) as f64) as usize
    }

    pub(super) fn emit(&mut self, ty: &str, key: String, fields: &str) {
        let mut json = String::with_capacity(160);
        let id = self.id();
        let _ = write!(
            json,
            r#"{{"event_id":"sim-{}-{id}","type":"{ty}","ts":{}{}{fields}}}"#,
            self.cfg.seed,
            self.now,
            if fields.is_empty() { "" } else { "," }
        );
        let ev = SimEvent {
            ts: self.now,
            key,
            json,
        };
        if self.rng.chance(self.cfg.duplicate_rate) {
            self.out.push_back(ev.clone());
        }
        self.out.push_back(ev);
    }

    pub(super) fn agent_status(&mut self, a: usize, status: &str) {
        let (id, q) = (
            self.agents[a].id.clone(),
            self.cfg.queues[self.agents[a].queue].clone(),
        );
        self.emit(
            "agent.status_changed",
            id.clone(),
            &format!(r#""agent_id":"{id}","status":"{status}","queue":"{q}""#),
        );
    }

    pub(super) fn cust(c: usize) -> String {
        format!("cust-{c:05}")
    }

    /// Puts on duty (or sends home) agents of each team to match the
    /// forecast of the next quarter hour; runs every 15 minutes.
    pub(super) fn staffing(&mut self) {
        let h = self.hour(self.now + 15 * M);
        // Ticket work trails the arrivals (customers answer hours later).
        let lagged = Self::curve(h).max(Self::curve((h + 22.0) % 24.0));
        let (phone, _) = Self::needs(&self.cfg, Self::curve(h));
        let (_, tickets) = Self::needs(&self.cfg, lagged);
        let roster = self.phone_roster;
        // Two at least, so a break never leaves a team empty; calls get one
        // spare agent (a queue of callers is less patient than a backlog).
        let want_phone = (phone.ceil() as usize + 1).max(2).min(roster);
        let want_tickets = (tickets.ceil() as usize)
            .max(2)
            .min(self.agents.len() - roster);
        for a in 0..self.agents.len() {
            let rank = if a < roster { a } else { a - roster };
            let want = if a < roster { want_phone } else { want_tickets };
            let (on_shift, busy, on_break) = {
                let g = &self.agents[a];
                (g.on_shift, g.busy, g.on_break)
            };
            if rank < want && !on_shift {
                self.agents[a].on_shift = true;
                self.agents[a].free_since = self.now;
                self.agent_status(a, "available");
                let first_break = self.now + 90 * M + self.rng.exp(60.0 * M as f64);
                self.at(first_break, Action::AgentBreak { agent: a });
                self.work(a);
            } else if rank >= want && on_shift {
                self.agents[a].on_shift = false;
                // A busy agent finishes the contact first (and goes home then).
                if !busy && !on_break {
                    self.agent_status(a, "offline");
                }
            }
        }
        self.at(self.now + 15 * M, Action::Staffing);
    }

    pub(super) fn arrival(&mut self) {
        let next = self.now + self.gap();
        self.at(next, Action::Arrival);
        let h = self.hour(self.now);
        let (base, extra) = (Self::curve(h), Self::incident(h));
        let max = 1.0 + INCIDENT_PEAK;
        let u = self.rng.f() * max;
        if u >= base + extra {
            return;
        }
        let c = self.customer();
        if u >= base {
            // The incident: customers who cannot log in, mostly on the phone
            // to the tech queue.
            let q = if self.rng.chance(0.7) {
                1 % self.cfg.queues.len()
            } else {
                self.rng.below(self.cfg.queues.len())
            };
            let call = self.rng.chance(0.6);
            self.contact(c, q, 1, call);
        } else {
            let q = self.rng.below(self.cfg.queues.len());
            let cat = self.rng.below(CATEGORIES.len()) as u8;
            let call = self.rng.chance(self.cfg.call_share);
            self.contact(c, q, cat, call);
        }
    }

    /// A new contact: a call or a ticket.
    pub(super) fn contact(&mut self, c: usize, q: usize, cat: u8, call: bool) {
        let category = CATEGORIES[cat as usize];
        let id = self.id();
        if call {
            let fields = format!(
                r#""call_id":"call-{id}","customer_id":"{}","queue":"{}","channel":"phone","category":"{category}""#,
                Self::cust(c),
                self.cfg.queues[q]
            );
            self.emit("call.queued", Self::cust(c), &fields);
            self.calls.insert(
                id,
                Call {
                    customer: c,
                    cat,
                    queue: q,
                    queued: self.now,
                    wait: 0,
                    agent: 0,
                    transferred: false,
                    ended: false,
                },
            );
            self.waiting.push_back(id);
            let patience = self.rng.exp(PATIENCE_MEAN);
            self.at(self.now + patience, Action::CallAbandon { call: id });
            self.dispatch_calls();
        } else {
            let ch = *self.rng.weighted(&[
                ("email", 0.45),
                ("web", 0.25),
                ("chat", 0.2),
                ("social", 0.06),
                ("sms", 0.04),
            ]);
            let p = *self
                .rng
                .weighted(&[(0usize, 0.08), (1, 0.2), (2, 0.57), (3, 0.15)]);
            let fields = format!(
                r#""ticket_id":"tkt-{id}","customer_id":"{}","channel":"{ch}","priority":"{}","queue":"{}","category":"{category}""#,
                Self::cust(c),
                PRIORITIES[p],
                self.cfg.queues[q]
            );
            self.emit("ticket.created", Self::cust(c), &fields);
            self.tickets.insert(
                id,
                Ticket {
                    customer: c,
                    queue: q,
                    priority: p,
                    created: self.now,
                    replies: 0,
                    first_response: None,
                    escalated: false,
                    resolved: false,
                    satisfied: true,
                },
            );
            self.backlog[p].push_back(id);
            self.dispatch_tickets();
        }
    }

    /// The on-duty agent of `team` idle longest, if any.
    pub(super) fn free_agent(&self, team: Team) -> Option<usize> {
        (0..self.agents.len())
            .filter(|&a| {
                let g = &self.agents[a];
                g.team == team && g.on_shift && !g.busy && !g.on_break
            })
            .min_by_key(|&a| (self.agents[a].free_since, a))
    }

    /// Gives waiting calls to free phone agents, oldest call first.
    pub(super) fn dispatch_calls(&mut self) {
        while !self.waiting.is_empty() {
            let Some(a) = self.free_agent(Team::Phone) else {
                return;
            };
            let id = self.waiting.pop_front().expect("not empty");
            self.answer(a, id);
        }
    }

    /// Gives waiting ticket work to free ticket agents, most urgent first.
    pub(super) fn dispatch_tickets(&mut self) {
        loop {
            let Some(p) = (0..4).find(|&p| !self.backlog[p].is_empty()) else {
                return;
            };
            let Some(a) = self.free_agent(Team::Tickets) else {
                return;
            };
            let t = self.backlog[p].pop_front().expect("not empty");
            if !self.tickets.contains_key(&t) {
                continue;
            }
            self.agents[a].busy = true;
            self.agents[a].work_started = self.now;
            self.agent_status(a, "busy");
            let d = self.rng.lognormal(WORK_MEDIAN, WORK_SIGMA).max(30 * S);
            self.at(
                self.now + d,
                Action::WorkDone {
                    agent: a,
                    ticket: t,
                },
            );
        }
    }

    /// An agent just became free: give it the work of its team.
    pub(super) fn work(&mut self, a: usize) {
        match self.agents[a].team {
            Team::Phone => self.dispatch_calls(),
            Team::Tickets => self.dispatch_tickets(),
        }
    }

    /// An agent finished a piece of work: free, on break, or home.
    pub(super) fn release(&mut self, a: usize) {
        self.agents[a].busy = false;
        self.agents[a].free_since = self.now;
        if !self.agents[a].on_shift {
            self.agent_status(a, "offline");
        } else {
            self.agent_status(a, "available");
            self.work(a);
        }
    }

    pub(super) fn answer(&mut self, a: usize, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.wait = self.now - call.queued;
        call.agent = a;
        let (c, q) = (call.customer, call.queue);
        self.agents[a].busy = true;
        self.agent_status(a, "busy");
        let aid = self.agents[a].id.clone();
        self.emit(
            "call.answered",
            Self::cust(c),
            &format!(r#""call_id":"call-{id}","agent_id":"{aid}""#),
        );
        let talk = self.rng.lognormal(TALK_MEDIAN, TALK_SIGMA).max(20 * S);
        if self.rng.chance(0.2) {
            self.at(self.now + talk / 3, Action::CallHold { call: id });
        }
        if self.rng.chance(0.07) {
            let escalation = self.rng.chance(0.5);
            let nq = (q + 1) % self.cfg.queues.len();
            let fields = format!(
                r#""call_id":"call-{id}","queue":"{}","escalation":{escalation}"#,
                self.cfg.queues[nq]
            );
            self.emit("call.transferred", Self::cust(c), &fields);
            if let Some(call) = self.calls.get_mut(&id) {
                call.transferred = true;
                call.queue = nq;
            }
        }
        self.at(self.now + talk, Action::CallEnd { call: id });
    }

    /// Surveys after a contact, each answered with its chance; the scores
    /// follow whether the customer was satisfied.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn survey(
        &mut self,
        key: &str,
        link: &str,
        satisfied: bool,
        csat: f64,
        nps: f64,
        ces: f64,
    ) {
        let key = key.to_string();
        if self.rng.chance(csat) {
            let score = if satisfied {
                if self.rng.chance(0.6) {
                    5
                } else {
                    4
                }
            } else {
                *self.rng.weighted(&[(3, 0.4), (2, 0.3), (1, 0.3)])
            };
            self.emit(
                "survey.csat",
                key.clone(),
                &format!(r#"{link},"score":{score}"#),
            );
        }
        if self.rng.chance(nps) {
            let score = if satisfied {
                *self.rng.weighted(&[
                    (10, 0.3),
                    (9, 0.3),
                    (8, 0.17),
                    (7, 0.13),
                    (6, 0.05),
                    (5, 0.05),
                ])
            } else {
                *self
                    .rng
                    .weighted(&[(8, 0.1), (7, 0.1), (6, 0.2), (4, 0.2), (2, 0.2), (0, 0.2)])
            };
            self.emit(
                "survey.nps",
                key.clone(),
                &format!(r#""customer_id":"{key}","score":{score}"#),
            );
        }
        if self.rng.chance(ces) {
            let score = if satisfied {
                1 + self.rng.below(3)
            } else {
                4 + self.rng.below(4)
            };
            self.emit("survey.ces", key, &format!(r#"{link},"score":{score}"#));
        }
    }
}
