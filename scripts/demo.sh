#!/usr/bin/env bash
# `make demo`: otelcol-tasker with Jaeger and Prometheus beside it and the Tasker simulator
# feeding it, all on loopback. Prints the URLs and a few PromQL queries; Ctrl-C stops
# everything it started.
#
# Environment: DEMO_DURATION (how long the simulator starts tasks, default 10m), DEMO_RATE
# (tasks per second, default 1), DEMO_SPEED (simulated seconds per second, default 2),
# DEMO_SHAPE (spans|events|mix, default mix), DEMO_FATES (the simulator's --fates, default: a
# failing step in 3 tasks of 100), DEMO_PROMETHEUS_PORT (default 19090), and the collector's
# TASKER_* variables of otelcol-config.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

collector=./_build/otelcol-tasker
sim=./_build/taskersim
[ -x "$collector" ] || { echo "demo: $collector is missing; run make demo (it builds it)" >&2; exit 1; }
[ -x "$sim" ] || { echo "demo: $sim is missing; run make demo (it builds it)" >&2; exit 1; }
jaeger=$(bash scripts/build-jaeger.sh)
prometheus=$(bash scripts/install-prometheus.sh)
# Few failing steps: the simulator's default deck fails a step in 4 tasks of 10, which puts the
# error share of most handlers over TaskerStepErrorRateHigh's 25% within minutes. With this deck
# a step fails in 3 tasks of 100 (in one of them for good, so that task.failed traces exist),
# besides the 5% of attempts the simulator fails and retries: each handler stays under 25%
# (checked over eight seeds in 5-minute windows, as the rule reads them, and by a demo run).
fates=${DEMO_FATES:-normal=96,flaky=2,cancel=1,fail_error=1}

prom_port=${DEMO_PROMETHEUS_PORT:-19090}
export TASKER_SETTLE_WINDOW=${TASKER_SETTLE_WINDOW:-10s}
export TASKER_FLUSH_INTERVAL=${TASKER_FLUSH_INTERVAL:-5s}
metrics_ep=${TASKER_PROMETHEUS_ENDPOINT:-127.0.0.1:8889}
otlp_ep=${TASKER_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}
health_ep=${TASKER_HEALTH_ENDPOINT:-127.0.0.1:13133}
jaeger_ui=${JAEGER_QUERY_HTTP_ENDPOINT:-127.0.0.1:16686}
jaeger_otlp=${JAEGER_OTLP_GRPC_ENDPOINT:-127.0.0.1:14317}
export TASKER_JAEGER_OTLP_ENDPOINT=${TASKER_JAEGER_OTLP_ENDPOINT:-$jaeger_otlp}

work=$(mktemp -d /tmp/otelcol-tasker-demo.XXXXXX)
# The demo starts from an empty state of its own, apart from make run's (file_storage).
export TASKER_STORAGE_DIR=${TASKER_STORAGE_DIR:-$work/storage}
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  echo "demo: logs were in $work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in its own process group, logging to $work/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

# wait_http NAME URL: polls URL until it answers 200, for at most 60 s.
wait_http() {
  local name=$1 url=$2
  for _ in $(seq 600); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $name did not come up at $url; its log:" >&2
  tail -n 30 "$work/$name.log" >&2
  exit 1
}

telemetry_ep=${TASKER_TELEMETRY_HOST:-127.0.0.1}:${TASKER_TELEMETRY_PORT:-8888}
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: ['$PWD/deploy/prometheus/rules.yaml']
scrape_configs:
  - job_name: otelcol-tasker
    honor_labels: true
    scrape_interval: 2s
    static_configs:
      - targets: ['$metrics_ep']
  - job_name: otelcol-tasker-self
    static_configs:
      - targets: ['$telemetry_ep']
EOF

echo "demo: starting Jaeger, otelcol-tasker and Prometheus on loopback"
start jaeger "$jaeger" --config deploy/jaeger.yaml
start collector "$collector" --config otelcol-config.yaml
start prometheus "$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
  --web.listen-address="127.0.0.1:$prom_port" --enable-feature=exemplar-storage
wait_http jaeger "http://$jaeger_ui/api/v3/services"
wait_http collector "http://$health_ep/"
wait_http prometheus "http://127.0.0.1:$prom_port/-/ready"

start taskersim "$sim" --endpoint "$otlp_ep" --rate "${DEMO_RATE:-1}" --speed "${DEMO_SPEED:-2}" \
  --duration "${DEMO_DURATION:-10m}" --shape "${DEMO_SHAPE:-mix}" --fates "$fates" --truth "$work/truth.json"

# The links of the banner, checked against the servers just started (Debian's Prometheus 2.42
# serves its pages under /classic/; /rules and /alerts are 404 there).
prom=http://127.0.0.1:$prom_port
links=("$prom/classic/graph" "$prom/classic/rules" "$prom/classic/alerts" "$prom/classic/targets"
  "http://$jaeger_ui/api/v3/services" "http://$metrics_ep/metrics")
for url in "${links[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
  [ "$code" = 200 ] || echo "demo: warning: $url answers HTTP $code, not 200" >&2
done

cat <<EOF

otelcol-tasker demo is running (logs and the simulator's ground truth in $work)

  Tasker simulator  -> OTLP $otlp_ep -> otelcol-tasker (tasker_state processor + connector)
  Prometheus        $prom/classic/graph
                    rules (deploy/prometheus/rules.yaml)  $prom/classic/rules
                    alerts                                $prom/classic/alerts
                    scrape targets                        $prom/classic/targets
  Jaeger API        http://$jaeger_ui/api/v3/services   (a Go-built Jaeger has no UI assets;
                    its API answers)
  collector metrics http://$metrics_ep/metrics

Metrics appear once transitions have settled (TASKER_SETTLE_WINDOW=$TASKER_SETTLE_WINDOW) and been
flushed (every $TASKER_FLUSH_INTERVAL). Queries to try in Prometheus:

  sum by (namespace, event_name) (rate(tasker_step_state_transitions_total[1m]))
  sum by (namespace, outcome) (tasker_task_completion_duration_seconds_count)
  histogram_quantile(0.95, sum by (le, state) (rate(tasker_step_state_duration_seconds_bucket[5m])))
  sum by (handler_name, outcome) (tasker_step_attempts_total{attempt_number!="1"})
  sum by (entity, from_state, to_state) (tasker_transitions_invalid_total)

Traces with a given event, through Jaeger's API:
  curl -s 'http://$jaeger_ui/api/traces?service=tasker-orchestration&limit=5&tags=%7B%22tasker.event.name%22%3A%22task.failed%22%7D'

What the alerts show: the simulator injects faults on purpose (a failing step in 3 tasks of
100 and 5% of attempts retried, an invalid transition in 1 task of 10, duplicates, late
spans), all under the alerts' thresholds, so every alert stays inactive while it runs
(TaskerStateCollectorDown may be pending for a few seconds, until Prometheus' first scrape).
Once the simulator has stopped (after ${DEMO_DURATION:-10m}), TaskerStateTelemetryStopped fires
15 minutes later: no transition arrives any more, which is what it watches for.

Press Ctrl-C to stop.
EOF
wait "${pids[3]}" || true
echo "demo: the simulator has finished:"; grep -A4 "^taskersim: [0-9]* tasks" "$work/taskersim.log" || true; echo "demo: the servers keep running until Ctrl-C"
while true; do sleep 3600; done
