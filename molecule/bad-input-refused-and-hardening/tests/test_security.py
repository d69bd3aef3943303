"""Security posture of a converged web host (scenario molecule/bad-input-refused-and-hardening).

Runs after the side effect, i.e. after bad inputs, the agent stopped/removed and
reinstalled, a failed apt run, a -vvv site.yml run and a container restart. So the
listener checks also prove "after a restart every registry port is back as registered".
Expected values come from the inventory the play used (host.ansible.get_variables(),
registry merged with roles/berth_ports' filter) and the sandbox vault, decrypted with
its documented dummy password; nothing expected is a constant written here.
"""

import importlib.util
import sys
import ipaddress
import os
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
VAULT = ROOT / "inventories/sandbox/group_vars/all/vault.yml"
VAULT_PASSWORD = ROOT / "inventories/sandbox/vault-password.txt"
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))

sys.path.insert(0, str(ROOT / "collections"))  # the working tree as the collection berth.stack
from ansible_collections.berth.stack.plugins.filter import berth_ports  # noqa: E402

# Units berth writes (hardening must be OK <= 2.5) and units it installs (measured, for information).
FLASK_DEFAULTS = yaml.safe_load((ROOT / "roles/flask_app/defaults/main.yml").read_text())
_VARS = {}


def _vars(host):
    if host.backend.host not in _VARS:
        _VARS[host.backend.host] = host.ansible.get_variables()
    return _VARS[host.backend.host]


def _entries(host):
    """Enabled registry entries this host opens (by its inventory groups)."""
    v = _vars(host)
    groups = set(v["group_names"])
    reg = berth_ports.berth_ports_effective(v["berth_ports"], v.get("berth_ports_overrides", {}))
    return {n: e for n, e in reg.items() if e["enabled"] and (not e["groups"] or groups & set(e["groups"]))}


def _secrets():
    """The vault's values (every vault_* string), decrypted with the sandbox dummy password."""
    out = subprocess.run(["ansible-vault", "view", "--vault-password-file", str(VAULT_PASSWORD), str(VAULT)],
                         check=True, capture_output=True, text=True).stdout
    data = yaml.safe_load(out)
    found = {k: str(v) for k, v in data.items() if k.startswith("vault_") and str(v).strip()}
    assert {"vault_datadog_api_key", "vault_flask_app_secret_key"} <= set(found)
    return found


def _listeners(host):
    """(proto, address, port, process names) for every listening socket, from ss."""
    rows = []
    with host.sudo():
        out = host.check_output("ss -H -ltunp")
    for line in out.splitlines():
        parts = line.split()
        proto, local = parts[0], parts[4]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        procs = " ".join(parts[6:])
        rows.append((proto, addr, int(port), procs))
    return rows


def _is_loopback(addr):
    return ipaddress.ip_address(addr).is_loopback


# --- exposure -----------------------------------------------------------------

def test_only_nginx_listens_off_loopback(host):
    exposed = [r for r in _listeners(host) if not _is_loopback(r[1])]
    assert exposed, "nothing listens off loopback: is Nginx up?"
    offenders = [r for r in exposed if '"nginx"' not in r[3]]
    assert not offenders, "non-Nginx listeners off loopback: %s" % offenders


@pytest.mark.parametrize("name", ["nginx_http", "nginx_status", "app_http", "datadog_expvar", "datadog_cmd",
                                  "datadog_dogstatsd", "datadog_apm_receiver", "datadog_apm_debug",
                                  "datadog_process_expvar", "datadog_process_cmd"])
def test_registry_entry_listens_as_registered_after_restart(host, name):
    entries = _entries(host)
    if name not in entries:
        pytest.skip("%s does not apply to this host" % name)
    e = entries[name]
    proto = "tcp" if e["proto"] == "tcp" else "udp"
    mine = [r for r in _listeners(host) if r[0] == proto and r[2] == e["port"]]
    assert mine, "%s: nothing on %s/%s" % (name, e["port"], proto)
    for r in mine:
        if ipaddress.ip_address(e["bind"]).is_loopback:
            assert _is_loopback(r[1]), "%s registered on %s but listens on %s" % (name, e["bind"], r[1])
        else:
            assert ipaddress.ip_address(r[1]).is_unspecified or r[1] == e["bind"], r


# --- users ---------------------------------------------------------------------

def _unit_processes(host, unit):
    """(pid, user, args) of every process in the unit's cgroup."""
    with host.sudo():
        out = host.run("systemctl show -p ControlGroup --value %s" % unit).stdout.strip()
        assert out, "%s has no cgroup (not running?)" % unit
        pids = host.run("cat /sys/fs/cgroup%s/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/systemd%s/cgroup.procs"
                        % (out, out)).stdout.split()
        rows = []
        for pid in pids:
            ps = host.run("ps -o user=,args= -p %s" % pid).stdout.strip()
            if ps:
                user, _, args = ps.partition(" ")
                rows.append((pid, user, args.strip()))
    return rows


def test_nginx_master_root_workers_www_data(host):
    rows = _unit_processes(host, "nginx.service")
    masters = [r for r in rows if "master process" in r[2]]
    workers = [r for r in rows if "master process" not in r[2]]
    assert len(masters) == 1 and masters[0][1] == "root", rows
    assert workers and all(r[1] == "www-data" for r in workers), rows


@pytest.mark.parametrize("entry", ["app_http", "datadog_expvar", "datadog_apm_receiver", "datadog_process_expvar"])
def test_service_runs_as_its_registry_user_never_root(host, entry):
    e = _entries(host).get(entry)
    if e is None:
        pytest.skip("%s does not apply to this host" % entry)
    rows = _unit_processes(host, e["service"] + ".service")
    assert rows, "no process in %s" % e["service"]
    assert all(r[1] == e["user"] for r in rows), rows
    assert e["user"] != "root"


# The test-host image's own root service (tools/build-image.sh, tools/image/berth_test_modrun.py):
# the server Ansible's module runs fork from. berth never installs it; it is not on production hosts.
TEST_IMAGE_ROOT_PROCESS = "/usr/bin/python3 /usr/lib/python3/dist-packages/berth_test_modrun.py"


def test_nothing_else_berth_deploys_runs_as_root(host):
    """Every root process is systemd's (PID 1 and its own daemons) or the Nginx master; the
    test's own `ps` and the processes that started it (Ansible's python, the shell) are skipped,
    and so is the test image's module-run server (TEST_IMAGE_ROOT_PROCESS)."""
    with host.sudo():
        out = host.check_output("ps -e -o user=,pid=,ppid=,comm=,args=")
    rows = {}
    for line in out.splitlines():
        user, pid, ppid, comm, args = (line.split(None, 4) + [""])[:5]
        rows[pid] = (user, ppid, comm, args)
    mine = set()
    pid = next(p for p, r in rows.items() if r[2] == "ps")
    while pid in rows and pid != "1":
        mine.add(pid)
        pid = rows[pid][1]
    bad = []
    for pid, (user, _, comm, args) in rows.items():
        if user != "root" or pid in mine or pid == "1" or comm.startswith("systemd-"):
            continue
        if comm == "nginx" and "master process" in args:
            continue
        if args == TEST_IMAGE_ROOT_PROCESS:
            continue
        bad.append("%s %s %s" % (pid, comm, args))
    assert not bad, "root processes outside systemd / the Nginx master: %s" % bad


# --- hardening -------------------------------------------------------------------

def _exposure(host, unit):
    with host.sudo():
        out = host.run("systemd-analyze security --no-pager %s" % unit)
    last = [ln for ln in out.stdout.splitlines() if "Overall exposure level" in ln]
    assert last, out.stdout + out.stderr
    return float(last[0].split("level for")[1].split(":")[1].split()[0])


def test_app_unit_exposure_ok(host):
    unit = _entries(host)["app_http"]["service"] + ".service"
    score = _exposure(host, unit)
    print("systemd-analyze security %s: %.1f" % (unit, score))
    assert score <= 2.5


def test_firewall_unit_exposure_ok(host):
    """berth-firewall.service is written by berth (roles/firewall): same bound as the app."""
    score = _exposure(host, "berth-firewall.service")
    print("systemd-analyze security berth-firewall.service: %.1f" % score)
    assert score <= 2.5


@pytest.mark.parametrize("unit", ["nginx.service", "datadog-agent.service", "datadog-agent-trace.service",
                                  "datadog-agent-process.service"])
def test_installed_unit_exposure_measured(host, unit):
    """Information only (Debian's nginx unit, the agent stand-in's units): printed, not bounded."""
    print("systemd-analyze security %s: %.1f" % (unit, _exposure(host, unit)))


# --- secrets -----------------------------------------------------------------------

def test_vvv_site_run_succeeded_and_printed_no_secret():
    log = EPHEMERAL / "bad-input" / "site-vvv.log"
    text = log.read_text()
    assert "failed=0" in text and "<berth-security-web>" in text, "not a -vvv site.yml run: " + str(log)
    for name, value in _secrets().items():
        assert value not in text, "%s printed by ansible-playbook -vvv site.yml" % name


def test_no_scenario_run_printed_a_secret():
    for log in sorted((EPHEMERAL / "bad-input").glob("*.log")):
        text = log.read_text()
        for name, value in _secrets().items():
            assert value not in text, "%s printed in %s" % (name, log.name)


def _written_files(host):
    """Files berth's runs added or changed: `docker diff` against the image, plus the tmpfs mounts
    (/run, /tmp) that docker diff does not see. The base image's own files are left out on
    purpose: the sandbox dummy API key (0123456789abcdef twice) occurs in binaries such as
    libcryptsetup, which no berth run wrote."""
    diff = subprocess.run(["docker", "diff", host.backend.host], check=True, capture_output=True, text=True).stdout
    paths = [line[2:] for line in diff.splitlines() if line[:2] in ("A ", "C ")]
    return [p for p in paths if not p.startswith(("/proc/", "/sys/", "/dev/"))]


def _grep_host(host, find_filter):
    """grep -lF the secrets in the written files that pass `find_filter` (find(1) tests).
    The patterns reach the host by `docker cp` into a root-only file: no command line holds them."""
    patterns, listing = "/root/.berth-secret-patterns", "/root/.berth-written-files"
    local = EPHEMERAL / "secret-patterns"
    fd = os.open(str(local), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(_secrets().values()) + "\n")
    local_list = EPHEMERAL / "written-files"
    local_list.write_text("\n".join(_written_files(host)) + "\n")
    try:
        for src, dst in ((local, patterns), (local_list, listing)):
            subprocess.run(["docker", "cp", str(src), "%s:%s" % (host.backend.host, dst)], check=True)
    finally:
        local.unlink()
    command = ("{ cat %s; find /run /tmp -xdev -type f; } | grep -v '^/root/.berth-' "
               "| tr '\\n' '\\0' | find -files0-from - -maxdepth 0 -type f %s -print0 2>/dev/null "
               "| xargs -0 -r grep -lF -f %s 2>/dev/null; true" % (listing, find_filter, patterns))
    with host.sudo():
        try:
            return host.run(command)
        finally:
            host.run("rm -f %s %s" % (patterns, listing))


def test_secrets_in_no_world_readable_file(host):
    res = _grep_host(host, "-perm -o+r")
    assert res.stdout.strip() == "", "world-readable files holding a secret: " + res.stdout


def test_secrets_only_in_their_destination_files(host):
    """Among all files berth wrote (any mode), the secrets are only in datadog.yaml and the app's env file."""
    res = _grep_host(host, "")
    files = sorted(res.stdout.split())
    v = _vars(host)
    conf_dir = str(v.get("flask_app_conf_dir", FLASK_DEFAULTS["flask_app_conf_dir"])).replace(
        "{{ flask_app_name }}", str(v.get("flask_app_name", FLASK_DEFAULTS["flask_app_name"])))
    allowed = {"/etc/datadog-agent/datadog.yaml", conf_dir + "/app.env"}
    assert set(files) <= allowed, files
    with host.sudo():
        for path in files:
            f = host.file(path)
            assert not (f.mode & 0o004), "%s is world-readable" % path


def _grep_cmdlines(host):
    """Count /proc/*/cmdline lines holding a secret (patterns copied in as for _grep_host)."""
    patterns = "/root/.berth-secret-patterns"
    local = EPHEMERAL / "secret-patterns"
    fd = os.open(str(local), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(_secrets().values()) + "\n")
    try:
        subprocess.run(["docker", "cp", str(local), "%s:%s" % (host.backend.host, patterns)], check=True)
    finally:
        local.unlink()
    with host.sudo():
        try:
            return host.run("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done "
                            "| grep -cF -f %s; true" % patterns)
        finally:
            host.run("rm -f %s" % patterns)


def test_secrets_in_no_process_command_line(host):
    res = _grep_cmdlines(host)
    assert res.stdout.strip() in ("", "0"), "a process command line holds a secret"


# --- faults (observed in the side effect) ---------------------------------------------

@pytest.mark.parametrize("case", ["wsgi-does-not-import", "requirements-do-not-resolve",
                                  "nginx-extra-config-fails-nginx-t", "git-source-unreachable",
                                  "source-dir-missing", "apt-mirror-unreachable"])
def test_refused_run_left_its_output(case):
    """The side effect asserted rc != 0, the message and no change; its output is kept for docs."""
    text = (EPHEMERAL / "bad-input" / ("%s.log" % case)).read_text()
    assert "failed=1" in text, text[-2000:]


# --- optional firewall (roles/firewall, switched on by this scenario's converge) ---------

def _container_ip(host):
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                          host.backend.host], check=True, capture_output=True, text=True).stdout.split()
    assert out, "no container address"
    return out[0]


def _public_entries(host):
    return {n: e for n, e in _entries(host).items() if not ipaddress.ip_address(e["bind"]).is_loopback}


def test_firewall_table_allows_only_public_entries_and_ssh(host):
    with host.sudo():
        table = host.check_output("nft list table inet berth")
    assert "policy drop;" in table
    assert "tcp dport 22 accept" in table
    for name, e in _entries(host).items():
        rule = "%s dport %d accept" % (e["proto"], e["port"])
        if name in _public_entries(host):
            assert rule in table, (name, table)
        else:
            assert rule not in table, (name, table)


def test_firewall_lets_nginx_through(host):
    port = _entries(host)["nginx_http"]["port"]
    res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                          "http://%s:%d/" % (_container_ip(host), port)], capture_output=True, text=True)
    assert res.stdout == "200", res


def test_firewall_drops_a_port_outside_the_registry(host):
    """A stray listener on every address is not reachable from outside while the firewall is on."""
    used = {e["port"] for e in _entries(host).values()} | {22}
    port = next(p for p in range(9400, 9500) if p not in used)
    with host.sudo():
        host.run("systemd-run --unit=berth-stray-listener python3 -m http.server %d --bind 0.0.0.0" % port)
        try:
            host.run("for i in $(seq 20); do ss -ltn | grep -q ':%d ' && break; sleep 0.2; done" % port)
            assert host.socket("tcp://0.0.0.0:%d" % port).is_listening
            res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                                  "http://%s:%d/" % (_container_ip(host), port)], capture_output=True, text=True)
            assert res.stdout in ("", "000") and res.returncode != 0, res
        finally:
            host.run("systemctl stop berth-stray-listener")
