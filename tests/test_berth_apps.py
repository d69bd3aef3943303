"""The apps of a web host as data (plugins/module_utils/berth_apps.py): defaults, every refusal
with its message, Nginx locations, the path through Nginx, per-app secrets, the health verdict,
and the probe module's proof from a fake /proc."""

import os
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.berth.stack.plugins.module_utils import berth_apps as apps
from ansible_collections.berth.stack.plugins.modules import berth_apps_probe as probe

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/ports.yml").read_text())["berth_ports"]
SANDBOX_APPS = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml").read_text())
DEFAULTS = {
    "name": "hbnb", "port": "app_http", "wsgi": "web_flask.0-hello_route:app", "routes": ["/"],
    "root": "/srv/hbnb", "conf_dir": "/etc/hbnb", "state_dir": "/var/lib/hbnb", "group": "", "socket": "",
    "secret_key": "set", "source_dir": "/src", "git_repo": "", "git_version": "HEAD", "release": "",
    "requirements": [], "requirements_file": "requirements.txt", "gunicorn_requirement": "gunicorn==23.0.0",
    "pip_extra_args": "", "packages": [], "workers": 2, "threads": 2, "timeout": 30, "graceful_timeout": 20,
    "keepalive": 5, "restart_sec": 1, "keep_releases": 5, "env": {},
    "health": {"path": "/health", "status": 200, "json": {"status": "ok"}, "release_key": "release"},
    "health_retries": 15, "health_delay": 1, "health_timeout": 3, "health_journal_lines": 30,
    "static": [], "persistent": [], "nginx": {}, "private_users": True,
    "trace_entry": "datadog_apm_receiver", "dogstatsd_entry": "datadog_dogstatsd",
}
GROUPS = ["berth", "web", "airbnb_clone"]
FLASK_ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles/flask_app/defaults/main.yml").read_text())
DB_HOST_VARS = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/db/mariadb.yml").read_text())
MARIADB = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/mariadb.yml").read_text())


def db_context(users=None, servers=None, **changes):
    """What the flask_app role hands the filter (__flask_app_db_context) for the sandbox: its db
    host with the entry group_vars/db enables, and the accounts of mariadb_users."""
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry as registry
    entries, _, _ = registry.effective(REGISTRY, DB_HOST_VARS["berth_ports_overrides"])
    db_entries = registry.for_host(entries, ["berth", "db"], enabled_only=True)
    context = {
        "group": "db", "entry": "mariadb", "env": FLASK_ROLE_DEFAULTS["flask_app_database_env"],
        "connect_timeout": 3, "read_timeout": 10, "write_timeout": 10, "dump_on_switch": False,
        "servers": servers if servers is not None else {"db1": {"address": "10.0.0.5", "entries": db_entries}},
        "users": users if users is not None else {
            name: {"databases": spec["databases"], "password": "set"} for name, spec in MARIADB["mariadb_users"].items()},
    }
    context.update(changes)
    return context


def sandbox(overrides=None, apps_=None, single_set=None, databases=None):
    """The sandbox's apps with the group's fleet-wide settings (its requirement pins)."""
    defaults = dict(DEFAULTS, requirements=SANDBOX_APPS["flask_app_requirements"])
    return apps.normalize(SANDBOX_APPS["flask_apps"] if apps_ is None else apps_, defaults, REGISTRY,
                          overrides if overrides is not None else SANDBOX_APPS["berth_ports_overrides"],
                          "web1", GROUPS, single_set, databases if databases is not None else db_context())


def refused(**kwargs):
    with pytest.raises(apps.AppError) as exc:
        sandbox(**kwargs)
    return " ".join(str(exc.value).split())


def test_one_app_inventory_is_the_flask_app_variables():
    [app] = apps.normalize({}, DEFAULTS, REGISTRY, {}, "web1", ["web"])
    assert (app["name"], app["port"], app["user"], app["group"], app["service"]) == ("hbnb", 8000, "hbnb", "hbnb", "flask-app")
    assert app["routes"] == [{"prefix": "/", "exact": False, "to": "", "strip": False, "origins": []}]
    assert app["health"]["release_key"] == "release" and app["secret"] == "legacy"
    assert app["requirements_file"] == "requirements.txt" and app["requirements"] == []


def test_sandbox_apps_from_the_registry():
    records = {a["name"]: a for a in sandbox()}
    assert sorted(records) == ["hbnb", "hbnb_api", "hbnb_dynamic", "hbnb_front"]
    api = records["hbnb_api"]
    assert (api["port"], api["user"], api["service"], api["root"], api["state_dir"]) == (
        8002, "hbnb-api", "hbnb-api", "/srv/hbnb_api", "/var/lib/hbnb_api")
    assert api["requirements"][-1] == "gunicorn==23.0.0"  # added: the inventory's pins lack it
    assert api["dd_env"] == {"DD_TRACE_AGENT_PORT": "8126", "DD_DOGSTATSD_PORT": "8125", "DD_AGENT_HOST": "127.0.0.1"}
    assert {a["secret"] for a in records.values()} == {"derived"}
    # The public repository's shape: no /health, each app gated on one of its own routes.
    for name in ("hbnb", "hbnb_front"):
        health = SANDBOX_APPS["flask_apps"][name]["health"]
        assert records[name]["health"] == {"path": health["path"], "status": [200], "body": health["body"],
                                           "json": {}, "release_key": ""}
    assert all(a["requirements"][-1] == "gunicorn==23.0.0" for a in records.values())
    # One list of pins for every app (each imports models, which import SQLAlchemy).
    assert all(a["requirements"][:-1] == SANDBOX_APPS["flask_app_requirements"] for a in records.values())


def test_api_database_derived_from_the_registry_and_the_accounts():
    """The sandbox API's connection: the db host's address and the port of its registry entry in
    HBNB_MYSQL_HOST, the timeouts as URL query in HBNB_MYSQL_DB, never the password."""
    api = {a["name"]: a for a in sandbox()}["hbnb_api"]
    spec = SANDBOX_APPS["flask_apps"]["hbnb_api"]["database"]
    port = DB_HOST_VARS["berth_ports_overrides"]["mariadb"].get("port", REGISTRY["mariadb"]["port"])
    assert api["database"]["env"] == {
        "HBNB_MYSQL_HOST": "10.0.0.5:%d" % port, "HBNB_MYSQL_USER": "hbnb_dev",
        "HBNB_MYSQL_DB": "hbnb_dev_db?connect_timeout=%d&read_timeout=%d&write_timeout=%d" % (
            spec["connect_timeout"], spec["read_timeout"], spec["write_timeout"])}
    assert api["database"]["dump_on_switch"] is spec["dump_on_switch"]
    assert api["database"]["password_env"] == "HBNB_MYSQL_PWD" and not api["database"]["local"]
    assert api["system_site_packages"] and "python3-mysqldb" in api["packages"]
    assert all(a["database"] is None for a in sandbox() if a["name"] != "hbnb_api")


def test_database_on_this_host_is_reached_on_loopback_with_named_variables():
    spec = {"port": "app_http", "wsgi": "api.v1.app:app",
            "database": {"name": "hbnb_dev_db", "user": "hbnb_dev", "read_timeout": 4}}
    overrides = {"mariadb": {"enabled": True, "port": 3307}}
    [app] = apps.normalize({"api": spec}, DEFAULTS, REGISTRY, overrides, "web1", GROUPS, None, db_context(servers={}))
    assert app["database"]["env"] == {"DB_HOST": "127.0.0.1", "DB_PORT": "3307", "DB_NAME": "hbnb_dev_db",
                                      "DB_USER": "hbnb_dev", "DB_CONNECT_TIMEOUT": "3", "DB_READ_TIMEOUT": "4",
                                      "DB_WRITE_TIMEOUT": "10"}
    assert app["database"]["local"] and app["database"]["server"] == "web1"


@pytest.mark.parametrize("change, expected", [
    ({"user": "nobody"}, "flask_apps.hbnb_api.database.user on web1: names account 'nobody', which mariadb_users does not define"),
    ({"name": "other_db"}, "account hbnb_dev is not granted database other_db"),
    ({"server": "db9"}, "needs one server of registry entry mariadb, found none (server: db9)"),
    ({"read_timeout": 0}, "flask_apps.hbnb_api.database.read_timeout on web1: 0 is not a positive number of seconds"),
    ({"env": {"password": ""}}, "flask_apps.hbnb_api.database.env.password on web1: is empty"),
    ({"colour": "blue"}, "flask_apps.hbnb_api.database on web1: has unknown keys colour"),
])
def test_database_refusals_name_the_variable(change, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], database=dict(spec["hbnb_api"]["database"], **change))
    assert expected in refused(apps_=spec)


def test_database_password_problems_name_the_account_not_the_password():
    text = refused(databases=db_context(users={"hbnb_dev": {"databases": ["hbnb_dev_db"], "password": "missing"}}))
    assert "mariadb_users.hbnb_dev.password on web1: is empty" in text and "vault_" in text
    text = refused(databases=db_context(users={"hbnb_dev": {"databases": ["hbnb_dev_db"], "password": "url_unsafe"}}))
    assert "break the URL the app builds (in_url)" in text


def test_database_without_a_server_or_with_two_is_refused():
    assert "found none in group db or on this host" in refused(databases=db_context(servers={}))
    two = db_context()["servers"]["db1"]
    assert "found db1, db2" in refused(databases=db_context(servers={"db1": two, "db2": two}))


def test_database_variables_cannot_be_set_twice():
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], env={"HBNB_TYPE_STORAGE": "db", "HBNB_MYSQL_HOST": "x"})
    assert "sets HBNB_MYSQL_HOST, which the app's database settings derive" in refused(apps_=spec)


def test_gunicorn_not_added_twice():
    assert apps.has_gunicorn(["Flask==3.1.0", "gunicorn[gthread]==23.0.0"])
    assert not apps.has_gunicorn(["gunicorn-extras==1"])


def test_locations_exact_first_then_longest_prefix_and_static_alias():
    locations = apps.nginx_locations(sandbox())
    exact = [loc["prefix"] for loc in locations if loc["exact"]]
    prefixes = [loc["prefix"] for loc in locations if not loc["exact"]]
    assert [loc["prefix"] for loc in locations] == exact + prefixes
    assert prefixes == sorted(prefixes, key=len, reverse=True)
    front = SANDBOX_APPS["flask_apps"]["hbnb_front"]
    static = next(loc for loc in locations if loc["kind"] == "static")
    assert static == {"prefix": front["static"][0]["prefix"], "exact": False, "app": "hbnb_front", "kind": "static",
                      "strip": False, "to": "", "upstream": "", "alias": "/srv/hbnb_front/current/public/0/",
                      "origins": front["origins"]}
    page = next(loc for loc in locations if loc["app"] == "hbnb_front" and loc["kind"] == "proxy")
    assert (page["exact"], page["prefix"], page["to"], page["origins"]) == (True, "/", front["health"]["path"],
                                                                            front["origins"])
    # No app takes the prefix / any more: the site's other paths are Nginx's 404.
    assert not apps.serves_every_path(locations)
    assert apps.serves_every_path(apps.nginx_locations([apps.normalize({}, DEFAULTS, REGISTRY, {}, "web1", ["web"])[0]]))
    dynamic = next(loc for loc in locations if loc["app"] == "hbnb_dynamic")
    assert dynamic["strip"] and dynamic["upstream"] == "berth_app_hbnb_dynamic"


def test_path_through_nginx():
    records = {a["name"]: a for a in sandbox()}
    assert apps.nginx_path(records["hbnb_dynamic"]) == "/airbnb-dynamic/number_odd_or_even/2"
    assert apps.nginx_path(records["hbnb_api"]) == "/api/v1/status"
    assert apps.nginx_path(records["hbnb"]) == "/airbnb-onepage/"
    assert apps.nginx_path(records["hbnb"], "/nowhere") == "/airbnb-onepage/nowhere"
    assert apps.nginx_path(records["hbnb_front"]) == "/"
    assert apps.nginx_path(records["hbnb_front"], "/static/x.css") is None  # Nginx serves it, not the app


def test_secrets_are_per_app_and_stable():
    one, two = apps.secret_for("k", "a", "derived"), apps.secret_for("k", "b", "derived")
    assert one != two and one == apps.secret_for("k", "a", "derived") and "k" not in one
    assert apps.secret_for("k", "a", "legacy") == "k" and apps.secret_for("", "a", "derived") == ""


@pytest.mark.parametrize("change,expected", [
    ({"Bad": {}}, "flask_apps.Bad on web1: app name 'Bad' is not 1-31 lower-case letters"),
    ({"hbnb_api": {"port": "nope", "wsgi": "api.v1.app:app"}}, "flask_apps.hbnb_api.port on web1: names registry entry 'nope', which is not in berth_ports"),
    ({"hbnb_api": {"wsgi": "api/v1/app.py"}}, "flask_apps.hbnb_api.wsgi on web1: WSGI target 'api/v1/app.py' is not 'package.module:callable'"),
    ({"hbnb_api": {"wsgi": "a:app", "routes": ["/api/", "/static/"]}}, "flask_apps.hbnb_front on web1: routes prefix /static/, which app hbnb_api routes too. Fix: give every prefix to exactly one app"),
    ({"hbnb_api": {"wsgi": "a:app", "routes": [{"exact": "/"}]}}, "flask_apps.hbnb_front on web1: routes exact /, which app hbnb_api routes too. Fix: give every exact to exactly one app"),
    ({"hbnb_api": {"wsgi": "a:app", "routes": [{"prefix": "/x", "strip": True}]}}, "prefix '/x' must end with '/'"),
    ({"hbnb_api": {"wsgi": "a:app", "port": "app_http"}}, "shares its port_name 'app_http' with app hbnb"),
    ({"hbnb_api": {"wsgi": "a:app", "colour": "red"}}, "flask_apps.hbnb_api on web1: has unknown settings colour"),
    ({"hbnb_api": {"wsgi": "a:app", "static": [{"prefix": "/s/", "dir": "../etc"}]}}, "dir '../etc' is not a directory inside the source"),
    ({"hbnb_api": {"wsgi": "a:app", "persistent": ["/etc/passwd"]}}, "'/etc/passwd' is not a file or directory name in the source root"),
    ({"hbnb_api": {"wsgi": "a:app", "release": "../x"}}, "'../x' is not a safe release id"),
    ({"hbnb_api": {"wsgi": "a:app", "health": {"path": "status"}}}, "flask_apps.hbnb_api.health.path on web1: 'status' does not start with '/'"),
    ({"hbnb_api": {"wsgi": "a:app", "packages": ["rm -rf"]}}, "'rm -rf' is not a Debian package name"),
])
def test_refusals_name_variable_host_and_fix(change, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec.update(change)
    assert expected in refused(apps_=spec)


def test_disabled_entry_refused():
    assert "flask_apps.hbnb_api on web1: registry entry 'hbnb_api' is disabled" in refused(overrides={})


def test_one_app_variables_refused_with_their_replacement():
    text = refused(single_set=["flask_app_wsgi_app", "flask_app_user"])
    assert "flask_app_wsgi_app on web1: is a one-app setting, but flask_apps lists the apps. Fix: set flask_apps.<app>.wsgi" in text
    assert "flask_app_user on web1: is no longer read" in text
    with pytest.raises(apps.AppError, match="flask_app_service on web1"):
        apps.normalize({}, DEFAULTS, REGISTRY, {}, "web1", ["web"], ["flask_app_service"])


@pytest.mark.parametrize("result,verdict", [
    ({"status": 200, "json": {"status": "ok", "release": "v2"}, "content": ""}, ""),
    ({"status": 200, "json": {"status": "ok", "release": "v1"}, "content": ""}, "JSON release is 'v1' (expected release v2)"),
    ({"status": 503, "content": ""}, "status 503 (expected 200)"),
    ({"status": -1, "msg": "refused"}, "status no answer (expected 200)"),
    ({"status": 200, "content": "<html>"}, "answer is not a JSON object"),
])
def test_health_verdict(result, verdict):
    [app] = apps.normalize({}, DEFAULTS, REGISTRY, {}, "web1", ["web"])
    assert apps.health_verdict(app, result, "v2") == verdict


def test_health_verdict_body():
    front = next(a for a in sandbox() if a["name"] == "hbnb_front")
    assert apps.health_verdict(front, {"status": 200, "content": '<div id="api_status">'}) == ""
    assert apps.health_verdict(front, {"status": 200, "content": "maintenance"}) == "body lacks 'api_status'"


def _fake_proc(tmp_path, pid, cwd, inode, port):
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    line = "   0: 0100007F:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 %d\n" % (port, inode)
    (proc / "net/tcp").write_text(header + line)
    for name in ("tcp6", "udp", "udp6"):
        (proc / "net" / name).write_text(header)
    fd = proc / str(pid) / "fd"
    fd.mkdir(parents=True)
    os.symlink("socket:[%d]" % inode, fd / "3")
    os.symlink(cwd, proc / str(pid) / "cwd")
    (proc / str(pid) / "comm").write_text("python\n")
    (proc / str(pid) / "status").write_text("Uid:\t999\t999\t999\t999\n")
    (proc / str(pid) / "cgroup").write_text("0::/system.slice/hbnb-api.service\n")
    return proc


def test_probe_proves_the_serving_release(tmp_path):
    root = tmp_path / "srv/hbnb_api"
    for release in ("v1", "v2"):
        (root / "releases" / release / "src").mkdir(parents=True)
        (root / "releases" / release / ".berth-release").write_text("release=%s\n" % release)
        (root / "releases" / release / "requirements.berth.txt").write_text("Flask==3.1.0\n")
    os.symlink(str(root / "releases/v2"), root / "current")
    os.symlink(str(root / "releases/v1"), root / "previous")
    proc = _fake_proc(tmp_path, 4242, str(root / "releases/v2/src"), 777, 8002)
    from ansible_collections.berth.stack.plugins.module_utils.berth_proc import listeners
    sockets = listeners(str(proc))
    app = {"name": "hbnb_api", "root": str(root), "service": "hbnb-api", "port": 8002, "bind": "127.0.0.1", "release": "v2"}
    state = probe.probe_app(app, sockets, str(proc), main_pid=lambda service: 4242)
    assert state["serving_release"] == "v2" and state["holds_port"] and state["built"]
    assert state["current_release"] == "v2" and state["previous"].endswith("/v1")
    assert sorted(state["built_releases"]) == ["v1", "v2"]
    assert state["requirements"]["v1"] == state["requirements"]["v2"]
    # Another pid on the port: not proved, and the message says why.
    state = probe.probe_app(app, sockets, str(proc), main_pid=lambda service: 5555)
    assert state["serving_release"] == "" and "main pid 5555 does not hold port 8002" in state["proof"]
    # No main process at all.
    state = probe.probe_app(app, sockets, str(proc), main_pid=lambda service: 0)
    assert state["proof"] == "hbnb-api.service has no main process"


def test_probe_without_ptrace_checks_the_socket_owner_only(tmp_path):
    """Root without CAP_SYS_PTRACE sees no pids: the probe says so and checks the socket's uid."""
    import pwd
    root = tmp_path / "srv/hbnb"
    (root / "releases/v1/src").mkdir(parents=True)
    proc = _fake_proc(tmp_path, 4242, str(root / "releases/v1/src"), 777, 8000)
    from ansible_collections.berth.stack.plugins.module_utils.berth_proc import listeners
    sockets = [dict(s, pid=None, pids=[]) for s in listeners(str(proc))]
    me = pwd.getpwuid(999).pw_name if any(p.pw_uid == 999 for p in pwd.getpwall()) else None
    app = {"name": "hbnb", "root": str(root), "service": "flask-app", "port": 8000, "bind": "127.0.0.1",
           "release": "v1", "user": me or "root"}
    state = probe.probe_app(app, sockets, str(proc), main_pid=lambda service: 4242)
    assert state["provable"] is False and state["serving_release"] == ""
    assert "root lacks CAP_SYS_PTRACE here" in state["proof"]
    assert state["holds_port"] is bool(me)
    record = {"name": "hbnb"}
    assert apps.unproved({"hbnb": state}, [record], {"hbnb": "v1"}) == ([] if me else ["hbnb"])
    assert apps.unproved({"hbnb": dict(state, holds_port=False)}, [record], {"hbnb": "v1"}) == ["hbnb"]
    assert apps.unproved({"hbnb": {"serving_release": "v1", "provable": True}}, [record], {"hbnb": "v1"}) == []
    assert apps.unproved({"hbnb": {"serving_release": "v0", "provable": True, "holds_port": True}}, [record],
                         {"hbnb": "v1"}) == ["hbnb"]


def test_probe_host_facts_in_one_read(tmp_path):
    """Packages, accounts, unit states and small files: what the roles skip their tasks on."""
    calls = []

    def run(argv):
        calls.append(argv[0])
        if argv[0] == "dpkg-query":
            return "nginx installed 1.22.1-9\ngit not-installed \npython3-venv installed 3.11.2-1\n"
        return ("Id=nginx.service\nUnitFileState=enabled\nActiveState=active\n"
                "FragmentPath=/lib/systemd/system/nginx.service\nDescription=A high performance web server\n\n"
                "Id=hbnb.service\nUnitFileState=disabled\nActiveState=inactive\nFragmentPath=\nDescription=hbnb.service\n")

    (tmp_path / "state.json").write_text('{"drained": ["web1"]}\n')
    facts = probe.host_facts(["nginx", "git", "python3-venv", "absent-pkg"], {"users": ["root", "no-such-berth-user"],
                             "groups": ["root", "no-such-berth-group"]}, ["nginx.service", "hbnb.service"],
                             [str(tmp_path / "state.json"), str(tmp_path / "missing.json")], run=run,
                             dirs=[str(tmp_path), str(tmp_path / "no-such-dir")])
    assert facts["packages"] == {"nginx": "1.22.1-9", "git": "", "python3-venv": "3.11.2-1", "absent-pkg": ""}
    assert facts["users"]["root"]["uid"] == 0 and "no-such-berth-user" not in facts["users"]
    assert facts["groups"] == {"root": 0}
    assert facts["units"] == {"nginx.service": {"enabled": True, "active": True,
                                                "path": "/lib/systemd/system/nginx.service",
                                                "description": "A high performance web server"},
                              "hbnb.service": {"enabled": False, "active": False, "path": "", "description": "hbnb.service"}}
    assert facts["files"] == {str(tmp_path / "state.json"): '{"drained": ["web1"]}\n', str(tmp_path / "missing.json"): None}
    assert facts["dirs"] == {str(tmp_path): ["state.json"], str(tmp_path / "no-such-dir"): None}
    assert calls == ["dpkg-query", "systemctl"], "one process per kind of fact"


def test_probe_stats_paths_without_following_links(tmp_path):
    """The owner, group and mode the roles compare with what they would write (flask_app's
    directories): a link is reported as one, an absent path as None."""
    import grp
    import pwd
    (tmp_path / "d").mkdir()
    os.chmod(tmp_path / "d", 0o751)
    (tmp_path / "f").write_text("x")
    os.chmod(tmp_path / "f", 0o640)
    (tmp_path / "l").symlink_to(tmp_path / "d")
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    paths = [str(tmp_path / n) for n in ("d", "f", "l", "absent")]
    facts = probe.host_facts(stats=paths, run=lambda argv: "")
    assert facts["stat"] == {
        paths[0]: {"type": "directory", "owner": me, "group": group, "mode": "0751"},
        paths[1]: {"type": "file", "owner": me, "group": group, "mode": "0640"},
        paths[2]: {"type": "link", "owner": me, "group": group, "mode": "0777"},
        paths[3]: None}


def _gate_app(name, **health):
    base = {"path": "/health", "status": [200], "body": "", "json": {}, "release_key": ""}
    base.update(health)
    return {"name": name, "root": "/srv/" + name, "service": name, "port": 8000, "bind": "127.0.0.1",
            "release": "v2", "url": "http://127.0.0.1:8000/health", "socket": "", "health": base,
            "health_retries": 2, "health_delay": 1, "health_timeout": 1}


def test_probe_gate_polls_each_app_until_it_passes_or_runs_out():
    answers = {"good": [{"status": 502}, {"status": 200, "content": "ok"}],
               "bad": [{"status": 500, "content": "boom"}] * 3}
    sleeps = []

    def check(app):
        return answers[app["name"]].pop(0)

    def fake_probe(app, sockets, proc_root):
        return {"serving_release": "v2", "provable": True, "holds_port": True, "proof": "main pid 1 holds port"}

    states = probe.gate([_gate_app("good"), _gate_app("bad")], lambda: [], probe=fake_probe, check=check,
                        sleep=sleeps.append)
    assert states["good"]["passed"] is True and states["good"]["health"]["verdict"] == ""
    assert states["bad"]["passed"] is False
    assert states["bad"]["health"]["verdict"] == "status 500 (expected 200)"
    assert answers["bad"] == [], "health_retries 2: three attempts"
    assert sleeps == [1, 1]


def test_probe_gate_needs_the_release_proved_not_just_an_answer():
    def fake_probe(app, sockets, proc_root):
        return {"serving_release": "v1", "provable": True, "holds_port": True, "proof": "runs in releases/v1"}

    states = probe.gate([dict(_gate_app("old"), health_retries=0)], lambda: [], probe=fake_probe,
                        check=lambda app: {"status": 200}, sleep=lambda s: None)
    assert states["old"]["passed"] is False and states["old"]["health"]["verdict"] == ""


def test_probe_http_check_on_loopback():
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": "ok", "release": "v2"}'
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = dict(_gate_app("api", json={"status": "ok"}, release_key="release"),
                   url="http://127.0.0.1:%d/health" % server.server_address[1])
        result = probe.http_check(app)
        assert result["status"] == 200 and result["json"]["release"] == "v2"
        assert apps.health_verdict(app, result, "v2") == ""
        assert probe.http_check(dict(app, url="http://127.0.0.1:%d/nope" % server.server_address[1]))["status"] == 404
    finally:
        server.shutdown()
    closed = probe.http_check(app)
    assert closed["status"] == -1 and "no answer" in closed["msg"]


# --- Inputs that could damage a host are refused (issue 28) -----------------------------------------

def _role_entries():
    """Entry -> the variable of another role naming it, from the roles' own defaults (what
    berth_plan.role_entries finds for the sandbox)."""
    out = {}
    for role in ("nginx", "mariadb", "datadog", "flask_app"):
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
        for variable, value in sorted(defaults.items()):
            if variable.endswith("_port_name") and variable not in ("flask_app_port_name", "datadog_app_port_name"):
                out.setdefault(value, variable)
            elif variable in ("flask_app_trace_entry", "flask_app_dogstatsd_entry", "flask_app_database_entry"):
                out.setdefault(value, variable)
            elif variable == "datadog_port_names":
                out.update({name: "datadog_port_names." + key for key, name in value.items() if name not in out})
    return out


ROLE_ENTRIES = _role_entries()
OWN = {"port": 9000, "proto": "tcp", "bind": "127.0.0.1", "groups": ["web"]}


def refused_with(apps_=None, registry=None, defaults=None, role_entries=ROLE_ENTRIES, overrides=None):
    with pytest.raises(apps.AppError) as exc:
        apps.normalize(SANDBOX_APPS["flask_apps"] if apps_ is None else apps_,
                       dict(DEFAULTS, requirements=SANDBOX_APPS["flask_app_requirements"], **(defaults or {})),
                       dict(REGISTRY, **(registry or {})),
                       SANDBOX_APPS["berth_ports_overrides"] if overrides is None else overrides,
                       "web1", GROUPS, None, db_context(), None, role_entries)
    return " ".join(str(exc.value).split())


def test_the_sandbox_apps_run_on_entries_of_their_own():
    records = apps.normalize(SANDBOX_APPS["flask_apps"], dict(DEFAULTS, requirements=SANDBOX_APPS["flask_app_requirements"]),
                             REGISTRY, SANDBOX_APPS["berth_ports_overrides"], "web1", GROUPS, None, db_context(), None,
                             ROLE_ENTRIES)
    assert len(records) == 4
    assert ROLE_ENTRIES["nginx_http"] == "nginx_http_port_name" and ROLE_ENTRIES["mariadb"] == "mariadb_port_name"
    assert ROLE_ENTRIES["datadog_cmd"] == "datadog_port_names.cmd_port"


@pytest.mark.parametrize("port, registry, expected", [
    ("nginx_http", {}, "flask_apps.evil.port on web1: names registry entry 'nginx_http', which nginx_http_port_name "
                       "names (service nginx, user root): the app would replace that service's unit"),
    ("datadog_cmd", {}, "names registry entry 'datadog_cmd', which datadog_port_names.cmd_port names"),
    ("mariadb", {}, "names registry entry 'mariadb', which mariadb_port_name names"),
    ("evil", {"evil": dict(OWN, service="nginx", user="evil")},
     "names registry entry 'evil', whose service nginx is the service of nginx_http (nginx_http_port_name)"),
    ("evil", {"evil": dict(OWN, service="ssh", user="evil")},
     "whose service ssh is a unit of the system or of another role: berth would replace /etc/systemd/system/ssh.service"),
    ("evil", {"evil": dict(OWN, service="systemd-journald", user="evil")}, "whose service systemd-journald is a unit"),
    ("evil", {"evil": dict(OWN, service="evil", user="root")}, "names registry entry 'evil', whose user is root"),
    ("evil", {"evil": dict(OWN, port=81, service="evil", user="evil")}, "whose port 81 is privileged (< 1024)"),
])
def test_an_app_on_another_service_s_entry_is_refused(port, registry, expected):
    text = refused_with({"evil": {"port": port, "wsgi": "a:app", "routes": ["/evil/"]}}, registry,
                        overrides={"mariadb": {"enabled": True}})
    assert expected in text
    assert "Fix: give the app an entry of its own in berth_ports" in text


@pytest.mark.parametrize("key, value, expected", [
    ("root", "/etc", "flask_apps.hbnb_api.root on web1: '/etc' is not under /srv/<name> or /opt/<name> or /var/www/<name>"),
    ("root", "/", "'/' is not an absolute, normalized path"),
    ("root", "/srv", "'/srv' is not under /srv/<name>"),
    ("root", "/srv/../etc", "'/srv/../etc' is not an absolute, normalized path"),
    ("root", "/srv/api/", "'/srv/api/' is not an absolute, normalized path"),
    ("root", "/srv/a pi", "'/srv/a pi' is not an absolute, normalized path"),
    ("root", "/srv/ssh", "'/srv/ssh' is a system directory or inside one (/srv/ssh)"),
    ("conf_dir", "/etc", "flask_apps.hbnb_api.conf_dir on web1: '/etc' is not under /etc/<name>"),
    ("conf_dir", "/etc/ssh", "'/etc/ssh' is a system directory or inside one (/etc/ssh)"),
    ("conf_dir", "/etc/systemd/system", "is a system directory or inside one (/etc/systemd)"),
    ("conf_dir", "/usr/lib/api", "'/usr/lib/api' is not under /etc/<name>"),
    ("state_dir", "/var/lib", "'/var/lib' is not under /var/lib/<app>"),
    ("state_dir", "/var/lib/a/b", "'/var/lib/a/b' is not under /var/lib/<app>"),
    ("state_dir", "/var/lib/dpkg", "is a system directory or inside one (/var/lib/dpkg)"),
    ("state_dir", "/home/api", "'/home/api' is not under /var/lib/<app>"),
    ("socket", "../../etc/shadow", "flask_apps.hbnb_api.socket on web1: '../../etc/shadow' is not an absolute, normalized path"),
    ("socket", "/run/systemd/api.sock", "is a system directory or inside one (/run/systemd)"),
    ("socket", "/tmp/api.sock", "'/tmp/api.sock' is not under /run/<app>/gunicorn.sock"),
    ("socket", "/run/api.sock", "'/run/api.sock' is not under /run/<app>/gunicorn.sock"),
])
def test_app_directories_must_be_safe_to_create_and_write(key, value, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], **{key: value})
    assert expected in refused_with(spec)


@pytest.mark.parametrize("key, value", [("root", "/srv/api"), ("root", "/opt/berth/api"), ("root", "/var/www/api"),
                                        ("conf_dir", "/etc/berth/api"), ("state_dir", "/var/lib/api"),
                                        ("socket", "/run/api/gunicorn.sock")])
def test_app_directories_in_their_places_are_accepted(key, value):
    assert apps.dir_error(key, value) is None


def test_one_app_directories_and_group_name_their_variables():
    with pytest.raises(apps.AppError) as exc:
        apps.normalize({}, dict(DEFAULTS, root="/etc", group="Bad Group"), REGISTRY, {}, "web1", ["web"])
    text = str(exc.value)
    assert "flask_app_root on web1: '/etc' is not under /srv/<name>" in text
    assert "flask_app_group on web1: 'Bad Group' is not an account name" in text


@pytest.mark.parametrize("change, expected", [
    ({"privat_users": False}, "flask_apps.hbnb_api on web1: has unknown settings privat_users (did you mean private_users?)"),
    ({"health": {"paht": "/x"}}, "flask_apps.hbnb_api.health on web1: has unknown keys paht (did you mean path?)"),
    ({"nginx": {"read_timout": "5s"}}, "flask_apps.hbnb_api.nginx on web1: has unknown keys read_timout (did you mean read_timeout?)"),
    ({"routes": [{"prefix": "/api/", "stirp": True}]}, "flask_apps.hbnb_api.routes[0] on web1: has unknown keys stirp (did you mean strip?)"),
    ({"static": [{"prefix": "/s/", "dri": "x"}]}, "has unknown keys dri (did you mean dir?)"),
    ({"database": dict(SANDBOX_APPS["flask_apps"]["hbnb_api"]["database"], in_ulr=True)},
     "flask_apps.hbnb_api.database on web1: has unknown keys in_ulr (did you mean in_url?)"),
])
def test_a_misspelt_key_is_refused_with_the_key_it_resembles(change, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], **change)
    assert expected in refused_with(spec)


@pytest.mark.parametrize("change, expected", [
    ({"private_users": "false"}, "flask_apps.hbnb_api.private_users on web1: 'false' is not a boolean. Fix: write true "
                                 "or false (unquoted: a quoted \"false\" is true)"),
    ({"system_site_packages": "no"}, "flask_apps.hbnb_api.system_site_packages on web1: 'no' is not a boolean"),
    ({"secret_key_required": "false"}, "flask_apps.hbnb_api.secret_key_required on web1: 'false' is not a boolean"),
    ({"routes": [{"prefix": "/api/", "strip": "false"}]}, "flask_apps.hbnb_api.routes on web1: strip of /api/: 'false' is not a boolean"),
    ({"database": dict(SANDBOX_APPS["flask_apps"]["hbnb_api"]["database"], in_url="false")},
     "flask_apps.hbnb_api.database.in_url on web1: 'false' is not a boolean"),
    ({"database": dict(SANDBOX_APPS["flask_apps"]["hbnb_api"]["database"], dump_on_switch="true")},
     "flask_apps.hbnb_api.database.dump_on_switch on web1: 'true' is not a boolean"),
])
def test_booleans_must_be_written_as_booleans(change, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], **change)
    assert expected in refused_with(spec)


def test_a_fleet_wide_boolean_names_its_flask_app_variable():
    assert "flask_app_private_users on web1: 'false' is not a boolean" in refused_with(defaults={"private_users": "false"})


@pytest.mark.parametrize("key, value, expected", [
    ("workers", -1, "flask_apps.hbnb_api.workers on web1: -1 is outside 1-1024. Fix: write a whole number from 1 to 1024"),
    ("threads", 0, "threads on web1: 0 is outside 1-1024"),
    ("threads", True, "threads on web1: True is not an integer"),
    ("timeout", 0, "timeout on web1: 0 is outside 1-86400"),
    ("graceful_timeout", -5, "graceful_timeout on web1: -5 is outside 0-86400"),
    ("keepalive", -1, "keepalive on web1: -1 is outside 0-3600"),
    ("restart_sec", -1, "restart_sec on web1: -1 is outside 0-3600"),
    ("keep_releases", -1, "keep_releases on web1: -1 is outside 0-1000"),
    ("health_retries", -1, "health_retries on web1: -1 is outside 0-1000"),
    ("health_delay", "x", "health_delay on web1: 'x' is not an integer"),
    ("health_timeout", 0, "health_timeout on web1: 0 is outside 1-3600"),
    ("health_journal_lines", -3, "health_journal_lines on web1: -3 is outside 0-10000"),
])
def test_numbers_outside_their_range_are_refused(key, value, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], **{key: value})
    assert expected in refused_with(spec)


def test_numbers_given_as_digits_on_the_command_line_are_accepted():
    [app] = apps.normalize({}, dict(DEFAULTS, workers="4"), REGISTRY, {}, "web1", ["web"])
    assert app["workers"] == 4


@pytest.mark.parametrize("nginx, expected", [
    ({"read_timeout": "30s; return 200"}, "flask_apps.hbnb_api.nginx.read_timeout on web1: '30s; return 200' is not an "
                                          "Nginx time (e.g. 30s, 500ms, 5m). Fix: write a time such as 60s"),
    ({"fail_timeout": "10s\nlocation"}, "nginx.fail_timeout on web1: '10s\\nlocation' is not an Nginx time"),
    ({"max_fails": -1}, "nginx.max_fails on web1: -1 is outside 0-1000000"),
    ({"keepalive": "16 backup"}, "nginx.keepalive on web1: '16 backup' is not an integer"),
])
def test_an_app_s_nginx_settings_are_values_not_directives(nginx, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], nginx=nginx)
    assert expected in refused_with(spec)


@pytest.mark.parametrize("env, expected", [
    ({"A": "x\nFLASK_SECRET_KEY=evil"}, "flask_apps.hbnb_api.env.A on web1: 'x\\nFLASK_SECRET_KEY=evil' contains a "
                                        "newline or another control character"),
    ({"A": "x\x00"}, "env.A on web1: 'x\\x00' contains a newline"),
    ({"A": {"b": 1}}, "env.A on web1: {'b': 1} is not a string or a number"),
    ({"BERTH_PORT": "80"}, "flask_apps.hbnb_api.env on web1: sets BERTH_PORT, which berth derives for every app (from "
                           "the registry entry and the release). Fix: remove BERTH_PORT from env"),
    ({"BERTH_ANYTHING": "x"}, "sets BERTH_ANYTHING, which berth derives"),
    ({"FLASK_SECRET_KEY": "x"}, "sets FLASK_SECRET_KEY, which berth derives for every app (from the vault's"),
    ({"DD_AGENT_HOST": "evil.example"}, "sets DD_AGENT_HOST, which berth derives for every app (from the agent's"),
    ({"DD_TRACE_AGENT_URL": "http://evil:8126"}, "sets DD_TRACE_AGENT_URL, which berth derives"),
    ({"HBNB_MYSQL_PWD": "x"}, "flask_apps.hbnb_api.env on web1: sets HBNB_MYSQL_PWD, which the app's database settings "
                              "derive. Fix: remove it from env (it comes from the registry and mariadb_users, the "
                              "password from the vault)"),
])
def test_env_values_are_one_line_and_never_replace_a_derived_variable(env, expected):
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], env=dict(env, HBNB_TYPE_STORAGE="db"))
    assert expected in refused_with(spec)


def test_the_fleet_wide_env_names_flask_app_env():
    assert "flask_app_env on web1: sets BERTH_RELEASE" in refused_with(defaults={"env": {"BERTH_RELEASE": "x"}})


def test_dd_settings_of_the_app_itself_stay_the_app_s():
    [app] = apps.normalize({}, dict(DEFAULTS, env={"DD_SERVICE": "hbnb", "DD_ENV": "prod"}), REGISTRY, {}, "web1", ["web"])
    assert app["env"] == {"DD_SERVICE": "hbnb", "DD_ENV": "prod"}


def test_an_empty_secret_key_is_refused_unless_the_app_needs_none():
    text = refused_with(defaults={"secret_key": ""})
    assert ("flask_app_secret_key on web1: is empty, so app hbnb would run without a Flask secret key (sessions and "
            "CSRF tokens signed with nothing). Fix: set vault_flask_app_secret_key in the inventory's vault") in text
    assert "set flask_apps.hbnb.secret_key_required: false" in text
    with pytest.raises(apps.AppError, match="set flask_app_secret_key_required: false"):
        apps.normalize({}, dict(DEFAULTS, secret_key=""), REGISTRY, {}, "web1", ["web"])
    [app] = apps.normalize({}, dict(DEFAULTS, secret_key="", secret_key_required=False), REGISTRY, {}, "web1", ["web"])
    assert app["secret"] == "none"
    one = {"hbnb": {"port": "app_http", "wsgi": "a:app", "secret_key": "own"}}
    assert apps.normalize(one, dict(DEFAULTS, secret_key=""), REGISTRY, {}, "web1", ["web"])[0]["secret"] == "explicit"


def test_a_secret_key_with_a_newline_is_refused():
    one = {"hbnb": {"port": "app_http", "wsgi": "a:app", "secret_key": "a\nb"}}
    with pytest.raises(apps.AppError, match="flask_apps.hbnb.secret_key on web1: contains a newline"):
        apps.normalize(one, DEFAULTS, REGISTRY, {}, "web1", ["web"])


def test_a_database_password_with_a_newline_is_refused_naming_the_account():
    text = refused(databases=db_context(users={"hbnb_dev": {"databases": ["hbnb_dev_db"], "password": "control"}}))
    assert "mariadb_users.hbnb_dev.password on web1: contains a newline or another control character" in text


def test_a_health_path_that_is_not_a_url_path_is_refused():
    spec = dict(SANDBOX_APPS["flask_apps"])
    spec["hbnb_api"] = dict(spec["hbnb_api"], health={"path": "/x y"})
    assert "flask_apps.hbnb_api.health.path on web1: '/x y' is not a URL path" in refused_with(spec)


# --- Routes that map public paths onto app paths (the public repositories' shapes) ---------------

def _one(routes, health="/", **extra):
    spec = {"port": "app_http", "wsgi": "web_dynamic.101-hbnb:app", "routes": routes, "health": {"path": health}}
    spec.update(extra)
    return apps.normalize({"front": spec}, DEFAULTS, REGISTRY, None, "web1", ["web"], (), None)[0]


@pytest.mark.parametrize("route, app_path, public", [
    # web_dynamic/101-hbnb.py serves only /101-hbnb/: the site's / maps onto it, exactly...
    ({"exact": "/", "to": "/101-hbnb/"}, "/101-hbnb/", "/"),
    # ... or as a prefix (every path under / to the same path under /101-hbnb/).
    ({"prefix": "/", "to": "/101-hbnb/"}, "/101-hbnb/", "/"),
    ({"prefix": "/", "to": "/101-hbnb/"}, "/101-hbnb/x", "/x"),
    # web_flask/0-hello_route.py serves only /: /airbnb-onepage/ maps onto it (strip: true is to: /).
    ({"prefix": "/airbnb-onepage/", "strip": True}, "/", "/airbnb-onepage/"),
    ({"prefix": "/airbnb-onepage/", "to": "/"}, "/", "/airbnb-onepage/"),
    ({"prefix": "/airbnb-dynamic/", "strip": True}, "/number_odd_or_even/2", "/airbnb-dynamic/number_odd_or_even/2"),
    # The path as it is.
    ({"prefix": "/api/"}, "/api/v1/status", "/api/v1/status"),
    ("/api/", "/api/v1/status", "/api/v1/status"),
])
def test_the_health_check_follows_the_route_s_mapping(route, app_path, public):
    assert apps.nginx_path(_one([route], app_path)) == public


def test_an_exact_route_wins_over_a_prefix_and_both_become_locations():
    record = _one([{"exact": "/", "to": "/101-hbnb/"}, {"prefix": "/", "to": "/101-hbnb/"}], "/101-hbnb/")
    locations = apps.nginx_locations([record])
    assert [(loc["exact"], loc["prefix"], loc["to"]) for loc in locations] == [(True, "/", "/101-hbnb/"),
                                                                                (False, "/", "/101-hbnb/")]


@pytest.mark.parametrize("route, words", [
    ({"prefix": "/", "to": "/101-hbnb"}, "must both end with '/' or neither"),
    ({"prefix": "/x/", "exact": "/x"}, "has both prefix and exact"),
    ({"exact": "/", "to": "101-hbnb"}, "is not a URL path starting with '/'"),
    ({"prefix": "/x/", "strip": "yes"}, "'yes' is not a boolean"),
    ({"to": "/x/"}, "lacks prefix or exact"),
    ({"prefix": "/x/", "origins": ["0.0.0.0:5001"]}, "is not an origin"),
])
def test_bad_route_mappings_are_refused(route, words):
    with pytest.raises(apps.AppError, match=re.escape(words)):
        _one([route])


def test_origins_of_the_app_reach_its_routes_and_static_directories():
    record = _one(["/"], origins=["http://0.0.0.0:5001/"],
                  static=[{"prefix": "/static/", "dir": ["web_dynamic/static", "web_flask/static"]}])
    assert record["origins"] == ["http://0.0.0.0:5001"]
    assert record["routes"][0]["origins"] == ["http://0.0.0.0:5001"]
    assert record["static"][0]["origins"] == ["http://0.0.0.0:5001"]
    # Several directories for one static prefix: merged into the release's one public copy.
    assert record["static"][0]["dir"] == ["web_dynamic/static", "web_flask/static"]
    # Off by default.
    assert _one(["/"])["routes"][0]["origins"] == []
