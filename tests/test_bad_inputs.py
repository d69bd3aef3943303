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
  controller-only) against the same generated inventory;
* inputs that only exist as files (issue 28: a port written ``010000``, a replaced
  ``berth_ports_overrides``, an undefined variable, a missing ``vault_*``, a tab, a wrong vault
  password): a copy of the generated inventory per case with the case's files added
  (``case_inventory``), run through ``validate.yml``, ``preflight.yml`` or the role.

The cases are grouped by category (issue 28's list: another service's registry entry, paths and
names, typos in keys, quoted booleans, YAML 1.1 numbers, ranges, Nginx values, env values,
derived env names, the secret key, unclear refusals).

Assertions: rc != 0, the exact message (copied into docs/errors.md), and no host
contacted. The messages observed are written to $BERTH_BAD_INPUTS_LOG when set
(that file is what docs/errors.md was built from).
"""

import json
import os
import shutil
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

sys.path.insert(0, str(ROOT / "tools"))
import playbook_forkserver  # noqa: E402

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


def run(playbook, inventory, extra, env_extra=None):
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
    env.update(env_extra or {})
    argv = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    for item in extra:
        argv += ["-e", json.dumps(item)]
    # ansible-playbook forked from one that has imported Ansible with this environment
    # (tools/playbook_forkserver.py): the command's own entry point, without 0.35 s of imports per
    # case. PYTEST_CURRENT_TEST is pytest's, set anew for each test: one server serves every case.
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = playbook_forkserver.shared(env, str(ROOT)).run(argv, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module", autouse=True)
def _close_forkservers():
    yield
    playbook_forkserver.close_all()


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


def case_inventory(gen, case_id, files):
    """A copy of the generated inventory for one case, with ``files`` (path relative to the
    inventory -> text) added; the sandbox's group_vars stay linked (a group that gets a file
    becomes a directory of links to the sandbox's files beside it)."""
    base = gen["inventory"].parent / "cases" / case_id
    if base.exists():
        shutil.rmtree(base)
    inv = base / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (base / "connection_plugins").symlink_to(gen["connection_plugins"], target_is_directory=True)
    shutil.copy(gen["inventory"] / "hosts.yml", inv / "hosts.yml")
    touched = {Path(rel).parts[1] for rel in files if Path(rel).parts[0] == "group_vars"}
    for group in sorted((SANDBOX / "group_vars").iterdir()):
        if group.name in touched:
            (inv / "group_vars" / group.name).mkdir()
            for item in sorted(group.iterdir()):
                (inv / "group_vars" / group.name / item.name).symlink_to(item)
        else:
            (inv / "group_vars" / group.name).symlink_to(group, target_is_directory=True)
    for rel, text in files.items():
        path = inv / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return inv


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
     ["[overrides] berth_ports_overrides names 'app_https', which is not in berth_ports (did you mean app_http?)",
      "fix: fix the entry name in berth_ports_overrides"]),
]

# Unit names, paths and account names checked against what is safe to write (issue 28).
REGISTRY_CASES += [
    ("service-path", "berth_ports.<entry>.service", override("app_http", service="../../../tmp/x"),
     ["[entry] app_http: service '../../../tmp/x' is not a systemd unit name (letters, digits, ':', '_', '.', '-', "
      "'@'; no '/', spaces or '..') on host %s" % NOHOST,
      "fix: set service to the unit's name (e.g. flask-app) in berth_ports_overrides.app_http"]),
    ("service-with-suffix", "berth_ports.<entry>.service", override("app_http", service="flask-app.service"),
     ["[entry] app_http: service 'flask-app.service' ends with .service (the registry names the unit without it)"]),
    ("user-not-an-account", "berth_ports.<entry>.user", override("app_http", user="hbnb; rm"),
     ["[entry] app_http: user 'hbnb; rm' is not an account name",
      "fix: set user to the account the listener runs as in berth_ports_overrides.app_http"]),
]

# Typos in registry keys: silently ignored, they applied an entry to every host (issue 28).
REGISTRY_CASES += [
    ("registry-key-group", "berth_ports_overrides.<entry>", override("app_http", group=["lb"]),
     ["[overrides] berth_ports_overrides.app_http has unknown key 'group' (did you mean groups?) on host %s" % NOHOST,
      "fix: rename it in berth_ports_overrides.app_http in the group_vars/host_vars that set it (keys: port, proto, "
      "bind, service, user, groups, enabled, clients)"]),
    ("registry-key-enable", "berth_ports_overrides.<entry>", override("app_http", enable=False),
     ["[overrides] berth_ports_overrides.app_http has unknown key 'enable' (did you mean enabled?)"]),
]

# Quoted booleans: "false" is a non-empty string, true to Python (issue 28).
REGISTRY_CASES += [
    ("registry-enabled-quoted", "berth_ports.<entry>.enabled", override("app_http", enabled="false"),
     ["[entry] app_http: enabled 'false' is not true/false on host %s" % NOHOST,
      "fix: set enabled: true or false in berth_ports_overrides.app_http"]),
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
    return ROLE_CASES_28 + [
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


def _sandbox_registry(**entries):
    import yaml
    registry = yaml.safe_load((SANDBOX / "group_vars" / "all" / "ports.yml").read_text())["berth_ports"]
    registry.update(entries)
    return {"berth_ports": registry}


OWN = {"port": 9000, "proto": "tcp", "bind": "127.0.0.1", "groups": ["web"]}
DATABASE = {"name": "hbnb_dev_db", "user": "hbnb_dev"}
FIX_OWN_ENTRY = "Fix: give the app an entry of its own in berth_ports (its own service and user, a port >= 1024"
QUOTED = "Fix: write true or false (unquoted: a quoted \"false\" is true)"

# The issue 28 matrix, by category: (id, role, variable, extra vars, expected substrings).
ROLE_CASES_28 = [
    # An app on another service's registry entry.
    ("app-on-nginx-entry", "flask_app", "flask_apps.<app>.port",
     {"flask_apps": {"evil": {"port": "nginx_http", "wsgi": "web_flask.0-hello_route:app", "routes": ["/"]}}},
     ["flask_apps.evil.port on %s: names registry entry 'nginx_http', which nginx_http_port_name names (service "
      "nginx, user root): the app would replace that service's unit and listen as its user" % NOHOST, FIX_OWN_ENTRY]),
    ("app-on-agent-entry", "flask_app", "flask_app_port_name", {"flask_app_port_name": "datadog_cmd"},
     ["flask_app_port_name on %s: names registry entry 'datadog_cmd', which datadog_port_names.cmd_port names" % NOHOST]),
    ("app-entry-of-nginx-service", "flask_app", "berth_ports.<entry>.service",
     dict(_sandbox_registry(evil=dict(OWN, service="nginx", user="evil")), flask_app_port_name="evil"),
     ["flask_app_port_name on %s: names registry entry 'evil', whose service nginx is the service of nginx_http "
      "(nginx_http_port_name): the app would replace that unit" % NOHOST]),
    ("app-entry-of-system-unit", "flask_app", "berth_ports.<entry>.service",
     dict(_sandbox_registry(evil=dict(OWN, service="ssh", user="evil")), flask_app_port_name="evil"),
     ["names registry entry 'evil', whose service ssh is a unit of the system or of another role: berth would replace "
      "/etc/systemd/system/ssh.service"]),
    ("app-entry-as-root", "flask_app", "berth_ports.<entry>.user",
     dict(_sandbox_registry(evil=dict(OWN, service="evil", user="root")), flask_app_port_name="evil"),
     ["flask_app_port_name on %s: names registry entry 'evil', whose user is root: an app runs as an account of its "
      "own" % NOHOST]),
    # Paths and names checked against what is safe to write.
    ("app-root-etc", "flask_app", "flask_app_root", {"flask_app_root": "/etc"},
     ["flask_app_root on %s: '/etc' is not under /srv/<name> or /opt/<name> or /var/www/<name>. Fix: write e.g. "
      "/srv/<app>" % NOHOST]),
    ("app-conf-dir-system", "flask_app", "flask_app_conf_dir", {"flask_app_conf_dir": "/etc/ssh"},
     ["flask_app_conf_dir on %s: '/etc/ssh' is a system directory or inside one (/etc/ssh). Fix: give the app a "
      "directory of its own, e.g. /etc/<app>" % NOHOST]),
    ("app-state-dir-var-lib", "flask_app", "flask_app_state_dir", {"flask_app_state_dir": "/var/lib"},
     ["flask_app_state_dir on %s: '/var/lib' is not under /var/lib/<app>. Fix: write e.g. /var/lib/<app> (systemd "
      "creates that directory itself)" % NOHOST]),
    ("app-socket-traversal", "flask_app", "flask_app_socket", {"flask_app_socket": "../../etc/shadow"},
     ["flask_app_socket on %s: '../../etc/shadow' is not an absolute, normalized path" % NOHOST]),
    ("app-group-name", "flask_app", "flask_app_group", {"flask_app_group": "hbnb\nUser=root"},
     ["flask_app_group on %s: 'hbnb\\nUser=root' is not an account name" % NOHOST]),
    # Typos in keys: refused with the key they resemble.
    ("app-setting-typo", "flask_app", "flask_apps.<app>",
     {"flask_apps": {"hbnb": {"port": "app_http", "wsgi": "web_flask.0-hello_route:app", "privat_users": False}}},
     ["flask_apps.hbnb on %s: has unknown settings privat_users (did you mean private_users?)" % NOHOST]),
    ("health-key-typo", "flask_app", "flask_app_health", {"flask_app_health": {"paht": "/health"}},
     ["flask_app_health on %s: has unknown keys paht (did you mean path?)" % NOHOST]),
    ("database-key-typo", "flask_app", "flask_app_database",
     dict(MARIADB_ON, flask_app_database=dict(DATABASE, in_ulr=True)),
     ["flask_app_database on %s: has unknown keys in_ulr (did you mean in_url?)" % NOHOST]),
    ("nginx-key-typo", "flask_app", "flask_app_nginx", {"flask_app_nginx": {"read_timout": "60s"}},
     ["flask_app_nginx on %s: has unknown keys read_timout (did you mean read_timeout?)" % NOHOST]),
    ("route-key-typo", "flask_app", "flask_app_routes", {"flask_app_routes": [{"prefix": "/", "stirp": True}]},
     ["flask_app_routes[0] on %s: has unknown keys stirp (did you mean strip?)" % NOHOST]),
    ("static-key-typo", "flask_app", "flask_app_static", {"flask_app_static": [{"prefix": "/s/", "dri": "static"}]},
     ["flask_app_static[0] on %s: has unknown keys dri (did you mean dir?)" % NOHOST]),
    # Quoted booleans.
    ("private-users-quoted", "flask_app", "flask_app_private_users", {"flask_app_private_users": "false"},
     ["flask_app_private_users on %s: 'false' is not a boolean. %s" % (NOHOST, QUOTED)]),
    ("site-packages-quoted", "flask_app", "flask_app_system_site_packages", {"flask_app_system_site_packages": "false"},
     ["flask_app_system_site_packages on %s: 'false' is not a boolean" % NOHOST]),
    ("strip-quoted", "flask_app", "flask_app_routes", {"flask_app_routes": [{"prefix": "/", "strip": "false"}]},
     ["flask_app_routes on %s: strip of /: 'false' is not a boolean" % NOHOST]),
    ("in-url-quoted", "flask_app", "flask_app_database.in_url",
     dict(MARIADB_ON, flask_app_database=dict(DATABASE, in_url="false")),
     ["flask_app_database.in_url on %s: 'false' is not a boolean" % NOHOST]),
    ("dump-on-switch-quoted", "flask_app", "flask_app_database_dump_on_switch",
     dict(MARIADB_ON, flask_app_database=DATABASE, flask_app_database_dump_on_switch="false"),
     ["flask_app_database_dump_on_switch on %s: 'false' is not a boolean" % NOHOST]),
    ("apm-enabled-quoted", "datadog", "datadog_apm_enabled", {"datadog_apm_enabled": "false"},
     ["datadog_apm_enabled on %s: 'false' is not a boolean. Fix: write true or false unquoted in the inventory" % NOHOST]),
    # Negative timeouts and release counts: ranges.
    ("keep-releases-negative", "flask_app", "flask_app_keep_releases", {"flask_app_keep_releases": -1},
     ["flask_app_keep_releases on %s: -1 is outside 0-1000. Fix: write a whole number from 0 to 1000" % NOHOST]),
    ("workers-negative", "flask_app", "flask_app_workers", {"flask_app_workers": -2},
     ["flask_app_workers on %s: -2 is outside 1-1024" % NOHOST]),
    ("timeout-zero", "flask_app", "flask_app_timeout", {"flask_app_timeout": 0},
     ["flask_app_timeout on %s: 0 is outside 1-86400" % NOHOST]),
    ("restart-sec-negative", "flask_app", "flask_app_restart_sec", {"flask_app_restart_sec": -1},
     ["flask_app_restart_sec on %s: -1 is outside 0-3600" % NOHOST]),
    ("health-retries-negative", "flask_app", "flask_app_health_retries", {"flask_app_health_retries": -1},
     ["flask_app_health_retries on %s: -1 is outside 0-1000" % NOHOST]),
    # Nginx directive text inside a value.
    ("nginx-timeout-directive", "nginx", "nginx_proxy_read_timeout", {"nginx_proxy_read_timeout": "30s; return 200"},
     ["nginx_proxy_read_timeout on %s: '30s; return 200' is not an Nginx time (e.g. 30s, 500ms, 5m). Fix: write a "
      "time such as 30s (Nginx units ms, s, m, h, d) in the group_vars that set it" % NOHOST]),
    ("app-nginx-timeout-directive", "nginx", "flask_app_nginx.read_timeout",
     {"flask_app_nginx": {"read_timeout": "30s; return 200"}},
     ["flask_app_nginx.read_timeout on %s: '30s; return 200' is not an Nginx time" % NOHOST]),
    ("nginx-server-name-directive", "nginx", "nginx_server_name", {"nginx_server_name": "_; return 200"},
     ["nginx_server_name on %s: '_; return 200' is not host names separated by single spaces" % NOHOST]),
    ("nginx-body-size-directive", "nginx", "nginx_client_max_body_size",
     {"nginx_client_max_body_size": "1m; autoindex on"},
     ["nginx_client_max_body_size on %s: '1m; autoindex on' is not an Nginx size" % NOHOST]),
    ("nginx-header-quote", "nginx", "nginx_security_headers",
     {"nginx_security_headers": {"X-Frame-Options": "DENY\" always; return 200 \"x"}},
     ["nginx_security_headers.X-Frame-Options on %s:" % NOHOST, "contains a double quote, a backslash, '$' or a "
      "control character"]),
    # ACME peers that name nothing of the inventory (issue 29: several load balancers behind one address).
    ("nginx-acme-peers-unknown", "nginx", "nginx_acme_peers",
     {"berth_ports_overrides": {"nginx_https": {"enabled": True}}, "nginx_acme_email": "ops@example.test",
      "nginx_sites": [{"name": "www", "server_names": ["www.example.test"], "tls": "acme"}],
      "nginx_acme_peers": ["lbs"]},
     ["nginx_acme_peers on %s names 'lbs', neither a host nor a group of the inventory. Fix: name the hosts "
      "that serve the same names (e.g. the group lb), or remove it." % NOHOST]),
    # A newline inside an env value.
    ("env-newline", "flask_app", "flask_app_env", {"flask_app_env": {"HBNB_ENV": "prod\nFLASK_SECRET_KEY=known"}},
     ["flask_app_env.HBNB_ENV on %s: 'prod\\nFLASK_SECRET_KEY=known' contains a newline or another control "
      "character. Fix: write a one-line value" % NOHOST]),
    # An env variable that silently replaces a derived one.
    ("env-derived-secret", "flask_app", "flask_app_env", {"flask_app_env": {"FLASK_SECRET_KEY": "known"}},
     ["flask_app_env on %s: sets FLASK_SECRET_KEY, which berth derives for every app (from the vault's "
      "flask_app_secret_key or the app's secret_key). Fix: remove FLASK_SECRET_KEY from env" % NOHOST]),
    ("env-derived-berth", "flask_app", "flask_app_env", {"flask_app_env": {"BERTH_PORT": "80"}},
     ["flask_app_env on %s: sets BERTH_PORT, which berth derives for every app (from the registry entry and the "
      "release)" % NOHOST]),
    ("env-derived-agent", "flask_app", "flask_app_env", {"flask_app_env": {"DD_AGENT_HOST": "collector.example"}},
     ["flask_app_env on %s: sets DD_AGENT_HOST, which berth derives for every app (from the agent's registry entries"
      % NOHOST]),
    ("env-derived-db-password", "flask_app", "flask_app_env",
     dict(MARIADB_ON, flask_app_database=DATABASE, flask_app_env={"DB_PASSWORD": "known"}),
     ["flask_app_env on %s: sets DB_PASSWORD, which the app's database settings derive. Fix: remove it from env (it "
      "comes from the registry and mariadb_users, the password from the vault)" % NOHOST]),
    # An empty secret key.
    ("secret-key-empty", "flask_app", "flask_app_secret_key", {"flask_app_secret_key": ""},
     ["flask_app_secret_key on %s: is empty, so app hbnb would run without a Flask secret key (sessions and CSRF "
      "tokens signed with nothing). Fix: set vault_flask_app_secret_key in the inventory's vault" % NOHOST,
      "if the app uses no sessions, set flask_app_secret_key_required: false"]),
]


ROLE_CASE_IDS = ["api-key-empty", "berth-ports-free-status", "release-path-chars", "release-slash", "wsgi-malformed",
                 "source-missing", "source-empty", "database-account-unknown", "database-timeout-zero",
                 "mariadb-account-without-password", "mariadb-grant-unknown-database", "mariadb-entry-disabled"]
ROLE_CASE_IDS += [c[0] for c in ROLE_CASES_28]


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


@pytest.mark.parametrize("role, extra", [("datadog", {}), ("flask_app", {}), ("mariadb", MARIADB_ON),
                                         ("flask_app", {"flask_app_secret_key": "",
                                                        "flask_app_secret_key_required": False}),
                                         ("nginx", {"nginx_proxy_read_timeout": "90s", "nginx_server_name": "a.example b"})])
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


# --- Inputs that only exist as files (issue 28) ------------------------------------------------------
# (id, playbook, variable, files, expected substrings, rc == 0 expected)
OVERRIDES_OF_CANARY = "---\nberth_ports_overrides:\n  nginx_status: {port: 8081}\n"
FILE_CASES = [
    # YAML 1.1 numbers: the value cannot show them, the file's text does.
    ("port-yaml11-octal", "validate.yml", "berth_ports_overrides.<entry>.port",
     {"group_vars/canary/ports.yml": "---\nberth_ports_overrides:\n  app_http: {port: 010000}\n"},
     ["group_vars/canary/ports.yml:3: port: 010000 is read as 4096 by YAML 1.1 (a leading 0 is octal), not as the "
      "port it looks like on host %s" % NOHOST, "fix: write port: 10000 (no leading 0) in"], False),
    ("port-yaml11-base60", "validate.yml", "berth_ports_overrides.<entry>.port",
     {"group_vars/canary/ports.yml": "---\nberth_ports_overrides:\n  app_http:\n    port: 134:20\n"},
     ["group_vars/canary/ports.yml:4: port: 134:20 is read as 8060 by YAML 1.1 (base 60)",
      "fix: write the port you mean as a plain number, without colons in"], False),
    ("port-yaml11-octal-role", "role:flask_app", "berth_ports_overrides.<entry>.port",
     {"group_vars/canary/ports.yml": "---\nberth_ports_overrides:\n  app_http: {port: 010000}\n"},
     ["group_vars/canary/ports.yml:3: port: 010000 is read as 4096 by YAML 1.1 (a leading 0 is octal), not as the "
      "port it looks like (variables of %s). Fix: write port: 10000 (no leading 0)" % NOHOST], False),
    # Override precedence: a host_vars berth_ports_overrides replaces the group's whole.
    ("overrides-replaced", "validate.yml", "berth_ports_overrides",
     {"group_vars/canary/ports.yml": OVERRIDES_OF_CANARY,
      "host_vars/%s.yml" % NOHOST: "---\nberth_ports_overrides:\n  app_http: {port: 8010}\n"},
     ["[WARNING]: port registry: [replaced] berth_ports_overrides of group canary (",
      "group_vars/canary/ports.yml) sets nginx_status, but this host's berth_ports_overrides, defined again in "
      "host_vars, a group of higher precedence or -e, replaces it whole and lacks it on host %s" % NOHOST,
      "write nginx_status: {} there to keep berth_ports' own values on purpose"], True),
    # Unclear refusals berth can make clear.
    ("undefined-variable", "preflight.yml", "flask_app_workers",
     {"group_vars/canary/app.yml": "---\nflask_app_workers: \"{{ workers_per_core }}\"\n"},
     ["flask_app_workers on %s cannot be templated: 'workers_per_core' is undefined (flask_app_workers is set in "
      % NOHOST, "group_vars/canary/app.yml:2). Fix: define workers_per_core for %s (group_vars or host_vars of the "
      "inventory) or correct the reference in " % NOHOST], False),
    ("vault-variable-missing", "preflight.yml", "flask_app_secret_key",
     {"group_vars/canary/secrets.yml": "---\nflask_app_secret_key: \"{{ vault_flask_app_secret_key_canary }}\"\n"},
     ["flask_app_secret_key on %s cannot be templated: 'vault_flask_app_secret_key_canary' is undefined "
      "(flask_app_secret_key is set in " % NOHOST,
      "Fix: add vault_flask_app_secret_key_canary to the vault inventories/sandbox/group_vars/all/vault.yml "
      "(ansible-vault edit inventories/sandbox/group_vars/all/vault.yml), or correct the name flask_app_secret_key "
      "uses."], False),
    # Before any berth code: Ansible's own messages (docs/errors.md quotes them with the fix).
    ("yaml-tab", "validate.yml", "(any variables file)",
     {"group_vars/canary/app.yml": "---\nflask_app_env:\n\tHBNB_ENV: canary\n"},
     ["[ERROR]: YAML parsing failed: Tabs are usually invalid in YAML."], False),
]


@pytest.mark.parametrize("case_id,playbook,variable,files,expected,passes", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_file_input_refused_before_host_contact(gen, case_id, playbook, variable, files, expected, passes):
    inventory = case_inventory(gen, case_id, files)
    if playbook.startswith("role:"):
        rc, out = run(gen["role_playbook"], inventory, [{"bad_input_role": playbook[5:]}])
    else:
        rc, out = run(ROOT / "playbooks" / playbook, inventory, [])
    record(case_id, variable, files, out)
    assert (rc == 0) is passes, out
    flat = " ".join(out.split())
    for text in expected:
        assert " ".join(text.split()) in flat, out
    assert not contacted(out), out


def test_a_wrong_vault_password_stops_before_any_host(gen, tmp_path):
    """Ansible decrypts the vault before any task: its message, no host contacted (docs/errors.md)."""
    wrong = tmp_path / "wrong-vault-password.txt"
    wrong.write_text("not-the-sandbox-password\n")
    rc, out = run(ROOT / "playbooks" / "validate.yml", gen["inventory"], [],
                  env_extra={"ANSIBLE_VAULT_PASSWORD_FILE": str(wrong)})
    record("vault-password-wrong", "ANSIBLE_VAULT_PASSWORD_FILE",
           {"ANSIBLE_VAULT_PASSWORD_FILE": "<a file holding another password>"}, out)
    assert rc != 0, out
    assert "[ERROR]: Decryption failed (no vault secrets were found that could decrypt)." in out, out
    assert not contacted(out), out


def test_a_firewall_switch_written_as_a_string_is_refused_by_the_preflight(gen):
    """firewall_enabled: "false" - the role's own `| bool` reads it as false and skips itself; the
    preflight's plan of every role refuses it, so site.yml stops before any host."""
    extra = {"firewall_enabled": "false"}
    rc, out = run(ROOT / "playbooks" / "preflight.yml", gen["inventory"], [extra])
    record("firewall-enabled-quoted", "firewall_enabled", extra, out)
    assert rc != 0, out
    assert ("firewall_enabled on %s: 'false' is not a boolean. Fix: write true or false unquoted in the inventory"
            % NOHOST) in " ".join(out.split()), out
    assert not contacted(out), out
