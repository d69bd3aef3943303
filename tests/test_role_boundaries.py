"""Roles that read like their anchors, and that read nothing another role's tasks set (issue 26).

* No Jinja loop builds a list in a role's vars/ or tasks/: lists are built in Python (the
  planner and the filters), templates render them.
* flask_app's vars/main.yml is a few derivations of the plan.
* No role references a fact or registered variable that another role's tasks set, nor another
  role's internal (``__<role>_``) variables: the state a role renders comes from the inventory
  through the planner, whatever ran before it.
* Every role's main entry point starts with its plan (berth.stack.berth_plan), tagged always, which
  stops every host (any_errors_fatal) when any is refused.
"""

import re

import pytest
import yaml

from project import ROOT

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
LOOP = re.compile(r"\{%-?\s*for\b")


def _files(role, *folders, suffixes=(".yml", ".j2")):
    for folder in folders:
        for path in sorted((ROOT / "roles" / role / folder).rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                yield path


def _tasks(data):
    """Every task of a tasks file, blocks included."""
    for task in data or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def set_names(role):
    """Facts and registered variables the role's own tasks and handlers set."""
    names = set()
    for path in _files(role, "tasks", "handlers", suffixes=(".yml",)):
        for task in _tasks(yaml.safe_load(path.read_text())):
            if task.get("register"):
                names.add(task["register"])
            for key in ("ansible.builtin.set_fact", "set_fact"):
                if isinstance(task.get(key), dict):
                    names.update(k for k in task[key] if k != "cacheable")
    return names


@pytest.mark.parametrize("role", ROLES)
def test_no_jinja_loop_in_vars_or_tasks(role):
    for path in _files(role, "vars", "tasks", suffixes=(".yml",)):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not LOOP.search(line), "%s:%d builds with a Jinja loop: %s" % (path.relative_to(ROOT), number, line.strip())


def test_flask_app_vars_are_a_few_lines():
    lines = (ROOT / "roles/flask_app/vars/main.yml").read_text().splitlines()
    assert len(lines) <= 40, len(lines)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_references_another_role_s_facts(role):
    for other in ROLES:
        if other == role:
            continue
        names = set_names(other)
        for path in _files(role, "tasks", "handlers", "vars", "templates", "defaults"):
            text = path.read_text()
            internal = re.findall(r"\b__%s_\w+" % re.escape(other), text)
            assert not internal, "%s reads %s's internal %s" % (path.relative_to(ROOT), other, internal)
            for name in names:
                assert not re.search(r"(?<![\w.])%s\b" % re.escape(name), text), \
                    "%s reads %s, which %s's tasks set" % (path.relative_to(ROOT), name, other)


def test_the_facts_check_finds_a_fact_of_another_role():
    """The check itself can fail: flask_app sets facts the old nginx role read."""
    assert {"flask_app_deployed_releases", "__flask_app_plan"} <= set_names("flask_app")


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ("berth_ports", "firewall")])
def test_the_main_entry_point_starts_with_the_plan_tagged_always(role):
    main = yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text())
    first = main[0]
    target = first.get("ansible.builtin.import_tasks")
    target = target.get("file") if isinstance(target, dict) else target
    plan = yaml.safe_load((ROOT / "roles" / role / "tasks" / target).read_text())[0]
    assert plan["berth.stack.berth_plan"]["role"] == role
    assert plan["tags"] == ["always"]
    assert plan["any_errors_fatal"] is True
