# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The berth_ports agent check's configuration, and Datadog monitors, from the port registry.

Thin wrappers over ``plugins/module_utils/berth_datadog.py``:

``host_entries | datadog_berth_ports_check(free_status, interval, tags)``
    ``conf.d/berth_ports.d/conf.yaml`` content for one host: one instance per enabled entry
    of the registry's own per-host view; None when the host has no enabled entry.
``checks_by_host | datadog_berth_monitors(options)``
    Monitor definitions for every host's derived checks: one service-check monitor per
    registry entry watched by ``berth_ports`` and one per ``http_check`` instance.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_datadog as core

HTTP_SERVICE_CHECK = core.HTTP_SERVICE_CHECK
_tag_value = core._tag_value


def datadog_berth_ports_check(host_entries, free_status="critical", interval=15, tags=None):
    try:
        return core.berth_ports_check(host_entries, free_status, interval, tags)
    except core.DatadogError as exc:
        raise AnsibleFilterError(str(exc))


def datadog_berth_monitors(checks_by_host, options=None):
    return core.monitors(checks_by_host, options)


class FilterModule(object):
    """berth_ports agent check configuration and Datadog monitors from the registry."""

    def filters(self):
        return {
            "datadog_berth_ports_check": datadog_berth_ports_check,
            "datadog_berth_monitors": datadog_berth_monitors,
        }
