"""Testinfra checks for the nginx role (scenario molecule/nginx-tested-before-live).

Expected ports, binds and users come from the inventory the play used
(host.ansible.get_variables(), registry merged with the role's own filter)
and from the role's defaults, never from constants written here.
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
# The host's one app (flask_apps is empty here): the entry Nginx proxies to is the app's.
DEFAULTS.update({k: v for k, v in yaml.safe_load((ROOT / "roles/flask_app/defaults/main.yml").read_text()).items()
                 if k == "flask_app_port_name"})
CONFIG_FILES = [
    f["dest"]
    for f in yaml.safe_load((ROOT / "roles/nginx/vars/main.yml").read_text())["__nginx_config_files"]
]

def _vars(host):
    v = dict(DEFAULTS)
    v.update(host.ansible.get_variables())
    return v


def _entry(host, key):
    v = _vars(host)
    return berth_ports.berth_port(v["berth_ports"], v[key], v.get("berth_ports_overrides", {}))


def _journal(host):
    return host.run("journalctl -u nginx --no-pager -n 30").stdout


def test_service_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running, _journal(host)
    assert svc.is_enabled


def test_master_root_workers_nginx_user(host):
    v = _vars(host)
    masters = [p for p in host.process.filter(comm="nginx") if p.args.startswith("nginx: master process")]
    assert len(masters) == 1, _journal(host)
    master = masters[0]
    assert master.user == "root"
    workers = host.process.filter(comm="nginx", ppid=master.pid)
    assert workers, _journal(host)
    assert {w.user for w in workers} == {v["nginx_user"]}


@pytest.mark.parametrize("key", ["nginx_http_port_name", "nginx_https_port_name"])
def test_public_listeners_on_every_address(host, key):
    v = _vars(host)
    entry = _entry(host, key)
    if not entry["enabled"]:
        pytest.skip("%s is disabled in the registry" % v[key])
    assert entry["bind"] in ("0.0.0.0", "::")
    assert host.socket("tcp://0.0.0.0:%s" % entry["port"]).is_listening
    assert host.socket("tcp://:::%s" % entry["port"]).is_listening


def test_status_only_on_loopback(host):
    entry = _entry(host, "nginx_status_port_name")
    assert host.socket("tcp://%s:%s" % (entry["bind"], entry["port"])).is_listening
    assert not host.socket("tcp://0.0.0.0:%s" % entry["port"]).is_listening
    assert not host.socket("tcp://:::%s" % entry["port"]).is_listening


@pytest.mark.parametrize("relpath", ["nginx.conf"] + [f for f in CONFIG_FILES if f != "nginx.conf"])
def test_config_files_root_0644(host, relpath):
    v = _vars(host)
    f = host.file(os.path.join(v["nginx_conf_dir"], relpath))
    assert f.exists
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)


def test_default_site_removed(host):
    v = _vars(host)
    assert not host.file(os.path.join(v["nginx_conf_dir"], "sites-enabled/default")).exists


def test_live_config_passes_nginx_t(host):
    assert host.run("nginx -t").rc == 0


@pytest.mark.parametrize("route", ["/airbnb-onepage/", "/"])
def test_route_through_nginx(host, route):
    http = _entry(host, "nginx_http_port_name")
    out = host.check_output("curl -s -o - -w '\\n%%{http_code}' http://127.0.0.1:%s%s", str(http["port"]), route)
    body, code = out.rsplit("\n", 1)
    assert code == "200"
    assert body == "Hello HBNB!"


def test_route_through_https(host):
    https = _entry(host, "nginx_https_port_name")
    if not https["enabled"]:
        pytest.skip("HTTPS entry disabled")
    out = host.check_output("curl -sk -o - -w '\\n%%{http_code}' https://127.0.0.1:%s/airbnb-onepage/", str(https["port"]))
    body, code = out.rsplit("\n", 1)
    assert (code, body) == ("200", "Hello HBNB!")


def test_headers(host):
    v = _vars(host)
    http = _entry(host, "nginx_http_port_name")
    headers = host.check_output("curl -s -D - -o /dev/null http://127.0.0.1:%s/airbnb-onepage/", str(http["port"])).lower()
    assert "server: nginx\r\n" in headers  # server_tokens off: no version
    for name, value in v["nginx_security_headers"].items():
        assert "%s: %s" % (name.lower(), str(value).lower()) in headers


def test_health_pass_through(host):
    v = _vars(host)
    http = _entry(host, "nginx_http_port_name")
    app = _entry(host, "flask_app_port_name")
    body = json.loads(host.check_output("curl -sf http://127.0.0.1:%s%s", str(http["port"]), v["nginx_health_path"]))
    assert body["status"] == "ok"
    assert body["port"] == app["port"]


def test_stub_status_on_loopback(host):
    v = _vars(host)
    st = _entry(host, "nginx_status_port_name")
    out = host.check_output("curl -sf http://%s:%s%s", st["bind"], str(st["port"]), v["nginx_status_path"])
    assert out.startswith("Active connections:")


def test_stub_status_refused_from_non_loopback(host):
    v = _vars(host)
    st = _entry(host, "nginx_status_port_name")
    addr = host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1")
    assert addr and not addr.startswith("127.")
    res = host.run("curl -s -o /dev/null -w '%%{http_code}' http://%s:%s%s", addr, str(st["port"]), v["nginx_status_path"])
    assert res.rc == 7, "expected connection refused, got rc=%d %s" % (res.rc, res.stdout)  # 7 = couldn't connect


def test_proxy_settings_rendered(host):
    v = _vars(host)
    site = host.file(os.path.join(v["nginx_conf_dir"], "berth.d/site.conf")).content_string
    for key in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout", "proxy_next_upstream"):
        assert "%s %s;" % (key, v["nginx_" + key]) in site
    directive = [line for line in site.splitlines() if line.strip().startswith("proxy_next_upstream ")]
    assert directive and "non_idempotent" not in directive[0]
    assert "server_tokens off;" in host.file(os.path.join(v["nginx_conf_dir"], "nginx.conf")).content_string
