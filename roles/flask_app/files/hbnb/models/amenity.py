#!/usr/bin/python3
"""Contains class Amenity."""
import models
from models.base_model import Base, BaseModel

if models.storage_t == "db":
    from sqlalchemy import Column, String


class Amenity(BaseModel, Base):
    """Representation of an amenity."""

    if models.storage_t == "db":
        __tablename__ = 'amenities'
        name = Column(String(128), nullable=False)
    else:
        name = ""
