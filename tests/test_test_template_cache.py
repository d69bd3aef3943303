"""`make test`'s shared compiled templates (tools/testsite/berth_test_templates.py): a playbook renders
the same with the cache empty, filled and without it; a second process compiles nothing anew; a
template that does not compile is never kept and fails as without the cache; processes without
BERTH_TEST_CACHE are untouched."""

import os
import subprocess
import sys
from pathlib import Path

from project import run_testsite_playbook

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tools/testsite"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    numbers: [1, 2, 3]
  tasks:
    - ansible.builtin.debug:
        msg: "{{ numbers | map('string') | join(',') }} {{ 'big' if (numbers | sum > 5) else 'small' }}"
      when: numbers | length > 2
    - ansible.builtin.assert:
        that: ["numbers | sum == 6", "(numbers | first) == 1"]
        quiet: true
    - ansible.builtin.debug:
        msg: "{{ missing | default('fallback') }}{% for n in numbers %}-{{ n * 2 }}{% endfor %}"
"""


def play(tmp_path, cache, text=PLAYBOOK):
    return run_testsite_playbook(tmp_path, text, cache.parent if cache else None)


def entries(cache):
    return {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}


def test_a_playbook_renders_the_same_with_the_cache_empty_filled_and_without_it(tmp_path):
    cache = tmp_path / "cache/templates"
    without = play(tmp_path, None)
    assert without[0] == 0 and without[1] == ["1,2,3 big", "fallback-2-4-6"], without[2]
    assert not cache.exists()
    first = play(tmp_path, cache)
    kept = entries(cache)
    assert first[:2] == without[:2] and kept
    again = play(tmp_path, cache)
    assert again[:2] == without[:2]
    # The second process compiled nothing: every source it rendered was found, none written again.
    assert entries(cache) == kept


def test_a_template_that_does_not_compile_is_never_kept(tmp_path):
    cache = tmp_path / "cache/templates"
    broken = PLAYBOOK.replace("join(',') }}", "join(',') }")
    without = play(tmp_path, None, broken)
    assert without[0] != 0
    first = play(tmp_path, cache, broken)
    kept = entries(cache)
    again = play(tmp_path, cache, broken)
    assert first[0] == again[0] == without[0]
    for run in (without, first, again):
        assert "unexpected '}'" in run[2]
    assert entries(cache) == kept


def test_only_processes_that_ask_for_it_are_patched(tmp_path):
    code = "import jinja2.environment as e; print(getattr(e.Environment, '_berth_test_template_cache', False))"
    env = dict(os.environ, PYTHONPATH=str(SITE))
    env.pop("BERTH_TEST_CACHE", None)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "False\n"
    env["BERTH_TEST_CACHE"] = str(tmp_path)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "True\n"
