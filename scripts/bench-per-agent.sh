#!/usr/bin/env bash
# What `[agents] per_agent_metrics` costs `apply` on the engine bench's
# corpus (examples/per_agent_cost.rs), one configuration per process
# (docs/performance.md, "Per-agent metrics"):
#
# 1. Time: ROUNDS rounds, each running off then on, then on then off in the
#    next, natively; per process, a warm-up apply and then the median CPU
#    time of RUNS applies; the ratio of events/s on against off is the
#    median of the rounds' ratios. Each round also runs off twice: that
#    control is the noise floor of the ratio.
# 2. Instructions: the three modes (none, off, on) once each under
#    valgrind's cachegrind, which counts every instruction the process runs
#    (deterministic, unlike time on a shared machine); the apply's
#    instructions are a mode's count less `none`'s (corpus generation and
#    decoding alike in all three), and the ratio is off's over on's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-6}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --example per_agent_cost
BIN="$TARGET/release/examples/per_agent_cost"

cpu() { "$BIN" "$1" "${RUNS:-3}" | sed -n 's/.*apply \([0-9.]*\) s cpu/\1/p'; }

ratios=() controls=()
for ((r = 0; r < ROUNDS; r++)); do
  if ((r % 2 == 0)); then off=$(cpu off); on=$(cpu on); else on=$(cpu on); off=$(cpu off); fi
  a=$(cpu off); b=$(cpu off)
  ratios+=("$(python3 -c "print($off / $on)")")
  controls+=("$(python3 -c "print($a / $b)")")
  echo "round $((r + 1)): apply cpu off ${off} s, on ${on} s: on/off ${ratios[-1]}; control off/off ${controls[-1]}"
done
python3 - "${ratios[*]}" "${controls[*]}" <<'EOF'
import statistics, sys
r = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
print(f"per-agent time: events/s on/off = {statistics.median(r):.3f} (median of {len(r)} alternating rounds, "
      f"one process a run; range {min(r):.3f}-{max(r):.3f}); control off/off {statistics.median(c):.3f} "
      f"(range {min(c):.3f}-{max(c):.3f})")
EOF

if ! command -v valgrind >/dev/null; then
  echo "per-agent instructions: skipped (no valgrind; scripts/install-tools.sh installs it)"
  exit 0
fi
declare -A refs
for mode in none off on; do
  out=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$BIN" "$mode" 1 2>&1)
  refs[$mode]=$(echo "$out" | sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,)
  echo "cachegrind $mode: ${refs[$mode]} instructions"
done
python3 - "${refs[none]}" "${refs[off]}" "${refs[on]}" <<'EOF'
import sys
none, off, on = (int(x) for x in sys.argv[1:])
a, b = off - none, on - none
print(f"per-agent instructions: apply {a} off, {b} on: on/off = {a / b:.3f} "
      f"(events per instruction; the option adds {100 * (b - a) / a:.1f} %)")
EOF
