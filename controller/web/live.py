"""Server-Sent Events: fan-out of the hub's live notifications to every open dashboard page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from controller.api import need
from controller.auth import Perm
from controller.config import HttpLimits
from controller.web.limits import StreamSlots
from controller.web.sessions import SESSION

log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0
QUEUE_SIZE = 256


class LiveFeed:
    """Hub listener -> one bounded queue per open page. A slow browser loses events (it resynchronises by
    re-reading the page), it never slows ingest: Hub.notify runs inline in the MQTT message loop."""

    def __init__(self, limits: HttpLimits | None = None) -> None:
        lim = limits or HttpLimits()
        self._queues: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self.closing = asyncio.Event()
        self.slots = StreamSlots(lim.sse_per_session, lim.sse_total)

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait((kind, data))

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        q: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        self._queues.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


FEED = web.AppKey("dashboard_feed", LiveFeed)


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events: text/event-stream of agent, inventory, execution, event and campaign notifications."""
    user = need(request, Perm.READ)
    feed = request.app[FEED]
    session = request.get(SESSION)
    # Each open stream holds a socket and a queue: a few per session (tabs), a bounded number in all.
    owner = f"session:{session.sid}" if session is not None else f"user:{user.username}"
    refused = feed.slots.acquire(owner)
    if refused is not None:
        raise web.HTTPTooManyRequests(text=refused, headers={"Retry-After": "10"})
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    q = feed.subscribe()
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n\n")
        while not feed.closing.is_set():
            get = asyncio.ensure_future(q.get())
            stop = asyncio.ensure_future(feed.closing.wait())
            done, pending = await asyncio.wait(
                {get, stop}, timeout=HEARTBEAT_S, return_when="FIRST_COMPLETED"
            )
            for t in pending:
                t.cancel()
            if get in done:
                kind, data = get.result()
                await resp.write(_frame(kind, data))
            elif not done:
                await resp.write(b": keep-alive\n\n")
    except ConnectionResetError:
        log.debug("live feed client went away")
    finally:
        feed.unsubscribe(q)
        feed.slots.release(owner)
    return resp
