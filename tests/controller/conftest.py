"""Store backends for the controller tests: every `store`/`backend` test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from controller.store.base import Store
from controller.store.postgres import PostgresStore
from controller.store.sqlite import SqliteStore
from tests.pg import PgCluster, running_postgres


class Backend:
    """One test's database on one engine: fresh stores over it, raw SQL as the application, and tampering as
    someone with full access to the database (who can get past the append-only guards)."""

    name = ""
    db_error: type[Exception] = Exception

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
        raise NotImplementedError

    async def tamper(self, *sql: str) -> None:
        raise NotImplementedError

    async def cleanup(self) -> None:
        for s in self._stores:
            await s.close()


class SqliteBackend(Backend):
    name = "sqlite"
    db_error = sqlite3.DatabaseError

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def make_store(self) -> Store:
        return SqliteStore(self.path)

    async def raw(self, store: Store, sql: str) -> None:
        assert isinstance(store, SqliteStore)
        await store.db.execute(sql)

    async def tamper(self, *sql: str) -> None:
        # Someone with the database file can drop the guards; the hash chain still gives them away.
        with sqlite3.connect(self.path) as db:
            db.execute("DROP TRIGGER IF EXISTS audit_no_update")
            db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            for s in sql:
                db.execute(s)


class PostgresBackend(Backend):
    name = "postgres"
    db_error = asyncpg.PostgresError

    def __init__(self, cluster: PgCluster, database: str) -> None:
        super().__init__()
        self.cluster, self.database = cluster, database

    @property
    def url(self) -> str:
        return self.cluster.dsn(self.database)

    def make_store(self) -> Store:
        return PostgresStore(self.url, max_size=4)

    async def raw(self, store: Store, sql: str) -> None:
        assert isinstance(store, PostgresStore)
        await store.pool.execute(sql)

    async def tamper(self, *sql: str) -> None:
        # A superuser can switch the append-only trigger off; the hash chain still gives the edit away.
        conn = await superuser(self.cluster, self.database)
        try:
            await conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
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
