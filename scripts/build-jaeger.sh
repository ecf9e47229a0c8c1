#!/usr/bin/env bash
# Builds Jaeger v2.13 (Go module github.com/jaegertracing/jaeger v1.76.0) from the Go module
# proxy into a cache outside the repo, once. Its dependencies live in a throwaway tools module
# there, so they never touch our go.mod. Prints the binary's path; says on stderr what it builds,
# and logs the go command's output to $cache/logs/.
set -euo pipefail
source "$(dirname "$0")/quiet.sh"
version=v1.76.0
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
bin=$cache/bin/jaeger-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
log=$cache/logs/build-jaeger-$version.log
mod=$cache/jaeger-tools-$version
mkdir -p "$mod" "$cache/bin"
echo "building Jaeger v2.13 (module $version) from the Go module proxy, once: about 7 minutes on 2 cores with a cold Go cache (log: $log)" >&2
began=$SECONDS
cd "$mod"
[ -f go.mod ] || quiet "$log" go mod init otelcol-tasker.local/jaeger-tools
quiet "$log" go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version"
quiet "$log" go build -trimpath -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
mv "$bin.tmp" "$bin"
echo "built $bin in $((SECONDS - began)) s" >&2
echo "$bin"
