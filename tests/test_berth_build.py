"""The release build of flask_app: plugins/module_utils/berth_build.py, the berth_release module
and its action plugin.

Everything runs on temporary directories as any user: owners are recorded by an injected
``chown`` instead of set. The end-to-end tests build real venvs (``/usr/bin/python3 -m venv``)
and run Debian's pip wheel on a wheel made here, ``gunicorn-0.0.0`` - a stand-in for gunicorn
(no network here) that only implements ``--check-config`` by importing the WSGI target.
"""

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from project import ROOT, load

bb = load("berth_build_by_path", "plugins/module_utils/berth_build.py")
build_archive = load("flask_app_source_archive", "plugins/lookup/flask_app_source_archive.py").build_archive

from ansible_collections.berth.stack.plugins.action import berth_release as action  # noqa: E402
from ansible_collections.berth.stack.plugins.module_utils import berth_build as cbb  # noqa: E402
from ansible_collections.berth.stack.plugins.modules import berth_release as module  # noqa: E402

PYTHON = "/usr/bin/python3"
WHEELS = sorted(f for f in os.listdir(bb.PIP_WHEELS) if f.startswith("pip-")) if os.path.isdir(bb.PIP_WHEELS) else []
needs_venv = pytest.mark.skipif(not os.path.exists(PYTHON) or not WHEELS,
                                reason="needs /usr/bin/python3 and Debian's pip wheel (python3-venv)")


class Owners:
    """An injected chown: records the owner each path was given instead of setting it."""

    def __init__(self):
        self.of = {}

    def __call__(self, path, user, group):
        self.of[str(path)] = "%s:%s" % (user, group)


def mode(path):
    return oct(os.lstat(path).st_mode & 0o7777)


def archive_of(tmp_path, files, name="src"):
    """A source tree packed by the lookup's build_archive (what the action plugin sends)."""
    tree = tmp_path / (name + "-tree")
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    return build_archive(str(tree), str(tmp_path / (name + ".tar.gz")))


# --- requirements, read as they are found ------------------------------------------------------

TEXT_LINES = ["# the app's pins, by Zoë", "Flask==3.1.0", "", "requests>=2.32"]


@pytest.mark.parametrize("data, label", [
    ("\n".join(TEXT_LINES).encode("utf-8") + b"\n", "utf-8"),
    (b"\xef\xbb\xbf" + "\r\n".join(TEXT_LINES).encode("utf-8") + b"\r\n", "utf-8 (BOM)"),
    (b"\xff\xfe" + "\r\n".join(TEXT_LINES).encode("utf-16-le") + "\r\n".encode("utf-16-le"), "utf-16-le (BOM)"),
    (b"\xfe\xff" + "\n".join(TEXT_LINES).encode("utf-16-be"), "utf-16-be (BOM)"),
    ("\r\n".join(TEXT_LINES).encode("utf-16-le") + "\r\n".encode("utf-16-le"), "utf-16-le"),
    ("\n".join(TEXT_LINES).encode("utf-16-be") + "\n".encode("utf-16-be"), "utf-16-be"),
    ("\r".join(TEXT_LINES).encode("utf-8") + b"\r", "utf-8"),
    ("\r\n".join(TEXT_LINES).encode("utf-8"), "utf-8"),
])
def test_a_requirements_file_is_read_as_it_is_found(data, label):
    assert bb.read_requirements(data) == (TEXT_LINES, label)


def test_an_undecodable_file_is_refused_naming_its_line():
    with pytest.raises(bb.RequirementsError, match=r"is not utf-8 text \(byte 0xe9 on line 2\)"):
        bb.read_requirements(b"Flask==3.1.0\n# caf\xe9\n")


def test_a_coding_line_is_honoured_and_neutralised_in_the_utf8_copy(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\nFlask==3.1.0\n")
    info = bb.prepare_requirements(str(tmp_path), [], "requirements.txt", "gunicorn==23.0.0")
    written = (tmp_path / bb.REQUIREMENTS).read_bytes().decode("utf-8").split("\n")
    assert written[1:] == ["# café", "Flask==3.1.0", "", "gunicorn==23.0.0", ""]
    assert "coding" not in written[0] and written[0].startswith("#")
    assert info["encoding"] == "iso8859-1 (coding line)"


def _prepare(tmp_path, data, requirements=(), gunicorn="gunicorn==23.0.0"):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "requirements.txt").write_bytes(data)
    info = bb.prepare_requirements(str(tmp_path), list(requirements), "requirements.txt", gunicorn)
    return info, (tmp_path / bb.REQUIREMENTS).read_bytes()


@pytest.mark.parametrize("data", [
    b"Flask==3.1.0\nrequests>=2.32\n",
    b"\xff\xfe" + "Flask==3.1.0\r\nrequests>=2.32\r\n".encode("utf-16-le"),
    b"\xef\xbb\xbfFlask==3.1.0\rrequests>=2.32",
])
def test_the_copy_is_utf8_lf_with_gunicorn_appended_when_absent(tmp_path, data):
    info, written = _prepare(tmp_path, data)
    assert written == b"Flask==3.1.0\nrequests>=2.32\n\ngunicorn==23.0.0\n"
    assert (info["kind"], info["user_lines"], info["gunicorn_line"]) == ("file", 2, 4)


@pytest.mark.parametrize("line", ["gunicorn", "Gunicorn>=22", "  gunicorn[gevent]==23.0.0", "\tgunicorn ; python_version>'3'",
                                  "gunicorn~=23.0"])
def test_gunicorn_is_not_appended_when_a_line_names_it(tmp_path, line):
    data = ("Flask==3.1.0\r\n%s\r\n" % line).encode("utf-16-le")
    info, written = _prepare(tmp_path, b"\xff\xfe" + data)
    assert written == ("Flask==3.1.0\n%s\n" % line).encode("utf-8")
    assert info["gunicorn_line"] == 0


@pytest.mark.parametrize("line", ["gunicorn-extras==1", "# gunicorn==23", "greenlet"])
def test_a_line_that_only_looks_like_gunicorn_does_not_count(tmp_path, line):
    _, written = _prepare(tmp_path, ("%s\n" % line).encode())
    assert written.endswith(b"\n\ngunicorn==23.0.0\n")


def test_the_inventory_list_is_written_as_it_is(tmp_path):
    info = bb.prepare_requirements(str(tmp_path), ["Flask==3.1.0", "gunicorn==22.0.0"], "", "gunicorn==23.0.0")
    assert (tmp_path / bb.REQUIREMENTS).read_text() == "Flask==3.1.0\ngunicorn==22.0.0\n"
    assert (info["kind"], info["user_lines"]) == ("list", 2)


def test_a_missing_requirements_file_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(bb.RequirementsError, match="is not in the source"):
        bb.prepare_requirements(str(tmp_path), [], "requirements.txt", "gunicorn==23.0.0")


# --- pip's failure, mapped back to the user's line -----------------------------------------

APP = {"name": "hbnb", "var": "flask_apps.hbnb", "wsgi": "web_flask.app:app", "database": None}
ONE_APP = dict(APP, var="flask_app")


def _info(tmp_path, data):
    info, _ = _prepare(tmp_path, data)
    return info


def test_pip_naming_a_line_of_the_users_file_is_told_which(tmp_path):
    info = _info(tmp_path, b"# pins\nFlask=3.1.0\n")
    stderr = ("ERROR: Invalid requirement: 'Flask=3.1.0' (from line 2 of /srv/hbnb/releases/r1/requirements.berth.txt)\n"
              "Hint: = is not a valid operator. Did you mean == ?\n")
    msg = bb.pip_error_message(stderr, info, APP, "r1", "web1")
    assert msg == ("flask_app on web1: the requirements file requirements.txt of release r1 (app hbnb) did not install"
                   " (pip: ERROR: Invalid requirement: 'Flask=3.1.0' (from line 2 of /srv/hbnb/releases/r1/"
                   "requirements.berth.txt) Hint: = is not a valid operator. Did you mean == ?)."
                   " pip's line 2 of requirements.berth.txt is line 2 of the app's requirements.txt: `Flask=3.1.0`."
                   " Fix the pins in the app's requirements.txt (versions must exist for the host's Python);"
                   " `current` was not switched, the previous release keeps serving.")


def test_pip_naming_berths_gunicorn_line_is_told_so(tmp_path):
    info = _info(tmp_path, "Flask==3.1.0\r\n".encode("utf-16"))
    stderr = "ERROR: Could not find a version (from -r /srv/a/releases/r1/requirements.berth.txt (line 3))"
    msg = bb.pip_error_message(stderr, info, ONE_APP, "r1", "web1")
    assert "release r1 did not install" in msg and "(app " not in msg
    assert ("pip's line 3 of requirements.berth.txt is berth's added gunicorn pin `gunicorn==23.0.0`"
            " (flask_app_gunicorn_requirement), not a line of requirements.txt") in msg


def test_pip_naming_an_entry_of_the_inventory_list(tmp_path):
    info = bb.prepare_requirements(str(tmp_path), ["Flask==3.1.0", "Flsk==1"], "", "gunicorn==23.0.0")
    msg = bb.pip_error_message("ERROR: nope (from line 2 of requirements.berth.txt)", info, APP, "r1", "web1")
    assert "the requirements list flask_apps.hbnb.requirements of release r1 (app hbnb) did not install" in msg
    assert "is entry 2 of flask_apps.hbnb.requirements: `Flsk==1`." in msg
    assert "Fix the pins in the list (versions" in msg
    one = bb.pip_error_message("ERROR: nope", info, ONE_APP, "r1", "web1")
    assert "the requirements list flask_app_requirements of release r1 did not install" in one
    assert "pip's line" not in one


def test_pips_output_is_cut_to_its_tail(tmp_path):
    info = _info(tmp_path, b"Flask==3.1.0\n")
    stderr = "x" * 5000 + "\nERROR: No matching distribution found for Flask==0.0.999\n"
    tail = bb.pip_error_message(stderr, info, APP, "r1", "web1").split("(pip: ")[1].split("). Fix")[0]
    assert tail.endswith("ERROR: No matching distribution found for Flask==0.0.999")
    assert tail.startswith("...") and len(tail) == 1200


# --- the venv key ----------------------------------------------------------------------------

BASH_KEY = r"""set -euo pipefail
{ /usr/bin/python3 -c 'import sys; print("python=%d.%d" % sys.version_info[:2])'
  printf 'system_site_packages=%s\npip_extra_args=%s\n' "$SSP" "$BERTH_PIP_EXTRA_ARGS"
  sed -E '/^[[:space:]]*(#|$)/d' "$REQS"; } | sha256sum | cut -d' ' -f1
"""


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("sha256sum") and os.path.exists(PYTHON)),
                    reason="needs bash, sha256sum and /usr/bin/python3")
@pytest.mark.parametrize("text, ssp, args", [
    ("Flask==3.1.0\n\ngunicorn==23.0.0\n", True, ""),
    ("# pins\nFlask==3.1.0\n   # indented comment\n\t\nrequests  # trailing comment\n\ngunicorn==23.0.0\n", False,
     "--index-url 'https://pypi.example/simple' --no-cache-dir"),
    ("Flask==3.1.0\ngunicorn==23.0.0", False, "-q"),
    ("Zoë-pkg==1.0 \n", False, "a  b"),
    ("", False, ""),
])
def test_the_venv_key_is_the_shell_builds(tmp_path, text, ssp, args):
    """Existing .berth-venv stamps on hosts keep matching: the key is the bash pipeline's."""
    reqs = tmp_path / bb.REQUIREMENTS
    reqs.write_bytes(text.encode("utf-8"))
    env = dict(os.environ, SSP=str(ssp), BERTH_PIP_EXTRA_ARGS=args, REQS=str(reqs))
    shell = subprocess.run(["bash", "-c", BASH_KEY], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert bb.venv_key(bb.python_version(PYTHON), ssp, args, text) == shell


def test_the_venv_key_changes_with_what_pip_resolves_from_only():
    base = bb.venv_key("3.11", False, "", "Flask==3.1.0\n")
    assert bb.venv_key("3.11", False, "", "# a comment\nFlask==3.1.0\n\n") == base
    for other in (bb.venv_key("3.13", False, "", "Flask==3.1.0\n"), bb.venv_key("3.11", True, "", "Flask==3.1.0\n"),
                  bb.venv_key("3.11", False, "-q", "Flask==3.1.0\n"), bb.venv_key("3.11", False, "", "Flask==3.1.1\n")):
        assert other != base


def _stamp(root, release, key):
    venv = root / "releases" / release / "venv"
    venv.mkdir(parents=True)
    (venv / bb.VENV_STAMP).write_text(key + "\n")
    return str(venv)


def test_a_reusable_venv_is_found_in_the_shells_glob_order(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _stamp(one, "c", "k")
    _stamp(one, "b", "k")
    _stamp(one, "a", "other")
    first_of_two = _stamp(two, "a", "k")
    assert bb.find_reusable_venv("k", [str(one), str(two)]) == str(one / "releases" / "b" / "venv")
    assert bb.find_reusable_venv("k", [str(two), str(one)]) == first_of_two
    assert bb.find_reusable_venv("none", [str(one), str(two)]) == ""
    (one / "releases" / "half").mkdir()  # a venv without a stamp (a build that stopped) is no candidate
    assert bb.find_reusable_venv("k", [str(one / "missing")]) == ""


def test_copy_venv_takes_the_installs_and_points_console_scripts_at_the_new_venv(tmp_path):
    src, dst = str(tmp_path / "r1" / "venv"), str(tmp_path / "r2" / "venv")
    for venv in (src, dst):
        os.makedirs(venv + "/bin")
        os.symlink(PYTHON, venv + "/bin/python")
        (tmp_path / venv / "pyvenv.cfg").write_text("home = /usr/bin\n# %s\n" % venv)
        (tmp_path / venv / "bin" / "activate").write_text("VIRTUAL_ENV=%s\n" % venv)
    os.makedirs(src + "/lib/python3/site-packages/flask")
    (tmp_path / src / "lib/python3/site-packages/flask/__init__.py").write_text("x = 1\n")
    os.symlink("lib", src + "/lib64")
    os.symlink("lib", dst + "/lib64")
    for name in (bb.VENV_STAMP, bb.VENV_ORIGIN):
        (tmp_path / src / name).write_text("old\n")
    (tmp_path / src / "bin" / "flask").write_text("#!%s/bin/python\nimport flask\n" % src)
    long_sh = "#!/bin/sh\n'''exec' '%s/bin/python' \"$0\" \"$@\"\n' '''\nimport flask\n" % src
    (tmp_path / src / "bin" / "long").write_text(long_sh)
    far = "#!/usr/bin/env python3\n" + "#" * 2000 + "\n# %s/bin/python\n" % src
    (tmp_path / src / "bin" / "far").write_text(far)
    os.symlink("flask", src + "/bin/flask-link")

    bb.copy_venv(src, dst)

    assert (tmp_path / dst / "bin" / "flask").read_text() == "#!%s/bin/python\nimport flask\n" % dst
    assert (tmp_path / dst / "bin" / "long").read_text() == long_sh.replace(src + "/bin/", dst + "/bin/")
    assert (tmp_path / dst / "bin" / "far").read_text() == far  # no shebang naming the venv: left alone
    assert os.readlink(dst + "/bin/flask-link") == "flask"
    assert os.readlink(dst + "/bin/python") == PYTHON
    assert (tmp_path / dst / "bin" / "activate").read_text() == "VIRTUAL_ENV=%s\n" % dst
    assert dst in (tmp_path / dst / "pyvenv.cfg").read_text()
    assert not os.path.exists(dst + "/" + bb.VENV_STAMP) and not os.path.exists(dst + "/" + bb.VENV_ORIGIN)
    assert (tmp_path / dst / "lib/python3/site-packages/flask/__init__.py").read_text() == "x = 1\n"
    assert os.readlink(dst + "/lib64") == "lib"


class FakeHost:
    """A runner for build_venv without building anything: `python -m venv` makes the directory,
    the version query answers 3.11, pip answers what the test says."""

    def __init__(self, pip=(0, "", "")):
        self.pip, self.calls = pip, []

    def __call__(self, argv, cwd=None, env=None, stdin=None):
        self.calls.append((argv, env))
        if argv[1:3] == ["-m", "venv"]:
            os.makedirs(argv[-1] + "/bin")
            return 0, "", ""
        if argv[1] == "-c":
            return 0, "python=3.11\n", ""
        return self.pip


def test_build_venv_runs_debians_pip_wheel_and_stamps_the_venv(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("pip-22.0-py3-none-any.whl", "pip-23.0.1-py3-none-any.whl", "setuptools-66-py3-none-any.whl"):
        (wheels / name).write_bytes(b"")
    (tmp_path / bb.REQUIREMENTS).write_text("Flask==3.1.0\n")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "left-over").write_text("")
    host, owners = FakeHost(), Owners()
    origin = bb.build_venv(str(tmp_path), "k1", "app", system_site_packages=True, pip_extra_args="--index-url 'a b' -q",
                           roots=[str(tmp_path)], run=host, chown=owners, wheel_dir=str(wheels))
    venv = str(tmp_path / "venv")
    assert origin == "pip"
    assert host.calls[0][0] == [PYTHON, "-m", "venv", "--without-pip", "--system-site-packages", venv]
    argv, env = host.calls[1]
    assert argv == [venv + "/bin/python", str(wheels / "pip-23.0.1-py3-none-any.whl") + "/pip", "install", "--no-input",
                    "-r", str(tmp_path / bb.REQUIREMENTS), "--index-url", "a b", "-q"]
    assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1" and "PYTHONUTF8" not in env
    assert not os.path.exists(venv + "/left-over")
    assert (tmp_path / "venv" / bb.VENV_STAMP).read_text() == "k1\n"
    assert (tmp_path / "venv" / bb.VENV_ORIGIN).read_text() == "pip\n"
    assert mode(venv + "/" + bb.VENV_STAMP) == "0o644" and mode(venv) == "0o750"
    assert owners.of[venv] == "root:app"


def test_build_venv_copies_a_venv_of_the_same_key(tmp_path):
    origin = _stamp(tmp_path / "other", "r0", "k1")
    os.makedirs(origin + "/bin")
    (tmp_path / bb.REQUIREMENTS).write_text("Flask==3.1.0\n")
    host = FakeHost(pip=(1, "", "pip must not run"))
    got = bb.build_venv(str(tmp_path), "k1", "app", roots=[str(tmp_path / "other")], run=host, chown=Owners(),
                        wheel_dir=str(tmp_path))
    assert got == origin
    assert (tmp_path / "venv" / bb.VENV_ORIGIN).read_text() == origin + "\n"
    assert len(host.calls) == 1  # the venv only: no pip run
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "pip-23-py3-none-any.whl").write_bytes(b"")
    assert bb.build_venv(str(tmp_path), "k1", "app", reuse=False, roots=[str(tmp_path / "other")],
                         run=FakeHost(), chown=Owners(), wheel_dir=str(tmp_path / "w")) == "pip"


def test_build_venv_without_a_pip_wheel_says_which_package(tmp_path):
    (tmp_path / bb.REQUIREMENTS).write_text("Flask==3.1.0\n")
    with pytest.raises(bb.VenvError, match=r"no pip wheel in .* \(Debian's python3-pip-whl\)"):
        bb.build_venv(str(tmp_path), "k", "app", run=FakeHost(), chown=Owners(), wheel_dir=str(tmp_path / "none"))


def test_non_ascii_requirements_make_pip_read_utf8(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "pip-1-py3-none-any.whl").write_bytes(b"")
    (tmp_path / bb.REQUIREMENTS).write_text("# Zoë\nFlask==3.1.0\n", encoding="utf-8")
    host = FakeHost()
    bb.build_venv(str(tmp_path), "k", "app", run=host, chown=Owners(), wheel_dir=str(tmp_path / "w"))
    assert host.calls[1][1]["PYTHONUTF8"] == "1"


# --- the source ------------------------------------------------------------------------------

def _evil_archive(path, name, kind=tarfile.REGTYPE, linkname=""):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, linkname
        data = b"" if kind != tarfile.REGTYPE else b"owned\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("name, kind, linkname", [
    ("../escaped", tarfile.REGTYPE, ""),
    ("a/../../escaped", tarfile.REGTYPE, ""),
    ("/tmp/escaped-absolute", tarfile.REGTYPE, ""),
    ("link", tarfile.SYMTYPE, "/etc"),
    ("hard", tarfile.LNKTYPE, "/etc/passwd"),
])
def test_unpack_refuses_members_that_escape(tmp_path, name, kind, linkname):
    archive = _evil_archive(tmp_path / "evil.tar.gz", name, kind, linkname)
    dest = tmp_path / "rel" / "src"
    with pytest.raises(bb.SourceError):
        bb.unpack_archive(archive, str(dest))
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "rel" / "escaped").exists()
    assert os.listdir(dest) == []


def test_unpack_never_writes_through_a_link_left_in_the_release(tmp_path):
    """A half-built release may hold a persistent link into the state directory already."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "data.json").write_text("user data\n")
    (state / "uploads").mkdir()
    src = tmp_path / "rel" / "src"
    src.mkdir(parents=True)
    os.symlink(state / "data.json", src / "data.json")
    os.symlink(state / "uploads", src / "uploads")
    archive = archive_of(tmp_path, {"data.json": b"{}\n", "uploads/seed.txt": b"seed\n"})
    bb.unpack_archive(archive, str(src))
    assert (state / "data.json").read_text() == "user data\n" and os.listdir(state / "uploads") == []
    assert not os.path.islink(src / "data.json") and (src / "data.json").read_text() == "{}\n"
    assert not os.path.islink(src / "uploads") and (src / "uploads" / "seed.txt").read_text() == "seed\n"


def test_unpack_source_from_the_archive_closes_the_source_to_the_app_group(tmp_path):
    archive = archive_of(tmp_path, {"app.py": b"app = 1\n", "bin/run.sh": b"#!/bin/sh\n", "pkg/mod.py": b""})
    os.chmod(tmp_path / "src-tree" / "bin" / "run.sh", 0o755)
    archive = build_archive(str(tmp_path / "src-tree"), archive)
    release, owners = tmp_path / "releases" / "r1", Owners()
    bb.make_release_dir(str(release), "hbnb", chown=owners)
    bb.unpack_source(str(release), {"kind": "archive", "archive": archive}, "hbnb", chown=owners)
    src = release / "src"
    assert mode(release) == "0o751" and mode(src) == "0o750"
    assert (mode(src / "app.py"), mode(src / "bin" / "run.sh"), mode(src / "pkg")) == ("0o640", "0o750", "0o750")
    assert (src / "app.py").stat().st_mtime == 0
    paths = [str(release)] + [os.path.join(d, n) for d, ds, fs in os.walk(src) for n in ds + fs] + [str(src)]
    assert {owners.of[p] for p in paths} == {"root:hbnb"}
    assert os.path.isfile(archive)  # the archive is the caller's (the task's tmp dir)


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_unpack_source_from_git_checks_out_the_commit(tmp_path):
    work = tmp_path / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q", str(work)], check=True)
    (work / "app.py").write_text("v = 1\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(work / "run.sh", 0o755)
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-qm", "one"], check=True)
    first = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (work / "app.py").write_text("v = 2\n")
    subprocess.run(git + ["-C", str(work), "commit", "-qam", "two"], check=True)
    mirror = tmp_path / "git-mirror"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror)], check=True)
    release, owners = tmp_path / "releases" / "git-x", Owners()
    release.mkdir(parents=True)
    bb.unpack_source(str(release), {"kind": "git", "mirror": str(mirror), "commit": first}, "hbnb", chown=owners)
    src = release / "src"
    assert (src / "app.py").read_text() == "v = 1\n"
    assert (mode(src), mode(src / "app.py"), mode(src / "run.sh")) == ("0o750", "0o640", "0o750")
    assert owners.of[str(src / ".git" / "HEAD")] == "root:hbnb"
    with pytest.raises(bb.SourceError, match="git checkout"):
        bb.unpack_source(str(tmp_path / "releases" / "bad"), {"kind": "git", "mirror": str(mirror), "commit": "f" * 40},
                         "hbnb", chown=owners)


# --- static copies, persistent links, marker -------------------------------------------------

def test_static_dirs_are_copied_world_readable(tmp_path):
    src = tmp_path / "src"
    (src / "web" / "static" / "css").mkdir(parents=True)
    (src / "web" / "static" / "css" / "a.css").write_text("a{}\n")
    os.chmod(src / "web" / "static" / "css" / "a.css", 0o600)
    (src / "img").mkdir()
    (src / "img" / "x.png").write_bytes(b"png")
    owners = Owners()
    bb.static_copies(str(tmp_path), [{"prefix": "/static/", "dir": "web/static"}, {"prefix": "/img/", "dir": "img"}],
                     chown=owners)
    assert (tmp_path / "public" / "0" / "css" / "a.css").read_text() == "a{}\n"
    assert (tmp_path / "public" / "1" / "x.png").read_bytes() == b"png"
    assert (mode(tmp_path / "public" / "0"), mode(tmp_path / "public" / "0" / "css"),
            mode(tmp_path / "public" / "0" / "css" / "a.css")) == ("0o755", "0o755", "0o644")
    assert owners.of[str(tmp_path / "public" / "0" / "css" / "a.css")] == "root:root"


def test_several_directories_of_one_static_prefix_merge_and_the_first_one_wins(tmp_path):
    src = tmp_path / "src"
    for name, body in (("web_dynamic/static", "dynamic"), ("web_flask/static", "flask")):
        (src / name / "styles").mkdir(parents=True)
        (src / name / "styles" / "common.css").write_text(body)
        (src / name / ("only-" + name.split("/")[0])).write_text(name)
    bb.static_copies(str(tmp_path), [{"prefix": "/static/", "dir": ["web_dynamic/static", "web_flask/static"]}],
                     chown=Owners())
    public = tmp_path / "public" / "0"
    assert (public / "styles" / "common.css").read_text() == "dynamic"
    assert (public / "only-web_dynamic").exists() and (public / "only-web_flask").exists()


def test_a_missing_static_dir_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(bb.StaticDirMissing, match="^static dir web/static is not in the source$"):
        bb.static_copies(str(tmp_path), [{"prefix": "/static/", "dir": "web/static"}], chown=Owners())


def test_persistent_paths_link_into_the_state_dir_and_a_shipped_file_seeds_it_once(tmp_path):
    src, state = tmp_path / "r1" / "src", tmp_path / "state"
    (src / "uploads").mkdir(parents=True)
    (src / "uploads" / "shipped.png").write_bytes(b"x")
    (src / "file.json").write_text('{"seed": 1}\n')
    owners = Owners()
    bb.persistent_links(str(tmp_path / "r1"), ["file.json", "uploads/", "absent.db"], str(state), "hbnb", "hbnb",
                        chown=owners)
    assert os.readlink(src / "file.json") == str(state / "file.json")
    assert os.readlink(src / "uploads") == str(state / "uploads")
    assert os.readlink(src / "absent.db") == str(state / "absent.db") and not (state / "absent.db").exists()
    assert (state / "file.json").read_text() == '{"seed": 1}\n' and mode(state / "file.json") == "0o640"
    assert os.listdir(state / "uploads") == []  # a directory is created, not seeded
    assert (mode(state), mode(state / "uploads")) == ("0o750", "0o750")
    assert {owners.of[str(p)] for p in (state, state / "uploads", state / "file.json")} == {"hbnb:hbnb"}

    (state / "file.json").write_text('{"written": "by the app"}\n')
    src2 = tmp_path / "r2" / "src"
    src2.mkdir(parents=True)
    (src2 / "file.json").write_text('{"seed": 2}\n')
    bb.persistent_links(str(tmp_path / "r2"), ["file.json"], str(state), "hbnb", "hbnb", chown=owners)
    assert (state / "file.json").read_text() == '{"written": "by the app"}\n'
    assert os.readlink(src2 / "file.json") == str(state / "file.json")


def test_no_persistent_paths_no_state_dir(tmp_path):
    bb.persistent_links(str(tmp_path), [], str(tmp_path / "state"), "u", "g", chown=Owners())
    assert not (tmp_path / "state").exists()


def test_the_marker_names_release_app_and_wsgi_target(tmp_path):
    owners = Owners()
    bb.write_marker(str(tmp_path), "r1", "hbnb", "web_flask.app:app", "hbnb", chown=owners)
    assert (tmp_path / bb.MARKER).read_text() == "release=r1\napp=hbnb\nwsgi_app=web_flask.app:app\n"
    assert mode(tmp_path / bb.MARKER) == "0o640"
    assert os.listdir(tmp_path) == [bb.MARKER]
    assert owners.of[str(tmp_path / bb.MARKER) + ".tmp"] == "root:hbnb"


def test_the_markers_name_is_the_probes():
    probe = load("berth_apps_probe_for_marker", "plugins/modules/berth_apps_probe.py")
    assert (bb.MARKER, bb.REQUIREMENTS) == (probe.MARKER, probe.REQUIREMENTS)


# --- the import check ------------------------------------------------------------------------

def test_check_argv_drops_to_the_app_user_with_a_clean_environment():
    assert bb.check_argv("hbnb", "www", "/srv/r/venv/bin/python", 3, ["--chdir", "/srv/r/src", "app:app"]) == [
        "/usr/bin/setpriv", "--reuid=hbnb", "--regid=www", "--init-groups", "--reset-env",
        "/srv/r/venv/bin/python", "-c", bb.CHECK_SCRIPT, "3", "--chdir", "/srv/r/src", "app:app"]


def test_check_input_is_the_environment_as_json():
    assert json.loads(bb.check_input({"SECRET": "s3", "PORT": 8000})) == {
        "PYTHONDONTWRITEBYTECODE": "1", "SECRET": "s3", "PORT": "8000"}


GUNICORN_STANDIN = """\
import os, pathlib, sys
runs = pathlib.Path(os.environ["CHECK_RUNS"])
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
assert sys.argv[1:] == ["--check-config", "--chdir", "src", "web_flask.app:app"], sys.argv
if n <= int(os.environ["CHECK_FAILURES"]):
    print("OperationalError: (1050, \\"Table 'amenities' already exists\\") run %d" % n, file=sys.stderr)
    sys.exit(1)
print("loaded as %s" % os.environ["APP_USER_MARK"])
"""


def _check(tmp_path, attempts, failures):
    pkg = tmp_path / "gunicorn"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(GUNICORN_STANDIN)
    env = {"CHECK_RUNS": str(tmp_path / "runs"), "CHECK_FAILURES": str(failures), "APP_USER_MARK": "from-stdin"}
    argv = bb.check_argv("u", "g", sys.executable, attempts, ["--chdir", "src", "web_flask.app:app"])[5:]
    result = subprocess.run(argv, input=bb.check_input(env), capture_output=True, text=True, cwd=tmp_path, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    return result, int((tmp_path / "runs").read_text())


def test_a_passing_check_runs_once_with_the_environment_from_stdin(tmp_path):
    result, runs = _check(tmp_path, attempts=3, failures=0)
    assert (result.returncode, runs) == (0, 1)
    assert result.stdout == "loaded as from-stdin\n"


def test_a_failure_that_goes_away_is_retried(tmp_path):
    result, runs = _check(tmp_path, attempts=3, failures=2)
    assert (result.returncode, runs) == (0, 3)
    assert result.stderr == ""


@pytest.mark.parametrize("attempts", [1, 3])
def test_a_lasting_failure_fails_after_the_attempts_with_the_last_error(tmp_path, attempts):
    result, runs = _check(tmp_path, attempts=attempts, failures=99)
    assert (result.returncode, runs) == (1, attempts)
    assert result.stderr == "OperationalError: (1050, \"Table 'amenities' already exists\") run %d\n" % attempts


def test_the_import_failure_names_the_variable_the_database_and_the_fix():
    db = {"name": "hbnb_dev", "host": "10.0.0.5", "port": 3306, "server": "db1", "entry": "mariadb", "user": "hbnb"}
    stderr = "".join("line %d\n" % n for n in range(1, 20)) + "ModuleNotFoundError: No module named 'web_flask.nope'\n"
    msg = bb.import_error_message(dict(APP, database=db), "r1", "web1", 1, stderr)
    assert msg.startswith("flask_apps.hbnb.wsgi 'web_flask.app:app' does not load on web1 from release r1 (exit 1):"
                          " line 9 | line 10 |")
    assert "| line 19 | ModuleNotFoundError: No module named 'web_flask.nope'. Fix: correct flask_apps.hbnb.wsgi" in msg
    assert ("The app connects to its database hbnb_dev on 10.0.0.5:3306 (db1, registry entry mariadb) as hbnb: if the"
            " error is the database's, check that server (site.yml's db play, its firewall) and"
            " flask_apps.hbnb.database.") in msg
    assert msg.endswith("`current` was not switched, the previous release keeps serving.")
    one = bb.import_error_message(ONE_APP, "r1", "web1", 2, "boom\n")
    assert one == ("flask_app_wsgi_app 'web_flask.app:app' does not load on web1 from release r1 (exit 2): boom."
                   " Fix: correct flask_app_wsgi_app (package.module:callable relative to the source root) or the"
                   " app's import error. `current` was not switched, the previous release keeps serving.")


# --- the Builder's messages for each step --------------------------------------------------

def _item(tmp_path, archive, **extra):
    item = {"name": "hbnb", "release": "r1", "root": str(tmp_path / "srv"), "user": "hbnb", "group": "hbnb",
            "wsgi": "app:app", "state_dir": str(tmp_path / "state"), "source": {"kind": "archive", "archive": archive},
            "requirements": [], "requirements_file": "requirements.txt", "gunicorn_requirement": "gunicorn==23.0.0",
            "static": [], "persistent": [], "system_site_packages": False, "pip_extra_args": "", "check_attempts": 1,
            "var": "flask_apps.hbnb", "env": {}, "database": None}
    item.update(extra)
    return item


@pytest.mark.parametrize("extra, wanted", [
    ({"static": [{"prefix": "/s/", "dir": "static"}]},
     "flask_apps.hbnb.static: static dir static is not in the source of release r1 on web1. Fix: name a directory"),
    ({"static": [{"prefix": "/s/", "dir": "static"}], "var": "flask_app"},
     "flask_app_static: static dir static is not in the source of release r1 on web1."),
    ({"requirements_file": "reqs/prod.txt"},
     "flask_apps.hbnb.requirements_file: reqs/prod.txt of release r1 on web1 is not in the source. Fix:"),
    ({"persistent": ["../etc"]}, "flask_apps.hbnb.persistent: '../etc' is not a file or directory name"),
    ({"pip_extra_args": "--index-url 'x"}, "flask_apps.hbnb.pip_extra_args '--index-url 'x' (release r1 on web1)"
                                           " cannot be split like a shell would: No closing quotation."),
    ({"source": {"kind": "archive", "archive": "/nonexistent.tar.gz"}},
     "flask_apps.hbnb.source_dir: the source archive of release r1 could not be unpacked on web1"),
])
def test_each_failed_step_names_its_variable_the_host_and_the_fix(tmp_path, extra, wanted):
    archive = archive_of(tmp_path, {"app.py": b"app = 1\n", "requirements.txt": b"Flask==3.1.0\n"})
    builder = bb.Builder("web1", run=FakeHost(pip=(1, "", "pip ran")), chown=Owners(), wheel_dir=str(tmp_path))
    with pytest.raises(bb.BuildError) as err:
        builder.build(_item(tmp_path, archive, **extra))
    assert wanted in str(err.value)
    assert str(err.value).endswith(bb.NOT_SWITCHED)
    assert not os.path.exists(tmp_path / "srv" / "releases" / "r1" / bb.MARKER)


def test_a_pip_failure_in_a_build_maps_the_line(tmp_path):
    archive = archive_of(tmp_path, {"app.py": b"", "requirements.txt": "# é\r\nFlask=3\r\n".encode("utf-16")})
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "pip-23-py3-none-any.whl").write_bytes(b"")
    pip = (1, "", "ERROR: Invalid requirement: 'Flask=3' (from line 2 of %s/srv/releases/r1/requirements.berth.txt)"
           % tmp_path)
    builder = bb.Builder("web1", run=FakeHost(pip=pip), chown=Owners(), wheel_dir=str(tmp_path / "w"))
    with pytest.raises(bb.BuildError) as err:
        builder.build(_item(tmp_path, archive))
    assert "pip's line 2 of requirements.berth.txt is line 2 of the app's requirements.txt: `Flask=3`." in str(err.value)
    assert "flask_app on web1: the requirements file requirements.txt of release r1 (app hbnb)" in str(err.value)


# --- end to end: the module's build on real venvs ----------------------------------------------

STANDIN_MAIN = '''\
"""Stand-in for gunicorn (tests only): --check-config imports the WSGI target, nothing else."""
import importlib, os, runpy, sys
args = sys.argv[1:]
assert args[0] == "--check-config", args
if args[1] == "--chdir":
    os.chdir(args[2])
    target = args[3]
else:
    target = runpy.run_path(args[2])["wsgi_app"]
sys.path.insert(0, os.getcwd())
module, _, name = target.partition(":")
app = getattr(importlib.import_module(module), name)
assert callable(app), target
'''


def standin_wheel(tmp_path):
    """gunicorn-0.0.0-py3-none-any.whl: the stand-in, with a console script to copy."""
    path = tmp_path / "gunicorn-0.0.0-py3-none-any.whl"
    files = {"gunicorn/__init__.py": '"""Stand-in for gunicorn (tests only)."""\n',
             "gunicorn/__main__.py": STANDIN_MAIN,
             "gunicorn/app.py": "def run():\n    return 0\n",
             "gunicorn-0.0.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: gunicorn\nVersion: 0.0.0\n",
             "gunicorn-0.0.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             "gunicorn-0.0.0.dist-info/entry_points.txt": "[console_scripts]\ngunicorn = gunicorn.app:run\n"}
    record = []
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            data = text.encode()
            whl.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
        whl.writestr("gunicorn-0.0.0.dist-info/RECORD", "\n".join(record + ["gunicorn-0.0.0.dist-info/RECORD,,"]) + "\n")
    return str(path)


def as_root_only(argv, cwd=None, env=None, stdin=None):
    """The real runner; setpriv (which needs root) is dropped when the tests do not run as root."""
    if argv[0] == bb.SETPRIV and os.geteuid() != 0:
        argv = argv[5:]
    return cbb.run(argv, cwd=cwd, env=env, stdin=stdin)


@needs_venv
def test_the_module_builds_releases_end_to_end(tmp_path):
    import grp
    import pwd
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    wheel = standin_wheel(tmp_path)
    app_py = b'import os\nif os.environ.get("APP_SECRET") != "from-stdin":\n    raise RuntimeError("no APP_SECRET")\n' \
             b'def app(environ, start_response):\n    return []\n'
    # The app's file as a Windows editor saves it: UTF-16 with BOM, CRLF.
    reqs = ("# pins\r\ngunicorn @ file://%s\r\n" % wheel).encode("utf-16")
    archive = archive_of(tmp_path, {"app.py": app_py, "requirements.txt": reqs, "static/a.css": b"a{}\n"})
    bad_pins = archive_of(tmp_path, {"app.py": app_py, "static/a.css": b"a{}\n",
                                     "requirements.txt": ("gunicorn @ file://%s\nFlask=3\n" % wheel).encode()}, name="pins")

    def item(name, wsgi="app:app", source=archive):
        return dict(_item(tmp_path, source, name=name, root=str(tmp_path / name), user=user, group=group, wsgi=wsgi,
                          state_dir=str(tmp_path / name / "state"), var="flask_apps." + name,
                          static=[{"prefix": "/static/", "dir": "static"}], persistent=["data.json"],
                          pip_extra_args="--no-index", env={"APP_SECRET": "from-stdin"}))

    builds = [item("bad", wsgi="app:nope"), item("one"), item("two"), item("pins", source=bad_pins)]
    params = {"host": "web1", "builds": builds, "venv_reuse": True, "checks": [],
              "venv_roots": [str(tmp_path / n) for n in ("bad", "one", "two", "pins")]}
    owners = Owners()
    builder = cbb.Builder("web1", venv_roots=params["venv_roots"], run=as_root_only, chown=owners)

    lock = str(tmp_path / "build.lock")
    result, failure = module.run_module(params, builder=builder, lock_path=lock)

    assert result["built"] == ["one", "two"] and result["changed"]
    assert sorted(result["failed_apps"]) == ["bad", "pins"]
    assert result["failed_apps"]["bad"].startswith("flask_apps.bad.wsgi 'app:nope' does not load on web1 from release r1")
    assert "AttributeError" in result["failed_apps"]["bad"]
    assert "pip's line 2 of requirements.berth.txt is line 2 of the app's requirements.txt: `Flask=3`." \
        in result["failed_apps"]["pins"]
    assert failure == result["failed_apps"]["bad"] + " " + result["failed_apps"]["pins"]
    bad, one, two = (tmp_path / name / "releases" / "r1" for name in ("bad", "one", "two"))
    # bad's venv was complete (stamped) before its import check failed: the others copy it.
    assert (bad / "venv" / bb.VENV_ORIGIN).read_text() == "pip\n"
    assert result["venvs"] == {"one": str(bad / "venv"), "two": str(bad / "venv")}
    assert (one / "venv" / bb.VENV_STAMP).read_text() == (two / "venv" / bb.VENV_STAMP).read_text()
    assert (two / "venv" / "bin" / "gunicorn").read_text().startswith("#!%s/bin/python" % (two / "venv"))
    assert (one / bb.REQUIREMENTS).read_text() == "# pins\ngunicorn @ file://%s\n" % wheel
    assert (one / bb.MARKER).read_text() == "release=r1\napp=one\nwsgi_app=app:app\n"
    assert not (tmp_path / "bad" / "releases" / "r1" / bb.MARKER).exists()
    assert (one / "public" / "0" / "a.css").read_text() == "a{}\n"
    assert os.readlink(one / "src" / "data.json") == str(tmp_path / "one" / "state" / "data.json")
    assert owners.of[str(one / "venv")] == "root:%s" % group

    probe = load("berth_apps_probe_for_sha", "plugins/modules/berth_apps_probe.py")
    assert result["requirements"] == {"one": probe._sha1(str(one / bb.REQUIREMENTS)),
                                      "two": probe._sha1(str(two / bb.REQUIREMENTS))}
    assert result["requirements"]["one"] == result["requirements"]["two"] != ""

    again, _ = module.run_module(params, builder=builder, lock_path=lock)
    assert again["requirements"] == result["requirements"]
    assert (again["already_built"], again["built"], sorted(again["failed_apps"])) == (["one", "two"], [], ["bad", "pins"])
    dry, _ = module.run_module(dict(params, builds=builds + [item("new")]), check_mode=True, builder=builder)
    assert dry["would_build"] == {"bad": "r1", "pins": "r1", "new": "r1"} and dry["changed"]
    assert not (tmp_path / "new").exists()

    os.symlink(one, tmp_path / "one" / "current")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gunicorn.conf.py").write_text('wsgi_app = "app:app"\n')
    (tmp_path / "badconf").mkdir()
    (tmp_path / "badconf" / "gunicorn.conf.py").write_text('wsgi_app = "app:missing"\n')
    check = {"name": "one", "user": user, "group": group, "root": str(tmp_path / "one"), "conf_dir": str(tmp_path / "conf"),
             "check_attempts": 1, "env": {"APP_SECRET": "from-stdin"}}
    broken = dict(check, name="two", conf_dir=str(tmp_path / "badconf"))
    checked, failure = module.run_module({"host": "web1", "checks": [check, broken]}, builder=builder)
    assert checked["checked"] == ["one"]
    assert checked["checks_failed"]["two"].startswith(
        "two on web1: its gunicorn config %s/gunicorn.conf.py or its app does not load (exit 1):" % (tmp_path / "badconf"))
    assert checked["checks_failed"]["two"].endswith(
        "Not reloaded: the running workers keep serving. Fix the app's settings in flask_apps and run again.")
    assert failure == checked["checks_failed"]["two"]


def test_the_module_in_check_mode_changes_nothing_and_never_shows_the_environment(tmp_path, monkeypatch, capsys):
    from ansible.module_utils import basic

    build = _item(tmp_path, "/nonexistent.tar.gz", env={"FLASK_SECRET_KEY": "s3cr3t-key-value", "BERTH_APP": "hbnb"})
    args = {"ANSIBLE_MODULE_ARGS": {"host": "web1", "builds": [build], "_ansible_check_mode": True}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(args).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    with pytest.raises(SystemExit):
        module.main()
    out = json.loads(capsys.readouterr().out)
    assert out["would_build"] == {"hbnb": "r1"} and out["changed"] and not out.get("failed")
    assert out["msg"] == "would build: hbnb; already built: none"
    assert not (tmp_path / "srv").exists()
    text = json.dumps(out) + " ".join(logged)
    assert "s3cr3t-key-value" not in text and out["invocation"]["module_args"]["builds"][0]["env"] == module.MASK
    assert "hbnb" in out["msg"]  # the app's name, an env value too, is not masked out of the messages


def test_a_check_without_a_current_release_fails_with_the_reload_message(tmp_path):
    check = {"name": "hbnb", "user": "u", "group": "g", "root": str(tmp_path), "conf_dir": "/etc/hbnb", "env": {}}
    result, failure = module.run_module({"host": "web1", "checks": [check]},
                                        builder=cbb.Builder("web1", chown=Owners()))
    assert result["checked"] == [] and failure == result["checks_failed"]["hbnb"]
    assert failure.startswith("hbnb on web1: its gunicorn config /etc/hbnb/gunicorn.conf.py or its app does not load"
                              " (exit 127): %s/current/src: No such file or directory." % tmp_path)


def test_only_secret_looking_env_values_are_masked_in_results():
    items = [{"env": {"FLASK_SECRET_KEY": "k", "DB_PASS": "p", "BERTH_APP": "hbnb", "DD_API_KEY": "dd", "X": "y"},
              "database": {"password_env": "DB_PASS"}}]
    assert module.secret_values(items) == {"k", "p", "dd"}


# --- the action plugin -----------------------------------------------------------------------

def test_a_missing_source_dir_is_named_with_the_host_and_the_fix(tmp_path):
    builds = [dict(_item(tmp_path, ""), source={"kind": "local", "dir": str(tmp_path / "nope")}),
              dict(_item(tmp_path, ""), name="x", var="flask_app", source={"kind": "local", "dir": ""})]
    archives, failed = action.pack_sources(builds, "web1", str(tmp_path / "cache"))
    assert archives == {}
    assert failed["hbnb"].startswith("flask_apps.hbnb.source_dir '%s' is not a directory on the controller (app hbnb,"
                                     " host web1). Fix: set flask_apps.hbnb.source_dir" % (tmp_path / "nope"))
    assert failed["x"].startswith("flask_app_source_dir '' is not a directory")


class FakeShell:
    tmpdir = None

    @staticmethod
    def join_path(*parts):
        return "/".join(parts)


class FakeTask:
    def __init__(self, args, check_mode=False):
        self.args, self.check_mode, self.async_val, self.action, self.environment = args, check_mode, 0, "berth_release", []


def fake_action(args, check_mode=False):
    """The action with its connection replaced by a record of what it would send and run."""
    act = action.ActionModule.__new__(action.ActionModule)
    act._task, act._connection = FakeTask(args, check_mode), type("Conn", (), {"_shell": FakeShell()})()
    act.sent, act.fixed, act.removed, act.ran = [], [], [], []

    def make_tmp():
        act._connection._shell.tmpdir = "/home/deploy/.ansible/tmp/ansible-tmp-1-2-3"
        return act._connection._shell.tmpdir

    act._make_tmp_path = make_tmp
    act._transfer_file = lambda local, remote: act.sent.append((local, remote)) or remote
    act._fixup_perms2 = lambda paths, **kw: act.fixed.extend(paths)
    act._remove_tmp_path = lambda path, force=False: act.removed.append(path)
    act._execute_module = lambda module_name, module_args, task_vars: act.ran.append((module_name, module_args)) or {
        "changed": True, "built": [b["name"] for b in module_args["builds"]], "failed_apps": {}}
    return act


def test_the_action_sends_each_source_once_and_removes_its_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_SOURCE_CACHE", str(tmp_path / "cache"))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text("app = %r\n" % name)
    local = lambda d: {"kind": "local", "dir": str(tmp_path / d)}  # noqa: E731
    builds = [dict(_item(tmp_path, ""), name="one", source=local("a")),
              dict(_item(tmp_path, ""), name="two", source=local("a")),
              dict(_item(tmp_path, ""), name="three", source=local("b")),
              dict(_item(tmp_path, ""), name="git", source={"kind": "git", "mirror": "/srv/g/git-mirror", "commit": "c"}),
              dict(_item(tmp_path, ""), name="gone", source=local("missing"))]
    act = fake_action({"builds": builds})
    result = act.run(task_vars={"inventory_hostname": "web1"})

    tmpdir = "/home/deploy/.ansible/tmp/ansible-tmp-1-2-3"
    assert len(act.sent) == 2 and all(remote.startswith(tmpdir + "/berth-source-") for _, remote in act.sent)
    assert sorted(os.path.dirname(local) for local, _ in act.sent) == [str(tmp_path / "cache")] * 2
    assert act.fixed == [tmpdir] + [remote for _, remote in act.sent]
    assert act.removed == [tmpdir]
    (name, args), = act.ran
    assert name == "berth.stack.berth_release" and args["host"] == "web1"
    sources = {b["name"]: b["source"] for b in args["builds"]}
    assert sources["one"] == sources["two"] == {"kind": "archive", "archive": act.sent[0][1]}
    assert sources["three"]["archive"] == act.sent[1][1] and sources["git"]["kind"] == "git" and "gone" not in sources
    with tarfile.open(act.sent[0][0]) as tar:
        assert tar.extractfile("app.py").read() == b"app = 'a'\n"
    assert result["failed"] and list(result["failed_apps"]) == ["gone"] and result["built"] == ["one", "two", "three", "git"]
    assert result["msg"].startswith("flask_apps.hbnb.source_dir '%s' is not a directory" % (tmp_path / "missing"))
    assert builds[0]["source"]["kind"] == "local"  # the task's own arguments are left as they were


def test_the_action_in_check_mode_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_SOURCE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a").mkdir()
    act = fake_action({"builds": [dict(_item(tmp_path, ""), source={"kind": "local", "dir": str(tmp_path / "a")})]},
                      check_mode=True)
    act.run(task_vars={"inventory_hostname": "web1"})
    assert act.sent == [] and not (tmp_path / "cache").exists()
    assert act.ran[0][1]["builds"][0]["source"] == {"kind": "archive", "archive": ""}


def test_the_module_utils_file_needs_nothing_but_the_stdlib():
    text = (ROOT / "plugins" / "module_utils" / "berth_build.py").read_text()
    assert "import ansible" not in text and "from ansible" not in text
    assert bb.Builder and bb.CHECK_SCRIPT == cbb.CHECK_SCRIPT


# --- Messages that name the real cause (issue 28) ------------------------------------------------

def test_a_full_disk_is_named_as_such_not_as_the_requirements(tmp_path):
    app = {"name": "hbnb_api", "root": str(tmp_path), "var": "flask_apps.hbnb_api"}
    info = {"kind": "file", "file": "requirements.txt", "user_lines": 3, "text": ""}
    message = bb.pip_error_message("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on "
                                   "device", info, app, "r2", "web1")
    assert message.startswith("flask_app on web1: the disk holding %s is full (" % tmp_path)
    assert "MB free" in message and "requirements" not in message.split("Fix:")[0]


def test_an_unreachable_database_is_named_as_such_not_as_the_wsgi_target():
    app = {"name": "hbnb_api", "wsgi": "api.v1.app:app", "var": "flask_apps.hbnb_api", "root": "/srv/hbnb_api",
           "database": {"name": "hbnb_dev_db", "host": "db1", "port": 3306, "server": "db1", "entry": "mariadb",
                        "user": "hbnb_dev"}}
    err = ('sqlalchemy.exc.OperationalError: (MySQLdb.OperationalError) (2002, "Can\'t connect to server on '
           '\'db1\' (115)")')
    message = bb.import_error_message(app, "r2", "web1", 1, err)
    assert "could not reach its database hbnb_dev_db on db1:3306" in message
    assert "correct flask_apps.hbnb_api.wsgi" not in message
    # Without a database, an import error stays the app's own.
    app.pop("database")
    assert "Fix: correct flask_apps.hbnb_api.wsgi" in bb.import_error_message(app, "r2", "web1", 1, "ImportError: x")


def test_builds_wait_for_the_host_build_lock_then_name_its_holder(tmp_path):
    import fcntl

    path = tmp_path / "run" / "build.lock"
    clock = iter(range(0, 100, 5))
    slept = []
    with cbb.build_lock("web1", path=str(path)):
        assert path.read_text() == "%d\n" % os.getpid()
        # A second holder (another open file, as a second module run has) waits, then gives up
        # naming the holder.
        with pytest.raises(cbb.BuildError) as exc:
            with cbb.build_lock("web1", path=str(path), wait=12, sleep=slept.append, clock=lambda: next(clock)):
                pass
    assert slept == [1, 1]
    assert str(exc.value).startswith("berth_release on web1: another build (pid %d) has held %s for 12 s." % (os.getpid(), path))
    assert str(exc.value).endswith(bb.NOT_SWITCHED)
    # Released: a new holder takes it at once.
    fd = os.open(str(path), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_a_build_lock_held_too_long_fails_every_build_and_builds_nothing(tmp_path, monkeypatch):
    import fcntl

    lock = tmp_path / "build.lock"
    fd = os.open(str(lock), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    monkeypatch.setattr(cbb, "BUILD_LOCK_WAIT", 0)
    monkeypatch.setattr(module, "build_lock",
                        lambda host, path: cbb.build_lock(host, path=path, wait=0, sleep=lambda s: None))
    builds = [_item(tmp_path, "/nonexistent.tar.gz", name=n) for n in ("api", "web")]
    try:
        result, failure = module.run_module({"host": "web1", "builds": builds}, builder=cbb.Builder("web1", chown=Owners()),
                                            lock_path=str(lock))
    finally:
        os.close(fd)
    assert sorted(result["failed_apps"]) == ["api", "web"] and result["built"] == [] and not result["changed"]
    assert failure.startswith("berth_release on web1: another build (pid ?) has held %s for 0 s." % lock)
    assert failure.count("another build") == 1
