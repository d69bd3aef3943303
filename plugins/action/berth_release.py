# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Action plugin ``berth_release``: ship local sources, then run the module of the same name.

A build whose ``source`` is ``{kind: local, dir: <controller directory>}`` is packed on the
controller into the reproducible archive of ``flask_app_source_archive`` (cached by content under
``BERTH_SOURCE_CACHE`` or ``~/.cache/berth/sources``); each distinct archive is sent once into the
task's remote temporary directory, the build is handed to the module as ``{kind: archive,
archive: <remote path>}``, and the temporary directory goes with the task: two runs never share,
nor delete, each other's archive. A source directory that is missing fails that app only, naming
its variable, the host and the fix. In check mode nothing is packed or sent.
"""

from __future__ import annotations

import copy
import os

from ansible.plugins.action import ActionBase
from ansible_collections.berth.stack.plugins.lookup.flask_app_source_archive import build_archive
from ansible_collections.berth.stack.plugins.lookup.flask_app_tree_hash import tree_hash
from ansible_collections.berth.stack.plugins.module_utils.berth_build import NOT_SWITCHED, variable

MODULE = "berth.stack.berth_release"
CACHE_DEFAULT = "~/.cache/berth/sources"


def cache_dir():
    """Where archives are kept (the lookup's cache_dir: BERTH_SOURCE_CACHE, else ~/.cache/berth/sources)."""
    return os.path.expanduser(os.environ.get("BERTH_SOURCE_CACHE") or CACHE_DEFAULT)


def source_archive(directory, cache):
    """The cached archive of a source tree (built when the cache has none for its content)."""
    path = os.path.join(cache, "%s.tar.gz" % tree_hash(directory, 64))
    return path if os.path.isfile(path) else build_archive(directory, path)


def missing_source_message(item, host):
    var = variable(item, "source_dir")
    return ("%s '%s' is not a directory on the controller (app %s, host %s). Fix: set %s to the app's source"
            " directory on the controller (absolute, or relative to where ansible-playbook runs); %s"
            % (var, item["source"].get("dir"), item.get("name"), host, var, NOT_SWITCHED))


def pack_sources(builds, host, cache, pack=True):
    """(source dir -> local archive, app name -> failure) for the builds of kind local.
    Without ``pack`` (check mode) the directories are only checked."""
    archives, failed = {}, {}
    for item in builds:
        source = item.get("source") or {}
        if source.get("kind") != "local":
            continue
        directory = str(source.get("dir") or "")
        if not directory or not os.path.isdir(directory):
            failed[item.get("name")] = missing_source_message(item, host)
        elif pack and directory not in archives:
            try:
                archives[directory] = source_archive(directory, cache)
            except OSError as exc:
                failed[item.get("name")] = ("%s '%s' could not be packed into %s on the controller (app %s, host %s):"
                                            " %s. Fix: make the tree readable and the cache writable (BERTH_SOURCE_CACHE);"
                                            " %s" % (variable(item, "source_dir"), directory, cache, item.get("name"),
                                                     host, exc, NOT_SWITCHED))
    return archives, failed


def rewrite_builds(builds, remote_of, failed):
    """The builds the module gets: local sources become archives on the host (\"\" in check mode),
    the apps that already failed are left out."""
    out = []
    for item in builds:
        if item.get("name") in failed:
            continue
        source = item.get("source") or {}
        if source.get("kind") == "local":
            item = dict(item, source={"kind": "archive", "archive": remote_of.get(str(source.get("dir")), "")})
        out.append(item)
    return out


class ActionModule(ActionBase):
    """Pack and send each local source once, then run berth.stack.berth_release."""

    TRANSFERS_FILES = False  # a remote tmp dir is made only when there is an archive to send
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = copy.deepcopy(dict(self._task.args))
        host = str(args.get("host") or task_vars.get("inventory_hostname") or "")
        args["host"] = host
        builds = list(args.get("builds") or [])
        check_mode = bool(self._task.check_mode)
        archives, failed = pack_sources(builds, host, cache_dir(), pack=not check_mode)
        try:
            remote_of = {} if check_mode else self._send(archives)
            args["builds"] = rewrite_builds(builds, remote_of, failed)
            if args["builds"] or args.get("checks"):
                result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            else:
                result.update(changed=False, built=[], already_built=[], would_build={}, venvs={}, requirements={},
                              checked=[], checks_failed={}, failed_apps={})
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return self._merge_failures(result, failed)

    def _send(self, archives):
        """Send each archive once into the remote tmp dir; return source dir -> remote path."""
        if not archives:
            return {}
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        remote_of, sent = {}, {}
        for directory, local in archives.items():
            if local not in sent:
                sent[local] = self._connection._shell.join_path(tmpdir, "berth-source-" + os.path.basename(local))
                self._transfer_file(local, sent[local])
            remote_of[directory] = sent[local]
        # Readable by the become user (as ansible.builtin.copy does for its source).
        self._fixup_perms2([tmpdir] + list(sent.values()))
        return remote_of

    @staticmethod
    def _merge_failures(result, failed):
        """Add the apps that failed on the controller to the module's result (and fail the task)."""
        if not failed:
            return result
        result["failed_apps"] = dict(failed, **(result.get("failed_apps") or {}))
        previous = result.get("msg") if result.get("failed") else ""
        result["failed"] = True
        result["msg"] = " ".join(list(failed.values()) + ([previous] if previous else []))
        return result
