"""api.v1: version 1 of the API; the Flask app is api.v1.app:app."""
