#!/usr/bin/env python3
"""Check the Kafka Streams peer's final aggregates equal frontline's /metrics
on the KPI subset (benches/peers/kafka-streams/README.md says how they map).

usage: compare.py FRONTLINE_METRICS_TEXT PEER_JSON   (exit 1 on any difference)
"""
import json
import re
import sys
from collections import defaultdict

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
BUCKETS = [1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800,
           43200, 86400, 172800, 259200, 604800]


def frontline(path):
    """The subset from a Prometheus text scrape, summed over channel and priority."""
    out = defaultdict(float)
    for line in open(path, encoding="utf-8"):
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))
        q = labels.get("queue")
        if name == "support_tickets_created_total":
            out[f"created|{q}"] += value
        elif name == "support_tickets_resolved_total":
            out[f"resolved|{q}"] += value
        elif name == "support_first_response_seconds_bucket" and labels["le"] != "+Inf":
            out[f"frt_le|{q}|{float(labels['le']):g}"] += value
        elif name == "support_first_response_seconds_count":
            out[f"frt_count|{q}"] += value
        elif name == "support_first_response_seconds_sum":
            out[f"frt_sum|{q}"] += value
        elif name == "support_sla_achieved_total" and labels.get("sla") == "first_response":
            out[f"sla_achieved|{q}"] += value
        elif name == "support_sla_breaches_total" and labels.get("sla") == "first_response":
            out[f"sla_breached|{q}"] += value
        elif (name == "support_window_events" and labels.get("metric") == "resolution"
              and labels.get("window") == "1h"):
            out["resolutions_1h"] += value
    return out


def peer(path):
    """The same keys from the peer's JSON line (cumulative buckets built from its per-bucket counts)."""
    raw = json.loads(open(path, encoding="utf-8").read().strip().splitlines()[-1])
    out = defaultdict(float)
    for key, value in raw.items():
        parts = key.split("|")
        if parts[0] in ("created", "resolved", "frt_count", "sla_achieved", "sla_breached"):
            out[key] += value
        elif parts[0] == "frt_sum_ms":
            out[f"frt_sum|{parts[1]}"] += value / 1000.0
        elif parts[0] == "frt_bucket":
            b = int(parts[2])
            for i in range(b, len(BUCKETS)):
                out[f"frt_le|{parts[1]}|{BUCKETS[i]:g}"] += value
        elif key == "resolutions_1h":
            out[key] += value
    return out


def main():
    f, p = frontline(sys.argv[1]), peer(sys.argv[2])
    bad = []
    for key in sorted(set(f) | set(p)):
        a, b = f.get(key, 0.0), p.get(key, 0.0)
        if abs(a - b) > 1e-6 * max(1.0, abs(a)):
            bad.append(f"  {key}: frontline {a:g}, peer {b:g}")
    keys = len(set(f) | set(p))
    if bad or keys == 0:
        print(f"compare: {len(bad)} of {keys} values differ", file=sys.stderr)
        print("\n".join(bad[:40]), file=sys.stderr)
        sys.exit(1)
    print(f"compare: all {keys} values equal (created, resolved, first-response histogram, "
          f"SLA first response achieved/breached per queue; resolutions in the 1 h window "
          f"= {int(f['resolutions_1h'])})")


if __name__ == "__main__":
    main()
