//! One INFO line per SLA breach, rate-limited so a bulk catch-up (a replay,
//! or a clock jump that breaches thousands of clocks at once) cannot flood
//! the logs: past the limit, lines are counted and summarised.

use std::time::{Duration, Instant};

use crate::engine::sla::Breach;

/// Breach lines per second before lines are summarised instead.
pub const DEFAULT_LINES_PER_SECOND: u32 = 50;

/// Writes breach log lines under a per-second budget.
#[derive(Debug)]
pub struct BreachLog {
    per_second: u32,
    window_start: Instant,
    in_window: u32,
    suppressed: u64,
}

impl Default for BreachLog {
    fn default() -> Self {
        BreachLog::new(DEFAULT_LINES_PER_SECOND)
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl BreachLog {
    /// A log allowing `per_second` lines each second.
    pub fn new(per_second: u32) -> BreachLog {
        BreachLog {
            per_second,
            window_start: Instant::now(),
            in_window: 0,
            suppressed: 0,
        }
    }

    /// Logs breaches (and drops reported by the engine), returning how many
    /// lines were written.
    pub fn log(&mut self, breaches: &[Breach], dropped: u64) -> u32 {
        let mut written = 0;
        self.suppressed += dropped;
        for b in breaches {
            if self.window_start.elapsed() >= Duration::from_secs(1) {
                self.flush();
            }
            if self.in_window >= self.per_second {
                self.suppressed += 1;
                continue;
            }
            self.in_window += 1;
            written += 1;
            let (target_s, elapsed_s, at) = (
                b.target_ms as f64 / 1000.0,
                b.elapsed_ms as f64 / 1000.0,
                rfc3339(b.at),
            );
            if b.entity == "call" {
                tracing::info!(call = %b.id, policy = %b.policy, sla = %b.sla, target_s, elapsed_s, at = %at, "SLA breached");
            } else {
                tracing::info!(ticket = %b.id, policy = %b.policy, sla = %b.sla, target_s, elapsed_s, at = %at, "SLA breached");
            }
        }
        written
    }

    /// Starts a new second, summarising what was suppressed in the last.
    pub fn flush(&mut self) {
        if self.suppressed > 0 {
            tracing::info!(
                suppressed = self.suppressed,
                "SLA breach lines suppressed by the rate limit"
            );
        }
        self.suppressed = 0;
        self.in_window = 0;
        self.window_start = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breach(i: usize) -> Breach {
        Breach {
            entity: "ticket",
            id: format!("T{i}"),
            policy: "p".into(),
            sla: "first_response",
            target_ms: 3_600_000,
            elapsed_ms: 3_600_000,
            at: 0,
        }
    }

    #[test]
    fn lines_past_the_budget_are_counted_not_written() {
        let mut log = BreachLog::new(3);
        let many: Vec<Breach> = (0..10).map(breach).collect();
        assert_eq!(log.log(&many, 2), 3);
        assert_eq!(log.suppressed, 7 + 2);
        log.flush();
        assert_eq!(log.suppressed, 0);
        assert_eq!(log.log(&many[..1], 0), 1);
    }
}
