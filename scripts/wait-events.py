#!/usr/bin/env python3
"""Waits until the frontline listening on 127.0.0.1:PORT has taken in N
events (`frontline_events_total` plus `frontline_decode_errors_total`, every
series of both), polling a one-family scrape every INTERVAL seconds over one
kept-alive connection.

Prints `ready` once started and `done` when the count is reached, so that a
script can start its clock after this process's own start-up and stop it
the moment the count is seen. Used by scripts/bench-kafka.sh: a `curl` and
`awk` per probe took about 12 ms of CPU each, a fifth of a core at one
probe every 50 ms on the cores frontline was being timed on, and found the
end 25 ms late on average; this takes about 0.6 ms a probe.

Usage: wait-events.py PORT N [INTERVAL]
"""
import http.client
import re
import sys
import time

PATH = "/metrics?name[]=frontline_events_total&name[]=frontline_decode_errors_total"
COUNTED = re.compile(r"^frontline_(events|decode_errors)_total")


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
    print("ready", flush=True)
    conn = None
    while True:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", PATH)
            body = conn.getresponse().read().decode()
            seen = sum(float(line.split()[1]) for line in body.splitlines() if COUNTED.match(line))
            if seen >= n:
                break
        except (OSError, http.client.HTTPException):
            # Not listening yet, or the connection was closed: connect again.
            conn = None
        time.sleep(interval)
    print("done", flush=True)


if __name__ == "__main__":
    main()
