#!/usr/bin/python3
"""The app_views blueprint: every route of the API (api.v1.app mounts it at /api/v1)."""
from flask import Blueprint

app_views = Blueprint("app_views", __name__)

from api.v1.views import index, places, states  # noqa: E402,F401  (they add their routes to app_views)
