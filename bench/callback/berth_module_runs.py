# -*- coding: utf-8 -*-
"""Count the host-contacting module runs per host (the bench's per-task cost unit).

A module run is one execution of a module on a host: one per task, or one per loop item.
Controller-only actions (set_fact, assert, fail, debug, include/import, meta, add_host,
group_by, set_stats) and skipped tasks or items are not counted. At the end of the play
the callback prints one line per host:

    berth module runs: <host> <count>

Enable it with ANSIBLE_CALLBACKS_ENABLED=berth_module_runs and
ANSIBLE_CALLBACK_PLUGINS=bench/callback (bench/run.sh does both).
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: berth_module_runs
type: aggregate
short_description: count host-contacting module runs per host
description:
  - Counts one module run per task result or loop item that ran on a host (not skipped),
    leaving out controller-only actions, and prints the count per host at the end.
requirements:
  - enable in configuration
"""

from collections import Counter

from ansible.plugins.callback import CallbackBase

CONTROLLER_ONLY = frozenset(
    action
    for short in ("set_fact", "assert", "fail", "debug", "include_tasks", "import_tasks",
                  "include_role", "import_role", "meta", "add_host", "group_by", "set_stats",
                  "include_vars", "validate_argument_spec", "pause", "berth_ports_validate")
    for action in (short, "ansible.builtin." + short, "berth.stack." + short)
)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "berth_module_runs"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.runs = Counter()
        self.by_task = Counter()

    def _count(self, result):
        task = result._task
        if task.action in CONTROLLER_ONLY or task.delegate_to == "localhost":
            return
        host = result._host.get_name()
        self.runs[host] += 1
        self.by_task[(host, task.get_name())] += 1

    def _count_unlooped(self, result):
        if not result._task.loop:
            self._count(result)

    def v2_runner_on_ok(self, result):
        self._count_unlooped(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count_unlooped(result)

    def v2_runner_item_on_ok(self, result):
        self._count(result)

    def v2_runner_item_on_failed(self, result):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        for host in sorted(self.runs):
            self._display.display("berth module runs: %s %d" % (host, self.runs[host]))
            if self._display.verbosity >= 1:
                for (name_host, task), count in sorted(self.by_task.items(), key=lambda kv: -kv[1]):
                    if name_host == host:
                        self._display.display("  %3d  %s" % (count, task))
