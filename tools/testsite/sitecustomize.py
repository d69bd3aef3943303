"""`make test` only: work that the suite's many Ansible processes would each do again, done once.

`make test` puts this directory first on PYTHONPATH and sets BERTH_TEST_CACHE to a directory that
it empties first; Python imports this file at every start. Two caches, each checked before use
and each a file of its own:

- berth_test_ansiballz.py: the module payloads Ansible packs before it sends a module to a host;
- berth_test_templates.py: the code Jinja compiles from each template and conditional;

what they share (berth_test_cache.py: reading and writing entries, patching after import), and
work done once per process instead of once per worker or step (berth_test_once.py: Jinja's
plugin tables filled before a play forks its workers; data tags kept by a deep copy; ansible-lint's
syntax checks forked from one import of ansible-core; Molecule's `ansible-playbook --version`).
Module runs on the controller (`connection: local`, `delegate_to: localhost`) use the test hosts'
bytecode cache for the sources of their payload (tools/image/berth_test_bytecode.py), kept
under BERTH_TEST_CACHE/bytecode.

Without BERTH_TEST_CACHE nothing is changed. `make demo`, the bench and every run outside
`make test` never load them (docs/performance.md, "Module runs fork from a warm interpreter;
the suite's processes share packing and compiling").
"""

import os

if os.environ.get("BERTH_TEST_CACHE"):
    import berth_test_ansiballz
    import berth_test_cache
    import berth_test_once
    import berth_test_templates

    berth_test_cache.when_imported(berth_test_ansiballz.MODULE, berth_test_ansiballz.patch)
    berth_test_cache.when_imported(berth_test_templates.MODULE, berth_test_templates.patch)
    for name, patch in berth_test_once.PATCHES.items():
        berth_test_cache.when_imported(name, patch)
    berth_test_cache.payload_bytecode()
