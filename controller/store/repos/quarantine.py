"""Quarantine: agent messages the hub could not apply, kept with the reason (never acknowledged unstored)."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from controller.store import schema
from controller.store.base import QuarantineRow
from controller.store.repos._base import Repo

Q = schema.quarantine


class QuarantineRepo(Repo):
    async def add(self, q: QuarantineRow) -> int:
        stmt = insert(Q).values(at=q.at, topic=q.topic, agent_id=q.agent_id, kind=q.kind, reason=q.reason,
                                payload=q.payload)  # fmt: skip
        return int((await self.conn.execute(stmt.returning(Q.c.id))).scalar_one())

    async def recent(self, limit: int = 100, offset: int = 0) -> list[QuarantineRow]:
        rows = await self.rows(select(Q).order_by(Q.c.id.desc()).limit(limit).offset(offset))
        return [QuarantineRow(**{**d, "payload": bytes(d["payload"])}) for d in rows]

    async def count(self) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(Q))).scalar_one())
