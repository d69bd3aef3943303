"""`make test` only: work that each process of the suite would repeat, done once per process.

- **Plugins, loaded by the playbook's process before it forks.** Ansible runs each task on each
  host in a worker process forked from the playbook's process, and a worker loads what its task
  needs that its parent had not loaded yet: the action plugin (and, for berth's planner, the
  roles' argument specs it reads), every filter or test plugin file of ansible-core on the first
  filter or test its templates use (`Jinja2Loader._cached_non_collection_wrappers`), the
  collection filters and lookups its templates name, with the configuration definitions parsed
  from each plugin's documentation. A `site.yml --check` on four hosts did that work in about
  40 % of its worker samples, again in every worker. Here the playbook's process does it first:
  - when a play starts (`TaskQueueManager.run`): both Jinja tables, and every filter, test and
    lookup that workers of earlier processes of the suite loaded by name (kept in
    BERTH_TEST_CACHE/worker-plugins.txt, one `loader name` line each, appended by the workers);
  - before each worker starts (`WorkerProcess.start`), once per action: the task's action plugin
    resolved as the worker resolves it (TaskExecutor), and the plugin module's
    `warm_before_fork()` when it has one (berth_plan: the roles' argument specs).
  Before the fork, the process also freezes its objects for the cyclic garbage collector
  (`gc.freeze()`): a worker's collections skip what it inherited instead of walking it, which
  wrote to every inherited page and made the kernel copy it (user CPU of a `site.yml --check` on
  four hosts: 2.90 s instead of 3.09 s). Objects of the playbook's process that become cyclic
  garbage after that stay in memory until it exits; reference counting frees the rest as before.
  The workers then find them loaded: the same plugins, from the same paths (a directory added
  later, a role's `filter_plugins/`, empties the Jinja tables again, as without this file). A
  plugin that fails to load here is left to the worker, which fails as before.
- **A data tag is not rebuilt by a deep copy.** Ansible tags each value it reads from a file with
  frozen dataclasses of immutable fields (Origin, TrustedAsTemplate...) and deep-copies tagged data
  often: role argument validation copies every variable a spec names, `DataLoader` copies each
  cached file it hands out. Python rebuilt every tag of every value through pickling's reduce
  protocol, and each tagged string or number with them: 13 % of the samples of a
  `site.yml --tags nginx --check` on four hosts. A tag's deep copy, and a tagged scalar's, is now
  the object itself, as for a plain string; containers are copied as before. User CPU of that run
  on the controller: 1.76 s instead of 2.05 s; of a no-op `rollout.yml`, 4.58 s instead of 5.34 s.
- **ansible-lint's syntax checks from one import of ansible-core.** `make lint` runs
  `ansible-playbook --syntax-check` once per playbook (76), one after the other, each importing
  ansible-core again: 40 of the lint's 56 core-s. Here ansible-lint hands them to a fork server
  (tools/playbook_forkserver.py, as the entry-point matrix does): each check a fresh process with
  its own output and exit code, forked from one that imported ansible-core once. `ansible-lint`
  took 35 core-s and 31 s instead of 56 core-s and 42 s.
- **Molecule's check of `ansible-playbook`, once per `molecule` process.** Before each playbook it
  runs (create, prepare, converge, idempotence, side effect, destroy), Molecule runs
  `ansible-playbook --version` to prove the command works (about 0.4 s of CPU each). Here the
  first check of a process runs as before; later checks of the same command with the same
  `PATH` pass without running it again. A failing check is never remembered.
"""

import gc
import os
import sys

import berth_test_cache as cache

# Plugins the workers of earlier processes loaded by name (loader, name): the playbook's process
# loads them before it forks, once.
LEARNED = os.path.join(cache.ROOT, "worker-plugins.txt")
LEARN_LOADERS = ("filter_loader", "test_loader", "lookup_loader")
_in_worker = False
_seen = set()


def _learn(loader_name, name):
    if (loader_name, name) in _seen:
        return
    _seen.add((loader_name, name))
    try:
        with open(LEARNED, "a") as handle:
            handle.write("%s %s\n" % (loader_name, name))
    except OSError:
        pass


def preload_learned():
    from ansible.plugins import loader as loaders

    try:
        with open(LEARNED) as handle:
            lines = set(handle.read().split("\n"))
    except OSError:
        return
    for line in sorted(lines):
        loader_name, _, name = line.partition(" ")
        if loader_name in LEARN_LOADERS and name and (loader_name, name) not in _seen:
            _seen.add((loader_name, name))
            try:
                getattr(loaders, loader_name).get(name, class_only=True)
            except Exception:  # noqa: BLE001  the worker loads it again and reports what went wrong
                pass


def patch_task_queue_manager(module):
    run = module.TaskQueueManager.run

    def run_with_plugins_loaded(self, play):
        from ansible.plugins.loader import filter_loader, test_loader

        for loader in (filter_loader, test_loader):
            loader._ensure_non_collection_wrappers()
        preload_learned()
        return run(self, play)

    module.TaskQueueManager.run = run_with_plugins_loaded
    # Learn the plugins that workers load by name.
    from ansible.plugins import loader as loaders

    for loader_name in LEARN_LOADERS:
        plugin_loader = getattr(loaders, loader_name)
        get = plugin_loader.get

        def get_and_learn(name, *args, __get=get, __loader=loader_name, **kwargs):
            if _in_worker and isinstance(name, str):
                _learn(__loader, name)
            return __get(name, *args, **kwargs)

        plugin_loader.get = get_and_learn



_warmed = set()


def warm_action(task):
    """Resolve the task's module and import its action plugin as the worker would
    (TaskExecutor._get_action_handler_with_module_context), once per action in this process."""
    from ansible.plugins.loader import action_loader, module_loader

    action, collections = task.action, task.collections
    key = (action, tuple(collections or ()))
    if key in _warmed:
        return
    _warmed.add(key)
    try:
        module = module_loader.find_plugin_with_context(action, collection_list=collections)
        if module.resolved and module.action_plugin:
            handler = module.action_plugin
        elif action_loader.has_plugin(action, collection_list=collections):
            handler = action
        else:
            handler, collections = "ansible.legacy.normal", None
        plugin = action_loader.get(handler, class_only=True, collection_list=collections)
        warm = getattr(sys.modules.get(getattr(plugin, "__module__", ""), None), "warm_before_fork", None)
        if callable(warm):
            warm()
    except Exception:  # noqa: BLE001  the worker resolves it again and reports what went wrong
        pass


def patch_worker(module):
    start = module.WorkerProcess.start

    def start_warm(self):
        warm_action(self._task)
        # Every object the worker inherits moves out of the collector's reach: the worker's
        # collections no longer walk (and so copy, page by page) the parent's whole heap.
        gc.freeze()
        return start(self)

    module.WorkerProcess.start = start_warm
    run = module.WorkerProcess.run

    def run_learning(self):
        global _in_worker
        _in_worker = True
        return run(self)

    module.WorkerProcess.run = run_learning


_validated = set()


def patch_molecule_playbook(module):
    validate = module.AnsiblePlaybook._validate_backend

    def validate_once(self, backend):
        key = (backend, os.environ.get("PATH", ""))
        if key in _validated:
            return None
        result = validate(self, backend)
        _validated.add(key)
        return result

    module.AnsiblePlaybook._validate_backend = validate_once


def patch_datatag(module):
    """A data tag (Origin, TrustedAsTemplate, VaultedValue, Deprecated...) is a frozen dataclass of
    immutable fields: its deep copy is the tag itself, as for a string. Without this, every deep
    copy of tagged inventory data rebuilt each value's tags through pickling's reduce protocol."""
    module.AnsibleDatatagBase.__deepcopy__ = _same
    # The same for a tagged scalar: a str, bytes, int, float or date with tags set when it is made,
    # never changed after (Ansible tags a value by making a new one).
    for name in ("_AnsibleTaggedStr", "_AnsibleTaggedBytes", "_AnsibleTaggedInt", "_AnsibleTaggedFloat",
                 "_AnsibleTaggedDateTime", "_AnsibleTaggedDate", "_AnsibleTaggedTime"):
        getattr(module, name).__deepcopy__ = _same


def _same(value, memo):
    return value


class _SyntaxCheckSubprocess(object):
    """ansible-lint's `subprocess`, whose `run` hands each `ansible-playbook --syntax-check` to a
    fork server (tools/playbook_forkserver.py) of the same environment and directory: ansible-core
    imported once for all of them, each check still a fresh process with its own exit code and
    output. Every other command, and every other attribute, is subprocess's own."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def run(self, argv, *args, **kwargs):
        if (isinstance(argv, (list, tuple)) and argv and argv[0] == "ansible-playbook" and "--syntax-check" in argv
                and not args and kwargs.get("capture_output") and kwargs.get("text") and not kwargs.get("check")
                and not kwargs.get("input")):
            server = _forkserver().shared(dict(kwargs.get("env") or os.environ), kwargs.get("cwd") or os.getcwd())
            return server.run(list(argv), timeout=kwargs.get("timeout"))
        return self._real.run(argv, *args, **kwargs)


def _forkserver():
    fresh = "berth_playbook_forkserver" not in sys.modules
    module = cache.load_tool("berth_playbook_forkserver", "playbook_forkserver.py")
    if fresh:
        import atexit

        atexit.register(module.close_all)
    return module


def patch_lint_syntax_check(module):
    module.subprocess = _SyntaxCheckSubprocess(module.subprocess)


# Module -> its patch, run right after the module's import (sitecustomize.py).
PATCHES = {
    "ansible.executor.task_queue_manager": patch_task_queue_manager,
    "ansible.executor.process.worker": patch_worker,
    "molecule.provisioner.ansible_playbook": patch_molecule_playbook,
    "ansible.module_utils._internal._datatag": patch_datatag,
    "ansiblelint.runner": patch_lint_syntax_check,
}
