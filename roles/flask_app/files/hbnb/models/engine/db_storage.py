#!/usr/bin/python3
"""Contains class DBStorage: objects kept in a MySQL/MariaDB database.

Used when HBNB_TYPE_STORAGE=db. The connection comes from the environment:

    HBNB_MYSQL_USER  user
    HBNB_MYSQL_PWD   password
    HBNB_MYSQL_HOST  host, or "host:port"
    HBNB_MYSQL_DB    database, optionally with a URL query
    HBNB_ENV         "test": every table is dropped at start

The deployer (berth) passes everything through these four variables, as the
clone reads no other. HBNB_MYSQL_HOST may be "127.0.0.1:3307", and
HBNB_MYSQL_DB may be "hbnb_dev_db?connect_timeout=3&read_timeout=10&write_timeout=10":
the query ends the URL, and SQLAlchemy's mysqldb dialect passes connect_timeout,
read_timeout and write_timeout to MySQLdb.connect as ints. That is how connect
and read timeouts reach an app that reads no timeout variable: a database that
does not answer fails the request (Flask's 500) instead of holding the worker.

Each thread has its own session (scoped_session), removed after each request
by the apps' teardown (close()): the next request starts with a fresh session,
and pool_pre_ping replaces a pooled connection the database has dropped, so the
apps recover by themselves once the database is back.

Nothing here prints or logs the password: the URL is never echoed (no echo=True),
and SQLAlchemy's URL repr masks it ("user:***@host"). The user and the password
are percent-encoded into the URL (SQLAlchemy decodes them), so a password may
hold "@", ":" or "/".
"""
from os import getenv
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

from models.amenity import Amenity
from models.base_model import Base
from models.city import City
from models.place import Place
from models.state import State

classes = {"Amenity": Amenity, "City": City, "Place": Place, "State": State}


class DBStorage:
    """Interacts with the MySQL/MariaDB database."""

    __engine = None
    __session = None

    def __init__(self):
        """Creates the engine (HBNB_ENV=test: drops every table)."""
        HBNB_MYSQL_USER = getenv('HBNB_MYSQL_USER')
        HBNB_MYSQL_PWD = getenv('HBNB_MYSQL_PWD')
        HBNB_MYSQL_HOST = getenv('HBNB_MYSQL_HOST')
        HBNB_MYSQL_DB = getenv('HBNB_MYSQL_DB')
        HBNB_ENV = getenv('HBNB_ENV')
        self.__engine = create_engine('mysql+mysqldb://{}:{}@{}/{}'.
                                      format(quote(HBNB_MYSQL_USER or "", safe=""),
                                             quote(HBNB_MYSQL_PWD or "", safe=""),
                                             HBNB_MYSQL_HOST,
                                             HBNB_MYSQL_DB),
                                      pool_pre_ping=True)
        if HBNB_ENV == "test":
            Base.metadata.drop_all(self.__engine)

    def all(self, cls=None):
        """Returns a dictionary of the objects (only those of cls, a class or
        its name, if given), keyed <class name>.<id>."""
        new_dict = {}
        for name, clss in classes.items():
            if cls is None or cls is clss or cls == name:
                for obj in self.__session.query(clss).all():
                    new_dict[type(obj).__name__ + "." + obj.id] = obj
        return new_dict

    def new(self, obj):
        """Adds the object to the current database session."""
        if obj is not None:
            self.__session.add(obj)

    def save(self):
        """Commits all changes of the current database session."""
        self.__session.commit()

    def delete(self, obj=None):
        """Deletes obj from the current database session if not None."""
        if obj is not None:
            self.__session.delete(obj)

    def reload(self):
        """Creates the missing tables and the (thread-local) session factory."""
        Base.metadata.create_all(self.__engine)
        sess_factory = sessionmaker(bind=self.__engine, expire_on_commit=False)
        self.__session = scoped_session(sess_factory)

    def close(self):
        """Removes the thread's session: the next use starts a fresh one."""
        self.__session.remove()

    def get(self, cls, id):
        """Returns the object of class cls (class or name) with id, or None."""
        name = cls if isinstance(cls, str) else getattr(cls, "__name__", None)
        if name not in classes or cls not in (name, classes[name]):
            return None
        return self.__session.get(classes[name], str(id))

    def count(self, cls=None):
        """Returns the number of objects (of class cls if given)."""
        return len(self.all(cls))
