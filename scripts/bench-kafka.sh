#!/usr/bin/env bash
# Live throughput of `frontline run` against a real single-node Kafka, next
# to a bare rdkafka consumer loop reading the same topic, both measured here
# from process start to the last event of the topic consumed (not to the
# process's exit). Prints
# events/s. Both read the whole topic: a partition of `frontline run`
# publishes its series once it has caught up with the end offset it saw at
# assignment, so stopping the clock at a count below the topic's would
# charge frontline for events it is not credited with.
#
# BASELINE=/path/to/an/older/frontline adds that binary to every round
# and reports frontline/baseline. FRONTLINE=/path/to/frontline measures that
# binary instead of this tree's release build (e.g. the build of
# scripts/pgo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DIR=".cache/kafka-bench"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -n "${FRONTLINE:-}" ]; then
  cargo build --release --quiet --example bare_consumer
else
  cargo build --release --quiet --bin frontline --example bare_consumer
  FRONTLINE="$TARGET/release/frontline"
fi
BARE="$TARGET/release/examples/bare_consumer"

./scripts/kafka.sh stop "$DIR"; rm -rf "$DIR"
B="$(./scripts/kafka.sh start "$DIR")"
trap './scripts/kafka.sh stop "$DIR"' EXIT
TOPIC="bench-$$"
kcat -b "$B" -L -t "$TOPIC" >/dev/null 2>&1 || true
# Pre-create with 4 partitions by producing a keyed simulation as fast as possible.
"$FRONTLINE" simulate --brokers "$B" --topic "$TOPIC" --speed 0 --duration 12h \
  --peak-per-hour 20000 --agents 200 2>/dev/null | tail -1 || true
N=$(kcat -b "$B" -t "$TOPIC" -C -e -q -f '.' 2>/dev/null | wc -c)
echo "topic $TOPIC: $N events"

now() { date +%s.%N; }
ROUNDS="${ROUNDS:-3}"

# The bare loop is timed to the line it prints on taking the topic's last
# message, as frontline is timed to the count that shows it took it in:
# neither is charged its shutdown. (The bare loop's exit, when timed
# before, came about 100 ms after that line: the consumer's close.)
bare_run() {
  local t0 t1 line pid
  t0=$(now)
  coproc BARE_RUN { exec "$BARE" "$B" "$TOPIC" "$N"; }
  pid=$BARE_RUN_PID
  read -r line <&"${BARE_RUN[0]}"
  t1=$(now)
  wait "$pid" || true
  python3 -c "print(f'{$N/($t1-$t0):.0f}')"
}

# The end of a frontline run is found by scripts/wait-events.py, one
# process started before the clock that polls every 10 ms over one
# connection. PROBE=curl polls as before: a `curl` and `awk` every 50 ms,
# about a fifth of a core of CPU on the cores frontline is timed on, and
# the end found 25 ms late on average (docs/performance.md, "Live").
PROBE="${PROBE:-wait}"

live_run() {
  local t0 t1 port pid got line bin="${2:-$FRONTLINE}"
  port=$(free_port)
  if [ "$PROBE" = wait ]; then
    coproc WAITER { exec python3 scripts/wait-events.py "$port" "$N" 0.01; }
    read -r line <&"${WAITER[0]}"
  fi
  t0=$(now)
  # A new group each run: it reads the topic from the start, no checkpoint to restore.
  "$bin" run --brokers "$B" --topic "$TOPIC" --group "fl-$$-$1" --listen "127.0.0.1:$port" \
    --set 'time.idle_timeout="1h"' --set "checkpoint.topic=\"$TOPIC.state-$1\"" 2>/dev/null &
  pid=$!
  if [ "$PROBE" = wait ]; then
    read -r line <&"${WAITER[0]}"
  else
    while :; do
      got=$(events_seen "$port")
      [ "${got:-0}" -ge "$N" ] && break
      sleep 0.05
    done
  fi
  t1=$(now)
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "print(f'{$N/($t1-$t0):.0f}')"
}

# One warm-up round first, not counted: the first run after the topic is
# written meets a colder page cache and broker than the rest.
# Then ROUNDS rounds, medians of each. The order alternates from round to
# round (bare, frontline, baseline; then baseline, frontline, bare), so
# neither a run's position nor the machine's drift favours one of them.
bare_run >/dev/null; live_run warmup >/dev/null
bares=(); lives=(); bases=()
for r in $(seq 1 "$ROUNDS"); do
  o=""
  if [ $((r % 2)) -eq 1 ]; then
    b=$(bare_run); l=$(live_run "$r")
    if [ -n "${BASELINE:-}" ]; then o=$(live_run "$r-baseline" "$BASELINE"); fi
  else
    if [ -n "${BASELINE:-}" ]; then o=$(live_run "$r-baseline" "$BASELINE"); fi
    l=$(live_run "$r"); b=$(bare_run)
  fi
  if [ -n "$o" ]; then
    echo "round $r: bare $b events/s, frontline $l events/s, baseline $o events/s"
    bases+=("$o")
  else
    echo "round $r: bare $b events/s, frontline $l events/s"
  fi
  bares+=("$b"); lives+=("$l")
done
python3 - "${bares[*]}" "${lives[*]}" "${bases[*]}" <<'PY'
import statistics, sys
bare = [float(x) for x in sys.argv[1].split()]
live = [float(x) for x in sys.argv[2].split()]
base = [float(x) for x in sys.argv[3].split()]
mb, ml = statistics.median(bare), statistics.median(live)
print(f"bare rdkafka consumer loop: {mb:.0f} events/s (median of {len(bare)})")
print(f"frontline run:              {ml:.0f} events/s (median of {len(live)})")
per = [l / b for b, l in zip(bare, live)]
print(f"ratio frontline/bare: {ml/mb:.2f} (median per round {statistics.median(per):.2f}); per round: "
      + ", ".join(f"{x:.2f}" for x in per))
if base:
    mo = statistics.median(base)
    print(f"baseline run:               {mo:.0f} events/s (median of {len(base)})")
    per = [l / o for l, o in zip(live, base)]
    print(f"ratio baseline/bare: {mo/mb:.2f}; frontline/baseline: {ml/mo:.2f} "
          f"(median per round {statistics.median(per):.2f}); per round: "
          + ", ".join(f"{x:.2f}" for x in per))
PY
