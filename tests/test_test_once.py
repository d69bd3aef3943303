"""`make test`'s work done once per process (tools/testsite/berth_test_once.py): a playbook's output
is the same with it and without it; its workers load no plugin that its process loaded before
forking them; berth's planner has its specs read by then; Molecule checks `ansible-playbook` once
per process, and a failing check is never remembered."""

import json
import os
import subprocess
import sys

from project import ROOT, run_testsite_playbook

SITE = ROOT / "tools/testsite"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    names: [b, a, c]
  tasks:
    - ansible.builtin.debug:
        msg: "{{ names | sort | join(',') }} {{ names | select('in', ['a', 'c']) | list | length }}"
    - ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.template', 'one.j2') | trim }}"
      when: names is defined
    # A module run: its payload imports ansible's data tags from a zip (patched in this process too).
    - ansible.builtin.stat:
        path: /
      register: root
    - ansible.builtin.debug:
        msg: "isdir {{ root.stat.isdir }}"
"""


def play(tmp_path, cache):
    (tmp_path / "one.j2").write_text("{{ names | map('upper') | join('') }}\n")
    return run_testsite_playbook(tmp_path, PLAYBOOK, cache)


def test_same_output_and_the_second_process_workers_load_nothing_new(tmp_path):
    cache = tmp_path / "cache"
    without = play(tmp_path, None)
    assert without[0] == 0 and without[1] == ["a,b,c 2", "BAC", "isdir True"], without[2]
    first = play(tmp_path, cache)
    assert first[:2] == without[:2], first[2]
    learned = (cache / "worker-plugins.txt").read_text().splitlines()
    # What the workers loaded by name: the filters, the test and the lookup of the playbook.
    assert {"filter_loader sort", "filter_loader join", "test_loader in", "lookup_loader ansible.builtin.template",
            "filter_loader upper"} <= set(learned), learned
    again = play(tmp_path, cache)
    assert again[:2] == without[:2], again[2]
    # The second process loaded them before forking: its workers found them and learned nothing.
    assert (cache / "worker-plugins.txt").read_text().splitlines() == learned


def run_python(code, cache, with_output=False):
    """Run `code` as a process of `make test` would (BERTH_TEST_CACHE=cache when given): the JSON of
    its last line of output, and with_output: (that, the lines before it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "BERTH_TEST_"))}
    env.update(PYTHONPATH=str(SITE), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    if cache:
        env["BERTH_TEST_CACHE"] = str(cache)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    return (json.loads(lines[-1]), lines[:-1]) if with_output else json.loads(lines[-1])


def test_the_action_of_a_task_is_imported_before_the_fork_and_berths_planner_reads_its_specs(tmp_path):
    out = run_python("""
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
import ansible.executor.process.worker
import berth_test_once

class Task:
    action = "berth.stack.berth_plan"
    collections = []

name = "ansible_collections.berth.stack.plugins.action.berth_plan"
before = name in sys.modules
berth_test_once.warm_action(Task())
module = sys.modules.get(name)
print(json.dumps({"before": before, "loaded": module is not None,
                  "specs": sorted(module._SPECS) if module else []}))
""", tmp_path)
    assert not out["before"] and out["loaded"]
    assert {"flask_app", "nginx", "datadog", "mariadb"} <= set(out["specs"]), out


def test_molecule_checks_ansible_playbook_once_and_never_remembers_a_failure(tmp_path):
    out = run_python("""
import json, subprocess
import molecule.provisioner.ansible_playbook as mod

calls = []
real = subprocess.run

def fake(argv, **kwargs):
    calls.append(argv)
    if argv[0] == "broken-playbook":
        raise subprocess.CalledProcessError(1, argv)
    return subprocess.CompletedProcess(argv, 0, "ansible-playbook [core]", "")

mod.subprocess.run = fake

class Playbook:
    _log = __import__("logging").getLogger("x")

check = mod.AnsiblePlaybook._validate_backend
for backend in ("ansible-playbook", "ansible-playbook", "broken-playbook", "broken-playbook"):
    try:
        check(Playbook(), backend)
    except RuntimeError:
        pass
print(json.dumps([argv[0] for argv in calls]))
""", tmp_path)
    assert out == ["ansible-playbook", "broken-playbook", "broken-playbook"]


def test_a_deep_copy_keeps_each_tag_and_copies_the_containers(tmp_path):
    code = """
import copy, json
from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.module_utils._internal._datatag import AnsibleTagHelper

origin = Origin(path="/inv/group_vars/all.yml", line_num=3, col_num=5)
value = {"apps": [origin.tag(TrustedAsTemplate().tag("{{ x }}"))], "port": origin.tag(8000)}
copied = copy.deepcopy(value)
copied["apps"].append("new")
tag = Origin.get_tag(copied["apps"][0])
print(json.dumps({"equal": copied["apps"][0] == value["apps"][0] and copied["port"] == 8000,
                  "tags": sorted(t.__name__ for t in AnsibleTagHelper.tag_types(copied["apps"][0])),
                  "line": tag.line_num, "same_tag": tag is origin,
                  "same_scalars": copied["port"] is value["port"] and copied["apps"][0] is value["apps"][0],
                  "original_untouched": value["apps"] == ["{{ x }}"]}))
"""
    expected = {"equal": True, "tags": ["Origin", "TrustedAsTemplate"], "line": 3, "same_tag": True,
                "same_scalars": True, "original_untouched": True}
    assert run_python(code, tmp_path) == expected
    # Outside `make test` (no BERTH_TEST_CACHE) Ansible rebuilds each tag, as it does by itself.
    assert run_python(code, None) == dict(expected, same_tag=False, same_scalars=False)


def test_a_patch_runs_on_its_own_module_when_one_zip_serves_several(tmp_path):
    # A module payload is a zip: one loader runs every module in it, and a module it patches
    # imports others from the same zip while it runs (ansible's _datatag imports _patches).
    import zipfile

    with zipfile.ZipFile(tmp_path / "payload.zip", "w") as payload:
        payload.writestr("pkg/__init__.py", "")
        payload.writestr("pkg/tagged.py", "from pkg import helper\nVALUE = helper.VALUE + 1\n")
        payload.writestr("pkg/helper.py", "VALUE = 1\n")
        payload.writestr("pkg/later.py", "VALUE = 3\n")
    out = run_python("""
import json, sys
sys.path.insert(0, %r)
import berth_test_cache
patched = []
berth_test_cache.when_imported("pkg.tagged", lambda module: patched.append((module.__name__, module.VALUE)))
import pkg.tagged, pkg.later
print(json.dumps({"patched": patched, "later": pkg.later.VALUE}))
""" % str(tmp_path / "payload.zip"), None)
    assert out == {"patched": [["pkg.tagged", 2]], "later": 3}, out


def test_ansible_lint_syntax_checks_run_forked_with_the_same_findings(tmp_path):
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "playbooks/bad.yml").write_text(
        "---\n- name: Bad\n  hosts: all\n  tasks:\n    - name: Unknown keyword\n"
        "      ansible.builtin.debug:\n        msg: hi\n      bogus_keyword: 1\n")
    (project / "playbooks/good.yml").write_text(
        "---\n- name: Good\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Say hi\n"
        "      ansible.builtin.debug:\n        msg: hi\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    # ansible-lint in this process, every command it starts with subprocess.run logged.
    code = """
import json, os, subprocess, sys
os.chdir(%r)
started = []
real = subprocess.run

def run(argv, *args, **kwargs):
    started.append(" ".join(argv) if isinstance(argv, list) else str(argv))
    return real(argv, *args, **kwargs)

subprocess.run = run
from ansiblelint.__main__ import main
try:
    rc = main(["ansible-lint", "--offline", "--nocolor", "-f", "pep8", "playbooks/"])
except SystemExit as exc:
    rc = exc.code
sys.stdout.flush()
print(json.dumps([rc, [s for s in started if "--syntax-check" in s]]))
""" % str(project)

    def lint(cache):
        (rc, started), lines = run_python(code, cache, with_output=True)
        return rc, sorted(line for line in lines if "syntax-check" in line), started

    plain = lint(None)
    assert plain[0] == 2 and any("conflicting action statements" in line for line in plain[1]), plain
    assert len(plain[2]) == 2, plain
    # Under `make test` the same findings, and no check started as a command of its own.
    forked = lint(tmp_path / "cache")
    assert forked[:2] == plain[:2] and forked[2] == [], forked
