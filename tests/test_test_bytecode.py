"""The test hosts' bytecode cache for module payloads (tools/image/berth_test_bytecode.py): sources
imported from a payload zip compile once per content, everything else as without it."""

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from project import run_testsite_playbook

import yaml

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "tools/image/berth_test_bytecode.py"

# Imports the payload's module the way a module run does (the zip first on sys.path, zipimport),
# with the hook loaded and its CACHE pointed at the test's directory; prints what it saw.
RUNNER = textwrap.dedent("""
    import json, sys, traceback, zipimport
    sys.path.insert(0, sys.argv[1])
    import berth_test_bytecode as hook
    hook.CACHE = sys.argv[2]
    compiled = []
    original = hook._compile_source
    hook._compile_source = lambda pathname, source: compiled.append(pathname) or original(pathname, source)
    sys.path.insert(0, sys.argv[3])
    import payload_mod
    try:
        payload_mod.boom()
    except RuntimeError:
        where = traceback.extract_tb(sys.exc_info()[2])[-1].filename
    print(json.dumps({"answer": payload_mod.ANSWER, "compiled": compiled, "file": payload_mod.__file__,
                      "traceback_file": where, "nested_file": payload_mod.boom.__code__.co_filename}))
""")


def payload(tmp_path, run, answer=42, name="ansible_stat_payload.zip"):
    directory = tmp_path / ("ansible_stat_payload_%s" % run)
    directory.mkdir()
    archive = directory / name
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload_mod.py", "ANSWER = %d\n\ndef boom():\n    raise RuntimeError('x')\n" % answer)
    return archive


def run(tmp_path, archive, cache):
    out = subprocess.run([sys.executable, "-c", RUNNER, str(HOOK.parent), str(cache), str(archive)],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    return json.loads(out)


def test_a_payload_source_compiles_once_then_loads_from_the_cache_under_its_new_path(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    first = run(tmp_path, payload(tmp_path, "a"), cache)
    # zipimport compiles a module's source to find its file name, then again to run it: the
    # second is already the cache's.
    assert first["answer"] == 42 and len(first["compiled"]) == 1
    assert len(list(cache.iterdir())) == 1
    second_zip = payload(tmp_path, "b")
    second = run(tmp_path, second_zip, cache)
    assert second["answer"] == 42 and second["compiled"] == []
    # Loaded from the cache, yet every code object names this run's zip, as a compile would.
    expected = str(second_zip / "payload_mod.py")
    assert second["file"] == expected
    assert second["nested_file"] == expected and second["traceback_file"] == expected


def test_a_source_that_differs_compiles_anew(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    run(tmp_path, payload(tmp_path, "a", answer=1), cache)
    other = run(tmp_path, payload(tmp_path, "b", answer=2), cache)
    assert other["answer"] == 2 and other["compiled"]
    assert len(list(cache.iterdir())) == 2


def test_zips_that_are_not_payloads_are_left_to_zipimport(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    archive = payload(tmp_path, "a", name="library.zip")
    seen = run(tmp_path, archive, cache)
    assert seen["answer"] == 42 and set(seen["compiled"]) == {str(archive / "payload_mod.py")}
    assert not list(cache.iterdir())


def test_no_cache_directory_or_a_broken_entry_only_costs_a_compile(tmp_path):
    missing = run(tmp_path, payload(tmp_path, "a"), tmp_path / "absent")
    assert missing["answer"] == 42 and missing["compiled"]
    cache = tmp_path / "cache"
    cache.mkdir()
    run(tmp_path, payload(tmp_path, "b"), cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:10])
    again = run(tmp_path, payload(tmp_path, "c"), cache)
    assert again["answer"] == 42 and again["compiled"]
    # The broken entry was replaced by a whole one, and no temporary file was left behind.
    assert [p.name for p in cache.iterdir()] == [entry.name]
    assert run(tmp_path, payload(tmp_path, "d"), cache)["compiled"] == []


def test_the_images_install_it_and_the_execution_environment_and_the_bench_remove_it():
    build = (ROOT / "tools/build-image.sh").read_text()
    assert '"$BYTECODE_HOOK"' in build.split("recipe_hash=", 1)[1].splitlines()[0]
    assert 'echo "import berth_test_bytecode" >"$root/usr/lib/python3/dist-packages/berth-test-bytecode.pth"' in build
    assert 'install -d -m 0755 "$root/var/cache/berth-test-bytecode"' in build
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    first = ee["additional_build_steps"]["prepend_base"][0]
    for path in ("/usr/lib/python3/dist-packages/berth-test-bytecode.pth",
                 "/usr/lib/python3/dist-packages/berth_test_bytecode.py", "/var/cache/berth-test-bytecode"):
        assert path in first.split() and first.startswith("RUN rm -rf ")
    assert os.path.isfile(HOOK)
    # The bench measures what a production host pays.
    bench = (ROOT / "bench/run.sh").read_text()
    start_hosts = bench.split("start_hosts() {", 1)[1].split("\n}\n", 1)[0]
    assert re.search(r'docker exec "\$n" sh -c \'rm -f /usr/lib/python3/dist-packages/berth-test-bytecode\.pth ',
                     start_hosts)


def test_make_tests_module_runs_on_the_controller_use_it_under_the_test_cache(tmp_path):
    """tools/testsite loads the same hook in every process of `make test` (a module run on the
    controller among them), with its entries under BERTH_TEST_CACHE/bytecode."""
    text = ("- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
            "    - ansible.builtin.stat: {path: /}\n      register: out\n"
            "    - ansible.builtin.debug: {msg: 'isdir={{ out.stat.isdir }}'}\n")
    outputs = []
    for _ in range(2):
        rc, messages, output = run_testsite_playbook(tmp_path, text, tmp_path / "cache")
        assert rc == 0, output
        outputs.append(messages)
        entries = sorted(p.name for p in (tmp_path / "cache/bytecode").iterdir())
        assert entries and all(name.endswith("." + sys.implementation.cache_tag) for name in entries)
    assert outputs == [["isdir=True"], ["isdir=True"]]
