"""Campaigns: the plan (batches and members), the steps sent, approvals, retired identities and alerts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update

from controller.store import schema
from controller.store.base import (
    AlertRow,
    ApprovalRow,
    BatchRow,
    CampaignRow,
    MemberRow,
    RetiredRow,
    StepRow,
)
from controller.store.repos._base import Repo

CP = schema.campaigns
B = schema.campaign_batches
M = schema.campaign_members
S = schema.campaign_steps
AP = schema.campaign_approvals
R = schema.retired_cameras
AL = schema.alerts


def _campaign(d: dict[str, Any]) -> CampaignRow:
    d["spec"] = json.loads(d["spec"])
    return CampaignRow(**d)


def _batch(d: dict[str, Any]) -> BatchRow:
    d["manifest"] = bytes(d["manifest"])
    return BatchRow(**d)


def _step(d: dict[str, Any]) -> StepRow:
    d["camera_ids"] = json.loads(d["camera_ids"])
    return StepRow(**d)


def _alert(d: dict[str, Any]) -> AlertRow:
    d["details"] = json.loads(d["details"])
    return AlertRow(**d)


class CampaignRepo(Repo):
    async def create(self, c: CampaignRow, batches: Sequence[BatchRow], members: Sequence[MemberRow]) -> None:
        await self.conn.execute(
            insert(CP).values(campaign_id=c.campaign_id, name=c.name, spec=json.dumps(c.spec), state=c.state,
                              created_by=c.created_by, created_at=c.created_at, updated_at=c.updated_at,
                              reason=c.reason)
        )  # fmt: skip
        if batches:
            await self.conn.execute(insert(B), [vars(b).copy() for b in batches])
        if members:
            await self.conn.execute(insert(M), [vars(m).copy() for m in members])

    async def get(self, campaign_id: str) -> CampaignRow | None:
        d = await self.one(select(CP).where(CP.c.campaign_id == campaign_id))
        return _campaign(d) if d is not None else None

    async def recent(
        self, limit: int = 100, offset: int = 0, *, states: Sequence[str] | None = None
    ) -> list[CampaignRow]:
        q = select(CP)
        if states is not None:
            q = q.where(CP.c.state.in_(list(states)))
        q = q.order_by(CP.c.created_at.desc()).limit(limit).offset(offset)
        return [_campaign(d) for d in await self.rows(q)]

    async def active(self, aborted_since: float) -> list[CampaignRow]:
        """Campaigns that can still change: created, running or paused; with a batch rolling back; or aborted
        after `aborted_since` (executions running at the abort still finish). Finished ones are not loaded."""
        rolling = select(B.c.campaign_id).where(B.c.state == "ROLLING_BACK")
        q = select(CP).where(
            or_(
                CP.c.state.in_(["CREATED", "RUNNING", "PAUSED"]),
                CP.c.campaign_id.in_(rolling),
                and_(CP.c.state == "ABORTED", CP.c.updated_at >= aborted_since),
            )
        )
        return [_campaign(d) for d in await self.rows(q.order_by(CP.c.created_at))]

    async def update(self, c: CampaignRow) -> None:
        await self.conn.execute(
            update(CP)
            .where(CP.c.campaign_id == c.campaign_id)
            .values(state=c.state, reason=c.reason, updated_at=c.updated_at)
        )

    async def batches(self, campaign_id: str) -> list[BatchRow]:
        return [
            _batch(d)
            for d in await self.rows(select(B).where(B.c.campaign_id == campaign_id).order_by(B.c.idx))
        ]

    async def batch_update(self, b: BatchRow) -> None:
        values = {k: v for k, v in vars(b).items() if k not in ("campaign_id", "batch_id", "idx")}
        await self.conn.execute(
            update(B).where(B.c.campaign_id == b.campaign_id, B.c.batch_id == b.batch_id).values(**values)
        )

    async def members(self, campaign_id: str, batch_id: str | None = None) -> list[MemberRow]:
        q = select(M).where(M.c.campaign_id == campaign_id)
        if batch_id is not None:
            q = q.where(M.c.batch_id == batch_id)
        return [MemberRow(**d) for d in await self.rows(q.order_by(M.c.camera_id))]

    async def member_update(self, m: MemberRow) -> None:
        await self.member_updates([m])

    async def member_updates(self, members: Sequence[MemberRow]) -> None:
        if not members:
            return
        await self.conn.execute(
            update(M).where(M.c.campaign_id == bindparam("k_c"), M.c.camera_id == bindparam("k_cam"))
            .values(agent_id=bindparam("v_agent"), status=bindparam("v_status"), stages_done=bindparam("v_done")),
            [{"k_c": m.campaign_id, "k_cam": m.camera_id, "v_agent": m.agent_id, "v_status": m.status,
              "v_done": m.stages_done} for m in members],
        )  # fmt: skip

    async def step_add(self, step: StepRow) -> bool:
        """Record a step before its command is published; False if the key exists (it was already sent, maybe
        by another replica: the primary key decides, atomically)."""
        values = {**vars(step), "camera_ids": json.dumps(step.camera_ids)}
        return (
            await self.run(
                self.d.insert(S).values(**values).on_conflict_do_nothing(index_elements=[S.c.step_key])
            )
            > 0
        )

    async def steps(self, campaign_id: str, batch_id: str | None = None) -> list[StepRow]:
        q = select(S).where(S.c.campaign_id == campaign_id)
        if batch_id is not None:
            q = q.where(S.c.batch_id == batch_id)
        return [_step(d) for d in await self.rows(q.order_by(S.c.created_at, S.c.step_key))]

    async def approval_add(self, a: ApprovalRow) -> bool:
        """False when this person or this key already approved this manifest of the batch (each counts once)."""
        return await self.run(self.d.insert(AP).values(**vars(a)).on_conflict_do_nothing()) > 0

    async def approvals(self, campaign_id: str, batch_id: str) -> list[ApprovalRow]:
        q = select(AP).where(AP.c.campaign_id == campaign_id, AP.c.batch_id == batch_id).order_by(AP.c.at)
        out = []
        for d in await self.rows(q):
            d["signature"] = bytes(d["signature"])
            out.append(ApprovalRow(**d))
        return out

    async def retired_put(self, r: RetiredRow) -> None:
        await self.retired_put_many([r])

    async def retired_put_many(self, rows: Sequence[RetiredRow]) -> None:
        if not rows:
            return
        values = [{**vars(r), "macs": json.dumps(r.macs), "seen_gone": int(r.seen_gone)} for r in rows]
        ins = self.d.insert(R)
        keep = [k for k in values[0] if k != "camera_id"]
        await self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=[R.c.camera_id], set_={k: ins.excluded[k] for k in keep}
            ),
            values,
        )

    async def retired_list(self) -> list[RetiredRow]:
        out = []
        for d in await self.rows(select(R).order_by(R.c.camera_id)):
            d["macs"] = json.loads(d["macs"])
            d["seen_gone"] = bool(d["seen_gone"])
            out.append(RetiredRow(**d))
        return out

    async def alert_add(self, a: AlertRow) -> AlertRow:
        stmt = insert(AL).values(at=a.at, kind=a.kind, camera_id=a.camera_id, matched_camera_id=a.matched_camera_id,
                                 message=a.message, details=json.dumps(a.details, default=str))  # fmt: skip
        a.alert_id = int((await self.conn.execute(stmt.returning(AL.c.alert_id))).scalar_one())
        return a

    async def alerts(self, *, open_only: bool = False, limit: int = 100, offset: int = 0) -> list[AlertRow]:
        q = select(AL)
        if open_only:
            q = q.where(AL.c.acknowledged_at == 0)
        return [
            _alert(d) for d in await self.rows(q.order_by(AL.c.alert_id.desc()).limit(limit).offset(offset))
        ]

    async def alert_ack(self, alert_id: int, by: str, at: float) -> bool:
        stmt = (
            update(AL).where(AL.c.alert_id == alert_id, AL.c.acknowledged_at == 0)
            .values(acknowledged_by=by, acknowledged_at=at)
        )  # fmt: skip
        return await self.run(stmt) > 0
