"""Typed keys the server shares with its request handlers (kept apart so the hot import path stays small)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from camsim.model import Camera

#: Looks a device up by id (the whole fleet, cameras behind recorders included).
Lookup = Callable[[str], Camera | None]
LOOKUP: web.AppKey[Lookup] = web.AppKey("camsim_lookup", Callable)  # type: ignore[arg-type]
#: Set on a request whose SOAP header carried WS-Security (the server counts every credential it is sent).
CREDENTIALS_SENT: web.RequestKey[bool] = web.RequestKey("camsim_credentials_sent", bool)
