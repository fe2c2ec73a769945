"""REST routes of the fleet answer, the census and the recorders (/api/v1; read-only, any logged-in role)."""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from aiohttp import web

from controller.api import STORE, need, query
from controller.auth import Perm
from controller.fleet_answer import answer, keys_of
from controller.models import CensusQuery, NoQuery
from controller.store import Store
from controller.store.repos.census import CensusRow, ChannelRow


class _Cached:
    """A store's answer and the fleet revision it was computed at; `computed` counts the computations."""

    __slots__ = ("answer", "computed", "lock", "version")

    def __init__(self) -> None:
        self.version: int | None = None
        self.answer: dict[str, Any] = {}
        self.computed = 0
        # One computation at a time per store: dashboards that ask together after a change share it.
        self.lock = asyncio.Lock()


# The answer per store: the live overview asks after every event, and at 10,000 cameras computing it costs a few
# hundred ms of the event loop (BENCHMARKS, issue 15). The fleet revision is bumped in the transaction of every
# write that changes what the answer reads (store.db.Database.tx), on whichever replica made it, so comparing it
# is exact: no time limit, and a report that changes nothing the answer counts costs one one-row read.
_ANSWERS: WeakKeyDictionary[Store, _Cached] = WeakKeyDictionary()


def computations(store: Store) -> int:
    """How many times the answer was computed for this store (tests, benchmarks)."""
    hit = _ANSWERS.get(store)
    return hit.computed if hit is not None else 0


async def fleet_answer(store: Store) -> dict[str, Any]:
    """Every camera once (inventoried, found by census, or only behind a recorder), recorders apart. Current as
    of the request: it reflects every change any replica committed before the revision read here. Computed
    again only when the fleet revision moved; callers must not mutate it."""
    c = _ANSWERS.get(store)
    if c is None:
        c = _ANSWERS[store] = _Cached()
    version = await store.fleet_version()
    if version == c.version:
        return c.answer
    async with c.lock:
        # Read again under the lock: another request may have computed it meanwhile, or the fleet moved on.
        version = await store.fleet_version()
        if version == c.version:
            return c.answer
        census, channels = await store.census_devices(), await store.recorder_channels()
        # Only the cameras that share a key with a census device, a channel or each other are read; the rest
        # are counted in SQL (store.overlapping_cameras). Every read starts after the revision was read, so the
        # answer is at least as new as `version` (a change committed meanwhile moves the revision again).
        cameras, alone = await store.overlapping_cameras(keys_of(census, channels))
        c.answer, c.version = answer(cameras, census, channels, alone=alone), version
        c.computed += 1
        return c.answer


def census_json(d: CensusRow) -> dict[str, Any]:
    return {
        "agent_id": d.agent_id, "site": d.site, "host": d.host, "port": d.port, "macs": d.macs, "serial": d.serial,
        "model": d.model, "firmware": d.firmware, "device_class": d.device_class, "channels": d.channels,
        "activation": d.activation, "census_status": d.status, "sources": d.sources, "origin": d.origin,
        "covered": d.covered, "confidence": d.confidence, "camera_id": d.camera_id, "seen_at": d.seen_at,
    }  # fmt: skip


def channel_json(c: ChannelRow) -> dict[str, Any]:
    return {
        "channel": c.channel, "address": c.address, "protocol": c.protocol, "online": c.online,
        "status": c.status_detail, "model": c.model, "serial": c.serial, "firmware": c.firmware, "macs": c.macs,
        "origin": c.origin, "covered": c.covered, "confidence": c.confidence, "camera_id": c.camera_id,
    }  # fmt: skip


def recorders_json(channels: list[ChannelRow]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in channels:
        r = out.setdefault(c.recorder_id, {"recorder_id": c.recorder_id, "host": c.recorder_host, "site": c.site,
                                           "agent_id": c.agent_id, "channels": []})  # fmt: skip
        r["channels"].append(channel_json(c))
    for r in out.values():
        r["online"] = sum(1 for c in r["channels"] if c["online"])
    return [out[k] for k in sorted(out)]


async def fleet(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    return web.json_response(await fleet_answer(request.app[STORE]))


async def census(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, CensusQuery)
    rows = [d for d in await request.app[STORE].census_devices()
            if (q.status is None or d.status == q.status) and (q.origin is None or d.origin == q.origin)]  # fmt: skip
    return web.json_response(
        {"total": len(rows), "devices": [census_json(d) for d in rows[q.offset : q.offset + q.limit]]}
    )


async def recorders(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    return web.json_response({"recorders": recorders_json(await request.app[STORE].recorder_channels())})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/fleet", fleet)
    app.router.add_get("/api/v1/census", census)
    app.router.add_get("/api/v1/recorders", recorders)
