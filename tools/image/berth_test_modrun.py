"""Test hosts only: Ansible's module runs forked from a process that imported the standard library once.

A module run is a fresh ``python3`` that reads Ansible's module wrapper from its standard input
(pipelining) and imports, before the module does anything, about 60 standard-library modules
(typing, logging, socket, dataclasses, ...): about half of a ``stat`` run's 120 ms of CPU here.
On the test-host images (tools/build-image.sh) two pieces cut that out:

- SERVER: ``berth-test-modrun.service`` runs this file. It imports PRELOAD once, listens on
  SOCKET (root only) and, for each request, forks a child that runs the wrapper exactly as
  ``python3`` would: the client's standard streams (passed as file descriptors), working
  directory, environment, umask and ``sys.path``; a fresh ``__main__``; uncaught exceptions
  printed and exit status 1; the child's exit status or signal reported back.
- CLIENT: ``berth-test-modrun.pth`` calls ``client()`` at every interpreter start. It acts only for
  a plain ``python3`` run as root that reads its program from a pipe, and only hands the program
  to SERVER when it is Ansible's module wrapper; then it exits with the child's status (or dies by
  its signal). Anything else (another program, no SERVER, an error) runs as without this file:
  the program read from the pipe is given back on a memory file as standard input to the same
  command line.

Nothing of Ansible is preloaded: the payload's own modules (``ansible.module_utils`` and berth's
module_utils) are imported from the run's zip in each child, as without this file. Production
hosts do not have it: berth never installs it, the execution environment and the bench's hosts
remove it (docs/performance.md, "Module runs fork from a warm interpreter; the suite's processes
share packing and compiling").
"""

import os
import sys

SOCKET = "/run/berth-test-modrun.sock"
# The first lines of every module wrapper of ansible-core (pipelined or not).
MARK = b"\n_ANSIBALLZ_WRAPPER = True\n"
# What a module run imports from the standard library before and while its module runs
# (python3 -X importtime of stat, copy, command, systemd_service and berth's modules).
PRELOAD = (
    "__future__ argparse array ast base64 binascii bisect builtins bz2 calendar collections "
    "collections.abc contextlib copy copyreg csv ctypes dataclasses datetime decimal encodings.cp437 "
    "encodings.idna enum errno fcntl fnmatch functools gettext glob grp hashlib heapq hmac "
    "importlib.machinery importlib.util inspect io ipaddress itertools json keyword linecache locale "
    "logging logging.handlers lzma marshal math numbers operator os pathlib pickle pkgutil platform "
    "posixpath pprint pwd random re reprlib resource runpy select selectors shlex shutil signal socket "
    "stat string stringprep struct subprocess syslog tempfile textwrap threading time tokenize "
    "traceback types typing unicodedata urllib urllib.error urllib.parse uuid warnings weakref zipfile "
    "zipimport zlib"
).split()


# ---------------------------------------------------------------------------------------------
# Client: in every interpreter, from the .pth file (keep it cheap: builtin modules only).

def _wants_server():
    """True for the runs SERVER takes: plain python3 as root, program on a pipe."""
    if sys.argv != [""] or len(getattr(sys, "orig_argv", ())) != 1 or os.getuid() != 0:
        return False
    try:
        import stat

        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _run_again(program):
    """Run the same command line with program on a memory file as its standard input."""
    fd = os.memfd_create("berth-test-modrun-stdin", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    os.execv(sys.executable, sys.orig_argv)


def _streams():
    return tuple((s.encoding, s.errors, s.line_buffering, s.write_through)
                 for s in (sys.stdin, sys.stdout, sys.stderr))


def client():
    if not _wants_server():
        return
    program = _read_all(0)
    if MARK in program[:400]:
        try:
            status = _ask_server(program)
        except OSError:
            status = None
        if status is not None:
            if status >= 256:
                import signal

                signal.signal(status - 256, signal.SIG_DFL)
                os.kill(os.getpid(), status - 256)
                status = 128 + status - 256
            os._exit(status)
    _run_again(program)


def _ask_server(program):
    """The exit status (or 256 + signal) of program run by SERVER; None if it cannot run it."""
    import _socket
    import marshal

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(SOCKET)
        umask = os.umask(0o022)
        os.umask(umask)
        request = marshal.dumps((os.getcwd(), dict(os.environ), umask, [""] + sys.path, _streams(), program))
        header = len(request).to_bytes(8, "big")
        fds = (0, 1, 2)
        sock.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, bytes(_fd_array(fds)))])
        sock.sendall(request)
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                return None
            reply += chunk
        return int.from_bytes(reply, "big")
    finally:
        sock.close()


def _fd_array(fds):
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


# ---------------------------------------------------------------------------------------------
# Server: berth-test-modrun.service.

def _receive(conn):
    """(fds, request) from a client connection."""
    import socket

    header, ancdata, _flags, _addr = conn.recvmsg(8, socket.CMSG_SPACE(3 * 4))
    fds = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(int.from_bytes(data[i:i + 4], sys.byteorder, signed=True) for i in range(0, len(data) - 3, 4))
    size = int.from_bytes(header, "big")
    if len(header) != 8 or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("bad request")
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise ValueError("short request")
        data += chunk
    import marshal

    return fds, marshal.loads(bytes(data))


def _child(fds, request):
    """Become the module run: never returns (SystemExit ends the interpreter as python3 would)."""
    import builtins
    import importlib.machinery
    import io
    import signal
    import types

    cwd, env, umask, path, streams, program = request
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    os.umask(umask)
    os.environ.clear()
    os.environ.update(env)
    sys.argv[:] = [""]
    sys.path[:] = path
    made = []
    for fd, (encoding, errors, line_buffering, write_through), mode in zip((0, 1, 2), streams, "rww"):
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        made.append(io.TextIOWrapper(buffered, encoding=encoding, errors=errors,
                                     line_buffering=line_buffering, write_through=write_through))
    sys.stdin, sys.stdout, sys.stderr = made
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = made
    # __main__ as python3 makes it for a program read from its standard input.
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, __annotations__={}, __file__="<stdin>", __cached__=None,
                         __loader__=importlib.machinery.BuiltinImporter)
    sys.modules["__main__"] = main
    try:
        code = compile(program, "<stdin>", "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001  python3 prints any uncaught exception and exits 1
        import traceback

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)
        raise SystemExit(1) from None
    raise SystemExit(0)


def serve():
    import importlib
    import select
    import signal
    import socket

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # The children share the preloaded modules' memory: keep the collector from touching them.
    import gc

    gc.collect()
    gc.freeze()
    try:
        os.unlink(SOCKET)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    listener.bind(SOCKET)
    os.umask(old)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children = {}  # pid -> connection
    by_fd = {}  # connection fd -> pid
    poll = select.poll()
    poll.register(listener, select.POLLIN)
    poll.register(wake_read, select.POLLIN)
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        for fd, _event in poll.poll():
            if fd == wake_read:
                os.read(wake_read, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    conn = children.pop(pid, None)
                    if conn is None:
                        continue
                    code = 256 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                    if by_fd.pop(conn.fileno(), None) is not None:
                        poll.unregister(conn)
                    try:
                        conn.sendall(code.to_bytes(4, "big"))
                    except OSError:
                        pass
                    conn.close()
            elif fd == listener.fileno():
                conn, _ = listener.accept()
                try:
                    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                    if int.from_bytes(creds[4:8], sys.byteorder) != 0:
                        raise ValueError("not root")
                    fds, request = _receive(conn)
                except (OSError, ValueError, EOFError, TypeError):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    os.close(wake_read)
                    os.close(wake_write)
                    _child(fds, request)
                for passed in fds:
                    os.close(passed)
                children[pid] = conn
                by_fd[conn.fileno()] = pid
                poll.register(conn, select.POLLIN | select.POLLHUP)
            else:
                # A client gone before its child ended (killed): end the child too.
                pid = by_fd.get(fd)
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                    poll.unregister(fd)
                    by_fd.pop(fd, None)


if __name__ == "__main__":
    serve()
