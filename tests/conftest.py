"""Suite-wide hooks: on pytest-xdist workers, the modules with slow tests are handed out first."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # scripts/test runs two workers with --dist loadfile --no-loadscope-reorder, which hands out whole
    # modules in this order. A minute-long module (molecule, the chaos stacks) handed out last leaves the
    # other worker idle while it runs; handed out first, the many quick modules fill in beside it. The sort
    # is stable and keyed by module, so each module's tests stay together and in their own order. A run in
    # one process keeps the collection order.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)
