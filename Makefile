# frontline — the two commands a newcomer runs are `make run` and `make test`.
CARGO ?= cargo
FRONTLINE = $${CARGO_TARGET_DIR:-target}/release/frontline

.PHONY: run stack replay-demo test lint rules k8s unit memcheck integration faults fuzz bench bench-pgo release-pgo bench-peers tools build clean

## The main job on an embedded default: an in-process Kafka-protocol broker,
## the simulator producing to it, and frontline consuming it; /metrics on
## http://127.0.0.1:9464/metrics. With KAFKA_BROKERS=host:port it consumes that cluster instead.
run: build
	$(FRONTLINE) run --embedded --config deploy/frontline.toml

## The embedded default plus Debian's Prometheus and Alertmanager with the
## shipped rules and configuration, on free loopback ports; prints the URLs.
stack: build
	FRONTLINE=$(FRONTLINE) ./scripts/stack.sh

## Replay a simulated day and print the final metrics.
replay-demo: build
	$(FRONTLINE) simulate --duration 1d | $(FRONTLINE) replay --input - --config deploy/frontline.toml --metrics-out -

build:
	$(CARGO) build --release --quiet

## The release binary optimised with a profile of its own hot paths
## (scripts/pgo.sh: an instrumented build, a simulated workload replayed and
## caught up live on a real Kafka, then the optimised build; about 8 minutes
## on two cores). Prints the binary's path. Same output, less CPU per event
## (docs/performance.md, "A build guided by a profile").
release-pgo:
	./scripts/pgo.sh

## Everything CI checks: formatting, lints, unit, property, golden and CLI
## tests, the engine's unit tests under valgrind, then the integration tests
## against a real Apache Kafka broker, then the fault matrix.
test: tools lint rules unit memcheck integration faults

tools:
	./scripts/install-tools.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --features kafka-tests --quiet -- -D warnings

## The shipped Prometheus rules: syntax and their unit tests; then deploy/
## (containers, compose, Kubernetes): the generated PrometheusRule and
## ConfigMap are up to date and every file checks (scripts/check-deploy.py).
rules:
	promtool check rules deploy/prometheus/frontline.rules.yaml deploy/prometheus/frontline.alerts.yaml
	promtool test rules deploy/prometheus/tests.yaml
	./scripts/check-deploy.py

## Rewrite deploy/kubernetes/prometheusrule.yaml and configmap.yaml from
## deploy/prometheus/ and deploy/frontline.toml.
k8s:
	./scripts/gen-k8s.py

## The short fuzz run (tests/fuzz.rs, 10 s per target) is part of the unit tests.
unit:
	FRONTLINE_FUZZ_SECS=10 $(CARGO) test --lib --bins --tests

## Fuzzing on stable: mutated lines of the real corpus (golden events and a
## simulated day) through the decoder and the engine, mutated config files
## through the loader and an engine built from each accepted one. Any panic
## fails; crashing inputs land in $${CARGO_TARGET_DIR:-target}/tmp/fuzz-crashes/.
## FUZZ_SECS per target (both run at once); FRONTLINE_FUZZ_SEED repeats a run.
FUZZ_SECS ?= 600
fuzz:
	FRONTLINE_FUZZ_SECS=$(FUZZ_SECS) $(CARGO) test --test fuzz -- --nocapture --test-threads 2

## The engine's unit tests under valgrind's memcheck: the table's thin ids
## (src/engine/table.rs) are unsafe code; any invalid access or leak fails.
## Built without mimalloc, so that every heap block is the system
## allocator's, which valgrind replaces with its own checked one.
memcheck:
	env "CARGO_TARGET_$$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')_RUNNER=valgrind -q --error-exitcode=9 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite" \
	  $(CARGO) test --lib --quiet --no-default-features -- engine::

KAFKA_DIR ?= .cache/kafka-test

## Integration tests against a real single-node Kafka (started and stopped here);
## `ops` adds a real Prometheus and Alertmanager with the shipped rules.
integration:
	./scripts/kafka.sh fetch
	@set -e; ./scripts/kafka.sh stop $(KAFKA_DIR); rm -rf $(KAFKA_DIR); \
	  BROKER=$$(./scripts/kafka.sh start $(KAFKA_DIR)); \
	  trap './scripts/kafka.sh stop $(KAFKA_DIR)' EXIT; \
	  FRONTLINE_TEST_KAFKA=$$BROKER $(CARGO) test --features kafka-tests --test kafka --test changelog --test ops --test sla_events -- --test-threads 2

## Faults under load against a real broker: kill -9, rebalances, a broker
## outage, SIGTERM without a broker, a corrupted checkpoint, an SLA deadline
## passing while an instance is down. The cases that take the broker away
## start one of their own.
faults:
	./scripts/kafka.sh fetch
	@set -e; ./scripts/kafka.sh stop $(KAFKA_DIR)-faults; rm -rf $(KAFKA_DIR)-faults; \
	  BROKER=$$(./scripts/kafka.sh start $(KAFKA_DIR)-faults); \
	  trap './scripts/kafka.sh stop $(KAFKA_DIR)-faults' EXIT; \
	  FRONTLINE_TEST_KAFKA=$$BROKER $(CARGO) test --features kafka-tests --test faults -- --test-threads 2

## Benchmarks (figures, not assertions): criterion on the engine, what
## per-agent metrics cost (time, one process a run, and instructions under
## cachegrind), the cost of SLA clocks, the cost of hostile input and of a scrape (merge and
## encode), the live page's payload and /api/summary against a scrape,
## the cost of checkpoints (and their write and restore
## through a real broker), then live throughput against a real broker next
## to a bare rdkafka consumer, freshness (event produced -> visible on
## /metrics at half the sustainable rate), and backfill (replay --openmetrics-out)
## against plain replay. See docs/performance.md.
bench:
	$(CARGO) bench --bench engine
	./scripts/bench-per-agent.sh
	$(CARGO) bench --bench sla
	$(CARGO) bench --bench hostile
	$(CARGO) bench --bench scrape
	$(CARGO) bench --bench live
	$(CARGO) bench --bench replay
	$(CARGO) bench --bench scale
	$(CARGO) bench --bench lookup
	./scripts/kafka.sh fetch
	@set -e; D=.cache/kafka-bench-checkpoint; ./scripts/kafka.sh stop $$D; rm -rf $$D; \
	  B=$$(./scripts/kafka.sh start $$D); trap "./scripts/kafka.sh stop $$D" EXIT; \
	  FRONTLINE_BENCH_KAFKA=$$B $(CARGO) bench --bench checkpoint
	./scripts/bench-kafka.sh
	./scripts/bench-freshness.sh
	./scripts/bench-backfill.sh
	./scripts/bench-dead-letters.sh

## The replay, state-growth and live benchmarks on a build optimised as
## release-pgo's is, built with the benchmarks (PGO_BENCHES=1, see
## scripts/pgo.sh), so that their in-process baselines (the decode-only
## pass, the scale engines) get the same profile; the bare consumer loop is
## librdkafka either way.
bench-pgo:
	PGO_BENCHES=1 ./scripts/pgo.sh
	env $$(PGO_BENCHES=1 PGO_ENV=1 ./scripts/pgo.sh) $(CARGO) bench --bench replay
	env $$(PGO_BENCHES=1 PGO_ENV=1 ./scripts/pgo.sh) $(CARGO) bench --bench scale
	env $$(PGO_BENCHES=1 PGO_ENV=1 ./scripts/pgo.sh) ./scripts/bench-kafka.sh

## frontline against a Kafka Streams application computing the same KPI
## subset on the same topic (benches/peers/; needs JDK 17 and mvn): results
## checked equal, events/s per core and peak RSS of both. A few minutes.
bench-peers:
	./scripts/bench-peers.sh

clean:
	$(CARGO) clean
