#!/usr/bin/python3
"""models: the AirBnB-clone objects and their storage.

``storage`` is the storage engine of the process, chosen by HBNB_TYPE_STORAGE:

- "db": DBStorage, the objects in a MySQL/MariaDB database (the MySQLdb driver;
  HBNB_MYSQL_USER, HBNB_MYSQL_PWD, HBNB_MYSQL_HOST and HBNB_MYSQL_DB say where,
  see models.engine.db_storage);
- anything else: FileStorage, the objects in the JSON file file.json relative
  to the working directory (berth runs the apps from the source root, where that
  file is a link into the app's state directory).

Like the public repository, the model classes are SQLAlchemy's declarative
classes whichever storage runs (models.base_model imports SQLAlchemy at the
top): every app that imports models needs SQLAlchemy installed, but only the
database storage needs a database driver or a database.

``storage_t`` is set before any model is imported: the dates a model takes
depend on it (see models.base_model.utcnow).
"""
from os import getenv

storage_t = getenv("HBNB_TYPE_STORAGE")

if storage_t == "db":
    from models.engine.db_storage import DBStorage
    storage = DBStorage()
else:
    from models.engine.file_storage import FileStorage
    storage = FileStorage()
storage.reload()
