# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""What the flask_app role does after planning: every list its tasks hand to a module.

The role reads probe -> plan -> write files -> systemctl -> gate. ``berth_plan`` plans and
decides what to install and build from the probe; the functions here take the plan (the
``berth.stack.berth_plan`` result: its section, ``probe`` and ``decision``) and what the
later modules returned, and give:

* :func:`builds` - the berth_release module's items (the app's environment for its import
  check, secrets included, under no_log);
* :func:`files` - the berth_files entries: units, gunicorn configs, env files, then the
  ``current`` links (rendered from the role's templates on the controller);
* :func:`apply` - which apps restart, reload (after a config check) or start;
* :func:`gate_items`, :func:`gate_restore`, :func:`restore_files`, :func:`gate_message` -
  the gate, and putting back an app that failed it;
* :func:`prune` - the release directories beyond ``keep_releases``;
* :func:`dumps` - the apps whose database is dumped before they switch;
* :func:`rollback_files` - the links and env files of a rollback.

Pure Python; the filters of ``plugins/filter/flask_app.py`` wrap these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_apps as apps_core
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core
except ImportError:  # outside Ansible: the files beside this one
    import berth_apps as apps_core  # type: ignore
    import berth_registry as core  # type: ignore

UNIT_DIR = "/etc/systemd/system"


def _m(value):
    return value if isinstance(value, Mapping) else {}


def _selected(plan):
    return [r for r in plan["apps"] if r["name"] in plan["selected"]]


def _selected_names(plan):
    return [r["name"] for r in _selected(plan)]


def without(plan, names):
    """The plan with the apps ``names`` (failed builds) left out of this run's selection: nothing
    is written, switched, started or gated for them."""
    left_out = set(names or ())
    out = dict(plan)
    out["selected"] = [n for n in plan["selected"] if n not in left_out]
    return out


def failures(plan, built=None, gate_failed=None, gate_message=""):
    """App name -> why it failed in this run (its build and import check, or its gate), and
    whether every selected app failed (the host is refused as a whole)."""
    out = {}
    for name, message in _m(_m(built).get("failed_apps")).items():
        out[name] = str(message)
    for name in gate_failed or []:
        out.setdefault(name, gate_message or "failed its health gate")
    selected = list(plan.get("selected") or [])
    return {"apps": out, "all": bool(selected) and all(n in out for n in selected)}


def failure_message(plan, report, host, late=False):
    """The message that fails a host whose apps failed: every failed app with its error, and the
    apps that were deployed."""
    failed = _m(report.get("apps"))
    deployed = [n for n in plan.get("selected") or [] if n not in failed]
    lines = ["flask_app on %s: %d app(s) failed: %s." % (host, len(failed), ", ".join(sorted(failed)))]
    for name in sorted(failed):
        lines.append("- %s: %s" % (name, failed[name]))
    if report.get("all"):
        lines.append("No app of the host deployed: the host is refused as a whole (its Nginx is left as it was).")
    else:
        lines.append("Deployed and serving: %s; each failed app is left on its previous release, or stopped on a first "
                     "deploy%s." % (", ".join(deployed) or "none",
                                    " (and the host's Nginx routes the apps that deployed)" if late else ""))
    return "\n".join(lines)


def releases_of(plan):
    """App name -> release id this run deploys (the plan's, with git commits once known)."""
    return dict(plan.get("releases") or {}, **_m(_m(plan.get("decision")).get("releases")))


def env_file(plan, record, release, secrets):
    """The whole environment of an app's release: public, BERTH_RELEASE, secrets, its own env."""
    env = dict(plan["env"][record["name"]])
    env["BERTH_RELEASE"] = release or "unknown"
    env.update(_m(secrets).get(record["name"]) or {})
    env.update(record["env"])
    return env


def git_releases(results):
    """App name -> release id of the git apps, from the git module's loop results."""
    out = {}
    for result in results or []:
        name = _m(result.get("item")).get("name")
        if name:
            after = str(result.get("after") or "unknown")
            out[name] = "git-" + after[:12]
    return out


def builds(plan, secrets, git=None):
    """The berth_release module's ``builds``: every release the decision says to build."""
    releases = releases_of(plan)
    git_results = {(_m(r.get("item")).get("name")): r for r in (git or [])}
    out = []
    for record in plan["apps"]:
        if record["name"] not in _m(plan.get("decision")).get("build", []):
            continue
        release = releases[record["name"]]
        if record["git_repo"]:
            source = {"kind": "git", "mirror": record["root"] + "/git-mirror",
                      "commit": str(_m(git_results.get(record["name"])).get("after") or "")}
        else:
            source = {"kind": "local", "dir": record["source_dir"]}
        env = env_file(plan, record, release, secrets)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        out.append({
            "name": record["name"], "release": release, "root": record["root"], "user": record["user"],
            "group": record["group"], "wsgi": record["wsgi"], "state_dir": record["state_dir"], "source": source,
            "requirements": record["requirements"], "requirements_file": record["requirements_file"],
            "gunicorn_requirement": plan.get("gunicorn_requirement") or "gunicorn==23.0.0",
            "static": record["static"], "persistent": record["persistent"],
            "system_site_packages": record["system_site_packages"], "pip_extra_args": record["pip_extra_args"],
            "check_attempts": record["check_attempts"], "var": record.get("var") or "", "env": env,
            "database": record.get("database"),
        })
    return out


def files(plan, secrets, releases=None):
    """berth_files entries for the selected apps: every unit (verified by systemd-analyze before it
    goes live) and gunicorn config (parsed), every env file (secret), then each app's ``current``
    moved to its new release (the replaced one becomes ``previous``)."""
    releases = releases or releases_of(plan)
    apps = _selected(plan)
    out = []
    for record in apps:
        out.append({"path": "%s/%s.service" % (UNIT_DIR, record["service"]), "owner": "root", "group": "root",
                    "mode": "0644", "template": "flask_app.service.j2", "vars": {"item": record},
                    "validate": "systemd-analyze verify %s"})
        out.append({"path": record["conf_dir"] + "/gunicorn.conf.py", "owner": "root", "group": record["group"],
                    "mode": "0640", "template": "gunicorn.conf.py.j2", "vars": {"item": record},
                    "validate": '/usr/bin/python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" %s'})
    out.extend(env_entries(plan, apps, releases, secrets))
    for record in apps:
        out.append({"path": record["root"] + "/current", "state": "link",
                    "src": "%s/releases/%s" % (record["root"], releases[record["name"]]),
                    "previous": record["root"] + "/previous"})
    return out


def env_entries(plan, records, releases, secrets):
    """The env files of ``records`` for ``releases`` (secret entries: never in a diff or a result)."""
    return [{"path": record["conf_dir"] + "/app.env", "owner": "root", "group": record["group"], "mode": "0640",
             "secret": True, "template": "app.env.j2",
             "vars": {"item": record, "env": env_file(plan, record, releases.get(record["name"]), secrets)}}
            for record in records]


def switched(plan, result):
    """The selected apps whose ``current`` moved in the berth_files run (a new app's first link
    not included: it starts)."""
    entries = _m(_m(result).get("entries"))
    out = []
    for record in _selected(plan):
        link = _m(entries.get(record["root"] + "/current"))
        if link.get("changed") and link.get("before"):
            out.append(record["name"])
    return out


def apply(plan, result, built=None):
    """How each change of the berth_files run goes live.

    ``daemon_reload``: a unit file changed; ``restart``: apps already deployed whose unit changed,
    or that switched to a release built from other requirements (new pins need a new master);
    ``reload``: the others that switched or whose env file or gunicorn config changed (graceful HUP,
    after their config check); ``start``: the selected apps the probe did not find enabled and
    running (a first start). Every other app is left alone.
    """
    decision = _m(plan.get("decision"))
    probe_apps = _m(_m(plan.get("probe")).get("apps"))
    releases = releases_of(plan)
    changed = list(_m(result).get("changed_paths") or [])
    # Only the apps this run deploys: an app whose build or import check failed (left out by
    # without()) has no unit to start nor a switch to apply.
    selected = _selected_names(plan)
    # A switch an earlier run made but never applied counts as this run's.
    unapplied = _m(decision.get("unapplied"))
    moved = switched(plan, result) + [n for n in selected if n in unapplied]
    dirs = {os.path.dirname(p) for p in changed}
    requirements = {}
    for name, state in probe_apps.items():
        requirements[name] = dict(_m(_m(state).get("requirements")))
    for name, sha in _m(_m(built).get("requirements")).items():
        requirements.setdefault(name, {})[releases.get(name, "")] = sha
    deployed = set(decision.get("deployed") or [])
    restart, reload = [], []
    for record in _selected(plan):
        name = record["name"]
        if name not in deployed:
            continue
        unit = "%s/%s.service" % (UNIT_DIR, record["service"]) in changed
        old = unapplied.get(name) or os.path.basename(str(_m(probe_apps.get(name)).get("current") or ""))
        reqs = requirements.get(name, {})
        if unit or (name in moved and old and reqs.get(old, "old") != reqs.get(releases.get(name), "new")):
            restart.append(name)
        elif name in moved or record["conf_dir"] in dirs:
            reload.append(name)
    services = {r["name"]: r["service"] for r in plan["apps"]}
    start = [n for n in decision.get("not_running") or [] if n in selected]
    return {
        "daemon_reload": any(p.startswith(UNIT_DIR + "/") for p in changed),
        "restart": restart,
        "reload": reload,
        "start": start,
        "restart_units": [services[n] + ".service" for n in restart],
        "reload_units": [services[n] + ".service" for n in reload],
        "start_units": [services[n] + ".service" for n in start],
        "switched": moved,
        "any": bool(changed or moved or start),
    }


def config_checks(plan, names, secrets):
    """The berth_release module's ``checks``: the gunicorn config and app import of each app in
    ``names``, as its user with its environment, before a reload."""
    releases = releases_of(plan)
    out = []
    for record in plan["apps"]:
        if record["name"] not in names:
            continue
        env = env_file(plan, record, releases.get(record["name"]), secrets)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        out.append({"name": record["name"], "user": record["user"], "group": record["group"], "root": record["root"],
                    "conf_dir": record["conf_dir"], "check_attempts": record["check_attempts"], "env": env})
    return out


def gate_items(plan, releases=None, names=None, url_of=None):
    """The probe's gate items: per app its health check (on its own port, its socket, or
    ``url_of(record)``) and the release that must serve."""
    releases = releases or releases_of(plan)
    out = []
    for record in plan["apps"]:
        if record["name"] not in (names if names is not None else plan["selected"]):
            continue
        if url_of is not None:
            item = apps_core.probe_item(record, releases, url_of(record))
            item["socket"] = ""
        elif record.get("socket"):
            item = apps_core.probe_item(record, releases, "http://localhost" + record["health"]["path"])
        else:
            item = apps_core.probe_item(record, releases, core.url(record, record["health"]["path"]))
        out.append(item)
    return out


def nginx_gate_items(plan, entry, releases, retries=10, delay=1, timeout=5):
    """Gate items through the host's Nginx (``entry``: its HTTP registry entry): the apps with a
    route, each polled on the path that reaches its health check."""
    items = []
    for item in gate_items(plan, releases, url_of=lambda r: core.url(entry, apps_core.nginx_path(r) or "/")):
        record = next(r for r in plan["apps"] if r["name"] == item["name"])
        if not record["routes"]:
            continue
        item.update({"health_retries": retries, "health_delay": delay, "health_timeout": timeout})
        items.append(item)
    return items


def gate_restore(plan, moved):
    """App name -> {current, previous} to put back when its gate fails: the release that served
    before it switched in this run."""
    states = _m(_m(plan.get("probe")).get("apps"))
    unapplied = _m(_m(plan.get("decision")).get("unapplied"))
    roots = {r["name"]: r["root"] for r in plan["apps"]}
    out = {}
    for name in moved or []:
        state = _m(states.get(name))
        if name in unapplied:
            # `current` already named the new release: what served is the release to put back.
            out[name] = {"current": "%s/releases/%s" % (roots[name], unapplied[name]),
                         "previous": state.get("previous") or ""}
        elif state.get("current"):
            out[name] = {"current": state["current"], "previous": state.get("previous") or ""}
    return out


def failed_apps(items, gate):
    """Names of the gated apps that did not pass."""
    states = _m(_m(gate).get("apps"))
    return [i["name"] for i in items if not _m(states.get(i["name"])).get("passed")]


def restore_files(plan, restore, failed, secrets):
    """berth_files entries that put each failed app with a release to go back to on it again:
    ``current`` and ``previous``, and its env file naming that release."""
    records = [r for r in plan["apps"] if r["name"] in failed and r["name"] in (restore or {})]
    out = []
    for record in records:
        back = restore[record["name"]]
        out.append({"path": record["root"] + "/current", "state": "link", "src": back["current"]})
        if back.get("previous"):
            out.append({"path": record["root"] + "/previous", "state": "link", "src": back["previous"]})
    out.extend(env_entries(plan, records, {n: os.path.basename(v["current"]) for n, v in (restore or {}).items()},
                           secrets))
    return out


def gate_message(plan, items, gate, releases, restore, journals, host):
    """The failure message of a gate: per failed app what its check expected and last saw, whether it
    was switched back, and its journal; then the apps that passed."""
    states = _m(_m(gate).get("apps"))
    journal = {}
    for result in journals or []:
        name = _m(result.get("item")).get("name")
        if name:
            journal[name] = str(result.get("stdout") or "")
    failed = failed_apps(items, gate)
    parts = []
    for record in plan["apps"]:
        if record["name"] not in failed:
            continue
        proof = _m(states.get(record["name"]))
        health = _m(proof.get("health")) or {"verdict": "not reached"}
        release = (releases or {}).get(record["name"], "")
        expected = record["health"]
        if health.get("verdict"):
            detail = "health check %s expected status %s%s%s%s; last: %s %s" % (
                expected["path"], "/".join(str(s) for s in expected["status"]),
                (", body containing " + expected["body"]) if expected["body"] else "",
                (", JSON " + _json(expected["json"])) if expected["json"] else "",
                (", %s=%s" % (expected["release_key"], release)) if expected["release_key"] else "",
                health["verdict"], (str(health.get("content") or "") or str(health.get("msg") or ""))[:300])
        else:
            detail = "proof from /proc: %s" % (proof.get("proof") or "not reached")
        back = (restore or {}).get(record["name"])
        parts.append(
            "flask_app on %s: app %s, release %s failed the health gate (%s). %s Last %s journal lines of %s.service:\n%s"
            % (host, record["name"], release, detail,
               ("current was switched back to %s and the service restarted." % os.path.basename(back["current"]))
               if back else "No earlier release to switch back to.",
               record["health_journal_lines"], record["service"], journal.get(record["name"], "")))
    passed = [i["name"] for i in items if i["name"] not in failed]
    parts.append("Apps that passed keep their new release: %s." % (", ".join(passed) or "none"))
    return "\n".join(parts)


def _json(value):
    import json
    return json.dumps(value, sort_keys=True)


def prune(plan, result=None):
    """Release directories beyond each selected app's newest ``keep_releases``: never current,
    previous, the release just deployed or the one that served before this run."""
    states = _m(_m(plan.get("probe")).get("apps"))
    releases = releases_of(plan)
    moved = switched(plan, result) if result is not None else []
    out = []
    for record in _selected(plan):
        state = _m(states.get(record["name"]))
        new = "%s/releases/%s" % (record["root"], releases.get(record["name"], ""))
        dirs = list(state.get("releases") or [])
        if new not in dirs:
            dirs.insert(0, new)
        current = new if record["name"] in moved else str(state.get("current") or "")
        previous = str(state.get("current") or "") if record["name"] in moved else str(state.get("previous") or "")
        keep = {current, previous, new, str(state.get("current") or "")}
        out.extend(d for d in dirs[int(record["keep_releases"]):] if d not in keep)
    return out


def dumps(plan):
    """The selected apps whose database is dumped into the release they leave (dump_on_switch):
    those serving a release other than the new one."""
    states = _m(_m(plan.get("probe")).get("apps"))
    releases = releases_of(plan)
    out = []
    for record in _selected(plan):
        database = record.get("database") or {}
        current = str(_m(states.get(record["name"])).get("current") or "")
        if database.get("dump_on_switch") and current and os.path.basename(current) != releases.get(record["name"]):
            out.append(dict(record, leaving=current))
    return out


def rollback_files(plan, secrets):
    """berth_files entries of a rollback: each selected app's ``current`` on its target (the
    release it served becoming ``previous``), and its env file naming the target."""
    targets = _m(_m(plan.get("decision")).get("targets"))
    states = _m(_m(plan.get("probe")).get("apps"))
    records = [r for r in _selected(plan) if r["name"] in targets]
    out = []
    for record in records:
        entry = {"path": record["root"] + "/current", "state": "link", "src": targets[record["name"]]}
        if _m(states.get(record["name"])).get("current"):
            entry["previous"] = record["root"] + "/previous"
        out.append(entry)
    out.extend(env_entries(plan, records, {n: os.path.basename(t) for n, t in targets.items()}, secrets))
    return out


def command_failures(results, host, kind, targets=None):
    """The failure message of a dump (``kind`` dump) or a dump restore (``restore``) loop, or ""
    when every item succeeded."""
    failed = [r for r in results or [] if isinstance(r, Mapping) and r.get("rc") not in (None, 0)]
    if not failed:
        return ""
    lines = []
    for result in failed:
        record = _m(result.get("item"))
        database = _m(record.get("database"))
        tail = " | ".join((result.get("stderr_lines") or [])[-5:])
        if kind == "dump":
            lines.append("%s on %s: the dump of database %s (%s:%s) before the switch failed (exit %s): %s."
                         % (record.get("name"), host, database.get("name"), database.get("host"), database.get("port"),
                            result.get("rc"), tail))
        else:
            lines.append("%s on %s: restoring the dump of database %s kept with release %s failed (exit %s): %s."
                         % (record.get("name"), host, database.get("name"),
                            os.path.basename(str(_m(targets).get(record.get("name"), ""))), result.get("rc"), tail))
    if kind == "dump":
        lines.append("Nothing was switched. Fix the database's reachability or the account's privileges, or set "
                     "dump_on_switch: false for the app.")
    else:
        lines.append("The release is switched back but not restarted; the database is as the failed restore left it. "
                     "A release without a dump (switched to before dump_on_switch was on) cannot be restored: run "
                     "without flask_app_rollback_restore_dump.")
    return "\n".join(lines)
