"""JSON control API on 127.0.0.1: read each camera's live state and inject faults at run time.

Endpoints (all JSON; bad input -> 400 {"error": ...}, unknown camera -> 404):
  GET    /health                      {"status": "ok", "cameras": N}
  GET    /stats                       fleet totals: cameras, cloud_reachable, writes, down, locked_clients ...
  GET    /cameras[?personality=P]     [Camera.live_state(), ...]
  GET    /cameras/{id}                one camera's live state plus its traffic counters
  GET    /cameras/{id}/faults         current faults, clock skew and auth limits
  PATCH  /cameras/{id}/faults         any Faults field, clock_skew_s, lockout_threshold, lockout_seconds,
                                      connection_limit (POST works too)
  DELETE /cameras/{id}/faults         back to no faults and no skew (auth limits unchanged)
  POST   /cameras/{id}/unlock         clear lockouts and failure counts (optional {"ip": "127.0.0.5"})
  POST   /cameras/{id}/reboot         down for faults.reboot_seconds (port closed), then back
  POST   /cameras/{id}/address        {"address": "127.0.1.77", "port"?: 8080}: the camera answers there from now
                                      on (a new DHCP lease); still the same device; the old address goes quiet
  POST   /faults                      {"fraction": 0.2, "seed": 7, "personality"?: P, "faults": {...}}
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from aiohttp import web

from camsim.model import Camera, Faults

if TYPE_CHECKING:
    from camsim.server import SimServer

SERVER_KEY: web.AppKey[SimServer] = web.AppKey("camsim_server")

_FAULT_FIELDS = {f.name: f.type for f in fields(Faults)}
_RATE_FIELDS = frozenset(
    {"http500_rate", "malformed_rate", "truncated_rate", "drop_rate", "lost_login_reply_rate"}
)
# AuthPolicy limits that tests and demos tune at run time (e.g. a short lockout).
_AUTH_FIELDS = frozenset({"lockout_threshold", "lockout_seconds", "connection_limit"})


class BadRequest(ValueError):
    """Client error in a control request; becomes a 400 with a JSON explanation."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(request)
    except BadRequest as exc:
        return _error(400, str(exc))
    return resp


def build_app(server: SimServer) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVER_KEY] = server
    r = app.router
    r.add_get("/health", health)
    r.add_get("/stats", stats)
    r.add_get("/cameras", list_cameras)
    r.add_get("/cameras/{id}", get_camera)
    r.add_get("/cameras/{id}/faults", get_camera_faults)
    r.add_route("PATCH", "/cameras/{id}/faults", set_camera_faults)
    r.add_post("/cameras/{id}/faults", set_camera_faults)
    r.add_delete("/cameras/{id}/faults", clear_camera_faults)
    r.add_post("/cameras/{id}/unlock", unlock)
    r.add_post("/cameras/{id}/reboot", reboot)
    r.add_post("/cameras/{id}/address", move)
    r.add_post("/faults", fleet_faults)
    return app


def _server(request: web.Request) -> SimServer:
    return request.app[SERVER_KEY]


def _camera(request: web.Request) -> Camera:
    cid = request.match_info["id"]
    try:
        return _server(request).camera(cid)
    except KeyError:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no camera {cid!r}"}), content_type="application/json"
        ) from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


@dataclass(frozen=True)
class FaultUpdate:
    """A validated run-time change: Faults fields, AuthPolicy limits and the camera clock skew."""

    faults: dict[str, Any]
    auth: dict[str, Any]
    clock_skew_s: float | None

    def apply(self, cam: Camera) -> None:
        for key, value in self.faults.items():
            setattr(cam.faults, key, value)
        for key, value in self.auth.items():
            setattr(cam.auth, key, value)
        if self.clock_skew_s is not None:
            cam.clock_skew_s = self.clock_skew_s


def parse_fault_update(raw: dict[str, Any]) -> FaultUpdate:
    """Validate a {field: value} update; anything unknown or out of range raises BadRequest."""
    out: dict[str, Any] = {}
    auth: dict[str, Any] = {}
    skew: float | None = None
    for key, value in raw.items():
        if key == "clock_skew_s":
            skew = _number(key, value)
            continue
        if key in _AUTH_FIELDS:
            num = _number(key, value)
            if key != "lockout_seconds":
                if num != int(num) or num < 1:
                    raise BadRequest(f"{key} must be a whole number >= 1")
                auth[key] = int(num)
            elif num < 0:
                raise BadRequest(f"{key} must not be negative")
            else:
                auth[key] = num
            continue
        if key not in _FAULT_FIELDS:
            allowed = ", ".join(sorted([*_FAULT_FIELDS, *_AUTH_FIELDS, "clock_skew_s"]))
            raise BadRequest(f"unknown fault {key!r}; allowed: {allowed}")
        if key == "login_fault_path":
            if not isinstance(value, str):
                raise BadRequest("login_fault_path must be a path prefix (a string)")
            out[key] = value
            continue
        if key == "hang":
            if not isinstance(value, bool):
                raise BadRequest("hang must be true or false")
            out[key] = value
            continue
        num = _number(key, value)
        if num < 0:
            raise BadRequest(f"{key} must not be negative")
        if key in _RATE_FIELDS and num > 1:
            raise BadRequest(f"{key} is a probability in [0, 1]")
        out[key] = num
    return FaultUpdate(out, auth, skew)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{key} must be a number")
    return float(value)


def _fault_view(cam: Camera) -> dict[str, Any]:
    return {
        "id": cam.id,
        "faults": asdict(cam.faults),
        "clock_skew_s": cam.clock_skew_s,
        "auth": {k: getattr(cam.auth, k) for k in sorted(_AUTH_FIELDS)},
    }


async def health(request: web.Request) -> web.Response:
    server = _server(request)
    return web.json_response({"status": "ok", "cameras": len(server.cameras)})


async def stats(request: web.Request) -> web.Response:
    server = _server(request)
    cams = server.cameras
    return web.json_response(
        {
            "cameras": len(cams),
            "cloud_reachable": sum(1 for c in cams if c.cloud_reachable()),
            "writes": sum(sum(c.writes.values()) for c in cams),
            "down": sum(1 for c in cams if c.is_down()),
            "locked_clients": sum(1 for c in cams for ip in c.locked_until if c.is_locked(ip)),
            "requests": server.requests,
            "traffic": dict(sum(server.traffic.values(), Counter())),
            "by_personality": dict(Counter(c.identity.personality for c in cams)),
            "by_manufacturer": dict(Counter(c.identity.manufacturer for c in cams)),
            # Every request that carried a credential (HTTP Authorization, WS-Security): a census must leave 0.
            "credentials_presented": sum(t.get("credentials", 0) for t in server.traffic.values()),
            "multicast": {
                name: {"probes": r.stats.probes, "replies": r.stats.replies}
                for name, r in server.multicast.items()
            },
        }
    )


def _state(server: SimServer, cam: Camera) -> dict[str, Any]:
    """Live state; a recorder adds each channel's camera and whether it records right now."""
    state = cam.live_state()
    state["traffic"] = dict(server.traffic.get(cam.id, {}))
    if cam.is_recorder:
        from camsim.recorders import channel_views

        state["channels"] = [
            {"channel": v.channel.number, "camera_id": v.channel.camera_id, "address": v.channel.address,
             "protocol": v.channel.protocol, "online": v.online, "reason": v.reason}
            for v in channel_views(cam, server.lookup)
        ]  # fmt: skip
    return state


async def list_cameras(request: web.Request) -> web.Response:
    server = _server(request)
    cams = server.cameras
    personality = request.query.get("personality")
    if personality is not None:
        cams = [c for c in cams if c.identity.personality == personality]
    return web.json_response([_state(server, c) for c in cams])


async def get_camera(request: web.Request) -> web.Response:
    cam = _camera(request)
    state = _state(_server(request), cam)
    return web.json_response(state)


async def get_camera_faults(request: web.Request) -> web.Response:
    return web.json_response(_fault_view(_camera(request)))


async def set_camera_faults(request: web.Request) -> web.Response:
    cam = _camera(request)
    body = await _json_body(request)
    parse_fault_update(body).apply(cam)
    _server(request).note_change(cam.id)
    return web.json_response(_fault_view(cam))


async def clear_camera_faults(request: web.Request) -> web.Response:
    cam = _camera(request)
    cam.faults = Faults(reboot_seconds=cam.faults.reboot_seconds)
    cam.clock_skew_s = 0.0
    _server(request).note_change(cam.id)
    return web.json_response(_fault_view(cam))


async def unlock(request: web.Request) -> web.Response:
    cam = _camera(request)
    body = await _json_body(request)
    ip = body.get("ip")
    if ip is not None and not isinstance(ip, str):
        raise BadRequest("ip must be a string")
    if ip is None:
        cleared = sorted(set(cam.locked_until) | set(cam.auth_failures))
        cam.locked_until.clear()
        cam.auth_failures.clear()
    else:
        cleared = [ip] if ip in cam.locked_until or ip in cam.auth_failures else []
        cam.locked_until.pop(ip, None)
        cam.auth_failures.pop(ip, None)
    _server(request).note_change(cam.id)
    return web.json_response({"id": cam.id, "unlocked": cleared})


async def reboot(request: web.Request) -> web.Response:
    cam = _camera(request)
    _server(request).reboot(cam)
    return web.json_response({"id": cam.id, "down_until": cam.down_until, "boots": cam.boots})


async def move(request: web.Request) -> web.Response:
    cam = _camera(request)
    body = await _json_body(request)
    unknown = sorted(set(body) - {"address", "port"})
    if unknown:
        raise BadRequest(f"unknown key(s) {unknown}; allowed: address, port")
    address, port = body.get("address"), body.get("port")
    if not isinstance(address, str):
        raise BadRequest("address must be a string")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise BadRequest("port must be a whole number in 1..65535")
    try:
        await _server(request).move(cam, address, port)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return web.json_response({"id": cam.id, "host": cam.network.address, "port": cam.port})


async def fleet_faults(request: web.Request) -> web.Response:
    """Apply one fault set to a seeded random fraction of the fleet (optionally one personality)."""
    server = _server(request)
    body = await _json_body(request)
    fraction = body.get("fraction", 1.0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
        raise BadRequest("fraction must be a number in [0, 1]")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("seed must be an integer")
    raw = body.get("faults")
    if not isinstance(raw, dict) or not raw:
        raise BadRequest("faults must be a non-empty object")
    update = parse_fault_update(raw)
    pool = server.cameras
    personality = body.get("personality")
    if personality is not None:
        pool = [c for c in pool if c.identity.personality == personality]
    chosen = choose_fraction(pool, float(fraction), seed)
    for cam in chosen:
        update.apply(cam)
        server.note_change(cam.id)
    return web.json_response({"count": len(chosen), "ids": [c.id for c in chosen]})


def choose_fraction(cameras: list[Camera], fraction: float, seed: int | None) -> list[Camera]:
    """round(fraction * N) cameras, the same ones for the same seed, in fleet order."""
    k = round(fraction * len(cameras))
    picked = set(random.Random(seed).sample(range(len(cameras)), k))
    return [c for i, c in enumerate(cameras) if i in picked]
