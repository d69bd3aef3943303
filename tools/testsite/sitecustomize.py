"""`make test` only: work that the suite's many Ansible processes would each do again, done once.

`make test` puts this directory first on PYTHONPATH and sets BERTH_TEST_CACHE to a directory that
it empties first; Python imports this file at every start. Two caches, each checked before use
and each a file of its own:

- berth_test_ansiballz.py: the module payloads Ansible packs before it sends a module to a host;
- berth_test_templates.py: the code Jinja compiles from each template and conditional.

Without BERTH_TEST_CACHE nothing is changed. `make demo`, the bench and every run outside
`make test` never load them (docs/performance.md, "The test suite's Ansible processes share
their packing and compiling").
"""

import os

if os.environ.get("BERTH_TEST_CACHE"):
    import berth_test_ansiballz  # noqa: F401  (patches ansible.executor.module_common when imported)
    import berth_test_templates  # noqa: F401  (patches jinja2.environment when imported)
