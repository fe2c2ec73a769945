"""What every repository shares: its connection, the dialect, and row fetching as plain dicts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection

from controller.store.dialect import Dialect


class Marks:
    """What a transaction changed that others cache: set by the repositories, acted on at commit (db.Database.tx)."""

    __slots__ = ("fleet",)

    def __init__(self) -> None:
        self.fleet = False  # something the fleet answer counts (controller.census_api.fleet_answer)


class Repo:
    def __init__(self, conn: AsyncConnection, dialect: Dialect, marks: Marks | None = None) -> None:
        self.conn = conn
        self.d = dialect
        self.marks = marks if marks is not None else Marks()

    async def rows(self, stmt: Executable) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in (await self.conn.execute(stmt)).all()]

    async def one(self, stmt: Executable) -> dict[str, Any] | None:
        r = (await self.conn.execute(stmt)).first()
        return dict(r._mapping) if r is not None else None

    async def run(self, stmt: Executable, params: Any = None) -> int:
        """Execute (many, with a list of params); the number of rows changed."""
        res = await self.conn.execute(stmt, params) if params is not None else await self.conn.execute(stmt)
        return max(int(res.rowcount or 0), 0)
