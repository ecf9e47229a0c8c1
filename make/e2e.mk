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

.PHONY: build build-gateway run demo e2e taskersim check-deploy

# ocb regenerates the distribution's sources and compiles them; Go's build cache makes a
# rebuild after a change in our components quick.
build:
	@ocb=$$(bash scripts/install-ocb.sh) && \
	  echo "ocb: building $(COLLECTOR) from builder-config.yaml" && \
	  $$ocb --config builder-config.yaml
	@echo "built $(COLLECTOR)"

# The gateway has no local modules: its binary is cached under $(CACHE) by a hash of
# builder-config-gateway.yaml (and of the ocb and Go versions), so it is compiled once per
# manifest and only copied here after that.
build-gateway:
	@bash scripts/build-gateway.sh $(GATEWAY) >/dev/null
	@echo "built $(GATEWAY)"

run: build
	@echo "otelcol-tasker on otelcol-config.yaml:"
	@echo "  OTLP in         grpc $${TASKER_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}, http $${TASKER_OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}"
	@echo "  traces out      OTLP gRPC to Jaeger at $${TASKER_JAEGER_OTLP_ENDPOINT:-127.0.0.1:14317} (start one with: make demo, or deploy/jaeger.yaml)"
	@echo "  metrics out     http://$${TASKER_PROMETHEUS_ENDPOINT:-127.0.0.1:8889}/metrics (tasker_* series, OpenMetrics with exemplars)"
	@echo "  health          http://$${TASKER_HEALTH_ENDPOINT:-127.0.0.1:13133}/   own metrics http://$${TASKER_TELEMETRY_HOST:-127.0.0.1}:$${TASKER_TELEMETRY_PORT:-8888}/metrics"
	@echo "  send test data  go run ./cmd/taskersim --speed 5 --duration 1m"
	exec ./$(COLLECTOR) --config otelcol-config.yaml

taskersim:
	$(GO) build -o $(DIST_DIR)/taskersim ./cmd/taskersim

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
	./$(GATEWAY) validate --config deploy/scale-out/gateway.yaml
	@echo "deploy/scale-out/gateway.yaml: valid"
