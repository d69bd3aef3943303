# -*- coding: utf-8 -*-
"""Filters over the berth port registry (``berth_ports``).

Every role reads its ports through these filters, so an entry's port, proto
and bind address come from one place and cannot drift between Nginx, the app
and the Datadog checks.

``berth_ports_effective(registry, overrides)``
    The registry with per-group/per-host overrides merged in, every entry
    normalised (``enabled`` and ``groups`` filled in).
``berth_port(registry, name, overrides)``
    One effective entry, or an error naming the missing entry and the file to fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

REGISTRY_HINT = "inventories/<env>/group_vars/all/ports.yml"


def _merge(registry, overrides):
    if registry is None:
        raise AnsibleFilterError(
            "berth_ports is not defined; define the port registry in %s" % REGISTRY_HINT
        )
    if not isinstance(registry, Mapping):
        raise AnsibleFilterError(
            "berth_ports must be a mapping of entry name to {port, proto, bind, service, user}, "
            "got %s; fix it in %s" % (type(registry).__name__, REGISTRY_HINT)
        )
    overrides = overrides or {}
    if not isinstance(overrides, Mapping):
        raise AnsibleFilterError(
            "berth_ports_overrides must be a mapping of entry name to the keys to change, got %s"
            % type(overrides).__name__
        )
    merged = {}
    for name, entry in registry.items():
        merged[str(name)] = dict(copy.deepcopy(entry)) if isinstance(entry, Mapping) else entry
    for name, change in overrides.items():
        name = str(name)
        if name not in merged:
            raise AnsibleFilterError(
                "berth_ports_overrides names '%s', which is not in berth_ports; "
                "entries are: %s" % (name, ", ".join(sorted(merged)))
            )
        if not isinstance(change, Mapping):
            raise AnsibleFilterError(
                "berth_ports_overrides.%s must be a mapping such as {port: 8001}" % name
            )
        if isinstance(merged[name], Mapping):
            merged[name] = {**merged[name], **dict(change)}
    for name, entry in merged.items():
        if isinstance(entry, Mapping):
            entry.setdefault("enabled", True)
            entry.setdefault("groups", [])
    return merged


def berth_ports_effective(registry, overrides=None):
    """Return the effective registry (overrides merged, defaults filled)."""
    return _merge(registry, overrides)


def berth_port(registry, name, overrides=None):
    """Return one effective registry entry by name."""
    merged = _merge(registry, overrides)
    if name not in merged:
        raise AnsibleFilterError(
            "the port registry has no entry '%s' (entries: %s); add it to berth_ports in %s"
            % (name, ", ".join(sorted(merged)), REGISTRY_HINT)
        )
    return merged[name]


class FilterModule(object):
    """berth port registry filters."""

    def filters(self):
        return {
            "berth_ports_effective": berth_ports_effective,
            "berth_port": berth_port,
        }
