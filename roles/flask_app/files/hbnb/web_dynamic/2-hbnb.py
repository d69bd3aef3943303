#!/usr/bin/python3
"""Starts a Flask web application: the HBNB front page.

Routes:
    /, /2-hbnb/   the page (2-hbnb.html): the states from the storage, and
                  an API status light that the page's script turns on when
                  /api/v1/status/ answers OK on the same host

Served by gunicorn as ``web_dynamic.2-hbnb:app`` from the source root. The
page's CSS and JS are this app's /static/ files, linked with ?<cache_id>.
"""
import os
import uuid

from flask import Flask, render_template

from models import storage
from models.state import State

app = Flask(__name__)


@app.teardown_appcontext
def close_storage(error):
    """Closes the storage after each request, failed or not: the file storage
    reloads file.json, the database storage removes the thread's session."""
    storage.close()


@app.route("/", strict_slashes=False)
@app.route("/2-hbnb/", strict_slashes=False)
def hbnb():
    """Displays the HBNB page with the states sorted by name."""
    states = sorted(storage.all(State).values(), key=lambda s: str(s.name))
    return render_template("2-hbnb.html", states=states,
                           cache_id=uuid.uuid4())


if __name__ == "__main__":
    # Development only: berth serves the app with gunicorn on the registry's entry.
    # No default port on purpose: 5000 is the Datadog agent's expvar port.
    app.run(host="127.0.0.1", port=int(os.environ["BERTH_PORT"]))
