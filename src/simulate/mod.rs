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
//!
//! What lives where: this file holds the config, the centre's calibration
//! (constants), its entities and the [`Simulator`] itself; `rng.rs` the
//! random stream; `centre.rs` arrivals, staffing, dispatch and surveys;
//! `actions.rs` what each scheduled action does; `pace.rs` producing the
//! events to Kafka at a wall-clock pace.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

mod actions;
mod centre;
mod pace;
mod rng;

pub use pace::{produce, wait_for_wall_clock, Pace};
use rng::Rng;

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
mod tests;
