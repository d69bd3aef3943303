# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Nginx sites as data (controller side): the planner's ``nginx_sites`` checked and completed.

``normalize_sites(value, ctx)``
    ``nginx_sites`` (or, when it is empty, the one site today's variables describe) as complete
    site records, and every problem with the variable, the host and the fix (``berth_apps``' rules
    for paths and route prefixes).
``site_locations`` / ``lb_locations``
    The locations one site serves on a web host / on a load balancer.
``live_tls(sites, certs)``
    The sites whose certificate (``berth_tls.inspect`` on the host) may go live.
``stale_lineages(state_text, sites)``
    The certbot lineages berth issued for sites that are gone.
"""

from __future__ import annotations

import json
import re

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_apps as apps_core
except ImportError:  # outside Ansible: the files beside this one
    import berth_apps as apps_core  # type: ignore

TLS_MODES = ("acme", "files", "off")
KEY_TYPES = ("ecdsa", "rsa")
SITE_KEYS = ("name", "server_names", "routes", "tls", "certificate", "certificate_key", "redirect", "hsts",
             "default")
SITE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


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
    problems = apps_core._Checker(ctx.get("host", "this host"))
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
            return [], problems.problems
        if legacy["tls"] != "off" and "_" in names:
            problems.add("nginx_server_name", "%r names no host, and nginx_tls is %s: a certificate is for names"
                         % (legacy.get("server_name"), legacy["tls"]), "set nginx_server_name: www.example.com")
            return [], problems.problems
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
        return [], problems.problems
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
            if not isinstance(route, str) or (route not in routes_known and not apps_core.PREFIX_RE.match(route)):
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
                if not isinstance(path, str) or not apps_core.DIR_RE.match(path):
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
    return sites, problems.problems


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


def live_tls(sites, certs):
    """The sites whose certificate may go live: present, valid now, matching its key and covering
    the site's names - or, for an ACME site whose names changed, still valid and matching its key
    (the previous certificate keeps serving what it covers until the new one is issued)."""
    def live(site):
        cert = certs.get(site["name"]) or {}
        return bool(cert.get("ok") or (site.get("tls") == "acme" and cert.get("servable")))
    return sorted(s["name"] for s in sites if s.get("tls") in ("acme", "files") and live(s))


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


def tls_state(service, sites, previous_text="", keep=()):
    """The text of the nginx role's state file (``nginx_tls_state_file``): the Nginx unit certbot's
    renewal hook reloads and, per ACME site's lineage, its server names. ``keep``: lineages of
    sites that are gone whose ``certbot delete`` failed, listed as ``previous_text`` (the file as
    the host held it) had them, so that the next run deletes them again."""
    state = {"service": service, "sites": {s["lineage"]: {"server_names": s["server_names"]}
                                           for s in sites or [] if s.get("tls") == "acme"}}
    if keep:
        try:
            before = (json.loads(previous_text or "{}") or {}).get("sites") or {}
        except (ValueError, AttributeError):
            before = {}
        for name in keep:
            state["sites"].setdefault(str(name), before.get(name) or {"server_names": []})
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


def undeleted(results):
    """The lineages whose ``certbot delete`` failed, from the registered result of the role's
    delete loop: [{"lineage", "error"}] (certbot's last line of error output, or its rc)."""
    out = []
    for result in (results or {}).get("results") or []:
        if not result.get("failed"):
            continue
        lines = [l for l in str(result.get("stderr") or result.get("msg") or "").splitlines() if l.strip()]
        out.append({"lineage": str((result.get("item") or {}).get("lineage") or ""),
                    "error": lines[-1].strip() if lines else "rc %s" % result.get("rc")})
    return out


def certbot_delete_argv(lineage, config_dir):
    """``certbot delete`` of one lineage (its certificates, keys and renewal configuration)."""
    return ["certbot", "delete", "--non-interactive", "--config-dir", config_dir, "--cert-name", lineage]
