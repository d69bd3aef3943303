# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Action plugin: validate the port registry of every play host, offline, in one task.

Runs on the controller only (no host is contacted). Reads ``berth_ports``,
``berth_ports_overrides``, ``inventory_dir`` of each host from hostvars, the
groups from ``groups``, and hands them to the registry core's ``validate_hosts``
(``plugins/module_utils/berth_registry.py``),
which validates each distinct effective registry once. Fails listing every
problem with the hosts, entries, port/proto and the file or variable to edit.

Speed: asking hostvars for each of 10,000 hosts costs ~3 ms a host (Ansible
builds and templates every host's whole variable set). Hosts that share the
same groups and the same inline inventory vars and have no host_vars file get
the same variables, so only one representative per such signature is asked;
hosts with a host_vars file or own inline vars are asked individually. This
assumes the registry is not templated per host name (e.g. from
inventory_hostname); set ``exact: true`` to ask every host.

It also reads the inventory's files (every group_vars/host_vars file and the YAML inventory
itself, as text): a ``port:`` written with a leading 0 or colons (``010000``, ``134:20``), which
the YAML 1.1 loader turns into another number, is refused naming the file and line; and a host
whose ``berth_ports_overrides`` lacks entries one of its groups' group_vars set (the variable is
replaced whole, the most specific definition wins) gets a warning naming the group, the file and
the entries.

Options:
  hosts: list of host names to check (default: ansible_play_hosts_all)
  exact: ask hostvars for every host instead of one per signature
         (default: the variable berth_ports_validate_exact, else false)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible.plugins.action import ActionBase
from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core


class ActionModule(ActionBase):
    """Validate every play host's effective port registry at once."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("hosts", "exact"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars = task_vars["hostvars"]
        hosts = self._task.args.get("hosts") or task_vars.get("ansible_play_hosts_all") or []
        groups = task_vars.get("groups") or {}
        host_groups = {}
        for group, members in groups.items():
            if group in ("all", "ungrouped"):
                continue
            for member in members:
                host_groups.setdefault(member, set()).add(group)
        known = set(groups) - {"all", "ungrouped"}
        file_cache = {}
        signature_of = self._signatures(hosts, hostvars, task_vars, bool(self._task.args.get("exact", task_vars.get("berth_ports_validate_exact", False))))
        var_cache = {}
        inventory = getattr(hostvars, "_inventory", None)
        sources = task_vars.get("ansible_inventory_sources") or getattr(inventory, "_sources", None) or []
        files = core.inventory_files(sources if isinstance(sources, (list, tuple)) else [sources],
                                     task_vars.get("playbook_dir"))
        group_overrides = self._group_overrides(files, inventory)

        def items():
            for host in hosts:
                signature = signature_of.get(host) or ("host", host)
                found = var_cache.get(signature)
                if found is None:
                    hv = hostvars[host]
                    inv_dir = hv.get("inventory_dir")
                    if inv_dir not in file_cache:
                        file_cache[inv_dir] = core.registry_file(inv_dir)
                    found = (hv.get("berth_ports"), hv.get("berth_ports_overrides"), file_cache[inv_dir])
                    var_cache[signature] = found
                mine = host_groups.get(host, set())
                yield {
                    "host": host,
                    "registry": found[0],
                    "overrides": found[1],
                    "groups": mine,
                    "registry_file": found[2],
                    "group_overrides": {g: v for g, v in group_overrides.items() if g == "all" or g in mine},
                }

        report = core.validate_hosts(items(), known_groups=known, files=files)
        result["changed"] = False
        result["hostvars_read"] = len(var_cache)
        result["hosts_checked"] = report["hosts"]
        result["registries_validated"] = report["unique"]
        if report["warnings"]:
            result["warnings"] = ["port registry: " + w for w in report["warnings"]]
        if report["failed"]:
            result["failed"] = True
            result["msg"] = "port registry: %d problem(s) on %d host(s):\n%s" % (
                len(report["messages"]), report["hosts"], "\n".join(report["messages"]))
        else:
            result["msg"] = "port registry OK: %d host(s), %d distinct registr%s validated" % (
                report["hosts"], report["unique"], "y" if report["unique"] == 1 else "ies")
        return result

    def _group_overrides(self, files, inventory):
        """Group -> (file, entry names) of each group's own berth_ports_overrides: its group_vars
        files (the last one in Ansible's load order wins) and its inline inventory variables."""
        out = {}
        for item in files:
            if item["scope"] != "group" or not item["text"] or "berth_ports_overrides" not in item["text"]:
                continue
            try:
                data = self._loader.load_from_file(item["path"])
            except Exception:  # noqa: BLE001 - an unreadable file is Ansible's to report, not this check's
                continue
            value = data.get("berth_ports_overrides") if isinstance(data, Mapping) else None
            if isinstance(value, Mapping):
                out[item["name"]] = (item["file"], sorted(str(k) for k in value))
        for name, group in (getattr(inventory, "groups", None) or {}).items():
            value = (getattr(group, "vars", None) or {}).get("berth_ports_overrides")
            if isinstance(value, Mapping) and name not in out:
                out[name] = ("the inventory's vars of group %s" % name, sorted(str(k) for k in value))
        return out

    @staticmethod
    def _signatures(hosts, hostvars, task_vars, exact):
        """Map host -> signature; hosts with equal signatures have equal variables."""
        inventory = getattr(hostvars, "_inventory", None)
        if exact or inventory is None:
            return {}
        dirs = set()
        for source in getattr(inventory, "_sources", None) or []:
            source = os.path.abspath(str(source))
            dirs.add(source if os.path.isdir(source) else os.path.dirname(source))
        if task_vars.get("playbook_dir"):
            dirs.add(str(task_vars["playbook_dir"]))
        with_files = set()
        for base in dirs:
            try:
                names = os.listdir(os.path.join(base, "host_vars"))
            except OSError:
                continue
            for name in names:
                stem, ext = os.path.splitext(name)
                with_files.add(name)
                if ext in (".yml", ".yaml", ".json"):
                    with_files.add(stem)
        result = {}
        for name in hosts:
            host = inventory.get_host(name)
            if host is None or name in with_files:
                continue
            own = {k: v for k, v in host.vars.items() if k not in ("inventory_file", "inventory_dir")}
            if own:
                continue  # inline host vars: ask this host individually
            groups = tuple(sorted(g.name for g in host.get_groups()))
            result[name] = ("group", groups, str(host.vars.get("inventory_dir")))
        return result
