#!/usr/bin/env bash
# Live throughput of `frontline run` against a real single-node Kafka, next
# to a bare rdkafka consumer loop reading the same topic, both measured here
# from process start to the last of N events consumed. Prints events/s.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
DIR=".cache/kafka-bench"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin frontline --example bare_consumer
FRONTLINE="$TARGET/release/frontline"
BARE="$TARGET/release/examples/bare_consumer"

./scripts/kafka.sh stop "$DIR"; rm -rf "$DIR"
B="$(./scripts/kafka.sh start "$DIR")"
trap './scripts/kafka.sh stop "$DIR"' EXIT
TOPIC="bench-$$"
kcat -b "$B" -L -t "$TOPIC" >/dev/null 2>&1 || true
# Pre-create with 4 partitions by producing a keyed simulation as fast as possible.
"$FRONTLINE" simulate --brokers "$B" --topic "$TOPIC" --speed 0 --duration 12h \
  --peak-per-hour 20000 --agents 200 2>/dev/null | tail -1 || true
TOTAL=$(kcat -b "$B" -t "$TOPIC" -C -e -q -f '.' 2>/dev/null | wc -c)
[ "$TOTAL" -gt "$N" ] || N="$TOTAL"
echo "topic $TOPIC: $TOTAL events; reading $N"

now() { date +%s.%N; }
t0=$(now)
"$BARE" "$B" "$TOPIC" "$N" >/dev/null
t1=$(now)
bare=$(python3 -c "print(f'{$N/($t1-$t0):.0f}')")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(now)
"$FRONTLINE" run --brokers "$B" --topic "$TOPIC" --group "fl-$$" --listen "127.0.0.1:$PORT" \
  --set 'time.idle_timeout="1h"' 2>/dev/null &
PID=$!
while :; do
  got=$(curl -s "127.0.0.1:$PORT/metrics" | awk '/^frontline_(events|decode_errors)_total/ {s+=$2} END {printf "%d", s}')
  [ "${got:-0}" -ge "$N" ] && break
  sleep 0.05
done
t1=$(now)
kill -TERM "$PID"; wait "$PID" || true
live=$(python3 -c "print(f'{$N/($t1-$t0):.0f}')")
echo "bare rdkafka consumer loop: $bare events/s"
echo "frontline run:              $live events/s"
python3 -c "print(f'ratio frontline/bare: {$live/$bare:.2f}')"
