"""The berth_ports Datadog agent check (roles/datadog/files/checks.d/berth_ports.py).

Run with Datadog's own toolkit: ``datadog_checks.base.AgentCheck`` and its stub
aggregator (datadog-checks-base, pinned in requirements-dev.txt), on the /proc tree
captured from a real container (tests/fixtures/proc, see its README):
127.0.0.1:8000/tcp held by pid 58 python3 (root, fixture-tcp4.service),
[::]:8080/tcp held by a hidden process of user nobody, 127.0.0.1:8001 free.
"""

import os
import sys

import pytest
from datadog_checks.base import AgentCheck, ConfigurationError
from datadog_checks.base.stubs import aggregator as stub_aggregator
from project import load

# The datadog role ships berth_proc, berth_registry and berth_status next to the check in
# checks.d; here the same files are found on the same plain sys.path entry.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "module_utils"))
check_module = load("berth_ports_check", "roles/datadog/files/checks.d/berth_ports.py")

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "proc")
INIT = {"proc_root": FIXTURE}


@pytest.fixture()
def aggregator():
    stub_aggregator.reset()
    yield stub_aggregator
    stub_aggregator.reset()


def instance(entry, port, service, user="root", bind="127.0.0.1", proto="tcp", **extra):
    return dict({"entry": entry, "port": port, "proto": proto, "bind": bind, "service": service, "user": user}, **extra)


def run(inst, init=INIT):
    check = check_module.BerthPortsCheck("berth_ports", init, [inst])
    error = check.run()
    assert error == "", error  # AgentCheck.run() returns the serialized exception, if any
    return check


def tags(inst):
    return ["berth_port:%s" % inst["entry"], "berth_service:%s" % inst["service"],
            "port:%d" % inst["port"], "proto:%s" % inst["proto"]]


def only_service_check(aggregator):
    [sc] = aggregator.service_checks(check_module.SERVICE_CHECK)
    return sc


def test_own_unit_holds_the_port_ok(aggregator):
    inst = instance("app_http", 8000, "fixture-tcp4")
    run(inst)
    sc = only_service_check(aggregator)
    assert sc.status == AgentCheck.OK
    assert sorted(sc.tags) == sorted(tags(inst))
    assert not sc.message  # Datadog wants no message on OK
    for metric, value in (("berth.port.listening", 1), ("berth.port.owned", 1),
                          ("berth.port.conflict", 0), ("berth.port.status", 0)):
        aggregator.assert_metric(metric, value=value, tags=tags(inst), count=1)
    aggregator.assert_all_metrics_covered()


def test_foreign_process_is_critical_and_named(aggregator):
    inst = instance("app_http", 8000, "flask-app", user="hbnb")
    run(inst)
    sc = only_service_check(aggregator)
    assert sc.status == AgentCheck.CRITICAL
    assert sc.message == ("port 8000/tcp on 127.0.0.1 (app_http) is held by pid 58 'python3' "
                          "(user root, unit fixture-tcp4.service), not by its unit flask-app (user hbnb)")
    aggregator.assert_metric("berth.port.conflict", value=1, tags=tags(inst))
    aggregator.assert_metric("berth.port.owned", value=0, tags=tags(inst))
    aggregator.assert_metric("berth.port.status", value=2, tags=tags(inst))


def test_wildcard_holder_of_a_loopback_entry_is_foreign(aggregator):
    """0.0.0.0:5000 (pid 87, started by hand: no unit) overlaps an entry bound to 127.0.0.1."""
    run(instance("datadog_expvar", 5000, "datadog-agent", user="dd-agent"))
    sc = only_service_check(aggregator)
    assert sc.status == AgentCheck.CRITICAL
    assert "pid 87 'python3' (user root, unit none)" in sc.message


@pytest.mark.parametrize("level,expected", [(None, AgentCheck.CRITICAL), ("critical", AgentCheck.CRITICAL),
                                            ("warning", AgentCheck.WARNING), ("WARNING", AgentCheck.WARNING)])
def test_free_port_level_is_configurable(aggregator, level, expected):
    inst = instance("app_http", 8001, "flask-app", user="hbnb")
    if level is not None:
        inst["free_status"] = level
    run(inst)
    sc = only_service_check(aggregator)
    assert sc.status == expected
    assert sc.message == "nothing listens on port 8001/tcp on 127.0.0.1 (app_http); its unit flask-app (user hbnb) should serve it"
    aggregator.assert_metric("berth.port.listening", value=0)
    aggregator.assert_metric("berth.port.status", value=expected)


def test_free_level_from_init_config(aggregator):
    run(instance("x", 8001, "svc"), dict(INIT, free_status="warning"))
    assert only_service_check(aggregator).status == AgentCheck.WARNING


def test_hidden_process_of_the_entry_user_is_accepted(aggregator):
    run(instance("status", 8080, "nginx", user="nobody", bind="::"))
    assert only_service_check(aggregator).status == AgentCheck.OK


def test_hidden_process_of_another_user_is_critical_and_names_the_user(aggregator):
    run(instance("status", 8080, "nginx", user="www-data", bind="127.0.0.1"))
    sc = only_service_check(aggregator)
    assert sc.status == AgentCheck.CRITICAL
    assert "held by a process of user nobody (pid not visible" in sc.message


def test_udp_entry_held_through_dual_stack_socket(aggregator):
    run(instance("statsd", 8126, "fixture-udp6b", proto="udp"))
    assert only_service_check(aggregator).status == AgentCheck.OK


def test_instance_tags_are_kept(aggregator):
    inst = instance("app_http", 8000, "fixture-tcp4", tags=["team:web"])
    run(inst)
    assert "team:web" in only_service_check(aggregator).tags


def test_the_check_reads_the_proc_root_it_is_given(aggregator, tmp_path):
    """An empty /proc: the same entry that is OK on the fixture is free."""
    run(instance("app_http", 8000, "fixture-tcp4"), {"proc_root": str(tmp_path)})
    assert only_service_check(aggregator).status == AgentCheck.CRITICAL


@pytest.mark.parametrize("inst,text", [
    ({"entry": "x", "port": 1, "proto": "tcp", "bind": "127.0.0.1", "service": "s"}, "lacks user"),
    (instance("x", 8000, "s", free_status="ignore"), "free_status must be one of critical, warning"),
])
def test_bad_instances_are_refused(inst, text):
    with pytest.raises(ConfigurationError, match=text):
        check_module.BerthPortsCheck("berth_ports", INIT, [inst])
