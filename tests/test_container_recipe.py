"""berth's one container recipe (molecule/resources/systemd-host.yml): every test host - Molecule,
the sandbox, the consumer and EE tests, the bench - starts from it, and no copy restates it."""

import glob
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import container_recipe  # noqa: E402

RECIPE_KEYS = {"command", "capabilities", "security_opts", "cgroupns_mode", "volumes", "tmpfs", "stop_signal"}


def test_recipe_runs_systemd_without_privileged():
    recipe = container_recipe.load()
    assert set(recipe) == RECIPE_KEYS
    assert recipe["command"] == "/lib/systemd/systemd"
    assert recipe["capabilities"] == ["SYS_ADMIN", "SYS_PTRACE"]
    assert {"/run", "/run/lock"} <= set(recipe["tmpfs"])
    assert recipe["cgroupns_mode"] == "host" and "/sys/fs/cgroup:/sys/fs/cgroup:rw" in recipe["volumes"]


def test_docker_run_args_carry_every_setting():
    args = container_recipe.docker_run_args(container_recipe.load())
    assert args == ["--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE",
                    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp", "--stop-signal", "SIGRTMIN+3"]
    out = subprocess.run([sys.executable, str(ROOT / "tools/container_recipe.py")], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == args


def test_no_molecule_platform_restates_the_recipe():
    files = sorted(glob.glob(str(ROOT / "molecule/*/molecule.yml"))) + [str(ROOT / ".config/molecule/config.yml")]
    assert len(files) > 5
    for path in files:
        config = yaml.safe_load(Path(path).read_text()) or {}
        for platform in config.get("platforms", []):
            restated = RECIPE_KEYS & set(platform) - {"capabilities"}
            # A platform may add capabilities (create.yml appends them to the recipe's), not restate them.
            assert not set(platform.get("capabilities", [])) & set(container_recipe.load()["capabilities"]), path
            assert not restated, "%s: %s restates %s (molecule/resources/systemd-host.yml)" % (
                os.path.relpath(path, ROOT), platform["name"], ", ".join(sorted(restated)))
    base = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    assert base["provisioner"]["playbooks"] == {"create": "../resources/create.yml", "destroy": "../resources/destroy.yml"}


def test_every_starter_reads_the_recipe():
    create = (ROOT / "molecule/resources/create.yml").read_text()
    sandbox = (ROOT / "playbooks/sandbox.yml").read_text()
    assert "berth_systemd_host.capabilities + item.capabilities" in create
    for text in (create, sandbox):
        for key in sorted(RECIPE_KEYS):
            assert "berth_systemd_host.%s" % key in text
    assert "container_recipe.py" in (ROOT / "tools/test-host.sh").read_text()
    assert "tools/test-host.sh" in (ROOT / "bench/run.sh").read_text()
