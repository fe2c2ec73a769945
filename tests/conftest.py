"""Suite-wide hooks: one test id per test, and on pytest-xdist workers the modules with slow tests first."""

from __future__ import annotations

import os
from collections import Counter

import pytest


def _unique_ids(items: list[pytest.Item]) -> None:
    # pytest 9.2 builds an item's id from `originalname` and its callspec; schemathesis 4.32 makes one item per
    # API operation with the operation only in `name` ("test_x[GET /api/v1/agents]"), so all 31 share the id
    # "...::test_x". pytest-xdist schedules by id and ran one of them, silently. Such an item gets its name.
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            base, bracket, params = item.name.partition("[")
            if bracket:
                item._id = item.parent.id.child(base).with_params(params.removesuffix("]"))
    left = sorted(nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1)
    if left and os.environ.get("PYTEST_XDIST_WORKER"):
        raise pytest.UsageError(f"tests share an id, so pytest-xdist would run only one of each: {left}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _unique_ids(items)
    # scripts/test runs two workers with --dist loadfile --no-loadscope-reorder, which hands out whole
    # modules in this order. A minute-long module (molecule, the chaos stacks) handed out last leaves the
    # other worker idle while it runs; handed out first, the many quick modules fill in beside it. The sort
    # is stable and keyed by module, so each module's tests stay together and in their own order. A run in
    # one process keeps the collection order.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)
