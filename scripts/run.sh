#!/usr/bin/env bash
# `make run`: starts the built collector on otelcol-config.yaml, after printing where OTLP comes
# in and where traces and metrics go.
#
# TASKER_TRACE_EXPORT decides whether traces go on to Jaeger's OTLP endpoint
# (TASKER_JAEGER_OTLP_ENDPOINT, default 127.0.0.1:14317):
#   auto (default)  on if something listens there when the collector starts, else off
#   on              always; without a Jaeger the exporter logs a retry for every batch
#   off             never: the traces pipeline ends in the tasker_state connector only
# Turning it off overrides the traces pipeline's exporters with a second, inline configuration
# (ocb's yaml: provider), so otelcol-config.yaml stays the one file to read.
set -euo pipefail
cd "$(dirname "$0")/.."

collector=./_build/otelcol-tasker
[ -x "$collector" ] || { echo "run: $collector is missing; make run builds it" >&2; exit 1; }
jaeger_otlp=${TASKER_JAEGER_OTLP_ENDPOINT:-127.0.0.1:14317}
# file_storage (the tasker_state snapshot, the Jaeger exporter's queue) lives in the cache
# directory, so that the next make run continues where this one stopped.
export TASKER_STORAGE_DIR=${TASKER_STORAGE_DIR:-${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}/storage}

# listening HOST:PORT: true if a TCP connection to it succeeds within a second.
listening() {
  local host=${1%:*} port=${1##*:}
  timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

export_traces=${TASKER_TRACE_EXPORT:-auto}
case "$export_traces" in
  auto) if listening "$jaeger_otlp"; then export_traces=on; else export_traces=off; fi ;;
  on|off) ;;
  *) echo "run: TASKER_TRACE_EXPORT must be auto, on or off, got '$export_traces'" >&2; exit 1 ;;
esac
args=(--config otelcol-config.yaml)
if [ "$export_traces" = on ]; then
  traces_out="OTLP gRPC to Jaeger at $jaeger_otlp"
else
  args+=(--config 'yaml:service::pipelines::traces::exporters: [tasker_state]')
  if [ -n "${TASKER_TRACE_EXPORT:-}" ]; then
    traces_out="off (TASKER_TRACE_EXPORT=off)"
  else
    traces_out="off: nothing listens at $jaeger_otlp (start a Jaeger there, e.g. make demo, or set
                  TASKER_TRACE_EXPORT=on to export anyway, retrying until one comes up)"
  fi
fi

cat <<BANNER
otelcol-tasker on otelcol-config.yaml:
  OTLP in         grpc ${TASKER_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}, http ${TASKER_OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}
  traces out      $traces_out
  metrics out     http://${TASKER_PROMETHEUS_ENDPOINT:-127.0.0.1:8889}/metrics (tasker_* series, OpenMetrics with exemplars)
  state           $TASKER_STORAGE_DIR (kept across restarts, README "Restarts")
  health          http://${TASKER_HEALTH_ENDPOINT:-127.0.0.1:13133}/   own metrics http://${TASKER_TELEMETRY_HOST:-127.0.0.1}:${TASKER_TELEMETRY_PORT:-8888}/metrics
  send test data  go run ./cmd/taskersim --speed 5 --duration 1m
BANNER
exec "$collector" "${args[@]}"
