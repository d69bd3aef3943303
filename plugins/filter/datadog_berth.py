# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters that derive the Datadog agent's configuration from the berth port registry.

Thin wrappers over ``plugins/module_utils/berth_datadog.py`` (where the derivation lives,
shared with the planner ``berth_plan``): ``datadog_agent_ports`` and
``datadog_checks_config``. Documentation: the ``<filter>.yml`` files beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_datadog as core

# Kept importable from here (tests and older callers).
DERIVED = core.DERIVED
REDACTED = core.REDACTED


def _wrap(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except core.DatadogError as exc:
            raise AnsibleFilterError(str(exc))
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


datadog_agent_ports = _wrap(core.agent_ports)
datadog_checks_config = _wrap(core.checks_config)


class FilterModule(object):
    """Datadog agent configuration derived from the berth port registry."""

    def filters(self):
        return {
            "datadog_agent_ports": datadog_agent_ports,
            "datadog_checks_config": datadog_checks_config,
        }
