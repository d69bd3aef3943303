"""web_flask: the sample AirBnB-clone Flask app that berth deploys by default."""
