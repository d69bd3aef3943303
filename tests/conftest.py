"""Make the collection berth.stack importable as ``ansible_collections.berth.stack``
(collections/ansible_collections/berth/stack is the repository), with no Ansible run."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
