"""Testinfra checks for the datadog role (scenario molecule/agent-watches-every-port).

Expected ports, binds, users, units and URLs come from the inventory the play
used (host.ansible.get_variables(), registry merged with roles/berth_ports'
filter) and from the role's defaults, never from constants written here. The
agent is the TEST STAND-IN package (molecule/resources/datadog-agent-standin/).

Tests run in file order: the restart check reads the start-time log before the
check-removal test at the end restarts the agent on purpose.
"""

import hashlib
import importlib.util
import sys
import json
import os
import pathlib
import subprocess

import jinja2
import pytest
import yaml

from conftest import SCENARIO_LOG

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCENARIO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))  # the working tree as the collection berth.stack
from ansible_collections.berth.stack.plugins.filter import berth_ports  # noqa: E402

DEFAULTS = yaml.safe_load((ROOT / "roles/datadog/defaults/main.yml").read_text())
# The one app of a host whose inventory has no flask_apps: the flask_app role's defaults (the
# planner derives the agent's per-app checks from them, whether or not flask_app is in the play).
APP_DEFAULTS = yaml.safe_load((ROOT / "roles/flask_app/defaults/main.yml").read_text())
# datadog.yaml setting (datadog_port_names key) -> path inside datadog.yaml (the vendor's schema).
YAML_PATHS = {
    "expvar_port": ("expvar_port",),
    "cmd_port": ("cmd_port",),
    "dogstatsd_port": ("dogstatsd_port",),
    "apm_receiver_port": ("apm_config", "receiver_port"),
    "apm_debug_port": ("apm_config", "debug", "port"),
    "process_expvar_port": ("process_config", "expvar_port"),
    "process_cmd_port": ("process_config", "cmd_port"),
}
WILDCARDS = ("0.0.0.0", "::")


_VARS = {}


def _render(value, context):
    """Resolve the role defaults that are templates (e.g. another role's variable | default(...))."""
    if isinstance(value, str) and "{{" in value:
        try:
            return jinja2.Template(value).render(**context)
        except jinja2.TemplateError:  # Ansible-only filters (dirname, ...): a default these tests do not read
            return value
    if isinstance(value, list):
        return [_render(x, context) for x in value]
    return value


def _vars(host):
    """Role defaults overlaid with the host's inventory variables (read once per host)."""
    if host.backend.host not in _VARS:
        inventory = host.ansible.get_variables()
        v = {k: _render(d, inventory) for k, d in DEFAULTS.items()}
        v.update(inventory)
        _VARS[host.backend.host] = v
    return dict(_VARS[host.backend.host])


def _registry(host):
    v = _vars(host)
    return berth_ports.berth_ports_effective(v["berth_ports"], v.get("berth_ports_overrides", {}))


def _host_entries(host):
    """Enabled registry entries this host opens (by its inventory groups)."""
    groups = set(_vars(host)["group_names"])
    return {
        name: e for name, e in _registry(host).items()
        if e["enabled"] and (not e["groups"] or groups & set(e["groups"]))
    }


def _local(bind):
    return "127.0.0.1" if bind in WILDCARDS or bind == "localhost" else bind


def _sudo_cat(host, path):
    with host.sudo():
        return host.file(path).content_string


def _datadog_yaml(host):
    return yaml.safe_load(_sudo_cat(host, _vars(host)["datadog_config_dir"] + "/datadog.yaml"))


def _check(host, name):
    path = "%s/conf.d/%s.d/conf.yaml" % (_vars(host)["datadog_config_dir"], name)
    return yaml.safe_load(_sudo_cat(host, path))


def _journal(host, unit):
    return host.run("journalctl -u %s --no-pager -n 30" % unit).stdout


# --- start-time check first (later tests restart the agent) -------------------

def test_second_converge_restarted_nothing(host):
    lines = [line for line in host.file("/var/tmp/berth-datadog-starts.log").content_string.splitlines() if line]
    assert len(lines) >= 2, "run converge twice (molecule idempotence) before verify"
    assert lines[-1] == lines[-2], "agent units restarted during the second converge:\n%s\n%s" % (lines[-2], lines[-1])
    units = {e["service"] for e in _datadog_entries(host).values()}
    assert {"Id=%s.service" % u for u in units} <= set(lines[-1].split()), "log does not cover every agent unit"


# --- installation --------------------------------------------------------------

def test_keyring_exists(host):
    v = _vars(host)
    keyring = host.file(v["datadog_apt_keyring"])
    assert v["datadog_apt_keyring"].startswith("/usr/share/keyrings/")
    assert keyring.is_file and keyring.user == "root" and keyring.mode == 0o644
    assert keyring.size > 0


def test_apt_source_is_signed_by_the_keyring(host):
    v = _vars(host)
    source = host.file(v["datadog_apt_source_file"]).content_string
    deb = [line for line in source.splitlines() if line.startswith("deb ")]
    expected = "deb [signed-by=%s] %s %s %s" % (
        v["datadog_apt_keyring"], v["datadog_apt_repo_url"], v["datadog_apt_suite"], v["datadog_apt_component"])
    assert deb == [expected]
    assert "trusted=yes" not in source


def test_repository_signature_verifies_against_the_keyring(host):
    """apt fetched InRelease; it verifies with the role's keyring (and only with it)."""
    v = _vars(host)
    lists = host.run("ls /var/lib/apt/lists/").stdout.split()
    inrelease = [f for f in lists if f.endswith("_dists_%s_InRelease" % v["datadog_apt_suite"])
                 and "datadog" in f]
    assert inrelease, lists
    path = "/var/lib/apt/lists/" + inrelease[0]
    assert host.run("gpgv --keyring %s %s", v["datadog_apt_keyring"], path).rc == 0
    debian_only = host.run("gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg %s", path)
    assert debian_only.rc != 0


def test_pinned_version_installed(host):
    v = _vars(host)
    pkg = host.package("datadog-agent")
    assert pkg.is_installed
    if v["datadog_agent_version"]:
        assert pkg.version.split(":", 1)[-1] == v["datadog_agent_version"].split(":", 1)[-1]


def test_keys_delivered_the_configured_way(host):
    """Web takes the key by URL (mirror path), lb gets it from the controller (air-gapped path)."""
    v = _vars(host)
    names = [pathlib.PurePosixPath(u).name for u in v["datadog_apt_key_urls"]] + \
            [pathlib.PurePosixPath(f).name for f in v["datadog_apt_key_files"]]
    present = host.run("ls %s", v["datadog_apt_key_dir"]).stdout.split()
    assert sorted(present) == sorted(names)


# --- datadog.yaml ------------------------------------------------------------------

def _datadog_entries(host):
    v = _vars(host)
    reg = _registry(host)
    return {key: reg[name] for key, name in v["datadog_port_names"].items()}


@pytest.mark.parametrize("setting", sorted(YAML_PATHS))
def test_datadog_yaml_port_from_registry(host, setting):
    conf = _datadog_yaml(host)
    node = conf
    for part in YAML_PATHS[setting]:
        node = node[part]
    assert node == _datadog_entries(host)[setting]["port"]


def test_datadog_yaml_binds_match_registry(host):
    conf = _datadog_yaml(host)
    e = _datadog_entries(host)
    assert conf["cmd_host"] == _local(e["cmd_port"]["bind"])
    assert conf["dogstatsd_non_local_traffic"] == (e["dogstatsd_port"]["bind"] in WILDCARDS)
    assert conf["apm_config"]["apm_non_local_traffic"] == (e["apm_receiver_port"]["bind"] in WILDCARDS)
    for key in ("dogstatsd_port", "apm_receiver_port"):
        if e[key]["bind"] not in WILDCARDS:
            assert conf["bind_host"] == e[key]["bind"]
    assert conf["GUI_port"] == -1
    assert conf["site"] == _vars(host)["datadog_site"]


def test_datadog_yaml_owner_and_mode(host):
    v = _vars(host)
    f = host.file(v["datadog_config_dir"] + "/datadog.yaml")
    assert (f.user, f.group, f.mode) == (v["datadog_user"], v["datadog_group"], 0o640)


# --- the API key -------------------------------------------------------------------

def test_api_key_is_the_vault_value(host):
    """Compared by digest so a failure never prints the key."""
    v = _vars(host)
    written = _datadog_yaml(host)["api_key"]
    assert written
    assert hashlib.sha256(written.encode()).hexdigest() == \
        hashlib.sha256(v["vault_datadog_api_key"].encode()).hexdigest()


def test_api_key_in_no_other_file_under_etc(host):
    """The key is extracted and searched for on the host; it never crosses the wire."""
    v = _vars(host)
    conf = v["datadog_config_dir"] + "/datadog.yaml"
    script = ("key=$(sed -n 's/^api_key: *\"\\(.*\\)\"$/\\1/p' %s); [ -n \"$key\" ] || exit 3; "
              "printf '%%s\\n' \"$key\" | grep -rlF -f - /etc" % conf)
    with host.sudo():
        found = host.run("bash -c %s", script)
    assert found.rc in (0, 1), found.stderr
    assert found.stdout.split() == [conf]


def test_api_key_in_no_ansible_output_of_the_scenario(host):
    """The scenario's own log (create, prepare, converge, idempotence) never shows the key."""
    assert SCENARIO_LOG and os.path.isfile(SCENARIO_LOG), "molecule.yml must set ANSIBLE_LOG_PATH"
    text = pathlib.Path(SCENARIO_LOG).read_text(errors="replace")
    assert "Converge | datadog" in text, "the log does not hold the converge run"
    assert "Configure | datadog.yaml with the API key" in text
    assert _vars(host)["vault_datadog_api_key"] not in text, "API key found in " + SCENARIO_LOG


@pytest.fixture(scope="module")
def verbose_check_run():
    """Re-run converge.yml with -vvv --check --diff; its output is the worst case for leaks."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "-vvv", "--check", "--diff", "-i", env["MOLECULE_INVENTORY_FILE"],
           str(SCENARIO / "converge.yml")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    if SCENARIO_LOG:
        pathlib.Path(SCENARIO_LOG).with_name("verify-check-vvv.log").write_text(out)
    return proc.returncode, out


def test_api_key_absent_from_verbose_check_run(host, verbose_check_run):
    rc, out = verbose_check_run
    assert rc == 0, out[-3000:]
    assert "datadog.yaml with the API key" in out
    assert _vars(host)["vault_datadog_api_key"] not in out, "API key printed by ansible-playbook -vvv"


def test_check_mode_reports_no_change(host, verbose_check_run):
    _, out = verbose_check_run
    name = _vars(host)["inventory_hostname"]
    recap = [line for line in out.splitlines() if line.split(" ", 1)[0] == name and "changed=" in line]
    assert recap and "changed=0" in recap[-1], recap


def test_missing_api_key_stops_before_any_change(host):
    """An empty key fails the preflight with a message naming the host, the variable and the fix."""
    name = _vars(host)["inventory_hostname"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", name,
           "-e", json.dumps({"datadog_api_key": ""}), str(SCENARIO / "converge.yml")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "datadog_api_key is empty or undefined for host %s" % name in " ".join(out.split())
    assert "vault_datadog_api_key" in out and "vault.yml" in out
    recap = [line for line in out.splitlines() if line.split(" ", 1)[0] == name and "changed=" in line]
    assert recap and "changed=0" in recap[-1] and "failed=1" in recap[-1], recap


# --- listeners -------------------------------------------------------------------------

@pytest.mark.parametrize("setting", sorted(YAML_PATHS))
def test_agent_listener_on_registry_port(host, setting):
    entry = _datadog_entries(host)[setting]
    flag = "-u" if entry["proto"] == "udp" else "-t"
    # Asked as the registry's user: ss names only that user's processes, so an answer at
    # all proves the owner (and needs no CAP_SYS_PTRACE in the container).
    with host.sudo():
        out = host.run("runuser -u %s -- ss -Hlnp %s 'sport = :%d'" % (entry["user"], flag, entry["port"])).stdout.strip()
    assert out, "nothing listens on %s/%s\n%s" % (entry["port"], entry["proto"], _journal(host, entry["service"]))
    local = out.split()[3]
    assert local.rsplit(":", 1) == [entry["bind"], str(entry["port"])]
    pid = out.split("pid=", 1)[1].split(",", 1)[0]
    proc = host.process.get(pid=int(pid))
    assert proc.user == entry["user"]
    cgroup = host.file("/proc/%s/cgroup" % pid).content_string
    assert "/%s.service" % entry["service"] in cgroup


def test_expvar_serves_debug_vars(host):
    entry = _datadog_entries(host)["expvar_port"]
    out = host.check_output("curl -fsS http://%s:%s/debug/vars", _local(entry["bind"]), str(entry["port"]))
    assert json.loads(out)["component"] == "core"


# --- checks ------------------------------------------------------------------------

def test_nginx_check_reads_the_status_listener(host):
    v = _vars(host)
    entries = _host_entries(host)
    status = entries[v["datadog_nginx_status_port_name"]]
    urls = [i["nginx_status_url"] for i in _check(host, "nginx")["instances"]]
    assert urls == ["http://%s:%s%s" % (_local(status["bind"]), status["port"], v["datadog_nginx_status_path"])]


def _one_app(host):
    """The host's one app (flask_apps is empty here): its name, health path and routes, or None
    where its registry entry is not opened (the load balancer)."""
    v = dict(APP_DEFAULTS)
    v.update(_vars(host))
    entries = _host_entries(host)
    if v["flask_app_port_name"] not in entries:
        return None
    return {"name": v["flask_app_name"], "entry": entries[v["flask_app_port_name"]],
            "health": v["flask_app_health_path"], "routes": v["flask_app_routes"]}


def test_http_check_routes_through_nginx_and_app(host):
    v = _vars(host)
    entries = _host_entries(host)
    app = _one_app(host)
    nginx = entries[v["datadog_nginx_http_port_name"]]
    expected = set()
    if app:
        # Per app: its health route on its own port, and each of its routes through Nginx (the route
        # that reaches the health path, else the route's prefix).
        expected.add("http://%s:%s%s" % (_local(app["entry"]["bind"]), app["entry"]["port"], app["health"]))
        for route in app["routes"]:
            path = app["health"] if app["health"].startswith(route) else route
            expected.add("http://%s:%s%s" % (_local(nginx["bind"]), nginx["port"], path))
    else:
        for path in v["datadog_http_check_paths"]:
            expected.add("http://%s:%s%s" % (_local(nginx["bind"]), nginx["port"], path))
    instances = _check(host, "http_check")["instances"]
    assert {i["url"] for i in instances} == expected
    assert all(i["timeout"] == v["datadog_http_check_timeout"] for i in instances)
    assert (app is not None) == ("web" in v["group_names"])


def test_tcp_check_covers_every_tcp_port_of_the_host(host):
    expected = {(_local(e["bind"]), e["port"]) for e in _host_entries(host).values() if e["proto"] == "tcp"}
    got = {(i["host"], i["port"]) for i in _check(host, "tcp_check")["instances"]}
    assert got == expected


def test_process_check_watches_what_the_host_runs(host):
    names = {i["name"] for i in _check(host, "process")["instances"]}
    assert "nginx" in names
    app = _one_app(host)
    # One gunicorn instance per app of the host (its own gunicorn config on the command line).
    assert {n for n in names if n.startswith("gunicorn")} == ({"gunicorn %s" % app["name"]} if app else set())


def test_check_files_readable_by_the_agent_only(host):
    v = _vars(host)
    for name in DEFAULTS["datadog_checks"]:
        f = host.file("%s/conf.d/%s.d/conf.yaml" % (v["datadog_config_dir"], name))
        if name == "mysql" and DEFAULTS["datadog_mysql_port_name"] not in _host_entries(host):
            # Derived from the MariaDB entry: nothing to watch on a host that does not open it.
            assert not f.exists
            continue
        if name == "tls" and not v.get("nginx_sites"):
            # Derived from the host's Nginx sites with TLS (roles/nginx): none here.
            assert not f.exists
            continue
        assert (f.user, f.mode) == (v["datadog_user"], 0o640)


# --- last: removing a check removes its file (restarts the agent) -------------------

def _converge(name, extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", name,
           "--tags", "datadog_configure", "-e", json.dumps(extra), str(SCENARIO / "converge.yml")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


FOREIGN = "berth_test_foreign.d"


@pytest.fixture()
def without_process_check(host):
    """Converge without the process check, next to a check file the role did not write."""
    v = _vars(host)
    conf_d = v["datadog_config_dir"] + "/conf.d"
    with host.sudo():
        host.run_expect([0], "mkdir -p %s/%s && echo 'instances: [{}]' > %s/%s/conf.yaml"
                        % (conf_d, FOREIGN, conf_d, FOREIGN))
    cursor = host.run("journalctl --show-cursor -n 1 --no-pager").stdout.split("-- cursor: ")[-1].strip()
    checks = {k: c for k, c in v["datadog_checks"].items() if k != "process"}
    _converge(v["inventory_hostname"], {"datadog_checks": checks})
    yield conf_d, cursor
    with host.sudo():
        host.run_expect([0], "rm -rf %s/%s" % (conf_d, FOREIGN))
    _converge(v["inventory_hostname"], {})


def test_removed_check_file_is_gone_foreign_file_kept(host, without_process_check):
    conf_d, cursor = without_process_check
    assert not host.file(conf_d + "/process.d/conf.yaml").exists
    assert host.file(conf_d + "/tcp_check.d/conf.yaml").exists
    assert host.file("%s/%s/conf.yaml" % (conf_d, FOREIGN)).exists
    # The change restarted every agent unit exactly once (the handler restarts datadog-agent;
    # the trace and process units follow it through PartOf=).
    assert cursor, "no journal cursor"
    for unit in _vars(host)["datadog_services"]:
        out = host.run("journalctl --no-pager -o cat --after-cursor='%s' -u %s.service" % (cursor, unit)).stdout
        started = [line for line in out.splitlines() if line.startswith("Started ")]
        assert len(started) == 1, "%s started %d times after the change:\n%s" % (unit, len(started), out)
