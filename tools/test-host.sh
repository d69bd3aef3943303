#!/usr/bin/env bash
# Start one systemd test host (a container of the berth test image) and wait until it booted.
#
#   tools/test-host.sh NAME IMAGE [extra docker run options...]
#
# The container is berth's one recipe (molecule/resources/systemd-host.yml, also used by Molecule
# and the sandbox), read by tools/container_recipe.py. Exits 1 when systemd is neither running
# nor degraded after 60 s. Used by the consumer and EE tests and the bench.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME IMAGE [docker run options...]" >&2; exit 2; }
name=$1 image=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mapfile -t recipe < <(python3 "$here/container_recipe.py")
docker run -d --name "$name" --hostname "$name" "${recipe[@]}" \
  "$@" "$image" "$(python3 "$here/container_recipe.py" command)" >/dev/null
state=""
for _ in $(seq 1 120); do
  # Right after `docker run` systemd may not answer yet (no bus): retry.
  state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && exit 0
  sleep 0.5
done
echo "test-host: $name did not boot (systemd: ${state:-no answer})" >&2
exit 1
