"""The test hosts' warm interpreter for module runs (tools/image/berth_test_modrun.py): a module
wrapper read from a pipe runs in a child of the server exactly as a fresh python3 runs it (output,
exit status, signal, traceback, working directory, environment, umask, standard streams); any other
program, or a run with no server, goes on as without it. Server and client run here as on a test
host, on a socket of the test's own (the client from a sitecustomize, as the image's .pth file)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODRUN = ROOT / "tools/image/berth_test_modrun.py"

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="the server serves root only, as on a test host")

# The first lines of every module wrapper, as ansible-core writes them.
WRAPPER = "#!/usr/bin/python3\n\nfrom __future__ import annotations\n\nimport datetime\n\n" \
          "# For test-module.py script to tell this is a ANSIBALLZ_WRAPPER\n_ANSIBALLZ_WRAPPER = True\n\n"
# What a program reports about the process that runs it.
REPORT = """
import json, os, sys
umask = os.umask(0); os.umask(umask)
print(json.dumps({"ppid": os.getppid(), "cwd": os.getcwd(), "env": os.environ.get("BERTH_PROBE"),
                  "umask": umask, "argv": sys.argv, "path0": sys.path[0], "name": __name__,
                  "stdin": sys.stdin.read(), "stdout": [sys.stdout.encoding, sys.stdout.errors],
                  "main": sys.modules["__main__"].__dict__ is globals(),
                  "globals": {k: repr(v) for k, v in globals().items() if k.startswith("__") and k != "__builtins__"}}))
"""


@pytest.fixture
def host(tmp_path):
    """A server on tmp_path's socket, and the environment of a client that uses it."""
    sock = tmp_path / "modrun.sock"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.path.insert(0, %r)\nimport berth_test_modrun\nberth_test_modrun.SOCKET = %r\n"
        "berth_test_modrun.client()\n" % (str(MODRUN.parent), str(sock)))
    env = dict(os.environ, PYTHONPATH=str(site), BERTH_PROBE="probe")
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import berth_test_modrun as m; m.SOCKET = %r; "
         "m.serve()" % (str(MODRUN.parent), str(sock))], env=dict(os.environ), stdin=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not sock.exists():
        assert server.poll() is None and time.time() < deadline, "the server did not start"
        time.sleep(0.05)
    yield {"pid": server.pid, "env": env, "sock": sock, "server": server}
    server.kill()
    server.wait()


def run(env, program, cwd, stdin_extra=b"", **kwargs):
    """python3 reading program from a pipe, as a pipelined module run: (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable], input=program.encode() + stdin_extra, capture_output=True, env=env,
                          cwd=cwd, timeout=60, **kwargs)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def report(out):
    import json

    return json.loads(out.strip().splitlines()[-1])


def test_a_module_wrapper_runs_in_a_child_of_the_server_as_python3_runs_it(host, tmp_path):
    rc, out, err = run(host["env"], WRAPPER + REPORT, cwd=tmp_path, preexec_fn=lambda: os.umask(0o027))
    assert rc == 0, err
    seen = report(out)
    assert seen["ppid"] == host["pid"]
    assert seen["cwd"] == str(tmp_path) and seen["env"] == "probe" and seen["umask"] == 0o027
    assert seen["argv"] == [""] and seen["path0"] == "" and seen["name"] == "__main__"
    assert seen["main"] and seen["globals"]["__file__"] == "'<stdin>'" and seen["stdin"] == ""
    # The same as without the server (its socket gone: the client runs the program itself).
    host["sock"].unlink()
    rc, out, err = run(host["env"], WRAPPER + REPORT, cwd=tmp_path, preexec_fn=lambda: os.umask(0o027))
    plain = report(out)
    assert rc == 0 and plain["ppid"] != host["pid"]
    assert {k: v for k, v in plain.items() if k != "ppid"} == {k: v for k, v in seen.items() if k != "ppid"}


def test_exit_status_signal_and_traceback_are_those_of_the_program(host, tmp_path):
    assert run(host["env"], WRAPPER + "import sys\nprint('out')\nsys.exit(3)\n", tmp_path)[:2] == (3, "out\n")
    rc, out, err = run(host["env"], WRAPPER + "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", tmp_path)
    assert rc == -signal.SIGTERM
    rc, out, err = run(host["env"], WRAPPER + "def f():\n    raise KeyError('missing')\nf()\n", tmp_path)
    assert rc == 1 and err.startswith("Traceback (most recent call last):\n")
    assert "KeyError: 'missing'" in err and 'File "<stdin>", line ' in err and "berth_test_modrun" not in err


def test_any_other_program_runs_as_without_it(host, tmp_path):
    rc, out, err = run(host["env"], REPORT, tmp_path)
    seen = report(out)
    assert rc == 0 and seen["ppid"] != host["pid"] and seen["argv"] == [""] and seen["name"] == "__main__"
    # A program read from a file, -c, or run as a script is never read by the client.
    script = tmp_path / "script.py"
    script.write_text(WRAPPER + REPORT)
    with open(script, "rb") as handle:
        out = subprocess.run([sys.executable], stdin=handle, capture_output=True, env=host["env"], check=True).stdout
    assert report(out.decode())["ppid"] != host["pid"]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, env=host["env"], check=True,
                         stdin=subprocess.DEVNULL).stdout
    assert report(out.decode())["argv"] == [str(script)]


def test_a_client_killed_ends_its_run_and_the_server_serves_the_next(host, tmp_path):
    marker = tmp_path / "started"
    proc = subprocess.Popen([sys.executable], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=host["env"])
    proc.stdin.write((WRAPPER + "import os, time\nopen(%r, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
                      % str(marker)).encode())
    proc.stdin.close()
    deadline = time.time() + 20
    while not marker.exists() or not marker.read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    child = int(marker.read_text())
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while os.path.exists("/proc/%d" % child) and "Z" not in Path("/proc/%d/stat" % child).read_text().split()[2]:
        assert time.time() < deadline, "the run of a killed client goes on"
        time.sleep(0.05)
    assert report(run(host["env"], WRAPPER + REPORT, tmp_path)[1])["ppid"] == host["pid"]


def test_the_images_install_it_and_the_execution_environment_and_the_bench_remove_it():
    build = (ROOT / "tools/build-image.sh").read_text()
    assert '"$MODRUN"' in build.split("recipe_hash=", 1)[1].splitlines()[0]
    assert ('echo "import berth_test_modrun; berth_test_modrun.client()" '
            '>"$root/usr/lib/python3/dist-packages/berth-test-modrun.pth"') in build
    assert 'chroot "$root" systemctl enable --quiet berth-test-modrun.service' in build
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    first = ee["additional_build_steps"]["prepend_base"][0]
    for path in ("/usr/lib/python3/dist-packages/berth-test-modrun.pth",
                 "/usr/lib/python3/dist-packages/berth_test_modrun.py",
                 "/etc/systemd/system/berth-test-modrun.service",
                 "/etc/systemd/system/multi-user.target.wants/berth-test-modrun.service"):
        assert path in first.split() and first.startswith("RUN rm -rf ")
    bench = (ROOT / "bench/run.sh").read_text()
    start_hosts = bench.split("start_hosts() {", 1)[1].split("\n}\n", 1)[0]
    assert "/usr/lib/python3/dist-packages/berth-test-modrun.pth" in start_hosts
    assert "systemctl disable --quiet --now berth-test-modrun.service" in start_hosts
