"""Agents: birth and death messages (Sparkplug's bdSeq rule), ordered by boot sequence."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from controller.store import schema
from controller.store.base import AgentRow
from controller.store.repos._base import Repo

A = schema.agents


class AgentRepo(Repo):
    async def upsert(self, row: AgentRow) -> bool:
        """Apply a birth/status message unless it is older than what is stored (a stale boot_seq)."""
        ins = self.d.insert(A).values(
            agent_id=row.agent_id, site=row.site, version=row.version, boot_seq=row.boot_seq,
            online=int(row.online), last_seen=row.last_seen, capabilities=json.dumps(row.capabilities),
            camera_count=row.camera_count,
        )  # fmt: skip
        keep = ("site", "version", "boot_seq", "online", "last_seen", "capabilities", "camera_count")
        stmt = ins.on_conflict_do_update(
            index_elements=[A.c.agent_id],
            set_={k: ins.excluded[k] for k in keep},
            where=A.c.boot_seq <= ins.excluded.boot_seq,
        )
        return await self.run(stmt) > 0

    async def mark_offline(self, agent_id: str, boot_seq: int, at: float) -> bool:
        """A death (Last Will) counts only for the boot it belongs to."""
        stmt = (
            update(A).where(A.c.agent_id == agent_id, A.c.boot_seq <= boot_seq).values(online=0, last_seen=at)
        )
        return await self.run(stmt) > 0

    async def all(self) -> list[AgentRow]:
        out = []
        for d in await self.rows(select(A).order_by(A.c.agent_id)):
            d.pop("inventory_seq", None)
            d.pop("event_seq", None)
            d["online"] = bool(d["online"])
            d["capabilities"] = json.loads(d["capabilities"])
            out.append(AgentRow(**d))
        return out

    async def advance_event_seq(self, agent_id: str, seq: int) -> int:
        """Make `seq` the agent's last applied event if it is newer; returns the one stored before (so `seq` was
        not applied when that is at least `seq`). The agent row lock orders replicas applying events at once."""
        await self.conn.execute(self.d.insert(A).values(agent_id=agent_id).on_conflict_do_nothing())
        got = (
            await self.conn.execute(self.d.for_update(select(A.c.event_seq).where(A.c.agent_id == agent_id)))
        ).scalar_one()
        if int(got) < seq:
            await self.conn.execute(update(A).where(A.c.agent_id == agent_id).values(event_seq=seq))
        return int(got)
