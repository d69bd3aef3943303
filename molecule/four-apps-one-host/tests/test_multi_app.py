"""Several Flask apps per web host (the AirBnB-clone application server).

Expected values come from the inventory the plays used: the apps from ``flask_apps``
(inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml), their ports, users and units
from the registry entries they name, their health checks and routes. The side effect wrote a
record through the API, disturbed the API's MariaDB under load (db-*.json: the load summaries)
and moved the API's port (moved-ports.json in the ephemeral directory holds the override it put
in force); its record is read back here. The secrets searched for come from the sandbox vault
(decrypted with its documented dummy password) and from the env files they are meant for.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

# The inventory directory, as the plays read it: Molecule's inventory plus scale-out.yml, with
# which the side effect added the second web host to the fleet.
INVENTORY = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
WEB = RUNNER.get_hosts("web")
LB = RUNNER.get_hosts("lb")
DB = RUNNER.get_hosts("db")
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "collections"))

from ansible_collections.berth.stack.plugins.module_utils import berth_apps  # noqa: E402
from ansible_collections.berth.stack.plugins.module_utils import berth_registry  # noqa: E402


def _host(name):
    """The host as its inventory reaches it (SSH as the login user), every command through sudo:
    the tests read root-only files and other users' processes."""
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY, sudo=True)


def _address(name):
    """How the inventory addresses a host (ansible_host, else its name), as the roles do."""
    return _vars(name).get("ansible_host", name)


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


def _route(route):
    """A route of the inventory as berth_apps normalizes it (public path, exact, app path)."""
    route = {"prefix": route} if isinstance(route, str) else dict(route)
    exact = route.get("exact")
    to = "/" if route.get("strip") else str(route.get("to") or "")
    return {"prefix": exact or route["prefix"], "exact": bool(exact), "to": to, "strip": to == "/" and not exact}


def _front(web):
    """The front end's settings and its page's step (web_dynamic/<N>-hbnb.py serves /<N>-hbnb/)."""
    _, spec, _ = _app(web, "hbnb_front")
    return spec, spec["wsgi"].split(".", 1)[1].split(":")[0]


def test_a_web_host_added_to_the_inventory_joined_under_load_in_one_run():
    """Scale-out (the side effect's first step): the second web host was outside the fleet until
    the side effect added it to the inventory; one site.yml run deployed it under load through
    the load balancer on a route that reads the database. It is a web host now (the tests below
    check it like the first), no request failed, and the load balancer sent it some of them."""
    summary = json.loads((EPHEMERAL / "scale-out.json").read_text())
    new = summary["host"]
    assert new in WEB and new in RUNNER.get_hosts("scaleout") and new != WEB[0]
    assert summary["rc"] == 0, EPHEMERAL / "scale-out.log"
    assert summary["load"]["total"] >= 30 and summary["load"]["failed"] == 0, summary["load"]
    assert summary["served_by_new_host"] > 0, summary
    # One run over the whole fleet: every host has a recap line, and none failed or was unreachable.
    recap = {line.split()[0]: line for line in summary["recap"]}
    assert set(RUNNER.get_hosts("berth")) <= set(recap), recap
    for host, line in recap.items():
        assert " failed=0 " in line and " unreachable=0 " in line, line


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
    record = {"routes": [_route(r) for r in spec["routes"]], "health": {"path": health["path"]}}
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
    """The site's paths mapped onto the apps' own: /airbnb-onepage/ is the hello app's /, / the
    front end's page (exactly: its own /<N>-hbnb/ and any other path are not routed)."""
    host = _host(web)
    base = "http://127.0.0.1:%d" % _nginx(web)
    assert host.check_output("curl -fsS %s/airbnb-onepage/" % base) == "Hello HBNB!"
    assert "89 is odd" in host.check_output("curl -fsS %s/airbnb-dynamic/number_odd_or_even/89" % base)
    assert "88 is even" in host.check_output("curl -fsS %s/airbnb-dynamic/number_odd_or_even/88" % base)
    assert json.loads(host.check_output("curl -fsS %s/api/v1/status" % base)) == {"status": "OK"}
    _, step = _front(web)
    page = host.check_output("curl -fsS %s/" % base)
    assert 'id="api_status"' in page and "../static/scripts/%s.js" % step in page
    for path in ("/%s/" % step, "/index.html", "/nowhere"):
        assert host.check_output("curl -sS -o /dev/null -w '%%{http_code}' %s%s", base, path) == "404", path


@pytest.mark.parametrize("web", WEB)
def test_the_front_end_s_hard_coded_api_origin_is_rewritten_by_nginx(web):
    """The release's script calls the API at an origin of the inventory's origins; through Nginx
    the same file calls it origin-relative, on the site itself."""
    host = _host(web)
    spec, step = _front(web)
    static = spec["static"][0]
    script = "scripts/%s.js" % step
    source = (PROJECT / "roles/flask_app/files/hbnb" / static["dir"] / script).read_text()
    called = [o for o in spec["origins"] if o + "/api/v1/" in source]
    assert called, "the sample's script no longer calls a hard-coded origin"
    served = host.check_output("curl -fsS http://127.0.0.1:%s%s%s", str(_nginx(web)), static["prefix"], script)
    for origin in spec["origins"]:
        assert origin not in served
    assert "'/api/v1/status/'" in served
    # check_output drops the trailing newline.
    assert served.rstrip("\n") == source.replace(called[0], "").rstrip("\n")


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
    _, step = _front(web)
    for path in (root + "/src/web_dynamic/%s.py" % step, root + "/venv/pyvenv.cfg", root + "/requirements.berth.txt",
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
    # Written through the first web host's Nginx into MariaDB: every web host reads it.
    for web in WEB:
        out = _host(web).check_output("curl -fsS http://127.0.0.1:%s/api/v1/states/%s", str(_nginx(web)), record["id"])
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
    state_dir = host.file("/var/lib/hbnb_api")
    assert state_dir.is_directory and state_dir.user == entry["user"]
    # The records themselves live in MariaDB, outside every release: the one written before
    # the redeploys is a row of the states table.
    record = json.loads((EPHEMERAL / "api-record.json").read_text())
    assert _sql("SELECT name FROM %s.states WHERE id = '%s'" % (_db_spec()["name"], record["id"])) == "Berthland"


def _dist_name(name):
    """A distribution's normalized name (PEP 503): Jinja2 and jinja2, typing_extensions and typing-extensions."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_inputs(web, spec):
    """What an app's venv is built from, as the role resolves it: an app's own settings, else the group's."""
    hv = _vars(web)
    requirements = spec.get("requirements", hv.get("flask_app_requirements", []))
    return (tuple(requirements), bool(spec.get("system_site_packages", hv.get("flask_app_system_site_packages", False))),
            spec.get("pip_extra_args", hv.get("flask_app_pip_extra_args", "")))


@pytest.mark.parametrize("web", WEB)
def test_apps_with_the_same_requirements_share_one_pip_install(web):
    """flask_app_venv_reuse: a venv under a key already built on the host is a copy, not a pip run."""
    host = _host(web)
    venvs = {}  # every release venv of every app on the host: path -> (key, origin)
    for line in host.check_output(
            "for s in /srv/*/releases/*/venv/.berth-venv; do echo \"${s%%/.berth-venv} $(cat $s) $(cat ${s}-origin)\"; done"
    ).splitlines():
        path, key, origin = line.split(" ", 2)
        venvs[path] = (key, origin)
    releases = {app: host.file("/srv/%s/current" % app).linked_to + "/venv" for app, _, _ in _apps(web)}
    assert set(releases.values()) <= set(venvs), "a current release without a complete venv"
    # The inventory's grouping and the host's keys agree: same pip inputs <=> same key.
    inputs = {app: _pip_inputs(web, spec) for app, spec, _ in _apps(web)}
    for a in releases:
        for b in releases:
            assert (inputs[a] == inputs[b]) == (venvs[releases[a]][0] == venvs[releases[b]][0]), (a, b)
    assert len(set(inputs.values())) < len(inputs), "the inventory no longer has apps sharing their requirements"
    # One pip run per key at most (the releases since the converge only copied), every copy
    # from a venv of the same key, with no path of the venv it came from.
    for key in {k for k, _ in venvs.values()}:
        origins = [origin for k, origin in venvs.values() if k == key]
        assert origins.count("pip") <= 1, (key, origins)
    for path, (key, origin) in venvs.items():
        if origin == "pip":
            continue
        if origin in venvs:
            assert venvs[origin][0] == key, (path, origin)
        leaks = host.run("grep -rlF %s %s/bin %s/pyvenv.cfg", origin + "/", path, path)
        assert leaks.rc == 1 and leaks.stdout == "", (path, leaks.stdout)
    # Each current venv holds exactly its pins (a copy is as complete as a pip run).
    for app, spec, _ in _apps(web):
        pins = {_dist_name(name): version for name, version in (line.split("==") for line in inputs[app][0])}
        got = json.loads(host.check_output(
            "%s/bin/python -c 'import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata[\"Name\"].lower(): d.version for d in m.distributions(path=[p for p in __import__(\"sys\").path if \"/venv/\" in p])}))'",
            releases[app]))
        got = {_dist_name(name): version for name, version in got.items()}
        for name, version in pins.items():
            assert got.get(name) == version, (app, name, got)
        assert "gunicorn" in got, (app, got)
        shebang = host.file(releases[app] + "/bin/gunicorn").content_string.splitlines()[0]
        assert shebang == "#!%s/bin/python" % releases[app], (app, shebang)


def _apt_runs(name):
    """The apt runs on the host (apt's history log): one command line each."""
    history = _host(name).file("/var/log/apt/history.log").content_string
    return [line for line in history.splitlines() if line.startswith("Commandline: ")]


def _role_default(role, name):
    return yaml.safe_load((PROJECT / "roles" / role / "defaults" / "main.yml").read_text())[name]


@pytest.mark.parametrize("name", WEB + LB + DB)
def test_every_role_s_packages_came_in_one_apt_run(name):
    """playbooks/packages.yml: a web or load balancer host got the packages of every role it runs
    (the apps', nginx, the agent) in one apt run; a database host got mariadb's in a run without
    recommended packages and the agent in another (one run per install_recommends setting)."""
    want = {"datadog-agent"}
    if name in WEB + LB:
        want.add(_vars(name).get("nginx_package_name", _role_default("nginx", "nginx_package_name")))
    if name in WEB:
        want.add("python3-venv")
        want.update(p for spec in _vars(name)["flask_apps"].values() for p in spec.get("packages", []))
    runs = _apt_runs(name)
    installed = [{word.split("=", 1)[0] for word in run.split()} for run in runs]
    if name in DB:
        mariadb = set(_vars(name).get("mariadb_packages", _role_default("mariadb", "mariadb_packages")))
        assert len(runs) == 2, runs
        assert [mariadb <= names for names in installed].count(True) == 1, runs
        assert "APT::Install-Recommends=no" in next(r for r, n in zip(runs, installed) if mariadb <= n)
    else:
        assert len(runs) == 1, runs
    assert [want <= names for names in installed].count(True) == 1, (want, runs)


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
        ["ansible-playbook", "-i", INVENTORY, str(PROJECT / "site.yml"),
         "-e", json.dumps({"berth_ports_overrides": overrides})],
        cwd=str(PROJECT), capture_output=True, text=True, timeout=600)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0, text[-3000:]
    assert "hbnb_api" in text and "datadog_cmd" in text and str(entries["datadog_cmd"]["port"]) in text, text[-3000:]
    assert "changed:" not in out.stdout
    assert _main_pids(host, _apps(web)) == before


def test_front_end_page_reaches_the_api_in_a_real_browser():
    """Headless Chromium loads / through the load balancer; the page's own JavaScript (jQuery, its
    hard-coded API origin rewritten by Nginx) calls the API through the load balancer and renders
    its status."""
    lb = LB[0]
    port = _entries(lb)["nginx_http"]["port"]
    out = subprocess.run(
        [sys.executable, str(PROJECT / "tools/browser_check.py"), "http://%s:%d/" % (_address(lb), port),
         "--expect-class", "api_status:available", "--expect-attr", "api_status:data-status=OK",
         "--screenshot", str(EPHEMERAL / "hbnb-front.png"), "--timeout", "60"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


# --- the API's database (MariaDB on the db host) -------------------------------------------

def _db_spec():
    return _vars(WEB[0])["flask_apps"]["hbnb_api"]["database"]


def _sql(query, user=None):
    """A query as root over the unix socket on the db host (root's only way in)."""
    cmd = "mariadb -N -B %s -e %s" % (user or "", json.dumps(query))
    return _host(DB[0]).check_output(cmd)


def _env(web, app):
    """The app's env file as a dict (root-only file, read with sudo)."""
    host = _host(web)
    with host.sudo():
        text = host.file("/etc/%s/app.env" % app).content_string
    return {k: v.strip('"') for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))}


def test_mariadb_listens_on_its_registry_entry():
    db = DB[0]
    host = _host(db)
    entry = _entries(db)["mariadb"]
    assert entry["enabled"]
    assert host.service(entry["service"]).is_running and host.service(entry["service"]).is_enabled
    main_pid = host.check_output("systemctl show -p MainPID --value %s.service" % entry["service"])
    holders = host.check_output("ss -Hltnp 'sport = :%d'" % entry["port"])
    assert "pid=%s," % main_pid in holders and "mariadbd" in holders, holders
    assert host.socket("tcp://%s:%d" % (entry["bind"], entry["port"])).is_listening
    assert host.check_output("stat -c %%U /proc/%s" % main_pid) == entry["user"]


def test_root_keeps_socket_auth_no_anonymous_account_no_test_database():
    host = _host(DB[0])
    entry = _entries(DB[0])["mariadb"]
    assert _sql("SELECT CURRENT_USER()") == "root@localhost"
    assert _sql("SELECT COUNT(*) FROM mysql.user WHERE user = ''") == "0"
    assert _sql("SHOW DATABASES LIKE 'test'") == ""
    # Over TCP, root has no password that works.
    assert host.run("mariadb -h 127.0.0.1 -P %s -u root -e 'SELECT 1'", str(entry["port"])).rc != 0
    assert "unix_socket" in _sql("SHOW GRANTS FOR root@localhost")


def test_only_the_web_hosts_reach_the_database():
    entry = _entries(DB[0])["mariadb"]
    probe = "timeout 3 bash -c '</dev/tcp/%s/%d'" % (DB[0], entry["port"])
    assert set(entry["clients"]) == {"web"}
    for web in WEB:
        assert _host(web).run(probe).rc == 0, web
    for other in LB:
        assert _host(other).run(probe).rc != 0, "%s (not a client) reached the database" % other


def test_api_connection_settings_come_from_the_registry_and_the_vault():
    spec = _db_spec()
    entry = _entries(DB[0])["mariadb"]
    accounts = _vars(WEB[0])["mariadb_users"]
    for web in WEB:
        env = _env(web, "hbnb_api")
        assert env[spec["env"]["host"]] == "%s:%d" % (_address(DB[0]), entry["port"])
        assert env[spec["env"]["user"]] == spec["user"]
        assert env[spec["env"]["name"]] == "%s?connect_timeout=%d&read_timeout=%d&write_timeout=%d" % (
            spec["name"], spec["connect_timeout"], spec["read_timeout"], spec["write_timeout"])
        assert "vault_hbnb_dev_db_password" in accounts[spec["user"]]["password"]
        assert env[spec["env"]["password"]] == _secrets()["vault_hbnb_dev_db_password"]
        assert env["HBNB_TYPE_STORAGE"] == "db"
        # The other apps get no database settings and no database password.
        for app in ("hbnb", "hbnb_dynamic", "hbnb_front"):
            assert spec["env"]["password"] not in _env(web, app)


def test_api_writes_through_one_web_host_and_reads_through_the_other():
    first, second = WEB[0], WEB[-1]
    base = "http://127.0.0.1:%d/api/v1/states"
    created = json.loads(_host(first).check_output(
        "curl -fsS -X POST -H 'Content-Type: application/json' -d '{\"name\": \"Sharedland\"}' %s" % (base % _nginx(first))))
    read = json.loads(_host(second).check_output("curl -fsS %s/%s" % (base % _nginx(second), created["id"])))
    assert read["name"] == "Sharedland"
    assert _sql("SELECT name FROM %s.states WHERE id = '%s'" % (_db_spec()["name"], created["id"])) == "Sharedland"


def test_monitoring_account_is_read_only_and_the_mysql_check_uses_it():
    db = DB[0]
    host = _host(db)
    v = dict(yaml.safe_load((PROJECT / "roles/mariadb/defaults/main.yml").read_text()), **_vars(db))
    entry = _entries(db)["mariadb"]
    with host.sudo():
        conf = yaml.safe_load(host.file("/etc/datadog-agent/conf.d/mysql.d/conf.yaml").content_string)
        mode = host.file("/etc/datadog-agent/conf.d/mysql.d/conf.yaml").mode
    [instance] = conf["instances"]
    assert (instance["host"], instance["port"], instance["username"]) == ("127.0.0.1", entry["port"], v["mariadb_monitor_user"])
    assert instance["password"] == _secrets()["vault_mariadb_monitor_password"] and not mode & 0o004
    # The account's options in a root-only file, never on a command line: the process sampler
    # still runs, and test_no_secret_in_the_journal_or_any_process_listing reads it.
    options = "[client]\nuser=%s\npassword=%s\n" % (instance["username"], instance["password"])
    with _root_file(db, "/root/.berth-monitor.cnf", options) as cnf, host.sudo():
        login = "mariadb --defaults-extra-file=%s -h 127.0.0.1 -P %d" % (cnf, entry["port"])
        assert host.run(login + " -N -e 'SELECT COUNT(*) FROM performance_schema.threads'").rc == 0
        write = host.run(login + " -e \"INSERT INTO %s.states (id, name) VALUES ('x', 'y')\"" % _db_spec()["name"])
        assert write.rc != 0 and "denied" in write.stderr
        assert host.run(login + " -e 'CREATE DATABASE monitor_should_not'").rc != 0


def _load(phase):
    return json.loads((EPHEMERAL / ("%s.json" % phase)).read_text())


@pytest.mark.parametrize("phase", ["db-restart", "db-stopped", "db-frozen"])
def test_database_away_under_load_errors_fast_and_recovers_by_itself(phase):
    """Every request during the phase was answered within the API's connect + read timeouts
    (no worker hung until Nginx gave up), the API failed while the database was stopped or
    frozen, served again within seconds of its return, and no app was restarted for it."""
    spec = _db_spec()
    data = _load(phase)
    load = data["load"]
    bound_ms = (spec["connect_timeout"] + spec["read_timeout"] + 1.5) * 1000
    assert load["total"] >= 10, load
    assert load["latency_ms"]["max"] <= bound_ms, load
    if phase != "db-restart":
        assert load["failed"] > 0 and set(load["failures"]) == {"http_500"}, load
    if load["failed"]:
        assert load["failed_latency_ms_max"] <= bound_ms, load
        # Back: the last 5 s of the run (the database up again for 8 s) had no failure.
        assert load["last_failure_end_s"] <= load["duration_s"] - 5, load
    assert data["pids_before"] == data["pids_after"], data


def _secret_values():
    """Every secret of the run: the vault's values and what the env files derive from them."""
    values = dict(_secrets())
    for web in WEB:
        for app in sorted(_vars(web)["flask_apps"]):
            env = _env(web, app)
            for key in ("FLASK_SECRET_KEY", _db_spec()["env"]["password"]):
                if env.get(key):
                    values["%s %s %s" % (web, app, key)] = env[key]
    return values


def _secrets():
    vault = PROJECT / "inventories/sandbox/group_vars/all/vault.yml"
    out = subprocess.run(["ansible-vault", "view", "--vault-password-file",
                          str(PROJECT / "inventories/sandbox/vault-password.txt"), str(vault)],
                         check=True, capture_output=True, text=True).stdout
    found = {k: str(v) for k, v in yaml.safe_load(out).items() if k.startswith("vault_")}
    assert {"vault_hbnb_dev_db_password", "vault_mariadb_monitor_password", "vault_flask_app_secret_key"} <= set(found)
    return found


@contextlib.contextmanager
def _root_file(name, path, content):
    """`content` at `path` on host `name`, root-only, for the block's duration: copied in with
    docker cp, so it is never on a command line (the process sampler still runs)."""
    local = EPHEMERAL / Path(path).name
    fd = os.open(str(local), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    try:
        subprocess.run(["docker", "cp", str(local), "%s:%s" % (name, path)], check=True)
    finally:
        local.unlink()
    try:
        yield path
    finally:
        with _host(name).sudo():
            _host(name).run("rm -f %s" % path)


def _grep_on(name, command, values):
    """Lines of `command`'s output on host `name` that hold a secret (patterns copied in, root-only)."""
    host = _host(name)
    with _root_file(name, "/root/.berth-secret-patterns", "\n".join(values) + "\n") as patterns, host.sudo():
        return host.run("%s | grep -F -f %s | cut -c1-160; true" % (command, patterns)).stdout.strip()


@pytest.mark.parametrize("name", WEB + LB + DB)
def test_no_secret_in_the_journal_or_any_process_listing(name):
    """The journal (sudo's command lines, every module's invocation log, the apps' and the
    server's output) and every distinct process command line sampled every 0.2 s since prepare
    (converge, idempotence, the -vvv runs, the rollouts) hold no secret."""
    values = list(_secret_values().values())
    host = _host(name)
    with host.sudo():
        # The sampler saw the runs: sudo's become command of every module run.
        assert "BECOME-SUCCESS" in host.check_output("cat /var/tmp/berth-ps.log")
    assert _grep_on(name, "journalctl -o cat --no-pager", values) == "", "a secret in the journal of " + name
    assert _grep_on(name, "cat /var/tmp/berth-ps.log", values) == "", "a secret in a process listing of " + name


def test_no_secret_in_the_vvv_output():
    # The rollouts, and the scale-out's site.yml over the whole fleet (a fresh deploy among it).
    logs = sorted(EPHEMERAL.glob("rollout-*.log")) + [EPHEMERAL / "scale-out.log"]
    values = _secret_values()
    for log in logs:
        text = log.read_text()
        # -vvv prefixes each connection's lines with the host's address.
        assert "<%s>" % _address(WEB[0]) in text or "<%s>" % _address(DB[0]) in text, "not a -vvv run: %s" % log
        for what, value in values.items():
            assert value not in text, "%s printed in %s" % (what, log.name)


def test_a_foreign_mysqld_on_the_database_port_is_refused_before_any_change():
    """The server stopped and another mariadbd (a unit berth does not own) started on the
    entry's port: site.yml refuses the db host by the preflight, naming the process and its
    unit, and changes no host; then the real server is back."""
    db = DB[0]
    host = _host(db)
    entry = _entries(db)["mariadb"]
    host.check_output("systemctl stop %s.service" % entry["service"])
    try:
        host.check_output(
            "systemd-run --unit=foreign-mysqld --uid=mysql --gid=mysql /usr/sbin/mariadbd --no-defaults "
            "--datadir=/var/lib/mysql --port=%d --bind-address=127.0.0.1 --socket=/run/mysqld/foreign.sock "
            "--pid-file=/run/mysqld/foreign.pid" % entry["port"])
        host.check_output("for i in $(seq 1 50); do ss -Hltn 'sport = :%d' | grep -q . && exit 0; sleep 0.2; done; exit 1"
                          % entry["port"])
        out = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(PROJECT / "site.yml")],
                             cwd=str(PROJECT), capture_output=True, text=True, timeout=600)
        text = " ".join((out.stdout + out.stderr).split())
        assert out.returncode != 0, text[-3000:]
        assert "mariadbd" in text and "foreign-mysqld" in text and "mariadb" in text and str(entry["port"]) in text, text[-3000:]
        assert "changed:" not in out.stdout
    finally:
        host.run("systemctl stop foreign-mysqld.service")
        host.check_output("systemctl start %s.service" % entry["service"])
    assert host.service(entry["service"]).is_running


def test_rollback_restores_the_dump_kept_with_the_release():
    """dump_on_switch: the port move switched the API to v2 after dumping its database into the
    release it left. A record written after the switch is gone once the first web host rolls the
    API back with -e flask_app_rollback_restore_dump=true, the record written before is still
    there. Runs last: it moves the API's release and data."""
    spec = _db_spec()
    assert spec["dump_on_switch"]
    web = WEB[0]
    host = _host(web)
    left = host.file("/srv/hbnb_api/previous").linked_to
    dump = "%s/berth-db-%s.sql.gz" % (left, spec["name"])
    with host.sudo():
        assert host.file(dump).user == "root" and host.file(dump).mode == 0o600
        assert "Berthland" in host.check_output("zcat %s" % dump)
    base = "http://127.0.0.1:%d/api/v1/states" % _nginx(web)
    later = json.loads(host.check_output(
        "curl -fsS -X POST -H 'Content-Type: application/json' -d '{\"name\": \"Laterland\"}' %s" % base))
    overrides = json.dumps({"berth_ports_overrides": _overrides(web), "flask_app_only": ["hbnb_api"]})

    def rollback(*extra):
        out = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(PROJECT / "playbooks/rollback.yml"),
                              "-e", overrides, "-e", "flask_app_rollback_hosts=%s" % web] + list(extra),
                             cwd=str(PROJECT), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]

    rollback("-e", "flask_app_rollback_restore_dump=true")
    assert host.file("/srv/hbnb_api/current").linked_to == left
    assert host.run("curl -fsS %s/%s" % (base, later["id"])).rc != 0  # 404: not in the restored data
    record = json.loads((EPHEMERAL / "api-record.json").read_text())
    assert json.loads(host.check_output("curl -fsS %s/%s" % (base, record["id"])))["name"] == "Berthland"



# --- The entry-point matrix (side effect 0: tasks/entry_point_matrix.yml) -------------------------

def _matrix(mode):
    return json.loads((EPHEMERAL / ("matrix-%s.json" % mode)).read_text())["runs"]


def _entry_points():
    sys.path.insert(0, str(PROJECT / "tools"))
    import entry_point_matrix
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return {name: changes for name, _, changes in entry_point_matrix.entry_points(tmp, {})}


def test_every_entry_point_changes_nothing_on_the_converged_fleet():
    runs = _matrix("clean")
    expected = _entry_points()
    assert {r["entry_point"] for r in runs} == set(expected)
    for name in expected:
        modes = {r["mode"]: r for r in runs if r["entry_point"] == name}
        # site.yml's real run on the converged fleet is Molecule's idempotence step.
        assert set(modes) == ({"--check --diff"} if name == "site.yml" else {"--check --diff", "real"}), name
        for mode, run in modes.items():
            assert run["rc"] == 0 and run["changed"] and not any(run["changed"].values()), (name, mode, run)


def test_every_entry_point_that_would_change_the_host_refuses_its_foreign_listener():
    runs = {r["entry_point"]: r for r in _matrix("foreign")}
    expected = _entry_points()
    # The entry points that do not touch that host (db.yml, lb.yml, the firewall, off there) are
    # not run with the squatter: their changed=0 is the clean matrix's.
    assert set(runs) == {name for name, changes_web in expected.items() if changes_web}
    for name, run in runs.items():
        assert not any(run["changed"].values()), (name, run)
        # rc != 0 and the output named the host, the process and its user (the matrix checks it).
        assert run["rc"] != 0 and run["refused_naming"], (name, run)


@pytest.mark.parametrize("name", RUNNER.get_hosts("berth"))
def test_every_rendered_file_stayed_byte_identical_through_the_matrix(name):
    before = (EPHEMERAL / ("fingerprint-%s-before.txt" % name)).read_text()
    assert len(before.splitlines()) > 5
    for after in ("after-clean", "after-foreign"):
        assert (EPHEMERAL / ("fingerprint-%s-%s.txt" % (name, after))).read_text() == before, after
