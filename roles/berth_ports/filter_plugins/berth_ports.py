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
``berth_ports_for_host(registry, overrides, group_names)``
    The effective entries that apply to a host in ``group_names`` (an entry's
    ``groups`` empty: every host), disabled (reserved) entries included.
``berth_ports_registry_file(inventory_dir)``
    The registry file to name in messages: ``inventories/<env>/group_vars/all/ports.yml``
    (symlinks resolved, so a Molecule inventory linking the sandbox names the sandbox file).
"""

from __future__ import annotations

import os
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
        # Registry entries are flat: copy key by key (lists copied) instead of deep-copying
        # Ansible's lazy containers, whose deepcopy drags the whole templating context along
        # (measured: ~2-3 s of controller CPU per call on ansible-core 2.19, 0.06 s with this).
        merged[str(name)] = (
            {str(k): (list(v) if isinstance(v, (list, tuple)) else v) for k, v in entry.items()}
            if isinstance(entry, Mapping) else entry
        )
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


def berth_ports_for_host(registry, overrides=None, group_names=None):
    """Return the effective entries that apply to a host in ``group_names``."""
    host_groups = set(group_names or [])
    result = {}
    for name, entry in _merge(registry, overrides).items():
        groups = entry.get("groups") or [] if isinstance(entry, Mapping) else []
        if not groups or host_groups.intersection(groups):
            result[name] = entry
    return result


def berth_ports_registry_file(inventory_dir):
    """Return the registry file path to name in messages (from ``inventories/`` on)."""
    if not inventory_dir:
        return REGISTRY_HINT
    path = os.path.join(str(inventory_dir), "group_vars", "all", "ports.yml")
    parts = os.path.realpath(path).split(os.sep)
    if "inventories" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("inventories"):])
    return path


class FilterModule(object):
    """berth port registry filters."""

    def filters(self):
        return {
            "berth_ports_effective": berth_ports_effective,
            "berth_port": berth_port,
            "berth_ports_for_host": berth_ports_for_host,
            "berth_ports_registry_file": berth_ports_registry_file,
        }
