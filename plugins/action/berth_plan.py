# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Action plugin: a role's plan of the host, its probe and the port guard, in one task.

1. On the controller: a :class:`berth_plan.View` of the host - its variables (inventory, play,
   role parameters, ``-e``), templated on access, with every role's ``defaults/main.yml`` of this
   collection behind them - and the role's section of the plan
   (``plugins/module_utils/berth_plan.py``). Bad input fails here, before the host is contacted.
2. On the host, unless ``probe: false``: one run of ``berth.stack.berth_apps_probe`` reads what the
   role decides from and, unless ``guard: false``, refuses every registry port held by a process
   that is not its entry's service (the port guard), before the role changes anything.
3. On the controller: the role's decisions from that reading (``berth_plan.decide``).

Before the plan, the inventory's files that give the host variables are read as text: a
``port:`` written with a leading 0 or colons (YAML 1.1 octal, base 60) is refused naming the file
and line (the registry core's ``yaml11_problems``). A variable that cannot be templated (an
undefined variable, a ``vault_*`` missing from the vault) is refused naming the variable, the
host, the file and line that set it and, for a ``vault_*`` name, the vault file to add it to.

Documentation: ``plugins/modules/berth_plan.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.berth.stack.plugins.lookup.flask_app_tree_hash import tree_hash
from ansible_collections.berth.stack.plugins.module_utils import berth_lock
from ansible_collections.berth.stack.plugins.module_utils import berth_plan
from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core

try:  # where a value was read from (ansible-core >= 2.19); without it, the files are searched
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - older ansible-core
    Origin = None

UNDEFINED_RE = re.compile(r"'([^']+)' is undefined")

# The collection's root: plugins/action/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE_NAMES = ("berth_ports", "flask_app", "nginx", "mariadb", "datadog", "firewall")
# Per process: the argument specs (role -> variable -> spec of its entry points) and the
# release id of each local source tree (a run does not change its sources).
_SPECS = {}
_TREE_HASHES = {}


class _Templated(object):
    """A mapping's values templated on first access (only what the planner reads is templated).

    A value that cannot be templated raises :class:`berth_plan.PlanError` in ``explain``'s words
    (the variable, the host, where it is set and the fix), not Ansible's bare "'x' is undefined"."""

    def __init__(self, source, templar, explain=None):
        self._source = source
        self._templar = templar
        self._explain = explain
        self._done = {}

    def __contains__(self, name):
        return name in self._source

    def __iter__(self):
        return iter(self._source)

    def __getitem__(self, name):
        if name not in self._done:
            try:
                self._done[name] = self._templar.template(self._source[name])
            except AnsibleError as exc:
                if self._explain is None:
                    raise
                raise berth_plan.PlanError(self._explain(name, self._source[name], exc))
        return self._done[name]


def _origin(*values):
    """``file:line`` a value was read from, when Ansible tagged it."""
    for value in values:
        tag = Origin.get_tag(value) if Origin is not None and value is not None else None
        if tag is not None and tag.path:
            return "%s%s" % (core.display_path(tag.path), ":%d" % tag.line_num if tag.line_num else "")
    return ""


def template_error(host, name, raw, exc, files):
    """The refusal of a variable ``name`` of ``host`` that does not template: what failed, the
    file (and line) that sets it, and the fix - for a missing vault_* name, the vault file."""
    text = getattr(exc, "_original_message", None) or getattr(exc, "message", None) or str(exc)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
    mine = [f for f in files if core.file_applies(f["scope"], f["name"], host["name"], host["groups"])]
    where = _origin(getattr(exc, "obj", None), raw)
    if not where:
        defined = re.compile(r"^%s\s*:" % re.escape(name), re.M)
        where = ", ".join(f["file"] for f in mine if f["text"] and defined.search(f["text"]))
    missing = UNDEFINED_RE.search(text)
    missing = missing.group(1) if missing else ""
    message = "%s on %s cannot be templated: %s%s." % (name, host["name"], text,
                                                       " (%s is set in %s)" % (name, where) if where else "")
    if missing.startswith("vault_"):
        vaults = [f["file"] for f in mine if f["text"] and (f["text"].lstrip().startswith(core.VAULT_HEADER)
                                                            or "!vault" in f["text"])]
        near = [v for v in vaults if where and os.path.dirname(v) == os.path.dirname(where.split(":")[0])]
        vault = (near or vaults or ["inventories/<env>/group_vars/all/vault.yml"])[0]
        fix = ("add %s to the vault %s (ansible-vault edit %s), or correct the name %s uses"
               % (missing, vault, vault, name))
    elif missing:
        fix = ("define %s for %s (group_vars or host_vars of the inventory) or correct the reference%s"
               % (missing, host["name"], " in " + where if where else ""))
    else:
        fix = "correct the value of %s%s" % (name, " in " + where if where else "")
    return "%s Fix: %s." % (message, fix)


def _role_specs(role):
    """Variable -> argument spec of every entry point of one role (read once per process)."""
    if role not in _SPECS:
        import yaml
        specs = _SPECS[role] = {}
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        try:
            with open(path) as handle:
                # libyaml's parser when PyYAML has it: the pure-Python one made this read a
                # fifth of a no-op run's controller time (every plan, in every forked worker).
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except OSError:
            data = {}
        for point in (data.get("argument_specs") or {}).values():
            for name, spec in ((point or {}).get("options") or {}).items():
                specs.setdefault(name, spec or {})
    return _SPECS[role]


class _Specs(object):
    """The argument specs (variable -> spec), read on the first lookup and only the role the
    variable's prefix names: most plans never ask for a type, and a flask_app plan that does
    reads flask_app's specs alone (each forked worker parses what it reads)."""

    def get(self, name, default=None):
        name = str(name)
        owners = [r for r in ROLE_NAMES if name.startswith(r + "_")] or list(ROLE_NAMES)
        for role in owners:
            specs = _role_specs(role)
            if name in specs:
                return specs[name]
        return default


_SPECS_VIEW = _Specs()


def warm_before_fork():
    """Read every role's argument specs now. A process that forks workers may call this first
    (berth's test suite does, tools/testsite/berth_test_once.py): each worker then finds them read
    instead of parsing the YAML again."""
    for role in ROLE_NAMES:
        _role_specs(role)


def _tree_hash(path):
    key = os.path.realpath(str(path))
    if key not in _TREE_HASHES:
        _TREE_HASHES[key] = tree_hash(key)
    return _TREE_HASHES[key]


class ActionModule(ActionBase):
    """Plan the role's work on the host, probe it and guard its registry ports."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("role", "host", "roles", "probe", "guard", "releases", "mode", "work_tags", "lock"))

    def _defaults(self):
        defaults = {}
        for role in ROLE_NAMES:
            path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
            if os.path.isfile(path):
                defaults.update(self._loader.load_from_file(path, trusted_as_template=True) or {})
        return defaults

    @staticmethod
    def _files(task_vars):
        """The variables files that give this host variables (read as text for the checks above)."""
        sources = task_vars.get("ansible_inventory_sources") or []
        host = task_vars.get("inventory_hostname")
        groups = task_vars.get("group_names") or berth_plan.groups_of(task_vars.get("groups") or {}, host)
        return core.inventory_files(sources if isinstance(sources, (list, tuple)) else [sources],
                                    task_vars.get("playbook_dir"), host=host, host_groups=groups)

    def _view(self, task_vars, target, files=()):
        raw_defaults = self._defaults()
        merged = dict(raw_defaults)
        merged.update(task_vars)
        # Whichever role plans, a variable of the apps that names role_path (the sandbox's
        # flask_app_source_dir) means the flask_app role's directory, as inside that role.
        merged["role_path"] = os.path.join(ROOT, "roles", "flask_app")
        templar = self._templar.copy_with_new_env(available_variables=merged)
        all_groups = task_vars.get("groups") or {}
        hostvars = task_vars.get("hostvars") or {}
        peers = {}

        def explain_for(host):
            about = {"name": host, "groups": frozenset(berth_plan.groups_of(all_groups, host))}
            return lambda name, raw, exc: template_error(about, name, raw, exc, files)

        defaults = _Templated(raw_defaults, templar, explain_for(task_vars.get("inventory_hostname")))

        def peer(host):
            # Another host's variables as its inventory gives them (raw, not templated in that
            # host's own context, where role_path and the roles' defaults are unknown), templated
            # here like this host's: every role's defaults behind them, role_path the flask_app role's.
            if host not in peers:
                raw = hostvars.raw_get(host) if hasattr(hostvars, "raw_get") else hostvars.get(host)
                if not isinstance(raw, Mapping):
                    raise berth_plan.PlanError("host %s is not in the inventory" % host)
                peer_vars = dict(raw_defaults)
                peer_vars.update(raw)
                peer_vars["role_path"] = merged["role_path"]
                peer_templar = self._templar.copy_with_new_env(available_variables=peer_vars)
                peers[host] = berth_plan.View(host, berth_plan.groups_of(all_groups, host), all_groups,
                                              _Templated(raw, peer_templar, explain_for(host)),
                                              _Templated(raw_defaults, peer_templar, explain_for(host)),
                                              peer=peer, tree_hash=_tree_hash, specs=_SPECS_VIEW, root=ROOT)
            return peers[host]

        me = task_vars.get("inventory_hostname")
        if target and target != me:
            return peer(target)
        return berth_plan.View(me, task_vars.get("group_names") or berth_plan.groups_of(all_groups, me), all_groups,
                               _Templated(task_vars, templar, explain_for(me)), defaults, peer=peer, tree_hash=_tree_hash,
                               specs=_SPECS_VIEW, root=ROOT, check_mode=self._task.check_mode)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        role = args.get("role")
        mode = args.get("mode") or "deploy"
        releases = dict(args.get("releases") or {})
        try:
            files = self._files(task_vars)
            view = self._view(task_vars, args.get("host"), files)
            yaml11 = [p for f in files if f["text"] and core.file_applies(f["scope"], f["name"], view.name, view.groups)
                      for p in core.yaml11_problems(f["file"], f["text"])]
            if yaml11:
                raise berth_plan.PlanError(" | ".join("%s (variables of %s). Fix: %s." % (p.text, view.name, p.fix)
                                                      for p in yaml11))
            section = berth_plan.plan(role, view, args.get("roles"))
        except (berth_plan.PlanError, AnsibleError) as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(section)
        result["changed"] = False
        if not args.get("probe", True):
            return result
        # Under --tags/--skip-tags that run none of the role's other tasks, the role changes nothing
        # on this host: its input checks ran above, its probe and guard are not needed.
        result["work_selected"] = berth_plan.work_selected(self._task.tags, args.get("work_tags") or (),
                                                           task_vars.get("ansible_run_tags") or ("all",),
                                                           task_vars.get("ansible_skip_tags") or ())
        if not result["work_selected"]:
            result["msg"] = "no task of the role runs under these tags: the host is not read"
            return result
        module_args = berth_plan.probe_args(role, view, section, releases)
        if args.get("guard", True):
            try:
                module_args["guard"] = berth_plan.guard(view)
            except berth_plan.PlanError as exc:
                result.update(failed=True, msg=str(exc))
                return result
        # berth's deploy lock, in the same run: every role that may change the host takes (or renews) it.
        lock = berth_lock_args(view, args.get("lock", role not in ("berth_ports",) and mode != "info"))
        if lock:
            module_args["lock"] = lock
        probe = self._execute_module(module_name="berth.stack.berth_apps_probe", module_args=module_args,
                                     task_vars=task_vars)
        if lock and probe.get("failed") and probe.get("lock_holder"):
            why = lock_stale(view, probe["lock_holder"], probe.get("lock_now"))
            if why:
                module_args["lock"] = dict(lock, replace="*" if why == "broken" else probe["lock_holder"].get("run"))
                result.setdefault("warnings", []).append(
                    "%s: took over berth's deploy lock from %s: %s" % (
                        view.name, berth_lock.describe(probe["lock_holder"]),
                        "berth_lock_break is true" if why == "broken" else why))
                probe = self._execute_module(module_name="berth.stack.berth_apps_probe", module_args=module_args,
                                             task_vars=task_vars)
            else:
                result.update(failed=True, lock_holder=probe["lock_holder"], msg=lock_refusal(view, probe["lock_holder"]))
                return result
        if probe.get("failed") or probe.get("unreachable"):
            for key in ("failed", "unreachable", "msg", "conflicts", "ports", "module_stderr", "module_stdout", "rc"):
                if key in probe:
                    result[key] = probe[key]
            if host_down(probe):
                # A stopped host answers the connection with an error, not with the module's result.
                result.update(unreachable=True, msg="%s did not answer (%s). Fix: start the host or check its address "
                              "(ansible -m ansible.builtin.ping %s), then run again; nothing was changed on it."
                              % (view.name, first_line(probe), view.name))
                result.pop("failed", None)
                return result
            if "msg" in result and result.get("conflicts"):
                result["msg"] = "%s: %s" % (view.name, result["msg"])
            return result
        result["probe"] = {"apps": probe.get("apps") or {}, "host": probe.get("host") or {}}
        try:
            result["decision"] = berth_plan.decide(role, view, section, result["probe"], mode, releases)
        except berth_plan.PlanError as exc:
            result.update(failed=True, msg=str(exc))
        return result


def berth_lock_args(view, wanted):
    """The probe's ``lock`` option for this run, or None (berth_lock_enabled false, or a read-only
    plan)."""
    from ansible.module_utils.parsing.convert_bool import boolean
    if not wanted or not boolean(view.get("berth_lock_enabled", True), strict=False):
        return None
    run, info = berth_lock.run_identity()
    return {"path": view.get("berth_lock_path") or berth_lock.DEFAULT_PATH, "run": run, "info": info}


def lock_stale(view, holder, host_now):
    """Why another run's lock may be taken over ("" when it may not): berth_lock_break, or the
    holder is gone."""
    from ansible.module_utils.parsing.convert_bool import boolean
    if boolean(view.get("berth_lock_break") or False, strict=False):
        return "broken"
    import socket
    import time
    return berth_lock.gone(holder, socket.gethostname(), host_now or time.time(),
                           int(view.get("berth_lock_lease") or 3600))


def lock_refusal(view, holder):
    """The message that refuses a run while another holds the lock."""
    return ("%s: another berth run holds the deploy lock (%s): %s. Wait for it to finish. If it is gone (killed, or "
            "its controller lost), run again with -e berth_lock_break=true; a lock not renewed for berth_lock_lease "
            "(%s s) is taken over by itself." % (view.name, view.get("berth_lock_path") or berth_lock.DEFAULT_PATH,
                                                 berth_lock.describe(holder), view.get("berth_lock_lease") or 3600))


DOWN = ("is not running", "No such container", "Connection refused", "Connection timed out", "No route to host",
        "Could not resolve hostname", "Connection reset by peer")


def host_down(probe):
    """True when the probe's failure is the host's, not the module's: the connection answered with
    an error instead of the module's result (a stopped container, a host that is down)."""
    if probe.get("unreachable"):
        return True
    text = " ".join(str(probe.get(k) or "") for k in ("msg", "module_stderr", "module_stdout"))
    return str(probe.get("msg", "")).startswith(("Module result deserialization failed", "MODULE FAILURE")) and any(
        marker in text for marker in DOWN)


def first_line(probe):
    for key in ("module_stderr", "msg"):
        lines = [line.strip() for line in str(probe.get(key) or "").splitlines() if line.strip()]
        if lines:
            return lines[0][:300]
    return "no answer"
