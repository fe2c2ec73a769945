"""The campaign runner: drives batches through their stages over the store, restart-safe and never sending twice.

Every command the engine sends is first recorded as a *step* whose key names campaign, batch, kind, stage,
attempt and agent (and, for rollbacks, the command undone). The key is stored before the command is created
and published, so a tick that runs again (or a new engine after a controller restart) finds the key and sends
nothing. Progress is re-derived from the executions in the store on every tick, never kept only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from controller.api import camera_filter
from controller.campaigns import planner
from controller.campaigns.approvals import (
    ApprovalError,
    batch_manifest,
    check_signature,
    distinct_valid,
    wire_signatures,
)
from controller.commands import MAX_TARGETS, build_action
from controller.store import Store
from controller.store.base import (
    AlertRow,
    ApprovalRow,
    BatchRow,
    CameraRow,
    CampaignRow,
    CommandRow,
    MemberRow,
    RetiredRow,
    StepRow,
    UserRow,
)
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import action_name, manifest_digest, new_command, seal
from protos.keys import SigningKey

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[bool]]
# A command the engine created but has not yet handed to the broker. Not QUEUED, so the hub's dispatcher of
# QUEUED commands cannot publish it at the same moment as the engine does.
PENDING = "PENDING"


class CampaignError(ValueError):
    """An operation the campaign's state does not allow; the message says why (a 4xx for the API)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _const(value: str, _current: str) -> str:
    return value


class CampaignEngine:
    def __init__(
        self,
        store: Store,
        key: SigningKey,
        publish: Publish,
        *,
        approvals_required: int = 2,
        clock: Callable[[], float] = time.time,
        interval_s: float = 2.0,
    ) -> None:
        self.store = store
        self.key = key
        self.publish = publish
        self.approvals_required = max(2, approvals_required)
        self.clock = clock
        self.interval_s = interval_s
        # Several replicas on one database (controller/lease.py, set by the app): only the leader lease holder
        # ticks, and `_lock` becomes a cluster-wide mutex so API operations on any replica never interleave
        # with the holder's tick. One controller keeps the defaults: always the leader, a local lock.
        self.leader: Callable[[], bool] = lambda: True
        self._lock: contextlib.AbstractAsyncContextManager[Any] = asyncio.Lock()
        self._wake = asyncio.Event()
        self._recovered = False
        self._scan_since = 0.0

    # ---- running ------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def listener(self, kind: str, data: Mapping[str, Any]) -> None:
        """Hub listener: new results or inventory make the engine look again at once."""
        if kind in ("execution", "inventory"):
            self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before the tick: a result arriving during it wakes the next one at once
            if not self.leader():
                # Recover again when the lease comes: the previous holder may have left steps half sent.
                self._recovered = False
            else:
                try:
                    await self.tick()
                except Exception:  # a bad campaign must not stop the others; the next tick retries
                    log.exception("campaign tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)

    async def tick(self) -> None:
        async with self._lock:
            if not self._recovered:
                await self._recover()
                self._recovered = True
            for c in await self.store.campaign_list(limit=10_000):
                try:
                    await self._drive_campaign(c)
                except Exception:  # one broken campaign must not hold up the others; the next tick retries
                    log.exception("campaign %s: tick failed", c.campaign_id)
            await self._scan_reappearances()

    async def _recover(self) -> None:
        """After a restart: a step whose command was never created is created and sent now; a command left
        PENDING (crash between create and publish) goes to QUEUED for the hub's dispatcher. If the crash came
        after the broker's PUBACK, the agent drops the second copy by command_id (its dedup store survives)."""
        for c in await self.store.campaign_list(limit=10_000):
            spec = planner.CampaignSpec.from_dict(c.spec)
            batches = {b.batch_id: b for b in await self.store.campaign_batches(c.campaign_id)}
            for st in await self.store.campaign_steps(c.campaign_id):
                cmd = await self.store.get_command(st.command_id)
                if cmd is None:
                    await self._create_and_publish(c, spec, batches[st.batch_id], st)
                elif cmd.state == PENDING:
                    await self._published(cmd.command_id, False)

    # ---- audit helpers --------------------------------------------------------------------------------
    async def _audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
        await self.store.append_audit(actor, action, subject, details)

    async def _batch_to(self, actor: str, b: BatchRow, new: str, reason: str = "") -> None:
        old = b.state
        b.state = planner.transition(old, new)
        b.reason = reason
        b.updated_at = self.clock()
        await self.store.campaign_batch_update(b)
        await self._audit(actor, "campaign.batch.state", f"{b.campaign_id}/{b.batch_id}",
                          {"from": old, "to": new, "reason": reason})  # fmt: skip

    async def _campaign_to(self, actor: str, c: CampaignRow, new: str, reason: str = "") -> None:
        old = c.state
        c.state = planner.transition(old, new, planner.CAMPAIGN_TRANSITIONS)
        c.reason = reason
        c.updated_at = self.clock()
        await self.store.campaign_update(c)
        await self._audit(actor, "campaign.state", c.campaign_id, {"from": old, "to": new, "reason": reason})

    # ---- creation -------------------------------------------------------------------------------------
    async def targets(self, spec: planner.CampaignSpec) -> list[CameraRow]:
        where = dict(spec.where)
        tags = [t for t in where.pop("tags", "").split(",") if t]
        rows, total = await self.store.query_cameras(camera_filter(where), limit=MAX_TARGETS)
        if total > MAX_TARGETS:
            raise CampaignError(f"{total} cameras match; narrow the selection (at most {MAX_TARGETS})", 400)
        # Retired cameras are never targeted again; tags must all be present.
        return [r for r in rows if r.lifecycle not in planner.RETIRED and all(t in r.tags for t in tags)]

    async def create(self, body: Mapping[str, Any], actor: str) -> CampaignRow:
        """Plan a campaign: resolve its cameras now (the plan is fixed), cut the batches, prepare the first
        batch (its approval manifest if a stage is destructive) and send the dry-run preview."""
        try:
            spec = planner.CampaignSpec.from_dict(body, approvals_required=self.approvals_required)
        except planner.PlanError as exc:
            raise CampaignError(str(exc), 400) from exc
        if spec.approvals_required < self.approvals_required and spec.needs_approval:
            raise CampaignError(f"approvals_required: at least {self.approvals_required} here", 400)
        for s in spec.stages:
            build_action(s.action, s.params)  # CommandError (a ValueError, so a 400) on bad stage params
        cams = await self.targets(spec)
        if not cams:
            raise CampaignError("no camera matches the selection", 400)
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
        async with self._lock:
            await self.store.campaign_create(c, batches, members)
            await self._audit(actor, "campaign.create", cid, {"spec": spec.to_dict(), "cameras": len(cams),
                                                              "batches": [len(m) for m in planner.split(list(by_id), spec.plan)]})  # fmt: skip
            await self._prepare(actor, c, spec, batches[0])
            await self._preview(c, spec, batches, members)
        return c

    async def _prepare(self, actor: str, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """PLANNED -> AWAITING_APPROVAL (with the manifest approvers sign) or straight to READY."""
        if b.state != "PLANNED":
            return
        if spec.needs_approval:
            await self._new_manifest(c, spec, b)
            await self._batch_to(actor, b, "AWAITING_APPROVAL", f"needs {spec.approvals_required} approvers")
        else:
            await self._batch_to(actor, b, "READY")

    async def _new_manifest(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        stage = next(s for s in spec.stages if s.destructive)
        cams = [m.camera_id for m in await self.store.campaign_members(c.campaign_id, b.batch_id)]
        b.manifest_not_after = self.clock() + spec.approval_ttl_s
        b.manifest = batch_manifest(
            c.campaign_id, b.batch_id, stage.action, stage.params, cams, b.manifest_not_after
        )
        b.manifest_digest = manifest_digest(b.manifest)
        b.updated_at = self.clock()
        await self.store.campaign_batch_update(b)
        await self._audit("controller", "campaign.batch.manifest", f"{b.campaign_id}/{b.batch_id}",
                          {"digest": b.manifest_digest, "cameras": len(cams), "not_after": b.manifest_not_after})  # fmt: skip

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

    # ---- sending ----------------------------------------------------------------------------------------
    async def _create_and_publish(
        self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow, st: StepRow
    ) -> None:
        stage = spec.stages[st.stage_idx]
        approvals: list[pb.Signature] = []
        manifest = b""
        if st.kind == "rollback":
            undone = st.step_key.rsplit("/", 2)[1]  # key: .../rollback/<stage>/<command undone>/<agent>
            action, params = build_action("rollback", {"snapshot_id": undone}), {"snapshot_id": undone}
        else:
            action, params = build_action(stage.action, stage.params), stage.params
            if stage.destructive and st.kind == "run":
                manifest = b.manifest
                approvals = wire_signatures(
                    distinct_valid(
                        await self.store.campaign_approvals(c.campaign_id, b.batch_id), b.manifest_digest
                    )
                )
        cmd = new_command(
            st.agent_id, action, st.camera_ids, ttl=timedelta(seconds=spec.ttl_s), dry_run=st.kind == "preview",
            campaign_id=c.campaign_id, batch_id=b.batch_id, approval_manifest=manifest, command_id=st.command_id,
        )  # fmt: skip
        env = seal(cmd, self.key, approvals)
        row = CommandRow(
            command_id=st.command_id, agent_id=st.agent_id, action=action_name(action), params=params,
            dry_run=st.kind == "preview", created_at=self.clock(), not_after=cmd.not_after.ToMicroseconds() / 1e6,
            created_by=f"campaign:{c.campaign_id}", campaign_id=c.campaign_id, batch_id=b.batch_id, state=PENDING,
            envelope=env,
        )  # fmt: skip
        await self.store.create_command(row, st.camera_ids)
        await self._audit(f"campaign:{c.campaign_id}", "command.create", st.command_id,
                          {"agent": st.agent_id, "action": row.action, "step": st.step_key, "cameras": len(st.camera_ids),
                           "dry_run": row.dry_run, "approvers": [s.key_id for s in approvals],
                           "campaign_id": c.campaign_id, "batch_id": b.batch_id})  # fmt: skip
        ok = False
        try:
            ok = await self.publish(st.agent_id, env)
        except Exception:  # the hub's dispatcher retries QUEUED commands
            log.exception("publishing %s failed", st.command_id)
        await self._published(st.command_id, ok)

    async def _published(self, command_id: str, sent: bool) -> None:
        """PENDING -> SENT or QUEUED, conditionally (results that already arrived are never overwritten)."""
        await self.store.campaign_command_published(command_id, sent)

    @staticmethod
    def _step_key(b: BatchRow, kind: str, tail: str, agent: str) -> str:
        idx = b.stage_idx if kind == "run" else b.rollback_idx
        return f"{b.campaign_id}/{b.batch_id}/{kind}/{idx}/{tail}/{agent}"

    async def _approval_lapsed(
        self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow, targets: list[MemberRow]
    ) -> bool:
        """A destructive stage about to be sent under an approval that has (nearly) expired: agents would refuse
        it, so the batch goes back to AWAITING_APPROVAL with a renewed manifest instead."""
        if not spec.stages[b.stage_idx].destructive or b.manifest_not_after - 60 > self.clock():
            return False
        existing = {s.step_key for s in await self.store.campaign_steps(c.campaign_id, b.batch_id)}
        if all(self._step_key(b, "run", f"a{b.attempt}", m.agent_id) in existing for m in targets):
            return False
        await self._new_manifest(c, spec, b)
        await self._batch_to("controller", b, "AWAITING_APPROVAL",
                             "the approval expired before the decommission was sent; approve the renewed manifest")  # fmt: skip
        return True

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
                         b.attempt if kind == "run" else 0, agent, str(uuid.uuid4()), sorted(ids), self.clock())  # fmt: skip
            if await self.store.campaign_step_add(st):
                await self._create_and_publish(c, spec, b, st)
                sent += 1
        return sent

    # ---- driving --------------------------------------------------------------------------------------
    async def _drive_campaign(self, c: CampaignRow) -> None:
        spec = planner.CampaignSpec.from_dict(c.spec)
        batches = await self.store.campaign_batches(c.campaign_id)
        for b in batches:
            if b.state in ("RUNNING", "PAUSED", "ABORTED"):
                await self._observe(c, spec, b)
            if b.state == "ROLLING_BACK":
                await self._drive_rollback(c, spec, b)
        if c.state == "RUNNING":
            await self._drive_running(c, spec, batches)
        elif c.state == "CREATED":
            current = next((b for b in batches if b.state not in planner.FINAL_BATCH), None)
            if current is not None:
                await self._renew_expired_manifest(c, spec, current)

    async def _renew_expired_manifest(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        # An approval past its not_after is refused by agents; a fresh manifest must be approved again.
        if b.state == "AWAITING_APPROVAL" and b.manifest_not_after <= self.clock():
            await self._new_manifest(c, spec, b)

    async def _drive_running(
        self, c: CampaignRow, spec: planner.CampaignSpec, batches: list[BatchRow]
    ) -> None:
        # A batch that finishes hands over to the next one within the same tick.
        for _ in range(len(batches) + 1):
            if c.state != "RUNNING" or not await self._drive_current(c, spec, batches):
                return

    async def _drive_current(
        self, c: CampaignRow, spec: planner.CampaignSpec, batches: list[BatchRow]
    ) -> bool:
        """Drive the first unfinished batch; True when it finished (so the next one may start now)."""
        current = next((b for b in batches if b.state not in planner.FINAL_BATCH), None)
        if current is None:
            await self._campaign_to("controller", c, "COMPLETED", "every batch finished")
            return False
        if current.state == "PLANNED":
            await self._prepare("controller", c, spec, current)
        if current.state == "AWAITING_APPROVAL":
            await self._renew_expired_manifest(c, spec, current)
            return False
        if (
            current.state == "READY"
            and spec.needs_approval
            and current.manifest_not_after - 60 <= self.clock()
        ):
            await self._new_manifest(c, spec, current)
            await self._batch_to(
                "controller", current, "AWAITING_APPROVAL", "the approval expired before the batch started"
            )
            return False
        if current.state == "READY":
            if not planner.in_windows(self.clock(), spec.windows):
                return False  # batches start only inside a maintenance window
            await self._batch_to("controller", current, "RUNNING")
        if current.state == "RUNNING":
            await self._drive_batch(c, spec, current)
        return current.state in planner.FINAL_BATCH

    async def _stage_states(self, c: CampaignRow, b: BatchRow, stage_idx: int) -> dict[str, str]:
        """camera -> latest execution state of the batch's run steps for one stage."""
        triples: list[tuple[int, str, str]] = []
        for st in await self.store.campaign_steps(c.campaign_id, b.batch_id):
            if st.kind == "run" and st.stage_idx == stage_idx:
                triples += [
                    (st.attempt, e.camera_id, e.state) for e in await self.store.executions(st.command_id)
                ]
        return planner.latest(triples)

    async def _observe(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """Advance the lifecycle of every camera whose execution of the current stage succeeded."""
        if b.stage_idx >= len(spec.stages):
            return
        stage = spec.stages[b.stage_idx]
        states = await self._stage_states(c, b, b.stage_idx)
        for m in await self.store.campaign_members(c.campaign_id, b.batch_id):
            if states.get(m.camera_id) == "SUCCEEDED" and m.stages_done <= b.stage_idx:
                await self._set_lifecycle(m.camera_id, partial(planner.advance, stage=stage.action),
                                          f"campaign:{c.campaign_id}", {"batch_id": b.batch_id, "stage": stage.action})  # fmt: skip
                m.stages_done = b.stage_idx + 1
                await self.store.campaign_member_update(m)

    async def _set_lifecycle(
        self, camera_id: str, fn: Callable[[str], str], actor: str, details: dict[str, Any]
    ) -> str:
        cam = await self.store.get_camera(camera_id)
        if cam is None:
            return ""
        new = fn(cam.lifecycle)
        if new != cam.lifecycle:
            await self.store.set_lifecycle(camera_id, new)
            await self._audit(
                actor, "camera.lifecycle", camera_id, {"from": cam.lifecycle, "to": new, **details}
            )
            if new in planner.RETIRED:
                await self._retire(cam, new)
        return new

    async def _retire(self, cam: CameraRow, lifecycle: str) -> None:
        rec = pb.CameraRecord.FromString(cam.record) if cam.record else pb.CameraRecord()
        await self.store.retired_put(
            RetiredRow(cam.camera_id, lifecycle, cam.fingerprint, rec.identity.serial,
                       sorted(m.lower() for m in rec.identity.macs), self.clock())
        )  # fmt: skip

    async def _drive_batch(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        if b.stage_idx >= len(spec.stages):
            await self._batch_to("controller", b, "SUCCEEDED")
            return
        members = await self.store.campaign_members(c.campaign_id, b.batch_id)
        active = [m for m in members if m.status == "active"]
        states = await self._stage_states(c, b, b.stage_idx)
        wanted = set(
            planner.attempt_targets([m.camera_id for m in active], states, b.attempt, spec.retry_failed_only)
        )
        targets = [m for m in active if m.camera_id in wanted]
        if targets and await self._approval_lapsed(c, spec, b, targets):
            return
        if targets and await self._send(c, spec, b, "run", targets, f"a{b.attempt}"):
            states = await self._stage_states(c, b, b.stage_idx)
        t = planner.tally([states.get(m.camera_id, "QUEUED") for m in active])
        verdict = planner.evaluate(t, spec.gate)
        stage = spec.stages[b.stage_idx].action
        if verdict == "running":
            return
        if verdict in ("tripped", "short"):
            why = (f"{stage}: {t.failed} of {t.executed} executed failed (threshold {spec.gate.failure_threshold:.0%},"
                   f" min {spec.gate.min_executed})" if verdict == "tripped" else
                   f"{stage}: {t.succeeded} of {t.total} succeeded, below {spec.gate.success_threshold:.0%}")  # fmt: skip
            await self._audit("controller", "campaign.gate", f"{c.campaign_id}/{b.batch_id}",
                              {"verdict": verdict, "stage": stage, "succeeded": t.succeeded, "failed": t.failed,
                               "total": t.total, "action": spec.gate.action})  # fmt: skip
            if spec.gate.action == "abort":
                await self._abort(c, "controller", why)
            else:
                await self._batch_to("controller", b, "PAUSED", why)
                await self._campaign_to("controller", c, "PAUSED", why)
            return
        # passed: every success of this stage gets its lifecycle before the stage index moves on; cameras that
        # did not succeed drop out of the later stages
        await self._observe(c, spec, b)
        dropped = []
        for m in active:
            if states.get(m.camera_id) != "SUCCEEDED":
                m.status = "failed"
                dropped.append(m.camera_id)
                await self.store.campaign_member_update(m)
        await self._audit("controller", "campaign.stage.passed", f"{c.campaign_id}/{b.batch_id}",
                          {"stage": stage, "succeeded": t.succeeded, "total": t.total, "dropped": dropped})  # fmt: skip
        b.stage_idx += 1
        b.attempt = 0
        b.updated_at = self.clock()
        await self.store.campaign_batch_update(b)
        if b.stage_idx >= len(spec.stages) or not any(m.status == "active" for m in active):
            await self._batch_to("controller", b, "SUCCEEDED")
        else:
            await self._drive_batch(c, spec, b)

    # ---- rollback ---------------------------------------------------------------------------------------
    async def _drive_rollback(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """Undo stages newest first; each rollback command names the command whose snapshots it restores."""
        names = [s.action for s in spec.stages]
        while b.rollback_idx >= 0:
            r = b.rollback_idx
            steps = await self.store.campaign_steps(c.campaign_id, b.batch_id)
            runs = [s for s in steps if s.kind == "run" and s.stage_idx == r]
            if not spec.stages[r].destructive:
                members = {
                    m.camera_id: m for m in await self.store.campaign_members(c.campaign_id, b.batch_id)
                }
                # A camera that was factory reset has nothing left to restore: it is not rolled back.
                reset = {
                    k
                    for k, m in members.items()
                    if any(spec.stages[i].destructive for i in range(m.stages_done))
                }
                for run in runs:
                    ok = [e for e in await self.store.executions(run.command_id)
                          if e.state == "SUCCEEDED" and e.camera_id not in reset]  # fmt: skip
                    if ok:
                        await self._send(
                            c, spec, b, "rollback", [members[e.camera_id] for e in ok], run.command_id
                        )
                rbs = [s for s in await self.store.campaign_steps(c.campaign_id, b.batch_id)
                       if s.kind == "rollback" and s.stage_idx == r]  # fmt: skip
                execs = [e for s in rbs for e in await self.store.executions(s.command_id)]
                if any(e.state not in planner.EXEC_FINAL for e in execs):
                    return
                members = {
                    m.camera_id: m for m in await self.store.campaign_members(c.campaign_id, b.batch_id)
                }
                for e in execs:
                    m = members[e.camera_id]
                    if e.state == "SUCCEEDED" and m.stages_done > r:
                        before = planner.lifecycle_before(m.lifecycle_before, names, r)
                        await self._set_lifecycle(e.camera_id, partial(_const, before), f"campaign:{c.campaign_id}",
                                                  {"batch_id": b.batch_id, "rollback": names[r]})  # fmt: skip
                        m.stages_done = r
                        m.status = "rolled_back"
                        await self.store.campaign_member_update(m)
                failed = sum(1 for e in execs if e.state != "SUCCEEDED")
                if failed:
                    b.reason = f"{failed} camera(s) could not be rolled back from {names[r]}"
            b.rollback_idx -= 1
            b.updated_at = self.clock()
            await self.store.campaign_batch_update(b)
        await self._batch_to("controller", b, "ROLLED_BACK", b.reason)

    # ---- operations (API) -------------------------------------------------------------------------------
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

    async def start(self, campaign_id: str, actor: str) -> None:
        async with self._lock:
            c, _, _ = await self._load(campaign_id)
            if c.state != "CREATED":
                raise CampaignError(f"campaign is {c.state}; only a CREATED campaign starts (use resume)")
            await self._campaign_to(actor, c, "RUNNING")
        self.wake()

    async def pause(self, campaign_id: str, actor: str, reason: str = "") -> None:
        async with self._lock:
            c, _, batches = await self._load(campaign_id)
            if c.state != "RUNNING":
                raise CampaignError(f"campaign is {c.state}; only a RUNNING campaign pauses")
            for b in batches:
                if b.state == "RUNNING":
                    await self._batch_to(actor, b, "PAUSED", reason or "paused by operator")
            await self._campaign_to(actor, c, "PAUSED", reason or "paused by operator")

    async def resume(self, campaign_id: str, actor: str) -> None:
        """Continue; a stage whose gate stopped it is retried (failed cameras only, or all: retry_failed_only)."""
        async with self._lock:
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
        async with self._lock:
            c, _, _ = await self._load(campaign_id)
            if c.state in ("COMPLETED", "ABORTED"):
                raise CampaignError(f"campaign is already {c.state}")
            await self._abort(c, actor, reason or "aborted by operator")

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

    async def rollback(self, campaign_id: str, batch_id: str, actor: str) -> None:
        async with self._lock:
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
        async with self._lock:
            c, spec, batches = await self._load(campaign_id)
            b = self._batch(batches, batch_id)
            if b.state != "AWAITING_APPROVAL":
                raise CampaignError(f"batch is {b.state}, not awaiting approval")
            if user.username == c.created_by:
                raise CampaignError("the person who created a campaign cannot approve it", 403)
            if b.manifest_not_after <= self.clock():
                raise CampaignError("the manifest expired; fetch the renewed one and sign again")
            try:
                check_signature(b.manifest, user.approver_key, key_id, signature)
            except ApprovalError as exc:
                raise CampaignError(str(exc), 400) from exc
            row = ApprovalRow(
                campaign_id, batch_id, user.username, key_id, signature, b.manifest_digest, self.clock()
            )
            if not await self.store.campaign_approval_add(row):
                raise CampaignError("this person or this key has already approved the batch")
            await self._audit(user.username, "campaign.batch.approve", f"{campaign_id}/{batch_id}",
                              {"key_id": key_id, "digest": b.manifest_digest})  # fmt: skip
            valid = distinct_valid(
                await self.store.campaign_approvals(campaign_id, batch_id), b.manifest_digest
            )
            if len(valid) >= spec.approvals_required:
                await self._batch_to(
                    user.username, b, "READY", f"approved by {', '.join(v.username for v in valid)}"
                )
        self.wake()
        return {"approvals": len(valid), "required": spec.approvals_required, "state": b.state}

    async def confirm_removed(self, camera_id: str, actor: str, note: str) -> None:
        if not note.strip():
            raise CampaignError("a note is required (who removed it, where it went)", 400)
        async with self._lock:
            cam = await self.store.get_camera(camera_id)
            if cam is None:
                raise CampaignError(f"no camera {camera_id}", 404)
            if not planner.can_remove(cam.lifecycle):
                raise CampaignError(
                    f"camera is {cam.lifecycle}; only a DECOMMISSIONED camera is marked REMOVED"
                )
            await self.store.set_lifecycle(camera_id, "REMOVED")
            await self._audit(actor, "camera.lifecycle", camera_id,
                              {"from": cam.lifecycle, "to": "REMOVED", "note": note.strip()})  # fmt: skip
            await self._retire(cam, "REMOVED")

    async def ack_alert(self, alert_id: int, actor: str) -> None:
        if not await self.store.alert_ack(alert_id, actor, self.clock()):
            raise CampaignError(f"no open alert {alert_id}", 404)
        await self._audit(actor, "alert.ack", str(alert_id), {})

    # ---- reappearance ------------------------------------------------------------------------------------
    async def _scan_reappearances(self) -> None:
        """A retired camera that shows up again raises one alert per sighting: under its own id (after it had
        vanished, or at all once REMOVED), or under another id with the same fingerprint, serial or MAC."""
        # The watermark is in the store's clock (cameras.updated_at is wall time), with a second of overlap
        # for writes racing the scan; alerted_at keeps a sighting from alerting twice.
        started = time.time() - 1.0
        changed = await self.store.cameras_changed_since(self._scan_since)
        self._scan_since = started
        if not changed:
            return
        retired = await self.store.retired_list()
        if not retired:
            return
        by_id = {r.camera_id: r for r in retired}
        for cam, vanished in changed:
            own = by_id.get(cam.camera_id)
            if own is not None:
                if vanished and not own.seen_gone:
                    own.seen_gone = True
                    await self.store.retired_put(own)
                    continue
                back = not vanished and cam.reachable and (own.lifecycle == "REMOVED" or own.seen_gone)
                if back and cam.observed_at > max(own.retired_at, own.alerted_at):
                    await self._alert(cam, own, "same camera id")
                continue
            if vanished or not cam.reachable:
                continue
            rec = pb.CameraRecord.FromString(cam.record) if cam.record else pb.CameraRecord()
            macs = {m.lower() for m in rec.identity.macs}
            for r in retired:
                why = ("fingerprint" if cam.fingerprint and cam.fingerprint == r.fingerprint else
                       "serial" if rec.identity.serial and rec.identity.serial == r.serial else
                       "MAC" if macs & set(r.macs) else "")  # fmt: skip
                if why and cam.observed_at > max(r.retired_at, r.alerted_at):
                    await self._alert(cam, r, f"same {why}")

    async def _alert(self, cam: CameraRow, r: RetiredRow, why: str) -> None:
        msg = f"{r.lifecycle.lower()} camera {r.camera_id} is back ({why}) at {cam.host} via agent {cam.agent_id}"
        a = await self.store.alert_add(AlertRow(0, self.clock(), "reappeared", cam.camera_id, r.camera_id, msg,
                                                {"why": why, "host": cam.host, "agent_id": cam.agent_id,
                                                 "observed_at": cam.observed_at, "lifecycle": r.lifecycle}))  # fmt: skip
        r.alerted_at = cam.observed_at
        await self.store.retired_put(r)
        await self._audit(
            "controller", "alert.raised", cam.camera_id, {"alert_id": a.alert_id, "message": msg}
        )

    # ---- reading ------------------------------------------------------------------------------------------
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
                                           for a in distinct_valid(approvals, b.manifest_digest)]},
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
