#!/usr/bin/python3
"""Starts a Flask web application: the HBNB page (step 3 of web_dynamic).

Routes:
    /3-hbnb/   the page (templates/3-hbnb.html): the states with their cities
               and the amenities from the storage (the filters); an API status
               light and the places, which the page's script asks the API for

Like the public repository, the page exists only at /3-hbnb/, and its script
(static/scripts/3-hbnb.js, with jQuery) calls the API at http://0.0.0.0:5001,
where the exercise ran it. The sandbox inventory maps the site's / onto
/3-hbnb/ and has Nginx rewrite that origin to the site's own, so the page calls
the API through the same host, load balancer and port it was loaded from.

Served by gunicorn as ``web_dynamic.3-hbnb:app`` from the source root. The
page links its CSS and JS relative to itself (../static/...?<cache_id>): from
the site's / that is /static/, which Nginx serves from the release.
"""
import os
import uuid

from flask import Flask, render_template

from models import storage
from models.amenity import Amenity
from models.city import City
from models.state import State

app = Flask(__name__)


@app.teardown_appcontext
def close_storage(error):
    """Closes the storage after each request, failed or not: the file storage
    reloads file.json, the database storage removes the thread's session."""
    storage.close()


def by_name(obj):
    """Sort key: the object's name."""
    return str(obj.name)


@app.route("/3-hbnb/", strict_slashes=False)
def hbnb():
    """Displays the HBNB page: the states with their cities, and the
    amenities, each sorted by name."""
    cities = {}
    for city in sorted(storage.all(City).values(), key=by_name):
        cities.setdefault(city.state_id, []).append(city)
    return render_template("3-hbnb.html",
                           states=sorted(storage.all(State).values(), key=by_name),
                           cities=cities,
                           amenities=sorted(storage.all(Amenity).values(), key=by_name),
                           cache_id=uuid.uuid4())


if __name__ == "__main__":
    # Development only: berth serves the app with gunicorn on the registry's entry.
    # No default port on purpose: 5000 is the Datadog agent's expvar port.
    app.run(host="127.0.0.1", port=int(os.environ["BERTH_PORT"]))
