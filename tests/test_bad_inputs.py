"""The offline half of the bad-input matrix (issue 9): every wrong input that can be
refused without a host is refused by the REAL playbooks before any host is contacted.

Each case runs ``ansible-playbook`` as a user would:

* port registry classes: ``playbooks/validate.yml`` against ``inventories/sandbox``
  with ``-e berth_ports_overrides=...`` (validate.yml never contacts a host);
* role inputs (API key, app source, release id, WSGI target format): the role's own
  entry point (argument specs + tasks/preflight.yml) against a generated inventory
  whose only host uses a connection plugin generated here that refuses every
  connection (no daemon, network or container involved), with the sandbox
  group_vars linked in (one source of truth). Any attempt to reach the host prints
  ``UNREACHABLE!`` with that plugin's marker; a control case with good inputs proves
  that it does;
* rollout stage naming an unknown group: ``playbooks/rollout.yml`` (its plan play is
  controller-only) against the same generated inventory.

Assertions: rc != 0, the exact message (copied into docs/errors.md), and no host
contacted. The messages observed are written to $BERTH_BAD_INPUTS_LOG when set
(that file is what docs/errors.md was built from).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "inventories" / "sandbox"
VAULT = SANDBOX / "vault-password.txt"
NOHOST = "berth-badinput-nohost"
MARKER = "berth-test: the host was contacted"
BIN = Path(sys.executable).parent

from ansible_collections.berth.stack.plugins.module_utils import berth_registry as br  # noqa: E402

NOHOST_CONNECTION = '''\
"""Test-only connection: every attempt to reach the host fails as UNREACHABLE."""
from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: berth_nohost
short_description: refuse every connection (berth unit tests)
description: [Any use of the connection fails with a fixed marker.]
author: berth
"""


class Connection(ConnectionBase):
    transport = "berth_nohost"
    has_pipelining = True

    def _connect(self):
        raise AnsibleConnectionFailure("%s")

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._connect()

    def put_file(self, in_path, out_path):
        self._connect()

    def fetch_file(self, in_path, out_path):
        self._connect()

    def close(self):
        self._connected = False
''' % MARKER

ROLE_PLAYBOOK = """\
- name: Bad input | the role's entry point (argument specs, then preflight)
  hosts: web
  gather_facts: false
  tasks:
    - name: Bad input | run the role
      ansible.builtin.include_role:
        name: "berth.stack.{{ bad_input_role }}"
"""


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """A generated inventory: one web/canary host that does not exist, sandbox group_vars."""
    base = tmp_path_factory.mktemp("badinput")
    inv = base / "inventory"
    inv.mkdir()
    (inv / "group_vars").symlink_to(SANDBOX / "group_vars", target_is_directory=True)
    (inv / "hosts.yml").write_text(
        "all:\n"
        "  vars:\n"
        "    ansible_connection: berth_nohost\n"
        "    ansible_python_interpreter: /usr/bin/python3\n"
        "  children:\n"
        "    berth:\n"
        "      children:\n"
        "        lb: {hosts: {}}\n"
        "        web:\n"
        "          children:\n"
        "            canary:\n"
        "              hosts:\n"
        "                %s:\n"
        "            wave1: {hosts: {}}\n" % NOHOST
    )
    (base / "role.yml").write_text(ROLE_PLAYBOOK)
    empty = base / "empty-src"
    empty.mkdir()
    plugins = base / "connection_plugins"
    plugins.mkdir()
    (plugins / "berth_nohost.py").write_text(NOHOST_CONNECTION)
    return {"inventory": inv, "role_playbook": base / "role.yml", "empty": empty,
            "connection_plugins": plugins}


def run(playbook, inventory, extra):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONNECTION_PLUGINS": str(Path(inventory).parent / "connection_plugins"),
        "PATH": "%s:%s" % (BIN, env.get("PATH", "")),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_VAULT_PASSWORD_FILE": str(VAULT),
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    argv = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    for item in extra:
        argv += ["-e", json.dumps(item)]
    proc = subprocess.run(argv, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def record(case_id, variable, value, out):
    """Append the observed failure line(s) to $BERTH_BAD_INPUTS_LOG (source of docs/errors.md)."""
    log = os.environ.get("BERTH_BAD_INPUTS_LOG")
    if not log:
        return
    lines, keep = [], False
    for ln in out.splitlines():
        if ln.startswith("[ERROR]") or ln.startswith("[WARNING]"):
            keep = True
        elif ln.startswith("Origin:") or not ln.strip():
            keep = False
        if keep:
            lines.append(ln)
    with open(log, "a") as fh:
        fh.write(json.dumps({"case": case_id, "variable": variable, "value": value, "output": lines}) + "\n")


def contacted(out):
    """True when the run tried the host: the test connection plugin refused it."""
    return MARKER in out


def override(entry, **values):
    return {"berth_ports_overrides": {entry: values}}


# (id, variable shown in docs, extra vars, expected substrings)
REGISTRY_CASES = [
    ("port-not-integer", "berth_ports.<entry>.port", override("app_http", port="80O0"),
     ["[port] app_http: port '80O0' is a string, not an integer (write a bare number such as 8000)", "berth_ports_overrides.app_http",
      "on host %s" % NOHOST, "fix: set an integer 1-65535"]),
    ("port-numeric-string", "berth_ports.<entry>.port", override("app_http", port="8000"),
     ["[port] app_http: port '8000' is a string, not an integer"]),
    ("port-out-of-range", "berth_ports.<entry>.port", override("app_http", port=70000),
     ["[port] app_http: port 70000 is outside 1-65535", "fix: set an integer 1-65535"]),
    ("port-zero", "berth_ports.<entry>.port", override("app_http", port=0),
     ["[port] app_http: port 0 is outside 1-65535"]),
    ("port-duplicate", "berth_ports.<entry>.port", override("app_http", port=5001),
     ["[conflict] app_http and datadog_cmd both claim 5001/tcp (bind 127.0.0.1 and 127.0.0.1 overlap)",
      "fix: move app_http or datadog_cmd to a free port"]),
    ("port-privileged", "berth_ports.<entry>.port", override("app_http", port=81),
     ["[privileged] app_http: port 81 is privileged (<1024) but user is 'hbnb', not root",
      "fix: use a port >= 1024 or user root"]),
    ("proto-unknown", "berth_ports.<entry>.proto", override("app_http", proto="sctp"),
     ["[proto] app_http: unknown proto 'sctp' (tcp or udp)", "fix: set proto tcp or udp"]),
    ("bind-malformed", "berth_ports.<entry>.bind", override("app_http", bind="127.0.0.300"),
     ["[bind] app_http: bind '127.0.0.300' is not an IPv4/IPv6 address",
      "fix: set an address such as 127.0.0.1 or 0.0.0.0"]),
    ("bind-hostname", "berth_ports.<entry>.bind", override("app_http", bind="localhost"),
     ["[bind] app_http: bind 'localhost' is not an IPv4/IPv6 address"]),
    ("override-unknown-entry", "berth_ports_overrides", override("app_https", port=8443),
     ["[overrides] berth_ports_overrides names 'app_https', which is not in berth_ports",
      "fix: fix the entry name in berth_ports_overrides"]),
]


@pytest.mark.parametrize("case_id,variable,extra,expected", REGISTRY_CASES, ids=[c[0] for c in REGISTRY_CASES])
def test_registry_input_refused_offline(gen, case_id, variable, extra, expected):
    rc, out = run(ROOT / "playbooks" / "validate.yml", gen["inventory"], [extra])
    record(case_id, variable, extra, out)
    assert rc != 0, out
    for text in expected:
        assert text in out, out
    assert not contacted(out), out
    assert "unreachable=0" in out, out


def test_exposed_entry_warns_but_passes(gen):
    """A non-Nginx entry opened on a non-loopback address: validate.yml warns and succeeds."""
    extra = override("datadog_dogstatsd", bind="0.0.0.0")
    rc, out = run(ROOT / "playbooks" / "validate.yml", gen["inventory"], [extra])
    record("exposed-warning", "berth_ports.<entry>.bind", extra, out)
    assert rc == 0, out
    assert ("[WARNING]: port registry: [exposed] datadog_dogstatsd (service datadog-agent) listens on "
            "0.0.0.0, reachable from the network; only Nginx should be on host %s" % NOHOST) in out, out
    assert "set bind: 127.0.0.1 in berth_ports_overrides.datadog_dogstatsd" in " ".join(out.split()), out


def test_sandbox_registry_has_no_exposure_warning(gen):
    rc, out = run(ROOT / "playbooks" / "validate.yml", gen["inventory"], [])
    assert rc == 0, out
    assert "[exposed]" not in out, out


# Unit level: the warning rule itself (berth_registry.exposure_warnings).
@pytest.mark.parametrize("entry,warned", [
    ({"port": 8000, "proto": "tcp", "bind": "0.0.0.0", "service": "flask-app", "user": "hbnb"}, True),
    ({"port": 8000, "proto": "tcp", "bind": "::", "service": "flask-app", "user": "hbnb"}, True),
    ({"port": 8000, "proto": "tcp", "bind": "10.1.2.3", "service": "flask-app", "user": "hbnb"}, True),
    ({"port": 8000, "proto": "tcp", "bind": "127.0.0.1", "service": "flask-app", "user": "hbnb"}, False),
    ({"port": 8000, "proto": "tcp", "bind": "::1", "service": "flask-app", "user": "hbnb"}, False),
    ({"port": 8000, "proto": "tcp", "bind": "127.0.0.2", "service": "flask-app", "user": "hbnb"}, False),
    ({"port": 80, "proto": "tcp", "bind": "0.0.0.0", "service": "nginx", "user": "root"}, False),
    ({"port": 8000, "proto": "tcp", "bind": "0.0.0.0", "service": "flask-app", "user": "hbnb",
      "enabled": False}, False),
    ({"port": 8000, "proto": "tcp", "bind": "0.0.0.0", "service": "flask-app", "user": "hbnb",
      "groups": ["lb"]}, False),
])
def test_exposure_warning_rule(entry, warned):
    found = br.exposure_warnings({"x": entry}, host_groups=frozenset({"berth", "web"}))
    assert bool(found) is warned
    if warned:
        assert found[0].kind == "exposed" and "set bind: 127.0.0.1" in found[0].fix


def test_exposure_warning_does_not_fail_the_report():
    report = br.validate_hosts([{"host": "h1", "groups": ["web"], "registry_file": "r.yml", "overrides": {},
                                 "registry": {"a": {"port": 9000, "proto": "tcp", "bind": "0.0.0.0",
                                                    "service": "foo", "user": "foo"}}}])
    assert report["failed"] is False
    assert report["warnings"] == [
        "[exposed] a (service foo) listens on 0.0.0.0, reachable from the network; only Nginx should be "
        "on host h1; fix: if not intended, set bind: 127.0.0.1 in berth_ports.a in r.yml"]


# Role inputs: (id, role, variable, extra vars, expected substrings)
def role_cases(gen):
    return [
        ("api-key-empty", "datadog", "datadog_api_key", {"datadog_api_key": ""},
         ["datadog_api_key is empty or undefined for host %s" % NOHOST,
          "Set vault_datadog_api_key in inventories/<env>/group_vars/all/vault.yml"]),
        ("berth-ports-free-status", "datadog", "datadog_berth_ports_free_status",
         {"datadog_berth_ports_free_status": "ignore"},
         ["value of datadog_berth_ports_free_status must be one of: critical, warning, got: ignore"]),
        ("release-path-chars", "flask_app", "flask_app_release", {"flask_app_release": "../../etc"},
         ["flask_app_release on %s: '../../etc' is not a safe release id" % NOHOST, "without '..'"]),
        ("release-slash", "flask_app", "flask_app_release", {"flask_app_release": "v1/evil"},
         ["flask_app_release on %s: 'v1/evil' is not a safe release id" % NOHOST]),
        ("wsgi-malformed", "flask_app", "flask_app_wsgi_app", {"flask_app_wsgi_app": "web_flask/app.py"},
         ["flask_app_wsgi_app on %s: WSGI target 'web_flask/app.py' is not 'package.module:callable'" % NOHOST]),
        ("source-missing", "flask_app", "flask_app_source_dir", {"flask_app_source_dir": "/nonexistent/hbnb"},
         ["flask_app_source_dir '/nonexistent/hbnb' on %s is missing, empty or has no requirements.txt" % NOHOST,
          "Fix: point flask_app_source_dir (or flask_apps.<app>.source_dir) at the app's source tree"]),
        ("source-empty", "flask_app", "flask_app_source_dir", {"flask_app_source_dir": str(gen["empty"])},
         ["flask_app_source_dir '%s' on %s is missing, empty or has no requirements.txt" % (gen["empty"], NOHOST)]),
        ("database-account-unknown", "flask_app", "flask_app_database",
         {"flask_app_database": {"name": "hbnb_dev_db", "user": "nobody"}},
         ["flask_app_database.user on %s: names account 'nobody', which mariadb_users does not define" % NOHOST,
          "Fix: add it to mariadb_users in group_vars/all"]),
        ("database-timeout-zero", "flask_app", "flask_app_database_read_timeout",
         {"flask_app_database": {"name": "hbnb_dev_db", "user": "hbnb_dev"}, "flask_app_database_read_timeout": 0,
          "berth_ports_overrides": {"mariadb": {"enabled": True}}},
         ["flask_app_database.read_timeout on %s: 0 is not a positive number of seconds" % NOHOST]),
        ("mariadb-account-without-password", "mariadb", "mariadb_users.<name>.password",
         dict(MARIADB_ON, mariadb_users={"hbnb_dev": {"databases": ["hbnb_dev_db"]}}),
         ["mariadb on %s: mariadb_users.hbnb_dev has no password: set password from a vault_* variable" % NOHOST]),
        ("mariadb-grant-unknown-database", "mariadb", "mariadb_users.<name>.databases",
         dict(MARIADB_ON, mariadb_users={"hbnb_dev": {"password": "x", "databases": ["hbnb_prod_db"]}}),
         ["mariadb_users grants databases hbnb_prod_db that mariadb_databases does not create: add them there"]),
        ("mariadb-entry-disabled", "mariadb", "berth_ports.mariadb", {},
         ["The MariaDB server on %s listens on registry entry mariadb (mariadb_port_name), but that entry is disabled" % NOHOST]),
    ]


# The database server's entry opened on the test host (it is reserved, disabled, by default).
MARIADB_ON = {"berth_ports_overrides": {"mariadb": {"enabled": True}}}


ROLE_CASE_IDS = ["api-key-empty", "berth-ports-free-status", "release-path-chars", "release-slash", "wsgi-malformed",
                 "source-missing", "source-empty", "database-account-unknown", "database-timeout-zero",
                 "mariadb-account-without-password", "mariadb-grant-unknown-database", "mariadb-entry-disabled"]


@pytest.mark.parametrize("case_id", ROLE_CASE_IDS)
def test_role_input_refused_before_host_contact(gen, case_id):
    _, role, variable, extra, expected = next(c for c in role_cases(gen) if c[0] == case_id)
    rc, out = run(gen["role_playbook"], gen["inventory"], [{"bad_input_role": role}, extra])
    record(case_id, variable, extra, out)
    assert rc != 0, out
    flat = " ".join(out.split())
    for text in expected:
        assert " ".join(text.split()) in flat, out
    assert not contacted(out), out
    assert "unreachable=0" in out, out


@pytest.mark.parametrize("role, extra", [("datadog", {}), ("flask_app", {}), ("mariadb", MARIADB_ON)])
def test_control_good_inputs_do_reach_the_host(gen, role, extra):
    """With good inputs the same playbook goes past the preflight and tries the host:
    so 'no UNREACHABLE' above really means 'refused before any host was contacted'."""
    rc, out = run(gen["role_playbook"], gen["inventory"], [{"bad_input_role": role}, extra])
    assert rc != 0
    assert contacted(out), out


def test_rollout_stage_unknown_group_refused(gen):
    extra = {"rollout_stages": ["canary", "wave9"]}
    rc, out = run(ROOT / "playbooks" / "rollout.yml", gen["inventory"], [extra])
    record("rollout-stage-unknown", "rollout_stages", extra, out)
    assert rc != 0, out
    assert ("rollout plan refused:\n  - rollout_stages names 'wave9', which is not a group of this inventory; "
            "groups are: berth, canary, lb, wave1, web") in out, out
    assert not contacted(out), out


def test_rollback_uses_the_same_plan_and_refuses_unknown_stages(gen):
    extra = {"rollout_stages": ["canary", "wave9"]}
    rc, out = run(ROOT / "playbooks" / "rollback.yml", gen["inventory"], [extra])
    assert rc != 0, out
    assert "rollout_stages names 'wave9', which is not a group of this inventory" in out, out
    assert not contacted(out), out


def test_rollout_refuses_a_targeted_host_in_no_stage(gen):
    extra = {"rollout_stages": ["wave1"]}
    rc, out = run(ROOT / "playbooks" / "rollout.yml", gen["inventory"], [extra])
    record("rollout-host-in-no-stage", "rollout_stages", extra, out)
    assert rc != 0, out
    assert ("%s is targeted (play hosts after --limit) but in none of the rollout_stages (wave1) "
            "and would be skipped" % NOHOST) in out, out
    assert not contacted(out), out


def test_rollback_action_variable_is_checked(gen):
    rc, out = run(ROOT / "playbooks" / "rollout.yml", gen["inventory"], [{"berth_rollout_action": "undo"}])
    assert rc != 0, out
    assert "berth_rollout_action is 'undo'; it must be deploy (playbooks/rollout.yml) or rollback" in out, out
    assert not contacted(out), out
