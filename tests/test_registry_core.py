"""The registry core's shared concepts (plugins/module_utils/berth_registry.py), tested once:
override merge, applies-to-host, loopback/wildcard, address:port and URLs, registry file."""

import os

import pytest

from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = {"port": 8000, "proto": "tcp", "bind": "127.0.0.1", "service": "flask-app", "user": "hbnb", "groups": ["web"]}
DD = {"port": 5001, "proto": "tcp", "bind": "127.0.0.1", "service": "datadog-agent", "user": "dd-agent"}


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("2001:db8::1", False), ("", False), (None, False), ("not-an-address", False)])
def test_is_loopback(address, loopback):
    assert core.is_loopback(address) is loopback


@pytest.mark.parametrize("address, wildcard", [
    ("0.0.0.0", True), ("::", True), ("*", True), ("", True), (None, True), ("[::]", True),
    ("127.0.0.1", False), ("::1", False), ("192.0.2.1", False)])
def test_is_wildcard(address, wildcard):
    assert core.is_wildcard(address) is wildcard


@pytest.mark.parametrize("bind, client", [
    ("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("*", "127.0.0.1"), ("", "127.0.0.1"), ("localhost", "127.0.0.1"),
    ("127.0.0.2", "127.0.0.2"), ("::1", "::1"), ("[::1]", "::1"), ("192.0.2.7", "192.0.2.7")])
def test_connect_host(bind, client):
    assert core.connect_host(bind) == client


@pytest.mark.parametrize("address, port, text", [
    ("127.0.0.1", 8000, "127.0.0.1:8000"), ("::1", 8000, "[::1]:8000"), ("[::1]", "8000", "[::1]:8000"),
    ("0.0.0.0", 80, "0.0.0.0:80"), ("2001:db8::5", 443, "[2001:db8::5]:443")])
def test_host_port(address, port, text):
    assert core.host_port(address, port) == text


def test_url_uses_the_local_client_address_unless_told_otherwise():
    assert core.url(dict(APP, bind="0.0.0.0"), "/health") == "http://127.0.0.1:8000/health"
    assert core.url(dict(APP, bind="::"), "health") == "http://[::1]:8000/health"
    assert core.url(dict(APP, bind="192.0.2.7"), "/", "https", local=False) == "https://192.0.2.7:8000/"
    assert core.url(APP, "") == "http://127.0.0.1:8000"


def test_merge_changes_only_named_keys_and_fills_defaults():
    registry = {"app_http": APP, "datadog_cmd": DD}
    entries, overridden, problems = core.effective(registry, {"app_http": {"port": 8001}})
    assert problems == [] and overridden == frozenset({"app_http"})
    assert entries["app_http"] == dict(APP, port=8001, enabled=True)
    assert entries["datadog_cmd"]["groups"] == [] and entries["datadog_cmd"]["enabled"] is True
    assert registry["app_http"]["port"] == 8000, "the inventory's registry must not change"
    assert entries["app_http"]["groups"] is not APP["groups"], "lists are copied, not shared"


def test_merge_or_raise_names_the_variable_and_the_fix():
    with pytest.raises(core.RegistryError, match=r"berth_ports_overrides names 'app_https'.*entries: app_http"):
        core.effective_or_raise({"app_http": APP}, {"app_https": {"port": 1}})
    with pytest.raises(core.RegistryError, match=r"berth_ports is undefined.*define berth_ports in inventories/x"):
        core.effective_or_raise(None, None, "inventories/x/group_vars/all/ports.yml")


def test_applies_and_for_host():
    entries, _, _ = core.effective({"app_http": APP, "datadog_cmd": DD,
                                    "off": dict(DD, port=5002, enabled=False)}, {})
    assert core.applies(entries["app_http"], {"web"}) and not core.applies(entries["app_http"], {"lb"})
    assert core.applies(entries["datadog_cmd"], set())
    assert set(core.for_host(entries, ["lb"])) == {"datadog_cmd", "off"}
    assert set(core.for_host(entries, ["web"], enabled_only=True)) == {"app_http", "datadog_cmd"}


def test_registry_file_names_the_inventory_file():
    assert core.registry_file(None) == core.REGISTRY_HINT
    assert core.registry_file(os.path.join(ROOT, "inventories", "sandbox")) == "inventories/sandbox/group_vars/all/ports.yml"
    # The repository-root link (ansible-playbook site.yml -i production) names the real file.
    assert core.registry_file(os.path.join(ROOT, "production")) == "inventories/production/group_vars/all/ports.yml"
    assert core.registry_file("/elsewhere/env") == "/elsewhere/env/group_vars/all/ports.yml"
