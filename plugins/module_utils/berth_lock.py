# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""berth's deploy lock: one run at a time on a host.

The lock is a file (default ``/run/berth/deploy.lock``, on tmpfs: a reboot, which ends every
run, clears it) holding who took it: the run (the controller's host name, the pid and start
time of its ``ansible-playbook``), the user, the command, since when and when the run last
renewed it. Every berth role takes it in its plan's probe, before its first change, and keeps
it for the whole run (a run takes it again, renewing it, as often as it likes); the playbooks
give it back at their end (``berth_lock`` with ``state: absent``). Another run finds it held
and is refused, naming the holder - unless the holder is gone: its process is gone from this
controller, or it has not renewed the lock for longer than its lease (a run on another
controller that was killed, or a role used from a playbook that never gives the lock back).

Pure Python, stdlib only: the probe module and the berth_lock module run it on the host; the
controller side (who this run is, whether a holder is gone) is in ``plugins/action/``.
"""

from __future__ import annotations

import errno
import json
import os
import time

DEFAULT_PATH = "/run/berth/deploy.lock"


def read(path=DEFAULT_PATH):
    """The lock's holder, or None when nobody holds it (a file that cannot be parsed is a holder
    of its own: it is not overwritten without ``replace``)."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        holder = json.loads(text)
        return holder if isinstance(holder, dict) else {"run": "unreadable", "raw": text[:200]}
    except ValueError:
        return {"run": "unreadable", "raw": text[:200]}


def _write_new(path, holder):
    """Create the lock file atomically; False when it exists."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(holder, sort_keys=True) + "\n")
    return True


def _replace_with(path, holder):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write(json.dumps(holder, sort_keys=True) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def acquire(run, info=None, path=DEFAULT_PATH, replace=None, now=time.time):
    """Take the lock for ``run`` (a string that names this run), or renew it when ``run`` holds
    it. Returns ``(held, holder)``: ``held`` is True when this run holds the lock now; otherwise
    ``holder`` is who holds it. ``replace``: the run whose lock may be taken over (a holder found
    gone, or broken on purpose); "*" replaces any holder."""
    stamp = int(now())
    holder = dict(info or {}, run=run, since=stamp, renewed=stamp)
    for _ in range(3):
        current = read(path)
        if current is None:
            if _write_new(path, holder):
                return True, holder
            continue  # another run created it between the read and the create: read it again
        if current.get("run") == run:
            current = dict(current, renewed=stamp)
            _replace_with(path, current)
            return True, current
        if replace is not None and (replace == "*" or current.get("run") == replace):
            _replace_with(path, holder)
            return True, holder
        return False, current
    return False, read(path) or {}


def release(run, path=DEFAULT_PATH):
    """Give the lock back when ``run`` holds it; True when a lock was removed."""
    current = read(path)
    if current is None or current.get("run") != run:
        return False
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        return False
    return True


def describe(holder, now=time.time):
    """Who holds the lock, for messages."""
    if not holder:
        return "nobody"
    if holder.get("run") == "unreadable":
        return "an unreadable lock file (%r)" % holder.get("raw", "")
    since = holder.get("since")
    age = ("since %s (%d s ago)" % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)), int(now() - since))
           if isinstance(since, (int, float)) else "since an unknown time")
    return "%s@%s pid %s %s, running `%s`" % (holder.get("user", "?"), holder.get("controller", "?"),
                                              holder.get("pid", "?"), age, holder.get("command", "?"))


# --- The controller's side: who this run is, and whether a holder is gone -------------------------

def _start_time(pid, proc="/proc"):
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command may hold spaces and parentheses: the fields after the last ')' are fixed.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def run_identity(pid=None, proc="/proc"):
    """This run: the controller's ``ansible-playbook`` process (the parent of the worker that runs
    the action), as ``(run, info)``; ``run`` names it uniquely (host, pid and start time)."""
    import getpass
    import socket
    pid = os.getppid() if pid is None else pid
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            command = " ".join(p.decode("utf-8", "replace") for p in handle.read().split(b"\0") if p)
    except OSError:
        command = "?"
    controller = socket.gethostname()
    start = _start_time(pid, proc) or "?"
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        user = str(os.getuid())
    info = {"controller": controller, "pid": pid, "start": start, "user": user, "command": command[:300]}
    return "%s:%s:%s" % (controller, pid, start), info


def gone(holder, controller, host_now, lease, proc="/proc"):
    """Why the holder's run is over ("" when it may still run): its process is gone from this
    controller, or it has not renewed the lock for longer than ``lease`` seconds (``host_now`` is
    the host's clock, which stamped the lock)."""
    if not holder or holder.get("run") == "unreadable":
        return ""
    if holder.get("controller") == controller:
        if _start_time(holder.get("pid"), proc) != str(holder.get("start")):
            return "its process is gone from this controller"
        return ""
    renewed = holder.get("renewed", holder.get("since"))
    if isinstance(renewed, (int, float)) and host_now - renewed > lease:
        return "it has not renewed the lock for %d s (berth_lock_lease: %d s)" % (host_now - renewed, lease)
    return ""
