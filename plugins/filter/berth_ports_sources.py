# -*- coding: utf-8 -*-
"""Where berth's shared Python lives on the controller, for code shipped to hosts as is.

``'berth_proc' | berth_ports_module_utils_path``
    Absolute path of ``module_utils/berth_proc.py`` (the listener discovery), so a
    role can copy the very file the ``berth_listeners`` module runs instead of keeping
    a second copy (the datadog role ships it next to its ``berth_ports`` agent check).
    Found relative to this file (``../module_utils``), which holds for a role
    (``roles/berth_ports/filter_plugins``) and a collection (``plugins/filter``) alike.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")


def berth_ports_module_utils_path(name):
    path = os.path.join(MODULE_UTILS, "%s.py" % name)
    if os.sep in str(name) or not os.path.isfile(path):
        raise AnsibleFilterError("no berth module_utils file %r in %s" % (name, MODULE_UTILS))
    return path


class FilterModule(object):
    """Paths of berth's shared module_utils files."""

    def filters(self):
        return {"berth_ports_module_utils_path": berth_ports_module_utils_path}
