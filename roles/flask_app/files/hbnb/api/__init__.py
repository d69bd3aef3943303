"""api: the AirBnB-clone RESTful API (version v1 in api.v1)."""
