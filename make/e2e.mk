# The otelcol-tasker distribution, the demo and the end-to-end tests. Included by the Makefile.
#
#   make build   ocb-build the collector into _build/otelcol-tasker
#   make build-gateway  ocb-build the scale-out gateway into _build/otelcol-tasker-gateway
#   make run     build, then run it on otelcol-config.yaml
#   make demo    collector + Jaeger + Prometheus + the Tasker simulator, all on loopback
#   make e2e     build, fetch Jaeger and Prometheus, run the end-to-end tests (go test -tags e2e)
#   make check-deploy  promtool checks and unit tests of deploy/prometheus/, and the built
#                collectors validate deploy/scale-out/ (tier2.yaml, gateway.yaml)
#
# Slow things are cached outside the repository, under $(CACHE): ocb, the Jaeger binary, the
# gateway binary (and Go's own module and build caches). Prometheus comes from Debian's package.

GO ?= go
CACHE ?= $(HOME)/.cache/otelcol-tasker
export OTELCOL_TASKER_CACHE := $(CACHE)

DIST_DIR := _build
COLLECTOR := $(DIST_DIR)/otelcol-tasker
GATEWAY := $(DIST_DIR)/otelcol-tasker-gateway
E2E_TIMEOUT ?= 20m

.PHONY: build build-gateway run run-tier2 demo e2e taskersim check-deploy

# ocb regenerates the distribution's sources and compiles them; Go's build cache makes a
# rebuild after a change in our components quick.
build:
	@ocb=$$(bash scripts/install-ocb.sh) && \
	  echo "ocb: building $(COLLECTOR) from builder-config.yaml (2-3 minutes the first time, seconds after)" && \
	  $$ocb --config builder-config.yaml
	@echo "built $(COLLECTOR)"

# The gateway has no local modules: its binary is cached under $(CACHE) by a hash of
# builder-config-gateway.yaml (and of the ocb and Go versions), so it is compiled once per
# manifest and only copied here after that.
build-gateway:
	@bash scripts/build-gateway.sh $(GATEWAY) >/dev/null
	@echo "built $(GATEWAY)"

# scripts/run.sh prints where data comes in and goes, and turns trace export off when no Jaeger
# listens (TASKER_TRACE_EXPORT=auto|on|off).
run: build
	@exec bash scripts/run.sh

# One tier-2 instance of the scale-out (deploy/scale-out/tier2.yaml). Its series are kept apart
# from other instances' by COLLECTOR_INSTANCE_ID, which the configuration cannot check itself.
run-tier2: build
	@if [ -z "$${COLLECTOR_INSTANCE_ID:-}" ]; then 	  echo "run-tier2: COLLECTOR_INSTANCE_ID is not set: give each tier-2 instance its own, stable id (a pod name, a StatefulSet ordinal), e.g. COLLECTOR_INSTANCE_ID=tier2-0 make run-tier2" >&2; exit 2; fi
	exec ./$(COLLECTOR) --config deploy/scale-out/tier2.yaml

taskersim:
	@echo "building $(DIST_DIR)/taskersim, the Tasker simulator (log: $(CACHE)/logs/build-taskersim.log)"
	@source scripts/quiet.sh && quiet "$(CACHE)/logs/build-taskersim.log" $(GO) build -o $(DIST_DIR)/taskersim ./cmd/taskersim

demo: build taskersim
	@bash scripts/demo.sh

e2e: build build-gateway
	@jaeger=$$(bash scripts/build-jaeger.sh) && \
	  prometheus=$$(bash scripts/install-prometheus.sh) && \
	  echo "e2e: collector $(COLLECTOR), gateway $(GATEWAY), jaeger $$jaeger, prometheus $$prometheus" && \
	  OTELCOL_TASKER_BIN=$(CURDIR)/$(COLLECTOR) OTELCOL_TASKER_CONFIG=$(CURDIR)/otelcol-config.yaml \
	  OTELCOL_TASKER_GATEWAY_BIN=$(CURDIR)/$(GATEWAY) \
	  JAEGER_BIN=$$jaeger PROMETHEUS_BIN=$$prometheus \
	  $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/...

# deploy/: the rules parse and pass their unit tests (promtool ships with Debian's prometheus
# package), and each scale-out config loads, as shipped, in the collector it is for.
check-deploy: build build-gateway
	@prometheus=$$(bash scripts/install-prometheus.sh) && promtool=$$(dirname $$prometheus)/promtool && \
	  $$promtool check rules deploy/prometheus/rules.yaml && \
	  $$promtool test rules deploy/prometheus/rules_test.yaml
	COLLECTOR_INSTANCE_ID=tier2-0 ./$(COLLECTOR) validate --config deploy/scale-out/tier2.yaml
	@echo "deploy/scale-out/tier2.yaml: valid"
	@out=$$(env -u COLLECTOR_INSTANCE_ID $(MAKE) -s --no-print-directory run-tier2 2>&1); rc=$$?; \
	  if [ $$rc -ne 2 ] || ! grep -q "COLLECTOR_INSTANCE_ID is not set" <<<"$$out"; then \
	    echo "make run-tier2 without COLLECTOR_INSTANCE_ID must refuse to start, naming it; got rc=$$rc: $$out" >&2; exit 1; fi
	@echo "make run-tier2 refuses to start without COLLECTOR_INSTANCE_ID"
	./$(GATEWAY) validate --config deploy/scale-out/gateway.yaml
	@echo "deploy/scale-out/gateway.yaml: valid"
