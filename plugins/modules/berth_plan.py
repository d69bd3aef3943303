# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Documentation of the berth_plan action (plugins/action/berth_plan.py).

The action plans on the controller and runs berth.stack.berth_apps_probe on the host; this file
carries its documentation for ansible-doc.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_plan
short_description: A role's plan of the host from its inventory, the host's probe and the port guard, in one task
version_added: 0.10.0
description:
  - The first task of every berth role. On the controller, derives the role's section of the host's plan
    from the host's variables (inventory, play, role parameters, C(-e)) with every berth role's
    C(defaults/main.yml) behind them (C(plugins/module_utils/berth_plan.py)) - so a role renders the same
    files from the same inventory whatever the entry point, tags or C(--limit), and reads no fact another
    role's tasks set. Bad input fails here, naming the variable, the host and the fix, before the host is
    contacted - the host's registry checked as C(berth.stack.berth_ports_validate) checks it, a C(port:)
    written with a leading 0 or colons in a file that gives the host variables (YAML 1.1 octal, base 60),
    and a variable that does not template (named with the file and line that set it and, for a
    missing C(vault_*) name, the vault file).
  - Then, unless O(probe=false), one run of M(berth.stack.berth_apps_probe) reads what the role decides
    from and, unless O(guard=false), refuses every registry port of the host held by a process that is
    not its entry's service, naming the process (the port guard). The probe needs root (become) to see
    every process; as any other user it refuses a socket it cannot attribute.
  - Last, the role's decisions from that reading (for flask_app - the packages, accounts and directories
    to create, the releases to build, the apps not running; for a rollback - the release each app goes
    back to, refused before any change when one has none). An app's unit that exists on the host but was
    not written by berth is refused there, before any change.
options:
  role:
    description:
      - The role whose section to plan.
      - C(preflight) plans, in one go, every role site.yml's plays apply to the host (flask_app on
        C(web), nginx on C(web) and C(lb), mariadb on C(db), datadog and firewall everywhere) and
        refuses the host with the first bad input; use it with O(probe=false) (playbooks/preflight.yml).
    type: str
    required: true
    choices: [flask_app, nginx, datadog, mariadb, firewall, berth_ports, packages, preflight]
  host:
    description:
      - Plan this inventory host instead of the task's host, from its inventory variables (a drain
        delegated to a load balancer plans the load balancer). The probe runs where the task runs.
    type: str
  roles:
    description:
      - For O(role=packages) - the roles whose packages the host's one apt run installs.
      - Default - the roles site.yml's plays apply to the host (flask_app on C(web), nginx on C(web) and
        C(lb), mariadb on C(db), datadog and firewall everywhere), the ones O(role=preflight) checks.
    type: list
    elements: str
  probe:
    description: Read the host (and guard its ports) after planning.
    type: bool
    default: true
  guard:
    description: Refuse foreign listeners on the host's registry ports in the probe's run.
    type: bool
    default: true
  mode:
    description: For O(role=flask_app) - C(deploy), C(rollback) (the releases to go back to) or C(info).
    type: str
    default: deploy
    choices: [deploy, rollback, info]
  releases:
    description: For O(role=flask_app) - app name -> release id known after planning (git commits).
    type: dict
  work_tags:
    description:
      - The tags of the role's other tasks besides the ones this task inherits (e.g. C(nginx_install),
        C(nginx_configure), C(nginx_run)). The task itself is tagged C(always); when C(--tags)/C(--skip-tags)
        select none of the role's other tasks, the role changes nothing on the host, so the plan checks the
        inputs and skips the probe and the guard (RV(work_selected) false).
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details: Reads only; the probe runs in check mode too.
  diff_mode:
    support: none
author: berth contributors
"""

EXAMPLES = r"""
- name: plan | The apps of the host, its probe and the port guard
  berth.stack.berth_plan:
    role: flask_app
  register: __flask_app_plan

- name: Plan a load balancer's upstream from a delegated drain
  berth.stack.berth_plan:
    role: nginx
    host: "{{ nginx_drain_lb }}"
    guard: false
  register: __nginx_plan
"""

RETURN = r"""
probe:
  description: The probe's reading (C(apps), C(host)); see M(berth.stack.berth_apps_probe).
  returned: unless probe is false
  type: dict
decision:
  description: What the role does on this host, decided from its section and the probe.
  returned: unless probe is false
  type: dict
apps:
  description: (flask_app, nginx) The host's apps as complete records, or the upstreams of its apps.
  returned: for flask_app and nginx
  type: list
work_selected:
  description: Whether any of the role's other tasks runs under the run's tags (see O(work_tags)).
  returned: unless probe is false
  type: bool
conflicts:
  description: One message per registry port held by a foreign process (the guard refused).
  returned: when the guard refused
  type: list
"""
