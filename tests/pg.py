"""PostgreSQL for tests: devstack's throwaway cluster, with CAMFLEET_NO_POSTGRES=1 as a skip and a missing
server as a failure (CI must have it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from devstack import pg
from devstack.net import ToolMissing
from devstack.pg import PgCluster

__all__ = ["PgCluster", "running_postgres"]


@contextlib.contextmanager
def running_postgres() -> Iterator[PgCluster]:
    try:
        pg.pg_bindir()
    except pg.PostgresNotWanted as exc:
        pytest.skip(str(exc))
    except ToolMissing as exc:
        pytest.fail(str(exc))
    with pg.running_postgres() as cluster:
        yield cluster
