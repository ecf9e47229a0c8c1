#!/usr/bin/env bash
# Installs ocb (the OpenTelemetry Collector Builder) at our collector release into a cache
# outside the repo, once. Prints the binary's path.
set -euo pipefail
version=v0.165.0
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/ocb-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache/bin"
GOBIN=$cache/gobin-ocb go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
mv "$cache/gobin-ocb/builder" "$bin"
echo "$bin"
