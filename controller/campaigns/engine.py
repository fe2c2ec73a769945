"""The campaign engine: its service (what the API calls), its runner (the leader's tick) and its reappearance
scanner, wired explicitly over one store, one publisher (shared with ad-hoc commands) and one lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.campaigns.core import CampaignCore, CampaignError, Lock
from controller.campaigns.runner import CampaignRunner
from controller.campaigns.scanner import ReappearanceScanner
from controller.campaigns.service import CampaignService
from controller.models import CampaignCreate
from controller.publisher import Publisher, Send
from controller.store import Store
from controller.store.base import CameraRow, CampaignRow, UserRow
from protos.keys import Keyring

__all__ = ["CampaignEngine", "CampaignError"]


class CampaignEngine:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        approvals_required: int = 2,
        clock: Callable[[], float] = time.time,
        interval_s: float = 2.0,
        lock: Lock | None = None,
        leader: Callable[[], bool] = lambda: True,
        approver_keyring: Keyring | None = None,
    ) -> None:
        core = CampaignCore(store, publisher, approvals_required=approvals_required, clock=clock, lock=lock,
                            approver_keyring=approver_keyring)  # fmt: skip
        self.publisher = publisher
        self.scanner = ReappearanceScanner(store, clock=clock)
        self.runner = CampaignRunner(core, self.scanner, leader=leader, interval_s=interval_s)
        self.service = CampaignService(core, self.runner.wake)

    # ---- the runner -------------------------------------------------------------------------------------
    @property
    def interval_s(self) -> float:
        return self.runner.interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self.runner.interval_s = value

    @property
    def publish(self) -> Send:
        """The broker send of the shared publisher (tests replace it to simulate a crash or a fast agent)."""
        return self.publisher.send

    @publish.setter
    def publish(self, send: Send) -> None:
        self.publisher.send = send

    def wake(self) -> None:
        self.runner.wake()

    def listener(self, kind: str, data: Mapping[str, Any]) -> None:
        self.runner.listener(kind, data)

    async def run(self) -> None:
        await self.runner.run()

    async def tick(self) -> None:
        await self.runner.tick()

    # ---- the service ------------------------------------------------------------------------------------
    async def targets(self, spec: Any) -> list[CameraRow]:
        return await self.service.targets(spec)

    async def create(self, body: CampaignCreate | Mapping[str, Any], actor: str) -> CampaignRow:
        return await self.service.create(body, actor)

    def spec_of(self, req: CampaignCreate) -> Any:
        return self.service.spec_of(req)

    async def start(self, campaign_id: str, actor: str) -> None:
        await self.service.start(campaign_id, actor)

    async def pause(self, campaign_id: str, actor: str, reason: str = "") -> None:
        await self.service.pause(campaign_id, actor, reason)

    async def resume(self, campaign_id: str, actor: str) -> None:
        await self.service.resume(campaign_id, actor)

    async def abort(self, campaign_id: str, actor: str, reason: str = "") -> None:
        await self.service.abort(campaign_id, actor, reason)

    async def rollback(self, campaign_id: str, batch_id: str, actor: str) -> None:
        await self.service.rollback(campaign_id, batch_id, actor)

    async def approve(
        self, campaign_id: str, batch_id: str, user: UserRow, key_id: str, signature: bytes
    ) -> dict[str, Any]:
        return await self.service.approve(campaign_id, batch_id, user, key_id, signature)

    async def confirm_removed(self, camera_id: str, actor: str, note: str) -> None:
        await self.service.confirm_removed(camera_id, actor, note)

    async def ack_alert(self, alert_id: int, actor: str) -> None:
        await self.service.ack_alert(alert_id, actor)

    async def status(self, campaign_id: str) -> dict[str, Any]:
        return await self.service.status(campaign_id)

    async def preview(self, campaign_id: str) -> dict[str, Any]:
        return await self.service.preview(campaign_id)
