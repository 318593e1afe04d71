#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to (real Prometheus, Alertmanager, Chromium, ...)
# and wrk, the HTTP load generator of benchmarks/bench_http_middleware.py.
# Runs apt-get only for what is missing, and only as root; otherwise it says what to install.
set -euo pipefail
declare -A wanted=(
  [prometheus]=promtool
  [prometheus-alertmanager]=amtool
  [prometheus-node-exporter]=prometheus-node-exporter
  [chromium]=chromium
  [redis-server]=redis-server
  [postgresql]=pg_ctlcluster
  [wrk]=wrk
)
missing=()
for package in "${!wanted[@]}"; do
  command -v "${wanted[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "vigie: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "vigie: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start their daemons on install; the tests start their own on other ports.
for service in prometheus prometheus-alertmanager prometheus-node-exporter redis-server postgresql; do
  (command -v service >/dev/null && service "$service" stop >/dev/null 2>&1) || true
  pkill -x "$service" 2>/dev/null || true
done
