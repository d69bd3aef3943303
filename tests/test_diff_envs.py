"""Unit tests for tools/diff_envs.py (environment comparison)."""

import textwrap

import pytest

from project import ROOT, load

diff_envs = load("diff_envs", "tools/diff_envs.py")


def _env(tmp_path, name, files):
    env = tmp_path / name
    (env / "group_vars").mkdir(parents=True)
    (env / "hosts.yml").write_text("---\nall: {}\n")
    for rel, text in files.items():
        path = env / "group_vars" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return env


REGISTRY = """
---
berth_ports:
  app_http: {port: 8000, proto: tcp, bind: 127.0.0.1, service: flask-app, user: hbnb}
  datadog_cmd: {port: 5001, proto: tcp, bind: 127.0.0.1, service: datadog-agent, user: dd-agent}
"""


def test_second_outage_difference_is_shown(tmp_path):
    _env(tmp_path, "staging", {"all/ports.yml": REGISTRY})
    _env(tmp_path, "production", {"all/ports.yml": REGISTRY, "web/ports.yml": "---\nberth_ports_overrides: {app_http: {port: 5001}}\n"})
    rows, _ = diff_envs.compare(["staging", "production"], tmp_path)
    changed = {(g, s): v for g, s, v in rows}
    assert changed[("web", "berth_ports.app_http.port")] == ["-", "5001"]
    assert ("all", "berth_ports.app_http.port") not in changed


def test_identical_envs_report_nothing(tmp_path):
    for name in ("a", "b"):
        _env(tmp_path, name, {"all/ports.yml": REGISTRY, "web/nginx.yml": "---\nnginx_worker_connections: 512\n"})
    rows, _ = diff_envs.compare(["a", "b"], tmp_path)
    assert rows == []
    assert diff_envs.main(["--inventories", str(tmp_path), "a", "b"]) == 0


def test_secrets_masked_and_vault_files_listed(tmp_path):
    _env(tmp_path, "a", {"all/x.yml": "---\nflask_app_secret_key: plain-one\n", "all/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n3131\n"})
    _env(tmp_path, "b", {"all/x.yml": "---\nflask_app_secret_key: plain-two\n"})
    rows, encrypted = diff_envs.compare(["a", "b"], tmp_path, show_all=True)
    text = diff_envs.render(rows, ["a", "b"], encrypted)
    assert "plain-one" not in text and "plain-two" not in text
    assert "all/vault.yml is encrypted" in text


def test_unknown_env_is_a_clear_error(tmp_path, capsys):
    _env(tmp_path, "a", {"all/ports.yml": REGISTRY})
    assert diff_envs.main(["--inventories", str(tmp_path), "a", "nope"]) == 2
    assert "no inventory 'nope'" in capsys.readouterr().err


def test_project_inventories_load():
    rows, _ = diff_envs.compare(["staging", "production"], ROOT / "inventories", show_all=True)
    assert any(s == "berth_ports.app_http.port" for _, s, _ in rows)


@pytest.mark.parametrize("value, expected", [({"a": 1}, '{"a":1}'), ([1, 2], "[1,2]"), (None, "null"), (80, "80")])
def test_format(value, expected):
    assert diff_envs._fmt(value) == expected


HOSTS = """
---
all:
  children:
    berth:
      children:
        web:
          children:
            canary:
              hosts:
                %s-web-1: {ansible_host: 192.0.2.1}
            wave1:
              hosts:
                %s-web-2:
"""


def test_host_vars_override_is_shown_per_host(tmp_path):
    """The second outage in one host: host_vars moves the app to 5001 on prod-web-1 only."""
    for env, prefix in (("staging", "stg"), ("production", "prod")):
        _env(tmp_path, env, {"all/ports.yml": REGISTRY})
        (tmp_path / env / "hosts.yml").write_text(HOSTS % (prefix, prefix))
    host_vars = tmp_path / "production" / "host_vars"
    host_vars.mkdir()
    (host_vars / "prod-web-1.yml").write_text("---\nberth_ports_overrides: {app_http: {port: 5001}}\n")
    rows, _ = diff_envs.compare(["staging", "production"], tmp_path)
    changed = {(g, s): v for g, s, v in rows}
    assert changed[("host:prod-web-1", "berth_ports.app_http.port")] == ["-", "5001"]
    # Only what differs from the host's groups: the unchanged entry is not repeated.
    assert ("host:prod-web-1", "berth_ports.datadog_cmd.port") not in changed
    assert not any(g == "host:prod-web-2" for g, _, _ in rows)
    assert diff_envs.main(["--inventories", str(tmp_path), "staging", "production"]) == 1


def test_host_overrides_beat_group_overrides(tmp_path):
    _env(tmp_path, "a", {"all/ports.yml": REGISTRY, "web/ports.yml": "---\nberth_ports_overrides: {app_http: {port: 8001}}\n"})
    (tmp_path / "a" / "hosts.yml").write_text(HOSTS % ("a", "a"))
    (tmp_path / "a" / "host_vars").mkdir()
    (tmp_path / "a" / "host_vars" / "a-web-2.yml").write_text("---\nberth_ports_overrides: {app_http: {port: 8002}}\n")
    _env(tmp_path, "b", {"all/ports.yml": REGISTRY})
    rows, _ = diff_envs.compare(["a", "b"], tmp_path)
    changed = {(g, s): v for g, s, v in rows}
    assert changed[("web", "berth_ports.app_http.port")] == ["8001", "-"]
    assert changed[("host:a-web-2", "berth_ports.app_http.port")] == ["8002", "-"]


def test_inline_vault_values_are_masked_not_fatal(tmp_path):
    vaulted = ("---\nflask_app_secret_key: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3131\n"
               "nginx_worker_connections: 512\n")
    _env(tmp_path, "a", {"all/ports.yml": REGISTRY, "web/app.yml": vaulted})
    _env(tmp_path, "b", {"all/ports.yml": REGISTRY, "web/app.yml": "---\nflask_app_secret_key: plain\nnginx_worker_connections: 1024\n"})
    rows, encrypted = diff_envs.compare(["a", "b"], tmp_path)
    text = diff_envs.render(rows, ["a", "b"], encrypted)
    assert "<vaulted>" in text and "3131" not in text and "plain" not in text
    assert diff_envs.main(["--inventories", str(tmp_path), "a", "b"]) == 1
