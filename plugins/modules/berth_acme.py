#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: issue the certificates of Nginx sites with tls: acme, and read every site's."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_acme
short_description: Issue the ACME certificates Nginx sites lack (Debian's certbot), read every site's certificate
description:
  - For each site of O(sites) whose certificate is missing, expired, not matching its key or not
    covering its names (C(berth_tls.inspect)), runs C(certbot certonly) over HTTP-01 with the webroot
    Nginx serves the challenge from (C(berth_tls.certbot_argv)). Nginx is running and keeps serving while
    the certificate is issued. Sites with a valid certificate are left alone; certbot's timer renews them.
  - Then reads every site's certificate again and returns it, so the caller enables TLS for exactly the
    sites whose certificate may go live.
  - A failed issue fails the module naming the site and certbot's reason; the previous certificate (if
    any) is untouched and keeps serving. No key material is ever read into the result.
  - In check mode nothing is issued; the sites that would be are reported as changed.
options:
  sites:
    description: The sites, each C(name), C(tls) (C(acme) or C(files)), C(lineage), C(server_names), C(certificate)
      and C(certificate_key) (the planner's site records).
    type: list
    elements: dict
    required: true
  acme:
    description: C(directory), C(email), C(key_type), C(config_dir), C(webroot) and C(ca_bundle) (the plan's ACME settings).
    type: dict
    default: {}
  timeout:
    description: Seconds one certbot run may take.
    type: int
    default: 300
author: berth contributors
"""

EXAMPLES = r"""
- name: Issue the missing certificates and read every site's
  berth.stack.berth_acme:
    sites: "{{ __nginx_plan.sites }}"
    acme: "{{ __nginx_plan.acme }}"
  register: __nginx_acme
"""

RETURN = r"""
certs:
  description: Site name -> C(ok), C(problem), C(not_after), C(days_left), C(issuer), C(serial), C(names) after the run.
  returned: always
  type: dict
issued:
  description: The sites issued (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.stack.plugins.module_utils import berth_tls


def main():
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "acme": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    sites = [s for s in module.params["sites"] if s.get("tls") in ("acme", "files")]
    acme = dict(module.params["acme"] or {})
    certs = berth_tls.inspect_sites(sites)
    wanted = [s for s in sites if s["tls"] == "acme" and not certs[s["name"]]["ok"]]
    if wanted and not module.check_mode:
        certbot = module.get_bin_path("certbot", required=True)
        env = dict(os.environ)
        if acme.get("ca_bundle"):
            env["REQUESTS_CA_BUNDLE"] = acme["ca_bundle"]
        failed, failed_names = [], set()
        for site in wanted:
            argv = berth_tls.certbot_argv(site, dict(acme, certbot=certbot))
            try:
                run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=module.params["timeout"])
                output, code = (run.stdout or "") + (run.stderr or ""), run.returncode
            except subprocess.TimeoutExpired:
                output, code = "certbot did not finish within %d s" % module.params["timeout"], -1
            if code != 0:
                failed_names.add(site["name"])
                failed.append("site %s (%s): certbot certonly failed: %s" % (
                    site["name"], ", ".join(site["server_names"]), berth_tls.certbot_reason(output)))
        certs = berth_tls.inspect_sites(sites)
        bad = ["site %s: the issued certificate cannot go live: %s" % (s["name"], certs[s["name"]]["problem"])
               for s in wanted if not certs[s["name"]]["ok"] and s["name"] not in failed_names]
        if failed or bad:
            module.fail_json(msg="ACME issue on this host failed, so these sites keep serving what they served "
                                 "before (their previous certificate, or HTTP only): " + "; ".join(failed + bad)
                             + ". Fix: check that the names resolve to this host and that its HTTP entry is "
                               "reachable from the ACME server (%s), then run again." % acme.get("directory"),
                             certs=certs, issued=[s["name"] for s in wanted if certs[s["name"]]["ok"]])
    unusable = ["site %s: %s" % (s["name"], certs[s["name"]]["problem"]) for s in sites
                if s["tls"] == "files" and not certs[s["name"]]["ok"]]
    if unusable:
        module.fail_json(msg="TLS files that must not go live (Nginx keeps its current configuration): "
                             + "; ".join(unusable) + ". Fix: install a valid certificate and key at those paths, "
                             "or correct nginx_sites / nginx_tls_certificate.", certs=certs, issued=[])
    module.exit_json(changed=bool(wanted), certs=certs, issued=[s["name"] for s in wanted])


if __name__ == "__main__":
    main()
