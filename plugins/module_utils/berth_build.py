# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Build one flask_app release on its host: what ``berth.stack.berth_release`` does.

A release lives in ``<root>/releases/<id>/``: its source (``src/``, unpacked from the archive the
action plugin sent, or checked out from the app's git mirror), ``requirements.berth.txt`` (what its
venv is built from), the public copy of its static files (``public/<n>/``), links from its
persistent paths into the state directory, its own ``venv/``, and last the ``.berth-release``
marker, written only once the WSGI target imported as the app user. A release with a marker is
immutable: the module skips it.

Stdlib only, and no import of the collection: the module imports this file as
``ansible_collections.berth.stack.plugins.module_utils.berth_build``, the unit tests by path.
Everything that changes owners or runs a program takes ``chown`` / ``run`` arguments, so the tests
run as any user on a temporary directory.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tarfile
import time

MARKER = ".berth-release"
REQUIREMENTS = "requirements.berth.txt"
VENV_STAMP = ".berth-venv"
VENV_ORIGIN = ".berth-venv-origin"
SYSTEM_PYTHON = "/usr/bin/python3"
PIP_WHEELS = "/usr/share/python-wheels"
SETPRIV = "/usr/bin/setpriv"
NOT_SWITCHED = "`current` was not switched, the previous release keeps serving."
BUILD_LOCK = "/run/berth/build.lock"
BUILD_LOCK_WAIT = 1800

# grep -Ei '^[[:space:]]*gunicorn([<>=!~ [;]|$)' and sed -E '/^[[:space:]]*(#|$)/d' of the
# shell build ([[:space:]] is the ASCII white space). berth_apps.has_gunicorn applies the same
# test to an inventory list (its lines stripped first).
_SPACE = " \t\n\v\f\r"
GUNICORN_RE = re.compile(r"^[%s]*gunicorn([<>=!~ \[;]|$)" % _SPACE, re.IGNORECASE)
BLANK_OR_COMMENT_RE = re.compile(r"^[%s]*(#|$)" % _SPACE)
# The line pip names: "(from line 3 of /srv/a/releases/x/requirements.berth.txt)" or
# "(from -r /srv/a/releases/x/requirements.berth.txt (line 3))".
PIP_LINE_RES = (re.compile(r"line (\d+) of \S*%s" % re.escape(REQUIREMENTS)),
                re.compile(r"%s \(line (\d+)\)" % re.escape(REQUIREMENTS)))
# pip honours a PEP 263 declaration in the first two lines of a file without BOM.
CODING_RE = re.compile(rb"coding[:=]\s*([-\w.]+)")

# The one-app variable each setting comes from (an app of flask_apps: flask_apps.<name>.<key>).
SINGLE_APP_VARS = {
    "wsgi": "flask_app_wsgi_app",
    "requirements": "flask_app_requirements",
    "requirements_file": "flask_app_requirements_file",
    "pip_extra_args": "flask_app_pip_extra_args",
    "source_dir": "flask_app_source_dir",
    "git_repo": "flask_app_source_git_repo",
    "static": "flask_app_static",
    "persistent": "flask_app_persistent",
    "database": "flask_app_database",
}
FLEET_VARS = {"gunicorn_requirement": "flask_app_gunicorn_requirement"}

# The import check, run by the venv's python as the app user (setpriv: a clean environment). It
# reads the app's environment (the env file's content, secrets included) as JSON on stdin, then
# `gunicorn --check-config` loads the app with it. argv[1] is the number of attempts, one second
# apart: 3 for an app with a database, whose first import may create its schema while another
# host's import creates the same tables (one of them fails with "table already exists"), 1
# otherwise (a broken import fails at once).
CHECK_SCRIPT = """\
import json, os, subprocess, sys, time
os.environ.update(json.load(sys.stdin))
attempts = int(sys.argv[1])
for attempt in range(1, attempts + 1):
    check = subprocess.run([sys.executable, '-m', 'gunicorn', '--check-config'] + sys.argv[2:],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check.returncode == 0 or attempt == attempts:
        break
    time.sleep(1)
sys.stdout.write(check.stdout)
sys.stderr.write(check.stderr)
sys.exit(check.returncode)
"""


class BuildError(Exception):
    """A build failed; ``str()`` is the whole message (variable, host, fix)."""


class StepError(Exception):
    """A step failed; ``str()`` is the detail, which :class:`Builder` turns into a message."""


class SourceError(StepError):
    pass


class RequirementsError(StepError):
    pass


class StaticDirMissing(StepError):
    pass


class PersistentError(StepError):
    pass


class PipArgsError(StepError):
    pass


class OwnerError(StepError):
    """A user or group the build gives files to does not exist."""


class VenvError(StepError):
    """The venv could not be built: ``str()`` is pip's (or venv's) stderr."""


# --- programs and owners --------------------------------------------------------------------

def run(argv, cwd=None, env=None, stdin=None):
    """Run argv (never a shell); return (rc, stdout, stderr) as text."""
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False,
                          input=stdin.encode("utf-8") if stdin is not None else None)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def _id(name, lookup, kind):
    if str(name).isdigit():
        return int(name)
    try:
        return lookup(str(name))
    except KeyError:
        raise OwnerError("%s %s does not exist on this host" % (kind, name)) from None


def chown(path, user, group):
    """Give path (a link itself, not its target) to user:group, by name or number."""
    os.lchown(path, _id(user, lambda n: pwd.getpwnam(n).pw_uid, "user"),
              _id(group, lambda n: grp.getgrnam(n).gr_gid, "group"))


def _walk(top):
    """top, then every path under it, links not followed."""
    yield top
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


def chown_tree(top, user, group, chown=chown):
    """chown -R user:group top (links themselves, as chown -R does)."""
    for path in _walk(top):
        chown(path, user, group)


def chmod_tree(top, others):
    """chmod -R u=rwX,g=rX,o= top (others=False) or u=rwX,go=rX (others=True); links skipped."""
    for path in _walk(top):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        x = is_dir or bool(st.st_mode & 0o111)
        mode = 0o640 | (0o110 if x else 0) | ((0o004 | (0o001 if x else 0)) if others else 0)
        os.chmod(path, mode | (st.st_mode & 0o6000 if is_dir else 0))


def _remove(path):
    """rm -rf path."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _install_dir(path, user, group, mode, chown=chown):
    """install -d -o user -g group -m mode path (parents created as they come)."""
    os.makedirs(path, exist_ok=True)
    chown(path, user, group)
    os.chmod(path, mode)


def _safe_relpath(path):
    text = str(path)
    return bool(text) and not text.startswith("/") and ".." not in text.split("/") and "\0" not in text


# --- messages -------------------------------------------------------------------------------

def uses_flask_apps(app):
    """Whether the inventory names this app in flask_apps (its ``var`` is flask_apps.<name>)."""
    return str(app.get("var") or "").startswith("flask_apps.")


def variable(app, key):
    """The inventory variable a setting of the app comes from, as the user wrote it."""
    if key in FLEET_VARS:
        return FLEET_VARS[key]
    if uses_flask_apps(app):
        return "%s.%s" % (app["var"], key)
    return SINGLE_APP_VARS[key]


def output_tail(text, limit=1200):
    """A program's output on one line (its lines joined by spaces), its last ``limit`` characters."""
    flat = " ".join(line.strip() for line in str(text or "").splitlines() if line.strip())
    return flat if len(flat) <= limit else "..." + flat[-(limit - 3):]


def last_lines(text, count=12):
    """The last ``count`` lines of a program's stderr joined with ' | ' (as stderr_lines[-12:])."""
    return " | ".join(str(text or "").rstrip("\r\n").splitlines()[-count:])


def pip_line(stderr):
    """The line of requirements.berth.txt pip complains about, 0 when it names none."""
    for regex in PIP_LINE_RES:
        match = regex.search(stderr or "")
        if match:
            return int(match.group(1))
    return 0


def _line_hint(stderr, info, app):
    number = pip_line(stderr)
    lines = info.get("lines") or []
    if not 1 <= number <= len(lines):
        return ""
    where = "pip's line %d of %s" % (number, REQUIREMENTS)
    if info["kind"] == "list":
        return " %s is entry %d of %s: `%s`." % (where, number, variable(app, "requirements"), lines[number - 1])
    if number <= info["user_lines"]:
        return " %s is line %d of the app's %s: `%s`." % (where, number, info["file"], lines[number - 1])
    if number == info.get("gunicorn_line"):
        return (" %s is berth's added gunicorn pin `%s` (%s), not a line of %s: correct %s, or pin gunicorn"
                " in %s yourself." % (where, lines[number - 1], variable(app, "gunicorn_requirement"),
                                      info["file"], variable(app, "gunicorn_requirement"), info["file"]))
    return ""


DISK_FULL = ("No space left on device", "[Errno 28]", "ENOSPC")
# What a MySQL/MariaDB driver says when it cannot reach its server (2002: socket, 2003: TCP, 2005:
# unknown host, 2013: lost during the connection; the import check's first query makes it).
DB_UNREACHABLE = ("Can't connect to", "(2002", "(2003", "(2005", "(2013", "Lost connection to MySQL server",
                  "Connection refused")


def disk_full_message(path, host, stderr):
    """A build that ran out of disk: not a requirements or import problem."""
    import shutil
    try:
        free = "%d MB free" % (shutil.disk_usage(path).free // (1024 * 1024))
    except OSError:
        free = "free space unknown"
    return ("flask_app on %s: the disk holding %s is full (%s): %s. Fix: free space on %s (old releases are pruned to"
            " flask_app_keep_releases; pip's cache, logs), then run again; %s"
            % (host, path, free, last_lines(stderr, 3), host, NOT_SWITCHED))


def database_unreachable_message(app, release, host, stderr):
    """An import check that failed because the app's database could not be reached."""
    db = app.get("database") or {}
    return ("flask_app on %s: app %s, release %s, could not reach its database %s on %s:%s (%s, registry entry %s) when"
            " it loaded: %s. Fix: start that server (site.yml's db play), or admit this host in its firewall (the"
            " entry's clients; site.yml converges the firewall before the apps), then run again; %s"
            % (host, app["name"], release, db.get("name"), db.get("host"), db.get("port"), db.get("server"),
               db.get("entry"), last_lines(stderr, 4), NOT_SWITCHED))


def pip_error_message(stderr, info, app, release, host):
    """The failure of a venv build, naming the requirements, the line pip names and the fix."""
    if any(marker in (stderr or "") for marker in DISK_FULL):
        return disk_full_message(app.get("root") or "/", host, stderr)
    if info["kind"] == "list":
        what, fix = "list " + variable(app, "requirements"), "the list"
    else:
        what, fix = "file " + info["file"], "the app's " + info["file"]
    return ("flask_app on %s: the requirements %s of release %s%s did not install (pip: %s).%s Fix the pins"
            " in %s (versions must exist for the host's Python); %s"
            % (host, what, release, " (app %s)" % app["name"] if uses_flask_apps(app) else "",
               output_tail(stderr), _line_hint(stderr, info, app), fix, NOT_SWITCHED))


def _database_hint(app):
    db = app.get("database")
    if not db:
        return ""
    return (" The app connects to its database %s on %s:%s (%s, registry entry %s) as %s: if the error is the"
            " database's, check that server (site.yml's db play, its firewall) and %s."
            % (db.get("name"), db.get("host"), db.get("port"), db.get("server"), db.get("entry"), db.get("user"),
               variable(app, "database")))


def import_error_message(app, release, host, rc, stderr):
    """The failure of the import check of a new release (its database unreachable, the disk full,
    or the app's own import error)."""
    if any(marker in (stderr or "") for marker in DISK_FULL):
        return disk_full_message(app.get("root") or "/", host, stderr)
    if app.get("database") and any(marker in (stderr or "") for marker in DB_UNREACHABLE):
        return database_unreachable_message(app, release, host, stderr)
    var = variable(app, "wsgi")
    return ("%s '%s' does not load on %s from release %s (exit %d): %s. Fix: correct %s (package.module:callable"
            " relative to the source root) or the app's import error.%s %s"
            % (var, app["wsgi"], host, release, rc, last_lines(stderr), var, _database_hint(app), NOT_SWITCHED))


def reload_check_message(check, host, rc, stderr):
    """The failure of the check before a reload (the running workers keep serving)."""
    return ("%s on %s: its gunicorn config %s/gunicorn.conf.py or its app does not load (exit %d): %s."
            " Not reloaded: the running workers keep serving. Fix the app's settings in flask_apps and run again."
            % (check["name"], host, check["conf_dir"], rc, last_lines(stderr)))


# --- the source -----------------------------------------------------------------------------

def make_release_dir(release_dir, group, chown=chown):
    """mkdir -p; root:<group> 0751 (traversable: the Nginx worker reads public/)."""
    os.makedirs(release_dir, exist_ok=True)
    chown(release_dir, "root", group)
    os.chmod(release_dir, 0o751)


def _inside(root, path):
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _member_target(root, member):
    name = member.name
    if name.startswith("/") or ".." in name.split("/") or "\0" in name:
        raise SourceError("member %r would land outside %s" % (name, root))
    if not (member.isdir() or member.isreg()):
        raise SourceError("member %r is not a file or directory (links are refused)" % name)
    target = os.path.normpath(os.path.join(root, name))
    if not _inside(root, os.path.dirname(target)):
        raise SourceError("member %r would land outside %s (through a link)" % (name, root))
    return target


def unpack_archive(archive, dest):
    """tar -xzf archive -C dest, refusing members that would escape dest (absolute paths, '..',
    links, or a link already in dest). An existing file or link is replaced, never written
    through; modes and mtimes come from the archive."""
    os.makedirs(dest, exist_ok=True)
    root = os.path.realpath(dest)
    dirs = []
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise SourceError("%s: %s" % (archive, exc)) from None
    with tar:
        try:
            for member in tar:
                target = _member_target(root, member)
                if member.isdir():
                    if os.path.lexists(target) and (os.path.islink(target) or not os.path.isdir(target)):
                        os.unlink(target)
                    os.makedirs(target, exist_ok=True)
                    dirs.append((target, member))
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.isdir(target) and not os.path.islink(target):
                    raise SourceError("member %r: a directory is in the way" % member.name)
                if os.path.lexists(target):
                    os.unlink(target)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out)
                os.chmod(target, member.mode & 0o777)
                os.utime(target, (member.mtime, member.mtime))
        except tarfile.TarError as exc:
            raise SourceError("%s: %s" % (archive, exc)) from None
    for target, member in reversed(dirs):
        os.chmod(target, member.mode & 0o777)
        os.utime(target, (member.mtime, member.mtime))


def checkout_git(src, mirror, commit, run=run):
    """What ansible.builtin.git did (depth 1 is ignored for a commit; update: false): clone the
    mirror, check the commit out, update its submodules. A checkout already there is kept (a
    failed one is removed, so the next run starts from nothing)."""
    if os.path.exists(os.path.join(src, ".git")):
        return
    os.makedirs(os.path.dirname(src), exist_ok=True)
    _git(["git", "clone", "--origin", "origin", mirror, src], os.path.dirname(src), src, run)
    _git(["git", "checkout", "--force", commit], src, src, run)
    if os.path.exists(os.path.join(src, ".gitmodules")):
        _git(["git", "submodule", "sync"], src, src, run)
        _git(["git", "submodule", "update", "--init", "--recursive"], src, src, run)


def _git(argv, cwd, src, run):
    rc, out, err = run(argv, cwd=cwd)
    if rc != 0:
        _remove(src)
        raise SourceError("%s (exit %d): %s" % (" ".join(argv[:2]), rc, output_tail(err or out, 600)))


def unpack_source(release_dir, source, group, run=run, chown=chown):
    """The release's src/: the archive unpacked (root:<group>, src 0750), or the git commit
    checked out (root:<group>, u=rwX,g=rX,o=). The archive itself is left where it is."""
    src = os.path.join(release_dir, "src")
    if source.get("kind") == "git":
        checkout_git(src, source["mirror"], source["commit"], run=run)
        chown_tree(src, "root", group, chown=chown)
        chmod_tree(src, others=False)
    else:
        unpack_archive(source["archive"], src)
        chown_tree(src, "root", group, chown=chown)
        os.chmod(src, 0o750)


# --- requirements ---------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8", "utf-8 (BOM)"),
         (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le (BOM)"),
         (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32-be (BOM)"),
         (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le (BOM)"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be (BOM)"))


def _utf16_without_bom(data):
    """utf-16-le/-be when the bytes evidently are (most of one half of the bytes NUL, none of the
    other half: ASCII text in UTF-16), else None. UTF-8 text holds no NUL."""
    if len(data) < 2 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    if odd.count(0) * 2 > len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) * 2 > len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _declared_coding(data):
    for line in data.split(b"\n")[:2]:
        match = CODING_RE.search(line) if line[:1] == b"#" else None
        if match:
            try:
                return codecs.lookup(match.group(1).decode("ascii")).name
            except LookupError:
                raise RequirementsError("declares coding %s, which Python does not know"
                                        % match.group(1).decode("ascii", "replace")) from None
    return None


def _decoding(data):
    """(codec, label, bytes to decode) for a requirements file as it was found."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return codec, label, data[len(bom):]
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16, utf16, data
    coding = _declared_coding(data)
    if coding and coding != "utf-8":
        return coding, "%s (coding line)" % coding, data
    return "utf-8", "utf-8", data


def read_requirements(data):
    """The lines of a requirements file as it is found, and how it was encoded.

    UTF-8 (with or without BOM), UTF-16/32 with a BOM, UTF-16 without one when evidently so, or
    the encoding a PEP 263 line declares (as pip reads it); CRLF, CR or LF line ends. Returns
    (lines without their line ends, label such as "utf-16-le (BOM)").
    """
    codec, label, body = _decoding(bytes(data))
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        raise RequirementsError("is not %s text (byte 0x%02x on line %d)"
                                % (label, data[offset], data[:offset].count(b"\n") + 1)) from None
    if "\0" in text:
        raise RequirementsError("holds NUL characters (%s): it is not a text file" % label)
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    return lines, label


def _without_coding_line(lines, encoding):
    """The file is rewritten as UTF-8: a PEP 263 line declaring another coding would make pip
    read it wrong, so it becomes a comment that says what it was (same line count)."""
    if not encoding.endswith("(coding line)"):
        return lines
    out = list(lines)
    for index, line in enumerate(out[:2]):
        if line.startswith("#") and CODING_RE.search(line.encode("utf-8", "replace")):
            out[index] = "# berth: this file was %s; %s is UTF-8" % (encoding.split()[0], REQUIREMENTS)
    return out


def prepare_requirements(release_dir, requirements_list, requirements_file, gunicorn_requirement):
    """Write <release_dir>/requirements.berth.txt (UTF-8, LF) and return what it holds.

    The inventory's list as it is (the caller added gunicorn when missing), or the lines of the
    source's requirements file followed, when none names gunicorn, by a blank line and the
    gunicorn pin. The result maps a line pip names back to the user's: ``kind`` (list or file),
    ``file``, ``lines``, ``user_lines`` (the first lines, the user's), ``gunicorn_line`` (the
    line number of berth's pin, 0 when none was added), ``encoding`` and ``text``.
    """
    info = {"file": requirements_file, "gunicorn_line": 0}
    if requirements_list:
        lines = [str(line) for line in requirements_list]
        info.update(kind="list", encoding="utf-8", user_lines=len(lines))
    else:
        path = os.path.join(release_dir, "src", requirements_file)
        if not _safe_relpath(requirements_file):
            raise RequirementsError("is not a path inside the source")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise RequirementsError("is not in the source") from None
        except IsADirectoryError:
            raise RequirementsError("is a directory in the source, not a file") from None
        lines, encoding = read_requirements(data)
        lines = _without_coding_line(lines, encoding)
        info.update(kind="file", encoding=encoding, user_lines=len(lines))
        if gunicorn_requirement and not any(GUNICORN_RE.match(line) for line in lines):
            lines = lines + ["", str(gunicorn_requirement)]
            info["gunicorn_line"] = len(lines)
    info.update(lines=lines, text="".join(line + "\n" for line in lines))
    with open(os.path.join(release_dir, REQUIREMENTS), "wb") as handle:
        handle.write(info["text"].encode("utf-8"))
    return info


# --- static files and persistent paths ------------------------------------------------------

def static_copies(release_dir, static, chown=chown):
    """Copy each static prefix's directory of the source (or its directories, merged: the first
    one's file wins) to public/<index>/ (root:root, u=rwX,go=rX: the Nginx worker reads them)."""
    src = os.path.join(release_dir, "src")
    for index, item in enumerate(static or []):
        dirs = item["dir"] if isinstance(item["dir"], (list, tuple)) else [item["dir"]]
        public = os.path.join(release_dir, "public", str(index))
        os.makedirs(os.path.dirname(public), mode=0o755, exist_ok=True)
        os.makedirs(public, exist_ok=True)
        os.chmod(public, 0o755)
        for directory in (str(d) for d in dirs):
            origin = os.path.join(src, directory)
            if not _safe_relpath(directory) or not os.path.isdir(origin):
                raise StaticDirMissing("static dir %s is not in the source" % directory)
        # The last directory first, each one over the ones after it: the first one's files win.
        for directory in reversed([str(d) for d in dirs]):
            shutil.copytree(os.path.join(src, directory), public, symlinks=True, dirs_exist_ok=True)
        chown_tree(public, "root", "root", chown=chown)
        chmod_tree(public, others=True)


def persistent_links(release_dir, persistent, state_dir, user, group, chown=chown):
    """Link each persistent path of the source into the state directory.

    The state directory is <user>:<group> 0750; a path ending in / is a directory created there;
    a file the source ships seeds the state once (0640 <user>:<group>) when the state has none.
    Then the source's path becomes a link into the state directory.
    """
    if not persistent:
        return
    _install_dir(state_dir, user, group, 0o750, chown=chown)
    src = os.path.join(release_dir, "src")
    for path in persistent:
        name = str(path).rstrip("/")
        if not _safe_relpath(name) or "/" in name:
            raise PersistentError("%r is not a file or directory name in the source root" % str(path))
        kept, shipped = os.path.join(state_dir, name), os.path.join(src, name)
        if str(path).endswith("/"):
            _install_dir(kept, user, group, 0o750, chown=chown)
        elif os.path.isfile(shipped) and not os.path.exists(kept):
            shutil.copyfile(shipped, kept)
            chown(kept, user, group)
            os.chmod(kept, 0o640)
        _remove(shipped)
        os.symlink(kept, shipped)


# --- the venv -------------------------------------------------------------------------------

def python_version(python=SYSTEM_PYTHON, run=run):
    """The host Python's major.minor, as the venv key names it."""
    rc, out, err = run([python, "-c", 'import sys; print("python=%d.%d" % sys.version_info[:2])'])
    if rc != 0 or not out.startswith("python="):
        raise VenvError("%s does not run (exit %d): %s" % (python, rc, err.strip()))
    return out.strip()[len("python="):]


def venv_key(python_version, system_site_packages, pip_extra_args, requirements_text):
    """sha256 of what pip resolves from, exactly as the shell build computed it::

        { echo python=X.Y; printf 'system_site_packages=%s\\npip_extra_args=%s\\n' True "$ARGS"
          sed -E '/^[[:space:]]*(#|$)/d' requirements.berth.txt; } | sha256sum

    (sed keeps a last line without its newline as it is.)
    """
    text = str(requirements_text)
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    kept = "".join(line + "\n" for line in lines[:-1] if not BLANK_OR_COMMENT_RE.match(line))
    if lines and not BLANK_OR_COMMENT_RE.match(lines[-1]):
        kept += lines[-1] + ("\n" if ends_with_newline else "")
    head = "python=%s\nsystem_site_packages=%s\npip_extra_args=%s\n" % (
        python_version, bool(system_site_packages), pip_extra_args)
    return hashlib.sha256((head + kept).encode("utf-8")).hexdigest()


def find_reusable_venv(key, roots):
    """The first <root>/releases/*/venv whose .berth-venv holds key (roots in order, releases by
    name, as the shell's glob), or ""."""
    seen = []
    for root in roots or []:
        if root in seen:
            continue
        seen.append(root)
        for stamp in sorted(glob.glob(os.path.join(glob.escape(root), "releases", "*", "venv", VENV_STAMP))):
            try:
                with open(stamp) as handle:
                    if handle.read().rstrip("\n") == key:
                        return os.path.dirname(stamp)
            except OSError:
                continue
    return ""


def copy_venv(src, dst):
    """Copy what pip put into the venv src (packages, data, console scripts) into the new venv
    dst; dst keeps its own interpreter links, activate scripts and pyvenv.cfg. A plain copy, no
    links: pruning src later leaves dst whole. Console scripts name their interpreter in their
    first lines ("#!<venv>/bin/python", or a /bin/sh line that execs it when the path is too
    long for a shebang): those lines are rewritten to dst."""
    own = {"pyvenv.cfg", VENV_STAMP, VENV_ORIGIN}
    for name in os.listdir(src):
        if name in own or name == "bin":
            continue
        path = os.path.join(src, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.copytree(path, os.path.join(dst, name), symlinks=True, dirs_exist_ok=True)
        elif not os.path.lexists(os.path.join(dst, name)):
            shutil.copy2(path, os.path.join(dst, name), follow_symlinks=False)
    old, new = (src + "/bin/").encode(), (dst + "/bin/").encode()
    for name in os.listdir(os.path.join(src, "bin")):
        path, target = os.path.join(src, "bin", name), os.path.join(dst, "bin", name)
        if os.path.lexists(target):
            continue
        shutil.copy2(path, target, follow_symlinks=False)
        if not os.path.islink(target):
            with open(target, "rb") as handle:
                data = handle.read()
            if data.startswith(b"#!") and old in data[:1024]:
                with open(target, "wb") as handle:
                    handle.write(data[:1024].replace(old, new) + data[1024:])


def pip_wheel(wheel_dir=PIP_WHEELS):
    """Debian's pip wheel (python3-pip-whl), the last by name."""
    wheels = sorted(glob.glob(os.path.join(glob.escape(wheel_dir), "pip-*.whl")))
    if not wheels or not os.path.isfile(wheels[-1]):
        raise VenvError("no pip wheel in %s (Debian's python3-pip-whl)" % wheel_dir)
    return wheels[-1]


def split_pip_args(pip_extra_args):
    """pip_extra_args split like a shell would (never evaluated)."""
    try:
        return shlex.split(str(pip_extra_args or ""))
    except ValueError as exc:
        raise PipArgsError(str(exc)) from None


def _pip_install(venv, requirements, extra, wheel_dir, run):
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    with open(requirements, "rb") as handle:
        if not handle.read().isascii():
            # pip reads a file without BOM in the locale's encoding: UTF-8 whatever the locale.
            env["PYTHONUTF8"] = "1"
    argv = [os.path.join(venv, "bin", "python"), pip_wheel(wheel_dir) + "/pip", "install", "--no-input",
            "-r", requirements] + extra
    rc, out, err = run(argv, env=env)
    if rc != 0:
        raise VenvError(err.strip() or out.strip() or "pip install exited %d" % rc)


def build_venv(release_dir, key, group, system_site_packages=False, pip_extra_args="", reuse=True, roots=(),
               run=run, chown=chown, python=SYSTEM_PYTHON, wheel_dir=PIP_WHEELS):
    """The release's venv, from nothing (a venv left half-built is removed first): created
    without pip of its own (ensurepip costs about 3 s), then a copy of a venv of this host built
    under the same key when ``reuse``, else Debian's pip wheel run under the venv's Python.
    Stamps .berth-venv (the key) and .berth-venv-origin ("pip" or the venv copied), closes the
    venv to all but root and the app group (root:<group> 0750). Returns the origin."""
    extra = split_pip_args(pip_extra_args)
    venv = os.path.join(release_dir, "venv")
    _remove(venv)
    argv = [python, "-m", "venv", "--without-pip"] + (["--system-site-packages"] if system_site_packages else [])
    rc, out, err = run(argv + [venv])
    if rc != 0:
        raise VenvError(err.strip() or out.strip() or "%s -m venv exited %d" % (python, rc))
    origin = (find_reusable_venv(key, roots) if reuse else "") or "pip"
    if origin == "pip":
        _pip_install(venv, os.path.join(release_dir, REQUIREMENTS), extra, wheel_dir, run)
    else:
        copy_venv(origin, venv)
    for name, content in ((VENV_STAMP, key), (VENV_ORIGIN, origin)):
        with open(os.path.join(venv, name), "w") as handle:
            handle.write(content + "\n")
        os.chmod(os.path.join(venv, name), 0o644)
    chown(venv, "root", group)
    os.chmod(venv, 0o750)
    return origin


# --- the host's build lock ------------------------------------------------------------------


@contextlib.contextmanager
def build_lock(host, path=BUILD_LOCK, wait=BUILD_LOCK_WAIT, sleep=time.sleep, clock=time.monotonic):
    """Hold the host's build lock (an flock on ``path``, which names the holder's pid) while builds
    run. A run killed on the controller can leave its module building on the host; the next run's
    builds wait for it here instead of writing into the same release directory, then skip what it
    finished. Raises BuildError naming the holder after ``wait`` seconds."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                    raise BuildError("berth_release on %s: another build (pid %s) has held %s for %d s. Fix: wait for"
                                     " it, or stop that process if it hangs, and run again; %s"
                                     % (host, holder, path, wait, NOT_SWITCHED)) from None
                sleep(1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, ("%d\n" % os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


# --- the import check and the marker --------------------------------------------------------

def check_argv(user, group, python, attempts, args):
    """The import check as the app user: setpriv drops to it and clears the environment (which
    arrives on stdin, never on a command line)."""
    return ([SETPRIV, "--reuid=%s" % user, "--regid=%s" % group, "--init-groups", "--reset-env",
             python, "-c", CHECK_SCRIPT, str(attempts)] + list(args))


def check_input(env):
    """The check's stdin: the app's environment as JSON (bytecode not written into the release)."""
    return json.dumps(dict({"PYTHONDONTWRITEBYTECODE": "1"}, **{str(k): str(v) for k, v in (env or {}).items()})) + "\n"


def write_marker(release_dir, release, app, wsgi, group, chown=chown):
    """.berth-release (release=, app=, wsgi_app=; root:<group> 0640), written to .tmp and renamed:
    the release is built and validated, and immutable from now on."""
    marker = os.path.join(release_dir, MARKER)
    with open(marker + ".tmp", "w") as handle:
        handle.write("release=%s\napp=%s\nwsgi_app=%s\n" % (release, app, wsgi))
    chown(marker + ".tmp", "root", group)
    os.chmod(marker + ".tmp", 0o640)
    os.replace(marker + ".tmp", marker)


# --- one release ----------------------------------------------------------------------------

def release_dir_of(item):
    return os.path.join(str(item["root"]), "releases", str(item["release"]))


def is_built(item):
    return os.path.isfile(os.path.join(release_dir_of(item), MARKER))


def requirements_digest(item):
    """sha1 of the release's requirements.berth.txt ("" when absent), as berth_apps_probe reports it:
    two releases with the same digest run on the same pins (a switch between them needs no restart)."""
    try:
        with open(os.path.join(release_dir_of(item), REQUIREMENTS), "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()
    except OSError:
        return ""


class Builder:
    """Builds releases and runs reload checks on this host (``host``: its inventory name)."""

    def __init__(self, host, venv_roots=(), venv_reuse=True, run=run, chown=chown,
                 python=SYSTEM_PYTHON, wheel_dir=PIP_WHEELS):
        self.host, self.venv_roots, self.venv_reuse = host, list(venv_roots or []), venv_reuse
        self.run, self.chown, self.python, self.wheel_dir = run, chown, python, wheel_dir
        self._python_version = None

    def python_version(self):
        if self._python_version is None:
            self._python_version = python_version(self.python, run=self.run)
        return self._python_version

    def build(self, item):
        """Build one release (see the module's documentation); return its venv's origin.
        Raises BuildError with the whole message."""
        release = str(item["release"])
        try:
            return self._build(item, release_dir_of(item), release)
        except StepError as exc:
            raise BuildError(self._message(item, release, exc)) from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise BuildError(disk_full_message(release_dir_of(item), self.host, "%s%s" % (
                    exc.filename + ": " if exc.filename else "", exc.strerror))) from None
            raise BuildError("flask_app on %s: release %s of app %s could not be built (%s%s). Fix what the"
                             " error names (disk space, permissions, a path in the way) and run again; %s"
                             % (self.host, release, item["name"], exc.filename + ": " if exc.filename else "",
                                exc.strerror or exc, NOT_SWITCHED)) from None

    def _build(self, item, release_dir, release):
        group = item["group"]
        make_release_dir(release_dir, group, chown=self.chown)
        try:
            unpack_source(release_dir, item["source"], group, run=self.run, chown=self.chown)
        except OSError as exc:
            raise SourceError("%s%s" % (exc.filename + ": " if exc.filename else "", exc.strerror or exc)) from None
        info = prepare_requirements(release_dir, item.get("requirements") or [], item.get("requirements_file"),
                                    item.get("gunicorn_requirement"))
        self.chown(os.path.join(release_dir, REQUIREMENTS), "root", group)
        os.chmod(os.path.join(release_dir, REQUIREMENTS), 0o640)
        static_copies(release_dir, item.get("static") or [], chown=self.chown)
        persistent_links(release_dir, item.get("persistent") or [], item["state_dir"], item["user"], group,
                         chown=self.chown)
        try:
            key = venv_key(self.python_version(), item.get("system_site_packages"), item.get("pip_extra_args") or "",
                           info["text"])
            origin = build_venv(release_dir, key, group, system_site_packages=item.get("system_site_packages"),
                                pip_extra_args=item.get("pip_extra_args") or "", reuse=self.venv_reuse,
                                roots=self.venv_roots, run=self.run, chown=self.chown, python=self.python,
                                wheel_dir=self.wheel_dir)
        except VenvError as exc:
            raise BuildError(pip_error_message(str(exc), info, item, release, self.host)) from None
        self._import_check(item, release_dir, release)
        write_marker(release_dir, release, item["name"], item["wsgi"], group, chown=self.chown)
        return origin

    def _import_check(self, item, release_dir, release):
        src = os.path.join(release_dir, "src")
        argv = check_argv(item["user"], item["group"], os.path.join(release_dir, "venv", "bin", "python"),
                          item.get("check_attempts") or 1, ["--chdir", src, item["wsgi"]])
        rc, _out, err = self.run(argv, cwd=src, stdin=check_input(item.get("env")))
        if rc != 0:
            raise BuildError(import_error_message(item, release, self.host, rc, err))

    def check(self, check):
        """The check before a reload: the current release's venv loads the app with its gunicorn
        config, as the app user. Raises BuildError with the message."""
        current = os.path.join(str(check["root"]), "current")
        argv = check_argv(check["user"], check["group"], os.path.join(current, "venv", "bin", "python"),
                          check.get("check_attempts") or 1,
                          ["--config", os.path.join(str(check["conf_dir"]), "gunicorn.conf.py")])
        try:
            rc, _out, err = self.run(argv, cwd=os.path.join(current, "src"), stdin=check_input(check.get("env")))
        except OSError as exc:  # no current release, or no setpriv: as a shell would say it
            rc, err = 127, "%s: %s" % (exc.filename or argv[0], exc.strerror or exc)
        if rc != 0:
            raise BuildError(reload_check_message(check, self.host, rc, err))

    def _message(self, item, release, exc):
        """The message of a failed step: the variable to fix, the host, the fix."""
        host, detail = self.host, str(exc)
        if isinstance(exc, StaticDirMissing):
            var = variable(item, "static")
            return ("%s: %s of release %s on %s. Fix: name a directory of the source tree (relative to its root)"
                    " in %s, or add it to the source; %s" % (var, detail, release, host, var, NOT_SWITCHED))
        if isinstance(exc, PersistentError):
            var = variable(item, "persistent")
            return ("%s: %s (release %s on %s). Fix: name the relative path the app writes, e.g. file.json (a"
                    " trailing / for a directory); %s" % (var, detail, release, host, NOT_SWITCHED))
        if isinstance(exc, RequirementsError):
            var, name = variable(item, "requirements_file"), item.get("requirements_file")
            return ("%s: %s of release %s on %s %s. Fix: put it in the source as UTF-8 text (or UTF-16 with a"
                    " BOM), point %s at it (relative to the source root), or list the pins in %s; %s"
                    % (var, name, release, host, detail, var, variable(item, "requirements"), NOT_SWITCHED))
        if isinstance(exc, PipArgsError):
            var = variable(item, "pip_extra_args")
            return ("%s '%s' (release %s on %s) cannot be split like a shell would: %s. Fix: balance its quotes"
                    " or escape them; %s" % (var, item.get("pip_extra_args"), release, host, detail, NOT_SWITCHED))
        if isinstance(exc, OwnerError):
            return ("flask_app on %s: release %s of app %s could not be built: %s. Fix: create it (flask_app's"
                    " install step does) and run again; %s" % (host, release, item["name"], detail, NOT_SWITCHED))
        if item["source"].get("kind") == "git":
            var = variable(item, "git_repo")
            return ("%s: commit %s could not be checked out from the mirror %s into release %s on %s (%s)."
                    " Fix: check that the commit is in the repository and run again; %s"
                    % (var, item["source"].get("commit"), item["source"].get("mirror"), release, host, detail,
                       NOT_SWITCHED))
        var = variable(item, "source_dir")
        return ("%s: the source archive of release %s could not be unpacked on %s (%s). Fix: run again (the"
                " berth_release action sends the archive of %s); %s" % (var, release, host, detail, var, NOT_SWITCHED))
