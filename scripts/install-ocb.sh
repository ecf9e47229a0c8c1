#!/usr/bin/env bash
# Installs ocb (the OpenTelemetry Collector Builder) into a cache outside the repo, once per
# version: v0.165.0 (our collector release) unless a version is given, e.g. v0.161.0 for the
# gateway (builder-config-gateway.yaml). Prints the binary's path; says on stderr what it
# installs, and logs the go command's output to $cache/logs/.
set -euo pipefail
source "$(dirname "$0")/quiet.sh"
version=${1:-v0.165.0}
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/ocb-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
log=$cache/logs/install-ocb-$version.log
mkdir -p "$cache/bin"
echo "installing ocb $version (the collector builder) from the Go module proxy, once: a minute or two (log: $log)" >&2
began=$SECONDS
gobin=$(mktemp -d "$cache/gobin-ocb.XXXXXX")
quiet "$log" env GOBIN="$gobin" go install "go.opentelemetry.io/collector/cmd/builder@$version"
mv "$gobin/builder" "$bin"
rmdir "$gobin"
echo "installed $bin in $((SECONDS - began)) s" >&2
echo "$bin"
