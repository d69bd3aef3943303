#!/usr/bin/python3
"""The API's status and statistics."""
from flask import jsonify

from api.v1.views import app_views
from models import storage
from models.amenity import Amenity
from models.state import State


@app_views.route("/status", methods=["GET"], strict_slashes=False)
def status():
    """Returns the status of the API."""
    return jsonify(status="OK")


@app_views.route("/stats", methods=["GET"], strict_slashes=False)
def stats():
    """Returns the number of objects of each type."""
    return jsonify(amenities=storage.count(Amenity),
                   states=storage.count(State))
