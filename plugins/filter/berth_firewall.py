# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The firewall role's accept rules: a thin wrapper over ``plugins/module_utils/berth_firewall.py``
(the planner gives the entries a host opens and their clients). Documentation:
berth_firewall_rules.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_firewall as core

parse_resolved = core.parse_resolved


def berth_firewall_rules(allow, clients, resolved, host):
    """Accept rules: ``{name, service, proto, port, family, addresses, comment}``, sorted by entry."""
    try:
        return core.rules(allow, clients, resolved, host)
    except core.FirewallError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """Firewall rules from the berth port registry and the inventory's client groups."""

    def filters(self):
        return {"berth_firewall_rules": berth_firewall_rules}
