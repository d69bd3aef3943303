#!/usr/bin/python3
"""Contains class FileStorage: objects kept in a JSON file.

The path is file.json, relative to the working directory. berth runs the apps
from the read-only source root, where file.json is a symlink into the app's
state directory: save() writes a temporary file next to the link's target and
renames it onto the target, so the link stays a link and a reader never sees
a half-written file.
"""
import json
import os
import stat
import tempfile
import threading

from models.amenity import Amenity
from models.base_model import BaseModel
from models.city import City
from models.place import Place
from models.state import State

classes = {"Amenity": Amenity, "BaseModel": BaseModel, "City": City, "Place": Place,
           "State": State}


class FileStorage:
    """Serializes objects to a JSON file and deserializes them back."""

    # string - path to the JSON file, relative to the working directory
    __file_path = "file.json"
    # dictionary - every object, by <class name>.<id>
    __objects = {}
    # the threads of a gunicorn worker share the objects
    __lock = threading.RLock()

    def all(self, cls=None):
        """Returns a dictionary of the objects (only those of cls if given)."""
        with self.__lock:
            return {key: obj for key, obj in self.__objects.items()
                    if cls is None or cls in (type(obj), type(obj).__name__)}

    def new(self, obj):
        """Adds obj to the objects, with key <obj class name>.id."""
        if obj is not None:
            with self.__lock:
                self.__objects[type(obj).__name__ + "." + obj.id] = obj

    def save(self):
        """Serializes the objects to the JSON file (write, then rename)."""
        with self.__lock:
            json_objects = {key: obj.to_dict()
                            for key, obj in self.__objects.items()}
            path = os.path.realpath(self.__file_path)
            fd, tmp = tempfile.mkstemp(
                prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                dir=os.path.dirname(path))
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(json_objects, f)
                    f.flush()
                    os.fsync(f.fileno())
                if os.path.exists(path):
                    os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def reload(self):
        """Deserializes the JSON file to the objects (no file: no objects)."""
        try:
            with open(self.__file_path, "r", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        objects = {}
        if text.strip():
            for key, value in json.loads(text).items():
                objects[key] = classes[value["__class__"]](**value)
        with self.__lock:
            FileStorage.__objects = objects

    def delete(self, obj=None):
        """Deletes obj from the objects if it is there."""
        if obj is not None:
            with self.__lock:
                self.__objects.pop(type(obj).__name__ + "." + obj.id, None)

    def close(self):
        """Calls reload(): the objects as the JSON file has them."""
        self.reload()

    def get(self, cls, id):
        """Returns the object of class cls (class or name) with id, or None."""
        name = cls if isinstance(cls, str) else getattr(cls, "__name__", None)
        if name not in classes:
            return None
        with self.__lock:
            return self.__objects.get(name + "." + str(id))

    def count(self, cls=None):
        """Returns the number of objects (of class cls if given)."""
        return len(self.all(cls))
