"""/healthz (the process answers), /readyz (it can do its job now) and /metrics, all without a token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

from controller.api import STORE
from controller.metrics import METRICS
from controller.supervise import Supervisor

SUPERVISOR = web.AppKey("supervisor", Supervisor)


@dataclass
class Readiness:
    hub: Any = None  # controller.hub.Hub, when the app runs one
    lease: Any = None  # controller.lease lease: who leads


READINESS = web.AppKey("readiness", Readiness)


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers and no background task has died (a dead one stops the process anyway)."""
    sup = request.app[SUPERVISOR]
    if sup.failed:
        return web.json_response({"status": "failed", "failed": sup.failed}, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: connected to the broker, the store takes writes, and which replica leads. 503 otherwise, with
    the reason, so a load balancer or an operator sees why."""
    ready = request.app[READINESS]
    checks: dict[str, Any] = {}
    problems: list[str] = []
    hub = ready.hub
    if hub is not None:
        connected = hub.connected.is_set()
        checks["broker"] = "connected" if connected else f"disconnected ({hub.last_error or 'connecting'})"
        if not connected:
            problems.append("broker")
    try:
        await asyncio.wait_for(request.app[STORE].check_writable(), 5)
        checks["store"] = "writable"
    except Exception as exc:
        checks["store"] = f"not writable: {type(exc).__name__}: {exc}"
        problems.append("store")
    if ready.lease is not None:
        checks["leader"] = bool(ready.lease.held)
    sup = request.app[SUPERVISOR]
    checks["tasks"] = sup.alive
    if sup.failed:
        problems.append("tasks")
        checks["failed"] = sup.failed
    return web.json_response(
        {"ready": not problems, "problems": problems, **checks}, status=503 if problems else 200
    )


async def metrics(request: web.Request) -> web.Response:
    store = request.app[STORE]
    METRICS.agents_online.set(sum(1 for a in await store.list_agents() if a.online))
    for state, n in (await store.counts("lifecycle")).items():
        METRICS.cameras_by_lifecycle.labels(state).set(n)
    METRICS.quarantine_size.set(await store.quarantine_count())
    hub = request.app[READINESS].hub
    if hub is not None:
        METRICS.hub_connected.set(1 if hub.connected.is_set() else 0)
    return web.Response(body=generate_latest(METRICS.registry), content_type="text/plain", charset="utf-8")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
