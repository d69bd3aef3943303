# -*- coding: utf-8 -*-
"""Staged rollout planning for playbooks/rollout.yml.

``berth_rollout_plan(groups, stages, serial, backends=None)`` turns the
inventory's stage groups and a per-stage ``serial`` list into one ordered host
list and a flat list of batch sizes that never lets a batch span two stages,
so a single play with ``serial: <batches>`` walks stage by stage, batch by
batch. It refuses (listing every problem) a stage that names no inventory group,
an empty stage, a host in two stages, a malformed serial, and a batch that would
drain every backend of the load balancers at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

_PCT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def _parse_serial_item(item):
    """Return ('abs', n) or ('pct', p); raise ValueError on bad input."""
    if isinstance(item, bool):
        raise ValueError("a boolean")
    if isinstance(item, int):
        if item < 1:
            raise ValueError("%d (must be >= 1)" % item)
        return ("abs", item)
    if isinstance(item, str):
        text = item.strip()
        if text.isdigit():
            return _parse_serial_item(int(text))
        match = _PCT.match(text)
        if match:
            pct = float(match.group(1))
            if not 0 < pct <= 100:
                raise ValueError("'%s' (percentages must be in (0, 100])" % item)
            return ("pct", pct)
    raise ValueError("%r (use an integer >= 1 or a percentage like '25%%')" % (item,))


def stage_batches(size, serial):
    """Split ``size`` hosts into batches like Ansible's ``serial`` list does.

    Percentages are of the stage's host count, rounded down but at least 1;
    the last item repeats until every host is covered.
    """
    parsed = [_parse_serial_item(item) for item in serial] or [("pct", 100.0)]
    batches = []
    left = size
    index = 0
    while left > 0:
        kind, value = parsed[min(index, len(parsed) - 1)]
        if kind == "abs":
            count = value
        else:
            count = max(1, int(math.floor(size * value / 100.0)))
        count = min(count, left)
        batches.append(count)
        left -= count
        index += 1
    return batches


def berth_rollout_plan(groups, stages, serial, backends=None, limit=None):
    """Plan a staged rollout; see the module docstring.

    ``limit`` (the play's hosts after ``--limit``) keeps only those hosts; a stage
    with none of them left is skipped, not refused. A host of ``limit`` in no stage
    is refused: it would otherwise be skipped without a word.
    """
    allowed = None if limit is None else set(limit)
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError("berth_rollout_plan expects the `groups` magic variable")
    errors = []
    if isinstance(stages, str) or not isinstance(stages, Sequence) or not stages:
        raise AnsibleFilterError(
            "rollout_stages must be a non-empty list of inventory group names in rollout order, "
            "e.g. [canary, wave1, wave2]; set it in inventories/<env>/group_vars/all/rollout.yml"
        )
    if isinstance(serial, (str, int)) and not isinstance(serial, bool):
        serial = [serial]
    if not isinstance(serial, Sequence):
        errors.append("rollout_serial must be a list such as [1, '25%', '100%'], got %r" % (serial,))
        serial = []
    else:
        for item in serial:
            try:
                _parse_serial_item(item)
            except ValueError as exc:
                errors.append("rollout_serial item %s; fix rollout_serial in group_vars/all/rollout.yml" % exc)

    order, batches, stage_of, stage_hosts = [], [], {}, {}
    for stage in stages:
        if stage not in groups:
            errors.append(
                "rollout_stages names '%s', which is not a group of this inventory; groups are: %s"
                % (stage, ", ".join(sorted(g for g in groups if g not in ("all", "ungrouped"))))
            )
            continue
        hosts = []
        for host in groups[stage]:
            if allowed is not None and host not in allowed:
                continue
            if host in stage_of:
                errors.append(
                    "host %s is in two rollout stages (%s and %s); a host must belong to exactly one"
                    % (host, stage_of[host], stage)
                )
                continue
            stage_of[host] = stage
            hosts.append(host)
        if not hosts:
            if allowed is not None and groups[stage]:
                continue
            errors.append("rollout stage '%s' has no hosts; remove it from rollout_stages or add hosts" % stage)
            continue
        stage_hosts[stage] = hosts
        order.extend(hosts)
        if not errors:
            batches.extend(stage_batches(len(hosts), serial))

    if allowed is not None:
        # Every targeted host must be reached: one in no stage would silently keep its release.
        stray = [host for host in dict.fromkeys(limit) if host not in stage_of]
        if stray:
            errors.append(
                "%s %s targeted (play hosts after --limit) but in none of the rollout_stages (%s) and "
                "would be skipped; add %s to a stage group in the inventory, or narrow --limit"
                % (", ".join(stray), "is" if len(stray) == 1 else "are", ", ".join(str(s) for s in stages),
                   "it" if len(stray) == 1 else "them")
            )

    if not errors and backends:
        backend_set = set(backends)
        start = 0
        for size in batches:
            batch = order[start:start + size]
            start += size
            if backend_set and backend_set.issubset(batch):
                errors.append(
                    "a batch (%s) would drain every load-balancer backend at once; make rollout_serial "
                    "smaller (e.g. [1, '25%%', '50%%']) or add backends" % ", ".join(batch)
                )
                break

    if not errors and not order:
        errors.append("no host to roll out to: --limit matches no host of rollout_stages %s" % ", ".join(stages))
    if errors:
        raise AnsibleFilterError("rollout plan refused:\n  - " + "\n  - ".join(errors))
    kept = [s for s in stages if s in stage_hosts]
    return {
        "hosts": order,
        "batches": batches,
        "stage_of": stage_of,
        "stages": kept,
        "stage_hosts": stage_hosts,
        "summary": "%d stage(s): %s. Batches: %s." % (
            len(kept), "; ".join("%s = %s" % (s, ", ".join(stage_hosts[s])) for s in kept),
            ", ".join(str(b) for b in batches)),
    }


def berth_rollout_moved(before, after):
    """The apps whose release changed since ``before`` (app -> release before the batch; apps that
    had none are left out) according to ``after`` (app -> release now): those a failed batch puts
    back."""
    return sorted(name for name, release in (before or {}).items()
                  if release and (after or {}).get(name, "") != release)


class FilterModule(object):
    """berth rollout planning filters."""

    def filters(self):
        return {"berth_rollout_plan": berth_rollout_plan, "berth_rollout_moved": berth_rollout_moved}
