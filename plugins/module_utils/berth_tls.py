#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Nginx sites as data, their certificates, and the renewal hook that puts a certificate live.

Self-contained (the standard library, and ``cryptography`` where a certificate is read): the
planner imports it on the controller, the nginx role's modules on the host, and the role copies
this very file to the host, where certbot's deploy hook runs it after a renewal (``deploy_hook``).

``normalize_sites(value, ctx)``
    ``nginx_sites`` (or, when it is empty, the one site today's variables describe) as complete
    site records, and every problem with the variable, the host and the fix.
``inspect(cert_path, key_path, names, now)``
    What a certificate on the host is: present, its expiry, issuer, serial and names, and the
    reason it must not go live (missing, expired, not yet valid, not matching its key or a name;
    ``servable``: valid now and matching its key, whatever names it covers).
``certbot_argv(site, acme)``
    The one ``certbot certonly`` command that issues a site's certificate over HTTP-01 through
    Nginx's own challenge location.
``deploy_hook(config_path)``
    certbot's deploy hook: the renewed certificate goes live only when it passes ``inspect`` and
    ``nginx -t``; otherwise the lineage's links go back to the previous certificate and the hook
    fails, saying why (certbot.service fails with that text in its journal).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys

TLS_MODES = ("acme", "files", "off")
KEY_TYPES = ("ecdsa", "rsa")
SITE_KEYS = ("name", "server_names", "routes", "tls", "certificate", "certificate_key", "redirect", "hsts",
             "default")
SITE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
PATH_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+/?$")
ROUTE_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,=:@%/-]*$")
# Where certbot keeps a lineage's current files (its --config-dir is /etc/letsencrypt).
LIVE_FILES = ("cert", "chain", "fullchain", "privkey")
LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class SiteProblems(object):
    def __init__(self, host):
        self.host = host
        self.items = []

    def add(self, variable, text, fix):
        self.items.append("%s on %s: %s. Fix: %s." % (variable, self.host, text, fix))


def name_error(name, wildcard=False):
    """Why ``name`` is not a DNS host name (``*.`` first label only with ``wildcard``), or None."""
    if not isinstance(name, str) or not name:
        return "%r is not a host name" % (name,)
    text = name[2:] if wildcard and name.startswith("*.") else name
    if len(name) > 253 or not all(LABEL_RE.match(label) for label in text.split(".")) or "." not in text:
        return ("%r is not a fully qualified host name (lower-case letters, digits and '-' in labels "
                "separated by '.'%s)" % (name, "; '*.' first for a wildcard" if wildcard else ""))
    return None


def _flag(value):
    return value if isinstance(value, bool) else None


def normalize_sites(value, ctx):
    """``(sites, problems)`` for one host.

    ``ctx``: ``host``; ``https`` (the nginx_https entry applies to the host and is enabled),
    ``https_port``, ``https_entry`` (its name); ``legacy`` (``server_name``, ``tls``,
    ``certificate``, ``certificate_key``: the one-site variables; with ``tls`` set the one site is
    a site like any other, named ``default``); ``acme`` (``directory``, ``email``,
    ``key_type``, ``config_dir``); ``routes`` (route name -> the locations' prefixes it stands for:
    the apps of the host, or of a load balancer's backends), ``hsts`` (default max-age).
    Each site: ``name, server_names, default, routes (names or prefixes; [] = every route), tls,
    certificate, certificate_key, lineage (acme: certbot's --cert-name), redirect, hsts``.
    """
    problems = SiteProblems(ctx.get("host", "this host"))
    acme = dict(ctx.get("acme") or {})
    config_dir = str(acme.get("config_dir") or "/etc/letsencrypt").rstrip("/")
    https = bool(ctx.get("https"))
    legacy = dict(ctx.get("legacy") or {})
    if value in (None, [], "") and legacy.get("tls"):
        # The one site with nginx_tls: a site like any other, named "default".
        names = str(legacy.get("server_name") or "_").split(" ")
        if legacy["tls"] not in TLS_MODES:
            problems.add("nginx_tls", "%r is not one of %s" % (legacy["tls"], ", ".join(TLS_MODES)),
                         "write acme, files or off (or leave it empty: TLS from the nginx_tls_* files when the "
                         "HTTPS entry is enabled)")
            return [], problems.items
        if legacy["tls"] != "off" and "_" in names:
            problems.add("nginx_server_name", "%r names no host, and nginx_tls is %s: a certificate is for names"
                         % (legacy.get("server_name"), legacy["tls"]), "set nginx_server_name: www.example.com")
            return [], problems.items
        value = [{"name": "default", "server_names": names, "tls": legacy["tls"]}]
        if legacy["tls"] == "files":
            value[0].update(certificate=legacy.get("certificate") or None,
                            certificate_key=legacy.get("certificate_key") or None)
    if value in (None, [], ""):
        names = str(legacy.get("server_name") or "_").split(" ")
        tls = "files" if https else "off"
        return [{"name": "default", "server_names": names, "default": True, "routes": [], "tls": tls,
                 "certificate": str(legacy.get("certificate") or "") if https else "",
                 "certificate_key": str(legacy.get("certificate_key") or "") if https else "",
                 "lineage": "", "redirect": False, "hsts": 0, "legacy": True}], []
    if not isinstance(value, list):
        problems.add("nginx_sites", "%r is not a list of sites" % (value,),
                     "write a list, e.g. [{name: www, server_names: [www.example.com], tls: acme}]")
        return [], problems.items
    sites, seen_names, seen_sites = [], {}, set()
    routes_known = ctx.get("routes") or {}
    for index, raw in enumerate(value):
        var = "nginx_sites[%d]" % index
        if not isinstance(raw, dict):
            problems.add(var, "%r is not a mapping" % (raw,), "write {name: www, server_names: [www.example.com]}")
            continue
        unknown = sorted(str(k) for k in raw if k not in SITE_KEYS)
        if unknown:
            problems.add(var, "unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(SITE_KEYS)),
                         "correct the spelling or remove them")
        name = raw.get("name")
        if not isinstance(name, str) or not SITE_NAME_RE.match(name):
            problems.add(var + ".name", "%r is not a site name (lower-case letters, digits, '-', '_'; at most 63)"
                         % (name,), "write e.g. www")
            name = "site%d" % index
        elif name in seen_sites:
            problems.add(var + ".name", "site %s is defined twice" % name, "give each site its own name")
        seen_sites.add(name)
        var = "nginx_sites.%s" % name
        tls = raw.get("tls", "off")
        if tls is False:
            tls = "off"
        if tls not in TLS_MODES:
            problems.add(var + ".tls", "%r is not one of %s" % (tls, ", ".join(TLS_MODES)),
                         "write acme (certificates from the ACME directory), files or off")
            tls = "off"
        names = raw.get("server_names")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names:
            problems.add(var + ".server_names", "%r is not a non-empty list of host names" % (names,),
                         "write e.g. [www.example.com, example.com]")
            names = []
        for server_name in names:
            err = None if (server_name == "_" and tls == "off") else name_error(server_name, wildcard=tls == "files")
            if err:
                problems.add(var + ".server_names", err, "write e.g. www.example.com (a wildcard only with tls: files;"
                             " _ only for a site without TLS)")
            elif server_name in seen_names:
                problems.add(var + ".server_names", "%s is a server name of site %s too" % (server_name,
                                                                                          seen_names[server_name]),
                             "give each name to one site")
            else:
                seen_names[server_name] = name
        routes = raw.get("routes", [])
        if not isinstance(routes, list):
            problems.add(var + ".routes", "%r is not a list of apps or path prefixes" % (routes,),
                         "write e.g. [hbnb_api] or [/api/]")
            routes = []
        for route in routes:
            if not isinstance(route, str) or (route not in routes_known and not ROUTE_RE.match(route)):
                problems.add(var + ".routes", "%r is neither an app of this host (%s) nor a path prefix" % (
                    route, ", ".join(sorted(routes_known)) or "none"), "name an app of flask_apps or write a "
                             "path such as /api/")
        redirect = raw.get("redirect", tls != "off")
        if _flag(redirect) is None:
            problems.add(var + ".redirect", "%r is not true or false" % (redirect,), "write true or false")
            redirect = False
        hsts = raw.get("hsts", ctx.get("hsts", 0) if tls != "off" else 0)
        if isinstance(hsts, bool) or not isinstance(hsts, int) or hsts < 0:
            problems.add(var + ".hsts", "%r is not a max-age in seconds (0 = no HSTS header)" % (hsts,),
                         "write e.g. 31536000")
            hsts = 0
        default = raw.get("default", False)
        if _flag(default) is None:
            problems.add(var + ".default", "%r is not true or false" % (default,), "write true or false")
            default = False
        site = {"name": name, "server_names": list(names), "default": bool(default), "routes": list(routes),
                "tls": tls, "certificate": "", "certificate_key": "", "lineage": "", "redirect": bool(redirect),
                "hsts": hsts, "legacy": False}
        if tls == "files":
            for key in ("certificate", "certificate_key"):
                path = raw.get(key)
                if not isinstance(path, str) or not PATH_RE.match(path):
                    problems.add("%s.%s" % (var, key), "%r is not an absolute path" % (path,),
                                 "write the path of the PEM %s on the host" % ("chain" if key == "certificate"
                                                                               else "private key"))
                else:
                    site[key] = path
        elif raw.get("certificate") or raw.get("certificate_key"):
            problems.add(var + ".certificate", "certificate files are read only with tls: files (this site has "
                         "tls: %s)" % tls, "remove certificate and certificate_key, or set tls: files")
        if tls == "acme":
            site["lineage"] = name
            site["certificate"] = "%s/live/%s/fullchain.pem" % (config_dir, name)
            site["certificate_key"] = "%s/live/%s/privkey.pem" % (config_dir, name)
        if tls != "off" and not https:
            problems.add(var + ".tls", "tls: %s needs the HTTPS registry entry %s enabled on this host, and it is "
                         "disabled or not opened here" % (tls, ctx.get("https_entry", "nginx_https")),
                         "enable berth_ports.%s for this host's group (berth_ports_overrides: {%s: {enabled: true}})"
                         " or set tls: off" % ((ctx.get("https_entry", "nginx_https"),) * 2))
        if redirect and tls == "off":
            problems.add(var + ".redirect", "a redirect to HTTPS needs TLS, and this site has tls: off",
                         "set tls: acme or files, or remove redirect")
        sites.append(site)
    if any(s["tls"] == "acme" for s in sites):
        if not EMAIL_RE.match(str(acme.get("email") or "")):
            problems.add("nginx_acme_email", "%r is not a contact address, and sites %s use tls: acme" % (
                acme.get("email"), ", ".join(s["name"] for s in sites if s["tls"] == "acme")),
                "set nginx_acme_email: ops@example.com (the ACME directory's account contact)")
        if not URL_RE.match(str(acme.get("directory") or "")):
            problems.add("nginx_acme_directory", "%r is not an https:// URL" % (acme.get("directory"),),
                         "write %s (staging: %s)" % (LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING))
        if acme.get("key_type") not in KEY_TYPES:
            problems.add("nginx_acme_key_type", "%r is not one of %s" % (acme.get("key_type"), ", ".join(KEY_TYPES)),
                         "write ecdsa or rsa")
    defaults = [s["name"] for s in sites if s["default"]]
    if len(defaults) > 1:
        problems.add("nginx_sites", "sites %s are all marked default" % ", ".join(defaults),
                     "mark one site default: true (the one that answers requests for unknown names)")
    elif sites and not defaults:
        sites[0]["default"] = True
    return sites, problems.items


def site_locations(site, locations, mode):
    """The locations one site serves. A web host: the apps' locations its routes select (an app name
    selects its every location, a prefix the location with that prefix). A load balancer: the
    locations ``lb_locations`` made of its routes (``locations``), every path when it lists none."""
    routes = site.get("routes") or []
    if mode == "lb":
        return list(locations) if routes else [{"prefix": "/", "exact": False}]
    if not routes:
        return list(locations)
    return [loc for loc in locations if loc.get("app") in routes or loc.get("prefix") in routes]


def lb_locations(routes, app_routes):
    """A load balancer site's locations: each route prefix, and for an app name the public paths of
    that app's routes on the backends (``app_routes``: app name -> ``[{prefix, exact}]``), each once.
    An app without public paths there is a ``ValueError`` (the site would route nothing of it)."""
    out = []
    for route in routes:
        if route in app_routes:
            if not app_routes[route]:
                raise ValueError("app %s has no public route on the backends" % route)
            items = app_routes[route]
        else:
            items = [{"prefix": route, "exact": False}]
        for item in items:
            item = {"prefix": item["prefix"], "exact": bool(item.get("exact"))}
            if item not in out:
                out.append(item)
    return out


# --- Certificates (on the host) --------------------------------------------------------------------

def _utc(when):
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def covers(patterns, name):
    """Whether a certificate's DNS names ``patterns`` cover ``name`` (one-label wildcards)."""
    name = name.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def inspect(cert_path, key_path, names, now=None):
    """A certificate and key on this host: ``{present, ok, problem, not_after, days_left, issuer,
    serial, names}``; ``problem`` says why it must not go live (``ok`` false)."""
    out = {"present": False, "ok": False, "servable": False, "problem": "", "not_after": "", "days_left": None,
           "issuer": "", "serial": "", "names": [], "inspected": True}
    if not os.path.exists(cert_path):
        out["problem"] = "no certificate at %s" % cert_path
        return out
    out["present"] = True
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        out.update(inspected=False, problem="python3-cryptography is not installed, so the certificate cannot be read")
        return out
    try:
        with open(cert_path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError) as exc:
        out["problem"] = "%s is not a PEM certificate (%s)" % (cert_path, exc)
        return out
    now = _utc(now or datetime.datetime.now(datetime.timezone.utc))
    not_after = _utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)
    not_before = _utc(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    out.update(not_after=not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), days_left=(not_after - now).days,
               issuer=cert.issuer.rfc4514_string(), serial="%x" % cert.serial_number, names=list(dns))
    missing = [n for n in names if n != "_" and not covers(dns, n)]
    if not_after <= now:
        out["problem"] = "%s expired on %s" % (cert_path, out["not_after"])
    elif not_before > now:
        out["problem"] = "%s is not valid before %s" % (cert_path, not_before.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if out["problem"]:
        return out
    try:
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        out["problem"] = "the key %s cannot be read (%s)" % (key_path, type(exc).__name__)
        return out
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != cert.public_key().public_bytes(der, pub):
        out["problem"] = "%s does not match its key %s" % (cert_path, key_path)
        return out
    # Valid now and matching its key: it may keep serving the names it covers while a certificate
    # for the site's new names is issued (``servable``); it is ``ok`` only when it covers them all.
    out["servable"] = True
    if missing:
        out["problem"] = "%s does not cover %s (its names: %s)" % (cert_path, ", ".join(missing),
                                                                  ", ".join(dns) or "none")
        return out
    out["ok"] = True
    return out


def inspect_sites(sites, now=None):
    """Site name -> ``inspect`` of its certificate, for the sites with TLS."""
    return {s["name"]: inspect(s["certificate"], s["certificate_key"], s["server_names"], now)
            for s in sites if s.get("tls") in ("acme", "files")}


def live_tls(sites, certs):
    """The sites whose certificate may go live: present, valid now, matching its key and covering
    the site's names - or, for an ACME site whose names changed, still valid and matching its key
    (the previous certificate keeps serving what it covers until the new one is issued)."""
    def live(site):
        cert = certs.get(site["name"]) or {}
        return bool(cert.get("ok") or (site.get("tls") == "acme" and cert.get("servable")))
    return sorted(s["name"] for s in sites if s.get("tls") in ("acme", "files") and live(s))


def _issuer_name(issuer):
    """The CN of an RFC 4514 issuer (``CN=Pebble Intermediate CA 1a2b3c,O=...``), else the whole text."""
    match = re.search(r"(?:^|,)CN=((?:\\,|[^,])+)", issuer or "")
    return match.group(1).replace("\\,", ",") if match else (issuer or "")


def site_rows(sites, certs):
    """One report row per site: ``site, names, tls, certificate`` (live / why not), ``issuer``,
    ``expires`` (date and days left) - what the port map and the route report print."""
    rows = []
    for site in sites or []:
        cert = certs.get(site["name"]) or {}
        row = {"site": site["name"], "names": " ".join(site["server_names"]), "tls": site["tls"],
               "certificate": "-", "issuer": "-", "expires": "-"}
        if site["tls"] != "off":
            row["certificate"] = "live" if cert.get("ok") else "not live: %s" % (cert.get("problem") or "not read")
            if cert.get("not_after"):
                row["issuer"] = _issuer_name(cert.get("issuer"))
                row["expires"] = "%s (%s days)" % (cert["not_after"][:10], cert.get("days_left"))
        rows.append(row)
    return rows


def stale_lineages(state_text, sites):
    """The certbot lineages berth issued for sites that are gone: those the role's state file
    (``nginx_tls_state_file``, as the host holds it) lists and no ACME site of the plan has any more.
    Lineages berth never wrote there (another tool's) are never listed."""
    try:
        before = (json.loads(state_text or "{}") or {}).get("sites") or {}
    except (ValueError, AttributeError):
        return []
    now = {s.get("lineage") for s in sites or [] if s.get("tls") == "acme"}
    return sorted(str(name) for name in before if name not in now and SITE_NAME_RE.match(str(name)))


def certbot_delete_argv(lineage, config_dir):
    """``certbot delete`` of one lineage (its certificates, keys and renewal configuration)."""
    return ["certbot", "delete", "--non-interactive", "--config-dir", config_dir, "--cert-name", lineage]


def certbot_argv(site, acme):
    """``certbot certonly`` for one site: HTTP-01 through the webroot Nginx serves the challenge
    from, non-interactive, the lineage named after the site (a changed name list replaces its
    names; an invalid certificate is replaced)."""
    argv = [acme.get("certbot", "certbot"), "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
            "--email", acme["email"], "--server", acme["directory"], "--config-dir", acme["config_dir"],
            "--webroot", "--webroot-path", acme["webroot"], "--cert-name", site["lineage"],
            "--key-type", acme["key_type"], "--force-renewal"]
    for name in site["server_names"]:
        argv += ["-d", name]
    return argv


def certbot_reason(output):
    """The lines of certbot's output that say why it failed (its own summary, else the tail)."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    wanted = [line for line in lines if re.search(r"(?i)error|detail|fail|problem|unable|refused|timeout|denied",
                                                  line) and "Saving debug log" not in line
              and not line.startswith("Ask for help")]
    return " | ".join((wanted or lines)[-6:])


# --- certbot's deploy hook (on the host) -----------------------------------------------------------

def _versions(live_dir):
    """The archive version each file of a live lineage links to (certbot's certN.pem), or None."""
    versions = {}
    for kind in LIVE_FILES:
        try:
            target = os.readlink(os.path.join(live_dir, kind + ".pem"))
        except OSError:
            return None, {}
        match = re.search(r"%s(\d+)\.pem$" % kind, target)
        if not match:
            return None, {}
        versions[kind] = (int(match.group(1)), target)
    return versions, {k: v[1] for k, v in versions.items()}


REJECTED_SUFFIX = ".berth-rejected"


def roll_back(live_dir):
    """Point a lineage's live links at its newest earlier complete version, and take the rejected
    version's files out of certbot's numbering (``<kind>N.pem.berth-rejected``): certbot's next run
    then neither links them again nor counts the lineage as renewed, and retries. Returns the version
    now live, or None when there is none to go back to (nothing is changed then)."""
    versions, targets = _versions(live_dir)
    if not versions:
        return None
    current = versions["cert"][0]

    def target(kind, number):
        return re.sub(r"%s\d+\.pem$" % kind, "%s%d.pem" % (kind, number), targets[kind])

    previous = next((n for n in range(current - 1, 0, -1)
                     if all(os.path.exists(os.path.join(live_dir, target(k, n))) for k in LIVE_FILES)), None)
    if previous is None:
        return None
    for kind in LIVE_FILES:
        link = os.path.join(live_dir, kind + ".pem")
        tmp = link + ".berth-tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(target(kind, previous), tmp)
        os.replace(tmp, link)
    for kind in LIVE_FILES:
        rejected = os.path.join(live_dir, target(kind, current))
        if os.path.exists(rejected):
            os.replace(rejected, rejected + REJECTED_SUFFIX)
    return previous


def deploy_hook(config_path, env=None, run=subprocess.run, out=sys.stderr):
    """certbot's deploy hook: ``RENEWED_LINEAGE`` (live/<site>) passed ``inspect`` against the
    site's names from ``config_path`` (the nginx role's berth-tls.json) and ``nginx -t``, then Nginx
    reloads. On a failure the lineage goes back to its previous certificate, Nginx keeps serving
    it, and the hook exits 1 with the reason (certbot reports the hook's failure)."""
    env = os.environ if env is None else env
    lineage = env.get("RENEWED_LINEAGE", "")
    site_name = os.path.basename(lineage.rstrip("/"))
    try:
        with open(config_path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        out.write("berth: cannot read %s (%s); Nginx is not reloaded\n" % (config_path, exc))
        return 1
    site = (config.get("sites") or {}).get(site_name)
    if not site:
        out.write("berth: %s is not a site of this host's Nginx (%s); nothing to reload\n" % (lineage, config_path))
        return 0
    problem = inspect(os.path.join(lineage, "fullchain.pem"), os.path.join(lineage, "privkey.pem"),
                      site["server_names"])["problem"]
    if not problem:
        test = run(["nginx", "-t", "-q"], capture_output=True, text=True)
        if test.returncode != 0:
            problem = "nginx -t rejected the configuration with the renewed certificate: %s" % (
                (test.stderr or test.stdout).strip())
    if problem:
        back = roll_back(lineage)
        out.write("berth: the renewed certificate of site %s does not go live: %s. %s\n" % (
            site_name, problem, ("Its live links point at the previous certificate (version %d) again; Nginx keeps "
                                 "serving it." % back) if back else "There is no previous certificate to go back to; "
                                                                    "Nginx keeps serving the one it loaded."))
        return 1
    reload_ = run(["systemctl", "reload", config.get("service") or "nginx"], capture_output=True, text=True)
    if reload_.returncode != 0:
        out.write("berth: systemctl reload %s failed: %s\n" % (config.get("service") or "nginx",
                                                                 reload_.stderr.strip()))
        return 1
    out.write("berth: site %s serves its renewed certificate (Nginx reloaded)\n" % site_name)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by the hook file the nginx role installs
    sys.exit(deploy_hook(sys.argv[1] if len(sys.argv) > 1 else "/etc/nginx/berth-tls.json"))
