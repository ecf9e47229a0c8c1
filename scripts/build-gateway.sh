#!/usr/bin/env bash
# Builds otelcol-tasker-gateway from builder-config-gateway.yaml with ocb v0.161.0 into a cache
# outside the repo, keyed by a hash of the manifest, the ocb version and the Go toolchain, so
# that it is built once per manifest. Copies the binary to the path given (default
# _build/otelcol-tasker-gateway) and prints that path.
set -euo pipefail
cd "$(dirname "$0")/.."
ocb_version=v0.161.0
manifest=builder-config-gateway.yaml
out=${1:-_build/otelcol-tasker-gateway}
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
key=$( (cat "$manifest"; echo "$ocb_version"; go env GOVERSION GOOS GOARCH) | sha256sum | cut -c1-16)
dir=$cache/gateway-$key
bin=$dir/otelcol-tasker-gateway
if [ ! -x "$bin" ]; then
  ocb=$(bash scripts/install-ocb.sh "$ocb_version")
  mkdir -p "$dir"
  work=$(mktemp -d "$dir/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The same manifest with its sources and binary in the cache instead of the repository.
  sed "s|^  output_path: .*|  output_path: $work|" "$manifest" >"$work/manifest.yaml"
  echo "ocb $ocb_version: building otelcol-tasker-gateway from $manifest into $dir" >&2
  "$ocb" --config "$work/manifest.yaml" >&2
  mv "$work/otelcol-tasker-gateway" "$bin"
fi
# Builds of older manifests go once unused for a month.
touch "$dir"
find "$cache" -maxdepth 1 -name 'gateway-*' -type d -mtime +30 -exec rm -rf {} + 2>/dev/null || true
mkdir -p "$(dirname "$out")"
cmp -s "$bin" "$out" 2>/dev/null || cp "$bin" "$out"
echo "$out"
