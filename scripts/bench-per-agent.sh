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
# 2. Instructions: off and on once each under valgrind's callgrind, which
#    counts every instruction of the steady state's decode and apply and
#    simulates the caches and branch predictor (deterministic, unlike time
#    on a shared machine); the ratio is off's over on's. Two cycle models
#    weigh the misses (one instruction a cycle, or two), since the VM
#    exposes no cycle counter.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
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
# The steady state of a running process (`per_agent_cost MODE steady`: the
# corpus's second half decoded and applied after the first warmed the
# engine up), counted alone by callgrind (`--toggle-collect`), with its
# caches simulated: the last level sized as this machine's second level
# (512 KiB a core; the third is shared), so that what the option's state
# adds to the working set shows. Default budget (which the option
# overfills on this corpus, so many credits go to queue="other") and a
# budget sized for the option, as docs/metrics.md advises.
for budget in default 100000; do
  if [[ $budget == default ]]; then unset FRONTLINE_MAX_SERIES; else export FRONTLINE_MAX_SERIES=$budget; fi
  for mode in off on; do
    valgrind --tool=callgrind --cache-sim=yes --LL=524288,8,64 --branch-sim=yes \
      --toggle-collect='*steady*' --callgrind-out-file=/dev/null \
      "$BIN" "$mode" steady >"$TMP/cg.$mode" 2>&1 &
  done
  wait
  python3 - "$budget" "$TMP" <<'EOF'
import re, sys
budget, tmp = sys.argv[1], sys.argv[2]
def counts(mode):
    text = open(f"{tmp}/cg.{mode}").read()
    get = lambda name: int(re.search(name + r":\s*([\d,]+)", text).group(1).replace(",", ""))
    return {"ir": get("I   refs"), "i1": get("I1  misses"), "d1": get("D1  misses"),
            "ll": get("LL misses"), "br": get("Mispredicts")}
a, b = counts("off"), counts("on")
print(f"per-agent instructions ({budget} budget, steady state): decode+apply {a['ir']} off, {b['ir']} on: "
      f"on/off = {a['ir'] / b['ir']:.3f} (events per instruction; the option adds "
      f"{100 * (b['ir'] - a['ir']) / a['ir']:.1f} %)")
print(f"per-agent cache ({budget} budget): first-level misses (I + D) {a['i1'] + a['d1']} off, "
      f"{b['i1'] + b['d1']} on; second-level (512 KiB) {a['ll']} off, {b['ll']} on; "
      f"branch mispredicts {a['br']} off, {b['br']} on")
for name, ipc, l1, ll, br in (("Ir + 10 L1 + 40 L2 + 15 mispredicts", 1, 10, 40, 15),
                              ("Ir / 2 + 12 L1 + 100 L2 + 18 mispredicts", 2, 12, 100, 18)):
    cyc = lambda c: c["ir"] / ipc + l1 * (c["i1"] + c["d1"]) + ll * c["ll"] + br * c["br"]
    print(f"per-agent cycle model ({budget} budget, {name}): on/off = {cyc(a) / cyc(b):.3f}")
EOF
done
