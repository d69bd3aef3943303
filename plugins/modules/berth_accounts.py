#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: the system groups and service accounts of a host's apps in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_accounts
short_description: Create system groups and create or correct service accounts in one module run
version_added: 0.10.0
description:
  - One module run for every group and account of a host's apps (a module run per group and per
    user cost about 0.3 s each), as the flask_app role's plan decided them from its probe.
  - Groups are system groups (C(groupadd --system)). Accounts are system accounts without a shell
    (C(/usr/sbin/nologin)), with a locked password and no home created - the home is the app's
    state directory, which systemd creates. An existing account is corrected with C(usermod).
  - Check mode reports what would be created or corrected.
options:
  groups:
    description: Groups to create when missing.
    type: list
    elements: str
    default: []
  users:
    description:
      - Accounts to create or correct - C(name), C(group), C(home), C(shell), C(comment) and C(exists)
        (the probe found the account).
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
author: berth contributors
"""

EXAMPLES = r"""
- name: install | Create or correct the app groups and users
  berth.stack.berth_accounts:
    groups: [hbnb-api]
    users:
      - {name: hbnb-api, group: hbnb-api, home: /var/lib/hbnb_api, shell: /usr/sbin/nologin,
         comment: berth flask_app hbnb_api, exists: false}
"""

RETURN = r"""
commands:
  description: The commands run (or that would run in check mode).
  returned: always
  type: list
  elements: list
"""

import grp
import pwd
import subprocess

from ansible.module_utils.basic import AnsibleModule


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def commands(groups, users, group_exists=None, user_exists=None):
    """The groupadd/useradd/usermod argv lists that bring the host to ``groups`` and ``users``."""
    group_exists = group_exists or (lambda name: _exists(grp.getgrnam, name))
    user_exists = user_exists or (lambda name: _exists(pwd.getpwnam, name))
    out = [["groupadd", "--system", g] for g in groups if not group_exists(g)]
    for user in users:
        opts = ["--gid", user["group"], "--shell", user.get("shell") or "/usr/sbin/nologin",
                "--comment", user.get("comment") or "", "--password", "!"]
        if user_exists(user["name"]):
            out.append(["usermod"] + opts + ["--home", user["home"], user["name"]])
        else:
            out.append(["useradd", "--system"] + opts + ["--home-dir", user["home"], "--no-create-home", user["name"]])
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "groups": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    for user in module.params["users"]:
        missing = [k for k in ("name", "group", "home") if not user.get(k)]
        if missing:
            module.fail_json(msg="berth_accounts: user %r lacks %s" % (user.get("name"), ", ".join(missing)))
    argvs = commands(module.params["groups"], module.params["users"])
    if module.check_mode:
        module.exit_json(changed=bool(argvs), commands=argvs)
    for argv in argvs:
        run = subprocess.run(argv, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv), run.returncode, run.stderr.strip()),
                             commands=argvs)
    module.exit_json(changed=bool(argvs), commands=argvs)


if __name__ == "__main__":
    main()
