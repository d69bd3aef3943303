#!/usr/bin/python3
"""Starts a Flask web application.

Routes:
    /    returns "Hello HBNB!"

Like the public exercise: only /, and no health route of its own. The sandbox
inventory (inventories/sandbox/group_vars/airbnb_clone/flask_apps.yml) routes
the site's /airbnb-onepage/ onto this /, gates the app on / and berth proves
from /proc which release answers.
"""
import os

from flask import Flask

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY") or None


@app.route("/", strict_slashes=False)
def hello_hbnb():
    """Displays 'Hello HBNB!'."""
    return "Hello HBNB!"


if __name__ == "__main__":
    # Development only: berth serves the app with gunicorn on its registry entry.
    # No default port on purpose: 5000 is the Datadog agent's expvar port (the first outage).
    app.run(host="127.0.0.1", port=int(os.environ["BERTH_PORT"]))
