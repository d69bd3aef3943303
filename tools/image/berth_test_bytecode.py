"""Test hosts only: a bytecode cache for the Python sources of Ansible's module payloads.

Every module run starts a fresh ``python3`` on the host, which imports the module and its
module_utils (``ansible.module_utils.basic`` and the rest, berth's own among them) from the
payload's zip file. Python's zipimport never writes bytecode, so each run compiles all of
them again: about 60 ms of a ``stat`` run's 170 ms here, more for modules that import more.
The test-host images (tools/build-image.sh) load this module at every interpreter start
(``berth-test-bytecode.pth`` in dist-packages) and keep the compiled code of each payload
source in CACHE, keyed by the source's path inside the zip, its bytes and the interpreter's
cache tag: a source that differs by one byte compiles anew. Code loaded from the cache is
renamed to the path of the zip the run extracted, so tracebacks read as without it.

Only root writes CACHE (0755, root): a module run as another user reads it, or compiles as
without the cache. Anything unexpected (no CACHE, an unreadable or truncated entry) falls
back to compiling. Production hosts do not have this: berth itself never installs it, and
nothing it deploys depends on it; the execution environment and the bench's hosts remove it
(docs/performance.md, "Module runs on the test hosts compile once").
"""

import sys
import zipimport

CACHE = "/var/cache/berth-test-bytecode"
# Payload zips are <tmp>/ansible_<module>_payload_<random>/ansible_<module>_payload.zip.
PAYLOAD = "_payload.zip"

_compile_source = zipimport._compile_source


def _renamed(code, filename):
    """code, and every code object nested in it, with co_filename set to filename."""
    consts = tuple(_renamed(const, filename) if isinstance(const, type(code)) else const
                   for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def cache_path(pathname, source):
    """The cache entry of source, read from pathname inside a payload zip; None outside one."""
    archive, sep, inner = pathname.partition(PAYLOAD + "/")
    if not sep or not archive:
        return None
    import hashlib

    key = hashlib.sha256(inner.encode("utf-8", "surrogateescape") + b"\0" + bytes(source)).hexdigest()
    return "%s/%s.%s" % (CACHE, key, sys.implementation.cache_tag)


def load(path, pathname):
    """The cached code at path, renamed to pathname; None when there is none to use."""
    import marshal

    try:
        with open(path, "rb") as handle:
            code = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return _renamed(code, pathname) if isinstance(code, type(_renamed.__code__)) else None


def store(path, code):
    """Write code to path atomically (a reader never sees half an entry); quiet when it cannot."""
    import marshal
    import os

    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "wb") as handle:
            marshal.dump(code, handle)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# zipimport asks for each module's code twice (once for its file name, once to run it): the
# second time gets the first's code object, in the same process.
_seen = {}


def compile_source(pathname, source):
    """zipimport's _compile_source, through the cache for the sources of payload zips."""
    seen = _seen.get(pathname)
    if seen is not None and seen[0] == source:
        return seen[1]
    path = cache_path(pathname, source)
    if path is None:
        return _compile_source(pathname, source)
    code = load(path, pathname)
    if code is None:
        code = _compile_source(pathname, source)
        store(path, code)
    _seen[pathname] = (source, code)
    return code


zipimport._compile_source = compile_source
