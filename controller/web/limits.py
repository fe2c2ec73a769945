"""Limits on what one HTTP client can hold: read timeouts (slowloris), live-stream slots, its real address."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from controller.config import HttpLimits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


LIMITS = web.AppKey("http_limits", HttpLimits)


def server_limits(limits: HttpLimits | None = None) -> dict[str, Any]:
    """Keyword arguments for web.AppRunner: aiohttp closes a connection that has not sent a complete request
    within keepalive_timeout (also right after it opened), whatever trickle of bytes it sends."""
    lim = limits or HttpLimits()
    return {"keepalive_timeout": lim.header_timeout_s, "max_line_size": 8190, "max_field_size": 8190}


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request body must arrive within body_timeout_s; slower is a 408, and the handler never waits on it.
    Multipart forms (file uploads) are read by their handler: they get the same deadline as a whole."""
    if request.method not in BODY_METHODS or not request.can_read_body:
        return await handler(request)
    limit = request.app[LIMITS].body_timeout_s if LIMITS in request.app else HttpLimits.body_timeout_s
    try:
        if request.content_type.startswith("multipart/"):
            async with asyncio.timeout(limit):
                return await handler(request)
        await asyncio.wait_for(request.read(), limit)  # cached: the handler's read() gets these bytes
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="the request body did not arrive in time") from None
    return await handler(request)


class StreamSlots:
    """Counts open live streams per owner (a session, or an API user) and in all."""

    def __init__(self, per_owner: int, total: int) -> None:
        self.per_owner, self.total = per_owner, total
        self._open: Counter[str] = Counter()

    def acquire(self, owner: str) -> str | None:
        """None when granted; otherwise why not."""
        if sum(self._open.values()) >= self.total:
            return f"the controller serves at most {self.total} live streams"
        if self._open[owner] >= self.per_owner:
            return f"at most {self.per_owner} live streams per session; close a dashboard tab"
        self._open[owner] += 1
        return None

    def release(self, owner: str) -> None:
        self._open[owner] -= 1
        if self._open[owner] <= 0:
            del self._open[owner]

    @property
    def open(self) -> int:
        return sum(self._open.values())


def client_address(request: web.Request) -> str:
    """The client's address; behind a trusted reverse proxy, the nearest untrusted hop of X-Forwarded-For."""
    peer = request.remote or ""
    trusted = request.app[LIMITS].trusted_proxies if LIMITS in request.app else []
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return peer


def _in(addr: str, nets: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in nets)
