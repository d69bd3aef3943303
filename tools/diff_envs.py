#!/usr/bin/env python3
"""Print where two (or more) berth environments differ.

The second outage behind berth was an unseen difference between environments
(the app on 5000 in one, 5001 expected in the other). This tool puts the
environments side by side:

* per inventory group: every port registry entry (port, proto, bind, service,
  user, enabled, groups) after that group's ``berth_ports_overrides`` are merged
  in, and every other variable set in the environment's ``group_vars``;
* per host (``host:<name>``): every registry entry where the host's effective
  registry differs from what its groups give it (a ``berth_ports_overrides`` in
  ``host_vars`` or inline in ``hosts.yml``), and every variable it sets itself.

It reads the inventory files directly: nothing is contacted and no vault
password is needed. Encrypted files are listed, never read; inline ``!vault``
values and values whose name says secret are masked.

The registry's meaning (the override merge) is the collection's registry core,
``plugins/module_utils/berth_registry.py``; nothing is re-implemented here.

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
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core  # noqa: E402

REGISTRY_KEYS = ("port", "proto", "bind", "service", "user", "enabled", "groups")
SECRET = re.compile(r"(secret|password|api_key|token|vault)", re.IGNORECASE)
MISSING = "-"
VAULTED = "<vaulted>"
HOST_PREFIX = "host:"
VARS_SUFFIXES = (".yml", ".yaml", ".json")


class Vaulted(object):
    """An inline ``!vault`` value: compared as 'some secret', never decrypted."""

    def __eq__(self, other):
        return isinstance(other, Vaulted)

    def __hash__(self):
        return hash(VAULTED)


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's ``!vault`` and ``!unsafe`` tags."""


_Loader.add_constructor("!vault", lambda loader, node: Vaulted())
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _load_yaml(path: pathlib.Path):
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return None
    return yaml.load(text, Loader=_Loader) or {}


def _vars_files(base: pathlib.Path, name: str):
    """group_vars/<name>(.yml) or group_vars/<name>/**: the files Ansible reads, in order."""
    files = []
    folder = base / name
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in VARS_SUFFIXES)
    for suffix in ("",) + VARS_SUFFIXES:
        candidate = base / (name + suffix)
        if candidate.is_file():
            files.append(candidate)
    return files


def load_vars(base: pathlib.Path, env_dir: pathlib.Path, encrypted):
    """{name: merged vars} for every group or host that has files under ``base``."""
    found = {}
    if not base.is_dir():
        return found
    names = sorted({p.name.rsplit(".", 1)[0] if p.is_file() and p.suffix in VARS_SUFFIXES else p.name
                    for p in base.iterdir()})
    for name in names:
        merged = {}
        for path in _vars_files(base, name):
            data = _load_yaml(path)
            if data is None:
                encrypted.append(str(path.relative_to(env_dir)))
                continue
            if not isinstance(data, dict):
                raise ValueError("%s: expected a mapping of variables" % path)
            merged.update(data)
        found[name] = merged
    return found


def load_group_vars(env_dir: pathlib.Path):
    """Return ({group: vars}, [encrypted files]) for one inventory directory."""
    encrypted = []
    return load_vars(env_dir / "group_vars", env_dir, encrypted), encrypted


def load_hosts(env_dir: pathlib.Path):
    """Parse hosts.yml: ({host: {groups (by precedence, lowest first), vars}}, {group: inline vars})."""
    path = env_dir / "hosts.yml"
    if not path.is_file():
        return {}, {}
    data = _load_yaml(path) or {}
    hosts, group_vars, depth = {}, {}, {}

    def walk(name, body, level, chain):
        body = body or {}
        depth[name] = max(depth.get(name, 0), level)
        if body.get("vars"):
            group_vars.setdefault(name, {}).update(body["vars"])
        for host, hvars in (body.get("hosts") or {}).items():
            item = hosts.setdefault(str(host), {"groups": set(), "vars": {}})
            item["groups"].update(chain + [name])
            item["vars"].update(hvars or {})
        for child, child_body in (body.get("children") or {}).items():
            walk(str(child), child_body, level + 1, chain + [name])

    for name, body in data.items():
        walk(str(name), body, 0, [])
    for item in hosts.values():
        # Ansible's precedence: parents before children, then by name; later wins.
        item["groups"] = sorted(item["groups"], key=lambda g: (depth.get(g, 0), g))
    return hosts, group_vars


def _fmt(value):
    if value is None:
        return "null"
    if isinstance(value, Vaulted):
        return VAULTED
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_fmt)
    return str(value)


def _mask(name, value):
    text = _fmt(value)
    if text != VAULTED and SECRET.search(name) and "{{" not in text:
        return "<secret>"
    return text


def _entries(registry, overrides):
    """The effective registry through the core; problems shown as values, not raised."""
    entries, _, problems = core.effective(registry if isinstance(registry, dict) else {}, overrides)
    return entries, [p.text for p in problems]


def _registry_rows(scope, entries, flat, only_if_differs=None):
    for entry, spec in sorted(entries.items()):
        spec = spec if isinstance(spec, dict) else {}
        for key in REGISTRY_KEYS:
            if key in spec or key in ("port", "proto", "bind"):
                value = _fmt(spec.get(key, MISSING))
                if only_if_differs is not None:
                    base = only_if_differs.get(entry) if isinstance(only_if_differs.get(entry), dict) else {}
                    if _fmt(base.get(key, MISSING)) == value:
                        continue
                flat[(scope, "berth_ports.%s.%s" % (entry, key))] = value


def _scope_rows(scope, variables, flat, registry_args=None, only_if_differs=None):
    """One group's or host's rows: its effective registry (when it changes it) and its other variables."""
    if registry_args is not None:
        entries, problems = _entries(*registry_args)
        _registry_rows(scope, entries, flat, only_if_differs)
        for text in problems:
            flat[(scope, "berth_ports_overrides (refused)")] = text
    for name, value in variables.items():
        if name not in ("berth_ports", "berth_ports_overrides"):
            flat[(scope, name)] = _mask(name, value)


def settings(groups, hosts=None, host_files=None):
    """Flatten one environment into {(group or host:<name>, setting): text}."""
    flat = {}
    registry = groups.get("all", {}).get("berth_ports", {}) or {}
    for group, variables in groups.items():
        overrides = variables.get("berth_ports_overrides", {}) or {}
        _scope_rows(group, variables, flat, (registry, overrides) if group == "all" or overrides else None)
    for host, item in sorted((hosts or {}).items()):
        own = dict(item.get("vars") or {})
        own.update((host_files or {}).get(host, {}))
        own = {k: v for k, v in own.items() if not k.startswith("ansible_")}
        if not own:
            continue
        scope = HOST_PREFIX + host
        by_groups = {}
        for group in item["groups"]:
            by_groups.update(groups.get(group, {}))
        group_overrides = by_groups.get("berth_ports_overrides", {}) or {}
        base, _ = _entries(by_groups.get("berth_ports", registry), group_overrides)
        mine = None
        if "berth_ports_overrides" in own or "berth_ports" in own:
            mine = (own.get("berth_ports", by_groups.get("berth_ports", registry)),
                    own.get("berth_ports_overrides", group_overrides))
        _scope_rows(scope, own, flat, mine, only_if_differs=base)
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
        hosts, inline_group_vars = load_hosts(env_dir)
        for group, variables in inline_group_vars.items():
            groups.setdefault(group, {}).update({k: v for k, v in variables.items() if k not in groups.get(group, {})})
        host_files = load_vars(env_dir / "host_vars", env_dir, enc)
        loaded[env] = settings(groups, hosts, host_files)
        encrypted[env] = enc
    keys = sorted(set().union(*[set(v) for v in loaded.values()]),
                  key=lambda k: (k[0].startswith(HOST_PREFIX), k[0], k[1]))
    rows = []
    for key in keys:
        values = [loaded[env].get(key, MISSING) for env in envs]
        if show_all or len(set(values)) > 1:
            rows.append((key[0], key[1], values))
    return rows, encrypted


def render(rows, envs, encrypted):
    header = ["group/host", "setting"] + list(envs)
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
        print("%s agree on every registry entry, group and host setting." % " and ".join(args.envs))
        return 0
    print(render(rows, args.envs, encrypted))
    return 0 if args.all else 1


if __name__ == "__main__":
    sys.exit(main())
