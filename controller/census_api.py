"""REST routes of the fleet answer, the census and the recorders (/api/v1; read-only, any logged-in role)."""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

from aiohttp import web

from controller.api import STORE, need, query
from controller.auth import Perm
from controller.fleet_answer import answer, keys_of
from controller.models import CensusQuery, NoQuery
from controller.store import Store
from controller.store.repos.census import CensusRow, ChannelRow

# The answer per store, with the version it was computed at: the live overview asks every few seconds, and at
# 10,000 cameras computing it costs a few hundred ms of the event loop (BENCHMARKS, issue 14's overview finding).
_ANSWERS: WeakKeyDictionary[Store, tuple[tuple[Any, ...], float, dict[str, Any]]] = WeakKeyDictionary()
# The version compares counts and latest write times: a write stamped no later than an earlier one (the
# controller's clock stepped back) with the same counts would leave it unchanged, so an answer is never older than this.
MAX_AGE_S = 60.0


async def fleet_answer(store: Store) -> dict[str, Any]:
    """Every camera once (inventoried, found by census, or only behind a recorder), recorders apart. Computed again
    only when the cameras, census devices or channels changed (store.fleet_version); callers must not mutate it."""
    version, now = await store.fleet_version(), time.monotonic()
    hit = _ANSWERS.get(store)
    if hit is not None and hit[0] == version and now - hit[1] < MAX_AGE_S:
        return hit[2]
    census, channels = await store.census_devices(), await store.recorder_channels()
    # Only the cameras that share a key with a census device, a channel or each other are read; the rest are
    # counted in SQL (store.overlapping_cameras).
    cameras, alone = await store.overlapping_cameras(keys_of(census, channels))
    got = answer(cameras, census, channels, alone=alone)
    _ANSWERS[store] = (version, now, got)
    return got


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
