//! `frontline simulate`: a support centre as an event source.
//!
//! A seeded discrete-event simulation of a blended centre, calibrated to
//! the benchmarks the KPI guides quote (docs/simulation.md):
//!
//! - contacts arrive on a daily curve of the centre's local time (quiet
//!   nights, a business-hours plateau) plus one unforecast incident a day
//!   (12:00–13:30 local, login trouble) that doubles the load;
//! - agents work shifts planned from the forecast curve (not from the
//!   incident): a phone team staffed for about 78 % occupancy and a ticket
//!   team for about 85 %, with breaks;
//! - calls wait in one queue for the longest-idle phone agent and abandon
//!   when their patience runs out, so answer waits, abandons and answer-SLA
//!   breaches come from agents actually being busy;
//! - ticket work (each reply) waits in a backlog ordered by priority for a
//!   ticket agent, so first responses and their SLA breaches grow with the
//!   backlog; the logged work is the time the agent spent;
//! - satisfaction is drawn per contact from what happened to it (resolved
//!   or not, waits, rounds, escalation) and drives CSAT, NPS, CES and
//!   reopens; unresolved calls and abandons make customers contact again
//!   (repeat contacts).
//!
//! The same seed gives the same events.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the random stream.
    pub seed: u64,
    /// Event time of the start, epoch ms.
    pub start_ms: i64,
    /// Contacts per hour at the daily peak (the incident comes on top).
    pub peak_per_hour: f64,
    /// Agents on the roster; shifts put on duty at most this many, as many
    /// as the forecast needs.
    pub agents: usize,
    /// Queues (teams).
    pub queues: Vec<String>,
    /// Customers in the pool.
    pub customers: usize,
    /// Share of contacts that are calls.
    pub call_share: f64,
    /// Share of events also sent a second time (duplicates).
    pub duplicate_rate: f64,
    /// The centre's local time: hours east of UTC. The daily curve, the
    /// shifts and the incident follow local time.
    pub utc_offset_hours: i32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_ms: 1_794_816_000_000, // Monday 2026-11-16T08:00:00Z
            peak_per_hour: 240.0,
            agents: 48,
            queues: ["billing", "tech", "sales", "returns"]
                .map(String::from)
                .to_vec(),
            customers: 12_000,
            call_share: 0.45,
            duplicate_rate: 0.002,
            utc_offset_hours: 0,
        }
    }
}

/// One simulated event.
#[derive(Clone, Debug, PartialEq)]
pub struct SimEvent {
    /// Event time, epoch ms.
    pub ts: i64,
    /// The Kafka message key (customer id, or agent id for agent events).
    pub key: String,
    /// The JSON line.
    pub json: String,
}

/// xoshiro256** seeded by SplitMix64: small, fast and good enough for load.
#[derive(Clone, Debug)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    fn below(&mut self, n: usize) -> usize {
        (self.f() * n as f64) as usize % n.max(1)
    }
    /// Exponential with the given mean (ms).
    fn exp(&mut self, mean: f64) -> i64 {
        (-(1.0 - self.f()).ln() * mean) as i64
    }
    /// Log-normal with the given median (ms) and spread.
    fn lognormal(&mut self, median: f64, sigma: f64) -> i64 {
        let (u1, u2) = (1.0 - self.f(), self.f());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (sigma * z).exp()) as i64
    }
    /// One of `xs` with the given weights.
    fn weighted<'a, T>(&mut self, xs: &'a [(T, f64)]) -> &'a T {
        let total: f64 = xs.iter().map(|x| x.1).sum();
        let mut u = self.f() * total;
        for (x, w) in xs {
            if u < *w {
                return x;
            }
            u -= w;
        }
        &xs[xs.len() - 1].0
    }
}

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const DAY: i64 = 24 * H;

/// Share of the peak arrival rate at each local hour (interpolated).
const DAILY_CURVE: [f64; 25] = [
    0.05, 0.04, 0.03, 0.03, 0.04, 0.06, 0.12, 0.30, 0.60, 0.90, 1.00, 0.95, 0.85, 0.90, 0.95, 0.90,
    0.80, 0.60, 0.40, 0.28, 0.20, 0.14, 0.10, 0.07, 0.05,
];
/// The daily incident, local time: ramps up from 12:00, full from 12:15 to
/// 13:00, over at 13:30; at full strength it adds `INCIDENT_PEAK` × the peak rate.
const INCIDENT: (f64, f64, f64, f64) = (12.0, 12.25, 13.0, 13.5);
const INCIDENT_PEAK: f64 = 0.6;

/// Talk time and after-call work (log-normal medians).
const TALK_MEDIAN: f64 = 4.0 * M as f64;
const TALK_SIGMA: f64 = 0.5;
const ACW_MEDIAN: f64 = 40.0 * S as f64;
const ACW_SIGMA: f64 = 0.5;
/// Agent time per ticket reply (log-normal).
const WORK_MEDIAN: f64 = 5.0 * M as f64;
const WORK_SIGMA: f64 = 0.45;
/// Replies per ticket, on average, for the staffing forecast.
const REPLIES_PER_TICKET: f64 = 1.7;
/// Occupancy the shifts are planned for, and the share of a phone shift
/// not on break (a ticket backlog waits out a break).
const PHONE_OCCUPANCY: f64 = 0.75;
const TICKET_OCCUPANCY: f64 = 0.9;
const ON_DUTY_SHARE: f64 = 0.88;
/// Mean patience of a waiting caller.
const PATIENCE_MEAN: f64 = 150.0 * S as f64;

const CATEGORIES: [&str; 5] = ["billing", "login", "shipping", "bug", "refund"];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// A candidate arrival of the thinned Poisson process.
    Arrival,
    /// A customer comes back about an earlier contact.
    Return {
        customer: usize,
        queue: usize,
        cat: u8,
        call: bool,
    },
    Staffing,
    CallAbandon {
        call: u64,
    },
    CallHold {
        call: u64,
    },
    CallUnhold {
        call: u64,
    },
    CallEnd {
        call: u64,
    },
    Wrapup {
        call: u64,
        agent: usize,
        report: bool,
    },
    WorkDone {
        agent: usize,
        ticket: u64,
    },
    CustomerReply {
        ticket: u64,
    },
    AfterResolution {
        ticket: u64,
    },
    AgentBreak {
        agent: usize,
    },
    AgentBack {
        agent: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Team {
    Phone,
    Tickets,
}

#[derive(Clone, Debug)]
struct Agent {
    id: String,
    queue: usize,
    team: Team,
    on_shift: bool,
    busy: bool,
    on_break: bool,
    /// Idle since (the longest-idle agent takes the next call).
    free_since: i64,
    /// When the current piece of work began.
    work_started: i64,
}

#[derive(Clone, Debug)]
struct Call {
    customer: usize,
    cat: u8,
    queue: usize,
    queued: i64,
    wait: i64,
    agent: usize,
    transferred: bool,
    /// Talk ended (hold events stop).
    ended: bool,
}

#[derive(Clone, Debug)]
struct Ticket {
    customer: usize,
    queue: usize,
    priority: usize,
    created: i64,
    /// Public replies so far.
    replies: u32,
    first_response: Option<i64>,
    escalated: bool,
    resolved: bool,
    /// Satisfied with how it went (drawn at resolution).
    satisfied: bool,
}

const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];

/// The simulation; iterate it for events in time order.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    rng: Rng,
    now: i64,
    seq: u64,
    next_id: u64,
    agenda: BinaryHeap<Reverse<(i64, u64, Action)>>,
    /// Calls waiting for a phone agent, oldest first.
    waiting: VecDeque<u64>,
    /// Ticket replies waiting for a ticket agent, by priority (urgent first).
    backlog: [VecDeque<u64>; 4],
    agents: Vec<Agent>,
    calls: HashMap<u64, Call>,
    tickets: HashMap<u64, Ticket>,
    out: VecDeque<SimEvent>,
    /// Agents of the roster in the phone team (the first ones; the rest work tickets).
    phone_roster: usize,
}

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
    fn needs(cfg: &SimConfig, curve: f64) -> (f64, f64) {
        let rate = cfg.peak_per_hour * curve / H as f64; // contacts per ms
        let aht = TALK_MEDIAN * (TALK_SIGMA * TALK_SIGMA / 2.0).exp()
            + ACW_MEDIAN * (ACW_SIGMA * ACW_SIGMA / 2.0).exp();
        let work = WORK_MEDIAN * (WORK_SIGMA * WORK_SIGMA / 2.0).exp() * REPLIES_PER_TICKET;
        let phone = rate * cfg.call_share * aht / PHONE_OCCUPANCY / ON_DUTY_SHARE;
        let tickets = rate * (1.0 - cfg.call_share) * work / TICKET_OCCUPANCY;
        (phone, tickets)
    }

    fn at(&mut self, t: i64, a: Action) {
        self.seq += 1;
        self.agenda.push(Reverse((t, self.seq, a)));
    }

    /// Local hour of day at `t`, 0..24.
    fn hour(&self, t: i64) -> f64 {
        (t + i64::from(self.cfg.utc_offset_hours) * H).rem_euclid(DAY) as f64 / H as f64
    }

    /// The forecast share of the peak rate at local hour `h`.
    fn curve(h: f64) -> f64 {
        let i = (h.floor() as usize).min(23);
        let f = h - i as f64;
        DAILY_CURVE[i] * (1.0 - f) + DAILY_CURVE[i + 1] * f
    }

    /// The incident's extra share of the peak rate at local hour `h`.
    fn incident(h: f64) -> f64 {
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
    fn gap(&mut self) -> i64 {
        let max = self.cfg.peak_per_hour * (1.0 + INCIDENT_PEAK) / H as f64;
        self.rng.exp(1.0 / max).max(1)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A customer of the pool, mildly skewed (some contact more often).
    fn customer(&mut self) -> usize {
        let u = self.rng.f();
        ((u * u) * self.cfg.customers.max(1) as f64) as usize
    }

    fn emit(&mut self, ty: &str, key: String, fields: &str) {
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

    fn agent_status(&mut self, a: usize, status: &str) {
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

    fn cust(c: usize) -> String {
        format!("cust-{c:05}")
    }

    /// Puts on duty (or sends home) agents of each team to match the
    /// forecast of the next quarter hour; runs every 15 minutes.
    fn staffing(&mut self) {
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

    fn arrival(&mut self) {
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
    fn contact(&mut self, c: usize, q: usize, cat: u8, call: bool) {
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
    fn free_agent(&self, team: Team) -> Option<usize> {
        (0..self.agents.len())
            .filter(|&a| {
                let g = &self.agents[a];
                g.team == team && g.on_shift && !g.busy && !g.on_break
            })
            .min_by_key(|&a| (self.agents[a].free_since, a))
    }

    /// Gives waiting calls to free phone agents, oldest call first.
    fn dispatch_calls(&mut self) {
        while !self.waiting.is_empty() {
            let Some(a) = self.free_agent(Team::Phone) else {
                return;
            };
            let id = self.waiting.pop_front().expect("not empty");
            self.answer(a, id);
        }
    }

    /// Gives waiting ticket work to free ticket agents, most urgent first.
    fn dispatch_tickets(&mut self) {
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
    fn work(&mut self, a: usize) {
        match self.agents[a].team {
            Team::Phone => self.dispatch_calls(),
            Team::Tickets => self.dispatch_tickets(),
        }
    }

    /// An agent finished a piece of work: free, on break, or home.
    fn release(&mut self, a: usize) {
        self.agents[a].busy = false;
        self.agents[a].free_since = self.now;
        if !self.agents[a].on_shift {
            self.agent_status(a, "offline");
        } else {
            self.agent_status(a, "available");
            self.work(a);
        }
    }

    fn answer(&mut self, a: usize, id: u64) {
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
    fn survey(&mut self, key: &str, link: &str, satisfied: bool, csat: f64, nps: f64, ces: f64) {
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

    fn step(&mut self, action: Action) {
        match action {
            Action::Arrival => self.arrival(),
            Action::Return {
                customer,
                queue,
                cat,
                call,
            } => self.contact(customer, queue, cat, call),
            Action::Staffing => self.staffing(),
            Action::CallAbandon { call } => {
                if let Some(i) = self.waiting.iter().position(|&w| w == call) {
                    self.waiting.remove(i);
                    let w = self.calls.remove(&call).expect("a waiting call is known");
                    self.emit(
                        "call.abandoned",
                        Self::cust(w.customer),
                        &format!(r#""call_id":"call-{call}""#),
                    );
                    // Most who gave up try again a little later.
                    if self.now - w.queued >= 5 * S && self.rng.chance(0.5) {
                        let d = self.rng.exp(15.0 * M as f64).max(M);
                        self.at(
                            self.now + d,
                            Action::Return {
                                customer: w.customer,
                                queue: w.queue,
                                cat: w.cat,
                                call: true,
                            },
                        );
                    }
                }
            }
            Action::CallHold { call } => {
                if let Some(c) = self.talking(call) {
                    self.emit(
                        "call.hold_started",
                        Self::cust(c),
                        &format!(r#""call_id":"call-{call}""#),
                    );
                    let d = self.rng.exp(40.0 * S as f64).max(S);
                    self.at(self.now + d, Action::CallUnhold { call });
                }
            }
            Action::CallUnhold { call } => {
                if let Some(c) = self.talking(call) {
                    self.emit(
                        "call.hold_ended",
                        Self::cust(c),
                        &format!(r#""call_id":"call-{call}""#),
                    );
                }
            }
            Action::CallEnd { call } => self.call_end(call),
            Action::Wrapup {
                call,
                agent,
                report,
            } => {
                if let Some(c) = self.calls.remove(&call) {
                    if report {
                        self.emit(
                            "call.wrapup_ended",
                            Self::cust(c.customer),
                            &format!(r#""call_id":"call-{call}""#),
                        );
                    }
                }
                self.release(agent);
            }
            Action::WorkDone { agent, ticket } => {
                self.ticket_work(agent, ticket);
                self.release(agent);
            }
            Action::CustomerReply { ticket } => {
                if let Some(t) = self.tickets.get(&ticket) {
                    let key = Self::cust(t.customer);
                    let p = t.priority;
                    self.emit(
                        "ticket.customer_replied",
                        key,
                        &format!(r#""ticket_id":"tkt-{ticket}""#),
                    );
                    self.backlog[p].push_back(ticket);
                    self.dispatch_tickets();
                }
            }
            Action::AfterResolution { ticket } => {
                let Some(t) = self.tickets.get(&ticket) else {
                    return;
                };
                let key = Self::cust(t.customer);
                // Unhappy customers reopen more often.
                let p_reopen = if t.satisfied { 0.03 } else { 0.2 };
                if self.rng.chance(p_reopen) {
                    self.emit(
                        "ticket.reopened",
                        key,
                        &format!(r#""ticket_id":"tkt-{ticket}""#),
                    );
                    let t = self.tickets.get_mut(&ticket).expect("checked");
                    t.resolved = false;
                    let p = t.priority;
                    self.backlog[p].push_back(ticket);
                    self.dispatch_tickets();
                } else {
                    self.emit(
                        "ticket.closed",
                        key,
                        &format!(r#""ticket_id":"tkt-{ticket}""#),
                    );
                    self.tickets.remove(&ticket);
                }
            }
            Action::AgentBreak { agent } => {
                let g = &self.agents[agent];
                if !g.on_shift || g.on_break {
                    // Off duty: the next shift schedules its own break.
                } else if g.busy {
                    self.at(self.now + 5 * M, Action::AgentBreak { agent });
                } else {
                    self.agents[agent].on_break = true;
                    self.agent_status(agent, "break");
                    let d = self.rng.exp(12.0 * M as f64).max(5 * M);
                    self.at(self.now + d, Action::AgentBack { agent });
                }
            }
            Action::AgentBack { agent } => {
                self.agents[agent].on_break = false;
                self.agents[agent].free_since = self.now;
                if !self.agents[agent].on_shift {
                    self.agent_status(agent, "offline");
                } else {
                    self.agent_status(agent, "available");
                    let next = self.now + 90 * M + self.rng.exp(60.0 * M as f64);
                    self.at(next, Action::AgentBreak { agent });
                    self.work(agent);
                }
            }
        }
    }

    /// The customer of a call still in talk.
    fn talking(&self, id: u64) -> Option<usize> {
        self.calls.get(&id).filter(|c| !c.ended).map(|c| c.customer)
    }

    fn call_end(&mut self, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.ended = true;
        let call = call.clone();
        let key = Self::cust(call.customer);
        let resolved = self.rng.chance(if call.transferred { 0.6 } else { 0.85 });
        self.emit(
            "call.ended",
            key.clone(),
            &format!(r#""call_id":"call-{id}","resolved":{resolved}"#),
        );
        let a = call.agent;
        self.agent_status(a, "after_call_work");
        // Satisfaction: resolution first, then the wait (each minute beyond
        // the 20 s target costs about 12 points).
        let base = if resolved { 0.88 } else { 0.3 };
        let waited = (call.wait - 20 * S).max(0) as f64 / M as f64;
        let satisfied = self.rng.chance((base - 0.12 * waited).max(0.05));
        self.survey(
            &key,
            &format!(r#""call_id":"call-{id}""#),
            satisfied,
            0.25,
            0.08,
            0.1,
        );
        if !resolved && self.rng.chance(0.7) {
            let d = self.rng.exp(3.0 * H as f64).max(5 * M);
            let again = self.rng.chance(0.6);
            self.at(
                self.now + d,
                Action::Return {
                    customer: call.customer,
                    queue: call.queue,
                    cat: call.cat,
                    call: again,
                },
            );
        }
        // Some wrap-ups are never reported (the ACW timeout closes them).
        let report = self.rng.chance(0.97);
        let acw = self.rng.lognormal(ACW_MEDIAN, ACW_SIGMA).max(S);
        self.at(
            self.now + acw,
            Action::Wrapup {
                call: id,
                agent: a,
                report,
            },
        );
    }

    /// A ticket agent finished a reply to ticket `id`.
    fn ticket_work(&mut self, agent: usize, id: u64) {
        let Some(t) = self.tickets.get(&id).cloned() else {
            return;
        };
        let key = Self::cust(t.customer);
        let aid = self.agents[agent].id.clone();
        let tid = format!("tkt-{id}");
        if t.replies == 0 && self.rng.chance(0.3) {
            // Triage moves a ticket to the team that owns it.
            let nq = self.rng.below(self.cfg.queues.len());
            let fields = format!(
                r#""ticket_id":"{tid}","agent_id":"{aid}","queue":"{}""#,
                self.cfg.queues[nq]
            );
            self.emit("ticket.assigned", key.clone(), &fields);
            self.tickets.get_mut(&id).expect("known").queue = nq;
        }
        if self.rng.chance(0.1) {
            self.emit(
                "ticket.agent_replied",
                key.clone(),
                &format!(r#""ticket_id":"{tid}","agent_id":"{aid}","public":false"#),
            );
        }
        self.emit(
            "ticket.agent_replied",
            key.clone(),
            &format!(r#""ticket_id":"{tid}","agent_id":"{aid}""#),
        );
        // The agent's time on this reply is the work logged.
        let secs = (self.now - self.agents[agent].work_started) / S;
        self.emit(
            "ticket.work_logged",
            key.clone(),
            &format!(r#""ticket_id":"{tid}","agent_id":"{aid}","seconds":{secs}"#),
        );
        let t = {
            let tm = self.tickets.get_mut(&id).expect("known");
            tm.replies += 1;
            if tm.first_response.is_none() {
                tm.first_response = Some(self.now - tm.created);
            }
            tm.clone()
        };
        let resolve = if t.replies == 1 {
            self.rng.chance(0.55)
        } else {
            self.rng.chance(0.65)
        };
        if resolve {
            self.emit(
                "ticket.resolved",
                key.clone(),
                &format!(r#""ticket_id":"{tid}","agent_id":"{aid}""#),
            );
            // Satisfaction: fast first response, few rounds, no escalation.
            let frt_h = t.first_response.unwrap_or(0) as f64 / H as f64;
            let p = 0.9
                - 0.06 * (t.replies.saturating_sub(1)) as f64
                - if t.escalated { 0.1 } else { 0.0 }
                - (0.08 * frt_h).min(0.4);
            let satisfied = self.rng.chance(p.max(0.05));
            let tm = self.tickets.get_mut(&id).expect("known");
            tm.resolved = true;
            tm.satisfied = satisfied;
            self.survey(
                &key,
                &format!(r#""ticket_id":"{tid}""#),
                satisfied,
                0.3,
                0.1,
                0.1,
            );
            let d = self.rng.exp(4.0 * H as f64).max(M);
            self.at(self.now + d, Action::AfterResolution { ticket: id });
        } else {
            if !t.escalated && self.rng.chance(0.12) {
                self.emit(
                    "ticket.escalated",
                    key.clone(),
                    &format!(r#""ticket_id":"{tid}","level":2"#),
                );
                self.tickets.get_mut(&id).expect("known").escalated = true;
            }
            if self.rng.chance(0.05) && t.priority > 0 {
                self.emit(
                    "ticket.priority_changed",
                    key.clone(),
                    &format!(r#""ticket_id":"{tid}","priority":"urgent""#),
                );
                self.tickets.get_mut(&id).expect("known").priority = 0;
            }
            // Waiting on the customer, who answers later (which sets the
            // ticket open again); a ticket left pending waits longest.
            let mean = if self.rng.chance(0.3) {
                self.emit(
                    "ticket.status_changed",
                    key,
                    &format!(r#""ticket_id":"{tid}","status":"pending""#),
                );
                8.0 * H as f64
            } else {
                H as f64
            };
            let d = self.rng.exp(mean).max(2 * M);
            self.at(self.now + d, Action::CustomerReply { ticket: id });
        }
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            if let Some(ev) = self.out.pop_front() {
                return Some(ev);
            }
            let Reverse((t, _, action)) = self.agenda.pop()?;
            self.now = self.now.max(t);
            self.step(action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::decode::decode;
    use crate::engine::Engine;

    #[test]
    fn events_are_valid_ordered_and_reproducible() {
        let events: Vec<SimEvent> = Simulator::new(SimConfig::default()).take(20_000).collect();
        let again: Vec<SimEvent> = Simulator::new(SimConfig::default()).take(20_000).collect();
        assert_eq!(events, again);
        let mut engine = Engine::new(&Config::default());
        let mut last = i64::MIN;
        for e in &events {
            assert!(e.ts >= last, "events go back in time");
            last = e.ts;
            let ev =
                decode(e.json.as_bytes(), 65536).unwrap_or_else(|err| panic!("{}: {err}", e.json));
            engine.apply(ev);
        }
        engine.flush();
        let text = crate::export::prometheus_text(std::sync::Arc::new(engine.snapshot(None)));
        // The centre shows everything a dashboard needs: abandons, repeats, duplicates, escalations.
        for needle in [
            "support_calls_abandoned_total",
            "support_repeat_contacts_total",
            "support_escalations_total",
            "support_tickets_reopened_total",
            "support_csat_responses_total",
            "frontline_duplicate_events_total",
            "support_handle_seconds_count",
            "support_window_ratio{kpi=\"utilization\"",
        ] {
            assert!(text.contains(needle), "no {needle} in a simulated day");
        }
        assert!(
            !text.contains("frontline_out_of_order_events_total"),
            "simulated lifecycles are consistent:\n{}",
            text.lines()
                .filter(|l| l.starts_with("frontline_out_of_order"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// How fast to produce simulated events.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Simulated seconds per wall second (0: as fast as possible).
    pub speed: f64,
    /// At most this many events per wall second (0: no cap).
    pub rate: f64,
    /// Never send an event before wall-clock time reaches its `ts`: a
    /// simulation started in the past runs at `speed` until it reaches the
    /// present, then in real time, so it stays within the processor's
    /// `time.max_future_skew`.
    pub not_ahead_of_wall_clock: bool,
}

/// How long to wait before sending an event at `ts` when the simulation
/// must not run ahead of the wall clock (`wall_ms`, epoch ms).
pub fn wait_for_wall_clock(ts: i64, wall_ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(ts.saturating_sub(wall_ms).max(0) as u64)
}

/// Produces simulated events to a Kafka topic, keyed by customer (agent
/// events by agent), paced in wall time, until `end_ms` of simulated time
/// or `shutdown`. Returns the number of events acknowledged.
pub async fn produce(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    sim: Simulator,
    pace: Pace,
    end_ms: i64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<u64, rdkafka::error::KafkaError> {
    use rdkafka::producer::FutureRecord;
    use std::time::{Duration, Instant};

    let wall0 = Instant::now();
    let mut sim0: Option<i64> = None;
    let mut sent = 0u64;
    let mut inflight = Vec::new();
    for ev in sim {
        if ev.ts >= end_ms || *shutdown.borrow() {
            break;
        }
        let t0 = *sim0.get_or_insert(ev.ts);
        let mut due = Duration::ZERO;
        if pace.speed > 0.0 {
            due = due.max(Duration::from_secs_f64(
                (ev.ts - t0) as f64 / 1000.0 / pace.speed,
            ));
        }
        if pace.rate > 0.0 {
            due = due.max(Duration::from_secs_f64(sent as f64 / pace.rate));
        }
        let elapsed = wall0.elapsed();
        if pace.not_ahead_of_wall_clock {
            let wait = wait_for_wall_clock(ev.ts, jiff::Timestamp::now().as_millisecond());
            due = due.max(elapsed + wait);
        }
        if due > elapsed {
            tokio::select! {
                _ = tokio::time::sleep(due - elapsed) => {}
                _ = shutdown.changed() => break,
            }
        }
        let record = FutureRecord::to(topic).key(&ev.key).payload(&ev.json);
        inflight.push(producer.send_result(record).map_err(|(e, _)| e)?);
        sent += 1;
        if inflight.len() >= 1000 {
            for f in inflight.drain(..) {
                if let Ok(Err((e, _))) = f.await {
                    return Err(e);
                }
            }
        }
    }
    for f in inflight {
        if let Ok(Err((e, _))) = f.await {
            return Err(e);
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod pace_tests {
    use super::wait_for_wall_clock;
    use std::time::Duration;

    /// Issue 10, defect 3: the embedded demo ran at 120x from wall time, so
    /// its events were hours ahead of the wall clock and would be rejected
    /// as future timestamps. An event in the past goes at once; one ahead
    /// waits until the wall clock reaches it.
    #[test]
    fn a_simulation_never_runs_ahead_of_the_wall_clock() {
        assert_eq!(wait_for_wall_clock(1_000, 5_000), Duration::ZERO);
        assert_eq!(wait_for_wall_clock(5_000, 5_000), Duration::ZERO);
        assert_eq!(
            wait_for_wall_clock(7_500, 5_000),
            Duration::from_millis(2_500)
        );
    }
}
