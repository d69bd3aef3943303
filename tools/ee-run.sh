#!/usr/bin/env bash
# Run one playbook inside berth's execution environment with ansible-navigator:
#   tools/ee-run.sh PLAYBOOK [ansible-playbook arguments...]
# e.g. tools/ee-run.sh site.yml -i inventories/sandbox --vault-password-file inventories/sandbox/vault-password.txt
#
# - image BERTH_EE_IMAGE (default berth-ee:latest, `make ee-image`), never pulled;
# - the project directory is mounted by navigator (it is the working directory, so the
#   project's ansible.cfg applies); the docker socket is mounted, so the
#   community.docker.docker_api connection reaches local test hosts (the EE has no docker CLI).
#   ansible-runner starts the EE as the calling user (--user=$(id -u)); the socket's group is
#   added so a caller in the docker group (not root) can use it too;
# - no playbook artifact; navigator's log goes to .cache/ee/navigator.log.
# Exit status: navigator's (the playbook's).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 PLAYBOOK [ansible-playbook arguments...]" >&2; exit 2; }

EE_IMAGE="${BERTH_EE_IMAGE:-berth-ee:latest}"
SOCKET=/var/run/docker.sock
mkdir -p .cache/ee

start=$(date +%s)
set +e
ansible-navigator run "$@" \
  --ce docker --eei "$EE_IMAGE" --pp never --mode stdout --pae false \
  --lf .cache/ee/navigator.log \
  --eev "$SOCKET:$SOCKET" "--co=--group-add=$(stat -c %g "$SOCKET")" 2>&1 \
  | sed -uE $'s/\x1b\\[K[A-Za-z0-9+\\/=]*\x1b\\[[0-9]+D//g; s/\x1b\\[K//g'
# Without a terminal, navigator's stdout mode prints ansible-runner's event markers
# (ansible/ansible-navigator#1828); sed removes them, the status is navigator's.
rc=${PIPESTATUS[0]}
set -e
printf 'ee-run: %s: rc=%s in %s s\n' "$1" "$rc" "$(( $(date +%s) - start ))" >&2
exit "$rc"
