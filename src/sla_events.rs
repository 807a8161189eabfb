//! The SLA event stream's wire format (docs/sla.md, "The SLA event
//! stream"): one JSON object per SLA state change, the same for the Kafka
//! topic (`[sla_events] topic`) and `frontline replay --sla-events-out`.

use serde_json::{json, Map, Value};

use crate::engine::sla::SlaEvent;

/// The version of the event schema; a change that is not purely additive
/// increments it.
pub const SCHEMA_VERSION: u32 = 1;

/// What made a change happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Applying the input event at the source position.
    Event,
    /// The event clock passing an instant (at risk, a deadline) while the
    /// input event at the source position moved it.
    Timer,
    /// The event clock following wall time on a quiet partition (SPEC §2);
    /// the source position is the last event applied before.
    IdleClock,
    /// The end of a replay's input, which fires every timer due by the
    /// last event time; the source position is the last line.
    EndOfInput,
}

impl Cause {
    /// Its name in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Event => "event",
            Cause::Timer => "timer",
            Cause::IdleClock => "idle_clock",
            Cause::EndOfInput => "end_of_input",
        }
    }

    /// The cause of an engine change drained after applying an input event
    /// (`idle` for one drained after the idle clock moved).
    pub fn of(e: &SlaEvent, driven_by: Cause) -> Cause {
        match (driven_by, e.timer) {
            (Cause::Event, true) => Cause::Timer,
            (c, _) => c,
        }
    }
}

/// Where the change came from in the input.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A Kafka input: topic, partition, offset.
    Kafka(&'a str, i32, i64),
    /// A replay input file (`-`: stdin) and its 1-based line.
    File(&'a str, u64),
}

fn rfc3339(ms: i64) -> Value {
    jiff::Timestamp::from_millisecond(ms).map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// The JSON object of one change.
pub fn to_json(e: &SlaEvent, source: Source<'_>, cause: Cause) -> Value {
    let mut m = Map::new();
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("event_id".into(), json!(e.event_id()));
    m.insert("kind".into(), json!(e.kind.as_str()));
    let id_key = if e.entity == "call" {
        "call_id"
    } else {
        "ticket_id"
    };
    m.insert(id_key.into(), json!(e.id));
    m.insert("clock".into(), json!(e.clock.as_str()));
    m.insert("policy".into(), json!(e.policy));
    if e.kind == crate::engine::sla::SlaEventKind::PolicyChanged {
        m.insert("previous_policy".into(), json!(e.previous_policy));
    }
    m.insert(
        "target_seconds".into(),
        e.target_ms.map_or(Value::Null, seconds),
    );
    m.insert("due".into(), e.due_ms.map_or(Value::Null, rfc3339));
    m.insert("elapsed_seconds".into(), seconds(e.elapsed_ms));
    m.insert("breached".into(), json!(e.breached));
    m.insert("at_risk".into(), json!(e.at_risk));
    m.insert("at".into(), rfc3339(e.at));
    let src = match source {
        Source::Kafka(topic, partition, offset) => json!({
            "topic": topic, "partition": partition, "offset": offset, "cause": cause.as_str(),
        }),
        Source::File(file, line) => json!({
            "file": file, "line": line, "cause": cause.as_str(),
        }),
    };
    m.insert("source".into(), src);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sla::{ClockKind, SlaEventKind};

    #[test]
    fn a_breach_as_json() {
        let e = SlaEvent {
            kind: SlaEventKind::Breached,
            entity: "ticket",
            id: "T-1042".into(),
            clock: ClockKind::FirstResponse,
            policy: Some("urgent".into()),
            previous_policy: None,
            target_ms: Some(3_600_000),
            due_ms: Some(1_795_336_200_000),
            elapsed_ms: 3_600_000,
            at: 1_795_336_200_000,
            timer: true,
            breached: true,
            at_risk: false,
        };
        let v = to_json(
            &e,
            Source::Kafka("support-events", 3, 41),
            Cause::of(&e, Cause::Event),
        );
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["kind"], "breached");
        assert_eq!(v["ticket_id"], "T-1042");
        assert_eq!(v["clock"], "first_response");
        assert_eq!(v["policy"], "urgent");
        assert_eq!(v["target_seconds"], 3600);
        // 1 795 336 200 s after the epoch is 2026-11-22T08:30:00Z.
        assert_eq!(v["due"], "2026-11-22T08:30:00Z");
        assert_eq!(v["at"], "2026-11-22T08:30:00Z");
        assert_eq!(v["elapsed_seconds"], 3600);
        assert_eq!(v["source"]["offset"], 41);
        assert_eq!(v["source"]["cause"], "timer");
        assert!(v.get("previous_policy").is_none());
        assert_eq!(v["event_id"].as_str().unwrap().len(), 32);
    }
}
