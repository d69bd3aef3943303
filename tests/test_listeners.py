"""/proc listener discovery and the preflight decision (module_utils/berth_proc.py).

Fixture: tests/fixtures/proc, captured from a real systemd container (see its README).
"""

import ipaddress
import os

import pytest

from ansible_collections.berth.stack.plugins.module_utils import berth_proc as bp

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "proc")
USERS = {0: "root", 65534: "nobody"}


def username(uid):
    return USERS.get(uid, str(uid))


@pytest.fixture(scope="module")
def sockets():
    return bp.listeners(FIXTURE, username=username)


def find(sockets, proto, port):
    return [s for s in sockets if s["proto"] == proto and s["port"] == port]


@pytest.mark.parametrize("proto,family,address,port,pid,comm,user,unit", [
    ("tcp", 4, "127.0.0.1", 8000, 58, "python3", "root", "fixture-tcp4.service"),
    ("tcp", 6, "::", 8080, None, None, "nobody", None),
    ("udp", 4, "127.0.0.1", 8125, 72, "python3", "root", "fixture-udp4.service"),
    ("udp", 6, "::", 8126, 106, "python3", "root", "fixture-udp6b.service"),
    ("tcp", 4, "0.0.0.0", 5000, 87, "python3", "root", None),
])
def test_listeners_from_fixture(sockets, proto, family, address, port, pid, comm, user, unit):
    [sock] = find(sockets, proto, port)
    assert (sock["family"], sock["address"], sock["pid"], sock["comm"], sock["user"], sock["unit"]) == \
        (family, address, pid, comm, user, unit)


def test_established_connections_are_not_listeners(sockets):
    assert not find(sockets, "tcp", 53974)
    assert len(find(sockets, "tcp", 8000)) == 1


@pytest.mark.parametrize("hexaddr,family,byteorder,text", [
    ("0100007F", 4, "little", "127.0.0.1"),
    ("00000000", 4, "little", "0.0.0.0"),
    ("7F000001", 4, "big", "127.0.0.1"),
    ("00000000000000000000000001000000", 6, "little", "::1"),
    ("00000000000000000000000000000000", 6, "little", "::"),
    ("0000000000000000FFFF00000100007F", 6, "little", "::ffff:127.0.0.1"),
    ("000080FE00000000FF005452B35A12FE", 6, "little", "fe80::5254:ff:fe12:5ab3"),
])
def test_decode_address(hexaddr, family, byteorder, text):
    assert ipaddress.ip_address(bp.decode_address(hexaddr, family, byteorder)) == ipaddress.ip_address(text)


@pytest.mark.parametrize("text,unit", [
    # cgroup v1 (this machine's containers): the name=systemd line wins.
    ("12:cpu:/docker/abc\n9:name=systemd:/docker/abc/system.slice/nginx.service\n", "nginx.service"),
    ("1:name=systemd:/system.slice/flask-app.service\n0::/system.slice/flask-app.service\n", "flask-app.service"),
    # cgroup v2 unified.
    ("0::/system.slice/datadog-agent.service\n", "datadog-agent.service"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope"),
    ("0::/system.slice/docker.service/payload\n", "docker.service"),
    ("0::/\n", None),
    ("9:name=systemd:/docker/abc\n", None),
    ("", None),
])
def test_unit_from_cgroup(text, unit):
    assert bp.unit_from_cgroup(text) == unit


def test_unit_from_cgroup_of_fixture_processes():
    with open(os.path.join(FIXTURE, "24", "cgroup")) as handle:
        assert bp.unit_from_cgroup(handle.read()) == "systemd-journald.service"


def entry(port, proto="tcp", bind="127.0.0.1", service="svc", user="root", enabled=True):
    return {"port": port, "proto": proto, "bind": bind, "service": service, "user": user, "enabled": enabled}


def test_assess_statuses(sockets):
    entries = {
        "held_by_owner": entry(8000, service="fixture-tcp4"),
        "held_by_owner_unit_name": entry(8125, "udp", service="fixture-udp4.service"),
        "foreign": entry(8000, service="flask-app"),
        "free": entry(8001),
        "wildcard_holder": entry(5000, bind="127.0.0.1", service="datadog-agent"),
        "other_loopback": entry(8000, bind="127.0.0.2", service="x"),
        "udp6_dual_stack": entry(8126, "udp", "127.0.0.1", service="fixture-udp6b"),
        "reserved": entry(8000, service="nginx", enabled=False),
    }
    rows, conflicts = bp.assess(entries, sockets, "inventories/production/group_vars/all/ports.yml")
    status = {r["entry"]: r["status"] for r in rows}
    assert status == {
        "held_by_owner": "OK", "held_by_owner_unit_name": "OK", "foreign": "CONFLICT", "free": "FREE",
        "wildcard_holder": "CONFLICT", "other_loopback": "FREE", "udp6_dual_stack": "OK", "reserved": "DISABLED",
    }
    assert ("port 8000/tcp (foreign) is held by pid 58 'python3' (user root); stop it or move foreign "
            "in inventories/production/group_vars/all/ports.yml") in conflicts
    assert any(c.startswith("port 5000/tcp (wildcard_holder) is held by pid 87 'python3'") for c in conflicts)
    assert len(conflicts) == 2


def test_hidden_process_is_accepted_only_for_the_entry_user(sockets):
    rows, conflicts = bp.assess({"mine": entry(8080, bind="::", user="nobody"),
                                 "theirs": entry(8080, bind="127.0.0.1", user="hbnb")}, sockets)
    assert {r["entry"]: r["status"] for r in rows} == {"mine": "OK", "theirs": "CONFLICT"}
    assert "held by a process of user nobody (pid not visible" in conflicts[0]


def test_parse_net_ignores_header_and_short_lines():
    assert bp.parse_net("header\n\n  garbage\n", "tcp", 4) == []
