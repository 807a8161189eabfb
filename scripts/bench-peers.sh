#!/usr/bin/env bash
# frontline against a real peer (issue 16, target 6): the same KPI subset as a
# Kafka Streams application (benches/peers/kafka-streams/), both consuming one
# 4-partition topic on one real single-node Kafka. Runs them alternately
# (A B A B ..., ROUNDS each, every run from a fresh consumer group /
# application id and empty state), each timed from process start to the last
# of N events consumed; at that moment its CPU seconds (user+sys, /proc/PID/stat)
# and peak RSS (VmHWM) are read. Every run's final results are checked equal
# (benches/peers/compare.py). Prints events/s, events/s per CPU-second and
# peak RSS, medians, and the ratios against the target.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-12h}"
PEAK="${PEAK:-20000}"
DIR=".cache/kafka-peers"
WORK=".cache/peers-run"
TARGET="${CARGO_TARGET_DIR:-target}"
PEER_DIR="benches/peers/kafka-streams"
M2="$PWD/.cache/m2"

cargo build --release --quiet --bin frontline
FRONTLINE="$TARGET/release/frontline"
# The peer: offline once the Maven cache under .cache/m2 is warm.
mvn_peer() { mvn -q -B "$@" -Dmaven.repo.local="$M2" -f "$PEER_DIR/pom.xml" package \
  dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2; }
mvn_peer -o 2>/dev/null || mvn_peer
CP="$PEER_DIR/target/kafka-streams-peer-0.1.0.jar:$(cat "$PEER_DIR/target/classpath.txt")"
./scripts/kafka.sh fetch

./scripts/kafka.sh stop "$DIR"; rm -rf "$DIR" "$WORK"; mkdir -p "$WORK"
B="$(./scripts/kafka.sh start "$DIR")"
trap './scripts/kafka.sh stop "$DIR"' EXIT
TOPIC="peers-$$"
"$FRONTLINE" simulate --brokers "$B" --topic "$TOPIC" --speed 0 --duration "$DURATION" \
  --peak-per-hour "$PEAK" --agents 200 2>/dev/null | tail -1 || true
N=$(kcat -b "$B" -t "$TOPIC" -C -e -q -f '.' 2>/dev/null | wc -c)
PARTS=$(kcat -b "$B" -L -t "$TOPIC" 2>/dev/null | grep -c 'partition ')
echo "topic $TOPIC: $N events in $PARTS partitions ($DURATION simulated, peak $PEAK/h)"

now() { date +%s.%N; }
TCK=$(getconf CLK_TCK)
# "cpu_seconds peak_rss_kib" of a live process.
usage() {
  local cpu rss
  cpu=$(awk -v t="$TCK" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat")
  rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")
  echo "$cpu $rss"
}

# Each run prints "events/s cpu_seconds peak_rss_kib".
frontline_run() {
  local t0 t1 port pid got u
  port=$(free_port)
  t0=$(now)
  "$FRONTLINE" run --brokers "$B" --topic "$TOPIC" --group "fl-$$-$1" --listen "127.0.0.1:$port" \
    --config benches/peers/frontline.toml --set "checkpoint.topic=\"$TOPIC.fl-state-$1\"" \
    2>"$WORK/frontline-$1.log" &
  pid=$!
  while :; do
    got=$(events_seen "$port")
    [ "${got:-0}" -ge "$N" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "frontline exited early" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  u=$(usage "$pid")
  curl -s "127.0.0.1:$port/metrics" >"$WORK/frontline-$1.prom"
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "print(f'{$N/($t1-$t0):.0f}')" | tr '\n' ' '; echo "$u"
}

peer_run() {
  local t0 t1 pid u out="$WORK/peer-$1.out"
  rm -rf "$WORK/peer-state-$1"
  : >"$out"
  t0=$(now)
  java ${PEER_JAVA_OPTS:-} -cp "$CP" frontline.peer.Peer "$B" "$TOPIC" "peer-$$-$1" "$N" \
    "$WORK/peer-state-$1" >"$out" 2>"$WORK/peer-$1.log" &
  pid=$!
  while ! grep -q '^consumed' "$out"; do
    kill -0 "$pid" 2>/dev/null || { echo "peer exited early: $WORK/peer-$1.log" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  u=$(usage "$pid")
  # Its final aggregates follow; a peer that never prints them fails the run.
  for _ in $(seq 1 1200); do grep -q '^{' "$out" && break; sleep 0.1; done
  grep -q '^{' "$out" || { kill "$pid"; echo "peer printed no results: $WORK/peer-$1.log" >&2; exit 1; }
  wait "$pid" || true
  python3 -c "print(f'{$N/($t1-$t0):.0f}')" | tr '\n' ' '; echo "$u"
}

fl=(); pe=()
for r in $(seq 1 "$ROUNDS"); do
  a=$(frontline_run "$r"); b=$(peer_run "$r")
  ./benches/peers/compare.py "$WORK/frontline-$r.prom" "$WORK/peer-$r.out"
  echo "round $r: frontline $a | kafka-streams $b  (events/s cpu_s peak_rss_kib)"
  fl+=("$a"); pe+=("$b")
done

python3 - "$N" "$(printf '%s\n' "${fl[@]}")" "$(printf '%s\n' "${pe[@]}")" <<'PY'
import statistics, sys
n = int(sys.argv[1])
def parse(text):
    rows = [list(map(float, l.split())) for l in text.strip().splitlines()]
    return {
        "eps": statistics.median(r[0] for r in rows),
        "per_core": statistics.median(n / r[1] for r in rows),
        "rss_mib": statistics.median(r[2] / 1024 for r in rows),
        "rows": rows,
    }
f, p = parse(sys.argv[2]), parse(sys.argv[3])
for name, s in (("frontline", f), ("kafka-streams", p)):
    print(f"{name:14} {s['eps']:>9.0f} events/s  {s['per_core']:>9.0f} events/s per CPU-second  "
          f"peak RSS {s['rss_mib']:.0f} MiB  (medians of {len(s['rows'])})")
pc = f["per_core"] / p["per_core"]
mem = f["rss_mib"] / p["rss_mib"]
print(f"frontline/peer: events/s per core {pc:.1f}x (target >= 5x: {'met' if pc >= 5 else 'NOT met'}), "
      f"peak RSS {mem:.3f} of the peer's (target <= 0.2: {'met' if mem <= 0.2 else 'NOT met'}); "
      f"wall events/s {f['eps'] / p['eps']:.1f}x")
PY
