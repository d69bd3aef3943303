#!/usr/bin/python3
"""Contains class City: a city of a State (state_id)."""
from sqlalchemy import Column, String

from models.base_model import Base, BaseModel


class City(BaseModel, Base):
    """Representation of a city.

    state_id names the State; the API deletes a state's cities with it
    (api.v1.views.states), so no foreign key constraint is declared.
    """

    __tablename__ = 'cities'
    state_id = Column(String(60), nullable=False, index=True)
    name = Column(String(128), nullable=False)
