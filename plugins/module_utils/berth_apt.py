# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""What berth decides from a probe's reading of apt's state: the lists' freshness, and the
apt runs that install every role's missing packages on a host (the planner's ``packages``
section and the filters ``berth_apt_cache_valid_time``, ``berth_packages_probe`` and
``berth_packages_missing``). Pure Python."""

from __future__ import annotations


def cache_valid_time(lists, valid_time):
    """``valid_time`` when apt has package lists (a ``*_Packages`` file, compressed or not, in
    the probe's listing of /var/lib/apt/lists), else 0: a host without any (a fresh image)
    refreshes them before its first install."""
    names = lists or []
    return int(valid_time) if any("_Packages" in name for name in names) else 0


def _name(spec):
    """The package name of an apt spec (``name`` or ``name=version``)."""
    return str(spec).split("=", 1)[0]


def packages_probe(wanted):
    """What the packages play's one probe reads for the roles' contributions ``wanted``: every
    package (the contributed ones and each contribution's ``probe_packages``) and every directory
    (``probe_list``, and apt's lists for the cache's age), each once, in order."""
    packages, dirs = [], ["/var/lib/apt/lists"]
    for item in wanted or []:
        for name in [_name(s) for s in item.get("packages") or []] + list(item.get("probe_packages") or []):
            if name not in packages:
                packages.append(name)
        for path in item.get("probe_list") or []:
            if path not in dirs:
                dirs.append(path)
    return {"packages": packages, "list": dirs}


def packages_missing(wanted, host):
    """The apt runs that install what the roles' contributions ``wanted`` need and the probe's
    ``host`` lacks: one run per distinct ``install_recommends`` (in the order they first appear),
    each with its specs once, the roles they come from, and the smallest ``cache_valid_time`` of
    its contributions (0 when the host has no apt lists). Packages already installed are left to
    their roles (an upgrade, a pinned version that differs)."""
    host = host or {}
    installed = host.get("packages") or {}
    lists = (host.get("dirs") or {}).get("/var/lib/apt/lists")
    runs = []
    for item in wanted or []:
        missing = [s for s in item.get("packages") or [] if not installed.get(_name(s))]
        if not missing:
            continue
        recommends = item.get("install_recommends")
        run = next((r for r in runs if r["install_recommends"] is recommends), None)
        if run is None:
            run = {"install_recommends": recommends, "packages": [], "roles": [], "cache_valid_time": None}
            runs.append(run)
        run["packages"].extend(s for s in missing if s not in run["packages"])
        if item.get("role") and item["role"] not in run["roles"]:
            run["roles"].append(item["role"])
        valid = int(item.get("cache_valid_time", 86400))
        run["cache_valid_time"] = valid if run["cache_valid_time"] is None else min(valid, run["cache_valid_time"])
    for run in runs:
        run["cache_valid_time"] = cache_valid_time(lists, run["cache_valid_time"])
    return runs
