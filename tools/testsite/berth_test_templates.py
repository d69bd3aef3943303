"""`make test` only: compiled Jinja templates shared by the suite's Ansible processes.

ansible-core keeps no compiled templates: every worker process (one per task and host) parses,
generates and compiles each template and conditional it renders, and a `make test` starts
thousands of them (a `site.yml --check` on four hosts compiles about 600 templates, 90 distinct,
and the role templates that berth_files renders). With BERTH_TEST_CACHE set (sitecustomize.py),
when Jinja is imported, `Environment.compile` and `Environment.compile_expression` keep the code
they compile from a template's source in CACHE, keyed by the source, the environment's class and
syntax settings, and the versions of Python, Jinja and ansible-core. Any compile this cannot key
(a debugging environment, a node tree instead of source) compiles as without this file. A
template that fails to compile is never kept: its error is raised as without this file. (One
difference: Jinja refuses an unknown filter when it compiles; code kept from a process that knew
the filter fails when it runs instead. Every process of a `make test` has the same plugins.)
"""

import marshal
import os
import sys

import berth_test_cache as cache

CACHE = os.path.join(cache.ROOT, "templates")
MODULE = "jinja2.environment"
# Everything of an environment that changes the code a source compiles to.
SETTINGS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
            "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
            "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async",
            "sandboxed")


def _name(obj):
    return "%s.%s" % (getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", repr(obj)))


def key(env, kind, source, *args):
    """The cache entry's name for source compiled by env (kind: template or expression)."""
    import hashlib

    try:
        import ansible.release

        ansible_version = ansible.release.__version__
    except ImportError:
        ansible_version = "-"
    import jinja2

    autoescape = _name(env.autoescape) if callable(env.autoescape) else repr(env.autoescape)
    parts = [sys.version, jinja2.__version__, ansible_version, _name(type(env)), _name(env.code_generator_class),
             autoescape, repr(sorted(env.extensions))]
    parts += [repr(getattr(env, name, None)) for name in SETTINGS]
    parts += [kind, repr(args), str(source)]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


_loaded = {}


def load(name):
    code = _loaded.get(name)
    if code is None:
        code = cache.read(os.path.join(CACHE, name), marshal.load)
        if code is not None:
            _loaded[name] = code
    return code


def store(name, code):
    _loaded[name] = code
    cache.write(os.path.join(CACHE, name), marshal.dump, code)


def _cacheable(env, source):
    return isinstance(source, str) and not getattr(env, "_debuggable_template_source", False)


def patch(environment_module):
    """Wrap Environment.compile and compile_expression of jinja2.environment."""
    import threading

    env_class = environment_module.Environment
    if getattr(env_class, "_berth_test_template_cache", False):
        return
    original_compile = env_class.compile
    original_expression = env_class.compile_expression
    pending = threading.local()

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):  # noqa: A001  Jinja's name
        expression = getattr(pending, "key", None)
        if expression is not None and not isinstance(source, str) and not raw:
            # compile_expression's node tree: its code is kept under the expression's source.
            pending.key = None
            code = original_compile(self, source, name, filename, raw, defer_init)
            store(expression, code)
            return code
        if raw or not _cacheable(self, source):
            return original_compile(self, source, name, filename, raw, defer_init)
        entry = key(self, "template", source, name, filename, defer_init)
        code = load(entry)
        if code is None:
            code = original_compile(self, source, name, filename, raw, defer_init)
            store(entry, code)
        return code

    def compile_expression(self, source, undefined_to_none=True):
        if not _cacheable(self, source):
            return original_expression(self, source, undefined_to_none)
        entry = key(self, "expression", source)
        code = load(entry)
        if code is None:
            pending.key = entry
            try:
                return original_expression(self, source, undefined_to_none)
            finally:
                pending.key = None
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return environment_module.TemplateExpression(template, undefined_to_none)

    env_class.compile = compile
    env_class.compile_expression = compile_expression
    env_class._berth_test_template_cache = True
