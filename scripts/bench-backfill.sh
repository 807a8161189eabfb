#!/usr/bin/env bash
# Backfill cost: `frontline replay --openmetrics-out` against plain replay on
# the same input (a simulated week, about 150 000 events), alternating
# plain, 1h step, 15m step, ROUNDS times; prints the median events/s of each,
# the peak RSS of the last run of each (memory must not grow with the steps)
# and the size of each backfill file. Figures, not assertions
# (docs/performance.md, "Backfill").
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin frontline
FRONTLINE="$TARGET/release/frontline"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-7d}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/frontline-bench-backfill.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT

"$FRONTLINE" simulate --duration "$DURATION" > "$DIR/in.jsonl"
EVENTS=$(wc -l < "$DIR/in.jsonl")
echo "input: simulate --duration $DURATION, $EVENTS events"

now() { date +%s.%N; }
# One run; prints its seconds, and leaves its peak RSS (KB) in $DIR/$1.rss.
run() {
  local t0 t1
  t0=$(now)
  case "$1" in
    plain) /usr/bin/time -f %M -o "$DIR/$1.rss" "$FRONTLINE" replay --input "$DIR/in.jsonl" --metrics-out /dev/null 2>/dev/null ;;
    *) /usr/bin/time -f %M -o "$DIR/$1.rss" "$FRONTLINE" replay --input "$DIR/in.jsonl" --metrics-out /dev/null \
         --openmetrics-out "$DIR/$1.om" --step "$1" 2>/dev/null ;;
  esac
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A T
for r in $(seq "$ROUNDS"); do
  for v in plain 1h 15m; do
    s=$(run "$v")
    T[$v]+="$s "
    echo "round $r $v: ${s}s"
  done
done
for v in plain 1h 15m; do
  m=$(echo "${T[$v]}" | tr ' ' '\n' | grep . | median)
  eps=$(awk -v n="$EVENTS" -v s="$m" 'BEGIN {printf "%.0f", n / s}')
  size=""
  [ -f "$DIR/$v.om" ] && size=", file $(du -m "$DIR/$v.om" | cut -f1) MB"
  echo "$v: median ${m}s, $eps events/s, peak RSS $(( $(cat "$DIR/$v.rss") / 1024 )) MB$size"
done
