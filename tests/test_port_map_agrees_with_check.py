"""The port map (playbooks/ports.yml -> berth_listeners module) and the Datadog berth_ports
check give the same verdict on the same /proc tree, because they run the same code
(module_utils/berth_proc.py assess + module_utils/berth_status.py verdict).

The port map side runs the real module through Ansible on the controller (local
connection, no host, no docker) with proc_root pointing at tests/fixtures/proc; the
check side runs checks.d/berth_ports.py under datadog-checks-base's stub aggregator.
"""

import json
import os
import subprocess
import sys

import pytest
from datadog_checks.base.stubs import aggregator
from project import ROOT, load

check_module = load("berth_ports_check_agree", "roles/datadog/files/checks.d/berth_ports.py")
FIXTURE = str(ROOT / "tests" / "fixtures" / "proc")
STATUS_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def entry(port, service, user="root", bind="127.0.0.1", proto="tcp", enabled=True):
    return {"port": port, "proto": proto, "bind": bind, "service": service, "user": user,
            "enabled": enabled, "groups": []}


ENTRIES = {
    "own_unit": entry(8000, "fixture-tcp4"),
    "foreign": entry(8000, "flask-app", user="hbnb"),
    "hand_started_wildcard": entry(5000, "datadog-agent", user="dd-agent"),
    "free": entry(8001, "flask-app", user="hbnb"),
    "hidden_same_user": entry(8080, "nginx", user="nobody", bind="::"),
    "hidden_other_user": entry(8080, "nginx", user="www-data"),
    "udp_dual_stack": entry(8126, "fixture-udp6b", proto="udp"),
    "reserved": entry(8000, "nginx", enabled=False),
}


def port_map(free_status, tmp_path):
    args = {"entries": ENTRIES, "proc_root": FIXTURE, "free_status": free_status}
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # not the project's: nothing but the module paths below
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "berth.stack.berth_listeners", "-a", json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return {row["entry"]: row for row in result["ports"]}


def check(name, free_status):
    e = ENTRIES[name]
    inst = {"entry": name, "port": e["port"], "proto": e["proto"], "bind": e["bind"], "service": e["service"],
            "user": e["user"], "free_status": free_status}
    aggregator.reset()
    error = check_module.BerthPortsCheck("berth_ports", {"proc_root": FIXTURE}, [inst]).run()
    assert error == "", error
    [sc] = aggregator.service_checks(check_module.SERVICE_CHECK)
    aggregator.reset()
    return sc


@pytest.mark.parametrize("free_status", ["critical", "warning"])
def test_same_verdict_for_every_entry(free_status, tmp_path):
    rows = port_map(free_status, tmp_path)
    assert set(rows) == set(ENTRIES)
    assert rows["reserved"]["check"] is None  # not opened: the role renders no check instance for it
    seen = set()
    for name in sorted(n for n in ENTRIES if ENTRIES[n]["enabled"]):
        sc = check(name, free_status)
        assert rows[name]["check"] == STATUS_NAMES[sc.status], name
        if rows[name]["check"] != "OK":  # Datadog keeps no message on OK
            assert rows[name]["message"] == sc.message, name
        seen.add((rows[name]["status"], rows[name]["check"]))
    # The fixture covers every verdict: owned, foreign, free (at the configured level).
    assert {("OK", "OK"), ("CONFLICT", "CRITICAL"), ("FREE", free_status.upper())} <= seen
