"""The fleet store: one implementation over SQLite (embedded default) and PostgreSQL (fleets, replicas).

For a change that spans concerns, or that must be audited in the same transaction, use the unit of work:

    async with store.tx() as tx:
        await tx.cameras.set_lifecycle(camera_id, "REMOVED")
        await tx.audit.append(actor, "camera.lifecycle", camera_id, {...})

The methods below are the common single-purpose operations, each its own transaction. Every one is safe with
duplicates and out-of-order input (MQTT QoS 1 redelivers, and updates from one agent may interleave).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import false, update
from sqlalchemy.ext.asyncio import AsyncEngine

from controller.identity import Identity
from controller.store import migrate, schema
from controller.store.audit import AuditEntry, ChainReport
from controller.store.base import (
    AgentRow,
    AlertRow,
    ApprovalRow,
    AuditInput,
    BatchRow,
    CameraFilter,
    CameraRow,
    CampaignRow,
    CommandRow,
    ExecutionRow,
    MemberRow,
    QuarantineRow,
    RetiredRow,
    StepRow,
    UserRow,
)
from controller.store.db import Database, Tx
from controller.store.repos.cameras import Ingested
from controller.store.repos.census import CameraKey, CensusRow, ChannelRow, SightingKeys


class Store:
    def __init__(self, url: str | Path, *, pool_size: int = 10) -> None:
        self.db = Database(url, pool_size=pool_size)

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    @property
    def replicated(self) -> bool:
        """Several controllers may share this database (PostgreSQL): dispatch goes through claims."""
        return self.db.dialect.pg

    async def open(self, *, upgrade: bool = True) -> None:
        """Connect, and upgrade the schema to this code's newest revision (refused if the database is newer)."""
        await self.db.open(upgrade=upgrade)

    async def upgrade(self, target: str = "head") -> None:
        await self.db.migrate(migrate.upgrade, target)

    async def downgrade(self, target: str) -> None:
        """Back to `target`, a revision at or after the baseline (past it the whole store would go)."""
        await self.db.migrate(migrate.downgrade, target)

    async def close(self) -> None:
        await self.db.close()

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        return self.db.tx()

    def read(self, *, snapshot: bool = False) -> AbstractAsyncContextManager[Tx]:
        return self.db.read(snapshot=snapshot)

    async def revision(self) -> str | None:
        async with self.read() as r:
            return await r.conn.run_sync(migrate.current)

    # ---- agents ------------------------------------------------------------------------------------------
    async def upsert_agent(self, row: AgentRow) -> bool:
        async with self.tx() as tx:
            return await tx.agents.upsert(row)

    async def mark_agent_offline(self, agent_id: str, boot_seq: int, at: float) -> bool:
        async with self.tx() as tx:
            return await tx.agents.mark_offline(agent_id, boot_seq, at)

    async def list_agents(self) -> list[AgentRow]:
        async with self.read() as r:
            return await r.agents.all()

    # ---- cameras -----------------------------------------------------------------------------------------
    async def ingest_cameras(
        self, agent_id: str, rows: Sequence[CameraRow], *, full: bool, removed: Sequence[str], seq: int
    ) -> int:
        """An inventory report without recorder channels; the number of cameras written (0: stale)."""
        return (await self.ingest_inventory(agent_id, rows, {}, full=full, removed=removed, seq=seq)).written

    async def ingest_inventory(
        self,
        agent_id: str,
        rows: Sequence[CameraRow],
        channels: Mapping[str, Sequence[ChannelRow]],
        *,
        full: bool,
        removed: Sequence[str],
        seq: int,
    ) -> Ingested:
        """An inventory report in one transaction: its cameras (rows and `channels` keys name them by the agent's
        reference), the channel lists of its recorders, and an audit entry for every camera that changed
        address or lost it to another device. Records of devices another agent owns are not stored
        (Ingested.foreign: the caller refuses them)."""
        async with self.tx() as tx:
            got = await tx.cameras.ingest(agent_id, rows, full=full, removed=removed, seq=seq)
            if got.stale:
                return got
            # The channels of a record refused as another agent's camera (Ingested.foreign) are not stored.
            channels = {rec: chs for rec, chs in channels.items() if rec not in got.foreign}
            ids = got.ids | await tx.cameras.ids_for(
                agent_id, [c.camera_id for chs in channels.values() for c in chs if c.camera_id not in got.ids]
                + [r for r in removed if r not in got.ids],
            )  # fmt: skip
            named = {ids.get(rec, rec): [replace(c, recorder_id=ids.get(rec, rec), camera_id=ids.get(c.camera_id, ""))
                                         for c in chs] for rec, chs in channels.items()}  # fmt: skip
            await tx.recorders.replace(
                agent_id, named, full=full, removed=[ids[r] for r in removed if r in ids]
            )
            actor = f"agent:{agent_id}"
            await tx.audit.append_many(
                [(actor, "camera.address", cid, {"agent_id": agent_id, "from": old, "to": new})
                 for cid, (old, new) in sorted(got.moved.items())]
                + [(actor, "camera.address", cid, {"agent_id": agent_id, "from": ref, "to": "", "displaced_by": by})
                   for cid, (ref, by) in sorted(got.displaced.items())]
            )  # fmt: skip
            return got

    async def recorder_channels(self) -> list[ChannelRow]:
        async with self.read() as r:
            return await r.recorders.all()

    async def channels_touching(
        self, camera_ids: Sequence[str], serials: Sequence[str] = ()
    ) -> list[ChannelRow]:
        async with self.read() as r:
            return await r.recorders.touching(camera_ids, serials)

    async def ingest_census(
        self, rows: Sequence[CensusRow], *, agent_id: str, census_id: str, last_part: bool
    ) -> int:
        """One part of an agent's census; a device it matched to an inventoried camera names it by the agent's
        reference, stored as the camera's id ("" when the agent has no camera by that reference)."""
        async with self.tx() as tx:
            ids = await tx.cameras.ids_for(agent_id, [r.camera_id for r in rows])
            rows = [replace(r, camera_id=ids.get(r.camera_id, "")) if r.camera_id else r for r in rows]
            return await tx.census.ingest(rows, agent_id=agent_id, census_id=census_id, last_part=last_part)

    async def census_devices(self) -> list[CensusRow]:
        async with self.read() as r:
            return await r.census.all()

    async def fleet_version(self) -> int:
        async with self.read() as r:
            return await r.census.fleet_version()

    async def overlapping_cameras(
        self, keys: SightingKeys
    ) -> tuple[list[CameraKey], dict[tuple[str, bool], int]]:
        """The cameras the fleet answer must see one by one, and how many others (controller.fleet_answer)."""
        async with self.read(snapshot=True) as r:
            return await r.census.overlapping_cameras(keys)

    async def camera_keys(self) -> list[CameraKey]:
        """The identity of every present camera (serial, MACs, address, class) without its record."""
        async with self.read() as r:
            return await r.census.camera_keys()

    async def get_camera(self, camera_id: str) -> CameraRow | None:
        async with self.read() as r:
            return await r.cameras.get(camera_id)

    async def query_cameras(
        self, flt: CameraFilter, *, limit: int = 50, offset: int = 0, order: str = "camera_id"
    ) -> tuple[list[CameraRow], int]:
        # A snapshot on PostgreSQL (replicas write beside us); SQLite's single writer makes it not worth a
        # transaction per page.
        async with self.read(snapshot=self.replicated) as r:
            return await r.cameras.query(flt, limit=limit, offset=offset, order=order)

    async def export_cameras(self, flt: CameraFilter, columns: Sequence[str]) -> list[Sequence[Any]]:
        async with self.read(snapshot=self.replicated) as r:
            return await r.cameras.export(flt, columns)

    async def camera_history(self, camera_id: str, limit: int = 100) -> list[dict[str, Any]]:
        async with self.read() as r:
            return await r.cameras.history(camera_id, limit)

    async def set_lifecycle(self, camera_id: str, lifecycle: str) -> None:
        async with self.tx() as tx:
            await tx.cameras.set_lifecycle(camera_id, lifecycle)

    async def counts(self, column: str, flt: CameraFilter | None = None) -> dict[str, int]:
        async with self.read() as r:
            return await r.cameras.counts(column, flt)

    async def breakdown(
        self, columns: Sequence[str], flt: CameraFilter | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        async with self.read() as r:
            return await r.cameras.breakdown(columns, flt)

    async def cameras_changed_since(self, since: float) -> list[tuple[CameraRow, bool]]:
        async with self.read() as r:
            return await r.cameras.changed_since(since)

    # ---- commands and executions -------------------------------------------------------------------------
    async def create_command(self, cmd: CommandRow, camera_ids: Sequence[str]) -> None:
        async with self.tx() as tx:
            await tx.commands.create(cmd, camera_ids)

    async def set_command_state(self, command_id: str, state: str, envelope: bytes | None = None) -> None:
        async with self.tx() as tx:
            await tx.commands.set_state(command_id, state, envelope)

    async def get_command(self, command_id: str) -> CommandRow | None:
        async with self.read() as r:
            return await r.commands.get(command_id)

    async def list_commands(self, limit: int = 50, offset: int = 0) -> list[CommandRow]:
        async with self.read() as r:
            return await r.commands.recent(limit, offset)

    async def executions(self, command_id: str) -> list[ExecutionRow]:
        async with self.read() as r:
            return await r.commands.executions(command_id)

    async def apply_update(self, upd: ExecutionRow) -> bool:
        return (await self.apply_updates([upd]))[0]

    async def apply_updates(self, rows: Sequence[ExecutionRow]) -> list[bool]:
        async with self.tx() as tx:
            return await tx.commands.apply_updates(rows)

    async def expire_executions(self, now: float) -> list[ExecutionRow]:
        async with self.tx() as tx:
            return await tx.commands.expire(now)

    async def cancel_command(self, command_id: str) -> int:
        async with self.tx() as tx:
            return await tx.commands.cancel(command_id)

    async def reject_pending(self, command_id: str, agent_id: str, message: str) -> int:
        async with self.tx() as tx:
            return await tx.commands.reject_pending(command_id, agent_id, message)

    async def commands_in_state(self, state: str, now: float) -> list[CommandRow]:
        async with self.read() as r:
            return await r.commands.in_state(state, now)

    async def claim_command(self, command_id: str) -> bool:
        async with self.tx() as tx:
            return await tx.commands.claim(command_id)

    async def release_command(self, command_id: str, sent: bool) -> None:
        """DISPATCHING -> SENT (executions follow) or back to QUEUED."""
        async with self.tx() as tx:
            await tx.commands.published(command_id, "DISPATCHING", sent)

    async def requeue_claimed(self) -> int:
        async with self.tx() as tx:
            return await tx.commands.requeue_claimed()

    # ---- people ------------------------------------------------------------------------------------------
    async def put_user(self, user: UserRow) -> None:
        async with self.tx() as tx:
            await tx.people.put_user(user)

    async def get_user(self, username: str) -> UserRow | None:
        async with self.read() as r:
            return await r.people.get_user(username)

    async def secret(self, name: str) -> bytes:
        """A random key shared by every replica and kept across restarts (repos.people.secret)."""
        async with self.tx() as tx:
            return await tx.people.secret(name)

    async def list_users(self) -> list[UserRow]:
        async with self.read() as r:
            return await r.people.list_users()

    async def add_token(self, token_hash: str, username: str, name: str) -> None:
        async with self.tx() as tx:
            await tx.people.add_token(token_hash, username, name)

    async def user_for_token(self, token_hash: str) -> UserRow | None:
        async with self.read() as r:
            return await r.people.user_for_token(token_hash)

    # ---- campaigns ---------------------------------------------------------------------------------------
    async def campaign_create(
        self, c: CampaignRow, batches: Sequence[BatchRow], members: Sequence[MemberRow]
    ) -> None:
        """The campaign, its batches and their cameras in one transaction: a plan is stored whole or not at all."""
        async with self.tx() as tx:
            await tx.campaigns.create(c, batches, members)

    async def campaign_get(self, campaign_id: str) -> CampaignRow | None:
        async with self.read() as r:
            return await r.campaigns.get(campaign_id)

    async def campaign_list(self, limit: int = 100, offset: int = 0) -> list[CampaignRow]:
        async with self.read() as r:
            return await r.campaigns.recent(limit, offset)

    async def campaigns_active(self, aborted_since: float) -> list[CampaignRow]:
        async with self.read() as r:
            return await r.campaigns.active(aborted_since)

    async def existing_commands(self, command_ids: Sequence[str]) -> set[str]:
        async with self.read() as r:
            return await r.commands.existing(command_ids)

    async def campaign_update(self, c: CampaignRow) -> None:
        async with self.tx() as tx:
            await tx.campaigns.update(c)

    async def campaign_batches(self, campaign_id: str) -> list[BatchRow]:
        async with self.read() as r:
            return await r.campaigns.batches(campaign_id)

    async def campaign_batch_update(self, b: BatchRow) -> None:
        async with self.tx() as tx:
            await tx.campaigns.batch_update(b)

    async def campaign_members(self, campaign_id: str, batch_id: str | None = None) -> list[MemberRow]:
        async with self.read() as r:
            return await r.campaigns.members(campaign_id, batch_id)

    async def campaign_member_update(self, m: MemberRow) -> None:
        async with self.tx() as tx:
            await tx.campaigns.member_update(m)

    async def campaign_step_add(self, step: StepRow) -> bool:
        async with self.tx() as tx:
            return await tx.campaigns.step_add(step)

    async def campaign_steps(self, campaign_id: str, batch_id: str | None = None) -> list[StepRow]:
        async with self.read() as r:
            return await r.campaigns.steps(campaign_id, batch_id)

    async def campaign_approval_add(self, a: ApprovalRow) -> bool:
        async with self.tx() as tx:
            return await tx.campaigns.approval_add(a)

    async def campaign_approvals(self, campaign_id: str, batch_id: str) -> list[ApprovalRow]:
        async with self.read() as r:
            return await r.campaigns.approvals(campaign_id, batch_id)

    async def retired_put(self, r: RetiredRow) -> None:
        async with self.tx() as tx:
            await tx.campaigns.retired_put(r)

    async def retired_list(self) -> list[RetiredRow]:
        async with self.read() as r:
            return await r.campaigns.retired_list()

    async def alert_add(self, a: AlertRow) -> AlertRow:
        async with self.tx() as tx:
            return await tx.campaigns.alert_add(a)

    async def alerts(self, *, open_only: bool = False, limit: int = 100, offset: int = 0) -> list[AlertRow]:
        async with self.read() as r:
            return await r.campaigns.alerts(open_only=open_only, limit=limit, offset=offset)

    async def alert_ack(self, alert_id: int, by: str, at: float) -> bool:
        async with self.tx() as tx:
            return await tx.campaigns.alert_ack(alert_id, by, at)

    # ---- ingest supervision and camera ownership ----------------------------------------------------------
    async def quarantine_add(self, q: QuarantineRow) -> int:
        async with self.tx() as tx:
            return await tx.quarantine.add(q)

    async def quarantine_list(self, limit: int = 100, offset: int = 0) -> list[QuarantineRow]:
        async with self.read() as r:
            return await r.quarantine.recent(limit, offset)

    async def quarantine_count(self) -> int:
        async with self.read() as r:
            return await r.quarantine.count()

    async def same_devices(self, agent_id: str, idents: Sequence[Identity]) -> dict[str, str]:
        """Cameras of other agents that are one of these devices: camera id -> owner (controller.identity)."""
        async with self.read() as r:
            return await r.cameras.same_devices(agent_id, idents)

    async def check_writable(self) -> None:
        """Raise unless the database takes a write now (for /readyz): a write transaction that changes nothing
        (SQLite takes its write lock; a PostgreSQL standby or read-only role refuses it)."""
        async with self.tx() as tx:
            await tx.conn.execute(update(schema.agents).where(false()).values(site=""))

    # ---- audit -------------------------------------------------------------------------------------------
    async def append_audit(
        self, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> AuditEntry:
        async with self.tx() as tx:
            return await tx.audit.append(actor, action, subject, details)

    async def append_audit_many(self, entries: Sequence[AuditInput]) -> list[AuditEntry]:
        async with self.tx() as tx:
            return await tx.audit.append_many(entries)

    async def audit_entries(self, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
        async with self.read() as r:
            return await r.audit.entries(limit, offset)

    async def verify_audit(self) -> ChainReport:
        async with self.read(snapshot=True) as r:
            return await r.audit.verify()
