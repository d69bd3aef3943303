#!/usr/bin/python3
"""Test harness (Molecule only): every command line a test host runs, each distinct one once.

Usage: process-sampler.py OUT [INTERVAL]

Every INTERVAL seconds (default 0.2) it reads /proc directly: each process's owner (the owner of
/proc/<pid>) and its command line (/proc/<pid>/cmdline, the NULs and line breaks as spaces; a process without one,
a zombie, as ``[comm]``), and appends each ``user args`` line not seen before to OUT, created
mode 0600 (the listing may hold a secret: finding one is what the secret search is for).

It replaces ``ps -e -ww -o user=,args=`` in a shell loop: that forked a shell, ps, sleep and
awk's pipe every cycle and read several /proc files per process, so four sampled hosts spent a
tenth of a core on it for the whole scenario. This reads two small files per process.
"""
import os
import pwd
import sys
import time


# A command line may hold line breaks (``bash -c`` with a script): they become spaces, so that each
# process stays one ``user args`` line and its words stay whole for the search.
_ONE_LINE = {ord("\n"): " ", ord("\r"): " "}


def _user(uid, names):
    if uid not in names:
        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:  # a DynamicUser= of systemd, gone already: its number, as ps prints it
            names[uid] = str(uid)
    return names[uid]


def _line(pid, names):
    """``user args`` of one process, or None when it is gone."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            raw = f.read()
        uid = os.stat("/proc/%s" % pid).st_uid
        if not raw:
            with open("/proc/%s/comm" % pid, "rb") as f:
                raw = b"[" + f.read().rstrip(b"\n") + b"]"
    except OSError:
        return None
    args = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace").translate(_ONE_LINE)
    return "%s %s" % (_user(uid, names), args)


def sample(out, interval, cycles=None):
    """Append every new line to the open text file ``out``; ``cycles`` bounds it for tests."""
    seen, names, me, n = set(), {}, str(os.getpid()), 0
    while cycles is None or n < cycles:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and pid != me:
                line = _line(pid, names)
                if line is not None and line not in seen:
                    seen.add(line)
                    out.write(line + "\n")
        out.flush()
        n += 1
        time.sleep(interval)


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit("usage: process-sampler.py OUT [INTERVAL]")
    fd = os.open(argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        sample(out, float(argv[2]) if len(argv) == 3 else 0.2)


if __name__ == "__main__":
    main(sys.argv)
