#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: everything the flask_app role decides from, for every app, in one read."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_apps_probe
short_description: Read the release state and the serving process of every app of a host at once
description:
  - For each app, reads where C(current) and C(previous) point, which releases exist and whether the
    wanted release is built (its C(.berth-release) marker), the checksum of the requirements each
    release was built from, and which release the running service really serves.
  - The serving release is proved without the app's cooperation - the unit's main pid (systemd
    C(MainPID)) must hold the app's registry port (socket inodes from /proc/<pid>/fd) and its
    working directory (/proc/<pid>/cwd, which gunicorn changes to C(current/src) at start and on
    every reload) must be inside C(releases/<id>/). Reading another user's /proc/<pid>/cwd needs
    root with CAP_SYS_PTRACE.
  - One module run replaces a stat per link, marker and requirements file. Never changes the host;
    supports check mode.
options:
  apps:
    description:
      - One item per app - C(name), C(root), C(service), C(user), C(port) (0 for a unix socket), C(bind)
        and C(release) (the release id wanted; "" for none).
    type: list
    elements: dict
    required: true
  proc_root:
    description: Root of the proc filesystem.
    type: path
    default: /proc
author: berth contributors
"""

EXAMPLES = r"""
- name: Read every app's release state
  berth.stack.berth_apps_probe:
    apps: "{{ flask_app_apps | map('combine', {'release': ''}) }}"
  register: probe
"""

RETURN = r"""
apps:
  description:
    - App name -> C(current) and C(previous) (release directories, "" when absent), C(current_release),
      C(built) (the wanted release has its marker), C(built_releases) (ids with a marker), C(requirements) (release id -> sha1 of the
      C(requirements.berth.txt) it was built from), C(releases) (release directories, newest first),
      C(main_pid), C(holds_port), C(serving_release) ("" when not proved), C(provable) (false when root
      lacks CAP_SYS_PTRACE - then only the socket's owner is checked) and C(proof) (why).
  returned: always
  type: dict
"""

import hashlib
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils.berth_proc import holders_of, listeners

MARKER = ".berth-release"
REQUIREMENTS = "requirements.berth.txt"


def _link(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _sha1(path):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()
    except OSError:
        return ""


def _uid(user):
    try:
        import pwd
        return pwd.getpwnam(str(user)).pw_uid
    except (KeyError, ImportError, TypeError):
        return None


def _main_pid(service):
    try:
        out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", service + ".service"],
                             capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return int(out) if out.isdigit() and int(out) > 0 else 0
    except (OSError, subprocess.SubprocessError, ValueError):
        return 0


def probe_app(app, sockets, proc_root="/proc", main_pid=_main_pid):
    """The state of one app (see RETURN)."""
    root = app["root"]
    releases_dir = os.path.join(root, "releases")
    try:
        names = [n for n in os.listdir(releases_dir) if os.path.isdir(os.path.join(releases_dir, n))]
    except OSError:
        names = []
    dirs = sorted((os.path.join(releases_dir, n) for n in names),
                  key=lambda p: (os.stat(p).st_mtime, p), reverse=True)
    current = _link(os.path.join(root, "current"))
    wanted = app.get("release") or ""
    result = {
        "current": current,
        "previous": _link(os.path.join(root, "previous")),
        "current_release": os.path.basename(current) if current else "",
        "built": bool(wanted) and os.path.isfile(os.path.join(releases_dir, wanted, MARKER)),
        "releases": dirs,
        "built_releases": [os.path.basename(d) for d in dirs if os.path.isfile(os.path.join(d, MARKER))],
        "requirements": {os.path.basename(d): _sha1(os.path.join(d, REQUIREMENTS)) for d in dirs},
        "main_pid": 0,
        "holds_port": False,
        "serving_release": "",
        "proof": "",
    }
    result["provable"] = True
    pid = main_pid(app["service"])
    result["main_pid"] = pid
    if not pid:
        result["proof"] = "%s.service has no main process" % app["service"]
        return result
    port = int(app.get("port") or 0)
    if port:
        held = holders_of({"proto": "tcp", "port": port, "bind": app.get("bind")}, sockets)
        if held and all(s.get("pid") is None for s in held):
            # Root without CAP_SYS_PTRACE (some containers) sees neither the socket's pids nor the
            # process's cwd: only the socket's owner can be checked, and the release is not proved.
            uid = _uid(app.get("user"))
            result["provable"] = False
            result["holds_port"] = uid is not None and all(s.get("uid") == uid for s in held)
            result["proof"] = ("port %d is held by uid %s (the app user %s: %s); pids and cwd are not visible: "
                               "root lacks CAP_SYS_PTRACE here, so the serving release is not proved"
                               % (port, ", ".join(sorted({str(s.get("uid")) for s in held})), app.get("user"),
                                  "yes" if result["holds_port"] else "no"))
            return result
        result["holds_port"] = any(pid in (s.get("pids") or []) for s in held)
        if not result["holds_port"]:
            result["proof"] = "main pid %d does not hold port %d (holders: %s)" % (
                pid, port, ", ".join(sorted({str(s.get("pid")) for s in held})) or "none")
            return result
    else:
        result["holds_port"] = True
    try:
        cwd = os.readlink(os.path.join(proc_root, str(pid), "cwd"))
    except OSError as exc:
        result["proof"] = "cannot read the working directory of pid %d (%s; root needs CAP_SYS_PTRACE)" % (pid, exc.strerror)
        return result
    prefix = releases_dir.rstrip("/") + "/"
    if cwd.startswith(prefix):
        result["serving_release"] = cwd[len(prefix):].split("/", 1)[0]
        result["proof"] = "main pid %d holds port %d and runs in %s" % (pid, port, cwd)
    else:
        result["proof"] = "main pid %d runs in %s, outside %s" % (pid, cwd, prefix)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "apps": {"type": "list", "elements": "dict", "required": True},
            "proc_root": {"type": "path", "default": "/proc"},
        },
        supports_check_mode=True,
    )
    apps = module.params["apps"]
    for app in apps:
        missing = [k for k in ("name", "root", "service") if not app.get(k)]
        if missing:
            module.fail_json(msg="berth_apps_probe: app %r lacks %s" % (app.get("name"), ", ".join(missing)))
    sockets = listeners(module.params["proc_root"]) if any(a.get("port") for a in apps) else []
    module.exit_json(changed=False, apps={a["name"]: probe_app(a, sockets, module.params["proc_root"]) for a in apps})


if __name__ == "__main__":
    main()
