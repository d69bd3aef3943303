# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The nginx role's TLS helpers: which sites' certificates may go live, and the files of certbot's
renewal hook. Thin wrappers over ``plugins/module_utils/berth_sites.py`` and ``berth_tls.py``. Documentation:
nginx_tls_live.yml, nginx_tls_entries.yml, nginx_acme_undeleted.yml and nginx_tls_state_kept.yml."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.filter.berth_ports_report import SITE_COLUMNS, aligned
from ansible_collections.berth.stack.plugins.module_utils import berth_registry
from ansible_collections.berth.stack.plugins.module_utils import berth_sites
from ansible_collections.berth.stack.plugins.module_utils import berth_tls as core

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
# Where the renewal hook imports berth_tls from on the host (a copy of the one source).
LIB_DIR = "/usr/local/lib/berth"
HOOK = """#!/usr/bin/python3
# Managed by berth (roles/nginx). certbot runs this after it renewed a certificate: the certificate
# goes live only when it passes berth_tls.inspect and nginx -t (berth_tls.deploy_hook).
import sys

sys.path.insert(0, %r)
import berth_tls  # noqa: E402

sys.exit(berth_tls.deploy_hook(%r))
"""
DROP_IN_PATH = "/etc/systemd/system/certbot.service.d/berth.conf"
DROP_IN = """# Managed by berth (roles/nginx): the CA bundle certbot trusts for the ACME directory's HTTPS.
[Service]
Environment=REQUESTS_CA_BUNDLE=%s
"""


def nginx_tls_live(sites, certs):
    """The names of the sites whose certificate may go live (berth_sites.live_tls)."""
    if not isinstance(sites, list) or not isinstance(certs, dict):
        raise AnsibleFilterError("nginx_tls_live expects the plan's sites and berth_acme's certs")
    return berth_sites.live_tls(sites, certs)


def nginx_tls_entries(plan, state_file, service="nginx"):
    """berth_files entries for ACME sites: the challenge webroot, the renewal hook with the berth_tls
    copy it imports (compiled before it goes live), the sites' names the hook checks, and
    certbot.service's CA bundle (nginx_acme_ca_bundle); their removal when no site uses ACME."""
    if not isinstance(plan, dict) or "sites" not in plan:
        raise AnsibleFilterError("nginx_tls_entries expects the nginx role's plan (berth.stack.berth_plan role=nginx)")
    acme = plan.get("acme")
    hook = "%s/renewal-hooks/deploy/berth-nginx" % ((acme or {}).get("config_dir") or "/etc/letsencrypt")
    lib = "%s/berth_tls.py" % LIB_DIR
    if not acme:
        return [{"path": p, "state": "absent"} for p in (hook, lib, state_file, DROP_IN_PATH)]
    root = {"owner": "root", "group": "root"}
    entries = [
        dict(root, path=acme["webroot"], state="directory", mode="0755"),
        dict(root, path=LIB_DIR, state="directory", mode="0755"),
        dict(root, path=lib, mode="0644", file=os.path.join(MODULE_UTILS, "berth_tls.py"),
             validate="python3 -m py_compile %s"),
        dict(root, path=state_file, mode="0644", content=berth_sites.tls_state(service, plan["sites"])),
        dict(root, path=os.path.dirname(hook), state="directory", mode="0755"),
        dict(root, path=hook, mode="0755", content=HOOK % (LIB_DIR, state_file),
             validate="python3 -m py_compile %s"),
    ]
    if acme.get("ca_bundle"):
        entries += [dict(root, path=os.path.dirname(DROP_IN_PATH), state="directory", mode="0755"),
                    dict(root, path=DROP_IN_PATH, mode="0644", content=DROP_IN % acme["ca_bundle"])]
    else:
        entries.append({"path": DROP_IN_PATH, "state": "absent"})
    return entries


def nginx_acme_undeleted(results):
    """The gone sites' lineages whose certbot delete failed, with certbot's error
    (berth_sites.undeleted over the delete loop's registered result)."""
    if not isinstance(results, dict):
        raise AnsibleFilterError("nginx_acme_undeleted expects the registered result of the certbot delete loop")
    return berth_sites.undeleted(results)


def nginx_tls_state_kept(plan, state_file, service, keep):
    """The berth_files entry of the state file that still lists the lineages ``keep`` (names whose
    certbot delete failed): the next run's plan finds them stale again and deletes them."""
    plan = _plan(plan, "nginx_tls_state_kept")
    previous = (((plan.get("probe") or {}).get("host") or {}).get("files") or {}).get(state_file)
    return [{"path": state_file, "owner": "root", "group": "root", "mode": "0644",
             "content": berth_sites.tls_state(service, plan["sites"], previous, keep)}]


def _plan(plan, name):
    if not isinstance(plan, dict) or "sites" not in plan or "decision" not in plan:
        raise AnsibleFilterError("%s expects the result of berth.stack.berth_plan role=nginx (with its probe)" % name)
    return plan


def nginx_sites_report(plan):
    """Aligned text lines: each site of the host, its names, TLS mode, whether its certificate is
    live (or why not), its issuer and expiry (berth_tls.site_rows over the probe's reading)."""
    plan = _plan(plan, "nginx_sites_report")
    return aligned(SITE_COLUMNS, core.site_rows(plan["sites"], plan["decision"].get("certs") or {}))


def nginx_site_url(plan, path="/"):
    """The URL a client uses for ``path`` on the host's default site: https://<its first name> on the
    HTTPS entry's port when its certificate is live, else the HTTP entry (berth_url)."""
    plan = _plan(plan, "nginx_site_url")
    site = next((s for s in plan["sites"] if s.get("default")), plan["sites"][0] if plan["sites"] else None)
    names = [n for n in (site or {}).get("server_names") or [] if n != "_" and not n.startswith("*.")]
    if site and names and site["name"] in (plan["decision"].get("tls_live") or []):
        port = int(plan["https"]["port"])
        return "https://%s%s%s" % (names[0], "" if port == 443 else ":%d" % port, path)
    return berth_registry.url(plan["http"], path)


class FilterModule(object):
    """Nginx sites' TLS."""

    def filters(self):
        return {"nginx_tls_live": nginx_tls_live, "nginx_tls_entries": nginx_tls_entries,
                "nginx_acme_undeleted": nginx_acme_undeleted, "nginx_tls_state_kept": nginx_tls_state_kept,
                "nginx_sites_report": nginx_sites_report, "nginx_site_url": nginx_site_url}
