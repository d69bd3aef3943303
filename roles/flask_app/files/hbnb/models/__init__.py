#!/usr/bin/python3
"""models: the AirBnB-clone objects and their storage.

``storage`` is the storage engine of the process: FileStorage, objects kept in
the JSON file file.json relative to the working directory (berth runs the apps
from the source root, where that file is a link into the app's state directory).
HBNB_TYPE_STORAGE=db (the clone's DBStorage, MySQL) is not part of this sample.
"""
import os

from models.engine.file_storage import FileStorage

if os.environ.get("HBNB_TYPE_STORAGE") == "db":
    raise RuntimeError(
        "HBNB_TYPE_STORAGE=db: database storage is not part of this sample yet; "
        "unset HBNB_TYPE_STORAGE to use the file storage (file.json)")

storage = FileStorage()
storage.reload()
