"""Offline validation of the port registry (plugins/module_utils/berth_registry.py).

The base registry is read from the sandbox inventory (the one source of truth),
never restated here.
"""

import copy
import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.berth.stack.plugins.module_utils import berth_registry as br

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGISTRY_FILE = "inventories/sandbox/group_vars/all/ports.yml"


def sandbox_registry():
    with open(os.path.join(ROOT, REGISTRY_FILE)) as handle:
        return yaml.safe_load(handle)["berth_ports"]


def run(registry, overrides=None, groups=("berth", "web"), host="web1", known=None):
    return br.validate_hosts(
        [{"host": host, "registry": registry, "overrides": overrides, "groups": list(groups),
          "registry_file": REGISTRY_FILE}],
        known_groups=known)


def kinds(report):
    return sorted(p["kind"] for p in report["problems"])


def test_sandbox_registry_is_clean():
    report = run(sandbox_registry(), known={"berth", "web", "lb", "canary", "wave1"})
    assert report["problems"] == [] and not report["failed"]


def test_second_outage_app_on_agent_cmd_port_is_refused_naming_both():
    registry = sandbox_registry()
    cmd_port = registry["datadog_cmd"]["port"]
    report = run(registry, {"app_http": {"port": cmd_port}})
    assert report["failed"]
    [problem] = report["problems"]
    assert problem["kind"] == "conflict"
    assert set(problem["entries"]) == {"app_http", "datadog_cmd"}
    assert problem["where"] == "%d/tcp" % cmd_port
    line = report["messages"][0]
    assert "app_http" in line and "datadog_cmd" in line and "web1" in line
    assert "berth_ports_overrides.app_http" in line and REGISTRY_FILE in line


def test_first_outage_app_on_agent_expvar_port_is_refused():
    registry = sandbox_registry()
    registry["app_http"]["port"] = registry["datadog_expvar"]["port"]
    report = run(registry)
    assert [set(p["entries"]) for p in report["problems"]] == [{"app_http", "datadog_expvar"}]
    assert "berth_ports.app_http in " + REGISTRY_FILE in report["messages"][0]


def test_group_scoped_entry_does_not_conflict_on_hosts_outside_its_groups():
    registry = sandbox_registry()
    registry["app_http"]["port"] = registry["datadog_cmd"]["port"]
    assert not run(registry, groups=("berth", "lb"), host="lb1")["failed"]
    assert run(registry, groups=("berth", "web", "canary"))["failed"]


@pytest.mark.parametrize("port", ["50O1", "5001", True, False, 0, 70000, -1, "", None, 80.5, [80]])
def test_bad_port_values_are_refused(port):
    registry = sandbox_registry()
    registry["app_http"]["port"] = port
    report = run(registry)
    assert "port" in kinds(report), report
    problem = [p for p in report["problems"] if p["kind"] == "port"][0]
    assert problem["entries"] == ["app_http"]
    assert "integer 1-65535" in problem["fix"]


@pytest.mark.parametrize("port", [1, 1024, 65535])
def test_edge_ports_are_accepted(port):
    registry = {"x": {"port": port, "proto": "tcp", "bind": "127.0.0.1", "service": "x", "user": "root"}}
    assert not run(registry)["failed"]


@pytest.mark.parametrize("key", br.REQUIRED_KEYS)
def test_missing_key_is_refused(key):
    registry = sandbox_registry()
    del registry["datadog_cmd"][key]
    report = run(registry)
    missing = [p for p in report["problems"] if p["kind"] == "missing"]
    assert missing and missing[0]["entries"] == ["datadog_cmd"] and key in missing[0]["text"]


@pytest.mark.parametrize("proto", ["TCP", "sctp", "", 6, None])
def test_unknown_proto_is_refused(proto):
    registry = sandbox_registry()
    registry["app_http"]["proto"] = proto
    assert {"proto"} & set(kinds(run(registry))) or "missing" in kinds(run(registry))


@pytest.mark.parametrize("bind", ["localhost", "127.0.0.256", "1.2.3", "::g", "", 127, "0.0.0.0/0"])
def test_malformed_bind_is_refused(bind):
    registry = sandbox_registry()
    registry["app_http"]["bind"] = bind
    assert "bind" in kinds(run(registry))


def test_privileged_port_for_non_root_user_is_refused():
    registry = sandbox_registry()
    report = run(registry, {"app_http": {"port": 81}})
    assert kinds(report) == ["privileged"]
    assert registry["app_http"]["user"] in report["messages"][0]


@pytest.mark.parametrize("a,b,overlap", [
    ("0.0.0.0", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.2", False),
    ("::", "127.0.0.1", True),
    ("::", "::1", True),
    ("0.0.0.0", "::1", False),
    ("::1", "127.0.0.1", False),
    ("::ffff:127.0.0.1", "127.0.0.1", True),
    ("10.0.0.1", "0.0.0.0", True),
])
def test_bind_overlap(a, b, overlap):
    assert br.binds_overlap(a, b) is overlap
    assert br.binds_overlap(b, a) is overlap


def test_same_port_different_proto_or_disjoint_binds_is_fine():
    registry = {
        "a": {"port": 9000, "proto": "tcp", "bind": "127.0.0.1", "service": "a", "user": "a"},
        "b": {"port": 9000, "proto": "udp", "bind": "127.0.0.1", "service": "b", "user": "b"},
        "c": {"port": 9000, "proto": "tcp", "bind": "127.0.0.2", "service": "c", "user": "c"},
    }
    assert not run(registry)["failed"]


def test_disabled_entries_are_reserved_and_still_collide():
    registry = sandbox_registry()
    https = registry["nginx_https"]
    assert https.get("enabled") is False
    report = run(registry, {"nginx_status": {"port": https["port"], "bind": "127.0.0.1"}})
    assert {"nginx_https", "nginx_status"} in [set(p["entries"]) for p in report["problems"]]


def test_override_of_unknown_entry_and_bad_shapes_are_refused():
    report = run(sandbox_registry(), {"app_htp": {"port": 8001}, "app_http": 8001})
    assert kinds(report) == ["overrides", "overrides"]
    assert run(None)["failed"] and run(["x"])["failed"]
    assert run({"x": "80/tcp"})["failed"]


def test_unknown_group_name_is_refused():
    registry = sandbox_registry()
    registry["app_http"]["groups"] = ["webb"]
    report = run(registry, known={"berth", "web", "lb"})
    assert report["failed"] and "webb" in report["messages"][0]


def test_groups_may_name_a_group_this_inventory_lacks_when_another_exists():
    """nginx_http opens on web and lb hosts; an inventory without load balancers keeps it."""
    registry = sandbox_registry()
    registry["app_http"]["groups"] = ["web", "lb"]
    assert not run(registry, known={"berth", "web"})["failed"]
    registry["app_http"]["groups"] = ["webb", "lbb"]
    report = run(registry, known={"berth", "web"})
    assert report["failed"] and "webb, lbb" in report["messages"][0] and "open on no host" in report["messages"][0]


def test_all_problems_are_listed_at_once():
    registry = sandbox_registry()
    registry["app_http"]["port"] = "50O1"
    registry["datadog_expvar"]["proto"] = "tpc"
    registry["datadog_cmd"]["bind"] = "localhost"
    del registry["nginx_status"]["user"]
    registry["datadog_apm_debug"]["port"] = registry["datadog_apm_receiver"]["port"]
    report = run(registry)
    assert kinds(report) == ["bind", "conflict", "missing", "port", "proto"]


def test_identical_registries_are_validated_once_and_hosts_are_aggregated():
    registry = sandbox_registry()
    hosts = [{"host": "web%d" % i, "registry": registry, "overrides": {"app_http": {"port": 5001}} if i < 3 else {},
              "groups": ["berth", "web"], "registry_file": REGISTRY_FILE} for i in range(1000)]
    hosts += [{"host": "lb%d" % i, "registry": registry, "overrides": {}, "groups": ["berth", "lb"],
               "registry_file": REGISTRY_FILE} for i in range(100)]
    report = br.validate_hosts(hosts)
    assert report["unique"] == 3 and report["hosts"] == 1100
    [problem] = report["problems"]
    assert problem["hosts"] == ["web0", "web1", "web2"]


# --- property-based tests -------------------------------------------------

ADDRESSES = ["0.0.0.0", "127.0.0.1", "127.0.0.2", "10.1.2.3", "::", "::1", "fe80::1"]
entry_st = st.fixed_dictionaries({
    "port": st.integers(min_value=1024, max_value=65535),
    "proto": st.sampled_from(["tcp", "udp"]),
    "bind": st.sampled_from(ADDRESSES),
    "service": st.sampled_from(["nginx", "flask-app", "datadog-agent"]),
    "user": st.sampled_from(["root", "hbnb", "dd-agent"]),
})
names_st = st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=1, max_size=8, unique=True)


def _has_clash(entries):
    items = list(entries.items())
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            a, b = items[i][1], items[j][1]
            if a["port"] == b["port"] and a["proto"] == b["proto"] and br.binds_overlap(a["bind"], b["bind"]):
                return True
    return False


@settings(max_examples=200, deadline=None)
@given(names_st, st.data())
def test_generated_valid_registries_pass(names, data):
    # Distinct ports per entry: valid by construction.
    ports = data.draw(st.lists(st.integers(1024, 65535), min_size=len(names), max_size=len(names), unique=True))
    registry = {}
    for name, port in zip(names, ports):
        entry = data.draw(entry_st)
        entry["port"] = port
        registry[name] = entry
    assert not run(registry)["failed"]


@settings(max_examples=200, deadline=None)
@given(names_st, st.data())
def test_generated_conflicting_registries_are_caught(names, data):
    registry = {name: data.draw(entry_st) for name in names}
    # Force a clash: a new entry copies another's port/proto and an overlapping bind.
    victim = data.draw(st.sampled_from(names))
    clash = dict(registry[victim])
    clash["bind"] = data.draw(st.sampled_from(
        [a for a in ADDRESSES if br.binds_overlap(a, registry[victim]["bind"])]))
    registry["zz_clash"] = clash
    report = run(registry)
    conflicts = [set(p["entries"]) for p in report["problems"] if p["kind"] == "conflict"]
    assert {victim, "zz_clash"} in conflicts


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), entry_st, min_size=1, max_size=10))
def test_validator_agrees_with_a_naive_pairwise_check(registry):
    report = run(registry)
    assert report["failed"] == _has_clash(registry)


def test_filter_api_still_merges_overrides():
    from ansible_collections.berth.stack.plugins.filter import berth_ports as filters
    registry = sandbox_registry()
    merged = filters.berth_ports_effective(copy.deepcopy(registry), {"app_http": {"port": 8001}})
    assert merged["app_http"]["port"] == 8001 and merged["nginx_http"]["enabled"] is True
    assert filters.berth_port(registry, "datadog_cmd")["port"] == registry["datadog_cmd"]["port"]
    lb = filters.berth_ports_for_host(registry, {}, ["berth", "lb"])
    assert "app_http" not in lb and "nginx_http" in lb
    assert filters.berth_ports_registry_file(os.path.join(ROOT, "inventories", "sandbox")) == REGISTRY_FILE


# clients: the groups whose hosts connect to a listener from other hosts.
MARIADB = {"port": 3306, "proto": "tcp", "bind": "0.0.0.0", "service": "mariadb", "user": "mysql",
           "groups": ["db"], "clients": ["web"]}
KNOWN = {"berth", "web", "lb", "db"}


def test_clients_naming_inventory_groups_pass():
    registry = dict(sandbox_registry(), mariadb=dict(MARIADB))
    report = run(registry, groups=("berth", "db"), known=KNOWN)
    assert report["problems"] == [] and not report["failed"]


def test_clients_naming_an_unknown_group_is_refused_with_the_fix():
    registry = dict(sandbox_registry(), mariadb=dict(MARIADB, clients=["web", "webz"]))
    report = run(registry, groups=("berth", "db"), known=KNOWN)
    assert report["failed"]
    assert report["messages"] == [
        "[entry] mariadb: clients names webz, not an inventory group on host web1; "
        "fix: fix clients in berth_ports.mariadb in %s" % REGISTRY_FILE]


def test_clients_unknown_group_in_an_override_names_the_override():
    registry = dict(sandbox_registry(), mariadb=dict(MARIADB))
    report = run(registry, {"mariadb": {"clients": ["nope"]}}, groups=("berth", "db"), known=KNOWN)
    assert [p["fix"] for p in report["problems"]] == [
        "fix clients in berth_ports_overrides.mariadb (set for these hosts in group_vars, host_vars or -e)"]


@pytest.mark.parametrize("clients", ["web", [], ["web", 3], [""], {"web": 1}, True])
def test_clients_that_are_not_a_list_of_group_names_are_refused(clients):
    registry = dict(sandbox_registry(), mariadb=dict(MARIADB, clients=clients))
    report = run(registry, groups=("berth", "db"))
    assert report["failed"] and kinds(report) == ["entry"]
    assert "clients %r is not a non-empty list of group names" % (clients,) in report["messages"][0]
    assert "set clients: [web]" in report["problems"][0]["fix"]


def test_clients_null_means_no_clients():
    registry = dict(sandbox_registry(), mariadb=dict(MARIADB))
    report = run(registry, {"mariadb": {"clients": None}}, groups=("berth", "db"), known=KNOWN)
    assert not report["failed"]
    assert br.client_groups(dict(MARIADB, clients=None)) == [] and br.client_groups(MARIADB) == ["web"]


def test_exposed_entry_with_clients_warns_naming_the_firewall_and_its_clients():
    report = br.validate_hosts([{"host": "db1", "groups": ["berth", "db"], "registry_file": "r.yml",
                                 "overrides": {}, "registry": {"mariadb": dict(MARIADB)}}])
    assert report["failed"] is False
    assert report["warnings"] == [
        "[exposed] mariadb (service mariadb) listens on 0.0.0.0, reachable from the network unless the "
        "firewall role (firewall_enabled) admits only its clients (web) on host db1; fix: set "
        "firewall_enabled: true for these hosts (the firewall role then admits only the hosts of web), or, "
        "if no other host connects, set bind: 127.0.0.1 in berth_ports.mariadb in r.yml"]


def test_loopback_entry_with_clients_is_not_exposed():
    assert br.exposure_warnings({"mariadb": dict(MARIADB, bind="127.0.0.1")}, host_groups={"db"}) == []
    assert br.exposure_warnings({"mariadb": dict(MARIADB)}, host_groups={"web"}) == []


# --- Keys, names and booleans an attacker or a typo could slip in (issue 28) ----------------------

def test_a_misspelt_entry_key_is_refused_with_the_key_it_resembles():
    registry = sandbox_registry()
    registry["app_http"]["group"] = registry["app_http"].pop("groups")
    report = run(registry)
    assert report["failed"] and kinds(report) == ["entry"]
    assert report["messages"] == [
        "[entry] app_http: unknown key 'group' (did you mean groups?) on host web1; fix: rename or remove it in "
        "berth_ports.app_http in %s (keys: port, proto, bind, service, user, groups, enabled, clients)" % REGISTRY_FILE]


def test_a_misspelt_override_key_is_refused_and_left_out_of_the_merge():
    entries, _, problems = br.effective(sandbox_registry(), {"hbnb_api": {"enable": True}})
    assert [p.text for p in problems] == [
        "berth_ports_overrides.hbnb_api has unknown key 'enable' (did you mean enabled?)"]
    assert "enable" not in entries["hbnb_api"] and entries["hbnb_api"]["enabled"] is False
    assert "berth_ports_overrides.hbnb_api" in problems[0].fix


def test_a_misspelt_override_entry_name_gets_the_name_it_resembles():
    report = run(sandbox_registry(), {"app_htp": {"port": 8001}})
    assert "berth_ports_overrides names 'app_htp', which is not in berth_ports (did you mean app_http?)" in \
        report["messages"][0]


@pytest.mark.parametrize("enabled", ["false", "no", 0, 1, None, "true"])
def test_enabled_must_be_a_real_boolean(enabled):
    report = run(sandbox_registry(), {"app_http": {"enabled": enabled}})
    assert report["failed"]
    assert "app_http: enabled %r is not true/false" % (enabled,) in report["messages"][0]


@pytest.mark.parametrize("service", ["../../../tmp/x", "nginx service", "x\nExecStartPre=/bin/sh", "a/b", "..",
                                     "flask-app.service", "-x", ""])
def test_a_service_that_is_not_a_unit_name_is_refused(service):
    report = run(sandbox_registry(), {"app_http": {"service": service}})
    assert report["failed"] and kinds(report) == ["entry"], report
    assert "app_http: service" in report["messages"][0]


@pytest.mark.parametrize("service", ["flask-app", "hbnb_api", "datadog-agent-trace", "getty@tty1", "a.b:c"])
def test_unit_names_are_accepted(service):
    assert br.unit_name_error(service) is None


@pytest.mark.parametrize("user", ["Root", "hbnb api", "../x", "x" * 33, "1abc", "a;b"])
def test_a_user_that_is_not_an_account_name_is_refused(user):
    report = run(sandbox_registry(), {"app_http": {"user": user}})
    assert report["failed"] and "app_http: user %r is not an account name" % user in report["messages"][0]


@pytest.mark.parametrize("word, known, hint", [
    ("group", br.ENTRY_KEYS, " (did you mean groups?)"), ("enable", br.ENTRY_KEYS, " (did you mean enabled?)"),
    ("colour", br.ENTRY_KEYS, ""), ("prot", br.ENTRY_KEYS, " (did you mean proto?)")])
def test_did_you_mean(word, known, hint):
    assert br.did_you_mean(word, known) == hint


# --- The inventory's files: YAML 1.1 numbers and replaced overrides (issue 28) ---------------------

@pytest.mark.parametrize("line, found", [
    ("  app_http: {port: 010000, proto: tcp}", [(1, "010000", 4096)]),
    ("  app_http: {port: 134:20}", [(1, "134:20", 8060)]),
    ("    port: 0755", [(1, "0755", 493)]),
    ("    port: 8000", []),
    ("    port: 0", []),
    ("    port: 08080", []),          # not octal: a string, refused by the port rule
    ("    port: '010000'", []),       # quoted: a string, refused by the port rule
    ("    # port: 010000", []),
    ("    bind: 0.0.0.0  # was port: 010000", []),
    ("  a: {port: 010000}  # octal", [(1, "010000", 4096)]),
    ("    export: 010000", []),
    ("    bind: ::1", []),
    ("  a: {port: 01, b: {port: 1:00}}", [(1, "01", 1), (1, "1:00", 60)]),
])
def test_yaml11_ports_are_found_in_the_text(line, found):
    assert br.yaml11_ports("---\n" + line + "\n") == [(n + 1, w, r) for n, w, r in found]


def test_a_vault_file_is_not_read_as_yaml():
    assert br.yaml11_ports("$ANSIBLE_VAULT;1.1;AES256\nport: 0100\n") == []


def test_yaml11_problems_name_the_file_line_and_fix():
    [problem] = br.yaml11_problems("inventories/x/group_vars/web/ports.yml", "---\nberth_ports_overrides:\n"
                                   "  app_http: {port: 010000}\n")
    assert problem.text == ("inventories/x/group_vars/web/ports.yml:3: port: 010000 is read as 4096 by YAML 1.1 "
                            "(a leading 0 is octal), not as the port it looks like")
    assert problem.fix == "write port: 10000 (no leading 0) in inventories/x/group_vars/web/ports.yml line 3"


def test_inventory_files_are_found_as_ansible_finds_them(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars" / "web").mkdir(parents=True)
    (inv / "group_vars" / "web" / "ports.yml").write_text("---\n")
    (inv / "group_vars" / "web" / "notes.txt").write_text("not vars\n")
    (inv / "group_vars" / "db.yml").write_text("---\n")
    (inv / "group_vars" / "all").write_text("---\n")
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "web1.yaml").write_text("---\n")
    (inv / "hosts.yml").write_text("all: {}\n")
    files = {(f["scope"], f["name"], os.path.basename(f["path"])) for f in br.inventory_files([str(inv)])}
    assert files == {("inventory", "", "hosts.yml"), ("group", "web", "ports.yml"), ("group", "db", "db.yml"),
                     ("group", "all", "all"), ("host", "web1", "web1.yaml")}
    mine = {(f["scope"], f["name"]) for f in br.inventory_files([str(inv)], host="web1", host_groups=["web"])}
    assert mine == {("group", "web"), ("group", "all"), ("host", "web1")}
    assert br.file_applies("group", "all", "h", set()) and br.file_applies("group", "web", "h", {"web"})
    assert not br.file_applies("group", "db", "h", {"web"}) and br.file_applies("host", "h", "h", set())


def test_validate_hosts_refuses_yaml11_ports_on_the_hosts_the_file_reaches():
    files = [{"file": "g/web/ports.yml", "scope": "group", "name": "web", "text": "x: {port: 0100}\n"}]
    hosts = [{"host": h, "registry": sandbox_registry(), "overrides": {}, "groups": g, "registry_file": REGISTRY_FILE}
             for h, g in (("web1", ["web"]), ("lb1", ["lb"]))]
    report = br.validate_hosts(hosts, files=files)
    assert report["failed"] and [p["hosts"] for p in report["problems"]] == [["web1"]]
    assert report["messages"][0].startswith("[yaml] g/web/ports.yml:1: port: 0100 is read as 64 by YAML 1.1")


def test_overrides_a_host_replaces_are_warned_about_naming_group_file_and_entries():
    groups = {"db": ("inventories/x/group_vars/db/ports.yml", ["mariadb"]),
              "airbnb": ("inventories/x/group_vars/airbnb/apps.yml", ["hbnb_api", "hbnb_front"])}
    [warning] = br.replaced_overrides({"hbnb_api": {}, "hbnb_front": {"port": 9003}}, groups)
    assert warning.kind == "replaced" and warning.names == ("mariadb",)
    assert warning.text == ("berth_ports_overrides of group db (inventories/x/group_vars/db/ports.yml) sets mariadb, "
                            "but this host's berth_ports_overrides, defined again in host_vars, a group of higher "
                            "precedence or -e, replaces it whole and lacks it")
    assert "write mariadb: {} there to keep berth_ports' own values on purpose" in warning.fix
    assert br.replaced_overrides({"mariadb": {}, "hbnb_api": {}, "hbnb_front": {}}, groups) == []
    report = br.validate_hosts([{"host": "web1", "registry": sandbox_registry(), "overrides": {},
                                 "groups": ["web"], "registry_file": REGISTRY_FILE,
                                 "group_overrides": {"db": groups["db"]}}])
    assert not report["failed"] and report["warnings"][0].startswith("[replaced] berth_ports_overrides of group db")
