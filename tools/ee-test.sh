#!/usr/bin/env bash
# `make ee-test`: berth run by ansible-navigator inside its execution environment.
#
# 1. The EE image runs the pinned ansible-core, and carries the project's collection when the
#    project is one (galaxy.yml).
# 2. The hosts of tests/ee/inventory (berth-ee-web1, Debian 13) are started with the settings of
#    every test host, and get the Datadog stand-in mirror (as in `make demo`, from the controller).
# 3. From inside the EE: playbooks/validate.yml (offline), then site.yml (validation, live
#    preflight, app, Nginx, Datadog stand-in agent), then tests/ee/verify.yml asserts each host
#    serves the app through Nginx on the registry's ports.
# 4. playbooks/ports.yml publishes the port map as custom stats (set_stats, what AWX keeps as
#    job artifacts): the stats name every host, every entry held by its service or disabled.
# The hosts are removed at the end, whatever happened. tools/ee-run.sh runs navigator (project
# directory and docker socket mounted).
set -euo pipefail
cd "$(dirname "$0")/.."

EE_IMAGE="${BERTH_EE_IMAGE:-berth-ee:latest}"
INVENTORY=tests/ee/inventory
VAULT=(--vault-password-file inventories/sandbox/vault-password.txt)

log() { printf 'ee-test: %s\n' "$*" >&2; }

# host<TAB>image for every host of the test inventory (read with the controller's ansible).
mapfile -t HOSTS < <(ansible-inventory -i "$INVENTORY" "${VAULT[@]}" --list \
  | python3 -c 'import json, sys; hv = json.load(sys.stdin)["_meta"]["hostvars"]; print("\n".join("%s\t%s" % (h, v["ee_test_image"]) for h, v in sorted(hv.items())))')
[ "${#HOSTS[@]}" -gt 0 ] || { log "no hosts in $INVENTORY"; exit 1; }
cleanup() { for entry in "${HOSTS[@]}"; do docker rm -f "${entry%%$'\t'*}" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

pin=$(sed -n 's/^ansible-core==//p' requirements.txt)
ee_core=$(docker run --rm "$EE_IMAGE" ansible --version | sed -n '1s/.*core \([0-9.]*\).*/\1/p')
[ "$ee_core" = "$pin" ] || { log "EE has ansible-core '$ee_core', requirements.txt pins '$pin'"; exit 1; }
log "EE $EE_IMAGE: ansible-core $ee_core (the pin)"
if [ -f galaxy.yml ]; then
  name=$(python3 -c 'import yaml; g = yaml.safe_load(open("galaxy.yml")); print(g["namespace"] + "." + g["name"])')
  docker run --rm "$EE_IMAGE" ansible-galaxy collection list "$name" 2>/dev/null | grep -q "^$name " \
    || { log "EE $EE_IMAGE does not carry $name (galaxy.yml is here): rebuild it with make ee-image"; exit 1; }
  log "EE carries $name"
fi

cleanup
for entry in "${HOSTS[@]}"; do
  host=${entry%%$'\t'*} image=${entry#*$'\t'}
  log "starting $host from $image"
  tools/test-host.sh "$host" "$image" --label berth.owner=ee-test
done
ansible-playbook -i "$INVENTORY" "${VAULT[@]}" molecule/resources/datadog-standin-mirror.yml >/dev/null

navigator() { tools/ee-run.sh "$@" -i "$INVENTORY" "${VAULT[@]}"; }

navigator playbooks/validate.yml
if [ -f galaxy.yml ]; then
  # The project's ansible.cfg puts its working tree (collections/) first; AWX-like, with only
  # the EE's own collections: the built artifact installed in the image must do the same.
  navigator playbooks/validate.yml --senv ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections
fi
navigator site.yml
navigator tests/ee/verify.yml
stats=.cache/ee/ports-stats.out
navigator playbooks/ports.yml --senv ANSIBLE_SHOW_CUSTOM_STATS=1 --senv ANSIBLE_CALLBACK_RESULT_FORMAT=json | tee "$stats"
python3 - "$stats" "${HOSTS[@]%%$'\t'*}" <<'CHECK'
import json, pathlib, sys
path, hosts = pathlib.Path(sys.argv[1]), sys.argv[2:]
runs = [line.split("RUN:", 1)[1] for line in path.read_text().splitlines() if line.strip().startswith("RUN:")]
assert runs, "no custom stats (set_stats) in the output of playbooks/ports.yml"
port_map = json.loads(runs[-1])["berth_port_map"]
assert sorted(port_map) == sorted(hosts), sorted(port_map)
for host in hosts:
    status = {row["entry"]: row["status"] for row in port_map[host]}
    assert status.get("app_http") == "OK" and status.get("nginx_http") == "OK", (host, status)
    assert set(status.values()) <= {"OK", "DISABLED"}, (host, status)
    print("ee-test: %s port map in custom stats: %s" % (host, status), file=sys.stderr)
CHECK
log "passed: validated, converged (site.yml) and verified ${#HOSTS[@]} hosts from inside $EE_IMAGE"
