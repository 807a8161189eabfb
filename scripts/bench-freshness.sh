#!/usr/bin/env bash
# Freshness of `frontline run` against a real single-node Kafka: how long
# from an event produced to its effect visible on /metrics, at half the
# sustainable rate measured first in this script (docs/performance.md,
# "Freshness").
#
# 1. Sustainable rate: a backlog of simulated events is produced, then
#    `frontline run` (a new group) reads it from the start; events/s from
#    process start to the last event counted on /metrics (as
#    scripts/bench-kafka.sh measures it), the median of ROUNDS runs.
# 2. Freshness: `frontline run` on an empty topic while examples/freshness.rs
#    produces the simulated centre at half that rate and sends PROBES probe
#    events one at a time, scraping /metrics until each is counted.
#
# To compare builds: FRESHNESS_RATE=65000 skips step 1 and produces at that
# rate, and FRESHNESS_BINS="old/frontline new/frontline old/frontline ..."
# runs step 2 once per binary listed, in that order, on fresh topics
# (docs/performance.md, "Checkpoints off the applying thread");
# FRESHNESS_LOGS=DIR keeps each run's stderr there (run-1.log, ...) and
# each run's probes, one line each (send time in Unix ms, delay in ms:
# probes-1.txt, ...). FRESHNESS_WARMUP=S (default 45) is how long the
# background flows before the first probe. Each run also prints frontline's
# CPU time over it. The probes' scrapes ask for the one family they read
# (`/metrics?name[]=support_tickets_created_total`); FRESHNESS_SCRAPE=full
# makes them read every family, FRESHNESS_SCRAPES="full one full one ..."
# alternates the two over the runs (with FRESHNESS_BINS of as many binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N="${N:-400000}"
PROBES="${PROBES:-300}"
ROUNDS="${ROUNDS:-3}"
DIR=".cache/kafka-bench-freshness"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin frontline --example freshness
FRONTLINE="$TARGET/release/frontline"
PROBE="$TARGET/release/examples/freshness"

./scripts/kafka.sh stop "$DIR"; rm -rf "$DIR"
B="$(./scripts/kafka.sh start "$DIR")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  ./scripts/kafka.sh stop "$DIR"
}
trap cleanup EXIT
now() { date +%s.%N; }

measure_rate() {
  BACKLOG="backlog-$$"
  "$FRONTLINE" simulate --brokers "$B" --topic "$BACKLOG" --speed 0 --duration 12h \
    --peak-per-hour 20000 --agents 200 2>/dev/null | tail -1 || true
  TOTAL=$(kcat -b "$B" -t "$BACKLOG" -C -e -q -f '.' 2>/dev/null | wc -c)
  [ "$TOTAL" -gt "$N" ] || N="$TOTAL"

  rate_run() {
    local t0 t1 port pid got
    port=$(free_port)
    t0=$(now)
    "$FRONTLINE" run --brokers "$B" --topic "$BACKLOG" --group "rate-$$-$1" --listen "127.0.0.1:$port" \
      --set 'time.idle_timeout="1h"' --set "checkpoint.topic=\"$BACKLOG.state-$1\"" 2>/dev/null &
    pid=$!
    while :; do
      got=$(events_seen "$port")
      [ "${got:-0}" -ge "$TOTAL" ] && break
      sleep 0.05
    done
    t1=$(now)
    kill -TERM "$pid"; wait "$pid" || true
    python3 -c "print(f'{$TOTAL/($t1-$t0):.0f}')"
  }
  rates=()
  for r in $(seq 1 "$ROUNDS"); do
    x=$(rate_run "$r"); echo "sustainable rate, round $r: $x events/s ($TOTAL events)"; rates+=("$x")
  done
  RATE=$(python3 -c "import statistics,sys; print(int(statistics.median(map(float, sys.argv[1:]))))" "${rates[@]}")
  HALF=$((RATE / 2))
  echo "sustainable rate: $RATE events/s (median of $ROUNDS); freshness at $HALF events/s"
}
if [ -n "${FRESHNESS_RATE:-}" ]; then
  HALF="$FRESHNESS_RATE"
  echo "freshness at $HALF events/s (FRESHNESS_RATE)"
else
  measure_rate
fi

i=0
read -r -a scrapes <<<"${FRESHNESS_SCRAPES:-}"
for bin in ${FRESHNESS_BINS:-$FRONTLINE}; do
  i=$((i + 1))
  scrape="${scrapes[$((i - 1))]:-${FRESHNESS_SCRAPE:-one}}"
  LIVE="live-$$-$i"
  # The topic exists (4 partitions, the broker's default) before frontline subscribes.
  echo "{\"event_id\":\"warmup-$$-$i\",\"type\":\"agent.status_changed\",\"ts\":$(date +%s%3N),\"agent_id\":\"agent-warmup\",\"status\":\"available\",\"queue\":\"billing\"}" \
    | kcat -b "$B" -t "$LIVE" -P
  port=$(free_port)
  log=/dev/null
  trace=()
  if [ -n "${FRESHNESS_LOGS:-}" ]; then
    log="$FRESHNESS_LOGS/run-$i.log"; trace=("$FRESHNESS_LOGS/probes-$i.txt")
  fi
  "$bin" run --brokers "$B" --topic "$LIVE" --group "fresh-$$-$i" --listen "127.0.0.1:$port" \
    --set "checkpoint.topic=\"$LIVE.state\"" ${FRESHNESS_SET:+--set "$FRESHNESS_SET"} \
    2>"$log" &
  pid=$!
  pids+=("$pid")
  until curl -sf "127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
  [ -z "${FRESHNESS_BINS:-}" ] || echo "run $i: $bin, scrapes: $scrape"
  SCRAPE="$scrape" "$PROBE" "$B" "$LIVE" "127.0.0.1:$port" "$HALF" "$PROBES" "${FRESHNESS_WARMUP:-45}" "${trace[@]}"
  # frontline's CPU over the run (user + system, from process start), and
  # per event applied: the cost of a steady rate, which the delays above
  # only show once the cores run out.
  events=$(curl -gs "127.0.0.1:$port/metrics?name[]=frontline_events_total" | awk '/^frontline_events_total/ {s+=$2} END {printf "%d", s}')
  awk -v hz="$(getconf CLK_TCK)" -v n="${events:-0}" '{ sub(/.*\) /, ""); c = ($12 + $13) / hz;
    printf "frontline cpu %.1f s (user %.1f, system %.1f) for %d events: %.2f us of CPU an event\n", c, $12 / hz, $13 / hz, n, (n > 0 ? c * 1e6 / n : 0) }' "/proc/$pid/stat"
  # What the run left in state, over all partitions: what `[state] reserve_*`
  # would be sized from (docs/operations.md, "Tables that grow, and room reserved up front").
  curl -gs "127.0.0.1:$port/metrics?name[]=frontline_state_entries" | awk -F'[{}"= ]+' \
    '/^frontline_state_entries/ { printf "%s%s %s", sep, $3, $NF; sep = ", " } END { print " (state entries at the end)" }'
  # Batches that held their partition up: a probe behind one waits for it.
  curl -gs "127.0.0.1:$port/metrics?name[]=frontline_batch_seconds" | awk '
    /^frontline_batch_seconds_bucket\{le="0.05"\}/ { a = $NF } /^frontline_batch_seconds_bucket\{le="0.1"\}/ { b = $NF }
    /^frontline_batch_seconds_bucket\{le="1(\.0)?"\}/ { c = $NF } /^frontline_batch_seconds_count/ { n = $NF }
    END { printf "batches %d: over 50 ms %d, over 100 ms %d, over 1 s %d\n", n, n - a, n - b, n - c }'
  kill -TERM "$pid"; wait "$pid" || true
done
