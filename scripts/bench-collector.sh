#!/usr/bin/env bash
# The whole-collector benchmark (make bench-collector; docs/benchmarks.md, "Whole collector").
#
# Builds, in a scratch directory under the cache, a collector with ocb: the otlp receiver, the
# batch processor, the debug exporter, contrib's span_metrics connector and our tasker_state
# processor and connector. Then, in rounds, it runs each pipeline on its own collector, drives it
# with Tasker-shaped OTLP from bench/cmd/loadgen as fast as it accepts, and prints accepted
# spans/s, the share of the bare pipeline's throughput, the collector's CPU time per span and
# its peak RSS.
#
# Settings (environment, or make variables):
#   REF=<rev>                 our components from that commit instead of the working tree
#   REF_BEFORE=<rev> [REF_AFTER=<rev>]
#                             compare two builds in one run (REF_AFTER defaults to the working tree)
#   ROUNDS=3 WARMUP=5s DURATION=10s SENDERS=4   (WARMUP and DURATION in seconds)
#   TASKS=600 LIVE=0.2 SEED=1  the load's pool: tasks per pass, share that never finishes
#   PIPELINES="bare processor connector both shared span_metrics"
#                             both: the two components, each with its own entity log; shared:
#                             the two on one log, the tasker_state extension's (otelcol-config.yaml);
#                             checkpoint (not in the default list): shared, with the log written to
#                             file_storage every CHECKPOINT_INTERVAL (default 5s, so that a 10 s
#                             window holds two; otelcol-config.yaml's 30s costs a sixth of that)
#   GCTRACE=1                 run the collectors with GODEBUG=gctrace=1 and report the live heap
#   PROFILE=1                 save a CPU profile of each counted window and a heap profile at its
#                             end (pprof extension; DURATION in whole seconds)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-5s}
DURATION=${DURATION:-10s}
SENDERS=${SENDERS:-4}
TASKS=${TASKS:-600}
LIVE=${LIVE:-0.2}
SEED=${SEED:-1}
PIPELINES=${PIPELINES:-bare processor connector both shared span_metrics}
GCTRACE=${GCTRACE:-0}
PROFILE=${PROFILE:-0}
CHECKPOINT_INTERVAL=${CHECKPOINT_INTERVAL:-5s}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}
OCB_VERSION=v0.165.0

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
work=$cache/bench-collector
run_dir=$work/runs/$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$work/src" "$work/build" "$work/bin" "$run_dir/config"

say() { echo "bench-collector: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# --- processes: whatever is running when the script ends is stopped -----------------------
collector_pid=
loadgen_pid=
profiler_pid=
cleanup() {
	for pid in $profiler_pid $loadgen_pid $collector_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -f "$run_dir/pool.gob"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

for p in $PIPELINES; do
	case $p in bare | processor | connector | both | shared | checkpoint | span_metrics) ;; *) die "unknown pipeline '$p' in PIPELINES (want bare, processor, connector, both, shared, checkpoint, span_metrics)" ;; esac
done
case " $PIPELINES " in *" bare "*) ;; *) die "PIPELINES must include bare: every share is taken against it" ;; esac
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, got '$ROUNDS'"
WARMUP=${WARMUP%s} DURATION=${DURATION%s}
[[ $WARMUP =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "WARMUP must be seconds, such as 5s, got '$WARMUP'"
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ && $DURATION != 0 ]] || die "DURATION must be seconds, such as 10s, got '$DURATION'"
[ "$PROFILE" != 1 ] || [[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "PROFILE=1 needs DURATION in whole seconds, got '$DURATION'"
clock_ticks=$(getconf CLK_TCK)

# --- the builds to compare -------------------------------------------------------------------
# Each is "label|source dir|commit"; the working tree is used as it is (uncommitted changes
# included, no commit), a commit is exported with git archive into the scratch directory once.
variants=()
add_variant() { # rev ("" = the working tree)
	local rev=$1 sha src label
	if [ -z "$rev" ]; then
		label="worktree@$(git -C "$repo" describe --always --dirty)"
		variants+=("$label|$repo|")
		return
	fi
	sha=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || die "REF '$rev' is not a commit of $repo"
	src=$work/src/$sha
	if [ ! -f "$src/.complete" ]; then
		rm -rf "$src" && mkdir -p "$src"
		git -C "$repo" archive --format=tar "$sha" | tar -x -C "$src" || die "exporting $rev ($sha) failed"
		touch "$src/.complete"
	fi
	label=$(git -C "$repo" rev-parse --short "$sha")
	variants+=("$label|$src|$sha")
}
if [ -n "${REF_BEFORE:-}" ] || [ -n "${REF_AFTER:-}" ]; then
	[ -n "${REF_BEFORE:-}" ] || die "REF_AFTER needs REF_BEFORE"
	[ -z "${REF:-}" ] || die "set either REF or REF_BEFORE/REF_AFTER, not both"
	add_variant "$REF_BEFORE"
	add_variant "${REF_AFTER:-}"
else
	add_variant "${REF:-}"
fi
# The same commit twice is an A/A run: the spread between its two rows is the noise.
if [ "${#variants[@]}" -eq 2 ] && [ "${variants[0]%%|*}" = "${variants[1]%%|*}" ]; then
	variants[1]="${variants[1]%%|*}#2|${variants[1]#*|}"
fi

# --- build ------------------------------------------------------------------------------------
ocb=$(bash "$repo/scripts/install-ocb.sh") || die "installing ocb $OCB_VERSION failed"

build_variant() { # label src sha -> prints the binary's path
	local label=$1 src=$2 sha=$3 dir log bin
	# one build directory per commit, and one per working tree (the repository's path hashed)
	dir=$work/build/${sha:-worktree-$(printf %s "$src" | md5sum | cut -c1-8)}
	bin=$dir/otelcol-bench
	if [ -n "$sha" ] && [ -x "$bin" ]; then echo "$bin"; return; fi # a commit builds the same twice
	mkdir -p "$dir"
	log=$dir/build.log
	cat >"$dir/builder-config.yaml" <<-EOF
		# Generated by scripts/bench-collector.sh: our components from $src
		dist:
		  name: otelcol-bench
		  description: otelcol-tasker whole-collector benchmark ($label)
		  module: github.com/tasker-systems/otelcol-tasker/benchdist
		  output_path: $dir/dist
		  version: 0.0.0-bench
		receivers:
		  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v0.165.0
		processors:
		  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v0.165.0
		  - gomod: github.com/tasker-systems/otelcol-tasker v0.0.0
		    import: github.com/tasker-systems/otelcol-tasker/processor/taskerstate
		    path: $src
		exporters:
		  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.165.0
		connectors:
		  - gomod: github.com/tasker-systems/otelcol-tasker v0.0.0
		    import: github.com/tasker-systems/otelcol-tasker/connector/taskerstate
		    path: $src
		  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector v0.165.1
		providers:
		  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0
		  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0
		extensions:
		  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension v0.165.1
		  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage v0.165.1
	EOF
	# The tasker_state extension (one entity log for both components) exists from the commit
	# that brought it; older commits run the shared pipeline not at all.
	if [ -d "$src/extension/taskerstate" ]; then
		cat >>"$dir/builder-config.yaml" <<-EOF
			  - gomod: github.com/tasker-systems/otelcol-tasker v0.0.0
			    import: github.com/tasker-systems/otelcol-tasker/extension/taskerstate
			    path: $src
		EOF
	fi
	say "building $label with ocb (log: $log)"
	if ! "$ocb" --config "$dir/builder-config.yaml" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "ocb could not build $label; the whole log is $log"
	fi
	cp "$dir/dist/otelcol-bench" "$bin.tmp" && mv "$bin.tmp" "$bin"
	echo "$bin"
}

binaries=()
for v in "${variants[@]}"; do
	IFS='|' read -r label src sha <<<"$v"
	bin=$(build_variant "$label" "$src" "$sha") || exit 1
	binaries+=("$bin")
done

loadgen=$work/bin/loadgen
benchreport=$work/bin/benchreport
say "building the load generator and the report (bench/)"
(cd "$repo/bench" && go build -o "$loadgen" ./cmd/loadgen && go build -o "$benchreport" ./cmd/benchreport) ||
	die "building bench/cmd/loadgen or bench/cmd/benchreport failed"
pool=$run_dir/pool.gob # removed at exit; the same seed and flags plan it again
"$loadgen" pool -o "$pool" -tasks "$TASKS" -live "$LIVE" -seed "$SEED" >"$run_dir/pool.txt" || die "building the load's pool failed"

# --- pipelines ----------------------------------------------------------------------------------
# Every server binds 127.0.0.1; ports are picked free per run (BENCH_OTLP_PORT, BENCH_TELEMETRY_PORT).
write_config() { # pipeline
	local p=$1 f=$run_dir/config/$1.yaml
	cat >"$f" <<-'EOF'
		receivers:
		  otlp:
		    protocols:
		      grpc:
		        endpoint: 127.0.0.1:${env:BENCH_OTLP_PORT}
		processors:
		  batch: {}
		  tasker_state: {}
		  SHARED_PROCESSOR
		exporters:
		  debug: {}
		connectors:
		  tasker_state: {}
		  SHARED_CONNECTOR
		  # configured for the job tasker_state does (the same as bench/connectors_bench_test.go)
		  span_metrics:
		    dimensions: [{name: namespace}, {name: from_state}, {name: to_state}]
		    exemplars: {enabled: true}
		    aggregation_cardinality_limit: 2000
		    series_expiration: 10m
		    metrics_flush_interval: 15s
	EOF
	# Only the shared pipeline declares the components on the extension's log, which builds
	# from before it do not know.
	if [ "$p" = shared ] || [ "$p" = checkpoint ]; then
		sed -i 's/SHARED_PROCESSOR/tasker_state\/shared: {entity_log: tasker_state}/; s/SHARED_CONNECTOR/tasker_state\/shared: {entity_log: tasker_state}/' "$f"
	else
		sed -i '/SHARED_PROCESSOR\|SHARED_CONNECTOR/d' "$f"
	fi
	local exts=()
	if [ "$PROFILE" = 1 ] || [ "$p" = shared ] || [ "$p" = checkpoint ]; then
		echo "extensions:" >>"$f"
	fi
	if [ "$PROFILE" = 1 ]; then
		printf '  pprof:\n    endpoint: 127.0.0.1:${env:BENCH_PPROF_PORT}\n' >>"$f"
		exts+=(pprof)
	fi
	if [ "$p" = shared ]; then
		printf '  tasker_state: {}\n' >>"$f"
		exts+=(tasker_state)
	fi
	if [ "$p" = checkpoint ]; then
		# a fresh directory per run (run_one empties it): every run starts with nothing stored
		printf '  file_storage:\n    directory: ${env:BENCH_STORAGE_DIR}\n    create_directory: true\n' >>"$f"
		printf '  tasker_state:\n    storage: file_storage\n    checkpoint_interval: %s\n' "$CHECKPOINT_INTERVAL" >>"$f"
		exts+=(file_storage tasker_state)
	fi
	echo "service:" >>"$f"
	if [ "${#exts[@]}" -gt 0 ]; then
		echo "  extensions: [$(IFS=,; echo "${exts[*]}")]" >>"$f"
	fi
	cat >>"$f" <<-'EOF'
		  telemetry:
		    metrics:
		      readers:
		        - pull:
		            exporter:
		              prometheus:
		                host: 127.0.0.1
		                port: ${env:BENCH_TELEMETRY_PORT}
		  pipelines:
	EOF
	case $p in
	bare) cat >>"$f" <<-'EOF' ;;
		    traces:
		      receivers: [otlp]
		      processors: [batch]
		      exporters: [debug]
	EOF
	processor) cat >>"$f" <<-'EOF' ;;
		    traces:
		      receivers: [otlp]
		      processors: [tasker_state, batch]
		      exporters: [debug]
	EOF
	connector | span_metrics) sed "s/CONNECTOR/${p/connector/tasker_state}/" >>"$f" <<-'EOF' ;;
		    traces:
		      receivers: [otlp]
		      processors: [batch]
		      exporters: [debug, CONNECTOR]
		    metrics:
		      receivers: [CONNECTOR]
		      exporters: [debug]
	EOF
	both) cat >>"$f" <<-'EOF' ;;
		    traces:
		      receivers: [otlp]
		      processors: [tasker_state, batch]
		      exporters: [debug, tasker_state]
		    metrics:
		      receivers: [tasker_state]
		      exporters: [debug]
	EOF
	shared | checkpoint) cat >>"$f" <<-'EOF' ;;
		    traces:
		      receivers: [otlp]
		      processors: [tasker_state/shared, batch]
		      exporters: [debug, tasker_state/shared]
		    metrics:
		      receivers: [tasker_state/shared]
		      exporters: [debug]
	EOF
	esac
	echo "$f"
}

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		if [ -z "$(ss -Htln "sport = :$p")" ]; then echo "$p"; return; fi
	done
	die "found no free port on 127.0.0.1"
}

proc_kib() { # pid field -> the field of /proc/pid/status in KiB
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

proc_cpu_ticks() { # pid -> user + system CPU time so far, in clock ticks
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

running() { # pid -> true while the process runs (a child that exited stays a zombie until waited)
	local state
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [ -n "$state" ] && [ "$state" != Z ]
}

# gctrace lines: "gc N @Ts P%: a+b+c ms clock, ..., X->Y->Z MB, G MB goal, ...": Z is the live
# heap the cycle left, b its concurrent mark time. Prints "cycles live_max mark_max".
gc_summary() {
	awk '$1 == "gc" && $2 ~ /^[0-9]+$/ {
		n++
		split($5, clock, "+"); if (clock[2] + 0 > mark) mark = clock[2] + 0
		for (i = 6; i <= NF; i++) if ($(i + 1) == "MB," && $i ~ /->/) { split($i, h, "->"); if (h[3] + 0 > live) live = h[3] + 0; break }
	} END { if (n) printf "%d\t%d\t%.0f\n", n, live, mark; else print "0\t0\t0" }' "$1"
}

results=$run_dir/results.tsv
printf 'round\tpipeline\tvariant\tspans_per_s\tcpu_us_per_span\thwm_kib\trss_kib\tgc_cycles\tgc_live_max_mb\tgc_mark_max_ms\n' >"$results"

run_one() { # round pipeline variant-index
	local round=$1 p=$2 vi=$3 label bin cfg log otlp_port tel_port pprof_port line rate hwm rss gc waited cpu0 cpu1 accepted cpu_us load_start
	label=${variants[$vi]%%|*}
	bin=${binaries[$vi]}
	cfg=$run_dir/config/$p.yaml
	log=$run_dir/$round-$p-${label//[^A-Za-z0-9._-]/_}.log
	otlp_port=$(free_port)
	tel_port=$(free_port)
	[ "$tel_port" != "$otlp_port" ] || tel_port=$(free_port)
	pprof_port=$(free_port)
	local godebug=${GODEBUG:-}
	[ "$GCTRACE" != 1 ] || godebug=${godebug:+$godebug,}gctrace=1
	local storage=$run_dir/storage
	rm -rf "$storage"
	BENCH_OTLP_PORT=$otlp_port BENCH_TELEMETRY_PORT=$tel_port BENCH_PPROF_PORT=$pprof_port GODEBUG=$godebug \
		BENCH_STORAGE_DIR=$storage "$bin" --config "$cfg" >"$log" 2>&1 &
	collector_pid=$!
	for waited in $(seq 600); do
		grep -q "Everything is ready" "$log" && break
		kill -0 "$collector_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the $p collector ($label) exited at start-up; log: $log"; }
		[ "$waited" -lt 600 ] || { tail -n 20 "$log" >&2; die "the $p collector ($label) was not ready after 60 s; log: $log"; }
		sleep 0.1
	done
	"$loadgen" send -pool "$pool" -endpoint "127.0.0.1:$otlp_port" -senders "$SENDERS" -warmup "${WARMUP}s" -duration "${DURATION}s" \
		>"$log.load" 2>&1 &
	loadgen_pid=$!
	load_start=$(date +%s.%N)
	# The collector's CPU time over (about) the counted window: less disturbed by other work on
	# a shared machine than the throughput is.
	sleep "$WARMUP"
	running "$collector_pid" || { tail -n 20 "$log" >&2; die "the $p collector ($label) died under load; log: $log"; }
	cpu0=$(proc_cpu_ticks "$collector_pid")
	if [ "$PROFILE" = 1 ]; then
		curl -sf -o "$log.cpu.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=$DURATION" &
		profiler_pid=$!
	fi
	# The collector's resident set every second under load: seconds since the load began, MiB.
	while running "$loadgen_pid"; do
		running "$collector_pid" || break
		awk -v t0="$load_start" -v t="$(date +%s.%N)" -v kib="$(proc_kib "$collector_pid" VmRSS)" \
			'BEGIN { printf "%.0f\t%.0f\n", t - t0, kib / 1024 }' >>"$log.rss"
		sleep 1
	done
	wait "$loadgen_pid" || { cat "$log.load" >&2; die "the load generator failed against the $p collector ($label); log: $log"; }
	loadgen_pid=
	kill -0 "$collector_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the $p collector ($label) died under load; log: $log"; }
	cpu1=$(proc_cpu_ticks "$collector_pid")
	hwm=$(proc_kib "$collector_pid" VmHWM)
	rss=$(proc_kib "$collector_pid" VmRSS)
	if [ -n "$profiler_pid" ]; then
		wait "$profiler_pid" || say "no CPU profile of the $p collector ($label)"
		profiler_pid=
		curl -sf -o "$log.heap.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/heap" || say "no heap profile of the $p collector ($label)"
	fi
	kill -TERM "$collector_pid"
	for waited in $(seq $((STOP_TIMEOUT * 10))); do
		kill -0 "$collector_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$collector_pid" 2>/dev/null; then
		say "the $p collector ($label) did not stop within ${STOP_TIMEOUT}s of SIGTERM: killed"
		kill -KILL "$collector_pid" 2>/dev/null || true
	fi
	wait "$collector_pid" 2>/dev/null || true
	collector_pid=
	line=$(grep '^spans_per_s=' "$log.load") || { cat "$log.load" >&2; die "no result line from the load generator; log: $log.load"; }
	rate=${line%% *}
	rate=${rate#spans_per_s=}
	accepted=${line#* accepted_spans=}
	accepted=${accepted%% *}
	cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$clock_ticks" -v n="$accepted" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
	gc='-\t-\t-'
	[ "$GCTRACE" != 1 ] || gc=$(gc_summary "$log")
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t$gc\n" "$round" "$p" "$label" "$rate" "$cpu_us" "$hwm" "$rss" >>"$results"
	say "round $round  $(printf '%-13s %-24s' "$p" "$label") $(printf '%8.0f' "$rate") spans/s  $cpu_us µs CPU/span  peak RSS $((hwm / 1024)) MiB  load $(cut -d' ' -f1 /proc/loadavg)  ${line#* }"
}

for p in $PIPELINES; do write_config "$p" >/dev/null; done

# --- header -------------------------------------------------------------------------------------
{
	echo "# whole-collector benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "go:        $(go version | awk '{print $3, $4}')"
	echo "cpu:       $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "builds:    ${variants[*]%%|*}"
	echo "rounds:    $ROUNDS × [$PIPELINES], each on a fresh collector: ${WARMUP}s warm-up then ${DURATION}s counted, $SENDERS senders"
	echo "load:      $(sed 's/^pool: //; s/ ->.*//' "$run_dir/pool.txt"), seed $SEED, renamed every pass"
	[ "$GCTRACE" != 1 ] || echo "gctrace:   on"
	[ "$PROFILE" != 1 ] || echo "profiles:  CPU of each counted window, heap at its end (*.pprof beside the logs)"
	echo "bare and span_metrics run on the first build's binary (they use none of our components)."
} | tee "$run_dir/header.txt"

for round in $(seq "$ROUNDS"); do
	for p in $PIPELINES; do
		case $p in
		bare | span_metrics) run_one "$round" "$p" 0 ;;
		shared | checkpoint) for vi in "${!variants[@]}"; do
			# a build from before the tasker_state extension has no shared pipeline
			IFS='|' read -r _ src _ <<<"${variants[$vi]}"
			[ ! -d "$src/extension/taskerstate" ] || run_one "$round" "$p" "$vi"
		done ;;
		*) for vi in "${!variants[@]}"; do run_one "$round" "$p" "$vi"; done ;;
		esac
	done
done

echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$benchreport" "$results" || die "summarising $results failed"
echo
echo "raw figures and collector logs: $run_dir"
