"""Cameras: inventory ingest (idempotent, ordered per agent), queries and counts, history and lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, select, update

from controller.store import schema
from controller.store.base import BREAKDOWN_COLUMNS, CameraFilter, CameraRow, like_pattern
from controller.store.repos._base import Repo

C = schema.cameras
A = schema.agents
H = schema.camera_history
CAMERA_COLUMNS = [f.name for f in fields(CameraRow)]
ORDERABLE = frozenset({"camera_id", "site", "origin", "manufacturer", "risk_score", "risk_level", "host"})
COUNTABLE = frozenset({"origin", "site", "risk_level", "lifecycle", "manufacturer", "agent_id", "model",
                       "covered", "cloud_reachable", "oem_rebrand"})  # fmt: skip
# Fields whose change is worth a history entry (the record blob changes on every observation).
TRACKED = (
    "manufacturer",
    "model",
    "firmware",
    "origin",
    "risk_level",
    "cloud_reachable",
    "host",
    "reachable",
)
BOOLS = ("covered", "oem_rebrand", "cloud_reachable", "reachable")
# The columns of the covering index cameras_breakdown after vanished (migration 0007_breakdown_index).
BREAKDOWN_ORDER = ("origin", "manufacturer", "site", "risk_level", "lifecycle", "oem_rebrand", "covered",
                   "cloud_reachable")  # fmt: skip


def camera(d: dict[str, Any]) -> CameraRow:
    d.pop("vanished", None)
    for k in BOOLS:
        d[k] = bool(d[k])
    d["tags"] = json.loads(d["tags"])
    d["macs"] = json.loads(d["macs"])
    d["record"] = bytes(d["record"])
    return CameraRow(**d)


class CameraRepo(Repo):
    def where(self, flt: CameraFilter) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [C.c.vanished == 0]
        for col in ("origin", "manufacturer", "site", "agent_id", "risk_level", "lifecycle"):
            value = getattr(flt, col)
            if value:
                out.append(C.c[col] == value)
        for col in ("covered", "cloud_reachable"):
            value = getattr(flt, col)
            if value is not None:
                out.append(C.c[col] == int(value))
        if flt.search:
            # Case-insensitive on both engines (SQLite's LIKE already is for ASCII; PostgreSQL's is not), and
            # literal: `%` and `_` in the search text are escaped, so q=% is not "every camera".
            p = like_pattern(flt.search)
            cols = (C.c.camera_id, C.c.host, C.c.model, C.c.manufacturer, C.c.firmware)
            out.append(or_(*(c.ilike(p, escape="\\") for c in cols)))
        if flt.camera_ids is not None:
            out.append(self.d.member_of(C.c.camera_id, list(flt.camera_ids)))
        return out

    async def ingest(
        self, agent_id: str, rows: Sequence[CameraRow], *, full: bool, removed: Sequence[str], seq: int
    ) -> int:
        """Store an inventory report. Reports older than the last one applied from this agent are dropped, so a
        redelivered or reordered message never rolls a camera back. Returns cameras written.

        The hot path of ingest: a constant number of statements per report whatever its size (old rows in one
        SELECT per chunk, history and cameras each as one executemany)."""
        now = time.time()
        await self.conn.execute(self.d.insert(A).values(agent_id=agent_id).on_conflict_do_nothing())
        # The agent row lock orders concurrent reports of one agent (two replicas, redelivery).
        got = (
            await self.conn.execute(
                self.d.for_update(select(A.c.inventory_seq).where(A.c.agent_id == agent_id))
            )
        ).scalar_one()
        if seq and int(got) >= seq:
            return 0
        ids = list(dict.fromkeys(r.camera_id for r in rows))
        olds: dict[str, dict[str, Any]] = {}
        cols = [C.c.camera_id, *(C.c[k] for k in TRACKED), C.c.lifecycle, C.c.tags]
        for part in self.d.chunks(sorted(ids)):
            q = select(*cols).where(self.d.member_of(C.c.camera_id, part)).order_by(C.c.camera_id)
            for r in await self.rows(self.d.for_update(q)):
                olds[r["camera_id"]] = r
        history: list[dict[str, Any]] = []
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:  # in report order: a camera listed twice compares its second copy with the first
            # (not dataclasses.asdict: it deep-copies every field, a third of the ingest's CPU)
            values = {k: int(v) if isinstance(v := getattr(row, k), bool) else v for k in CAMERA_COLUMNS}
            values["tags"], values["macs"] = json.dumps(row.tags), json.dumps(row.macs)
            values["updated_at"] = now
            old = olds.get(row.camera_id)
            if old is not None:
                # Lifecycle and tags belong to the controller (campaigns, operators), not to the agent.
                values["lifecycle"], values["tags"] = old["lifecycle"], old["tags"]
                change = {k: [old[k], values[k]] for k in TRACKED if old[k] != values[k]}
                if change:
                    history.append(
                        {"camera_id": row.camera_id, "at": now, "change": json.dumps(change, default=str)}
                    )
            else:
                history.append({"camera_id": row.camera_id, "at": now,
                                "change": json.dumps({"first_seen": [None, row.host]})})  # fmt: skip
            olds[row.camera_id] = values
            latest[row.camera_id] = values
        if history:
            await self.conn.execute(insert(H), history)
        if latest:
            ins = self.d.insert(C)
            keep = [c for c in CAMERA_COLUMNS if c not in ("camera_id", "lifecycle", "tags")]
            await self.conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[C.c.camera_id], set_={**{c: ins.excluded[c] for c in keep}, "vanished": 0}
                ),
                list(latest.values()),
            )
        gone = list(removed)
        if full:
            active = select(C.c.camera_id).where(C.c.agent_id == agent_id, C.c.vanished == 0)
            gone += [r["camera_id"] for r in await self.rows(active) if r["camera_id"] not in latest]
        for part in self.d.chunks(gone):
            await self.conn.execute(
                update(C).where(C.c.agent_id == agent_id, self.d.member_of(C.c.camera_id, part))
                .values(vanished=1, updated_at=now)
            )  # fmt: skip
        count = select(func.count()).where(C.c.agent_id == agent_id, C.c.vanished == 0).scalar_subquery()
        await self.conn.execute(
            update(A)
            .where(A.c.agent_id == agent_id)
            .values(inventory_seq=seq, last_seen=now, camera_count=count)
        )
        return len(rows)

    async def get(self, camera_id: str) -> CameraRow | None:
        d = await self.one(select(C).where(C.c.camera_id == camera_id))
        return camera(d) if d is not None else None

    async def get_many(self, camera_ids: Sequence[str]) -> dict[str, CameraRow]:
        out: dict[str, CameraRow] = {}
        for part in self.d.chunks(list(dict.fromkeys(camera_ids))):
            out |= {
                d["camera_id"]: camera(d)
                for d in await self.rows(select(C).where(self.d.member_of(C.c.camera_id, part)))
            }
        return out

    async def query(
        self, flt: CameraFilter, *, limit: int = 50, offset: int = 0, order: str = "camera_id"
    ) -> tuple[list[CameraRow], int]:
        """A page and the total (in a snapshot read, so they agree while ingest writes)."""
        desc = order.startswith("-")
        col = order.lstrip("-")
        if col not in ORDERABLE:
            raise ValueError(f"cannot sort by {col!r}; use one of {sorted(ORDERABLE)}")
        where = self.where(flt)
        total = (await self.conn.execute(select(func.count()).select_from(C).where(*where))).scalar_one()
        key = C.c[col].desc() if desc else C.c[col].asc()
        page = select(C).where(*where).order_by(key, C.c.camera_id).limit(limit).offset(offset)
        return [camera(d) for d in await self.rows(page)], int(total)

    async def history(self, camera_id: str, limit: int = 100) -> list[dict[str, Any]]:
        q = (
            select(H.c.at, H.c.change)
            .where(H.c.camera_id == camera_id)
            .order_by(H.c.at.desc(), H.c.id.desc())
        )
        return [{"at": r["at"], "change": json.loads(r["change"])} for r in await self.rows(q.limit(limit))]

    async def owners(self, camera_ids: Sequence[str]) -> dict[str, str]:
        """camera id -> the agent it belongs to, for the ids known (vanished cameras too)."""
        out: dict[str, str] = {}
        for part in self.d.chunks(list(dict.fromkeys(camera_ids))):
            q = select(C.c.camera_id, C.c.agent_id).where(self.d.member_of(C.c.camera_id, list(part)))
            out.update({str(r["camera_id"]): str(r["agent_id"]) for r in await self.rows(q)})
        return out

    async def set_agent(self, camera_id: str, agent_id: str) -> bool:
        """An admin's reassignment: from now on only `agent_id` may report on the camera."""
        now = time.time()
        n = await self.run(
            update(C).where(C.c.camera_id == camera_id).values(agent_id=agent_id, updated_at=now)
        )
        if n:
            await self.conn.execute(
                insert(H).values(
                    camera_id=camera_id, at=now, change=json.dumps({"agent_id": [None, agent_id]})
                )
            )
        return n > 0

    async def set_lifecycle(self, camera_id: str, lifecycle: str) -> None:
        await self.set_lifecycles([(camera_id, lifecycle)])

    async def set_lifecycles(self, changes: Sequence[tuple[str, str]]) -> None:
        """(camera_id, lifecycle) pairs, each with its history entry: two executemany statements."""
        if not changes:
            return
        now = time.time()
        await self.conn.execute(
            update(C).where(C.c.camera_id == bindparam("k")).values(lifecycle=bindparam("v"), updated_at=now),
            [{"k": cid, "v": lc} for cid, lc in changes],
        )
        await self.conn.execute(
            insert(H),
            [
                {"camera_id": cid, "at": now, "change": json.dumps({"lifecycle": [None, lc]})}
                for cid, lc in changes
            ],
        )

    async def counts(self, column: str, flt: CameraFilter | None = None) -> dict[str, int]:
        if column not in COUNTABLE:
            raise ValueError(f"cannot count by {column!r}")
        q = select(C.c[column], func.count()).where(*self.where(flt or CameraFilter())).group_by(C.c[column])
        return {str(r[0]): int(r[1]) for r in (await self.conn.execute(q)).all()}

    async def breakdown(
        self, columns: Sequence[str], flt: CameraFilter | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """Counts grouped by several columns in ONE scan: the dashboard derives every total from it."""
        bad = [c for c in columns if c not in BREAKDOWN_COLUMNS]
        if bad or not columns or len(set(columns)) != len(columns):
            raise ValueError(f"cannot break down by {bad or columns}")
        # Grouped in the covering index's column order (revision 0007), whatever order the caller asked for:
        # SQLite then reads the index, not the table, and needs no temporary b-tree for a prefix of it.
        ordered = sorted(
            columns, key=lambda c: BREAKDOWN_ORDER.index(c) if c in BREAKDOWN_ORDER else len(BREAKDOWN_ORDER)
        )
        back = [ordered.index(c) for c in columns]
        cols = [C.c[c] for c in ordered]
        q = select(*cols, func.count()).where(*self.where(flt or CameraFilter())).group_by(*cols)
        n = len(columns)
        out = []
        for r in (await self.conn.execute(q)).all():
            values = [str(int(v)) if isinstance(v, bool) else str(v) for v in r[:n]]
            out.append((tuple(values[i] for i in back), int(r[n])))
        return out

    async def changed_since(self, since: float) -> list[tuple[CameraRow, bool]]:
        """Cameras written (inventoried or marked vanished) at or after `since`, with their vanished flag."""
        q = select(C).where(C.c.updated_at >= since).order_by(C.c.updated_at, C.c.camera_id)
        out = []
        for d in await self.rows(q):
            vanished = bool(d["vanished"])
            out.append((camera(d), vanished))
        return out
