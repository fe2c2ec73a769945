"""What the campaign service and runner share: state transitions with their audit entries, approval
manifests, steps (recorded before their command is sent) and the lifecycle of cameras a stage finished.

Every command a campaign sends is first recorded as a *step* whose key names campaign, batch, kind, stage,
attempt and agent (and, for rollbacks, the command undone). The key is stored before the command is created
and published, so a tick that runs again (or a new runner after a controller restart) finds the key and sends
nothing. Progress is re-derived from the executions in the store, never kept only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from controller.actions import build_action
from controller.campaigns import planner
from controller.campaigns.approvals import batch_manifest, pinned_valid, wire_signatures
from controller.publisher import Publisher
from controller.store import Store
from controller.store.base import (
    ApprovalRow,
    AuditInput,
    BatchRow,
    CameraRow,
    CampaignRow,
    MemberRow,
    RetiredRow,
    StepRow,
)
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import manifest_digest
from protos.keys import Keyring

Lock = contextlib.AbstractAsyncContextManager[Any]


class CampaignError(ValueError):
    """An operation the campaign's state does not allow; the message says why (a 4xx for the API)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class CampaignCore:
    """`lock` serialises API operations with the runner's tick: a local lock for one controller, the cluster
    mutex of controller/lease.py for replicas on one database."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        approvals_required: int = 2,
        clock: Callable[[], float] = time.time,
        lock: Lock | None = None,
        approver_keyring: Keyring | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.approvals_required = max(2, approvals_required)
        self.clock = clock
        self.lock: Lock = lock if lock is not None else asyncio.Lock()
        # The approver keys this controller pins (keys.approver_keyring): only their signatures make a
        # destructive batch READY or travel in an envelope, as only they pass the agents' own check.
        self.approver_keyring = approver_keyring

    def _counted(self, rows: list[ApprovalRow], b: BatchRow) -> list[ApprovalRow]:
        """The approvals that count for batch `b` at this controller (approvals.pinned_valid)."""
        return pinned_valid(rows, b.manifest, b.manifest_digest, self.approver_keyring)

    async def _audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
        await self.store.append_audit(actor, action, subject, details)

    async def _batch_to(self, actor: str, b: BatchRow, new: str, reason: str = "") -> None:
        old = b.state
        b.state = planner.transition(old, new)
        b.reason = reason
        b.updated_at = self.clock()
        async with self.store.tx() as tx:
            await tx.campaigns.batch_update(b)
            await tx.audit.append(actor, "campaign.batch.state", f"{b.campaign_id}/{b.batch_id}",
                                  {"from": old, "to": new, "reason": reason})  # fmt: skip

    async def _campaign_to(self, actor: str, c: CampaignRow, new: str, reason: str = "") -> None:
        old = c.state
        c.state = planner.transition(old, new, planner.CAMPAIGN_TRANSITIONS)
        c.reason = reason
        c.updated_at = self.clock()
        async with self.store.tx() as tx:
            await tx.campaigns.update(c)
            await tx.audit.append(
                actor, "campaign.state", c.campaign_id, {"from": old, "to": new, "reason": reason}
            )

    async def _prepare(self, actor: str, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """PLANNED -> AWAITING_APPROVAL (with the manifest approvers sign) or straight to READY."""
        if b.state != "PLANNED":
            return
        if spec.needs_approval:
            await self._new_manifest(c, spec, b)
            await self._batch_to(actor, b, "AWAITING_APPROVAL", f"needs {spec.approvals_required} approvers")
        else:
            await self._batch_to(actor, b, "READY")

    async def _refs(self, members: list[MemberRow]) -> dict[str, str]:
        """Camera id -> its agent's reference now, for the members that have one (what commands and manifests
        name them by: agents know cameras by address, the controller by identity)."""
        by_agent: dict[str, list[str]] = defaultdict(list)
        for m in members:
            by_agent[m.agent_id].append(m.camera_id)
        out: dict[str, str] = {}
        async with self.store.read() as r:
            for agent, ids in sorted(by_agent.items()):
                out |= await r.cameras.refs_of(agent, ids)
        return out

    async def _new_manifest(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """The manifest approvers sign names the batch's cameras as the agents will see them in the command:
        by their references now (a camera that moves before it is sent needs a new approval)."""
        stage = next(s for s in spec.stages if s.destructive)
        refs = await self._refs(await self.store.campaign_members(c.campaign_id, b.batch_id))
        cams = sorted(refs.values())
        b.manifest_not_after = self.clock() + spec.approval_ttl_s
        b.manifest = batch_manifest(
            c.campaign_id, b.batch_id, stage.action, stage.params, cams, b.manifest_not_after
        )
        b.manifest_digest = manifest_digest(b.manifest)
        b.updated_at = self.clock()
        async with self.store.tx() as tx:
            await tx.campaigns.batch_update(b)
            await tx.audit.append("controller", "campaign.batch.manifest", f"{b.campaign_id}/{b.batch_id}",
                                  {"digest": b.manifest_digest, "cameras": len(cams), "not_after": b.manifest_not_after})  # fmt: skip

    async def _create_and_publish(
        self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow, st: StepRow
    ) -> None:
        """The step's command, out through the publisher shared with ad-hoc commands."""
        stage = spec.stages[st.stage_idx]
        approvals: list[pb.Signature] = []
        manifest = b""
        if st.kind == "rollback":
            undone = st.undoes
            action, params = build_action("rollback", {"snapshot_id": undone}), {"snapshot_id": undone}
        else:
            action, params = build_action(stage.action, stage.params), stage.params
            if stage.destructive and st.kind == "run":
                manifest = b.manifest
                approvals = wire_signatures(
                    self._counted(await self.store.campaign_approvals(c.campaign_id, b.batch_id), b)
                )
        await self.publisher.issue(
            st.agent_id, action, params, st.camera_ids, actor=f"campaign:{c.campaign_id}", ttl_s=spec.ttl_s,
            dry_run=st.kind == "preview", campaign_id=c.campaign_id, batch_id=b.batch_id,
            approval_manifest=manifest, approvals=approvals, command_id=st.command_id,
            audit={"step": st.step_key, "approvers": [s.key_id for s in approvals]},
        )  # fmt: skip

    @staticmethod
    def _step_key(b: BatchRow, kind: str, tail: str, agent: str) -> str:
        idx = b.stage_idx if kind == "run" else b.rollback_idx
        return f"{b.campaign_id}/{b.batch_id}/{kind}/{idx}/{tail}/{agent}"

    async def _send(
        self,
        c: CampaignRow,
        spec: planner.CampaignSpec,
        b: BatchRow,
        kind: str,
        cams: list[MemberRow],
        tail: str,
    ) -> int:
        """One step per agent; a step whose key exists was sent already and is skipped."""
        by_agent: dict[str, list[str]] = defaultdict(list)
        for m in cams:
            by_agent[m.agent_id].append(m.camera_id)
        sent = 0
        for agent, ids in sorted(by_agent.items()):
            key = self._step_key(b, kind, tail, agent)
            st = StepRow(key, c.campaign_id, b.batch_id, kind, b.stage_idx if kind == "run" else b.rollback_idx,
                         b.attempt if kind == "run" else 0, agent, str(uuid.uuid4()), sorted(ids), self.clock(),
                         undoes=tail if kind == "rollback" else "")  # fmt: skip
            if await self.store.campaign_step_add(st):
                await self._create_and_publish(c, spec, b, st)
                sent += 1
        return sent

    async def _stage_states(
        self, c: CampaignRow, b: BatchRow, stage_idx: int, of: str = "state"
    ) -> dict[str, str]:
        """camera -> latest execution state (or `of`: goal) of the batch's run steps for one stage."""
        async with self.store.read() as r:
            steps = [s for s in await r.campaigns.steps(c.campaign_id, b.batch_id)
                     if s.kind == "run" and s.stage_idx == stage_idx]  # fmt: skip
            execs = await r.commands.executions_of([s.command_id for s in steps])
        return planner.latest(
            [(s.attempt, e.camera_id, getattr(e, of)) for s in steps for e in execs[s.command_id]]
        )

    async def _move_members(
        self, moves: list[tuple[MemberRow, Callable[[str], str]]], actor: str, details: dict[str, Any]
    ) -> None:
        """Members whose lifecycle moves (fn: old -> new lifecycle) and whose row changed, in one transaction
        with the audit entry of every move (a crash leaves all of them or none)."""
        if not moves:
            return
        async with self.store.tx() as tx:
            cams = await tx.cameras.get_many([m.camera_id for m, _ in moves])
            changes: list[tuple[str, str]] = []
            audit: list[AuditInput] = []
            retired: list[RetiredRow] = []
            for m, fn in moves:
                cam = cams.get(m.camera_id)
                new = fn(cam.lifecycle) if cam is not None else ""
                if cam is not None and new != cam.lifecycle:
                    changes.append((m.camera_id, new))
                    audit.append(
                        (
                            actor,
                            "camera.lifecycle",
                            m.camera_id,
                            {"from": cam.lifecycle, "to": new, **details},
                        )
                    )
                    if new in planner.RETIRED:
                        retired.append(self._retired(cam, new))
            # Whole batches at a time: a few statements per batch, not per camera.
            await tx.cameras.set_lifecycles(changes)
            await tx.audit.append_many(audit)
            await tx.campaigns.retired_put_many(retired)
            await tx.campaigns.member_updates([m for m, _ in moves])

    def _retired(self, cam: CameraRow, lifecycle: str) -> RetiredRow:
        """The identity a retired camera is recognised by if it comes back (controller/campaigns/scanner.py)."""
        rec = pb.CameraRecord.FromString(cam.record) if cam.record else pb.CameraRecord()
        return RetiredRow(cam.camera_id, lifecycle, cam.fingerprint, rec.identity.serial,
                          sorted(m.lower() for m in rec.identity.macs), self.clock())  # fmt: skip

    async def _abort(self, c: CampaignRow, actor: str, reason: str) -> None:
        for b in await self.store.campaign_batches(c.campaign_id):
            if b.state in planner.FINAL_BATCH:
                continue
            if b.state in ("RUNNING", "PAUSED"):
                # Executions not yet accepted by an agent are canceled; ones already running finish there.
                for st in await self.store.campaign_steps(c.campaign_id, b.batch_id):
                    if st.kind == "run":
                        await self.store.cancel_command(st.command_id)
            await self._batch_to(actor, b, "ABORTED", reason)
        await self._campaign_to(actor, c, "ABORTED", reason)

    async def _load(self, campaign_id: str) -> tuple[CampaignRow, planner.CampaignSpec, list[BatchRow]]:
        c = await self.store.campaign_get(campaign_id)
        if c is None:
            raise CampaignError(f"no campaign {campaign_id}", 404)
        return c, planner.CampaignSpec.from_dict(c.spec), await self.store.campaign_batches(campaign_id)

    @staticmethod
    def _batch(batches: list[BatchRow], batch_id: str) -> BatchRow:
        for b in batches:
            if b.batch_id == batch_id:
                return b
        raise CampaignError(f"no batch {batch_id}", 404)
