# frontline — the two commands a newcomer runs are `make run` and `make test`.
CARGO ?= cargo
FRONTLINE = $${CARGO_TARGET_DIR:-target}/release/frontline

.PHONY: run test lint unit bench tools build clean

## Run the main job on a simulated day of a support centre: replay it and print the final metrics.
run: build
	$(FRONTLINE) simulate --duration 1d | $(FRONTLINE) replay --input - --config deploy/frontline.toml --metrics-out -

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
