#!/usr/bin/python3
"""Contains class State."""
from models.base_model import BaseModel


class State(BaseModel):
    """Representation of a state."""

    name = ""
