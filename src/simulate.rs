//! `frontline simulate`: a support centre as an event source.
//!
//! A seeded discrete-event simulation: contacts arrive on a daily curve;
//! calls wait in per-queue FIFOs for free agents and abandon when their
//! patience runs out, so waits, abandons and SLA breaches grow when agents
//! are busy; tickets get replies, customer follow-ups, pending spells,
//! escalations, work logs, resolutions, reopens and surveys; agents move
//! through their statuses; a pool of customers with skewed activity makes
//! repeat contacts happen. The same seed gives the same events.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the random stream.
    pub seed: u64,
    /// Event time of the start, epoch ms.
    pub start_ms: i64,
    /// Contacts per hour at the daily peak.
    pub peak_per_hour: f64,
    /// Agents staffed.
    pub agents: usize,
    /// Queues (teams).
    pub queues: Vec<String>,
    /// Customers in the pool.
    pub customers: usize,
    /// Share of contacts that are calls.
    pub call_share: f64,
    /// Share of events also sent a second time (duplicates).
    pub duplicate_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_ms: 1_794_816_000_000, // Monday 2026-11-16T08:00:00Z
            peak_per_hour: 240.0,
            agents: 24,
            queues: ["billing", "tech", "sales", "returns"]
                .map(String::from)
                .to_vec(),
            customers: 2_000,
            call_share: 0.45,
            duplicate_rate: 0.002,
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
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Arrival,
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
        customer: usize,
    },
    TicketStep {
        ticket: u64,
        step: u8,
    },
    AgentBreak {
        agent: usize,
    },
    AgentBack {
        agent: usize,
    },
}

#[derive(Clone, Debug)]
struct WaitingCall {
    id: u64,
    customer: usize,
    queued: i64,
}

#[derive(Clone, Debug)]
struct Agent {
    id: String,
    queue: usize,
    busy: bool,
    on_break: bool,
}

/// The simulation; iterate it for events in time order.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    rng: Rng,
    now: i64,
    seq: u64,
    next_id: u64,
    agenda: BinaryHeap<Reverse<(i64, u64, Action)>>,
    waiting: Vec<VecDeque<WaitingCall>>,
    agents: Vec<Agent>,
    abandoned: std::collections::HashSet<u64>,
    out: VecDeque<SimEvent>,
    call_agent: std::collections::HashMap<u64, (usize, usize)>,
    ticket_state: std::collections::HashMap<u64, (usize, usize)>,
}

impl Simulator {
    /// A simulation from its config.
    pub fn new(cfg: SimConfig) -> Simulator {
        let queues = cfg.queues.len().max(1);
        let agents = (0..cfg.agents)
            .map(|i| Agent {
                id: format!("agent-{:03}", i + 1),
                queue: i % queues,
                busy: false,
                on_break: false,
            })
            .collect();
        let mut sim = Simulator {
            rng: Rng::new(cfg.seed),
            now: cfg.start_ms,
            seq: 0,
            next_id: 1,
            agenda: BinaryHeap::new(),
            waiting: vec![VecDeque::new(); queues],
            agents,
            abandoned: Default::default(),
            out: VecDeque::new(),
            call_agent: Default::default(),
            ticket_state: Default::default(),
            cfg,
        };
        let start = sim.now;
        for a in 0..sim.agents.len() {
            sim.agent_status(a, "available");
            let first_break = start + sim.rng.exp(2.0 * H as f64);
            sim.at(first_break, Action::AgentBreak { agent: a });
        }
        let first = start + sim.gap();
        sim.at(first, Action::Arrival);
        sim
    }

    fn at(&mut self, t: i64, a: Action) {
        self.seq += 1;
        self.agenda.push(Reverse((t, self.seq, a)));
    }

    /// Time to the next arrival on the daily curve (peak at 13:00 UTC, a
    /// quarter of the peak rate at night).
    fn gap(&mut self) -> i64 {
        let hour = (self.now.rem_euclid(24 * H)) as f64 / H as f64;
        let curve = 0.25 + 0.75 * (-(hour - 13.0).powi(2) / 18.0).exp();
        let rate_per_ms = self.cfg.peak_per_hour * curve / H as f64;
        self.rng.exp(1.0 / rate_per_ms).max(1)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A customer, skewed so a few are frequent (repeat contacts).
    fn customer(&mut self) -> usize {
        let u = self.rng.f();
        ((u * u * u) * self.cfg.customers as f64) as usize
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

    fn arrival(&mut self) {
        let c = self.customer();
        let q = self.rng.below(self.cfg.queues.len());
        let cat = *self
            .rng
            .pick(&["billing", "login", "shipping", "bug", "refund"]);
        if self.rng.chance(self.cfg.call_share) {
            let id = self.id();
            let fields = format!(
                r#""call_id":"call-{id}","customer_id":"{}","queue":"{}","channel":"phone","category":"{cat}""#,
                Self::cust(c),
                self.cfg.queues[q]
            );
            self.emit("call.queued", Self::cust(c), &fields);
            self.waiting[q].push_back(WaitingCall {
                id,
                customer: c,
                queued: self.now,
            });
            let patience = self.rng.exp(90.0 * S as f64);
            self.at(self.now + patience, Action::CallAbandon { call: id });
            self.dispatch(q);
        } else {
            let id = self.id();
            let ch = *self.rng.pick(&["email", "chat", "web", "social", "sms"]);
            let pr = *self
                .rng
                .pick(&["low", "normal", "normal", "normal", "high", "urgent"]);
            let fields = format!(
                r#""ticket_id":"tkt-{id}","customer_id":"{}","channel":"{ch}","priority":"{pr}","queue":"{}","category":"{cat}""#,
                Self::cust(c),
                self.cfg.queues[q]
            );
            self.emit("ticket.created", Self::cust(c), &fields);
            self.ticket_state.insert(id, (c, q));
            // Busy centres answer later.
            let load = self.agents.iter().filter(|a| a.busy).count() as f64
                / self.agents.len().max(1) as f64;
            let first = self.rng.exp((20.0 + 120.0 * load) * M as f64);
            self.at(
                self.now + first.max(S),
                Action::TicketStep {
                    ticket: id,
                    step: 0,
                },
            );
        }
        let next = self.now + self.gap();
        self.at(next, Action::Arrival);
    }

    /// Gives waiting calls of queue `q` to free agents of that queue.
    fn dispatch(&mut self, q: usize) {
        while !self.waiting[q].is_empty() {
            let Some(a) = (0..self.agents.len()).find(|&a| {
                self.agents[a].queue == q && !self.agents[a].busy && !self.agents[a].on_break
            }) else {
                return;
            };
            let call = self.waiting[q].pop_front().expect("not empty");
            self.agents[a].busy = true;
            self.agent_status(a, "busy");
            let aid = self.agents[a].id.clone();
            self.emit(
                "call.answered",
                Self::cust(call.customer),
                &format!(r#""call_id":"call-{}","agent_id":"{aid}""#, call.id),
            );
            self.call_agent.insert(call.id, (a, call.customer));
            let talk = self.rng.lognormal(4.0 * M as f64, 0.6).max(20 * S);
            if self.rng.chance(0.2) {
                let h = self.now + talk / 3;
                self.at(h, Action::CallHold { call: call.id });
            }
            if self.rng.chance(0.06) {
                let escalation = self.rng.chance(0.5);
                let nq = (q + 1) % self.cfg.queues.len();
                let fields = format!(
                    r#""call_id":"call-{}","queue":"{}","escalation":{escalation}"#,
                    call.id, self.cfg.queues[nq]
                );
                self.emit("call.transferred", Self::cust(call.customer), &fields);
            }
            let _ = call.queued;
            self.at(self.now + talk, Action::CallEnd { call: call.id });
        }
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Arrival => self.arrival(),
            Action::CallAbandon { call } => {
                for q in 0..self.waiting.len() {
                    if let Some(i) = self.waiting[q].iter().position(|w| w.id == call) {
                        let w = self.waiting[q].remove(i).expect("found");
                        self.abandoned.insert(call);
                        self.emit(
                            "call.abandoned",
                            Self::cust(w.customer),
                            &format!(r#""call_id":"call-{call}""#),
                        );
                    }
                }
            }
            Action::CallHold { call } => {
                if let Some(&(_, c)) = self.call_agent.get(&call) {
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
                if let Some(&(_, c)) = self.call_agent.get(&call) {
                    self.emit(
                        "call.hold_ended",
                        Self::cust(c),
                        &format!(r#""call_id":"call-{call}""#),
                    );
                }
            }
            Action::CallEnd { call } => {
                if let Some((a, c)) = self.call_agent.remove(&call) {
                    let resolved = self.rng.chance(0.75);
                    self.emit(
                        "call.ended",
                        Self::cust(c),
                        &format!(r#""call_id":"call-{call}","resolved":{resolved}"#),
                    );
                    self.agent_status(a, "after_call_work");
                    if self.rng.chance(0.25) {
                        let score = 1 + self.rng.below(5);
                        self.emit(
                            "survey.csat",
                            Self::cust(c),
                            &format!(r#""call_id":"call-{call}","score":{score}"#),
                        );
                    }
                    // Some wrap-ups are never reported (the ACW timeout closes them).
                    if self.rng.chance(0.97) {
                        let acw = self.rng.lognormal(45.0 * S as f64, 0.5);
                        self.at(
                            self.now + acw,
                            Action::Wrapup {
                                call,
                                agent: a,
                                customer: c,
                            },
                        );
                    } else {
                        self.at(
                            self.now + 10 * M,
                            Action::Wrapup {
                                call: 0,
                                agent: a,
                                customer: c,
                            },
                        );
                    }
                }
            }
            Action::Wrapup {
                call,
                agent,
                customer,
            } => {
                if call != 0 {
                    self.emit(
                        "call.wrapup_ended",
                        Self::cust(customer),
                        &format!(r#""call_id":"call-{call}""#),
                    );
                }
                self.agents[agent].busy = false;
                self.agent_status(agent, "available");
                let q = self.agents[agent].queue;
                self.dispatch(q);
            }
            Action::TicketStep { ticket, step } => self.ticket_step(ticket, step),
            Action::AgentBreak { agent } => {
                if self.agents[agent].busy {
                    self.at(self.now + 5 * M, Action::AgentBreak { agent });
                } else {
                    self.agents[agent].on_break = true;
                    self.agent_status(agent, "break");
                    let d = self.rng.exp(15.0 * M as f64).max(M);
                    self.at(self.now + d, Action::AgentBack { agent });
                }
            }
            Action::AgentBack { agent } => {
                self.agents[agent].on_break = false;
                self.agent_status(agent, "available");
                let next = self.now + self.rng.exp(2.0 * H as f64).max(30 * M);
                self.at(next, Action::AgentBreak { agent });
                let q = self.agents[agent].queue;
                self.dispatch(q);
            }
        }
    }

    /// A ticket's life: 0 first reply, 1 customer follow-up or pending (6: the
    /// customer answers), 2 second reply / escalation, 3 resolution, 4 reopen or close.
    fn ticket_step(&mut self, t: u64, step: u8) {
        let Some(&(c, q)) = self.ticket_state.get(&t) else {
            return;
        };
        let key = Self::cust(c);
        let agent = self.agents[self.rng.below(self.agents.len())].id.clone();
        let tid = format!("tkt-{t}");
        match step {
            0 => {
                if self.rng.chance(0.15) {
                    self.emit(
                        "ticket.agent_replied",
                        key.clone(),
                        &format!(r#""ticket_id":"{tid}","agent_id":"{agent}","public":false"#),
                    );
                }
                if self.rng.chance(0.3) {
                    let nq = self.rng.below(self.cfg.queues.len());
                    let fields = format!(
                        r#""ticket_id":"{tid}","agent_id":"{agent}","queue":"{}""#,
                        self.cfg.queues[nq]
                    );
                    self.emit("ticket.assigned", key.clone(), &fields);
                    self.ticket_state.insert(t, (c, nq));
                }
                self.emit(
                    "ticket.agent_replied",
                    key.clone(),
                    &format!(r#""ticket_id":"{tid}","agent_id":"{agent}""#),
                );
                let secs = 60 + self.rng.below(900);
                self.emit(
                    "ticket.work_logged",
                    key,
                    &format!(r#""ticket_id":"{tid}","agent_id":"{agent}","seconds":{secs}"#),
                );
                let next = if self.rng.chance(0.5) { 1 } else { 3 };
                let d = self.rng.exp(45.0 * M as f64).max(M);
                self.at(
                    self.now + d,
                    Action::TicketStep {
                        ticket: t,
                        step: next,
                    },
                );
            }
            1 if self.rng.chance(0.3) => {
                // Waiting on the customer, who answers later (which sets the ticket open again).
                self.emit(
                    "ticket.status_changed",
                    key,
                    &format!(r#""ticket_id":"{tid}","status":"pending""#),
                );
                let d = self.rng.exp(2.0 * H as f64).max(M);
                self.at(self.now + d, Action::TicketStep { ticket: t, step: 6 });
            }
            1 | 6 => {
                self.emit(
                    "ticket.customer_replied",
                    key,
                    &format!(r#""ticket_id":"{tid}""#),
                );
                let d = self.rng.exp(30.0 * M as f64).max(M);
                self.at(self.now + d, Action::TicketStep { ticket: t, step: 2 });
            }
            2 => {
                if self.rng.chance(0.12) {
                    self.emit(
                        "ticket.escalated",
                        key.clone(),
                        &format!(r#""ticket_id":"{tid}","level":2"#),
                    );
                }
                if self.rng.chance(0.1) {
                    self.emit(
                        "ticket.priority_changed",
                        key.clone(),
                        &format!(r#""ticket_id":"{tid}","priority":"urgent""#),
                    );
                }
                self.emit(
                    "ticket.agent_replied",
                    key,
                    &format!(r#""ticket_id":"{tid}","agent_id":"{agent}""#),
                );
                let d = self.rng.exp(60.0 * M as f64).max(M);
                self.at(self.now + d, Action::TicketStep { ticket: t, step: 3 });
            }
            3 => {
                self.emit(
                    "ticket.resolved",
                    key.clone(),
                    &format!(r#""ticket_id":"{tid}","agent_id":"{agent}""#),
                );
                if self.rng.chance(0.3) {
                    let score = 1 + self.rng.below(5);
                    let _ = q;
                    self.emit(
                        "survey.csat",
                        key.clone(),
                        &format!(r#""ticket_id":"{tid}","score":{score}"#),
                    );
                }
                if self.rng.chance(0.1) {
                    let score = self.rng.below(11);
                    self.emit(
                        "survey.nps",
                        key.clone(),
                        &format!(r#""customer_id":"{key}","score":{score}"#),
                    );
                }
                if self.rng.chance(0.1) {
                    let score = 1 + self.rng.below(7);
                    self.emit(
                        "survey.ces",
                        key,
                        &format!(r#""ticket_id":"{tid}","score":{score}"#),
                    );
                }
                let d = self.rng.exp(3.0 * H as f64).max(M);
                self.at(self.now + d, Action::TicketStep { ticket: t, step: 4 });
            }
            4 => {
                if self.rng.chance(0.07) {
                    self.emit("ticket.reopened", key, &format!(r#""ticket_id":"{tid}""#));
                    let d = self.rng.exp(30.0 * M as f64).max(M);
                    self.at(self.now + d, Action::TicketStep { ticket: t, step: 2 });
                } else {
                    self.emit("ticket.closed", key, &format!(r#""ticket_id":"{tid}""#));
                    self.ticket_state.remove(&t);
                }
            }
            _ => {}
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
            // A pending spell can move `now` past queued actions; time never goes back.
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
