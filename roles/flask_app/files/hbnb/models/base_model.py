#!/usr/bin/python3
"""Contains class BaseModel, from which every model class derives, and Base,
SQLAlchemy's declarative base of every table.

As in the public repository, SQLAlchemy is imported here whatever the storage:
the model classes are mapped to their tables in both storages, and the file
storage simply never opens a database. BaseModel carries the columns every
table shares. With the database storage the dates are naive UTC (what a MySQL
DATETIME column holds), kept to the microsecond; with the file storage they are
aware UTC dates.
"""
import uuid
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import declarative_base

import models

Base = declarative_base()

# DATETIME(6) on MySQL/MariaDB: a bare DATETIME drops (MariaDB) or rounds (MySQL)
# the microseconds, and an object read back would not match the one saved.
DATETIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
DATES = ("created_at", "updated_at")


def utcnow():
    """The current time in UTC: aware for the file storage, naive for the database."""
    now = datetime.now(timezone.utc)
    return now.replace(tzinfo=None) if models.storage_t == "db" else now


class BaseModel:
    """The attributes and methods every model shares (a mixin: each model
    class derives from BaseModel and Base, and gets a copy of these columns)."""

    id = Column(String(60), primary_key=True)
    created_at = Column(DATETIME, default=utcnow)
    updated_at = Column(DATETIME, default=utcnow)

    def __init__(self, *args, **kwargs):
        """Initializes a new object, or rebuilds one from its to_dict() form."""
        self.id = str(uuid.uuid4())
        self.created_at = utcnow()
        self.updated_at = self.created_at
        for key, value in kwargs.items():
            if key == "__class__":
                continue
            if key in DATES and isinstance(value, str):
                value = datetime.fromisoformat(value)
            if (key in DATES and models.storage_t == "db"
                    and isinstance(value, datetime) and value.tzinfo is not None):
                value = value.astimezone(timezone.utc).replace(tzinfo=None)
            setattr(self, key, value)

    def __str__(self):
        """String representation of the object."""
        return "[{:s}] ({:s}) {}".format(type(self).__name__, self.id,
                                         self.to_dict())

    def save(self):
        """Updates updated_at and writes the object to the storage."""
        self.updated_at = utcnow()
        models.storage.new(self)
        models.storage.save()

    def to_dict(self):
        """Returns a dictionary of the attributes, with __class__ and ISO dates
        (without SQLAlchemy's _sa_instance_state)."""
        new_dict = self.__dict__.copy()
        new_dict.pop("_sa_instance_state", None)
        for key in DATES:
            if isinstance(new_dict.get(key), datetime):
                new_dict[key] = new_dict[key].isoformat()
        new_dict["__class__"] = type(self).__name__
        return new_dict

    def delete(self):
        """Deletes the object from the storage."""
        models.storage.delete(self)
