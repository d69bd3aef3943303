# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters that build berth_files entries (the action renders their templates on the controller).
Documentation: the ``<filter>.yml`` files beside this one."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def berth_template_entries(files, root, template_vars=None, owner="root", group="root", mode="0644"):
    """berth_files entries for ``files`` (``[{src: <template>, dest: <path under root>}]``): each
    rendered from the role's template ``src`` with ``template_vars``, written to ``root/dest``."""
    out = []
    for item in files or []:
        if not isinstance(item, dict) or not item.get("src") or not item.get("dest"):
            raise AnsibleFilterError("berth_template_entries expects [{src: <template>, dest: <path>}], got %r" % (item,))
        out.append({"path": "%s/%s" % (str(root).rstrip("/"), item["dest"]), "template": item["src"],
                    "vars": dict(template_vars or {}), "owner": owner, "group": group, "mode": mode})
    return out


def berth_absent_entries(paths):
    """berth_files entries that remove each of ``paths``."""
    return [{"path": str(path), "state": "absent"} for path in paths or []]


class FilterModule(object):
    """berth_files entry builders."""

    def filters(self):
        return {"berth_template_entries": berth_template_entries, "berth_absent_entries": berth_absent_entries}
