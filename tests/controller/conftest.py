"""Store backends for the controller tests: every `store`/`backend` test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from controller.store import Store
from tests.pg import PgCluster, running_postgres


class Backend:
    """One test's database on one engine: fresh stores over it, raw SQL as the application, and tampering as
    someone with full access to the database (who can get past the append-only guards)."""

    name = ""
    db_error: type[Exception] = DBAPIError

    def __init__(self) -> None:
        self._stores: list[Store] = []

    def make_store(self) -> Store:
        raise NotImplementedError

    async def new_store(self) -> Store:
        """An opened store over this test's database (a second call is a controller restart or a replica)."""
        s = self.make_store()
        await s.open()
        self._stores.append(s)
        return s

    async def raw(self, store: Store, sql: str) -> None:
        """SQL as the application's own database role."""
        async with store.tx() as tx:
            await tx.conn.exec_driver_sql(sql)

    async def tamper(self, *sql: str) -> None:
        raise NotImplementedError

    async def script(self, *sql: str) -> None:
        """SQL as the application's database role, with no store open (e.g. a database of an older version)."""
        raise NotImplementedError

    async def cleanup(self) -> None:
        for s in self._stores:
            await s.close()


class SqliteBackend(Backend):
    name = "sqlite"
    db_error = DBAPIError

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def make_store(self) -> Store:
        return Store(self.path)

    async def tamper(self, *sql: str) -> None:
        # Someone with the database file can drop the guards; the hash chain still gives them away.
        with sqlite3.connect(self.path) as db:
            db.execute("DROP TRIGGER IF EXISTS audit_no_update")
            db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            for s in sql:
                db.execute(s)

    async def script(self, *sql: str) -> None:
        with sqlite3.connect(self.path) as db:
            for s in sql:
                db.execute(s)


class PostgresBackend(Backend):
    name = "postgres"
    db_error = DBAPIError

    def __init__(self, cluster: PgCluster, database: str) -> None:
        super().__init__()
        self.cluster, self.database = cluster, database

    @property
    def url(self) -> str:
        return self.cluster.dsn(self.database)

    def make_store(self) -> Store:
        return Store(self.url, pool_size=4)

    async def tamper(self, *sql: str) -> None:
        # A superuser can switch the append-only trigger off; the hash chain still gives the edit away.
        conn = await superuser(self.cluster, self.database)
        try:
            await conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
            for s in sql:
                await conn.execute(s)
        finally:
            await conn.close()

    async def script(self, *sql: str) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            async with conn.transaction():
                for s in sql:
                    await conn.execute(s)
        finally:
            await conn.close()


async def superuser(cluster: PgCluster, database: str = "postgres") -> Any:
    return await asyncpg.connect(cluster.dsn(database, user="postgres"), timeout=10)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh database owned by the (non-superuser) application role, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_cluster.psql(f'CREATE DATABASE "{name}" OWNER camfleet STRATEGY FILE_COPY')
    yield name
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend_choice(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "fleet.db")
    # Resolved only for the postgres half, so the SQLite half never needs a PostgreSQL server.
    return PostgresBackend(request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_database"))


@pytest.fixture
async def backend(backend_choice: Backend) -> AsyncIterator[Backend]:
    try:
        yield backend_choice
    finally:
        await backend_choice.cleanup()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.new_store()
