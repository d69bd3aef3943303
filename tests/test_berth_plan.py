"""The planner (plugins/module_utils/berth_plan.py): a host's state is a function of its inventory.

The views are the sandbox inventory's hosts as the berth_plan action builds them (tests/planview.py):
the host's variables over every role's defaults, templated by Ansible's Templar.
"""

import copy

import pytest
import yaml

import planview
from ansible_collections.berth.stack.plugins.module_utils import berth_deploy as deploy
from ansible_collections.berth.stack.plugins.module_utils import berth_plan as plan
from project import ROOT

APPS = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml").read_text())["flask_apps"]


# --- The same state whatever the entry point -------------------------------------------------------

@pytest.mark.parametrize("play_roles", [(), ("nginx",), ("flask_app", "nginx"), ("datadog",), ("flask_app",)])
def test_nginx_and_datadog_render_the_host_s_apps_whichever_roles_the_play_has(play_roles):
    """web.yml --tags nginx and monitoring.yml alone rendered the one-app defaults (issue 26): the
    plan of a web host is the same with or without the flask_app role in the play."""
    alone = planview.view("web1")
    in_play = planview.view("web1", with_role_defaults=play_roles)
    assert plan.nginx(in_play) == plan.nginx(alone)
    assert plan.datadog(in_play) == plan.datadog(alone)
    assert plan.flask_app(in_play) == plan.flask_app(alone)


def test_a_web_host_s_nginx_routes_every_app_of_the_inventory():
    section = plan.nginx(planview.view("web1"))
    assert section["mode"] == "apps"
    assert {u["name"] for u in section["apps"]} == set(APPS)
    proxied = {(loc["exact"], loc["prefix"]): loc["app"] for loc in section["locations"] if loc["kind"] == "proxy"}
    for name, app in APPS.items():
        for route in app["routes"]:
            route = {"prefix": route} if isinstance(route, str) else route
            assert proxied[(bool(route.get("exact")), route.get("exact") or route["prefix"])] == name
    static = [loc for loc in section["locations"] if loc["kind"] == "static"]
    assert [s["prefix"] for s in static] == [s["prefix"] for app in APPS.values() for s in app.get("static", [])]
    # Exact paths first (the front end's /), then the longest prefix first.
    assert [loc["exact"] for loc in section["locations"]] == [True] + [False] * (len(section["locations"]) - 1)
    # No app takes the prefix /: the other paths get Nginx's 404, not its html directory.
    assert section["not_found_location"] is True


@pytest.mark.parametrize("routes, extra_locations, expected", [
    ([{"exact": "/", "to": "/3-hbnb/"}], [], True),                      # the page on exactly /
    (["/app/"], [], True),
    (["/"], [], False),                                                  # an app takes every path
    ([{"prefix": "/", "to": "/3-hbnb/"}], [], False),
    ([{"exact": "/", "to": "/3-hbnb/"}], ["location / {\n    return 410;\n}\n"], False),  # the inventory's own /
    ([{"exact": "/", "to": "/3-hbnb/"}], ["location /legacy/ {\n    return 410;\n}\n"], True),
])
def test_paths_no_location_takes_are_a_404_unless_something_takes_slash(routes, extra_locations, expected):
    """Without a location for the prefix /, Nginx would serve its compiled-in html directory
    (Debian's "Welcome to nginx" at /index.html): the site then ends with location / -> 404."""
    one = {"hbnb": {"port": "app_http", "wsgi": "web_flask.0-hello_route:app", "routes": routes, "health": {"path": "/"}}}
    section = plan.nginx(planview.view("web1", {"flask_apps": one, "nginx_extra_locations": extra_locations}))
    assert section["not_found_location"] is expected


def test_datadog_watches_every_app_route_and_not_a_health_route_the_apps_lack():
    checks = plan.datadog(planview.view("web1"))["checks"]
    names = [i["name"] for i in checks["http_check"]["instances"]]
    # One check on each app's own port and one per route through Nginx.
    assert len(names) == 2 * len(APPS)
    assert not any(name.startswith("app_http /health") for name in names)
    processes = {i["name"] for i in checks["process"]["instances"]}
    assert {"gunicorn %s" % name for name in APPS} <= processes


def test_a_load_balancer_s_backends_are_the_web_group_s_hosts_on_their_own_http_entry():
    section = plan.nginx(planview.view("lb"))
    assert section["mode"] == "lb"
    assert [b["name"] for b in section["upstream"]["backends"]] == planview.GROUPS["web"]
    assert {b["port"] for b in section["upstream"]["backends"]} == {80}
    assert plan.apps(planview.view("lb")) == []


def test_a_moved_http_port_of_one_backend_reaches_the_load_balancer_s_upstream():
    extra = {"berth_ports_overrides": {"nginx_http": {"port": 8088}}}
    lb = planview.view("lb")
    web1 = planview.view("web1", extra)
    lb._peer = lambda host: web1 if host == "web1" else planview.view(host)
    assert {b["name"]: b["port"] for b in plan.nginx(lb)["upstream"]["backends"]} == {"web1": 8088, "web2": 80}


# --- Refusals before any change ---------------------------------------------------------------------

@pytest.mark.parametrize("role, extra, words", [
    ("nginx", {"nginx_app_port_name": "app_http"}, ["nginx_app_port_name on web1 is gone", "Fix: remove"]),
    ("nginx", {"nginx_upstream_group": "nosuchgroup"}, ["nginx_upstream_group 'nosuchgroup' must be a non-empty"]),
    ("nginx", {"nginx_http_port_name": "nope"}, ["nginx_http_port_name on web1 names registry entry 'nope'"]),
    ("datadog", {"datadog_api_key": ""}, ["datadog_api_key is empty or undefined for host web1"]),
    ("flask_app", {"flask_app_only": ["nope"]}, ["flask_app_only names nope, not an app of web1"]),
    ("flask_app", {"flask_app_source_dir": "/nonexistent"},
     ["flask_app_source_dir '/nonexistent' on web1 is missing, empty or has no files (app hbnb)"]),
    ("flask_app", {"flask_apps": {"hbnb": {"port": "hbnb_api", "wsgi": "a:b"}, "two": {"port": "hbnb_api", "wsgi": "a:b"}}},
     ["shares its port_name 'hbnb_api' with app hbnb"]),
])
def test_bad_input_is_refused_naming_variable_host_and_fix(role, extra, words):
    with pytest.raises(plan.PlanError) as err:
        plan.plan(role, planview.view("web1", extra))
    for word in words:
        assert word in str(err.value)


def test_nginx_on_a_host_without_any_app_is_refused():
    with pytest.raises(plan.PlanError, match="Nginx proxies to the host's apps, but none is opened here"):
        plan.nginx(planview.view("db"))


def test_the_guard_compares_every_entry_that_applies_to_the_host():
    guard = plan.guard(planview.view("web1"))
    assert "hbnb_api" in guard["entries"] and "datadog_cmd" in guard["entries"]
    assert guard["registry_file"] == "inventories/sandbox/group_vars/all/ports.yml"


# --- Packages, MariaDB, the firewall ------------------------------------------------------------------

def test_packages_are_each_role_s_for_the_roles_the_play_applies():
    section = plan.packages(planview.view("web1"), ["flask_app", "nginx", "datadog", "firewall"])
    by_role = {w["role"]: w["packages"] for w in section["wanted"]}
    assert by_role["nginx"] == ["nginx"]
    assert "python3-mysqldb" in by_role["flask_app"] and "mariadb-client" in by_role["flask_app"]
    assert by_role["datadog"] == ["datadog-agent=1:7.99.0-1~berthstandin"]
    assert "firewall" not in by_role  # off on web hosts
    db = plan.packages(planview.view("db"), ["mariadb", "datadog", "firewall"])
    assert {w["role"] for w in db["wanted"]} == {"mariadb", "datadog", "firewall"}
    assert [w for w in db["wanted"] if w["role"] == "mariadb"][0]["install_recommends"] is False


def test_mariadb_accounts_never_carry_a_password():
    section = plan.mariadb(planview.view("db"))
    assert {(a["user"], a["host"]) for a in section["accounts"] if not a["monitor"]} == {("hbnb_dev", "%")}
    assert "test-db-password" not in repr(section)
    assert section["databases"][0]["name"] == "hbnb_dev_db"


def test_the_db_firewall_admits_the_web_hosts():
    section = plan.firewall(planview.view("db"))
    assert section["enabled"] and set(section["allow"]) == {"mariadb"}
    assert section["clients"]["entries"]["mariadb"] == {"web1": "web1", "web2": "web2"}


# --- What the probe decides ------------------------------------------------------------------------

def _probe(section, built=(), current=None, running=(), users=(), groups=(), dirs=False):
    apps = {}
    for record in section["apps"]:
        release = section["releases"][record["name"]]
        cur = (current or {}).get(record["name"], "")
        apps[record["name"]] = {"built": record["name"] in built, "current": cur, "previous": "",
                                "releases": [cur] if cur else [], "built_releases": [cur.rsplit("/", 1)[-1]] if cur else [],
                                "requirements": {}, "current_release": cur.rsplit("/", 1)[-1] if cur else "",
                                "release": release}
    return {"apps": apps, "host": {
        "packages": {p: "1.0" for p in section["packages"] if p != "git"},
        "users": {u["user"]: {"group": u["group"], "shell": "/usr/sbin/nologin", "home": u["state_dir"],
                              "comment": "berth flask_app " + u["name"]} for u in section["apps"] if u["user"] in users},
        "groups": {g: 1 for g in groups},
        "units": {r["service"] + ".service": {"enabled": True, "active": True}
                  for r in section["apps"] if r["name"] in running},
        "dirs": {"/var/lib/apt/lists": ["x_Packages"]},
        # With ``dirs``, every app directory as the role writes it.
        "stat": {d["path"]: {"type": "directory", "owner": "root", "group": d["group"], "mode": d["mode"]}
                 for d in plan.flask_app_dirs(section["apps"])} if dirs else {}}}


def test_a_fresh_host_installs_creates_builds_and_starts_everything():
    section = plan.flask_app(planview.view("web1"))
    decision = plan.flask_app_decide(section, _probe(section))
    assert decision["build"] == sorted(APPS)
    assert decision["not_running"] == sorted(APPS)
    assert decision["deployed"] == []
    assert {u["name"] for u in decision["accounts"]["users"]} == {r["user"] for r in section["apps"]}
    assert not any(u["exists"] for u in decision["accounts"]["users"])
    assert decision["dirs"] == plan.flask_app_dirs(section["apps"])
    assert {d["path"] for d in decision["dirs"]} >= {r["conf_dir"] for r in section["apps"]}


def test_a_converged_host_builds_creates_and_starts_nothing():
    section = plan.flask_app(planview.view("web1"))
    users = [r["user"] for r in section["apps"]]
    current = {r["name"]: "%s/releases/%s" % (r["root"], section["releases"][r["name"]]) for r in section["apps"]}
    decision = plan.flask_app_decide(section, _probe(section, built=APPS, current=current, running=APPS, users=users,
                                                     groups=[r["group"] for r in section["apps"]], dirs=True))
    assert decision["build"] == [] and decision["not_running"] == [] and decision["missing_packages"] == []
    assert decision["accounts"] == {"groups": [], "users": []}
    assert decision["dirs"] == []
    assert decision["deployed"] == sorted(APPS)


def test_only_the_directories_not_as_wanted_are_written():
    """The probe's stat of each directory: missing, another mode, group or owner, or not a
    directory is written again; the others make no module run."""
    section = plan.flask_app(planview.view("web1"))
    probe = _probe(section, dirs=True)
    wanted = plan.flask_app_dirs(section["apps"])
    stats = probe["host"]["stat"]
    stats[wanted[0]["path"]] = None
    stats[wanted[1]["path"]] = dict(stats[wanted[1]["path"]], mode="0755")
    stats[wanted[2]["path"]] = dict(stats[wanted[2]["path"]], group="root")
    stats[wanted[3]["path"]] = dict(stats[wanted[3]["path"]], type="link")
    stats[wanted[4]["path"]] = dict(stats[wanted[4]["path"]], owner="nobody")
    assert plan.flask_app_decide(section, probe)["dirs"] == wanted[:5]
    assert plan.flask_app_probe(section)["stat"] == [d["path"] for d in wanted]


def test_a_rollback_without_a_previous_release_is_refused_before_any_change():
    section = plan.flask_app(planview.view("web1"))
    with pytest.raises(plan.PlanError, match="cannot roll back app hbnb to the previous release: no previous release"):
        plan.rollback_decide(section, _probe(section))


# --- What goes live after the files (berth_deploy) --------------------------------------------------

def _deployed(section, probe, releases=None):
    result = dict(section, probe=probe)
    result["decision"] = plan.flask_app_decide(section, probe, releases)
    return result


def test_a_switch_with_the_same_pins_reloads_and_with_other_pins_restarts():
    section = plan.flask_app(planview.view("web1"))
    current = {r["name"]: "%s/releases/old" % r["root"] for r in section["apps"]}
    probe = _probe(section, built=APPS, current=current, running=APPS)
    for record in section["apps"]:
        state = probe["apps"][record["name"]]
        state["requirements"] = {"old": "same", section["releases"][record["name"]]: "same"}
    probe["apps"]["hbnb_api"]["requirements"][section["releases"]["hbnb_api"]] = "new pins"
    full = _deployed(section, probe)
    files = {"changed_paths": [r["root"] + "/current" for r in section["apps"]],
             "entries": {r["root"] + "/current": {"changed": True, "before": current[r["name"]]} for r in section["apps"]}}
    applied = deploy.apply(full, files)
    assert applied["restart"] == ["hbnb_api"]
    assert sorted(applied["reload"]) == sorted(n for n in APPS if n != "hbnb_api")
    assert applied["daemon_reload"] is False and applied["start"] == []
    # The gate puts back what served before the switch.
    assert deploy.gate_restore(full, applied["switched"])["hbnb"]["current"] == current["hbnb"]


def test_a_changed_unit_restarts_and_reloads_systemd():
    section = plan.flask_app(planview.view("web1"))
    current = {r["name"]: "%s/releases/%s" % (r["root"], section["releases"][r["name"]]) for r in section["apps"]}
    full = _deployed(section, _probe(section, built=APPS, current=current, running=APPS))
    files = {"changed_paths": ["/etc/systemd/system/hbnb-front.service"], "entries": {}}
    applied = deploy.apply(full, files)
    assert applied["daemon_reload"] and applied["restart"] == ["hbnb_front"] and applied["reload"] == []


def test_an_app_whose_build_failed_is_not_started_on_a_first_deploy():
    section = plan.flask_app(planview.view("web1"))
    full = deploy.without(_deployed(section, _probe(section)), ["hbnb_api"])
    applied = deploy.apply(full, {"changed_paths": [], "entries": {}}, {"failed_apps": {"hbnb_api": "does not load"}})
    assert sorted(applied["start"]) == sorted(n for n in APPS if n != "hbnb_api")
    assert "hbnb-api.service" not in applied["start_units"]


def test_the_files_of_a_deploy_are_units_and_configs_then_env_files_then_links():
    section = plan.flask_app(planview.view("web1"))
    full = _deployed(section, _probe(section))
    entries = deploy.files(full, {})
    kinds = [e.get("template") or e.get("state") for e in entries]
    n = len(APPS)
    assert kinds[:2 * n] == ["flask_app.service.j2", "gunicorn.conf.py.j2"] * n
    assert kinds[2 * n:3 * n] == ["app.env.j2"] * n and all(e["secret"] for e in entries[2 * n:3 * n])
    assert kinds[3 * n:] == ["link"] * n


def test_secrets_stay_out_of_the_plan_and_reach_only_the_env_files():
    section = plan.flask_app(planview.view("web1"))
    assert "test-secret-key" not in repr(section) and "test-db-password" not in repr(section)
    full = _deployed(section, _probe(section))
    view = planview.view("web1")
    secrets = plan.app_secrets(view, section["apps"])
    assert secrets["hbnb_api"]["HBNB_MYSQL_PWD"] == "test-db-password"
    # flask_apps: each app its own key derived from the fleet's.
    assert len({s["FLASK_SECRET_KEY"] for s in secrets.values()}) == len(APPS)
    env = [e for e in deploy.files(full, secrets) if e.get("template") == "app.env.j2"]
    api = [e for e in env if e["vars"]["item"]["name"] == "hbnb_api"][0]["vars"]["env"]
    assert api["HBNB_MYSQL_PWD"] == "test-db-password" and api["BERTH_RELEASE"] == section["releases"]["hbnb_api"]


def test_prune_keeps_current_previous_and_the_new_release():
    section = plan.flask_app(planview.view("web1", {"flask_app_keep_releases": 2}))
    root = [r for r in section["apps"] if r["name"] == "hbnb"][0]["root"]
    probe = _probe(section, built=APPS)
    probe["apps"]["hbnb"].update({"current": root + "/releases/r3", "previous": root + "/releases/r2",
                                 "releases": [root + "/releases/r%d" % i for i in (3, 2, 1, 0)]})
    full = _deployed(section, probe)
    files = {"entries": {root + "/current": {"changed": True, "before": root + "/releases/r3"}}}
    pruned = deploy.prune(full, files)
    assert root + "/releases/r3" not in pruned  # served before this run: the new previous
    assert {root + "/releases/r1", root + "/releases/r0", root + "/releases/r2"} == {p for p in pruned if p.startswith(root + "/")}


def test_a_failed_dump_names_the_database_and_the_fix():
    message = deploy.command_failures([{"rc": 2, "stderr_lines": ["Access denied"],
                                        "item": {"name": "hbnb_api", "database": {"name": "hbnb_dev_db", "host": "db",
                                                                                  "port": 3306}}}], "web1", "dump")
    assert "hbnb_api on web1: the dump of database hbnb_dev_db (db:3306) before the switch failed (exit 2): Access denied" in message
    assert "Nothing was switched" in message
    assert deploy.command_failures([{"rc": 0}], "web1", "dump") == ""


def test_gate_items_follow_each_app_s_route_through_nginx():
    section = plan.flask_app(planview.view("web1"))
    full = _deployed(section, _probe(section))
    entry = plan.nginx(planview.view("web1"))["http"]
    items = {i["name"]: i for i in deploy.nginx_gate_items(full, entry, section["releases"])}
    assert items["hbnb_dynamic"]["url"] == "http://127.0.0.1:80/airbnb-dynamic/number_odd_or_even/2"
    assert items["hbnb_api"]["url"] == "http://127.0.0.1:80/api/v1/status"
    # The public repository's paths: the site's /airbnb-onepage/ is the hello app's /, its / the
    # front end's /<N>-hbnb/ (the health checks name the app's own paths).
    assert APPS["hbnb"]["health"]["path"] == "/" and items["hbnb"]["url"] == "http://127.0.0.1:80/airbnb-onepage/"
    assert APPS["hbnb_front"]["health"]["path"] != "/" and items["hbnb_front"]["url"] == "http://127.0.0.1:80/"


def test_the_plan_is_deterministic_data():
    """What a role renders is plain data: equal plans for equal inventories, nothing shared between calls."""
    one = plan.flask_app(planview.view("web2"))
    two = plan.flask_app(planview.view("web2"))
    assert one == two
    copy.deepcopy(one)


@pytest.mark.parametrize("run, skip, selected", [
    (["all"], [], True),
    (["web"], [], True),                      # the play's tag
    (["nginx"], [], True),                    # the role's tag
    (["nginx_configure"], [], True),          # one of the role's own tags
    (["lb"], [], False),                      # another play
    (["flask_app"], [], False),               # another role of the same play
    (["all"], ["nginx"], False),              # the role skipped
    (["all"], ["nginx_install"], True),       # part of it skipped, configure and run still run
    (["all"], ["nginx_install", "nginx_configure", "nginx_run"], False),
    (["all"], ["web"], False),
])
def test_a_role_s_plan_reads_the_host_only_when_one_of_its_tasks_runs(run, skip, selected):
    task_tags = ["always", "web", "nginx"]  # the plan task: always, and what it inherits from the play and role
    assert plan.work_selected(task_tags, ["nginx_install", "nginx_configure", "nginx_run"], run, skip) is selected


@pytest.mark.parametrize("role, host", [("flask_app", "web1"), ("nginx", "web1"), ("nginx", "lb"), ("datadog", "db"),
                                        ("mariadb", "db"), ("firewall", "db"), ("berth_ports", "lb")])
def test_no_section_key_collides_with_the_action_s_own_result_keys(role, host):
    """The action puts a section's keys at the top of its result, beside probe, decision, work_selected..."""
    section = plan.plan(role, planview.view(host))
    assert not set(section) & set(plan.RESULT_KEYS), role


# --- The registry is checked by every role's plan, as validate.yml checks it (issue 28) -----------

@pytest.mark.parametrize("override, words", [
    ({"app_http": {"enabled": "false"}},
     ["berth_ports_overrides.app_http on web1: app_http: enabled 'false' is not true/false",
      "Fix: set enabled: true or false in berth_ports_overrides.app_http"]),
    ({"app_http": {"service": "../../../tmp/x"}},
     ["berth_ports_overrides.app_http on web1: app_http: service '../../../tmp/x' is not a systemd unit name"]),
    ({"app_http": {"group": ["db"]}},
     ["app_http on web1: berth_ports_overrides.app_http has unknown key 'group' (did you mean groups?)"]),
    ({"app_http": {"port": 5001}},
     ["berth_ports on web1: app_http and datadog_cmd both claim 5001/tcp"]),
])
def test_every_role_s_plan_refuses_a_registry_validate_yml_refuses(override, words):
    overrides = dict(yaml.safe_load((ROOT / "inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml").read_text())
                     ["berth_ports_overrides"], **override)
    for role in ("flask_app", "nginx", "datadog", "firewall", "berth_ports"):
        with pytest.raises(plan.PlanError) as err:
            plan.plan(role, planview.view("web1", {"berth_ports_overrides": overrides}))
        for word in words:
            assert word in str(err.value), (role, str(err.value))


@pytest.mark.parametrize("extra, words", [
    ({"nginx_proxy_read_timeout": "30s; return 200"},
     ["nginx_proxy_read_timeout on web1: '30s; return 200' is not an Nginx time (e.g. 30s, 500ms, 5m). Fix: write a "
      "time such as 30s"]),
    ({"nginx_keepalive_timeout": "65s\n    return 200 'x'"}, ["nginx_keepalive_timeout on web1:"]),
    ({"nginx_client_max_body_size": "1m; autoindex on"}, ["nginx_client_max_body_size on web1: '1m; autoindex on' is "
                                                           "not an Nginx size"]),
    ({"nginx_worker_connections": -1}, ["nginx_worker_connections on web1: -1 is outside 1-1000000"]),
    ({"nginx_worker_processes": "auto; user root"}, ["nginx_worker_processes on web1: 'auto; user root' is neither auto"]),
    ({"nginx_server_name": "example.com; return 200"}, ["nginx_server_name on web1: 'example.com; return 200' is not "
                                                        "host names separated by single spaces"]),
    ({"nginx_security_headers": {"X-A": 'x" always; return 200 "y'}},
     ["nginx_security_headers.X-A on web1: 'x\" always; return 200 \"y' contains a double quote"]),
    ({"nginx_security_headers": {"X A": "y"}}, ["nginx_security_headers on web1: 'X A' is not a header name"]),
    ({"nginx_proxy_next_upstream": "error; return 200"}, ["nginx_proxy_next_upstream on web1: 'error; return 200' is "
                                                          "not a list of error, timeout"]),
    ({"nginx_tls_protocols": "TLSv1.3;"}, ["nginx_tls_protocols on web1: 'TLSv1.3;' is not a list of"]),
    ({"nginx_health_path": "/health { return 200; }"}, ["nginx_health_path on web1: '/health { return 200; }' is not "
                                                         "a URL path"]),
    ({"nginx_user": "root; daemon off"}, ["nginx_user on web1: 'root; daemon off' is not an account name"]),
    ({"nginx_remove_default_site": "false"}, ["nginx_remove_default_site on web1: 'false' is not a boolean"]),
])
def test_nginx_values_reach_their_directive_as_values_only(extra, words):
    with pytest.raises(plan.PlanError) as err:
        plan.nginx(planview.view("web1", extra))
    for word in words:
        assert word in str(err.value), str(err.value)


def test_nginx_values_of_every_problem_are_listed_at_once():
    with pytest.raises(plan.PlanError) as err:
        plan.nginx(planview.view("lb", {"nginx_proxy_read_timeout": "x", "nginx_upstream_fail_timeout": "y"}))
    assert "nginx_proxy_read_timeout on lb" in str(err.value) and "nginx_upstream_fail_timeout on lb" in str(err.value)


@pytest.mark.parametrize("role, variable", [("firewall", "firewall_enabled"), ("datadog", "datadog_apm_enabled"),
                                            ("datadog", "datadog_process_collection_enabled"),
                                            ("flask_app", "flask_app_venv_reuse")])
def test_a_quoted_boolean_is_refused(role, variable):
    with pytest.raises(plan.PlanError, match="%s on web1: 'false' is not a boolean. Fix: write true or false unquoted"
                       % variable):
        plan.plan(role, planview.view("web1", {variable: "false"}))


def test_run_switches_take_ansible_s_spellings_from_the_command_line():
    """-e flask_app_rollback_restore_dump=true gives the string "true": read as Ansible reads it."""
    assert plan.flask_app(planview.view("web1", {"flask_app_rollback_restore_dump": "true"}))["rollback_restore_dump"] is True
    assert plan.flask_app(planview.view("web1", {"flask_app_rollback_restore_dump": "no"}))["rollback_restore_dump"] is False
    with pytest.raises(plan.PlanError, match="flask_app_rollback_restore_dump on web1: 'ture' is not a boolean"):
        plan.flask_app(planview.view("web1", {"flask_app_rollback_restore_dump": "ture"}))


def test_role_entries_are_every_entry_another_role_names():
    entries = plan.role_entries(planview.view("web1"))
    assert entries["nginx_http"] == "nginx_http_port_name" and entries["mariadb"] == "mariadb_port_name"
    assert entries["datadog_apm_receiver"] == "flask_app_trace_entry"
    assert entries["datadog_expvar"] == "datadog_port_names.expvar_port"
    assert not set(entries) & {"app_http", "hbnb_api", "hbnb_dynamic", "hbnb_front"}


def test_an_app_on_nginx_s_entry_is_refused_by_every_role_that_plans_the_apps():
    apps_ = dict(APPS, evil={"port": "nginx_http", "wsgi": "a:app", "routes": ["/evil/"]})
    for role in ("flask_app", "nginx", "datadog"):
        with pytest.raises(plan.PlanError, match="flask_apps.evil.port on web1: names registry entry 'nginx_http', which "
                           "nginx_http_port_name names"):
            plan.plan(role, planview.view("web1", {"flask_apps": apps_}))


def test_an_empty_secret_key_is_refused_before_any_app_deploys():
    with pytest.raises(plan.PlanError, match="flask_app_secret_key on web1: is empty, so app hbnb would run without"):
        plan.flask_app(planview.view("web1", {"flask_app_secret_key": ""}))
    assert plan.flask_app(planview.view("web1", {"flask_app_secret_key": "", "flask_app_secret_key_required": False}))
    # Nginx and the agent route to and watch the apps: they never hold the key, so they plan the
    # same host without one (a consumer's playbook with berth.stack.nginx alone).
    for role in ("nginx", "datadog"):
        assert plan.plan(role, planview.view("web1", {"flask_app_secret_key": ""}))


# --- A variable that does not template, in berth's words (plugins/action/berth_plan.py) -------------

def _files(tmp_path):
    (tmp_path / "inventories" / "x" / "group_vars" / "all").mkdir(parents=True)
    secrets = tmp_path / "inventories" / "x" / "group_vars" / "all" / "secrets.yml"
    secrets.write_text("---\nflask_app_secret_key: \"{{ vault_flask_app_secret_key }}\"\n")
    (secrets.parent / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n3132\n")
    return plan_action_files(tmp_path / "inventories" / "x")


def plan_action_files(inventory):
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry
    return berth_registry.inventory_files([str(inventory)])


def test_a_missing_vault_variable_names_the_variable_host_file_and_vault(tmp_path):
    from ansible.errors import AnsibleUndefinedVariable
    from ansible_collections.berth.stack.plugins.action import berth_plan as action
    text = action.template_error({"name": "web1", "groups": frozenset({"web"})}, "flask_app_secret_key",
                                 "{{ vault_flask_app_secret_key }}",
                                 AnsibleUndefinedVariable("'vault_flask_app_secret_key' is undefined"), _files(tmp_path))
    assert text == ("flask_app_secret_key on web1 cannot be templated: 'vault_flask_app_secret_key' is undefined "
                    "(flask_app_secret_key is set in inventories/x/group_vars/all/secrets.yml). Fix: add "
                    "vault_flask_app_secret_key to the vault inventories/x/group_vars/all/vault.yml (ansible-vault edit "
                    "inventories/x/group_vars/all/vault.yml), or correct the name flask_app_secret_key uses.")


def test_another_undefined_variable_names_what_to_define(tmp_path):
    from ansible.errors import AnsibleUndefinedVariable
    from ansible_collections.berth.stack.plugins.action import berth_plan as action
    text = action.template_error({"name": "web1", "groups": frozenset()}, "flask_app_workers", "{{ n }}",
                                 AnsibleUndefinedVariable("'n' is undefined"), _files(tmp_path))
    assert text == ("flask_app_workers on web1 cannot be templated: 'n' is undefined. Fix: define n for web1 "
                    "(group_vars or host_vars of the inventory) or correct the reference.")


def test_the_argument_specs_are_read_on_first_lookup_and_only_the_owning_role_s(monkeypatch):
    from ansible_collections.berth.stack.plugins.action import berth_plan as action
    monkeypatch.setattr(action, "_SPECS", {})
    view = action._Specs()
    assert action._SPECS == {}
    assert view.get("flask_app_workers")["type"] == "int"
    assert sorted(action._SPECS) == ["flask_app"]
    assert view.get("nginx_apt_cache_valid_time")["type"] == "int"
    assert sorted(action._SPECS) == ["flask_app", "nginx"]
    assert view.get("no_such_variable", "absent") == "absent"
    assert sorted(action._SPECS) == sorted(action.ROLE_NAMES)


# --- On the host: a unit berth did not write is never replaced (issue 28) ----------------------------

@pytest.mark.parametrize("unit, refused", [
    ({"path": "/lib/systemd/system/hbnb-api.service", "description": "OpenSSH server daemon"}, True),
    ({"path": "/etc/systemd/system/hbnb-api.service", "description": "the admin's own unit"}, True),
    ({"path": "/etc/systemd/system/hbnb-api.service", "description": "berth flask_app hbnb_api (gunicorn a:b)"}, False),
    ({"path": "", "description": "hbnb-api.service"}, False),
])
def test_an_existing_unit_that_is_not_berth_s_is_refused_before_any_change(unit, refused):
    section = plan.flask_app(planview.view("web1"))
    probe = _probe(section)
    probe["host"]["units"]["hbnb-api.service"] = dict(unit, enabled=True, active=True)
    if not refused:
        assert plan.flask_app_decide(section, probe)["build"]
        return
    with pytest.raises(plan.PlanError) as err:
        plan.flask_app_decide(section, probe)
    assert ("flask_apps.hbnb_api.port on web1: the unit hbnb-api.service of registry entry hbnb_api already exists and "
            "is not one berth wrote (%s, Description=%s)" % (unit["path"], unit["description"])) in str(err.value)
    assert "Fix: give the entry a service of its own (berth_ports.hbnb_api.service)" in str(err.value)


def test_the_firewall_probe_reads_its_package_and_unit_and_decides_what_to_skip():
    view = planview.view("db")
    section = plan.firewall(view)
    args = plan.probe_args("firewall", view, section)
    assert args == {"packages": ["nftables"], "units": [view.get("firewall_service")]}
    unit = view.get("firewall_service")
    fresh = plan.decide("firewall", view, section, {"host": {"packages": {"nftables": ""}, "units": {}}})
    assert fresh == {"missing_packages": ["nftables"], "running": False}
    done = plan.decide("firewall", view, section, {"host": {"packages": {"nftables": "1.0.6-2"},
                                                            "units": {unit: {"enabled": True, "active": True}}}})
    assert done == {"missing_packages": [], "running": True}
    stopped = plan.decide("firewall", view, section, {"host": {"packages": {"nftables": "1.0.6-2"},
                                                               "units": {unit: {"enabled": True, "active": False}}}})
    assert stopped["running"] is False
    # Off on a web host: nothing read, nothing to install.
    web = planview.view("web1")
    assert plan.probe_args("firewall", web, plan.firewall(web)) == {}


def test_the_preflight_plans_every_role_of_the_host_and_refuses_with_the_first_bad_input():
    assert plan.site_roles(["berth", "web", "airbnb_clone", "canary"]) == ["flask_app", "nginx", "datadog",
                                                                                "firewall"]
    assert plan.site_roles(["berth", "lb"]) == ["nginx", "datadog", "firewall"]
    assert plan.site_roles(["berth", "db"]) == ["mariadb", "datadog", "firewall"]
    assert plan.plan("preflight", planview.view("web1")) == {"roles": ["flask_app", "nginx", "datadog", "firewall"]}
    assert plan.plan("preflight", planview.view("db"))["roles"] == ["mariadb", "datadog", "firewall"]
    # The packages play takes the same roles when it names none.
    assert plan.packages(planview.view("db")) == plan.packages(planview.view("db"), ["mariadb", "datadog", "firewall"])
    # The same refusal the role's own plan gives, naming the variable and the host.
    bad = {"nginx_proxy_read_timeout": "30s; return 200"}
    with pytest.raises(plan.PlanError) as own:
        plan.plan("nginx", planview.view("web1", bad))
    with pytest.raises(plan.PlanError) as pre:
        plan.plan("preflight", planview.view("web1", bad))
    assert str(pre.value) == str(own.value) and "nginx_proxy_read_timeout on web1" in str(pre.value)
    # A db host is not refused for a web-only input.
    assert plan.plan("preflight", planview.view("db", bad))["roles"][0] == "mariadb"


def test_nginx_has_tls_work_only_for_a_certificate_the_timer_or_a_gone_lineage():
    """tasks/tls.yml is included only when the plan's decision says it has work; each of its tasks
    needs one of these three."""
    v = planview.view("web1")
    plain = plan.nginx(v)
    assert not plan.decide("nginx", v, plain, {"host": {"files": {}, "packages": {}, "dirs": {}}})["tls_work"]
    site = dict(plain["sites"][0], tls="acme", lineage="www", server_names=["www.example.test"])
    section = dict(plain, sites=[site], acme={"email": "ops@example.test"})
    state = plan.sites_core.tls_state(v.get("nginx_service_name"), section["sites"])
    timer = {plan.ACME_TIMER: {"enabled": True, "active": True}}

    def work(certs=None, units=timer, state_text=state):
        probe = {"host": {"tls": {"www": {"ok": True}} if certs is None else certs, "units": units,
                          "files": {v.get("nginx_tls_state_file"): state_text}, "packages": {}, "dirs": {}}}
        return plan.decide("nginx", v, section, probe)["tls_work"]

    assert not work()
    assert work(certs={"www": {"ok": False}})
    assert work(units={})
    assert work(state_text=plan.sites_core.tls_state(v.get("nginx_service_name"), [site, dict(site, lineage="gone")]))
