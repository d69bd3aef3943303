# -*- coding: utf-8 -*-
"""Lookup ``flask_app_tree_hash``: a short content hash of a source tree on the controller.

The flask_app role names a release after its content when ``flask_app_release``
is not set, so unchanged code gives the same release id (and no change on the
host), and any edit gives a new one::

    lookup('flask_app_tree_hash', '/path/to/app')            -> 'a1b2c3d4e5f6'
    lookup('flask_app_tree_hash', '/path/to/app', length=16)

The hash covers every file's relative path, executable bit and bytes, in sorted
order; byte-code caches and VCS metadata are ignored.
"""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: flask_app_tree_hash
version_added: 0.1.0
short_description: short content hash of a directory tree on the controller
description:
  - Hashes relative paths, executable bits and contents of every file under a directory.
  - Ignores __pycache__, *.pyc, .git, .hg, .svn, .tox, .venv.
options:
  _terms:
    description: directory to hash
    required: true
  length:
    description: number of hex digits returned
    type: int
    default: 12
author: berth contributors
"""

EXAMPLES = r"""
- name: Name the release after the content of the source tree
  ansible.builtin.set_fact:
    release: "{{ lookup('berth.stack.flask_app_tree_hash', '/srv/src/hbnb') }}"

- name: A longer id
  ansible.builtin.debug:
    msg: "{{ lookup('berth.stack.flask_app_tree_hash', playbook_dir ~ '/app', length=16) }}"
"""

RETURN = r"""
_raw:
  description: The first O(length) hex digits of the tree's sha256, one string.
  type: list
  elements: str
"""

IGNORED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", ".pytest_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


def tree_hash(root, length=12):
    """Return the first ``length`` hex digits of the tree's sha256."""
    if not os.path.isdir(root):
        raise AnsibleLookupError(
            "flask_app_tree_hash: '%s' is not a directory on the controller; "
            "set flask_app_source_dir to the app's source directory" % root
        )
    if not 1 <= int(length) <= 64:
        raise AnsibleLookupError("flask_app_tree_hash: length must be 1-64, got %s" % length)
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            if name.endswith(IGNORED_SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            executable = os.access(path, os.X_OK)
            digest.update(("%s\0%d\0" % (rel, executable)).encode("utf-8"))
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(65536), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()[: int(length)]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        length = self.get_option("length")
        return [tree_hash(str(term), length) for term in terms]
