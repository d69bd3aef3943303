#!/usr/bin/python3
"""Contains class State."""
from sqlalchemy import Column, String

from models.base_model import Base, BaseModel


class State(BaseModel, Base):
    """Representation of a state."""

    __tablename__ = 'states'
    name = Column(String(128), nullable=False)
