"""SSDP M-SEARCH (UDP 1900, group 239.255.255.250) and the UPnP root description a reply points to."""

from __future__ import annotations

from urllib.parse import urlsplit

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.xmlsafe import SAFE_PARSER

GROUP = "239.255.255.250"
PORT = 1900
MAX_FIELD = 256
_NS = "urn:schemas-upnp-org:device-1-0"
_DEVICE_FIELDS = ("friendlyName", "manufacturer", "manufacturerURL", "modelName", "modelNumber", "serialNumber",
                  "modelDescription", "UDN")  # fmt: skip


def m_search(mx: int = 1) -> bytes:
    """UPnP Device Architecture 1.0 §1.3.2 search for root devices (what cameras announce)."""
    return (
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        f'MAN: "ssdp:discover"\r\nMX: {mx}\r\nST: upnp:rootdevice\r\n\r\n'
    ).encode()


def parse_response(data: bytes) -> dict[str, str] | None:
    """Headers of an `HTTP/1.1 200 OK` search response (upper-case names), or None."""
    try:
        text = data.decode("utf-8", "replace")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if not lines or not lines[0].upper().startswith("HTTP/1.1 200"):
        return None
    out: dict[str, str] = {}
    for line in lines[1:40]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip().upper()] = value.strip()[:MAX_FIELD]
    return out if "LOCATION" in out or "USN" in out else None


def location_on(headers: dict[str, str], source: str) -> str | None:
    """The description URL, only when it points at the device that answered (never follow it elsewhere)."""
    url = headers.get("LOCATION", "")
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname != source:
        return None
    return url


def parse_description(data: bytes) -> dict[str, str] | None:
    try:
        root = etree.fromstring(data, SAFE_PARSER)
    except (etree.LxmlError, ValueError):
        return None
    device = root.find(f"{{{_NS}}}device")
    if device is None:
        return None
    out: dict[str, str] = {}
    for name in _DEVICE_FIELDS:
        value = device.findtext(f"{{{_NS}}}{name}")
        if value and value.strip():
            out[name] = " ".join(value.split())[:MAX_FIELD]
    return out or None
