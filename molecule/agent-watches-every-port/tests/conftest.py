"""Keep the verifier's own Ansible calls out of the scenario's ansible.log.

molecule.yml sets ANSIBLE_LOG_PATH so every Ansible run of the scenario
(create, prepare, converge, idempotence) is logged; test_datadog.py greps that
log for the API key. Testinfra's ansible backend would append its own runs
(inventory dumps, file reads) to the same log, so the path is taken out of the
environment before any host is contacted and handed to the tests instead.
"""

import os

SCENARIO_LOG = os.environ.pop("ANSIBLE_LOG_PATH", None)
