#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: listening sockets from /proc, checked against the port registry."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_listeners
short_description: Discover listening TCP/UDP sockets from /proc and check registry ports
description:
  - Reads /proc/net/{tcp,tcp6,udp,udp6}, maps socket inodes to processes through /proc/<pid>/fd
    and reports pid, process name, user and systemd unit (cgroup v1 or v2) of every listener.
  - Does not need ss or netstat. Never changes the host; supports check mode.
  - With I(entries), reports each registry entry as OK (held by its service), FREE, CONFLICT
    (held by another process) or DISABLED (reserved, not opened).
  - Run it as root (become). Any other user cannot see other users' processes; then a socket whose
    process it cannot see is a CONFLICT naming that, never accepted by its owner's uid.
options:
  entries:
    description: Effective registry entries that apply to this host (name -> entry).
    type: dict
    default: {}
  registry_file:
    description: File or variable named in conflict messages as the place to move a port.
    type: str
    default: inventories/<env>/group_vars/all/ports.yml
  fail_on_conflict:
    description: Fail when an enabled entry's port is held by a process that is not its service.
    type: bool
    default: false
  proc_root:
    description: Root of the proc filesystem.
    type: path
    default: /proc
  free_status:
    description:
      - Level (C(check) of each row) of an enabled entry whose port is free; the datadog role's
        berth_ports agent check computes the same verdict with the same code (module_utils/berth_status.py).
    type: str
    choices: [critical, warning]
    default: critical
  sites:
    description:
      - The host's Nginx sites (the planner's C(sites) - C(name), C(server_names), C(tls), C(certificate),
        C(certificate_key)); each site's certificate is read (C(berth_tls.inspect)) and reported in C(sites).
    type: list
    elements: dict
    default: []
author: berth contributors
"""

EXAMPLES = r"""
- name: Refuse foreign listeners on registry ports
  berth.stack.berth_listeners:
    entries: "{{ berth_ports | berth.stack.berth_ports_effective(berth_ports_overrides | default({})) }}"
    fail_on_conflict: true
"""

RETURN = r"""
listeners:
  description: Listening sockets (proto, family, address, port, uid, inode, pid, pids, comm, user, unit).
  returned: always
  type: list
  elements: dict
ports:
  description:
    - One row per entry with status OK, FREE, CONFLICT or DISABLED and the holder, plus C(check)
      (OK, WARNING, CRITICAL, or None when DISABLED) and C(message), the berth_ports agent check's verdict.
  returned: always
  type: list
  elements: dict
conflicts:
  description: One message per conflicting entry.
  returned: always
  type: list
  elements: str
sites:
  description:
    - One row per site - C(site), C(names), C(tls), C(certificate) (live, or why not), C(issuer) and C(expires)
      (C(berth_tls.site_rows)). No key material.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils.berth_proc import assess, listeners
from ansible_collections.berth.stack.plugins.module_utils.berth_registry import REGISTRY_HINT
from ansible_collections.berth.stack.plugins.module_utils.berth_status import verdict
from ansible_collections.berth.stack.plugins.module_utils import berth_tls


def main():
    module = AnsibleModule(
        argument_spec={
            "entries": {"type": "dict", "default": {}},
            "registry_file": {"type": "str", "default": REGISTRY_HINT},
            "fail_on_conflict": {"type": "bool", "default": False},
            "proc_root": {"type": "path", "default": "/proc"},
            "free_status": {"type": "str", "choices": ["critical", "warning"], "default": "critical"},
            "sites": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    sockets = listeners(module.params["proc_root"])
    # Only root sees every process: any other reader refuses a socket it cannot attribute.
    rows, conflicts = assess(module.params["entries"] or {}, sockets, module.params["registry_file"],
                             trust_hidden=os.geteuid() == 0)
    for row in rows:
        row["check"], row["message"] = verdict(row, module.params["free_status"])
    result = {"changed": False, "listeners": sockets, "ports": rows, "conflicts": conflicts}
    if conflicts and module.params["fail_on_conflict"]:
        module.fail_json(msg="\n".join(conflicts), **result)
    sites = module.params["sites"]
    result["sites"] = berth_tls.site_rows(sites, berth_tls.inspect_sites(sites))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
