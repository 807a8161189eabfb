#!/usr/bin/env bash
# `make stack`: frontline on the embedded default (in-process broker and the
# simulator), Debian's Prometheus with the rules of deploy/prometheus/, and
# Alertmanager with deploy/alertmanager.yml, all on free loopback ports.
# Prints the URLs and runs until Ctrl-C, then stops all three.
#
#   FRONTLINE=path/to/frontline scripts/stack.sh [DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
FRONTLINE="${FRONTLINE:-$ROOT/target/release/frontline}"
DIR="${1:-$ROOT/.cache/stack}"
for bin in prometheus prometheus-alertmanager; do
  command -v "$bin" >/dev/null || { echo "stack.sh: $bin is missing; run ./scripts/install-tools.sh" >&2; exit 2; }
done
[ -x "$FRONTLINE" ] || { echo "stack.sh: no frontline binary at $FRONTLINE" >&2; exit 2; }

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
FL_PORT="$(free_port)"; PROM_PORT="$(free_port)"; AM_PORT="$(free_port)"

cat >"$DIR/prometheus.yml" <<YML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/deploy/prometheus/frontline.rules.yaml
  - $ROOT/deploy/prometheus/frontline.alerts.yaml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$AM_PORT']
scrape_configs:
  - job_name: frontline
    static_configs:
      - targets: ['127.0.0.1:$FL_PORT']
YML

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$FRONTLINE" run --embedded --config "$ROOT/deploy/frontline.toml" \
  --listen "127.0.0.1:$FL_PORT" >"$DIR/frontline.log" 2>&1 &
pids+=($!)
prometheus-alertmanager --config.file="$ROOT/deploy/alertmanager.yml" \
  --storage.path="$DIR/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" \
  --cluster.listen-address= >"$DIR/alertmanager.log" 2>&1 &
pids+=($!)
prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$DIR/prometheus.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$FL_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

cat <<TXT
frontline     http://127.0.0.1:$FL_PORT/metrics
Prometheus    http://127.0.0.1:$PROM_PORT/alerts   (rules: http://127.0.0.1:$PROM_PORT/rules)
Alertmanager  http://127.0.0.1:$AM_PORT/
logs          $DIR/*.log
Ctrl-C stops all three.
TXT
wait -n "${pids[@]}"
echo "stack.sh: a process exited; see $DIR/*.log" >&2
