#!/usr/bin/python3
"""Contains class Amenity."""
from sqlalchemy import Column, String

from models.base_model import Base, BaseModel


class Amenity(BaseModel, Base):
    """Representation of an amenity."""

    __tablename__ = 'amenities'
    name = Column(String(128), nullable=False)
