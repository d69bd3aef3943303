#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (Debian/Ubuntu, root).
# Installs docker.io when dockerd is missing, starts dockerd in the background
# when no daemon answers, and waits for `docker info`. Idempotent.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine here and I can only install one as root on Debian/Ubuntu."
    log "fix: install Docker yourself (apt-get install docker.io) and start it, then re-run."
    exit 1
  fi
  log "installing docker.io from the distribution"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl start docker || true
  fi
fi

if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  # A daemon killed without cleanup leaves its pid file behind; dockerd refuses to start
  # while the file names a live process, so only a stale one is removed.
  for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
      rm -f "$pidfile"
    fi
  done
  log "starting dockerd in the background (log: /var/log/berth-dockerd.log)"
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/berth-dockerd.log"
tail -n 20 /var/log/berth-dockerd.log >&2 || true
exit 1
