#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Ansible module: converge a set of directories, files and links in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: berth_files
short_description: Converge directories, files (rendered on the controller) and links in one run
description:
  - One module run for a whole concern (every config file of a role, every directory of every
    app) instead of one C(file), C(template) or C(copy) run per path - a module run costs about
    0.25 s whatever it does (docs/performance.md).
  - Entries are applied in order. A file is compared by content, owner, group and mode; a changed
    file is written next to its destination under its own name, validated there, and renamed into
    place (atomic). A link is replaced by renaming a new link over it.
  - With C(tree), files under C(tree.root) are first written as a complete candidate tree, the
    C(tree.command) validates it (for example C(nginx -t) on the candidate), and nothing live
    changes when it fails.
  - Supports check mode and diff mode (no diff for C(secret) entries).
options:
  entries:
    description:
      - C(path) (required), C(state) (C(file), C(directory), C(link) or C(absent); default C(file)),
        C(content) (file), C(secret) (the content never appears in a diff or a result),
        C(src) (link target), C(owner), C(group), C(mode) (octal string),
        C(validate) (command with C(%s), run on the new file before it goes live),
        C(previous) (link only - when the link moves, this path becomes a link to its old target).
      - Every changed file is staged and validated before any of them goes live or any existing
        link moves; one failed check leaves every file and link as it was (directories and links
        that did not exist yet are created first).
    type: list
    elements: dict
    required: true
  purge:
    description:
      - Remove files this role wrote earlier and no longer lists - each item has C(glob) (paths to
        consider) and optionally C(contains) (only files whose content holds this marker). Paths
        among O(entries) are kept.
    type: list
    elements: dict
    default: []
  tree:
    description:
      - C(root) (live directory), C(dir) (candidate directory, recreated when a file under C(root)
        changes), C(links) (names under C(root) the candidate links to, such as C(mime.types)) and
        C(command) (argv; C({dir}) is replaced by the candidate directory). Files under C(root) go
        live only after the command succeeded on the candidate.
    type: dict
author: berth contributors
"""

EXAMPLES = r"""
- name: Render every config file of the role at once
  berth.stack.berth_files:
    entries:
      - {path: /etc/app, state: directory, owner: root, group: app, mode: "0750"}
      - path: /etc/app/app.conf
        content: "{{ lookup('ansible.builtin.template', 'app.conf.j2') }}"
        owner: root
        group: app
        mode: "0640"
        validate: /usr/bin/python3 -m py_compile %s
  register: files
"""

RETURN = r"""
changed_paths:
  description: The paths that changed (or would change in check mode), in entry order.
  returned: always
  type: list
  elements: str
entries:
  description: Path -> C(changed), C(state) and, for links, C(before) (the old target, "" when none).
  returned: always
  type: dict
"""

import glob
import grp
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

STATES = ("file", "directory", "link", "absent")


class FilesError(Exception):
    """A failure that names the path and what went wrong (``detail``: extra result keys)."""

    def __init__(self, msg, **detail):
        super().__init__(msg)
        self.detail = detail


def _uid(owner):
    if owner in (None, ""):
        return -1
    try:
        return int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise FilesError("owner %s does not exist on this host" % owner) from None


def _gid(group):
    if group in (None, ""):
        return -1
    try:
        return int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise FilesError("group %s does not exist on this host" % group) from None


def _mode(mode):
    return None if mode in (None, "") else int(str(mode), 8)


def _attrs_differ(st, entry):
    try:
        uid, gid = _uid(entry.get("owner")), _gid(entry.get("group"))
    except FilesError:
        return True  # an account still to be created (a dry run): the path will change
    mode = _mode(entry.get("mode"))
    return ((uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid)
            or (mode is not None and (st.st_mode & 0o7777) != mode))


def _set_attrs(path, entry, follow=True):
    uid, gid, mode = _uid(entry.get("owner")), _gid(entry.get("group")), _mode(entry.get("mode"))
    if uid != -1 or gid != -1:
        (os.chown if follow else os.lchown)(path, uid, gid)
    if mode is not None and follow:
        os.chmod(path, mode)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _stage(path, data, entry, run=_run):
    """Write data next to path (its own name in a private temp dir) and validate it there.

    Returns the temp directory; the caller renames the file into place or removes the directory.
    """
    parent = os.path.dirname(path) or "."
    tmpdir = tempfile.mkdtemp(prefix=".berth-", dir=parent)
    try:
        tmp = os.path.join(tmpdir, os.path.basename(path))
        with open(tmp, "wb") as handle:
            handle.write(data)
        _set_attrs(tmp, {"owner": entry.get("owner"), "group": entry.get("group"),
                         "mode": entry.get("mode") or "0644"})
        if entry.get("validate"):
            command = entry["validate"]
            if "%s" not in command:
                raise FilesError("validate for %s must contain %%s (the file to check)" % path)
            argv = [part.replace("%s", tmp) for part in shlex.split(command)]
            rc, out, err = run(argv)
            if rc != 0:
                raise FilesError("validation of %s failed (%s, exit %d): %s"
                                 % (path, command, rc, (err or out).strip()[-1500:]),
                                 validate_failed=path, stderr=(err or out).strip()[-1500:], rc=rc)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return tmpdir


def _plan_file(entry):
    path = entry["path"]
    want = (entry.get("content") or "").encode("utf-8")
    if os.path.islink(path) or os.path.isdir(path):
        return {"content": True, "attrs": True, "before": None, "want": want}
    before = _read(path)
    if before is None:
        return {"content": True, "attrs": True, "before": None, "want": want}
    return {"content": before != want, "attrs": _attrs_differ(os.stat(path), entry),
            "before": before, "want": want}


def _link_target(path):
    return os.readlink(path) if os.path.islink(path) else ""


def _make_link(path, src):
    tmp = os.path.join(os.path.dirname(path) or ".", ".berth-link-%d-%s" % (os.getpid(), os.path.basename(path)))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.rename(tmp, path)


def _under(path, root):
    root = root.rstrip("/") + "/"
    return path.startswith(root)


def _build_candidate(tree, files, run=_run):
    """Write the candidate tree: every managed file under root, links to the package files."""
    root, cand = tree["root"].rstrip("/"), tree["dir"].rstrip("/")
    if os.path.isdir(cand) and not os.path.islink(cand):
        shutil.rmtree(cand)
    os.makedirs(cand, mode=0o755)
    for name in tree.get("links") or []:
        target = os.path.join(cand, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.path.join(root, name), target)
    for entry in files:
        target = os.path.join(cand, os.path.relpath(entry["path"], root))
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(entry.get("content") or "")
    argv = [part.replace("{dir}", cand) for part in tree["command"]]
    rc, out, err = run(argv)
    if rc != 0:
        output = (err or out).strip()[-3000:]
        raise FilesError("%s rejected the candidate in %s (exit %d); nothing under %s changed:\n%s"
                         % (" ".join(argv), cand, rc, root, output), tree_failed=True, stderr=output, rc=rc)


def _purge_paths(purge, entries):
    keep = {e["path"] for e in entries}
    out = []
    for spec in purge or []:
        for path in sorted(glob.glob(spec["glob"])):
            if path in keep or path in out or not os.path.isfile(path) or os.path.islink(path):
                continue
            if spec.get("contains"):
                data = _read(path) or b""
                if spec["contains"].encode("utf-8") not in data:
                    continue
            out.append(path)
    return out


def converge(entries, check_mode=False, diff=False, tree=None, run=_run, purge=None):
    """Apply entries; return (changed_paths, per-path result, diffs).

    Nothing a check guards goes live unless every check passes: directories and links that do
    not exist yet are created first (a new unit's ExecStart may live under one), then every
    changed file is staged and validated, and only then are files renamed into place and
    existing links moved.
    """
    changed, results, diffs = [], {}, []
    plans = {}
    for entry in entries:
        state = entry.get("state") or "file"
        if state not in STATES:
            raise FilesError("%s: state must be one of %s, not %r" % (entry.get("path"), ", ".join(STATES), state))
        if not entry.get("path") or not os.path.isabs(entry["path"]):
            raise FilesError("every entry needs an absolute path, got %r" % entry.get("path"))
        if state == "link" and not entry.get("src"):
            raise FilesError("%s: a link needs src" % entry["path"])
        path = entry["path"]
        result = {"changed": False, "state": state}
        if state == "directory":
            exists = os.path.isdir(path) and not os.path.islink(path)
            if not exists or _attrs_differ(os.stat(path), entry):
                result["changed"] = True
                if not check_mode:
                    os.makedirs(path, exist_ok=True)
                    _set_attrs(path, entry)
                if diff:
                    diffs.append({"before_header": path, "after_header": path,
                                  "before": "absent\n" if not exists else "directory (other owner or mode)\n",
                                  "after": "directory %s:%s %s\n" % (entry.get("owner"), entry.get("group"), entry.get("mode"))})
        elif state == "file":
            plans[path] = _plan_file(entry)
        elif state == "link":
            result["before"] = _link_target(path)
            if os.path.lexists(path) and not os.path.islink(path):
                raise FilesError("%s exists and is not a link; refusing to replace it with a link to %s"
                                 % (path, entry["src"]))
            if not result["before"] and not check_mode:
                _make_link(path, entry["src"])
                result["changed"] = True
        results[path] = result

    staged = {}
    try:
        if tree and not check_mode:
            tree_files = [e for e in entries if (e.get("state") or "file") == "file" and _under(e["path"], tree["root"])]
            if any(plans[e["path"]]["content"] for e in tree_files):
                _build_candidate(tree, tree_files, run=run)
        for entry in entries:
            plan = plans.get(entry["path"]) if (entry.get("state") or "file") == "file" else None
            if plan and plan["content"] and not check_mode:
                staged[entry["path"]] = _stage(entry["path"], plan["want"], entry, run=run)
        for entry in entries:
            path, state = entry["path"], entry.get("state") or "file"
            result = results[path]
            if state == "file":
                plan = plans[path]
                if plan["content"] or plan["attrs"]:
                    result["changed"] = True
                    if not check_mode:
                        if path in staged:
                            tmpdir = staged.pop(path)
                            os.rename(os.path.join(tmpdir, os.path.basename(path)), path)
                            # A check may leave files of its own there (py_compile: __pycache__/).
                            shutil.rmtree(tmpdir, ignore_errors=True)
                        else:
                            _set_attrs(path, entry)
                    if diff and not entry.get("secret"):
                        diffs.append({"before_header": path, "after_header": path,
                                      "before": (plan["before"] or b"").decode("utf-8", "replace"),
                                      "after": plan["want"].decode("utf-8", "replace")})
            elif state == "link":
                before = result["before"]
                if before != entry["src"]:
                    result["changed"] = True
                    if not check_mode and before:
                        _make_link(path, entry["src"])
                        if entry.get("previous"):
                            _make_link(entry["previous"], before)
                    if diff:
                        diffs.append({"before_header": path, "after_header": path,
                                      "before": "-> %s\n" % before if before else "absent\n",
                                      "after": "-> %s\n" % entry["src"]})
            elif state == "absent" and os.path.lexists(path):
                result["changed"] = True
                if not check_mode:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
                if diff:
                    diffs.append({"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"})
            if result["changed"]:
                changed.append(path)
        for path in _purge_paths(purge, entries):
            if not check_mode:
                os.unlink(path)
            changed.append(path)
            results[path] = {"changed": True, "state": "absent", "purged": True}
            if diff:
                diffs.append({"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"})
    finally:
        for tmpdir in staged.values():
            shutil.rmtree(tmpdir, ignore_errors=True)
    return changed, results, diffs


MASK = "********"


class _FilesModule(AnsibleModule):
    """AnsibleModule whose invocation log (syslog, the journal) never holds a secret entry's
    content: the log line is str() of the entries, where a content's newlines are escaped, so
    no_log_values (the raw content) would not match it."""

    def _log_invocation(self):
        entries = self.params.get("entries")
        if isinstance(entries, list):
            self.params["entries"] = [dict(e, content=MASK) if isinstance(e, dict) and e.get("secret") and e.get("content")
                                      else e for e in entries]
        try:
            super()._log_invocation()
        finally:
            if isinstance(entries, list):
                self.params["entries"] = entries


def main():
    module = _FilesModule(
        argument_spec={
            "entries": {"type": "list", "elements": "dict", "required": True},
            "tree": {"type": "dict"},
            "purge": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    # Secret contents are masked wherever they could surface (the invocation, a failure message).
    for entry in module.params["entries"]:
        if entry.get("secret") and entry.get("content"):
            module.no_log_values.add(entry["content"])
    tree = module.params["tree"]
    if tree and not (tree.get("root") and tree.get("dir") and tree.get("command")):
        module.fail_json(msg="tree needs root, dir and command (argv, {dir} for the candidate directory)")
    try:
        changed, results, diffs = converge(module.params["entries"], check_mode=module.check_mode,
                                           diff=module._diff, tree=tree,
                                           purge=module.params["purge"])
    except FilesError as exc:
        module.fail_json(msg=str(exc), **exc.detail)
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (exc.filename or "berth_files", exc.strerror or exc))
    out = {"changed": bool(changed), "changed_paths": changed, "entries": results}
    if module._diff and diffs:
        out["diff"] = diffs
    module.exit_json(**out)


if __name__ == "__main__":
    main()
