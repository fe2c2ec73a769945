"""How many cameras, and whose: inventoried cameras, census finds and recorder channels counted once each.

A camera can be seen three ways: inventoried with credentials, found by a census without them, and listed by the
recorder it feeds. Sightings are the same camera when they share a MAC or a serial, or (a channel or census find
against an inventoried camera or census find) the same address on the same site. Channels never merge with each
other by address: PoE subnets repeat from recorder to recorder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.store.repos.census import CensusRow, ChannelRow, SightingKeys

_RANK = {"inventory": 0, "census": 1, "channel": 2}


class Identified(Protocol):
    """An inventoried camera as the answer sees it: store.camera_keys() rows (or whole CameraRows)."""

    @property
    def camera_id(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def serial(self) -> str: ...
    @property
    def macs(self) -> Sequence[str]: ...
    @property
    def device_class(self) -> str: ...


@dataclass
class Sighting:
    kind: str  # inventory | census | channel
    ref: str
    keys: set[str]
    lookup: set[str] = field(
        default_factory=set
    )  # keys matched against others, never registered (channel address)
    origin: str = "unknown"
    confidence: float = 0.0
    recorder: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


def _ids(serial: str, macs: Iterable[str]) -> set[str]:
    out = {f"mac:{m.strip().upper().replace('-', ':')}" for m in macs if m.strip()}
    if serial.strip():
        out.add(f"serial:{serial.strip().upper()}")
    return out


def sightings(
    cameras: Sequence[Identified], census: Sequence[CensusRow], channels: Sequence[ChannelRow]
) -> list[Sighting]:
    out: list[Sighting] = []
    for c in cameras:
        keys = _ids(c.serial, c.macs) | {f"addr:{c.site}|{c.host}", f"camera:{c.camera_id}"}
        out.append(Sighting("inventory", c.camera_id, keys, origin=c.origin, confidence=c.confidence,
                            recorder=c.device_class == "recorder"))  # fmt: skip
    for d in census:
        keys = _ids(d.serial, d.macs) | {f"addr:{d.site}|{d.host}"}
        if d.camera_id:
            keys.add(f"camera:{d.camera_id}")
        out.append(Sighting("census", f"{d.agent_id}/{d.device_key}", keys, origin=d.origin,
                            confidence=d.confidence, recorder=d.device_class == "recorder"))  # fmt: skip
    for ch in channels:
        keys = _ids(ch.serial, ch.macs) | {f"channel:{ch.recorder_id}/{ch.channel}"}
        if ch.camera_id:
            keys.add(f"camera:{ch.camera_id}")
        out.append(Sighting("channel", f"{ch.recorder_id}/{ch.channel}", keys, {f"addr:{ch.site}|{ch.address}"},
                            origin=ch.origin, confidence=ch.confidence,
                            detail={"recorder_id": ch.recorder_id, "recorder_host": ch.recorder_host,
                                    "channel": ch.channel, "address": ch.address, "model": ch.model,
                                    "serial": ch.serial, "online": ch.online}))  # fmt: skip
    return out


def group(items: Sequence[Sighting]) -> list[list[Sighting]]:
    """Union-find over shared keys; lookup-only keys join a group that registered them, never each other."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    owner: dict[str, int] = {}
    for i, s in enumerate(items):
        for k in s.keys:
            if k in owner:
                union(owner[k], i)
            else:
                owner[k] = i
    for i, s in enumerate(items):
        for k in s.lookup:
            if k in owner:
                union(owner[k], i)
    groups: dict[int, list[Sighting]] = {}
    for i, s in enumerate(items):
        groups.setdefault(find(i), []).append(s)
    return list(groups.values())


def keys_of(census: Sequence[CensusRow], channels: Sequence[ChannelRow]) -> SightingKeys:
    """Every key a census device or channel can share with an inventoried camera (registered or looked up)."""
    out: dict[str, set[Any]] = {"serial": set(), "mac": set(), "addr": set(), "camera": set()}
    for s in sightings([], census, channels):
        for k in s.keys | s.lookup:
            kind, _, value = k.partition(":")
            if kind == "addr":
                site, _, host = value.partition("|")
                out["addr"].add((site, host))
            elif kind in out:
                out[kind].add(value)
    return SightingKeys(frozenset(out["serial"]), frozenset(out["mac"]), frozenset(out["addr"]),
                        frozenset(out["camera"]))  # fmt: skip


def answer(
    cameras: Sequence[Identified],
    census: Sequence[CensusRow],
    channels: Sequence[ChannelRow],
    *,
    alone: Mapping[tuple[str, bool], int] | None = None,
) -> dict[str, Any]:
    """The fleet answer: unique cameras (recorders counted apart) and how each is known. `alone`: inventoried
    cameras not in `cameras` because they share no key with any other sighting, counted by (origin, is a
    recorder) (store.overlapping_cameras): each is a group of its own."""
    groups = group(sightings(cameras, census, channels))
    cams = [g for g in groups if not any(s.recorder for s in g)]
    recorders = [g for g in groups if any(s.recorder for s in g)]
    kinds = [{s.kind for s in g} for g in cams]
    by_origin: Counter[str] = Counter()
    behind: list[dict[str, Any]] = []
    for g, k in zip(cams, kinds, strict=True):
        best = min(g, key=lambda s: (_RANK[s.kind], -s.confidence))
        by_origin[best.origin or "unknown"] += 1
        if k == {"channel"}:
            behind.append({**g[0].detail, "origin": best.origin, "confidence": best.confidence})
    single = {k: n for k, n in (alone or {}).items() if n > 0}
    for (origin, rec), n in single.items():
        if not rec:
            by_origin[origin or "unknown"] += n
    lone = sum(n for (_, rec), n in single.items() if not rec)
    status = Counter(d.status for d in census)
    return {
        "cameras": len(cams) + lone,
        "inventoried": sum(1 for k in kinds if "inventory" in k) + lone,
        "census_only": sum(1 for k in kinds if "inventory" not in k and "census" in k),
        "behind_recorder_only": len(behind),
        "on_recorders": sum(1 for k in kinds if "channel" in k),
        "recorders": len(recorders) + sum(n for (_, rec), n in single.items() if rec),
        "channels": len(channels),
        "channels_online": sum(1 for c in channels if c.online),
        "census_devices": len(census),
        "census_by_status": {
            s: status.get(s, 0) for s in ("seen", "identified", "credentials known", "inventoried")
        },
        "unactivated": sum(1 for d in census if d.activation == "unactivated"),
        "by_origin": dict(by_origin),
        "behind": sorted(behind, key=lambda b: (b["recorder_id"], b["channel"])),
    }
