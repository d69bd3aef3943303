#!/usr/bin/env python3
"""Wall time of offline registry validation (playbooks/validate.yml) at 100/1,000/10,000 hosts.

For each size, generates an inventory with tools/gen_inventory.py (several distinct
effective registries: a group override and host-level overrides) and times:
  baseline  ansible-playbook of a no-op run_once play (inventory load + play setup)
  validate  ansible-playbook playbooks/validate.yml (what `make validate` runs)
  exact     the same, reading every host's hostvars (berth_ports_validate_exact=true)
  core      the validator alone in Python (berth_registry.validate_hosts), no Ansible
  naive     (--naive; 100 and 1,000 hosts only) a per-host assert task, the slow design avoided
Prints a Markdown table; numbers vary with machine load.

  .venv/bin/python bench/validate_scale.py [--sizes 100 1000 10000] [--naive]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.berth.stack.plugins.module_utils import berth_registry  # noqa: E402
import gen_inventory  # noqa: E402

NOOP = """---
- name: Baseline, no validation
  hosts: all
  gather_facts: false
  tasks:
    - name: Do nothing once
      ansible.builtin.debug:
        msg: baseline
      run_once: true
      delegate_to: localhost
"""

NAIVE = """---
- name: Naive per-host validation (what berth avoids)
  hosts: all
  gather_facts: false
  tasks:
    - name: Check this host's ports are unique
      ansible.builtin.assert:
        that: __ports | length == __ports | unique | length
        quiet: true
      delegate_to: localhost
      vars:
        __ports: "{{ berth_ports | berth_ports_for_host(berth_ports_overrides | default({}), group_names)
                     | dict2items | map(attribute='value') | map(attribute='port') | list }}"
"""


def playbook(inventory, path, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    bindir = os.path.dirname(sys.executable)
    start = time.monotonic()
    proc = subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", inventory, path, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("%s failed on %s:\n%s%s" % (path, inventory, proc.stdout[-3000:], proc.stderr[-3000:]))
    return took


def core(inventory):
    """The validator alone, fed like the action plugin (one registry object per signature)."""
    import yaml
    with open(os.path.join(inventory, "group_vars", "all", "ports.yml")) as handle:
        registry = yaml.safe_load(handle)["berth_ports"]
    with open(os.path.join(inventory, "hosts.yml")) as handle:
        inv = yaml.safe_load(handle)
    items = []
    berth = inv["all"]["children"]["berth"]["children"]
    for name in berth["lb"]["hosts"]:
        items.append({"host": name, "registry": registry, "overrides": None, "groups": ["berth", "lb"]})
    for stage, body in berth["web"]["children"].items():
        for name, hv in body["hosts"].items():
            overrides = (hv or {}).get("berth_ports_overrides")
            if stage == "wave2" and overrides is None:
                overrides = {"app_http": {"port": registry["app_http"]["port"] + 1}}
            items.append({"host": name, "registry": registry, "overrides": overrides,
                          "groups": ["berth", "web", stage]})
    start = time.monotonic()
    report = berth_registry.validate_hosts(items)
    return time.monotonic() - start, report["unique"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--naive", action="store_true", help="also time a per-host task (<= 1,000 hosts)")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    noop = os.path.join(OUT, "noop.yml")
    naive = os.path.join(OUT, "naive.yml")
    with open(noop, "w") as handle:
        handle.write(NOOP)
    with open(naive, "w") as handle:
        handle.write(NAIVE)
    print("| hosts | distinct registries | baseline (s) | validate.yml (s) | exact hostvars (s) | core validator (s) | naive per-host (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        inventory = gen_inventory.generate(size, os.path.join(OUT, "inv-%d" % size))
        base = playbook(inventory, noop)
        validate = playbook(inventory, "playbooks/validate.yml")
        exact = playbook(inventory, "playbooks/validate.yml", "-e", "berth_ports_validate_exact=true")
        core_s, unique = core(inventory)
        slow = "%.1f" % playbook(inventory, naive) if args.naive and size <= 1000 else "-"
        print("| %d | %d | %.1f | %.1f | %.1f | %.2f | %s |" % (size, unique, base, validate, exact, core_s, slow),
              flush=True)


if __name__ == "__main__":
    main()
