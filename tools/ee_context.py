#!/usr/bin/env python3
"""Stage the collections of berth's execution environment (execution-environment.yml).

Galaxy cannot be reached here, so the EE does not download collections: this script copies
them from a local collection tree (default: the one the pinned `ansible` package installed
into .venv) into a build-context directory, and writes the galaxy requirements file that
ansible-builder's galaxy stage installs from (`ansible-galaxy collection install --offline`).

- The collections are the ones the project's requirements file lists
  (collections/requirements.yml, else requirements.yml), plus the collections they depend on.
- A pinned version must be the version found locally; otherwise the script stops, so the EE
  never carries a collection version the project did not ask for.
- When the project is itself a collection (galaxy.yml at its root), it is built with
  `ansible-galaxy collection build` into <out>/berth/; the EE's final stage installs it.

Usage: tools/ee_context.py [--project DIR] [--source DIR] [--out DIR]
Prints one line per staged collection. Exit 0 when staged, 1 with a message otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import pathlib
import shutil
import subprocess
import sys

import yaml

REQUIREMENTS_FILES = ("collections/requirements.yml", "requirements.yml")


class StageError(Exception):
    """A collection the project needs cannot be staged; the message says which and why."""


def requirements_file(project: pathlib.Path) -> pathlib.Path:
    for name in REQUIREMENTS_FILES:
        if (project / name).is_file():
            return project / name
    raise StageError("no collection requirements in %s (looked for %s)" % (project, ", ".join(REQUIREMENTS_FILES)))


def wanted(path: pathlib.Path) -> dict[str, str | None]:
    """{'ns.name': pinned version or None} from a galaxy requirements file."""
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("collections", []) if isinstance(data, dict) else data
    result: dict[str, str | None] = {}
    for entry in entries or []:
        if isinstance(entry, str):
            entry = {"name": entry}
        name = entry.get("name", "")
        if entry.get("type", "galaxy") != "galaxy" or name.count(".") != 1:
            raise StageError("%s: only Galaxy names (namespace.name) can be staged here, got %r" % (path, entry))
        version = entry.get("version")
        version = str(version).lstrip("=") if version not in (None, "*", "") else None
        result[name] = version
    return result


def manifest(source: pathlib.Path, name: str) -> dict:
    namespace, collection = name.split(".")
    path = source / namespace / collection / "MANIFEST.json"
    if not path.is_file():
        raise StageError("collection %s is not in %s (no %s)" % (name, source, path))
    return json.loads(path.read_text())["collection_info"]


def resolve(source: pathlib.Path, pins: dict[str, str | None]) -> dict[str, str]:
    """Every collection to stage, dependencies included: {'ns.name': version found}."""
    found: dict[str, str] = {}
    todo = list(pins)
    while todo:
        name = todo.pop(0)
        if name in found:
            continue
        info = manifest(source, name)
        pin = pins.get(name)
        if pin is not None and info["version"] != pin:
            raise StageError(
                "%s is pinned to %s but %s has %s; install the pinned `ansible` package (make venv) "
                "or change the pin" % (name, pin, source, info["version"]))
        found[name] = info["version"]
        todo.extend(sorted(info.get("dependencies") or {}))
    return found


def _tree_digest(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(item.relative_to(path)).encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def stage(source: pathlib.Path, found: dict[str, str], out: pathlib.Path) -> list[str]:
    """Copy each collection to <out>/collections/<ns.name>/ and write <out>/requirements.yml."""
    target = out / "collections"
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.iterdir():
        if stale.name not in found:
            shutil.rmtree(stale)
    lines = []
    for name, version in sorted(found.items()):
        src = source.joinpath(*name.split("."))
        dst = target / name
        # Copy only what changed: an unchanged tree keeps the EE's galaxy layer cached.
        if not dst.is_dir() or _tree_digest(src) != _tree_digest(dst):
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        lines.append("%s %s" % (name, version))
    requirements = {
        "collections": [{"name": "collections/%s" % name, "type": "dir"} for name in sorted(found)],
    }
    (out / "requirements.yml").write_text(
        "---\n# Written by tools/ee_context.py: collections staged for the EE's galaxy stage (do not edit).\n"
        + yaml.safe_dump(requirements, sort_keys=False))
    return lines


def build_project_collection(project: pathlib.Path, out: pathlib.Path, galaxy_bin: str) -> str | None:
    """Build the project's own collection into <out>/berth/ when it has galaxy.yml."""
    berth = out / "berth"
    shutil.rmtree(berth, ignore_errors=True)
    berth.mkdir(parents=True)
    if not (project / "galaxy.yml").is_file():
        (berth / "README.txt").write_text(
            "No galaxy.yml at the project root: the EE carries no berth collection and runs the\n"
            "project's roles and plugins from the mounted project directory (ansible.cfg).\n")
        return None
    run = subprocess.run([galaxy_bin, "collection", "build", str(project), "--output-path", str(berth), "--force"],
                         capture_output=True, text=True, check=False)
    built = sorted(berth.glob("*.tar.gz"))
    if run.returncode != 0 or len(built) != 1:
        raise StageError("ansible-galaxy collection build %s failed: %s" % (project, (run.stdout + run.stderr)[-1500:]))
    return built[0].name


def default_source() -> pathlib.Path:
    """The collections the `ansible` package installed (not a project's own collections/ tree,
    which may come first on sys.path)."""
    try:
        path = pathlib.Path(str(importlib.metadata.distribution("ansible").locate_file("ansible_collections")))
    except importlib.metadata.PackageNotFoundError as exc:
        raise StageError("no `ansible` package for %s; run it with .venv/bin/python" % sys.executable) from exc
    if not path.is_dir():
        raise StageError("the `ansible` package has no %s" % path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1])
    parser.add_argument("--source", type=pathlib.Path, help="collection tree (default: the `ansible` package's)")
    parser.add_argument("--out", type=pathlib.Path, help="staging directory (default: <project>/.cache/ee/stage)")
    parser.add_argument("--galaxy", default=str(pathlib.Path(sys.executable).parent / "ansible-galaxy"))
    args = parser.parse_args(argv)
    out = args.out or args.project / ".cache/ee/stage"
    try:
        source = args.source or default_source()
        found = resolve(source, wanted(requirements_file(args.project)))
        for line in stage(source, found, out):
            print("ee_context: %s" % line)
        berth = build_project_collection(args.project, out, args.galaxy)
        print("ee_context: project collection: %s" % (berth or "none (no galaxy.yml)"))
    except StageError as exc:
        print("ee_context: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
