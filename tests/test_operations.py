"""Operations that survive faults (issue 28): the deploy lock, a switch a killed run never
applied, a load balancer that adds a backend only once it serves berth's site."""

import json
import os

import pytest

import planview
from ansible_collections.berth.stack.plugins.module_utils import berth_deploy as deploy
from ansible_collections.berth.stack.plugins.module_utils import berth_lock as lock
from ansible_collections.berth.stack.plugins.module_utils import berth_plan as plan


# --- The deploy lock -----------------------------------------------------------------------------

def test_one_run_holds_the_lock_and_another_is_refused_naming_it(tmp_path):
    path = str(tmp_path / "berth" / "deploy.lock")
    info = {"controller": "ctl", "pid": 10, "start": "99", "user": "ops", "command": "ansible-playbook site.yml"}
    assert lock.acquire("ctl:10:99", info, path, now=lambda: 1000)[0]
    # The same run takes it again (every role does) and renews it.
    held, holder = lock.acquire("ctl:10:99", info, path, now=lambda: 1060)
    assert held and holder["since"] == 1000 and holder["renewed"] == 1060
    held, holder = lock.acquire("ctl:11:5", {"controller": "ctl", "pid": 11}, path, now=lambda: 1070)
    assert not held and holder["run"] == "ctl:10:99"
    text = lock.describe(holder, now=lambda: 1100)
    assert "ops@ctl pid 10" in text and "100 s ago" in text and "ansible-playbook site.yml" in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_only_the_holder_gives_the_lock_back(tmp_path):
    path = str(tmp_path / "deploy.lock")
    lock.acquire("a", {}, path)
    assert not lock.release("b", path) and os.path.exists(path)
    assert lock.release("a", path) and not os.path.exists(path)
    assert not lock.release("a", path)


def test_a_gone_holder_may_be_replaced_and_a_live_one_not(tmp_path):
    path = str(tmp_path / "deploy.lock")
    lock.acquire("old", {"controller": "ctl"}, path)
    assert not lock.acquire("new", {}, path, replace="someone-else")[0]
    assert lock.acquire("new", {}, path, replace="old")[0]
    assert lock.read(path)["run"] == "new"


def test_a_holder_is_gone_when_its_process_left_this_controller_or_its_lease_ran_out(tmp_path):
    me, info = lock.run_identity(os.getpid())
    mine = dict(info, run=me, renewed=0)
    assert lock.gone(mine, info["controller"], 10 ** 9, 3600) == ""  # this process runs: not gone
    dead = dict(mine, start="1")
    assert "process is gone" in lock.gone(dead, info["controller"], 10 ** 9, 3600)
    other = {"run": "x", "controller": "elsewhere", "renewed": 1000}
    assert lock.gone(other, info["controller"], 2000, 3600) == ""
    assert "not renewed the lock for 4600 s" in lock.gone(other, info["controller"], 5600, 3600)


def test_an_unreadable_lock_file_is_never_overwritten_unasked(tmp_path):
    path = tmp_path / "deploy.lock"
    path.write_text("garbage")
    held, holder = lock.acquire("a", {}, str(path))
    assert not held and holder["run"] == "unreadable"
    assert lock.gone(holder, "ctl", 10 ** 9, 1) == ""
    assert lock.acquire("a", {}, str(path), replace="*")[0]


# --- A switch a killed run never applied ---------------------------------------------------------

def _probe(section, current_release, serving):
    apps = {}
    for record in section["apps"]:
        release = current_release
        apps[record["name"]] = {"built": True, "current": "%s/releases/%s" % (record["root"], release),
                                "previous": "%s/releases/old" % record["root"],
                                "current_release": release, "serving_release": serving,
                                "releases": [], "built_releases": [release, "old"],
                                "requirements": {release: "pins", "old": "pins"}}
    units = {r["service"] + ".service": {"enabled": True, "active": True} for r in section["apps"]}
    return {"apps": apps, "host": {"packages": {}, "users": {}, "groups": {}, "units": units, "dirs": {}}}


def test_a_switch_a_killed_run_never_applied_is_applied_and_gated_again():
    section = plan.flask_app(planview.view("web1"))
    wanted = section["releases"]["hbnb"]
    probe = _probe(section, wanted, "old")
    full = dict(section, probe=probe, decision=plan.flask_app_decide(section, probe))
    assert full["decision"]["unapplied"] == {name: "old" for name in section["selected"]}
    # Nothing to write (current already moved): the apps are reloaded (same pins) and gated...
    applied = deploy.apply(full, {"changed_paths": [], "entries": {}})
    assert sorted(applied["reload"]) == sorted(section["selected"]) and applied["restart"] == []
    # ... and a failed gate puts back what served, not the release current names.
    restore = deploy.gate_restore(full, applied["switched"])
    assert restore["hbnb"]["current"].endswith("/releases/old")


def test_a_switch_that_was_applied_is_not_applied_again():
    section = plan.flask_app(planview.view("web1"))
    wanted = section["releases"]["hbnb"]
    probe = _probe(section, wanted, wanted)
    decision = plan.flask_app_decide(section, probe)
    assert decision["unapplied"] == {}
    full = dict(section, probe=probe, decision=decision)
    assert deploy.apply(full, {"changed_paths": [], "entries": {}})["any"] is False


# --- A load balancer adds a backend once it serves berth's site -------------------------------------

def test_a_backend_gets_traffic_once_it_serves_berth_s_site_or_when_it_did_before():
    v = planview.view("lb")
    section = plan.nginx(v)
    args = plan.probe_args("nginx", v, section)
    assert [c["url"] for c in args["http"]] == ["http://web1:80/.berth/ready", "http://web2:80/.berth/ready"]
    assert args["http"][0]["expect"] == "web1\n" and args["resolve"] == ["web1", "web2"]
    host = {"resolved": {"web1": ["10.0.0.11"], "web2": ["10.0.0.12"]},
            "http": {"web1": {"ok": True}, "web2": {"ok": False, "detail": "no answer"}},
            "files": {plan.upstream_file(v): None}}
    backends = {b["name"]: b for b in plan.decide("nginx", v, section, {"host": host})["backends"]}
    assert backends["web1"]["ready"] and backends["web1"]["server"] == "10.0.0.11"
    # A new host that does not serve berth's site yet gets no traffic...
    assert not backends["web2"]["ready"]
    # ... unless it got traffic before (a transient failure of the check drains nothing).
    live = "upstream berth_backend {\n    # web1\n    server 10.0.0.11:80 max_fails=2;\n    # web2\n    server 10.0.0.12:80 max_fails=2;\n}\n"
    host["files"][plan.upstream_file(v)] = live
    backends = {b["name"]: b for b in plan.decide("nginx", v, section, {"host": host})["backends"]}
    assert backends["web2"]["ready"]
    assert plan.active_in(live.replace("10.0.0.12:80 max_fails=2;", "10.0.0.12:80 max_fails=2 down;")) == {"web1"}
