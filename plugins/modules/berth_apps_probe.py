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
    default: []
  proc_root:
    description: Root of the proc filesystem.
    type: path
    default: /proc
  packages:
    description: Debian packages whose installed version to report in C(host.packages).
    type: list
    elements: str
    default: []
  accounts:
    description: Users whose passwd entry and groups whose gid to report in C(host.users) and C(host.groups).
    type: dict
    default: {}
  units:
    description: systemd units whose C(UnitFileState), C(ActiveState), C(FragmentPath) and C(Description) to
      report in C(host.units).
    type: list
    elements: str
    default: []
  list:
    description: Directories whose entries to report in C(host.dirs) (sorted names, C(null) when the directory is absent).
    type: list
    elements: path
    default: []
  read:
    description: Small text files whose content to report in C(host.files) (C(null) when absent, at most 64 KiB each).
    type: list
    elements: path
    default: []
  stat:
    description: Paths whose type, owner, group and mode to report in C(host.stat) (C(null) when absent; a link is
      not followed).
    type: list
    elements: path
    default: []
  guard:
    description:
      - The port guard, in the same run - C(entries) (the registry entries that apply to the host, name ->
        entry) and C(registry_file) (named in messages). Fails naming every registry port held by a process
        that is not its entry's service, before the caller changes anything. Only root sees every process -
        run it with become; any other reader refuses a socket whose process it cannot see.
    type: dict
  http:
    description:
      - URLs to GET from the host, each C(name), C(url) and C(expect) (a substring the body must hold); reported in
        C(host.http) (name -> C(ok), C(status), C(detail)), 2 s each, all at once. A load balancer's plan asks
        whether each backend serves berth's site.
    type: list
    elements: dict
    default: []
  resolve:
    description: Names to resolve on the host (getaddrinfo), reported in C(host.resolved) (name -> addresses).
    type: list
    elements: str
    default: []
  tls:
    description:
      - Certificates to read, each C(name) (the site), C(cert), C(key) and C(names) (the site's server names);
        reported in C(host.tls) (name -> C(berth_tls.inspect) - C(ok), C(problem), C(not_after), C(days_left),
        C(issuer), C(serial)). No key material is returned.
      - With C(served) (C(address), C(port), C(name)), a certificate that may go live is also compared with
        the one Nginx serves there for that name - C(served_current) true, false, or null when nothing
        answers.
    type: list
    elements: dict
    default: []
  lock:
    description:
      - berth's deploy lock (C(plugins/module_utils/berth_lock.py)), taken or renewed in the same run after the
        guard passed - C(path), C(run) (who this run is), C(info) (controller, pid, start, user, command) and
        C(replace) (a run whose lock may be taken over). When another run holds it the module fails with
        C(lock_holder) and C(lock_now) (the host's clock).
    type: dict
  gate:
    description:
      - Poll each app's health check on the host (its item's C(url) or C(socket) and C(health)
        record) until its verdict is empty and the serving release is proved, up to C(retries)
        extra attempts C(delay) seconds apart per app. Read-only - the result reports each app's
        C(health) (C(status), C(content), C(verdict)) next to its proof.
    type: bool
    default: false
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
      lacks CAP_SYS_PTRACE - then only the socket's owner is checked) and C(proof) (why). With
      C(gate), also C(health) (C(status), C(content), C(verdict) - "" when the check passed) and
      C(passed).
  returned: always
  type: dict
host:
  description:
    - C(packages) (name -> installed version, "" when not installed), C(users) (name -> C(uid), C(gid),
      C(home), C(shell), C(comment); absent when missing), C(groups) (name -> gid) and C(units)
      (name -> C(enabled), C(active), C(path) of its unit file ("" when there is none), C(description)), C(files) (path -> content, C(null) when absent), C(dirs)
      (directory -> sorted entry names, C(null) when absent) and C(stat) (path -> C(type) (C(directory), C(file),
      C(link) or C(other)), C(owner), C(group), C(mode) (four octal digits); C(null) when absent).
  returned: always
  type: dict
"""

import grp
import hashlib
import http.client
import json
import os
import pwd
import socket
import stat
import subprocess
import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils.berth_apps import health_verdict, unproved
from ansible_collections.berth.stack.plugins.module_utils import berth_lock
from ansible_collections.berth.stack.plugins.module_utils import berth_tls
from ansible_collections.berth.stack.plugins.module_utils.berth_proc import assess, holders_of, listeners

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


def _run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return None


def _list(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None


def _stat(path):
    """Type, owner, group and mode of ``path`` (not following a link), or None when it is absent."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    kind = ("directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode)
            else "link" if stat.S_ISLNK(st.st_mode) else "other")
    return {"type": kind, "owner": _user_name(st.st_uid), "group": _group_name(st.st_gid),
            "mode": "%04o" % stat.S_IMODE(st.st_mode)}


def host_facts(packages=(), accounts=None, units=(), read=(), run=_run, dirs=(), stats=()):
    """Installed package versions, accounts, unit states, small files, directory listings and the
    owner and mode of paths in one read (see RETURN: host)."""
    accounts = accounts or {}
    out = {"packages": {name: "" for name in packages}, "users": {}, "groups": {}, "units": {},
           "files": {path: _read_text(path) for path in read}, "dirs": {path: _list(path) for path in dirs},
           "stat": {path: _stat(path) for path in stats}}
    if packages:
        for line in run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status} ${Version}\n"] + list(packages)).splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "installed" and parts[0] in out["packages"]:
                out["packages"][parts[0]] = parts[2]
    for name in accounts.get("users") or []:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        out["users"][name] = {"uid": entry.pw_uid, "gid": entry.pw_gid, "group": _group_name(entry.pw_gid),
                              "home": entry.pw_dir, "shell": entry.pw_shell, "comment": entry.pw_gecos}
    for name in accounts.get("groups") or []:
        try:
            out["groups"][name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    if units:
        text = run(["systemctl", "show", "--property=Id,UnitFileState,ActiveState,FragmentPath,Description"]
                   + list(units))
        blocks = [b for b in text.strip().split("\n\n")] if text.strip() else []
        for name, block in zip(units, blocks):
            props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            out["units"][name] = {"enabled": props.get("UnitFileState") == "enabled",
                                  "active": props.get("ActiveState") == "active",
                                  "path": props.get("FragmentPath", ""), "description": props.get("Description", "")}
    return out


def http_get(url, expect="", timeout=2.0):
    """GET ``url``: {ok, status, detail}; ok when it answers 200 and its body holds ``expect``."""
    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        conn.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""),
                     headers={"User-Agent": "berth-ready"})
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return {"ok": False, "status": None, "detail": "no answer: %s" % exc}
    ok = resp.status == 200 and expect in body
    return {"ok": ok, "status": resp.status,
            "detail": "" if ok else "status %s, body %r" % (resp.status, body[:80])}


def http_checks(items):
    """Every item's GET at once (threads): name -> result."""
    from concurrent.futures import ThreadPoolExecutor
    items = [i for i in items or [] if i.get("name") and i.get("url")]
    if not items:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        results = list(pool.map(lambda i: http_get(i["url"], str(i.get("expect") or "")), items))
    return {i["name"]: r for i, r in zip(items, results)}


def resolve_names(names):
    """name -> the addresses it resolves to on this host (IPv4 first), [] when it does not."""
    out = {}
    for name in names or []:
        try:
            found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            out[name] = []
            continue
        addresses = []
        for family, _, _, _, sockaddr in sorted(found, key=lambda f: f[0] != socket.AF_INET):
            if sockaddr[0] not in addresses:
                addresses.append(sockaddr[0])
        out[name] = addresses
    return out


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def http_check(app):
    """GET the app's health path on the host: {status, content, json} like the uri module's result."""
    health = app["health"]
    timeout = float(app.get("health_timeout") or 5)
    try:
        if app.get("socket"):
            conn = _UnixConnection(app["socket"], timeout)
            target = health["path"]
        else:
            parts = urlsplit(app["url"])
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        conn.request("GET", target, headers={"User-Agent": "berth-gate"})
        resp = conn.getresponse()
        body = resp.read(65536).decode("utf-8", "replace")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return {"status": -1, "content": "", "msg": "no answer: %s" % exc}
    result = {"status": resp.status, "content": body}
    try:
        result["json"] = json.loads(body)
    except ValueError:
        pass
    return result


def gate(apps, sockets_fn, proc_root="/proc", probe=None, check=None, sleep=time.sleep):
    """Poll every app until its health verdict is empty and its release is proved (or attempts run out)."""
    probe = probe or probe_app
    check = check or http_check
    states, pending = {}, {a["name"]: 0 for a in apps}
    by_name = {a["name"]: a for a in apps}
    while pending:
        sockets = sockets_fn()
        for name in list(pending):
            app = by_name[name]
            health = check(app)
            verdict = health_verdict(app, health, app.get("release") or "")
            state = probe(app, sockets, proc_root)
            proved = not unproved({name: state}, [app], {name: app.get("release") or ""})
            state["health"] = {"status": health.get("status"), "content": str(health.get("content") or "")[:600],
                               "msg": health.get("msg", ""), "verdict": verdict}
            state["passed"] = verdict == "" and proved
            states[name] = state
            pending[name] += 1
            if state["passed"] or pending[name] > int(app.get("health_retries") or 0):
                del pending[name]
        if pending:
            sleep(min(float(by_name[n].get("health_delay") or 1) for n in pending))
    return states


def main():
    module = AnsibleModule(
        argument_spec={
            "apps": {"type": "list", "elements": "dict", "default": []},
            "proc_root": {"type": "path", "default": "/proc"},
            "read": {"type": "list", "elements": "path", "default": []},
            "list": {"type": "list", "elements": "path", "default": []},
            "stat": {"type": "list", "elements": "path", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "accounts": {"type": "dict", "default": {}},
            "units": {"type": "list", "elements": "str", "default": []},
            "gate": {"type": "bool", "default": False},
            "guard": {"type": "dict"},
            "lock": {"type": "dict"},
            "http": {"type": "list", "elements": "dict", "default": []},
            "resolve": {"type": "list", "elements": "str", "default": []},
            "tls": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    apps = module.params["apps"]
    for app in apps:
        missing = [k for k in ("name", "root", "service") if not app.get(k)]
        if module.params["gate"]:
            missing += [k for k in ("health",) if not app.get(k)] + ([] if app.get("url") or app.get("socket") else ["url"])
        if missing:
            module.fail_json(msg="berth_apps_probe: app %r lacks %s" % (app.get("name"), ", ".join(missing)))
    proc_root = module.params["proc_root"]
    guard = module.params["guard"]
    sockets = None
    if guard is not None:
        sockets = listeners(proc_root)
        rows, conflicts = assess(guard.get("entries") or {}, sockets, guard.get("registry_file") or "the port registry",
                                 trust_hidden=os.geteuid() == 0)
        if conflicts:
            module.fail_json(msg="berth refuses to change this host: " + "; ".join(conflicts) + ".",
                             conflicts=conflicts, ports=rows)
    lock = module.params["lock"]
    if lock is not None:
        path = lock.get("path") or berth_lock.DEFAULT_PATH
        if module.check_mode:
            # A dry run takes no lock; another run's lock still refuses it (that run changes the host).
            holder = berth_lock.read(path)
            replace = lock.get("replace")
            held = (holder is None or holder.get("run") == lock["run"]
                    or (replace is not None and (replace == "*" or holder.get("run") == replace)))
        else:
            held, holder = berth_lock.acquire(lock["run"], lock.get("info"), path, lock.get("replace"))
        if not held:
            module.fail_json(msg="another berth run holds the deploy lock: " + berth_lock.describe(holder),
                             lock_holder=holder, lock_now=time.time())
    host = host_facts(module.params["packages"], module.params["accounts"], module.params["units"],
                      module.params["read"], dirs=module.params["list"], stats=module.params["stat"])
    host["http"] = http_checks(module.params["http"])
    host["resolved"] = resolve_names(module.params["resolve"])
    host["tls"] = {item["name"]: berth_tls.inspect(item["cert"], item["key"], item.get("names") or [])
                   for item in module.params["tls"]}
    for item in module.params["tls"]:
        served = item.get("served")
        if served and host["tls"][item["name"]].get("ok"):
            host["tls"][item["name"]]["served_current"] = berth_tls.served_matches(
                item["cert"], served["address"], served["port"], served.get("name") or "")
    if module.params["gate"]:
        states = gate(apps, lambda: listeners(proc_root) if any(a.get("port") for a in apps) else [], proc_root)
        failed = ["%s (%s)" % (name, state["health"]["verdict"] or state.get("proof") or "not proved")
                  for name, state in sorted(states.items()) if not state["passed"]]
        module.exit_json(changed=False, apps=states, host=host,
                         msg=("gate failed: " + "; ".join(failed)) if failed else "every app passed its gate")
    if sockets is None:
        sockets = listeners(proc_root) if any(a.get("port") for a in apps) else []
    module.exit_json(changed=False, apps={a["name"]: probe_app(a, sockets, proc_root) for a in apps}, host=host)


if __name__ == "__main__":
    main()
