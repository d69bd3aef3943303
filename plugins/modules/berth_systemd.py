#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: every systemd change of a concern in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_systemd
short_description: Reload systemd, restart, start and reload units in one module run
version_added: 0.10.0
description:
  - One module run for every unit change of a role on a host (C(ansible.builtin.systemd_service) takes
    one unit per run, about 0.3 s each), in this order - C(systemctl daemon-reload) when O(daemon_reload),
    C(systemctl restart) of O(restart), C(systemctl enable --now) of O(start), C(systemctl reload) of
    O(reload).
  - Changed when anything was restarted, started or reloaded. In check mode nothing runs; the result
    says what would.
options:
  daemon_reload:
    description: Reload systemd's unit files first (a unit file changed).
    type: bool
    default: false
  restart:
    description: Units to restart.
    type: list
    elements: str
    default: []
  start:
    description: Units to enable and start (C(enable --now)).
    type: list
    elements: str
    default: []
  reload:
    description: Units to reload (their ExecReload, e.g. gunicorn's graceful HUP).
    type: list
    elements: str
    default: []
  stop:
    description: Units to stop and disable (C(disable --now)), last - an app whose first deploy failed its gate.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
author: berth contributors
"""

EXAMPLES = r"""
- name: apply | Reload systemd, restart and start the apps the changes concern
  berth.stack.berth_systemd:
    daemon_reload: true
    restart: [hbnb-api.service]
    start: [hbnb-front.service]
"""

RETURN = r"""
commands:
  description: The systemctl commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: list
"""

import subprocess

from ansible.module_utils.basic import AnsibleModule


def commands(daemon_reload=False, restart=(), start=(), reload=(), stop=()):
    """The systemctl argv lists for a change, in order."""
    out = []
    if daemon_reload:
        out.append(["systemctl", "daemon-reload"])
    if restart:
        out.append(["systemctl", "restart"] + list(restart))
    if start:
        out.append(["systemctl", "enable", "--now", "--quiet"] + list(start))
    if reload:
        out.append(["systemctl", "reload"] + list(reload))
    if stop:
        out.append(["systemctl", "disable", "--now", "--quiet"] + list(stop))
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "daemon_reload": {"type": "bool", "default": False},
            "restart": {"type": "list", "elements": "str", "default": []},
            "start": {"type": "list", "elements": "str", "default": []},
            "reload": {"type": "list", "elements": "str", "default": []},
            "stop": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    argvs = commands(params["daemon_reload"], params["restart"], params["start"], params["reload"], params["stop"])
    changed = bool(params["restart"] or params["start"] or params["reload"] or params["stop"])
    if module.check_mode:
        module.exit_json(changed=changed, commands=argvs)
    for argv in argvs:
        run = subprocess.run(argv, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv), run.returncode,
                                                             (run.stderr or run.stdout).strip()[-2000:]),
                             commands=argvs, rc=run.returncode, stderr=run.stderr)
    module.exit_json(changed=changed, commands=argvs)


if __name__ == "__main__":
    main()
