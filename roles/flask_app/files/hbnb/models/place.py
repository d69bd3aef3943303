#!/usr/bin/python3
"""Contains class Place: a place to stay, in a City (city_id)."""
from sqlalchemy import Column, Integer, String

from models.base_model import Base, BaseModel


class Place(BaseModel, Base):
    """Representation of a place (the sample's places have no owner, reviews
    or amenities)."""

    __tablename__ = 'places'
    city_id = Column(String(60), nullable=False, index=True)
    name = Column(String(128), nullable=False)
    description = Column(String(1024), nullable=True)
    number_rooms = Column(Integer, nullable=False, default=0)
    number_bathrooms = Column(Integer, nullable=False, default=0)
    max_guest = Column(Integer, nullable=False, default=0)
    price_by_night = Column(Integer, nullable=False, default=0)

    def __init__(self, *args, **kwargs):
        """Initializes a place; the counts and the price default to 0 in both
        storages (the database would fill them in only when the row is written)."""
        for key in ("number_rooms", "number_bathrooms", "max_guest", "price_by_night"):
            kwargs.setdefault(key, 0)
        super().__init__(*args, **kwargs)
