"""The one way a signed command leaves the controller, for ad-hoc commands and campaigns alike.

A command is stored PENDING with its executions and its audit entry in one transaction, then handed to the
broker; PENDING -> SENT on the broker's PUBACK or -> QUEUED for the hub's dispatcher, conditionally, so results
that beat the PUBACK are never overwritten. PENDING is not dispatchable, so the dispatcher cannot publish the
same command at the same moment. A PENDING command left by a crash is requeued by the campaign runner when it
takes the lead (`requeue_stale`); agents drop a second copy by command_id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from controller.states import CommandState
from controller.store import Store
from controller.store.base import CommandRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import action_name, new_command, seal
from protos.keys import SigningKey

log = logging.getLogger(__name__)

Send = Callable[[str, bytes], Awaitable[bool]]
# A PENDING command younger than this may still be in its creator's hands (the publish waits 15 s for a PUBACK).
PENDING_GRACE_S = 20.0


class Publisher:
    def __init__(
        self, store: Store, key: SigningKey, send: Send, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.key = key
        self.send = (
            send  # the hub's publish_command: False (or an exception) keeps the command for the dispatcher
        )
        self.clock = clock

    async def issue(
        self,
        agent_id: str,
        action: pb.Action,
        params: dict[str, Any],
        camera_ids: Sequence[str],
        *,
        actor: str,
        ttl_s: float,
        dry_run: bool = False,
        campaign_id: str = "",
        batch_id: str = "",
        approval_manifest: bytes = b"",
        approvals: Sequence[pb.Signature] = (),
        command_id: str | None = None,
        audit: dict[str, Any] | None = None,
    ) -> CommandRow:
        """Sign, store (with its audit entry) and publish one agent's command; returns its row.

        `camera_ids` are the controller's ids; the signed command names each camera as its agent does now (its
        reference, read in the same transaction). A camera without one (another device took its address, or it
        belongs to another agent) is not sent: its execution is REJECTED with the reason, and a command left
        with no camera is not published at all."""
        async with self.store.tx() as tx:
            refs = await tx.cameras.refs_of(agent_id, camera_ids)
            targets = [refs[c] for c in camera_ids if c in refs]
            refused = {c: f"no address of this camera is known to agent {agent_id} (it moved, or another device "
                          "took its address): wait for the agent's next inventory" for c in camera_ids if c not in refs}  # fmt: skip
            cmd = new_command(
                agent_id, action, targets, ttl=timedelta(seconds=ttl_s), dry_run=dry_run, campaign_id=campaign_id,
                batch_id=batch_id, approval_manifest=approval_manifest, command_id=command_id,
            )  # fmt: skip
            env = seal(cmd, self.key, list(approvals))
            row = CommandRow(
                command_id=cmd.command_id, agent_id=agent_id, action=action_name(action), params=params,
                dry_run=dry_run, created_at=self.clock(), not_after=cmd.not_after.ToMicroseconds() / 1e6,
                created_by=actor, campaign_id=campaign_id, batch_id=batch_id, state=CommandState.PENDING,
                envelope=env,
            )  # fmt: skip
            details = {"agent": agent_id, "action": row.action, "cameras": len(camera_ids), "dry_run": dry_run,
                       "campaign_id": campaign_id, "batch_id": batch_id, **(audit or {})}  # fmt: skip
            if refused:
                details["not_addressable"] = sorted(refused)
            await tx.commands.create(row, camera_ids, targets=refs, refused=refused)
            if refused and not targets:
                await tx.commands.roll_up([row.command_id])
                row.state = CommandState.COMPLETED_WITH_FAILURES
            await tx.audit.append(actor, "command.create", row.command_id, details)
        if targets or not refused:
            await self.publish(row)
        return row

    async def publish(self, row: CommandRow) -> None:
        ok = False
        try:
            ok = await self.send(row.agent_id, row.envelope)
        except Exception:  # the hub's dispatcher retries QUEUED commands
            log.exception("publishing %s failed", row.command_id)
        async with self.store.tx() as tx:
            await tx.commands.published(row.command_id, CommandState.PENDING, ok)
        row.state = CommandState.SENT if ok else CommandState.QUEUED

    async def requeue_stale(self, *, campaigns_now: bool = False) -> int:
        """PENDING commands a crash left between storing and publishing go to the dispatcher (QUEUED): ad-hoc
        ones after a grace period (another replica may be publishing one), campaign ones at once when the
        caller holds the campaign lock (nobody else is publishing them)."""
        async with self.store.tx() as tx:
            return await tx.commands.requeue_pending(
                self.clock() - PENDING_GRACE_S, campaigns_now=campaigns_now
            )
