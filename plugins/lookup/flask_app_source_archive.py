# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Lookup ``flask_app_source_archive``: one reproducible tar.gz of a source tree on the controller.

The flask_app role ships a release's source as one archive (one transfer per host, however many
apps are built from it) instead of a module run per file. The archive holds exactly the files the release id
(``flask_app_tree_hash``) covers, with modes u=rwX,g=rX,o= and no owner names, so the same
tree gives the same bytes; it is cached under the content hash.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.berth.stack.plugins.lookup.flask_app_tree_hash import IGNORED_DIRS, IGNORED_SUFFIXES, tree_hash

DOCUMENTATION = r"""
name: flask_app_source_archive
version_added: 0.3.0
short_description: reproducible tar.gz of a source tree on the controller, cached by content
description:
  - Packs every file the release id covers (C(flask_app_tree_hash) rules - no __pycache__, *.pyc, .git,
    .hg, .svn, .tox, .venv), directories 0750, files 0640 (0750 when executable), owner root, mtime 0.
  - Returns the archive's path, C(<cache_dir>/<tree hash>.tar.gz); an archive already there is reused.
options:
  _terms:
    description: directory to pack
    required: true
  cache_dir:
    description: where archives are kept
    type: path
    default: ~/.cache/berth/sources
    env:
      - name: BERTH_SOURCE_CACHE
author: berth contributors
"""

EXAMPLES = r"""
- name: Ship the source in one transfer (unpacked on the host with tar -xzf)
  ansible.builtin.copy:
    src: "{{ lookup('berth.stack.flask_app_source_archive', flask_app_source_dir) }}"
    dest: /var/cache/berth-source.tar.gz
    mode: "0600"
"""

RETURN = r"""
_raw:
  description: Path of the archive on the controller.
  type: list
  elements: str
"""


def build_archive(root, path):
    """Write the reproducible archive of ``root`` to ``path`` (atomically)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            if rel_dir != ".":
                info = tarfile.TarInfo(rel_dir)
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            for name in sorted(filenames):
                if name.endswith(IGNORED_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                info = tarfile.TarInfo(os.path.relpath(full, root).replace(os.sep, "/"))
                info.size = os.path.getsize(full)
                info.mode = 0o750 if os.access(full, os.X_OK) else 0o640
                with open(full, "rb") as handle:
                    tar.addfile(info, handle)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
    os.replace(tmp, path)
    return path


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        cache = os.path.expanduser(self.get_option("cache_dir"))
        out = []
        for term in terms:
            root = str(term)
            path = os.path.join(cache, "%s.tar.gz" % tree_hash(root, 64))
            try:
                out.append(path if os.path.isfile(path) else build_archive(root, path))
            except OSError as exc:
                raise AnsibleLookupError("flask_app_source_archive: cannot pack '%s' into %s: %s" % (root, cache, exc))
        return out
