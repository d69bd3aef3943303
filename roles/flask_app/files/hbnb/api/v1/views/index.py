#!/usr/bin/python3
"""The API's status and statistics."""
from flask import jsonify

from api.v1.views import app_views
from models import storage
from models.amenity import Amenity
from models.city import City
from models.place import Place
from models.state import State


@app_views.route("/status", methods=["GET"], strict_slashes=False)
def status():
    """Returns the status of the API.
    ---
    tags: [index]
    responses:
      200:
        description: 'the API answers {"status": "OK"}'
    """
    return jsonify(status="OK")


@app_views.route("/stats", methods=["GET"], strict_slashes=False)
def stats():
    """Returns the number of objects of each type.
    ---
    tags: [index]
    responses:
      200:
        description: '{"amenities": n, "cities": n, "places": n, "states": n}'
    """
    return jsonify(amenities=storage.count(Amenity),
                   cities=storage.count(City),
                   places=storage.count(Place),
                   states=storage.count(State))
