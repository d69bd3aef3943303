"""conf.d/berth_ports.d/conf.yaml from the registry, and the files the role ships with the check."""

import ast

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from project import ROOT, load

dd = load("datadog_berth", "plugins/filter/datadog_berth.py")
ddp = load("datadog_berth_ports", "plugins/filter/datadog_berth_ports.py")
bp = load("berth_ports_filters", "plugins/filter/berth_ports.py")
sources = load("berth_ports_sources", "plugins/filter/berth_ports_sources.py")
files = load("datadog_files", "plugins/filter/datadog_files.py")
DEFAULTS = yaml.safe_load((ROOT / "roles/datadog/defaults/main.yml").read_text())
REGISTRY = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/ports.yml").read_text())["berth_ports"]


@pytest.mark.parametrize("groups", [["berth", "web"], ["berth", "lb"]])
def test_one_instance_per_enabled_entry_of_the_host(groups):
    host_entries = bp.berth_ports_for_host(REGISTRY, {}, groups)
    conf = ddp.datadog_berth_ports_check(host_entries, "warning", 7, ["env:x"])
    expected = sorted(n for n, e in host_entries.items() if e["enabled"])
    assert [i["entry"] for i in conf["instances"]] == expected
    assert ("app_http" in expected) == ("web" in groups)
    assert "nginx_https" not in expected  # reserved
    for inst in conf["instances"]:
        e = host_entries[inst["entry"]]
        assert {k: inst[k] for k in ("port", "proto", "bind", "service", "user")} == \
            {k: e[k] for k in ("port", "proto", "bind", "service", "user")}
        assert (inst["free_status"], inst["min_collection_interval"], inst["tags"]) == ("warning", 7, ["env:x"])


def test_overrides_reach_the_check():
    host_entries = bp.berth_ports_for_host(REGISTRY, {"app_http": {"port": 8001}}, ["web"])
    [inst] = [i for i in ddp.datadog_berth_ports_check(host_entries)["instances"] if i["entry"] == "app_http"]
    assert inst["port"] == 8001


def test_derived_berth_ports_goes_through_datadog_checks_config():
    conf = ddp.datadog_berth_ports_check(bp.berth_ports_for_host(REGISTRY, {}, ["web"]))
    out = dd.datadog_checks_config({"berth_ports": "derived"}, bp.berth_ports_effective(REGISTRY), ["web"],
                                   {"berth_ports_check": conf})
    assert out == {"berth_ports": conf}
    assert dd.datadog_checks_config({"berth_ports": "derived"}, {}, [], {"berth_ports_check": None}) == {}


def test_bad_free_status_is_refused():
    with pytest.raises(AnsibleFilterError, match="critical, warning"):
        ddp.datadog_berth_ports_check({}, "ignore")


def _berth_imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.rsplit(".", 1)[-1])
    return {n for n in names if n.startswith("berth_")}


def test_role_ships_every_berth_module_the_check_imports():
    """checks.d gets the check and, from the one source, each berth module it (transitively) imports."""
    shipped = set(files.CHECK_MODULES) | {"berth_ports"}
    needed, todo = set(), [ROOT / "roles/datadog/files/checks.d/berth_ports.py"]
    while todo:
        for name in _berth_imports(todo.pop()) - needed:
            needed.add(name)
            todo.append(ROOT / "plugins/module_utils" / (name + ".py"))
    assert needed == {"berth_proc", "berth_registry", "berth_status"}
    assert shipped == needed | {"berth_ports"}
    plan = {"config": {}, "checks": {"berth_ports": {"instances": []}}, "secret_checks": []}
    entries = files.datadog_files(plan, "", "/etc/dd", "dd-agent", "dd-agent", "/etc/dd/checks.d")
    sources = {e["path"].rsplit("/", 1)[1][:-3]: e["file"] for e in entries if e.get("file")}
    assert set(sources) == shipped
    for name in needed:
        # From the one source: the collection's module_utils, the files the modules run.
        assert sources[name] == str(ROOT / "plugins/module_utils" / (name + ".py"))
    assert sources["berth_ports"] == str(ROOT / "roles/datadog/files/checks.d/berth_ports.py")


def test_module_utils_path_filter():
    assert sources.berth_ports_module_utils_path("berth_proc") == str(ROOT / "plugins/module_utils/berth_proc.py")
    for bad in ("nope", "../library/berth_listeners"):
        with pytest.raises(AnsibleFilterError):
            sources.berth_ports_module_utils_path(bad)
