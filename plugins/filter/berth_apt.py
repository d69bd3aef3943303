# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters over what a role's probe read of apt's state. Documentation: the ``<filter>.yml``
files beside this one."""

from __future__ import annotations


def berth_apt_cache_valid_time(lists, valid_time):
    """``valid_time`` when apt has package lists (a ``*_Packages`` file, compressed or not, in
    the probe's listing of /var/lib/apt/lists), else 0: a host without any (a fresh image)
    refreshes them before its first install."""
    names = lists or []
    return int(valid_time) if any("_Packages" in name for name in names) else 0


class FilterModule:
    def filters(self):
        return {"berth_apt_cache_valid_time": berth_apt_cache_valid_time}
