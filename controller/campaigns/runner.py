"""The campaign runner: the leader's tick (observe results, gate stages, send the next steps, drive rollbacks),
then the reappearance scan. Restart-safe: steps are keyed before sending (controller/campaigns/core.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from controller.campaigns import planner
from controller.campaigns.core import CampaignCore
from controller.campaigns.scanner import ReappearanceScanner
from controller.store.base import BatchRow, CampaignRow, MemberRow
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)
# An aborted campaign is still watched this long: executions already running when it was aborted finish on
# the agents (at most the command TTL, 7 days) and their cameras' lifecycle must still move.
ABORTED_WATCH_S = 7 * 86400 + 3600


def _const(value: str, _current: str) -> str:
    return value


class CampaignRunner(CampaignCore):
    def __init__(
        self,
        core: CampaignCore,
        scanner: ReappearanceScanner,
        *,
        leader: Callable[[], bool] = lambda: True,
        interval_s: float = 2.0,
    ) -> None:
        super().__init__(core.store, core.publisher, approvals_required=core.approvals_required, clock=core.clock,
                         lock=core.lock, approver_keyring=core.approver_keyring)  # fmt: skip
        self.scanner = scanner
        # Several replicas on one database (controller/lease.py): only the leader lease holder ticks.
        self.leader = leader
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._recovered = False

    def wake(self) -> None:
        self._wake.set()

    def listener(self, kind: str, data: Mapping[str, Any]) -> None:
        """Hub listener: new results or inventory make the runner look again at once."""
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
        """Observe, gate and send for the campaigns that can still change (never the finished ones)."""
        async with self.lock:
            active = await self.store.campaigns_active(self.clock() - ABORTED_WATCH_S)
            if not self._recovered:
                await self._recover(active)
                self._recovered = True
            for c in active:
                try:
                    await self._drive_campaign(c)
                except Exception:  # one broken campaign must not hold up the others; the next tick retries
                    log.exception("campaign %s: tick failed", c.campaign_id)
            await self.scanner.scan()

    async def _recover(self, active: list[CampaignRow]) -> None:
        """After a restart or on taking the lead: a step whose command was never created is created and sent
        now; a command left PENDING (crash between create and publish) goes to QUEUED for the hub's dispatcher.
        If the crash came after the broker's PUBACK, the agent drops the second copy by command_id."""
        for c in active:
            spec = planner.CampaignSpec.from_dict(c.spec)
            batches = {b.batch_id: b for b in await self.store.campaign_batches(c.campaign_id)}
            steps = await self.store.campaign_steps(c.campaign_id)
            existing = await self.store.existing_commands([st.command_id for st in steps])
            for st in steps:
                if st.command_id not in existing:
                    await self._create_and_publish(c, spec, batches[st.batch_id], st)
        # Under the campaign lock no campaign command is being published now; ad-hoc ones get a grace period.
        await self.publisher.requeue_stale(campaigns_now=True)

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

    async def _observe(self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow) -> None:
        """Advance the lifecycle of every camera whose execution of the current stage succeeded."""
        if b.stage_idx >= len(spec.stages):
            return
        stage = spec.stages[b.stage_idx]
        states = await self._stage_states(c, b, b.stage_idx)
        goals = await self._stage_states(c, b, b.stage_idx, "goal")
        advance = partial(planner.advance, stage=stage.action)
        moves: list[tuple[MemberRow, Callable[[str], str]]] = []
        for m in await self.store.campaign_members(c.campaign_id, b.batch_id):
            if states.get(m.camera_id) == "SUCCEEDED" and m.stages_done <= b.stage_idx:
                m.stages_done = b.stage_idx + 1
                # Done is not safe: only a camera whose agent says the goal was reached changes lifecycle.
                moves.append((m, advance if goals.get(m.camera_id) == "reached" else _unchanged))
        await self._move_members(
            moves, f"campaign:{c.campaign_id}", {"batch_id": b.batch_id, "stage": stage.action}
        )

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
        dropped = [m for m in active if states.get(m.camera_id) != "SUCCEEDED"]
        async with self.store.tx() as tx:
            for m in dropped:
                m.status = "failed"
                await tx.campaigns.member_update(m)
            await tx.audit.append("controller", "campaign.stage.passed", f"{c.campaign_id}/{b.batch_id}",
                                  {"stage": stage, "succeeded": t.succeeded, "total": t.total,
                                   "dropped": [m.camera_id for m in dropped]})  # fmt: skip
        b.stage_idx += 1
        b.attempt = 0
        b.updated_at = self.clock()
        await self.store.campaign_batch_update(b)
        if b.stage_idx >= len(spec.stages) or not any(m.status == "active" for m in active):
            await self._batch_to("controller", b, "SUCCEEDED")
        else:
            await self._drive_batch(c, spec, b)

    async def _approval_lapsed(
        self, c: CampaignRow, spec: planner.CampaignSpec, b: BatchRow, targets: list[MemberRow]
    ) -> bool:
        """A destructive stage about to be sent under an approval that no longer holds: it has (nearly) expired,
        and agents would refuse it, or a camera now answers from an address the approvers did not sign (it
        moved, controller.identity). The batch goes back to AWAITING_APPROVAL with a renewed manifest."""
        if not spec.stages[b.stage_idx].destructive:
            return False
        existing = {s.step_key for s in await self.store.campaign_steps(c.campaign_id, b.batch_id)}
        unsent = [m for m in targets if self._step_key(b, "run", f"a{b.attempt}", m.agent_id) not in existing]
        if not unsent:
            return False
        signed = set(pb.ApprovalManifest.FromString(b.manifest).camera_ids)
        moved = sorted(cid for cid, ref in (await self._refs(unsent)).items() if ref not in signed)
        if moved:
            why = (f"{len(moved)} camera(s) changed address since the approval ({', '.join(moved[:5])}); "
                   "approve the renewed manifest")  # fmt: skip
        elif b.manifest_not_after - 60 <= self.clock():
            why = "the approval expired before the decommission was sent; approve the renewed manifest"
        else:
            return False
        await self._new_manifest(c, spec, b)
        await self._batch_to("controller", b, "AWAITING_APPROVAL", why)
        return True

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
                moves: list[tuple[MemberRow, Callable[[str], str]]] = []
                for e in execs:
                    m = members[e.camera_id]
                    if e.state == "SUCCEEDED" and m.stages_done > r:
                        moves.append(
                            (m, partial(_const, planner.lifecycle_before(m.lifecycle_before, names, r)))
                        )
                        m.stages_done = r
                        m.status = "rolled_back"
                await self._move_members(
                    moves, f"campaign:{c.campaign_id}", {"batch_id": b.batch_id, "rollback": names[r]}
                )
                failed = sum(1 for e in execs if e.state != "SUCCEEDED")
                if failed:
                    b.reason = f"{failed} camera(s) could not be rolled back from {names[r]}"
            b.rollback_idx -= 1
            b.updated_at = self.clock()
            await self.store.campaign_batch_update(b)
        await self._batch_to("controller", b, "ROLLED_BACK", b.reason)


def _unchanged(lifecycle: str) -> str:
    return lifecycle
