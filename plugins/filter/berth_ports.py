# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters over the berth port registry (``berth_ports``).

Every role reads its ports through these filters, so an entry's port, proto
and bind address come from one place and cannot drift between Nginx, the app
and the Datadog checks. Each filter is a thin wrapper over the registry core,
``plugins/module_utils/berth_registry.py``; their documentation is in the
``<filter>.yml`` files beside this one (``ansible-doc -t filter berth.stack.<filter>``).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core


def _effective(registry, overrides):
    try:
        return core.effective_or_raise(registry, overrides)
    except core.RegistryError as exc:
        raise AnsibleFilterError(str(exc))


def berth_ports_effective(registry, overrides=None):
    """Return the effective registry (overrides merged, defaults filled)."""
    return _effective(registry, overrides)


def berth_port(registry, name, overrides=None):
    """Return one effective registry entry by name."""
    merged = _effective(registry, overrides)
    if name not in merged:
        raise AnsibleFilterError(
            "the port registry has no entry '%s' (entries: %s); add it to berth_ports in %s"
            % (name, ", ".join(sorted(merged)), core.REGISTRY_HINT))
    return merged[name]


def berth_ports_for_host(registry, overrides=None, group_names=None, enabled_only=False):
    """Return the effective entries that apply to a host in ``group_names``."""
    return core.for_host(_effective(registry, overrides), group_names, enabled_only)


def berth_ports_registry_file(inventory_dir):
    """Return the registry file path to name in messages (from ``inventories/`` on)."""
    return core.registry_file(inventory_dir)


def _bind(entry_or_bind):
    return entry_or_bind.get("bind") if isinstance(entry_or_bind, dict) else entry_or_bind


def berth_connect_host(entry_or_bind):
    """The address a local client uses to reach an entry (or a bind address)."""
    return core.connect_host(_bind(entry_or_bind))


def berth_host_port(entry, local=True):
    """``address:port`` of an entry, IPv6 in brackets (local client address by default)."""
    if not isinstance(entry, dict):
        raise AnsibleFilterError("berth_host_port expects a registry entry, got %s" % type(entry).__name__)
    address = core.connect_host(entry.get("bind")) if local else entry.get("bind")
    return core.host_port(address, entry.get("port"))


def berth_url(entry, path="/", scheme="http", local=True):
    """URL of an entry's listener (``http://127.0.0.1:8000/health``)."""
    if not isinstance(entry, dict):
        raise AnsibleFilterError("berth_url expects a registry entry, got %s" % type(entry).__name__)
    return core.url(entry, path, scheme, local)


def berth_is_loopback(entry_or_bind):
    """True when an entry (or a bind address) is reachable from the host only."""
    return core.is_loopback(_bind(entry_or_bind))


class FilterModule(object):
    """berth port registry filters."""

    def filters(self):
        return {
            "berth_ports_effective": berth_ports_effective,
            "berth_port": berth_port,
            "berth_ports_for_host": berth_ports_for_host,
            "berth_ports_registry_file": berth_ports_registry_file,
            "berth_connect_host": berth_connect_host,
            "berth_host_port": berth_host_port,
            "berth_url": berth_url,
            "berth_is_loopback": berth_is_loopback,
        }
