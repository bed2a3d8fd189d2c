#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd
# when none is running. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo ">> installing docker.io"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q docker.io
fi

if [ -d /run/systemd/system ] && $SUDO systemctl start docker 2>/dev/null; then
  :
else
  # No systemd here (CI sandboxes, containers): run the daemon in the background.
  echo ">> starting dockerd in the background (log: /var/log/pgha-dockerd.log)"
  $SUDO sh -c 'nohup dockerd >/var/log/pgha-dockerd.log 2>&1 &'
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "dockerd did not come up; see /var/log/pgha-dockerd.log" >&2
exit 1
