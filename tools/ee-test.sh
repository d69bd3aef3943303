#!/usr/bin/env bash
# `make ee-test`: berth run by ansible-navigator inside its execution environment.
#
# 1. The EE image is the pinned ansible-core, and carries berth.stack when the project is a
#    collection (galaxy.yml).
# 2. One systemd test host (berth-ee-web1, Debian 13 unless BERTH_EE_HOST_IMAGE says otherwise)
#    is started with the settings of every test host.
# 3. From inside the EE: playbooks/validate.yml (offline), playbooks/preflight.yml (live),
#    playbooks/web.yml (flask_app + nginx), then tests/ee/verify.yml asserts the host serves the
#    app through Nginx on the registry's ports.
# 4. playbooks/ports.yml publishes the port map as custom stats (set_stats, what AWX keeps as job
#    artifacts): the stats name this host only, with app_http and nginx_http held by their services.
# The host is removed at the end, whatever happened. tools/ee-run.sh runs navigator (project
# directory and docker socket mounted).
set -euo pipefail
cd "$(dirname "$0")/.."

EE_IMAGE="${BERTH_EE_IMAGE:-berth-ee:latest}"
HOST_IMAGE="${BERTH_EE_HOST_IMAGE:-berth-debian13-systemd:latest}"
HOST=berth-ee-web1
INVENTORY=tests/ee/inventory

log() { printf 'ee-test: %s\n' "$*" >&2; }
cleanup() { docker rm -f "$HOST" >/dev/null 2>&1 || true; }
trap cleanup EXIT

pin=$(sed -n 's/^ansible-core==//p' requirements-dev.txt)
ee_core=$(docker run --rm "$EE_IMAGE" ansible --version | sed -n '1s/.*core \([0-9.]*\).*/\1/p')
[ "$ee_core" = "$pin" ] || { log "EE has ansible-core '$ee_core', requirements-dev.txt pins '$pin'"; exit 1; }
log "EE $EE_IMAGE: ansible-core $ee_core (the pin)"
if [ -f galaxy.yml ]; then
  name=$(python3 -c 'import yaml; g = yaml.safe_load(open("galaxy.yml")); print(g["namespace"] + "." + g["name"])')
  docker run --rm "$EE_IMAGE" ansible-galaxy collection list "$name" 2>/dev/null | grep -q "^$name " \
    || { log "EE $EE_IMAGE does not carry $name (galaxy.yml is here): rebuild it with make ee-image"; exit 1; }
  log "EE carries $name"
fi

cleanup
log "starting $HOST from $HOST_IMAGE"
docker run -d --name "$HOST" --hostname "$HOST" --label berth.owner=ee-test \
  --cap-add SYS_ADMIN --cap-add SYS_PTRACE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3 \
  "$HOST_IMAGE" /lib/systemd/systemd >/dev/null

navigator() {
  tools/ee-run.sh "$@" -i "$INVENTORY" --vault-password-file inventories/sandbox/vault-password.txt
}

timeout 60 docker exec "$HOST" systemctl is-system-running --wait >/dev/null || true
navigator playbooks/validate.yml
navigator playbooks/preflight.yml
navigator playbooks/web.yml
navigator tests/ee/verify.yml
stats=.cache/ee/ports-stats.out
navigator playbooks/ports.yml --senv ANSIBLE_SHOW_CUSTOM_STATS=1 --senv ANSIBLE_CALLBACK_RESULT_FORMAT=json | tee "$stats"
python3 - "$HOST" "$stats" <<'CHECK'
import json, pathlib, sys
host, path = sys.argv[1], pathlib.Path(sys.argv[2])
runs = [line.split("RUN:", 1)[1] for line in path.read_text().splitlines() if line.strip().startswith("RUN:")]
assert runs, "no custom stats (set_stats) in the output of playbooks/ports.yml"
port_map = json.loads(runs[-1])["berth_port_map"]
assert list(port_map) == [host], port_map.keys()
status = {row["entry"]: row["status"] for row in port_map[host]}
assert status.get("app_http") == "OK" and status.get("nginx_http") == "OK", status
assert "CONFLICT" not in status.values(), status
print("ee-test: port map in custom stats: %s" % status, file=sys.stderr)
CHECK
log "passed: validated, preflighted, converged and verified $HOST from inside $EE_IMAGE"
