# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The Datadog agent's configuration derived from the berth port registry (controller side).

Pure Python: the planner (``berth_plan``) and the filters ``datadog_agent_ports``,
``datadog_checks_config``, ``datadog_berth_ports_check`` and ``datadog_berth_monitors``
(thin wrappers in ``plugins/filter/``) call these functions; every refusal is a
:class:`DatadogError` naming the variable and the fix.

``agent_ports(registry, port_names)``
    The datadog.yaml settings for every agent listener (ports, bind_host, cmd_host,
    non-local traffic flags) from the effective registry entries named in ``port_names``
    (``datadog_port_names``). Refuses bind addresses the agent cannot express.
``host_entries(registry, host_groups)``
    The enabled registry entries that apply to a host in ``host_groups``.
``checks_config(checks, registry, host_groups, options, redact=False)``
    Check name -> conf.yaml content for this host. ``derived`` checks are built from the
    registry and the host's apps; mappings are passed through; derived checks with nothing
    to watch on this host are left out (so their file is removed). The ``mysql`` check holds
    the monitoring account's password: refused when empty, and with ``redact=True``
    replaced by ``REDACTED`` (for facts and output; the role writes the file unredacted,
    as a secret).
``berth_ports_check(host_entries, free_status, interval, tags)``
    ``conf.d/berth_ports.d/conf.yaml`` for one host: one instance per enabled entry.
``monitors(checks_by_host, options)``
    Monitor definitions for every host's derived checks.

``registry`` is always the effective registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_apps as apps_core
    from ansible_collections.berth.stack.plugins.module_utils.berth_registry import (
        REGISTRY_HINT, connect_host, for_host, is_loopback, is_wildcard, url)
    from ansible_collections.berth.stack.plugins.module_utils.berth_status import FREE_LEVELS, SERVICE_CHECK
except ImportError:  # outside Ansible: the files beside this one
    import berth_apps as apps_core  # type: ignore
    from berth_registry import REGISTRY_HINT, connect_host, for_host, is_loopback, is_wildcard, url  # type: ignore
    from berth_status import FREE_LEVELS, SERVICE_CHECK  # type: ignore


class DatadogError(ValueError):
    """A Datadog setting berth cannot derive; the text names the variable and the fix."""

# datadog.yaml settings whose listener the agent always binds to loopback.
LOOPBACK_ONLY = ("expvar_port", "apm_debug_port", "process_expvar_port")
REQUIRED_KEYS = ("expvar_port", "cmd_port", "dogstatsd_port", "apm_receiver_port",
                 "apm_debug_port", "process_expvar_port", "process_cmd_port")
# Checks the role derives from the registry (datadog_checks value `derived`).
DERIVED = ("nginx", "http_check", "tcp_check", "process", "berth_ports", "mysql", "tls")
# What a redacted derivation writes instead of a password.
REDACTED = "(secret: datadog_mysql_password)"


def _entry(registry, name, key):
    if name not in registry:
        raise DatadogError(
            "datadog_port_names.%s names '%s', which is not in the port registry (entries: %s); "
            "add it to berth_ports in %s" % (key, name, ", ".join(sorted(registry)), REGISTRY_HINT))
    return registry[name]


def agent_ports(registry, port_names):
    if not isinstance(port_names, Mapping):
        raise DatadogError("datadog_port_names must be a mapping of datadog.yaml setting to registry entry")
    missing = [k for k in REQUIRED_KEYS if k not in port_names]
    if missing:
        raise DatadogError("datadog_port_names lacks %s" % ", ".join(missing))
    entries = {key: _entry(registry, port_names[key], key) for key in REQUIRED_KEYS}
    for key, entry in entries.items():
        if key in LOOPBACK_ONLY and not is_loopback(entry.get("bind")):
            raise DatadogError(
                "registry entry %s binds %s, but the agent always binds its %s listener to loopback; "
                "set bind: 127.0.0.1 in %s" % (port_names[key], entry.get("bind"), key, REGISTRY_HINT))
        if key not in ("dogstatsd_port", "apm_receiver_port") and not entry.get("enabled", True):
            raise DatadogError(
                "registry entry %s is disabled, but the agent always opens %s; enable it in %s"
                % (port_names[key], key, REGISTRY_HINT))
        if entry.get("proto", "tcp") != ("udp" if key == "dogstatsd_port" else "tcp"):
            raise DatadogError("registry entry %s has proto %s, the agent's %s is %s"
                                     % (port_names[key], entry.get("proto"), key,
                                        "udp" if key == "dogstatsd_port" else "tcp"))
    cmd_bind = str(entries["cmd_port"]["bind"])
    if str(entries["process_cmd_port"]["bind"]) != cmd_bind:
        raise DatadogError(
            "registry entries %s and %s must share one bind address (datadog.yaml has one cmd_host)"
            % (port_names["cmd_port"], port_names["process_cmd_port"]))
    dsd_bind = str(entries["dogstatsd_port"]["bind"])
    apm_bind = str(entries["apm_receiver_port"]["bind"])
    specific = {b for b in (dsd_bind, apm_bind) if not is_wildcard(b)}
    if len(specific) > 1:
        raise DatadogError(
            "registry entries %s (%s) and %s (%s) must share one bind address (datadog.yaml has one bind_host) "
            "or bind 0.0.0.0" % (port_names["dogstatsd_port"], dsd_bind, port_names["apm_receiver_port"], apm_bind))
    return {
        "bind_host": specific.pop() if specific else "127.0.0.1",
        "cmd_host": connect_host(cmd_bind) if is_wildcard(cmd_bind) else cmd_bind,
        "expvar_port": int(entries["expvar_port"]["port"]),
        "cmd_port": int(entries["cmd_port"]["port"]),
        "GUI_port": -1,
        "use_dogstatsd": bool(entries["dogstatsd_port"].get("enabled", True)),
        "dogstatsd_port": int(entries["dogstatsd_port"]["port"]),
        "dogstatsd_non_local_traffic": is_wildcard(dsd_bind),
        "apm_config": {
            "enabled": bool(entries["apm_receiver_port"].get("enabled", True)),
            "receiver_port": int(entries["apm_receiver_port"]["port"]),
            "apm_non_local_traffic": is_wildcard(apm_bind),
            "debug": {"port": int(entries["apm_debug_port"]["port"])},
        },
        "process_config": {
            "expvar_port": int(entries["process_expvar_port"]["port"]),
            "cmd_port": int(entries["process_cmd_port"]["port"]),
        },
    }


def host_entries(registry, host_groups):
    return for_host(registry, host_groups, enabled_only=True)


def _derived(name, entries, opts):
    status_name = opts.get("nginx_status_name", "nginx_status")
    http_name = opts.get("nginx_http_name", "nginx_http")
    app_name = opts.get("app_name", "app_http")
    paths = opts.get("http_paths") or ["/"]
    tags = list(opts.get("tags") or [])
    if name == "nginx":
        if status_name not in entries:
            return None
        entry = entries[status_name]
        status_url = url(entry, opts.get("status_path", "/nginx_status"))
        return {"init_config": {}, "instances": [{"nginx_status_url": status_url, "tags": tags + ["berth_port:%s" % status_name]}]}
    apps = list(opts.get("apps") or [])
    if name == "http_check" and apps:
        # Per app (flask_apps): its health check on its own port, and every route through Nginx.
        instances = []
        for app in apps:
            app_tags = tags + ["berth_app:%s" % app["name"], "berth_port:%s" % app["port_name"]]
            if app["port_name"] in entries and not app.get("socket"):
                instances.append({"name": "%s app %s" % (app["name"], app["health"]["path"]),
                                  "url": url(entries[app["port_name"]], app["health"]["path"]),
                                  "timeout": opts.get("http_timeout", 5), "tags": app_tags + ["berth_via:app"]})
            if http_name in entries:
                for route in app["routes"]:
                    # The health path through this route when the route reaches it, else the route's
                    # own public path.
                    path = apps_core.public_path(route, app["health"]["path"]) or route["prefix"]
                    instances.append({"name": "%s nginx %s" % (app["name"], path), "url": url(entries[http_name], path),
                                      "timeout": opts.get("http_timeout", 5),
                                      "tags": tags + ["berth_app:%s" % app["name"], "berth_port:%s" % http_name,
                                                      "berth_via:nginx"]})
        return {"init_config": {}, "instances": instances} if instances else None
    if name == "http_check":
        instances = []
        for entry_name, via in ((http_name, "nginx"), (app_name, "app")):
            if entry_name not in entries:
                continue
            entry = entries[entry_name]
            for path in paths:
                instances.append({
                    "name": "%s %s" % (entry_name, path),
                    "url": url(entry, path),
                    "timeout": opts.get("http_timeout", 5),
                    "tags": tags + ["berth_port:%s" % entry_name, "berth_via:%s" % via],
                })
        return {"init_config": {}, "instances": instances} if instances else None
    if name == "tcp_check":
        instances = [{
            "name": "berth %s" % entry_name,
            "host": connect_host(entry["bind"]),
            "port": int(entry["port"]),
            "timeout": opts.get("tcp_timeout", 3),
            "tags": tags + ["berth_port:%s" % entry_name, "berth_service:%s" % entry.get("service", "")],
        } for entry_name, entry in sorted(entries.items()) if entry.get("proto", "tcp") == "tcp"]
        return {"init_config": {}, "instances": instances} if instances else None
    if name == "process":
        search = opts.get("process_search") or {}
        instances = []
        if http_name in entries or status_name in entries:
            instances.append({"name": "nginx", "search_string": list(search.get("nginx", ["nginx"])),
                              "exact_match": False, "tags": tags + ["berth_service:%s" % entries.get(
                                  http_name, entries.get(status_name, {})).get("service", "nginx")]})
        for app in apps:
            # The master's command line names the app's own gunicorn config: one instance per app.
            instances.append({"name": "gunicorn %s" % app["name"],
                              "search_string": ["%s/gunicorn.conf.py" % app["conf_dir"]], "exact_match": False,
                              "tags": tags + ["berth_app:%s" % app["name"], "berth_service:%s" % app["service"]]})
        if app_name in entries and not apps:
            instances.append({"name": "gunicorn", "search_string": list(search.get("app", ["gunicorn"])),
                              "exact_match": False, "tags": tags + ["berth_service:%s" % entries[app_name].get("service", "")]})
        return {"init_config": {}, "instances": instances} if instances else None
    if name == "berth_ports":
        # Built by the datadog_berth_ports_check filter from the registry's own per-host view.
        return opts.get("berth_ports_check") or None
    if name == "mysql":
        return _mysql(entries, opts, tags)
    if name == "tls":
        return _tls(entries, opts, tags)
    raise DatadogError(
        "datadog_checks.%s is 'derived', but the role derives only %s; "
        "give %s a mapping {init_config: ..., instances: [...]}"
        % (name, ", ".join(DERIVED[:-1]) + " and " + DERIVED[-1], name))


def _mysql(entries, opts, tags):
    """The mysql check on the host where the MariaDB entry applies and is enabled, else None."""
    entry_name = opts.get("mysql_name", "mariadb")
    if entry_name not in entries:
        return None
    entry = entries[entry_name]
    host = opts.get("host") or "this host"
    if entry.get("proto", "tcp") != "tcp":
        raise DatadogError(
            "datadog_checks.mysql: registry entry %s (datadog_mysql_port_name) has proto %s, but the mysql check "
            "connects over tcp; fix proto in berth_ports.%s or datadog_mysql_port_name"
            % (entry_name, entry.get("proto"), entry_name))
    password = opts.get("mysql_password")
    if password is None or not str(password).strip():
        raise DatadogError(
            "datadog_checks.mysql: registry entry %s applies to host %s and is enabled, but datadog_mysql_password "
            "(default: mariadb_monitor_password) is empty, so the agent could not log in to MariaDB; set "
            "vault_mariadb_monitor_password in inventories/<env>/group_vars/all/vault.yml and map it in "
            "group_vars/all/secrets.yml (mariadb_monitor_password: \"{{ vault_mariadb_monitor_password }}\"), "
            "or remove mysql from datadog_checks" % (entry_name, host))
    return {"init_config": {}, "instances": [{
        "host": connect_host(entry.get("bind")),
        "port": int(entry["port"]),
        "username": str(opts.get("mysql_user") or "datadog"),
        "password": REDACTED if opts.get("redact") else str(password),
        "tags": tags + ["berth_port:%s" % entry_name],
    }]}


def _tls(entries, opts, tags):
    """The tls check: per Nginx site with TLS on this host (nginx_sites), one instance per server name,
    connecting to the HTTPS entry with that name as SNI: expiry (days_warning, days_critical), chain and
    host-name match."""
    https_name = opts.get("https_name", "nginx_https")
    sites = [s for s in opts.get("tls_sites") or [] if s.get("tls") in ("acme", "files")]
    if https_name not in entries or not sites:
        return None
    entry = entries[https_name]
    instances = []
    for site in sites:
        for server_name in site["server_names"]:
            if server_name.startswith("*.") or server_name == "_":
                continue
            instance = {"name": "%s %s" % (site["name"], server_name), "server": connect_host(entry["bind"]),
                        "port": int(entry["port"]), "server_hostname": server_name,
                        "days_warning": int(opts.get("tls_days_warning", 14)),
                        "days_critical": int(opts.get("tls_days_critical", 7)),
                        "tls_verify": True, "tls_validate_hostname": True,
                        "tags": tags + ["berth_site:%s" % site["name"], "berth_port:%s" % https_name]}
            if opts.get("tls_ca_cert"):
                instance["tls_ca_cert"] = opts["tls_ca_cert"]
            instances.append(instance)
    if int(opts.get("tls_days_critical", 7)) >= int(opts.get("tls_days_warning", 14)):
        raise DatadogError("datadog_tls_days_critical (%s) must be fewer days than datadog_tls_days_warning (%s)"
                           % (opts.get("tls_days_critical"), opts.get("tls_days_warning")))
    return {"init_config": {}, "instances": instances} if instances else None


def checks_config(checks, registry, host_groups, options=None, redact=False):
    if not isinstance(checks, Mapping):
        raise DatadogError("datadog_checks must be a mapping of check name to 'derived' or a configuration")
    entries = host_entries(registry, host_groups)
    opts = dict(options or {}, redact=bool(redact))
    out = {}
    for name, value in checks.items():
        name = str(name)
        if value == "derived":
            conf = _derived(name, entries, opts)
        elif isinstance(value, Mapping):
            conf = dict(value)
        elif value in (None, False, "absent"):
            conf = None
        else:
            raise DatadogError("datadog_checks.%s must be 'derived', a mapping, or absent" % name)
        if conf is not None:
            out[name] = conf
    return out


HTTP_SERVICE_CHECK = "http.can_connect"


def berth_ports_check(host_entries, free_status="critical", interval=15, tags=None):
    if not isinstance(host_entries, Mapping):
        raise DatadogError("datadog_berth_ports_check expects the host's registry entries (berth_ports_for_host)")
    if free_status not in FREE_LEVELS:
        raise DatadogError("datadog_berth_ports_free_status must be one of %s, got %r"
                                 % (", ".join(FREE_LEVELS), free_status))
    instances = []
    for name in sorted(host_entries):
        entry = host_entries[name]
        if not isinstance(entry, Mapping) or not entry.get("enabled", True):
            continue
        instances.append({
            "entry": str(name),
            "port": int(entry["port"]),
            "proto": str(entry["proto"]),
            "bind": str(entry["bind"]),
            "service": str(entry["service"]),
            "user": str(entry["user"]),
            "free_status": free_status,
            "min_collection_interval": int(interval),
            "tags": list(tags or []),
        })
    return {"init_config": {}, "instances": instances} if instances else None


def _tag_value(text):
    """A tag value as Datadog stores it: lower case, other characters than a-z 0-9 _ - : . / as _."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_\-:./]", "_", str(text).lower())).strip("_")


def monitors(checks_by_host, options=None):
    opts = dict(options or {})
    notify = str(opts.get("notify") or "").strip()
    base_tags = list(opts.get("tags") or [])
    prefix = str(opts.get("prefix") or "[berth]")
    no_data = int(opts.get("no_data_timeframe") or 10)
    entries = {}
    routes = {}
    for checks in checks_by_host or []:
        if not isinstance(checks, Mapping):
            continue
        for inst in (checks.get("berth_ports") or {}).get("instances") or []:
            entries.setdefault(inst["entry"], inst)
        for inst in (checks.get("http_check") or {}).get("instances") or []:
            routes.setdefault(inst["name"], inst)
    monitors = []
    def monitor(name, query, message, thresholds, tags):
        """One service-check monitor definition (options of community.general.datadog_monitor)."""
        return {"name": name, "type": "service check", "query": query,
                "notification_message": message + ("\n" + notify if notify else ""),
                "thresholds": thresholds, "notify_no_data": True, "no_data_timeframe": no_data,
                "tags": base_tags + list(tags) + ["managed_by:berth"]}

    for name in sorted(entries):
        inst = entries[name]
        where = "%s/%s (bind %s)" % (inst["port"], inst["proto"], inst["bind"])
        message = (
            "[[#is_alert]]Port %s (%s) on [[host.name]] is not held by its unit %s (user %s): "
            "[[check_message]][[/is_alert]]\n"
            "[[#is_warning]]Nothing listens on port %s (%s) on [[host.name]]: [[check_message]][[/is_warning]]\n"
            "[[#is_recovery]]Port %s (%s) on [[host.name]] is held by %s again.[[/is_recovery]]\n"
            "Registry entry %s; port map: ansible-playbook playbooks/ports.yml --limit [[host.name]]"
            % (where, name, inst["service"], inst["user"], where, name, where, name, inst["service"], name))
        monitors.append(monitor(
            "%s port %s (%s/%s) owned by %s" % (prefix, name, inst["port"], inst["proto"], inst["service"]),
            '"%s".over("berth_port:%s").by("host").last(2).count_by_status()' % (SERVICE_CHECK, _tag_value(name)),
            message, {"ok": 1, "warning": 1, "critical": 1},
            ["berth_port:%s" % name, "berth_service:%s" % inst["service"]]))
    for name in sorted(routes):
        inst = routes[name]
        port_tags = [t for t in inst.get("tags") or [] if str(t).startswith(("berth_port:", "berth_via:"))]
        message = (
            "[[#is_alert]]%s does not answer on [[host.name]]: [[check_message]][[/is_alert]]\n"
            "[[#is_recovery]]%s answers again on [[host.name]].[[/is_recovery]]"
            % (inst["url"], inst["url"]))
        monitors.append(monitor(
            "%s route %s answers" % (prefix, name),
            '"%s".over("instance:%s").by("host").last(3).count_by_status()' % (HTTP_SERVICE_CHECK, _tag_value(name)),
            message, {"ok": 1, "warning": 1, "critical": 2}, port_tags))
    return monitors


# --- The apt source ----------------------------------------------------------------------------------

APT_SOURCE_HEADER = "# Ansible managed (berth.stack.datadog): the Datadog apt source; changes here are overwritten.\n"


def apt_source_entries(key_dir, key_names, listing, source_file, keyring, url, suite, component):
    """The berth_files entries of the Datadog apt source: the key directory, the key files of
    ``listing`` (the directory's names as the probe read them, None when it is absent) that are
    not in ``key_names`` removed, and the source file signed by the keyring."""
    if listing is not None and not isinstance(listing, (list, tuple)):
        raise TypeError("the key directory's listing must be a list of names, or None; got %s" % type(listing).__name__)
    entries = [{"path": key_dir, "state": "directory", "owner": "root", "group": "root", "mode": "0755"}]
    entries += [{"path": "%s/%s" % (key_dir, name), "state": "absent"}
                for name in sorted(listing or []) if name not in set(key_names)]
    content = "%sdeb [signed-by=%s] %s %s %s\n" % (APT_SOURCE_HEADER, keyring, url, suite, component)
    entries.append({"path": source_file, "owner": "root", "group": "root", "mode": "0644", "content": content})
    return entries


def apt_source_in_place(entries, stats, files):
    """Whether the host already has every entry of ``apt_source_entries`` as it is wanted, from the
    probe's ``stat`` (path -> type, owner, group, mode) and ``files`` (path -> content): then the
    datadog role makes no module run for its source."""
    stats, files = stats or {}, files or {}
    for entry in entries:
        if entry.get("state") == "absent":
            return False
        kind = "directory" if entry.get("state") == "directory" else "file"
        if stats.get(entry["path"]) != {"type": kind, "owner": entry["owner"], "group": entry["group"],
                                        "mode": entry["mode"]}:
            return False
        if kind == "file" and files.get(entry["path"]) != entry["content"]:
            return False
    return True
