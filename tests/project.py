"""Shared by the unit tests: the project root and loading a project file as a module by path
(plugins, tools and the stand-in live outside any package)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name, rel):
    """Import ROOT/rel as module `name`."""
    spec = importlib.util.spec_from_file_location(name, ROOT / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_testsite_playbook(tmp_path, text, cache_root=None, **env):
    """Run the playbook `text` on localhost as a process of `make test` would (tools/testsite on
    PYTHONPATH; BERTH_TEST_CACHE=cache_root when given; no ANSIBLE_* or BERTH_TEST_* of the caller;
    env: more variables). Returns (returncode, the debug messages, stdout + stderr)."""
    import os
    import re
    import subprocess
    import sys

    book = tmp_path / "play.yml"
    book.write_text(text)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "BERTH_TEST_"))}
    run_env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), PYTHONPATH=str(ROOT / "tools/testsite"),
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    if cache_root:
        run_env["BERTH_TEST_CACHE"] = str(cache_root)
    run_env.update(env)
    proc = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(book)],
                          capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=120)
    return proc.returncode, re.findall(r'"msg": "(.*)"', proc.stdout), proc.stdout + proc.stderr
