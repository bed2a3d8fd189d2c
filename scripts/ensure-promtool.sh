#!/usr/bin/env bash
# Put Debian's promtool (package prometheus, the same version the monitoring role
# deploys) into the virtualenv, without installing the package: installing it would
# start a Prometheus server on the controller. Usage: scripts/ensure-promtool.sh <bin dir>
set -euo pipefail

BIN_DIR="$(realpath "${1:?usage: $0 <bin dir>}")"  # absolute: the work happens elsewhere
if [ -x "$BIN_DIR/promtool" ]; then
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
if ! apt-get download prometheus >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get download prometheus >/dev/null
fi
dpkg-deb -x prometheus_*.deb extracted
install -m 0755 extracted/usr/bin/promtool "$BIN_DIR/promtool"
"$BIN_DIR/promtool" --version | head -1
