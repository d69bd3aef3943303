"""The berth_ports agent check, running inside the (stand-in) agent on the converged hosts.

Read from the agent's own output: `datadog-agent status --json` (the TEST STAND-IN's
check runner status, written after every run by datadog-checks-base's AgentCheck.run()).
Expected entries, units, users, the interval and the free-port level come from the
inventory and the role defaults (test_datadog._vars), never from constants here.

Transitions (on the agent's trace unit's APM receiver entry, whose unit can stop while
the check keeps running in datadog-agent.service):
  stop the entry's unit            -> free: the configured level, within one interval
  start it again                   -> OK within one interval
  a foreign listener on the port   -> CRITICAL naming pid, process, user and unit
  remove it, start the unit again  -> OK within one interval
"Within one interval" is timed from the change (for a start: from the moment the port
listens) to the start of the check run that reports it, on the agent's own clock (the run's
start in its status): the first run that starts after the change must report it, and start
within one interval (+ SLACK) of it. How late our polling sees that run does not count, so the
scenario holds beside other jobs (`make test` runs it in its first, parallel phase). Runs after
test_datadog.py (file order); leaves every unit running.
"""

import json
import time

import pytest

from test_datadog import _registry, _vars

INTRUDER = "berth-test-intruder"
SLACK = 2.0  # seconds beyond one interval: the runner's 0.5 s loop and the instances run before this one
POLL_LIMIT = 3  # intervals to wait for the first run after a change to show in the status
TIMINGS = {}


def _status(host):
    return json.loads(host.check_output("datadog-agent status --json"))


_SETTLED = set()


@pytest.fixture(autouse=True)
def agent_settled(host):
    """test_datadog.py ends by restarting the agent; its units open their ports one after the
    other, and a check run in between rightly reports a port free. Once per host: wait until
    every port of the agent's units listens, then for a run of every instance after that."""
    if host.backend.host in _SETTLED:
        return
    v = _vars(host)
    ports = {(e["proto"], e["port"]) for e in _host_entries(host).values() if e["service"] in v["datadog_services"]}
    deadline = time.time() + 60
    while time.time() < deadline:
        listening = set()
        for line in host.run("ss -Htuln").stdout.splitlines():
            fields = line.split()
            listening.add((fields[0], int(fields[4].rsplit(":", 1)[1])))
        if ports <= listening:
            break
        time.sleep(0.5)
    else:
        pytest.fail("agent ports not listening: %s" % sorted(ports - listening))
    since = time.time()
    while time.time() < deadline + _interval(host):
        out = host.run("datadog-agent status --json")
        if out.rc == 0:
            status = json.loads(out.stdout)
            if "runner" in status or (status["checks"] and all((c["last_run"] or 0) > since for c in status["checks"])):
                _SETTLED.add(host.backend.host)
                return
        time.sleep(0.5)
    pytest.fail("no check run after the agent settled:\n%s"
                % host.run("journalctl -u datadog-agent -n 30 --no-pager").stdout)


def _results(host):
    """entry name -> (service check, last_run) of the berth_ports instances."""
    out = {}
    for inst in _status(host)["checks"]:
        if inst["check"] != "berth_ports" or not inst["result"]:
            continue
        assert inst["result"]["error"] == "", inst["result"]["error"]
        [sc] = [s for s in inst["result"]["service_checks"] if s["name"] == "berth.port.owner"]
        entry = [t.split(":", 1)[1] for t in sc["tags"] if t.startswith("berth_port:")][0]
        out[entry] = (sc, inst["last_run"])
    return out


def _interval(host):
    return float(_vars(host)["datadog_berth_ports_interval"])


def _wait_for(host, entry, since, predicate, what):
    """The first run of the entry's instance that starts after `since` must report `predicate`,
    and start within one interval (+ SLACK) of `since`. Polling may see that run late (a busy
    machine): only the run's own start time is judged. A run seen later than that bound means the
    check ran late or a run was missed, and either fails."""
    interval = _interval(host)
    deadline = time.time() + POLL_LIMIT * interval
    while time.time() < deadline:
        result = _results(host).get(entry)
        if result and result[1] > since:
            seen, started = result
            took = started - since
            if took > interval + SLACK:
                pytest.fail("the first check run seen for %s after the change started %.2f s after it, beyond one "
                            "interval (%.0f s + %.0f s slack); it reported %s\n%s"
                            % (entry, took, interval, SLACK, seen, _journal(host)))
            if not predicate(seen):
                pytest.fail("the first check run after the change (%.2f s later) did not report %s for %s: %s\n%s"
                            % (took, what, entry, seen, _journal(host)))
            return seen, took
        # Once a second: the run's own start time is what is judged, and a run every interval
        # (5 s here) cannot be missed at this pace.
        time.sleep(1.0)
    pytest.fail("no check run of %s started after the change within %d intervals (%.0f s each)\n%s"
                % (entry, POLL_LIMIT, interval, _journal(host)))


def _journal(host):
    return host.run("journalctl -u datadog-agent -n 20 --no-pager").stdout


def _host_entries(host):
    groups = set(_vars(host)["group_names"])
    return {n: e for n, e in _registry(host).items()
            if e["enabled"] and (not e["groups"] or groups & set(e["groups"]))}


def _target(host):
    """The APM receiver's registry entry (its unit is not the one that runs the check)."""
    name = _vars(host)["datadog_port_names"]["apm_receiver_port"]
    return name, _registry(host)[name]


def test_runner_runs_the_check_with_datadog_checks_base(host):
    status = _status(host)
    assert "runner" not in status, status.get("runner")
    assert status["not_run"].get("berth_ports") is None
    entries = {inst["check"] for inst in status["checks"]}
    assert entries == {"berth_ports"}, "only checks with a checks.d file run in the stand-in"


def test_one_instance_per_enabled_entry_of_the_host(host):
    assert set(_results(host)) == set(_host_entries(host))


def test_agent_entries_ok_others_free_at_the_configured_level(host):
    """The agent's own ports are held by their units (OK); Nginx and the app are not installed in
    this scenario, so their ports are free and reported at datadog_berth_ports_free_status."""
    v = _vars(host)
    results = _results(host)
    for name, entry in _host_entries(host).items():
        sc = results[name][0]
        if entry["service"] in v["datadog_services"]:
            assert sc["status_name"] == "OK", (name, sc)
        else:
            assert sc["status_name"] == v["datadog_berth_ports_free_status"].upper(), (name, sc)
            assert sc["message"].startswith("nothing listens on port %s/%s" % (entry["port"], entry["proto"])), sc


def _start_and_wait_listening(host, entry):
    """Start the entry's unit; return the time its port listens (the clock of 'reported within one interval')."""
    flag = "-Hulpn" if entry["proto"] == "udp" else "-Htlpn"
    with host.sudo():
        host.run_expect([0], "systemctl start %s" % entry["service"])
        for _ in range(80):
            if host.run("ss %s 'sport = :%d'" % (flag, entry["port"])).stdout.strip():
                return time.time()
            time.sleep(0.25)
    pytest.fail("%s did not listen on %s/%s" % (entry["service"], entry["port"], entry["proto"]))


@pytest.fixture()
def unit_running_again(host):
    """The transitions run on the web host only (the lb host runs the same check code): ~25 s saved."""
    if "web" not in _vars(host)["group_names"]:
        pytest.skip("transitions are exercised on the web host")
    name, entry = _target(host)
    yield name, entry
    with host.sudo():
        host.run("systemctl stop %s", INTRUDER)
        host.run("systemctl reset-failed %s", INTRUDER)
        host.run_expect([0], "systemctl start %s" % entry["service"])


def test_stopped_unit_is_reported_then_ok_again(host, unit_running_again):
    name, entry = unit_running_again
    level = _vars(host)["datadog_berth_ports_free_status"].upper()
    with host.sudo():
        host.run_expect([0], "systemctl stop %s" % entry["service"])  # returns once the unit is gone
    t0 = time.time()
    sc, took = _wait_for(host, name, t0, lambda s: s["status_name"] == level, level)
    assert "nothing listens on port %s/%s" % (entry["port"], entry["proto"]) in sc["message"]
    assert "unit %s (user %s)" % (entry["service"], entry["user"]) in sc["message"]
    TIMINGS["stop -> %s" % level] = took
    t1 = _start_and_wait_listening(host, entry)
    _, took = _wait_for(host, name, t1, lambda s: s["status_name"] == "OK", "OK")
    TIMINGS["start -> OK"] = took


def _start_intruder(host, entry, user=None):
    """Stop the entry's unit and start a foreign listener on its port (as `user`, else root);
    return its pid and the time its port listens."""
    with host.sudo():
        host.run_expect([0], "systemctl stop %s" % entry["service"])
        host.run_expect([0], "systemd-run --unit %s %s python3 -m http.server --bind %s %d"
                        % (INTRUDER, "--uid %s" % user if user else "", entry["bind"], entry["port"]))
        for _ in range(80):
            pid = int(host.check_output("systemctl show -p MainPID --value %s" % INTRUDER) or 0)
            if pid and host.run("ss -Htln 'sport = :%d'" % entry["port"]).stdout.strip():
                return pid, time.time()
            time.sleep(0.25)
    pytest.fail("the intruder did not listen on %s" % entry["port"])


def test_foreign_listener_is_critical_and_named_then_ok_again(host, unit_running_again):
    """A process started by hand on the entry's port (here as dd-agent, so the agent, which runs
    checks as dd-agent without CAP_SYS_PTRACE, may read its /proc/<pid>/fd and name it)."""
    name, entry = unit_running_again
    pid, t0 = _start_intruder(host, entry, entry["user"])
    holder = "pid %d 'python3' (user %s, unit %s.service)" % (pid, entry["user"], INTRUDER)
    sc, took = _wait_for(host, name, t0, lambda s: s["status_name"] == "CRITICAL" and holder in s["message"],
                         "CRITICAL naming " + holder)
    assert sc["message"].endswith("not by its unit %s (user %s)" % (entry["service"], entry["user"])), sc
    TIMINGS["foreign listener -> CRITICAL"] = took
    with host.sudo():
        host.run_expect([0], "systemctl stop %s" % INTRUDER)
    t1 = _start_and_wait_listening(host, entry)
    _, took = _wait_for(host, name, t1, lambda s: s["status_name"] == "OK", "OK")
    TIMINGS["intruder removed, unit started -> OK"] = took


def test_root_intruder_is_critical_by_user(host, unit_running_again):
    """A root process is hidden from dd-agent: still CRITICAL, named by its user."""
    name, entry = unit_running_again
    _, t0 = _start_intruder(host, entry)
    sc, took = _wait_for(host, name, t0, lambda s: s["status_name"] == "CRITICAL" and "user root" in s["message"],
                         "CRITICAL naming user root")
    assert "a process of user root (pid not visible" in sc["message"], sc
    TIMINGS["root intruder -> CRITICAL"] = took


def test_print_transition_timings(host):
    if not TIMINGS:
        pytest.skip("no transitions on this host")
    print("berth_ports transitions on %s (interval %.0f s): %s" % (
        host.backend.host, _interval(host), json.dumps({k: round(v, 2) for k, v in TIMINGS.items()})))
    with open("/tmp/berth-port-owner-timings.log", "a") as log:
        log.write("%s %s interval=%s %s\n" % (time.strftime("%H:%M:%S"), host.backend.host, _interval(host),
                                              json.dumps({k: round(v, 2) for k, v in TIMINGS.items()})))
    TIMINGS.clear()


def test_monitors_check_diff_shows_what_would_be_created(host):
    """Monitors on, no application key, --check --diff: the definitions file's diff lists every
    monitor, nothing is written, and the module (no check mode) is not called."""
    import os
    import subprocess

    from test_datadog import SCENARIO

    v = _vars(host)
    if v["inventory_hostname"] != "berth-datadog-web":
        pytest.skip("the monitors are rendered once per play (run_once); one run is enough")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "--check", "--diff", "-i", env["MOLECULE_INVENTORY_FILE"], "--tags", "datadog_monitors",
           "-e", json.dumps({"datadog_monitors_enabled": True, "datadog_monitors_notify": "@slack-ops"}),
           str(SCENARIO / "converge.yml")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    with open("/tmp/berth-monitors-check-diff.log", "w") as log:
        log.write(out)
    entries = sorted(n for n, e in _registry(host).items() if e["enabled"])
    for name in entries:
        assert '+    "query": "\\"berth.port.owner\\".over(\\"berth_port:%s\\")' % name in out, name
    assert '+    "query": "\\"http.can_connect\\".over(\\"instance:nginx_http_/health\\")' in out
    assert "not applied: datadog_app_key is empty" in " ".join(out.split())
    apply_task = out.split("Monitors | Apply each monitor", 1)[1].split("TASK [", 1)[0]
    assert "skipping:" in apply_task and "changed:" not in apply_task and "ok:" not in apply_task, apply_task
