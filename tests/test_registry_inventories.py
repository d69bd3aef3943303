"""Every shipped inventory validates clean; the second outage is refused offline.

Loads inventories/{sandbox,staging,production} with Ansible's own
InventoryManager/VariableManager (group_vars merged exactly as a play sees them)
and runs the validator the berth_ports_validate action uses. The end-to-end
case runs the real playbooks/validate.yml on a copy of production whose
app_http was moved onto the agent's cmd_port.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from ansible.inventory.manager import InventoryManager
from ansible.vars.manager import VariableManager

from ansible_collections.berth.stack.plugins.module_utils import berth_registry as br

registry_file_for = br.registry_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORIES = ["sandbox", "staging", "production"]


def load(inventory_dir):
    loader = DataLoader()
    password = os.path.join(ROOT, "inventories", "sandbox", "vault-password.txt")
    with open(password, "rb") as handle:
        loader.set_vault_secrets([("default", VaultSecret(handle.read().strip()))])
    inventory = InventoryManager(loader=loader, sources=[inventory_dir])
    variables = VariableManager(loader=loader, inventory=inventory)
    hosts = []
    for host in inventory.get_hosts():
        hv = variables.get_vars(host=host, include_hostvars=False)
        hosts.append({"host": host.name, "registry": hv.get("berth_ports"),
                      "overrides": hv.get("berth_ports_overrides"),
                      "groups": [g.name for g in host.get_groups() if g.name not in ("all", "ungrouped")],
                      "registry_file": registry_file_for(inventory_dir)})
    groups = set(inventory.groups) - {"all", "ungrouped"}
    return hosts, groups


@pytest.mark.parametrize("name", INVENTORIES)
def test_shipped_inventory_validates_clean(name):
    hosts, groups = load(os.path.join(ROOT, "inventories", name))
    assert hosts
    report = br.validate_hosts(hosts, known_groups=groups)
    assert report["messages"] == []


@pytest.fixture()
def outage_copy(tmp_path):
    """A copy of production where app_http sits on the agent's cmd_port (the second outage)."""
    dest = tmp_path / "inventories" / "production"
    shutil.copytree(os.path.join(ROOT, "inventories", "production"), dest)
    ports = dest / "group_vars" / "all" / "ports.yml"
    data = yaml.safe_load(ports.read_text())
    data["berth_ports"]["app_http"]["port"] = data["berth_ports"]["datadog_cmd"]["port"]
    ports.write_text("---\n" + yaml.safe_dump(data))
    return dest, data["berth_ports"]["datadog_cmd"]["port"]


def test_second_outage_refused_offline(outage_copy):
    inventory_dir, port = outage_copy
    hosts, groups = load(str(inventory_dir))
    report = br.validate_hosts(hosts, known_groups=groups)
    [problem] = report["problems"]
    assert set(problem["entries"]) == {"app_http", "datadog_cmd"} and problem["where"] == "%d/tcp" % port
    web = sorted(h["host"] for h in hosts if "web" in h["groups"])
    assert problem["hosts"] == web
    assert "inventories/production/group_vars/all/ports.yml" in problem["fix"]


def test_second_outage_refused_by_validate_playbook(outage_copy):
    inventory_dir, port = outage_copy
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    bindir = os.path.dirname(sys.executable)
    proc = subprocess.run(
        [os.path.join(bindir, "ansible-playbook"), "-i", str(inventory_dir), "playbooks/validate.yml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "app_http and datadog_cmd both claim %d/tcp" % port in out
