"""The audit log: appended in the transaction of the change it records, hash-chained, never edited."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select

from controller.store import schema
from controller.store.audit import GENESIS, AuditEntry, ChainReport, entry_hash, verify_chain
from controller.store.base import AuditInput
from controller.store.repos._base import Repo

AU = schema.audit
HEAD = schema.audit_head


def _entry(d: dict[str, Any]) -> AuditEntry:
    return AuditEntry(int(d["seq"]), float(d["at"]), d["actor"], d["action"], d["subject"],
                      json.loads(d["details"]), d["prev_hash"], d["hash"])  # fmt: skip


class AuditRepo(Repo):
    async def append(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEntry:
        return (await self.append_many([(actor, action, subject, details)]))[0]

    async def append_many(self, entries: Sequence[AuditInput]) -> list[AuditEntry]:
        """Entries in order: the head read once (under the chain's lock), one executemany, the head moved once."""
        if not entries:
            return []
        await self.d.lock_audit(self.conn)
        head = await self.head()
        seq, prev = head if head is not None else (0, GENESIS)
        out: list[AuditEntry] = []
        for actor, action, subject, details in entries:
            seq += 1
            at = time.time()
            h = entry_hash(prev, seq, at, actor, action, subject, details)
            out.append(AuditEntry(seq, at, actor, action, subject, details, prev, h))
            prev = h
        await self.conn.execute(
            insert(AU),
            [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject,
              "details": json.dumps(e.details, sort_keys=True, default=str), "prev_hash": e.prev_hash,
              "hash": e.hash} for e in out],
        )  # fmt: skip
        ins = self.d.insert(HEAD).values(id=1, seq=seq, hash=prev)
        await self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=[HEAD.c.id], set_={"seq": ins.excluded.seq, "hash": ins.excluded.hash}
            )
        )
        return out

    async def head(self) -> tuple[int, str] | None:
        d = await self.one(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1))
        return (int(d["seq"]), str(d["hash"])) if d is not None else None

    async def entries(self, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
        q = select(AU).order_by(AU.c.seq)
        if limit is not None:
            q = q.limit(limit).offset(offset)
        return [_entry(d) for d in await self.rows(q)]

    async def verify(self) -> ChainReport:
        """Run in a snapshot read: an append between reading the head and the entries is not a truncation."""
        head = await self.head()
        return verify_chain(await self.entries(), head)
