"""models.engine: the storage engines (FileStorage)."""
