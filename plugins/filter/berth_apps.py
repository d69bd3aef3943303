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
from ansible_collections.berth.stack.plugins.module_utils import berth_registry as registry


def berth_flask_apps(apps, defaults, registry, overrides=None, host="this host", host_groups=None,
                     single_app_vars=None, databases=None):
    """Complete, checked app records of one host (``flask_apps`` + fleet-wide defaults)."""
    try:
        return core.normalize(apps, defaults, registry, overrides, host, host_groups or (), single_app_vars,
                              databases)
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


def berth_app_probe_item(record, releases=None, gate=False, url=""):
    """The probe module's view of an app record, with the release wanted (app name -> id).

    ``gate``: also the health check the probe polls (``url``, default: on the host from the
    registry entry).
    """
    if gate and url:
        # An explicit URL (through Nginx) is polled over TCP even for an app on a unix socket.
        return dict(core.probe_item(record, releases, url), socket="")
    if gate:
        url = "http://localhost" + record["health"]["path"] if record.get("socket") \
            else registry.url(record, record["health"]["path"])
    return core.probe_item(record, releases, url)


def berth_app_health_verdict(result, record, release=""):
    """Why an app's health-check answer fails its gate ("" when it passes)."""
    return core.health_verdict(record, result, release)


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
        }
