#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: build the new releases of a host's Flask apps, and check apps before a reload."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_release
short_description: Build Flask app releases (source, requirements, venv, import check, marker) in one run
description:
  - For each item of O(builds), builds C(<root>/releases/<release>/) - the source in C(src/)
    (closed to all but root and the app group), C(requirements.berth.txt), the public copy of the
    static directories in C(public/<n>/), links from the persistent paths into the state directory,
    the release's own C(venv/) - then imports the WSGI target as the app user and, only when that
    passed, writes the C(.berth-release) marker. A release with a marker is immutable and skipped.
  - The venv is keyed by what pip resolves from (the host's Python, the venv options,
    C(pip_extra_args) and C(requirements.berth.txt) without blank and comment lines); with
    O(venv_reuse), a venv of the same key under O(venv_roots) is copied instead of a pip run.
    C(.berth-venv) holds the key, C(.berth-venv-origin) C(pip) or the venv copied.
  - A requirements file is read as it is found (UTF-8 with or without BOM, UTF-16 with a BOM or
    evidently UTF-16, CRLF or CR line ends) and written as UTF-8 with LF line ends; gunicorn is
    appended only when no line names it. A pip error on a line says which line of the app's file
    it is, or that it is berth's gunicorn pin.
  - An app that fails does not stop the others; the module fails when any did, naming for each the
    variable to fix, the host and the fix, and still returns RV(built) and RV(failed_apps). Nothing here
    moves C(current).
  - Builds run under the host's build lock, an flock on C(/run/berth/build.lock) naming its holder's pid.
    A build left running by a run killed on the controller is waited for, not built over; the
    module fails naming the holder when it held the lock for 30 minutes.
  - With O(checks), runs the check before a reload instead (or as well) - the current release's
    venv loads the app with its gunicorn config, as the app user.
  - The action plugin of the same name packs a C(local) source on the controller (one cached
    archive per source tree), sends each archive once into the task's remote temporary directory
    and removes it afterwards. It works with pipelining and with become.
  - The import checks run as the app user under C(setpriv --reset-env); the app's environment,
    secrets included, reaches them as JSON on stdin, never on a command line or in an environment.
  - Must run as root (become), except in check mode, where nothing changes and RV(would_build)
    lists the releases a real run would build.
options:
  host:
    description: The host's inventory name, for messages. The action plugin sets it.
    type: str
    default: ""
  builds:
    description:
      - One item per release to build.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The app's name.
        type: str
        required: true
      release:
        description: The release id (the directory under C(<root>/releases/)).
        type: str
        required: true
      root:
        description: The app's root directory.
        type: path
        required: true
      user:
        description: The app user (the import check runs as this user).
        type: str
        required: true
      group:
        description: The app group (owns the release's closed parts).
        type: str
        required: true
      wsgi:
        description: The WSGI target, C(package.module:callable) relative to the source root.
        type: str
        required: true
      state_dir:
        description: The app's state directory (persistent paths link into it).
        type: path
        required: true
      source:
        description:
          - Where the source comes from - C(kind=archive) with C(archive) (path of a tar.gz on the host,
            not removed), C(kind=git) with C(mirror) (a local git mirror) and C(commit), or
            C(kind=local) with C(dir) (a directory on the controller; the action plugin packs and
            sends it, and hands the module C(kind=archive)).
        type: dict
        required: true
        suboptions:
          kind:
            description: The kind of source.
            type: str
            choices: [archive, git, local]
            required: true
          archive:
            description: The archive on the host (C(kind=archive)).
            type: str
          mirror:
            description: The git mirror on the host (C(kind=git)).
            type: str
          commit:
            description: The commit to check out (C(kind=git)).
            type: str
          dir:
            description: The source directory on the controller (C(kind=local)).
            type: str
      requirements:
        description: The inventory's pins, complete (gunicorn included); empty to use O(builds[].requirements_file).
        type: list
        elements: str
        default: []
      requirements_file:
        description: The requirements file, relative to the source root.
        type: str
        default: requirements.txt
      gunicorn_requirement:
        description: The pin appended to a requirements file that names no gunicorn.
        type: str
        default: gunicorn==23.0.0
      static:
        description:
          - Static directories of the source to copy to C(public/<index>/) (C(prefix), C(dir)); C(dir) may list
            several directories, merged into the one copy (the first one's file wins).
        type: list
        elements: dict
        default: []
      persistent:
        description: Names in the source root linked into the state directory (a trailing C(/) for a directory).
        type: list
        elements: str
        default: []
      system_site_packages:
        description: Give the venv the system site packages.
        type: bool
        default: false
      pip_extra_args:
        description: Extra pip arguments, split like a shell would (never evaluated).
        type: str
        default: ""
      check_attempts:
        description: Import check attempts, a second apart (3 for an app with a database, else 1).
        type: int
        default: 1
      var:
        description:
          - How messages name the app's settings - C(flask_apps.<name>) (then C(flask_apps.<name>.wsgi),
            ... and "(app <name>)"), or C(flask_app) for the one-app variables (C(flask_app_wsgi_app), ...).
        type: str
        default: flask_app
      env:
        description:
          - The app's whole environment for the import check, secrets included. It reaches the check
            as JSON on stdin. Never logged nor returned.
        type: dict
        default: {}
      database:
        description:
          - The app's database (C(name), C(host), C(port), C(server), C(entry), C(user), C(password_env)),
            for the import failure's hint; null when none.
        type: dict
  venv_reuse:
    description: Copy a venv built from the same key instead of running pip.
    type: bool
    default: true
  venv_roots:
    description:
      - App roots whose C(releases/*/venv) are searched for a venv to copy, in order (pass every app
        root of the host). Empty - the roots of O(builds).
    type: list
    elements: path
    default: []
  checks:
    description:
      - The checks before a reload - C(name), C(user), C(group), C(root), C(conf_dir),
        C(check_attempts) (default 1) and C(env) (the app's environment, never logged) -
        C(<root>/current/venv/bin/python) runs C(gunicorn --check-config --config
        <conf_dir>/gunicorn.conf.py) as the app user in C(<root>/current/src). Skipped in check mode.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The app's name.
        type: str
        required: true
      user:
        description: The app user.
        type: str
        required: true
      group:
        description: The app group.
        type: str
        required: true
      root:
        description: The app's root directory.
        type: path
        required: true
      conf_dir:
        description: The directory of the app's gunicorn.conf.py.
        type: path
        required: true
      check_attempts:
        description: Attempts, a second apart.
        type: int
        default: 1
      env:
        description: The app's whole environment, secrets included (on stdin; never logged nor returned).
        type: dict
        default: {}
notes:
  - O(builds[].env) and O(checks[].env) are never logged and never returned. Values of keys that look
    secret (the database's C(password_env), names with C(PASSWORD), C(PASSWD), C(SECRET), C(TOKEN) or
    C(KEY)) are also masked wherever they would appear in a result, such as an app's traceback; the
    other values stay readable, since masking them (the app name, the release id) would blank out
    the messages themselves.
author: berth contributors
"""

EXAMPLES = r"""
- name: Build the new releases
  berth.stack.berth_release:
    host: "{{ inventory_hostname }}"
    builds:
      - name: hbnb
        release: 3f2a9c1d0b7e
        root: /srv/hbnb
        user: hbnb
        group: hbnb
        wsgi: web_flask.app:app
        state_dir: /var/lib/hbnb
        source: {kind: local, dir: "{{ playbook_dir }}/../src/hbnb"}
        requirements_file: requirements.txt
        static: [{prefix: /static/, dir: web_flask/static}]
        persistent: [uploads/]
        check_attempts: 3
        var: flask_apps.hbnb
        env: "{{ app_env }}"
        database: {name: hbnb, host: 10.0.0.5, port: 3306, server: db1, entry: mariadb, user: hbnb}
    venv_roots: [/srv/hbnb, /srv/api]
  register: build

- name: Check the gunicorn config and the app before a reload
  berth.stack.berth_release:
    host: "{{ inventory_hostname }}"
    checks:
      - {name: hbnb, user: hbnb, group: hbnb, root: /srv/hbnb, conf_dir: /etc/hbnb, env: "{{ app_env }}"}
"""

RETURN = r"""
built:
  description: The apps whose release this run built (marker written).
  returned: always
  type: list
  elements: str
already_built:
  description: The apps whose release had its marker already (skipped).
  returned: always
  type: list
  elements: str
would_build:
  description: Check mode - app name -> the release a real run would build.
  returned: always
  type: dict
failed_apps:
  description:
    - App name -> why its release was not built (the variable, the host, the fix). Not C(failed),
      which Ansible keeps for the task's own failure.
  returned: always
  type: dict
venvs:
  description: App name -> where its venv came from, C(pip) or the venv copied.
  returned: always
  type: dict
requirements:
  description:
    - App name -> sha1 of its release's C(requirements.berth.txt) (built or already built), as
      M(berth.stack.berth_apps_probe) reports it per release - a switch between releases of the
      same digest needs no restart.
  returned: always
  type: dict
checked:
  description: The apps whose check before a reload passed.
  returned: always
  type: list
  elements: str
checks_failed:
  description: App name -> why its check before a reload failed.
  returned: always
  type: dict
"""

import contextlib
import os
import platform
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils.berth_build import (
    BUILD_LOCK, BuildError, Builder, build_lock, is_built, requirements_digest)

MASK = "********"
SECRET_KEY_RE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY", re.IGNORECASE)

SOURCE_SPEC = {
    "kind": {"type": "str", "required": True, "choices": ["archive", "git", "local"]},
    "archive": {"type": "str"},
    "mirror": {"type": "str"},
    "commit": {"type": "str"},
    "dir": {"type": "str"},
}
BUILD_SPEC = {
    "name": {"type": "str", "required": True},
    "release": {"type": "str", "required": True},
    "root": {"type": "path", "required": True},
    "user": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "wsgi": {"type": "str", "required": True},
    "state_dir": {"type": "path", "required": True},
    "source": {"type": "dict", "required": True, "options": SOURCE_SPEC},
    "requirements": {"type": "list", "elements": "str", "default": []},
    "requirements_file": {"type": "str", "default": "requirements.txt"},
    "gunicorn_requirement": {"type": "str", "default": "gunicorn==23.0.0"},
    "static": {"type": "list", "elements": "dict", "default": []},
    "persistent": {"type": "list", "elements": "str", "default": []},
    "system_site_packages": {"type": "bool", "default": False},
    "pip_extra_args": {"type": "str", "default": ""},
    "check_attempts": {"type": "int", "default": 1},
    "var": {"type": "str", "default": "flask_app"},
    "env": {"type": "dict", "default": {}, "no_log": True},
    "database": {"type": "dict"},
}
CHECK_SPEC = {
    "name": {"type": "str", "required": True},
    "user": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "root": {"type": "path", "required": True},
    "conf_dir": {"type": "path", "required": True},
    "check_attempts": {"type": "int", "default": 1},
    "env": {"type": "dict", "default": {}, "no_log": True},
}
ARGUMENT_SPEC = {
    "host": {"type": "str", "default": ""},
    "builds": {"type": "list", "elements": "dict", "default": [], "options": BUILD_SPEC},
    "venv_reuse": {"type": "bool", "default": True},
    "venv_roots": {"type": "list", "elements": "path", "default": []},
    "checks": {"type": "list", "elements": "dict", "default": [], "options": CHECK_SPEC},
}


def secret_values(items):
    """The env values to mask in results: those of secret-looking keys and the database password."""
    out = set()
    for item in items:
        password_env = (item.get("database") or {}).get("password_env")
        for key, value in (item.get("env") or {}).items():
            if value not in (None, "") and (key == password_env or SECRET_KEY_RE.search(str(key))):
                out.add(str(value))
    return out


def masked(params):
    """The module's arguments with every env replaced by a mask (for the log and the invocation)."""
    out = dict(params)
    for option in ("builds", "checks"):
        if isinstance(out.get(option), list):
            out[option] = [dict(item, env=MASK) if isinstance(item, dict) and item.get("env") else item
                           for item in out[option]]
    return out


class _ReleaseModule(AnsibleModule):
    """AnsibleModule that never logs nor returns an app's environment (no_log), yet masks in results
    only its secret values: Ansible would mask every env value wherever it appears (the app name,
    the release id, a port), blanking out the messages."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        items = list(self.params.get("builds") or []) + list(self.params.get("checks") or [])
        env_values = {str(v) for item in items for v in (item.get("env") or {}).values()}
        self.no_log_values.difference_update(env_values - secret_values(items))

    def _log_invocation(self):
        params = self.params
        self.params = masked(params)
        try:
            super()._log_invocation()
        finally:
            self.params = params

    def _return_formatted(self, kwargs):
        kwargs.setdefault("invocation", {"module_args": masked(self.params)})
        return super()._return_formatted(kwargs)


def build_all(builds, builder, check_mode=False):
    """Build every release that has no marker; one app's failure does not stop the others."""
    out = {"built": [], "already_built": [], "would_build": {}, "failed_apps": {}, "venvs": {}, "requirements": {}}
    for item in builds:
        name = item["name"]
        if is_built(item):
            out["already_built"].append(name)
            out["requirements"][name] = requirements_digest(item)
        elif check_mode:
            out["would_build"][name] = item["release"]
        elif item["source"]["kind"] == "local":
            out["failed_apps"][name] = ("berth_release on %s: app %s's source is kind=local, which only the berth_release"
                                   " action plugin sends. Fix: call the module by its name, berth.stack.berth_release"
                                   % (builder.host, name))
        else:
            try:
                out["venvs"][name] = builder.build(item)
                out["built"].append(name)
                out["requirements"][name] = requirements_digest(item)
            except BuildError as exc:
                out["failed_apps"][name] = str(exc)
    return out


def check_all(checks, builder, check_mode=False):
    """Run every check before a reload (none in check mode)."""
    out = {"checked": [], "checks_failed": {}}
    for check in [] if check_mode else checks:
        try:
            builder.check(check)
            out["checked"].append(check["name"])
        except BuildError as exc:
            out["checks_failed"][check["name"]] = str(exc)
    return out


def run_module(params, check_mode=False, builder=None, lock_path=BUILD_LOCK):
    """The whole run: (result, failure message or ""). Builds run under the host's build lock."""
    host = params.get("host") or platform.node()
    roots = params.get("venv_roots") or list(dict.fromkeys(b["root"] for b in params.get("builds") or []))
    builder = builder or Builder(host, venv_roots=roots, venv_reuse=params.get("venv_reuse", True))
    builds = params.get("builds") or []
    try:
        with contextlib.nullcontext() if check_mode or not builds else build_lock(host, path=lock_path):
            result = build_all(builds, builder, check_mode=check_mode)
    except BuildError as exc:  # the lock's holder did not finish in time: nothing was built
        result = build_all([], builder)
        result["failed_apps"] = {item["name"]: str(exc) for item in builds}
    result.update(check_all(params.get("checks") or [], builder, check_mode=check_mode))
    result["changed"] = bool(result["built"] or result["would_build"])
    failures = list(dict.fromkeys(list(result["failed_apps"].values()) + list(result["checks_failed"].values())))
    return result, " ".join(failures)


def main():
    module = _ReleaseModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    host = module.params["host"] or platform.node()
    if not module.check_mode and os.geteuid() != 0:
        module.fail_json(msg="berth_release on %s must run as root: it sets owners and runs the checks as the app"
                             " users. Fix: become: true on the task" % host)
    result, failure = run_module(dict(module.params, host=host), check_mode=module.check_mode)
    if failure:
        module.fail_json(msg=failure, **result)
    built, skipped = result["built"] or list(result["would_build"]), result["already_built"]
    result["msg"] = "%s %s; already built: %s" % ("would build:" if module.check_mode else "built:",
                                                  ", ".join(built) or "none", ", ".join(skipped) or "none")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
