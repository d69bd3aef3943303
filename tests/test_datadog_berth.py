"""Unit tests for plugins/filter/datadog_berth.py (agent ports and checks from the registry)."""


import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.filter import berth_ports as bp
from ansible_collections.berth.stack.plugins.filter import datadog_berth as dd
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
        "process_search": DEFAULTS["datadog_process_search_strings"]}


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
