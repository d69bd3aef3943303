"""Testinfra checks for HTTPS from a real ACME server (scenario molecule/https-from-a-real-acme-server).

Run on both load balancers (the second behind the first's address) after the side effect renewed
www under load on the first and failed a renewal there against the stopped pebble.
Every expected value comes from the load balancer's inventory (host_vars/berth-https-lb.yml) and the
registry: the sites, their names and routes, the HTTP and HTTPS entries, the CA files.
"""

import os
import pathlib
import re
import sys

import pytest
import testinfra
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "collections"))  # the working tree as the collection berth.stack
from ansible_collections.berth.stack.plugins.filter import berth_ports  # noqa: E402

DEFAULTS = yaml.safe_load((ROOT / "roles/nginx/defaults/main.yml").read_text())
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = ["ansible://lb?ansible_inventory=" + INVENTORY]


@pytest.fixture(scope="module")
def v(host):
    out = dict(DEFAULTS)
    out.update(host.ansible.get_variables())
    return out


def _port(v, name):
    """The entry's port, as text (testinfra quotes every argument of a command)."""
    return str(berth_ports.berth_port(v["berth_ports"], name, v.get("berth_ports_overrides", {}))["port"])


def _names(v):
    return [(site["name"], name) for site in v["nginx_sites"] for name in site["server_names"]]


def _served(host, v, name):
    """The certificate the HTTPS entry serves for ``name`` (SNI): its subject names and serial."""
    out = host.check_output("openssl s_client -connect 127.0.0.1:%s -servername %s </dev/null 2>/dev/null "
                            "| openssl x509 -noout -serial -ext subjectAltName", _port(v, "nginx_https"), name)
    return out


def test_each_name_is_served_with_its_own_certificate(host, v):
    serials = {}
    for site, name in _names(v):
        served = _served(host, v, name)
        assert "DNS:%s" % name in served, served
        serials[site] = served.splitlines()[0]
    assert len(set(serials.values())) == len(serials), serials


def test_the_chain_verifies_against_pebbles_root(host, v):
    for _, name in _names(v):
        # curl checks the chain against pebble's root only, and the name.
        code = host.check_output("curl -sS -o /dev/null -w '%%{http_code}' --cacert %s https://%s:%s/health",
                                 v["datadog_tls_ca_cert"], name, _port(v, "nginx_https"))
        assert code == "200", name


def _address(name):
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY).ansible.get_variables().get(
        "ansible_host", name)


def test_each_load_balancer_asks_the_others_for_the_tokens_it_lacks(host, v):
    """nginx_acme_peers: [lb] names the group of both load balancers; each lists the other (itself
    left out) as an ACME peer, on its HTTP entry."""
    others = [name for name in v["groups"]["lb"] if name != v["inventory_hostname"]]
    assert others, "the scenario has two load balancers"
    config = host.check_output("nginx -T 2>/dev/null")
    upstream = config.split("upstream berth_acme_peers {", 1)[1].split("}", 1)[0]
    assert sorted(line.split()[1] for line in upstream.splitlines() if line.strip().startswith("# ")) == others
    for name in others:
        assert "server %s:%s max_fails=0;" % (_address(name), _port(v, "nginx_http")) in upstream, upstream
    assert "try_files $uri @berth_acme_peers;" in config


def test_a_load_balancer_behind_another_s_address_issued_its_own_certificates_through_it(host, v):
    """pebble resolves every name to the first load balancer only (/etc/hosts on its host): the
    second one's challenge requests reached the first, which asked the second for the token. The
    second serves certificates of its own (other serials than the first's)."""
    first = v["groups"]["lb"][0]
    if v["inventory_hostname"] == first:
        pytest.skip("the first load balancer is the address every name resolves to")
    pattern = r'^%s .*"GET /\.well-known/acme-challenge/[^ ]+ HTTP/1\.1" 200 ' % re.escape(_address(first))
    forwarded = host.check_output("grep -cE %s %s", pattern, v["nginx_log_dir"] + "/access.log")
    assert int(forwarded) >= len(v["nginx_sites"]), forwarded
    for _, name in _names(v):
        own = _served(host, v, name).splitlines()[0]
        theirs = host.check_output("openssl s_client -connect %s:%s -servername %s </dev/null 2>/dev/null "
                                   "| openssl x509 -noout -serial", _address(first), _port(v, "nginx_https"), name)
        assert own.startswith("serial=") and own != theirs, (name, own, theirs)


def test_http_redirects_to_https_but_answers_the_acme_challenge(host, v):
    webroot = v["nginx_acme_webroot"]
    host.run("mkdir -p %s/.well-known/acme-challenge && echo berth-probe > %s/.well-known/acme-challenge/berth-probe",
             webroot, webroot)
    for _, name in _names(v):
        out = host.check_output("curl -sS -o /dev/null -w '%%{http_code} %%{redirect_url}' http://%s:%s/some/page",
                                name, _port(v, "nginx_http"))
        suffix = "" if _port(v, "nginx_https") == "443" else ":" + _port(v, "nginx_https")
        assert out == "301 https://%s%s/some/page" % (name, suffix)
        body = host.check_output("curl -sS http://%s:%s/.well-known/acme-challenge/berth-probe", name,
                                 _port(v, "nginx_http"))
        assert body == "berth-probe"


def test_a_site_serves_only_its_routes(host, v):
    for site in v["nginx_sites"]:
        name = site["server_names"][0]
        cmd = "curl -sS --cacert %s https://%s:%s/airbnb-onepage/" % (v["datadog_tls_ca_cert"], name,
                                                                       _port(v, "nginx_https"))
        body = host.check_output(cmd)
        if not site.get("routes") or "/" in site["routes"]:
            assert body == "Hello HBNB!", (site["name"], body)
        else:
            assert "404 Not Found" in body and "nginx" in body, (site["name"], body)


def test_https_answers_carry_hsts(host, v):
    headers = host.check_output("curl -sS -D - -o /dev/null --cacert %s https://%s:%s/", v["datadog_tls_ca_cert"],
                                v["nginx_sites"][0]["server_names"][0], _port(v, "nginx_https"))
    assert "strict-transport-security: max-age=%d" % v["nginx_hsts_max_age"] in headers.lower()


def test_private_keys_are_root_only(host, v):
    archive = host.file(os.path.join(v["nginx_acme_config_dir"], "archive"))
    assert archive.user == "root" and archive.mode & 0o077 == 0
    for site in v["nginx_sites"]:
        keys = host.check_output("ls %s/archive/%s/", v["nginx_acme_config_dir"], site["name"]).split()
        for key in [k for k in keys if k.startswith("privkey")]:
            f = host.file("%s/archive/%s/%s" % (v["nginx_acme_config_dir"], site["name"], key))
            assert f.user == "root" and f.mode & 0o077 == 0, key


def test_renewals_run_on_the_host(host, v):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    hook = host.file(os.path.join(v["nginx_acme_config_dir"], "renewal-hooks/deploy/berth-nginx"))
    assert hook.is_file and hook.mode == 0o755 and "deploy_hook" in hook.content_string
    for site in v["nginx_sites"]:
        renewal = host.file("%s/renewal/%s.conf" % (v["nginx_acme_config_dir"], site["name"])).content_string
        assert "authenticator = webroot" in renewal and v["nginx_acme_directory"] in renewal
