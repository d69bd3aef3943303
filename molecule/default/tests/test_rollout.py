"""After the side effect: the failed v3 canary rolled back to v2 and drained; stage wave1
rolled back to v1 by playbooks/rollback.yml and active; a rollback to a missing release
refused before any drain; then the rollout of v4, killed while building and killed right after
the switch, repaired by the same command: every web host serves v4 and every backend is active.

Expected values come from the inventory the plays used (registry, groups); the
release ids are the ones the side effect rolled out.
"""

import json
import os

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
WEB = RUNNER.get_hosts("web")
CANARY = RUNNER.get_hosts("canary")
LB = RUNNER.get_hosts("lb")
# The release each web host serves after the side effect (the repaired rollout's).
SERVING = {name: "v4" for name in WEB}


def _host(name):
    """The host as its inventory reaches it (SSH as the login user), every command through sudo,
    as an operator reads root's files."""
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY, sudo=True)


def _port(host, name):
    registry = host.ansible.get_variables()["berth_ports"]
    return registry[name]["port"]


@pytest.mark.parametrize("name", WEB)
def test_every_web_host_serves_its_expected_release_through_its_nginx(name):
    host = _host(name)
    port = _port(host, "nginx_http")
    out = host.check_output("curl -fsS http://127.0.0.1:%s/health" % port)
    assert json.loads(out)["release"] == SERVING[name]
    assert host.check_output("curl -fsS http://127.0.0.1:%s/airbnb-onepage/" % port) == "Hello HBNB!"


@pytest.mark.parametrize("name", WEB)
def test_v3_was_built_only_on_the_canary(name):
    host = _host(name)
    current = host.file("/srv/hbnb/current").linked_to
    assert current.endswith("/" + SERVING[name])
    assert host.file("/srv/hbnb/releases/v2/.berth-release").exists
    assert host.file("/srv/hbnb/releases/v3").exists == (name in CANARY)
    # The release whose build was killed was finished (or built again), never switched to half-built.
    assert host.file("/srv/hbnb/releases/v4/.berth-release").exists
    assert not host.file("/run/berth/build.lock").exists or host.run("flock -n /run/berth/build.lock true").rc == 0


@pytest.mark.parametrize("name", WEB)
def test_pip_ran_once_per_host_the_later_releases_copied_its_venv(name):
    """flask_app_venv_reuse: v2, v3 and v4 have v1's pins (v3's requirements file differs from the
    sample's in its comment line only), so their venvs are copies of v1's, not pip runs."""
    host = _host(name)
    releases = ["v1", "v2"] + (["v3"] if name in CANARY else []) + ["v4"]
    origin = {r: host.file("/srv/hbnb/releases/%s/venv/.berth-venv-origin" % r).content_string.strip() for r in releases}
    key = {r: host.file("/srv/hbnb/releases/%s/venv/.berth-venv" % r).content_string for r in releases}
    assert origin["v1"] == "pip"
    for release in releases[1:]:
        assert origin[release] == "/srv/hbnb/releases/v1/venv", (release, origin)
        assert key[release] == key["v1"]
        gunicorn = host.file("/srv/hbnb/releases/%s/venv/bin/gunicorn" % release).content_string.splitlines()[0]
        assert gunicorn == "#!/srv/hbnb/releases/%s/venv/bin/python" % release


@pytest.mark.parametrize("name", LB)
def test_every_backend_active_after_the_repaired_rollout(name):
    # The failed v3 left the canary drained; the repaired v4 rollout passed its gate on every
    # stage and put each host it drained back, the canary included.
    host = _host(name)
    drained = json.loads(host.file("/etc/nginx/berth-drained.json").content_string)["drained"]
    assert drained == []
    upstream = host.file("/etc/nginx/berth.d/upstream.conf").content_string
    for web in WEB:
        # Each backend by its inventory address (ansible_host, else its name), as the role writes it.
        address = RUNNER.get_variables(web).get("ansible_host", web)
        line = next(l for l in upstream.splitlines() if l.strip().startswith("server %s:" % address))
        assert not line.rstrip(";").endswith(" down"), line


@pytest.mark.parametrize("name", LB)
def test_load_balancer_serves_the_route(name):
    host = _host(name)
    port = _port(host, "nginx_http")
    for _ in range(6):
        assert host.check_output("curl -fsS http://127.0.0.1:%s/airbnb-onepage/" % port) == "Hello HBNB!"
