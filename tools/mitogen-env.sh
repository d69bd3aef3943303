#!/usr/bin/env bash
# Opt-in accelerator: prints the environment that runs berth's playbooks with Mitogen for
# Ansible's mitogen_linear strategy (one persistent interpreter per host instead of one
# process per task). Installs the pinned Mitogen once into .cache/ (pip --target), never into
# .venv; berth does not depend on it. Usage, from the repository root:
#   eval "$(tools/mitogen-env.sh)"
#   ansible-playbook site.yml -i inventories/production
# Mitogen takes over the connections it knows by their short name (ssh, local, docker...):
# inventories must say `ansible_connection: docker`, not `community.docker.docker`
# (ssh, the production default, needs nothing). ansible-core 2.19 prints a deprecation
# warning for third-party strategy plugins. See docs/performance.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${BERTH_MITOGEN_VERSION:-0.3.54}
DIR="$ROOT/.cache/mitogen-$VERSION"
PIP="$ROOT/.venv/bin/pip"
[ -x "$PIP" ] || PIP=pip
if [ ! -d "$DIR/ansible_mitogen/plugins/strategy" ]; then
  "$PIP" install -q --disable-pip-version-check --target "$DIR.tmp" "mitogen==$VERSION" >&2 ||
    { echo "mitogen-env: pip could not install mitogen==$VERSION (is PyPI reachable?)" >&2; exit 1; }
  rm -rf "$DIR"; mv "$DIR.tmp" "$DIR"
fi
printf 'export PYTHONPATH=%q\n' "$DIR${PYTHONPATH:+:$PYTHONPATH}"
printf 'export ANSIBLE_STRATEGY_PLUGINS=%q\n' "$DIR/ansible_mitogen/plugins/strategy"
printf 'export ANSIBLE_STRATEGY=mitogen_linear\n'
