#!/usr/bin/env python3
"""Print the `docker run` options of berth's one container recipe (molecule/resources/systemd-host.yml).

    tools/container_recipe.py            # one option per line, for `mapfile -t args < <(...)`

Used by tools/test-host.sh (consumer and EE tests, the bench), so the command line and the
Molecule and sandbox playbooks start the same container.
"""

import os
import sys

import yaml

RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "molecule/resources/systemd-host.yml")


def docker_run_args(recipe):
    """`docker run` options for the recipe (everything but the image and the command)."""
    args = []
    for cap in recipe.get("capabilities", []):
        args += ["--cap-add", cap]
    for opt in recipe.get("security_opts", []):
        args += ["--security-opt", opt]
    if recipe.get("cgroupns_mode"):
        args += ["--cgroupns", recipe["cgroupns_mode"]]
    for volume in recipe.get("volumes", []):
        args += ["-v", volume]
    for path in recipe.get("tmpfs", []):
        args += ["--tmpfs", path]
    if recipe.get("stop_signal"):
        args += ["--stop-signal", recipe["stop_signal"]]
    return args


def load(path=RECIPE):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["berth_systemd_host"]


def main(argv):
    recipe = load()
    if argv[1:] == ["command"]:
        print(recipe["command"])
        return 0
    if argv[1:]:
        print("usage: %s [command]" % argv[0], file=sys.stderr)
        return 2
    print("\n".join(docker_run_args(recipe)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
