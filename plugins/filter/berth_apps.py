# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters over the apps of a web host (``flask_apps``).

Thin wrappers over ``plugins/module_utils/berth_apps.py``, so the flask_app, nginx and
datadog roles and the staged rollout read one definition of the apps. Documentation:
the ``<filter>.yml`` files beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_apps as core


def berth_flask_apps(apps, defaults, registry, overrides=None, host="this host", host_groups=None,
                     single_app_vars=None):
    """Complete, checked app records of one host (``flask_apps`` + fleet-wide defaults)."""
    try:
        return core.normalize(apps, defaults, registry, overrides, host, host_groups or (), single_app_vars)
    except core.AppError as exc:
        raise AnsibleFilterError(str(exc))


def berth_app_locations(records):
    """Nginx locations of the app records, longest prefix first."""
    return core.nginx_locations(records or [])


def berth_app_nginx_path(record, path=None):
    """Path through Nginx that reaches ``path`` (default: the health path) of an app, or None."""
    return core.nginx_path(record, path)


def berth_app_secret(master, app_name, mode="derived"):
    """The Flask secret key of one app (``legacy``: the key itself; ``derived``: per-app HMAC)."""
    return core.secret_for(master, app_name, mode)


def berth_app_probe_item(record, releases=None):
    """The probe module's view of an app record, with the release wanted (app name -> id)."""
    return core.probe_item(record, releases)


def berth_app_health_verdict(result, record, release=""):
    """Why an app's health-check answer fails its gate ("" when it passes)."""
    return core.health_verdict(record, result, release)


def berth_app_unproved(states, records, releases):
    """Apps whose probe state does not prove that the wanted release serves."""
    return core.unproved(states, records, releases)


class FilterModule(object):
    """berth app filters."""

    def filters(self):
        return {
            "berth_flask_apps": berth_flask_apps,
            "berth_app_locations": berth_app_locations,
            "berth_app_nginx_path": berth_app_nginx_path,
            "berth_app_secret": berth_app_secret,
            "berth_app_probe_item": berth_app_probe_item,
            "berth_app_health_verdict": berth_app_health_verdict,
            "berth_app_unproved": berth_app_unproved,
        }
