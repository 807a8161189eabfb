//! The SLA state changes the engine records for the event stream: literal
//! events in, the exact list of changes out. Every expected value is worked
//! out by hand in the comment next to it.

use super::sla::{ClockKind, SlaEvent, SlaEventKind as K};
use super::Engine;
use crate::config::Config;
use crate::decode::decode;

/// 2026-11-16T09:00:00Z, a Monday (10:00 in Berlin).
const T0: i64 = 1_794_819_600_000;
const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const WALL: i64 = T0 + 365 * 24 * H;

const POLICIES: &str = r#"
[sla]
warn_fraction = 0.5

[[sla.policies]]
name = "phone"
match = { channel = "phone" }
answer = "20s"

[[sla.policies]]
name = "vip"
match = { priority = ["urgent"] }
first_response = "2h"
next_response = "1h"
resolution = "4h"

[[sla.policies]]
name = "office"
calendar = "nine_to_five"
first_response = "4h"
resolution = "8h"

[sla.calendars.nine_to_five]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
"#;

struct Run {
    engine: Engine,
    n: u64,
}

impl Run {
    fn new(record: bool) -> Run {
        let mut engine = Engine::new(&Config::parse(POLICIES).unwrap());
        engine.record_sla_events(record);
        Run { engine, n: 0 }
    }
    fn ev(&mut self, ty: &str, at: i64, fields: &str) -> &mut Self {
        self.n += 1;
        let json = format!(
            r#"{{"event_id":"e{}","type":"{ty}","ts":{},{fields}}}"#,
            self.n,
            T0 + at
        );
        let ev = decode(json.as_bytes(), 65536).unwrap();
        self.engine.admit(ev, WALL).unwrap();
        self
    }
    fn ticket(&mut self, id: &str, at: i64, priority: &str) -> &mut Self {
        self.ev(
            "ticket.created",
            at,
            &format!(
                r#""ticket_id":"{id}","customer_id":"C","channel":"email","priority":"{priority}""#
            ),
        )
    }
    /// The changes recorded since the last call, as
    /// (kind, id, clock, at, elapsed, due, timer, breached) relative to T0.
    fn taken(&mut self) -> Vec<Row> {
        let (events, dropped) = self.engine.drain_sla_events();
        let rows = events.map(|e| row(&e)).collect();
        assert_eq!(dropped, 0);
        rows
    }
}

type Row = (K, String, ClockKind, i64, i64, Option<i64>, bool, bool);

fn row(e: &SlaEvent) -> Row {
    (
        e.kind,
        e.id.clone(),
        e.clock,
        e.at - T0,
        e.elapsed_ms,
        e.due_ms.map(|d| d - T0),
        e.timer,
        e.breached,
    )
}

#[allow(clippy::too_many_arguments)]
fn r(
    kind: K,
    id: &str,
    clock: ClockKind,
    at: i64,
    elapsed: i64,
    due: Option<i64>,
    timer: bool,
    breached: bool,
) -> Row {
    (kind, id.into(), clock, at, elapsed, due, timer, breached)
}

use ClockKind::{Answer as AN, FirstResponse as FR, NextResponse as NR, Resolution as RES};

#[test]
fn every_kind_on_a_24x7_ticket() {
    let mut run = Run::new(true);
    // vip: first response 2 h (at risk from 1 h), next response 1 h (from
    // 30 min), resolution 4 h (from 2 h); 24x7.
    run.ticket("T1", 0, "urgent");
    run.ev(
        "ticket.agent_replied",
        H + 30 * M,
        r#""ticket_id":"T1","agent_id":"A""#,
    );
    run.ev("ticket.customer_replied", 2 * H, r#""ticket_id":"T1""#);
    run.ev(
        "ticket.status_changed",
        2 * H + 10 * M,
        r#""ticket_id":"T1","status":"pending""#,
    );
    run.ev(
        "ticket.status_changed",
        3 * H + 10 * M,
        r#""ticket_id":"T1","status":"open""#,
    );
    run.ev(
        "ticket.agent_replied",
        3 * H + 20 * M,
        r#""ticket_id":"T1","agent_id":"A""#,
    );
    run.ev("ticket.resolved", 4 * H + 30 * M, r#""ticket_id":"T1""#);
    let t = "T1";
    assert_eq!(
        run.taken(),
        vec![
            // Created: both clocks start, due at 2 h and 4 h.
            r(K::Applied, t, FR, 0, 0, Some(2 * H), false, false),
            r(K::Applied, t, RES, 0, 0, Some(4 * H), false, false),
            // The reply at 1 h 30 moves the clock past 1 h: at risk there first.
            r(K::AtRisk, t, FR, H, H, Some(2 * H), true, false),
            r(
                K::Achieved,
                t,
                FR,
                H + 30 * M,
                H + 30 * M,
                Some(2 * H),
                false,
                false
            ),
            // The customer writes at 2 h: next response due at 3 h.
            r(K::Applied, t, NR, 2 * H, 0, Some(3 * H), false, false),
            // Pending at 2 h 10: the clock passed 2 h, resolution's at-risk
            // instant, first; paused, it has no deadline.
            r(K::AtRisk, t, RES, 2 * H, 2 * H, Some(4 * H), true, false),
            r(
                K::Paused,
                t,
                RES,
                2 * H + 10 * M,
                2 * H + 10 * M,
                None,
                false,
                false
            ),
            // Open at 3 h 10: next response was at risk at 2 h 30 and
            // breached at 3 h; resolution resumes with 1 h 50 left, due 5 h.
            r(
                K::AtRisk,
                t,
                NR,
                2 * H + 30 * M,
                30 * M,
                Some(3 * H),
                true,
                false
            ),
            r(K::Breached, t, NR, 3 * H, H, Some(3 * H), true, true),
            r(
                K::Resumed,
                t,
                RES,
                3 * H + 10 * M,
                2 * H + 10 * M,
                Some(5 * H),
                false,
                false
            ),
            // The late reply ends the active breach.
            r(
                K::Stopped,
                t,
                NR,
                3 * H + 20 * M,
                H + 20 * M,
                Some(3 * H),
                false,
                true
            ),
            // Resolved at 4 h 30, 3 h 30 on the clock (an hour paused): in time.
            r(
                K::Achieved,
                t,
                RES,
                4 * H + 30 * M,
                3 * H + 30 * M,
                Some(5 * H),
                false,
                false
            ),
        ]
    );
}

#[test]
fn business_hours_pause_the_clock_overnight() {
    let mut run = Run::new(true);
    // office: 09:00–17:00 Berlin = 08:00–16:00Z. Created Monday 15:00Z
    // (T0 + 6 h), an hour before closing: first response 4 h business
    // (at risk after 2 h), resolution 8 h (after 4 h).
    // First response: 1 h Monday + 1 h Tuesday → at risk Tuesday 09:00Z
    // (T0 + 24 h); + 3 h → due Tuesday 11:00Z (T0 + 26 h).
    // Resolution: at risk at 1 h + 3 h → also T0 + 26 h; due 1 h + 7 h →
    // Tuesday 15:00Z (T0 + 30 h).
    run.ticket("T2", 6 * H, "normal");
    run.ev("survey.ces", 26 * H + M, r#""score":1"#);
    // A reply at Tuesday 12:00Z: 1 h Monday + 4 h Tuesday on the clock.
    run.ev(
        "ticket.agent_replied",
        27 * H,
        r#""ticket_id":"T2","agent_id":"A""#,
    );
    // Resolved Tuesday 15:30Z (16:30 Berlin), half an hour late: 1 h
    // Monday + 7 h 30 Tuesday on the clock.
    run.ev("ticket.resolved", 30 * H + 30 * M, r#""ticket_id":"T2""#);
    let t = "T2";
    assert_eq!(
        run.taken(),
        vec![
            r(K::Applied, t, FR, 6 * H, 0, Some(26 * H), false, false),
            r(K::Applied, t, RES, 6 * H, 0, Some(30 * H), false, false),
            r(K::AtRisk, t, FR, 24 * H, 2 * H, Some(26 * H), true, false),
            r(K::Breached, t, FR, 26 * H, 4 * H, Some(26 * H), true, true),
            r(K::AtRisk, t, RES, 26 * H, 4 * H, Some(30 * H), true, false),
            r(K::Stopped, t, FR, 27 * H, 5 * H, Some(26 * H), false, true),
            r(K::Breached, t, RES, 30 * H, 8 * H, Some(30 * H), true, true),
            r(
                K::Stopped,
                t,
                RES,
                30 * H + 30 * M,
                8 * H + 30 * M,
                Some(30 * H),
                false,
                true
            ),
        ]
    );
    let m = run.engine.snapshot(None);
    let text = crate::export::prometheus_text(std::sync::Arc::new(m));
    assert!(text.contains(r#"support_sla_breaches_total{sla="first_response",policy="office",priority="normal",queue="unknown"} 1"#), "{text}");
}

#[test]
fn calls_policy_changes_and_cancelled_clocks() {
    let mut run = Run::new(true);
    // phone: answer 20 s, at risk after 10 s.
    run.ev(
        "call.queued",
        0,
        r#""call_id":"K1","customer_id":"C","queue":"q""#,
    );
    run.ev("call.answered", 15 * S, r#""call_id":"K1","agent_id":"A""#);
    // Abandoned after 5 s: stopped without a verdict, never at risk.
    run.ev(
        "call.queued",
        M,
        r#""call_id":"K2","customer_id":"C","queue":"q""#,
    );
    run.ev("call.abandoned", M + 5 * S, r#""call_id":"K2""#);
    // A normal ticket at 10:00 Berlin (office), made urgent 10 min later:
    // vip's 24x7 targets apply from creation (10 min elapsed; due 2 h and
    // 4 h after it); closed at 20 min: both clocks stop without a verdict.
    run.ticket("T3", 2 * M, "normal");
    run.ev(
        "ticket.priority_changed",
        12 * M,
        r#""ticket_id":"T3","priority":"urgent""#,
    );
    run.ev("ticket.closed", 22 * M, r#""ticket_id":"T3""#);
    assert_eq!(
        run.taken(),
        vec![
            r(K::Applied, "K1", AN, 0, 0, Some(20 * S), false, false),
            r(
                K::AtRisk,
                "K1",
                AN,
                10 * S,
                10 * S,
                Some(20 * S),
                true,
                false
            ),
            r(
                K::Achieved,
                "K1",
                AN,
                15 * S,
                15 * S,
                Some(20 * S),
                false,
                false
            ),
            r(K::Applied, "K2", AN, M, 0, Some(M + 20 * S), false, false),
            r(
                K::Stopped,
                "K2",
                AN,
                M + 5 * S,
                5 * S,
                Some(M + 20 * S),
                false,
                false
            ),
            // office: 4 h of business time from 10:02 Berlin end Monday
            // 14:02; 8 h are 6 h 58 Monday and 1 h 02 Tuesday, to 10:02
            // Berlin (09:02Z, T0 + 24 h 2 min).
            r(
                K::Applied,
                "T3",
                FR,
                2 * M,
                0,
                Some(4 * H + 2 * M),
                false,
                false
            ),
            r(
                K::Applied,
                "T3",
                RES,
                2 * M,
                0,
                Some(24 * H + 2 * M),
                false,
                false
            ),
            r(
                K::PolicyChanged,
                "T3",
                FR,
                12 * M,
                10 * M,
                Some(2 * H + 2 * M),
                false,
                false
            ),
            r(
                K::PolicyChanged,
                "T3",
                RES,
                12 * M,
                10 * M,
                Some(4 * H + 2 * M),
                false,
                false
            ),
            r(
                K::Stopped,
                "T3",
                FR,
                22 * M,
                20 * M,
                Some(2 * H + 2 * M),
                false,
                false
            ),
            r(
                K::Stopped,
                "T3",
                RES,
                22 * M,
                20 * M,
                Some(4 * H + 2 * M),
                false,
                false
            ),
        ]
    );
}

#[test]
fn names_ids_and_the_switch() {
    let script = |run: &mut Run| {
        run.ticket("T4", 0, "urgent");
        run.ev(
            "ticket.priority_changed",
            M,
            r#""ticket_id":"T4","priority":"normal""#,
        );
        run.ev("survey.ces", 10 * H, r#""score":1"#);
    };
    let mut a = Run::new(true);
    script(&mut a);
    let (events, _) = a.engine.drain_sla_events();
    let events: Vec<SlaEvent> = events.collect();
    let changed = events.iter().find(|e| e.kind == K::PolicyChanged).unwrap();
    assert_eq!(changed.policy.as_deref(), Some("office"));
    assert_eq!(changed.previous_policy.as_deref(), Some("vip"));
    assert_eq!(changed.entity, "ticket");
    assert_eq!(changed.target_ms, Some(4 * H));
    // The same input gives the same ids; distinct changes distinct ids.
    let mut b = Run::new(true);
    script(&mut b);
    let ids_b: Vec<String> = b
        .engine
        .drain_sla_events()
        .0
        .map(|e| e.event_id())
        .collect();
    let ids_a: Vec<String> = events.iter().map(SlaEvent::event_id).collect();
    assert_eq!(ids_a, ids_b);
    let mut unique = ids_a.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids_a.len());
    // Off (the default): nothing is recorded, the metrics are the same.
    let mut off = Run::new(false);
    script(&mut off);
    assert_eq!(off.engine.drain_sla_events().0.count(), 0);
    let text =
        |e: &mut Engine| crate::export::prometheus_text(std::sync::Arc::new(e.snapshot(None)));
    assert_eq!(text(&mut off.engine), text(&mut a.engine));
}

/// A held early arrival that completes a clock past its deadline (the
/// reply arrives before its ticket, both within the lateness) gives the
/// same changes as the same history in `ts` order: at risk at half the
/// target, breached at the target, then stopped by the reply. The at-risk
/// change was missing: the clock went past both at once.
#[test]
fn a_held_reply_past_the_deadline_gives_the_at_risk_change_too() {
    let cfg = format!("{POLICIES}\n[time]\nallowed_lateness = \"3h\"\n");
    let run = |held: bool| {
        let mut engine = Engine::new(&Config::parse(&cfg).unwrap());
        engine.record_sla_events(true);
        let created = format!(
            r#"{{"event_id":"c","type":"ticket.created","ts":{T0},"ticket_id":"T","customer_id":"C","channel":"email","priority":"urgent"}}"#
        );
        let reply = format!(
            r#"{{"event_id":"r","type":"ticket.agent_replied","ts":{},"ticket_id":"T","agent_id":"a"}}"#,
            T0 + 2 * H + 30 * M
        );
        let order = if held {
            [&reply, &created]
        } else {
            [&created, &reply]
        };
        for json in order {
            let ev = decode(json.as_bytes(), 65536).unwrap();
            engine.admit(ev, WALL).unwrap();
        }
        engine.flush();
        let (events, _) = engine.drain_sla_events();
        let mut kinds: Vec<(K, ClockKind, i64, bool)> = events
            .map(|e| (e.kind, e.clock, e.at - T0, e.timer))
            .filter(|r| r.1 == FR)
            .collect();
        kinds.sort_by_key(|r| r.2);
        kinds
    };
    let held = run(true);
    // vip: first response 2 h, at risk from 1 h (warn_fraction 0.5). Both
    // are the clock passing an instant while the reply moved it (cause
    // `timer`, docs/sla.md), as in `ts` order.
    assert!(held.contains(&(K::AtRisk, FR, H, true)), "{held:?}");
    assert!(held.contains(&(K::Breached, FR, 2 * H, true)), "{held:?}");
    assert_eq!(held, run(false));
}

/// `at_risk` says whether the clock is at risk after each change: set by
/// its at-risk change, kept through a pause after it, cleared by a pause
/// dated before it (sent late), by the verdict and by a stop.
#[test]
fn at_risk_follows_the_clock_through_each_change() {
    let mut run = Run::new(true);
    // vip: first response 2 h (at risk from 1 h), resolution 4 h (from 2 h).
    run.ticket("T1", 0, "urgent");
    run.ticket("T2", 0, "urgent");
    run.ev("survey.ces", 2 * H + 30 * M, r#""score":1"#);
    // T1's pending of 1 h 30 min arrives now, late: its resolution clock
    // had run 1.5 h of 4 h, short of its warn share.
    run.ev(
        "ticket.status_changed",
        H + 30 * M,
        r#""ticket_id":"T1","status":"pending""#,
    );
    // T2 pauses at risk, resumes at risk, and is resolved in time (4 h and
    // its 30 min pending).
    run.ev(
        "ticket.status_changed",
        2 * H + 30 * M,
        r#""ticket_id":"T2","status":"pending""#,
    );
    run.ev(
        "ticket.status_changed",
        3 * H,
        r#""ticket_id":"T2","status":"open""#,
    );
    run.ev("ticket.resolved", 3 * H + 10 * M, r#""ticket_id":"T2""#);
    let (events, dropped) = run.engine.drain_sla_events();
    assert_eq!(dropped, 0);
    let events: Vec<SlaEvent> = events.collect();
    let of = |id: &str, clock: ClockKind| -> Vec<(K, bool, bool)> {
        events
            .iter()
            .filter(|e| e.id == id && e.clock == clock)
            .map(|e| (e.kind, e.at_risk, e.breached))
            .collect()
    };
    assert_eq!(
        of("T1", RES),
        [
            (K::Applied, false, false),
            (K::AtRisk, true, false),
            (K::Paused, false, false)
        ]
    );
    assert_eq!(
        of("T2", RES),
        [
            (K::Applied, false, false),
            (K::AtRisk, true, false),
            (K::Paused, true, false),
            (K::Resumed, true, false),
            (K::Achieved, false, false)
        ]
    );
    // First response: at risk at 1 h, breached at 2 h, stopped by the
    // resolution (the end of its active breach).
    assert_eq!(
        of("T2", FR),
        [
            (K::Applied, false, false),
            (K::AtRisk, true, false),
            (K::Breached, false, true),
            (K::Stopped, false, true)
        ]
    );
}
