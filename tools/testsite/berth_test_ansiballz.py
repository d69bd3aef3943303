"""`make test` only: the module payloads (AnsiballZ) packed once for all of the suite's Ansible runs.

Before Ansible sends a module to a host, each ``ansible-playbook`` process packs it: it parses
the module and, one by one, every module_utils file the module imports, and zips them (0.1-0.3 s
of controller CPU per module). It keeps the result only for its own run, and `make test` starts
hundreds of runs that pack the same modules again. With BERTH_TEST_CACHE set (sitecustomize.py),
when Ansible's ``module_common`` is imported, its ``recursive_finder`` (the parse and the
module_utils part of the zip) keeps what it wrote in CACHE, keyed by the module's name, source
and path, the module_utils search paths and the versions of Python and ansible-core. A kept entry
is used only if every file it came from still has the bytes it had (each is read and compared),
so a module_util changed between two runs is packed anew. Anything else (a debugger or coverage
extension, an unreadable entry) packs as without this file.
"""

import os
import pickle
import sys

import berth_test_cache as cache

CACHE = os.path.join(cache.ROOT, "ansiballz")
MODULE = "ansible.executor.module_common"


def key(module_common, name, module_fqn, module_data):
    import hashlib

    from ansible.release import __version__

    origin = module_common.Origin.get_tag(module_data)
    mu_paths = [p for p in module_common.module_utils_loader._get_paths(subdirs=False) if os.path.isdir(p)]
    try:
        from ansible.utils.collection_loader import AnsibleCollectionConfig

        collection_paths = list(AnsibleCollectionConfig.collection_paths)
    except Exception:  # noqa: BLE001  no collection loader: packed as without the cache
        return None
    parts = [sys.version, __version__, name, module_fqn, str(origin.path if origin else None), repr(mu_paths),
             repr(collection_paths), module_common._MODULE_UTILS_PATH]
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + bytes(module_data))
    return digest.hexdigest()


def _digest(path):
    """sha256 of the file's bytes, None when it cannot be read."""
    import hashlib

    data = cache.read(path, lambda handle: handle.read())
    return None if data is None else hashlib.sha256(data).hexdigest()


def _same_sources(kept):
    """kept (members, metadata) if every file a member came from still has the bytes it had when
    the member was packed, else None. (A member's data is not always its file's bytes: Ansible
    writes an empty `__init__.py` for a package whose file has content.)"""
    try:
        for _name, _data, source, digest in kept[0]:
            if source is not None and _digest(source) != digest:
                return None
    except (TypeError, ValueError):  # nothing kept, or an entry of another shape: a miss
        return None
    return kept


def patch(module_common):
    original = module_common.recursive_finder
    if getattr(original, "_berth_test_ansiballz_cache", False):
        return

    def recursive_finder(name, module_fqn, module_data, zf, date_time, extension_manager):
        if extension_manager.extension_names or extension_manager.debugger_enabled:
            return original(name, module_fqn, module_data, zf, date_time, extension_manager)
        entry = key(module_common, name, module_fqn, module_data)
        if entry is None:
            return original(name, module_fqn, module_data, zf, date_time, extension_manager)
        path = os.path.join(CACHE, entry)
        kept = _same_sources(cache.read(path, pickle.load))
        if kept is not None:
            members, metadata = kept
            for member, data, _source, _digest_kept in members:
                zf.writestr(module_common._make_zinfo(member, date_time, zf=zf), data)
            return metadata
        members = []
        writestr = zf.writestr

        def recording(zinfo, data, *args, **kwargs):
            origin = module_common.Origin.get_tag(data)
            source = origin.path if origin and origin.path else None
            members.append((zinfo.filename, bytes(data) if isinstance(data, (bytes, bytearray)) else
                            str(data).encode("utf-8"), source, _digest(source) if source else None))
            return writestr(zinfo, data, *args, **kwargs)

        zf.writestr = recording
        try:
            metadata = original(name, module_fqn, module_data, zf, date_time, extension_manager)
        finally:
            del zf.writestr
        cache.write(path, pickle.dump, (members, metadata))
        return metadata

    recursive_finder._berth_test_ansiballz_cache = True
    module_common.recursive_finder = recursive_finder
