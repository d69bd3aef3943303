"""Nginx sites and their certificates (plugins/module_utils/berth_tls.py) and its callers: the
planner (berth_plan.nginx, probe_args, decide, datadog's tls check) and the nginx role's filter
(plugins/filter/nginx_tls.py).

The certificates are real ones, made here with ``cryptography`` (a self-signed CA and ECDSA leaves);
the certbot lineage of the deploy hook's tests is a fake one in tmp_path, laid out as certbot lays
out its own (archive/<site>/certN.pem, live/<site>/cert.pem -> ../../archive/<site>/certN.pem).
"""

import copy
import datetime
import io
import json
import os
import re
import subprocess
import sys
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import planview
from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.filter import nginx_tls
from ansible_collections.berth.stack.plugins.module_utils import berth_plan
from ansible_collections.berth.stack.plugins.module_utils import berth_sites
from ansible_collections.berth.stack.plugins.module_utils import berth_tls
from project import ROOT

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DAY = datetime.timedelta(days=1)
LE = berth_sites.LETSENCRYPT_PRODUCTION
ROUTES = {"hbnb_api": ["/api/"], "hbnb_front": ["/", "/static/"]}


# --- Certificates ----------------------------------------------------------------------------------

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "berth tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CA(object):
    """A self-signed test CA that issues ECDSA leaves with DNS names."""

    def __init__(self):
        self.key = _key()
        self.name = _name("Berth Test CA")
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=UTC))
                     .not_valid_after(datetime.datetime(2100, 1, 1, tzinfo=UTC))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, names, key=None, not_before=None, not_after=None, serial=None):
        """``(certificate, its key)``: a leaf for ``names`` (its SAN; none when empty)."""
        key = key or _key()
        builder = (x509.CertificateBuilder().subject_name(_name(names[0] if names else "no-san"))
                   .issuer_name(self.name).public_key(key.public_key())
                   .serial_number(serial or x509.random_serial_number())
                   .not_valid_before(not_before or NOW - 30 * DAY).not_valid_after(not_after or NOW + 60 * DAY))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                            critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, password=None):
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write_pair(folder, cert, key, ca=None, stem="site"):
    """``(fullchain path, key path)``: the leaf (and the CA, as certbot's fullchain) and its key."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / ("%s.pem" % stem), folder / ("%s.key" % stem)
    cert_path.write_bytes(cert_pem(cert) + (cert_pem(ca.cert) if ca else b""))
    key_path.write_bytes(key_pem(key))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def ca():
    return CA()


# --- What Nginx serves, against the file ------------------------------------------------------------

@pytest.fixture
def tls_server(tmp_path, ca):
    """A TLS server on loopback (a port of its own) serving a leaf for www.example.test, as Nginx
    would from a certificate file; yields (port, the served file's path)."""
    import socket
    import ssl
    import threading
    cert, key = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path / "served", cert, key, ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert_path
    stop.set()
    listener.close()


def test_a_served_certificate_matches_its_file_and_a_replaced_file_does_not(tls_server, tmp_path, ca):
    port, served = tls_server
    assert berth_tls.served_matches(served, "127.0.0.1", port, "www.example.test") is True
    # The file replaced on the host (a new certificate for the same names): Nginx still serves the old one.
    cert, key = ca.issue(["www.example.test"])
    replaced, _ = write_pair(tmp_path / "replaced", cert, key, ca)
    assert berth_tls.served_matches(replaced, "127.0.0.1", port, "www.example.test") is False


def test_whether_a_certificate_is_served_is_unknown_when_nothing_answers_or_the_file_is_no_certificate(
        tls_server, tmp_path):
    port, served = tls_server
    import socket
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    assert berth_tls.served_matches(served, "127.0.0.1", free, "www.example.test", timeout=1) is None
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert berth_tls.served_matches(str(junk), "127.0.0.1", port, "www.example.test") is None
    assert berth_tls.served_matches(str(tmp_path / "missing.pem"), "127.0.0.1", port, "") is None


# --- normalize_sites -------------------------------------------------------------------------------

def ctx(**over):
    """A host's context as berth_plan._sites builds it: lb, the HTTPS entry enabled, ACME settled."""
    base = {"host": "lb", "https": True, "https_port": 443, "https_entry": "nginx_https",
            "legacy": {"server_name": "_", "certificate": "", "certificate_key": ""},
            "acme": {"directory": LE, "email": "ops@example.test", "key_type": "ecdsa",
                     "config_dir": "/etc/letsencrypt"},
            "routes": dict(ROUTES), "hsts": 31536000}
    base.update(over)
    return base


def acme_ctx(**over):
    return dict(ctx()["acme"], **over)


def site(name="www", names=("www.example.test",), **more):
    out = {"name": name, "server_names": names if isinstance(names, str) else list(names)}
    out.update(more)
    return out


def problems_of(value, **over):
    return berth_sites.normalize_sites(value, ctx(**over))[1]


def refused(problems, variable, *fragments, host="lb"):
    """The one problem about ``variable`` on ``host``: it says how to fix it and contains ``fragments``."""
    mine = [p for p in problems if p.startswith("%s on %s: " % (variable, host))]
    assert mine, "no problem about %s on %s in %r" % (variable, host, problems)
    assert len(mine) == 1, mine
    assert "Fix:" in mine[0], mine[0]
    for fragment in fragments:
        assert fragment in mine[0], (fragment, mine[0])
    return mine[0]


@pytest.mark.parametrize("empty", [None, [], ""])
def test_no_sites_and_no_https_is_the_one_legacy_site_without_tls(empty):
    legacy = {"server_name": "example.test www.example.test", "certificate": "/etc/ssl/site.pem",
              "certificate_key": "/etc/ssl/private/site.key"}
    sites, problems = berth_sites.normalize_sites(empty, ctx(https=False, legacy=legacy))
    assert problems == []
    assert sites == [{"name": "default", "server_names": ["example.test", "www.example.test"], "default": True,
                      "routes": [], "tls": "off", "certificate": "", "certificate_key": "", "lineage": "",
                      "redirect": False, "hsts": 0, "legacy": True}]


def test_no_sites_with_https_is_the_legacy_site_on_the_legacy_files():
    legacy = {"server_name": "", "certificate": "/etc/ssl/site.pem", "certificate_key": "/etc/ssl/private/site.key"}
    sites, problems = berth_sites.normalize_sites([], ctx(legacy=legacy))
    assert problems == []
    [one] = sites
    assert one["server_names"] == ["_"]  # an empty server_name is Nginx's catch-all
    assert (one["tls"], one["certificate"], one["certificate_key"]) == (
        "files", "/etc/ssl/site.pem", "/etc/ssl/private/site.key")
    assert (one["legacy"], one["default"], one["redirect"], one["hsts"], one["lineage"]) == (True, True, False, 0, "")


def test_a_two_site_list_normalizes_with_its_defaults():
    value = [site("www", ["www.example.test", "example.test"], tls="acme"),
             site("api", "api.example.test", routes=["hbnb_api", "/v2/"], tls="files",
                  certificate="/etc/ssl/api.pem", certificate_key="/etc/ssl/private/api.key", hsts=0)]
    sites, problems = berth_sites.normalize_sites(value, ctx(acme=acme_ctx(config_dir="/srv/le/")))
    assert problems == []
    assert sites == [
        {"name": "www", "server_names": ["www.example.test", "example.test"], "default": True, "routes": [],
         "tls": "acme", "certificate": "/srv/le/live/www/fullchain.pem",
         "certificate_key": "/srv/le/live/www/privkey.pem",
         "lineage": "www", "redirect": True, "hsts": 31536000, "legacy": False},
        {"name": "api", "server_names": ["api.example.test"], "default": False, "routes": ["hbnb_api", "/v2/"],
         "tls": "files", "certificate": "/etc/ssl/api.pem", "certificate_key": "/etc/ssl/private/api.key",
         "lineage": "", "redirect": True, "hsts": 0, "legacy": False},
    ]


def test_a_site_without_tls_gets_no_redirect_nor_hsts_and_an_explicit_default_stays_alone():
    value = [site("www", tls=False), site("other", ["other.example.test"], default=True, tls="off")]
    sites, problems = berth_sites.normalize_sites(value, ctx(https=False))
    assert problems == []
    assert [(s["tls"], s["redirect"], s["hsts"], s["default"]) for s in sites] == [
        ("off", False, 0, False), ("off", False, 0, True)]


def test_the_hsts_default_comes_from_the_context_and_a_site_may_keep_its_own():
    value = [site("www", tls="acme"), site("api", ["api.example.test"], tls="acme", hsts=600, redirect=False)]
    sites, problems = berth_sites.normalize_sites(value, ctx(hsts=86400))
    assert problems == []
    assert [(s["hsts"], s["redirect"]) for s in sites] == [(86400, True), (600, False)]


def test_a_wildcard_is_accepted_with_tls_files_and_underscore_without_tls():
    value = [site("wild", ["*.example.test"], tls="files", certificate="/etc/ssl/wild.pem",
                  certificate_key="/etc/ssl/wild.key"),
             site("catchall", ["_"])]
    sites, problems = berth_sites.normalize_sites(value, ctx())
    assert problems == []
    assert [s["server_names"] for s in sites] == [["*.example.test"], ["_"]]


@pytest.mark.parametrize("bad", ["bad_name", "-x.example.com", "example", "x-.example.com", "WWW.example.test",
                                 "a..example.test", "www.example.test.", "", 42])
def test_an_invalid_server_name_is_refused(bad):
    problem = refused(problems_of([site(names=[bad], tls="acme")]), "nginx_sites.www.server_names",
                      repr(bad))
    assert "host name" in problem


def test_a_server_name_in_two_sites_is_refused():
    problems = problems_of([site("www", ["www.example.test", "example.test"], tls="acme"),
                            site("api", ["api.example.test", "example.test"], tls="acme")])
    refused(problems, "nginx_sites.api.server_names", "example.test is a server name of site www too")
    assert not [p for p in problems if p.startswith("nginx_sites.www.")]


def test_a_wildcard_with_tls_acme_is_refused():
    problem = refused(problems_of([site(names=["*.example.test"], tls="acme")]), "nginx_sites.www.server_names",
                      "'*.example.test'")
    assert "wildcard only with tls: files" in problem


@pytest.mark.parametrize("tls", ["acme", "files"])
def test_underscore_with_tls_is_refused(tls):
    files = {"certificate": "/etc/ssl/a.pem", "certificate_key": "/etc/ssl/a.key"} if tls == "files" else {}
    value = [site(names=["_"], tls=tls, **files)]
    refused(problems_of(value), "nginx_sites.www.server_names", "'_'", "_ only for a site without TLS")


@pytest.mark.parametrize("email", ["", None, "ops", "ops@localhost"])
def test_acme_without_a_contact_address_is_refused(email):
    problems = problems_of([site(tls="acme"), site("api", ["api.example.test"], tls="acme"),
                            site("plain", ["plain.example.test"])], acme=acme_ctx(email=email))
    refused(problems, "nginx_acme_email", "sites www, api use tls: acme", "nginx_acme_email: ops@example.com")


def test_the_acme_settings_are_checked_only_when_a_site_uses_acme():
    bad = acme_ctx(email="", directory="http://acme.example.test/dir", key_type="dsa")
    assert problems_of([site(tls="files", certificate="/etc/ssl/a.pem", certificate_key="/etc/ssl/a.key")],
                       acme=bad) == []
    problems = problems_of([site(tls="acme")], acme=bad)
    refused(problems, "nginx_acme_directory", "'http://acme.example.test/dir' is not an https:// URL", LE)
    refused(problems, "nginx_acme_key_type", "'dsa' is not one of ecdsa, rsa")
    refused(problems, "nginx_acme_email")


@pytest.mark.parametrize("tls", ["acme", "files"])
def test_a_tls_site_without_the_https_entry_is_refused_naming_the_entry(tls):
    value = [site(tls=tls, **({"certificate": "/etc/ssl/a.pem", "certificate_key": "/etc/ssl/a.key"}
                              if tls == "files" else {}))]
    problem = refused(problems_of(value, https=False, https_entry="edge_https"), "nginx_sites.www.tls",
                      "tls: %s needs the HTTPS registry entry edge_https" % tls,
                      "berth_ports_overrides: {edge_https: {enabled: true}}", "or set tls: off")
    assert "nginx_https" not in problem


def test_unknown_keys_are_refused():
    problem = refused(problems_of([site(tls="acme", redirects=True, sever_names=["x.example.test"])]),
                      "nginx_sites[0]", "unknown keys redirects, sever_names")
    assert "known: " + ", ".join(berth_sites.SITE_KEYS) in problem


def test_a_site_name_defined_twice_is_refused():
    problems = problems_of([site("www", tls="acme"), site("www", ["api.example.test"], tls="acme")])
    refused(problems, "nginx_sites[1].name", "site www is defined twice")


@pytest.mark.parametrize("bad", ["WWW", "-www", "", None, "a" * 64, "www.example"])
def test_an_invalid_site_name_is_refused(bad):
    refused(problems_of([site(bad, tls="acme")]), "nginx_sites[0].name", "%r is not a site name" % (bad,))


@pytest.mark.parametrize("bad", ["letsencrypt", True, "ACME", None])
def test_a_tls_value_other_than_acme_files_off_is_refused(bad):
    refused(problems_of([site(tls=bad, redirect=False)]), "nginx_sites.www.tls",
            "%r is not one of acme, files, off" % (bad,))


def test_a_redirect_without_tls_is_refused():
    refused(problems_of([site(tls="off", redirect=True)]), "nginx_sites.www.redirect",
            "a redirect to HTTPS needs TLS, and this site has tls: off")


def test_two_default_sites_are_refused():
    problems = problems_of([site("www", tls="acme", default=True),
                            site("api", ["api.example.test"], tls="acme", default=True)])
    refused(problems, "nginx_sites", "sites www, api are all marked default")


@pytest.mark.parametrize("key", ["redirect", "default"])
@pytest.mark.parametrize("bad", ["true", "yes", 1, None])
def test_a_flag_that_is_not_a_boolean_is_refused(key, bad):
    refused(problems_of([site(tls="acme", **{key: bad})]), "nginx_sites.www.%s" % key,
            "%r is not true or false" % (bad,))


@pytest.mark.parametrize("bad", [-1, "31536000", True, 1.5])
def test_an_hsts_that_is_not_a_max_age_is_refused(bad):
    refused(problems_of([site(tls="acme", hsts=bad)]), "nginx_sites.www.hsts",
            "%r is not a max-age in seconds" % (bad,))


def test_tls_files_without_the_certificate_paths_is_refused():
    problems = problems_of([site(tls="files")])
    refused(problems, "nginx_sites.www.certificate", "None is not an absolute path", "PEM chain")
    refused(problems, "nginx_sites.www.certificate_key", "None is not an absolute path", "PEM private key")
    problems = problems_of([site(tls="files", certificate="certs/site.pem", certificate_key="/etc/ssl/a b.key")])
    refused(problems, "nginx_sites.www.certificate", "'certs/site.pem' is not an absolute path")
    refused(problems, "nginx_sites.www.certificate_key", "'/etc/ssl/a b.key' is not an absolute path")


def test_certificate_files_on_an_acme_site_are_refused():
    refused(problems_of([site(tls="acme", certificate="/etc/ssl/a.pem")]), "nginx_sites.www.certificate",
            "certificate files are read only with tls: files (this site has tls: acme)")


def test_an_unknown_route_name_is_refused_naming_the_known_apps():
    problems = problems_of([site("api", ["api.example.test"], tls="acme", routes=["hbnb_api", "/v2/", "hbnb_nope"])])
    refused(problems, "nginx_sites.api.routes",
            "'hbnb_nope' is neither an app of this host (hbnb_api, hbnb_front) nor a path prefix")
    refused(problems_of([site(tls="acme", routes=["api"])], routes={}), "nginx_sites.www.routes",
            "'api' is neither an app of this host (none)")
    refused(problems_of([site(tls="acme", routes="/api/")]), "nginx_sites.www.routes", "'/api/' is not a list")


@pytest.mark.parametrize("value, variable, fragment", [
    ({"www": {}}, "nginx_sites", "is not a list of sites"),
    (["www"], "nginx_sites[0]", "'www' is not a mapping"),
    ([{"name": "www", "tls": "off"}], "nginx_sites.www.server_names", "None is not a non-empty list"),
    ([{"name": "www", "server_names": [], "tls": "off"}], "nginx_sites.www.server_names", "[] is not a non-empty"),
])
def test_a_malformed_nginx_sites_is_refused(value, variable, fragment):
    refused(problems_of(value), variable, fragment)


def test_every_problem_of_the_list_is_reported_at_once_on_the_host_named_by_the_context():
    problems = problems_of([site("www", ["bad_name"], tls="acme", redirect="true"),
                            site("www", ["www.example.test"], tls="acme", hsts=-5)], host="edge1",
                           acme=acme_ctx(email=""))
    variables = sorted(p.split(" on edge1: ")[0] for p in problems)
    assert variables == ["nginx_acme_email", "nginx_sites.www.hsts", "nginx_sites.www.redirect",
                         "nginx_sites.www.server_names", "nginx_sites[1].name"]
    assert all("Fix:" in p for p in problems)


# --- site_locations and lb_locations --------------------------------------------------------------

LOCATIONS = [{"prefix": "/", "exact": True, "app": "hbnb_front"},
             {"prefix": "/airbnb-dynamic/", "exact": False, "app": "hbnb_dynamic"},
             {"prefix": "/static/", "exact": False, "app": "hbnb_front"},
             {"prefix": "/api/", "exact": False, "app": "hbnb_api"}]


def test_a_web_site_without_routes_serves_every_location():
    mine = berth_sites.site_locations({"routes": []}, LOCATIONS, "apps")
    assert mine == LOCATIONS and mine is not LOCATIONS


def test_a_web_site_serves_the_locations_of_its_apps_and_prefixes():
    assert berth_sites.site_locations({"routes": ["hbnb_front"]}, LOCATIONS, "apps") == [LOCATIONS[0], LOCATIONS[2]]
    assert berth_sites.site_locations({"routes": ["/api/", "hbnb_dynamic"]}, LOCATIONS, "apps") == [
        LOCATIONS[1], LOCATIONS[3]]
    assert berth_sites.site_locations({"routes": ["/nothing/"]}, LOCATIONS, "apps") == []


def test_a_load_balancer_site_serves_its_locations_or_every_path():
    assert berth_sites.site_locations({"routes": []}, LOCATIONS, "lb") == [{"prefix": "/", "exact": False}]
    assert berth_sites.site_locations({}, [], "lb") == [{"prefix": "/", "exact": False}]
    mine = [{"prefix": "/api/", "exact": False}, {"prefix": "/v2/", "exact": False}]
    assert berth_sites.site_locations({"routes": ["/api/", "/v2/"]}, mine, "lb") == mine


def test_lb_locations_replaces_app_names_by_their_public_paths_once_each():
    routes = {"hbnb_api": [{"prefix": "/api/", "exact": False}],
              "hbnb_front": [{"prefix": "/", "exact": True}, {"prefix": "/static/", "exact": False}]}
    assert berth_sites.lb_locations(["hbnb_api", "/v2/", "hbnb_front", "/api/"], routes) == [
        {"prefix": "/api/", "exact": False}, {"prefix": "/v2/", "exact": False}, {"prefix": "/", "exact": True},
        {"prefix": "/static/", "exact": False}]
    assert berth_sites.lb_locations(["/only/"], {}) == [{"prefix": "/only/", "exact": False}]
    assert berth_sites.lb_locations([], routes) == []


def test_a_load_balancer_site_routing_only_an_app_without_public_routes_is_refused():
    with pytest.raises(ValueError, match="app worker has no public route on the backends"):
        berth_sites.lb_locations(["worker"], {"worker": []})


# --- inspect ---------------------------------------------------------------------------------------

def test_covers_matches_names_and_one_label_wildcards():
    assert berth_tls.covers(["www.example.test"], "WWW.Example.test")
    assert berth_tls.covers(["*.example.test"], "www.example.test")
    assert berth_tls.covers(["*.Example.test"], "api.example.test")
    assert berth_tls.covers(["*.example.test"], "*.example.test")
    assert not berth_tls.covers(["*.example.test"], "example.test")
    assert not berth_tls.covers(["*.example.test"], "a.b.example.test")
    assert not berth_tls.covers(["*.example.test"], "wwwexample.test")
    assert not berth_tls.covers(["example.test"], "www.example.test")
    assert not berth_tls.covers([], "example.test")


def test_inspect_reads_a_valid_certificate(ca, tmp_path):
    cert, key = ca.issue(["www.example.test", "example.test"], serial=0xBE27, not_after=NOW + 45 * DAY + DAY / 2)
    cert_path, key_path = write_pair(tmp_path, cert, key, ca)
    out = berth_tls.inspect(cert_path, key_path, ["example.test", "www.example.test"], now=NOW)
    assert out == {"present": True, "ok": True, "servable": True, "problem": "", "inspected": True,
                   "not_after": (NOW + 45 * DAY + DAY / 2).strftime("%Y-%m-%dT%H:%M:%SZ"), "days_left": 45,
                   "issuer": "CN=Berth Test CA,O=berth tests", "serial": "be27",
                   "names": ["www.example.test", "example.test"]}


def test_inspect_takes_a_naive_now_as_utc_and_defaults_to_the_clock(ca, tmp_path):
    cert, key = ca.issue(["www.example.test"], not_before=datetime.datetime.now(UTC) - DAY,
                         not_after=datetime.datetime.now(UTC) + 10 * DAY + DAY / 2)
    cert_path, key_path = write_pair(tmp_path, cert, key)
    assert berth_tls.inspect(cert_path, key_path, ["www.example.test"])["days_left"] == 10
    naive = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=datetime.datetime.now() + 20 * DAY)
    assert naive["ok"] is False and "expired" in naive["problem"]


def test_inspect_without_a_certificate(tmp_path):
    out = berth_tls.inspect(str(tmp_path / "live/www/fullchain.pem"), str(tmp_path / "privkey.pem"), ["a.test"])
    assert out["present"] is False and out["ok"] is False
    assert out["problem"] == "no certificate at %s" % (tmp_path / "live/www/fullchain.pem")
    assert (out["not_after"], out["days_left"], out["names"]) == ("", None, [])


def test_inspect_a_file_that_is_no_certificate(tmp_path):
    path = tmp_path / "fullchain.pem"
    path.write_text("not a certificate\n")
    out = berth_tls.inspect(str(path), str(tmp_path / "key.pem"), ["a.test"], now=NOW)
    assert out["present"] is True and out["ok"] is False
    assert out["problem"].startswith("%s is not a PEM certificate" % path)


def test_inspect_an_expired_certificate(ca, tmp_path):
    cert, key = ca.issue(["www.example.test"], not_before=NOW - 100 * DAY, not_after=NOW - 10 * DAY)
    cert_path, key_path = write_pair(tmp_path, cert, key)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW)
    assert out["ok"] is False and out["present"] is True
    assert out["problem"] == "%s expired on %s" % (cert_path, (NOW - 10 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert out["days_left"] == -10
    # The moment it expires it is expired.
    assert berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW - 10 * DAY)["ok"] is False
    assert berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW - 11 * DAY)["ok"] is True


def test_inspect_a_certificate_not_yet_valid(ca, tmp_path):
    cert, key = ca.issue(["www.example.test"], not_before=NOW + 2 * DAY, not_after=NOW + 90 * DAY)
    cert_path, key_path = write_pair(tmp_path, cert, key)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW)
    assert out["ok"] is False
    assert out["problem"] == "%s is not valid before %s" % (cert_path, (NOW + 2 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_inspect_a_certificate_that_does_not_cover_the_site_s_names(ca, tmp_path):
    cert, key = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, key)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test", "example.test", "_", "api.example.test"],
                            now=NOW)
    assert out["ok"] is False
    assert out["problem"] == "%s does not cover example.test, api.example.test (its names: www.example.test)" % (
        cert_path)
    assert out["names"] == ["www.example.test"]


def test_inspect_a_certificate_without_dns_names(ca, tmp_path):
    cert, key = ca.issue([])
    cert_path, key_path = write_pair(tmp_path, cert, key)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW)
    assert out["names"] == [] and out["problem"].endswith("does not cover www.example.test (its names: none)")
    # Nginx's catch-all needs no name.
    assert berth_tls.inspect(cert_path, key_path, ["_"], now=NOW)["ok"] is True


def test_inspect_a_wildcard_certificate(ca, tmp_path):
    cert, key = ca.issue(["*.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, key)
    assert berth_tls.inspect(cert_path, key_path, ["www.example.test", "api.example.test", "*.example.test"],
                             now=NOW)["ok"] is True
    out = berth_tls.inspect(cert_path, key_path, ["example.test", "a.b.example.test"], now=NOW)
    assert out["problem"].endswith("does not cover example.test, a.b.example.test (its names: *.example.test)")


def test_inspect_a_certificate_that_does_not_match_its_key(ca, tmp_path):
    cert, _ = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, _key())
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW)
    assert out["ok"] is False
    assert out["problem"] == "%s does not match its key %s" % (cert_path, key_path)


@pytest.mark.parametrize("content, error", [
    (None, "FileNotFoundError"),
    (b"garbage\n", "ValueError"),
    ("encrypted", "TypeError"),
])
def test_inspect_a_key_that_cannot_be_read(ca, tmp_path, content, error):
    cert, key = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, key)
    if content is None:
        os.unlink(key_path)
    elif content == "encrypted":
        with open(key_path, "wb") as handle:
            handle.write(key_pem(key, password=b"s3cret-pass"))
    else:
        with open(key_path, "wb") as handle:
            handle.write(content)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW)
    assert out["ok"] is False
    assert out["problem"] == "the key %s cannot be read (%s)" % (key_path, error)


def test_inspect_returns_no_key_material(ca, tmp_path):
    cert, key = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, key)
    secret_lines = [line for line in key_pem(key).decode().splitlines() if not line.startswith("-----")]
    private_value = key.private_numbers().private_value
    for out in (berth_tls.inspect(cert_path, key_path, ["www.example.test"], now=NOW),
                berth_tls.inspect(cert_path, write_pair(tmp_path / "other", cert, _key())[1], ["www.example.test"],
                                  now=NOW)):
        text = json.dumps(out)
        assert "PRIVATE KEY" not in text
        assert not any(line in text for line in secret_lines)
        assert str(private_value) not in text and "%x" % private_value not in text
        assert all(isinstance(v, (str, int, bool, list, type(None))) for v in out.values())


# --- inspect_sites and live_tls --------------------------------------------------------------------

def _tls_sites(tmp_path, ca):
    good, good_key = ca.issue(["www.example.test"])
    bad, bad_key = ca.issue(["other.example.test"])
    www = write_pair(tmp_path / "www", good, good_key, ca)
    api = write_pair(tmp_path / "api", bad, bad_key, ca)
    return [{"name": "www", "tls": "acme", "server_names": ["www.example.test"], "certificate": www[0],
             "certificate_key": www[1]},
            {"name": "api", "tls": "files", "server_names": ["api.example.test"], "certificate": api[0],
             "certificate_key": api[1]},
            {"name": "gone", "tls": "acme", "server_names": ["gone.example.test"],
             "certificate": str(tmp_path / "gone/fullchain.pem"), "certificate_key": str(tmp_path / "gone/key.pem")},
            {"name": "plain", "tls": "off", "server_names": ["plain.example.test"], "certificate": "",
             "certificate_key": ""}]


def test_inspect_sites_reads_every_tls_site_and_live_tls_keeps_the_good_ones(ca, tmp_path):
    sites = _tls_sites(tmp_path, ca)
    certs = berth_tls.inspect_sites(sites, now=NOW)
    assert sorted(certs) == ["api", "gone", "www"]
    assert certs["www"]["ok"] is True
    assert "does not cover api.example.test" in certs["api"]["problem"]
    assert certs["gone"]["present"] is False
    assert berth_sites.live_tls(sites, certs) == ["www"]


def test_live_tls_needs_a_tls_site_with_an_ok_certificate():
    sites = [{"name": "b", "tls": "files"}, {"name": "a", "tls": "acme"}, {"name": "off", "tls": "off"},
             {"name": "unread", "tls": "acme"}]
    certs = {"a": {"ok": True}, "b": {"ok": True}, "off": {"ok": True}, "unread": None}
    assert berth_sites.live_tls(sites, certs) == ["a", "b"]
    assert berth_sites.live_tls(sites, {}) == []


# --- certbot ---------------------------------------------------------------------------------------

ACME = {"directory": "https://acme.example.test:14000/dir", "email": "ops@example.test", "key_type": "ecdsa",
        "config_dir": "/etc/letsencrypt", "webroot": "/var/lib/berth/acme", "ca_bundle": ""}


def _option(argv, name):
    assert argv.count(name) == 1, (name, argv)
    return argv[argv.index(name) + 1]


def test_certbot_argv_issues_one_lineage_over_http_01_through_the_webroot():
    site_ = {"name": "www", "lineage": "www", "server_names": ["www.example.test", "example.test"]}
    argv = berth_tls.certbot_argv(site_, ACME)
    assert argv[:2] == ["certbot", "certonly"]
    assert "--non-interactive" in argv and "--agree-tos" in argv and "--webroot" in argv
    assert _option(argv, "--webroot-path") == "/var/lib/berth/acme"
    assert _option(argv, "--server") == "https://acme.example.test:14000/dir"
    assert _option(argv, "--email") == "ops@example.test"
    assert _option(argv, "--cert-name") == "www"
    assert _option(argv, "--key-type") == "ecdsa"
    assert _option(argv, "--config-dir") == "/etc/letsencrypt"
    domains = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-d"]
    assert domains == ["www.example.test", "example.test"]
    assert berth_tls.certbot_argv(site_, dict(ACME, certbot="/usr/bin/certbot"))[0] == "/usr/bin/certbot"


CERTBOT_FAILED = """Saving debug log to /var/log/letsencrypt/letsencrypt.log
Requesting a certificate for www.example.test

Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:
  Domain: www.example.test
  Type:   connection
  Detail: 203.0.113.10: Fetching http://www.example.test/.well-known/acme-challenge/abc: Connection refused

Hint: The Certificate Authority failed to download the temporary challenge files created by the --webroot plugin.

Some challenges have failed.
""" + ("Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile "
       "/var/log/letsencrypt/letsencrypt.log or re-run Certbot with -vvv for more details.\n")


def test_certbot_reason_picks_the_error_lines():
    reason = berth_tls.certbot_reason(CERTBOT_FAILED)
    assert reason.split(" | ") == [
        "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported "
        "these problems:",
        "Detail: 203.0.113.10: Fetching http://www.example.test/.well-known/acme-challenge/abc: Connection refused",
        "Hint: The Certificate Authority failed to download the temporary challenge files created by the --webroot "
        "plugin.",
        "Some challenges have failed."]
    assert "Saving debug log" not in reason and "Ask for help" not in reason


def test_certbot_reason_without_an_error_line_is_the_tail():
    output = "\n".join("line %d" % i for i in range(10)) + "\n\n"
    assert berth_tls.certbot_reason(output) == " | ".join("line %d" % i for i in range(4, 10))
    many = "\n".join("Error %d" % i for i in range(9))
    assert berth_tls.certbot_reason(many) == " | ".join("Error %d" % i for i in range(3, 9))
    assert berth_tls.certbot_reason("") == "" and berth_tls.certbot_reason(None) == ""


# --- roll_back and deploy_hook ---------------------------------------------------------------------

NAMES = ["www.example.test", "example.test"]


class Lineage(object):
    """A certbot lineage in tmp_path: archive/<site>/{cert,chain,fullchain,privkey}N.pem and the
    live/<site>/*.pem links to the newest version, and the nginx role's berth-tls.json."""

    def __init__(self, root, ca, site_name="www"):
        self.root, self.ca, self.site = root, ca, site_name
        self.archive = root / "archive" / site_name
        self.live = root / "live" / site_name
        self.archive.mkdir(parents=True)
        self.live.mkdir(parents=True)
        self.config = root / "berth-tls.json"
        self.config.write_text(json.dumps({"service": "nginx", "sites": {site_name: {"server_names": NAMES}}}))
        self.version = 0

    def add(self, names=NAMES, key_matches=True, not_after=None):
        """A new archive version (a renewal) and the live links to it."""
        self.version += 1
        now = datetime.datetime.now(UTC)
        cert, key = self.ca.issue(names, not_before=now - DAY, not_after=not_after or now + 90 * DAY)
        files = {"cert": cert_pem(cert), "chain": cert_pem(self.ca.cert),
                 "fullchain": cert_pem(cert) + cert_pem(self.ca.cert),
                 "privkey": key_pem(key if key_matches else _key())}
        for kind, data in files.items():
            (self.archive / ("%s%d.pem" % (kind, self.version))).write_bytes(data)
            link = self.live / ("%s.pem" % kind)
            if os.path.lexists(str(link)):
                link.unlink()
            os.symlink("../../archive/%s/%s%d.pem" % (self.site, kind, self.version), str(link))
        return self

    def targets(self):
        return {kind: os.readlink(str(self.live / ("%s.pem" % kind))) for kind in berth_tls.LIVE_FILES}

    def at(self, version):
        return {kind: "../../archive/%s/%s%d.pem" % (self.site, kind, version) for kind in berth_tls.LIVE_FILES}

    def hook(self, run, lineage=None):
        out = io.StringIO()
        code = berth_tls.deploy_hook(str(self.config), env={"RENEWED_LINEAGE": str(lineage or self.live)},
                                     run=run, out=out)
        return code, out.getvalue()


class FakeRun(object):
    """subprocess.run as the hook calls it: records argv, answers with the given results."""

    def __init__(self, nginx_t=(0, ""), reload=(0, "")):
        self.calls = []
        self.results = {"nginx": nginx_t, "systemctl": reload}

    def __call__(self, argv, **kwargs):
        assert kwargs.get("capture_output") is True and kwargs.get("text") is True
        self.calls.append(list(argv))
        code, stderr = self.results[argv[0]]
        return types.SimpleNamespace(returncode=code, stdout="", stderr=stderr)

    @property
    def reloaded(self):
        return any(call[:2] == ["systemctl", "reload"] for call in self.calls)


def test_roll_back_points_the_live_links_at_the_previous_version(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add().add()
    assert lineage.targets() == lineage.at(3)
    assert berth_tls.roll_back(str(lineage.live)) == 2
    assert lineage.targets() == lineage.at(2)  # still relative, like certbot's
    assert berth_tls.roll_back(str(lineage.live)) == 1
    assert lineage.targets() == lineage.at(1)
    assert sorted(os.listdir(str(lineage.live))) == ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]


def test_roll_back_without_a_previous_version_changes_nothing(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add()
    assert berth_tls.roll_back(str(lineage.live)) is None
    assert lineage.targets() == lineage.at(1)


def test_roll_back_when_a_previous_file_is_missing_changes_nothing(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    (lineage.archive / "chain1.pem").unlink()
    assert berth_tls.roll_back(str(lineage.live)) is None
    assert lineage.targets() == lineage.at(2)


def test_roll_back_of_links_that_are_not_certbot_versions_changes_nothing(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    for kind in berth_tls.LIVE_FILES:
        (lineage.archive / ("%s-custom.pem" % kind)).write_text("x")
    link = lineage.live / "privkey.pem"
    link.unlink()
    os.symlink("../../archive/www/privkey-custom.pem", str(link))
    assert berth_tls.roll_back(str(lineage.live)) is None
    assert lineage.targets()["cert"] == lineage.at(2)["cert"]


@pytest.mark.parametrize("broken, why", [
    ({"key_matches": False}, "does not match its key"),
    ({"names": ["www.example.test"]}, "does not cover example.test"),
])
def test_a_broken_renewal_goes_back_to_the_previous_certificate(tmp_path, ca, broken, why):
    lineage = Lineage(tmp_path, ca).add().add(**broken)
    run = FakeRun()
    code, message = lineage.hook(run)
    assert code == 1
    assert lineage.targets() == lineage.at(1)
    assert run.calls == []  # neither nginx -t nor a reload
    assert "the renewed certificate of site www does not go live" in message
    assert why in message
    assert "previous certificate (version 1)" in message
    # What is live now passes inspect again.
    assert berth_tls.inspect(str(lineage.live / "fullchain.pem"), str(lineage.live / "privkey.pem"), NAMES)["ok"]


def test_a_valid_renewal_goes_live_after_nginx_t_and_a_reload(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    run = FakeRun()
    code, message = lineage.hook(run)
    assert code == 0
    assert run.calls == [["nginx", "-t", "-q"], ["systemctl", "reload", "nginx"]]
    assert lineage.targets() == lineage.at(2)
    assert "site www serves its renewed certificate" in message


def test_the_reload_is_of_the_service_in_the_state_file(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add()
    lineage.config.write_text(json.dumps({"service": "nginx-edge", "sites": {"www": {"server_names": NAMES}}}))
    run = FakeRun()
    assert lineage.hook(run)[0] == 0
    assert run.calls[-1] == ["systemctl", "reload", "nginx-edge"]


def test_a_renewal_nginx_t_rejects_goes_back_and_nginx_is_not_reloaded(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    run = FakeRun(nginx_t=(1, "nginx: [emerg] cannot load certificate key\n"))
    code, message = lineage.hook(run)
    assert code == 1
    assert run.calls == [["nginx", "-t", "-q"]]
    assert not run.reloaded
    assert lineage.targets() == lineage.at(1)
    assert "nginx -t rejected the configuration with the renewed certificate: nginx: [emerg] cannot load " \
           "certificate key" in message


def test_a_broken_first_certificate_has_nothing_to_go_back_to(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add(key_matches=False)
    run = FakeRun()
    code, message = lineage.hook(run)
    assert code == 1 and run.calls == []
    assert lineage.targets() == lineage.at(1)
    assert "There is no previous certificate to go back to" in message


def test_a_failed_reload_fails_the_hook(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    run = FakeRun(reload=(1, "Job for nginx.service failed.\n"))
    code, message = lineage.hook(run)
    assert code == 1
    assert "systemctl reload nginx failed: Job for nginx.service failed." in message
    assert lineage.targets() == lineage.at(2)


def test_a_lineage_that_is_no_site_of_this_nginx_is_left_alone(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add(key_matches=False)
    other = Lineage(tmp_path / "other", ca, site_name="mail").add().add(key_matches=False)
    run = FakeRun()
    code, message = lineage.hook(run, lineage=str(other.live) + "/")
    assert code == 0 and run.calls == []
    assert "is not a site of this host's Nginx" in message
    assert other.targets() == other.at(2) and lineage.targets() == lineage.at(2)


def test_an_unreadable_state_file_fails_the_hook_without_a_reload(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add()
    lineage.config.write_text("{not json")
    run = FakeRun()
    code, message = lineage.hook(run)
    assert code == 1 and run.calls == []
    assert "cannot read %s" % lineage.config in message and "Nginx is not reloaded" in message


def certbot_renew_relinks(lineage):
    """What `certbot renew` (certbot.timer) does first for every lineage, before deciding whether it is due
    (certbot's RenewableCert.ensure_deployed): the live links go to the newest version complete in archive/,
    without running a deploy hook."""
    common = None
    for kind in berth_tls.LIVE_FILES:
        found = {int(m.group(1)) for m in (re.match(r"%s(\d+)\.pem$" % kind, f)
                                           for f in os.listdir(str(lineage.archive))) if m}
        common = found if common is None else common & found
    for kind, target in lineage.at(max(common)).items():
        link = lineage.live / ("%s.pem" % kind)
        link.unlink()
        os.symlink(target, str(link))


def test_a_rolled_back_renewal_stays_rolled_back_through_certbot_s_next_renew(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add(key_matches=False)
    assert lineage.hook(FakeRun())[0] == 1
    assert lineage.targets() == lineage.at(1)
    certbot_renew_relinks(lineage)
    assert lineage.targets() == lineage.at(1)


def test_a_second_rejected_renewal_goes_back_to_the_certificate_nginx_serves(tmp_path, ca):
    lineage = Lineage(tmp_path, ca).add().add(key_matches=False)
    assert lineage.hook(FakeRun())[0] == 1
    lineage.add(names=["www.example.test"])  # the next renewal, version 3, rejected too
    code, message = lineage.hook(FakeRun())
    assert code == 1
    assert lineage.targets() == lineage.at(1), message


def test_the_hook_file_runs_the_copied_library_alone(tmp_path):
    """The hook imports the file copy of berth_tls (no Ansible on that path) and exits with deploy_hook's code."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "berth_tls.py").write_bytes((ROOT / "plugins/module_utils/berth_tls.py").read_bytes())
    state = tmp_path / "berth-tls.json"
    state.write_text(json.dumps({"service": "nginx", "sites": {"www": {"server_names": NAMES}}}))
    hook = tmp_path / "berth-nginx"
    hook.write_text(nginx_tls.HOOK % (str(lib), str(state)))
    env = {"PATH": os.environ.get("PATH", ""), "RENEWED_LINEAGE": str(tmp_path / "live/mail")}
    done = subprocess.run([sys.executable, "-I", str(hook)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "live/mail is not a site of this host's Nginx (%s)" % state in done.stderr


# --- The planner -----------------------------------------------------------------------------------

SANDBOX_OVERRIDES = {}
for _group in planview.ORDER:
    SANDBOX_OVERRIDES.update(planview._group_vars(_group).get("berth_ports_overrides") or {})
SITES = [{"name": "www", "server_names": ["www.example.test", "example.test"], "tls": "acme"},
         {"name": "api", "server_names": ["api.example.test"], "routes": ["/api/"], "tls": "acme"}]


def extra_vars(sites=SITES, **more):
    """Extra variables for every host of the plan: the sites, the contact, the HTTPS entry enabled.
    berth_ports_overrides as an extra variable replaces every group's own, so it repeats them."""
    out = {"nginx_sites": copy.deepcopy(sites), "nginx_acme_email": "ops@example.test",
           "berth_ports_overrides": dict(SANDBOX_OVERRIDES, nginx_https={"enabled": True}),
           # planview's peers (the load balancer's backends) lack the action's role_path.
           "role_path": str(ROOT / "roles" / "flask_app")}
    out.update(more)
    return out


@pytest.fixture
def groups(monkeypatch):
    """planview's fixed inventory groups, plus any group the sandbox registry names that it lacks (an
    entry for hosts not in tests/planview.py's GROUPS) as an empty group, so the registry checks."""
    for entry in (planview._group_vars("all").get("berth_ports") or {}).values():
        for group in (entry or {}).get("groups") or []:
            if group not in planview.GROUPS:
                monkeypatch.setitem(planview.GROUPS, group, [])


def test_the_load_balancer_plans_two_acme_sites(groups):
    section = berth_plan.nginx(planview.view("lb", extra_vars()))
    assert section["https_enabled"] is True
    www, api = section["sites"]
    assert (www["name"], www["default"], www["tls"], www["lineage"], www["redirect"]) == (
        "www", True, "acme", "www", True)
    assert www["certificate"] == "/etc/letsencrypt/live/www/fullchain.pem"
    assert www["certificate_key"] == "/etc/letsencrypt/live/www/privkey.pem"
    assert (www["locations"], www["all_routes"], www["not_found_location"]) == (
        [{"prefix": "/", "exact": False}], True, False)
    assert (api["routes"], api["locations"], api["all_routes"], api["not_found_location"]) == (
        ["/api/"], [{"prefix": "/api/", "exact": False}], False, True)
    assert section["acme"] == {"directory": LE, "email": "ops@example.test", "key_type": "ecdsa",
                               "config_dir": "/etc/letsencrypt", "webroot": "/var/lib/berth/acme", "ca_bundle": "",
                               "peers": []}
    assert section["packages"] == ["nginx", "python3-cryptography", "certbot"]


@pytest.fixture
def two_lbs(groups, monkeypatch):
    """A second load balancer, lb2 (the sandbox's lb group_vars), addressed by its name."""
    for group in ("all", "berth", "lb"):
        monkeypatch.setitem(planview.GROUPS, group, planview.GROUPS[group] + ["lb2"])


@pytest.mark.parametrize("peers", [["lb"], "lb", ["lb2", "lb"], ["lb", "lb2", "lb"]])
def test_acme_peers_are_the_other_hosts_of_the_groups_or_hosts_named(two_lbs, peers):
    section = berth_plan.nginx(planview.view("lb", extra_vars(nginx_acme_peers=peers)))
    assert section["acme"]["peers"] == [{"name": "lb2", "address": "lb2", "port": 80}]
    # Each load balancer lists the others, never itself.
    other = berth_plan.nginx(planview.view("lb2", extra_vars(nginx_acme_peers=peers)))
    assert [p["name"] for p in other["acme"]["peers"]] == ["lb"]


def test_an_acme_peer_is_asked_on_its_own_http_entry(two_lbs):
    v = planview.view("lb", extra_vars(nginx_acme_peers=["lb"]))
    lb2 = planview.view("lb2", extra_vars(berth_ports_overrides=dict(SANDBOX_OVERRIDES, nginx_https={"enabled": True},
                                                                     nginx_http={"port": 8088})))
    v._peer = lambda host: lb2 if host == "lb2" else planview.view(host)
    assert berth_plan.nginx(v)["acme"]["peers"] == [{"name": "lb2", "address": "lb2", "port": 8088}]


@pytest.mark.parametrize("peers, words", [
    (["lbs"], ["nginx_acme_peers on lb names 'lbs', neither a host nor a group of the inventory", "Fix: name"]),
    ([["lb"]], ["nginx_acme_peers on lb: [['lb']] is not a list of inventory hosts or groups", "nginx_acme_peers: [lb]"]),
    ({"lb": 1}, ["is not a list of inventory hosts or groups"]),
])
def test_acme_peers_that_name_nothing_are_refused_naming_variable_host_and_fix(two_lbs, peers, words):
    with pytest.raises(berth_plan.PlanError) as err:
        berth_plan.nginx(planview.view("lb", extra_vars(nginx_acme_peers=peers)))
    for word in words:
        assert word in str(err.value)


def test_acme_peers_matter_only_with_an_acme_site(two_lbs):
    sites = [dict(site, tls="off") for site in SITES]
    section = berth_plan.nginx(planview.view("lb", extra_vars(sites, nginx_acme_peers=["nosuchgroup"])))
    assert section["acme"] is None


def test_the_probe_resolves_the_acme_peers_and_the_site_names_their_addresses(two_lbs):
    v = planview.view("lb", extra_vars(nginx_acme_peers=["lb"]))
    section = berth_plan.nginx(v)
    args = berth_plan.probe_args("nginx", v, section)
    assert "lb2" in args["resolve"]
    probe = {"host": {"packages": {}, "units": {}, "tls": {}, "files": {}, "dirs": {},
                      "resolved": {"lb2": ["192.0.2.12"], "web1": ["192.0.2.21"]}}}
    decided = berth_plan.decide("nginx", v, section, probe)
    assert decided["acme_peers"] == [{"name": "lb2", "address": "lb2", "port": 80, "server": "192.0.2.12"}]
    probe["host"]["resolved"] = {}
    assert berth_plan.decide("nginx", v, section, probe)["acme_peers"][0]["server"] == "lb2"


def test_a_load_balancer_site_may_name_an_app_of_its_backends(groups):
    sites = [SITES[0], dict(SITES[1], routes=["hbnb_api"])]
    section = berth_plan.nginx(planview.view("lb", extra_vars(sites)))
    assert section["sites"][1]["routes"] == ["hbnb_api"]
    assert section["sites"][1]["locations"] == [{"prefix": "/api/", "exact": False}]


def test_a_load_balancer_site_routing_an_app_on_exactly_slash_does_not_take_every_path(groups):
    sites = [dict(SITES[0], routes=["hbnb_front"]), SITES[1]]
    www = berth_plan.nginx(planview.view("lb", extra_vars(sites)))["sites"][0]
    assert {"prefix": "/", "exact": False} not in www["locations"]


def test_a_web_host_s_sites_serve_their_apps_locations(groups):
    sites = [dict(SITES[0], routes=["hbnb_front"]), dict(SITES[1], routes=["hbnb_api"])]
    section = berth_plan.nginx(planview.view("web1", extra_vars(sites)))
    www, api = section["sites"]
    assert [(loc["prefix"], loc["exact"]) for loc in www["locations"]] == [("/", True), ("/static/", False)]
    assert {loc["app"] for loc in www["locations"]} == {"hbnb_front"}
    assert [(loc["prefix"], loc["app"]) for loc in api["locations"]] == [("/api/", "hbnb_api")]
    assert www["not_found_location"] is True and api["not_found_location"] is True
    assert section["packages"] == ["nginx", "python3-cryptography", "certbot"]


def test_the_probe_reads_the_sites_certificates_and_certbot_s_timer(groups):
    v = planview.view("lb", extra_vars())
    section = berth_plan.nginx(v)
    args = berth_plan.probe_args("nginx", v, section)
    assert [{k: item[k] for k in item if k != "served"} for item in args["tls"]] == [
        {"name": "www", "cert": "/etc/letsencrypt/live/www/fullchain.pem",
         "key": "/etc/letsencrypt/live/www/privkey.pem", "names": ["www.example.test", "example.test"]},
        {"name": "api", "cert": "/etc/letsencrypt/live/api/fullchain.pem",
         "key": "/etc/letsencrypt/live/api/privkey.pem", "names": ["api.example.test"]}]
    assert args["units"] == ["nginx", "certbot.timer"]
    assert args["packages"] == ["nginx", "python3-cryptography", "certbot"]


def test_the_probe_compares_what_nginx_serves_on_the_https_entry_with_each_file(groups):
    v = planview.view("lb", extra_vars())
    args = berth_plan.probe_args("nginx", v, berth_plan.nginx(v))
    https = berth_plan.registry(v)["nginx_https"]
    assert [item["served"] for item in args["tls"]] == [
        {"address": "127.0.0.1", "port": https["port"], "name": "www.example.test"},
        {"address": "127.0.0.1", "port": https["port"], "name": "api.example.test"}]
    assert berth_plan.served_probe({"bind": "::", "port": 8443}, ["_", "*.example.test"]) == {
        "address": "::1", "port": 8443, "name": "berth-probe.example.test"}
    assert berth_plan.served_probe({"bind": "192.0.2.7", "port": 443}, ["_"]) == {
        "address": "192.0.2.7", "port": 443, "name": ""}


@pytest.mark.parametrize("served, rotated", [(True, []), (None, []), (False, ["www"])])
def test_a_certificate_file_nginx_does_not_serve_yet_is_reloaded_only_once_it_passes(groups, served, rotated):
    v = planview.view("lb", extra_vars())
    section = berth_plan.nginx(v)
    probe = {"host": {"packages": {}, "units": {}, "files": {}, "dirs": {},
                      "tls": {"www": {"ok": True, "problem": "", "served_current": served},
                              # Not passing its checks: never reloaded for, whatever Nginx serves.
                              "api": {"ok": False, "problem": "expired", "served_current": False}}}}
    assert berth_plan.decide("nginx", v, section, probe)["tls_rotated"] == rotated


def test_decide_says_which_certificates_go_live_and_what_is_missing(groups):
    v = planview.view("lb", extra_vars())
    section = berth_plan.nginx(v)
    probe = {"host": {"packages": {"nginx": "1.22.1-9", "python3-cryptography": "38.0.4-3"},
                      "units": {"nginx": {"enabled": True, "active": True},
                                "certbot.timer": {"enabled": True, "active": True}},
                      "tls": {"www": {"ok": True, "problem": "", "days_left": 80},
                              "api": {"ok": False,
                                      "problem": "no certificate at /etc/letsencrypt/live/api/fullchain.pem"}},
                      "files": {}, "dirs": {}}}
    decided = berth_plan.decide("nginx", v, section, probe)
    assert decided["tls_live"] == ["www"]
    assert decided["tls_pending"] == ["api"]
    assert decided["missing_packages"] == ["certbot"]
    assert decided["acme_timer"] is True and decided["running"] is True
    assert decided["certs"] == probe["host"]["tls"]
    probe["host"]["units"]["certbot.timer"]["active"] = False
    probe["host"]["tls"] = {}
    decided = berth_plan.decide("nginx", v, section, probe)
    assert (decided["tls_live"], decided["tls_pending"], decided["acme_timer"]) == ([], [], False)


def test_acme_without_a_contact_address_refuses_the_plan_naming_the_host(groups):
    with pytest.raises(berth_plan.PlanError) as refused_:
        berth_plan.nginx(planview.view("lb", extra_vars(nginx_acme_email="")))
    text = str(refused_.value)
    assert "nginx_acme_email on lb: '' is not a contact address, and sites www, api use tls: acme" in text
    assert "Fix:" in text


def test_tls_sites_without_the_https_entry_refuse_the_plan(groups):
    extra = extra_vars(berth_ports_overrides=SANDBOX_OVERRIDES)
    with pytest.raises(berth_plan.PlanError) as refused_:
        berth_plan.nginx(planview.view("lb", extra))
    assert "nginx_sites.www.tls on lb: tls: acme needs the HTTPS registry entry nginx_https" in str(refused_.value)
    assert "nginx_sites.api.tls on lb" in str(refused_.value)


@pytest.mark.parametrize("host", ["lb", "web1"])
def test_without_nginx_sites_a_host_has_the_one_legacy_site_and_only_nginx(groups, host):
    section = berth_plan.nginx(planview.view(host))
    [one] = section["sites"]
    assert (one["name"], one["legacy"], one["tls"], one["server_names"], one["default"]) == (
        "default", True, "off", ["_"], True)
    assert section["acme"] is None
    assert section["packages"] == ["nginx"]
    v = planview.view(host)
    args = berth_plan.probe_args("nginx", v, section)
    assert "tls" not in args and "certbot.timer" not in args["units"]


# --- Datadog's tls check ---------------------------------------------------------------------------

def test_datadog_checks_every_name_of_the_tls_sites(groups):
    sites = SITES + [{"name": "wild", "server_names": ["*.example.test"], "tls": "files",
                      "certificate": "/etc/ssl/wild.pem", "certificate_key": "/etc/ssl/private/wild.key"},
                     {"name": "plain", "server_names": ["plain.example.test"]}]
    v = planview.view("lb", extra_vars(sites))
    port = berth_plan.registry(v)["nginx_https"]["port"]
    assert port == 443
    instances = berth_plan.datadog(v)["checks"]["tls"]["instances"]
    assert [(i["name"], i["server_hostname"]) for i in instances] == [
        ("www www.example.test", "www.example.test"), ("www example.test", "example.test"),
        ("api api.example.test", "api.example.test")]  # no wildcard, no site without TLS
    for instance in instances:
        site_name = instance["name"].split(" ")[0]
        assert (instance["server"], instance["port"]) == ("127.0.0.1", port)
        assert (instance["days_warning"], instance["days_critical"]) == (14, 7)
        assert instance["tls_verify"] is True and instance["tls_validate_hostname"] is True
        assert "berth_site:%s" % site_name in instance["tags"]
        assert "berth_port:nginx_https" in instance["tags"] and "env:sandbox" in instance["tags"]
        assert "tls_ca_cert" not in instance


def test_datadog_s_tls_check_takes_the_thresholds_and_ca_of_the_inventory(groups):
    v = planview.view("lb", extra_vars(datadog_tls_days_warning=21, datadog_tls_days_critical=3,
                                       datadog_tls_ca_cert="/etc/ssl/certs/acme-ca.pem"))
    instances = berth_plan.datadog(v)["checks"]["tls"]["instances"]
    assert {(i["days_warning"], i["days_critical"], i["tls_ca_cert"]) for i in instances} == {
        (21, 3, "/etc/ssl/certs/acme-ca.pem")}
    with pytest.raises(berth_plan.PlanError) as refused_:
        berth_plan.datadog(planview.view("lb", extra_vars(datadog_tls_days_critical=14)))
    assert "datadog on lb: datadog_tls_days_critical (14) must be fewer days than datadog_tls_days_warning (14)" in \
        str(refused_.value)


@pytest.mark.parametrize("host", ["lb", "web1"])
def test_datadog_has_no_tls_check_without_sites(groups, host):
    assert "tls" not in berth_plan.datadog(planview.view(host))["checks"]
    assert berth_plan.tls_sites(planview.view(host)) == []


def test_datadog_has_no_tls_check_for_sites_without_tls(groups):
    sites = [{"name": "www", "server_names": ["www.example.test"]}]
    v = planview.view("lb", extra_vars(sites, berth_ports_overrides=SANDBOX_OVERRIDES))
    assert berth_plan.tls_sites(v) == []
    assert "tls" not in berth_plan.datadog(v)["checks"]


# --- The nginx role's filter -----------------------------------------------------------------------

STATE = "/etc/nginx/berth-tls.json"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/berth-nginx"
LIB = "/usr/local/lib/berth/berth_tls.py"
DROP_IN = "/etc/systemd/system/certbot.service.d/berth.conf"


@pytest.fixture
def acme_plan(groups):
    sites = SITES + [{"name": "plain", "server_names": ["plain.example.test"]}]
    return berth_plan.nginx(planview.view("lb", extra_vars(sites)))


def test_nginx_tls_entries_install_the_hook_its_library_and_the_sites_names(acme_plan):
    entries = {e["path"]: e for e in nginx_tls.nginx_tls_entries(acme_plan, STATE)}
    hook = entries[HOOK]
    assert (hook["mode"], hook["owner"], hook["group"]) == ("0755", "root", "root")
    assert hook["content"].startswith("#!/usr/bin/python3\n")
    assert "sys.path.insert(0, '/usr/local/lib/berth')" in hook["content"]
    assert "import berth_tls" in hook["content"]
    assert "berth_tls.deploy_hook(%r)" % STATE in hook["content"]
    compile(hook["content"], HOOK, "exec")
    assert hook["validate"] == "python3 -m py_compile %s"
    lib = entries[LIB]
    assert os.path.samefile(lib["file"], str(ROOT / "plugins/module_utils/berth_tls.py"))
    assert (lib["mode"], lib["validate"]) == ("0644", "python3 -m py_compile %s")
    assert json.loads(entries[STATE]["content"]) == {
        "service": "nginx", "sites": {"www": {"server_names": ["www.example.test", "example.test"]},
                                      "api": {"server_names": ["api.example.test"]}}}
    assert entries["/var/lib/berth/acme"] == {"path": "/var/lib/berth/acme", "state": "directory", "mode": "0755",
                                              "owner": "root", "group": "root"}
    for folder in ("/usr/local/lib/berth", "/etc/letsencrypt/renewal-hooks/deploy"):
        assert entries[folder]["state"] == "directory"
    assert entries[DROP_IN] == {"path": DROP_IN, "state": "absent"}  # no ca_bundle
    # The folders come before what they hold.
    paths = [e["path"] for e in nginx_tls.nginx_tls_entries(acme_plan, STATE)]
    assert paths.index("/usr/local/lib/berth") < paths.index(LIB)
    assert paths.index("/etc/letsencrypt/renewal-hooks/deploy") < paths.index(HOOK)


def test_nginx_tls_entries_name_the_service_in_the_state(acme_plan):
    entries = {e["path"]: e for e in nginx_tls.nginx_tls_entries(acme_plan, "/srv/state.json", service="nginx-edge")}
    assert json.loads(entries["/srv/state.json"]["content"])["service"] == "nginx-edge"
    assert "deploy_hook('/srv/state.json')" in entries[HOOK]["content"]


def test_nginx_tls_entries_with_a_ca_bundle_give_certbot_its_ca(groups):
    v = planview.view("lb", extra_vars(nginx_acme_ca_bundle="/etc/ssl/certs/acme-ca.pem",
                                       nginx_acme_config_dir="/srv/letsencrypt"))
    entries = {e["path"]: e for e in nginx_tls.nginx_tls_entries(berth_plan.nginx(v), STATE)}
    assert entries[DROP_IN]["mode"] == "0644"
    assert "[Service]\nEnvironment=REQUESTS_CA_BUNDLE=/etc/ssl/certs/acme-ca.pem\n" in entries[DROP_IN]["content"]
    assert entries["/etc/systemd/system/certbot.service.d"]["state"] == "directory"
    assert "/srv/letsencrypt/renewal-hooks/deploy/berth-nginx" in entries and HOOK not in entries


@pytest.mark.parametrize("host", ["lb", "web1"])
def test_nginx_tls_entries_without_acme_remove_everything(groups, host):
    plan = berth_plan.nginx(planview.view(host))
    assert nginx_tls.nginx_tls_entries(plan, STATE) == [
        {"path": p, "state": "absent"} for p in (HOOK, LIB, STATE, DROP_IN)]
    files_only = {"sites": [{"name": "www", "tls": "files", "lineage": "", "server_names": ["www.example.test"]}],
                  "acme": None}
    assert all(e["state"] == "absent" for e in nginx_tls.nginx_tls_entries(files_only, STATE))


def test_the_filters_refuse_what_is_not_a_plan():
    with pytest.raises(AnsibleFilterError, match="nginx role's plan"):
        nginx_tls.nginx_tls_entries({"acme": None}, STATE)
    with pytest.raises(AnsibleFilterError, match="plan's sites and berth_acme's certs"):
        nginx_tls.nginx_tls_live({"www": {}}, {})
    sites = [{"name": "www", "tls": "acme"}, {"name": "api", "tls": "files"}]
    assert nginx_tls.nginx_tls_live(sites, {"www": {"ok": True}, "api": {"ok": False}}) == ["www"]
    assert set(nginx_tls.FilterModule().filters()) == {"nginx_tls_live", "nginx_tls_entries", "nginx_sites_report",
                                                       "nginx_site_url", "nginx_acme_undeleted", "nginx_tls_state_kept"}


# --- Reports: the port map's and the route report's site rows ---------------------------------------

def test_site_rows_say_whether_a_certificate_is_live_its_issuer_and_expiry():
    sites = [{"name": "www", "server_names": ["www.example.test", "example.test"], "tls": "acme"},
             {"name": "api", "server_names": ["api.example.test"], "tls": "acme"},
             {"name": "plain", "server_names": ["_"], "tls": "off"}]
    certs = {"www": {"ok": True, "issuer": "CN=Pebble Intermediate CA 6d6f,O=Pebble", "not_after": "2031-01-02T03:04:05Z",
                     "days_left": 1490},
             "api": {"ok": False, "problem": "no certificate at /etc/letsencrypt/live/api/fullchain.pem"}}
    www, api, plain = berth_tls.site_rows(sites, certs)
    assert www == {"site": "www", "names": "www.example.test example.test", "tls": "acme", "certificate": "live",
                   "issuer": "Pebble Intermediate CA 6d6f", "expires": "2031-01-02 (1490 days)"}
    assert api["certificate"] == "not live: no certificate at /etc/letsencrypt/live/api/fullchain.pem"
    assert api["issuer"] == api["expires"] == "-"
    assert plain == {"site": "plain", "names": "_", "tls": "off", "certificate": "-", "issuer": "-", "expires": "-"}


def test_the_port_map_prints_the_sites_after_the_ports():
    from ansible_collections.berth.stack.plugins.filter import berth_ports_report
    rows = [{"entry": "nginx_https", "port": 443, "status": "OK"}]
    sites = berth_tls.site_rows([{"name": "www", "server_names": ["www.example.test"], "tls": "acme"}],
                                {"www": {"ok": True, "issuer": "CN=R3", "not_after": "2031-01-02T03:04:05Z",
                                         "days_left": 9}})
    lines = berth_ports_report.berth_ports_table(rows, sites)
    assert lines[3] == ""
    assert lines[4].split() == ["site", "server", "names", "tls", "certificate", "issuer", "expires"]
    assert lines[6].split() == ["www", "www.example.test", "acme", "live", "R3", "2031-01-02", "(9", "days)"]
    assert berth_ports_report.berth_ports_table(rows) == lines[:3]
    hostvars = {"lb": {"r": {"ports": rows, "sites": sites}}}
    markdown = berth_ports_report.berth_ports_markdown(["lb"], hostvars, "r")
    assert "| www | www.example.test | acme | live | R3 | 2031-01-02 (9 days) |" in markdown


def _nginx_result(tls_live):
    return {"sites": [{"name": "www", "server_names": ["_", "www.example.test"], "default": True, "tls": "acme"},
                      {"name": "api", "server_names": ["api.example.test"], "default": False, "tls": "acme"}],
            "http": {"port": 8080, "bind": "0.0.0.0"}, "https": {"port": 8443, "bind": "0.0.0.0"},
            "decision": {"tls_live": tls_live, "certs": {}}}


def test_the_route_report_asks_the_default_site_by_its_name_over_https_once_its_certificate_is_live():
    assert nginx_tls.nginx_site_url(_nginx_result(["www"]), "/api/") == "https://www.example.test:8443/api/"
    assert nginx_tls.nginx_site_url(_nginx_result([]), "/api/") == "http://127.0.0.1:8080/api/"
    assert nginx_tls.nginx_site_url(_nginx_result(["api"]), "/") == "http://127.0.0.1:8080/"
    lines = nginx_tls.nginx_sites_report(_nginx_result([]))
    assert lines[0].split()[:3] == ["site", "server", "names"] and len(lines) == 4
    with pytest.raises(AnsibleFilterError, match="berth_plan role=nginx"):
        nginx_tls.nginx_site_url({"sites": []})


def test_the_berth_ports_plan_lists_the_sites_of_nginx_hosts_only(groups):
    lb = berth_plan.plan("berth_ports", planview.view("lb", extra_vars()))
    assert [s["name"] for s in lb["sites"]] == ["www", "api"]
    assert set(lb["sites"][0]) == {"name", "server_names", "tls", "certificate", "certificate_key"}
    assert berth_plan.plan("berth_ports", planview.view("db"))["sites"] == []
    assert [s["tls"] for s in berth_plan.plan("berth_ports", planview.view("web1"))["sites"]] == ["off"]


def test_a_one_site_inventory_needs_only_nginx_tls_and_a_contact_for_https():
    ctx = {"host": "edge1", "https": True, "https_entry": "nginx_https", "hsts": 31536000,
           "acme": {"directory": "https://acme.example.test/dir", "email": "ops@example.test", "key_type": "ecdsa"},
           "legacy": {"server_name": "www.example.test example.test", "tls": "acme"}}
    sites, problems = berth_sites.normalize_sites([], ctx)
    assert problems == []
    assert len(sites) == 1
    site = sites[0]
    assert (site["name"], site["server_names"], site["tls"], site["redirect"], site["hsts"], site["default"]) == (
        "default", ["www.example.test", "example.test"], "acme", True, 31536000, True)
    assert site["certificate"] == "/etc/letsencrypt/live/default/fullchain.pem"
    _, problems = berth_sites.normalize_sites([], dict(ctx, legacy={"server_name": "_", "tls": "acme"}))
    assert problems == ["nginx_server_name on edge1: '_' names no host, and nginx_tls is acme: a certificate is for "
                        "names. Fix: set nginx_server_name: www.example.com."]
    _, problems = berth_sites.normalize_sites([], dict(ctx, legacy={"server_name": "www.example.test", "tls": "tls"}))
    assert problems[0].startswith("nginx_tls on edge1: 'tls' is not one of acme, files, off.")
    _, problems = berth_sites.normalize_sites([], dict(ctx, acme=dict(ctx["acme"], email="")))
    assert problems[0].startswith("nginx_acme_email on edge1: '' is not a contact address, and sites default use")
    sites, _ = berth_sites.normalize_sites([], dict(ctx, legacy={"server_name": "www.example.test", "tls": "files",
                                                                "certificate": "/etc/ssl/www.pem",
                                                                "certificate_key": "/etc/ssl/www.key"}))
    assert (sites[0]["certificate"], sites[0]["certificate_key"]) == ("/etc/ssl/www.pem", "/etc/ssl/www.key")


def test_an_acme_site_whose_names_changed_keeps_serving_its_previous_certificate(tmp_path, ca):
    """Names added to a site: its certificate no longer covers them (not ok, so it is issued again),
    but it is valid and matches its key, so it keeps serving until the new one is issued. A
    certificate that does not match its key, or a files site's, never does."""
    cert, key = ca.issue(["www.example.test"])
    cert_path, key_path = write_pair(tmp_path, cert, key, ca)
    out = berth_tls.inspect(cert_path, key_path, ["www.example.test", "new.example.test"], now=NOW)
    assert (out["ok"], out["servable"]) == (False, True)
    assert "does not cover new.example.test" in out["problem"]
    sites = [{"name": "www", "tls": "acme"}, {"name": "files", "tls": "files"}]
    assert berth_sites.live_tls(sites, {"www": out, "files": out}) == ["www"]
    other, _ = ca.issue(["www.example.test"])
    (tmp_path / "other").mkdir()
    other_path, _ = write_pair(tmp_path / "other", other, ca.issue(["x.example.test"])[1], ca)
    mismatch = berth_tls.inspect(other_path, key_path, ["www.example.test"], now=NOW)
    assert (mismatch["ok"], mismatch["servable"]) == (False, False)
    assert berth_sites.live_tls(sites, {"www": mismatch}) == []


def test_only_the_lineages_berth_wrote_for_sites_that_are_gone_are_stale():
    state = json.dumps({"service": "nginx", "sites": {"www": {}, "api": {}, "old": {}}})
    sites = [{"name": "www", "lineage": "www", "tls": "acme"}, {"name": "api", "lineage": "", "tls": "files"}]
    assert berth_sites.stale_lineages(state, sites) == ["api", "old"]
    assert berth_sites.stale_lineages(None, sites) == []
    assert berth_sites.stale_lineages("not json", sites) == []
    assert berth_sites.stale_lineages(json.dumps({"sites": {"../etc": {}}}), []) == []
    assert berth_sites.certbot_delete_argv("old", "/etc/letsencrypt") == [
        "certbot", "delete", "--non-interactive", "--config-dir", "/etc/letsencrypt", "--cert-name", "old"]


def test_the_plan_deletes_the_certificates_of_acme_sites_that_are_gone(groups):
    v = planview.view("lb", extra_vars([SITES[0]]))
    section = berth_plan.nginx(v)
    assert "/etc/nginx/berth-tls.json" in berth_plan.probe_args("nginx", v, section)["read"]
    state = json.dumps({"sites": {"www": {"server_names": ["www.example.test"]},
                                  "api": {"server_names": ["api.example.test"]}}})
    probe = {"host": {"files": {"/etc/nginx/berth-tls.json": state}, "tls": {}}}
    decision = berth_plan.decide("nginx", v, section, probe)
    assert [item["lineage"] for item in decision["acme_stale"]] == ["api"]
    assert decision["acme_stale"][0]["argv"][-2:] == ["--cert-name", "api"]


def test_a_failed_delete_keeps_the_lineage_listed_so_that_the_next_run_deletes_it_again(groups):
    v = planview.view("lb", extra_vars([SITES[0]]))
    section = berth_plan.nginx(v)
    before = json.dumps({"service": "nginx", "sites": {"www": {"server_names": ["www.example.test"]},
                                                       "api": {"server_names": ["api.example.test"]},
                                                       "old": {"server_names": ["old.example.test"]}}})
    probe = {"host": {"files": {STATE: before}, "tls": {}}}
    plan = dict(section, probe=probe, decision=berth_plan.decide("nginx", v, section, probe))
    assert [item["lineage"] for item in plan["decision"]["acme_stale"]] == ["api", "old"]
    # certbot failed on "api" and deleted "old" (the registered result of the delete loop).
    deleted = {"results": [
        {"item": plan["decision"]["acme_stale"][0], "failed": True, "rc": 1,
         "stderr": "Saving debug log to /var/log/letsencrypt/letsencrypt.log\nNo certificate found with name api\n"},
        {"item": plan["decision"]["acme_stale"][1], "changed": True, "rc": 0, "stderr": ""}]}
    undeleted = nginx_tls.nginx_acme_undeleted(deleted)
    assert undeleted == [{"lineage": "api", "error": "No certificate found with name api"}]
    assert nginx_tls.nginx_acme_undeleted({"results": [{"item": {"lineage": "x"}, "failed": True, "rc": 2}]}) == [
        {"lineage": "x", "error": "rc 2"}]
    [entry] = nginx_tls.nginx_tls_state_kept(plan, STATE, "nginx", [u["lineage"] for u in undeleted])
    assert (entry["path"], entry["owner"], entry["mode"]) == (STATE, "root", "0644")
    www = {"server_names": [s for s in section["sites"] if s["name"] == "www"][0]["server_names"]}
    assert json.loads(entry["content"]) == {"service": "nginx", "sites": {
        "www": www, "api": {"server_names": ["api.example.test"]}}}
    # A normal run writes the file without it.
    normal = {e["path"]: e for e in nginx_tls.nginx_tls_entries(plan, STATE)}[STATE]["content"]
    assert json.loads(normal)["sites"] == {"www": www}
    # The next run's plan reads the kept file and deletes it again.
    again = {"host": {"files": {STATE: entry["content"]}, "tls": {}}}
    assert [item["lineage"] for item in berth_plan.decide("nginx", v, section, again)["acme_stale"]] == ["api"]
    with pytest.raises(AnsibleFilterError, match="registered result"):
        nginx_tls.nginx_acme_undeleted(["api"])
