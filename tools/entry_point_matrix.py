#!/usr/bin/env python3
"""Run every entry point of berth against a converged fleet and check it changes nothing.

The entry points (ENTRY_POINTS below): site.yml; every playbook under playbooks/ that changes
hosts; site.yml under each play and role tag; and every role applied by its full name from a
consumer playbook (written by this script, outside playbooks/). On a converged fleet each one
must report no change with --check --diff and changed=0 for real (``--mode clean``). With a
foreign listener on a registry port of one host (``--mode foreign --foreign-host H``), every entry
point that would change that host must refuse, naming the process, and change nothing; the
others must pass with changed=0.

    tools/entry_point_matrix.py -i <inventory> --mode clean --report matrix.json
    tools/entry_point_matrix.py -i <inventory> --mode foreign --foreign-host web2 --expect-process python3 \\
        --expect-user nobody --report matrix-foreign.json

Prints one line per run (entry point, mode, rc, changed per host, seconds) and exits 1 when any
run broke its rule. ``--rollback-to`` (JSON: app -> release) makes the rollback a no-op rollback
to the releases the fleet runs (a rollback to `previous` is a change by definition).

Each run is ``ansible-playbook``'s own entry point in a fresh process, forked from one that has
imported Ansible once with the run's environment (tools/playbook_forkserver.py): the same code,
configuration and exit code as the command, without its imports and module packing paid again for
each of the matrix's runs. ``BERTH_FORKSERVER=0`` runs each as a plain subprocess.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import playbook_forkserver

ROOT = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# site.yml's play tags and the role tags of its plays (README: "Tags").
TAGS = ("db", "web", "lb", "monitoring", "firewall", "packages", "flask_app", "nginx", "mariadb", "datadog")
# Roles by their full names from someone else's playbook: role -> the hosts it is applied to.
CONSUMER_ROLES = (("berth_ports", "berth"), ("mariadb", "db"), ("flask_app", "web"), ("nginx", "web:lb"),
                  ("datadog", "berth"), ("firewall", "berth"))


def entry_points(consumer_dir, rollback_to):
    """(name, argv after ansible-playbook, whether it changes the web hosts) for every entry point."""
    out = [("site.yml", ["site.yml"], True)]
    for playbook, changes_web in (("db", False), ("web", True), ("lb", False), ("monitoring", True),
                                  ("firewall", False), ("packages", True)):
        out.append(("playbooks/%s.yml" % playbook, ["playbooks/%s.yml" % playbook], changes_web))
    out.append(("playbooks/rollout.yml", ["playbooks/rollout.yml"], True))
    rollback = ["playbooks/rollback.yml"]
    if rollback_to:
        rollback += ["-e", json.dumps({"flask_app_rollback_to": rollback_to})]
    out.append(("playbooks/rollback.yml", rollback, True))
    for tag in TAGS:
        # site.yml's preflight guards every host, whatever the tags.
        out.append(("site.yml --tags %s" % tag, ["site.yml", "--tags", tag], True))
    for role, hosts in CONSUMER_ROLES:
        path = Path(consumer_dir) / ("consumer-%s.yml" % role)
        path.write_text(
            "---\n# A consumer's playbook: berth.stack.%s by its full name, nothing of berth's playbooks.\n"
            "- name: Consumer | berth.stack.%s\n  hosts: %s\n  become: true\n  gather_facts: false\n"
            "  roles:\n    - role: berth.stack.%s\n" % (role, role, hosts, role))
        out.append(("role berth.stack.%s" % role, [str(path)], role not in ("mariadb", "firewall")))
    return out


def run(inventory, argv, check, env):
    cmd = ["ansible-playbook", "-i", inventory] + argv + (["--check", "--diff"] if check else [])
    start = time.time()
    proc = playbook_forkserver.shared(env, str(ROOT)).run(cmd, timeout=1800)
    out = proc.stdout + proc.stderr
    changed = {m.group(1): int(m.group(3)) for m in RECAP.finditer(proc.stdout)}
    failed = {m.group(1): int(m.group(5)) + int(m.group(4)) for m in RECAP.finditer(proc.stdout)}
    return {"rc": proc.returncode, "changed": changed, "failed": failed, "seconds": round(time.time() - start, 1),
            "output": out}


def verdict_clean(result):
    if result["rc"] != 0:
        return "rc %d" % result["rc"]
    if not result["changed"]:
        return "no PLAY RECAP"
    changed = {h: n for h, n in result["changed"].items() if n}
    return "changed on %s" % changed if changed else ""


def verdict_foreign(result, refuses, host, process, user):
    if any(result["changed"].values()):
        return "changed on %s" % {h: n for h, n in result["changed"].items() if n}
    if not refuses:
        return verdict_clean(result)
    if result["rc"] == 0:
        return "ran through although %s holds a registry port of %s" % (process, host)
    missing = [w for w in (host, process, user) if w and w not in result["output"]]
    return "refused without naming %s" % ", ".join(missing) if missing else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--mode", choices=("clean", "foreign"), default="clean")
    parser.add_argument("--foreign-host", default="")
    parser.add_argument("--expect-process", default="")
    parser.add_argument("--expect-user", default="")
    parser.add_argument("--rollback-to", default="", help="JSON app -> release the fleet runs")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time (ansible-playbook is CPU-bound on the controller: more only helps with "
                             "cores to spare)")
    parser.add_argument("--skip-real", action="append", default=[],
                        help="entry points whose real run is proven elsewhere (e.g. site.yml: Molecule's idempotence)")
    parser.add_argument("--report", required=True)
    parser.add_argument("--only", action="append", default=[], help="run only these entry points (names)")
    args = parser.parse_args(argv)

    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    report = {"mode": args.mode, "runs": []}
    problems = []
    with tempfile.TemporaryDirectory(prefix="berth-matrix-") as consumer_dir:
        points = entry_points(consumer_dir, json.loads(args.rollback_to) if args.rollback_to else None)
        if args.only:
            points = [p for p in points if p[0] in args.only]
        if args.mode == "clean":
            jobs = [(name, argv, True, None) for name, argv, _ in points] + [
                (name, argv, False, None) for name, argv, _ in points if name not in args.skip_real]
        else:
            # Only the entry points that would change the host with the foreign listener: the others
            # do not touch it (their changed=0 is the clean run's).
            jobs = [(name, argv, False, True) for name, argv, refuses in points if refuses]

        def one(job):
            name, argv_, check, refuses = job
            result = run(args.inventory, argv_, check, env)
            if args.mode == "clean":
                why = verdict_clean(result)
            else:
                why = verdict_foreign(result, refuses, args.foreign_host, args.expect_process, args.expect_user)
            return name, check, refuses, result, why

        # Dry runs and refusals are read-only and may run side by side; real runs one after the other.
        parallel = [j for j in jobs if j[2] or args.mode == "foreign"]
        serial = [j for j in jobs if j not in parallel]
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results.extend(pool.map(one, parallel))
        results.extend(one(job) for job in serial)
        playbook_forkserver.close_all()
        for name, check, refuses, result, why in results:
            mode = "--check --diff" if check else ("refuses" if refuses else "runs") if args.mode == "foreign" else "real"
            print("%-32s %-15s rc=%-3d changed=%s %5.1f s %s" % (
                name, mode, result["rc"], json.dumps(result["changed"], sort_keys=True), result["seconds"],
                "OK" if not why else "BROKEN: " + why))
            if why:
                problems.append((name, mode, why, result["output"]))
            report["runs"].append({"entry_point": name, "mode": mode, "rc": result["rc"], "changed": result["changed"],
                                   "seconds": result["seconds"], "ok": not why, "why": why,
                                   "refused_naming": bool(refuses) and not why and args.mode == "foreign"})
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for name, mode, why, output in problems:
        print("\n=== %s (%s): %s\n%s" % (name, mode, why, output[-6000:]), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
