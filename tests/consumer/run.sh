#!/usr/bin/env bash
# Consumer test: berth.stack used the way another team would use it.
#
# A playbook in a temporary directory, with no berth ansible.cfg and no path into this
# repository, installs the BUILT collection artifact (ansible-galaxy collection build),
# then runs the collection's offline validation (berth.stack.validate) and one role
# (berth.stack.nginx) against a fresh systemd test container, and checks what it did.
# Needs the Docker engine and the test image (make image). Prints
# "consumer: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BERTH_BIN:-$ROOT/.venv/bin}
IMAGE=${BERTH_IMAGE:-berth-debian12-systemd:latest}
HOST=berth-consumer-web
work=$(mktemp -d /tmp/berth-consumer.XXXXXX)
passed=0; failed=0
cleanup() { docker rm -f "$HOST" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
check() {  # check NAME COMMAND...: one assertion
  local name=$1; shift
  if "$@" >"$work/check.log" 2>&1; then passed=$((passed + 1)); echo "ok     $name"
  else failed=$((failed + 1)); echo "FAILED $name"; tail -n 30 "$work/check.log" | sed 's/^/       /'; fi
}
start=$(date +%s)

# 1. Build the artifact from the repository and install it into the consumer's project.
"$BIN/ansible-galaxy" collection build --force --output-path "$work/dist" "$ROOT" >/dev/null
artifact=$(ls "$work"/dist/berth-stack-*.tar.gz)
mkdir -p "$work/project"
cd "$work/project"
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS ANSIBLE_ROLES_PATH \
      ANSIBLE_FILTER_PLUGINS ANSIBLE_LIBRARY ANSIBLE_ACTION_PLUGINS ANSIBLE_MODULE_UTILS ANSIBLE_INVENTORY
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=0 ANSIBLE_PIPELINING=1
# A fresh Ansible home, as a new consumer has: a berth.stack that something else installed into this
# machine's ~/.ansible/collections would otherwise satisfy the install below ("Nothing to do") and
# shadow the artifact under test.
export ANSIBLE_HOME="$work/ansible-home"
check "the built artifact installs into the consumer's collections/" \
  "$BIN/ansible-galaxy" collection install "$artifact" -p ./collections
check "the artifact is in the consumer's collections/, not found elsewhere" \
  test -f collections/ansible_collections/berth/stack/plugins/module_utils/berth_registry.py

# 2. The consumer's own inventory: one web host (a systemd container) and its registry.
mkdir -p inventory/group_vars/all
cat > inventory/hosts.yml <<HOSTS
all:
  children:
    web:
      hosts:
        $HOST:
          ansible_connection: community.docker.docker
          ansible_python_interpreter: /usr/bin/python3
HOSTS
cat > inventory/group_vars/all/ports.yml <<'PORTS'
berth_ports:
  nginx_http: {port: 8081, proto: tcp, bind: 0.0.0.0, service: nginx, user: root}
  nginx_https: {port: 8443, proto: tcp, bind: 0.0.0.0, service: nginx, user: root, enabled: false}
  nginx_status: {port: 8082, proto: tcp, bind: 127.0.0.1, service: nginx, user: root}
  app_http: {port: 8001, proto: tcp, bind: 127.0.0.1, service: consumer-app, user: app, groups: [web]}
PORTS
cat > site.yml <<'PLAY'
- name: The collection's offline registry validation
  ansible.builtin.import_playbook: berth.stack.validate

- name: Consumer | Nginx from berth.stack in front of our app
  hosts: web
  become: true
  gather_facts: false
  roles:
    - role: berth.stack.nginx
      vars:
        nginx_upstream_group: ""
PLAY
test ! -e ansible.cfg

# 3. Offline validation refuses the second outage (app on the port another entry holds),
#    before any host exists: the collection's filters and action resolve by full name.
check "berth.stack.validate refuses a conflicting registry offline (no host needed)" \
  bash -c '! "$0"/ansible-playbook -i inventory site.yml -e "{\"berth_ports_overrides\": {\"app_http\": {\"port\": 8082}}}" > out.txt 2>&1 \
           && grep -q "app_http and nginx_status both claim 8082/tcp" out.txt && ! grep -q "No filter named" out.txt' "$BIN"

# 4. One role against a test host.
docker rm -f "$HOST" >/dev/null 2>&1 || true
"$ROOT/tools/test-host.sh" "$HOST" "$IMAGE" --label berth.owner=consumer-test
check "site.yml (validate + berth.stack.nginx) converges the host" \
  bash -c '"$0"/ansible-playbook -i inventory site.yml > converge.txt 2>&1 || { tail -n 40 converge.txt; exit 1; }' "$BIN"
check "a second run changes nothing" \
  bash -c '"$0"/ansible-playbook -i inventory site.yml > rerun.txt 2>&1 && grep -Eq "'"$HOST"' +: ok=[0-9]+ +changed=0 .*failed=0" rerun.txt' "$BIN"
check "Nginx listens on the consumer's registry port 8081 and stub_status on 127.0.0.1:8082" \
  docker exec "$HOST" bash -c 'ss -ltnpH "sport = :8081" | grep -q nginx && ss -ltnpH "sport = :8082" | grep "127.0.0.1:8082" | grep -q nginx'
check "stub_status answers on the registry's loopback entry" \
  docker exec "$HOST" curl -fsS http://127.0.0.1:8082/nginx_status
check "Nginx proxies to the app entry's port (8001) taken from the registry" \
  docker exec "$HOST" grep -q "server 127.0.0.1:8001 " /etc/nginx/berth.d/upstream.conf

echo "=== consumer test took $(( $(date +%s) - start )) s"
echo "consumer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
