# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see https://opensource.org/licenses/BSD-2-Clause)
"""Who must own a registry port, who holds it, and the verdict (stdlib only).

One place for the verdict that both the port map (``berth_listeners`` module,
``playbooks/ports.yml``) and the Datadog agent check (``checks.d/berth_ports.py``,
shipped by the datadog role next to this file) report. Input is one row of
:func:`berth_proc.assess` (status OK, FREE, CONFLICT or DISABLED plus the holder);
output is a Datadog service-check level and a message that names the owner the
registry expects and the process that actually holds the port:

* OK: the entry's own unit holds the port;
* CRITICAL: a foreign process holds it (pid, process, user and unit named);
* CRITICAL or WARNING (``free_level``): nothing listens, but the entry is enabled;
* ``None``: the entry is DISABLED (reserved, not opened): nothing to report.
"""

from __future__ import annotations

# Datadog's service-check status codes (AgentCheck.OK, WARNING, CRITICAL, UNKNOWN).
LEVELS = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
# The service check the agent check reports and the monitors watch.
SERVICE_CHECK = "berth.port.owner"
FREE_LEVELS = ("critical", "warning")


def expected_owner(row):
    """The owner the registry names for a row: ``unit nginx (user root)``."""
    return "unit %s (user %s)" % (row.get("service"), row.get("user"))


def holder(row):
    """The process a row shows: pid, process, user and unit when they can be seen."""
    if row.get("status") == "FREE" or (row.get("pid") is None and row.get("process_user") is None):
        return "nothing"
    if row.get("pid") is None:
        return ("a process of user %s (pid not visible: reading /proc/<pid>/fd of another "
                "user's process needs CAP_SYS_PTRACE)" % row.get("process_user"))
    return "pid %s '%s' (user %s, unit %s)" % (
        row.get("pid"), row.get("process"), row.get("process_user"), row.get("unit") or "none")


def verdict(row, free_level="critical"):
    """Return ``(level, message)`` for one :func:`berth_proc.assess` row.

    ``level`` is ``OK``, ``WARNING`` or ``CRITICAL`` (a key of :data:`LEVELS`), or None
    for a DISABLED entry. ``free_level`` (critical or warning) is the level of an
    enabled entry whose port is free.
    """
    if free_level not in FREE_LEVELS:
        raise ValueError("free_level must be one of %s, got %r" % (", ".join(FREE_LEVELS), free_level))
    where = "port %s/%s on %s (%s)" % (row.get("port"), row.get("proto"), row.get("bind"), row.get("entry"))
    status = row.get("status")
    if status == "DISABLED":
        return None, "%s is reserved (enabled: false); nothing should listen" % where
    if status == "OK":
        return "OK", "%s is held by its %s: %s" % (where, expected_owner(row), holder(row))
    if status == "CONFLICT":
        return "CRITICAL", "%s is held by %s, not by its %s" % (where, holder(row), expected_owner(row))
    if status == "FREE":
        return free_level.upper(), "nothing listens on %s; its %s should serve it" % (where, expected_owner(row))
    return "UNKNOWN", "%s has an unknown status %r" % (where, status)
