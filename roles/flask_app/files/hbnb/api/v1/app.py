#!/usr/bin/python3
"""Starts the API: a Flask application serving the app_views blueprint.

Routes (all under /api/v1, trailing slash optional):
    /status                  JSON {"status": "OK"}
    /stats                   JSON number of objects by type
    /states, /states/<id>    the State objects (GET, POST, PUT, DELETE)
    /places_search           POST: the places in the states and cities listed
Errors are JSON: 404 {"error": "Not found"}, 400 {"error": <message>}.

Like the public repository, the API allows cross-origin requests to /api/v1/*
(flask-cors: its front end called it on another port) and describes itself with
flasgger (Swagger UI at /apidocs/, the specification at /apispec_1.json; Nginx
routes only /api/ here, so neither is public).

Served by gunicorn as ``api.v1.app:app`` from the source root (the working
directory, where the file storage's file.json is). With HBNB_TYPE_STORAGE=db the
objects are in MySQL (models.engine.db_storage): a request that meets a database
error answers Flask's 500, and the next one starts with a fresh session.
"""
import os

from flasgger import Swagger
from flask import Flask, jsonify
from flask_cors import CORS

from api.v1.views import app_views
from models import storage

app = Flask(__name__)
# Before the blueprint is registered: its rules take the map's default.
app.url_map.strict_slashes = False
app.register_blueprint(app_views, url_prefix="/api/v1")
CORS(app, resources={r"/api/v1/*": {"origins": "*"}})
app.config["SWAGGER"] = {"title": "AirBnB clone RESTful API", "uiversion": 3}
Swagger(app)


@app.teardown_appcontext
def close_storage(error):
    """Closes the storage after each request, failed or not: the file storage
    reloads file.json, the database storage removes the thread's session."""
    storage.close()


@app.errorhandler(404)
def not_found(error):
    """Returns a JSON 404."""
    return jsonify(error="Not found"), 404


@app.errorhandler(400)
def bad_request(error):
    """Returns a JSON 400 with the error's message ("Not a JSON", ...)."""
    return jsonify(error=error.description), 400


if __name__ == "__main__":
    # Run by hand only (the clone's defaults); berth serves the app with gunicorn.
    app.run(host=os.environ.get("HBNB_API_HOST") or "0.0.0.0",
            port=int(os.environ.get("HBNB_API_PORT") or "5000"),
            threaded=True)
