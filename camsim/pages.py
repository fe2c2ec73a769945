"""What a browser gets without logging in: the landing page of each personality and the UPnP description.

Landing-page markers: Hikvision's root page sends the browser to /doc/page/login.asp on older firmware (the
metasploit Hikvision module keys on it, VENDORS.md §3 [V]) and to /doc/index.html on newer [S]. The Dahua
"WEB SERVICE" title and the Axis page are the simulator's guesses [U].
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from camsim import ssdp
from camsim.model import Camera
from camsim.vendors.hikvision import server_header as hik_banner

PATHS = frozenset({"/", "/index.html", ssdp.DESCRIPTION_PATH})


def _html(title: str, body: str = "") -> web.Response:
    text = f"<!DOCTYPE html><html><head><title>{escape(title)}</title>{body}</head><body></body></html>\n"
    return web.Response(text=text, content_type="text/html")


def landing(cam: Camera) -> web.Response:
    p = cam.identity.personality
    if p == "hikvision":
        target = "/doc/index.html" if hik_banner(cam) == "webserver" else "/doc/page/login.asp"
        script = f'<script>window.location.href = "{target}?_" + (new Date()).getTime();</script>'
        return _html("", script)
    if p == "dahua":
        return _html("WEB SERVICE", '<script src="/jsBase/lib/jquery.js"></script>')
    if p == "axis":
        return _html(f"AXIS {cam.identity.model} Network Camera")
    return _html(f"{cam.identity.manufacturer} IP Camera")


def handle(cam: Camera, request: web.Request) -> web.Response:
    if request.method not in ("GET", "HEAD"):
        return web.Response(status=405, headers={"Allow": "GET, HEAD"})
    if request.path == ssdp.DESCRIPTION_PATH:
        if not ssdp.speaks_upnp(cam):
            return web.Response(status=404)
        return web.Response(text=ssdp.description(cam), content_type="text/xml")
    return landing(cam)
