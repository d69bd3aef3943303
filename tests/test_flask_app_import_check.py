"""Unit tests for flask_app's import check (roles/flask_app/vars/main.yml, __flask_app_check_script).

The script runs `python -m gunicorn --check-config ...` with the app's environment read from
stdin, as many times as its first argument says, a second apart, until one succeeds. Here a
stand-in `gunicorn` package fails its first runs the way an app racing another host for its
schema does, counting its runs in a file.
"""

import json
import subprocess
import sys

import pytest
import yaml

from project import ROOT

ROLE_VARS = yaml.safe_load((ROOT / "roles/flask_app/vars/main.yml").read_text())
SCRIPT = ROLE_VARS["__flask_app_check_script"]

STANDIN = """\
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
    (pkg / "__main__.py").write_text(STANDIN)
    runs = tmp_path / "runs"
    env = {"CHECK_RUNS": str(runs), "CHECK_FAILURES": str(failures), "APP_USER_MARK": "from-stdin"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(attempts), "--chdir", "src", "web_flask.app:app"],
        input=json.dumps(env), capture_output=True, text=True, cwd=tmp_path, timeout=30,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    return result, int(runs.read_text())


def test_the_attempts_come_from_whether_the_app_has_a_database():
    assert ROLE_VARS["__flask_app_check_attempts"] == "{{ (3 if item.database else 1) | string }}"


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
