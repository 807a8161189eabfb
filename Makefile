# frontline — the two commands a newcomer runs are `make run` and `make test`.
CARGO ?= cargo
SAMPLE ?= tests/golden/events.jsonl

.PHONY: run test lint unit bench tools build clean

## Run the main job on the bundled sample: replay it and print the final metrics.
run: build
	$(CARGO) run --release --quiet -- replay --input $(SAMPLE) --config deploy/frontline.toml --metrics-out -

build:
	$(CARGO) build --release --quiet

## Everything CI checks: formatting, lints, unit, property, golden and CLI tests.
test: tools lint unit

tools:
	./scripts/install-tools.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings

unit:
	$(CARGO) test --all-targets

## Criterion benchmarks (figures, not assertions): see docs/performance.md.
bench:
	$(CARGO) bench --bench engine

clean:
	$(CARGO) clean
