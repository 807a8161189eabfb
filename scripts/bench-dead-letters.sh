#!/usr/bin/env bash
# Dead letters against clean input, live: `frontline run` on a partition of
# 2N valid events, and on one of N valid events each followed by a message
# that does not decode (N dead letters), alternating clean and mixed ROUNDS
# times, each run a new consumer group. Prints each run's seconds from the
# process's start until every message is taken in (applied, or counted as
# a decode error once its dead letter is acknowledged), the medians and
# their ratio: SPEC §1.7 says bad input never slows its partition. Figures,
# not assertions (docs/performance.md, "Dead letters").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
TARGET="${CARGO_TARGET_DIR:-target}"
# FRONTLINE=path runs another build (an older one, for a before/after).
if [ -z "${FRONTLINE:-}" ]; then
  cargo build --release --quiet --bin frontline
  FRONTLINE="$TARGET/release/frontline"
fi
ROUNDS="${ROUNDS:-3}"
N="${N:-20000}"
KDIR=.cache/kafka-bench-dead-letters
./scripts/kafka.sh stop "$KDIR"
rm -rf "$KDIR"
B=$(./scripts/kafka.sh start "$KDIR")
DIR="$(mktemp -d "${TMPDIR:-/tmp}/frontline-bench-dlq.XXXXXX")"
trap './scripts/kafka.sh stop "$KDIR"; rm -rf "$DIR"' EXIT

python3 - "$N" "$DIR" <<'PY'
import json, sys, time
n, d = int(sys.argv[1]), sys.argv[2]
ts = int(time.time() * 1000) - 60_000
def ev(i):
    return json.dumps({"event_id": f"e{i}", "type": "ticket.created", "ts": ts,
                       "ticket_id": f"T{i}", "customer_id": f"c{i}"})
with open(f"{d}/clean.jsonl", "w") as f:
    for i in range(2 * n):
        print(ev(i), file=f)
with open(f"{d}/mixed.jsonl", "w") as f:
    for i in range(n):
        print(ev(i), file=f)
        print('{"bad":%d' % i, file=f)
PY
for v in clean mixed; do
  kcat -b "$B" -P -t "$v" -p 0 < "$DIR/$v.jsonl"
done
echo "input: $((2 * N)) messages on one partition; mixed: $N of them bad"

now() { date +%s.%N; }
run() {
  local port t0 t1 pid
  port=$(free_port)
  t0=$(now)
  "$FRONTLINE" run --brokers "$B" --topic "$1" --group "g-$1-$RANDOM$RANDOM" \
    --listen "127.0.0.1:$port" > "$DIR/$1.log" 2>&1 &
  pid=$!
  until [ "$(events_seen "$port" 2>/dev/null || echo 0)" = "$((2 * N))" ]; do
    kill -0 "$pid" || { cat "$DIR/$1.log" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  kill "$pid"
  wait "$pid" || true
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A T
for r in $(seq "$ROUNDS"); do
  for v in clean mixed; do
    s=$(run "$v")
    T[$v]+="$s "
    echo "round $r $v: ${s}s"
  done
done
c=$(echo "${T[clean]}" | tr ' ' '\n' | grep . | median)
m=$(echo "${T[mixed]}" | tr ' ' '\n' | grep . | median)
echo "clean: median ${c}s; mixed: median ${m}s; mixed/clean $(awk -v a="$m" -v b="$c" 'BEGIN {printf "%.2f", a / b}')"
