"""Unit tests for plugins/filter/datadog_berth.py (agent ports and checks from the registry)."""


import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.filter import berth_ports as bp
from ansible_collections.berth.stack.plugins.filter import datadog_berth as dd
from ansible_collections.berth.stack.plugins.filter import datadog_files as files
from ansible_collections.berth.stack.plugins.module_utils import berth_plan
from project import ROOT

DEFAULTS = yaml.safe_load((ROOT / "roles/datadog/defaults/main.yml").read_text())
INVENTORIES = sorted((ROOT / "inventories").glob("*/group_vars/all/ports.yml"))


def _registry(path=INVENTORIES[0], overrides=None):
    return bp.berth_ports_effective(yaml.safe_load(path.read_text())["berth_ports"], overrides)


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.parts[-4])
def test_every_inventory_gives_every_agent_port(path):
    reg = _registry(path)
    conf = dd.datadog_agent_ports(reg, DEFAULTS["datadog_port_names"])
    names = DEFAULTS["datadog_port_names"]
    assert conf["expvar_port"] == reg[names["expvar_port"]]["port"]
    assert conf["cmd_port"] == reg[names["cmd_port"]]["port"]
    assert conf["dogstatsd_port"] == reg[names["dogstatsd_port"]]["port"]
    assert conf["apm_config"]["receiver_port"] == reg[names["apm_receiver_port"]]["port"]
    assert conf["apm_config"]["debug"]["port"] == reg[names["apm_debug_port"]]["port"]
    assert conf["process_config"]["expvar_port"] == reg[names["process_expvar_port"]]["port"]
    assert conf["process_config"]["cmd_port"] == reg[names["process_cmd_port"]]["port"]
    assert conf["GUI_port"] == -1


def test_wildcard_dogstatsd_sets_non_local_traffic():
    reg = _registry(overrides={"datadog_dogstatsd": {"bind": "0.0.0.0"}})
    conf = dd.datadog_agent_ports(reg, DEFAULTS["datadog_port_names"])
    assert conf["dogstatsd_non_local_traffic"] is True
    assert conf["apm_config"]["apm_non_local_traffic"] is False
    assert conf["bind_host"] == reg["datadog_apm_receiver"]["bind"]


@pytest.mark.parametrize("overrides, words", [
    ({"datadog_expvar": {"bind": "0.0.0.0"}}, "loopback"),
    ({"datadog_process_cmd": {"bind": "10.0.0.1"}}, "cmd_host"),
    ({"datadog_dogstatsd": {"bind": "10.0.0.1"}}, "bind_host"),
    ({"datadog_dogstatsd": {"proto": "tcp"}}, "proto"),
    ({"datadog_cmd": {"enabled": False}}, "disabled"),
])
def test_binds_the_agent_cannot_express_are_refused(overrides, words):
    with pytest.raises(AnsibleFilterError, match=words):
        dd.datadog_agent_ports(_registry(overrides=overrides), DEFAULTS["datadog_port_names"])


def test_unknown_entry_names_the_file_to_fix():
    names = dict(DEFAULTS["datadog_port_names"], cmd_port="nope")
    with pytest.raises(AnsibleFilterError, match="ports.yml"):
        dd.datadog_agent_ports(_registry(), names)


OPTS = {"status_path": "/nginx_status", "http_paths": ["/", "/status"], "http_timeout": 5, "tcp_timeout": 3,
        "process_search": DEFAULTS["datadog_process_search_strings"], "mysql_password": "not-a-real-password"}


def test_web_host_gets_app_checks_lb_does_not():
    reg = _registry()
    web = dd.datadog_checks_config(DEFAULTS["datadog_checks"], reg, ["berth", "web"], OPTS)
    lb = dd.datadog_checks_config(DEFAULTS["datadog_checks"], reg, ["berth", "lb"], OPTS)
    app = reg["app_http"]
    app_urls = {"http://%s:%d%s" % (app["bind"], app["port"], p) for p in OPTS["http_paths"]}
    assert app_urls <= {i["url"] for i in web["http_check"]["instances"]}
    assert not app_urls & {i["url"] for i in lb["http_check"]["instances"]}
    assert "gunicorn" in {i["name"] for i in web["process"]["instances"]}
    assert "gunicorn" not in {i["name"] for i in lb["process"]["instances"]}
    assert app["port"] in {i["port"] for i in web["tcp_check"]["instances"]}
    assert app["port"] not in {i["port"] for i in lb["tcp_check"]["instances"]}


def test_tcp_check_skips_udp_and_disabled_entries():
    reg = _registry()
    conf = dd.datadog_checks_config({"tcp_check": "derived"}, reg, ["web"], OPTS)
    ports = {i["port"] for i in conf["tcp_check"]["instances"]}
    expected = {e["port"] for e in reg.values() if e["enabled"] and e["proto"] == "tcp"}
    assert ports == expected


def test_nginx_check_url_from_status_entry():
    reg = _registry(overrides={"nginx_status": {"port": 8081}})
    conf = dd.datadog_checks_config({"nginx": "derived"}, reg, ["lb"], OPTS)
    assert conf["nginx"]["instances"][0]["nginx_status_url"] == "http://127.0.0.1:8081/nginx_status"


def test_given_mapping_passes_through_and_absent_drops():
    custom = {"init_config": {}, "instances": [{"x": 1}]}
    conf = dd.datadog_checks_config({"redisdb": custom, "process": None}, _registry(), ["web"], OPTS)
    assert conf == {"redisdb": custom}


def test_unknown_derived_check_is_refused():
    with pytest.raises(AnsibleFilterError, match="redisdb"):
        dd.datadog_checks_config({"redisdb": "derived"}, _registry(), ["web"], OPTS)


def test_argument_specs_match_defaults():
    specs = yaml.safe_load((ROOT / "roles/datadog/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) - {"datadog_api_key"} == set(DEFAULTS)
    for name, value in DEFAULTS.items():
        assert options[name].get("default") == value, name


# The mysql check: derived where the MariaDB registry entry applies to the host and is enabled.
MARIADB = {"port": 3306, "proto": "tcp", "bind": "127.0.0.1", "service": "mariadb", "user": "mysql", "groups": ["db"]}
MYSQL_OPTS = dict(OPTS, mysql_name=DEFAULTS["datadog_mysql_port_name"], mysql_user="datadog",
                  mysql_password="s3cret-for-the-test", host="db1", tags=["env:test"])


def _with_mariadb(**change):
    return bp.berth_ports_effective(dict(yaml.safe_load(INVENTORIES[0].read_text())["berth_ports"],
                                         mariadb=dict(MARIADB, **change)), None)


def test_mysql_check_on_the_host_where_the_entry_applies():
    conf = dd.datadog_checks_config({"mysql": "derived"}, _with_mariadb(port=3307), ["berth", "db"], MYSQL_OPTS)
    assert conf == {"mysql": {"init_config": {}, "instances": [{
        "host": "127.0.0.1", "port": 3307, "username": "datadog", "password": "s3cret-for-the-test",
        "tags": ["env:test", "berth_port:mariadb"]}]}}


@pytest.mark.parametrize("groups, change", [
    (["berth", "web"], {}),  # the entry does not apply to a web host
    (["berth", "db"], {"enabled": False}),  # reserved, not opened
])
def test_no_mysql_check_where_the_entry_does_not_apply_or_is_disabled(groups, change):
    conf = dd.datadog_checks_config(DEFAULTS["datadog_checks"], _with_mariadb(**change), groups,
                                    dict(MYSQL_OPTS, mysql_password=""))
    assert "mysql" not in conf and conf, "no mysql check (its file is removed), the others stay"


def test_no_mysql_check_when_the_registry_has_no_such_entry():
    reg = {k: v for k, v in _with_mariadb().items() if k != "mariadb"}
    assert "mysql" not in dd.datadog_checks_config({"mysql": "derived"}, reg, ["berth", "db"], MYSQL_OPTS)


@pytest.mark.parametrize("bind, host", [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("10.0.0.5", "10.0.0.5")])
def test_mysql_check_connects_where_a_local_client_does(bind, host):
    conf = dd.datadog_checks_config({"mysql": "derived"}, _with_mariadb(bind=bind), ["db"], MYSQL_OPTS)
    assert conf["mysql"]["instances"][0]["host"] == host


@pytest.mark.parametrize("password", ["", "  ", None])
def test_empty_password_where_the_check_applies_is_refused_naming_variables_host_and_fix(password):
    with pytest.raises(AnsibleFilterError) as err:
        dd.datadog_checks_config({"mysql": "derived"}, _with_mariadb(), ["berth", "db"],
                                 dict(MYSQL_OPTS, mysql_password=password), redact=True)
    text = str(err.value)
    for words in ("datadog_mysql_password", "mariadb_monitor_password", "host db1", "vault_mariadb_monitor_password",
                  "group_vars/all/secrets.yml"):
        assert words in text, text


def test_redacted_derivation_hides_only_the_secret_checks_password():
    reg = _with_mariadb()
    plain = dd.datadog_checks_config(DEFAULTS["datadog_checks"], reg, ["berth", "db"], MYSQL_OPTS)
    redacted = dd.datadog_checks_config(DEFAULTS["datadog_checks"], reg, ["berth", "db"], MYSQL_OPTS, redact=True)
    assert "s3cret-for-the-test" not in repr(redacted)
    assert redacted["mysql"]["instances"][0]["password"] == dd.REDACTED
    assert set(plain) == set(redacted)
    # The role writes exactly these checks as berth_files secret entries (the plan's secret_checks).
    assert {name for name in plain if plain[name] != redacted[name]} == set(berth_plan.DATADOG_SECRET_CHECKS)


def test_mysql_check_refuses_a_udp_entry():
    with pytest.raises(AnsibleFilterError, match="tcp"):
        dd.datadog_checks_config({"mysql": "derived"}, _with_mariadb(proto="udp"), ["db"], MYSQL_OPTS)


def test_configure_writes_the_secret_checks_as_secret_entries_under_the_same_task_name():
    tasks = yaml.safe_load((ROOT / "roles/datadog/tasks/configure.yml").read_text())
    task = [t for t in tasks if t["name"] == "Configure | datadog.yaml with the API key, the checks derived from "
            "the registry and the berth_ports check"][0]
    assert "__datadog_plan | berth.stack.datadog_files(datadog_mysql_password" in task["berth.stack.berth_files"]["entries"]
    # The plan holds the checks redacted; the files put the password back, as secret entries only.
    reg = _with_mariadb()
    redacted = dd.datadog_checks_config(DEFAULTS["datadog_checks"], reg, ["berth", "db"], MYSQL_OPTS, redact=True)
    plan = {"config": {"site": "datadoghq.com"}, "checks": redacted, "secret_checks": list(berth_plan.DATADOG_SECRET_CHECKS)}
    entries = files.datadog_files(plan, "s3cret-for-the-test", "/etc/datadog-agent", "dd-agent", "dd-agent",
                                  "/etc/datadog-agent/checks.d")
    by_path = {e["path"]: e for e in entries}
    mysql = by_path["/etc/datadog-agent/conf.d/mysql.d/conf.yaml"]
    assert mysql["secret"] is True
    assert mysql["vars"]["item"]["value"]["instances"][0]["password"] == "s3cret-for-the-test"
    assert by_path["/etc/datadog-agent/datadog.yaml"]["secret"] is True
    others = [e for p, e in by_path.items() if p.endswith("/conf.yaml") and "/mysql.d/" not in p]
    assert others and not any(e["secret"] for e in others)
    assert "s3cret-for-the-test" not in repr(redacted)




def test_only_the_keys_the_host_lacks_are_fetched():
    urls = ["https://keys.example/A.public", "https://keys.example/B.public", "file:///srv/keys/C.public"]
    assert files.datadog_keys_to_fetch(urls, None) == urls
    assert files.datadog_keys_to_fetch(urls, []) == urls
    assert files.datadog_keys_to_fetch(urls, ["A.public", "C.public", "other"]) == ["https://keys.example/B.public"]
    assert files.datadog_keys_to_fetch(urls, ["A.public", "B.public", "C.public"]) == []
    with pytest.raises(AnsibleFilterError, match="listing"):
        files.datadog_keys_to_fetch(urls, "A.public")


def _source(listing=None):
    from ansible_collections.berth.stack.plugins.module_utils import berth_datadog as core
    return core.apt_source_entries("/k.d", ["A.public", "B.public"], listing, "/etc/apt/sources.list.d/datadog.list",
                                   "/usr/share/keyrings/dd.gpg", "https://apt.example/", "stable", "7")


def test_the_apt_source_entries_remove_only_keys_no_longer_configured():
    entries = _source(["A.public", "old.public"])
    assert entries[0] == {"path": "/k.d", "state": "directory", "owner": "root", "group": "root", "mode": "0755"}
    assert entries[1] == {"path": "/k.d/old.public", "state": "absent"}
    source = entries[-1]
    assert (source["path"], source["mode"], source["owner"]) == ("/etc/apt/sources.list.d/datadog.list", "0644", "root")
    assert source["content"].splitlines()[-1] == "deb [signed-by=/usr/share/keyrings/dd.gpg] https://apt.example/ stable 7"
    assert source["content"].startswith("#") and source["content"].endswith("\n")
    assert len(_source(None)) == len(_source(["A.public"])) == 2
    with pytest.raises(TypeError, match="listing"):
        _source("A.public")


def test_the_apt_source_is_in_place_only_as_written():
    """The plan's source_in_place: every entry as the role writes it (type, owner, group, mode and
    content); a stale key, another mode or owner, other content or a missing file is not."""
    from ansible_collections.berth.stack.plugins.module_utils import berth_datadog as core
    entries = _source(["A.public", "B.public"])
    stats = {"/k.d": {"type": "directory", "owner": "root", "group": "root", "mode": "0755"},
             entries[-1]["path"]: {"type": "file", "owner": "root", "group": "root", "mode": "0644"}}
    content = {entries[-1]["path"]: entries[-1]["content"]}
    assert core.apt_source_in_place(entries, stats, content)
    assert not core.apt_source_in_place(_source(["A.public", "old.public"]), stats, content)
    assert not core.apt_source_in_place(entries, dict(stats, **{"/k.d": dict(stats["/k.d"], mode="0700")}), content)
    assert not core.apt_source_in_place(entries, dict(stats, **{entries[-1]["path"]: None}), content)
    assert not core.apt_source_in_place(entries, stats, {entries[-1]["path"]: "deb http://elsewhere/ stable 7\n"})
    assert not core.apt_source_in_place(entries, {}, {})


def test_the_plan_decides_the_source_from_the_probe():
    """berth_plan's datadog decision and the packages play's carry the entries the role writes
    (one definition) and whether the probe found them in place."""
    import planview
    v = planview.view("web1")
    listing = sorted(os.path.basename(str(k)) for k in list(v.get("datadog_apt_key_urls") or [])
                     + list(v.get("datadog_apt_key_files") or []))
    entries = berth_plan.datadog_source(v, {"dirs": {v.get("datadog_apt_key_dir"): listing}})["source_entries"]
    assert not [e for e in entries if e.get("state") == "absent"]
    probe = berth_plan.probe_args("datadog", v, berth_plan.plan("datadog", v))
    assert v.get("datadog_apt_source_file") in probe["read"] and v.get("datadog_apt_key_dir") in probe["stat"]
    stats = {e["path"]: {"type": "directory" if e.get("state") == "directory" else "file", "owner": "root",
                         "group": "root", "mode": e["mode"]} for e in entries if e.get("state") != "absent"}
    host = {"dirs": {v.get("datadog_apt_key_dir"): listing}, "stat": stats,
            "files": {entries[-1]["path"]: entries[-1]["content"]}, "packages": {}}
    decision = berth_plan.decide("datadog", v, {}, {"host": host})
    assert decision["source_in_place"] is True and decision["source_entries"] == entries
    host["dirs"] = {v.get("datadog_apt_key_dir"): listing + ["stale.public"]}
    decision = berth_plan.decide("datadog", v, {}, {"host": host})
    assert decision["source_in_place"] is False
    assert {"path": "%s/stale.public" % v.get("datadog_apt_key_dir"), "state": "absent"} in decision["source_entries"]
    host["dirs"] = {v.get("datadog_apt_key_dir"): listing}
    host["files"] = {}
    assert berth_plan.decide("datadog", v, {}, {"host": host})["source_in_place"] is False
    # The packages play, on a host without the agent: the same entries, never in place (it reads no stat).
    section = berth_plan.plan("packages", v)
    packages = berth_plan.decide("packages", v, section, {"host": {"dirs": {v.get("datadog_apt_key_dir"): listing}}})
    assert packages["datadog_source"] is True
    assert packages["datadog"] == {"source_entries": entries, "source_in_place": False}
