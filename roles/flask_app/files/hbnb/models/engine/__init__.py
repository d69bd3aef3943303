"""models.engine: the storage engines (FileStorage, and DBStorage when HBNB_TYPE_STORAGE=db)."""
