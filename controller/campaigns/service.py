"""The campaign service: what the API and the dashboard call (create with its dry-run preview, approve,
start, pause, resume, abort, roll back, confirm removal, acknowledge alerts, status and preview reads)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from controller.campaigns import planner
from controller.campaigns.approvals import ApprovalError, check_signature
from controller.campaigns.core import CampaignCore, CampaignError
from controller.commands import check_growth, select_cameras
from controller.models import CampaignCreate, Selection, parse_obj
from controller.recorders import campaign_impact, refusals
from controller.store.base import ApprovalRow, BatchRow, CameraRow, CampaignRow, MemberRow, StepRow, UserRow


class CampaignService(CampaignCore):
    def __init__(self, core: CampaignCore, wake: Callable[[], None]) -> None:
        super().__init__(core.store, core.publisher, approvals_required=core.approvals_required, clock=core.clock,
                         lock=core.lock, approver_keyring=core.approver_keyring)  # fmt: skip
        self.wake = wake  # the runner looks again at once after an operation

    async def targets(self, spec: planner.CampaignSpec) -> list[CameraRow]:
        # Retired cameras are never targeted again.
        return await select_cameras(self.store, Selection.model_validate(spec.where), retired=planner.RETIRED)

    def spec_of(self, req: CampaignCreate) -> planner.CampaignSpec:
        """The planner's spec of a validated request (the controller's approval count when none is given)."""
        doc = req.model_dump(mode="json", exclude={"expect_cameras"})
        doc["where"] = req.where.model_dump(mode="json", exclude_defaults=True)
        if req.approvals_required is None:
            doc["approvals_required"] = self.approvals_required
        try:
            spec = planner.CampaignSpec.from_dict(doc, approvals_required=self.approvals_required)
        except planner.PlanError as exc:
            raise CampaignError(str(exc), 400) from exc
        if spec.approvals_required < self.approvals_required and spec.needs_approval:
            raise CampaignError(f"approvals_required: at least {self.approvals_required} here", 400)
        return spec

    async def create(self, req: CampaignCreate | Mapping[str, Any], actor: str) -> CampaignRow:
        """Plan a campaign: resolve its cameras now (the plan is fixed), cut the batches, prepare the first
        batch (its approval manifest if a stage is destructive) and send the dry-run preview. A destructive
        campaign whose selection holds more cameras than the operator previewed is refused. A mapping is
        validated as controller.models.CampaignCreate first (InputError names a bad field)."""
        if not isinstance(req, CampaignCreate):
            req = parse_obj(CampaignCreate, req)
        spec = self.spec_of(req)
        cams = await self.targets(spec)
        if not cams:
            raise CampaignError("no camera matches the selection", 400)
        check_growth(req.where, len(cams), req.expect_cameras, required=spec.needs_approval)
        refused = refusals(await campaign_impact(self.store, spec, cams))
        if refused is not None:  # cutting cameras off their recorders needs accept_recording_gap
            raise CampaignError(refused, 400)
        now = self.clock()
        cid = str(uuid.uuid4())
        c = CampaignRow(cid, spec.name, spec.to_dict(), "CREATED", actor, now, now)
        by_id = {r.camera_id: r for r in cams}
        batches: list[BatchRow] = []
        members: list[MemberRow] = []
        for i, ids in enumerate(planner.split(list(by_id), spec.plan)):
            bid = f"b{i + 1:03d}"
            batches.append(BatchRow(cid, bid, i, "PLANNED", updated_at=now))
            members += [MemberRow(cid, bid, x, by_id[x].agent_id, by_id[x].lifecycle) for x in ids]
        async with self.lock:
            async with self.store.tx() as tx:
                await tx.campaigns.create(c, batches, members)
                await tx.audit.append(actor, "campaign.create", cid, {"spec": spec.to_dict(), "cameras": len(cams),
                                                                      "batches": [len(m) for m in planner.split(list(by_id), spec.plan)]})  # fmt: skip
            await self._prepare(actor, c, spec, batches[0])
            await self._preview(c, spec, batches, members)
        return c

    async def _preview(
        self, c: CampaignRow, spec: planner.CampaignSpec, batches: list[BatchRow], members: list[MemberRow]
    ) -> None:
        """Dry runs of the non-destructive stages (agents refuse a destructive command without approvals even
        as a dry run, and a factory reset has no per-setting diff). Over the canary batch by default: the
        preview then touches few cameras and returns fast; "all" previews every targeted camera."""
        if spec.preview == "none":
            return
        scope = [m for m in members if spec.preview == "all" or m.batch_id == batches[0].batch_id]
        for i, stage in enumerate(spec.stages):
            if stage.destructive:
                continue
            by_agent: dict[str, list[str]] = defaultdict(list)
            for m in scope:
                by_agent[m.agent_id].append(m.camera_id)
            for agent, cams in sorted(by_agent.items()):
                st = StepRow(f"{c.campaign_id}/preview/{i}/{agent}", c.campaign_id, batches[0].batch_id, "preview",
                             i, 0, agent, str(uuid.uuid4()), sorted(cams), self.clock())  # fmt: skip
                if await self.store.campaign_step_add(st):
                    await self._create_and_publish(c, spec, batches[0], st)

    async def start(self, campaign_id: str, actor: str) -> None:
        async with self.lock:
            c, _, _ = await self._load(campaign_id)
            if c.state != "CREATED":
                raise CampaignError(f"campaign is {c.state}; only a CREATED campaign starts (use resume)")
            await self._campaign_to(actor, c, "RUNNING")
        self.wake()

    async def pause(self, campaign_id: str, actor: str, reason: str = "") -> None:
        async with self.lock:
            c, _, batches = await self._load(campaign_id)
            if c.state != "RUNNING":
                raise CampaignError(f"campaign is {c.state}; only a RUNNING campaign pauses")
            for b in batches:
                if b.state == "RUNNING":
                    await self._batch_to(actor, b, "PAUSED", reason or "paused by operator")
            await self._campaign_to(actor, c, "PAUSED", reason or "paused by operator")

    async def resume(self, campaign_id: str, actor: str) -> None:
        """Continue; a stage whose gate stopped it is retried (failed cameras only, or all: retry_failed_only)."""
        async with self.lock:
            c, _, batches = await self._load(campaign_id)
            if c.state != "PAUSED":
                raise CampaignError(f"campaign is {c.state}; only a PAUSED campaign resumes")
            for b in batches:
                if b.state != "PAUSED":
                    continue
                states = await self._stage_states(c, b, b.stage_idx)
                if any(s in planner.RETRYABLE for s in states.values()):
                    b.attempt += 1
                await self._batch_to(actor, b, "RUNNING", f"resumed (attempt {b.attempt})")
            await self._campaign_to(actor, c, "RUNNING")
        self.wake()

    async def abort(self, campaign_id: str, actor: str, reason: str = "") -> None:
        async with self.lock:
            c, _, _ = await self._load(campaign_id)
            if c.state in ("COMPLETED", "ABORTED"):
                raise CampaignError(f"campaign is already {c.state}")
            await self._abort(c, actor, reason or "aborted by operator")

    async def rollback(self, campaign_id: str, batch_id: str, actor: str) -> None:
        async with self.lock:
            c, _, batches = await self._load(campaign_id)
            b = self._batch(batches, batch_id)
            if b.state not in ("SUCCEEDED", "ABORTED"):
                raise CampaignError(
                    f"batch is {b.state}; roll back a SUCCEEDED or ABORTED batch (abort it first)"
                )
            steps = await self.store.campaign_steps(c.campaign_id, b.batch_id)
            b.rollback_idx = max((s.stage_idx for s in steps if s.kind == "run"), default=-1)
            await self._batch_to(actor, b, "ROLLING_BACK", "rollback requested")
        self.wake()

    async def approve(
        self, campaign_id: str, batch_id: str, user: UserRow, key_id: str, signature: bytes
    ) -> dict[str, Any]:
        """Record one approver's signature over the batch manifest. Refused: the campaign's creator (four
        eyes), a second approval by the same person or key, a signature that does not verify against the
        person's registered key, an expired manifest. Enough distinct approvals make the batch READY."""
        async with self.lock:
            c, spec, batches = await self._load(campaign_id)
            b = self._batch(batches, batch_id)
            if b.state != "AWAITING_APPROVAL":
                raise CampaignError(f"batch is {b.state}, not awaiting approval")
            if user.username == c.created_by:
                raise CampaignError("the person who created a campaign cannot approve it", 403)
            if b.manifest_not_after <= self.clock():
                raise CampaignError("the manifest expired; fetch the renewed one and sign again")
            if self.approver_keyring is None:
                raise CampaignError(
                    "this controller pins no approver keyring (keys.approver_keyring), so no approval can count"
                )
            if key_id not in self.approver_keyring:
                raise CampaignError(f"key {key_id} is not in the controller's pinned approver keyring", 403)
            try:
                check_signature(b.manifest, user.approver_key, key_id, signature)
            except ApprovalError as exc:
                raise CampaignError(str(exc), 400) from exc
            row = ApprovalRow(
                campaign_id, batch_id, user.username, key_id, signature, b.manifest_digest, self.clock()
            )
            async with self.store.tx() as tx:
                if not await tx.campaigns.approval_add(row):
                    raise CampaignError("this person or this key has already approved the batch")
                await tx.audit.append(user.username, "campaign.batch.approve", f"{campaign_id}/{batch_id}",
                                      {"key_id": key_id, "digest": b.manifest_digest})  # fmt: skip
            valid = self._counted(await self.store.campaign_approvals(campaign_id, batch_id), b)
            if len(valid) >= spec.approvals_required:
                await self._batch_to(
                    user.username, b, "READY", f"approved by {', '.join(v.username for v in valid)}"
                )
        self.wake()
        return {"approvals": len(valid), "required": spec.approvals_required, "state": b.state}

    async def confirm_removed(self, camera_id: str, actor: str, note: str) -> None:
        if not note.strip():
            raise CampaignError("a note is required (who removed it, where it went)", 400)
        async with self.lock:
            cam = await self.store.get_camera(camera_id)
            if cam is None:
                raise CampaignError(f"no camera {camera_id}", 404)
            if not planner.can_remove(cam.lifecycle):
                raise CampaignError(
                    f"camera is {cam.lifecycle}; only a DECOMMISSIONED camera is marked REMOVED"
                )
            async with self.store.tx() as tx:
                await tx.cameras.set_lifecycle(camera_id, "REMOVED")
                await tx.audit.append(actor, "camera.lifecycle", camera_id,
                                      {"from": cam.lifecycle, "to": "REMOVED", "note": note.strip()})  # fmt: skip
                await tx.campaigns.retired_put(self._retired(cam, "REMOVED"))

    async def ack_alert(self, alert_id: int, actor: str) -> None:
        async with self.store.tx() as tx:
            if not await tx.campaigns.alert_ack(alert_id, actor, self.clock()):
                raise CampaignError(f"no open alert {alert_id}", 404)
            await tx.audit.append(actor, "alert.ack", str(alert_id), {})

    async def status(self, campaign_id: str) -> dict[str, Any]:
        c, spec, batches = await self._load(campaign_id)
        out: dict[str, Any] = {
            "campaign_id": c.campaign_id, "name": c.name, "state": c.state, "reason": c.reason,
            "created_by": c.created_by, "created_at": c.created_at, "updated_at": c.updated_at, "spec": c.spec,
            "in_window": planner.in_windows(self.clock(), spec.windows), "batches": [],
        }  # fmt: skip
        for b in batches:
            members = await self.store.campaign_members(c.campaign_id, b.batch_id)
            stages = []
            for i, s in enumerate(spec.stages):
                states = await self._stage_states(c, b, i)
                t = planner.tally(states.values()) if states else None
                stages.append({"action": s.action, "started": bool(states),
                               "counts": {"total": t.total, "succeeded": t.succeeded, "failed": t.failed,
                                          "canceled": t.canceled} if t else None,
                               "gate": planner.evaluate(t, spec.gate) if t else None})  # fmt: skip
            approvals = await self.store.campaign_approvals(c.campaign_id, b.batch_id)
            out["batches"].append({
                "batch_id": b.batch_id, "index": b.idx, "state": b.state, "reason": b.reason,
                "stage": spec.stages[b.stage_idx].action if b.stage_idx < len(spec.stages) else None,
                "attempt": b.attempt, "size": len(members), "camera_ids": [m.camera_id for m in members],
                "members": {m.camera_id: m.status for m in members}, "stages": stages,
                "approval": {"required": spec.approvals_required if spec.needs_approval else 0,
                             "digest": b.manifest_digest, "not_after": b.manifest_not_after,
                             "approvers": [{"username": a.username, "key_id": a.key_id, "at": a.at}
                                           for a in self._counted(approvals, b)]},
            })  # fmt: skip
        return out

    async def preview(self, campaign_id: str) -> dict[str, Any]:
        """The dry-run results: per camera and stage, which settings would change (outcome per setting)."""
        c, spec, _ = await self._load(campaign_id)
        cams: dict[str, dict[str, Any]] = defaultdict(dict)
        pending = 0
        for st in await self.store.campaign_steps(campaign_id):
            if st.kind != "preview":
                continue
            for e in await self.store.executions(st.command_id):
                stage = spec.stages[st.stage_idx].action
                cams[e.camera_id][stage] = {"state": e.state, "settings": e.settings, "message": e.message}
                pending += e.state not in planner.EXEC_FINAL
        for s in spec.stages:
            if s.destructive:
                for cam in cams.values():
                    cam[s.action] = {"state": "NOT_PREVIEWED", "settings": [],
                                     "message": "factory reset: every setting returns to its default"}  # fmt: skip
        return {
            "campaign_id": c.campaign_id,
            "scope": spec.preview,
            "pending": pending,
            "cameras": dict(cams),
        }
