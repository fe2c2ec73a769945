"""Rebase camera-advertised service XAddrs onto the address the agent actually reached."""

from __future__ import annotations

from urllib.parse import urlsplit

DEVICE_PATH = "/onvif/device_service"


def rebase_xaddr(advertised: str | None, reached_base: str, *, default_path: str = DEVICE_PATH) -> str:
    """Keep only the path (and query) of `advertised` and put it on `reached_base` ("http://host[:port]").

    Cameras advertise XAddrs with their own idea of their address: a private LAN IP behind NAT, a host
    with no path, a doubled port ("http://192.168.1.64:80:80/onvif/Media"), even an empty string
    (DESIGN §4). The agent never follows an XAddr to another host, so the host part is always dropped.
    """
    text = (advertised or "").strip()
    path, query = "", ""
    if text:
        if "://" not in text and not text.startswith("/"):
            text = "http://" + text  # "192.168.1.64/onvif/Media": host without scheme
        try:
            # urlsplit keeps a malformed netloc ("host:80:80") intact and still splits off the path;
            # it only raises for things like unbalanced IPv6 brackets.
            parts = urlsplit(text)
            path, query = parts.path, parts.query
        except ValueError:
            path, query = "", ""
    if not path or path == "/":
        path = default_path
    if not path.startswith("/"):
        path = "/" + path
    return reached_base.rstrip("/") + path + (f"?{query}" if query else "")
