#!/usr/bin/env bash
# Installs ocb (the OpenTelemetry Collector Builder) into a cache outside the repo, once per
# version: v0.165.0 (our collector release) unless a version is given, e.g. v0.161.0 for the
# gateway (builder-config-gateway.yaml). Prints the binary's path.
set -euo pipefail
version=${1:-v0.165.0}
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/ocb-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache/bin"
gobin=$(mktemp -d "$cache/gobin-ocb.XXXXXX")
GOBIN=$gobin go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
mv "$gobin/builder" "$bin"
rmdir "$gobin"
echo "$bin"
