# otelcol-tasker. Set-up on a fresh machine is two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(HOME)/.cache/otelcol-tasker
export OTELCOL_TASKER_CACHE := $(CACHE)

COMPONENT_DIRS := processor/taskerstate connector/taskerstate

.PHONY: all generate lint unit test bench bench-collector probe-hostile

all: lint unit

generate:
	@for d in $(COMPONENT_DIRS); do [ ! -d $$d ] || (cd $$d && $(GO) generate ./...) || exit 1; done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	cd bench && $(GO) vet ./cmd/...

unit:
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -race -count=1 ./cmd/...

# The test command of the README and .ci/run: lint, unit and component tests (race
# detector on), the deploy/ checks, then the end-to-end tests against real Prometheus and Jaeger.
test: lint unit check-deploy e2e

# Speed and memory figures: the processor per span, the entity log per entity, and the
# connector beside contrib's span_metrics (bench/ is its own module).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./processor/taskerstate/ ./internal/...
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 640x -benchmem ./

# The whole collector under Tasker-shaped load, pipelines alternated in rounds: spans/s, share
# of the bare pipeline, CPU per span, peak RSS (docs/benchmarks.md). REF=<rev>, or
# REF_BEFORE=<rev> [REF_AFTER=<rev>], builds our components from those commits; ROUNDS,
# DURATION, GCTRACE=1, ... are described in the script.
bench-collector:
	@bash scripts/bench-collector.sh

# Issue 13's hostile inputs against the built collector on otelcol-config.yaml, a fresh one for
# each: RSS before and after, the /metrics scrape's size, the counters (docs/benchmarks.md).
probe-hostile: build
	@bash scripts/probe-hostile.sh

-include make/e2e.mk
