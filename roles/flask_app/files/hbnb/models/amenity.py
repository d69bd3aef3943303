#!/usr/bin/python3
"""Contains class Amenity."""
from models.base_model import BaseModel


class Amenity(BaseModel):
    """Representation of an amenity."""

    name = ""
