"""Make the berth_ports plugin code importable by path (no Ansible run needed)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE = os.path.join(ROOT, "roles", "berth_ports")
for sub in ("module_utils", "filter_plugins", "library", "action_plugins"):
    path = os.path.join(ROLE, sub)
    if path not in sys.path:
        sys.path.insert(0, path)
