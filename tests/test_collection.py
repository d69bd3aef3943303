"""berth.stack as a collection (issue 14): the artifact, the documentation of every plugin,
and the registry core as the one place each registry concept is implemented."""

import ast
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
CORE = ROOT / "plugins" / "module_utils" / "berth_registry.py"


def plugin_names(kind):
    """Names a plugin directory provides: Jinja filters/tests by their plugin class, else the file stem."""
    folder = ROOT / "plugins" / kind
    names = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        method = {"filter": "filters", "test": "tests"}.get(kind)
        if method is None:
            names.append(path.stem)
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == method:
                returned = [n for n in ast.walk(node) if isinstance(n, ast.Dict)][0]
                names.extend(k.value for k in returned.keys)
    return names


@pytest.mark.parametrize("kind, doc_type", [("filter", "filter"), ("test", "test"), ("lookup", "lookup"),
                                            ("modules", "module")])
def test_ansible_doc_documents_every_plugin(kind, doc_type):
    names = plugin_names(kind)
    assert names
    out = subprocess.run([str(BIN / "ansible-doc"), "-t", doc_type, "--json"] + ["berth.stack." + n for n in names],
                         cwd=str(ROOT), env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    docs = json.loads(out.stdout)
    for name in names:
        doc = docs.get("berth.stack." + name, {}).get("doc") or {}
        assert doc.get("short_description") and doc.get("description"), "no documentation for berth.stack.%s" % name
        assert docs["berth.stack." + name].get("examples"), "no examples for berth.stack.%s" % name


def test_every_action_has_its_documentation_module():
    for action in (ROOT / "plugins" / "action").glob("*.py"):
        assert (ROOT / "plugins" / "modules" / action.name).is_file(), action.name


def test_build_produces_an_artifact_with_the_collection_only(tmp_path):
    out = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
                         cwd=str(ROOT), env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    artifact = tmp_path / ("berth-stack-%s.tar.gz" % version)
    with tarfile.open(artifact) as tar:
        names = set(tar.getnames())
    for wanted in ("MANIFEST.json", "LICENSE", "meta/runtime.yml", "plugins/module_utils/berth_registry.py",
                   "plugins/action/berth_ports_validate.py", "roles/nginx/tasks/main.yml", "playbooks/validate.yml"):
        assert wanted in names, wanted
    for unwanted in ("molecule/", "tests/", "inventories/", "collections/", ".venv/", "bench/", ".git/"):
        assert not any(n.startswith(unwanted) for n in names), unwanted


def test_one_license_and_role_metadata_agree():
    assert (ROOT / "LICENSE").is_file()
    assert not list(ROOT.glob("roles/*/LICENSE*"))
    for meta in ROOT.glob("roles/*/meta/main.yml"):
        info = yaml.safe_load(meta.read_text())["galaxy_info"]
        assert info["license"] == "BSD-2-Clause", meta


def test_no_global_plugin_paths_in_ansible_cfg():
    cfg = (ROOT / "ansible.cfg").read_text()
    for key in ("library", "action_plugins", "module_utils", "filter_plugins", "lookup_plugins", "roles_path"):
        assert not re.search(r"^\s*%s\s*=" % key, cfg, re.M), key


def _sources(*patterns):
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if path.is_file():
                yield path


CONCEPT_FUNCTIONS = ("effective", "applies", "for_host", "is_loopback", "is_wildcard", "connect_host",
                     "format_host", "host_port", "url", "registry_file")


def test_registry_concepts_are_defined_once_in_the_core():
    """The override merge, applies-to-host, loopback, address/URL formatting and the
    registry file name: defined in plugins/module_utils/berth_registry.py and nowhere else."""
    core_defs = {n.name for n in ast.walk(ast.parse(CORE.read_text())) if isinstance(n, ast.FunctionDef)}
    assert set(CONCEPT_FUNCTIONS) <= core_defs
    for path in _sources("plugins/**/*.py", "tools/*.py", "roles/**/*.py", "molecule/resources/**/*.py"):
        if path == CORE:
            continue
        text = path.read_text()
        tree = ast.parse(text)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        # Re-implementations: a private merge, loopback test or address formatting.
        assert not defined & {"_merge", "_local_host", "is_loopback", "registry_file_for", "connect_host"}, path
        assert not re.search(r"(?<!core)\.is_(loopback|unspecified)\b", text), "%s tests an address itself; use the core" % path
        code = re.sub(r'(DOCUMENTATION|EXAMPLES|RETURN) = r?"""(.*?)"""', "", text, flags=re.S)
        assert "inventories/<env>/group_vars/all/ports.yml" not in code, "%s spells the registry file; use REGISTRY_HINT" % path


def test_templates_and_tasks_format_no_address_themselves():
    """No role or playbook writes a loopback literal, brackets an IPv6 address or tests
    loopback by hand: they use berth.stack.berth_url / berth_host_port / berth_connect_host /
    berth_is_loopback / the loopback test."""
    bad = re.compile(r"""'\[' ~|"\[" ~|http://127\.0\.0\.1|in \['127\.0\.0\.1'|'0\.0\.0\.0': '127\.0\.0\.1'|\^\(127""")
    for path in _sources("roles/**/*.yml", "roles/**/*.j2", "playbooks/*.yml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert not bad.search(line), "%s:%d formats or tests an address itself: %s" % (path, number, line.strip())
