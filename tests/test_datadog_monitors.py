"""Monitors as code (plugins/filter/datadog_berth_ports.py, tasks/monitors.yml).

Rendering: from the sandbox registry and the checks the role derives for a web and an lb
host. The call: the arguments roles/datadog/tasks/monitors.yml gives
community.general.datadog_monitor (the module in the pinned `ansible` package) are fed
to the module itself, with Datadog's client library replaced by a recorder (Datadog's
API cannot be reached from here), and the API call it makes is checked.
"""

import io
import json
import os
import sys
import types
from contextlib import redirect_stdout

import jinja2
import pytest
import yaml
from project import ROOT, load

dd = load("datadog_berth", "plugins/filter/datadog_berth.py")
ddp = load("datadog_berth_ports", "plugins/filter/datadog_berth_ports.py")
bp = load("berth_ports_filters", "plugins/filter/berth_ports.py")
DEFAULTS = yaml.safe_load((ROOT / "roles/datadog/defaults/main.yml").read_text())
REGISTRY = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/ports.yml").read_text())["berth_ports"]
PATHS = ["/", "/health"]


def checks_for(groups):
    host_entries = bp.berth_ports_for_host(REGISTRY, {}, groups)
    options = {"http_paths": PATHS, "berth_ports_check": ddp.datadog_berth_ports_check(host_entries, "critical", 15, [])}
    return dd.datadog_checks_config(DEFAULTS["datadog_checks"], bp.berth_ports_effective(REGISTRY), groups, options)


@pytest.fixture(scope="module")
def monitors():
    return ddp.datadog_berth_monitors([checks_for(["berth", "web"]), checks_for(["berth", "lb"])],
                                      {"notify": "@slack-ops", "tags": ["team:berth"], "no_data_timeframe": 10})


def test_one_monitor_per_enabled_entry_and_per_route(monitors):
    enabled = sorted(n for n, e in bp.berth_ports_effective(REGISTRY).items() if e["enabled"])
    port_monitors = [m for m in monitors if '"berth.port.owner"' in m["query"]]
    assert [m["query"] for m in port_monitors] == [
        '"berth.port.owner".over("berth_port:%s").by("host").last(2).count_by_status()' % n for n in enabled]
    route_monitors = [m for m in monitors if '"http.can_connect"' in m["query"]]
    routes = sorted("%s %s" % (entry, path) for entry in ("app_http", "nginx_http") for path in PATHS)
    assert [m["name"] for m in route_monitors] == ["[berth] route %s answers" % r for r in routes]
    assert len(monitors) == len(enabled) + len(routes)
    assert "nginx_https" not in json.dumps(monitors)  # reserved entry: no monitor


def test_port_monitor_definition(monitors):
    [m] = [m for m in monitors if m["name"].startswith("[berth] port app_http ")]
    assert m == {
        "name": "[berth] port app_http (8000/tcp) owned by flask-app",
        "type": "service check",
        "query": '"berth.port.owner".over("berth_port:app_http").by("host").last(2).count_by_status()',
        "notification_message": m["notification_message"],
        "thresholds": {"ok": 1, "warning": 1, "critical": 1},
        "notify_no_data": True,
        "no_data_timeframe": 10,
        "tags": ["team:berth", "berth_port:app_http", "berth_service:flask-app", "managed_by:berth"],
    }
    msg = m["notification_message"]
    assert "[[#is_alert]]Port 8000/tcp (bind 127.0.0.1) (app_http) on [[host.name]] is not held by its unit flask-app" in msg
    assert "[[check_message]]" in msg and msg.endswith("\n@slack-ops")
    assert "{{" not in msg  # Datadog variables in [[ ]]: Ansible must never template them


def test_route_monitor_uses_the_http_check_instance_tag(monitors):
    [m] = [m for m in monitors if m["name"] == "[berth] route nginx_http /health answers"]
    assert m["query"] == '"http.can_connect".over("instance:nginx_http_/health").by("host").last(3).count_by_status()'
    assert "berth_port:nginx_http" in m["tags"] and "berth_via:nginx" in m["tags"]
    assert "http://127.0.0.1:80/health" in m["notification_message"]


def test_no_checks_no_monitors():
    assert ddp.datadog_berth_monitors([{}, None]) == []


@pytest.mark.parametrize("text,tag", [("nginx_http /health", "nginx_http_/health"), ("App HTTP  /", "app_http_/")])
def test_tag_values_as_datadog_stores_them(text, tag):
    assert ddp._tag_value(text) == tag


# --- the call community.general.datadog_monitor receives -----------------------------------

MODULE = ("community/general/plugins/modules/datadog_monitor.py")


def _task_args():
    tasks = yaml.safe_load((ROOT / "roles/datadog/tasks/monitors.yml").read_text())
    [task] = [t for t in tasks if "community.general.datadog_monitor" in t]
    assert task["no_log"] is True and "datadog_app_key | length > 0" in task["when"]
    return task["community.general.datadog_monitor"]


def _render(args, item):
    """Evaluate the task's "{{ expr }}" arguments as Ansible would (native types)."""
    env = jinja2.Environment()
    ctx = {"item": item, "datadog_api_key": "api-key-x", "datadog_app_key": "app-key-y", "datadog_site": "datadoghq.eu"}
    out = {}
    for key, value in args.items():
        if isinstance(value, str) and value.startswith("{{") and value.endswith("}}") and value.count("{{") == 1:
            out[key] = env.compile_expression(value[2:-2].strip())(**ctx)
        elif isinstance(value, str):
            out[key] = env.from_string(value).render(**ctx)
        else:
            out[key] = value
    return out


def _run_module(args, existing):
    calls = []
    monitor = types.SimpleNamespace(
        get_all=lambda **kw: list(existing),
        create=lambda **kw: calls.append(("create", kw)) or dict(kw, id=1),
        update=lambda **kw: calls.append(("update", kw)) or dict(kw),
    )
    fake = types.ModuleType("datadog")
    fake.initialize = lambda **kw: calls.append(("initialize", kw))
    fake.api = types.SimpleNamespace(Monitor=monitor)
    import ansible_collections
    path = [p + "/" + MODULE for p in ansible_collections.__path__ if os.path.isfile(p + "/" + MODULE)][0]
    saved = sys.modules.get("datadog")
    sys.modules["datadog"] = fake
    try:
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        basic._ANSIBLE_PROFILE = "legacy"
        module = _load_abs("datadog_monitor_under_test", path)
        out = io.StringIO()
        with redirect_stdout(out), pytest.raises(SystemExit):
            module.main()
    finally:
        if saved is None:
            sys.modules.pop("datadog", None)
        else:
            sys.modules["datadog"] = saved
    return calls, json.loads(out.getvalue())


def _load_abs(name, path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_creates_each_monitor_as_rendered(monitors):
    args = _task_args()
    for item in monitors:
        calls, result = _run_module(_render(args, item), existing=[])
        assert result.get("failed") is not True, result
        assert result["changed"] is True
        assert calls[0] == ("initialize", {"api_key": "api-key-x", "api_host": "https://api.datadoghq.eu",
                                           "app_key": "app-key-y"})
        [(verb, kw)] = calls[1:]
        assert verb == "create"
        assert kw["type"] == "service check" and kw["query"] == item["query"] and kw["name"] == item["name"]
        assert kw["tags"] == item["tags"]
        assert kw["message"] == item["notification_message"].replace("[[", "{{").replace("]]", "}}")
        assert kw["options"]["thresholds"] == item["thresholds"]
        assert kw["options"]["notify_no_data"] is True
        assert str(kw["options"]["no_data_timeframe"]) == str(item["no_data_timeframe"])


def test_module_updates_a_monitor_that_exists_by_name(monitors):
    item = monitors[0]
    calls, result = _run_module(_render(_task_args(), item), existing=[{"id": 42, "name": item["name"]}])
    assert result.get("failed") is not True, result
    assert [c[0] for c in calls] == ["initialize", "update"] and calls[1][1]["id"] == 42
