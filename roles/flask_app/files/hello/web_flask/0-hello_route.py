#!/usr/bin/python3
"""Starts a Flask web application: berth's one-app sample (flask_app_source_dir's default).

Routes:
    /                  returns "Hello HBNB!"
    /airbnb-onepage/   returns "Hello HBNB!"
    /health            JSON {status, release, port} for the deploy health gate

The AirBnB clone's hello route plus /health, which echoes the release: the
strongest gate. The four-app repository shape, without /health or a
requirements file, is roles/flask_app/files/hbnb.

Served by gunicorn as ``web_flask.0-hello_route:app``; berth passes the
release id and the bound port through the environment (BERTH_RELEASE,
BERTH_PORT), written by the flask_app role into the unit's EnvironmentFile.
"""
import os

from flask import Flask, jsonify

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY") or None


@app.route("/", strict_slashes=False)
def hello_hbnb():
    """Displays 'Hello HBNB!'."""
    return "Hello HBNB!"


@app.route("/airbnb-onepage/", strict_slashes=False)
def airbnb_onepage():
    """Displays 'Hello HBNB!' (the route of the original exercise)."""
    return "Hello HBNB!"


@app.route("/health", strict_slashes=False)
def health():
    """Reports the release this process serves and the port it is bound to."""
    port = os.environ.get("BERTH_PORT", "")
    return jsonify(
        status="ok",
        release=os.environ.get("BERTH_RELEASE", "unknown"),
        port=int(port) if port.isdigit() else None,
    )


if __name__ == "__main__":
    # Development only: berth serves the app with gunicorn on the registry's app_http entry.
    # No default port on purpose: 5000 is the Datadog agent's expvar port (the first outage).
    app.run(host="127.0.0.1", port=int(os.environ["BERTH_PORT"]))
