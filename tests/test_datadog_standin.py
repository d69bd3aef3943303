"""Unit tests for the TEST STAND-IN Datadog agent package and its signed repository builder.

tools/datadog-standin-repo.py and molecule/resources/datadog-agent-standin/ stand in for
Datadog's apt repository and package, which cannot be reached from the test environment.
"""

import json
import pathlib
import shutil
import subprocess
import tarfile

import pytest
import yaml
from project import ROOT, load



standin = load("datadog_agent_standin", "molecule/resources/datadog-agent-standin/opt/datadog-agent/standin/datadog_agent_standin.py")
repo_tool = load("datadog_standin_repo", "tools/datadog-standin-repo.py")

SAMPLE = """#
# Ansible managed
#
# berth-managed: datadog role
api_key: "0123456789abcdef"
GUI_port: -1
apm_config:
  apm_non_local_traffic: false
  debug:
    port: 5012
  enabled: true
  receiver_port: 8126
bind_host: 127.0.0.1
cmd_host: '::1'
dogstatsd_non_local_traffic: true
process_config:
  cmd_port: 6162
  expvar_port: 6062
tags:
- env:sandbox
"""


def test_standin_parser_agrees_with_yaml_on_what_it_reads():
    ours = standin.parse_yaml_subset(SAMPLE)
    ref = yaml.safe_load(SAMPLE)
    for path in ("apm_config.debug.port", "apm_config.receiver_port", "apm_config.apm_non_local_traffic",
                 "bind_host", "cmd_host", "dogstatsd_non_local_traffic", "process_config.cmd_port",
                 "process_config.expvar_port", "GUI_port", "api_key"):
        assert standin.get(ours, path) == standin.get(ref, path), path


def test_standin_defaults_when_a_setting_is_missing():
    assert standin.get(standin.parse_yaml_subset("api_key: x\n"), "apm_config.debug.port", 5012) == 5012


TOOLS = all(shutil.which(t) for t in ("dpkg-deb", "dpkg-scanpackages", "gpg", "gpgv"))


@pytest.mark.skipif(not TOOLS, reason="needs dpkg-dev and gnupg (installed by the tool itself as root)")
def test_repository_is_signed_indexed_and_cached(tmp_path):
    out = tmp_path / "standin"
    first = json.loads(subprocess.run(["python3", str(ROOT / "tools/datadog-standin-repo.py"), "--out", str(out)],
                                      check=True, capture_output=True, text=True).stdout)
    again = json.loads(subprocess.run(["python3", str(ROOT / "tools/datadog-standin-repo.py"), "--out", str(out)],
                                      check=True, capture_output=True, text=True).stdout)
    assert first["changed"] is True and again["changed"] is False
    dists = pathlib.Path(first["repo"]) / "dists" / repo_tool.SUITE
    packages = (dists / repo_tool.COMPONENT / "binary-amd64" / "Packages").read_text()
    assert "Package: datadog-agent\n" in packages
    assert "Version: %s\n" % repo_tool.VERSION in packages
    assert "berthstandin" in repo_tool.VERSION  # the version says it is the stand-in
    keyring = tmp_path / "key.gpg"
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(keyring), first["key"]], check=True)
    for signed in (["InRelease"], ["Release.gpg", "Release"]):
        subprocess.run(["gpgv", "--keyring", str(keyring)] + [str(dists / f) for f in signed],
                       check=True, capture_output=True)
    release = (dists / "Release").read_text()
    assert "Suite: %s" % repo_tool.SUITE in release and "Components: %s" % repo_tool.COMPONENT in release
    # The archive the mirror playbook ships: the same files, relative paths, owned by root.
    repo = pathlib.Path(first["repo"])
    with tarfile.open(first["archive"]) as tar:
        members = tar.getmembers()
    assert sorted(m.name for m in members) == sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "root", "root")}
    packages_member = next(m for m in members if m.name.endswith("binary-amd64/Packages"))
    assert packages_member.mode == 0o644
    # Signing started a gpg-agent for the throwaway homedir: the build stops it again.
    assert not agents_under(tmp_path)


def agents_under(path):
    """Command lines of the gpg-agents whose homedir lies under path."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"gpg-agent") and str(path).encode() in b" ".join(argv):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


@pytest.mark.skipif(not TOOLS, reason="needs dpkg-dev and gnupg (installed by the tool itself as root)")
def test_builders_started_together_take_turns(tmp_path):
    """Two scenarios of make test prepare their hosts at once: both builds succeed, one builds and
    the other finds its repository current, and the repository is whole."""
    out = tmp_path / "standin"
    argv = ["python3", str(ROOT / "tools/datadog-standin-repo.py"), "--out", str(out)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0, 0], [err[-2000:] for _, _, err in results]
    assert sorted(json.loads(o)["changed"] for _, o, _ in results) == [False, False, True]
    dists = out / "repo" / "dists" / repo_tool.SUITE
    assert "Package: datadog-agent\n" in (dists / repo_tool.COMPONENT / "binary-amd64" / "Packages").read_text()
    assert (out / "repo.tar").is_file() and not (out / "repo.new").exists()

