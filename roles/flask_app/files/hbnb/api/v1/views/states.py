#!/usr/bin/python3
"""The API's routes for State objects."""
from flask import abort, jsonify, request

from api.v1.views import app_views
from models import storage
from models.city import City
from models.place import Place
from models.state import State

IGNORED = ("id", "created_at", "updated_at", "__class__")


def attributes(data):
    """Returns the request's attributes an object may take."""
    return {key: value for key, value in data.items()
            if key not in IGNORED and not key.startswith("_")
            and not callable(getattr(State, key, None))}


def json_body():
    """Returns the request's JSON object, or aborts with 400 Not a JSON."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="Not a JSON")
    return data


@app_views.route("/states", methods=["GET"], strict_slashes=False)
def get_states():
    """Returns the list of all State objects."""
    return jsonify([state.to_dict() for state in storage.all(State).values()])


@app_views.route("/states/<state_id>", methods=["GET"], strict_slashes=False)
def get_state(state_id):
    """Returns a State object, or 404."""
    state = storage.get(State, state_id)
    if state is None:
        abort(404)
    return jsonify(state.to_dict())


@app_views.route("/states/<state_id>", methods=["DELETE"],
                 strict_slashes=False)
def delete_state(state_id):
    """Deletes a State object, its cities and their places; returns an empty
    dictionary."""
    state = storage.get(State, state_id)
    if state is None:
        abort(404)
    cities = [city for city in storage.all(City).values()
              if city.state_id == state.id]
    city_ids = {city.id for city in cities}
    for place in storage.all(Place).values():
        if place.city_id in city_ids:
            storage.delete(place)
    for city in cities:
        storage.delete(city)
    storage.delete(state)
    storage.save()
    return jsonify({}), 200


@app_views.route("/states", methods=["POST"], strict_slashes=False)
def post_state():
    """Creates a State from the JSON body (name required); returns it, 201."""
    data = json_body()
    if "name" not in data:
        abort(400, description="Missing name")
    state = State(**attributes(data))
    state.save()
    return jsonify(state.to_dict()), 201


@app_views.route("/states/<state_id>", methods=["PUT"], strict_slashes=False)
def put_state(state_id):
    """Updates a State from the JSON body (id and dates ignored); returns it."""
    state = storage.get(State, state_id)
    if state is None:
        abort(404)
    for key, value in attributes(json_body()).items():
        setattr(state, key, value)
    state.save()
    return jsonify(state.to_dict()), 200
