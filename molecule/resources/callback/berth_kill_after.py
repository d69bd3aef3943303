# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Test tool (Molecule only): SIGKILL this ansible-playbook at a chosen point, as an OOM kill, a
lost controller or an operator's kill -9 would, to prove that the next run repairs the hosts.

    ANSIBLE_CALLBACK_PLUGINS=molecule/resources/callback ANSIBLE_CALLBACKS_ENABLED=berth_kill_after \\
    BERTH_KILL_AFTER='service | Install the units' ansible-playbook site.yml ...

BERTH_KILL_AFTER: a piece of a task's name; the run is killed once that task finished on every
host (when the next task or handler starts). BERTH_KILL_AT: killed BERTH_KILL_DELAY seconds
(default 3) after that task started, while its modules run on the hosts. Only ansible-playbook's
own process is killed, as with kill -9: its workers and their modules on the hosts run on.
"""

from __future__ import annotations

import os
import signal
import threading

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: berth_kill_after
type: aggregate
short_description: SIGKILL the run after (or at) a chosen task (Molecule test tool)
description:
  - Kills ansible-playbook with SIGKILL once the task whose name contains BERTH_KILL_AFTER finished on every host,
    or as soon as the task whose name contains BERTH_KILL_AT starts.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "berth_kill_after"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._after = os.environ.get("BERTH_KILL_AFTER", "")
        self._at = os.environ.get("BERTH_KILL_AT", "")
        self._armed = False

    @staticmethod
    def _kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def _next(self, name):
        # The strategy reports every host's result of a task before the next one starts.
        if self._armed:
            self._kill()
        if self._at and self._at in name:
            timer = threading.Timer(float(os.environ.get("BERTH_KILL_DELAY", "3")), self._kill)
            timer.daemon = True
            timer.start()
        self._armed = bool(self._after) and self._after in name

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._next(task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._next(task.get_name())

    def v2_playbook_on_stats(self, stats):
        if self._armed:
            self._kill()
