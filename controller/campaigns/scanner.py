"""Reappearance alerts: a retired (DECOMMISSIONED/REMOVED) camera seen again raises one alert per sighting."""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.store import Store
from controller.store.base import AlertRow, CameraRow, RetiredRow
from protos.camfleet.v1 import camfleet_pb2 as pb


class ReappearanceScanner:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._scan_since = 0.0

    async def scan(self) -> None:
        """A retired camera that shows up again raises one alert per sighting: under its own id (after it had
        vanished, or at all once REMOVED), or under another id with the same fingerprint, serial or MAC."""
        # The watermark is in the store's clock (cameras.updated_at is wall time), with a second of overlap
        # for writes racing the scan; alerted_at keeps a sighting from alerting twice.
        started = time.time() - 1.0
        # Retired cameras first: usually there are none, and then the changed cameras (every camera, records
        # and all, on the first scan after a start) need not be read at all. A camera retired after this read
        # is seen by the next scan: its sighting is written after the retirement, after `started`.
        retired = await self.store.retired_list()
        if not retired:
            self._scan_since = started
            return
        changed = await self.store.cameras_changed_since(self._scan_since)
        self._scan_since = started
        if not changed:
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
        alert = AlertRow(0, self.clock(), "reappeared", cam.camera_id, r.camera_id, msg,
                         {"why": why, "host": cam.host, "agent_id": cam.agent_id, "observed_at": cam.observed_at,
                          "lifecycle": r.lifecycle})  # fmt: skip
        r.alerted_at = cam.observed_at
        async with self.store.tx() as tx:  # the alert, its one-per-sighting mark and the audit entry together
            a = await tx.campaigns.alert_add(alert)
            await tx.campaigns.retired_put(r)
            await tx.audit.append(
                "controller", "alert.raised", cam.camera_id, {"alert_id": a.alert_id, "message": msg}
            )
