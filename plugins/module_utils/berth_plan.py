# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The plan of one host: everything berth's roles render for it, derived from its inventory alone.

Every role of berth starts with the action ``berth.stack.berth_plan`` (``plugins/action/``),
which hands this module a :class:`View` of the host - its variables as the inventory, the
play and ``-e`` give them, with every role's ``defaults/main.yml`` behind them (the one place
each default lives) - and receives the role's section of the plan:

* ``flask_app``: the apps (complete, checked records), their releases, public environment,
  packages and what the host's probe must read;
* ``nginx``: the listeners, and either the host's apps as upstreams and locations (a web host)
  or the backends of a load balancer (``nginx_upstream_group``);
* ``datadog``: datadog.yaml's settings and every check, derived from the registry and the apps;
* ``mariadb``: the server's entry, databases and accounts (never a password);
* ``firewall``: the entries the host opens and their clients;
* ``packages``: every role's Debian packages for the host's one apt run;
* ``berth_ports``: the host's registry entries (the port guard's and the port map's input).

Because the sections read the same variables through the same functions, a role renders the
same files from the same inventory whatever the entry point, tags or ``--limit``: the nginx
and datadog roles know the host's apps when flask_app is not in the play. No section reads a
fact that a role's task set.

Given the probe's reading of the host (``decide``), the planner also decides what the
flask_app role installs and builds, and what a rollback goes back to; ``berth_deploy`` decides
what is restarted, reloaded, gated, restored and pruned afterwards.

Pure Python (stdlib and the collection's module_utils); every refusal is a :class:`PlanError`
listing each problem with the variable, the host and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_apps as apps_core
    from ansible_collections.berth.stack.plugins.module_utils import berth_apt as apt_core
    from ansible_collections.berth.stack.plugins.module_utils import berth_datadog as dd_core
    from ansible_collections.berth.stack.plugins.module_utils import berth_firewall as fw_core
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core
    from ansible_collections.berth.stack.plugins.module_utils import berth_sites as sites_core
except ImportError:  # outside Ansible: the files beside this one
    import berth_apps as apps_core  # type: ignore
    import berth_apt as apt_core  # type: ignore
    import berth_datadog as dd_core  # type: ignore
    import berth_firewall as fw_core  # type: ignore
    import berth_registry as core  # type: ignore
    import berth_sites as sites_core  # type: ignore

# Keys of the berth_plan action's result beside a section's own: no section may use them.
RESULT_KEYS = ("probe", "decision", "work_selected", "changed", "failed", "msg", "skipped", "conflicts", "ports")
ROLES = ("flask_app", "nginx", "datadog", "mariadb", "firewall", "berth_ports", "packages", "preflight")
# The roles whose packages the packages section can contribute, in apt-run order.
PACKAGE_ROLES = ("flask_app", "nginx", "mariadb", "datadog", "firewall")
# What the firewall role installs (its install task and site.yml's one apt run).
FIREWALL_PACKAGES = ("nftables",)
APT_LISTS = "/var/lib/apt/lists"
# certbot's renewal timer (Debian's certbot package): renewals run on the host, without Ansible.
ACME_TIMER = "certbot.timer"

# flask_app_<name> variables that are app settings under another key.
APP_KEY_OF = {
    "flask_app_port_name": "port",
    "flask_app_wsgi_app": "wsgi",
    "flask_app_source_git_repo": "git_repo",
    "flask_app_source_git_version": "git_version",
}
# flask_app_* variables that are not per-app settings (fleet-wide switches, the rollback's,
# the database context's, the secret key: classified below, never copied).
NOT_APP_SETTINGS = {
    "flask_app_only", "flask_app_venv_reuse", "flask_app_rollback_to", "flask_app_rollback_restore_dump",
    "flask_app_health_path", "flask_app_secret_key", "flask_app_database_group", "flask_app_database_entry",
    "flask_app_database_env", "flask_app_database_connect_timeout", "flask_app_database_read_timeout",
    "flask_app_database_write_timeout", "flask_app_database_dump_on_switch", "flask_app_user", "flask_app_service",
}
# One-app variables refused when flask_apps lists the apps (when set to something else than
# their default), and the ones that are gone.
SINGLE_APP_CHECKED = ("flask_app_name", "flask_app_port_name", "flask_app_wsgi_app", "flask_app_socket",
                      "flask_app_health_path", "flask_app_database")
GONE = {
    "flask_app_user": "the registry entry's user",
    "flask_app_service": "the registry entry's service",
    "nginx_app_port_name": "the host's apps (flask_apps, or flask_app_port_name for the one app)",
}
# Settings the app records know already (berth_apps.APP_KEYS) need no type from the specs.
SAMPLE_SOURCE = "roles/flask_app/files/hello"
UNIT_DIR = "/etc/systemd/system"
# The Description= every unit berth writes for an app starts with (templates/flask_app.service.j2).
UNIT_DESCRIPTION = "berth flask_app "
# The variables of the other roles that name a registry entry: no app may run on one of those
# entries or on an entry of their services (berth_apps._check_app_entry). datadog_port_names'
# values are added by role_entries().
ROLE_ENTRY_VARS = ("nginx_http_port_name", "nginx_https_port_name", "nginx_status_port_name", "mariadb_port_name",
                   "datadog_nginx_status_port_name", "datadog_nginx_http_port_name", "datadog_mysql_port_name",
                   "flask_app_trace_entry", "flask_app_dogstatsd_entry", "flask_app_database_entry")
# Ansible's own spellings of a boolean (ansible.module_utils.parsing.convert_bool), accepted only
# for the run switches given as -e name=value on the command line, where every value is a string.
CLI_TRUE = ("true", "yes", "on", "1", "t", "y")
CLI_FALSE = ("false", "no", "off", "0", "f", "n")
# Datadog checks whose conf.yaml holds a secret (the mysql check's password): the plan holds them
# redacted, the role writes them as berth_files secret entries.
DATADOG_SECRET_CHECKS = ("mysql",)


class PlanError(ValueError):
    """Inputs berth cannot deploy; the text lists every problem with variable, host and fix."""


class _Problems(object):
    def __init__(self, host):
        self.host = host
        self.items = []

    def add(self, text):
        if text not in self.items:
            self.items.append(text)

    def raise_if_any(self):
        if self.items:
            raise PlanError(" | ".join(self.items))


class View(object):
    """One host's variables as the planner reads them.

    ``values``: the host's own variables (inventory, play, role parameters, ``-e``), templated
    on access (a mapping: ``in`` and ``[]``); ``defaults``: every role's defaults (a mapping,
    templated on access); ``all_groups``: the ``groups`` magic variable; ``peer``: host name ->
    :class:`View` of another host (its inventory variables and the defaults); ``tree_hash``:
    directory -> release id of a local source (the controller's); ``specs``: variable ->
    argument spec (type) of every role; ``root``: the collection's root directory.
    """

    def __init__(self, name, groups, all_groups, values, defaults, peer=None, tree_hash=None, specs=None,
                 root="", check_mode=False):
        self.name = str(name)
        self.groups = [str(g) for g in (groups or [])]
        self.all_groups = all_groups or {}
        self._values = values if values is not None else {}
        self._defaults = defaults if defaults is not None else {}
        self._peer = peer
        self._tree_hash = tree_hash
        self.specs = specs or {}
        self.root = root
        self.check_mode = bool(check_mode)
        self._cache = {}

    def get(self, name, default=None):
        if name in self._values:
            return self._values[name]
        if name in self._defaults:
            return self._defaults[name]
        return default

    def default_names(self, prefix=""):
        """The names of every role default that start with ``prefix``, sorted."""
        return sorted(n for n in self._defaults if str(n).startswith(prefix))

    def default(self, name, fallback=None):
        return self._defaults[name] if name in self._defaults else fallback

    def has(self, name):
        return name in self._values or name in self._defaults

    def is_set(self, name):
        """True when the host's variables give ``name`` a value other than its role default."""
        if name not in self._values:
            return False
        if name not in self._defaults:
            return True
        return self._values[name] != self._defaults[name]

    def peer(self, host):
        host = str(host)
        if host == self.name:
            return self
        if self._peer is None:
            raise PlanError("the plan of %s needs host %s's variables, which are not available" % (self.name, host))
        return self._peer(host)

    def tree_hash(self, path):
        if self._tree_hash is None:
            raise PlanError("no tree hash available for %s" % path)
        return self._tree_hash(path)

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def _mapping(value):
    return value if isinstance(value, Mapping) else {}


def flag(v, name, cli=False):
    """The boolean variable ``name``, or :class:`PlanError`: a quoted "false" is a non-empty string,
    true to Python and false to Ansible's ``| bool``, so only true and false are accepted. ``cli``:
    a run switch documented as ``-e name=true``, where Ansible's spellings (true/false, yes/no,
    on/off, 1/0) are read as Ansible reads them."""
    value = v.get(name)
    if isinstance(value, bool):
        return value
    if cli and isinstance(value, str) and value.strip().lower() in CLI_TRUE + CLI_FALSE:
        return value.strip().lower() in CLI_TRUE
    raise PlanError("%s on %s: %r is not a boolean. Fix: write true or false unquoted in the inventory (a quoted "
                    "\"false\" is true), or -e '{\"%s\": false}' on the command line." % (name, v.name, value, name))


def role_entries(v):
    """Registry entry -> the variable of another role that names it (berth_apps.normalize's
    ``role_entries``): nginx's, MariaDB's, the agent's and the entries the apps' environment
    points at."""
    out = {}
    for variable in ROLE_ENTRY_VARS:
        if v.get(variable):
            out.setdefault(str(v.get(variable)), variable)
    for key, name in sorted(_mapping(v.get("datadog_port_names")).items()):
        if name:
            out.setdefault(str(name), "datadog_port_names.%s" % key)
    return out


def groups_of(all_groups, host):
    """The groups a host belongs to (from the ``groups`` magic variable)."""
    return sorted(g for g, members in (all_groups or {}).items()
                  if g not in ("all", "ungrouped") and host in (members or []))


# --- The registry ---------------------------------------------------------------------------------

def registry(v):
    """The host's effective registry (every entry, overrides merged), checked as
    ``playbooks/validate.yml`` checks it (berth_registry.check_entries: every key, type and name,
    conflicts between the entries that apply to the host), or :class:`PlanError` listing every
    problem: a role run without the validation play refuses what that play would."""
    def compute():
        entries, overridden, problems = core.effective(v.get("berth_ports"), v.get("berth_ports_overrides") or {})
        if not problems:
            known = set(v.all_groups) - {"all", "ungrouped"} if v.all_groups else None
            problems = core.check_entries(entries, overridden, v.groups, known)
        if problems:
            raise PlanError(" | ".join(_registry_problem(v, p, overridden) for p in problems))
        return entries
    return v.cached("registry", compute)


def _registry_problem(v, problem, overridden=frozenset()):
    if len(problem.names) == 1 and problem.kind not in ("registry", "overrides"):
        name = problem.names[0]
        variable = ("berth_ports_overrides.%s" if name in overridden else "berth_ports.%s") % name
    else:
        variable = problem.names[0] if len(problem.names) == 1 else "berth_ports"
    return "%s on %s: %s. Fix: %s." % (variable, v.name, problem.text,
                                      problem.fix.replace("{registry_file}", registry_file(v)))


def registry_file(v):
    return core.registry_file(v.get("inventory_dir"))


def host_entries(v, enabled_only=False):
    """The entries that apply to this host (reserved ones included unless ``enabled_only``)."""
    return core.for_host(registry(v), v.groups, enabled_only)


def entry(v, variable, problems=None):
    """The effective entry named by the variable ``variable`` (e.g. nginx_http_port_name)."""
    name = str(v.get(variable) or "")
    entries = registry(v)
    if name not in entries:
        text = ("%s on %s names registry entry '%s', which is not in berth_ports. Fix: add it to %s or name an "
                "existing entry (%s)." % (variable, v.name, name, registry_file(v), ", ".join(sorted(entries))))
        if problems is None:
            raise PlanError(text)
        problems.add(text)
        return None
    return entries[name]


def _opened_here(entry_, groups):
    return entry_.get("enabled", True) is not False and core.applies(entry_, groups)


# --- The apps --------------------------------------------------------------------------------------

def app_settings(v):
    """The fleet-wide and one-app settings every app of flask_apps inherits, from the flask_app_*
    variables (berth_apps.normalize's ``defaults``), and the extra settings' types.

    Every flask_app_<key> variable of the role's defaults is the app setting <key> (a few are
    renamed, APP_KEY_OF): a new gunicorn setting needs its default, its argument spec and the
    template that renders it, nothing here.
    """
    def compute():
        defaults = {}
        extra = {}
        known = set(apps_core.APP_KEYS) | {"name", "group", "gunicorn_requirement", "trace_entry",
                                           "dogstatsd_entry", "health_path"}
        for variable in v.default_names("flask_app_"):
            if variable in NOT_APP_SETTINGS:
                continue
            key = APP_KEY_OF.get(variable, variable[len("flask_app_"):])
            defaults[key] = v.get(variable)
            if key not in known:
                extra[key] = (v.specs.get(variable) or {}).get("type", "raw")
        if not defaults.get("source_dir"):
            defaults["source_dir"] = os.path.join(v.root, SAMPLE_SOURCE)
        name = str(defaults.get("name") or "hbnb")
        for key, base in (("root", "/srv/"), ("conf_dir", "/etc/"), ("state_dir", "/var/lib/")):
            defaults[key] = defaults.get(key) or base + name
        health = v.get("flask_app_health")
        health = dict(health) if isinstance(health, Mapping) else health
        if isinstance(health, dict) and not health.get("path"):
            health["path"] = v.get("flask_app_health_path") or "/"
        defaults["health"] = health
        defaults["secret_key"] = "set" if str(v.get("flask_app_secret_key") or "").strip() else ""
        return defaults, extra
    return v.cached("app_settings", compute)


def db_context(v):
    """What an app's database resolves against (berth_apps._database): each server host's own
    enabled entries and address, and the accounts of mariadb_users without their passwords."""
    group = str(v.get("flask_app_database_group") or "db")
    servers = {}
    for host in v.all_groups.get(group) or []:
        peer = v.peer(host)
        try:
            entries = core.for_host(registry(peer), peer.groups, True)
        except PlanError:
            entries = {}
        servers[str(host)] = {"address": str(peer.get("ansible_host") or host), "entries": entries}
    users = {}
    for name, account in _mapping(v.get("mariadb_users")).items():
        account = _mapping(account)
        password = str(account.get("password") or "")
        users[str(name)] = {
            "databases": list(account.get("databases") or []),
            "password": "missing" if not password.strip() else (
                "control" if apps_core.CONTROL_RE.search(password) else
                "url_unsafe" if apps_core.URL_UNSAFE_RE.search(password) else "set"),
        }
    return {"group": group, "entry": v.get("flask_app_database_entry"), "env": v.get("flask_app_database_env"),
            "connect_timeout": v.get("flask_app_database_connect_timeout"),
            "read_timeout": v.get("flask_app_database_read_timeout"),
            "write_timeout": v.get("flask_app_database_write_timeout"),
            "dump_on_switch": v.get("flask_app_database_dump_on_switch"),
            "servers": servers, "users": users}


def single_app_set(v):
    """The one-app variables the host sets (berth_apps.normalize's ``single_app_vars``)."""
    found = [name for name in SINGLE_APP_CHECKED if v.is_set(name)]
    return found + [name for name in ("flask_app_user", "flask_app_service") if v.has(name)]


def apps(v, required=False):
    """The apps of this host: complete, checked records (berth_apps.normalize).

    With flask_apps empty, the host runs the one app of the flask_app_* variables where its
    registry entry (flask_app_port_name) is opened; elsewhere (a load balancer, a database
    host) it has none, unless ``required`` (the flask_app role itself), which refuses then.
    """
    def compute():
        entries = registry(v)  # checked first: the apps take their entries from it
        defaults, extra = app_settings(v)
        flask_apps = v.get("flask_apps") or {}
        if not flask_apps and not required:
            one = entries.get(str(defaults.get("port") or ""))
            if not (isinstance(one, Mapping) and one.get("proto") == "tcp" and _opened_here(one, v.groups)):
                return []
        try:
            return apps_core.normalize(flask_apps, defaults, v.get("berth_ports"), v.get("berth_ports_overrides") or {},
                                       v.name, v.groups, single_app_set(v), db_context(v), extra, role_entries(v),
                                       deploying=required)
        except apps_core.AppError as exc:
            raise PlanError(str(exc))
    return v.cached(("apps", bool(required)), compute)


def app_env(v, record):
    """The public environment of an app (its env file without BERTH_RELEASE and the secrets)."""
    env = {"BERTH_APP": record["name"], "BERTH_PORT": str(record["port"]), "BERTH_BIND": record["bind"],
           "BERTH_STATE_DIR": record["state_dir"]}
    env.update(record["dd_env"])
    env.update((record.get("database") or {}).get("env") or {})
    env.update(record["env"])
    return env


def app_secrets(v, records):
    """App name -> its secret environment (the Flask secret key, the database password).

    Only for templates and modules that run under no_log; never part of a plan result.
    """
    master = v.get("flask_app_secret_key") or ""
    flask_apps = _mapping(v.get("flask_apps"))
    users = _mapping(v.get("mariadb_users"))
    out = {}
    for record in records:
        if record["secret"] == "explicit":
            secret = str(_mapping(flask_apps.get(record["name"])).get("secret_key") or "")
        elif record["secret"] == "none":
            secret = ""
        else:
            secret = apps_core.secret_for(master, record["name"], record["secret"])
        env = {"FLASK_SECRET_KEY": secret} if secret else {}
        database = record.get("database")
        if database:
            env[database["password_env"]] = str(_mapping(users.get(database["user"])).get("password") or "")
        out[record["name"]] = env
    return out


def db_client_options(v, records):
    """App name -> the [client] options of its database account (password included), for
    mariadb-dump and mariadb on stdin. Only under no_log."""
    users = _mapping(v.get("mariadb_users"))
    out = {}
    for record in records:
        database = record.get("database")
        if not database:
            continue
        password = str(_mapping(users.get(database["user"])).get("password") or "")
        password = password.replace("\\", "\\\\").replace('"', '\\"')
        # skip-ssl: the server has no TLS certificate (roles/mariadb does not configure TLS; its
        # firewall admits only the web hosts), and Debian 13's client would refuse it otherwise.
        out[record["name"]] = '[client]\nhost=%s\nport=%s\nuser=%s\npassword="%s"\nskip-ssl\n' % (
            database["host"], database["port"], database["user"], password)
    return out


def _var(record, key, single_var, many):
    return ("flask_apps.%s.%s" % (record["name"], key)) if many else single_var


def flask_app(v):
    """The flask_app role's section: the apps of the host and everything their deploy needs."""
    problems = _Problems(v.name)
    records = apps(v, required=True)
    many = bool(v.get("flask_apps"))
    names = [r["name"] for r in records]
    only = [str(n) for n in (v.get("flask_app_only") or [])]
    unknown = [n for n in only if n not in names]
    if unknown:
        problems.add("flask_app_only names %s, not an app of %s (apps: %s). Fix: name apps of flask_apps."
                     % (", ".join(unknown), v.name, ", ".join(names)))
    for record in records:
        if record["git_repo"]:
            continue
        source = record["source_dir"]
        if not os.path.isdir(source) or not os.listdir(source) or (
                record["requirements_file"] and not os.path.isfile(os.path.join(source, record["requirements_file"]))):
            problems.add(
                "flask_app_source_dir '%s' on %s is missing, empty or has no %s (app %s). Fix: point "
                "flask_app_source_dir (or flask_apps.<app>.source_dir) at the app's source tree, list pins in "
                "flask_app_requirements (flask_apps.<app>.requirements) when the repository has no requirements "
                "file, or set flask_app_source_git_repo." % (source, v.name, record["requirements_file"] or "files",
                                                            record["name"]))
    problems.raise_if_any()
    selected = only or names
    releases = {}
    for record in records:
        if record["release"]:
            releases[record["name"]] = record["release"]
        elif not record["git_repo"]:
            releases[record["name"]] = v.tree_hash(record["source_dir"])
    packages = ["python3-venv"]
    if any(r["git_repo"] for r in records):
        packages.append("git")
    if any((r.get("database") or {}).get("dump_on_switch") for r in records):
        packages.append("mariadb-client")
    for record in records:
        packages.extend(p for p in record["packages"] if p not in packages)
    for record in records:
        record["var"] = "flask_apps.%s" % record["name"] if many else ""
        record["check_attempts"] = 3 if record.get("database") else 1
    return {
        "host": v.name,
        "apps": records,
        "selected": [n for n in names if n in selected],
        "many": many,
        "releases": releases,
        "env": {r["name"]: app_env(v, r) for r in records},
        "packages": packages,
        "venv_reuse": flag(v, "flask_app_venv_reuse"),
        "gunicorn_requirement": str(v.get("flask_app_gunicorn_requirement") or ""),
        "venv_roots": sorted({r["root"] for r in records}),
        "unit_dir": UNIT_DIR,
        "rollback_to": v.get("flask_app_rollback_to") or "",
        "rollback_restore_dump": flag(v, "flask_app_rollback_restore_dump", cli=True),
    }


def flask_app_probe(section, releases=None):
    """What the flask_app role's probe reads: every app's releases (the wanted one included),
    the packages, accounts, units and apt's lists."""
    releases = dict(section["releases"], **(releases or {}))
    records = section["apps"]
    return {
        "apps": [apps_core.probe_item(r, releases) for r in records],
        "packages": section["packages"],
        "accounts": {"users": sorted({r["user"] for r in records}), "groups": sorted({r["group"] for r in records})},
        "units": [r["service"] + ".service" for r in records],
        "list": [APT_LISTS],
        "stat": [d["path"] for d in flask_app_dirs(records)],
    }


def flask_app_dirs(records):
    """Every app's code and config directories: root-owned, the app group's, o=x where the Nginx
    worker traverses to a release's public/ copy."""
    dirs = []
    for record in records:
        for path, mode in ((record["root"], "0751"), (record["root"] + "/releases", "0751"), (record["conf_dir"], "0750")):
            dirs.append({"path": path, "state": "directory", "owner": "root", "group": record["group"], "mode": mode})
    return dirs


def flask_app_decide(section, probe, releases=None):
    """What the flask_app role does on this host, from its probe: packages to install, accounts
    to create or correct, directories, the git apps to fetch, the releases to build, the apps
    not running and those already deployed (a first deploy starts instead of restarting)."""
    releases = dict(section["releases"], **(releases or {}))
    host = _mapping(probe.get("host"))
    states = _mapping(probe.get("apps"))
    records = section["apps"]
    selected = [r for r in records if r["name"] in section["selected"]]
    users = _mapping(host.get("users"))
    have_groups = _mapping(host.get("groups"))
    accounts = {"groups": sorted({r["group"] for r in records if r["group"] not in have_groups}), "users": []}
    seen = set()
    for record in records:
        if record["user"] in seen:
            continue
        seen.add(record["user"])
        have = users.get(record["user"])
        wanted = {"group": record["group"], "shell": "/usr/sbin/nologin", "home": record["state_dir"],
                  "comment": "berth flask_app " + record["name"]}
        if not (have and all(have.get(k) == val for k, val in wanted.items())):
            accounts["users"].append(dict(wanted, name=record["user"], exists=bool(have)))
    # Only the directories the probe did not find as wanted: a set-up host makes no module run for them.
    stats = _mapping(host.get("stat"))
    dirs = [d for d in flask_app_dirs(records)
            if _mapping(stats.get(d["path"])) != {"type": "directory", "owner": d["owner"], "group": d["group"],
                                                  "mode": d["mode"]}]
    units = _mapping(host.get("units"))
    foreign = []
    for record in records:
        unit = _mapping(units.get(record["service"] + ".service"))
        path = str(unit.get("path") or "")
        if path and (path != "%s/%s.service" % (UNIT_DIR, record["service"])
                     or not str(unit.get("description") or "").startswith(UNIT_DESCRIPTION)):
            foreign.append(
                "%s on %s: the unit %s.service of registry entry %s already exists and is not one berth wrote (%s, "
                "Description=%s): deploying the app would replace it. Fix: give the entry a service of its own "
                "(berth_ports.%s.service), or remove that unit if it is a leftover."
                % (record["var"] + ".port" if record.get("var") else "flask_app_port_name", section.get("host", "this host"),
                   record["service"],
                   record["port_name"], path, unit.get("description") or "", record["port_name"]))
    if foreign:
        raise PlanError(" | ".join(foreign))
    not_running = [r["name"] for r in selected
                   if not (_mapping(units.get(r["service"] + ".service")).get("enabled")
                           and _mapping(units.get(r["service"] + ".service")).get("active"))]
    build = [r["name"] for r in selected
             if r["name"] in releases and not _mapping(states.get(r["name"])).get("built")]
    missing = _missing(section["packages"], host)
    # A switch that was never applied (a run killed between moving `current` and restarting the
    # app): `current` is the wanted release, the running process serves another. Applied and
    # gated again now; a failed gate puts back the release that serves.
    unapplied = {}
    for record in selected:
        state = _mapping(states.get(record["name"]))
        serving = str(state.get("serving_release") or "")
        if (record["name"] in releases and state.get("current_release") == releases[record["name"]]
                and serving and serving != releases[record["name"]] and record["name"] not in not_running):
            unapplied[record["name"]] = serving
    return {
        "missing_packages": missing,
        "apt_cache_valid_time": apt_core.cache_valid_time(_mapping(host.get("dirs")).get(APT_LISTS), 86400),
        "accounts": accounts,
        "dirs": dirs,
        "git": [r["name"] for r in selected if r["git_repo"]],
        "build": build,
        "not_running": not_running,
        "deployed": [r["name"] for r in selected if _mapping(states.get(r["name"])).get("current")],
        "unapplied": unapplied,
        "releases": releases,
    }


def rollback_decide(section, probe):
    """The release each selected app goes back to (flask_app_rollback_to, else its previous),
    or PlanError naming every app that has none, before anything changes."""
    named = section["rollback_to"]
    states = _mapping(probe.get("apps"))
    targets, problems = {}, []
    for record in section["apps"]:
        if record["name"] not in section["selected"]:
            continue
        wanted = (str(named.get(record["name"], "")) if isinstance(named, Mapping) else str(named or ""))
        if wanted and (not apps_core.RELEASE_RE.match(wanted) or ".." in wanted):
            problems.append("flask_app_rollback_to '%s' on %s is not a release id (letters, digits, '.', '_', '-'; "
                            "no '/' or '..')." % (wanted, section.get("host", "this host")))
            continue
        state = _mapping(states.get(record["name"]))
        target = (record["root"] + "/releases/" + wanted) if wanted else str(state.get("previous") or "")
        targets[record["name"]] = target
        if not target or os.path.basename(target) not in (state.get("built_releases") or []):
            label = ("app %s " % record["name"]) if len(section["apps"]) > 1 else ""
            problems.append(
                "flask_app on %s: cannot roll back %sto %s: %s. Releases on the host are under %s/releases; name one "
                "with -e flask_app_rollback_to=<id> (or leave the app out with -e '{\"flask_app_only\": [...]}')."
                % (section.get("host", "this host"), label,
                   os.path.basename(target) if target and named else "the previous release",
                   ("no previous release is recorded (%s/previous)" % record["root"]) if not target
                   else "%s is not a built, validated release" % target, record["root"]))
    if problems:
        raise PlanError(" | ".join(problems))
    return {"targets": targets, "releases": {name: os.path.basename(t) for name, t in targets.items()},
            "pending": sorted(name for name, target in targets.items()
                              if target != str(_mapping(states.get(name)).get("current") or ""))}


# --- Nginx -----------------------------------------------------------------------------------------

# The nginx_* variables the templates write into a directive, and the value each may take: nothing
# but the value reaches the directive (a ';' or a newline would end it and start another).
# nginx_extra_locations is raw configuration by design: it is tested with nginx -t, not here.
NGINX_TIMES = ("nginx_worker_shutdown_timeout", "nginx_keepalive_timeout", "nginx_proxy_connect_timeout",
               "nginx_proxy_send_timeout", "nginx_proxy_read_timeout", "nginx_proxy_next_upstream_timeout",
               "nginx_upstream_fail_timeout")
NGINX_SIZES = ("nginx_client_max_body_size",)
NGINX_COUNTS = {"nginx_worker_connections": 1, "nginx_proxy_next_upstream_tries": 0, "nginx_upstream_keepalive": 1,
                "nginx_upstream_max_fails": 0}
NGINX_TOKENS = {
    "nginx_proxy_next_upstream": ("error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504",
                                  "http_403", "http_404", "http_429", "non_idempotent", "off"),
    "nginx_tls_protocols": ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
}
SERVER_NAME_RE = re.compile(r"^[A-Za-z0-9_.*-]+( [A-Za-z0-9_.*-]+)*$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
HEADER_VALUE_BAD_RE = re.compile(r'["\\$\x00-\x1f\x7f]')
TOKEN_RE = re.compile(r"^[A-Za-z0-9_]+$")


def nginx_problems(v):
    """Every nginx_* value that would not be the one value of its directive, each naming the
    variable, the host and the fix (berth_apps' rules for times, sizes and counts)."""
    found = []

    def bad(variable, text, fix):
        found.append("%s on %s: %s. Fix: %s in the group_vars that set it." % (variable, v.name, text, fix))

    for name in NGINX_TIMES + NGINX_SIZES:
        kind = "time" if name in NGINX_TIMES else "size"
        err = apps_core.nginx_value_error(v.get(name), kind)
        if err:
            bad(name, err, "write %s" % ("a time such as 30s (Nginx units ms, s, m, h, d)" if kind == "time"
                                         else "a size such as 1m (k, m or g)"))
    for name, low in sorted(NGINX_COUNTS.items()):
        err = apps_core.nginx_value_error(v.get(name), low)
        if err:
            bad(name, err, "write a whole number of at least %d" % low)
    workers = v.get("nginx_worker_processes")
    if str(workers) != "auto" and apps_core.nginx_value_error(workers, 1):
        bad("nginx_worker_processes", "%r is neither auto nor a number of processes" % (workers,), "write auto or e.g. 4")
    for name, allowed in sorted(NGINX_TOKENS.items()):
        value = v.get(name)
        words = str(value).split(" ") if isinstance(value, str) else [None]
        wrong = [w for w in words if w not in allowed]
        if wrong:
            bad(name, "%r is not a list of %s separated by single spaces" % (value, ", ".join(allowed)),
                "write e.g. %s" % {"nginx_proxy_next_upstream": "error timeout http_502",
                                   "nginx_tls_protocols": "TLSv1.2 TLSv1.3"}[name])
    server_name = v.get("nginx_server_name")
    if not isinstance(server_name, str) or not SERVER_NAME_RE.match(server_name):
        bad("nginx_server_name", "%r is not host names separated by single spaces (letters, digits, '.', '-', '*', "
            "'_')" % (server_name,), "write e.g. www.example.com example.com, or _ for any name (regular "
            "expressions are not accepted)")
    for name in ("nginx_status_path", "nginx_health_path"):
        value = v.get(name)
        if not isinstance(value, str) or not apps_core.PREFIX_RE.match(value):
            bad(name, "%r is not a URL path starting with '/'" % (value,), "write e.g. /nginx_status (no spaces, "
                "quotes, braces or ';')")
    for name in ("nginx_log_dir",) + tuple(n for n in ("nginx_tls_certificate", "nginx_tls_certificate_key")
                                           if v.get(n)):
        value = v.get(name)
        if not isinstance(value, str) or not apps_core.DIR_RE.match(value):
            bad(name, "%r is not an absolute path (letters, digits, '.', '_', '-' between single '/')" % (value,),
                "write e.g. %s" % ("/var/log/nginx" if name == "nginx_log_dir" else "/etc/ssl/private/site.pem"))
    user = v.get("nginx_user")
    if core.account_name_error(user):
        bad("nginx_user", core.account_name_error(user), "name the account of the worker processes, e.g. www-data")
    log_format = v.get("nginx_access_log_format")
    if not isinstance(log_format, str) or not TOKEN_RE.match(log_format):
        bad("nginx_access_log_format", "%r is not a log_format name" % (log_format,), "write e.g. combined")
    headers = v.get("nginx_security_headers")
    if not isinstance(headers, Mapping):
        bad("nginx_security_headers", "%r is not a mapping of header name to value" % (headers,),
            "write e.g. {X-Frame-Options: SAMEORIGIN}")
        headers = {}
    for name, value in sorted((str(k), val) for k, val in headers.items()):
        if not HEADER_NAME_RE.match(name):
            bad("nginx_security_headers", "%r is not a header name (letters, digits, '-')" % name,
                "write e.g. X-Frame-Options")
        elif isinstance(value, (Mapping, list, tuple)) or value is None or HEADER_VALUE_BAD_RE.search(str(value)):
            bad("nginx_security_headers.%s" % name, "%r contains a double quote, a backslash, '$' or a control "
                "character (or is not a string)" % (value,), "write the value without them")
    for name in ("nginx_remove_default_site",):
        try:
            flag(v, name)
        except PlanError as exc:
            found.append(str(exc))
    return found


def nginx(v):
    """The nginx role's section: its listeners, and the host's apps as upstreams and locations
    (a web host) or the backends of a load balancer (nginx_upstream_group)."""
    problems = _Problems(v.name)
    for text in nginx_problems(v):
        problems.add(text)
    if v.has("nginx_app_port_name") and v.is_set("nginx_app_port_name"):
        problems.add("nginx_app_port_name on %s is gone: Nginx proxies to %s. Fix: remove nginx_app_port_name "
                     "(set flask_app_port_name for the one app)." % (v.name, GONE["nginx_app_port_name"]))
    http = entry(v, "nginx_http_port_name", problems)
    https = entry(v, "nginx_https_port_name", problems)
    status = entry(v, "nginx_status_port_name", problems)
    problems.raise_if_any()
    if not (http.get("enabled", True) and http.get("proto") == "tcp" and status.get("enabled", True)
            and status.get("proto") == "tcp" and core.is_loopback(status.get("bind"))):
        problems.add(
            "%s and %s must be enabled tcp entries and %s must bind a loopback address (127.0.0.0/8 or ::1); got "
            "%s=%s, %s=%s. Fix berth_ports / berth_ports_overrides in inventories/<env>/group_vars." % (
                v.get("nginx_http_port_name"), v.get("nginx_status_port_name"), v.get("nginx_status_port_name"),
                v.get("nginx_http_port_name"), _entry_text(http), v.get("nginx_status_port_name"), _entry_text(status)))
    https_enabled = bool(https.get("enabled", True)) and core.applies(https, v.groups)
    if https_enabled and not v.get("nginx_sites") and not v.get("nginx_tls") and not (v.get("nginx_tls_certificate")
                                                           and v.get("nginx_tls_certificate_key")):
        problems.add("%s is enabled for %s but nginx_tls_certificate and/or nginx_tls_certificate_key are empty; "
                     "set both, describe the sites with nginx_sites (tls: acme issues their certificates), or "
                     "disable the entry." % (v.get("nginx_https_port_name"), v.name))
    group = str(v.get("nginx_upstream_group") or "")
    section = {"http": http, "https": https, "status": status, "https_enabled": https_enabled,
               "mode": "lb" if group else "apps", "upstream_name": "berth_backend",
               "upstream": None, "apps": [], "locations": [], "not_found_location": False}
    if group:
        members = v.all_groups.get(group) or []
        if not members or v.name in members:
            problems.add("nginx_upstream_group '%s' must be a non-empty inventory group that does not contain the "
                         "load balancer %s itself." % (group, v.name))
        problems.raise_if_any()
        section["upstream"] = {
            "group": group,
            "keepalive": v.get("nginx_upstream_keepalive"),
            "max_fails": v.get("nginx_upstream_max_fails"),
            "fail_timeout": v.get("nginx_upstream_fail_timeout"),
            "backends": lb_backends(v, group),
        }
        backend_routes = _backend_app_routes(v, members) if _named_routes(v) else {}
        sites = _sites(v, section, problems, backend_routes)
        problems.raise_if_any()
        for site in sites:
            try:
                site["lb_locations"] = sites_core.lb_locations(site["routes"], backend_routes)
            except ValueError as exc:
                problems.add("nginx_sites.%s.routes on %s: %s, so the site would route none of it. Fix: name a "
                             "path prefix, or an app with routes." % (site["name"], v.name, exc))
        problems.raise_if_any()
        _site_locations(v, section, sites, [])
        section["packages"] = nginx_packages(v, section)
        return section
    try:
        records = apps(v)
    except PlanError as exc:
        problems.add(str(exc))
        records = []
    if not records and not problems.items:
        problems.add(
            "nginx_upstream_group is empty on %s, so Nginx proxies to the host's apps, but none is opened here: "
            "flask_apps is empty and the one app's entry %s is disabled, not tcp or not opened on this host "
            "(host in %s). Put the host in the app's group, define flask_apps, or set nginx_upstream_group "
            "(load balancers: group_vars/lb/nginx.yml)." % (v.name, v.get("flask_app_port_name"), v.groups))
    problems.raise_if_any()
    defaults = {"keepalive": v.get("nginx_upstream_keepalive"), "max_fails": v.get("nginx_upstream_max_fails"),
                "fail_timeout": v.get("nginx_upstream_fail_timeout"),
                "connect_timeout": v.get("nginx_proxy_connect_timeout"),
                "send_timeout": v.get("nginx_proxy_send_timeout"), "read_timeout": v.get("nginx_proxy_read_timeout")}
    upstreams = []
    for record in records:
        if record.get("socket"):
            continue
        item = {"name": record["name"], "port_name": record["port_name"], "upstream": record["upstream"],
                "server": core.host_port(core.connect_host(record["bind"]), record["port"])}
        item.update({key: record["nginx"].get(key, value) for key, value in defaults.items()})
        upstreams.append(item)
    section["apps"] = upstreams
    section["locations"] = apps_core.nginx_locations(records)
    # With no app on the prefix / (the front end on exactly /, say), the paths no location takes
    # get Nginx's 404 instead of its compiled-in html directory (Debian's "Welcome to nginx").
    section["not_found_location"] = not apps_core.serves_every_path(section["locations"]) and not any(
        ROOT_LOCATION_RE.search(str(block)) for block in v.get("nginx_extra_locations") or [])
    sites = _sites(v, section, problems, {r["name"]: [] for r in records})
    problems.raise_if_any()
    _site_locations(v, section, sites, section["locations"])
    section["packages"] = nginx_packages(v, section)
    return section


# Debian packages a host's sites need beyond nginx: the certificate reader (berth_tls.inspect, the
# probe and the renewal hook) for any TLS site, and certbot for ACME sites.
TLS_PACKAGES = ["python3-cryptography"]
ACME_PACKAGES = ["certbot"]


def nginx_packages(v, section):
    """The nginx role's packages for this host: nginx, and what its sites' TLS needs."""
    sites = section.get("sites") or []
    return ([v.get("nginx_package_name")] + (TLS_PACKAGES if any(s["tls"] != "off" for s in sites) else [])
            + (ACME_PACKAGES if section.get("acme") else []))


def _opened(v, variable):
    """Whether the registry entry named by ``variable`` is enabled and applies to this host."""
    entry_ = registry(v).get(str(v.get(variable)))
    return isinstance(entry_, Mapping) and bool(entry_.get("enabled", True)) and core.applies(entry_, v.groups)


def host_sites(v):
    """The host's Nginx sites, the records the nginx role renders; [] where Nginx's HTTP entry does
    not apply to the host."""
    return (nginx(v).get("sites") or []) if _opened(v, "nginx_http_port_name") else []


def tls_sites(v):
    """The host's Nginx sites with TLS, for the tls check."""
    if not v.get("nginx_sites") and not v.get("nginx_tls") and not _opened(v, "nginx_https_port_name"):
        return []  # the one site of nginx_server_name, without TLS: no need to plan Nginx
    return [s for s in host_sites(v) if s["tls"] != "off"]


def report_sites(v):
    """Every Nginx site of the host for the port map and the route report; [] also where the nginx
    role's plan of the host is refused (the report still runs)."""
    try:
        return [{k: s[k] for k in ("name", "server_names", "tls", "certificate", "certificate_key")}
                for s in host_sites(v)]
    except PlanError:
        return []


def _named_routes(v):
    """Whether a site of nginx_sites routes an app by its name (not by a path prefix)."""
    sites = v.get("nginx_sites")
    return isinstance(sites, list) and any(
        isinstance(route, str) and not route.startswith("/")
        for site in sites if isinstance(site, Mapping) for route in (site.get("routes") or []
                                                                     if isinstance(site.get("routes"), list) else []))


def _backend_app_routes(v, members):
    """App name -> the public paths of its routes (``[{prefix, exact}]``), on a load balancer's
    backends (the first backend that runs it): what a site's ``routes`` may name there."""
    out = {}
    for member in members:
        try:
            for record in apps(v.peer(member)):
                out.setdefault(record["name"], [{"prefix": r["prefix"], "exact": r["exact"]} for r in record["routes"]]
                               + [{"prefix": s["prefix"], "exact": False} for s in record["static"]])
        except PlanError:
            continue
    return out


def _sites(v, section, problems, routes):
    """The host's Nginx sites (nginx_sites, or the one site of nginx_server_name and the
    nginx_tls_* files), checked (berth_sites.normalize_sites), with the ACME settings."""
    acme = {"directory": v.get("nginx_acme_directory"), "email": v.get("nginx_acme_email"),
            "key_type": v.get("nginx_acme_key_type"), "config_dir": str(v.get("nginx_acme_config_dir")),
            "webroot": str(v.get("nginx_acme_webroot")), "ca_bundle": str(v.get("nginx_acme_ca_bundle") or "")}
    hsts = v.get("nginx_hsts_max_age")
    ctx = {"host": v.name, "https": section["https_enabled"], "https_entry": v.get("nginx_https_port_name"),
           "legacy": {"server_name": v.get("nginx_server_name"), "tls": v.get("nginx_tls"),
                      "certificate": v.get("nginx_tls_certificate"),
                      "certificate_key": v.get("nginx_tls_certificate_key")},
           "acme": acme, "routes": routes, "hsts": hsts}
    sites, found = sites_core.normalize_sites(v.get("nginx_sites"), ctx)
    for text in found:
        problems.add(text)
    if isinstance(hsts, bool) or not isinstance(hsts, int) or hsts < 0:
        problems.add("nginx_hsts_max_age on %s: %r is not a number of seconds. Fix: write e.g. 31536000 (0 = no "
                     "HSTS header)." % (v.name, hsts))
    for name in ("nginx_acme_config_dir", "nginx_acme_webroot") + (
            ("nginx_acme_ca_bundle",) if acme["ca_bundle"] else ()):
        if not apps_core.DIR_RE.match(str(v.get(name))):
            problems.add("%s on %s: %r is not an absolute path. Fix: write e.g. %s." % (
                name, v.name, v.get(name), {"nginx_acme_config_dir": "/etc/letsencrypt",
                                            "nginx_acme_webroot": "/var/lib/berth/acme",
                                            "nginx_acme_ca_bundle": "/etc/ssl/certs/acme-ca.pem"}[name]))
    section["sites"] = sites
    section["acme"] = acme if any(s["tls"] == "acme" for s in sites) else None
    if section["acme"]:
        acme["peers"] = acme_peers(v, problems)
    return sites


def acme_peers(v, problems):
    """The hosts this one asks for an ACME challenge token it does not have (nginx_acme_peers:
    inventory hosts or groups, itself left out): several hosts behind one address each issue
    their own certificates, and the ACME server's request may reach any of them. Each peer on
    its own effective HTTP entry (named by this host's nginx_http_port_name), addressed by
    ansible_host or its inventory name, as a load balancer's backends are."""
    value = v.get("nginx_acme_peers")
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        problems.add("nginx_acme_peers on %s: %r is not a list of inventory hosts or groups. Fix: write e.g. "
                     "nginx_acme_peers: [lb] (the group of the load balancers that serve the same names)."
                     % (v.name, value))
        return []
    hosts = set(v.all_groups.get("all") or [])
    names = []
    for item in value:
        if item in v.all_groups and item not in ("all", "ungrouped"):
            names.extend(v.all_groups[item] or [])
        elif item in hosts:
            names.append(item)
        else:
            problems.add("nginx_acme_peers on %s names %r, neither a host nor a group of the inventory. Fix: name "
                         "the hosts that serve the same names (e.g. the group lb), or remove it." % (v.name, item))
    peers = []
    for host in names:
        if host == v.name or host in [p["name"] for p in peers]:
            continue
        peer = http_peer(v, host)
        if peer is None:
            problems.add("nginx_acme_peers on %s: peer %s has no enabled registry entry %s (nginx_http_port_name) "
                         "to ask for challenge tokens. Fix berth_ports for %s, or leave it out of nginx_acme_peers."
                         % (v.name, host, v.get("nginx_http_port_name"), host))
            continue
        peers.append(peer)
    return peers


def acme_peers_live(section, host):
    """The ACME peers as the site configuration names them: each address resolved on this host
    (re-resolved on every converge, as the backends are)."""
    resolved = _mapping(host.get("resolved"))
    return [dict(peer, server=resolved_server(resolved, peer["address"]))
            for peer in (section.get("acme") or {}).get("peers") or []]


def _site_locations(v, section, sites, locations):
    """Each site's own locations (its routes) and whether it needs the 404 for every other path."""
    extra_root = any(ROOT_LOCATION_RE.search(str(block)) for block in v.get("nginx_extra_locations") or [])
    for site in sites:
        mine = sites_core.site_locations(site, site.get("lb_locations") or [] if section["mode"] == "lb" else locations,
                                       section["mode"])
        site["locations"] = mine
        site["all_routes"] = not site["routes"]
        site["not_found_location"] = (section["not_found_location"] if site["all_routes"] else
                                      not apps_core.serves_every_path(
                                          [dict(loc, exact=loc.get("exact", False)) for loc in mine])
                                      and not extra_root)


# An nginx_extra_locations block that is itself `location / {`.
ROOT_LOCATION_RE = re.compile(r"(?m)^\s*location\s+/\s*\{")


def http_peer(v, host):
    """Another host as this one reaches its Nginx: ``{name, address, port}`` on that host's own
    effective entry named by this host's nginx_http_port_name, addressed by ansible_host or its
    inventory name; None when that entry is missing or disabled there."""
    peer = v.peer(host)
    entry_ = registry(peer).get(str(v.get("nginx_http_port_name")))
    if not entry_ or not entry_.get("enabled", True):
        return None
    return {"name": str(host), "address": str(peer.get("ansible_host") or host), "port": int(entry_["port"])}


def resolved_server(resolved, address):
    """The address a configuration names for ``address``: its first resolution on the host (the
    probe's ``resolved``, re-resolved on every converge), else the address itself."""
    return (resolved.get(address) or [address])[0]


def lb_backends(v, group):
    """Every host of ``group`` on its own effective nginx_http entry (named by the load balancer's
    nginx_http_port_name), addressed by ansible_host or its inventory name."""
    backends = []
    for host in v.all_groups.get(group) or []:
        backend = http_peer(v, host)
        if backend is None:
            raise PlanError("backend %s of nginx_upstream_group %s has no registry entry %s (nginx_http_port_name). "
                            "Fix berth_ports for that host." % (host, group, v.get("nginx_http_port_name")))
        # What the load balancer asks the backend before it sends it traffic: berth's site answers
        # its ready path with the backend's own name.
        backend["ready_url"] = core.url({"bind": backend["address"], "port": backend["port"]},
                                        str(v.peer(host).get("nginx_ready_path") or "/.berth/ready"), local=False)
        backends.append(backend)
    return backends


def served_probe(https, server_names):
    """Where the probe asks Nginx which certificate a site serves: the HTTPS entry as a client on
    the host reaches it, with the site's first server name for SNI (a wildcard's first label
    replaced; none for ``_``)."""
    names = [n for n in server_names or [] if n != "_"]
    name = names[0] if names else ""
    if name.startswith("*."):
        name = "berth-probe." + name[2:]
    return {"address": core.connect_host(https.get("bind")), "port": int(https.get("port")), "name": name}


def upstream_file(v):
    return "%s/berth.d/upstream.conf" % str(v.get("nginx_conf_dir") or "/etc/nginx").rstrip("/")


def active_in(upstream_text):
    """The backends a live upstream.conf sends traffic to (its "# <name>" comment, then a server line
    that is not marked down)."""
    active, name = set(), None
    for line in (upstream_text or "").splitlines():
        text = line.strip()
        if text.startswith("# "):
            name = text[2:].split()[0] if text[2:].split() else None
        elif text.startswith("server ") and name:
            if not text.rstrip(";").endswith(" down"):
                active.add(name)
            name = None
    return active


def lb_backends_live(section, host, upstream_text):
    """A load balancer's backends as it renders them: each address resolved on the load balancer
    (re-resolved on every converge), and whether it gets traffic: a backend is added only once it
    serves berth's site (its ready path answers with its name), or when it got traffic before."""
    upstream = section.get("upstream") or {}
    resolved = _mapping(host.get("resolved"))
    checks = _mapping(host.get("http"))
    before = active_in(upstream_text)
    out = []
    for backend in upstream.get("backends") or []:
        check = _mapping(checks.get(backend["name"]))
        ready = bool(check.get("ok")) or backend["name"] in before
        out.append(dict(backend, server=resolved_server(resolved, backend["address"]), ready=ready,
                        why="" if ready else (check.get("detail") or "not asked")))
    return out


def _entry_text(entry_):
    return "{%s}" % ", ".join("%s: %s" % (k, entry_[k]) for k in sorted(entry_))


# --- Datadog ---------------------------------------------------------------------------------------

def datadog(v):
    """The datadog role's section: datadog.yaml's settings (no API key) and every check of the
    host (the mysql check's password redacted), derived from the registry and the host's apps."""
    key = v.get("datadog_api_key")
    if key is None or not str(key).strip():
        raise PlanError("datadog_api_key is empty or undefined for host %s. Set vault_datadog_api_key in "
                        "inventories/<env>/group_vars/all/vault.yml (ansible-vault edit it); group_vars/all/secrets.yml "
                        "maps it to datadog_api_key." % v.name)
    entries = registry(v)
    try:
        ports = dd_core.agent_ports(entries, v.get("datadog_port_names"))
        options = {
            "nginx_status_name": v.get("datadog_nginx_status_port_name"),
            "nginx_http_name": v.get("datadog_nginx_http_port_name"),
            "app_name": v.get("datadog_app_port_name"),
            "apps": apps(v),
            "status_path": v.get("datadog_nginx_status_path"),
            "http_paths": v.get("datadog_http_check_paths"),
            "http_timeout": v.get("datadog_http_check_timeout"),
            "tcp_timeout": v.get("datadog_tcp_check_timeout"),
            "process_search": v.get("datadog_process_search_strings"),
            "tags": v.get("datadog_tags"),
            "mysql_name": v.get("datadog_mysql_port_name"),
            "mysql_user": v.get("datadog_mysql_user"),
            "mysql_password": v.get("datadog_mysql_password"),
            "host": v.name,
            "https_name": v.get("nginx_https_port_name"),
            "tls_sites": tls_sites(v),
            "tls_days_warning": v.get("datadog_tls_days_warning"),
            "tls_days_critical": v.get("datadog_tls_days_critical"),
            "tls_ca_cert": v.get("datadog_tls_ca_cert"),
            "berth_ports_check": dd_core.berth_ports_check(
                core.for_host(entries, v.groups), v.get("datadog_berth_ports_free_status"),
                v.get("datadog_berth_ports_interval")),
        }
        checks = dd_core.checks_config(v.get("datadog_checks"), entries, v.groups, options, redact=True)
    except dd_core.DatadogError as exc:
        raise PlanError("datadog on %s: %s" % (v.name, exc))
    config = {"site": v.get("datadog_site")}
    if v.get("datadog_hostname"):
        config["hostname"] = v.get("datadog_hostname")
    if v.get("datadog_tags"):
        config["tags"] = list(v.get("datadog_tags"))
    config = _combine(config, {"process_config": {"process_collection": {
        "enabled": flag(v, "datadog_process_collection_enabled")}}})
    config = _combine(config, {k: val for k, val in _mapping(v.get("datadog_config_extra")).items() if k != "api_key"})
    config = _combine(config, ports)
    config = _combine(config, {"apm_config": {"enabled": flag(v, "datadog_apm_enabled")
                                              and bool(ports["apm_config"]["enabled"])}})
    return {"config": config, "checks": checks, "agent_ports": ports, "secret_checks": list(DATADOG_SECRET_CHECKS)}


def _combine(base, change):
    """Recursive dict merge (Ansible's combine(recursive=true))."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _combine(out[key], value)
        else:
            out[key] = value
    return out


# --- MariaDB ---------------------------------------------------------------------------------------

NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"]


def mariadb(v):
    """The mariadb role's section: the server's entry, the databases and the accounts (one per
    account and host it connects from; never a password)."""
    problems = _Problems(v.name)
    server = entry(v, "mariadb_port_name")
    if not (server.get("enabled", True) and server.get("proto") == "tcp" and core.applies(server, v.groups)):
        problems.add(
            "The MariaDB server on %s listens on registry entry %s (mariadb_port_name), but that entry is disabled, "
            "not tcp or not opened on this host (groups %s, host in %s). Fix berth_ports.%s (or berth_ports_overrides) "
            "in inventories/<env>/group_vars, or put the host in the entry's group."
            % (v.name, v.get("mariadb_port_name"), list(server.get("groups") or []), v.groups,
               v.get("mariadb_port_name")))
    users = v.get("mariadb_users")
    if not isinstance(users, Mapping):
        problems.add("mariadb on %s: mariadb_users is not a mapping of account to {password, databases}." % v.name)
        users = {}
    databases = []
    for item in v.get("mariadb_databases") or []:
        spec = item if isinstance(item, Mapping) else {"name": item}
        databases.append({"name": str(spec.get("name")),
                          "encoding": spec.get("encoding") or v.get("mariadb_character_set"),
                          "collation": spec.get("collation") or v.get("mariadb_collation")})
    names = [d["name"] for d in databases]
    monitor = str(v.get("mariadb_monitor_user") or "")
    found = []
    bad = [n for n in names + [str(u) for u in users] + [monitor] if n and not NAME_RE.match(n)]
    if bad:
        found.append("names %s are not 1-64 letters, digits or _ (mariadb_databases, mariadb_users)" % ", ".join(bad))
    no_password = [str(n) for n, u in users.items() if not str(_mapping(u).get("password") or "").strip()]
    if no_password:
        found.append("mariadb_users.%s has no password: set password from a vault_* variable "
                     "(group_vars/all/vault.yml)" % ", mariadb_users.".join(no_password))
    unknown = []
    for account in users.values():
        unknown.extend(d for d in _mapping(account).get("databases") or [] if d not in names and d not in unknown)
    if unknown:
        found.append("mariadb_users grants databases %s that mariadb_databases does not create: add them there"
                     % ", ".join(unknown))
    if monitor and not str(v.get("mariadb_monitor_password") or "").strip():
        found.append("mariadb_monitor_password is empty for the monitoring account %s: set it from "
                     "vault_mariadb_monitor_password in group_vars/all/secrets.yml, or set mariadb_monitor_user: \"\" "
                     "for none" % monitor)
    if monitor and monitor in users:
        found.append("mariadb_monitor_user %s is also in mariadb_users: the monitoring account is read-only, give "
                     "the apps another name" % monitor)
    if found:
        problems.add("mariadb on %s: %s." % (v.name, "; ".join(found)))
    problems.raise_if_any()
    loopback = core.is_loopback(server.get("bind"))
    accounts = []
    for name in sorted(users):
        account = _mapping(users[name])
        privileges = "/".join("%s.*:ALL" % d for d in account.get("databases") or [])
        for host in account.get("hosts") or (LOOPBACK_HOSTS if loopback else ["%"]):
            accounts.append({"user": str(name), "host": str(host), "priv": privileges, "monitor": False})
    if monitor:
        for host in LOOPBACK_HOSTS:
            accounts.append({"user": monitor, "host": host, "monitor": True,
                             "priv": "*.*:PROCESS/performance_schema.*:SELECT"})
    return {"entry": server, "loopback": loopback, "databases": databases, "accounts": accounts}


# --- Firewall --------------------------------------------------------------------------------------

def firewall(v):
    """The firewall role's section: whether it is on, the entries this host opens to the network
    (enabled, non-loopback binds) and, for an entry with clients, those groups' hosts' addresses
    (ansible_host, else the inventory name) and the names to resolve on the host."""
    registry(v)  # checked on every host, whether the firewall is on or not
    enabled = flag(v, "firewall_enabled")
    if not enabled:
        return {"enabled": False, "allow": {}, "clients": {"entries": {}, "names": []}}
    allow = {name: e for name, e in host_entries(v, True).items() if not core.is_loopback(e.get("bind"))}
    try:
        clients = fw_core.clients(allow, v.all_groups, lambda member: v.peer(member).get("ansible_host"), v.name)
    except fw_core.FirewallError as exc:
        raise PlanError(str(exc))
    return {"enabled": True, "allow": allow, "clients": clients}


# --- Packages --------------------------------------------------------------------------------------

def datadog_source(v, host):
    """The Datadog apt source for host ``v`` from a probe's ``host`` reading: its berth_files
    entries (the key directory as listed, its key files no longer configured removed, the source
    file) and whether all of them are already in place as written (``source_in_place``: then the
    role skips their run). A reading without the source file's stat (the packages play's) is never
    in place."""
    names = [os.path.basename(str(k)) for k in list(v.get("datadog_apt_key_urls") or []) + list(v.get("datadog_apt_key_files") or [])]
    entries = dd_core.apt_source_entries(v.get("datadog_apt_key_dir"), names,
                                         _mapping(host.get("dirs")).get(v.get("datadog_apt_key_dir")),
                                         v.get("datadog_apt_source_file"), v.get("datadog_apt_keyring"),
                                         v.get("datadog_apt_repo_url"), v.get("datadog_apt_suite"),
                                         v.get("datadog_apt_component"))
    return {"source_entries": entries,
            "source_in_place": dd_core.apt_source_in_place(entries, _mapping(host.get("stat")), _mapping(host.get("files")))}


def datadog_package(v):
    version = str(v.get("datadog_agent_version") or "")
    return "datadog-agent" + ("=" + version if version else "")


def packages(v, roles=None):
    """Every role's Debian packages for this host's one apt run (berth_apt.packages_missing's
    ``wanted``), for the roles a play applies to the host (default: those site.yml's plays apply,
    site_roles), in PACKAGE_ROLES order."""
    roles = site_roles(v.groups) if roles is None else list(roles)
    wanted = []
    unknown = [r for r in roles if r not in PACKAGE_ROLES]
    if unknown:
        raise PlanError("packages: unknown roles %s (known: %s)" % (", ".join(unknown), ", ".join(PACKAGE_ROLES)))
    for role in PACKAGE_ROLES:
        if role not in roles:
            continue
        if role == "flask_app":
            wanted.append({"role": role, "packages": flask_app(v)["packages"], "install_recommends": None,
                           "cache_valid_time": 86400})
        elif role == "nginx":
            wanted.append({"role": role, "packages": nginx_packages(v, nginx(v)), "install_recommends": None,
                           "cache_valid_time": int(v.get("nginx_apt_cache_valid_time"))})
        elif role == "mariadb":
            wanted.append({"role": role, "packages": list(v.get("mariadb_packages") or []),
                           "install_recommends": flag(v, "mariadb_install_recommends"),
                           "cache_valid_time": int(v.get("mariadb_apt_cache_valid_time"))})
        elif role == "datadog":
            wanted.append({"role": role, "packages": [datadog_package(v)], "install_recommends": None,
                           "cache_valid_time": 86400, "probe_packages": list(v.get("datadog_apt_prerequisites") or []),
                           "probe_list": [v.get("datadog_apt_key_dir"), os.path.dirname(str(v.get("datadog_apt_keyring")))]})
        elif role == "firewall" and flag(v, "firewall_enabled"):
            wanted.append({"role": role, "packages": list(FIREWALL_PACKAGES), "install_recommends": None,
                           "cache_valid_time": 86400})
    return {"wanted": wanted, "probe": apt_core.packages_probe(wanted)}


# --- The plan --------------------------------------------------------------------------------------

def guard(v):
    """What the port guard compares with the host's listeners: every entry that applies to it."""
    return {"entries": host_entries(v), "registry_file": registry_file(v)}


def work_selected(task_tags, work_tags, run_tags=("all",), skip_tags=()):
    """Whether any task of a role runs under ``--tags``/``--skip-tags``, for a plan task tagged
    ``always`` whose role's other tasks carry one of ``work_tags`` besides the tags the plan task
    inherits (its play's and role's). Ansible's own rule (Taggable.evaluate_tags) per work tag."""
    if not work_tags:
        return True
    inherited = set(task_tags or ()) - {"always"} - set(work_tags)
    run_tags, skip_tags = set(run_tags or ("all",)), set(skip_tags or ())
    for work in work_tags:
        tags = inherited | {work}
        runs = not run_tags or ("all" in run_tags and "never" not in tags) or not tags.isdisjoint(run_tags) \
            or ("tagged" in run_tags and "never" not in tags)
        if runs and skip_tags and ("all" in skip_tags or not tags.isdisjoint(skip_tags) or "tagged" in skip_tags):
            runs = False
        if runs:
            return True
    return False


def probe_args(role, v, section, releases=None):
    """What the role's probe (berth_apps_probe, one module run) reads on the host."""
    if role == "flask_app":
        return flask_app_probe(section, releases)
    if role == "nginx":
        args = {"packages": section["packages"], "units": [v.get("nginx_service_name")],
                "read": [v.get("nginx_drain_state_file"), upstream_file(v), v.get("nginx_tls_state_file")],
                "list": [APT_LISTS]}
        tls = [{"name": s["name"], "cert": s["certificate"], "key": s["certificate_key"], "names": s["server_names"]}
               for s in section.get("sites") or [] if s["tls"] != "off"]
        if section.get("https_enabled"):
            # Whether Nginx serves each certificate file as it is now (replaced files go live by a reload).
            for item in tls:
                item["served"] = served_probe(section["https"], item["names"])
        if tls:
            args["tls"] = tls
        if section.get("acme"):
            args["units"] = args["units"] + [ACME_TIMER]
        if section.get("upstream"):
            backends = section["upstream"]["backends"]
            args["http"] = [{"name": b["name"], "url": b["ready_url"], "expect": b["name"] + "\n"} for b in backends]
        names = [b["address"] for b in (section.get("upstream") or {}).get("backends") or []] + [
            p["address"] for p in (section.get("acme") or {}).get("peers") or []]
        if any(core.parse_address(name) is None for name in names):
            args["resolve"] = sorted({name for name in names if core.parse_address(name) is None})
        return args
    if role == "datadog":
        return {"packages": list(v.get("datadog_apt_prerequisites") or []) + ["datadog-agent"],
                "units": list(v.get("datadog_services") or []),
                "list": [v.get("datadog_apt_key_dir"), os.path.dirname(str(v.get("datadog_apt_keyring")))],
                "read": [v.get("datadog_apt_source_file")],
                "stat": [v.get("datadog_apt_key_dir"), v.get("datadog_apt_source_file")]}
    if role == "mariadb":
        return {"packages": list(v.get("mariadb_packages") or []), "units": [v.get("mariadb_service_name")],
                "list": [APT_LISTS]}
    if role == "firewall" and section.get("enabled"):
        return {"packages": list(FIREWALL_PACKAGES), "units": [v.get("firewall_service")]}
    if role == "packages":
        return dict(section["probe"])
    return {}


def _missing(packages, host):
    """The packages the probe's ``host`` reading did not find installed, in their order."""
    found = _mapping(host.get("packages"))
    return [p for p in packages or [] if not found.get(p)]


def _running(host, unit):
    """Whether the probe found the systemd unit enabled and active."""
    state = _mapping(_mapping(host.get("units")).get(unit))
    return bool(state.get("enabled") and state.get("active"))


def decide(role, v, section, probe, mode="deploy", releases=None):
    """What the role does on this host, from its section and the probe's reading."""
    host = _mapping(probe.get("host"))
    if role == "flask_app":
        if mode == "rollback":
            return rollback_decide(section, probe)
        if mode == "info":
            return {"current": {name: _mapping(state).get("current_release", "")
                                for name, state in _mapping(probe.get("apps")).items()}}
        return flask_app_decide(section, probe, releases)
    if role == "nginx":
        installed = bool(_mapping(host.get("packages")).get(v.get("nginx_package_name")))
        state = _mapping(host.get("files")).get(v.get("nginx_drain_state_file"))
        drained = []
        if state:
            try:
                import json
                drained = sorted(json.loads(state).get("drained") or [])
            except (ValueError, AttributeError):
                drained = []
        valid = int(v.get("nginx_apt_cache_valid_time"))
        certs = _mapping(host.get("tls"))
        pending = sorted(name for name, cert in certs.items() if not _mapping(cert).get("ok"))
        live = sites_core.live_tls(section.get("sites") or [], certs)
        stale = [{"lineage": name, "argv": sites_core.certbot_delete_argv(name, str(v.get("nginx_acme_config_dir")))}
                 for name in sites_core.stale_lineages(_mapping(host.get("files")).get(v.get("nginx_tls_state_file")),
                                                       section.get("sites"))]
        timer = _running(host, ACME_TIMER)
        return {"installed": installed, "missing_packages": _missing(section["packages"], host),
                "certs": dict(certs), "tls_live": live,
                # Certificate files replaced on the host (by their owner's tooling) that Nginx does
                # not serve yet: a reload puts them live (they passed inspect).
                # (The probe asks only for certificates that passed.)
                "tls_rotated": sorted(name for name in live if _mapping(certs.get(name)).get("served_current") is False),
                "tls_pending": pending, "acme_stale": stale, "acme_timer": timer,
                # Whether tasks/tls.yml has anything to do: a certificate to issue, certbot's timer
                # to start, a gone site's lineage to delete. Without, the role skips the file at once.
                "tls_work": bool(pending or stale or (section.get("acme") and not timer)),
                "running": _running(host, v.get("nginx_service_name")),
                "drained": drained, "backends": lb_backends_live(section, host, _mapping(host.get("files")).get(
                    upstream_file(v))),
                "acme_peers": acme_peers_live(section, host),
                "apt_cache_valid_time": valid if installed else apt_core.cache_valid_time(
                    _mapping(host.get("dirs")).get(APT_LISTS), valid)}
    if role == "mariadb":
        return {"missing_packages": _missing(v.get("mariadb_packages"), host),
                "apt_cache_valid_time": apt_core.cache_valid_time(_mapping(host.get("dirs")).get(APT_LISTS),
                                                                  int(v.get("mariadb_apt_cache_valid_time")))}
    if role == "firewall":
        return {"missing_packages": _missing(FIREWALL_PACKAGES if section.get("enabled") else (), host),
                "running": _running(host, v.get("firewall_service"))}
    if role == "datadog":
        # The apt source's files as the role writes them, and whether they are in place already.
        return datadog_source(v, host)
    if role == "packages":
        runs = apt_core.packages_missing(section["wanted"], host)
        out = {"runs": runs, "datadog_source": any("datadog" in run["roles"] for run in runs)}
        if out["datadog_source"]:
            # What the datadog role's source.yml writes before the run that installs the agent.
            out["datadog"] = datadog_source(v, host)
        return out
    return {}


def site_roles(groups):
    """The roles site.yml's plays apply to a host of ``groups``, in the order site.yml's preflight
    checks their inputs: flask_app on web, nginx on web and lb, mariadb on db, the agent and the
    firewall on every host."""
    groups = set(groups)
    return ((["flask_app"] if "web" in groups else []) + (["nginx"] if groups & {"web", "lb"} else [])
            + (["mariadb"] if "db" in groups else []) + ["datadog", "firewall"])


def preflight(v):
    """site.yml's preflight of one host: the plan of every role its plays apply to it, in one
    go (one view of the host's variables); the first role whose input is bad refuses the host
    with that role's PlanError. Returns the roles checked."""
    roles = site_roles(v.groups)
    for role in roles:
        plan(role, v)
    return {"roles": roles}


def plan(role, v, roles=None):
    """The section of the plan ``role`` renders for host ``v`` (PlanError on bad input)."""
    if role == "preflight":
        return preflight(v)
    if role == "flask_app":
        return flask_app(v)
    if role == "nginx":
        return nginx(v)
    if role == "datadog":
        return datadog(v)
    if role == "mariadb":
        return mariadb(v)
    if role == "firewall":
        return firewall(v)
    if role == "packages":
        return packages(v, roles)
    if role == "berth_ports":
        return {"entries": host_entries(v), "sites": report_sites(v)}
    raise PlanError("berth_plan: unknown role %r (known: %s)" % (role, ", ".join(ROLES)))
