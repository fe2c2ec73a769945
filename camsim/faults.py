"""Injected misbehaviour (latency, hangs, drops, 500s, broken bodies) applied to one camera's requests."""

from __future__ import annotations

import asyncio
import random

from aiohttp import web

from camsim.model import Faults

# How often a hanging handler checks whether the client gave up or the fault was cleared.
_HANG_POLL_S = 0.1


class FaultInjector:
    """Rolls the per-request dice for a camera's Faults; one shared instance, seeded for reproducibility."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def roll(self, rate: float) -> bool:
        """True with probability `rate` (rates outside [0, 1] are clamped)."""
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        return self._rng.random() < rate

    def delay_s(self, faults: Faults) -> float:
        """Fixed latency plus uniform jitter in [-jitter, +jitter], never negative."""
        if faults.latency_ms <= 0.0 and faults.jitter_ms <= 0.0:
            return 0.0
        jitter = self._rng.uniform(-faults.jitter_ms, faults.jitter_ms) if faults.jitter_ms > 0 else 0.0
        return max(0.0, faults.latency_ms + jitter) / 1000.0

    def malform(self, body: bytes) -> bytes:
        """Break the document while keeping HTTP intact: drop a closing tag and add a stray '<'.

        Real firmware occasionally emits unbalanced XML after a buffer overrun; a client must treat
        it as a parse error, not as an empty answer.
        """
        if not body:
            return b"<"
        cut = body.rfind(b"</")
        broken = body[:cut] if cut > 0 else body[: max(1, len(body) // 2)]
        return broken + b"<<&\x00"

    @staticmethod
    def truncated_length(body: bytes) -> int:
        """How much of the body is sent before the connection dies: about half, at least one byte."""
        return max(1, len(body) // 2) if body else 0


def drop(request: web.BaseRequest) -> None:
    """Close the connection without any reply, as a camera that resets or crashes mid-request."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def hang(request: web.BaseRequest, faults: Faults, stopping: asyncio.Event | None = None) -> None:
    """Accept the request and never answer, until the client hangs up, the fault is cleared or camsim stops."""
    while faults.hang and not (stopping is not None and stopping.is_set()):
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(_HANG_POLL_S)


async def send_truncated(request: web.BaseRequest, resp: web.Response, keep: int) -> web.StreamResponse:
    """Announce the full Content-Length, send only `keep` bytes, then close: the body is cut mid-document."""
    body = resp.body
    assert isinstance(body, bytes | bytearray)
    out = web.StreamResponse(status=resp.status, reason=resp.reason, headers=resp.headers)
    out.content_length = len(body)
    await out.prepare(request)
    await out.write(bytes(body[:keep]))
    transport = request.transport
    if transport is not None:
        # close() (not abort) flushes the partial body first, so the client really sees half a document.
        transport.close()
    return out
