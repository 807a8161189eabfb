#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft) broker on 127.0.0.1 for tests, from the
# jars Maven Central serves. Idempotent; jars are cached under .cache/.
#
#   scripts/kafka.sh fetch          # download the broker jars (once)
#   scripts/kafka.sh start DIR      # format DIR, start a broker on free ports,
#                                   # wait until it answers; prints host:port
#   scripts/kafka.sh stop DIR       # stop it (SIGTERM, then SIGKILL)
#   scripts/kafka.sh halt DIR       # stop it, keeping its ports and data
#   scripts/kafka.sh resume DIR     # start it again on the same ports with
#                                   # the same data (after halt); prints host:port
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")"
LIBS="${FRONTLINE_KAFKA_LIBS:-$ROOT/.cache/kafka-$VERSION/libs}"
. "$ROOT/scripts/lib.sh"

fetch() {
  if [ -f "$LIBS/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { echo "kafka.sh: mvn is required to fetch the broker" >&2; exit 2; }
  mkdir -p "$LIBS"
  echo "kafka.sh: fetching Apache Kafka $VERSION from Maven Central" >&2
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
  touch "$LIBS/.complete"
}

start() {
  local dir="$1"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    cat "$dir/bootstrap"; return 0
  fi
  local bport cport
  bport="$(free_port)"; cport="$(free_port)"
  while [ "$cport" = "$bport" ]; do cport="$(free_port)"; done
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  echo "127.0.0.1:$bport" >"$dir/bootstrap"
  launch "$dir"
}

# Starts the broker DIR/server.properties describes and waits until it answers.
launch() {
  local dir="$1"
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Dkafka.logs.dir="$dir"
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
  if [ ! -f "$dir/data/meta.properties" ]; then
    local id
    id="$(java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$dir/format.log")"
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" \
      -c "$dir/server.properties" >>"$dir/format.log" 2>&1
  fi
  nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  # Ready when a metadata request answers (bounded wait).
  for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "kafka.sh: broker exited; see $dir/stdout.log" >&2
      tail -20 "$dir/stdout.log" >&2 || true
      exit 1
    fi
    if kcat -b "$(cat "$dir/bootstrap")" -L -m 2 >/dev/null 2>&1; then
      cat "$dir/bootstrap"; return 0
    fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not answer within 60 s" >&2
  stop "$dir"; exit 1
}

# Starts a halted broker again: same ports (clients reconnect to the address
# they know), same data (topics, offsets, groups).
resume() {
  local dir="$1"
  fetch
  dir="$(cd "$dir" && pwd)"
  if [ ! -f "$dir/server.properties" ] || [ ! -f "$dir/data/meta.properties" ]; then
    echo "kafka.sh: $dir holds no broker to resume (start it first)" >&2; exit 2
  fi
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    cat "$dir/bootstrap"; return 0
  fi
  launch "$dir"
}

stop() {
  local dir="$1"
  [ -f "$dir/pid" ] || return 0
  local pid; pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?usage: kafka.sh start DIR}" ;;
  stop) stop "${2:?usage: kafka.sh stop DIR}" ;;
  # The same as stop; named for what follows it.
  halt) stop "${2:?usage: kafka.sh halt DIR}" ;;
  resume) resume "${2:?usage: kafka.sh resume DIR}" ;;
  *) echo "usage: kafka.sh fetch | start DIR | stop DIR | halt DIR | resume DIR" >&2; exit 2 ;;
esac
