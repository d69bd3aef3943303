"""Unit tests for the secret search's process sampler (molecule/resources/process-sampler.py)."""

import io
import os
import pwd
import stat
import subprocess
import sys
import time

from project import load

sampler = load("process_sampler", "molecule/resources/process-sampler.py")


def _sampled_beside(script, marker, interval, cycles):
    """The sampler's lines while a Python child runs ``script`` with ``marker`` as its argument,
    sampled once the child runs its own command line (right after the fork it shows the parent's)."""
    child = subprocess.Popen([sys.executable, "-c", script, marker])
    try:
        deadline = time.monotonic() + 10
        while marker.encode() not in open("/proc/%d/cmdline" % child.pid, "rb").read():
            assert time.monotonic() < deadline, "the child never ran its command"
            time.sleep(0.01)
        out = io.StringIO()
        sampler.sample(out, interval, cycles=cycles)
    finally:
        child.kill()
        child.wait()
    return out.getvalue().splitlines()


def test_each_command_line_once_with_its_owner():
    lines = _sampled_beside("import time; time.sleep(30)", "berth-sampled-arg", 0.01, 3)
    me = pwd.getpwuid(os.getuid()).pw_name
    expected = "%s %s -c import time; time.sleep(30) berth-sampled-arg" % (me, sys.executable)
    assert lines.count(expected) == 1, lines
    assert len(lines) == len(set(lines))


def test_a_command_line_with_line_breaks_is_one_line():
    # bash -c with a multi-line script: one line per process, whatever else the machine runs.
    lines = _sampled_beside("import time\ntime.sleep(30)\r\n", "berth-two-lines", 0, 1)
    assert "%s -c import time time.sleep(30)   berth-two-lines" % sys.executable in [
        line.split(" ", 1)[1] for line in lines
    ]
    assert all(" " in line and not line.startswith(" ") for line in lines), lines


def test_a_process_without_a_command_line_is_listed_by_name():
    # A zombie has no cmdline: it is listed as [comm], like ps does.
    child = subprocess.Popen(["sleep", "0"])
    deadline = time.monotonic() + 10
    while not open("/proc/%d/stat" % child.pid).read().split(") ")[1].startswith("Z"):
        assert time.monotonic() < deadline, "sleep 0 never exited"
        time.sleep(0.01)
    try:
        out = io.StringIO()
        sampler.sample(out, 0, cycles=1)
    finally:
        child.wait()
    assert "[sleep]" in [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]


def test_the_listing_is_root_only(tmp_path):
    out = tmp_path / "ps.log"
    mine = open("/proc/self/cmdline", "rb").read().rstrip(b"\0").replace(b"\0", b" ").decode()
    proc = subprocess.Popen([sys.executable, sampler.__file__, str(out), "0.05"])
    try:
        for _ in range(200):
            if out.exists() and mine in out.read_text():
                break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    listing = out.read_text()
    assert mine in listing
    assert "process-sampler.py" not in listing  # not itself
