"""The database behind the store: one SQLAlchemy async engine (aiosqlite or asyncpg) and the unit of work.

`async with db.tx() as tx:` is one transaction: everything done through `tx` commits together at the end of
the block or not at all (an exception, a cancellation). On SQLite write transactions are serialised in the
process (one writer, as SQLite allows) and start with BEGIN IMMEDIATE, so they never fail half-way on a lock
upgrade; readers run beside them (WAL). On PostgreSQL each transaction has its own pooled connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event, inspect, make_url, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from controller.files import private_file
from controller.store import migrate, schema, sqlite_driver
from controller.store.dialect import Dialect
from controller.store.repos import (
    AgentRepo,
    AuditRepo,
    CameraRepo,
    CampaignRepo,
    CensusRepo,
    CommandRepo,
    PeopleRepo,
    QuarantineRepo,
    RecorderRepo,
)
from controller.store.repos._base import Marks

TIMEOUT = 30.0
F = schema.fleet_revision


def engine_url(url: str | Path) -> URL:
    """postgresql://... (asyncpg), sqlite:///path or sqlite://relative, or a plain file path (SQLite)."""
    s = str(url)
    if s.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        return make_url(s).set(drivername="postgresql+asyncpg")
    if "://" in s and not s.startswith("sqlite"):
        raise ValueError(f"store.url: unsupported {s.split(':', 1)[0]!r}; sqlite or postgresql")
    path = s.split("://", 1)[1] if "://" in s else s
    return URL.create(f"sqlite+{sqlite_driver.DRIVER}", database=path)


class Tx:
    """One unit of work: the repositories, all on the same connection and transaction."""

    def __init__(self, conn: AsyncConnection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.marks = Marks()

    @cached_property
    def agents(self) -> AgentRepo:
        return AgentRepo(self.conn, self.dialect)

    @cached_property
    def cameras(self) -> CameraRepo:
        return CameraRepo(self.conn, self.dialect, self.marks)

    @cached_property
    def commands(self) -> CommandRepo:
        return CommandRepo(self.conn, self.dialect)

    @cached_property
    def campaigns(self) -> CampaignRepo:
        return CampaignRepo(self.conn, self.dialect)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.conn, self.dialect)

    @cached_property
    def quarantine(self) -> QuarantineRepo:
        return QuarantineRepo(self.conn, self.dialect)

    @cached_property
    def people(self) -> PeopleRepo:
        return PeopleRepo(self.conn, self.dialect)

    @cached_property
    def recorders(self) -> RecorderRepo:
        return RecorderRepo(self.conn, self.dialect, self.marks)

    @cached_property
    def census(self) -> CensusRepo:
        return CensusRepo(self.conn, self.dialect, self.marks)


def _sqlite_setup(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling begins lazily and cannot do BEGIN IMMEDIATE: switch it off and
    # begin ourselves (the SQLAlchemy recipe for SQLite transactions). Without the option: autocommit reads.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin")
        if mode:
            conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    def __init__(self, url: str | Path, *, pool_size: int = 10) -> None:
        self.url = engine_url(url)
        self.dialect = Dialect(self.url.get_backend_name())
        self.pool_size = pool_size
        self._engine: AsyncEngine | None = None
        # SQLite has one writer at a time; queueing here keeps writers off the busy-wait of the file lock.
        self._writer: contextlib.AbstractAsyncContextManager[Any] = (
            contextlib.nullcontext() if self.dialect.pg else asyncio.Lock()
        )

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("store is not open")
        return self._engine

    async def open(self, *, upgrade: bool = True) -> None:
        if self.dialect.pg:
            engine = create_async_engine(
                self.url, pool_size=self.pool_size, max_overflow=0, pool_timeout=TIMEOUT, pool_pre_ping=False,
                connect_args={"timeout": TIMEOUT, "command_timeout": TIMEOUT,
                              "server_settings": {"application_name": "camfleet-controller"}},
            )  # fmt: skip
        else:
            if self.url.database and self.url.database != ":memory:":
                # Password hashes, the audit log, journals: 0600 in a 0700 directory (the -wal/-shm follow).
                private_file(Path(self.url.database))
            # No reset-on-return rollback: every transaction here ends explicitly (commit, or rollback in
            # _discard), and each rollback is one more hop to aiosqlite's thread on every read. LIFO: a page's
            # statements reuse the connection whose page cache is warm (each SQLite connection has its own);
            # the others idle unless requests overlap.
            engine = create_async_engine(
                self.url,
                pool_size=self.pool_size,
                max_overflow=0,
                pool_timeout=TIMEOUT,
                pool_reset_on_return=None,
                pool_use_lifo=True,
            )
            _sqlite_setup(engine)
        self._engine = engine
        try:
            async with engine.connect():
                pass
        except (OSError, TimeoutError, DBAPIError) as exc:
            await self.close()
            # The url may carry a password: name only the failure, not the url.
            what = "PostgreSQL" if self.dialect.pg else "the SQLite database"
            raise ConnectionError(f"cannot connect to {what}: {_reason(exc)}") from None
        if not upgrade:
            return
        try:
            await self.migrate(migrate.upgrade, "head")
        except BaseException:
            await self.close()
            raise

    async def migrate(self, step: Callable[[Connection, str], None], target: str) -> None:
        """Run a schema step (migrate.upgrade/downgrade) in one transaction, one replica at a time."""
        async with self.tx() as tx:
            await self.dialect.lock_migrations(tx.conn)
            before = await tx.conn.run_sync(migrate.current)
            await tx.conn.run_sync(step, target)
            await self.dialect.arm_audit_guards(tx.conn)
            # A migration may change what the fleet answer counts (0012 retires duplicates): every replica's
            # cached answer is computed again.
            if await tx.conn.run_sync(migrate.current) != before and await tx.conn.run_sync(
                lambda c: inspect(c).has_table(F.name)
            ):
                tx.marks.fleet = True

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any exception or cancellation."""
        async with self._writer:
            conn = await self.engine.connect()
            try:
                if not self.dialect.pg:
                    await conn.execution_options(sqlite_begin="IMMEDIATE")
                await conn.begin()
                tx = Tx(conn, self.dialect)
                yield tx
                if tx.marks.fleet:
                    # Last, just before the commit: on PostgreSQL the row stays locked until then, and taking it
                    # after every other lock of the transaction keeps two replicas' writers from a deadlock.
                    await conn.execute(update(F).values(rev=F.c.rev + 1))
                await conn.commit()
            except BaseException:
                # Shielded: a second cancellation must not leave the transaction open on a pooled connection.
                await asyncio.shield(_discard(conn))
                raise
            await asyncio.shield(conn.close())

    @contextlib.asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[Tx]:
        """Reads; with `snapshot`, all of them see one consistent state (a page and its total agree)."""
        conn = await self.engine.connect()
        try:
            if self.dialect.pg:
                level = "REPEATABLE READ" if snapshot else "AUTOCOMMIT"
                await conn.execution_options(isolation_level=level)
            elif snapshot:
                await conn.execution_options(sqlite_begin="DEFERRED")
            yield Tx(conn, self.dialect)
        finally:
            await asyncio.shield(_discard(conn) if snapshot or self.dialect.pg else conn.close())


async def _discard(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.rollback()
    await conn.close()


def _reason(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return str(orig if orig is not None else exc).splitlines()[0]
