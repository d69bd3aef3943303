# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Action plugin: berth's deploy lock, naming this run (plugins/module_utils/berth_lock.py).
Documentation: plugins/modules/berth_lock.py."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.berth.stack.plugins.module_utils import berth_lock


class ActionModule(ActionBase):
    """Give back or take the deploy lock for this run."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "path"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        if not boolean(self._templar.template(task_vars.get("berth_lock_enabled", True)), strict=False):
            result.update(changed=False, skipped=True, msg="berth_lock_enabled is false")
            return result
        run, info = berth_lock.run_identity()
        path = self._task.args.get("path") or self._templar.template(task_vars.get("berth_lock_path")) \
            or berth_lock.DEFAULT_PATH
        args = {"state": self._task.args.get("state", "absent"), "path": path, "run": run, "info": info}
        result.update(self._execute_module(module_name="berth.stack.berth_lock", module_args=args,
                                           task_vars=task_vars))
        return result
