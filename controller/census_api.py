"""REST routes of the fleet answer, the census and the recorders (/api/v1; read-only, any logged-in role)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controller.api import STORE, need, query
from controller.auth import Perm
from controller.fleet_answer import answer
from controller.models import CensusQuery, NoQuery
from controller.store import Store
from controller.store.base import CameraFilter
from controller.store.repos.census import CensusRow, ChannelRow


async def fleet_answer(store: Store) -> dict[str, Any]:
    """Every camera once (inventoried, found by census, or only behind a recorder), recorders apart."""
    cameras, _ = await store.query_cameras(CameraFilter(), limit=10**7)
    return answer(cameras, await store.census_devices(), await store.recorder_channels())


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
