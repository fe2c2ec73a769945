"""Shared pieces of the ONVIF Device service handlers: request context, argument readers, XML helpers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import soap
from camsim.model import Camera


@dataclass
class Ctx:
    """One ONVIF request being served."""

    camera: Camera
    request: web.Request
    req: soap.SoapRequest
    style: soap.EnvelopeStyle
    after: list[Callable[[], None]] = field(default_factory=list)  # run once the reply is on its way

    @property
    def op(self) -> etree._Element:
        assert self.req.body is not None
        return self.req.body

    @property
    def hik(self) -> bool:
        return self.style == "hikvision"

    def require(self, capability: str) -> None:
        """Optional operations the personality lacks answer env:Receiver/ter:ActionNotSupported (Core)."""
        if capability not in self.camera.capabilities:
            raise soap.action_not_supported()

    def base_url(self) -> str:
        """http://host[:port] the client actually reached (the local socket), as real cameras build XAddrs."""
        host, port = self.camera.network.address, self.camera.port
        transport = self.request.transport
        sock = transport.get_extra_info("sockname") if transport is not None else None
        if isinstance(sock, tuple) and len(sock) >= 2:
            host, port = str(sock[0]), int(sock[1])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}" if port == 80 else f"http://{host}:{port}"


# ---- request readers (by local name: clients disagree on tds/tt prefixes for nested elements) ------
def local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if isinstance(c.tag, str) and local(c) == name:
            return c
    return None


def text(el: etree._Element, name: str) -> str | None:
    c = child(el, name)
    if c is None:
        return None
    return (c.text or "").strip()


def req_text(el: etree._Element, name: str, detail: str | None = None) -> str:
    v = text(el, name)
    if v is None:
        raise soap.SoapError("Sender", ["InvalidArgs", *([detail] if detail else [])], f"Missing {name}")
    return v


def parse_bool(value: str | None, name: str) -> bool:
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise soap.invalid_arg_val(reason=f"{name} must be xs:boolean")


def parse_int(value: str | None, name: str, lo: int, hi: int, detail: str | None = None) -> int:
    try:
        n = int(value or "")
    except ValueError as exc:
        raise soap.invalid_arg_val(detail, reason=f"{name} must be an integer") from exc
    if not lo <= n <= hi:
        raise soap.invalid_arg_val(detail, reason=f"{name} out of range")
    return n


def ipv4(value: str | None, detail: str = "InvalidIPv4Address") -> str:
    try:
        return str(ipaddress.IPv4Address((value or "").strip()))
    except ValueError as exc:
        raise soap.invalid_arg_val(detail, reason="Invalid IPv4 address") from exc


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


# ---- XML writers ------------------------------------------------------------------------------------
def x(value: object) -> str:
    return escape(str(value))


def b(value: bool) -> str:
    return "true" if value else "false"


Handler = Callable[[Ctx], str]
