//! Producing simulated events to Kafka at a wall-clock pace.

use super::Simulator;

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
mod tests {
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
