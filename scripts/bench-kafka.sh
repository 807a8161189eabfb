#!/usr/bin/env bash
# Live throughput of `frontline run` against a real single-node Kafka, next
# to a bare rdkafka consumer loop reading the same topic, both measured here
# from process start to the last event of the topic consumed (not to the
# process's exit). Prints events/s. Both read the whole topic: a partition
# of `frontline run` publishes its series once it has caught up with the
# end offset it saw at assignment, so stopping the clock at a count below
# the topic's would charge frontline for events it is not credited with.
#
# Both whole-run rates include each process's start: the group join, the
# first fetch and (for frontline) its changelog, about a tenth of a run of
# the 12-hour topic. So each round also reads a second topic, the same
# simulation run for LONG_DURATION (96 hours by default: 3.1 M events, five
# times the short topic's), and the script reports the marginal rate too:
# the events the longer topic has beyond the shorter one, over the time
# its run took beyond the shorter one's. That is the rate at which each
# keeps up once started, the start taken out (docs/performance.md,
# "Live", "The start taken out"). It is a difference of two timings, so
# the longer the second topic the less their noise weighs: with 36 hours
# (0.8 M events beyond the short topic's) single rounds' ratios spread
# over 0.37-2.05.
#
# Each run's threads' CPU is read when its last event is seen, and the
# script reports, with the start taken out, the nanoseconds of CPU an
# event took by kind of thread (frontline's applying threads, its consumer
# thread, librdkafka's threads, the rest), and the cores the broker, on
# the same machine, kept busy meanwhile, alone and with the program's
# (docs/performance.md, "The broker's share of the two cores").
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
BROKER_PID="$(cat "$DIR/pid")"
TICK_NS=$((1000000000 / $(getconf CLK_TCK)))
# `make_topic TOPIC DURATION`: the bench's simulation over DURATION,
# produced keyed as fast as possible (the topic is created with the
# broker's 4 partitions); prints its event count.
make_topic() {
  kcat -b "$B" -L -t "$1" >/dev/null 2>&1 || true
  "$FRONTLINE" simulate --brokers "$B" --topic "$1" --speed 0 --duration "$2" \
    --peak-per-hour 20000 --agents 200 2>/dev/null | tail -1 >&2 || true
  kcat -b "$B" -t "$1" -C -e -q -f '.' 2>/dev/null | wc -c
}
TOPIC="bench-$$"
N=$(make_topic "$TOPIC" 12h)
echo "topic $TOPIC: $N events"
# The same simulation (same seed) over LONG_DURATION: its first 12 hours
# are the topic above, event for event.
LONG="bench-$$-long"
NL=$(make_topic "$LONG" "${LONG_DURATION:-96h}")
echo "topic $LONG: $NL events"

now() { date +%s.%N; }
ROUNDS="${ROUNDS:-7}"

# `broker_cpu`: the nanoseconds of CPU the broker (the JVM, all its
# threads) has used so far, to the clock tick. It shares the two cores
# with the program measured, so each run also says what the broker took
# meanwhile: serving its fetches, its group, and frontline's changelog.
broker_cpu() {
  awk -v t="$TICK_NS" '{ printf "%.0f\n", ($14 + $15) * t }' /proc/"$BROKER_PID"/stat
}

# `run_line T0 T1 B0 B1 CPU`: a run's line, from its start and end times,
# the broker's CPU at each, and its threads' CPU: "seconds broker_ns w c k o".
run_line() {
  python3 -c "print(f'{$2-$1:.4f} {$4-$3} $5')"
}

# `thread_cpu PID`: the nanoseconds the threads of PID have run so far
# (/proc/PID/task/*/schedstat), by kind: the runtime's workers (frontline's
# applying threads), frontline's consumer thread, librdkafka's threads, and
# the rest (the bare loop's own loop runs on its main thread). Read when a
# run's last event is seen, so that the long topic's figures less the short
# one's say where each event's CPU goes once started.
# Prints nothing when no thread's could be read.
thread_cpu() {
  local t comm ns w=0 c=0 k=0 o=0 seen=0
  for t in /proc/"$1"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    ns=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) || continue
    [ -n "$ns" ] || continue
    seen=$((seen + 1))
    case "$comm" in
      tokio-rt-worker*) w=$((w + ns)) ;;
      kafka-consumer*) c=$((c + ns)) ;;
      rdk:*) k=$((k + ns)) ;;
      *) o=$((o + ns)) ;;
    esac
  done
  [ "$seen" -eq 0 ] || echo "$w $c $k $o"
}

# The bare loop is timed to the line it prints on taking the topic's last
# message, as frontline is timed to the count that shows it took it in:
# neither is charged its shutdown. (The bare loop's exit, when timed
# before, came about 100 ms after that line: the consumer's close.) The
# loop then waits for its input to close, so that its threads are all
# there when their CPU is read; the run closes it after.
# Each run prints its seconds, the broker's CPU meanwhile (`broker_cpu`)
# and its threads' CPU (`thread_cpu`); `bare_run TOPIC COUNT`.
bare_run() {
  local t0 t1 line pid cpu b0 b1
  b0=$(broker_cpu)
  t0=$(now)
  coproc BARE_RUN { exec "$BARE" "$B" "$1" "$2"; }
  pid=$BARE_RUN_PID
  read -r line <&"${BARE_RUN[0]}"
  t1=$(now)
  b1=$(broker_cpu)
  cpu=$(thread_cpu "$pid")
  # (Unset if the loop has already exited: then there is nothing to close.)
  if [ -n "${BARE_RUN[1]:-}" ]; then eval "exec ${BARE_RUN[1]}>&-"; fi
  wait "$pid" || true
  run_line "$t0" "$t1" "$b0" "$b1" "$cpu"
}

# The end of a frontline run is found by scripts/wait-events.py, one
# process started before the clock that polls every 10 ms over one
# connection. PROBE=curl polls as before: a `curl` and `awk` every 50 ms,
# about a fifth of a core of CPU on the cores frontline is timed on, and
# the end found 25 ms late on average (docs/performance.md, "Live").
PROBE="${PROBE:-wait}"

# `live_run TAG BIN TOPIC COUNT`.
live_run() {
  local t0 t1 port pid got line cpu b0 b1 bin="$2"
  port=$(free_port)
  if [ "$PROBE" = wait ]; then
    coproc WAITER { exec python3 scripts/wait-events.py "$port" "$4" 0.01; }
    read -r line <&"${WAITER[0]}"
  fi
  b0=$(broker_cpu)
  t0=$(now)
  # A new group each run: it reads the topic from the start, no checkpoint to restore.
  "$bin" run --brokers "$B" --topic "$3" --group "fl-$$-$1" --listen "127.0.0.1:$port" \
    --set 'time.idle_timeout="1h"' --set "checkpoint.topic=\"$3.state-$1\"" 2>/dev/null &
  pid=$!
  if [ "$PROBE" = wait ]; then
    read -r line <&"${WAITER[0]}"
  else
    while :; do
      got=$(events_seen "$port")
      [ "${got:-0}" -ge "$4" ] && break
      sleep 0.05
    done
  fi
  t1=$(now)
  b1=$(broker_cpu)
  cpu=$(thread_cpu "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  run_line "$t0" "$t1" "$b0" "$b1" "$cpu"
}

# `run_one PROGRAM TOPIC COUNT TAG`: one run's seconds, the broker's CPU
# and the threads' CPU.
run_one() {
  case "$1" in
    bare) bare_run "$2" "$3" ;;
    frontline) live_run "$4" "$FRONTLINE" "$2" "$3" ;;
    baseline) live_run "$4-baseline" "$BASELINE" "$2" "$3" ;;
  esac
}

# One warm-up round first, not counted: the first run after the topic is
# written meets a colder page cache and broker than the rest.
# Then ROUNDS rounds, medians of each. The programs' order turns by one
# from round to round (bare, frontline, baseline; then frontline,
# baseline, bare; ...), first on the short topic and then on the long one,
# and every other round the long topic goes first, so neither a run's
# position nor the machine's drift favours one of them. (Until
# 2026-12-06 a round's whole order was reversed every other round, which
# left frontline in the middle every time beside a baseline: two builds
# of one commit measured that way read 1.04 and 0.95 against each other.)
PROGRAMS="bare frontline"
if [ -n "${BASELINE:-}" ]; then PROGRAMS="$PROGRAMS baseline"; fi
bare_run "$TOPIC" "$N" >/dev/null; live_run warmup "$FRONTLINE" "$TOPIC" "$N" >/dev/null
RESULTS="$(mktemp)"
trap './scripts/kafka.sh stop "$DIR"; rm -f "$RESULTS"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086 # the programs' names, one word each
  set -- $PROGRAMS
  for _ in $(seq 2 "$r"); do set -- "${@:2}" "$1"; done
  topics="short long"
  if [ $((r % 2)) -eq 0 ]; then topics="long short"; fi
  runs=""
  for t in $topics; do
    for p in "$@"; do runs="$runs $p:$t"; done
  done
  for run in $runs; do
    p=${run%:*}
    if [ "${run#*:}" = short ]; then
      echo "$r $p short $(run_one "$p" "$TOPIC" "$N" "$r")" >>"$RESULTS"
    else
      echo "$r $p long $(run_one "$p" "$LONG" "$NL" "$r-long")" >>"$RESULTS"
    fi
  done
  awk -v r="$r" -v n="$N" '$1 == r && $3 == "short" { printf "%s%s %.0f", sep, $2, n / $4; sep = ", " }
    END { print " events/s" }' "$RESULTS" | sed "s/^/round $r: /"
done
python3 - "$RESULTS" "$N" "$NL" <<'PY'
import collections, os, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n, nl = int(sys.argv[2]), int(sys.argv[3])
secs = collections.defaultdict(dict)  # (program, topic) -> round -> seconds
cpu = collections.defaultdict(dict)  # (program, topic) -> round -> ns by kind of thread
broker = collections.defaultdict(dict)  # (program, topic) -> round -> the broker's ns meanwhile
for r, p, t, s, br, *ns in rows:
    secs[(p, t)][int(r)] = float(s)
    broker[(p, t)][int(r)] = int(br)
    cpu[(p, t)][int(r)] = [int(x) for x in ns]
rounds = sorted(secs[("bare", "short")])
progs = [p for p in ("bare", "frontline", "baseline") if (p, "short") in secs]
whole = {p: [n / secs[(p, "short")][r] for r in rounds] for p in progs}
# Events beyond the short topic over the seconds beyond its run, per round.
marginal = {p: [(nl - n) / (secs[(p, "long")][r] - secs[(p, "short")][r]) for r in rounds]
            for p in progs}
med = statistics.median
def ratios(rates, a, b):
    per = [x / y for x, y in zip(rates[a], rates[b])]
    return (f"{med(rates[a]) / med(rates[b]):.2f} (median per round {med(per):.2f}); per round: "
            + ", ".join(f"{x:.2f}" for x in per))
print(f"bare rdkafka consumer loop: {med(whole['bare']):.0f} events/s (median of {len(rounds)})")
print(f"frontline run:              {med(whole['frontline']):.0f} events/s (median of {len(rounds)})")
print("ratio frontline/bare: " + ratios(whole, "frontline", "bare"))
if "baseline" in progs:
    print(f"baseline run:               {med(whole['baseline']):.0f} events/s (median of {len(rounds)})")
    print(f"ratio baseline/bare: {med(whole['baseline']) / med(whole['bare']):.2f}; "
          "frontline/baseline: " + ratios(whole, "frontline", "baseline"))
if nl <= n:
    sys.exit(f"the long topic has {nl} events, not more than the short one's {n}: "
             "no rate with the start taken out")
print(f"start taken out: the {nl - n} events the long topic has beyond the short one, "
      "over the seconds its run took beyond the short one's:")
for p in progs:
    print(f"  {p:<10} {med(marginal[p]):.0f} events/s (median of {len(rounds)})")
print("  ratio frontline/bare: " + ratios(marginal, "frontline", "bare"))
if "baseline" in progs:
    print("  frontline/baseline: " + ratios(marginal, "frontline", "baseline"))
# Where each event beyond the short topic's went: CPU run by each kind of
# thread, the long run's less the short run's, per event; medians of the
# rounds. Cores busy: that CPU at the marginal rate.
kinds = ("runtime workers", "consumer thread", "librdkafka", "other")
print("start taken out, CPU per event by thread (ns; medians of the rounds):")
busy = {}  # program -> round's cores busy, when its threads' CPU was read
for p in progs:
    if not all(len(cpu[(p, t)][r]) == 4 for t in ("short", "long") for r in rounds):
        print(f"  {p:<10} (no per-thread CPU: /proc/PID/task/*/schedstat unreadable)")
        continue
    per = [[(cpu[(p, "long")][r][k] - cpu[(p, "short")][r][k]) / (nl - n) for k in range(4)]
           for r in rounds]
    total = [sum(x) for x in per]
    parts = ", ".join(f"{kinds[k]} {med([x[k] for x in per]):.0f}" for k in range(4)
                      if med([x[k] for x in per]) >= 0.5)
    busy[p] = [t * m / 1e9 for t, m in zip(total, marginal[p])]
    print(f"  {p:<10} {med(total):.0f} in all ({med(busy[p]):.2f} cores busy): {parts}")
# The broker's CPU over the same seconds (its JVM, to the clock tick), and
# with the program's: how much of the machine's cores the two took.
print(f"start taken out, the broker's CPU meanwhile (the machine has {os.cpu_count()} cores):")
for p in progs:
    b = [(broker[(p, "long")][r] - broker[(p, "short")][r]) / (nl - n) * m / 1e9
         for r, m in zip(rounds, marginal[p])]
    line = f"  {p:<10} broker {med(b):.2f} cores busy"
    if p in busy:
        line += f"; the broker and {p} together {med([x + y for x, y in zip(b, busy[p])]):.2f}"
    print(line)
PY
