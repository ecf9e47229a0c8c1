#!/usr/bin/env bash
# Builds Jaeger v2.13 (Go module github.com/jaegertracing/jaeger v1.76.0) from the Go module
# proxy into a cache outside the repo, once. Its dependencies live in a throwaway tools module
# there, so they never touch our go.mod. Prints the binary's path.
set -euo pipefail
version=v1.76.0
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/jaeger-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mod=$cache/jaeger-tools-$version
mkdir -p "$mod" "$cache/bin"
cd "$mod"
[ -f go.mod ] || go mod init otelcol-tasker.local/jaeger-tools >&2
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version" >&2
go build -trimpath -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger >&2
mv "$bin.tmp" "$bin"
echo "$bin"
