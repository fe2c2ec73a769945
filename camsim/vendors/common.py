"""Helpers shared by the vendor API personalities: bounded body reads, form parsing, state edits."""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import parse_qsl

from aiohttp import web

from camsim.model import Camera, IPFilter

BODY_LIMIT = 64 * 1024  # vendor config bodies are a few kB; a camera's web server caps them too
BODY_TIMEOUT_S = 10.0


class BodyTooLarge(Exception):
    """The request body exceeds BODY_LIMIT."""


async def read_body(request: web.Request) -> bytes:
    """The request body, bounded in size and time (a slow client must not pin a handler)."""
    if request.content_length is not None and request.content_length > BODY_LIMIT:
        raise BodyTooLarge
    async with asyncio.timeout(BODY_TIMEOUT_S):
        body = await request.content.read(BODY_LIMIT + 1)
    if len(body) > BODY_LIMIT:
        raise BodyTooLarge
    return body


async def form_params(request: web.Request) -> list[tuple[str, str]]:
    """Query parameters, plus an urlencoded POST body (VAPIX accepts both, Kane610/axis POSTs)."""
    items = list(request.query.items())
    if request.method == "POST":
        body = await read_body(request)
        items += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return items


def set_ip_filter(camera: Camera, new: IPFilter) -> bool:
    """Replace the enforced IP filter if it differs; count one write (shared with ONVIF SetIPAddressFilter)."""
    old = camera.network.ip_filter
    if old.type == new.type and old.ipv4 == new.ipv4:
        return False
    camera.network.ip_filter = new
    camera.record_write("ip_filter")
    return True


def set_feature_if_changed(camera: Camera, name: str, enabled: bool) -> bool:
    """Write a feature only when the value changes, so idempotent re-applies leave the write count alone."""
    if camera.features.get(name) == enabled:
        return False
    camera.set_feature(name, enabled)
    return True


def parse_cidr(text: str) -> tuple[str, int]:
    """'10.0.0.0/8' or '10.0.0.1' -> (network address, prefix); ValueError otherwise."""
    net = ipaddress.IPv4Network(text.strip(), strict=False)
    return str(net.network_address), net.prefixlen
