#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Nginx sites' certificates on the host, and the renewal hook that puts a certificate live.

Self-contained (the standard library, and ``cryptography`` where a certificate is read): the nginx
role's modules run it on the host, and the role copies this very file to the host, where certbot's
deploy hook runs it after a renewal (``deploy_hook``). The sites themselves (``nginx_sites``
checked, their routes, which certificates may go live) are ``berth_sites``, on the controller.

``inspect(cert_path, key_path, names, now)``
    What a certificate on the host is: present, its expiry, issuer, serial and names, and the
    reason it must not go live (missing, expired, not yet valid, not matching its key or a name;
    ``servable``: valid now and matching its key, whatever names it covers).
``served_matches(cert_path, address, port, server_name)``
    Whether Nginx serves that certificate file now (a file replaced on the host is served only
    after a reload).
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

# Where certbot keeps a lineage's current files (its --config-dir is /etc/letsencrypt).
LIVE_FILES = ("cert", "chain", "fullchain", "privkey")
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


def served_matches(cert_path, address, port, server_name="", timeout=2.0):
    """Whether Nginx at ``address:port`` serves the certificate of ``cert_path`` for ``server_name``
    (SNI; none when empty): True or False, or None when that cannot be told (nothing answers there,
    no TLS, or the file is no certificate). Only the first certificate of the file is compared (the
    leaf), byte for byte."""
    import socket
    import ssl
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        with open(cert_path, "rb") as handle:
            leaf = x509.load_pem_x509_certificate(handle.read()).public_bytes(serialization.Encoding.DER)
    except (ImportError, OSError, ValueError):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, int(port)), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_name or None) as conn:
                served = conn.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return served == leaf if served else None


def inspect_sites(sites, now=None):
    """Site name -> ``inspect`` of its certificate, for the sites with TLS."""
    return {s["name"]: inspect(s["certificate"], s["certificate_key"], s["server_names"], now)
            for s in sites if s.get("tls") in ("acme", "files")}


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
