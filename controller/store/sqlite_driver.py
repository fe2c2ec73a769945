"""SQLite through aiosqlite with one thread hop per statement (SQLAlchemy's adapter makes four).

aiosqlite runs every call on its own thread; SQLAlchemy's cursor adapter makes a call each for the cursor,
execute, fetchall and close, and on a loaded machine each hop waits for the scheduler: the dashboard's pages
paid for it (bench/api_latency.py). This cursor runs the whole statement in one call on that thread.

It uses two private names of aiosqlite (Connection._execute, Connection._conn), checked at import: without
them the store falls back to SQLAlchemy's own aiosqlite dialect (`DRIVER` is then "aiosqlite").
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, int, int | None, list[Any]]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On aiosqlite's thread: the statement, its rows and its counters at once."""
    cur = conn.cursor()
    try:
        if many:
            cur.executemany(operation, parameters)
        else:
            cur.execute(operation, parameters if parameters is not None else ())
        rows = cur.fetchall() if cur.description else []
        return cur.description, cur.rowcount, cur.lastrowid, rows
    finally:
        cur.close()


class OneHopCursor:
    """The DB-API cursor SQLAlchemy drives, buffered (SQLite results are small here, as with the default)."""

    server_side = False
    arraysize = 1

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt = adapt_connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: collections.deque[Any] = collections.deque()

    async def _call(self, operation: str, parameters: Any, many: bool) -> Outcome:
        conn: aiosqlite.Connection = self._adapt._connection  # type: ignore[assignment]
        async with self._adapt._execute_mutex:
            out: Outcome = await conn._execute(_run, conn._conn, operation, parameters, many)  # type: ignore[no-untyped-call]
            return out

    def _go(self, operation: str, parameters: Any, many: bool) -> None:
        try:
            self.description, self.rowcount, self.lastrowid, rows = await_(
                self._call(operation, parameters, many)
            )
        except Exception as error:
            self._adapt._handle_exception(error)
        self._rows = collections.deque(rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._go(operation, parameters, False)

    def executemany(self, operation: str, seq_of_parameters: Any) -> None:
        self._go(operation, seq_of_parameters, True)

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async result calls it to close a driver cursor early: there is none left open."""

    def close(self) -> None:
        self._rows.clear()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        n = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(n)]

    def fetchall(self) -> Sequence[Any]:
        out = list(self._rows)
        self._rows.clear()
        return out

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


class OneHopDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(aiosqlite, sqlite3)


USABLE = hasattr(aiosqlite.Connection, "_execute") and isinstance(
    getattr(aiosqlite.Connection, "_conn", None), property
)
if USABLE:
    registry.register("sqlite.camfleet_aiosqlite", __name__, "OneHopDialect")
DRIVER = "camfleet_aiosqlite" if USABLE else "aiosqlite"
