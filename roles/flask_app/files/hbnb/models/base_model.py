#!/usr/bin/python3
"""Contains class BaseModel, from which every model class derives."""
import uuid
from datetime import datetime, timezone

import models

DATES = ("created_at", "updated_at")


class BaseModel:
    """The attributes and methods every model shares."""

    def __init__(self, *args, **kwargs):
        """Initializes a new object, or rebuilds one from its to_dict() form."""
        self.id = str(uuid.uuid4())
        self.created_at = datetime.now(timezone.utc)
        self.updated_at = self.created_at
        for key, value in kwargs.items():
            if key == "__class__":
                continue
            if key in DATES and isinstance(value, str):
                value = datetime.fromisoformat(value)
            setattr(self, key, value)

    def __str__(self):
        """String representation of the object."""
        return "[{:s}] ({:s}) {}".format(type(self).__name__, self.id,
                                         self.__dict__)

    def save(self):
        """Updates updated_at and writes the object to the storage."""
        self.updated_at = datetime.now(timezone.utc)
        models.storage.new(self)
        models.storage.save()

    def to_dict(self):
        """Returns a dictionary of the attributes, with __class__ and ISO dates."""
        new_dict = self.__dict__.copy()
        for key in DATES:
            if isinstance(new_dict.get(key), datetime):
                new_dict[key] = new_dict[key].isoformat()
        new_dict["__class__"] = type(self).__name__
        return new_dict

    def delete(self):
        """Deletes the object from the storage."""
        models.storage.delete(self)
