"""Testinfra checks for the load-balancer mode (scenario molecule/drain-with-requests-in-flight).

Run after the side effect drained web1 and put it back: every host of the
upstream group is in the lb's upstream on its own nginx_http port, none is
marked down, and the site answers through the lb.
"""

import importlib.util
import sys
import json
import os
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "collections"))  # the working tree as the collection berth.stack
from ansible_collections.berth.stack.plugins.filter import berth_ports  # noqa: E402
DEFAULTS = yaml.safe_load((ROOT / "roles/nginx/defaults/main.yml").read_text())

testinfra_hosts = ["ansible://lb?ansible_inventory=" + os.environ["MOLECULE_INVENTORY_FILE"]]


def _vars(host):
    v = dict(DEFAULTS)
    v.update(host.ansible.get_variables())
    return v


def _upstream(host):
    v = _vars(host)
    return host.file(os.path.join(v["nginx_conf_dir"], "berth.d/upstream.conf")).content_string


def test_upstream_group_is_web(host):
    assert _vars(host)["nginx_upstream_group"] in _vars(host)["groups"]


def test_every_backend_in_upstream_on_its_http_port(host):
    v = _vars(host)
    upstream = _upstream(host)
    for name in v["groups"][v["nginx_upstream_group"]]:
        web = host.get_host("ansible://%s?ansible_inventory=%s" % (name, os.environ["MOLECULE_INVENTORY_FILE"]))
        wv = web.ansible.get_variables()
        entry = berth_ports.berth_port(wv["berth_ports"], v["nginx_http_port_name"], wv.get("berth_ports_overrides", {}))
        # The load balancer resolves each backend's address itself, on every converge: the server
        # line names the address the name resolves to there (or the address as written).
        address = wv.get("ansible_host", name)
        resolved = host.run("getent ahosts %s", address).stdout.split()[:1] or [address]
        line = "server %s:%s " % (resolved[0], entry["port"])
        assert line in upstream
        assert " down;" not in [ln for ln in upstream.splitlines() if line in ln][0]


def test_drain_state_empty_after_reactivation(host):
    v = _vars(host)
    state = json.loads(host.file(v["nginx_drain_state_file"]).content_string)
    assert state["drained"] == []


@pytest.mark.parametrize("route", ["/airbnb-onepage/"])
def test_site_through_lb(host, route):
    v = _vars(host)
    http = berth_ports.berth_port(v["berth_ports"], v["nginx_http_port_name"], v.get("berth_ports_overrides", {}))
    out = host.check_output("curl -s -o - -w '\\n%%{http_code}' http://127.0.0.1:%s%s", str(http["port"]), route)
    assert out.rsplit("\n", 1) == ["Hello HBNB!", "200"]
