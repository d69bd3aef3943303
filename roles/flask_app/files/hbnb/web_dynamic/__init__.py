"""web_dynamic: the AirBnB-clone front page that asks the API (api.v1) for its data."""
