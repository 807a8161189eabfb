# Shell helpers shared by the project's scripts; sourced, not run:
#   . "$(dirname "$0")/lib.sh"

# A TCP port free on 127.0.0.1 at the moment of asking.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The events a frontline scrape read on stdin counts as taken in: applied,
# or refused as undecodable (`frontline_events_total` plus
# `frontline_decode_errors_total`, every series of both).
sum_events() {
  awk '/^frontline_(events|decode_errors)_total/ {s+=$2} END {printf "%d", s}'
}

# `sum_events` of the frontline listening on 127.0.0.1:PORT, scraping only
# those two families.
events_seen() {
  curl -gs "127.0.0.1:$1/metrics?name[]=frontline_events_total&name[]=frontline_decode_errors_total" | sum_events
}
