"""The sample app berth deploys (roles/flask_app/files/hbnb): four Flask apps that gunicorn serves
side by side from one source root, the working directory, so `import models` works from each.
The sample is shaped like the public AirBnB_clone_v4 repositories: each app serves only the paths
of its exercise, the front end's page is only at /3-hbnb/ and its jQuery script calls the API at
the hard-coded http://0.0.0.0:5001, models import SQLAlchemy whatever the storage, and the API uses
flask-cors and flasgger. What makes it work behind Nginx is the sandbox inventory
(inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml): its routes, origins and pins, read
here for every expected path.

Each app is imported the way gunicorn imports a WSGI target (importlib: the module names are
hyphenated), from a fresh import of the sample's packages and with a temporary working directory,
where the file storage's file.json lands."""

import ast
import importlib
import json
import mimetypes
import os
import re
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "roles/flask_app/files/hbnb"
HELLO = ROOT / "roles/flask_app/files/hello"
PACKAGES = ("models", "api", "web_flask", "web_dynamic")
INVENTORY = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml").read_text())
APPS = INVENTORY["flask_apps"]
TARGETS = tuple(spec["wsgi"] for spec in APPS.values())
FRONT = APPS["hbnb_front"]
FRONT_TARGET = FRONT["wsgi"]
FRONT_PAGE = FRONT["health"]["path"]  # the one page of web_dynamic/<N>-hbnb.py: /<N>-hbnb/
FRONT_STEP = FRONT_TARGET.split(".")[1].split(":")[0]  # <N>-hbnb
STATIC = SOURCE / FRONT["static"][0]["dir"]
SCRIPT = STATIC / "scripts" / (FRONT_STEP + ".js")
STYLES = ("styles/4-common.css", "styles/3-header.css", "styles/3-footer.css", "styles/6-filters.css",
          "styles/8-places.css")
JQUERY = "scripts/jquery-3.8.0.min.js"


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

def test_hello_route_serves_only_slash():
    hello = client("web_flask.0-hello_route:app")
    assert (hello.get("/").status_code, hello.get("/").get_data(as_text=True)) == (200, "Hello HBNB!")
    assert hello.get("/airbnb-onepage/").status_code == 404  # the site's path: Nginx maps it onto /


def test_the_repository_has_the_public_shape():
    """No requirements file and no /health route: the inventory supplies both what to install and
    what to check (berth adds gunicorn and proves the release from /proc). The front end's page is
    only at /<N>-hbnb/, not at /: the inventory maps the site's / onto it."""
    assert not (SOURCE / "requirements.txt").exists()
    for target in TARGETS:
        assert client(target).get("/health").status_code == 404, target
    assert FRONT_PAGE == "/%s/" % FRONT_STEP
    assert client(FRONT_TARGET).get("/").status_code == 404
    assert client(FRONT_TARGET).get(FRONT_PAGE).status_code == 200


def _route(route):
    """A route of the inventory as berth normalizes it: the public path, exact or prefix, the app path."""
    route = {"prefix": route} if isinstance(route, str) else route
    to = "/" if route.get("strip") else route.get("to", "")
    return route.get("exact") or route["prefix"], bool(route.get("exact")), to


def test_the_inventory_maps_the_site_s_paths_onto_the_apps_own():
    """The hello app answers the site's /airbnb-onepage/ on its /, the front end the site's / (and
    only /) on its page; the API and the number app keep their mappings."""
    assert [_route(r) for r in APPS["hbnb"]["routes"]] == [("/airbnb-onepage/", False, "/")]
    assert [_route(r) for r in FRONT["routes"]] == [("/", True, FRONT_PAGE)]
    assert [_route(r) for r in APPS["hbnb_api"]["routes"]] == [("/api/", False, "")]
    assert [_route(r) for r in APPS["hbnb_dynamic"]["routes"]] == [("/airbnb-dynamic/", False, "/")]


def test_one_app_sample_answers_the_release_echoing_health_gate(monkeypatch):
    """The role's default source (files/hello): the hello route plus /health echoing the release."""
    monkeypatch.syspath_prepend(str(HELLO))
    response = client("web_flask.0-hello_route:app").get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "release": "r1", "port": 8000}
    assert client("web_flask.0-hello_route:app").get("/airbnb-onepage/").get_data(as_text=True) == "Hello HBNB!"


def _inventory_health():
    """WSGI target -> the health check the sandbox inventory gates the app with."""
    return {spec["wsgi"]: spec["health"] for spec in APPS.values()}


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
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "cities": 0, "places": 0, "states": 0}
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
    assert api.get("/api/v1/stats/").get_json() == {"amenities": 0, "cities": 0, "places": 0, "states": 2}

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


def test_places_search(workdir):
    """POST /api/v1/places_search: every place for {} (or empty lists), sorted by name; the places
    of the cities listed and of every city of the states listed; the sample's places have no
    amenities, so a non-empty amenities list keeps none."""
    api = client("api.v1.app:app")
    texas, ohio = post_state(api, "Texas"), post_state(api, "Ohio")
    austin, barn = _city_and_place(texas["id"], "Austin", "Barn", max_guest=3)
    _, loft = _city_and_place(texas["id"], "Houston", "Loft")
    dayton, attic = _city_and_place(ohio["id"], "Dayton", "Attic", description="Under the roof")

    def search(body):
        response = api.post("/api/v1/places_search/", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [place["name"] for place in response.get_json()]

    assert search({}) == search({"states": [], "cities": []}) == ["Attic", "Barn", "Loft"]
    assert search({"states": [texas["id"]]}) == ["Barn", "Loft"]
    assert search({"cities": [dayton.id]}) == ["Attic"]
    assert search({"states": [ohio["id"]], "cities": [austin.id]}) == ["Attic", "Barn"]
    assert search({"states": ["no-such-state"]}) == []
    assert search({"amenities": ["any"]}) == []
    [place] = api.post("/api/v1/places_search", json={"cities": [dayton.id]}).get_json()
    assert place == dict(attic.to_dict(), description="Under the roof")
    assert {"number_rooms": 0, "number_bathrooms": 0, "max_guest": 0, "price_by_night": 0}.items() <= place.items()
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "cities": 3, "places": 3, "states": 2}


@pytest.mark.parametrize("kwargs", [{"data": "{}", "content_type": "text/plain"}, {"json": []}, {"data": "{x"}])
def test_places_search_wants_a_json_object(kwargs):
    response = client("api.v1.app:app").post("/api/v1/places_search", **kwargs)
    assert (response.status_code, response.get_json()) == (400, {"error": "Not a JSON"})


def test_api_allows_cross_origin_requests_and_describes_itself_like_the_public_repository():
    """flask-cors on /api/v1/* only; flasgger's Swagger UI and specification (not routed by Nginx)."""
    api = client("api.v1.app:app")
    response = api.get("/api/v1/status", headers={"Origin": "http://elsewhere.example"})
    assert response.headers.get("Access-Control-Allow-Origin") in ("*", "http://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in api.get("/apidocs/", headers={"Origin": "http://x.example"}).headers
    assert api.get("/apidocs/").status_code == 200
    spec = api.get("/apispec_1.json").get_json()
    assert {"/api/v1/status", "/api/v1/places_search"} <= set(spec["paths"])


def test_importing_the_apps_writes_nothing(workdir):
    """The working directory is read-only on the hosts: imports and reads must not write."""
    for target in TARGETS:
        load(target)
    client("api.v1.app:app").get("/api/v1/states")
    client("api.v1.app:app").post("/api/v1/places_search", json={})
    client(FRONT_TARGET).get(FRONT_PAGE)
    assert os.listdir(workdir) == []


# --- database storage (HBNB_TYPE_STORAGE=db), run against SQLite ---------------------------------

PASSWORD = "s3cr@t:/p%w d"


@pytest.fixture
def db(workdir, tmp_path, monkeypatch):
    """HBNB_TYPE_STORAGE=db with the four variables berth sets, on a SQLite file instead of MySQL.

    models/__init__.py builds the DBStorage while `models` is first imported, and db_storage.py
    binds `from sqlalchemy import create_engine` then: the fake goes into sqlalchemy before that
    import, so models.engine.db_storage.create_engine is the fake. It records the URL DBStorage
    builds and returns a SQLite engine with the same keyword arguments (pool_pre_ping)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    real = sqlalchemy.create_engine
    calls = []

    def create_engine(url, **kwargs):
        calls.append((url, kwargs))
        return real("sqlite:///" + str(tmp_path / "hbnb.db"), **kwargs)

    monkeypatch.setattr(sqlalchemy, "create_engine", create_engine)
    monkeypatch.setenv("HBNB_TYPE_STORAGE", "db")
    monkeypatch.setenv("HBNB_MYSQL_USER", "hbnb_dev")
    monkeypatch.setenv("HBNB_MYSQL_PWD", PASSWORD)
    monkeypatch.setenv("HBNB_MYSQL_HOST", "127.0.0.1:3307")
    monkeypatch.setenv("HBNB_MYSQL_DB", "hbnb_dev_db?connect_timeout=3&read_timeout=10&write_timeout=10")
    monkeypatch.delenv("HBNB_ENV", raising=False)
    yield calls
    _dispose()


def _dispose():
    """Close the sessions and the SQLite connections of the imported DBStorage, if any."""
    models = sys.modules.get("models")
    storage = getattr(models, "storage", None)
    if storage is not None and type(storage).__name__ == "DBStorage":
        storage.close()
        storage._DBStorage__engine.dispose()


def test_db_storage_is_chosen_and_builds_the_url_from_the_four_variables(db):
    import sqlalchemy
    models = importlib.import_module("models")
    from models.engine import db_storage

    assert models.storage_t == "db"
    assert type(models.storage) is db_storage.DBStorage
    assert db_storage.create_engine is sqlalchemy.create_engine  # the fake: no MySQL, no MySQLdb
    [(url, kwargs)] = db
    assert kwargs == {"pool_pre_ping": True}
    parsed = sqlalchemy.engine.make_url(url)
    assert parsed.drivername == "mysql+mysqldb"
    assert (parsed.username, parsed.password) == ("hbnb_dev", PASSWORD)  # percent-encoded, decoded back
    assert (parsed.host, parsed.port, parsed.database) == ("127.0.0.1", 3307, "hbnb_dev_db")
    assert dict(parsed.query) == {"connect_timeout": "3", "read_timeout": "10", "write_timeout": "10"}
    # What a log line or an error would show of the URL: the password masked.
    assert "***" in repr(parsed) and PASSWORD not in repr(parsed) and "s3cr" not in str(parsed)


def test_mysqldb_dialect_passes_port_and_timeouts_as_ints():
    """The trick that gives the clone (it reads no timeout variable) a port and timeouts: the URL's
    port and query reach MySQLdb.connect as ints. Only the URL is parsed: MySQLdb is not needed."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.dialects.mysql.mysqldb import MySQLDialect_mysqldb

    url = sqlalchemy.engine.make_url(
        "mysql+mysqldb://u:p@127.0.0.1:3307/hbnb_dev_db?connect_timeout=3&read_timeout=10&write_timeout=10")
    args, kwargs = MySQLDialect_mysqldb().create_connect_args(url)
    assert args == []
    assert kwargs["host"] == "127.0.0.1" and kwargs["db"] == "hbnb_dev_db"
    for key, value in {"port": 3307, "connect_timeout": 3, "read_timeout": 10, "write_timeout": 10}.items():
        assert kwargs[key] == value and type(kwargs[key]) is int, key


def test_db_storage_create_read_count_delete(db):
    models = importlib.import_module("models")
    from models.amenity import Amenity
    from models.state import State

    assert State.__tablename__ == "states" and Amenity.__tablename__ == "amenities"
    assert models.storage.all() == {} and models.storage.count() == 0
    state, amenity = State(name="Texas"), Amenity(name="Wifi")
    state.save()
    amenity.save()
    saved = state.to_dict()
    assert "_sa_instance_state" not in saved and "_sa_instance_state" in state.__dict__
    assert set(saved) == {"__class__", "id", "created_at", "updated_at", "name"}
    assert "_sa_instance_state" not in json.dumps(saved)

    models.storage.close()  # the end of a request: the next read is from the database
    assert models.storage.count() == 2
    assert models.storage.count(State) == models.storage.count("Amenity") == 1
    assert list(models.storage.all(State)) == ["State." + state.id]
    again = models.storage.get(State, state.id)
    assert again is not state
    assert again.to_dict() == saved  # dates to the microsecond
    assert again.created_at == state.created_at
    assert models.storage.get("Amenity", amenity.id).name == "Wifi"
    assert models.storage.get(State, "no-such-id") is None
    assert models.storage.get(State, amenity.id) is None
    assert models.storage.get(int, state.id) is None
    assert models.storage.get("BaseModel", state.id) is None

    again.delete()
    models.storage.save()
    models.storage.close()
    assert models.storage.all(State) == {}
    assert list(models.storage.all()) == ["Amenity." + amenity.id]


def test_db_api_post_then_get_put_delete(db):
    api = client("api.v1.app:app")
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "cities": 0, "places": 0, "states": 0}
    assert api.get("/api/v1/states").get_json() == []

    created = post_state(api, "California")
    assert created["name"] == "California" and created["__class__"] == "State"
    assert {"id", "created_at", "updated_at"} <= set(created)
    assert "_sa_instance_state" not in created
    response = api.get("/api/v1/states/" + created["id"])
    assert response.status_code == 200
    assert response.get_json() == created
    assert api.get("/api/v1/states/").get_json() == [created]
    post_state(api, "Nevada")
    assert api.get("/api/v1/stats/").get_json() == {"amenities": 0, "cities": 0, "places": 0, "states": 2}

    response = api.put("/api/v1/states/" + created["id"], json={"name": "Calif", "id": "other"})
    assert response.status_code == 200
    assert (response.get_json()["name"], response.get_json()["id"]) == ("Calif", created["id"])
    assert api.get("/api/v1/states/" + created["id"]).get_json()["name"] == "Calif"

    assert api.delete("/api/v1/states/" + created["id"]).get_json() == {}
    assert api.get("/api/v1/states/" + created["id"]).status_code == 404
    assert api.get("/api/v1/stats").get_json()["states"] == 1
    assert api.put("/api/v1/states/no-such-id", json={"name": "x"}).get_json() == {"error": "Not found"}
    assert api.post("/api/v1/states", json={"id": "x"}).get_json() == {"error": "Missing name"}
    assert os.listdir(".") == []  # no file.json: the data is in the database


def test_db_front_page_lists_the_states_and_the_api_finds_the_places(db):
    api = client("api.v1.app:app")
    texas = post_state(api, "Texas")
    post_state(api, "Arizona")
    austin, loft = _city_and_place(texas["id"], "Austin", "Loft")
    page = client(FRONT_TARGET).get(FRONT_PAGE).get_data(as_text=True)
    assert _page_states(page) == [("Arizona", []), ("Texas", ["Austin"])]
    sys.modules["models"].storage.close()
    assert [p["id"] for p in api.post("/api/v1/places_search", json={"states": [texas["id"]]}).get_json()] == [loft.id]
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "cities": 1, "places": 1, "states": 2}
    # Deleting the state deletes its cities and their places (no foreign key holds them).
    assert api.delete("/api/v1/states/" + texas["id"]).status_code == 200
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "cities": 0, "places": 0, "states": 1}


def test_db_api_recovers_after_a_database_error(db):
    """A request that meets a database error answers Flask's 500; the teardown removes its session,
    so the next request works without a restart (and without retries in the app)."""
    import sqlite3

    from sqlalchemy import event

    api = client("api.v1.app:app")
    created = post_state(api, "Utah")

    # A failed transaction: without the teardown's close() the thread's session would stay
    # unusable (PendingRollbackError) for every later request.
    assert api.post("/api/v1/states", json={"name": None}).status_code == 500
    assert api.get("/api/v1/states").get_json() == [created]

    # The database goes away, then comes back.
    models = sys.modules["models"]
    engine = models.storage._DBStorage__engine

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("Can't connect to MySQL server (the database is down)")

    event.listen(engine, "do_connect", refuse)
    engine.dispose()  # the pooled connections go with the server
    try:
        assert api.get("/api/v1/states").status_code == 500
        assert api.get("/api/v1/stats").status_code == 500
        assert api.get("/api/v1/status").get_json() == {"status": "OK"}  # touches no storage
    finally:
        event.remove(engine, "do_connect", refuse)
    assert api.get("/api/v1/states").get_json() == [created]
    assert post_state(api, "Idaho")["name"] == "Idaho"


def test_db_hbnb_env_test_drops_the_tables(db, monkeypatch):
    post_state(client("api.v1.app:app"), "Oregon")
    _dispose()
    _forget()  # a new process
    assert client("api.v1.app:app").get("/api/v1/stats").get_json()["states"] == 1
    _dispose()
    _forget()
    monkeypatch.setenv("HBNB_ENV", "test")
    assert client("api.v1.app:app").get("/api/v1/stats").get_json()["states"] == 0


def _without(modules, code, *args):
    """Run ``code`` (with ``args`` in sys.argv[1:]) in a fresh Python over the sample, in the
    working directory, with ``modules`` made unimportable."""
    blocked = "".join("sys.modules[%r] = None; " % m for m in modules)  # `import m` raises ImportError
    env = {key: value for key, value in os.environ.items() if not key.startswith("HBNB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE)] + [p for p in sys.path if p])
    return subprocess.run([sys.executable, "-B", "-c", "import sys; " + blocked + textwrap.dedent(code)] + list(args),
                          cwd=os.getcwd(), env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("target", TARGETS)
def test_every_app_that_imports_models_needs_sqlalchemy(target):
    """Like the public repository, models/base_model.py imports SQLAlchemy at the top whatever the
    storage: an app importing models fails its import without it, naming it (berth's import check
    would refuse the release). Hence one list of pins, SQLAlchemy in it, for every app."""
    module = target.partition(":")[0]
    out = _without(["sqlalchemy"], "import importlib; importlib.import_module(%r)" % module)
    imports_models = module != "web_flask.0-hello_route" and module != "web_flask.6-number_odd_or_even"
    assert (out.returncode != 0) == imports_models, out.stderr
    if imports_models:
        assert "sqlalchemy" in out.stderr.splitlines()[-1]


def test_the_file_storage_needs_no_database_driver(workdir):
    """The apps without HBNB_TYPE_STORAGE=db run in venvs without MySQLdb (no system site packages):
    with every MySQL driver unimportable, every app imports, the API stores a State in file.json and
    the front page lists it; no driver was loaded."""
    out = _without(["MySQLdb", "pymysql", "mysql"], """
        import importlib, json
        page, front, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
        apps = {module: importlib.import_module(module).app for module in modules}
        response = apps["api.v1.app"].test_client().post("/api/v1/states", json={"name": "Ohio"})
        assert response.status_code == 201, response.get_data(as_text=True)
        assert "Ohio" in apps[front].test_client().get(page).get_data(as_text=True)
        import models
        print(json.dumps([models.storage_t, type(models.storage).__name__, type(models.base_model.Base).__name__,
                          sorted(m for m in sys.modules if m.lower().startswith(("mysqldb", "pymysql")) and sys.modules[m])]))
    """, FRONT_PAGE, FRONT_TARGET.partition(":")[0], *[t.partition(":")[0] for t in TARGETS])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [None, "FileStorage", "DeclarativeMeta", []]
    assert "Ohio" in (workdir / "file.json").read_text()


def _city_and_place(state_id, city_name, place_name, **place):
    """A City of the state and a Place in it, saved through the models (the API creates neither)."""
    from models.city import City
    from models.place import Place

    city = City(state_id=state_id, name=city_name)
    city.save()
    place = Place(city_id=city.id, name=place_name, **place)
    place.save()
    return city, place


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

def _page_states(page):
    """The page's States filter: (state, [its cities]) in the order shown."""
    locations = re.search(r'<div class="locations">(.*?)</div>', page, re.S).group(1)
    return [(name, re.findall(r"<li>(.*?)</li>", cities))
            for name, cities in re.findall(r"<h2>(.*?)</h2>\s*<ul>(.*?)</ul>", locations, re.S)]


@pytest.mark.parametrize("path", [FRONT_PAGE, FRONT_PAGE.rstrip("/")])
def test_front_page(path):
    from models.amenity import Amenity

    api = client("api.v1.app:app")
    texas = post_state(api, "Texas")
    post_state(api, "Arizona")
    _city_and_place(texas["id"], "Houston", "Loft")
    _city_and_place(texas["id"], "Austin", "Barn")
    wifi = Amenity(name="Wifi")
    wifi.save()
    response = client(FRONT_TARGET).get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    assert "<title>AirBnB clone</title>" in page
    assert re.search(r'<header>.*<div id="api_status"[^>]*></div>.*</header>', page, re.S)
    # Relative links, as in the public repository: from the site's / they are /static/...
    links = re.findall(r'(?:href|src)="(\.\./static/[^"?]+)(?:\?([^"]+))?"', page)
    assert [link for link, _ in links] == ["../static/" + f for f in STYLES + (JQUERY, "scripts/%s.js" % FRONT_STEP)]
    cache_ids = {cache_id for link, cache_id in links if not link.endswith(JQUERY)}
    assert len(cache_ids) == 1
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", cache_ids.pop())
    assert _page_states(page) == [("Arizona", []), ("Texas", ["Austin", "Houston"])]
    assert re.findall(r'<input type="checkbox" data-id="([^"]+)" data-name="([^"]+)">', page) == [(wifi.id, "Wifi")]
    assert '<section class="places">' in page  # filled by the script from the API
    # Nothing from elsewhere: test hosts have no internet.
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")


def test_front_page_escapes_what_it_shows():
    post_state(client("api.v1.app:app"), "<b>Bold</b>")
    page = client(FRONT_TARGET).get(FRONT_PAGE).get_data(as_text=True)
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page and "<b>Bold" not in page


def test_front_page_cache_id_changes_per_request():
    web = client(FRONT_TARGET)
    pattern = re.escape(FRONT_STEP) + r"\.js\?([^\"]+)\""
    first, second = (re.search(pattern, web.get(FRONT_PAGE).get_data(as_text=True)).group(1) for _ in range(2))
    assert first != second


@pytest.mark.parametrize("path", STYLES + (JQUERY, "scripts/%s.js" % FRONT_STEP))
def test_static_files_are_served(path):
    """By the app itself too (Nginx serves them from the release's copy in the sandbox)."""
    assert (STATIC / path).is_file()
    response = client(FRONT_TARGET).get("/static/%s?cache-id" % path)
    assert response.status_code == 200
    assert response.mimetype == ("text/css" if path.endswith(".css") else "text/javascript")
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


def test_styles_load_nothing_from_elsewhere():
    for path in STYLES:
        text = (STATIC / path).read_text()
        assert "http://" not in text and "https://" not in text, path
        assert "@import" not in text and "url(" not in text, path


def test_jquery_is_vendored_with_its_license():
    """jQuery 3 from the npm registry (`npm pack jquery@3`, dist/jquery.min.js) as published: its
    license header first, the version in the file name, the license text beside it."""
    text = (STATIC / JQUERY).read_text()
    version = re.match(r"/\*! jQuery v(3\.\d+\.\d+) \| \(c\) OpenJS Foundation and other contributors \| "
                       r"jquery\.com/license \*/\n", text)
    assert version and JQUERY == "scripts/jquery-%s.min.js" % version.group(1)
    license_text = (STATIC / JQUERY.replace(".min.js", ".LICENSE.txt")).read_text()
    assert "Copyright OpenJS Foundation" in license_text and "Permission is hereby granted" in license_text
    assert "sourceMappingURL" not in text  # no request for a map the release does not carry


def _script_urls():
    """Every URL the front end's script names (its string literals that hold a scheme or a path)."""
    return re.findall(r"'((?:https?:)?/[^']*)'", SCRIPT.read_text())


def test_script_uses_jquery_and_calls_the_api_at_the_hard_coded_origin():
    """Like the public repository: $.get for the status, $.ajax POST for places_search, and both
    at http://0.0.0.0:5001, never a URL relative to the page."""
    script = SCRIPT.read_text()
    assert "$.get('http://0.0.0.0:5001/api/v1/status/')" in script
    assert re.search(r"\$\.ajax\(\{\s*type: 'POST',\s*url: 'http://0\.0\.0\.0:5001/api/v1/places_search/'", script)
    assert "fetch(" not in script and "XMLHttpRequest" not in script
    assert _script_urls() == ["http://0.0.0.0:5001/api/v1/status/", "http://0.0.0.0:5001/api/v1/places_search/"]


def _web_plan():
    """The sandbox web host's apps and Nginx locations as berth plans them (tests/planview.py)."""
    import planview
    from ansible_collections.berth.stack.plugins.module_utils import berth_plan

    view = planview.view("web1")
    return berth_plan.flask_app(view)["apps"], berth_plan.nginx(view)["locations"]


def _location(locations, path):
    """The location Nginx picks for ``path``: an exact match first, then the longest prefix."""
    return next((loc for loc in locations if (path == loc["prefix"] if loc["exact"] else path.startswith(loc["prefix"]))),
                None)


def test_nginx_rewrites_the_script_s_origin_to_the_api_s_route():
    """The proof that the rewrite makes the page work: the location serving the script rewrites
    the origin every API URL of the script starts with; rewritten, each URL is a path of the
    site that Nginx sends to the API app, at the path the API serves."""
    _, locations = _web_plan()
    script_location = _location(locations, "/static/scripts/%s.js" % FRONT_STEP)
    assert script_location["kind"] == "static" and script_location["app"] == "hbnb_front"
    api = client("api.v1.app:app")
    for url in _script_urls():
        origin = next(o for o in script_location["origins"] if url.startswith(o + "/"))
        path = url[len(origin):]
        served = _location(locations, path)
        assert (served["app"], served["kind"], served["to"]) == ("hbnb_api", "proxy", ""), url
        method = "post" if "search" in path else "get"
        assert getattr(api, method)(path, json={}).status_code == 200, path
    # And the page itself: the site's / is the front end's page.
    page = _location(locations, "/")
    assert (page["app"], page["exact"], page["to"]) == ("hbnb_front", True, FRONT_PAGE)


# --- the page in a real browser, behind a stand-in of the web host's Nginx site -------------------

SUB_FILTER_TYPES = ("text/html", "text/css", "text/javascript", "application/javascript", "application/json")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        """Quiet."""


def nginx_site_standin(records, locations, rewrite=True, api_status=None):
    """A WSGI stand-in for the web host's Nginx site (roles/nginx/templates/site.conf.j2) over the
    sample's apps imported in-process (not gunicorn, not Nginx: the sandbox and four-apps-one-host
    run those). It takes the plan's locations as Nginx does (exact, then the longest prefix), passes
    a proxy location to its app with the public path replaced by the app path (``to``), serves a
    static location from the source's directory, answers 404 elsewhere, and, with ``rewrite``,
    replaces each origin of the location by "" in a text response, as its sub_filter does.
    ``api_status`` (e.g. 502) answers the API's location with that status instead."""
    by_name = {record["name"]: record for record in records}

    def site(environ, start_response):
        path = environ["PATH_INFO"]
        loc = _location(locations, path)
        status, headers, body = "404 Not Found", [("Content-Type", "text/plain")], b"not found"
        if loc is not None and loc["kind"] == "static":
            index = int(re.search(r"/public/(\d+)/$", loc["alias"]).group(1))
            directory = SOURCE / by_name[loc["app"]]["static"][index]["dir"]
            target = (directory / path[len(loc["prefix"]):]).resolve()
            if target.is_file() and directory.resolve() in target.parents:
                status, body = "200 OK", target.read_bytes()
                headers = [("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")]
        elif loc is not None and api_status and loc["app"] == "hbnb_api":
            status = "%d Stand-in" % api_status
        elif loc is not None:
            app_path = loc["to"] if loc["exact"] else (loc["to"] + path[len(loc["prefix"]):] if loc["to"] else path)
            answer = {}
            result = load(by_name[loc["app"]]["wsgi"])(
                dict(environ, PATH_INFO=app_path),
                lambda status_, headers_, exc_info=None: answer.update(status=status_, headers=headers_))
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
            status = answer["status"]
            headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "").split(";")[0]
        if rewrite and loc is not None and ctype in SUB_FILTER_TYPES:
            for origin in loc["origins"]:
                body = body.replace(origin.encode(), b"")
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    return site


@pytest.fixture
def site_url():
    """Serve a stand-in site on a free port of 127.0.0.1; yields a function (rewrite, api_status) -> its URL."""
    servers = []

    def serve(**kwargs):
        records, locations = _web_plan()
        server = make_server("127.0.0.1", 0, nginx_site_standin(records, locations, **kwargs),
                             server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return "http://127.0.0.1:%d/" % server.server_address[1]

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _browser_check(url, *expect):
    from project import load as load_tool

    tool = load_tool("browser_check", "tools/browser_check.py")
    if not os.access(tool.CHROMIUM, os.X_OK):
        pytest.skip("no %s (make browser installs it)" % tool.CHROMIUM)
    return subprocess.run([sys.executable, str(ROOT / "tools/browser_check.py"), url, *expect, "--timeout", "60"],
                          capture_output=True, text=True, timeout=120)


def test_in_a_browser_the_page_reaches_the_api_through_the_rewritten_origin(site_url):
    """The sample's page, its vendored jQuery and its script in headless Chromium, behind the
    stand-in site: the status light turns on and the places the API returns are shown."""
    texas = post_state(client("api.v1.app:app"), "Texas")
    _city_and_place(texas["id"], "Austin", "Barn on the hill", max_guest=3, price_by_night=80)
    out = _browser_check(site_url(), "--expect-class", "api_status:available", "--expect-attr",
                         "api_status:data-status=OK", "--expect-text", "Barn on the hill",
                         "--expect-text", "3 Guests", "--expect-text", "Austin")
    assert out.returncode == 0, out.stdout + out.stderr


def _port_5001_is_free():
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5001)) != 0


@pytest.mark.parametrize("kwargs", [{"rewrite": False}, {"api_status": 502}], ids=["origin-not-rewritten", "api-502"])
def test_in_a_browser_the_light_stays_off_without_the_rewrite_or_the_api(site_url, kwargs):
    """Without the rewrite the script calls http://0.0.0.0:5001, which is not the site (nothing
    listens there on this machine); with the API failing, the light is off too."""
    if not _port_5001_is_free():
        pytest.skip("something listens on port 5001 here")
    out = _browser_check(site_url(**kwargs), "--expect-attr", "api_status:data-status=error", "--attempts", "1")
    assert out.returncode == 0, out.stdout + out.stderr


# --- the source tree as a whole ------------------------------------------------------------------

def _python_files():
    return sorted(p for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts)


# Distribution of each module the sample imports (not of the standard library, not its own).
DISTRIBUTIONS = {"flask": "flask", "markupsafe": "markupsafe", "jinja2": "jinja2", "werkzeug": "werkzeug",
                 "flask_cors": "flask-cors", "flasgger": "flasgger", "sqlalchemy": "sqlalchemy"}
# What the public AirBnB_clone_v4 repositories' apps import besides (docs/holdout.md): the pins cover
# it, so such a repository deploys by changing flask_app_source_dir alone.
PUBLIC_REPOSITORY_IMPORTS = {"flask_migrate": "flask-migrate", "requests": "requests"}


def _pinned():
    return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower(): line.split("==")[1]
            for line in INVENTORY["flask_app_requirements"]}


def test_requirements_cover_every_import():
    """Only the standard library, the sample's own packages and what the inventory pins
    (flask_app_requirements: the repository has no requirements file), every pin exact. One list
    for every app: each imports models, and models import SQLAlchemy. The database storage's
    module only under `if storage_t == "db"` (its driver, MySQLdb, is Debian's)."""
    pinned = _pinned()
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*", line) for line in INVENTORY["flask_app_requirements"])
    imported = set()
    for path in _python_files():
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for full in names:
                if full == "models.engine.db_storage":
                    assert _db_guarded(node, parents), "%s imports %s unguarded" % (path, full)
                name = full.split(".")[0]
                if name in sys.stdlib_module_names or name in PACKAGES:
                    continue
                imported.add(name)
                assert DISTRIBUTIONS.get(name) in pinned, "%s imports %s, not pinned" % (path, name)
    assert {"flask", "flask_cors", "flasgger", "sqlalchemy"} <= imported
    for name, spec in APPS.items():
        assert "requirements" not in spec, "%s: one list of pins for every app" % name
    for name, distribution in PUBLIC_REPOSITORY_IMPORTS.items():
        assert distribution in pinned, name


def _db_guarded(node, parents):
    """Whether node sits under `if <...>storage_t == "db":` (its body, not its else)."""
    child = node
    while child in parents:
        parent = parents[child]
        if (isinstance(parent, ast.If) and child in parent.body
                and re.fullmatch(r"(models\.)?storage_t == 'db'", ast.unparse(parent.test))):
            return True
        child = parent
    return False


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
