"""tools/playbook_forkserver.py: ansible-playbook forked from a process that imported Ansible
once gives what the command gives (exit code, output, configuration), one fresh process per run,
and a run that outlives its timeout is killed without taking the server down."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tools"))
import playbook_forkserver  # noqa: E402
from playbook_forkserver import ForkServer  # noqa: E402

PLAYBOOK = """\
- name: Forkserver test
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say which process runs the play and what the configuration says
      ansible.builtin.debug:
        msg: "pid={{ lookup('ansible.builtin.pipe', 'set -- $(cat /proc/$PPID/stat); echo $4') }} forks={{ lookup('ansible.builtin.config', 'DEFAULT_FORKS') }}"
    - name: Fail when asked
      ansible.builtin.fail:
        msg: failing as asked
      when: fail_now | default(false) | bool
    - name: Wait when asked
      ansible.builtin.pause:
        seconds: "{{ wait_seconds | default(0) | int }}"
      when: wait_seconds is defined
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    # The run's configuration comes from the working directory, as for the command.
    (tmp_path / "ansible.cfg").write_text("[defaults]\nforks = 7\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTEST_CURRENT_TEST"}
    env.update(PATH="%s:%s" % (BIN, env.get("PATH", "")), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="0")
    return tmp_path, env


def argv(*extra):
    return ["ansible-playbook", "-i", "localhost,", "play.yml"] + list(extra)


def recap(text):
    return [line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("localhost ")]


def test_same_exit_code_recap_and_configuration_as_the_command(project):
    cwd, env = project
    with ForkServer(env=env, cwd=str(cwd)) as server:
        for extra in ((), ("-e", "fail_now=true")):
            served = server.run(argv(*extra), timeout=120)
            plain = subprocess.run(argv(*extra), env=env, cwd=str(cwd), capture_output=True, text=True, timeout=120)
            assert served.returncode == plain.returncode
            assert recap(served.stdout) == recap(plain.stdout)
            assert "forks=7" in served.stdout
        assert served.returncode == 2
        assert "failing as asked" in served.stdout


def test_one_server_and_a_fresh_process_for_each_run(project):
    cwd, env = project
    with ForkServer(env=env, cwd=str(cwd)) as server:
        first = server.run(argv(), timeout=120)
        server_pid = server._proc.pid
        second = server.run(argv(), timeout=120)
        assert server._proc.pid == server_pid
    pids = [line.split("pid=")[1].split()[0] for out in (first.stdout, second.stdout)
            for line in out.splitlines() if "pid=" in line]
    assert len(pids) == 2 and pids[0] != pids[1] and str(server_pid) not in pids


def test_a_run_past_its_timeout_is_killed_and_the_server_serves_the_next(project):
    cwd, env = project
    with ForkServer(env=env, cwd=str(cwd)) as server:
        with pytest.raises(subprocess.TimeoutExpired):
            server.run(argv("-e", "wait_seconds=60"), timeout=5)
        assert server.run(argv(), timeout=120).returncode == 0


# A stand-in server (started as the server's "python"): for each request it sends both replies in
# one write, as the real one does when its child exits at once (a wrong vault password).
BOTH_REPLIES_AT_ONCE = """
import os, sys
requests = os.fdopen(int(sys.argv[3]))
for line in requests:
    os.write(int(sys.argv[4]), b'{"pid": 999999}\\n{"returncode": 5}\\n')
"""


def stand_in(tmp_path, name, code):
    """An executable that runs code in place of the server (its arguments as the server's)."""
    (tmp_path / (name + ".py")).write_text(code)
    path = tmp_path / name
    path.write_text('#!/bin/sh\nexec %s %s "$@"\n' % (sys.executable, tmp_path / (name + ".py")))
    path.chmod(0o755)
    return str(path)


def test_both_replies_in_one_read_are_both_used(project, tmp_path):
    # Read through a buffered file, the second reply sat in its buffer where select() could not see
    # it: the run waited for its whole timeout, then for ever (one clean-clone unit-test run hung).
    cwd, env = project
    with ForkServer(env=env, cwd=str(cwd), python=stand_in(tmp_path, "both", BOTH_REPLIES_AT_ONCE)) as server:
        for _ in range(3):
            start = time.monotonic()
            assert server.run(argv(), timeout=20).returncode == 5
            assert time.monotonic() - start < 5


def test_a_server_that_does_not_answer_is_an_error_not_a_wait(project, tmp_path, monkeypatch):
    cwd, env = project
    monkeypatch.setattr(ForkServer, "STARTED_WITHIN", 2)
    with ForkServer(env=env, cwd=str(cwd), python=stand_in(tmp_path, "silent", "import time; time.sleep(600)")) as server:
        with pytest.raises(RuntimeError, match="did not start .*play.yml within 2 s"):
            server.run(argv(), timeout=120)
        assert server._proc is None


def test_other_commands_and_the_opt_out_run_as_plain_subprocesses(project):
    cwd, env = project
    with ForkServer(env=env, cwd=str(cwd)) as server:
        assert server.run(["sh", "-c", "echo plain; exit 3"], timeout=30).returncode == 3
        assert server._proc is None
    with ForkServer(env=dict(env, BERTH_FORKSERVER="0"), cwd=str(cwd)) as server:
        assert server.run(argv(), timeout=120).returncode == 0
        assert server._proc is None


def test_shared_gives_one_server_per_environment_directory_and_thread(project):
    cwd, env = project
    try:
        first = playbook_forkserver.shared(env, str(cwd))
        assert playbook_forkserver.shared(dict(env), str(cwd)) is first
        assert playbook_forkserver.shared(dict(env, ANSIBLE_FORKS="3"), str(cwd)) is not first
        other = []
        thread = threading.Thread(target=lambda: other.append(playbook_forkserver.shared(env, str(cwd))))
        thread.start()
        thread.join()
        assert other[0] is not first
        assert first.run(argv(), timeout=120).returncode == 0
    finally:
        playbook_forkserver.close_all()
    assert first._proc is None and playbook_forkserver._SHARED == {}



def test_the_server_loads_the_plugins_every_run_loads_first():
    # PlaybookExecutor.run loads every connection, shell and become plugin and their configuration
    # definitions before the first playbook: the server does it once, before it forks a run.
    code = """
import json, sys
sys.path.insert(0, %r)
import playbook_forkserver
from ansible.cli import playbook
from ansible import constants as C
before = "ansible.plugins.connection.psrp" in sys.modules
playbook_forkserver._preload()
print(json.dumps([before] + [name in sys.modules for name in ("ansible.plugins.connection.psrp",
    "ansible.plugins.shell.powershell", "ansible.plugins.become.sudo")]
    + [C.config.has_configuration_definition("connection", "ssh")]))
""" % str(ROOT / "tools")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['[false,', 'true,', 'true,', 'true,', 'true]'], proc.stdout
