#!/usr/bin/env bash
# Installs Debian's Prometheus server (without recommended packages) if /usr/bin/prometheus is
# missing, making sure the package starts no service of its own: the end-to-end tests and the
# demo run their own Prometheus on a loopback port with their own configuration. Prints the
# binary's path; says on stderr what it installs, and logs apt's output to $cache/logs/.
set -euo pipefail
source "$(dirname "$0")/quiet.sh"
bin=/usr/bin/prometheus
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
cache=${OTELCOL_TASKER_CACHE:-$HOME/.cache/otelcol-tasker}
log=$cache/logs/install-prometheus.log
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-prometheus: need root (or sudo) to apt-get install prometheus" >&2; exit 1; }
  sudo=sudo
fi
# A policy-rc.d that denies every action keeps the package's service from starting.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian's prometheus package with apt-get (about half a minute; log: $log)" >&2
quiet "$log" $sudo apt-get update
quiet "$log" $sudo apt-get install -y --no-install-recommends prometheus
# Where systemd runs, disable the unit too, so it does not start at the next boot.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  quiet "$log" $sudo systemctl disable --now prometheus || true
fi
echo "installed $bin" >&2
echo "$bin"
