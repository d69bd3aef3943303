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
import textwrap
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
    assert api.get("/api/v1/stats").get_json() == {"amenities": 0, "states": 0}
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
    assert api.get("/api/v1/stats/").get_json() == {"amenities": 0, "states": 2}

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


def test_db_front_page_lists_the_states(db):
    api = client("api.v1.app:app")
    post_state(api, "Texas")
    post_state(api, "Arizona")
    page = client("web_dynamic.2-hbnb:app").get("/").get_data(as_text=True)
    states = re.search(r'<ul id="states">(.*?)</ul>', page, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", states) == ["Arizona", "Texas"]


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


def test_the_file_storage_apps_never_import_sqlalchemy(workdir):
    """The other apps run with the file storage, in venvs without SQLAlchemy: with sqlalchemy made
    unimportable, every app imports and the API stores a State in file.json."""
    code = textwrap.dedent("""
        import importlib, json, sys
        sys.modules["sqlalchemy"] = None  # `import sqlalchemy` now raises ImportError
        apps = [importlib.import_module(m).app for m in sys.argv[1:]]
        response = apps[2].test_client().post("/api/v1/states", json={"name": "Ohio"})
        assert response.status_code == 201, response.get_data(as_text=True)
        assert apps[3].test_client().get("/").status_code == 200
        import models
        print(json.dumps([models.storage_t, type(models.storage).__name__, models.base_model.Base.__name__,
                          sorted(m for m in sys.modules if m.startswith("sqlalchemy") and sys.modules[m])]))
    """)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HBNB_")}
    env["PYTHONPATH"] = str(SOURCE)
    out = subprocess.run([sys.executable, "-B", "-c", code] + [t.partition(":")[0] for t in TARGETS],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [None, "FileStorage", "object", []]
    assert "Ohio" in (workdir / "file.json").read_text()


def test_db_storage_needs_sqlalchemy(workdir):
    """With HBNB_TYPE_STORAGE=db, SQLAlchemy missing is an ImportError naming it, at import."""
    code = "import sys; sys.modules['sqlalchemy'] = None; import models"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HBNB_")}
    env.update(PYTHONPATH=str(SOURCE), HBNB_TYPE_STORAGE="db")
    out = subprocess.run([sys.executable, "-B", "-c", code], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "sqlalchemy" in out.stderr.splitlines()[-1]


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


DB_ONLY = ("sqlalchemy", "models.engine.db_storage")  # imported with HBNB_TYPE_STORAGE=db only


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


def test_requirements_cover_every_import():
    """Only the standard library, the sample's own packages and what the inventory pins
    (flask_app_requirements: the repository has no requirements file). SQLAlchemy only for the
    database storage: imported under `if storage_t == "db"` (or by db_storage.py, itself imported
    so), and pinned by every app the inventory runs with HBNB_TYPE_STORAGE=db."""
    pinned = {line.split("==")[0].lower() for line in _inventory()["flask_app_requirements"] if "==" in line}
    distribution = {"flask": "flask", "markupsafe": "markupsafe", "jinja2": "jinja2", "werkzeug": "werkzeug"}
    db_only = []
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
                if full.split(".")[0] in DB_ONLY or full in DB_ONLY:
                    if path != SOURCE / "models/engine/db_storage.py":
                        assert _db_guarded(node, parents), "%s imports %s unguarded" % (path, full)
                    db_only.append(full)
                    continue
                name = full.split(".")[0]
                if name in sys.stdlib_module_names or name in PACKAGES:
                    continue
                assert distribution.get(name) in pinned, "%s imports %s, not pinned" % (path, name)
    assert "models.engine.db_storage" in db_only and "sqlalchemy" in db_only
    inventory = _inventory()
    for name, spec in inventory["flask_apps"].items():
        if (spec.get("env") or {}).get("HBNB_TYPE_STORAGE") == "db":
            requirements = spec.get("requirements") or inventory["flask_app_requirements"]
            assert any(re.match(r"(?i)sqlalchemy==", line) for line in requirements), name


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
