#!/usr/bin/env bash
# A release build of frontline optimised with a profile of its own hot
# paths (profile-guided optimisation, docs/performance.md "A build guided
# by a profile"): an instrumented build first, then a training run of it,
# then the release build that uses what the training counted. Prints the
# optimised binary's path on its last line.
#
# The training is a simulated workload, never the benchmarks' own inputs:
# replay of a simulated day (seed 11) with a few bad lines, on one thread
# and on two, with the SLA event stream and dead letters on; replay into
# an OpenMetrics history; and `frontline run` catching up with a
# simulated topic on a real single-node Kafka (scripts/kafka.sh), scraped
# in both formats while it applies, then stopped with SIGTERM (its final
# checkpoints). The live part needs the Kafka jars (fetched here), kcat and
# curl (scripts/install-tools.sh); PGO_LIVE=0 leaves it out.
#
# Needs `llvm-profdata` of the LLVM that rustc was built with (`rustc -vV`):
# rustup's `llvm-tools` component, or Debian's `llvm-<major>` package,
# which this script installs when it finds neither.
#
#   ./scripts/pgo.sh                    # build, train, build again
#   PGO_BENCHES=1 ./scripts/pgo.sh      # the same with the replay and scale
#                                       # benchmarks built beside it
#   PGO_ENV=1 ./scripts/pgo.sh          # only print the optimised build's
#                                       # RUSTFLAGS, CARGO_TARGET_DIR and
#                                       # binary, as VAR=value words for `env`
#
# Benchmarks need PGO_BENCHES=1: building them turns on features that the
# dev-dependencies ask of shared crates, which changes every symbol of the
# build, so a profile of the plain binary would not apply to them. With it,
# the binary and the benchmarks come from one build, the binary the
# benchmarks spawn is the one trained, and their in-process baselines (the
# decode-only pass, the scale engines) are optimised by the same profile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
BUILD=(--bin frontline)
OUT="$TARGET/pgo"
if [ -n "${PGO_BENCHES:-}" ]; then
  BUILD+=(--bench replay --bench scale)
  OUT="$TARGET/pgo-bench"
fi
PROFILE="$OUT/frontline.profdata"
USE_FLAGS="-Cprofile-use=$PROFILE"

if [ -n "${PGO_ENV:-}" ]; then
  [ -f "$PROFILE" ] || { echo "pgo: no profile yet: run ./scripts/pgo.sh first" >&2; exit 1; }
  echo "RUSTFLAGS=$USE_FLAGS CARGO_TARGET_DIR=$OUT/use FRONTLINE=$OUT/use/release/frontline"
  exit 0
fi

# llvm-profdata of rustc's LLVM: a profile written by another major version
# is refused (or, worse, misread) by the optimised build.
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=""
for p in "$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata" \
  "$(command -v "llvm-profdata-$llvm_major" || true)" "/usr/lib/llvm-$llvm_major/bin/llvm-profdata"; do
  if [ -n "$p" ] && [ -x "$p" ]; then profdata="$p"; break; fi
done
if [ -z "$profdata" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "pgo: installing llvm-$llvm_major for llvm-profdata" >&2
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq &&
    $SUDO apt-get install -y -qq --no-install-recommends "llvm-$llvm_major" >/dev/null; } ||
    { echo "pgo: no llvm-profdata for LLVM $llvm_major: rustup component add llvm-tools, or install llvm-$llvm_major" >&2; exit 1; }
  profdata="/usr/lib/llvm-$llvm_major/bin/llvm-profdata"
fi

# 1. The instrumented build, in a target directory of its own (its flags
#    differ, so it would otherwise rebuild the plain one each time).
rm -rf "$OUT/raw" "$OUT/train"
mkdir -p "$OUT/raw" "$OUT/train"
echo "pgo: instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$OUT/raw" CARGO_TARGET_DIR="$OUT/gen" \
  cargo build --release --quiet --locked "${BUILD[@]}"
GEN="$OUT/gen/release/frontline"
# Build scripts ran instrumented too: their counts are not frontline's.
rm -f "$OUT"/raw/*

# 2. Training. Its logs go to $T/train.log, shown when a step fails.
T="$OUT/train"
quiet() { "$@" 2>>"$T/train.log" || { tail -n 20 "$T/train.log" >&2; exit 1; }; }
echo "pgo: training on replay" >&2
"$GEN" simulate --seed 11 --duration 12h --peak-per-hour 8000 --agents 800 >"$T/day.jsonl" 2>/dev/null
# Bad lines are rare in practice; a few keep the dead-letter path from
# being laid out as dead code.
python3 - "$T/day.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(keepends=True)
bad = ['{"event_id":"x","type":"ticket.nope","ts":0}\n', 'not json\n', '{"type":"ticket.created"}\n']
out = []
for i, l in enumerate(lines):
    out.append(l)
    if i % 5000 == 0:
        out.append(bad[(i // 5000) % len(bad)])
open(sys.argv[1], "w").writelines(out)
PY
for threads in 2 1; do
  quiet "$GEN" replay --input "$T/day.jsonl" --config deploy/frontline.toml --threads "$threads" \
    --metrics-out "$T/metrics.txt" --dead-letter "$T/dlq.jsonl" --sla-events-out "$T/sla.jsonl"
done
head -n 100000 "$T/day.jsonl" >"$T/hours.jsonl"
quiet "$GEN" replay --input "$T/hours.jsonl" --config deploy/frontline.toml \
  --metrics-out "$T/metrics.txt" --openmetrics-out "$T/history.om"

if [ "${PGO_LIVE:-1}" != 0 ]; then
  echo "pgo: training on a live catch-up" >&2
  ./scripts/kafka.sh fetch
  D=".cache/kafka-pgo"
  ./scripts/kafka.sh stop "$D"; rm -rf "$D"
  B="$(./scripts/kafka.sh start "$D")"
  trap './scripts/kafka.sh stop "$D"' EXIT
  TOPIC="pgo-$$"
  "$GEN" simulate --brokers "$B" --topic "$TOPIC" --speed 0 --duration 8h \
    --peak-per-hour 20000 --agents 200 --seed 12 >/dev/null 2>&1
  N=$(kcat -b "$B" -t "$TOPIC" -C -e -q -f '.' 2>/dev/null | wc -c)
  port=$(free_port)
  "$GEN" run --brokers "$B" --topic "$TOPIC" --group "pgo-$$" --listen "127.0.0.1:$port" \
    --config deploy/frontline.toml --set 'time.idle_timeout="1h"' \
    --set "checkpoint.topic=\"$TOPIC.state\"" 2>>"$T/train.log" &
  pid=$!
  deadline=$((SECONDS + 300))
  while :; do
    curl -s -H 'Accept: application/openmetrics-text' "127.0.0.1:$port/metrics" >/dev/null || true
    got=$( (curl -gs "127.0.0.1:$port/metrics" || true) | sum_events)
    [ "${got:-0}" -ge "$N" ] && break
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "pgo: the live training did not catch up ($got of $N events; its log: $T/train.log)" >&2
      exit 1
    fi
    sleep 0.2
  done
  kill -TERM "$pid"
  wait "$pid"
fi

# 3. The profile, and the build that uses it. Cargo sees the profile's
#    path, not its contents: crates unchanged since the last run keep the
#    layout of the profile they were built with (dependencies, mostly);
#    remove $OUT/use to rebuild them all from this one.
"$profdata" merge -o "$PROFILE" "$OUT"/raw/*.profraw
echo "pgo: optimised build" >&2
RUSTFLAGS="$USE_FLAGS" CARGO_TARGET_DIR="$OUT/use" \
  cargo build --release --quiet --locked "${BUILD[@]}"
echo "$OUT/use/release/frontline"
