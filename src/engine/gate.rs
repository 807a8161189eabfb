//! The gate: the first part of applying an event, which a pipelined replay
//! runs on its reading thread.
//!
//! Whether an event gets in depends on the events before it and nothing
//! else: the guards on event time (SPEC §2) compare it with the wall clock
//! and the event clock, and the dedup memory with the ids seen within its
//! horizon; the event clock is the latest time of the events let in. So a
//! [`Gate`] that holds the clock's copy and the dedup memory can judge the
//! events in input order on another thread, ahead of the engine, which
//! then applies them by their [`Verdict`] ([`Engine::admit_judged`]) and
//! takes the memory back at the end ([`Engine::join_gate`]). The engine's
//! own path ([`Engine::admit_keyed`]) runs the same steps in the same
//! order, with [`guard`] and the same dedup calls.

use super::dedup::Dedup;
use super::settings::Settings;
use super::{Engine, EventKeys, MOVES_PER_EVENT};
use crate::decode::DecodeError;
use crate::event::Event;

/// The guards on event time at wall-clock time `now_ms`: not too far ahead
/// of the wall clock, not too far behind the event clock `clock`.
pub(super) fn guard(
    ts: i64,
    now_ms: i64,
    clock: Option<i64>,
    s: &Settings,
) -> Result<(), DecodeError> {
    let ahead = ts.saturating_sub(now_ms);
    if ahead > s.max_future_skew {
        return Err(DecodeError::FutureTimestamp {
            ahead_ms: ahead,
            max_ms: s.max_future_skew,
        });
    }
    if let Some(clock) = clock {
        let behind = clock.saturating_sub(ts);
        if behind > s.max_event_age {
            return Err(DecodeError::TooOld {
                behind_ms: behind,
                max_ms: s.max_event_age,
            });
        }
    }
    Ok(())
}

/// What the gate found of an event the guards let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen within the dedup horizon: the engine applies it.
    Fresh,
    /// A duplicate: counted, nothing else.
    Duplicate,
}

/// The guards and the dedup memory of an engine, taken out of it to judge
/// events in order on another thread ([`Engine::split_gate`]).
pub struct Gate {
    settings: Settings,
    clock: Option<i64>,
    dedup: Dedup,
}

impl Gate {
    /// Judges the next event (of time `ts`, keys `keys`) at wall-clock time
    /// `now_ms`: refused by the guards, or let in as fresh or a duplicate.
    /// Does to the clock and the dedup memory what the engine would.
    pub fn judge(
        &mut self,
        ts: i64,
        keys: &EventKeys,
        now_ms: i64,
    ) -> Result<Verdict, DecodeError> {
        guard(ts, now_ms, self.clock, &self.settings)?;
        self.dedup.advance_moves(MOVES_PER_EVENT);
        if !self.dedup.insert_at_clock(keys.id(), self.clock, ts) {
            return Ok(Verdict::Duplicate);
        }
        // As `Engine::set_clock`: the memory forgets as the clock passes.
        if self.clock.is_none_or(|c| c < ts) {
            self.clock = Some(ts);
            self.dedup.expire(ts - self.settings.dedup_horizon);
        }
        Ok(Verdict::Fresh)
    }

    /// A cache hint ahead of judging the event with keys `keys` (as the
    /// engine's [`Engine::prefetch_ahead`] for its dedup memory).
    #[inline]
    pub fn prefetch(&self, keys: &EventKeys) {
        self.dedup.prefetch(keys.id(), super::probe::Step::Group);
    }
}

impl Engine {
    /// Takes the dedup memory out with a copy of the event clock and the
    /// settings, for a caller that judges every event with the [`Gate`], in
    /// input order, before it hands the event to [`Engine::admit_judged`].
    /// Until [`Engine::join_gate`] the engine holds no dedup memory and
    /// must not be given events any other way.
    pub fn split_gate(&mut self) -> Gate {
        debug_assert!(!self.gate_out, "the gate is already out");
        self.gate_out = true;
        Gate {
            settings: self.settings.clone(),
            clock: self.state.clock,
            dedup: std::mem::take(&mut self.state.dedup),
        }
    }

    /// Puts the gate's dedup memory back, once it has judged the last
    /// event the engine was given.
    pub fn join_gate(&mut self, gate: Gate) {
        debug_assert!(self.gate_out, "no gate is out");
        debug_assert_eq!(gate.clock, self.state.clock, "the gate judged other events");
        self.gate_out = false;
        self.state.dedup = gate.dedup;
    }

    /// [`Engine::admit_keyed`] of an event the gate has let in.
    pub fn admit_judged(&mut self, ev: &Event, keys: &EventKeys, verdict: Verdict) {
        debug_assert!(self.gate_out, "judged without the gate out");
        debug_assert_eq!(*keys, EventKeys::of(ev), "keys of another event");
        self.count_event(ev);
        match verdict {
            Verdict::Duplicate => self.state.metrics.duplicates += 1,
            Verdict::Fresh => self.apply_fresh(ev, keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::export::prometheus_text;

    const T0: i64 = 1_794_819_600_000;
    const M: i64 = 60_000;
    const WALL: i64 = T0 + 30 * 24 * 60 * M;

    /// Three hours of tickets with duplicates (within and past the dedup
    /// horizon), events older than `max_event_age`, events ahead of the
    /// wall clock and late ones.
    fn events() -> Vec<String> {
        let mut out = Vec::new();
        let ev = |id: String, ty: &str, ts: i64, f: String| {
            format!(r#"{{"event_id":"{id}","type":"{ty}","ts":{ts},{f}}}"#)
        };
        for i in 0..1800i64 {
            let ts = T0 + i * 6_000;
            let t = format!(r#""ticket_id":"T{i}""#);
            let c = format!(r#"{t},"customer_id":"C{}","queue":"q{}""#, i % 97, i % 3);
            out.push(ev(format!("c{i}"), "ticket.created", ts, c));
            let r = format!(r#"{t},"agent_id":"a{}","public":true"#, i % 5);
            out.push(ev(format!("r{i}"), "ticket.agent_replied", ts + 2 * M, r));
            if i % 7 == 0 {
                // A duplicate of an event of a minute ago.
                out.push(ev(
                    format!("c{}", i.saturating_sub(10)),
                    "survey.ces",
                    ts,
                    r#""score":3,"customer_id":"C1""#.into(),
                ));
            }
            if i % 400 == 399 {
                // A duplicate id from more than the horizon ago: counts.
                out.push(ev(
                    "c0".into(),
                    "survey.ces",
                    ts,
                    r#""score":4,"customer_id":"C1""#.into(),
                ));
                // Older than max_event_age behind the clock.
                out.push(ev(
                    format!("o{i}"),
                    "survey.nps",
                    T0 - 8 * 24 * 60 * M,
                    r#""score":9,"customer_id":"C1""#.into(),
                ));
                // Ahead of the wall clock.
                out.push(ev(
                    format!("f{i}"),
                    "survey.nps",
                    WALL + 60 * M,
                    r#""score":9,"customer_id":"C1""#.into(),
                ));
                // Late, behind the watermark.
                out.push(ev(
                    format!("l{i}"),
                    "ticket.resolved",
                    ts - 30 * M,
                    t.clone(),
                ));
            }
        }
        out
    }

    /// An engine given its events through a gate ends where one given them
    /// directly does: the same metrics (duplicates, refusals and the dedup
    /// memory's size included).
    #[test]
    fn a_gate_judges_as_the_engine_would() {
        let cfg = Config::default();
        let lines = events();
        let mut direct = Engine::new(&cfg);
        for l in &lines {
            let _ = direct.ingest(l.as_bytes(), 1 << 16, WALL);
        }
        let mut gated = Engine::new(&cfg);
        let mut gate = gated.split_gate();
        let (mut dups, mut refused) = (0, 0);
        for l in &lines {
            let (ev, keys) = EventKeys::with(crate::decode::decode(l.as_bytes(), 1 << 16).unwrap());
            match gate.judge(ev.ts, &keys, WALL) {
                Ok(v) => {
                    dups += usize::from(v == Verdict::Duplicate);
                    gated.admit_judged(&ev, &keys, v);
                }
                Err(e) => {
                    refused += 1;
                    gated.record_decode_error(e.reason_index());
                }
            }
        }
        gated.join_gate(gate);
        assert!(
            dups > 250 && refused == 8,
            "{dups} duplicates, {refused} refused"
        );
        direct.flush();
        gated.flush();
        assert_eq!(
            prometheus_text(gated.snapshot(None)),
            prometheus_text(direct.snapshot(None))
        );
    }
}
