"""Argument specs are written once per option and every public variable has one (issue 26).

Every role's options live in its first entry point; the other entry points share the very same
mapping (a YAML alias), and the options are exactly the role's defaults (plus the inputs that have
no default), with the same default values.
"""

import pytest
import yaml

from project import ROOT

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
# Inputs a role reads that have no default: the inventory must give them.
WITHOUT_DEFAULT = {"berth_ports": {"berth_ports", "berth_ports_overrides"}, "datadog": {"datadog_api_key"}}


def _load(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    return specs, defaults


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_shares_one_options_mapping(role):
    specs, _ = _load(role)
    points = list(specs.values())
    first = points[0]["options"]
    for point in points[1:]:
        # The same object: the YAML alias, not a copy that could drift.
        assert point["options"] is first, role


@pytest.mark.parametrize("role", ROLES)
def test_every_public_variable_has_a_spec_with_its_default(role):
    specs, defaults = _load(role)
    options = list(specs.values())[0]["options"]
    assert set(options) == set(defaults) | WITHOUT_DEFAULT.get(role, set()), role
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get("description") and spec.get("type"), "%s: %s has no description or type" % (role, name)
        templated = isinstance(value, str) and "{{" in value
        if "default" in spec or not templated:
            assert spec.get("default") == value, "%s: %s default %r, defaults/main.yml %r" % (
                role, name, spec.get("default"), value)


def test_a_new_gunicorn_setting_needs_only_its_default_its_spec_and_the_template():
    """The planner takes every flask_app_<key> default as the app setting <key>, typed by its spec:
    defaults/main.yml, meta/argument_specs.yml and the template that renders it are all it takes."""
    import planview
    from ansible_collections.berth.stack.plugins.module_utils import berth_plan
    new = {"new_defaults": {"flask_app_max_requests": 1000}, "new_specs": {"flask_app_max_requests": {"type": "int"}}}
    records = berth_plan.apps(planview.view("web1", **new), True)
    assert {r["max_requests"] for r in records} == {1000}
    one = {"flask_apps": {"hbnb": {"port": "app_http", "wsgi": "a:b", "max_requests": 5}}}
    assert berth_plan.apps(planview.view("web1", one, **new), True)[0]["max_requests"] == 5
    with pytest.raises(berth_plan.PlanError, match="max_requests on web1: 'x' is not an integer"):
        berth_plan.apps(planview.view("web1", {"flask_app_max_requests": "x"}, **new), True)
