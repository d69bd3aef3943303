# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The apps of a web host, as data: one definition read by every role.

``flask_apps`` (inventory) maps an app name to its settings; every setting it
leaves out comes from the fleet-wide ``flask_app_*`` variables (the
``defaults`` mapping the flask_app role builds). With ``flask_apps`` empty the
host runs one app built from the ``flask_app_*`` variables alone, exactly as a
one-app inventory always did.

:func:`normalize` turns that into a list of complete app records (sorted by
name) or raises :class:`AppError` listing every problem, each naming the
variable, the host and the fix. The flask_app role deploys from the records,
the nginx role routes to them (:func:`nginx_locations`), the datadog role
derives its checks from them, and the staged rollout gates them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core
except ImportError:  # outside Ansible (tools, the agent check): the core file beside this one
    import berth_registry as core  # type: ignore

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
WSGI_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*:[A-Za-z_][A-Za-z0-9_.()]*$")
RELEASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PREFIX_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,=:@%/-]*$")
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GUNICORN_RE = re.compile(r"^gunicorn([<>=!~ \[;]|$)", re.IGNORECASE)
# A health-check path: a URL path (and query), nothing that ends a line or a YAML/Nginx token.
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
# An absolute, normalized path berth may create, own and name in a unit file: no spaces, quotes,
# newlines or '%' (systemd specifiers), no empty, '.' or '..' component, no trailing '/'.
DIR_RE = re.compile(r"^(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$")
# Where each directory of an app may live (README: "Directories"). state_dir is systemd's
# StateDirectory= (its basename under /var/lib) and socket's directory RuntimeDirectory= (its
# basename under /run): any other place would not be the directory systemd creates.
DIR_RULES = {
    "root": (("/srv/", "/opt/", "/var/www/"), 0, "/srv/<app>"),
    "conf_dir": (("/etc/",), 0, "/etc/<app>"),
    "state_dir": (("/var/lib/",), 1, "/var/lib/<app>"),
    "socket": (("/run/",), 2, "/run/<app>/gunicorn.sock"),
}
# Directories below /etc, /var/lib, /run, /srv, /opt that belong to Debian's base system or to the
# stack's other roles: an app's directory (created root:<app> 0751/0750, a RuntimeDirectory= that
# systemd removes on stop) must not be one of them or inside one. Not exhaustive: a name missing
# here is accepted.
SYSTEM_SUBDIRS = frozenset((
    "alternatives", "apparmor", "apparmor.d", "apt", "backups", "ca-certificates", "cache", "containerd",
    "credentials", "cron.d", "cron.daily", "cron.hourly", "cron.monthly", "cron.weekly", "datadog-agent",
    "dbus", "dbus-1", "default", "dhcp", "docker", "dpkg", "environment.d", "grub.d", "initramfs",
    "initramfs-tools", "init.d", "kernel", "ld.so.conf.d", "lock", "log", "logrotate.d", "lvm", "lxc",
    "misc", "modprobe.d", "modules-load.d", "mount", "mysql", "mysqld", "netns", "network", "nftables",
    "nftables.d", "nginx", "pam", "pam.d", "polkit-1", "private", "profile.d", "python", "python3", "rsyslog.d",
    "security", "selinux", "shm", "skel", "ssh", "sshd", "ssl", "sudo", "sudoers.d", "sysctl.d", "systemd",
    "sysusers.d", "tmpfiles.d", "ucf", "udev", "update-motd.d", "user", "utmp",
))
# systemd units of Debian's base system and of the stack's own roles: an app's unit
# (/etc/systemd/system/<service>.service, written by berth) must never replace one of them.
SYSTEM_UNITS = frozenset((
    "apparmor", "apt-daily", "apt-daily-upgrade", "auditd", "chrony", "containerd", "cron", "datadog-agent",
    "datadog-agent-process", "datadog-agent-sysprobe", "datadog-agent-trace", "dbus", "dbus-broker", "docker",
    "e2scrub_all", "emergency", "exim4", "fail2ban", "fstrim", "getty", "ifup", "iptables", "logrotate",
    "man-db", "mariadb", "mysql", "networking", "nftables", "nginx", "ntp", "ntpsec", "polkit", "postfix",
    "rc-local", "rescue", "rsyslog", "serial-getty", "ssh", "sshd", "sudo", "ufw", "unattended-upgrades",
    "user", "user-runtime-dir", "berth-firewall",
))
# Environment variables berth derives for every app (the registry, the agent's entries, the
# vault): an app's env must not set them, or it would silently replace the derived value.
DERIVED_ENV = ("FLASK_SECRET_KEY", "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT", "DD_DOGSTATSD_PORT",
               "DD_TRACE_AGENT_URL", "DD_DOGSTATSD_URL")
DERIVED_ENV_PREFIX = "BERTH_"
# Control characters: never in an environment value, a secret or a path berth writes.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Nginx values an app's nginx settings (and the nginx role's) may take: a time such as 30s or
# 500ms, a size such as 1m, a count. Nothing else reaches a directive.
NGINX_TIME_RE = re.compile(r"^[0-9]{1,9}(ms|s|m|h|d|w|M|y)?$")
NGINX_SIZE_RE = re.compile(r"^[0-9]{1,12}[kKmMgG]?$")
# The ranges of an app's numeric settings (flask_apps.<app>.<key>, flask_app_<key>).
NUMBER_RANGES = {
    "workers": (1, 1024), "threads": (1, 1024), "timeout": (1, 86400), "graceful_timeout": (0, 86400),
    "keepalive": (0, 3600), "restart_sec": (0, 3600), "keep_releases": (0, 1000), "health_retries": (0, 1000),
    "health_delay": (0, 3600), "health_timeout": (1, 3600), "health_journal_lines": (0, 10000),
}

# Settings an app may set in flask_apps.<name>; each defaults to the fleet-wide value.
SHARED_KEYS = (
    "origins", "source_dir", "git_repo", "git_version", "release", "requirements", "requirements_file",
    "pip_extra_args", "packages", "workers", "threads", "timeout", "graceful_timeout", "keepalive",
    "restart_sec", "env", "health", "keep_releases", "private_users", "persistent", "static",
    "nginx", "health_retries", "health_delay", "health_timeout", "health_journal_lines",
    "system_site_packages", "secret_key_required",
)
APP_KEYS = SHARED_KEYS + ("port", "wsgi", "routes", "secret_key", "root", "conf_dir", "state_dir", "socket",
                          "database")
# One-app variables that have no fleet-wide meaning once flask_apps lists the apps.
SINGLE_APP_VARS = {
    "flask_app_name": "the app's key in flask_apps",
    "flask_app_port_name": "flask_apps.<app>.port",
    "flask_app_wsgi_app": "flask_apps.<app>.wsgi",
    "flask_app_socket": "flask_apps.<app>.socket",
    "flask_app_root": "flask_apps.<app>.root",
    "flask_app_conf_dir": "flask_apps.<app>.conf_dir",
    "flask_app_state_dir": "flask_apps.<app>.state_dir",
    "flask_app_user": "the registry entry's user (flask_apps.<app>.port names the entry)",
    "flask_app_group": "the registry entry's user (each app has its own group)",
    "flask_app_service": "the registry entry's service (flask_apps.<app>.port names the entry)",
    "flask_app_health_path": "flask_apps.<app>.health.path",
    "flask_app_database": "flask_apps.<app>.database",
}
HEALTH_KEYS = ("path", "status", "body", "json", "release_key")
NGINX_KEYS = ("keepalive", "connect_timeout", "send_timeout", "read_timeout", "max_fails", "fail_timeout")
# The kind of value of each: a time, or a count (minimum).
NGINX_KINDS = {"keepalive": 1, "connect_timeout": "time", "send_timeout": "time", "read_timeout": "time",
               "max_fails": 0, "fail_timeout": "time"}
# A route: `prefix` (every path under it) or `exact` (that path only) is the public path; `to` is
# the app path it maps to (`strip: true` is `to: /`); without `to` the app sees the path as it is.
ROUTE_KEYS = ("prefix", "exact", "to", "strip", "origins")
# A static prefix: one directory of the source, or a list of them (merged, the first one's file wins).
STATIC_KEYS = ("prefix", "dir", "origins")
# An origin an app's pages hard-code (the school's http://0.0.0.0:5001): scheme://host[:port].
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
DD_ENV = (("DD_TRACE_AGENT_PORT", "trace_entry"), ("DD_DOGSTATSD_PORT", "dogstatsd_entry"))
# An app's database: flask_apps.<app>.database (the one app: flask_app_database).
DATABASE_KEYS = ("name", "user", "entry", "server", "env", "in_url", "connect_timeout", "read_timeout",
                 "write_timeout", "dump_on_switch")
# What the app is told, and the variable it reads it from (flask_app_database_env by default).
DATABASE_ENV_KEYS = ("host", "port", "user", "password", "name", "connect_timeout", "read_timeout", "write_timeout")
DB_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Characters that would break an SQLAlchemy URL built by string formatting (in_url).
URL_UNSAFE_RE = re.compile(r"[@:/?#%\[\]\s]")


class AppError(ValueError):
    """flask_apps that cannot be deployed; the text lists every problem with its fix."""


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _safe_relpath(path):
    text = str(path)
    return bool(text) and not text.startswith("/") and ".." not in text.split("/") and not CONTROL_RE.search(text)


def _unknown(keys, known):
    """The unknown keys of a mapping, each with the known key it resembles."""
    return ", ".join("%s%s" % (k, core.did_you_mean(k, known)) for k in sorted(str(k) for k in keys))


def dir_error(kind, path):
    """Why ``path`` cannot be an app's ``kind`` (root, conf_dir, state_dir, socket), or None."""
    prefixes, depth, example = DIR_RULES[kind]
    text = str(path)
    if not DIR_RE.match(text) or any(part in (".", "..") for part in text.split("/")):
        return ("%r is not an absolute, normalized path (letters, digits, '.', '_', '-' between single '/'; "
                "no '..', spaces or trailing '/')" % (path,), "write e.g. %s" % example)
    prefix = next((p for p in prefixes if text.startswith(p)), None)
    below = text[len(prefix):].split("/") if prefix else []
    if prefix is None or (depth and len(below) != depth):
        where = " or ".join(p + "<name>" for p in prefixes) if not depth else example
        return ("%r is not under %s" % (path, where),
                "write e.g. %s%s" % (example, " (systemd creates that directory itself)" if depth else ""))
    if below[0] in SYSTEM_SUBDIRS:
        return ("%r is a system directory or inside one (%s%s)" % (path, prefix, below[0]),
                "give the app a directory of its own, e.g. %s" % example)
    return None


def bool_error(value):
    """Why ``value`` is not a boolean written as one (quoted "false" is true in Python), or None."""
    if isinstance(value, bool):
        return None
    return "%r is not a boolean" % (value,)


def int_in_range(value, low, high):
    """``(number, error)``: ``value`` as an integer in ``low..high`` (a bare number or its digits), or an error."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        return 0, "%r is not an integer" % (value,)
    number = int(value)
    if not low <= number <= high:
        return number, "%d is outside %d-%d" % (number, low, high)
    return number, None


def nginx_value_error(value, kind):
    """Why ``value`` is not an Nginx ``kind`` (``time``, ``size``, or a minimum count), or None."""
    if kind in ("time", "size"):
        pattern = NGINX_TIME_RE if kind == "time" else NGINX_SIZE_RE
        if isinstance(value, bool) or not pattern.match(str(value)):
            return "%r is not an Nginx %s (%s)" % (value, kind, "e.g. 30s, 500ms, 5m" if kind == "time" else "e.g. 1m, 512k")
        return None
    _, err = int_in_range(value, kind, 1000000)
    return err


def env_value_error(value):
    """Why ``value`` cannot be an environment value in the app's env file, or None."""
    if isinstance(value, (Mapping, list, tuple, set)) or value is None:
        return "%r is not a string or a number" % (value,)
    if CONTROL_RE.search(str(value)):
        return "%r contains a newline or another control character" % (value,)
    return None


def has_gunicorn(requirements):
    """True when a requirements list already names gunicorn (any pin or extra)."""
    return any(GUNICORN_RE.match(str(line).strip()) for line in requirements or ())


def secret_for(master, app_name, mode):
    """The Flask secret key of one app.

    ``legacy``: the one-app inventory's key as it is; ``derived``: HMAC-SHA256 of the app
    name under the fleet's key, so every app has its own key from one vault secret.
    """
    if not master:
        return ""
    if mode == "derived":
        return hmac.new(str(master).encode(), ("berth-app:" + app_name).encode(), hashlib.sha256).hexdigest()
    return str(master)


class _Checker(object):
    def __init__(self, host):
        self.host = host
        self.problems = []

    def add(self, variable, text, fix):
        self.problems.append("%s on %s: %s. Fix: %s." % (variable, self.host, text, fix))


def _route_list(check, var, value, keys, required):
    routes = []
    for index, item in enumerate(_as_list(value)):
        if isinstance(item, str):
            item = {"prefix": item}
        if not isinstance(item, Mapping):
            check.add("%s[%d]" % (var, index), "is %r, not a mapping" % (item,),
                      "write {%s}" % ", ".join("%s: ..." % k for k in required))
            continue
        unknown = sorted(set(item) - set(keys))
        if unknown:
            check.add("%s[%d]" % (var, index), "has unknown keys %s" % _unknown(unknown, keys),
                      "use only %s" % ", ".join(keys))
        missing = [k for k in required if not any(item.get(alt) for alt in k.split("|"))]
        if missing:
            check.add("%s[%d]" % (var, index), "lacks %s" % ", ".join(m.replace("|", " or ") for m in missing), "set it")
            continue
        routes.append(dict(item))
    return routes


def _origins(check, var, value):
    """The hard-coded origins Nginx rewrites to the site's own (a list of scheme://host[:port])."""
    origins = []
    for origin in _as_list(value):
        text = str(origin).rstrip("/")
        if not ORIGIN_RE.match(text):
            check.add(var, "%r is not an origin (scheme://host[:port], e.g. http://0.0.0.0:5001)" % (origin,),
                      "list the origins the app's pages and scripts hard-code")
            continue
        origins.append(text)
    return origins


def _route(check, var, route, origins, list_var=None):
    """A checked route: public path (``prefix`` or ``exact``), the app path it maps to (``to``; "" =
    the path as it is), ``strip``, ``exact`` and the origins rewritten in its responses."""
    exact = route.get("exact")
    if exact and route.get("prefix"):
        check.add(var, "has both prefix and exact", "keep one: prefix (a path and everything under it) or exact")
    public = str(exact or route.get("prefix") or "")
    to = route.get("to")
    strip = route.get("strip", False)
    if bool_error(strip):
        check.add(list_var or var, "strip of %s: %s" % (route.get("prefix") or route.get("exact"), bool_error(strip)),
                  "write strip: true or false (unquoted: a quoted \"false\" is true)")
        strip = False
    if strip and to is not None and str(to) != "/":
        check.add(var, "has strip and to %s" % to, "keep one: strip: true means to: /")
    if strip:
        to = "/"
    to = "" if to is None else str(to)
    out = {"prefix": public, "exact": bool(exact), "to": to, "strip": to == "/" and not exact,
           "origins": _origins(check, var + ".origins", route.get("origins", origins))}
    if not PREFIX_RE.match(public):
        check.add(var, "path %r is not a URL path starting with '/'" % (public,),
                  "write a path such as /api/ (no spaces, quotes, braces or ';')")
    elif to and not PREFIX_RE.match(to):
        check.add(var + ".to", "%r is not a URL path starting with '/'" % (to,), "write the app's path, e.g. /101-hbnb/")
    elif strip and not public.endswith("/"):
        check.add(var, "prefix %r must end with '/'" % (public,),
                  "write %s/ (a stripped or static prefix is replaced as a directory)" % public)
    elif to and not exact and public.endswith("/") != to.endswith("/"):
        check.add(var, "prefix %s and to %s must both end with '/' or neither" % (public, to),
                  "write e.g. {prefix: /, to: /101-hbnb/} (Nginx replaces the prefix by the app path)")
    return out


def _check_prefix(check, var, prefix, must_end_slash):
    if not PREFIX_RE.match(str(prefix)):
        check.add(var, "prefix %r is not a URL path starting with '/'" % (prefix,),
                  "write a path such as /api/ (no spaces, quotes, braces or ';')")
        return False
    if must_end_slash and not str(prefix).endswith("/"):
        check.add(var, "prefix %r must end with '/'" % (prefix,),
                  "write %s/ (a stripped or static prefix is replaced as a directory)" % prefix)
        return False
    return True


def _normalize_health(check, var, value, default):
    if value is None:
        value = default
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, Mapping):
        check.add(var, "is %r, not a mapping" % (value,), "write {path: /status, status: 200}")
        return dict(default)
    unknown = sorted(set(value) - set(HEALTH_KEYS))
    if unknown:
        check.add(var, "has unknown keys %s" % _unknown(unknown, HEALTH_KEYS), "use only %s" % ", ".join(HEALTH_KEYS))
    health = {"path": "/", "status": 200, "body": "", "json": {}, "release_key": ""}
    health.update({k: v for k, v in value.items() if k in HEALTH_KEYS and v is not None})
    if not str(health["path"]).startswith("/"):
        check.add(var + ".path", "%r does not start with '/'" % (health["path"],), "write the app's own path, e.g. /status")
    elif not HEALTH_PATH_RE.match(str(health["path"])):
        check.add(var + ".path", "%r is not a URL path (spaces, quotes, '#' or control characters)" % (health["path"],),
                  "write the app's own path, e.g. /status")
    try:
        health["status"] = [int(s) for s in _as_list(health["status"])]
    except (TypeError, ValueError):
        check.add(var + ".status", "%r is not an HTTP status or a list of them" % (health["status"],), "write e.g. 200")
        health["status"] = [200]
    if not isinstance(health["json"], Mapping):
        check.add(var + ".json", "is not a mapping of key to expected value", "write e.g. {status: OK}")
        health["json"] = {}
    health["json"] = dict(health["json"])
    health["body"] = str(health["body"])
    health["release_key"] = str(health["release_key"])
    return health


def _database(check, var, spec, context, entries, host, host_groups):
    """The app's database connection, derived from the registry; None when it declares none.

    ``context`` (the flask_app role's ``__flask_app_db_context``): ``group`` (inventory group
    of the servers), ``entry`` (default registry entry), ``env`` (default variable names),
    the default timeouts and ``dump_on_switch``, ``servers`` (host -> {address, entries}: each
    server host's own enabled entries) and ``users`` (account -> {databases, password: set,
    missing or url_unsafe}; never the password itself).
    """
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        check.add(var, "is not a mapping", "write {name: <database>, user: <mariadb_users account>}")
        return None
    context = context or {}
    unknown = sorted(set(spec) - set(DATABASE_KEYS))
    if unknown:
        check.add(var, "has unknown keys %s" % _unknown(unknown, DATABASE_KEYS), "use only %s" % ", ".join(DATABASE_KEYS))
    flags = {}
    for key, fallback in (("in_url", False), ("dump_on_switch", context.get("dump_on_switch", False))):
        value = spec.get(key, fallback)
        if bool_error(value):
            check.add(var + "." + key if key in spec else "flask_app_database_" + key, bool_error(value),
                      "write true or false (unquoted: a quoted \"false\" is true)")
            value = False
        flags[key] = value
    name, user = str(spec.get("name") or ""), str(spec.get("user") or "")
    if not DB_NAME_RE.match(name):
        check.add(var + ".name", "%r is not a database name (1-64 letters, digits, _)" % name,
                  "name a database of mariadb_databases")
    users = context.get("users") or {}
    account = users.get(user)
    if account is None:
        check.add(var + ".user", "names account %r, which mariadb_users does not define (accounts: %s)"
                  % (user, ", ".join(sorted(users)) or "none"), "add it to mariadb_users in group_vars/all")
    else:
        if name and name not in (account.get("databases") or []):
            check.add(var + ".user", "account %s is not granted database %s" % (user, name),
                      "add %s to mariadb_users.%s.databases" % (name, user))
        if account.get("password") == "missing":
            check.add("mariadb_users.%s.password" % user, "is empty",
                      "set it from a vault_* variable in group_vars/all/secrets.yml")
        elif account.get("password") == "control":
            check.add("mariadb_users.%s.password" % user, "contains a newline or another control character, which "
                      "would break the app's env file", "choose another password in the vault")
        elif account.get("password") == "url_unsafe" and spec.get("in_url"):
            check.add("mariadb_users.%s.password" % user,
                      "contains @ : / ? # % [ ] or a space, which break the URL the app builds (in_url)",
                      "choose a password of letters, digits and - _ . ~ ! * etc. in the vault")
    entry_name = str(spec.get("entry") or context.get("entry") or "mariadb")
    own = entries.get(entry_name)
    servers = context.get("servers") or {}
    group = str(context.get("group") or "db")
    wanted = spec.get("server")
    if wanted is None and isinstance(own, Mapping) and own.get("enabled", True) and core.applies(own, host_groups):
        server, address, entry = host, core.connect_host(own.get("bind")), own
    else:
        found = {h: v for h, v in servers.items()
                 if isinstance((v.get("entries") or {}).get(entry_name), Mapping)}
        if wanted is not None:
            found = {h: v for h, v in found.items() if h == str(wanted)}
        if len(found) != 1:
            check.add(var, "needs one server of registry entry %s, found %s%s" % (
                entry_name, ", ".join(sorted(found)) or "none",
                " (server: %s)" % wanted if wanted is not None else " in group %s or on this host" % group),
                "put the MariaDB host in group %s with %s enabled (berth_ports_overrides), or set %s.server"
                % (group, entry_name, var))
            return None
        server, info = next(iter(found.items()))
        entry = info["entries"][entry_name]
        address = str(info.get("address") or server) if server != host else core.connect_host(entry.get("bind"))
    if entry.get("proto", "tcp") != "tcp":
        check.add(var, "registry entry %s is not tcp" % entry_name, "fix berth_ports.%s" % entry_name)
    names = dict(context.get("env") or {})
    names.update({str(k): ("" if v is None else str(v)) for k, v in (spec.get("env") or {}).items()})
    for key, value in names.items():
        if key not in DATABASE_ENV_KEYS:
            check.add(var + ".env", "has unknown key %r" % key, "use only %s" % ", ".join(DATABASE_ENV_KEYS))
        elif value and not ENV_RE.match(value):
            check.add(var + ".env." + key, "%r is not an environment variable name" % value, "use letters, digits and '_'")
    timeouts = {}
    for key in ("connect_timeout", "read_timeout", "write_timeout"):
        value = spec.get(key, context.get(key, 0))
        try:
            timeouts[key] = int(value)
        except (TypeError, ValueError):
            timeouts[key] = 0
        if timeouts[key] < 1:
            check.add(var + "." + key, "%r is not a positive number of seconds" % (value,),
                      "set it (flask_app_database_%s is the default)" % key)
    port = int(entry.get("port") or 0)
    in_url = flags["in_url"]
    env = {}
    if in_url:
        # The app formats mysql+mysqldb://user:password@HOST/NAME: the port joins the host and
        # the timeouts join the name as URL query, which SQLAlchemy hands to the driver.
        if names.get("host"):
            env[names["host"]] = core.host_port(address, port)
        if names.get("name"):
            env[names["name"]] = "%s?%s" % (name, "&".join("%s=%d" % (k, timeouts[k]) for k in sorted(timeouts)))
    else:
        for key, value in (("host", address), ("port", port), ("name", name)):
            if names.get(key):
                env[names[key]] = str(value)
        for key in sorted(timeouts):
            if names.get(key):
                env[names[key]] = str(timeouts[key])
    if names.get("user"):
        env[names["user"]] = user
    if not names.get("password"):
        check.add(var + ".env.password", "is empty: the app would get no password", "name the variable the app reads")
    return {
        "name": name, "user": user, "entry": entry_name, "server": server, "host": address, "port": port,
        "local": server == host, "in_url": in_url, "env": env, "password_env": names.get("password") or "",
        "connect_timeout": timeouts["connect_timeout"], "read_timeout": timeouts["read_timeout"],
        "write_timeout": timeouts["write_timeout"],
        "dump_on_switch": flags["dump_on_switch"],
    }


def normalize(apps, defaults, registry, overrides=None, host="this host", host_groups=(), single_app_vars=None,
              databases=None, extra_settings=None, role_entries=None, deploying=True):
    """Complete, checked app records for one host (sorted by name), or :class:`AppError`.

    ``apps``: the inventory's ``flask_apps`` (name -> settings; empty -> one app from
    ``defaults``). ``defaults``: fleet-wide settings plus the one-app ones (``name``,
    ``port``, ``wsgi``, ``routes``, ``root``, ``conf_dir``, ``state_dir``, ``group``,
    ``socket``, ``secret_key``) and ``trace_entry`` / ``dogstatsd_entry`` (registry
    entries whose ports reach every app's environment). ``single_app_vars``: the
    one-app variables whose value differs from the role default; they are refused when
    ``apps`` lists the apps, naming their replacement. ``databases``: what an app's
    ``database`` is resolved against (see :func:`_database`). ``extra_settings``: setting ->
    type (``int``, ``bool``, ``str``, ``list``, ``dict`` or ``raw``) of further per-app settings
    (a new gunicorn setting: its flask_app_<key> default and argument spec are all it needs);
    each app takes its own value or the default, checked against the type. ``role_entries``:
    registry entry -> the variable of another role that names it (``nginx_http_port_name``...):
    no app may run on one of them, nor on an entry of one of their services (see
    :func:`_check_app_entry`). ``deploying``: the records are for the role that deploys the
    apps (flask_app); only then is an app without a secret key refused (Nginx and the agent,
    which only route to and watch the apps, never hold the key).
    """
    extra = dict(extra_settings or {})
    role_entries = dict(role_entries or {})
    check = _Checker(host)
    defaults = dict(defaults or {})
    entries, _, reg_problems = core.effective(registry, overrides)
    if reg_problems:
        raise AppError("; ".join(p.text for p in reg_problems))
    host_groups = frozenset(host_groups or ())
    if apps is None:
        apps = {}
    if not isinstance(apps, Mapping):
        raise AppError("flask_apps on %s is %s, not a mapping of app name to settings. Fix: write "
                       "flask_apps: {web_flask: {port: <registry entry>, wsgi: package.module:app, routes: [/]}}."
                       % (host, type(apps).__name__))
    single = not apps
    for variable in sorted(set(single_app_vars or ()) & {"flask_app_user", "flask_app_service"}):
        check.add(variable, "is no longer read: the app's account and unit are its registry entry's",
                  "remove %s and set %s" % (variable, SINGLE_APP_VARS[variable]))
    if not single:
        for variable in sorted(single_app_vars or ()):
            if variable in SINGLE_APP_VARS and variable not in ("flask_app_user", "flask_app_service"):
                check.add(variable, "is a one-app setting, but flask_apps lists the apps",
                          "set %s instead and remove %s" % (SINGLE_APP_VARS[variable], variable))
        specs = [(str(name), spec if spec is not None else {}) for name, spec in sorted(apps.items())]
    else:
        specs = [(str(defaults.get("name") or "hbnb"), {})]

    records = []
    for name, spec in specs:
        var = "flask_apps.%s" % name if not single else "flask_app_*"
        if not NAME_RE.match(name):
            check.add(var, "app name %r is not 1-31 lower-case letters, digits, '_' or '-', starting with a letter" % name,
                      "rename the key in flask_apps (it names /srv/<name>, /etc/<name>, /var/lib/<name>)")
            continue
        if not isinstance(spec, Mapping):
            check.add(var, "is %s, not a mapping of settings" % type(spec).__name__,
                      "write {port: <registry entry>, wsgi: package.module:app}")
            continue
        unknown = sorted(set(spec) - set(APP_KEYS) - set(extra))
        if unknown:
            check.add(var, "has unknown settings %s" % _unknown(unknown, set(APP_KEYS) | set(extra)),
                      "use only %s" % ", ".join(sorted(set(APP_KEYS) | set(extra))))

        def get(key, fallback=None, _spec=spec):
            if key in _spec and _spec[key] is not None:
                return _spec[key]
            return defaults.get(key, fallback)

        def where(key, _spec=spec, _name=name):
            """The variable a setting's value comes from: the app's own, else the fleet-wide one."""
            if not single and key in _spec and _spec[key] is not None:
                return "flask_apps.%s.%s" % (_name, key)
            return "flask_app_" + key

        port_name = str(spec.get("port") or (defaults.get("port") if single else name))
        entry = entries.get(port_name)
        if not isinstance(entry, Mapping):
            check.add(var + ".port" if not single else "flask_app_port_name",
                      "names registry entry '%s', which is not in berth_ports" % port_name,
                      "add %s to berth_ports in %s or name an existing entry (%s)"
                      % (port_name, core.REGISTRY_HINT, ", ".join(sorted(entries))))
            continue
        if not entry.get("enabled", True) or entry.get("proto") != "tcp" or not core.applies(entry, host_groups):
            check.add(var, "registry entry '%s' is %s" % (
                port_name, "disabled" if not entry.get("enabled", True) else
                ("not tcp" if entry.get("proto") != "tcp" else
                 "not opened on this host (groups %s)" % list(entry.get("groups") or []))),
                "gunicorn needs an enabled tcp entry for this host: fix berth_ports / berth_ports_overrides "
                "or the app's port")
            continue
        if not _check_app_entry(check, var + ".port" if not single else "flask_app_port_name", port_name, entry,
                                entries, role_entries):
            continue

        wsgi = str(spec.get("wsgi") or (defaults.get("wsgi") if single else ""))
        if not WSGI_RE.match(wsgi):
            check.add(var + ".wsgi" if not single else "flask_app_wsgi_app",
                      "WSGI target %r is not 'package.module:callable'" % wsgi,
                      "write it relative to the source root, e.g. web_flask.0-hello_route:app")

        release = str(get("release", "") or "")
        if release and (not RELEASE_RE.match(release) or ".." in release):
            check.add(var + ".release" if not single else "flask_app_release",
                      "%r is not a safe release id" % release,
                      "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'")

        requirements = [str(r) for r in _as_list(get("requirements", []))]
        requirements_file = str(get("requirements_file", "requirements.txt") or "")
        if not requirements and not _safe_relpath(requirements_file):
            check.add(where("requirements_file"), "%r is not a path inside the source" % requirements_file,
                      "name a file relative to the source root, or list pins in requirements")

        packages = [str(p) for p in _as_list(get("packages", []))]
        for package in packages:
            if not PACKAGE_RE.match(package):
                check.add(where("packages"), "%r is not a Debian package name" % package, "fix the list")

        env = get("env", {}) or {}
        env_var = where("env")
        if not isinstance(env, Mapping):
            check.add(env_var, "is not a mapping of variable to value", "write e.g. {HBNB_ENV: production}")
            env = {}
        for key in env:
            if not ENV_RE.match(str(key)):
                check.add(env_var, "%r is not an environment variable name" % (key,), "use letters, digits and '_'")
            elif str(key) in DERIVED_ENV or str(key).startswith(DERIVED_ENV_PREFIX):
                check.add(env_var, "sets %s, which berth derives for every app (%s)" % (key, (
                    "from the registry entry and the release" if str(key).startswith(DERIVED_ENV_PREFIX) else
                    "from the vault's flask_app_secret_key or the app's secret_key" if key == "FLASK_SECRET_KEY" else
                    "from the agent's registry entries, flask_app_trace_entry and flask_app_dogstatsd_entry")),
                    "remove %s from env: the derived value always reaches the app" % key)
            elif env_value_error(env[key]):
                check.add("%s.%s" % (env_var, key), env_value_error(env[key]),
                          "write a one-line value (a file the app reads for anything longer)")

        routes_var = var + ".routes" if "routes" in spec else "flask_app_routes"
        origins = _origins(check, where("origins"), get("origins", []))
        routes = [_route(check, "%s[%d]" % (routes_var, i), route, origins, routes_var) for i, route in enumerate(_route_list(
            check, routes_var, spec.get("routes") if "routes" in spec
            else defaults.get("routes", [{"prefix": "/"}] if single else []), ROUTE_KEYS, ("prefix|exact",)))]
        static_var = where("static")
        static = _route_list(check, static_var, get("static", []), STATIC_KEYS, ("prefix", "dir"))
        for item in static:
            _check_prefix(check, static_var, item["prefix"], True)
            dirs = [str(d).strip("/") for d in _as_list(item["dir"])]
            for one in dirs:
                if not _safe_relpath(one):
                    check.add(static_var, "dir %r is not a directory inside the source" % one,
                              "name it relative to the source root, e.g. web_dynamic/static")
            item["dir"] = dirs[0] if len(dirs) == 1 else dirs
            item["origins"] = _origins(check, static_var + ".origins", item.get("origins", origins))
        persistent = [str(p) for p in _as_list(get("persistent", []))]
        for path in persistent:
            if not _safe_relpath(path.rstrip("/")) or "/" in path.rstrip("/"):
                check.add(where("persistent"), "%r is not a file or directory name in the source root" % path,
                          "name the relative path the app writes, e.g. file.json (a trailing / for a directory)")

        nginx = get("nginx", {}) or {}
        nginx_var = where("nginx")
        if not isinstance(nginx, Mapping):
            check.add(nginx_var, "is %r, not a mapping" % (nginx,), "write e.g. {read_timeout: 60s}")
            nginx = {}
        elif set(nginx) - set(NGINX_KEYS):
            check.add(nginx_var, "has unknown keys %s" % _unknown(set(nginx) - set(NGINX_KEYS), NGINX_KEYS),
                      "use only %s" % ", ".join(NGINX_KEYS))
            nginx = {}
        for key, value in sorted(nginx.items()):
            err = nginx_value_error(value, NGINX_KINDS[key])
            if err:
                check.add("%s.%s" % (nginx_var, key), err,
                          "write %s" % ("a time such as 60s (Nginx units ms, s, m, h, d)" if NGINX_KINDS[key] == "time"
                                        else "a whole number of at least %d" % NGINX_KINDS[key]))

        health = _normalize_health(check, var + ".health" if spec.get("health") is not None else "flask_app_health",
                                  spec.get("health"), defaults.get("health") or {"path": "/"})
        secret_mode = "explicit" if spec.get("secret_key") else (
            "none" if not defaults.get("secret_key") else ("legacy" if single else "derived"))
        if secret_mode == "explicit" and CONTROL_RE.search(str(spec.get("secret_key"))):
            check.add(var + ".secret_key", "contains a newline or another control character",
                      "set a one-line key (e.g. python3 -c 'import secrets; print(secrets.token_hex(32))')")
        required = get("secret_key_required", True)
        if bool_error(required):
            check.add(where("secret_key_required"), bool_error(required),
                      "write true or false (unquoted: a quoted \"false\" is true)")
        elif secret_mode == "none" and required and deploying:
            check.add("flask_app_secret_key",
                      "is empty, so app %s would run without a Flask secret key (sessions and CSRF tokens signed "
                      "with nothing)" % name,
                      "set vault_flask_app_secret_key in the inventory's vault (inventories/<env>/group_vars/all/"
                      "vault.yml; group_vars/all/secrets.yml maps it to flask_app_secret_key), or give the app its "
                      "own %s.secret_key; if the app uses no sessions, set %s: false"
                      % ("flask_apps." + name if not single else "flask_apps.<app>",
                         "flask_apps.%s.secret_key_required" % name if not single else "flask_app_secret_key_required"))

        numbers = {}
        for key, (low, high) in sorted(NUMBER_RANGES.items()):
            numbers[key], err = int_in_range(get(key, low), low, high)
            if err:
                check.add(where(key), err, "write a whole number from %d to %d" % (low, high))
        flags = {}
        for key, fallback in (("private_users", True), ("system_site_packages", False)):
            flags[key] = get(key, fallback)
            if bool_error(flags[key]):
                check.add(where(key), bool_error(flags[key]), "write true or false (unquoted: a quoted \"false\" is true)")
                flags[key] = fallback

        dd_env = {}
        for env_name, entry_key in DD_ENV:
            dd_entry = entries.get(str(defaults.get(entry_key) or ""))
            if isinstance(dd_entry, Mapping) and dd_entry.get("enabled", True) and core.applies(dd_entry, host_groups):
                dd_env[env_name] = str(dd_entry.get("port"))
                dd_env.setdefault("DD_AGENT_HOST", core.connect_host(dd_entry.get("bind")))

        database = _database(check, var + ".database" if not single else "flask_app_database",
                             spec.get("database") if not single else defaults.get("database"),
                             databases, entries, host, host_groups)
        derived = (set((database or {}).get("env", {})) | {(database or {}).get("password_env")}) - {None, ""}
        for key in sorted(derived & set(env)):
            check.add(env_var, "sets %s, which the app's database settings derive" % key,
                      "remove it from env (it comes from the registry and mariadb_users%s)"
                      % (", the password from the vault" if key == database.get("password_env") else ""))

        user = str(entry.get("user"))
        group = str(defaults.get("group") or user) if single else user
        if single and defaults.get("group") and core.account_name_error(group):
            check.add("flask_app_group", core.account_name_error(group), "name a group such as hbnb, or leave it \"\"")
        dirs = {
            "root": str(spec.get("root") or (defaults.get("root") if single else "") or "/srv/" + name),
            "conf_dir": str(spec.get("conf_dir") or (defaults.get("conf_dir") if single else "") or "/etc/" + name),
            "state_dir": str(spec.get("state_dir") or (defaults.get("state_dir") if single else "") or "/var/lib/" + name),
            "socket": str(spec.get("socket") or (defaults.get("socket") if single else "") or ""),
        }
        for key, path in sorted(dirs.items()):
            if key == "socket" and not path:
                continue
            err = dir_error(key, path)
            if err:
                check.add(var + "." + key if key in spec else ("flask_app_" + key if single else var + "." + key),
                          err[0], err[1])
        record = {
            "name": name,
            "port_name": port_name,
            "bind": str(entry.get("bind")),
            "port": int(entry.get("port")) if not isinstance(entry.get("port"), bool) else 0,
            "connect_host": core.connect_host(entry.get("bind")),
            "user": user,
            "group": group,
            "service": str(entry.get("service")),
            "upstream": upstream_name(name),
            "root": dirs["root"],
            "conf_dir": dirs["conf_dir"],
            "state_dir": dirs["state_dir"],
            "socket": dirs["socket"],
            "wsgi": wsgi,
            "source_dir": str(get("source_dir", "") or ""),
            "git_repo": str(get("git_repo", "") or ""),
            "git_version": str(get("git_version", "HEAD") or "HEAD"),
            "release": release,
            "requirements": requirements + ([] if not requirements or has_gunicorn(requirements)
                                            else [str(defaults.get("gunicorn_requirement") or "gunicorn==23.0.0")]),
            "requirements_file": "" if requirements else requirements_file,
            "pip_extra_args": str(get("pip_extra_args", "") or ""),
            "packages": packages,
            "env": {str(k): str(v) for k, v in env.items()},
            "dd_env": dd_env,
            "routes": routes,
            "origins": origins,
            "static": static,
            "persistent": persistent,
            "nginx": dict(nginx),
            "health": health,
            "secret": secret_mode,
            "private_users": flags["private_users"],
            "system_site_packages": flags["system_site_packages"],
            "database": database,
        }
        record.update(numbers)
        for key, kind in sorted(extra.items()):
            record[key] = _typed(check, where(key), get(key), kind)
        records.append(record)

    _check_unique(check, records)
    if check.problems:
        raise AppError(" | ".join(check.problems))
    return records


def _check_app_entry(check, var, port_name, entry, entries, role_entries):
    """An app may run only on an entry of its own: not one another role's variable names
    (``role_entries``), not one whose service is one of those entries' services or a unit of the
    system (SYSTEM_UNITS), never as root or on a privileged port. berth writes the entry's
    service as /etc/systemd/system/<service>.service and runs gunicorn as its user on its port."""
    fix = ("give the app an entry of its own in berth_ports (its own service and user, a port >= 1024, bind "
           "127.0.0.1) and name it in %s" % var)
    if port_name in role_entries:
        check.add(var, "names registry entry '%s', which %s names (service %s, user %s): the app would replace "
                  "that service's unit and listen as its user" % (port_name, role_entries[port_name],
                                                                   entry.get("service"), entry.get("user")), fix)
        return False
    service = entry.get("service")
    owners = sorted(n for n in role_entries if isinstance(entries.get(n), Mapping)
                    and entries[n].get("service") == service)
    if owners:
        check.add(var, "names registry entry '%s', whose service %s is the service of %s (%s): the app would "
                  "replace that unit" % (port_name, service, owners[0], role_entries[owners[0]]), fix)
        return False
    if str(service) in SYSTEM_UNITS or str(service).startswith("systemd-"):
        check.add(var, "names registry entry '%s', whose service %s is a unit of the system or of another role: "
                  "berth would replace /etc/systemd/system/%s.service" % (port_name, service, service), fix)
        return False
    if entry.get("user") == "root":
        check.add(var, "names registry entry '%s', whose user is root: an app runs as an account of its own"
                  % port_name, fix)
        return False
    port = entry.get("port")
    if isinstance(port, int) and not isinstance(port, bool) and port < 1024:
        check.add(var, "names registry entry '%s', whose port %d is privileged (< 1024)" % (port_name, port), fix)
        return False
    return True


def _typed(check, var, value, kind):
    """``value`` as the argument spec's ``kind`` says, or a problem naming the variable."""
    if kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
            check.add(var, "%r is not an integer" % (value,), "write a number")
            return 0
        return int(value)
    if kind == "bool":
        if not isinstance(value, bool):
            check.add(var, "%r is not a boolean" % (value,), "write true or false (unquoted)")
            return False
        return value
    if kind == "str":
        return "" if value is None else str(value)
    if kind == "list":
        return list(_as_list(value))
    if kind == "dict":
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            check.add(var, "%r is not a mapping" % (value,), "write a mapping")
            return {}
        return dict(value)
    return value


def _check_unique(check, records):
    seen = {}
    for record in records:
        for key in ("port_name", "user", "service", "root", "conf_dir", "state_dir"):
            other = seen.setdefault((key, record[key]), record["name"])
            if other != record["name"]:
                check.add("flask_apps.%s" % record["name"], "shares its %s %r with app %s" % (key, record[key], other),
                          "give every app its own registry entry (own port, user and service) and directories")
        for item in record["routes"] + record["static"]:
            kind = "exact" if item.get("exact") else "prefix"
            other = seen.setdefault((kind, item["prefix"]), record["name"])
            if other != record["name"] or ("%s-in" % kind, record["name"], item["prefix"]) in seen:
                check.add("flask_apps.%s" % record["name"], "routes %s %s, which app %s routes too" % (kind, item["prefix"], other),
                          "give every %s to exactly one app" % kind)
            seen[("%s-in" % kind, record["name"], item["prefix"])] = True


def health_verdict(record, result, release=""):
    """Why a health-check answer (an ``ansible.builtin.uri`` result) fails the app's gate, or "" when it passes."""
    health = record["health"]
    result = result or {}
    status = result.get("status")
    if status not in health["status"]:
        return "status %s (expected %s)" % (status if status not in (None, -1) else "no answer",
                                             "/".join(str(s) for s in health["status"]))
    content = str(result.get("content") or "")
    if health["body"] and health["body"] not in content:
        return "body lacks %r" % health["body"]
    data = result.get("json")
    if (health["json"] or health["release_key"]) and not isinstance(data, Mapping):
        return "answer is not a JSON object"
    for key, value in health["json"].items():
        if key not in data or str(data[key]) != str(value):
            return "JSON %s is %r (expected %r)" % (key, data.get(key), value)
    if health["release_key"] and str(data.get(health["release_key"], "")) != str(release):
        return "JSON %s is %r (expected release %s)" % (health["release_key"], data.get(health["release_key"]), release)
    return ""


def probe_item(record, releases=None, url=""):
    """The fields of an app record the berth_apps_probe module reads, with the release wanted.

    With ``url`` (the health check's URL on the host), also what its gate polls: the health
    record, the socket and the retry settings.
    """
    item = {"name": record["name"], "root": record["root"], "service": record["service"], "user": record["user"],
            "port": 0 if record.get("socket") else record["port"], "bind": record["bind"],
            "release": (releases or {}).get(record["name"], "")}
    if url:
        item.update({"url": url, "socket": record.get("socket") or "", "health": record["health"]})
        item.update({key: record[key] for key in ("health_retries", "health_delay", "health_timeout")})
    return item


def unproved(states, records, releases):
    """Names of the apps whose probe state does not prove the wanted release serves.

    Where the release cannot be proved (root without CAP_SYS_PTRACE), the app's user holding its
    port is accepted: the health check already answered.
    """
    out = []
    for record in records:
        state = (states or {}).get(record["name"]) or {}
        if state.get("serving_release") == releases.get(record["name"]):
            continue
        if state.get("provable") is False and state.get("holds_port"):
            continue
        out.append(record["name"])
    return out


def nginx_locations(records):
    """Nginx locations for the apps: exact paths first, then prefixes, longest first.

    Each: ``{prefix, exact, app, kind: proxy|static, strip, to, upstream, alias, origins}``; a
    proxy location passes to ``upstream`` + ``to`` (Nginx replaces the matched public path by the
    app path; "" passes the path as it is); static files are served from
    ``<root>/current/public/<index>/`` (a world-readable copy made at build).
    """
    locations = []
    for record in records:
        for route in record["routes"]:
            locations.append({"prefix": route["prefix"], "exact": route["exact"], "app": record["name"], "kind": "proxy",
                              "strip": route["strip"], "to": route["to"], "upstream": record["upstream"], "alias": "",
                              "origins": list(route.get("origins") or [])})
        for index, item in enumerate(record["static"]):
            locations.append({"prefix": item["prefix"], "exact": False, "app": record["name"], "kind": "static",
                              "strip": False, "to": "", "upstream": "",
                              "alias": "%s/current/public/%d/" % (record["root"], index),
                              "origins": list(item.get("origins") or [])})
    return sorted(locations, key=lambda loc: (not loc["exact"], -len(loc["prefix"]), loc["prefix"]))


def serves_every_path(locations):
    """Whether one of the locations is the prefix / (every path no longer location takes)."""
    return any(loc["prefix"] == "/" and not loc["exact"] for loc in locations)


def public_path(route, path):
    """The path a client requests through ``route`` to reach the app's ``path``, or None."""
    if route.get("exact"):
        wanted = route["to"] or route["prefix"]
        return route["prefix"] if path == wanted else None
    if route["to"]:
        if path.startswith(route["to"]):
            return route["prefix"] + path[len(route["to"]):]
        if path + "/" == route["to"]:
            return route["prefix"].rstrip("/") or "/"
        return None
    if path.startswith(route["prefix"]) or path + "/" == route["prefix"]:
        return path
    return None


def upstream_name(app_name):
    """Nginx upstream of one app."""
    return "berth_app_" + re.sub(r"[^A-Za-z0-9_]", "_", app_name)


def nginx_path(record, path=None):
    """The path a client requests through Nginx to reach ``path`` (default: the health path) of the app.

    None when no route of the app reaches it. Exact routes first, then the longest prefix.
    """
    path = record["health"]["path"] if path is None else path
    for route in sorted(record["routes"], key=lambda r: (not r.get("exact"), -len(r["prefix"]))):
        found = public_path(route, path)
        if found is not None:
            return found
    return None
