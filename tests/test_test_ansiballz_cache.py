"""`make test`'s module payloads packed once (tools/testsite/berth_test_ansiballz.py): a run with the cache
empty, filled and without it sends the same payload; a module_util whose bytes changed is packed
anew; a package without `__init__.py` does not make its entry a miss; processes without BERTH_TEST_CACHE are untouched; `make test` turns it on, `make
demo` does not."""

import base64
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from project import run_testsite_playbook

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tools/testsite"

# A module of a local collection that imports a module_util of its own, run on localhost with the
# payload kept (ANSIBLE_KEEP_REMOTE_FILES, no pipelining) so that the test can open it.
MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.probe.cache.plugins.module_utils.answer import ANSWER
from ansible_collections.probe.cache.plugins.module_utils.pkg.inner import INNER


def main():
    AnsibleModule(argument_spec={}).exit_json(changed=False, answer=ANSWER + INNER)


if __name__ == "__main__":
    main()
"""
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - probe.cache.answer: {}
      register: out
    - ansible.builtin.debug:
        msg: "answer={{ out.answer }}"
    - ansible.builtin.stat:
        path: /
"""


def collection(tmp_path, answer):
    base = tmp_path / "collections/ansible_collections/probe/cache"
    (base / "plugins/modules").mkdir(parents=True, exist_ok=True)
    (base / "plugins/module_utils").mkdir(parents=True, exist_ok=True)
    (base / "galaxy.yml").write_text("namespace: probe\nname: cache\nversion: 1.0.0\n")
    (base / "plugins/modules/answer.py").write_text(MODULE)
    (base / "plugins/module_utils/answer.py").write_text("ANSWER = %r\n" % answer)
    # A package without __init__.py: Ansible packs an empty one, named after the missing file.
    (base / "plugins/module_utils/pkg").mkdir(exist_ok=True)
    (base / "plugins/module_utils/pkg/inner.py").write_text("INNER = 0\n")


def play(tmp_path, cache):
    rc, messages, output = run_testsite_playbook(
        tmp_path, PLAYBOOK, cache.parent if cache else None, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"), ANSIBLE_REMOTE_TEMP=str(tmp_path / "remote"),
        ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0")
    assert rc == 0, output
    return messages


def payloads(tmp_path):
    """{module name: {zip member: bytes}} of the payloads kept by the last run; then removes them."""
    out = {}
    for wrapper in (tmp_path / "remote").rglob("AnsiballZ_*.py"):
        text = wrapper.read_text()
        data = re.search(r"zip_data='([^']*)'", text) or re.search(r'zip_data="([^"]*)"', text)
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(data.group(1)))) as zf:
            out[wrapper.name] = {n: zf.read(n) for n in sorted(zf.namelist())}
        wrapper.unlink()
    return out


def test_the_payload_is_the_same_with_the_cache_empty_filled_and_without_it(tmp_path):
    collection(tmp_path, 42)
    cache = tmp_path / "cache/ansiballz"
    assert play(tmp_path, None) == ["answer=42"]
    without = payloads(tmp_path)
    assert set(without) == {"AnsiballZ_answer.py", "AnsiballZ_stat.py"}
    assert not cache.exists()
    assert play(tmp_path, cache) == ["answer=42"]
    assert payloads(tmp_path) == without
    kept = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(kept) == 2
    assert play(tmp_path, cache) == ["answer=42"]
    assert payloads(tmp_path) == without
    # Used, not packed and written again.
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == kept


def test_a_module_util_that_changed_is_packed_anew(tmp_path):
    collection(tmp_path, 42)
    cache = tmp_path / "cache/ansiballz"
    assert play(tmp_path, cache) == ["answer=42"]
    payloads(tmp_path)
    kept = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    collection(tmp_path, 43)
    assert play(tmp_path, cache) == ["answer=43"]
    member = "ansible_collections/probe/cache/plugins/module_utils/answer.py"
    assert payloads(tmp_path)["AnsiballZ_answer.py"][member] == b"ANSWER = 43\n"
    # The module's entry was packed and written anew, stat's was used.
    again = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert again.keys() == kept.keys() and sorted(again[n] == kept[n] for n in kept) == [False, True]


def test_only_processes_that_ask_for_it_are_patched(tmp_path):
    code = ("import ansible.executor.module_common as m; "
            "print(getattr(m.recursive_finder, '_berth_test_ansiballz_cache', False))")
    env = dict(os.environ, PYTHONPATH=str(SITE))
    env.pop("BERTH_TEST_CACHE", None)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "False\n"
    env["BERTH_TEST_CACHE"] = str(tmp_path)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "True\n"


def test_make_test_turns_it_on_and_make_demo_does_not():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert recipe.count("PYTHONPATH=$(CURDIR)/tools/testsite BERTH_TEST_CACHE=$(TEST_CACHE)") == 2
    assert "rm -rf $(TEST_CACHE)" in recipe
    demo = makefile.split("\ndemo: ", 1)[1].split("\n\n", 1)[0]
    assert "BERTH_TEST" not in demo and "testsite" not in demo
