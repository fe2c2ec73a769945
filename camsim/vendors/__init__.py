"""Vendor HTTP APIs of the simulated cameras (ISAPI, Dahua CGI, VAPIX), dispatched by personality."""

from __future__ import annotations

from aiohttp import web

from camsim.model import Camera
from camsim.vendors import axis, dahua, hikvision


async def handle(camera: Camera, request: web.Request) -> web.Response:
    """Serve an already-authenticated vendor API request for `camera`'s personality."""
    personality = camera.identity.personality
    if personality == "hikvision":
        return await hikvision.handle(camera, request)
    if personality == "dahua":
        return await dahua.handle(camera, request)
    if personality == "axis":
        return await axis.handle(camera, request)
    return web.Response(status=404)  # generic cameras speak ONVIF only


def server_header(camera: Camera) -> str | None:
    """The HTTP Server banner real firmware of this personality sends, or None for no header."""
    personality = camera.identity.personality
    if personality == "hikvision":
        return hikvision.server_header(camera)
    if personality == "dahua":
        return dahua.server_header(camera)
    if personality == "axis":
        return axis.server_header(camera)
    return camera.server_banner


__all__ = ["handle", "server_header"]
