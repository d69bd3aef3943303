"""What the test suite's caches (berth_test_ansiballz.py, berth_test_templates.py) share: where
their entries live, how an entry is read and written, and how a cache patches the module it
speeds up once that module is imported."""

import os
import sys

ROOT = os.environ.get("BERTH_TEST_CACHE", "")


def read(path, load):
    """load(handle) of the entry at path; None when it is missing or unreadable (a miss)."""
    try:
        with open(path, "rb") as handle:
            return load(handle)
    except Exception:  # noqa: BLE001  anything unreadable is a miss: the work is done again
        return None


def write(path, dump, value):
    """dump(value, handle) into path atomically (a reader never sees half an entry); quiet when
    it cannot: an entry not written only costs the next process the work."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as handle:
            dump(value, handle)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001
        try:
            os.unlink(tmp)
        except OSError:
            pass


_pending = {}  # module name -> patch(module), for modules not imported yet


class _Finder:
    """Runs a module's patch right after the module is first imported."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        patch = _pending.pop(fullname, None)
        if patch is None:
            return None
        if not _pending:
            sys.meta_path.remove(_Finder)
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            # One loader may serve many modules (a zip's): the ones this module imports while it
            # runs, and any later, are run as they would be; only this one is patched.
            if module.__name__ != fullname:
                return exec_module(module)
            try:
                del spec.loader.exec_module
            except AttributeError:
                pass
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def when_imported(name, patch):
    """patch(module) now if the module named name is imported, else right after its import."""
    if name in sys.modules:
        patch(sys.modules[name])
        return
    _pending[name] = patch
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)


def payload_bytecode():
    """The test hosts' bytecode cache for module payloads (tools/image/berth_test_bytecode.py),
    in this process, kept under ROOT/bytecode: it only acts on sources imported from a payload
    zip, that is in a module run on the controller."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(os.path.dirname(here), "image", "berth_test_bytecode.py")
    directory = os.path.join(ROOT, "bytecode")
    try:
        os.makedirs(directory, exist_ok=True)
        spec = importlib.util.spec_from_file_location("berth_test_bytecode", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001  no cache: modules compile as without it
        return
    module.CACHE = directory
