# -*- coding: utf-8 -*-
"""The berth_ports agent check's configuration, and Datadog monitors, from the port registry.

``host_entries | datadog_berth_ports_check(free_status, interval, tags)``
    ``conf.d/berth_ports.d/conf.yaml`` content for one host: one instance per
    enabled entry of ``host_entries``, which is the registry's own per-host view
    (``berth_ports | berth_ports_for_host(overrides, group_names)``, the filter the
    port map uses too), so "which entries apply to this host" is decided once.
    None when the host has no enabled entry.
``checks_by_host | datadog_berth_monitors(options)``
    Monitor definitions for every host's derived checks (``__datadog_checks`` of
    each play host): one service-check monitor per registry entry watched by
    ``berth_ports`` and one per ``http_check`` instance (a route through Nginx or
    on the app port). Each definition's keys are options of
    ``community.general.datadog_monitor``; ``[[...]]`` are Datadog template
    variables (the module turns them into ``{{...}}``, so Ansible never templates them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils.berth_status import FREE_LEVELS, SERVICE_CHECK

HTTP_SERVICE_CHECK = "http.can_connect"


def datadog_berth_ports_check(host_entries, free_status="critical", interval=15, tags=None):
    if not isinstance(host_entries, Mapping):
        raise AnsibleFilterError("datadog_berth_ports_check expects the host's registry entries (berth_ports_for_host)")
    if free_status not in FREE_LEVELS:
        raise AnsibleFilterError("datadog_berth_ports_free_status must be one of %s, got %r"
                                 % (", ".join(FREE_LEVELS), free_status))
    instances = []
    for name in sorted(host_entries):
        entry = host_entries[name]
        if not isinstance(entry, Mapping) or not entry.get("enabled", True):
            continue
        instances.append({
            "entry": str(name),
            "port": int(entry["port"]),
            "proto": str(entry["proto"]),
            "bind": str(entry["bind"]),
            "service": str(entry["service"]),
            "user": str(entry["user"]),
            "free_status": free_status,
            "min_collection_interval": int(interval),
            "tags": list(tags or []),
        })
    return {"init_config": {}, "instances": instances} if instances else None


def _tag_value(text):
    """A tag value as Datadog stores it: lower case, other characters than a-z 0-9 _ - : . / as _."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_\-:./]", "_", str(text).lower())).strip("_")


def datadog_berth_monitors(checks_by_host, options=None):
    opts = dict(options or {})
    notify = str(opts.get("notify") or "").strip()
    base_tags = list(opts.get("tags") or [])
    prefix = str(opts.get("prefix") or "[berth]")
    no_data = int(opts.get("no_data_timeframe") or 10)
    entries = {}
    routes = {}
    for checks in checks_by_host or []:
        if not isinstance(checks, Mapping):
            continue
        for inst in (checks.get("berth_ports") or {}).get("instances") or []:
            entries.setdefault(inst["entry"], inst)
        for inst in (checks.get("http_check") or {}).get("instances") or []:
            routes.setdefault(inst["name"], inst)
    monitors = []
    def monitor(name, query, message, thresholds, tags):
        """One service-check monitor definition (options of community.general.datadog_monitor)."""
        return {"name": name, "type": "service check", "query": query,
                "notification_message": message + ("\n" + notify if notify else ""),
                "thresholds": thresholds, "notify_no_data": True, "no_data_timeframe": no_data,
                "tags": base_tags + list(tags) + ["managed_by:berth"]}

    for name in sorted(entries):
        inst = entries[name]
        where = "%s/%s (bind %s)" % (inst["port"], inst["proto"], inst["bind"])
        message = (
            "[[#is_alert]]Port %s (%s) on [[host.name]] is not held by its unit %s (user %s): "
            "[[check_message]][[/is_alert]]\n"
            "[[#is_warning]]Nothing listens on port %s (%s) on [[host.name]]: [[check_message]][[/is_warning]]\n"
            "[[#is_recovery]]Port %s (%s) on [[host.name]] is held by %s again.[[/is_recovery]]\n"
            "Registry entry %s; port map: ansible-playbook playbooks/ports.yml --limit [[host.name]]"
            % (where, name, inst["service"], inst["user"], where, name, where, name, inst["service"], name))
        monitors.append(monitor(
            "%s port %s (%s/%s) owned by %s" % (prefix, name, inst["port"], inst["proto"], inst["service"]),
            '"%s".over("berth_port:%s").by("host").last(2).count_by_status()' % (SERVICE_CHECK, _tag_value(name)),
            message, {"ok": 1, "warning": 1, "critical": 1},
            ["berth_port:%s" % name, "berth_service:%s" % inst["service"]]))
    for name in sorted(routes):
        inst = routes[name]
        port_tags = [t for t in inst.get("tags") or [] if str(t).startswith(("berth_port:", "berth_via:"))]
        message = (
            "[[#is_alert]]%s does not answer on [[host.name]]: [[check_message]][[/is_alert]]\n"
            "[[#is_recovery]]%s answers again on [[host.name]].[[/is_recovery]]"
            % (inst["url"], inst["url"]))
        monitors.append(monitor(
            "%s route %s answers" % (prefix, name),
            '"%s".over("instance:%s").by("host").last(3).count_by_status()' % (HTTP_SERVICE_CHECK, _tag_value(name)),
            message, {"ok": 1, "warning": 1, "critical": 2}, port_tags))
    return monitors


class FilterModule(object):
    """berth_ports agent check configuration and Datadog monitors from the registry."""

    def filters(self):
        return {
            "datadog_berth_ports_check": datadog_berth_ports_check,
            "datadog_berth_monitors": datadog_berth_monitors,
        }
