# -*- coding: utf-8 -*-
"""Filters that render the port map (playbooks/ports.yml) as text and Markdown.

``rows | berth_ports_table(sites)``
    The ``ports`` rows of one host's ``berth_listeners`` result as aligned text lines, then its
    ``sites`` rows (names, TLS, certificate issuer and expiry) when it has any.
``hosts | berth_ports_markdown(hostvars, result_var, title)``
    One Markdown document with a table per host, from each host's registered result.
"""

from __future__ import annotations

COLUMNS = (
    ("entry", "entry"), ("port", "port"), ("proto", "proto"), ("bind", "bind"),
    ("service", "expected service"), ("pid", "pid"), ("process", "process"),
    ("process_user", "user"), ("unit", "unit"), ("status", "status"), ("check", "check"),
)


def _cells(row):
    return ["-" if row.get(key) is None else str(row.get(key)) for key, _ in COLUMNS]


SITE_COLUMNS = (("site", "site"), ("names", "server names"), ("tls", "tls"), ("certificate", "certificate"),
                ("issuer", "issuer"), ("expires", "expires"))


def aligned(columns, rows):
    table = [[title for _, title in columns]] + [["-" if r.get(k) is None else str(r.get(k)) for k, _ in columns]
                                                 for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def berth_ports_table(rows, sites=None):
    """Return aligned text lines (header, rule, one line per entry), then the sites' table."""
    lines = aligned(COLUMNS, rows or [])
    if sites:
        lines += [""] + aligned(SITE_COLUMNS, sites)
    return lines


def berth_ports_markdown(hosts, hostvars, result_var="__berth_ports_report", title="berth port map"):
    """Return a Markdown document with one table per host."""
    out = ["# %s" % title, ""]
    out.append("Status: OK = held by its service, FREE = nothing listens, CONFLICT = held by another "
               "process, DISABLED = reserved entry (not opened). Check: the level the Datadog berth_ports "
               "check reports for the same entry (same code: module_utils/berth_status.py).")
    out.append("")
    for host in hosts:
        result = hostvars[host].get(result_var) or {}
        out.append("## %s" % host)
        out.append("")
        out.append("| " + " | ".join(t for _, t in COLUMNS) + " |")
        out.append("|" + "|".join("---" for _ in COLUMNS) + "|")
        for row in result.get("ports") or []:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
        for msg in result.get("conflicts") or []:
            out.append("")
            out.append("- **CONFLICT**: %s" % msg)
        if result.get("sites"):
            out.append("")
            out.append("| " + " | ".join(t for _, t in SITE_COLUMNS) + " |")
            out.append("|" + "|".join("---" for _ in SITE_COLUMNS) + "|")
            for row in result["sites"]:
                out.append("| " + " | ".join(str(row.get(k, "-")).replace("|", "\\|") for k, _ in SITE_COLUMNS) + " |")
        out.append("")
    return "\n".join(out)


class FilterModule(object):
    """berth port map report filters."""

    def filters(self):
        return {"berth_ports_table": berth_ports_table, "berth_ports_markdown": berth_ports_markdown}
