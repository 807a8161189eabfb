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
        let ev = decode(e.json.as_bytes(), 65536).unwrap_or_else(|err| panic!("{}: {err}", e.json));
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
