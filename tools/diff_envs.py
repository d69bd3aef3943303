#!/usr/bin/env python3
"""Print where two (or more) berth environments differ.

The second outage behind berth was an unseen difference between environments
(the app on 5000 in one, 5001 expected in the other). This tool puts the
environments side by side, per inventory group:

* every port registry entry (port, proto, bind, service, user, enabled, groups),
  after that group's ``berth_ports_overrides`` are merged in;
* every other variable set in the environment's ``group_vars``.

It reads the inventory files directly: nothing is contacted and no vault
password is needed (encrypted files are listed, never read; values that name a
secret are masked).

    tools/diff_envs.py staging production            # only the differences
    tools/diff_envs.py --all staging production      # every setting
    tools/diff_envs.py --inventories DIR a b c       # inventories elsewhere
Exit status: 0 when the environments agree, 1 when they differ, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
REGISTRY_KEYS = ("port", "proto", "bind", "service", "user", "enabled", "groups")
SECRET = re.compile(r"(secret|password|api_key|token|vault)", re.IGNORECASE)
MISSING = "-"


def _load_yaml(path: pathlib.Path):
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return None
    return yaml.safe_load(text) or {}


def load_group_vars(env_dir: pathlib.Path):
    """Return ({group: vars}, [encrypted files]) for one inventory directory."""
    groups, encrypted = {}, []
    gv = env_dir / "group_vars"
    if not gv.is_dir():
        return groups, encrypted
    for entry in sorted(gv.iterdir()):
        files = sorted(entry.rglob("*.yml")) + sorted(entry.rglob("*.yaml")) if entry.is_dir() else [entry]
        name = entry.name if entry.is_dir() else entry.stem
        merged = groups.setdefault(name, {})
        for path in files:
            if path.suffix not in (".yml", ".yaml"):
                continue
            data = _load_yaml(path)
            if data is None:
                encrypted.append(str(path.relative_to(env_dir)))
                continue
            if not isinstance(data, dict):
                raise ValueError("%s: expected a mapping of variables" % path)
            merged.update(data)
    return groups, encrypted


def _fmt(value):
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _mask(name, value):
    text = _fmt(value)
    if SECRET.search(name) and "{{" not in text:
        return "<secret>"
    return text


def settings(groups):
    """Flatten one environment into {(group, setting): text}."""
    flat = {}
    registry = groups.get("all", {}).get("berth_ports", {}) or {}
    for group, variables in groups.items():
        overrides = variables.get("berth_ports_overrides", {}) or {}
        if group == "all" or overrides:
            for entry, spec in registry.items():
                effective = dict(spec or {})
                effective.update(overrides.get(entry, {}) or {})
                for key in REGISTRY_KEYS:
                    if key in effective or key in ("port", "proto", "bind"):
                        flat[(group, "berth_ports.%s.%s" % (entry, key))] = _fmt(effective.get(key, MISSING))
        for name, value in variables.items():
            if name in ("berth_ports", "berth_ports_overrides"):
                continue
            flat[(group, name)] = _mask(name, value)
    return flat


def compare(envs, root, show_all=False):
    loaded, encrypted = {}, {}
    for env in envs:
        env_dir = root / env
        if not (env_dir / "hosts.yml").exists() and not (env_dir / "group_vars").is_dir():
            raise FileNotFoundError(
                "no inventory '%s' under %s (expected %s/hosts.yml and group_vars/)" % (env, root, env)
            )
        groups, enc = load_group_vars(env_dir)
        loaded[env] = settings(groups)
        encrypted[env] = enc
    keys = sorted(set().union(*[set(v) for v in loaded.values()]))
    rows = []
    for key in keys:
        values = [loaded[env].get(key, MISSING) for env in envs]
        if show_all or len(set(values)) > 1:
            rows.append((key[0], key[1], values))
    return rows, encrypted


def render(rows, envs, encrypted):
    header = ["group", "setting"] + list(envs)
    table = [header] + [[g, s] + v for g, s, v in rows]
    widths = [min(60, max(len(r[i]) for r in table)) for i in range(len(header))]
    lines = []
    for index, row in enumerate(table):
        lines.append("  ".join(cell[:60].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    for env in envs:
        for path in encrypted[env]:
            lines.append("(%s: %s is encrypted; its values are not compared)" % (env, path))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("envs", nargs="+", help="inventory names under --inventories (at least two)")
    parser.add_argument("--inventories", default=str(ROOT / "inventories"), help="folder holding the inventories")
    parser.add_argument("--all", action="store_true", help="print every setting, not only differences")
    args = parser.parse_args(argv)
    if len(args.envs) < 2:
        parser.error("name at least two environments, e.g. staging production")
    try:
        rows, encrypted = compare(args.envs, pathlib.Path(args.inventories), args.all)
    except (FileNotFoundError, ValueError, yaml.YAMLError) as exc:
        print("diff_envs: %s" % exc, file=sys.stderr)
        return 2
    if not rows:
        print("%s agree on every registry entry and group setting." % " and ".join(args.envs))
        return 0
    print(render(rows, args.envs, encrypted))
    return 0 if args.all else 1


if __name__ == "__main__":
    sys.exit(main())
