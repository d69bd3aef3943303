# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see https://opensource.org/licenses/BSD-2-Clause)
"""berth_ports: a Datadog agent check that knows who must own each registry port.

Installed by berth's datadog role as ``checks.d/berth_ports.py``, next to the very
same ``berth_proc.py``, ``berth_registry.py`` and ``berth_status.py`` the port map
(``playbooks/ports.yml``) runs, copied from the one source
(the collection's ``plugins/module_utils/``). The agent puts ``checks.d`` on ``sys.path``,
so the imports below find them there.

One instance per enabled registry entry that applies to the host
(``conf.d/berth_ports.d/conf.yaml``, rendered from the registry)::

    init_config:
      proc_root: /proc            # optional, for tests
    instances:
      - entry: app_http           # port, proto, bind, service, user: the entry's own values
        port: <port>
        proto: tcp
        bind: <bind>
        service: <service>
        user: <user>
        free_status: critical     # or warning: level when nothing listens
        min_collection_interval: 15

Every run reads /proc (listener discovery: ``berth_proc.listeners``), compares the
port with its entry (``berth_proc.assess``) and reports the verdict
(``berth_status.verdict``):

* service check ``berth.port.owner``: OK (the entry's unit holds the port; no
  message, as Datadog wants for OK),
  CRITICAL naming pid, process, user and unit of a foreign holder, CRITICAL or
  WARNING (``free_status``) when the port is free;
* gauges ``berth.port.listening`` (1/0), ``berth.port.owned`` (1/0),
  ``berth.port.conflict`` (1/0) and ``berth.port.status`` (the service-check
  level: 0 OK, 1 WARNING, 2 CRITICAL), tagged ``berth_port:<entry>``,
  ``berth_service:<service>``, ``port:<port>``, ``proto:<proto>``.

The agent runs checks as ``dd-agent``: without CAP_SYS_PTRACE it cannot see the pid
of another user's process; such a holder is reported by its user (and accepted
only when that user is the entry's ``user``).
"""

from __future__ import annotations

from berth_proc import assess, listeners
from berth_status import FREE_LEVELS, LEVELS, SERVICE_CHECK, verdict
from datadog_checks.base import AgentCheck, ConfigurationError

__version__ = "1.0.0"
ENTRY_KEYS = ("entry", "port", "proto", "bind", "service", "user")


class BerthPortsCheck(AgentCheck):
    """One registry entry: who holds its port, and is it the entry's unit."""

    def __init__(self, name, init_config, instances):
        super(BerthPortsCheck, self).__init__(name, init_config, instances)
        instance = self.instance or {}
        missing = [key for key in ENTRY_KEYS if instance.get(key) in (None, "")]
        if missing:
            raise ConfigurationError("berth_ports instance lacks %s (instance: %r)" % (", ".join(missing), instance))
        self.entry_name = str(instance["entry"])
        self.entry = {
            "port": int(instance["port"]),
            "proto": str(instance["proto"]),
            "bind": str(instance["bind"]),
            "service": str(instance["service"]),
            "user": str(instance["user"]),
            "enabled": True,
        }
        self.free_status = str(instance.get("free_status", (init_config or {}).get("free_status", "critical"))).lower()
        if self.free_status not in FREE_LEVELS:
            raise ConfigurationError("berth_ports free_status must be one of %s, got %r"
                                     % (", ".join(FREE_LEVELS), self.free_status))
        self.proc_root = str((init_config or {}).get("proc_root", "/proc"))
        self.check_tags = list(instance.get("tags") or []) + [
            "berth_port:%s" % self.entry_name,
            "berth_service:%s" % self.entry["service"],
            "port:%d" % self.entry["port"],
            "proto:%s" % self.entry["proto"],
        ]

    def check(self, _):
        rows, _conflicts = assess({self.entry_name: self.entry}, listeners(self.proc_root))
        row = rows[0]
        level, message = verdict(row, self.free_status)
        code = LEVELS[level]
        # Datadog drops the message of an OK service check (the stub aggregator refuses one).
        self.service_check(SERVICE_CHECK, code, tags=self.check_tags, message=None if level == "OK" else message)
        self.gauge("berth.port.listening", 0 if row["status"] == "FREE" else 1, tags=self.check_tags)
        self.gauge("berth.port.owned", 1 if row["status"] == "OK" else 0, tags=self.check_tags)
        self.gauge("berth.port.conflict", 1 if row["status"] == "CONFLICT" else 0, tags=self.check_tags)
        self.gauge("berth.port.status", code, tags=self.check_tags)
