#!/usr/bin/env python3
"""Run many ``ansible-playbook`` commands without paying Python's import of Ansible for each.

A test that runs the real ``ansible-playbook`` dozens of times (the entry-point matrix, the
offline bad-input cases) spends a third of each run importing ansible-core (about 0.35 s of
CPU here) before the first line of the playbook is read. ``ForkServer`` starts one Python process
with the run's environment and working directory, lets it import ansible-core's CLI (which reads
the configuration: ``ansible.cfg``, ``ANSIBLE_*``) and load the plugins every run loads before its
first playbook (``_preload``), and then forks one child per command. Each
child is a fresh process that runs ansible-playbook's own entry point (``ansible.cli.playbook.main``,
what the ``ansible-playbook`` script calls) with the command's arguments, its output going to
its own stdout and stderr: the same code, the same configuration, the same exit code, nothing
shared between two runs but what the parent imported and the controller's temporary directory
(``DEFAULT_LOCAL_TMP``), where ansible-core keeps the modules it has packed (AnsiballZ), keyed by
module.

    with ForkServer(env=env, cwd=root) as server:
        result = server.run(["ansible-playbook", "-i", inventory, "site.yml", "--check"], timeout=1800)
        result.returncode, result.stdout, result.stderr

or, for a caller that runs commands from several places (or threads) with one environment,
``shared(env, cwd)`` (the calling thread's server for them, made on first use) and ``close_all()``.

The server runs under the caller's Python (``sys.executable``, or ``python=``): its ansible-core
serves the runs, whichever ``ansible-playbook`` ``PATH`` would find. Only ``ansible-playbook``
commands are served; anything else (or ``BERTH_FORKSERVER=0`` in the
environment) runs with ``subprocess`` as before. Commands run one at a time per server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time


def serve(requests_fd, replies_fd):
    """The server: import the CLI once (reading this environment's configuration), then fork one
    child per request line and report its pid, then its exit code."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # tools/ is no package path
    from ansible.cli import playbook

    _preload()
    requests = os.fdopen(requests_fd, "r")
    replies = os.fdopen(replies_fd, "w")
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            requests.close()
            replies.close()
            _child(playbook, request)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


def _preload():
    """What every run loads first whatever its arguments, loaded once here: each connection, shell
    and become plugin of ansible-core with its configuration definitions (PlaybookExecutor.run
    loads them all before the first playbook; psrp, winrm and powershell among them, 80 ms a run).
    A run finds them loaded, as it would have loaded them: the same modules and definitions, from
    this environment's configuration. Anything that fails here is left to each run."""
    try:
        from ansible.plugins.loader import become_loader, connection_loader, shell_loader

        for loader in (connection_loader, shell_loader, become_loader):
            list(loader.all(class_only=True))
    except Exception:  # noqa: BLE001  each run loads them itself and reports what went wrong
        pass


def _child(playbook, request):
    """One run: the request's argv, stdin from /dev/null, stdout and stderr to its files, its own
    process group (a timeout kills it with its workers)."""
    code = 1
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            out = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.dup2(out, fd)
            os.close(out)
        os.setpgid(0, 0)
        sys.argv = list(request["argv"])
        code = playbook.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: B036 - whatever happens, the child reports and exits here
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


class ForkServer:
    """One pre-imported ansible-playbook for many runs with the same environment and directory."""

    # Seconds for the server to report the child it forked for a command (it does so at once).
    STARTED_WITHIN = 60

    def __init__(self, env=None, cwd=None, python=None):
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.python = python or sys.executable
        self.enabled = self.env.get("BERTH_FORKSERVER", "1") != "0"
        self._proc = None
        self._requests = self._replies = None
        self._pending = b""
        self._dir = tempfile.mkdtemp(prefix="berth-forkserver-")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        req_read, req_write = os.pipe()
        rep_read, rep_write = os.pipe()
        self._proc = subprocess.Popen([self.python, os.path.abspath(__file__), "--serve", str(req_read), str(rep_write)],
                                      env=self.env,
                                      cwd=self.cwd, pass_fds=(req_read, rep_write), stdin=subprocess.DEVNULL)
        os.close(req_read)
        os.close(rep_write)
        self._requests = os.fdopen(req_write, "w")
        self._replies = rep_read
        self._pending = b""

    def _reply(self, deadline):
        """The server's next reply, or None when the deadline passes first.

        Read from the pipe itself, with this object's own buffer: a child that exits at once makes
        the server send both of its replies together, and a buffered file would hold the second
        where ``select`` cannot see it (the next call then waited until its deadline, or for ever)."""
        while b"\n" not in self._pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._replies], [], [], wait)[0]:
                return None
            chunk = os.read(self._replies, 65536)
            if not chunk:
                raise RuntimeError("the ansible-playbook fork server exited (rc %s)" % self._proc.poll())
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv, timeout=None):
        """Run one command; a ``subprocess.CompletedProcess`` (text output), as subprocess.run gives."""
        argv = [str(a) for a in argv]
        if not self.enabled or os.path.basename(argv[0]) != "ansible-playbook":
            return subprocess.run(argv, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout)
        out = os.path.join(self._dir, "stdout")
        err = os.path.join(self._dir, "stderr")
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        for path in (out, err):
            open(path, "w").close()
        try:
            self._requests.write(json.dumps({"argv": argv, "stdout": out, "stderr": err}) + "\n")
            self._requests.flush()
        except BrokenPipeError:  # the server is gone: as silent as one that does not answer
            pass
        # Sent as soon as the child is forked: a server silent for STARTED_WITHIN seconds is an
        # error, never a wait without end.
        started = self._reply(time.monotonic() + self.STARTED_WITHIN)
        if started is None:
            self._stop_server()
            raise RuntimeError("the ansible-playbook fork server did not start %s within %d s"
                               % (" ".join(argv), self.STARTED_WITHIN))
        done = self._reply(deadline)
        if done is None:
            for kill in (os.killpg, os.kill):  # its process group (its workers), or itself before it made one
                try:
                    kill(started["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._reply(None)
            raise subprocess.TimeoutExpired(argv, timeout)
        with open(out, errors="replace") as fh_out, open(err, errors="replace") as fh_err:
            return subprocess.CompletedProcess(argv, done["returncode"], fh_out.read(), fh_err.read())

    def _stop_server(self, grace=0):
        """End the server: given ``grace`` seconds after its requests close, or killed at once (a
        child it forked is in its own process group and ends on its own)."""
        try:
            self._requests.close()
        except BrokenPipeError:
            pass
        try:
            self._proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._replies)
        self._proc = None

    def close(self):
        if self._proc is not None:
            self._stop_server(grace=30)
        if self._dir and os.path.isdir(self._dir):
            for name in os.listdir(self._dir):
                os.unlink(os.path.join(self._dir, name))
            os.rmdir(self._dir)
            self._dir = None


_SHARED = {}
_SHARED_LOCK = threading.Lock()


def shared(env, cwd=None):
    """The calling thread's server for this environment and directory, made on first use (a
    server runs one command at a time); close_all() ends them."""
    key = (threading.get_ident(), cwd, tuple(sorted(env.items())))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = ForkServer(env=env, cwd=cwd)
        return _SHARED[key]


def close_all():
    """End every server shared() made."""
    with _SHARED_LOCK:
        while _SHARED:
            _SHARED.popitem()[1].close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: import ForkServer from this file (the server itself runs as: --serve REQUESTS_FD REPLIES_FD)")
