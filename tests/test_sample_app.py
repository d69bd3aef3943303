"""The sample app berth deploys (roles/flask_app/files/hbnb): four Flask apps that gunicorn serves
side by side from one source root, the working directory, so `import models` works from each.

Each app is imported the way gunicorn imports a WSGI target (importlib: the module names are
hyphenated), from a fresh import of the sample's packages and with a temporary working directory,
where the file storage's file.json lands."""

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "roles/flask_app/files/hbnb"
HELLO = ROOT / "roles/flask_app/files/hello"
PACKAGES = ("models", "api", "web_flask", "web_dynamic")
TARGETS = ("web_flask.0-hello_route:app", "web_flask.6-number_odd_or_even:app", "api.v1.app:app",
           "web_dynamic.2-hbnb:app")
STATIC = SOURCE / "web_dynamic/static"


def _forget():
    """Drop the sample's modules, so the next import starts like a new gunicorn process."""
    for name in list(sys.modules):
        if name.split(".")[0] in PACKAGES:
            del sys.modules[name]


def load(target):
    """The callable of a WSGI target 'module:callable', imported as gunicorn does."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def client(target):
    return load(target).test_client()


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    """A fresh working directory and fresh imports of the sample's packages for each test."""
    cwd = tmp_path / "release"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.syspath_prepend(str(SOURCE))
    # No __pycache__ in the source tree: the role copies that directory to the hosts.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delenv("HBNB_TYPE_STORAGE", raising=False)
    monkeypatch.setenv("BERTH_RELEASE", "r1")
    monkeypatch.setenv("BERTH_PORT", "8000")
    _forget()
    yield cwd
    _forget()


def post_state(api, name):
    response = api.post("/api/v1/states", json={"name": name})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# --- web_flask -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/airbnb-onepage/", "/airbnb-onepage"])
def test_hello_route(path):
    response = client("web_flask.0-hello_route:app").get(path)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "Hello HBNB!")


def test_the_repository_has_the_public_shape():
    """No requirements file and no /health route: the inventory supplies both what to install and
    what to check (berth adds gunicorn and proves the release from /proc)."""
    assert not (SOURCE / "requirements.txt").exists()
    for target in TARGETS:
        assert client(target).get("/health").status_code == 404, target


def test_one_app_sample_answers_the_release_echoing_health_gate(monkeypatch):
    """The role's default source (files/hello): the hello route plus /health echoing the release."""
    monkeypatch.syspath_prepend(str(HELLO))
    response = client("web_flask.0-hello_route:app").get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "release": "r1", "port": 8000}
    assert client("web_flask.0-hello_route:app").get("/airbnb-onepage/").get_data(as_text=True) == "Hello HBNB!"


def _inventory():
    import yaml
    return yaml.safe_load((ROOT / "inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml").read_text())


def _inventory_health():
    """WSGI target -> the health check the sandbox inventory gates the app with."""
    return {spec["wsgi"]: spec["health"] for spec in _inventory()["flask_apps"].values()}


@pytest.mark.parametrize("target", TARGETS)
def test_every_app_answers_the_health_check_its_inventory_names(target):
    """No app has a /health of its own (like the public repository): each is gated on one of its
    real routes, as the inventory says, and berth proves the release from /proc."""
    health = _inventory_health()[target]
    response = client(target).get(health["path"])
    assert response.status_code == health.get("status", 200)
    if health.get("body"):
        assert health["body"] in response.get_data(as_text=True)
    for key, value in (health.get("json") or {}).items():
        assert response.get_json()[key] == value


@pytest.mark.parametrize("path, body", [
    ("/", "Hello HBNB!"),
    ("/hbnb", "HBNB"),
    ("/hbnb/", "HBNB"),
    ("/c/is_fun", "C is fun"),
    ("/python", "Python is cool"),
    ("/python/", "Python is cool"),
    ("/python/is_magic", "Python is magic"),
    ("/number/89", "89 is a number"),
])
def test_number_app_text_routes(path, body):
    response = client("web_flask.6-number_odd_or_even:app").get(path)
    assert (response.status_code, response.get_data(as_text=True)) == (200, body)


def test_number_app_escapes_the_text_it_echoes():
    response = client("web_flask.6-number_odd_or_even:app").get("/c/<img src=x onerror=alert(1)>")
    assert response.get_data(as_text=True) == "C &lt;img src=x onerror=alert(1)&gt;"


@pytest.mark.parametrize("n, parity", [(88, "even"), (89, "odd"), (0, "even")])
def test_number_odd_or_even(n, parity):
    response = client("web_flask.6-number_odd_or_even:app").get("/number_odd_or_even/%d" % n)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<H1>Number: %d is %s</H1>" % (n, parity) in response.get_data(as_text=True)


def test_number_template():
    response = client("web_flask.6-number_odd_or_even:app").get("/number_template/7/")
    assert response.status_code == 200
    assert "<H1>Number: 7</H1>" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/number/abc", "/number_template/x", "/number_odd_or_even/1.5"])
def test_number_routes_take_integers_only(path):
    assert client("web_flask.6-number_odd_or_even:app").get(path).status_code == 404


# --- api.v1 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/status/"])
def test_api_status(path):
    response = client("api.v1.app:app").get(path)
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK"}


def test_api_states_post_get_list_stats(workdir):
    api = client("api.v1.app:app")
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "states": 0}
    assert api.get("/api/v1/states/").get_json() == []

    created = post_state(api, "California")
    assert created["name"] == "California"
    assert created["__class__"] == "State"
    assert {"id", "created_at", "updated_at"} <= set(created)

    response = api.get("/api/v1/states/" + created["id"])
    assert response.status_code == 200
    assert response.get_json() == created
    assert api.get("/api/v1/states").get_json() == [created]
    post_state(api, "Nevada")
    assert api.get("/api/v1/stats/").get_json() == {"amenities": 0, "states": 2}

    stored = json.loads((workdir / "file.json").read_text())
    assert stored["State." + created["id"]]["name"] == "California"


def test_api_states_put_and_delete():
    api = client("api.v1.app:app")
    state = post_state(api, "Calif")
    response = api.put("/api/v1/states/" + state["id"], json={"name": "California", "id": "other"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "California"
    assert response.get_json()["id"] == state["id"]
    assert api.get("/api/v1/states/" + state["id"]).get_json()["name"] == "California"

    response = api.delete("/api/v1/states/" + state["id"])
    assert (response.status_code, response.get_json()) == (200, {})
    assert api.get("/api/v1/states/" + state["id"]).status_code == 404
    assert api.get("/api/v1/stats").get_json()["states"] == 0


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/nope"),
    ("get", "/api/v1/states/no-such-id"),
    ("put", "/api/v1/states/no-such-id"),
    ("delete", "/api/v1/states/no-such-id"),
])
def test_api_404_is_json(method, path):
    response = getattr(client("api.v1.app:app"), method)(path, json={"name": "x"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found"}


@pytest.mark.parametrize("kwargs, message", [
    ({"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, "Not a JSON"),
    ({"data": "{not json", "content_type": "application/json"}, "Not a JSON"),
    ({"json": ["California"]}, "Not a JSON"),
    ({"json": {"id": "x"}}, "Missing name"),
])
def test_api_post_state_400(kwargs, message):
    response = client("api.v1.app:app").post("/api/v1/states", **kwargs)
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


def test_importing_the_apps_writes_nothing(workdir):
    """The working directory is read-only on the hosts: imports and reads must not write."""
    for target in TARGETS:
        load(target)
    client("api.v1.app:app").get("/api/v1/states")
    client("web_dynamic.2-hbnb:app").get("/")
    assert os.listdir(workdir) == []


def test_db_storage_is_refused_clearly(monkeypatch):
    monkeypatch.setenv("HBNB_TYPE_STORAGE", "db")
    with pytest.raises(RuntimeError, match="database storage is not part of this sample"):
        importlib.import_module("models")


# --- file storage: redeploys and the state-directory symlink -------------------------------------

def _release(tmp_path, name, target):
    """A release's source root holding only the file.json link berth places there."""
    release = tmp_path / name
    release.mkdir()
    (release / "file.json").symlink_to(target)
    return release


def test_data_survives_a_redeploy_through_the_file_json_link(tmp_path, monkeypatch):
    state_dir = tmp_path / "var-lib-hbnb"
    state_dir.mkdir()
    target = state_dir / "file.json"
    first = _release(tmp_path, "r1", target)
    monkeypatch.chdir(first)
    created = post_state(client("api.v1.app:app"), "California")

    assert (first / "file.json").is_symlink()
    assert os.readlink(first / "file.json") == str(target)
    assert not target.is_symlink()
    assert "California" in target.read_text()
    assert sorted(os.listdir(first)) == ["file.json"]
    assert sorted(os.listdir(state_dir)) == ["file.json"]  # no temporary file left behind

    # The next release: another source root, a new process (fresh imports), the same state.
    second = _release(tmp_path, "r2", target)
    monkeypatch.chdir(second)
    _forget()
    api = client("api.v1.app:app")
    assert api.get("/api/v1/states/" + created["id"]).get_json() == created
    post_state(api, "Nevada")
    assert (second / "file.json").is_symlink()
    assert len(json.loads(target.read_text())) == 2


def test_file_storage_reload_sees_what_was_saved(workdir):
    """A fresh FileStorage (another worker, or the next release) reads what one saved."""
    models = importlib.import_module("models")
    from models.amenity import Amenity
    from models.engine.file_storage import FileStorage
    from models.state import State

    state, amenity = State(name="Texas"), Amenity(name="Wifi")
    state.save()
    amenity.save()
    FileStorage._FileStorage__objects = {}
    assert FileStorage().count() == 0

    fresh = FileStorage()
    fresh.reload()
    assert fresh.count() == 2
    assert fresh.count(State) == fresh.count("Amenity") == 1
    again = fresh.get(State, state.id)
    assert again is not state
    assert again.to_dict() == state.to_dict()
    assert again.created_at == state.created_at
    assert fresh.get("Amenity", amenity.id).name == "Wifi"
    assert fresh.get(State, "no-such-id") is None
    assert fresh.get(int, state.id) is None

    again.delete()
    models.storage.save()
    models.storage.close()
    assert models.storage.all(State) == {}
    assert list(json.loads((workdir / "file.json").read_text())) == ["Amenity." + amenity.id]


def test_file_storage_without_a_file_is_empty(workdir):
    from models.engine.file_storage import FileStorage

    (workdir / "file.json").symlink_to(workdir.parent / "missing-target.json")  # dangling: no data yet
    storage = FileStorage()
    storage.reload()
    assert storage.all() == {}


# --- web_dynamic ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/2-hbnb/", "/2-hbnb"])
def test_front_page(path):
    post_state(client("api.v1.app:app"), "Texas")
    post_state(client("api.v1.app:app"), "Arizona")
    response = client("web_dynamic.2-hbnb:app").get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    assert "<title>AirBnB clone</title>" in page
    assert re.search(r'<header>.*<div id="api_status"[^>]*></div>.*</header>', page, re.S)
    cache_ids = re.findall(r'"/static/(?:styles/4-common\.css|styles/3-header\.css|scripts/2-hbnb\.js)\?([^"]+)"',
                           page)
    assert len(cache_ids) == 3
    assert len(set(cache_ids)) == 1
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", cache_ids[0])
    states = re.search(r'<ul id="states">(.*?)</ul>', page, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", states) == ["Arizona", "Texas"]
    # Nothing from elsewhere: test hosts have no internet.
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")


def test_front_page_cache_id_changes_per_request():
    web = client("web_dynamic.2-hbnb:app")
    pattern = r"2-hbnb\.js\?([^\"]+)\""
    first, second = (re.search(pattern, web.get("/").get_data(as_text=True)).group(1) for _ in range(2))
    assert first != second


@pytest.mark.parametrize("path, mimetype", [
    ("styles/4-common.css", "text/css"),
    ("styles/3-header.css", "text/css"),
    ("scripts/2-hbnb.js", "text/javascript"),
])
def test_static_files_are_served(path, mimetype):
    assert (STATIC / path).is_file()
    response = client("web_dynamic.2-hbnb:app").get("/static/%s?cache-id" % path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data() == (STATIC / path).read_bytes()


def _css_rules(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return {sel.strip(): body for sel, body in re.findall(r"([^{}]+)\{([^}]*)\}", text)}


def test_api_status_styles():
    rules = _css_rules((STATIC / "styles/3-header.css").read_text())
    plain = rules["#api_status"]
    assert re.search(r"background-color:\s*#cccccc", plain, re.I)
    assert re.search(r"border-radius:\s*50%", plain)
    assert re.search(r"width:\s*40px", plain) and re.search(r"height:\s*40px", plain)
    assert re.search(r"background-color:\s*#ff545f", rules["#api_status.available"], re.I)


def test_styles_and_script_load_nothing_from_elsewhere():
    for path in ("styles/4-common.css", "styles/3-header.css", "scripts/2-hbnb.js"):
        text = (STATIC / path).read_text()
        assert "http://" not in text and "https://" not in text, path
        assert "@import" not in text and "url(" not in text, path
    script = (STATIC / "scripts/2-hbnb.js").read_text()
    assert "fetch('/api/v1/status/'" in script.replace("getJSON(", "fetch(")
    assert "'/api/v1/states/'" in script
    assert "jQuery" not in script and "$(" not in script


NODE_HARNESS = r"""
const fs = require('fs');
const vm = require('vm');
const responses = JSON.parse(process.argv[3]);
function element (tag) {
  const classes = new Set();
  return {
    tagName: tag, attrs: {}, textContent: '', children: [], classes,
    classList: { add: (c) => classes.add(c), remove: (c) => classes.delete(c) },
    setAttribute (k, v) { this.attrs[k] = String(v); },
    replaceChildren (...nodes) { this.children = nodes; }
  };
}
const elements = { api_status: element('DIV'), states: element('UL') };
const requested = [];
let ready = null;
const sandbox = {
  console: { error () {}, log () {} },
  document: {
    addEventListener (event, fn) { if (event === 'DOMContentLoaded') ready = fn; },
    getElementById: (id) => elements[id],
    createElement: (tag) => element(tag.toUpperCase())
  },
  fetch (url) {
    requested.push(url);
    const r = responses[url];
    if (!r) return Promise.reject(new TypeError('Failed to fetch'));
    return Promise.resolve({ ok: r.status < 400, status: r.status, json: () => Promise.resolve(r.body) });
  }
};
vm.runInNewContext(fs.readFileSync(process.argv[2], 'utf8'), sandbox);
ready();
setTimeout(() => {
  const s = elements.api_status;
  process.stdout.write(JSON.stringify({
    requested, status: s.attrs['data-status'] || null, classes: [...s.classes], text: s.textContent,
    states: elements.states.children.map((li) => [li.tagName, li.textContent])
  }));
}, 100);
"""


def run_script(tmp_path, responses):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node to run 2-hbnb.js with")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    out = subprocess.run([node, str(harness), str(STATIC / "scripts/2-hbnb.js"), json.dumps(responses)],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_script_api_up(tmp_path):
    result = run_script(tmp_path, {
        "/api/v1/status/": {"status": 200, "body": {"status": "OK"}},
        "/api/v1/states/": {"status": 200, "body": [{"name": "Texas"}, {"name": "Arizona"}]},
    })
    assert result["requested"] == ["/api/v1/status/", "/api/v1/states/"]
    assert result["status"] == "OK"
    assert result["classes"] == ["available"]
    assert result["text"] == "API OK"
    assert result["states"] == [["LI", "Arizona"], ["LI", "Texas"]]


@pytest.mark.parametrize("responses", [
    {},  # the API does not answer
    {"/api/v1/status/": {"status": 502, "body": None}},
    {"/api/v1/status/": {"status": 200, "body": {"status": "down"}},
     "/api/v1/states/": {"status": 200, "body": []}},
    {"/api/v1/status/": {"status": 200, "body": {"status": "OK"}}},  # the states request fails
], ids=["unreachable", "http-502", "not-ok", "states-fail"])
def test_script_api_error(tmp_path, responses):
    result = run_script(tmp_path, responses)
    assert result["status"] == "error"
    assert result["classes"] == []
    assert result["states"] == []


# --- the source tree as a whole ------------------------------------------------------------------

def _python_files():
    return sorted(p for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts)


def test_requirements_cover_every_import():
    """Only the standard library, the sample's own packages and what the inventory pins
    (flask_app_requirements: the repository has no requirements file)."""
    pinned = {line.split("==")[0].lower() for line in _inventory()["flask_app_requirements"] if "==" in line}
    distribution = {"flask": "flask", "markupsafe": "markupsafe", "jinja2": "jinja2", "werkzeug": "werkzeug"}
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in (n.split(".")[0] for n in names):
                if name in sys.stdlib_module_names or name in PACKAGES:
                    continue
                assert distribution.get(name) in pinned, "%s imports %s, not pinned" % (path, name)


def _port_5000(tree):
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in (5000, "5000")]


def test_no_default_port_5000_where_berth_runs_the_apps():
    """5000 is the Datadog agent's port: only the API's run-by-hand fallback (the clone's) names it."""
    for path in _python_files():
        tree = ast.parse(path.read_text(), str(path))
        main = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
        served = ast.Module(body=[node for node in tree.body if node not in main], type_ignores=[])
        assert _port_5000(served) == [], path
        if path != SOURCE / "api/v1/app.py":
            assert _port_5000(tree) == [], path
    assert _port_5000(ast.parse((SOURCE / "api/v1/app.py").read_text())), "the clone's fallback is gone"
