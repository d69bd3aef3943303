"""Several Flask apps per web host (the AirBnB-clone application server).

Expected values come from the inventory the plays used: the apps from ``flask_apps``
(inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml), their ports, users and units
from the registry entries they name, their health checks and routes. The side effect wrote a
record through the API and moved the API's port (moved-ports.json in the ephemeral directory holds
the override it put in force); its record is read back here.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
WEB = RUNNER.get_hosts("web")
LB = RUNNER.get_hosts("lb")
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "collections"))

from ansible_collections.berth.stack.plugins.module_utils import berth_apps  # noqa: E402
from ansible_collections.berth.stack.plugins.module_utils import berth_registry  # noqa: E402


def _host(name):
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY)


def _vars(name):
    return _host(name).ansible.get_variables()


def _overrides(name):
    """The inventory's overrides, or the one the side effect's port move put in force (written by it)."""
    moved = EPHEMERAL / "moved-ports.json"
    if name in WEB and moved.exists():
        return json.loads(moved.read_text())
    return _vars(name).get("berth_ports_overrides", {})


def _entries(name):
    return berth_registry.effective_or_raise(_vars(name)["berth_ports"], _overrides(name))


def _apps(name):
    """(app name, settings, registry entry) for every app of the host's flask_apps."""
    entries = _entries(name)
    return [(app, spec, entries[spec.get("port", app)]) for app, spec in sorted(_vars(name)["flask_apps"].items())]


CASES = [(web, app) for web in WEB for app in sorted(_vars(web)["flask_apps"])]


def _app(web, app):
    return next(a for a in _apps(web) if a[0] == app)


def _main_pids(host, apps):
    return {name: int(host.check_output("systemctl show -p MainPID --value %s.service" % entry["service"]))
            for name, _, entry in apps}


def _nginx(web):
    return _entries(web)["nginx_http"]["port"]


def test_every_host_runs_the_four_apps():
    for web in WEB:
        assert [a[0] for a in _apps(web)] == ["hbnb", "hbnb_api", "hbnb_dynamic", "hbnb_front"]


@pytest.mark.parametrize("web,app", CASES)
def test_app_port_bind_owner_and_unit(web, app):
    host = _host(web)
    _, _, entry = _app(web, app)
    service = host.service(entry["service"])
    assert service.is_running and service.is_enabled
    assert host.socket("tcp://%s:%d" % (entry["bind"], entry["port"])).is_listening
    main_pid = host.check_output("systemctl show -p MainPID --value %s.service" % entry["service"])
    assert host.check_output("stat -c %%U /proc/%s" % main_pid) == entry["user"]
    holders = host.check_output("ss -Hltnp 'sport = :%d'" % entry["port"])
    assert "pid=%s," % main_pid in holders, holders
    unit = host.file("/etc/systemd/system/%s.service" % entry["service"]).content_string
    assert "User=%s" % entry["user"] in unit


@pytest.mark.parametrize("web,app", CASES)
def test_app_health_route_through_nginx(web, app):
    """The app's own health check, requested through the host's Nginx by its route."""
    host = _host(web)
    _, spec, entry = _app(web, app)
    health = spec.get("health") or {"path": "/health", "json": {"status": "ok"}}
    record = {"routes": [r if isinstance(r, dict) else {"prefix": r} for r in spec["routes"]],
              "health": {"path": health["path"]}}
    for route in record["routes"]:
        route.setdefault("strip", False)
    path = berth_apps.nginx_path(record)
    assert path, "no route of %s reaches %s" % (app, health["path"])
    out = host.run("curl -sS -o /tmp/body -w '%%{http_code}' http://127.0.0.1:%s%s", str(_nginx(web)), path)
    body = host.file("/tmp/body").content_string
    assert out.stdout == str(health.get("status", 200)), body
    if health.get("body"):
        assert health["body"] in body
    for key, value in (health.get("json") or {}).items():
        assert json.loads(body)[key] == value


@pytest.mark.parametrize("web", WEB)
def test_sample_routes_through_nginx(web):
    host = _host(web)
    base = "http://127.0.0.1:%d" % _nginx(web)
    assert host.check_output("curl -fsS %s/airbnb-onepage/" % base) == "Hello HBNB!"
    assert "89 is odd" in host.check_output("curl -fsS %s/airbnb-dynamic/number_odd_or_even/89" % base)
    assert "88 is even" in host.check_output("curl -fsS %s/airbnb-dynamic/number_odd_or_even/88" % base)
    assert json.loads(host.check_output("curl -fsS %s/api/v1/status" % base)) == {"status": "OK"}
    page = host.check_output("curl -fsS %s/" % base)
    assert 'id="api_status"' in page and "/static/scripts/2-hbnb.js" in page


@pytest.mark.parametrize("web", WEB)
def test_static_file_served_by_nginx_with_its_type(web):
    host = _host(web)
    _, spec, _ = _app(web, "hbnb_front")
    static = spec["static"][0]
    source = PROJECT / "roles/flask_app/files/hbnb" / static["dir"] / "styles/4-common.css"
    out = host.check_output("curl -fsS -D - -o /tmp/css http://127.0.0.1:%s%sstyles/4-common.css",
                            str(_nginx(web)), static["prefix"])
    assert "Content-Type: text/css" in out
    assert host.file("/tmp/css").content_string == source.read_text()


@pytest.mark.parametrize("web", WEB)
def test_nginx_worker_reads_static_files_but_no_code_venv_or_env(web):
    host = _host(web)
    root = "/srv/hbnb_front/current"
    assert host.run("runuser -u www-data -- cat %s/public/0/styles/4-common.css", root).rc == 0
    for path in (root + "/src/web_dynamic/2-hbnb.py", root + "/venv/pyvenv.cfg", root + "/requirements.berth.txt",
                 "/etc/hbnb_front/app.env", "/etc/hbnb_front/gunicorn.conf.py"):
        assert host.run("runuser -u www-data -- head -c1 %s", path).rc != 0, path


@pytest.mark.parametrize("web", WEB)
def test_api_create_then_read_through_nginx(web):
    host = _host(web)
    base = "http://127.0.0.1:%d/api/v1/states" % _nginx(web)
    created = json.loads(host.check_output(
        "curl -fsS -X POST -H 'Content-Type: application/json' -d '{\"name\": \"Verifyland\"}' %s", base))
    read = json.loads(host.check_output("curl -fsS %s/%s" % (base, created["id"])))
    assert read["name"] == "Verifyland"


def test_record_written_before_the_redeploys_survived():
    record = json.loads((EPHEMERAL / "api-record.json").read_text())
    # Written through the first web host's Nginx; each web host keeps its own file storage.
    host = _host(WEB[0])
    out = host.check_output("curl -fsS http://127.0.0.1:%s/api/v1/states/%s", str(_nginx(WEB[0])), record["id"])
    assert json.loads(out)["name"] == "Berthland"


@pytest.mark.parametrize("web", WEB)
def test_api_state_persists_outside_the_release(web):
    host = _host(web)
    _, spec, entry = _app(web, "hbnb_api")
    for path in spec["persistent"]:
        link = host.file("/srv/hbnb_api/current/src/%s" % path)
        assert link.is_symlink and link.linked_to == "/var/lib/hbnb_api/%s" % path
    assert host.file("/srv/hbnb_api/releases/v2/.berth-release").exists  # the side effect's release
    assert host.file("/srv/hbnb_api/current").linked_to.endswith("/v2")
    state = host.file("/var/lib/hbnb_api/file.json")
    assert state.exists and state.user == entry["user"]


@pytest.mark.parametrize("web", WEB)
def test_agent_ports_reach_every_app_environment(web):
    host = _host(web)
    entries = _entries(web)
    for app, _, _ in _apps(web):
        env = host.file("/etc/%s/app.env" % app).content_string
        assert 'DD_TRACE_AGENT_PORT="%d"' % entries["datadog_apm_receiver"]["port"] in env
        assert 'DD_DOGSTATSD_PORT="%d"' % entries["datadog_dogstatsd"]["port"] in env


@pytest.mark.parametrize("web", WEB)
def test_datadog_checks_per_app(web):
    host = _host(web)
    http = host.file("/etc/datadog-agent/conf.d/http_check.d/conf.yaml").content_string
    process = host.file("/etc/datadog-agent/conf.d/process.d/conf.yaml").content_string
    tcp = host.file("/etc/datadog-agent/conf.d/tcp_check.d/conf.yaml").content_string
    for app, _, entry in _apps(web):
        assert "berth_app:%s" % app in http
        assert "/etc/%s/gunicorn.conf.py" % app in process
        assert "port: %d" % entry["port"] in tcp


@pytest.mark.parametrize("web", WEB)
def test_restarting_one_app_leaves_the_others_alone(web):
    host = _host(web)
    apps = _apps(web)
    before = _main_pids(host, apps)
    _, _, dynamic = _app(web, "hbnb_dynamic")
    host.check_output("systemctl restart %s.service" % dynamic["service"])
    time.sleep(1)
    after = _main_pids(host, apps)
    assert after["hbnb_dynamic"] != before["hbnb_dynamic"]
    assert {k: v for k, v in after.items() if k != "hbnb_dynamic"} == {k: v for k, v in before.items() if k != "hbnb_dynamic"}


def test_api_on_the_agents_cmd_port_is_refused_before_any_change():
    web = WEB[0]
    host = _host(web)
    entries = _entries(web)
    before = _main_pids(host, _apps(web))
    overrides = dict(_overrides(web))
    overrides["hbnb_api"] = {"enabled": True, "port": entries["datadog_cmd"]["port"]}
    out = subprocess.run(
        ["ansible-playbook", "-i", str(Path(INVENTORY).parent), str(PROJECT / "site.yml"),
         "-e", json.dumps({"berth_ports_overrides": overrides})],
        cwd=str(PROJECT), capture_output=True, text=True, timeout=600)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0, text[-3000:]
    assert "hbnb_api" in text and "datadog_cmd" in text and str(entries["datadog_cmd"]["port"]) in text, text[-3000:]
    assert "changed:" not in out.stdout
    assert _main_pids(host, _apps(web)) == before


def test_front_end_page_reaches_the_api_in_a_real_browser():
    """Headless Chromium loads / through the load balancer; the page's own JavaScript calls the
    API by its relative URL and renders its status."""
    lb = LB[0]
    address = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", lb],
                             capture_output=True, text=True, check=True).stdout.strip()
    port = _entries(lb)["nginx_http"]["port"]
    out = subprocess.run(
        [sys.executable, str(PROJECT / "tools/browser_check.py"), "http://%s:%d/" % (address, port),
         "--expect-class", "api_status:available", "--expect-attr", "api_status:data-status=OK",
         "--screenshot", str(EPHEMERAL / "hbnb-front.png"), "--timeout", "60"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
