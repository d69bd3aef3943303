# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Action plugin: render the entries' templates and files on the controller, then run the
berth_files module once on the host.

An entry may carry, instead of ``content``:

* ``template``: a template of the role (its ``templates/`` directory, found like the
  ``ansible.builtin.template`` lookup finds it), rendered with the task's variables and the
  entry's ``vars`` (template_vars; e.g. ``{item: <app record>}``);
* ``file``: a file on the controller whose content is written as it is.

So a role hands the module the list its planner built (``entries: "{{ plan.files }}"``) and no
Jinja loop assembles contents in a task. Documentation: ``plugins/modules/berth_files.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


class _ReadOnlyVars(dict):
    """The task's variables as the template lookup receives them. The lookup deep-copies what it
    is given before adding its own template_* variables; a template only reads them, so a shallow
    copy does the same at a fraction of the cost (the deep copy of every variable of the host,
    once per template, was a tenth of a no-op run's controller time)."""

    def __deepcopy__(self, memo):
        return dict(self)


class ActionModule(ActionBase):
    """Render the contents, then converge every entry in one module run."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        entries = []
        lookup = None
        variables = _ReadOnlyVars(task_vars)
        try:
            for entry in args.get("entries") or []:
                entry = dict(entry)
                template = entry.pop("template", None)
                template_vars = entry.pop("vars", None) or {}
                path = entry.pop("file", None)
                if template:
                    if lookup is None:
                        lookup = self._shared_loader_obj.lookup_loader.get(
                            "ansible.builtin.template", loader=self._loader, templar=self._templar)
                    entry["content"] = lookup.run([template], variables=variables, template_vars=template_vars)[0]
                elif path:
                    entry["content"] = self._loader.get_text_file_contents(self._loader.path_dwim(path))
                entries.append(entry)
        except AnsibleError as exc:
            result.update(failed=True, msg="berth_files: cannot render %s: %s" % (template or path, exc))
            return result
        args["entries"] = entries
        result.update(self._execute_module(module_name="berth.stack.berth_files", module_args=args,
                                           task_vars=task_vars))
        return result
