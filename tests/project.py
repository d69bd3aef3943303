"""Shared by the unit tests: the project root and loading a project file as a module by path
(plugins, tools and the stand-in live outside any package)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name, rel):
    """Import ROOT/rel as module `name`."""
    spec = importlib.util.spec_from_file_location(name, ROOT / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
