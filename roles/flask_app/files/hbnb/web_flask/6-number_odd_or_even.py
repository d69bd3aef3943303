#!/usr/bin/python3
"""Starts a Flask web application (the web_flask exercises, routes 0 to 6).

Routes:
    /                              returns "Hello HBNB!"
    /hbnb                          returns "HBNB"
    /c/<text>                      returns "C " followed by text (_ -> space)
    /python/, /python/<text>       returns "Python " followed by text (default "is cool")
    /number/<int:n>                returns "n is a number"
    /number_template/<int:n>       HTML page with H1 "Number: n"
    /number_odd_or_even/<int:n>    HTML page with H1 "Number: n is even|odd"

Served by gunicorn as ``web_flask.6-number_odd_or_even:app``; Nginx routes
/airbnb-dynamic/ here with the prefix stripped. The text routes escape their
input (the exercise returns it raw, a reflected XSS).
"""
import os

from flask import Flask, render_template
from markupsafe import escape

app = Flask(__name__)


@app.route("/", strict_slashes=False)
def hello_hbnb():
    """Displays 'Hello HBNB!'."""
    return "Hello HBNB!"


@app.route("/hbnb", strict_slashes=False)
def hbnb():
    """Displays 'HBNB'."""
    return "HBNB"


@app.route("/c/<text>", strict_slashes=False)
def c_text(text):
    """Displays 'C ' followed by text, underscores replaced by spaces."""
    return "C " + escape(text.replace("_", " "))


@app.route("/python/", strict_slashes=False)
@app.route("/python/<text>", strict_slashes=False)
def python_text(text="is cool"):
    """Displays 'Python ' followed by text, underscores replaced by spaces."""
    return "Python " + escape(text.replace("_", " "))


@app.route("/number/<int:n>", strict_slashes=False)
def number(n):
    """Displays 'n is a number' only if n is an integer."""
    return "{:d} is a number".format(n)


@app.route("/number_template/<int:n>", strict_slashes=False)
def number_template(n):
    """Displays an HTML page with 'Number: n' only if n is an integer."""
    return render_template("5-number.html", n=n)


@app.route("/number_odd_or_even/<int:n>", strict_slashes=False)
def number_odd_or_even(n):
    """Displays an HTML page telling whether the integer n is even or odd."""
    return render_template("6-number_odd_or_even.html", n=n,
                           parity="even" if n % 2 == 0 else "odd")


if __name__ == "__main__":
    # Development only: berth serves the app with gunicorn on the registry's entry.
    # No default port on purpose: 5000 is the Datadog agent's expvar port.
    app.run(host="127.0.0.1", port=int(os.environ["BERTH_PORT"]))
