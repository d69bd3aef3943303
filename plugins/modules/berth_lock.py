#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module (and action, plugins/action/berth_lock.py): berth's deploy lock on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_lock
short_description: Give back (or take) berth's deploy lock on a host
version_added: 0.10.0
description:
  - berth's deploy lock lets one run at a time change a host (C(plugins/module_utils/berth_lock.py)). Every
    berth role takes it in its plan's probe (M(berth.stack.berth_plan)) before its first change and renews it;
    berth's playbooks give it back at their end with O(state=absent). A run that finds another run's lock is
    refused, naming the holder, unless the holder is gone - its process is gone from this controller, or it did
    not renew the lock for C(berth_lock_lease) seconds - or C(berth_lock_break) is true.
  - The action names this run (the controller's host name, the pid and start time of its ansible-playbook, its
    user and command); only the run that holds the lock gives it back.
options:
  state:
    description: C(absent) gives the lock back when this run holds it; C(present) takes or renews it.
    type: str
    choices: [present, absent]
    default: absent
  path:
    description: The lock file (default C(berth_lock_path), else C(/run/berth/deploy.lock), on tmpfs).
    type: path
attributes:
  check_mode:
    support: full
author: berth contributors
"""

EXAMPLES = r"""
- name: Give berth's deploy lock back at the end of the run
  berth.stack.berth_lock:
    state: absent
"""

RETURN = r"""
released:
  description: Whether this task gave back this run's lock (not reported as a change - the run took it unchanged).
  returned: when O(state=absent)
  type: bool
holder:
  description: Who holds the lock after the task (absent when nobody does).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils import berth_lock


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "absent"},
            "path": {"type": "path", "default": berth_lock.DEFAULT_PATH},
            "run": {"type": "str", "required": True},
            "info": {"type": "dict", "default": {}},
            "replace": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    holder = berth_lock.read(params["path"])
    if params["state"] == "absent":
        mine = holder is not None and holder.get("run") == params["run"]
        if mine and not module.check_mode:
            berth_lock.release(params["run"], params["path"])
        # The run's own lock, taken in its first plan (unchanged there too) and given back at its end: the
        # host is as the run found it, so a run that changed nothing else reports changed=0.
        module.exit_json(changed=False, released=mine, holder=None if mine else holder)
    if module.check_mode:
        free = holder is None or holder.get("run") == params["run"]
        if not free:
            module.fail_json(msg="another berth run holds the deploy lock: " + berth_lock.describe(holder),
                             lock_holder=holder, lock_now=time.time())
        module.exit_json(changed=False, holder=holder)
    held, holder = berth_lock.acquire(params["run"], params["info"], params["path"], params["replace"])
    if not held:
        module.fail_json(msg="another berth run holds the deploy lock: " + berth_lock.describe(holder),
                         lock_holder=holder, lock_now=time.time())
    module.exit_json(changed=False, holder=holder)


if __name__ == "__main__":
    main()
