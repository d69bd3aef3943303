# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Filters of the flask_app role: the lists its tasks hand to modules, from its plan.

Thin wrappers over ``plugins/module_utils/berth_deploy.py`` (and ``berth_plan.app_secrets``);
``plan`` is always the role's ``berth.stack.berth_plan`` result. Documentation: the
``<filter>.yml`` files beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils import berth_deploy as deploy
from ansible_collections.berth.stack.plugins.module_utils import berth_plan


def _plan(plan):
    if not isinstance(plan, dict) or "apps" not in plan or "selected" not in plan:
        raise AnsibleFilterError("expected the flask_app role's plan (berth.stack.berth_plan role=flask_app)")
    return plan


def flask_app_secrets(plan, secret_key, flask_apps, mariadb_users, client_options=False):
    """App name -> the secret part of its environment (Flask secret key, database password), or with
    ``client_options`` its database account's [client] options. Only for no_log tasks and templates."""
    view = berth_plan.View("this host", [], {}, {"flask_app_secret_key": secret_key, "flask_apps": flask_apps or {},
                                                 "mariadb_users": mariadb_users or {}}, {})
    records = _plan(plan)["apps"]
    if client_options:
        return berth_plan.db_client_options(view, records)
    return berth_plan.app_secrets(view, records)


def flask_app_builds(plan, secrets, git=None):
    return deploy.builds(_plan(plan), secrets, git)


def flask_app_files(plan, secrets):
    return deploy.files(_plan(plan), secrets)


def flask_app_git_releases(results):
    return deploy.git_releases(results)


def flask_app_apply(plan, result, built=None):
    return deploy.apply(_plan(plan), result, built)


def flask_app_config_checks(plan, names, secrets):
    return deploy.config_checks(_plan(plan), names, secrets)


def flask_app_gate_items(plan, releases=None):
    return deploy.gate_items(_plan(plan), releases)


def flask_app_nginx_gate_items(plan, entry, releases, retries=10, delay=1, timeout=5):
    return deploy.nginx_gate_items(_plan(plan), entry, releases, retries, delay, timeout)


def flask_app_gate_restore(plan, moved):
    return deploy.gate_restore(_plan(plan), moved)


def flask_app_gate_failed(items, gate):
    return deploy.failed_apps(items, gate)


def flask_app_restore_files(plan, restore, failed, secrets):
    return deploy.restore_files(_plan(plan), restore, failed, secrets)


def flask_app_gate_message(plan, items, gate, releases, restore, journals, host):
    return deploy.gate_message(_plan(plan), items, gate, releases, restore, journals, host)


def flask_app_prune(plan, result=None):
    return deploy.prune(_plan(plan), result)


def flask_app_dumps(plan):
    return deploy.dumps(_plan(plan))


def flask_app_switched(plan, result):
    return deploy.switched(_plan(plan), result)


def flask_app_command_failures(results, host, kind, targets=None):
    return deploy.command_failures(results, host, kind, targets)


def flask_app_without(plan, names):
    return deploy.without(_plan(plan), names)


def flask_app_failures(plan, built=None, gate_failed=None, gate_message=""):
    return deploy.failures(_plan(plan), built, gate_failed, gate_message)


def flask_app_failure_message(plan, report, host, late=False):
    return deploy.failure_message(_plan(plan), report, host, late)


def flask_app_rollback_files(plan, secrets):
    return deploy.rollback_files(_plan(plan), secrets)


class FilterModule(object):
    """flask_app lists from the role's plan."""

    def filters(self):
        return {
            "flask_app_secrets": flask_app_secrets,
            "flask_app_builds": flask_app_builds,
            "flask_app_files": flask_app_files,
            "flask_app_git_releases": flask_app_git_releases,
            "flask_app_apply": flask_app_apply,
            "flask_app_config_checks": flask_app_config_checks,
            "flask_app_gate_items": flask_app_gate_items,
            "flask_app_nginx_gate_items": flask_app_nginx_gate_items,
            "flask_app_gate_restore": flask_app_gate_restore,
            "flask_app_gate_failed": flask_app_gate_failed,
            "flask_app_restore_files": flask_app_restore_files,
            "flask_app_gate_message": flask_app_gate_message,
            "flask_app_prune": flask_app_prune,
            "flask_app_dumps": flask_app_dumps,
            "flask_app_rollback_files": flask_app_rollback_files,
            "flask_app_without": flask_app_without,
            "flask_app_failures": flask_app_failures,
            "flask_app_failure_message": flask_app_failure_message,
            "flask_app_switched": flask_app_switched,
            "flask_app_command_failures": flask_app_command_failures,
        }
