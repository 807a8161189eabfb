//! A deterministic, synthetic support-centre event stream (SPEC §1) as JSON
//! lines, for benchmarks.
//!
//! The stream is generated in-process from a seed, so every run (and every
//! machine) measures the same bytes. It mimics one partition of a mid-sized
//! support centre: about 40 % ticket lifecycle events over thousands of open
//! tickets, 35 % call events over ~100 live calls, 15 % agent status changes
//! over 200 agents, 10 % surveys; 20 queues; event times a few milliseconds
//! to seconds apart, with a little disorder between (never within) entities.
//! Every line is a valid event, and every lifecycle is a legal one, so the
//! engine takes its normal paths rather than the out-of-order ones.

use std::collections::VecDeque;
use std::io::Write;
use std::ops::Range;

/// 2026-11-22T00:00:00Z in epoch milliseconds.
pub const START_MS: i64 = 1_795_305_600_000;

/// The queues (teams) of the centre.
pub const QUEUES: [&str; 20] = [
    "billing",
    "technical",
    "accounts",
    "shipping",
    "returns",
    "sales",
    "onboarding",
    "enterprise",
    "vip",
    "payments",
    "fraud",
    "mobile-app",
    "web-app",
    "integrations",
    "api",
    "hardware",
    "warranty",
    "partners",
    "tier2",
    "general",
];

const CATEGORIES: [&str; 12] = [
    "login",
    "refund",
    "invoice",
    "delivery-delay",
    "damaged-item",
    "password-reset",
    "bug-report",
    "feature-request",
    "cancellation",
    "upgrade",
    "outage",
    "how-to",
];

const TICKET_CHANNELS: [(&str, u32); 5] = [
    ("email", 45),
    ("chat", 25),
    ("web", 20),
    ("social", 6),
    ("sms", 4),
];

const PRIORITIES: [(&str, u32); 4] = [("low", 20), ("normal", 55), ("high", 20), ("urgent", 5)];

const AGENT_STATUSES: [(&str, u32); 5] = [
    ("available", 35),
    ("busy", 30),
    ("after_call_work", 20),
    ("break", 10),
    ("offline", 5),
];

const COMMENTS: [&str; 4] = [
    "Quick and friendly, thanks!",
    "Took three emails to get an answer.",
    "Solved on the first call.",
    "The agent did not understand the problem",
];

/// Agents in the centre.
pub const AGENTS: u64 = 200;

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) < p * (1u64 << 53) as f64
    }

    fn weighted<'a>(&mut self, table: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut r = self.below(total as u64) as u32;
        for (v, w) in table {
            if r < *w {
                return v;
            }
            r -= w;
        }
        table[table.len() - 1].0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    /// Number of events (lines).
    pub events: usize,
    /// Seed of the random stream.
    pub seed: u64,
    /// Tickets kept in progress at once (after the ramp-up).
    pub open_tickets: usize,
    /// Calls kept in progress (waiting, talking, wrap-up) at once.
    pub live_calls: usize,
    /// Distinct customers.
    pub customers: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            events: 300_000,
            seed: 0x5EED_F00D,
            open_tickets: 10_000,
            live_calls: 100,
            customers: 50_000,
        }
    }
}

/// The generated lines, back to back.
pub struct Corpus {
    /// Every line, each followed by `\n`.
    pub bytes: Vec<u8>,
    /// Each line's bytes in [`Corpus::bytes`], without the newline.
    pub lines: Vec<Range<usize>>,
    /// Events per type, in first-seen order.
    pub mix: Vec<(&'static str, usize)>,
    /// Event time of the first and of the last line (epoch ms).
    pub span: (i64, i64),
}

impl Corpus {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// The lines, without newlines.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.lines.iter().map(|r| &self.bytes[r.clone()])
    }
}

/// Writes one JSON object field by field; ids and names need no escaping.
struct Json<'a>(&'a mut Vec<u8>);

impl<'a> Json<'a> {
    fn begin(out: &'a mut Vec<u8>, event: u64, ty: &str, ts: i64, rfc3339: bool) -> Json<'a> {
        write!(out, r#"{{"event_id":"e-{event}","type":"{ty}","ts":"#).expect("vec");
        if rfc3339 {
            out.push(b'"');
            write_rfc3339(out, ts);
            out.push(b'"');
        } else {
            write!(out, "{ts}").expect("vec");
        }
        Json(out)
    }

    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        write!(self.0, r#","{k}":"{v}""#).expect("vec");
        self
    }

    fn id(&mut self, k: &str, prefix: &str, n: u64) -> &mut Self {
        write!(self.0, r#","{k}":"{prefix}{n:08}""#).expect("vec");
        self
    }

    fn raw(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Self {
        write!(self.0, r#","{k}":{v}"#).expect("vec");
        self
    }

    fn end(&mut self) {
        self.0.extend_from_slice(b"}\n");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn write_rfc3339(out: &mut Vec<u8>, ms: i64) {
    let t = jiff::Timestamp::from_millisecond(ms).expect("corpus times are in range");
    write!(out, "{}", t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")).expect("vec");
}

#[derive(Clone, Copy, Debug)]
enum TicketStep {
    Assigned { requeue: bool },
    Reply { public: bool },
    CustomerReplied,
    Status(&'static str),
    Work,
    Resolved,
    Closed,
}

#[derive(Clone, Copy, Debug)]
enum CallStep {
    Answered,
    Abandoned,
    HoldStarted,
    HoldEnded,
    Transferred { escalation: bool },
    Ended { resolved: bool },
    WrapupEnded,
}

struct OpenTicket {
    id: u64,
    last: i64,
    queue: usize,
    agent: u64,
    steps: Vec<TicketStep>,
    next: usize,
}

struct OpenCall {
    id: u64,
    last: i64,
    agent: u64,
    steps: Vec<CallStep>,
    next: usize,
}

/// A ticket's life after `ticket.created`: about 8 events on average.
fn ticket_plan(r: &mut Rng) -> Vec<TicketStep> {
    use TicketStep::*;
    let mut s = vec![
        Assigned {
            requeue: r.chance(0.1),
        },
        Reply { public: true },
    ];
    for _ in 0..r.below(3) {
        s.push(CustomerReplied);
        if r.chance(0.3) {
            s.push(Reply { public: false });
        }
        s.push(Reply { public: true });
    }
    if r.chance(0.3) {
        s.push(Status("pending"));
        s.push(CustomerReplied);
        s.push(Reply { public: true });
    }
    if r.chance(0.1) {
        s.push(Status("on_hold"));
        s.push(Status("open"));
    }
    if r.chance(0.8) {
        s.push(Work);
    }
    if r.chance(0.3) {
        s.push(Work);
    }
    s.push(Resolved);
    if r.chance(0.9) {
        s.push(Closed);
    }
    s
}

/// A call's life after `call.queued`: about 4 events on average.
fn call_plan(r: &mut Rng) -> Vec<CallStep> {
    use CallStep::*;
    if r.chance(0.12) {
        return vec![Abandoned];
    }
    let mut s = vec![Answered];
    if r.chance(0.25) {
        s.push(HoldStarted);
        s.push(HoldEnded);
    }
    if r.chance(0.05) {
        s.push(Transferred {
            escalation: r.chance(0.3),
        });
    }
    s.push(Ended {
        resolved: r.chance(0.7),
    });
    if r.chance(0.9) {
        s.push(WrapupEnded);
    }
    s
}

/// The generator's state: the centre's open tickets and live calls.
struct Centre {
    p: Params,
    r: Rng,
    clock: i64,
    next_event: u64,
    next_ticket: u64,
    next_call: u64,
    tickets: Vec<OpenTicket>,
    calls: Vec<OpenCall>,
    agent_last: Vec<i64>,
    /// Recently finished tickets and calls, which surveys name.
    done_tickets: VecDeque<u64>,
    done_calls: VecDeque<u64>,
}

impl Centre {
    fn customer(&mut self) -> u64 {
        // A fifth of contacts come from a small set of frequent customers.
        if self.r.chance(0.2) {
            self.r.below(self.p.customers.min(2_000))
        } else {
            self.r.below(self.p.customers)
        }
    }

    /// Event time: the clock, or (3 %) up to 5 s behind it, but never before
    /// the entity's previous event.
    fn ts(&mut self, not_before: i64) -> i64 {
        let ts = if self.r.chance(0.03) {
            self.clock - self.r.below(5_000) as i64
        } else {
            self.clock
        };
        ts.max(not_before)
    }

    fn tick(&mut self) {
        // Mostly a few ms to a few hundred ms apart, sometimes seconds.
        let dt = match self.r.below(100) {
            0..=69 => 1 + self.r.below(200),
            70..=94 => 200 + self.r.below(1_800),
            _ => 2_000 + self.r.below(8_000),
        };
        self.clock += dt as i64;
    }

    fn begin<'a>(&mut self, out: &'a mut Vec<u8>, ty: &str, ts: i64) -> Json<'a> {
        self.next_event += 1;
        let rfc3339 = !self.r.chance(0.15);
        Json::begin(out, self.next_event, ty, ts, rfc3339)
    }

    fn event(&mut self, out: &mut Vec<u8>) -> &'static str {
        self.tick();
        match self.r.below(100) {
            0..=39 => self.ticket_event(out),
            40..=74 => self.call_event(out),
            75..=89 => self.agent_event(out),
            _ => self.survey(out),
        }
    }

    fn ticket_event(&mut self, out: &mut Vec<u8>) -> &'static str {
        if self.tickets.len() < self.p.open_tickets {
            return self.ticket_created(out);
        }
        let i = self.r.below(self.tickets.len() as u64) as usize;
        let (id, last, step) = {
            let t = &self.tickets[i];
            (t.id, t.last, t.steps[t.next])
        };
        let ts = self.ts(last);
        let queue = self.tickets[i].queue;
        let agent = self.tickets[i].agent;
        let ty = match step {
            TicketStep::Assigned { requeue } => {
                let mut j = self.begin(out, "ticket.assigned", ts);
                j.id("ticket_id", "T-", id)
                    .str("agent_id", &agent_name(agent))
                    .str("source", "helpdesk");
                if requeue {
                    let q = self.r.below(QUEUES.len() as u64) as usize;
                    self.tickets[i].queue = q;
                    j.str("queue", QUEUES[q]);
                } else if self.r.chance(0.5) {
                    j.str("queue", QUEUES[queue]);
                }
                j.end();
                "ticket.assigned"
            }
            TicketStep::Reply { public } => {
                let mut j = self.begin(out, "ticket.agent_replied", ts);
                j.id("ticket_id", "T-", id)
                    .str("agent_id", &agent_name(agent));
                if !public || self.r.chance(0.3) {
                    j.raw("public", public);
                }
                j.str("source", "helpdesk").end();
                "ticket.agent_replied"
            }
            TicketStep::CustomerReplied => {
                self.begin(out, "ticket.customer_replied", ts)
                    .id("ticket_id", "T-", id)
                    .str("source", "helpdesk")
                    .end();
                "ticket.customer_replied"
            }
            TicketStep::Status(status) => {
                self.begin(out, "ticket.status_changed", ts)
                    .id("ticket_id", "T-", id)
                    .str("status", status)
                    .str("source", "helpdesk")
                    .end();
                "ticket.status_changed"
            }
            TicketStep::Work => {
                let secs = 60 + self.r.below(1_800);
                self.begin(out, "ticket.work_logged", ts)
                    .id("ticket_id", "T-", id)
                    .str("agent_id", &agent_name(agent))
                    .raw("seconds", secs)
                    .str("source", "helpdesk")
                    .end();
                "ticket.work_logged"
            }
            TicketStep::Resolved => {
                self.begin(out, "ticket.resolved", ts)
                    .id("ticket_id", "T-", id)
                    .str("agent_id", &agent_name(agent))
                    .str("source", "helpdesk")
                    .end();
                "ticket.resolved"
            }
            TicketStep::Closed => {
                self.begin(out, "ticket.closed", ts)
                    .id("ticket_id", "T-", id)
                    .str("source", "helpdesk")
                    .end();
                "ticket.closed"
            }
        };
        let t = &mut self.tickets[i];
        t.last = ts;
        t.next += 1;
        if t.next == t.steps.len() {
            let t = self.tickets.swap_remove(i);
            remember(&mut self.done_tickets, t.id);
        }
        ty
    }

    fn ticket_created(&mut self, out: &mut Vec<u8>) -> &'static str {
        self.next_ticket += 1;
        let id = self.next_ticket;
        let ts = self.ts(i64::MIN);
        let customer = self.customer();
        let queue = self.r.below(QUEUES.len() as u64) as usize;
        let channel = self.r.weighted(&TICKET_CHANNELS);
        let priority = self.r.weighted(&PRIORITIES);
        let mut j = self.begin(out, "ticket.created", ts);
        j.id("ticket_id", "T-", id)
            .id("customer_id", "CU-", customer)
            .str("channel", channel)
            .str("priority", priority)
            .str("queue", QUEUES[queue]);
        if self.r.chance(0.7) {
            j.str("category", self.r.pick(&CATEGORIES));
        }
        j.str("source", "helpdesk").end();
        let agent = self.r.below(AGENTS);
        let steps = ticket_plan(&mut self.r);
        self.tickets.push(OpenTicket {
            id,
            last: ts,
            queue,
            agent,
            steps,
            next: 0,
        });
        "ticket.created"
    }

    fn call_event(&mut self, out: &mut Vec<u8>) -> &'static str {
        if self.calls.len() < self.p.live_calls {
            return self.call_queued(out);
        }
        let i = self.r.below(self.calls.len() as u64) as usize;
        let (id, last, agent, step) = {
            let c = &self.calls[i];
            (c.id, c.last, c.agent, c.steps[c.next])
        };
        let ts = self.ts(last);
        let ty = match step {
            CallStep::Answered => {
                self.begin(out, "call.answered", ts)
                    .id("call_id", "CA-", id)
                    .str("agent_id", &agent_name(agent))
                    .str("source", "telephony")
                    .end();
                "call.answered"
            }
            CallStep::Abandoned => {
                self.begin(out, "call.abandoned", ts)
                    .id("call_id", "CA-", id)
                    .str("source", "telephony")
                    .end();
                "call.abandoned"
            }
            CallStep::HoldStarted => {
                self.begin(out, "call.hold_started", ts)
                    .id("call_id", "CA-", id)
                    .str("source", "telephony")
                    .end();
                "call.hold_started"
            }
            CallStep::HoldEnded => {
                self.begin(out, "call.hold_ended", ts)
                    .id("call_id", "CA-", id)
                    .str("source", "telephony")
                    .end();
                "call.hold_ended"
            }
            CallStep::Transferred { escalation } => {
                let q = self.r.pick(&QUEUES);
                self.begin(out, "call.transferred", ts)
                    .id("call_id", "CA-", id)
                    .str("queue", q)
                    .raw("escalation", escalation)
                    .str("source", "telephony")
                    .end();
                "call.transferred"
            }
            CallStep::Ended { resolved } => {
                self.begin(out, "call.ended", ts)
                    .id("call_id", "CA-", id)
                    .raw("resolved", resolved)
                    .str("source", "telephony")
                    .end();
                "call.ended"
            }
            CallStep::WrapupEnded => {
                self.begin(out, "call.wrapup_ended", ts)
                    .id("call_id", "CA-", id)
                    .str("source", "telephony")
                    .end();
                "call.wrapup_ended"
            }
        };
        let c = &mut self.calls[i];
        c.last = ts;
        c.next += 1;
        if c.next == c.steps.len() {
            let c = self.calls.swap_remove(i);
            remember(&mut self.done_calls, c.id);
        }
        ty
    }

    fn call_queued(&mut self, out: &mut Vec<u8>) -> &'static str {
        self.next_call += 1;
        let id = self.next_call;
        let ts = self.ts(i64::MIN);
        let customer = self.customer();
        let mut j = self.begin(out, "call.queued", ts);
        j.id("call_id", "CA-", id)
            .id("customer_id", "CU-", customer)
            .str("queue", self.r.pick(&QUEUES));
        match self.r.below(100) {
            0..=49 => {}
            50..=84 => {
                j.str("channel", "phone");
            }
            _ => {
                j.str("channel", "chat");
            }
        }
        if self.r.chance(0.5) {
            j.str("category", self.r.pick(&CATEGORIES));
        }
        j.str("source", "telephony").end();
        let agent = self.r.below(AGENTS);
        let steps = call_plan(&mut self.r);
        self.calls.push(OpenCall {
            id,
            last: ts,
            agent,
            steps,
            next: 0,
        });
        "call.queued"
    }

    fn agent_event(&mut self, out: &mut Vec<u8>) -> &'static str {
        let a = self.r.below(AGENTS);
        let ts = self.ts(self.agent_last[a as usize]);
        self.agent_last[a as usize] = ts;
        let status = self.r.weighted(&AGENT_STATUSES);
        let mut j = self.begin(out, "agent.status_changed", ts);
        j.str("agent_id", &agent_name(a)).str("status", status);
        if self.r.chance(0.8) {
            j.str("queue", QUEUES[a as usize % QUEUES.len()]);
        }
        j.end();
        "agent.status_changed"
    }

    fn survey(&mut self, out: &mut Vec<u8>) -> &'static str {
        let ts = self.ts(i64::MIN);
        match self.r.below(10) {
            0..=5 => {
                let score = 1 + self.r.below(5);
                let (ticket, call) = match self.r.below(10) {
                    0..=4 => (recent(&mut self.r, &self.done_tickets), None),
                    5..=8 => (None, recent(&mut self.r, &self.done_calls)),
                    _ => (None, None),
                };
                let agent = self.r.below(AGENTS);
                let mut j = self.begin(out, "survey.csat", ts);
                j.raw("score", score);
                if let Some(t) = ticket {
                    j.id("ticket_id", "T-", t);
                }
                if let Some(c) = call {
                    j.id("call_id", "CA-", c);
                }
                if ticket.is_none() && call.is_none() {
                    j.str("channel", self.r.weighted(&TICKET_CHANNELS))
                        .str("queue", self.r.pick(&QUEUES));
                }
                j.str("agent_id", &agent_name(agent));
                if self.r.chance(0.2) {
                    j.str("comment", self.r.pick(&COMMENTS));
                }
                j.end();
                "survey.csat"
            }
            6..=7 => {
                let score = self.r.below(11);
                let customer = self.customer();
                self.begin(out, "survey.nps", ts)
                    .raw("score", score)
                    .id("customer_id", "CU-", customer)
                    .end();
                "survey.nps"
            }
            _ => {
                let score = 1 + self.r.below(7);
                let ticket = recent(&mut self.r, &self.done_tickets);
                let mut j = self.begin(out, "survey.ces", ts);
                j.raw("score", score);
                if let Some(t) = ticket {
                    j.id("ticket_id", "T-", t);
                }
                j.end();
                "survey.ces"
            }
        }
    }
}

fn agent_name(a: u64) -> String {
    format!("agent-{a:03}")
}

fn remember(ring: &mut VecDeque<u64>, id: u64) {
    if ring.len() == 1_000 {
        ring.pop_front();
    }
    ring.push_back(id);
}

fn recent(r: &mut Rng, ring: &VecDeque<u64>) -> Option<u64> {
    if ring.is_empty() {
        return None;
    }
    Some(ring[r.below(ring.len() as u64) as usize])
}

/// Generates the corpus described by `p`.
pub fn generate(p: &Params) -> Corpus {
    let mut c = Centre {
        r: Rng::new(p.seed),
        p: p.clone(),
        clock: START_MS,
        next_event: 100_000,
        next_ticket: 10_000,
        next_call: 50_000,
        tickets: Vec::with_capacity(p.open_tickets),
        calls: Vec::with_capacity(p.live_calls),
        agent_last: vec![i64::MIN; AGENTS as usize],
        done_tickets: VecDeque::new(),
        done_calls: VecDeque::new(),
    };
    let mut bytes = Vec::with_capacity(p.events * 200);
    let mut lines = Vec::with_capacity(p.events);
    let mut mix: Vec<(&'static str, usize)> = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for _ in 0..p.events {
        let start = bytes.len();
        let ty = c.event(&mut bytes);
        lines.push(start..bytes.len() - 1);
        match mix.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, n)) => *n += 1,
            None => mix.push((ty, 1)),
        }
        first = first.min(c.clock);
        last = last.max(c.clock);
    }
    Corpus {
        bytes,
        lines,
        mix,
        span: (first, last),
    }
}

/// Single lines that open state, 1 ms apart, for measuring bytes per entity.
pub struct StateLines {
    r: Rng,
    buf: Vec<u8>,
    next_event: u64,
    ts: i64,
}

impl StateLines {
    /// A fresh sequence (event ids and times start over).
    pub fn new(seed: u64) -> StateLines {
        StateLines {
            r: Rng::new(seed),
            buf: Vec::with_capacity(512),
            next_event: 0,
            ts: START_MS,
        }
    }

    fn begin(&mut self, ty: &str) -> Json<'_> {
        self.next_event += 1;
        self.ts += 1;
        self.buf.clear();
        Json::begin(&mut self.buf, self.next_event, ty, self.ts, true)
    }

    fn line(&self) -> &[u8] {
        &self.buf[..self.buf.len() - 1]
    }

    /// `ticket.created` of ticket `ticket` by customer `customer`, with a
    /// realistic channel, priority, queue and (70 %) category.
    pub fn ticket_created(&mut self, ticket: u64, customer: u64) -> &[u8] {
        let channel = self.r.weighted(&TICKET_CHANNELS);
        let priority = self.r.weighted(&PRIORITIES);
        let queue = self.r.pick(&QUEUES);
        let category = self.r.chance(0.7).then(|| self.r.pick(&CATEGORIES));
        let mut j = self.begin("ticket.created");
        j.id("ticket_id", "T-", ticket)
            .id("customer_id", "CU-", customer)
            .str("channel", channel)
            .str("priority", priority)
            .str("queue", queue);
        if let Some(c) = category {
            j.str("category", c);
        }
        j.end();
        self.line()
    }

    /// `survey.nps` (touches no per-entity state: only the dedup memory).
    pub fn nps(&mut self, customer: u64) -> &[u8] {
        let score = self.r.below(11);
        self.begin("survey.nps")
            .raw("score", score)
            .id("customer_id", "CU-", customer)
            .end();
        self.line()
    }

    /// `customer.subscribed` (a customer entry with no contacts).
    pub fn subscribed(&mut self, customer: u64) -> &[u8] {
        self.begin("customer.subscribed")
            .id("customer_id", "CU-", customer)
            .end();
        self.line()
    }
}
