"""REST routes of the fleet answer, the census and the recorders (/api/v1; read-only, any logged-in role)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controller.api import STORE, _int, need
from controller.auth import Perm
from controller.census_ingest import CENSUS_STATUSES
from controller.fleet_answer import answer
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
    return web.json_response(await fleet_answer(request.app[STORE]))


async def census(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = request.query
    status, origin = q.get("status"), q.get("origin")
    if status is not None and status not in CENSUS_STATUSES:
        raise ValueError(f"status: one of {', '.join(CENSUS_STATUSES)}")
    limit, offset = _int(q, "limit", 500, 1, 10_000), _int(q, "offset", 0, 0, 10**9)
    rows = [d for d in await request.app[STORE].census_devices()
            if (status is None or d.status == status) and (origin is None or d.origin == origin)]  # fmt: skip
    return web.json_response(
        {"total": len(rows), "devices": [census_json(d) for d in rows[offset : offset + limit]]}
    )


async def recorders(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    return web.json_response({"recorders": recorders_json(await request.app[STORE].recorder_channels())})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/fleet", fleet)
    app.router.add_get("/api/v1/census", census)
    app.router.add_get("/api/v1/recorders", recorders)


def paths() -> dict[str, Any]:
    """OpenAPI paths of this module (merged into controller.openapi's document)."""
    err = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }

    def ok(desc: str) -> dict[str, Any]:
        return {"description": desc, "content": {"application/json": {"schema": {"type": "object"}}}}

    def q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    return {
        "/api/v1/fleet": {"get": {
            "summary": "every camera once: inventoried, found by census, or only behind a recorder; recorders",
            "responses": {"200": ok("fleet answer"), "401": err}}},
        "/api/v1/census": {"get": {
            "summary": "devices the agents' census found without credentials",
            "parameters": [q("status", {"type": "string", "enum": list(CENSUS_STATUSES)}),
                           q("origin", {"type": "string"}),
                           q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                           q("offset", {"type": "integer", "minimum": 0})],
            "responses": {"200": ok("census devices"), "400": err, "401": err}}},
        "/api/v1/recorders": {"get": {
            "summary": "recorders and the camera on each channel",
            "responses": {"200": ok("recorders"), "401": err}}},
    }  # fmt: skip
