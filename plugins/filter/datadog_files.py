# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The datadog role's berth_files entries from its plan. Documentation: datadog_files.yml."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.module_utils.berth_datadog import REDACTED

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
CHECK_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "roles", "datadog", "files", "checks.d", "berth_ports.py")
# The berth code the berth_ports agent check imports, copied from its one source: the files the
# port map's berth_listeners module runs.
CHECK_MODULES = ("berth_proc", "berth_registry", "berth_status")


def _unredact(config, password):
    """A check's configuration with the redacted password put back (secret checks only)."""
    # Copies of the mapping and of each instance, not a deepcopy: nothing deeper is changed, and
    # a deepcopy of ansible-core's lazy containers costs far more than the whole filter.
    config = dict(config)
    if config.get("instances"):
        config["instances"] = [dict(instance) for instance in config["instances"]]
        for instance in config["instances"]:
            if instance.get("password") == REDACTED:
                instance["password"] = "" if password is None else str(password)
    return config


def datadog_files(plan, mysql_password, config_dir, user, group, checks_d_dir):
    """Every file the agent reads from the datadog role: datadog.yaml (the API key: a secret entry),
    a directory and conf.yaml per check of the plan (a secret check's file with its password, as a
    secret entry), and the berth_ports check with the berth code it imports (compiled before it goes
    live), or their removal when the check is off."""
    if not isinstance(plan, dict) or "checks" not in plan or "config" not in plan:
        raise AnsibleFilterError("datadog_files expects the datadog role's plan (berth.stack.berth_plan role=datadog)")
    owned = {"owner": user, "group": group}
    entries = [dict(owned, path=config_dir + "/datadog.yaml", mode="0640", secret=True, template="datadog.yaml.j2",
                    vars={"config": plan["config"]})]
    secret = set(plan.get("secret_checks") or [])
    for name in sorted(plan["checks"]):
        config = plan["checks"][name]
        if name in secret:
            config = _unredact(config, mysql_password)
        directory = "%s/conf.d/%s.d" % (config_dir, name)
        entries.append(dict(owned, path=directory, state="directory", mode="0755"))
        entries.append(dict(owned, path=directory + "/conf.yaml", mode="0640", secret=name in secret,
                            template="check.yaml.j2", vars={"item": {"key": name, "value": config}}))
    watched = "berth_ports" in plan["checks"]
    if watched:
        entries.append(dict(owned, path=checks_d_dir, state="directory", mode="0755"))
    sources = [("berth_ports", CHECK_SOURCE)] + [(m, os.path.join(MODULE_UTILS, m + ".py")) for m in CHECK_MODULES]
    for module, source in sources:
        path = "%s/%s.py" % (checks_d_dir, module)
        if watched:
            entries.append(dict(owned, path=path, mode="0644", file=source, validate="python3 -m py_compile %s"))
        else:
            entries.append({"path": path, "state": "absent"})
    return entries


def datadog_keys_to_fetch(urls, listing):
    """The signing-key URLs whose file (the URL's basename) is not in the key directory: the
    listing the role's probe read (None when the directory is missing). A key file already on the
    host is kept as it is (get_url without force would not fetch it again either), so a host
    with every key makes no module run for them."""
    if listing is not None and not isinstance(listing, (list, tuple)):
        raise AnsibleFilterError("datadog_keys_to_fetch expects the key directory's listing (a list, or none), "
                                 "got %s" % type(listing).__name__)
    present = set(listing or [])
    # os.path.basename: the name the fetch task writes (``item | basename``).
    return [url for url in urls or [] if os.path.basename(str(url)) not in present]


class FilterModule(object):
    """The datadog role's files."""

    def filters(self):
        return {"datadog_files": datadog_files, "datadog_keys_to_fetch": datadog_keys_to_fetch}
