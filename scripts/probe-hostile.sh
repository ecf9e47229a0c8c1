#!/usr/bin/env bash
# The hostile-input probe (make probe-hostile; docs/benchmarks.md, "Hostile input"). Not part of
# make test: it prints figures.
#
# For each input of issue 13's table (bench/cmd/hostileprobe list), it starts the built
# collector (_build/otelcol-tasker) on the shipped otelcol-config.yaml, on free loopback ports,
# sends the input over OTLP gRPC, waits for it to settle and be flushed, and prints one row: the
# collector's resident memory before and after (VmRSS) and its peak (VmHWM); its live Go heap
# before and after, read from its own telemetry (otelcol_process_runtime_heap_alloc_bytes) just
# after a garbage collection (the pprof extension's heap profile with gc=1), which is what it
# still holds (RSS stays up after a burst: Go returns freed memory to the system slowly); the
# size of one /metrics scrape and how long it took; lines the collector logged about UTF-8;
# what the tasker_* series show about the input; and the components' own counters of what
# they set aside. A fresh collector runs each input, so that the figures are the input's alone.
#
# Trace export is turned off (as make run does when no Jaeger listens): otherwise the exporter's
# queue would hold the hostile spans while it retries, and the memory would be the queue's.
#
# Settings (environment): SETTLE=2s FLUSH=1s (the settle window and flush interval the collector
# runs with), KEEP=1 keeps each run's scrape and log under the cache's probe-hostile directory.
set -euo pipefail

SETTLE=${SETTLE:-2s}
FLUSH=${FLUSH:-1s}
KEEP=${KEEP:-0}

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
collector=$repo/_build/otelcol-tasker
work=$cache/probe-hostile/$(date -u +%Y%m%dT%H%M%SZ)-$$
probe=$cache/bin/hostileprobe
mkdir -p "$work" "$cache/bin"

say() { echo "probe-hostile: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

[ -x "$collector" ] || die "$collector is missing: make probe-hostile builds it"
[[ $SETTLE =~ ^[0-9]+s$ && $FLUSH =~ ^[0-9]+s$ ]] || die "SETTLE and FLUSH are whole seconds, such as 2s; got '$SETTLE', '$FLUSH'"

collector_pid=
cleanup() {
	if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$collector_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$collector_pid" 2>/dev/null || true
	fi
	[ "$KEEP" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

say "building the sender (bench/cmd/hostileprobe)"
(cd "$repo/bench" && go build -o "$probe" ./cmd/hostileprobe)

# free_port prints a loopback port nothing listens on (the kernel's choice for port 0).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# mem_mb FIELD prints the collector's VmRSS or VmHWM in MB.
mem_mb() { awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$collector_pid/status"; }

# wait_http URL: until it answers 200 (30 s at most).
wait_http() {
	for _ in $(seq 300); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		kill -0 "$collector_pid" 2>/dev/null || die "the collector exited; its log: $(tail -5 "$log")"
		sleep 0.1
	done
	die "nothing answered at $1"
}

# live_heap_mb: the collector's Go heap in MB just after garbage collection (twice: what a
# sync.Pool held survives one).
live_heap_mb() {
	curl -fsS -o /dev/null "http://127.0.0.1:$pprof/debug/pprof/heap?gc=1"
	curl -fsS -o "$work/heap.pprof" "http://127.0.0.1:$pprof/debug/pprof/heap?gc=1"
	curl -fsS "http://127.0.0.1:$tel/metrics" | awk '/^otelcol_process_runtime_heap_alloc_bytes/ { printf "%.1f", $NF / 1048576 }'
}

# counters FILE: the non-zero counters of what the components set aside, as reason=value.
counters() {
	{ grep -E '^otelcol_(processor|connector)_tasker_state_(transitions_unrecognised|transition_anomalies|problems|transitions_dropped|durations_refused)(_total)?\{' "$1" || true; } |
		awk '{
			name = $1; sub(/\{.*/, "", name); sub(/^otelcol_/, "", name); sub(/_total$/, "", name)
			sub(/^(processor|connector)_tasker_state_/, "", name)
			reason = ""; if (match($1, /reason="[^"]*"/)) reason = substr($1, RSTART + 8, RLENGTH - 9)
			kind = ""; if (match($1, /kind="[^"]*"/)) kind = substr($1, RSTART + 6, RLENGTH - 7)
			key = name (reason != "" ? " " reason : "") " (" kind ")"
			if ($NF + 0 > 0) sum[key] += $NF
		} END { for (k in sum) printf "%s %d\n", k, sum[k] }' | sort | paste -sd ';' - | sed 's/;/; /g'
}

settle_s=${SETTLE%s} flush_s=${FLUSH%s}
printf '| input | RSS before → after (MB) | peak RSS (MB) | live heap before → after (MB) | /metrics bytes (scrape time) | UTF-8 log lines | the tasker_* series | counted |\n'
printf '|---|---|---|---|---|---|---|---|\n'
while IFS=$'\t' read -r name description; do
	grpc=$(free_port) http=$(free_port) prom=$(free_port) health=$(free_port) zpages=$(free_port) pprof=$(free_port) tel=$(free_port) jaeger=$(free_port)
	log=$work/$name.log
	TASKER_OTLP_GRPC_ENDPOINT=127.0.0.1:$grpc TASKER_OTLP_HTTP_ENDPOINT=127.0.0.1:$http \
		TASKER_PROMETHEUS_ENDPOINT=127.0.0.1:$prom TASKER_HEALTH_ENDPOINT=127.0.0.1:$health \
		TASKER_ZPAGES_ENDPOINT=127.0.0.1:$zpages TASKER_PPROF_ENDPOINT=127.0.0.1:$pprof \
		TASKER_TELEMETRY_PORT=$tel TASKER_JAEGER_OTLP_ENDPOINT=127.0.0.1:$jaeger \
		TASKER_SETTLE_WINDOW=$SETTLE TASKER_FLUSH_INTERVAL=$FLUSH \
		"$collector" --config "$repo/otelcol-config.yaml" \
		--config 'yaml:service::pipelines::traces::exporters: [tasker_state]' >"$log" 2>&1 &
	collector_pid=$!
	wait_http "http://127.0.0.1:$health/"
	sleep 2
	before=$(mem_mb VmRSS) heap_before=$(live_heap_mb)
	"$probe" send -endpoint "127.0.0.1:$grpc" -input "$name" || die "sending $name: see $log"
	sleep $((settle_s + 2 * flush_s + 2))
	scrape=$work/$name.metrics
	timing=$(curl -fsS -o "$scrape" -w '%{size_download} %{time_total}' "http://127.0.0.1:$prom/metrics")
	bytes=${timing% *} secs=${timing#* }
	after=$(mem_mb VmRSS) peak=$(mem_mb VmHWM) heap_after=$(live_heap_mb)
	curl -fsS -o "$work/$name.self" "http://127.0.0.1:$tel/metrics"
	utf8=$(grep -c 'UTF-8' "$log" || true)
	summary=$("$probe" summary -input "$name" "$scrape")
	counted=$(counters "$work/$name.self")
	printf '| %s | %s → %s | %s | %s → %s | %s (%.2f s) | %s | %s | %s |\n' "$description" "$before" "$after" "$peak" \
		"$heap_before" "$heap_after" "$bytes" "$secs" "$utf8" "$summary" "${counted:-none}"
	kill -TERM "$collector_pid"
	wait "$collector_pid" 2>/dev/null || true
	collector_pid=
done < <("$probe" list)
[ "$KEEP" != 1 ] || say "scrapes and logs kept in $work"
