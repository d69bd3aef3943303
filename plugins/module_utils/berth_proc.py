# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Listening sockets from /proc, and how they compare with the port registry.

No ``ss``/``netstat``: sockets come from /proc/net/{tcp,tcp6,udp,udp6}, their
owning processes from the ``socket:[inode]`` links in /proc/<pid>/fd, the
process name from /proc/<pid>/comm, the user from /proc/<pid>/status (or the
socket's uid when the process is hidden) and the systemd unit from
/proc/<pid>/cgroup (cgroup v1 ``name=systemd:`` line or v2 ``0::`` line).

Root without CAP_SYS_PTRACE (e.g. inside a container) cannot read the fd
links of another user's process: such a socket is reported with ``pid: None``
and its uid; :func:`assess` then accepts it only when that uid is the
registry entry's ``user``. A reader that is not root (a login user over SSH
without become) cannot see other users' processes at all: the port guard
(``trust_hidden=False``) refuses such a socket instead of accepting it by uid.
"""

from __future__ import annotations

import os
import sys

try:  # inside Ansible: the collection's module_utils (AnsiballZ ships it with the module)
    from ansible_collections.berth.stack.plugins.module_utils.berth_registry import (
        REGISTRY_HINT, binds_overlap, parse_address)
except ImportError:  # outside Ansible (e.g. the agent check): the core file shipped beside this one
    from berth_registry import REGISTRY_HINT, binds_overlap, parse_address  # type: ignore

# /proc/net files: name -> (proto, family)
NET_FILES = (("tcp", "tcp", 4), ("tcp6", "tcp", 6), ("udp", "udp", 4), ("udp6", "udp", 6))
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap")


def _read(path):
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def decode_address(hexaddr, family, byteorder=sys.byteorder):
    """Decode a /proc/net address (host byte order, 32-bit words) to text."""
    raw = bytes.fromhex(hexaddr)
    if byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if family == 4:
        return ".".join(str(b) for b in raw)
    import ipaddress
    return str(ipaddress.IPv6Address(raw))


def parse_net(text, proto, family, byteorder=sys.byteorder):
    """Parse one /proc/net/{tcp,udp}[6] file; return its listening sockets."""
    wanted = TCP_LISTEN if proto == "tcp" else UDP_UNCONNECTED
    result = []
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != wanted:
            continue
        addr, port = fields[1].rsplit(":", 1)
        result.append({
            "proto": proto,
            "family": family,
            "address": decode_address(addr, family, byteorder),
            "port": int(port, 16),
            "uid": int(fields[7]),
            "inode": int(fields[9]),
        })
    return result


def unit_from_cgroup(text):
    """The systemd unit of a process from its /proc/<pid>/cgroup text, or None.

    cgroup v1: ``1:name=systemd:/system.slice/nginx.service`` (preferred);
    cgroup v2: ``0::/system.slice/nginx.service``. A container may prefix the
    path (``/docker/<id>/system.slice/...``); the innermost unit wins.
    """
    v1 = v2 = None
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "name=systemd":
            v1 = parts[2]
        elif parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
    path = v1 if v1 is not None else v2
    if not path:
        return None
    for component in reversed(path.strip("/").split("/")):
        if component.endswith(UNIT_SUFFIXES):
            return component
    return None


def _status_uid(text):
    for line in (text or "").splitlines():
        if line.startswith("Uid:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def default_username(uid):
    if uid is None:
        return None
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)


def socket_pids(proc_root="/proc", inodes=None):
    """Map socket inode -> sorted pids holding it (only inodes in ``inodes`` if given)."""
    owners = {}
    try:
        pids = [p for p in os.listdir(proc_root) if p.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # process gone, or hidden from us (no CAP_SYS_PTRACE)
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            inode = int(target[8:-1])
            if inodes is None or inode in inodes:
                owners.setdefault(inode, set()).add(int(pid))
    return {inode: sorted(pids) for inode, pids in owners.items()}


def listeners(proc_root="/proc", username=default_username):
    """Every listening TCP socket and bound UDP socket, with pid, comm, user and unit."""
    sockets = []
    for name, proto, family in NET_FILES:
        sockets.extend(parse_net(_read(os.path.join(proc_root, "net", name)), proto, family))
    owners = socket_pids(proc_root, {s["inode"] for s in sockets})
    procs = {}
    for sock in sockets:
        pids = owners.get(sock["inode"], [])
        sock["pids"] = pids
        sock["pid"] = pids[0] if pids else None
        if sock["pid"] is not None and sock["pid"] not in procs:
            base = os.path.join(proc_root, str(sock["pid"]))
            comm = _read(os.path.join(base, "comm"))
            procs[sock["pid"]] = {
                "comm": comm.strip() if comm else None,
                "uid": _status_uid(_read(os.path.join(base, "status"))),
                "unit": unit_from_cgroup(_read(os.path.join(base, "cgroup"))),
            }
        info = procs.get(sock["pid"], {})
        proc_uid = info.get("uid")
        sock["comm"] = info.get("comm")
        sock["unit"] = info.get("unit")
        sock["user"] = username(proc_uid if proc_uid is not None else sock["uid"])
    sockets.sort(key=lambda s: (s["proto"], s["port"], s["family"], s["address"]))
    return sockets


def unit_matches(unit, service):
    """True when a process in systemd ``unit`` belongs to registry ``service``."""
    if not unit or not service:
        return False
    return unit == service or unit == service + ".service"


def describe(sock, trust_hidden=True):
    if sock.get("pid") is None and not trust_hidden:
        return ("a process of user %s that this guard cannot attribute (it runs as uid %s, not root, and cannot "
                "see other users' processes; run it with become: true)" % (sock.get("user"), os.geteuid()))
    if sock.get("pid") is None:
        return "a process of user %s (pid not visible to the preflight; run it as root with CAP_SYS_PTRACE to see it)" % sock.get("user")
    return "pid %s '%s' (user %s)" % (sock["pid"], sock.get("comm"), sock.get("user"))


def holders_of(entry, sockets):
    """Sockets that hold ``entry``'s port: same proto and port, overlapping bind."""
    bind = parse_address(entry.get("bind"))
    return [s for s in sockets
            if s["proto"] == entry.get("proto") and s["port"] == entry.get("port")
            and binds_overlap(bind, parse_address(s["address"]))]


def assess(entries, sockets, registry_file=REGISTRY_HINT, trust_hidden=True):
    """Compare the host's registry ``entries`` with its listening ``sockets``.

    Returns ``(rows, conflicts)``: one row per entry (status OK, FREE, CONFLICT,
    or DISABLED for reserved entries) and one message per enabled entry held by
    a process that is not its service. ``trust_hidden``: a socket whose process is
    not visible is accepted when its owner is the entry's user (root without
    CAP_SYS_PTRACE); false: it is a conflict (a reader that is not root).
    """
    rows = []
    conflicts = []
    for name in sorted(entries, key=lambda n: (entries[n].get("port", 0), n)):
        entry = entries[name]
        holders = holders_of(entry, sockets)
        foreign = []
        for sock in holders:
            if unit_matches(sock.get("unit"), entry.get("service")):
                continue
            if trust_hidden and sock.get("pid") is None and sock.get("user") == entry.get("user"):
                continue  # hidden process, but owned by the entry's user: accept
            foreign.append(sock)
        enabled = entry.get("enabled", True)
        if not enabled:
            status = "DISABLED"
        elif not holders:
            status = "FREE"
        elif foreign:
            status = "CONFLICT"
        else:
            status = "OK"
        shown = foreign[0] if foreign else (holders[0] if holders else None)
        rows.append({
            "entry": name,
            "port": entry.get("port"),
            "proto": entry.get("proto"),
            "bind": entry.get("bind"),
            "service": entry.get("service"),
            "user": entry.get("user"),
            "enabled": enabled,
            "status": status,
            "pid": shown.get("pid") if shown else None,
            "process": shown.get("comm") if shown else None,
            "process_user": shown.get("user") if shown else None,
            "unit": shown.get("unit") if shown else None,
            "holders": [dict(s) for s in holders],
        })
        if status == "CONFLICT":
            conflicts.append("port %s/%s (%s) is held by %s; stop it or move %s in %s"
                             % (entry.get("port"), entry.get("proto"), name, describe(foreign[0], trust_hidden), name,
                                registry_file))
    return rows, conflicts
