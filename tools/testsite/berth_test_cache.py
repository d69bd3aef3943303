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


def load_tool(name, *path):
    """The module of tools/<path...> (tools/ is no package), loaded once per process as `name`."""
    if name not in sys.modules:
        import importlib.util

        tools = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        spec = importlib.util.spec_from_file_location(name, os.path.join(tools, *path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def payload_bytecode():
    """The test hosts' bytecode cache for module payloads (tools/image/berth_test_bytecode.py),
    in this process, kept under ROOT/bytecode: it only acts on sources imported from a payload
    zip, that is in a module run on the controller."""
    directory = os.path.join(ROOT, "bytecode")
    try:
        os.makedirs(directory, exist_ok=True)
        module = load_tool("berth_test_bytecode", "image", "berth_test_bytecode.py")
    except Exception:  # noqa: BLE001  no cache: modules compile as without it
        return
    module.CACHE = directory
