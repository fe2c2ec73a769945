"""Recorder impact across the fleet: which channels an action on these cameras takes dark, and whether the rule
"keep the recorder in restrict_network's allow list" refuses it (the rule itself is protos.recorders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.store import Store
from controller.store.base import CameraRow
from controller.store.repos.census import ChannelRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.recorders import Feed, Impact, channels_dark, refusal


def _identity(row: CameraRow) -> tuple[str, set[str]]:
    """(serial, MACs) of an inventoried camera, from its record (channels match cameras on them)."""
    try:
        rec = pb.CameraRecord.FromString(row.record)
    except Exception:  # a record the store holds is ours; a broken one only loses the cross-agent match
        return "", set()
    return rec.identity.serial.strip().upper(), {m.upper().replace("-", ":") for m in rec.identity.macs}


def _feed(ch: ChannelRow, camera_id: str) -> Feed:
    return Feed(ch.recorder_id, ch.recorder_host, ch.channel, ch.protocol, ch.address, camera_id, ch.online)


@dataclass
class RecorderImpact:
    """Per camera, the channels the action takes dark; `refused` says why restrict_network must not run."""

    by_camera: dict[str, list[Impact]]
    refused: str | None

    @property
    def impacts(self) -> list[Impact]:
        return [i for camera_id in sorted(self.by_camera) for i in self.by_camera[camera_id]]


async def impact(store: Store, action: pb.Action, cameras: Sequence[CameraRow]) -> RecorderImpact:
    kind = action.WhichOneof("kind")
    if kind not in ("restrict_network", "decommission") or not cameras:
        return RecorderImpact({}, None)
    ids = {c.camera_id: _identity(c) for c in cameras}
    channels = await store.channels_touching(list(ids), [serial for serial, _ in ids.values()])
    by_serial = {serial: cid for cid, (serial, _) in ids.items() if serial}
    by_mac = {mac: cid for cid, (_, macs) in ids.items() for mac in macs}
    by_camera: dict[str, list[Feed]] = {}
    by_recorder: dict[str, list[Feed]] = {}
    for ch in channels:
        fed = ch.camera_id if ch.camera_id in ids else by_serial.get(ch.serial.strip().upper(), "")
        fed = fed or next((by_mac[m] for m in ch.macs if m in by_mac), "")
        f = _feed(ch, fed or ch.camera_id)
        by_recorder.setdefault(ch.recorder_id, []).append(f)
        if fed:
            by_camera.setdefault(fed, []).append(f)
    out = {cid: channels_dark(action, cid, by_camera, by_recorder) for cid in sorted(ids)}
    out = {cid: imps for cid, imps in out.items() if imps}
    return RecorderImpact(out, refusal(action, [i for imps in out.values() for i in imps]))


def impact_json(imp: RecorderImpact) -> list[dict[str, object]]:
    return [i.to_dict() for i in imp.impacts]


async def batch_impact(
    store: Store,
    stages: Sequence[tuple[str, dict[str, Any]]],
    batches: Sequence[tuple[str, Sequence[CameraRow]]],
) -> list[dict[str, Any]]:
    """Per batch and stage (restrict_network, decommission): the channels that would go dark, and the refusal."""
    from controller.commands import build_action  # local: commands imports the store, not this module

    out: list[dict[str, Any]] = []
    for batch_id, rows in batches:
        for action_name, params in stages:
            if action_name not in ("restrict_network", "decommission"):
                continue
            imp = await impact(store, build_action(action_name, params), rows)
            out.append({"batch_id": batch_id, "stage": action_name, "channels": impact_json(imp),
                        "refused": imp.refused})  # fmt: skip
    return out


def refusals(per_batch: Sequence[dict[str, Any]]) -> str | None:
    """The first refusal among the batches, with how many channels in all would be cut."""
    refused = [b for b in per_batch if b["refused"]]
    if not refused:
        return None
    n = sum(len(b["channels"]) for b in refused)
    return f"restrict_network {refused[0]['refused']} ({n} channel(s) across {len(refused)} batch(es))"


async def campaign_impact(store: Store, spec: Any, cameras: Sequence[CameraRow]) -> list[dict[str, Any]]:
    """batch_impact over a campaign spec's batches, cut the way the campaign cuts them (planner.split)."""
    from controller.campaigns import planner

    by_id = {c.camera_id: c for c in cameras}
    batches = [(f"b{i + 1:03d}", [by_id[x] for x in ids])
               for i, ids in enumerate(planner.split(list(by_id), spec.plan))]  # fmt: skip
    return await batch_impact(store, [(s.action, dict(s.params)) for s in spec.stages], batches)


async def status_impact(store: Store, status: dict[str, Any]) -> list[dict[str, Any]]:
    """batch_impact for a campaign as its status reports it (the batches it was cut into, its stages)."""
    from controller.store.base import CameraFilter

    stages = [(s["action"], dict(s.get("params") or {})) for s in status["spec"]["stages"]]
    ids = [x for b in status["batches"] for x in b["camera_ids"]]
    rows, _ = await store.query_cameras(CameraFilter(camera_ids=ids), limit=max(1, len(ids)))
    by_id = {r.camera_id: r for r in rows}
    batches = [(b["batch_id"], [by_id[x] for x in b["camera_ids"] if x in by_id]) for b in status["batches"]]
    return await batch_impact(store, stages, batches)
