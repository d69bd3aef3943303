"""docs/examples/ports-exercise.yml: the AirBnB-clone exercise's ports for the four apps
(5000-5003) with the agent's expvar and cmd ports moved. The real offline validator
(playbooks/validate.yml, no host contacted) accepts it for the sandbox inventory's four-app
hosts, and the same apps on those ports WITHOUT moving the agent are refused, naming the clash."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs/examples/ports-exercise.yml"
SANDBOX = ROOT / "inventories/sandbox"
BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")


def _validate(*extra):
    cmd = [str(BIN / "ansible-playbook"), "-i", str(SANDBOX), "--vault-password-file",
           str(SANDBOX / "vault-password.txt"), str(ROOT / "playbooks/validate.yml")]
    for item in extra:
        cmd += ["-e", item]
    out = subprocess.run(cmd, cwd=str(ROOT), env=ENV, capture_output=True, text=True, timeout=300)
    return out.returncode, " ".join((out.stdout + out.stderr).split())


def test_example_keeps_the_exercise_ports_and_moves_the_agent():
    registry = yaml.safe_load(EXAMPLE.read_text())["berth_ports"]
    apps = yaml.safe_load((SANDBOX / "group_vars/airbnb_clone/flask_apps.yml").read_text())["flask_apps"]
    ports = sorted(registry[spec.get("port", name)]["port"] for name, spec in apps.items())
    assert ports == [5000, 5001, 5002, 5003]
    assert registry["datadog_expvar"]["port"] not in ports and registry["datadog_cmd"]["port"] not in ports


def test_validator_accepts_the_example_registry():
    rc, out = _validate("@" + str(EXAMPLE))
    assert rc == 0, out[-3000:]
    assert "unreachable=0" in out


def test_validator_refuses_the_exercise_ports_next_to_the_agents_defaults():
    registry = yaml.safe_load(EXAMPLE.read_text())["berth_ports"]
    registry["datadog_expvar"]["port"] = 5000
    registry["datadog_cmd"]["port"] = 5001
    rc, out = _validate(json.dumps({"berth_ports": registry}))
    assert rc != 0, out[-3000:]
    assert "datadog_expvar" in out and "app_http" in out and "5000" in out, out[-3000:]
    assert "datadog_cmd" in out and "hbnb_dynamic" in out and "5001" in out, out[-3000:]
