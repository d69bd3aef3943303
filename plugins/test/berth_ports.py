# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Jinja tests over registry addresses (``rejectattr('value.bind', 'berth.stack.loopback')``).

Thin wrappers over the registry core (``plugins/module_utils/berth_registry.py``);
documentation in ``loopback.yml`` and ``wildcard.yml`` beside this file.
"""

from __future__ import annotations

from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core


class TestModule(object):
    """berth registry address tests."""

    def tests(self):
        return {"loopback": core.is_loopback, "wildcard": core.is_wildcard}
