"""foreign-listener-refused verify: the refused deployment changed nothing on either web host
(the squatted canary, and the clean wave1 host that the refusal stopped too).

Expected names come from the inventory the play used (registry entry app_http)
and from the roles' own defaults, never from constants written here.
"""

import os

import pytest
import yaml

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import sys  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "collections"))  # the working tree as the collection berth.stack
from ansible_collections.berth.stack.plugins.filter.berth_ports import berth_port  # noqa: E402

testinfra_hosts = ["ansible://web"]


def role_default(role, name):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle)[name]


@pytest.fixture(scope="module")
def app(host):
    hv = host.ansible.get_variables()
    return berth_port(hv["berth_ports"], "app_http", hv.get("berth_ports_overrides") or {})


def test_a_dry_run_on_the_clean_host_passes_and_changes_nothing(host):
    """site.yml --check on the clean host (nothing installed, no apt lists, no Datadog source):
    every role reports what a real run would do and fails nowhere; the tests below then find the
    host as untouched as the refusal left it. Runs first (file order)."""
    import re
    import subprocess

    if "wave1" not in host.ansible.get_variables()["group_names"]:
        pytest.skip("the dry run goes to the clean host only")
    name = host.ansible.get_variables()["inventory_hostname"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "--check", "--diff", "-i", env["MOLECULE_INVENTORY_FILE"],
                           "--limit", name, os.path.join(ROOT, "site.yml")],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    recap = re.search(r"^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0" % re.escape(name), proc.stdout, re.M)
    assert recap and int(recap.group(2)) > 0, out[-4000:]
    # Each task that would create something reports it as a change in the dry run (berth_accounts and
    # berth_release in check mode; the agent package from a source that does not exist yet).
    for reported in ("prerequisites | Create or correct the app groups and users (no shell, no login, no home)",
                     "build | Build the new releases and import-check each WSGI target as its app user",
                     "Report the agent package a real run would install from the new source"):
        task = re.search(r"TASK \[[^\]]*%s[^\]]*\][^\n]*\n(.*?)\n\n" % re.escape(reported), proc.stdout, re.S)
        assert task and ("changed: [%s]" % name) in task.group(1), reported


def test_nginx_package_was_not_installed(host):
    assert not host.package(role_default("nginx", "nginx_package_name")).is_installed


def test_app_unit_was_not_created(host, app):
    unit = app["service"] + ".service"
    out = host.run("systemctl list-unit-files --no-legend %s", unit)
    assert unit not in out.stdout
    assert not host.file("/etc/systemd/system/" + unit).exists


def test_agent_config_was_not_written(host):
    conf = os.path.join(role_default("datadog", "datadog_config_dir"), "datadog.yaml")
    assert not host.file(conf).exists


def test_foreign_listener_still_holds_the_port(host, app):
    if "canary" not in host.ansible.get_variables()["group_names"]:
        pytest.skip("only the canary host runs the squatter (prepare.yml); the other host is the clean one")
    # Nothing stopped or replaced the squatter: the preflight only reads.
    sock = host.socket("%s://%s:%d" % (app["proto"], app["bind"], app["port"]))
    assert sock.is_listening
    assert host.service("port-squatter").is_running
