"""Views of the sandbox inventory's hosts as the berth_plan action builds them (unit tests).

The action templates the host's variables and every role's defaults with Ansible's own Templar
(defaults loaded trusted, like a role's); so does this helper, from the sandbox's group_vars,
without a vault: the secrets' mappings are replaced by plain test values.
"""

import os

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.berth.stack.plugins.module_utils import berth_plan

from project import ROOT

ROLES = ("berth_ports", "flask_app", "nginx", "mariadb", "datadog", "firewall")
SANDBOX = ROOT / "inventories" / "sandbox"
GROUPS = {"all": ["lb", "web1", "web2", "db"], "berth": ["lb", "web1", "web2", "db"], "lb": ["lb"],
          "web": ["web1", "web2"], "airbnb_clone": ["web1", "web2"], "canary": ["web1"], "wave1": ["web2"],
          "db": ["db"]}
# group_vars precedence: all first, then the child groups (the sandbox's order of depth).
ORDER = ("all", "berth", "web", "lb", "db", "airbnb_clone", "canary", "wave1")
SECRETS = {"datadog_api_key": "test-api-key", "flask_app_secret_key": "test-secret-key",
           "mariadb_monitor_password": "test-monitor-password"}


def _group_vars(group):
    out = {}
    folder = SANDBOX / "group_vars" / group
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        if path.name in ("vault.yml", "secrets.yml"):
            continue
        out.update(yaml.safe_load(path.read_text()) or {})
    return out


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def inventory_vars(host, extra=None):
    groups = berth_plan.groups_of(GROUPS, host)
    out = {}
    for group in ORDER:
        if group == "all" or group in groups:
            out.update(_group_vars(group))
    out.update(SECRETS)
    out["mariadb_users"] = {"hbnb_dev": {"password": "test-db-password", "databases": ["hbnb_dev_db"]}}
    out.update({"inventory_hostname": host, "group_names": groups, "groups": GROUPS,
                "inventory_dir": str(SANDBOX), "playbook_dir": str(ROOT)})
    if host != "lb":
        out.setdefault("ansible_host", host)
    out.update(extra or {})
    return out


def role_defaults(*roles):
    loader = DataLoader()
    out = {}
    for role in roles or ROLES:
        out.update(loader.load_from_file(str(ROOT / "roles" / role / "defaults" / "main.yml"), trusted_as_template=True) or {})
    return out


class _Templated(object):
    def __init__(self, source, templar):
        self._source, self._templar = source, templar

    def __contains__(self, name):
        return name in self._source

    def __iter__(self):
        return iter(self._source)

    def __getitem__(self, name):
        return self._templar.template(self._source[name])


def view(host, extra=None, with_role_defaults=(), tree_hash=None, new_defaults=None, new_specs=None):
    """The host's view: its inventory variables (plus ``with_role_defaults``: the defaults of the
    roles of the play, which the action sees among the task's variables) over every role's defaults."""
    defaults = role_defaults()
    defaults.update(new_defaults or {})
    all_specs = dict(specs(), **(new_specs or {}))
    values = dict(role_defaults(*with_role_defaults)) if with_role_defaults else {}
    values.update(_trusted(inventory_vars(host, extra)))
    merged = dict(defaults)
    merged.update(values)
    merged["role_path"] = str(ROOT / "roles" / "flask_app")
    templar = Templar(loader=DataLoader(), variables=merged)
    shared_defaults = _Templated(defaults, templar)
    peers = {}

    def peer(name):
        if name not in peers:
            peer_values = _trusted(inventory_vars(name, extra))
            peer_templar = Templar(loader=DataLoader(), variables=dict(defaults, **peer_values))
            peers[name] = berth_plan.View(name, berth_plan.groups_of(GROUPS, name), GROUPS,
                                          _Templated(peer_values, peer_templar), shared_defaults, peer=peer,
                                          tree_hash=tree_hash or (lambda path: "tree-" + os.path.basename(path)),
                                          specs=all_specs, root=str(ROOT))
        return peers[name]

    return berth_plan.View(host, berth_plan.groups_of(GROUPS, host), GROUPS, _Templated(values, templar),
                           shared_defaults, peer=peer,
                           tree_hash=tree_hash or (lambda path: "tree-" + os.path.basename(path)),
                           specs=all_specs, root=str(ROOT))


def specs():
    out = {}
    for role in ROLES:
        data = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        for point in data.values():
            out.update(point.get("options") or {})
    return out
