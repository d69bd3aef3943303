"""Unit tests for the firewall role's filters (plugins/filter/berth_firewall.py): which sources
may reach each registry entry a host opens, and the rendered ruleset."""

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.berth.stack.plugins.filter import berth_firewall as fw
from ansible_collections.berth.stack.plugins.module_utils import berth_firewall as fw_core
from ansible_collections.berth.stack.plugins.filter import berth_ports as bp
from project import ROOT

SANDBOX = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/ports.yml").read_text())["berth_ports"]
MARIADB = {"port": 3306, "proto": "tcp", "bind": "0.0.0.0", "service": "mariadb", "user": "mysql",
           "groups": ["db"], "clients": ["web"]}
GROUPS = {"all": ["db1", "web1", "web2", "lb1"], "ungrouped": [], "db": ["db1"], "web": ["web1", "web2"],
          "lb": ["lb1"], "empty": []}


def _clients(entries, groups, hostvars, host):
    """The planner's firewall clients, with a hostvars-like mapping for the members' ansible_host."""
    try:
        return fw_core.clients(entries, groups, lambda m: (hostvars.get(m) or {}).get("ansible_host"), host)
    except fw_core.FirewallError as exc:
        raise AnsibleFilterError(str(exc))


def allow(registry, host_groups):
    """What the role's preflight hands the filters: enabled, non-loopback entries of the host, dict2items."""
    entries = bp.berth_ports_for_host(registry, {}, host_groups, enabled_only=True)
    return [{"key": k, "value": v} for k, v in entries.items() if not bp.berth_is_loopback(v)]


def db_allow(**change):
    return allow(dict(SANDBOX, mariadb=dict(MARIADB, **change)), ["berth", "db"])


def getent(**names):
    """Output of the role's resolution task: "@ name" then getent ahosts lines (three per address)."""
    lines = []
    for name, addresses in names.items():
        lines.append("@ %s" % name)
        for i, address in enumerate(addresses):
            lines += ["%-15s STREAM %s" % (address, name if i == 0 else ""), "%-15s DGRAM" % address,
                      "%-15s RAW" % address]
    return "\n".join(lines) + "\n"


def test_entries_without_clients_keep_today_s_rules():
    entries = allow(SANDBOX, ["berth", "lb"])
    clients = _clients(entries, GROUPS, {}, "lb1")
    assert clients == {"entries": {}, "names": []}
    rules = fw.berth_firewall_rules(entries, clients, "", "lb1")
    public = sorted(e["key"] for e in entries)
    assert [r["name"] for r in rules] == public and public
    assert all(r["family"] == "" and r["addresses"] == [] for r in rules)
    assert rules[0]["comment"] == "%s (%s)" % (public[0], SANDBOX[public[0]]["service"])


def test_clients_addresses_come_from_ansible_host_else_the_inventory_name():
    hostvars = {"web1": {"ansible_host": "192.0.2.11"}, "web2": {"ansible_connection": "docker"}}
    clients = _clients(db_allow(), GROUPS, hostvars, "db1")
    assert clients == {"entries": {"mariadb": {"web1": "192.0.2.11", "web2": "web2"}}, "names": ["web2"]}


def test_ip_literals_need_no_resolution_and_families_get_their_own_rules():
    hostvars = {"web1": {"ansible_host": "192.0.2.11"}, "web2": {"ansible_host": "2001:db8::12"}}
    entries = db_allow()
    clients = _clients(entries, GROUPS, hostvars, "db1")
    assert clients["names"] == []
    rules = [r for r in fw.berth_firewall_rules(entries, clients, "", "db1") if r["name"] == "mariadb"]
    assert [(r["family"], r["addresses"]) for r in rules] == [("ip", ["192.0.2.11"]), ("ip6", ["2001:db8::12"])]
    assert {r["comment"] for r in rules} == {"mariadb (mariadb) from web"}
    assert {(r["proto"], r["port"]) for r in rules} == {("tcp", 3306)}


def test_names_are_replaced_by_what_the_firewall_host_resolved():
    entries = db_allow(clients=["web", "lb"])
    clients = _clients(entries, GROUPS, {}, "db1")
    assert clients["names"] == ["lb1", "web1", "web2"]
    out = getent(web1=["172.18.0.3", "fd00::3"], web2=["172.18.0.4", "172.18.0.3"], lb1=["172.18.0.10"])
    rules = [r for r in fw.berth_firewall_rules(entries, clients, out, "db1") if r["name"] == "mariadb"]
    assert rules == [
        {"name": "mariadb", "service": "mariadb", "proto": "tcp", "port": 3306, "family": "ip",
         "addresses": ["172.18.0.3", "172.18.0.4", "172.18.0.10"], "comment": "mariadb (mariadb) from web, lb"},
        {"name": "mariadb", "service": "mariadb", "proto": "tcp", "port": 3306, "family": "ip6",
         "addresses": ["fd00::3"], "comment": "mariadb (mariadb) from web, lb"}]


def test_a_name_that_does_not_resolve_names_host_entry_and_fix():
    entries = db_allow()
    clients = _clients(entries, GROUPS, {"web1": {"ansible_host": "192.0.2.11"}}, "db1")
    with pytest.raises(AnsibleFilterError) as err:
        fw.berth_firewall_rules(entries, clients, "@ web2\n", "db1")
    text = str(err.value)
    for words in ("firewall on db1", "registry entry mariadb", "client host web2", "'web2'",
                  "does not resolve on db1", "set ansible_host", "for web2 in the inventory"):
        assert words in text, text


@pytest.mark.parametrize("group, words", [("empty", "which has no hosts"), ("nope", "which does not exist")])
def test_a_clients_group_without_hosts_names_entry_and_group(group, words):
    with pytest.raises(AnsibleFilterError) as err:
        _clients(db_allow(clients=[group]), GROUPS, {}, "db1")
    text = str(err.value)
    assert "registry entry mariadb" in text and "'%s'" % group in text and words in text, text
    assert "berth_ports.mariadb" in text, text


def test_loopback_or_disabled_entries_with_clients_open_nothing():
    for entries in (db_allow(bind="127.0.0.1"), db_allow(enabled=False), allow(
            dict(SANDBOX, mariadb=MARIADB), ["berth", "web"])):
        assert "mariadb" not in {e["key"] for e in entries}
        assert _clients(entries, GROUPS, {}, "db1")["entries"] == {}


def test_parse_resolved_keeps_unresolved_names_empty_and_dedupes():
    out = getent(a=["10.0.0.1", "10.0.0.1"]) + "@ b\n"
    assert {k: [str(a) for a in v] for k, v in fw.parse_resolved(out).items()} == {"a": ["10.0.0.1"], "b": []}


def test_long_comments_are_cut_to_what_nftables_accepts():
    groups = dict(GROUPS, **{"g%02d" % i: ["web1"] for i in range(40)})
    entries = db_allow(clients=sorted(g for g in groups if g.startswith("g")))
    clients = _clients(entries, groups, {"web1": {"ansible_host": "192.0.2.11"}}, "db1")
    rule = [r for r in fw.berth_firewall_rules(entries, clients, "", "db1") if r["name"] == "mariadb"][0]
    assert len(rule["comment"].encode()) < fw_core.COMMENT_MAX


def test_the_template_renders_one_line_per_rule():
    """The role's template with the filters' rules (Ansible's own filters stubbed: comment, join)."""
    source = (ROOT / "roles/firewall/templates/berth-firewall.nft.j2").read_text()
    env = jinja2.Environment(trim_blocks=True)
    env.filters["comment"] = lambda text: "# " + text
    # A host in db and lb: the mariadb entry (clients) and Nginx's public entry (no clients).
    entries = allow(dict(SANDBOX, mariadb=dict(MARIADB)), ["berth", "db", "lb"])
    clients = _clients(entries, GROUPS, {"web1": {"ansible_host": "192.0.2.11"}}, "db1")
    rules = fw.berth_firewall_rules(entries, clients, getent(web2=["192.0.2.12", "2001:db8::12"]), "db1")
    text = env.from_string(source).render(ansible_managed="managed", firewall_table="berth",
                                          firewall_ssh_port=22, __firewall_rules=rules)
    assert ('        ip saddr { 192.0.2.11, 192.0.2.12 } tcp dport 3306 accept comment "mariadb (mariadb) from web"'
            in text.splitlines()), text
    assert ('        ip6 saddr { 2001:db8::12 } tcp dport 3306 accept comment "mariadb (mariadb) from web"'
            in text.splitlines()), text
    http = SANDBOX["nginx_http"]
    assert ('        %s dport %d accept comment "nginx_http (%s)"' % (http["proto"], http["port"], http["service"])
            in text.splitlines()), text

