#!/usr/bin/env bash
# Start one systemd test host (a container of the berth test image) and wait until it booted.
#
#   tools/test-host.sh NAME IMAGE [extra docker run options...]
#
# The settings systemd needs as PID 1 without --privileged (docs: README, the test image):
# SYS_ADMIN (+ SYS_PTRACE, so the port preflight reads /proc/<pid>/fd as root does on a real
# host), seccomp and apparmor unconfined, the host cgroup namespace with /sys/fs/cgroup rw,
# tmpfs /run, /run/lock and /tmp, and SIGRTMIN+3 to stop. Exits 1 when systemd is neither
# running nor degraded after 60 s. Used by the consumer and EE tests.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME IMAGE [docker run options...]" >&2; exit 2; }
name=$1 image=$2
shift 2
docker run -d --name "$name" --hostname "$name" \
  --cap-add SYS_ADMIN --cap-add SYS_PTRACE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3 \
  "$@" "$image" /lib/systemd/systemd >/dev/null
state=""
for _ in $(seq 1 120); do
  # Right after `docker run` systemd may not answer yet (no bus): retry.
  state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && exit 0
  sleep 0.5
done
echo "test-host: $name did not boot (systemd: ${state:-no answer})" >&2
exit 1
