#!/usr/bin/env bash
# Freshness of `frontline run` against a real single-node Kafka: how long
# from an event produced to its effect visible on /metrics, at half the
# sustainable rate measured first in this script (docs/performance.md,
# "Freshness", "The rate kept live").
#
# 1. Catch-up rate: a backlog of simulated events is produced, then
#    `frontline run` (a new group) reads it from the start; events/s from
#    process start to the last event counted on /metrics (as
#    scripts/bench-kafka.sh measures it), the median of ROUNDS runs.
# 2. Sustainable rate: the rate this machine keeps live, the producer, the
#    broker and frontline together. Short live runs (SUSTAIN_PROBES probes,
#    default 40, after SUSTAIN_WARMUP seconds, default 10), from the
#    catch-up rate down by a fifth a step until one is kept, then once
#    halfway back up; a run is kept when the producer sent at least 95 % of
#    the asked rate and the probes' p90 was within a second.
#    FRESHNESS_SUSTAIN=catchup skips this step and takes the catch-up rate
#    as the sustainable one (the script's reading until 2026-12-06).
# 3. Freshness: `frontline run` on an empty topic while examples/freshness.rs
#    produces the simulated centre at half the sustainable rate and sends
#    PROBES probe events one at a time, scraping /metrics until each is
#    counted.
#
# To compare builds: FRESHNESS_RATE=65000 skips steps 1 and 2 and produces at
# that rate, and FRESHNESS_BINS="old/frontline new/frontline ..."
# runs step 3 once per binary listed, in that order, on fresh topics
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
    x=$(rate_run "$r"); echo "catch-up rate, round $r: $x events/s ($TOTAL events)"; rates+=("$x")
  done
  RATE=$(python3 -c "import statistics,sys; print(int(statistics.median(map(float, sys.argv[1:]))))" "${rates[@]}")
  HALF=$((RATE / 2))
  echo "catch-up rate: $RATE events/s (median of $ROUNDS)"
}
# `live_run BIN RATE PROBES WARMUP SCRAPE TAG [LOG TRACE]`: `frontline run`
# (BIN) on a new, empty topic (TAG names it and its group) while the probe
# program produces the simulated centre at RATE events/s and, after WARMUP
# seconds, sends PROBES probes; frontline's stderr goes to LOG. Prints the
# probe program's summary and leaves its `result:` line in RESULT (a run
# whose probe was never seen leaves one with a delay of 1e9 ms). With
# DETAIL=1, also prints frontline's CPU, state and slow batches.
live_run() {
  local bin=$1 rate=$2 probes=$3 warmup=$4 scrape=$5 tag=$6 log=${7:-/dev/null} trace=() out port pid
  [ -z "${8:-}" ] || trace=("$8")
  local topic="live-$$-$tag"
  # The topic exists (4 partitions, the broker's default) before frontline subscribes.
  echo "{\"event_id\":\"warmup-$$-$tag\",\"type\":\"agent.status_changed\",\"ts\":$(date +%s%3N),\"agent_id\":\"agent-warmup\",\"status\":\"available\",\"queue\":\"billing\"}" \
    | kcat -b "$B" -t "$topic" -P
  port=$(free_port)
  "$bin" run --brokers "$B" --topic "$topic" --group "fresh-$$-$tag" --listen "127.0.0.1:$port" \
    --set "checkpoint.topic=\"$topic.state\"" ${FRESHNESS_SET:+--set "$FRESHNESS_SET"} \
    2>"$log" &
  pid=$!
  pids+=("$pid")
  until curl -sf "127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
  out=$(SCRAPE="$scrape" "$PROBE" "$B" "$topic" "127.0.0.1:$port" "$rate" "$probes" "$warmup" "${trace[@]}") \
    || out="$out"$'\n'"result: asked $rate kept 0 p50 1e9 p90 1e9 p99 1e9 max 1e9"
  grep -v '^result:' <<<"$out" || true
  RESULT=$(grep '^result:' <<<"$out" | tail -1)
  if [ "${DETAIL:-0}" = 1 ]; then
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
  fi
  kill -TERM "$pid"; wait "$pid" || true
}

# `kept RATE`: one short live run at RATE; true when the machine kept it:
# the background's producer sent at least 95 % of RATE and frontline kept
# up with it, read as the probes' p90 within a second (a frontline behind
# its input makes every probe wait for the backlog ahead of it, and that
# wait grows with the run).
kept() {
  live_run "$FRONTLINE" "$1" "${SUSTAIN_PROBES:-40}" "${SUSTAIN_WARMUP:-10}" one "s$1" >/dev/null
  awk -v r="$1" '{ k = $5; p90 = $9; ok = k >= 0.95 * r && p90 <= 1000
    printf "live at %d events/s: the producer kept %d (%.0f %%), probes p50 %s ms, p90 %s ms: %s\n",
      r, k, 100 * k / r, $7, p90, ok ? "kept" : "not kept"
    exit !ok }' <<<"$RESULT"
}

# The rate this machine keeps live: the catch-up rate first, then a fifth
# less each step until a short live run keeps it, then once halfway back
# up. On a machine where the producer, the broker and frontline share the
# cores, this is the sustainable rate of the pipeline as it runs here,
# producer included (docs/performance.md, "Freshness", "The rate kept
# live").
measure_live() {
  local r=$RATE hi=0 lo=0 n
  for n in $(seq 1 12); do
    if kept "$r"; then lo=$r; break; fi
    hi=$r
    r=$((r * 4 / 5))
  done
  [ "$lo" -gt 0 ] || { echo "no rate down to $r events/s was kept live" >&2; exit 1; }
  if [ "$hi" -gt 0 ] && kept $(((lo + hi) / 2)); then lo=$(((lo + hi) / 2)); fi
  LIVE_RATE=$lo
  HALF=$((LIVE_RATE / 2))
  echo "rate kept live: $LIVE_RATE events/s (catch-up $RATE); freshness at $HALF events/s"
}

if [ -n "${FRESHNESS_RATE:-}" ]; then
  HALF="$FRESHNESS_RATE"
  echo "freshness at $HALF events/s (FRESHNESS_RATE)"
else
  measure_rate
  [ "${FRESHNESS_SUSTAIN:-live}" = catchup ] || measure_live
fi

i=0
read -r -a scrapes <<<"${FRESHNESS_SCRAPES:-}"
for bin in ${FRESHNESS_BINS:-$FRONTLINE}; do
  i=$((i + 1))
  scrape="${scrapes[$((i - 1))]:-${FRESHNESS_SCRAPE:-one}}"
  log=/dev/null
  trace=""
  if [ -n "${FRESHNESS_LOGS:-}" ]; then
    log="$FRESHNESS_LOGS/run-$i.log"; trace="$FRESHNESS_LOGS/probes-$i.txt"
  fi
  [ -z "${FRESHNESS_BINS:-}" ] || echo "run $i: $bin, scrapes: $scrape"
  DETAIL=1 live_run "$bin" "$HALF" "$PROBES" "${FRESHNESS_WARMUP:-45}" "$scrape" "$i" "$log" "$trace"
done
