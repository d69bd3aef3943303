# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Documentation of the berth_ports_validate action (plugins/action/berth_ports_validate.py).

The action runs on the controller only; this file carries its documentation for ansible-doc.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_ports_validate
short_description: Validate the port registry of every play host, offline, in one task
version_added: 0.1.0
description:
  - Runs on the controller only; no host is contacted.
  - Reads C(berth_ports), C(berth_ports_overrides) and C(inventory_dir) of each host and the
    inventory groups, and validates each distinct effective registry once (the registry core,
    C(plugins/module_utils/berth_registry.py)).
  - Fails listing every problem with its hosts, entries, port/proto and the file or variable to
    edit. Non-loopback listeners of services other than Nginx are reported as warnings.
  - Hosts that share groups and inventory variables and have no host_vars file are read once.
  - Reads the inventory's files as text too (every group_vars/host_vars file of the inventory
    sources and of the playbook directory, and the YAML inventory itself) - a C(port:) written
    with a leading 0 or colons (read by YAML 1.1 as octal or base 60) is refused naming the file
    and line - and warns when a host's C(berth_ports_overrides) lacks entries one of its groups'
    group_vars set (the variable is replaced whole).
options:
  hosts:
    description: Host names to check (default C(ansible_play_hosts_all)).
    type: list
    elements: str
  exact:
    description:
      - Read every host's variables instead of one host per group signature
        (default C(berth_ports_validate_exact), else false). Needed only when the registry is
        templated per host name.
    type: bool
attributes:
  check_mode:
    support: full
  action:
    support: full
  bypass_host_loop:
    support: none
author: berth contributors
"""

EXAMPLES = r"""
- name: Validate the port registry of every host before any change
  berth.stack.berth_ports_validate:
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
hosts_checked:
  description: Hosts whose registry was checked.
  returned: always
  type: int
registries_validated:
  description: Distinct effective registries validated.
  returned: always
  type: int
hostvars_read:
  description: Hosts whose variables were read (one per signature unless exact).
  returned: always
  type: int
"""
