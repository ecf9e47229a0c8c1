#!/usr/bin/env bash
# Installs ocb (the OpenTelemetry Collector Builder) at our collector release into a cache
# outside the repo, once. Prints the binary's path; says on stderr what it installs, and logs
# the go command's output to $cache/logs/.
set -euo pipefail
source "$(dirname "$0")/quiet.sh"
version=v0.165.0
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/ocb-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
log=$cache/logs/install-ocb-$version.log
mkdir -p "$cache/bin"
echo "installing ocb $version (the collector builder) from the Go module proxy, once: a minute or two (log: $log)" >&2
began=$SECONDS
quiet "$log" env GOBIN="$cache/gobin-ocb" go install "go.opentelemetry.io/collector/cmd/builder@$version"
mv "$cache/gobin-ocb/builder" "$bin"
echo "installed $bin in $((SECONDS - began)) s" >&2
echo "$bin"
