//! Property tests of SLA time (SPEC §4): business time never exceeds
//! calendar time, deadlines never precede their clock and only move later
//! when a pause is added, delaying an opening event (within the allowed
//! lateness) changes no verdict, and the maintained at-risk and
//! active-breach gauges never go negative and return to zero once every
//! clock has stopped.

use std::sync::Arc;

use frontline::calendar::{Calendar, Hours};
use frontline::config::Config;
use frontline::decode::decode;
use frontline::engine::sla::deadline;
use frontline::engine::Engine;
use frontline::export::prometheus_text;
use proptest::prelude::*;

const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "UTC",
];
/// 2026-01-01T00:00:00Z; instants are drawn over the following year (both DST changes).
const YEAR_START: i64 = 1_767_225_600_000;
const YEAR: i64 = 365 * 86_400_000;
const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn calendar() -> impl Strategy<Value = Calendar> {
    let day = prop::collection::vec((0u32..48, 1u32..16), 0..3);
    (
        0..ZONES.len(),
        prop::collection::vec(day, 7),
        prop::collection::vec(0u32..365, 0..5),
    )
        .prop_filter_map("at least one open range", |(z, week, holidays)| {
            let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let mut hours: Vec<(&str, Vec<String>)> = Vec::new();
            for (d, ranges) in days.iter().zip(week) {
                // Half-hour starts, non-overlapping by construction.
                let mut at = 0;
                let mut rs = Vec::new();
                for (gap, len) in ranges {
                    let start = at + gap;
                    let end = (start + len).min(48);
                    if end <= start {
                        break;
                    }
                    rs.push(format!(
                        "{:02}:{:02}-{:02}:{:02}",
                        start / 2,
                        start % 2 * 30,
                        end / 2,
                        end % 2 * 30
                    ));
                    at = end;
                }
                hours.push((d, rs));
            }
            let hol: Vec<String> = holidays
                .iter()
                .map(|d| {
                    let t = jiff::Timestamp::from_millisecond(YEAR_START + *d as i64 * 86_400_000)
                        .unwrap();
                    t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
                })
                .collect();
            Calendar::new(
                ZONES[z],
                hours.iter().map(|(d, r)| (*d, r.as_slice())),
                &hol,
            )
            .ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn business_time_never_exceeds_calendar_time(cal in calendar(), a in 0..YEAR, len in 0..30 * 86_400_000i64) {
        let from = YEAR_START + a;
        let to = from + len;
        let b = cal.business_ms(from, to);
        prop_assert!(b >= 0 && b <= len, "business {b} > calendar {len}");
        // The instant at which that much business time has elapsed is no later than `to`,
        // and measuring up to it gives the amount back.
        if b > 0 {
            let at = cal.add_business(from, b).expect("reachable");
            prop_assert!(at >= from && at <= to, "{at} outside [{from}, {to}]");
            prop_assert_eq!(cal.business_ms(from, at), b);
        }
    }

    #[test]
    fn deadlines_follow_their_clock(
        cal in calendar(),
        start in 0..YEAR,
        target in 1..(40 * H),
        pause in (0..(72 * H), 1..(72 * H)),
        always in any::<bool>(),
    ) {
        let hours = if always { Hours::Always } else { Hours::Business(Arc::new(cal)) };
        let start = YEAR_START + start;
        let d0 = deadline(&hours, start, &[], None, target);
        prop_assert!(d0 > start, "deadline {d0} not after start {start}");
        prop_assert!(d0 == i64::MAX || hours.elapsed(start, d0) == target);
        let p = (start + pause.0, start + pause.0 + pause.1);
        let d1 = deadline(&hours, start, &[p], None, target);
        prop_assert!(d1 >= d0, "a pause moved the deadline earlier: {d1} < {d0}");
        // A pause that ends before the deadline moves it by the open time it covered.
        if p.1 <= d0 && d1 != i64::MAX {
            prop_assert_eq!(hours.elapsed(start, d1) - hours.elapsed(p.0, p.1), target);
        }
    }
}

const POLICIES: &str = r#"
[[sla.policies]]
name = "urgent"
match = { priority = ["urgent"] }
calendar = "office"
first_response = "30m"
next_response = "20m"
resolution = "2h"

[[sla.policies]]
name = "phone"
match = { channel = "phone" }
answer = "20s"

[[sla.policies]]
name = "standard"
first_response = "45m"
next_response = "30m"
resolution = "3h"

[sla.calendars.office]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-12:00", "13:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-15:00"] }
"#;

/// One ticket's or call's lifecycle as (offset ms, type, extra fields), the opening first.
fn lifecycle(i: usize) -> impl Strategy<Value = Vec<(i64, String, String)>> {
    let ticket = (
        prop::sample::select(vec!["low", "normal", "urgent"]),
        prop::collection::vec((1..40 * M, 0..7u8), 1..8),
    )
        .prop_map(move |(pr, steps)| {
            let id = format!("T{i}");
            let mut v = vec![(
                0,
                "ticket.created".to_string(),
                format!(
                    r#""ticket_id":"{id}","customer_id":"C{i}","priority":"{pr}","queue":"q{}""#,
                    i % 2
                ),
            )];
            let mut t = 0;
            for (gap, kind) in steps {
                t += gap;
                let (ty, f) = match kind {
                    0 => (
                        "ticket.agent_replied",
                        format!(r#""ticket_id":"{id}","agent_id":"A""#),
                    ),
                    1 => ("ticket.customer_replied", format!(r#""ticket_id":"{id}""#)),
                    2 => (
                        "ticket.status_changed",
                        format!(r#""ticket_id":"{id}","status":"pending""#),
                    ),
                    3 => (
                        "ticket.status_changed",
                        format!(r#""ticket_id":"{id}","status":"open""#),
                    ),
                    4 => (
                        "ticket.priority_changed",
                        format!(r#""ticket_id":"{id}","priority":"urgent""#),
                    ),
                    5 => (
                        "ticket.priority_changed",
                        format!(r#""ticket_id":"{id}","priority":"normal""#),
                    ),
                    _ => ("ticket.resolved", format!(r#""ticket_id":"{id}""#)),
                };
                v.push((t, ty.to_string(), f));
            }
            v
        });
    let call = (1..60_000i64, any::<bool>()).prop_map(move |(wait, answered)| {
        let id = format!("K{i}");
        vec![
            (
                0,
                "call.queued".to_string(),
                format!(r#""call_id":"{id}","customer_id":"C{i}","queue":"phones""#),
            ),
            (
                wait,
                if answered {
                    "call.answered"
                } else {
                    "call.abandoned"
                }
                .to_string(),
                format!(r#""call_id":"{id}","agent_id":"A""#),
            ),
        ]
    });
    prop_oneof![3 => ticket, 1 => call]
}

/// Events of several entities, merged in time order: (ts, json).
fn scenario() -> impl Strategy<Value = Vec<(i64, String)>> {
    prop::collection::vec((0..4 * H, Just(())), 1..6)
        .prop_flat_map(|starts| {
            let n = starts.len();
            (Just(starts), (0..n).map(lifecycle).collect::<Vec<_>>())
        })
        .prop_map(|(starts, lifecycles)| {
            // Monday 2026-11-16 08:00Z.
            let base = 1_794_816_000_000i64;
            let mut evs = Vec::new();
            for ((s, _), lc) in starts.iter().zip(lifecycles) {
                for (off, ty, f) in lc {
                    evs.push((base + s + off, ty, f));
                }
            }
            evs.sort_by_key(|e| e.0);
            evs.into_iter()
                .enumerate()
                .map(|(n, (ts, ty, f))| {
                    (
                        ts,
                        format!(r#"{{"event_id":"e{n}","type":"{ty}","ts":{ts},{f}}}"#),
                    )
                })
                .collect()
        })
}

fn sla_lines(lines: &[&str]) -> Vec<String> {
    let cfg = Config::parse(POLICIES).unwrap();
    let mut e = Engine::new(&cfg);
    for l in lines {
        e.apply(decode(l.as_bytes(), 65536).unwrap());
    }
    e.flush();
    let text = prometheus_text(Arc::new(e.snapshot(None)));
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("support_sla_") || l.contains("_business_seconds"))
        // A gauge at 0 may or may not have been touched on the way (a clock
        // at risk for a while in one arrival order, never in another): only
        // its value is a verdict.
        .filter(|l| {
            !(l.starts_with("support_sla_at_risk") || l.starts_with("support_sla_active"))
                || !l.ends_with(" 0")
        })
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn delaying_an_opening_event_changes_no_verdict(evs in scenario(), pick in any::<prop::sample::Index>(), shift in 1usize..6) {
        let lines: Vec<&str> = evs.iter().map(|(_, l)| l.as_str()).collect();
        let expected = sla_lines(&lines);
        // Move one opening event later, behind up to `shift` events, but
        // never so far that the clock is more than 10 min past its ts.
        let openings: Vec<usize> = lines.iter().enumerate()
            .filter(|(_, l)| l.contains("ticket.created") || l.contains("call.queued"))
            .map(|(i, _)| i)
            .collect();
        let from = openings[pick.index(openings.len())];
        let ts = evs[from].0;
        let mut to = from;
        while to + 1 < evs.len() && to - from < shift && evs[to + 1].0 - ts <= 10 * M {
            to += 1;
        }
        let mut moved = lines.clone();
        let l = moved.remove(from);
        moved.insert(to, l);
        prop_assert_eq!(sla_lines(&moved), expected);
    }
}

/// The at-risk and active-breach gauges as the engine maintains them,
/// before the snapshot clamps them at zero (a negative count must show).
/// A snapshot is taken first, as a scrape would.
fn gauges(e: &mut Engine) -> Vec<(String, i64)> {
    let _ = e.snapshot(None);
    e.sla_gauges_unclamped()
        .into_iter()
        .map(|(name, labels, n)| (format!("{name}{labels:?}"), n))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The gauges are maintained, not recomputed: whatever the events, no
    /// gauge ever goes negative, and once every ticket is closed and every
    /// call has left its queue, every clock has stopped and both gauges are
    /// back at zero under every label.
    #[test]
    fn gauges_never_go_negative_and_return_to_zero(evs in scenario()) {
        let cfg = Config::parse(POLICIES).unwrap();
        let mut e = Engine::new(&cfg);
        for (_, l) in &evs {
            e.apply(decode(l.as_bytes(), 65536).unwrap());
            for (k, v) in gauges(&mut e) {
                prop_assert!(v >= 0, "{k} = {v} after {l}");
            }
        }
        let end = evs.last().unwrap().0 + M;
        let ids: std::collections::BTreeSet<String> = evs
            .iter()
            .filter_map(|(_, l)| l.split(r#""ticket_id":""#).nth(1))
            .map(|rest| rest.split('"').next().unwrap().to_string())
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let l = format!(r#"{{"event_id":"close{n}","type":"ticket.closed","ts":{end},"ticket_id":"{id}"}}"#);
            e.apply(decode(l.as_bytes(), 65536).unwrap());
        }
        e.flush();
        let left: Vec<_> = gauges(&mut e).into_iter().filter(|(_, v)| *v != 0).collect();
        prop_assert!(left.is_empty(), "gauges not back at zero: {left:?}");
    }
}
