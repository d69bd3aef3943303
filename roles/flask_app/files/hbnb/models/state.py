#!/usr/bin/python3
"""Contains class State."""
import models
from models.base_model import Base, BaseModel

if models.storage_t == "db":
    from sqlalchemy import Column, String


class State(BaseModel, Base):
    """Representation of a state."""

    if models.storage_t == "db":
        __tablename__ = 'states'
        name = Column(String(128), nullable=False)
    else:
        name = ""
