"""web_flask: the one-app sample berth deploys by default (the AirBnB clone's hello route, plus
a /health route that echoes the release: the strongest gate)."""
